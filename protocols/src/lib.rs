//! dsim's protocols: pure state machines driven by the engine, their invariants and their
//! planted bugs, one folder each with the same files (`mod.rs`, `messages.rs`, `node.rs`,
//! `invariants.rs`, `bugs.rs`), and the registry that maps names to types.
#![deny(clippy::disallowed_types, clippy::disallowed_methods)]

pub mod common;
pub mod families;
pub mod raft;
pub mod single;

use serde::Serialize;
use sim::{BugDecl, CheckDecl, ParamDoc, Protocol};

/// Code that needs a protocol's type (to parse its parameters, to run it) implements this; the
/// registry calls it with the type a name stands for.
pub trait ProtocolVisitor {
    type Output;
    fn visit<P: Protocol>(self) -> Self::Output;
}

/// Every protocol's name, in `dsim list` order.
pub const NAMES: &[&str] = &["single", "raft"];

/// Calls `v` with the protocol called `name`, or returns `None` if there is none.
pub fn with_protocol<V: ProtocolVisitor>(name: &str, v: V) -> Option<V::Output> {
    match name {
        "single" => Some(v.visit::<single::Single>()),
        "raft" => Some(v.visit::<raft::Raft>()),
        _ => None,
    }
}

/// What `dsim list` shows of a protocol.
#[derive(Clone, Debug, Serialize)]
pub struct ProtocolInfo {
    pub name: &'static str,
    pub description: &'static str,
    pub link: sim::LinkKind,
    /// What `role()` can return (fault targets may name a role).
    pub roles: Vec<&'static str>,
    pub params: serde_json::Value,
    pub param_docs: Vec<ParamDoc>,
    pub bugs: Vec<BugDecl>,
    pub checks: Vec<CheckDecl>,
}

struct InfoVisitor;

impl ProtocolVisitor for InfoVisitor {
    type Output = ProtocolInfo;
    fn visit<P: Protocol>(self) -> ProtocolInfo {
        ProtocolInfo {
            name: P::NAME,
            description: P::DESCRIPTION,
            link: P::LINK,
            roles: P::ROLES.to_vec(),
            params: serde_json::to_value(P::Params::default()).unwrap_or(serde_json::Value::Null),
            param_docs: P::param_docs().to_vec(),
            bugs: P::bugs().to_vec(),
            checks: <P::Invariants as sim::Invariants<P>>::checks(),
        }
    }
}

/// Every protocol's description.
pub fn catalog() -> Vec<ProtocolInfo> {
    NAMES
        .iter()
        .filter_map(|n| with_protocol(n, InfoVisitor))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_match_protocols() {
        for info in catalog() {
            assert!(NAMES.contains(&info.name));
        }
        assert_eq!(catalog().len(), NAMES.len());
    }
}
