//! dsim's protocols: pure state machines driven by the engine, their invariants and their
//! planted bugs, one folder each with the same files (`mod.rs`, `messages.rs`, `node.rs`,
//! `invariants.rs`, `bugs.rs`), and the registry that maps names to types.
#![deny(clippy::disallowed_types, clippy::disallowed_methods)]

pub mod common;
pub mod families;

use serde::Serialize;
use sim::family::Family;
use sim::metrics::MetricDecl;
use sim::{BugDecl, CheckDecl, ParamDoc, Protocol};

/// The registry: one line per protocol, `folder::Type`. It declares the module and makes the
/// protocol known by its `Protocol::NAME` to scenario files, `dsim list` and the tests. A
/// protocol whose name has a hyphen keeps its folder under that name (as its scenarios and docs
/// page do) and says so with `#[path]`.
macro_rules! registry {
    ($($(#[$attr:meta])* $module:ident :: $ty:ident),* $(,)?) => {
        $($(#[$attr])* pub mod $module;)*

        /// Every protocol's name, in `dsim list` order.
        pub const NAMES: &[&str] = &[$(<$module::$ty as Protocol>::NAME),*];

        /// Calls `v` with the protocol called `name`, or returns `None` if there is none.
        pub fn with_protocol<V: ProtocolVisitor>(name: &str, v: V) -> Option<V::Output> {
            $(if name == <$module::$ty as Protocol>::NAME {
                return Some(v.visit::<$module::$ty>());
            })*
            None
        }
    };
}

registry! {
    single::Single,
    raft::Raft,
    paxos::Paxos,
    zab::Zab,
    #[path = "primary-backup/mod.rs"]
    primary_backup::PrimaryBackup,
    broadcast::Node,
}

/// Code that needs a protocol's type (to parse its parameters, to run it) implements this; the
/// registry calls it with the type a name stands for.
pub trait ProtocolVisitor {
    type Output;
    fn visit<P: Protocol>(self) -> Self::Output;
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
    /// Its buggify sites (`[buggify]`).
    pub buggify: Vec<sim::BuggifyDecl>,
    pub checks: Vec<CheckDecl>,
    /// Conditions `[[metrics]]` spans can measure up to (`until = "NAME"`).
    pub conditions: Vec<sim::ConditionDecl>,
    pub metrics: Vec<MetricDecl>,
    pub workload: FamilyInfo,
}

/// What `dsim list` shows of a workload family.
#[derive(Clone, Debug, Serialize)]
pub struct FamilyInfo {
    pub name: &'static str,
    pub description: &'static str,
    pub ops: Vec<&'static str>,
    /// Its history checks (`[checks] NAME = false` switches one off).
    pub checks: Vec<CheckDecl>,
    pub metrics: Vec<MetricDecl>,
}

impl FamilyInfo {
    pub fn of<F: Family>() -> Self {
        FamilyInfo {
            name: F::NAME,
            description: F::DESCRIPTION,
            ops: F::OPS.to_vec(),
            checks: F::checks(),
            metrics: F::metrics(),
        }
    }
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
            buggify: P::buggify_sites().to_vec(),
            checks: <P::Invariants as sim::Invariants<P>>::checks(),
            conditions: <P::Invariants as sim::Invariants<P>>::conditions(),
            metrics: <P::Invariants as sim::Invariants<P>>::metrics(),
            workload: FamilyInfo::of::<P::Workload>(),
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

/// Every metric any run can report: the engine's, every protocol's and every family's.
pub fn all_metrics() -> Vec<MetricDecl> {
    let mut all = sim::engine::engine_metrics();
    for p in catalog() {
        all.extend(p.metrics);
        all.extend(p.workload.metrics);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_unique_and_each_finds_its_protocol() {
        let infos = catalog();
        assert_eq!(infos.len(), NAMES.len());
        for (info, name) in infos.iter().zip(NAMES) {
            assert_eq!(info.name, *name);
        }
        let unique: std::collections::BTreeSet<_> = NAMES.iter().collect();
        assert_eq!(unique.len(), NAMES.len(), "two protocols share a name");
        assert!(with_protocol("no-such-protocol", InfoVisitor).is_none());
    }
}
