//! Planted bugs of `primary-backup`, each one missing rule of the correct protocol; `dsim fuzz`
//! finds each from random seeds of `scenarios/primary-backup/fuzz.toml` and `fuzz-5.toml`.

use sim::BugDecl;

pub const NO_EPOCH_FENCING: &str = "no-epoch-fencing";
pub const ACK_BEFORE_BACKUP: &str = "ack-before-backup";
pub const READ_FROM_BACKUP: &str = "read-from-backup";

pub const BUGS: &[BugDecl] = &[
    BugDecl {
        name: NO_EPOCH_FENCING,
        breaks: &["acked-writes-kept", "linearizable", "stale-read", "view-complete"],
        description: "replicas take SNAPSHOTs, FORWARDs and ACKs at face value whatever view they name: a deposed primary that has not noticed (paused, or cut off from the view service) still gets its writes acknowledged and can overwrite the new primary's state — split brain",
    },
    BugDecl {
        name: ACK_BEFORE_BACKUP,
        breaks: &["acked-writes-kept", "linearizable", "stale-read"],
        description: "the primary answers a write once its own disk has it, before every backup of the view acknowledged it, so a failover loses acknowledged writes",
    },
    BugDecl {
        name: READ_FROM_BACKUP,
        breaks: &["linearizable", "stale-read"],
        description: "a backup answers reads from its own state instead of sending the client to the primary: a backup that was dropped from the view, or has not received its snapshot yet, returns stale values",
    },
];

/// The bugs enabled for one node, read once at boot.
#[derive(Clone, Copy, Debug, Default)]
pub struct Bugs {
    pub no_epoch_fencing: bool,
    pub ack_before_backup: bool,
    pub read_from_backup: bool,
}

impl Bugs {
    pub fn from_set(set: &sim::BugSet) -> Self {
        Bugs {
            no_epoch_fencing: set.has(NO_EPOCH_FENCING),
            ack_before_backup: set.has(ACK_BEFORE_BACKUP),
            read_from_backup: set.has(READ_FROM_BACKUP),
        }
    }
}
