//! What clients ask of a protocol and what it answers.
//!
//! A client sends a [`ClientRequest`] to a server over the simulated network; the protocol
//! handles it in `Protocol::on_client` and answers with [`Ctx::reply`](crate::Ctx::reply). The
//! pair (`session`, `seq`) identifies one operation across retries, so a protocol can apply it
//! exactly once.

use crate::ids::{ClientId, Key, NodeId, Value};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A client operation on the key/value store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "lowercase")]
pub enum Op {
    Read {
        key: Key,
    },
    Write {
        key: Key,
        value: Value,
    },
    /// Succeeds iff the key holds exactly `[from]`; then it holds `[to]`.
    Cas {
        key: Key,
        from: Value,
        to: Value,
    },
    /// Appends `value` to the key's list.
    Append {
        key: Key,
        value: Value,
    },
}

impl Op {
    pub fn key(&self) -> Key {
        match *self {
            Op::Read { key } | Op::Write { key, .. } | Op::Cas { key, .. } | Op::Append { key, .. } => key,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Op::Read { .. } => "read",
            Op::Write { .. } => "write",
            Op::Cas { .. } => "cas",
            Op::Append { .. } => "append",
        }
    }

    pub fn is_read(&self) -> bool {
        matches!(self, Op::Read { .. })
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Read { key } => write!(f, "read(k{key})"),
            Op::Write { key, value } => write!(f, "write(k{key}, {value})"),
            Op::Cas { key, from, to } => write!(f, "cas(k{key}, {from}->{to})"),
            Op::Append { key, value } => write!(f, "append(k{key}, {value})"),
        }
    }
}

/// A request as a server receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRequest {
    /// The client endpoint to answer.
    pub client: ClientId,
    /// The client's session (its current process id; fresh after it gives up on an operation).
    pub session: u64,
    /// Sequence number within the session; retries of one operation reuse it.
    pub seq: u64,
    pub op: Op,
}

/// The answer to one request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Applied. A read carries the key's whole list (empty: never written).
    Ok(Vec<Value>),
    /// A compare-and-set that was executed and found a different value: nothing changed.
    CasFailed,
    /// Definitely not applied (e.g. this server is not the leader and did nothing):
    /// the client may retry elsewhere.
    NotApplied,
    /// Ask that node instead (the leader, if known).
    Redirect(Option<NodeId>),
}

/// A reply as a client receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientReply {
    pub session: u64,
    pub seq: u64,
    pub outcome: Outcome,
}

impl fmt::Display for ClientRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Request{{{} #{}: {}}}", self.client, self.seq, self.op)
    }
}

impl fmt::Display for ClientReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::Ok(v) if v.is_empty() => write!(f, "Reply{{#{}: ok}}", self.seq),
            Outcome::Ok(v) => write!(f, "Reply{{#{}: ok {:?}}}", self.seq, v),
            Outcome::CasFailed => write!(f, "Reply{{#{}: cas failed}}", self.seq),
            Outcome::NotApplied => write!(f, "Reply{{#{}: not applied}}", self.seq),
            Outcome::Redirect(Some(n)) => write!(f, "Reply{{#{}: redirect to {n}}}", self.seq),
            Outcome::Redirect(None) => write!(f, "Reply{{#{}: no leader known}}", self.seq),
        }
    }
}
