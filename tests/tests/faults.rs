//! Faults behave as specified (DESIGN.md): partitioned messages are not delivered, one-way cuts
//! are one-way, streams are FIFO and report breaks, a crash loses unsynced writes and held sends
//! but keeps synced state, paused nodes fire nothing and replay their buffer in order, skew and
//! drift shift timers, clock jumps move only the wall clock.
//!
//! A small probe protocol records what each node saw; clocks are exact unless a test says
//! otherwise, so a node's monotonic clock reads true time.

use serde::{Deserialize, Serialize};
use sim::config::{ClockConfig, ClockOverride, LinkParams, ScheduledFault};
use sim::faults::{FaultAction, PartitionSpec, Target};
use sim::time::NANOS_PER_MILLI as MS;
use sim::{Ctx, Dist, Durable, Endpoint, LinkKind, NodeId, Protocol, RunReport, Sim, SimConfig};

#[derive(Clone, Debug, Serialize)]
struct Ping {
    seq: u64,
    sent_mono: u64,
}

#[derive(Clone, Debug, Serialize)]
enum Timer {
    Tick,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Params {
    /// Ping `targets` every `period_ns`; 0 = never.
    period_ns: u64,
    targets: Vec<u32>,
    /// On a first boot: persist 1 and sync; when it is durable, persist 2 and send a held ping.
    persist_script: bool,
    /// On every tick, persist a write (for the power-loss fault), and sync it if `sync_writes`.
    write_on_tick: bool,
    sync_writes: bool,
}

#[derive(Clone, Debug, Default, Serialize)]
struct Log(Vec<u64>);

impl Durable for Log {
    type Write = u64;
    fn apply(&mut self, w: &u64) {
        self.0.push(*w);
    }
}

#[derive(Clone, Debug)]
struct Received {
    from: u32,
    seq: u64,
    sent_mono: u64,
    at_mono: u64,
}

#[derive(Clone, Debug)]
struct Probe<const STREAM: bool> {
    params: Params,
    seq: u64,
    received: Vec<Received>,
    ticks: Vec<u64>,
    wall_at_ticks: Vec<i64>,
    broken: Vec<(u32, u64)>,
    booted_with: Vec<u64>,
}

impl<const STREAM: bool> Probe<STREAM> {
    fn ping_all(&mut self, cx: &mut Ctx<Self>) {
        for t in self.params.targets.clone() {
            self.seq += 1;
            let p = Ping {
                seq: self.seq,
                sent_mono: cx.now_mono(),
            };
            cx.send(NodeId(t), p);
        }
    }
}

impl<const STREAM: bool> Protocol for Probe<STREAM> {
    const NAME: &'static str = "probe";
    const DESCRIPTION: &'static str = "test probe";
    const LINK: LinkKind = if STREAM {
        LinkKind::Stream
    } else {
        LinkKind::Datagram
    };
    type Msg = Ping;
    type Timer = Timer;
    type Durable = Log;
    type Params = Params;
    type Invariants = sim::NoInvariants;
    type Workload = sim::family::NoClients;

    fn boot(cx: &mut Ctx<Self>, params: &Params, durable: &Log) -> Self {
        if params.period_ns > 0 {
            cx.set_timer(params.period_ns, Timer::Tick);
        }
        if params.persist_script && durable.0.is_empty() {
            cx.persist(1);
            cx.sync();
        }
        Probe {
            params: params.clone(),
            seq: 0,
            received: Vec::new(),
            ticks: Vec::new(),
            wall_at_ticks: Vec::new(),
            broken: Vec::new(),
            booted_with: durable.0.clone(),
        }
    }

    fn on_message(&mut self, cx: &mut Ctx<Self>, from: NodeId, msg: Ping) {
        self.received.push(Received {
            from: from.0,
            seq: msg.seq,
            sent_mono: msg.sent_mono,
            at_mono: cx.now_mono(),
        });
    }

    fn on_timer(&mut self, cx: &mut Ctx<Self>, _t: Timer) {
        self.ticks.push(cx.now_mono());
        self.wall_at_ticks.push(cx.now_wall());
        if self.params.write_on_tick {
            cx.persist(self.ticks.len() as u64);
            if self.params.sync_writes {
                cx.sync();
            }
        }
        self.ping_all(cx);
        cx.set_timer(self.params.period_ns, Timer::Tick);
    }

    fn on_client(&mut self, _cx: &mut Ctx<Self>, req: sim::RequestOf<Self>) {
        match req.op {}
    }

    fn on_sync_done(&mut self, cx: &mut Ctx<Self>, _sync: sim::SyncId) {
        if self.params.persist_script && self.booted_with.is_empty() && self.seq == 0 {
            self.seq = 1;
            cx.persist(2);
            cx.send_after_sync(
                NodeId(1),
                Ping {
                    seq: 99,
                    sent_mono: cx.now_mono(),
                },
            );
        }
    }

    fn on_link_broken(&mut self, cx: &mut Ctx<Self>, peer: NodeId) {
        self.broken.push((peer.0, cx.now_mono()));
    }
}

/// Exact clocks, constant 1 ms latency, nothing else.
fn base(nodes: usize, duration_ms: u64) -> SimConfig {
    let mut cfg = SimConfig::new(nodes, duration_ms * MS, 7);
    cfg.clocks = ClockConfig::exact();
    cfg.network.default = LinkParams {
        latency: Dist::constant(MS),
        ..LinkParams::default()
    };
    cfg.storage.sync_latency = Dist::constant(10 * MS);
    cfg
}

fn everyone_pings(nodes: usize, period_ms: u64) -> Vec<Params> {
    (0..nodes as u32)
        .map(|i| Params {
            period_ns: period_ms * MS,
            targets: (0..nodes as u32).filter(|t| *t != i).collect(),
            ..Params::default()
        })
        .collect()
}

fn fault(at_ms: u64, action: FaultAction) -> ScheduledFault {
    ScheduledFault {
        at: at_ms * MS,
        spread: 0,
        draw: 0,
        name: None,
        action,
    }
}

fn n(i: u32) -> Endpoint {
    Endpoint::Node(NodeId(i))
}

type Snapshot<const S: bool> = Vec<Option<Probe<S>>>;

fn run<const S: bool>(cfg: SimConfig, params: Vec<Params>) -> (RunReport, Snapshot<S>) {
    Sim::<Probe<S>>::new(cfg, sim::Setup::with_params(params), sim::Outputs::default())
        .run_and_inspect(|w| w.iter().map(|v| v.state.cloned()).collect())
        .expect("no output to fail")
}

fn from(p: &Probe<false>, sender: u32) -> impl Iterator<Item = &Received> {
    p.received.iter().filter(move |r| r.from == sender)
}

#[test]
fn partitioned_messages_are_not_delivered_and_heal_restores_them() {
    let mut cfg = base(3, 400);
    cfg.faults.push(fault(
        100,
        FaultAction::Partition {
            spec: PartitionSpec::Groups(vec![vec![n(0)], vec![n(1), n(2)]]),
            heal_after: Some(100 * MS),
        },
    ));
    let (report, nodes) = run::<false>(cfg, everyone_pings(3, 10));
    let window = 100 * MS..200 * MS;
    for (rx, tx) in [(1, 0), (2, 0), (0, 1), (0, 2)] {
        let p = nodes[rx].as_ref().expect("up");
        assert!(
            from(p, tx).all(|r| !window.contains(&r.at_mono)),
            "n{} received from n{} during the partition",
            rx + 1,
            tx + 1
        );
        assert!(from(p, tx).any(|r| r.at_mono > 200 * MS), "heal restores traffic");
    }
    let n2 = nodes[1].as_ref().expect("up");
    assert!(
        from(n2, 2).any(|r| window.contains(&r.at_mono)),
        "same side keeps talking"
    );
    assert!(report.messages.dropped > 0);
}

#[test]
fn one_way_cuts_are_one_way() {
    let mut cfg = base(2, 300);
    cfg.faults.push(fault(
        100,
        FaultAction::Cut {
            from: Target::Node(NodeId(0)),
            to: Target::Node(NodeId(1)),
            heal_after: Some(100 * MS),
        },
    ));
    let (_, nodes) = run::<false>(cfg, everyone_pings(2, 10));
    let window = 101 * MS..200 * MS;
    let n1 = nodes[0].as_ref().expect("up");
    let n2 = nodes[1].as_ref().expect("up");
    assert!(
        from(n2, 0).all(|r| !window.contains(&r.at_mono)),
        "n1 -> n2 is cut"
    );
    assert!(
        from(n1, 1).filter(|r| window.contains(&r.at_mono)).count() >= 9,
        "n2 -> n1 still works"
    );
    assert!(from(n2, 0).any(|r| r.at_mono > 200 * MS), "the cut heals");
}

fn sender_to_receiver(period_ms: u64) -> Vec<Params> {
    vec![
        Params {
            period_ns: period_ms * MS,
            targets: vec![1],
            ..Params::default()
        },
        Params::default(),
    ]
}

fn jittery(cfg: &mut SimConfig) {
    cfg.network.default = LinkParams {
        latency: Dist::uniform(MS, 20 * MS),
        drop: 0.2,
        duplicate: 0.3,
        reorder: 0.3,
        reorder_delay: 10 * MS,
    };
}

#[test]
fn streams_are_fifo_without_duplicates_where_datagrams_are_not() {
    let mut cfg = base(2, 1000);
    jittery(&mut cfg);
    let (_, stream) = run::<true>(cfg.clone(), sender_to_receiver(1));
    let seqs: Vec<u64> = stream[1]
        .as_ref()
        .expect("up")
        .received
        .iter()
        .map(|r| r.seq)
        .collect();
    assert!(seqs.len() > 500);
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "stream delivered out of order or twice"
    );
    // No loss either: a dropped segment is retransmitted.
    assert_eq!(seqs.len() as u64, *seqs.last().expect("some") - seqs[0] + 1);

    let (report, dgram) = run::<false>(cfg, sender_to_receiver(1));
    let seqs: Vec<u64> = dgram[1]
        .as_ref()
        .expect("up")
        .received
        .iter()
        .map(|r| r.seq)
        .collect();
    assert!(
        seqs.windows(2).any(|w| w[0] > w[1]),
        "datagrams should reorder with this jitter"
    );
    assert!(report.messages.duplicated > 0 && report.messages.dropped > 0);
}

#[test]
fn a_partition_breaks_a_stream_and_both_ends_are_told() {
    let mut cfg = base(2, 400);
    cfg.network.default.latency = Dist::uniform(MS, 5 * MS);
    cfg.faults.push(fault(
        100,
        FaultAction::Partition {
            spec: PartitionSpec::Groups(vec![vec![n(0)], vec![n(1)]]),
            heal_after: Some(50 * MS),
        },
    ));
    let (_, nodes) = run::<true>(cfg, sender_to_receiver(1));
    let n1 = nodes[0].as_ref().expect("up");
    let n2 = nodes[1].as_ref().expect("up");
    assert_eq!(n1.broken, vec![(1, 100 * MS)], "sender told");
    assert_eq!(n2.broken, vec![(0, 100 * MS)], "receiver told");
    let r: Vec<&Received> = n2.received.iter().collect();
    assert!(
        r.windows(2).all(|w| w[0].seq < w[1].seq),
        "still FIFO across the break"
    );
    // Nothing sent before the break arrives after it: in-flight messages died with the connection.
    assert!(r
        .iter()
        .all(|x| !(x.sent_mono < 100 * MS && x.at_mono >= 100 * MS)));
    assert!(
        r.iter().any(|x| x.at_mono > 150 * MS),
        "reconnects after the heal"
    );
}

#[test]
fn a_crash_loses_unsynced_writes_and_held_sends_but_keeps_synced_state() {
    let mut cfg = base(2, 100);
    // Boot: write 1 + sync (durable at 10 ms). Then write 2 + held ping (sync due at 20 ms).
    // Crash at 15 ms, restart at 20 ms.
    cfg.faults.push(fault(
        15,
        FaultAction::Crash {
            target: Target::Node(NodeId(0)),
            restart_after: Some(5 * MS),
        },
    ));
    let params = vec![
        Params {
            persist_script: true,
            ..Params::default()
        },
        Params::default(),
    ];
    let (_, nodes) = run::<false>(cfg.clone(), params.clone());
    let n1 = nodes[0].as_ref().expect("restarted");
    assert_eq!(n1.booted_with, vec![1], "synced write kept, unsynced write lost");
    assert!(
        nodes[1].as_ref().expect("up").received.is_empty(),
        "held send lost"
    );

    // Without the crash both writes become durable and the held ping is sent after the sync.
    cfg.faults.clear();
    let (_, nodes) = Sim::<Probe<false>>::new(cfg, sim::Setup::with_params(params), sim::Outputs::default())
        .run_and_inspect(|w| {
            (
                w.node(NodeId(0)).durable.0.clone(),
                w.node(NodeId(1))
                    .state
                    .map(|p| p.received.clone())
                    .unwrap_or_default(),
            )
        })
        .expect("runs");
    assert_eq!(nodes.0, vec![1, 2]);
    assert_eq!(nodes.1.len(), 1);
    assert_eq!(
        nodes.1[0].at_mono,
        21 * MS,
        "sent when the sync completed (20 ms) + 1 ms"
    );
}

#[test]
fn paused_nodes_fire_nothing_and_replay_their_buffer_in_order() {
    let mut cfg = base(2, 300);
    cfg.faults.push(fault(
        100,
        FaultAction::Pause {
            target: Target::Node(NodeId(1)),
            resume_after: Some(55 * MS),
        },
    ));
    let mut params = sender_to_receiver(10);
    params[1].period_ns = 10 * MS; // n2 ticks too
    let (_, nodes) = run::<false>(cfg, params);
    let n2 = nodes[1].as_ref().expect("up");
    assert!(
        n2.ticks.iter().all(|t| !(100 * MS < *t && *t < 155 * MS)),
        "no timer while paused"
    );
    assert!(
        n2.ticks.contains(&(155 * MS)),
        "the expired timer fires on resume"
    );
    let replayed: Vec<&Received> = n2.received.iter().filter(|r| r.at_mono == 155 * MS).collect();
    assert_eq!(replayed.len(), 6, "pings arriving at 101..151 ms were buffered");
    assert!(
        replayed.windows(2).all(|w| w[0].seq < w[1].seq),
        "replayed in arrival order"
    );
    assert!(n2
        .received
        .iter()
        .all(|r| !(100 * MS < r.at_mono && r.at_mono < 155 * MS)));
}

#[test]
fn the_pause_buffer_is_bounded_and_a_crash_discards_it() {
    let mut cfg = base(2, 300);
    cfg.limits.max_pause_buffer = 3;
    cfg.faults.push(fault(
        100,
        FaultAction::Pause {
            target: Target::Node(NodeId(1)),
            resume_after: Some(100 * MS),
        },
    ));
    let (report, nodes) = run::<false>(cfg.clone(), sender_to_receiver(10));
    let n2 = nodes[1].as_ref().expect("up");
    assert_eq!(n2.received.iter().filter(|r| r.at_mono == 200 * MS).count(), 3);
    assert!(report.bounds_hit.iter().any(|b| b == "max_pause_buffer"));

    cfg.limits.max_pause_buffer = 1000;
    cfg.faults.push(fault(
        150,
        FaultAction::Crash {
            target: Target::Node(NodeId(1)),
            restart_after: Some(10 * MS),
        },
    ));
    let (_, nodes) = run::<false>(cfg, sender_to_receiver(10));
    let n2 = nodes[1].as_ref().expect("restarted");
    assert!(
        n2.received.iter().all(|r| r.sent_mono >= 159 * MS),
        "buffer discarded by the crash"
    );
    assert!(!n2.received.is_empty());
}

#[test]
fn drift_shifts_timers_and_offset_shifts_readings() {
    let mut cfg = base(2, 1000);
    cfg.clocks.nodes.push(ClockOverride {
        node: NodeId(0),
        offset: Some(50 * MS),
        drift_ppm: Some(100_000), // 10% fast
    });
    let (_, nodes) = run::<false>(cfg, sender_to_receiver(100));
    let n1 = nodes[0].as_ref().expect("up");
    let n2 = nodes[1].as_ref().expect("up");
    // n1's readings include its offset: the first tick reads 50 + 100 ms.
    assert_eq!(n1.ticks[0], 150 * MS);
    // In true time (n2's exact clock, minus 1 ms latency) a 100 ms timer takes 100/1.1 ms.
    let arrivals: Vec<u64> = n2.received.iter().map(|r| r.at_mono - MS).collect();
    for (k, t) in arrivals.iter().enumerate() {
        let want = (k as u64 + 1) * 100 * MS * 10 / 11;
        assert!(t.abs_diff(want) <= 1, "tick {k} at {t}, want {want}");
    }
    assert_eq!(arrivals.len(), 10);
}

#[test]
fn clock_jumps_move_the_wall_clock_only() {
    let mut cfg = base(1, 300);
    cfg.faults.push(fault(
        150,
        FaultAction::ClockJump {
            target: Target::Node(NodeId(0)),
            by_ns: -2_000 * MS as i64,
        },
    ));
    let params = vec![Params {
        period_ns: 100 * MS,
        ..Params::default()
    }];
    let (_, nodes) = run::<false>(cfg, params);
    let n1 = nodes[0].as_ref().expect("up");
    assert_eq!(
        n1.ticks,
        vec![100 * MS, 200 * MS, 300 * MS],
        "timers keep monotonic time"
    );
    assert_eq!(
        n1.wall_at_ticks,
        vec![100 * MS as i64, -1800 * MS as i64, -1700 * MS as i64]
    );
}

fn power_loss(sync_writes: bool) -> (RunReport, Vec<u64>, Option<Vec<u64>>) {
    let mut cfg = base(1, 400);
    cfg.faults.push(fault(
        150,
        FaultAction::LoseUnsynced {
            target: Target::Node(NodeId(0)),
            within: 200 * MS,
            restart_after: Some(MS),
        },
    ));
    let params = vec![Params {
        period_ns: 100 * MS,
        write_on_tick: true,
        sync_writes,
        ..Params::default()
    }];
    let (report, (durable, ticks)) =
        Sim::<Probe<false>>::new(cfg, sim::Setup::with_params(params), sim::Outputs::default())
            .run_and_inspect(|w| {
                (
                    w.node(NodeId(0)).durable.0.clone(),
                    w.node(NodeId(0)).state.map(|p| p.ticks.clone()),
                )
            })
            .expect("runs");
    (report, durable, ticks)
}

#[test]
fn power_loss_strikes_at_once_when_writes_are_in_flight() {
    // Write 1 (at 100 ms) is never synced, so at 150 ms the fault strikes at once.
    let (_, durable, ticks) = power_loss(false);
    assert_eq!(durable, Vec::<u64>::new(), "the unsynced write is lost");
    assert_eq!(ticks, Some(vec![251 * MS, 351 * MS]), "restarted at 151 ms");
}

#[test]
fn power_loss_waits_for_the_next_write_and_loses_it() {
    // Write 1 is synced at 110 ms; the fault arms at 150 ms and strikes at write 2 (200 ms).
    let (report, durable, ticks) = power_loss(true);
    // The first life's write 1 survives, its write 2 is lost; the second life writes 1 again at
    // 301 ms (its first tick) and syncs it.
    assert_eq!(
        durable,
        vec![1, 1],
        "the synced write survives, the new one does not"
    );
    assert_eq!(ticks, Some(vec![301 * MS]), "restarted at 201 ms");
    assert!(report.faults >= 2);
}
