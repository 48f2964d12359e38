//! What clients send a protocol and what it answers: an envelope around the workload family's
//! operation and reply (see [`crate::family`]).
//!
//! A client sends a [`ClientRequest`] to a server over the simulated network; the protocol
//! handles it in `Protocol::on_client` and answers with [`Ctx::reply`](crate::Ctx::reply). The
//! pair (`session`, `seq`) identifies one operation across retries, so a protocol can apply it
//! exactly once.

use crate::ids::{ClientId, NodeId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A request as a server receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRequest<Op> {
    /// The client endpoint to answer.
    pub client: ClientId,
    /// The client's session (its current process id; fresh after it gives up on an operation).
    pub session: u64,
    /// Sequence number within the session; retries of one operation reuse it.
    pub seq: u64,
    pub op: Op,
    /// The highest [`ClientReply::context`] this client has received (0: none), kept across
    /// its sessions and restarts, as a client library keeps a server's last-seen log position
    /// or a causal token. Protocols that do not use it never see anything but 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub context: u64,
}

fn is_zero(x: &u64) -> bool {
    *x == 0
}

/// The answer to one request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome<R> {
    /// Executed; the family says whether it took effect (`ok`) or provably did not (`fail`).
    Done(R),
    /// Definitely not applied (e.g. this server is not the leader and did nothing):
    /// the client may retry elsewhere.
    NotApplied,
    /// Ask that node instead (the leader, if known).
    Redirect(Option<NodeId>),
}

/// A reply as a client receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientReply<R> {
    pub session: u64,
    pub seq: u64,
    pub outcome: Outcome<R>,
    /// A token for the client to send back with its later requests (see
    /// [`ClientRequest::context`]); 0 says nothing.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub context: u64,
}

impl<Op: fmt::Display> fmt::Display for ClientRequest<Op> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Request{{{} #{}: {}}}", self.client, self.seq, self.op)
    }
}

impl<R: fmt::Display> fmt::Display for ClientReply<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::Done(r) => write!(f, "Reply{{#{}: {r}}}", self.seq),
            Outcome::NotApplied => write!(f, "Reply{{#{}: not applied}}", self.seq),
            Outcome::Redirect(Some(n)) => write!(f, "Reply{{#{}: redirect to {n}}}", self.seq),
            Outcome::Redirect(None) => write!(f, "Reply{{#{}: no leader known}}", self.seq),
        }
    }
}
