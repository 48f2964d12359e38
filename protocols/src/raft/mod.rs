//! `raft`: Raft as in the extended paper (Ongaro & Ousterhout, "In Search of an Understandable
//! Consensus Algorithm", 2014) and Ongaro's dissertation (2014). Section numbers in comments
//! refer to the paper unless they say "dissertation".
//!
//! - `node.rs`: server state (Figure 2), roles, elections (§5.2, §5.4.1), the engine glue.
//! - `replication.rs`: AppendEntries (§5.3), the commit rule (§5.4.2), applying, compaction (§7).
//! - `client.rs`: client sessions (dissertation §6.3), reads (§6.4, §6.4.1).
//! - `log.rs`: the log and what is on disk.
//! - `messages.rs`: the RPCs and their trace format.
//! - `invariants.rs`: the safety properties, checked after every event.
//! - `bugs.rs`: planted bugs.
//!
//! Persistence follows the paper's rule "respond to RPCs only after updating stable storage":
//! votes and AppendEntries replies are sent with `send_after_sync`, so the engine releases them
//! only once the term, vote and entries are on disk. A leader counts its own log toward a
//! majority only for entries already durable.
//!
//! Snapshots with InstallSnapshot, pre-vote and membership changes come later; the log keeps a
//! base index (the compacted prefix) so they fit.

mod bugs;
mod client;
mod invariants;
mod log;
mod messages;
mod node;
mod replication;
#[cfg(test)]
mod tests;

pub use bugs::BUGS;
pub use invariants::RaftInvariants;
pub use log::{RaftDurable, RaftLog, RaftWrite, SmSnapshot};
pub use messages::{Command, Entry, Msg, Timer};
pub use node::{Raft, RaftParams, ReadMode, Role};
