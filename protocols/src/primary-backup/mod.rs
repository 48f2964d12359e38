//! `primary-backup`: active/passive replication with automatic failover (Budhiraja, Marzullo,
//! Schneider & Toueg, "The Primary-Backup Approach", 1993; the design of MIT 6.824's
//! primary/backup lab, with any number of backups). A view service — its own node group,
//! `views`, one node that keeps its views on disk — decides who is primary from the replicas'
//! pings; the primary serialises writes and forwards them to every backup of the view; views
//! are epochs, and replicas reject messages of older ones. Runs over `stream` links (the
//! forwards rely on FIFO). `docs/protocols/primary-backup.md` maps each rule to the code.
//!
//! - `node.rs`: parameters, durable state, the layout (view service and replicas), engine glue.
//! - `views.rs`: the view service (rules V1–V4).
//! - `replica.rs`: primary and backup (rules R1–R6).
//! - `messages.rs`, `invariants.rs`, `bugs.rs`.

mod bugs;
mod invariants;
mod messages;
mod node;
mod replica;
#[cfg(test)]
mod tests;
mod views;

pub use bugs::BUGS;
pub use invariants::PbInvariants;
pub use messages::{Msg, Timer, View, Write};
pub use node::{Layout, PbDurable, PbParams, PbWrite, PrimaryBackup, Replication};
pub use replica::{Replica, Role};
pub use views::ViewService;
