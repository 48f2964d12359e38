//! Planted bugs of `single`, each one missing step of the correct protocol.

use sim::BugDecl;

pub const ACK_BEFORE_SYNC: &str = "ack-before-sync";
pub const READ_UNSYNCED: &str = "read-unsynced";
pub const NO_DEDUP: &str = "no-dedup";

pub const BUGS: &[BugDecl] = &[
    BugDecl {
        name: ACK_BEFORE_SYNC,
        breaks: &["linearizable", "stale-read"],
        description: "acknowledges a write before its sync completes, so a crash loses an acknowledged write",
    },
    BugDecl {
        name: READ_UNSYNCED,
        breaks: &["linearizable", "stale-read"],
        description: "answers reads from memory at once, exposing writes a crash can still take back",
    },
    BugDecl {
        name: NO_DEDUP,
        breaks: &["exactly-once", "linearizable"],
        description: "ignores the session table, so a retried request is applied twice",
    },
];

/// The bugs enabled for one node, read once at boot.
#[derive(Clone, Copy, Debug, Default)]
pub struct Bugs {
    pub ack_before_sync: bool,
    pub read_unsynced: bool,
    pub no_dedup: bool,
}

impl Bugs {
    pub fn from_set(set: &sim::BugSet) -> Self {
        Bugs {
            ack_before_sync: set.has(ACK_BEFORE_SYNC),
            read_unsynced: set.has(READ_UNSYNCED),
            no_dedup: set.has(NO_DEDUP),
        }
    }
}
