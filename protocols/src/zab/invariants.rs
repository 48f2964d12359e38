//! Zab's properties (DSN 2011 §III), checked after every event from what each server
//! delivered and proposed in it:
//!
//! - Integrity: a delivered transaction was broadcast (proposed) by some leader.
//! - Agreement and total order: every server delivers the same transaction at each position
//!   of its delivery sequence.
//! - Global primary order: a delivery sequence is in increasing zxid order (so an epoch's
//!   transactions come after every earlier epoch's).
//! - Local primary order: within an epoch, transactions are delivered in the order the
//!   leader proposed them, none skipped (counters 1, 2, 3, ...).
//! - Primary integrity: a leader proposes only once it has delivered every transaction of
//!   earlier epochs that anyone delivered.
//! - Committed transactions are kept: no server's disk loses a delivered transaction it held.

use super::messages::Zxid;
use super::node::{Phase, Role, Zab};
use sim::{CheckDecl, CheckSink, Invariants, NodeId, World};
use std::collections::BTreeMap;

pub const INTEGRITY: &str = "integrity";
pub const AGREEMENT: &str = "agreement";
pub const TOTAL_ORDER: &str = "total-order";
pub const GLOBAL_ORDER: &str = "global-primary-order";
pub const LOCAL_ORDER: &str = "local-primary-order";
pub const PRIMARY_INTEGRITY: &str = "primary-integrity";
pub const COMMITTED_KEPT: &str = "committed-kept";
pub const LEADER_CHANGE: &str = "leader-change";
pub const TRUNCATED: &str = "history-truncated";
pub const SNAP: &str = "snap-sync";
pub const CLIENT_REFUSED: &str = "client-refused";
pub const SYNCED_READ: &str = "synced-read";
pub const SINGLE_LEADER: &str = "single-leader";

#[derive(Clone, Copy, Default)]
struct Seen {
    up: bool,
    paused: bool,
    broadcasting_leader: bool,
    epoch: u64,
    leader: Option<NodeId>,
    broadcasting: bool,
}

pub struct ZabInvariants {
    /// Every proposal: zxid → digest.
    proposed: BTreeMap<Zxid, u64>,
    /// The delivery sequence: position (1-based) − 1 → (zxid, digest).
    global: Vec<(Zxid, u64)>,
    /// Per server: the zxid it delivered last (its own sequence), for the order checks.
    last: Vec<(u64, Zxid)>,
    /// Per server: the longest delivered prefix its disk held, and the disk's shape then.
    held: Vec<u64>,
    disk_seen: Vec<(u64, u64, u64)>,
    epochs: BTreeMap<u64, NodeId>,
    seen: Vec<Seen>,
    reported: [bool; 5],
}

impl ZabInvariants {
    fn on_delivered(&mut self, id: NodeId, index: u64, zxid: Zxid, d: u64, sink: &mut CheckSink) {
        match self.proposed.get(&zxid) {
            Some(&p) if p == d => {}
            _ => sink.fail(INTEGRITY, || format!("{id} delivered {zxid:?}, which no leader proposed")),
        }
        let pos = index as usize - 1;
        match self.global.get(pos) {
            Some(&(z, g)) if (z, g) != (zxid, d) => {
                sink.fail(AGREEMENT, || {
                    format!("{id} delivered {zxid:?} as transaction {index}, another server delivered {z:?} there")
                });
            }
            Some(_) => {}
            None if pos == self.global.len() => self.global.push((zxid, d)),
            None => sink.fail(TOTAL_ORDER, || {
                format!("{id} delivered transaction {index} before anyone delivered {}", self.global.len() + 1)
            }),
        }
        let (li, lz) = self.last[id.index()];
        if index == li + 1 && index > 1 {
            if zxid <= lz {
                sink.fail(GLOBAL_ORDER, || format!("{id} delivered {zxid:?} after {lz:?}"));
            } else if zxid.epoch == lz.epoch && zxid.counter != lz.counter + 1 {
                sink.fail(LOCAL_ORDER, || format!("{id} delivered {zxid:?} right after {lz:?}"));
            } else if zxid.epoch > lz.epoch && zxid.counter != 1 {
                sink.fail(LOCAL_ORDER, || format!("{id} delivered {zxid:?} without the proposal before it"));
            }
        }
        self.last[id.index()] = (index, zxid);
    }

    fn check_node(&mut self, id: NodeId, z: &Zab, sink: &mut CheckSink) {
        for &(zxid, d) in &z.proposed_now {
            // Primary integrity: everything of earlier epochs anyone delivered, this leader has.
            let older = self.global.partition_point(|(g, _)| g.epoch < zxid.epoch) as u64;
            if z.delivered() < older {
                let have = z.delivered();
                sink.fail(PRIMARY_INTEGRITY, || {
                    format!("{id} proposed {zxid:?} having delivered {have} transactions, but {older} of earlier epochs were delivered")
                });
            }
            self.proposed.insert(zxid, d);
        }
        for &(index, zxid, d) in &z.delivered_now {
            self.on_delivered(id, index, zxid, d, sink);
        }
        if z.role_kind() == Role::Leading && z.phase() == Phase::Broadcast && !self.epochs.contains_key(&z.led_epoch()) {
            self.epochs.insert(z.led_epoch(), id);
            if self.epochs.len() >= 2 && !self.reported[0] {
                self.reported[0] = true;
                sink.reached(LEADER_CHANGE);
            }
        }
        for (k, (hit, name)) in [
            (z.stats.truncations > 0, TRUNCATED),
            (z.stats.snaps > 0, SNAP),
            (z.stats.refused > 0, CLIENT_REFUSED),
            (z.stats.synced_reads > 0, SYNCED_READ),
        ]
        .into_iter()
        .enumerate() {
            if hit && !self.reported[k + 1] {
                self.reported[k + 1] = true;
                sink.reached(name);
            }
        }
    }

    /// No disk loses a delivered transaction it held (crashed servers' disks included).
    fn check_disk(&mut self, world: &World<Zab>, id: NodeId, sink: &mut CheckSink) {
        let d = world.node(id).durable;
        let i = id.index();
        let key = (d.history.len() as u64, d.truncations, self.global.len() as u64);
        if self.disk_seen[i] == key {
            return;
        }
        self.disk_seen[i] = key;
        let h = self.held[i] as usize;
        if h > 0 && d.history.get(h - 1).map(|t| t.zxid) != Some(self.global[h - 1].0) {
            let z = self.global[h - 1].0;
            sink.fail(COMMITTED_KEPT, || format!("the disk of {id} no longer holds the delivered transaction {z:?} (number {h})"));
        }
        // How far the disk matches the delivery sequence now (it grows from `held`).
        let mut p = h;
        while p < d.history.len().min(self.global.len()) && d.history[p].zxid == self.global[p].0 {
            p += 1;
        }
        self.held[i] = p as u64;
    }

    fn single_leader(&self) -> bool {
        let live = || self.seen.iter().enumerate().filter(|(_, s)| s.up && !s.paused);
        let mut leaders = live().filter(|(_, s)| s.broadcasting_leader);
        let (Some((l, ls)), None) = (leaders.next(), leaders.next()) else {
            return false;
        };
        let l = NodeId(l as u32);
        let with = self
            .seen
            .iter()
            .filter(|s| s.up && s.broadcasting && s.epoch == ls.epoch && s.leader == Some(l))
            .count();
        with > self.seen.len() / 2
    }
}

impl Invariants<Zab> for ZabInvariants {
    fn new(cluster: &sim::cluster::Cluster, _params: &[super::ZabParams]) -> Self {
        let n = cluster.len();
        ZabInvariants {
            proposed: BTreeMap::new(),
            global: Vec::new(),
            last: vec![(0, Zxid::default()); n],
            held: vec![0; n],
            disk_seen: vec![(u64::MAX, 0, 0); n],
            epochs: BTreeMap::new(),
            seen: vec![Seen::default(); n],
            reported: [false; 5],
        }
    }

    fn checks() -> Vec<CheckDecl> {
        vec![
            CheckDecl::always(INTEGRITY, "a delivered transaction was proposed by some leader (DSN 2011 §III)"),
            CheckDecl::always(AGREEMENT, "every server delivers the same transaction at each position (§III, agreement)"),
            CheckDecl::always(TOTAL_ORDER, "no server delivers a transaction before every earlier position was delivered (§III, total order)"),
            CheckDecl::always(GLOBAL_PRIMARY_ORDER_DESC.0, GLOBAL_PRIMARY_ORDER_DESC.1),
            CheckDecl::always(LOCAL_ORDER, "an epoch's transactions are delivered in proposal order, none skipped (§III)"),
            CheckDecl::always(PRIMARY_INTEGRITY, "a leader proposes only after delivering every earlier epoch's delivered transactions (§III)"),
            CheckDecl::always(COMMITTED_KEPT, "no disk loses a delivered transaction it held"),
            CheckDecl::sometimes(LEADER_CHANGE, "a second epoch reached broadcast"),
            CheckDecl::sometimes(TRUNCATED, "a follower truncated transactions (TRUNC or SNAP)"),
            CheckDecl::sometimes(SNAP, "a follower was synchronised with SNAP"),
            CheckDecl::sometimes(
                CLIENT_REFUSED,
                "a server refused a client that had seen a newer zxid (read_mode = local | sync | quorum)",
            ),
            CheckDecl::sometimes(SYNCED_READ, "a read was served after a SYNC (read_mode = sync | quorum)"),
            CheckDecl::eventually(SINGLE_LEADER, "one leader broadcasting, with a quorum synchronised to its epoch"),
        ]
    }

    fn after_event(&mut self, world: &World<Zab>, touched: NodeId, sink: &mut CheckSink) {
        let view = world.node(touched);
        let i = touched.index();
        match view.state {
            None => {
                self.seen[i] = Seen::default();
                // A restart delivers from the start again.
                self.last[i] = (0, Zxid::default());
            }
            Some(z) => {
                self.seen[i] = Seen {
                    up: true,
                    paused: view.paused,
                    broadcasting_leader: z.role_kind() == Role::Leading && z.phase() == Phase::Broadcast,
                    epoch: z.current_epoch(),
                    leader: z.leader(),
                    broadcasting: z.phase() == Phase::Broadcast,
                };
                if z.delivered() < self.last[i].0 {
                    self.last[i] = (0, Zxid::default());
                }
                self.check_node(touched, z, sink);
            }
        }
        self.check_disk(world, touched, sink);
        if self.single_leader() {
            sink.holds(SINGLE_LEADER);
        }
    }

    fn at_end(&mut self, world: &World<Zab>, sink: &mut CheckSink) {
        sink.explain(SINGLE_LEADER, || {
            let nodes = crate::common::explain::nodes(world, |z| {
                let role = format!("{:?}", z.role_kind()).to_lowercase();
                format!("{role} ({:?}, epoch {})", z.phase(), z.current_epoch())
            });
            format!("the servers are: {nodes}")
        });
    }
}

const GLOBAL_PRIMARY_ORDER_DESC: (&str, &str) =
    (GLOBAL_ORDER, "a server delivers transactions in increasing zxid order (§III, global primary order)");
