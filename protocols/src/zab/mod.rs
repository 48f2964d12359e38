//! `zab`: ZooKeeper's atomic broadcast, as in Junqueira, Reed & Serafini, "Zab:
//! High-performance broadcast for primary-backup systems" (DSN 2011), and André Medeiros,
//! "ZooKeeper's atomic broadcast protocol: Theory and practice" (2012). Zab assumes FIFO
//! channels, so it runs over `stream` links: a broken connection sends a follower back to
//! election (and a fresh synchronization). `docs/protocols/zab.md` maps each rule to the code.
//!
//! - `node.rs`: durable state (accepted epoch, current epoch, history), roles and phases,
//!   fast leader election, failure detection, the engine glue.
//! - `sync.rs`: discovery (FOLLOWERINFO, NEWEPOCH, ACKEPOCH) and synchronization (DIFF /
//!   TRUNC / SNAP, NEWLEADER, UPTODATE).
//! - `broadcast.rs`: PROPOSAL, ACK, COMMIT, delivery, clients through the leader's log.
//! - `reads.rs`: clients the ZooKeeper way (`read_mode = "local" | "sync" | "quorum"`): reads at
//!   any server, writes forwarded, the last-zxid check, SYNC and its quorum-confirmed variant.
//! - `messages.rs`, `invariants.rs`, `bugs.rs`.

mod broadcast;
mod bugs;
mod invariants;
mod messages;
mod node;
mod reads;
mod sync;
#[cfg(test)]
mod tests;

pub use bugs::BUGS;
pub use invariants::ZabInvariants;
pub use messages::{Msg, SyncKind, Timer, Txn, Vote, Zxid};
pub use node::{Phase, Role, Zab, ZabDurable, ZabParams, ZabWrite};
pub use reads::Reads;
