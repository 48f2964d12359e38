//! `broadcast`: gossip a set of values to every node (Maelstrom's broadcast challenge; see also
//! Demers et al., "Epidemic algorithms for replicated database maintenance", PODC 1987, whose
//! anti-entropy this is). The tutorial, `docs/tutorial.md`, builds it step by step.
//!
//! - `messages.rs`: `Gossip` (values) and `GossipAck` (values now durable at the receiver).
//! - `node.rs`: the protocol.
//! - `params.rs`: its parameters and the topologies.
//! - `invariants.rs`: every acknowledged value reaches every node; messages per broadcast and
//!   how long a value takes to be everywhere.
//! - `bugs.rs`: planted bugs.

mod bugs;
mod invariants;
mod messages;
mod node;
mod params;
#[cfg(test)]
mod tests;

pub use bugs::BUGS;
pub use invariants::BroadcastInvariants;
pub use messages::{Msg, Timer};
pub use node::{Node, Stored};
pub use params::{neighbours, NodeParams, Topology};
