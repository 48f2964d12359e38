//! Multi-Paxos's messages, named as in the papers (PREPARE / PROMISE are phase 1a / 1b,
//! ACCEPT / ACCEPTED phase 2a / 2b, DECIDE is Paxos Made Moderately Complex's "decision"),
//! with compact `Debug` forms for the readable trace: `PROMISE{b3.n2, accepted: 2}`.

pub use crate::common::command::{digest, Command};
use serde::Serialize;
use sim::NodeId;
use std::fmt;

/// A ballot (proposal number): a round and the proposer that owns it, ordered by round and
/// then by node, so ballots of different proposers never coincide (Paxos Made Simple §2.5:
/// "different proposers choose their numbers from disjoint sets of numbers").
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Ballot {
    pub round: u64,
    pub node: u32,
}

impl Ballot {
    pub const ZERO: Ballot = Ballot { round: 0, node: 0 };
}

impl fmt::Debug for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Ballot::ZERO {
            f.write_str("b0")
        } else {
            write!(f, "b{}.{}", self.round, NodeId(self.node))
        }
    }
}

/// A value accepted in a slot under a ballot (PMMC's "pvalue").
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct PValue {
    pub slot: u64,
    pub ballot: Ballot,
    pub cmd: Command,
}

/// Serialised (trace.jsonl, the message diagrams) under the papers' names: `PREPARE`, ...
#[derive(Clone, Serialize)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
pub enum Msg {
    /// Phase 1a: "prepare ballot b for every slot from `from_slot` on" (Multi-Paxos runs
    /// phase 1 once for all future slots, Paxos Made Simple §3).
    Prepare { ballot: Ballot, from_slot: u64 },
    /// Phase 1b: the promise, with every value this acceptor accepted in those slots.
    Promise { ballot: Ballot, accepted: Vec<PValue> },
    /// Phase 2a: "accept `cmd` in `slot` under `ballot`".
    Accept { ballot: Ballot, slot: u64, cmd: Command },
    /// Phase 2b.
    Accepted { ballot: Ballot, slot: u64 },
    /// A refusal: the acceptor has promised the higher ballot `promised` (PMMC's "preempted").
    Nack { ballot: Ballot, promised: Ballot },
    /// Chosen values, to the learners (a leader's decisions, or a catch-up batch).
    Decide { decided: Vec<(u64, Command)> },
    /// The leader's heartbeat: it is alive (failure detection), the lease round it confirms,
    /// and how far its decided prefix reaches (so followers can ask for what they miss).
    Heartbeat { ballot: Ballot, round: u64, decided: u64 },
    /// A follower's answer: the round it confirms and its own decided prefix.
    HeartbeatAck { ballot: Ballot, round: u64, decided: u64 },
}

#[derive(Clone, Debug, Serialize)]
pub enum Timer {
    /// The failure detector: no word from a leader for this long starts phase 1.
    LeaderTimeout,
    /// A leader's heartbeat and retransmissions; a candidate's PREPARE retransmissions.
    Heartbeat,
}

impl fmt::Debug for PValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{:?}@{:?}", self.slot, self.cmd, self.ballot)
    }
}

impl fmt::Debug for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Prepare { ballot, from_slot } => write!(f, "PREPARE{{{ballot:?}, from slot {from_slot}}}"),
            Msg::Promise { ballot, accepted } => {
                write!(f, "PROMISE{{{ballot:?}, accepted: {}", accepted.len())?;
                if !accepted.is_empty() && accepted.len() <= 3 {
                    write!(f, " {accepted:?}")?;
                }
                f.write_str("}")
            }
            Msg::Accept { ballot, slot, cmd } => write!(f, "ACCEPT{{{ballot:?}, slot {slot}: {cmd:?}}}"),
            Msg::Accepted { ballot, slot } => write!(f, "ACCEPTED{{{ballot:?}, slot {slot}}}"),
            Msg::Nack { ballot, promised } => write!(f, "NACK{{{ballot:?}, promised {promised:?}}}"),
            Msg::Decide { decided } => match decided.as_slice() {
                [(s, c)] => write!(f, "DECIDE{{slot {s}: {c:?}}}"),
                [(a, _), .., (b, _)] => write!(f, "DECIDE{{{} slots {a}..={b}}}", decided.len()),
                [] => f.write_str("DECIDE{}"),
            },
            Msg::Heartbeat { ballot, round, decided } => {
                write!(f, "HEARTBEAT{{{ballot:?}, round {round}, decided {decided}}}")
            }
            Msg::HeartbeatAck { ballot, round, decided } => {
                write!(f, "HEARTBEAT-ACK{{{ballot:?}, round {round}, decided {decided}}}")
            }
        }
    }
}
