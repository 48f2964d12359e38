//! Multi-Paxos's planted bugs. Each leaves out one rule of the papers; `dsim fuzz` finds each
//! from random seeds of `scenarios/paxos/fuzz.toml` and of `scenarios/paxos/fuzz-5.toml`.

use sim::BugDecl;

pub const PROMISE_NOT_DURABLE: &str = "promise-not-durable";
pub const IGNORE_ACCEPTED_VALUE: &str = "ignore-accepted-value";
pub const DUPLICATE_BALLOTS: &str = "duplicate-ballots";
pub const ACCEPT_BELOW_PROMISE: &str = "accept-below-promise";
pub const NON_INTERSECTING_QUORUMS: &str = "non-intersecting-quorums";

/// Checks that a value chosen twice (or changed) shows up in.
const SAFETY: [&str; 5] = ["one-value-per-slot", "chosen-value-kept", "replicas-agree", "linearizable", "learned-is-chosen"];

pub const BUGS: &[BugDecl] = &[
    BugDecl {
        name: PROMISE_NOT_DURABLE,
        breaks: &["accept-at-or-above-promise", SAFETY[0], SAFETY[1], SAFETY[2], SAFETY[3], SAFETY[4]],
        description: "an acceptor answers PREPARE before its promise is on disk (and never writes it), so a restart forgets it (Paxos Made Simple §2.2: an acceptor must remember its promise even if it fails and then restarts)",
    },
    BugDecl {
        name: IGNORE_ACCEPTED_VALUE,
        breaks: &["chosen-value-kept", SAFETY[0], SAFETY[2], SAFETY[3], SAFETY[4]],
        description: "a new leader proposes its own command (or a no-op) in every slot, ignoring the accepted values the PROMISEs carry (P2c, Paxos Made Simple §2.2)",
    },
    BugDecl {
        name: DUPLICATE_BALLOTS,
        breaks: &["unique-ballots", SAFETY[0], SAFETY[1], SAFETY[2], SAFETY[3], SAFETY[4]],
        description: "ballots are bare round numbers, so two proposers can use the same one (Paxos Made Simple §2.5: proposers choose their numbers from disjoint sets)",
    },
    BugDecl {
        name: ACCEPT_BELOW_PROMISE,
        breaks: &["accept-at-or-above-promise", SAFETY[0], SAFETY[1], SAFETY[2], SAFETY[3], SAFETY[4]],
        description: "an acceptor accepts an ACCEPT of a ballot below its promise (P1a, Paxos Made Simple §2.2)",
    },
    BugDecl {
        name: NON_INTERSECTING_QUORUMS,
        breaks: &["chosen-value-kept", SAFETY[0], SAFETY[2], SAFETY[3], SAFETY[4]],
        description: "the phase-1 quorum is n − q2, one short of meeting every phase-2 quorum (Flexible Paxos §3: q1 + q2 > n)",
    },
];

/// The bugs enabled for a run, read once at boot.
#[derive(Clone, Copy, Debug, Default)]
pub struct Bugs {
    pub promise_not_durable: bool,
    pub ignore_accepted_value: bool,
    pub duplicate_ballots: bool,
    pub accept_below_promise: bool,
    pub non_intersecting_quorums: bool,
}

impl Bugs {
    pub fn from_set(s: &sim::BugSet) -> Self {
        Bugs {
            promise_not_durable: s.has(PROMISE_NOT_DURABLE),
            ignore_accepted_value: s.has(IGNORE_ACCEPTED_VALUE),
            duplicate_ballots: s.has(DUPLICATE_BALLOTS),
            accept_below_promise: s.has(ACCEPT_BELOW_PROMISE),
            non_intersecting_quorums: s.has(NON_INTERSECTING_QUORUMS),
        }
    }
}
