//! Planted bugs of `broadcast`, each one step of the protocol left out.

use sim::BugDecl;

pub const NO_RETRANSMIT: &str = "no-retransmit";
pub const ACK_BEFORE_STORE: &str = "ack-before-store";
pub const NO_RELAY: &str = "no-relay";

pub const BUGS: &[BugDecl] = &[
    BugDecl {
        name: NO_RETRANSMIT,
        breaks: &["acked-values-everywhere"],
        description: "sends each value to each neighbour once, so a lost message or a partition loses it for good",
    },
    BugDecl {
        name: ACK_BEFORE_STORE,
        breaks: &["acked-values-everywhere"],
        description: "acknowledges a broadcast before the value is on disk, so a crash can lose an acknowledged value",
    },
    BugDecl {
        name: NO_RELAY,
        breaks: &["acked-values-everywhere"],
        description: "forwards only values it got from clients, not those learned from peers (one hop only)",
    },
];

#[derive(Clone, Copy, Debug, Default)]
pub struct Bugs {
    pub no_retransmit: bool,
    pub ack_before_store: bool,
    pub no_relay: bool,
}

impl Bugs {
    pub fn from_set(set: &sim::BugSet) -> Self {
        Bugs {
            no_retransmit: set.has(NO_RETRANSMIT),
            ack_before_store: set.has(ACK_BEFORE_STORE),
            no_relay: set.has(NO_RELAY),
        }
    }
}
