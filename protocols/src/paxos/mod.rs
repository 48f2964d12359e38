//! `paxos`: Multi-Paxos as in Lamport, "Paxos Made Simple" (2001), with the engineering of
//! van Renesse & Altinbuken, "Paxos Made Moderately Complex" (PMMC, 2015), and flexible
//! quorums (Howard, Malkhi & Spiegelman, "Flexible Paxos", 2016). Section numbers in comments
//! refer to Paxos Made Simple unless they say otherwise; `docs/protocols/paxos.md` maps each
//! rule to the code.
//!
//! - `node.rs`: parameters, durable state, roles, failure detection, the engine glue.
//! - `acceptor.rs`: phase 1b and 2b (promises and acceptances, durable before they answer).
//! - `proposer.rs`: phase 1a and 2a, the distinguished leader, P2c adoption, gap filling,
//!   retransmission, catch-up and the lease.
//! - `learner.rs`: decisions, applying in slot order, clients and reads.
//! - `messages.rs`: ballots and the messages (PREPARE, PROMISE, ACCEPT, ACCEPTED, ...).
//! - `invariants.rs`: the safety properties, checked after every event.
//! - `bugs.rs`: planted bugs.
//!
//! Every node is proposer, acceptor and learner. A node's roles talk to each other without
//! the network, but its acceptor's answers still wait for its disk.

mod acceptor;
mod bugs;
mod invariants;
mod learner;
mod messages;
mod node;
mod proposer;
#[cfg(test)]
mod tests;

pub use bugs::BUGS;
pub use invariants::PaxosInvariants;
pub use messages::{Ballot, Msg, PValue, Timer};
pub use node::{Backoff, Paxos, PaxosDurable, PaxosParams, PaxosWrite, ReadMode, Role};
