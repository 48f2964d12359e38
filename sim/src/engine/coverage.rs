//! Coverage for guided fuzzing: each node's transitions between abstract states — its role and
//! what [`Protocol::coverage`](crate::protocol::Protocol::coverage) reports — as a set of
//! features. A run that reaches a transition no earlier run reached is worth mutating
//! (the idea of AFL's edge coverage, over protocol states; cf. Mallory, CCS'23, which feeds
//! back summaries of the run rather than code coverage).

use crate::ids::NodeId;
use crate::rng::mix64 as mix;
use std::collections::BTreeSet;

pub(crate) struct Coverage {
    /// Each node's last abstract state (0: not yet seen).
    last: Vec<u64>,
    features: BTreeSet<u64>,
}

/// The most features one run records (a bound; the set stays small for coarse states).
const MAX_FEATURES: usize = 100_000;

impl Coverage {
    pub fn new(nodes: usize) -> Self {
        Coverage {
            last: vec![0; nodes],
            features: BTreeSet::new(),
        }
    }

    /// Node `node`, in abstract state `last` (its previous observation), handled an event of
    /// kind `kind` and is now in (`role`, `state`). Two features: the transition, and which kind
    /// of event arrived in which state (so a protocol without its own `coverage` still shows
    /// which events each role sees).
    pub fn observe(&mut self, node: NodeId, kind: u8, role: &str, state: u64) {
        let abs = mix(fnv(role) ^ mix(state ^ 0x51_7cc1_b727_220a)) | 1;
        let last = &mut self.last[node.index()];
        if self.features.len() < MAX_FEATURES {
            self.features
                .insert(mix(*last ^ (u64::from(kind) << 56) ^ 0x2545_f491_4f6c_dd1d));
            if *last != abs {
                self.features.insert(mix(*last ^ mix(abs)));
            }
        }
        *last = abs;
    }

    pub fn features(self) -> Vec<u64> {
        self.features.into_iter().collect()
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}
