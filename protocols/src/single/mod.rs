//! `single`: one server holding a key/value store that clients talk to over the network.
//!
//! Deliberately simple — enough to exercise the workload, the history, crashes, restarts and
//! checks end to end. It is the textbook durable single-copy server:
//!
//! 1. A mutating request is applied to the in-memory store and appended to the write-ahead log
//!    (`persist`); its reply is sent only once the log is synced (`reply_after_sync`).
//! 2. A read is answered from memory, but also only after every earlier write is synced, so a
//!    read never shows a value a crash could still take back.
//! 3. A session table (client session → last sequence number and answer) makes retries
//!    exactly-once (Raft dissertation §6.3 describes the same technique).
//! 4. On restart the store and the session table are rebuilt from the synced log only.
//!
//! With more than one node, only `n1` serves; the others redirect clients to it.

mod bugs;
mod invariants;
mod messages;
mod node;

pub use bugs::BUGS;
pub use invariants::SingleInvariants;
pub use messages::{Msg, Timer};
pub use node::{Single, SingleDurable, SingleParams, Write};
