//! Raft's planted bugs. Each is one rule of the paper left out; `scenarios/raft/fuzz.toml`
//! finds each of them from random seeds.

use sim::BugDecl;

pub const COMMIT_PREVIOUS_TERM: &str = "commit-previous-term";
pub const FORGET_VOTE_ON_RESTART: &str = "forget-vote-on-restart";
pub const NO_UP_TO_DATE_CHECK: &str = "no-up-to-date-check";
pub const LEASE_READ_UNDER_SKEW: &str = "lease-read-under-skew";
pub const ACCEPT_STALE_TERM_APPEND: &str = "accept-stale-term-append";
pub const APPLY_BEFORE_COMMIT: &str = "apply-before-commit";

pub const BUGS: &[BugDecl] = &[
    BugDecl {
        name: COMMIT_PREVIOUS_TERM,
        breaks: &["leader-completeness", "committed-entry-kept", "state-machine-safety", "linearizable"],
        description: "commits an entry of an earlier term by counting replicas (the Figure 8 bug, §5.4.2)",
    },
    BugDecl {
        name: FORGET_VOTE_ON_RESTART,
        breaks: &["one-vote-per-term", "election-safety"],
        description: "does not persist votedFor, so a restarted server can vote twice in one term (§5.2)",
    },
    BugDecl {
        name: NO_UP_TO_DATE_CHECK,
        breaks: &["leader-completeness", "committed-entry-kept", "state-machine-safety", "linearizable"],
        description: "grants votes to candidates whose log is behind its own (§5.4.1)",
    },
    BugDecl {
        name: LEASE_READ_UNDER_SKEW,
        breaks: &["linearizable", "stale-read"],
        description:
            "serves lease reads for a full election timeout, ignoring clock drift (dissertation §6.4.1)",
    },
    BugDecl {
        name: ACCEPT_STALE_TERM_APPEND,
        breaks: &["leader-append-only", "log-matching", "state-machine-safety", "committed-entry-kept", "linearizable"],
        description: "a follower accepts AppendEntries from a leader of an older term (§5.1)",
    },
    BugDecl {
        name: APPLY_BEFORE_COMMIT,
        breaks: &["state-machine-safety", "linearizable", "stale-read"],
        description: "the leader applies entries and answers clients before they are committed (§5.3)",
    },
];

/// The bugs enabled for a run, read once at boot.
#[derive(Clone, Copy, Debug, Default)]
pub struct Bugs {
    pub commit_previous_term: bool,
    pub forget_vote_on_restart: bool,
    pub no_up_to_date_check: bool,
    pub lease_read_under_skew: bool,
    pub accept_stale_term_append: bool,
    pub apply_before_commit: bool,
}

impl Bugs {
    pub fn from_set(s: &sim::BugSet) -> Self {
        Bugs {
            commit_previous_term: s.has(COMMIT_PREVIOUS_TERM),
            forget_vote_on_restart: s.has(FORGET_VOTE_ON_RESTART),
            no_up_to_date_check: s.has(NO_UP_TO_DATE_CHECK),
            lease_read_under_skew: s.has(LEASE_READ_UNDER_SKEW),
            accept_stale_term_append: s.has(ACCEPT_STALE_TERM_APPEND),
            apply_before_commit: s.has(APPLY_BEFORE_COMMIT),
        }
    }
}
