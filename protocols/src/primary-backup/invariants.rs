//! The properties of `primary-backup`, checked after every event:
//!
//! - `acked-writes-kept`: what a client was told stays told. The invariants keep the
//!   acknowledged sequence (the digests of every position some primary revealed to a client,
//!   by answering a write or a read there); a primary that reveals a position must agree with
//!   it there, and a primary that takes up a view newer than any before must hold all of it.
//!   A failover that loses an acknowledged write, or two primaries answering from diverging
//!   states (split brain), breaks it. (`replication = "async"` breaks it by design.)
//! - `one-primary-per-view`: no two replicas take up the same view as primary.
//!
//! Sometimes: `failover`, `state-transfer`, `fenced`, `backup-dropped`. Eventually (after the
//! faults heal): `view-complete` — every replica is in the view, every backup synced in it,
//! and the primary has taken it up.

use super::node::PrimaryBackup;
use sim::{CheckDecl, CheckSink, Invariants, NodeId, World};
use std::collections::BTreeMap;

pub const ACKED_KEPT: &str = "acked-writes-kept";
pub const ONE_PRIMARY: &str = "one-primary-per-view";
pub const FAILOVER: &str = "failover";
pub const STATE_TRANSFER: &str = "state-transfer";
pub const FENCED: &str = "fenced";
pub const DROPPED: &str = "backup-dropped";
pub const VIEW_COMPLETE: &str = "view-complete";

pub struct PbInvariants {
    /// `acked[i]`: the digest of the acknowledged sequence up to position i + 1.
    acked: Vec<u64>,
    /// View → the replica that took it up as primary.
    primaries: BTreeMap<u64, NodeId>,
    newest: u64,
    reported: [bool; 4],
}

impl PbInvariants {
    fn reach(&mut self, k: usize, hit: bool, name: &'static str, sink: &mut CheckSink) {
        if hit && !self.reported[k] {
            self.reported[k] = true;
            sink.reached(name);
        }
    }
}

impl Invariants<PrimaryBackup> for PbInvariants {
    fn new(_cluster: &sim::cluster::Cluster, _params: &[super::PbParams]) -> Self {
        PbInvariants {
            acked: Vec::new(),
            primaries: BTreeMap::new(),
            newest: 0,
            reported: [false; 4],
        }
    }

    fn checks() -> Vec<CheckDecl> {
        vec![
            CheckDecl::always(ACKED_KEPT, "every acknowledged write survives, and no two primaries answer from diverging states"),
            CheckDecl::always(ONE_PRIMARY, "no two replicas take up the same view as primary"),
            CheckDecl::sometimes(FAILOVER, "the view service promoted a backup"),
            CheckDecl::sometimes(STATE_TRANSFER, "a backup installed a primary's snapshot"),
            CheckDecl::sometimes(FENCED, "a replica rejected a message from an older view"),
            CheckDecl::sometimes(DROPPED, "the view service dropped a live backup the primary could not reach"),
            CheckDecl::eventually(VIEW_COMPLETE, "every replica is in the view and synced, and the primary has taken it up"),
        ]
    }

    fn after_event(&mut self, world: &World<PrimaryBackup>, touched: NodeId, sink: &mut CheckSink) {
        let Some(node) = world.node(touched).state else { return };
        let r = match node {
            PrimaryBackup::Views(v) => {
                if v.complete {
                    sink.holds(VIEW_COMPLETE);
                }
                self.reach(0, v.failovers > 0, FAILOVER, sink);
                self.reach(1, v.dropped > 0, DROPPED, sink);
                return;
            }
            PrimaryBackup::Replica(r) => r,
        };
        self.reach(2, r.stats.snapshots_installed > 0, STATE_TRANSFER, sink);
        self.reach(3, r.stats.nacks_sent > 0, FENCED, sink);
        if r.took_up_now {
            let num = r.view().num;
            match self.primaries.get(&num) {
                Some(&p) if p != touched => {
                    sink.fail(ONE_PRIMARY, || format!("{touched} took up view {num} as primary, but {p} had"));
                }
                Some(_) => {}
                None => {
                    self.primaries.insert(num, touched);
                }
            }
            if num > self.newest {
                self.newest = num;
                let len = self.acked.len() as u64;
                if len > 0 && r.digest_at(len) != self.acked.last().copied() {
                    let have = r.seq();
                    sink.fail(ACKED_KEPT, || {
                        if have < len {
                            format!("{touched} took up view {num} as primary holding writes up to #{have}, but #{len} was acknowledged")
                        } else {
                            format!("{touched} took up view {num} as primary, but its writes up to #{len} differ from the acknowledged ones")
                        }
                    });
                }
            }
        }
        let pos = r.revealed_now;
        if pos > 0 {
            let len = self.acked.len() as u64;
            let at = pos.min(len);
            if at > 0 && r.digest_at(at) != Some(self.acked[at as usize - 1]) {
                sink.fail(ACKED_KEPT, || {
                    format!("{touched} answered a client from its state at #{pos}, which differs from what was acknowledged up to #{at}")
                });
            } else if pos > len {
                let chain = r.chain();
                self.acked.extend_from_slice(&chain[len as usize..(pos as usize).min(chain.len())]);
            }
        }
    }

    fn at_end(&mut self, world: &World<PrimaryBackup>, sink: &mut CheckSink) {
        for n in world.iter() {
            if let Some(v) = n.state.and_then(PrimaryBackup::views) {
                if !v.complete {
                    sink.explain(VIEW_COMPLETE, || format!("the view service is at {:?}", v.view()));
                }
            }
        }
    }
}
