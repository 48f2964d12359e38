//! Workload families (`sim::family`): the client operations protocols serve, how a scenario
//! generates and schedules them, and the history checks that fit them.
//!
//! - [`kv`]: a key/value register of lists (read, write, cas, append), checked for stale reads
//!   and linearizability. Raft, `single`, and every replication protocol serve it.
//! - [`broadcast`]: broadcast a value, read the set a node has seen (Maelstrom's broadcast).

pub mod broadcast;
pub mod kv;
