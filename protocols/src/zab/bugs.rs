//! Zab's planted bugs. Each leaves out one rule of the papers; `dsim fuzz` finds each from
//! random seeds of `scenarios/zab/fuzz.toml` and `scenarios/zab/fuzz-5.toml`.

use sim::BugDecl;

pub const SKIP_SYNC: &str = "skip-sync";
pub const COMMIT_WITHOUT_QUORUM: &str = "commit-without-quorum";
pub const ACCEPT_OLD_EPOCH: &str = "accept-old-epoch";
pub const NO_TRUNCATE: &str = "no-truncate";
pub const FOLLOWER_READ_WITHOUT_ZXID_CHECK: &str = "follower-read-without-zxid-check";

const SAFETY: [&str; 5] = ["agreement", "committed-kept", "primary-integrity", "linearizable", "sequential"];

pub const BUGS: &[BugDecl] = &[
    BugDecl {
        name: SKIP_SYNC,
        breaks: &["primary-integrity", SAFETY[0], SAFETY[1], SAFETY[3], SAFETY[4], "total-order"],
        description: "a new leader broadcasts without synchronising: it proposes once it has a quorum of ACKEPOCHs, before a quorum acknowledged NEWLEADER (Medeiros §4.1, phase 2)",
    },
    BugDecl {
        name: COMMIT_WITHOUT_QUORUM,
        breaks: &["committed-kept", SAFETY[0], SAFETY[2], SAFETY[3], SAFETY[4], "total-order"],
        description: "the leader commits a proposal on the first ACK instead of a quorum's (DSN 2011 §IV, phase 3)",
    },
    BugDecl {
        name: ACCEPT_OLD_EPOCH,
        breaks: &["agreement", SAFETY[1], SAFETY[2], SAFETY[3], SAFETY[4], "total-order", "global-primary-order"],
        description: "a follower accepts PROPOSALs and COMMITs from a leader of an epoch older than the one it accepted (Medeiros §4.1: a follower only accepts from its current leader)",
    },
    BugDecl {
        name: NO_TRUNCATE,
        breaks: &["agreement", SAFETY[1], SAFETY[3], SAFETY[4], "total-order"],
        description: "a follower ignores TRUNC and keeps transactions the new leader does not have (Medeiros §4.1, synchronization)",
    },
    BugDecl {
        name: FOLLOWER_READ_WITHOUT_ZXID_CHECK,
        breaks: &["sequential"],
        description: "with reads served locally, a server takes a client that has seen a newer zxid than it has (ZooKeeper, ATC 2010, §4.3: it must wait until it has caught up), so the client's reads go back in time",
    },
];

#[derive(Clone, Copy, Debug, Default)]
pub struct Bugs {
    pub skip_sync: bool,
    pub commit_without_quorum: bool,
    pub accept_old_epoch: bool,
    pub no_truncate: bool,
    pub follower_read_without_zxid_check: bool,
}

impl Bugs {
    pub fn from_set(s: &sim::BugSet) -> Self {
        Bugs {
            skip_sync: s.has(SKIP_SYNC),
            commit_without_quorum: s.has(COMMIT_WITHOUT_QUORUM),
            accept_old_epoch: s.has(ACCEPT_OLD_EPOCH),
            no_truncate: s.has(NO_TRUNCATE),
            follower_read_without_zxid_check: s.has(FOLLOWER_READ_WITHOUT_ZXID_CHECK),
        }
    }
}
