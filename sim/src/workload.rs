//! Simulated clients (DESIGN.md, "Clients"): endpoints on the same network as the servers,
//! timeouts and retries, redirects to the leader. The operations are the workload family's;
//! everything here is the same for every family.
//!
//! - A client has one *lane* in the closed loop (one operation in flight; the next random
//!   operation waits for it) and `in_flight` lanes in the open loop (arrivals come at the
//!   configured rate whatever the completions; an arrival with no free lane waits in a bounded
//!   backlog, and its latency counts from its arrival, so a slow system cannot hide it —
//!   coordinated omission). Each lane is a process of its own in the history.
//! - Retries of one operation (same session + sequence number) are one history entry, from the
//!   first invoke to the final reply.
//! - `fail` only when the family says an executed operation provably did not take effect (a
//!   compare-and-set whose comparison failed). A client that gives up records `info`, whatever
//!   the answers were: a delayed or duplicated copy of its request may still be applied.
//! - After `info` the lane continues under a fresh process id (Jepsen's rule), which is also
//!   its new session, so a late application of the old operation cannot be mistaken for a new
//!   one.
//! - Written values are unique per run ([`crate::family::GenCx::fresh_value`]).

use crate::client::{ClientReply, Outcome};
use crate::config::{ClientConfig, ScheduledOp, WorkloadConfig};
use crate::family::{Completion, Family, GenCx, KeySource, ValueSource};
use crate::history::EventType;
use crate::ids::{ClientId, Key, NodeId, Value};
use crate::rng::{Draw, Rng};
use crate::time::Time;
use std::collections::{BTreeSet, VecDeque};

/// Arrivals an open-loop client holds while every lane is busy; more are dropped (and the
/// bound is reported).
pub(crate) const MAX_BACKLOG: usize = 10_000;

/// An operation in flight.
pub(crate) struct InFlight<Op> {
    pub op: Op,
    /// When it was meant to start: its arrival in the open loop, else its invocation.
    pub arrived: Time,
    /// The nodes it is addressed to, as (first, count): its family's group or the entry group.
    pub nodes: (u32, u32),
    pub seq: u64,
    pub attempts: u32,
    pub hops: u32,
    pub timer_gen: u64,
}

/// One operation slot of a client: its own process (session), sequence numbers and timer.
pub(crate) struct Lane<Op> {
    /// Current process id (Jepsen): fresh after an `info`.
    pub process: u64,
    pub seq: u64,
    pub busy: Option<InFlight<Op>>,
    /// The current attempt's reply deadline and the generation it belongs to.
    pub deadline: Option<(Time, u64)>,
    /// The time of the queued timeout event, if one is queued.
    pub timer_armed: Option<Time>,
}

pub(crate) struct ClientState<F: Family> {
    pub id: ClientId,
    pub rng: Rng,
    pub target: NodeId,
    pub lanes: Vec<Lane<F::Op>>,
    /// Scheduled operations waiting for a free lane.
    pub queue: VecDeque<ScheduledOp<F::OpSpec>>,
    /// Open loop: arrivals waiting for a free lane (their arrival times).
    pub backlog: VecDeque<Time>,
    /// Generation of the pending wake/timeout events; older ones are stale.
    pub gen: u64,
    /// Open loop: generation of the arrival chain (a crash starts a new one).
    pub wake_gen: u64,
    /// When the random workload wants this client's next op (arrivals are a Poisson process;
    /// in the closed loop a client still busy then starts the op as soon as it is idle).
    pub next_arrival: Time,
    /// False while crashed (a client fault).
    pub up: bool,
    /// True while paused (its events wait in the engine's buffer).
    pub paused: bool,
    /// The highest reply context received (sent with every request; survives restarts).
    pub context: u64,
}

impl<F: Family> ClientState<F> {
    pub fn free_lane(&self) -> Option<usize> {
        self.lanes.iter().position(|l| l.busy.is_none())
    }

    pub fn idle(&self) -> bool {
        self.lanes.iter().all(|l| l.busy.is_none())
    }

    pub fn busy_lanes(&self) -> usize {
        self.lanes.iter().filter(|l| l.busy.is_some()).count()
    }
}

/// What the engine must do after a client step (for one lane).
pub(crate) enum ClientAction<F: Family> {
    /// Send the request for the lane's op to `to`, and arm a timeout.
    Send {
        to: NodeId,
        timeout: Time,
    },
    /// Retry after a pause (no leader known / not applied).
    Backoff(Time),
    /// Record a completion; the lane is free.
    Complete {
        kind: EventType,
        op: F::Op,
        reply: Option<F::Reply>,
        process: u64,
        arrived: Time,
    },
    Nothing,
}

pub(crate) struct Clients<F: Family> {
    pub list: Vec<ClientState<F>>,
    pub family: F,
    pub cfg: ClientConfig,
    pub workload: Option<WorkloadConfig>,
    /// Random operations invoked (closed loop) or accepted arrivals (open loop) so far.
    pub random_invoked: u64,
    values: ValueSource,
    keys: KeySource,
    /// Next process id to hand out after an `info`.
    next_process: u64,
    cluster: crate::cluster::Cluster,
    /// The nodes clients address when the family names no group: (first, count).
    entry: (u32, u32),
}

impl<F: Family> Clients<F> {
    /// `value_base`: fresh values start here; `pinned`: keys scheduled operations name.
    pub fn new(
        cfg: &ClientConfig,
        workload: Option<&WorkloadConfig>,
        family: F,
        cluster: &crate::cluster::Cluster,
        seed: u64,
        value_base: Value,
        pinned: BTreeSet<Key>,
    ) -> Self {
        let entry = match &cfg.group {
            Some(g) => {
                let g = cluster.group(g).expect("the loader checks group names");
                (g.first, g.len)
            }
            None => (0, cluster.len() as u32),
        };
        let (n, lanes) = (cfg.clients as u64, cfg.lanes() as u64);
        let list = (0..cfg.clients as u32)
            .map(|i| {
                let id = ClientId(i);
                let mut rng = Rng::stream(seed, &format!("workload/{id}"));
                let target = NodeId(entry.0 + rng.below(u64::from(entry.1)) as u32);
                // Client cK's lanes start as processes K-1, K-1+clients, K-1+2·clients, …
                let lanes = (0..lanes)
                    .map(|l| Lane {
                        process: u64::from(i) + l * n,
                        seq: 0,
                        busy: None,
                        deadline: None,
                        timer_armed: None,
                    })
                    .collect();
                ClientState {
                    id,
                    rng,
                    target,
                    lanes,
                    queue: VecDeque::new(),
                    backlog: VecDeque::new(),
                    gen: 0,
                    wake_gen: 0,
                    next_arrival: 0,
                    up: true,
                    paused: false,
                    context: 0,
                }
            })
            .collect();
        Clients {
            list,
            family,
            cfg: cfg.clone(),
            workload: workload.cloned(),
            random_invoked: 0,
            values: ValueSource {
                base: value_base,
                clients: n,
                made: vec![0; cfg.clients],
            },
            keys: KeySource {
                count: workload.map_or(1, |w| w.keys.max(1)),
                key_ops: workload.and_then(|w| w.key_ops),
                slots: Vec::new(),
                next_key: 0,
                retired: Vec::new(),
                pinned,
            },
            next_process: n * lanes,
            cluster: cluster.clone(),
            entry,
        }
    }

    pub fn open_loop(&self) -> bool {
        self.cfg.in_flight.is_some()
    }

    /// The time of client `c`'s next random arrival (each client is a Poisson process at
    /// rate/clients, so the whole workload runs at the configured rate while ops are short).
    pub fn next_arrival(&mut self, c: usize, now: Time) -> Option<Time> {
        let w = self.workload.as_ref()?;
        // `count = 0`: clients that only run scheduled operations (a schedule's replay).
        if c >= w.clients || w.count == Some(0) {
            return None;
        }
        let mean = w.interval as f64 * w.clients as f64;
        let gap = libm::round(self.list[c].rng.exp(mean)) as Time;
        let cl = &mut self.list[c];
        cl.next_arrival = cl.next_arrival.max(w.start).saturating_add(gap);
        Some(cl.next_arrival.max(now))
    }

    /// Whether the random workload may invoke (or, open loop, accept) another op at `now`.
    pub fn random_allowed(&self, c: usize, now: Time, max_ops: u64) -> bool {
        match &self.workload {
            None => false,
            Some(w) => {
                c < w.clients
                    && now >= w.start
                    && now < w.stop
                    && w.count.is_none_or(|n| self.random_invoked < n)
                    && self.random_invoked < max_ops
            }
        }
    }

    /// Runs `f` with the family and a generation context for client `c`.
    fn generating<R>(&mut self, c: usize, f: impl FnOnce(&mut F, &mut GenCx) -> R) -> R {
        let reader = self
            .workload
            .as_ref()
            .is_some_and(|w| c < w.clients && c + w.readers >= w.clients);
        let cl = &mut self.list[c];
        let mut cx = GenCx {
            client: cl.id,
            rng: &mut cl.rng,
            reader,
            values: &mut self.values,
            keys: &mut self.keys,
        };
        f(&mut self.family, &mut cx)
    }

    /// Draws the next random op for client `c`.
    pub fn random_op(&mut self, c: usize) -> F::Op {
        self.generating(c, |fam, cx| fam.generate(cx))
    }

    /// Turns a scheduled op into a concrete one, giving fresh values to the holes (the keys it
    /// retires retire with it).
    pub fn fill(&mut self, c: usize, op: &ScheduledOp<F::OpSpec>) -> F::Op {
        self.keys.retired.extend(op.retire.iter().copied());
        self.generating(c, |fam, cx| fam.fill(&op.op, cx))
    }

    /// Keys retired since the last call: no operation will be invoked on them again.
    pub fn take_retired(&mut self) -> Vec<Key> {
        std::mem::take(&mut self.keys.retired)
    }

    /// Starts `op` on free lane `lane` of client `c`; returns the request's target and timeout.
    pub fn start(&mut self, c: usize, lane: usize, op: F::Op, now: Time, arrived: Time) -> (NodeId, Time) {
        let timeout = self.cfg.timeout;
        let nodes = match self.family.group(&op) {
            Some(g) => {
                let g = self
                    .cluster
                    .group(g)
                    .unwrap_or_else(|| panic!("family group `{g}` is not in the cluster"));
                (g.first, g.len)
            }
            None => self.entry,
        };
        let cl = &mut self.list[c];
        assert!(
            cl.lanes[lane].busy.is_none(),
            "client {} lane {lane} already busy",
            cl.id
        );
        assert!(
            cl.up && !cl.paused,
            "client {} starts an op while down or paused",
            cl.id
        );
        assert!(arrived <= now, "an operation starts before it arrived");
        if !(nodes.0..nodes.0 + nodes.1).contains(&cl.target.0) {
            // The op goes to another group than the last one: a random node of it.
            cl.target = NodeId(nodes.0 + cl.rng.below(u64::from(nodes.1)) as u32);
        }
        cl.gen += 1;
        let l = &mut cl.lanes[lane];
        l.seq += 1;
        l.busy = Some(InFlight {
            op,
            arrived,
            nodes,
            seq: l.seq,
            attempts: 1,
            hops: 0,
            timer_gen: cl.gen,
        });
        (cl.target, timeout)
    }

    fn max_hops(&self, c: usize, lane: usize) -> u32 {
        // Redirects and "not applied" answers per operation, beyond which the client gives up.
        let nodes = self.list[c].lanes[lane]
            .busy
            .as_ref()
            .map_or(self.entry.1, |f| f.nodes.1);
        (self.cfg.retries + 1) * (2 * nodes + 2)
    }

    /// A reply arrived at client `c`: the lane it is for (by session), and what to do.
    pub fn on_reply(&mut self, c: usize, reply: &ClientReply<F::Reply>) -> Option<(usize, ClientAction<F>)> {
        let cl = &mut self.list[c];
        // Replies to earlier attempts of the same op count: the server applied it once.
        let lane = cl.lanes.iter().position(|l| {
            l.process == reply.session && l.busy.as_ref().is_some_and(|f| f.seq == reply.seq)
        })?;
        cl.context = cl.context.max(reply.context);
        let action = match &reply.outcome {
            Outcome::Done(r) => {
                let l = &mut cl.lanes[lane];
                let f = l.busy.take().expect("in flight");
                let process = l.process;
                cl.gen += 1;
                let kind = match self.family.complete(ClientId(c as u32), &f.op, r) {
                    Completion::Ok => EventType::Ok,
                    Completion::Fail => EventType::Fail,
                };
                ClientAction::Complete {
                    kind,
                    op: f.op,
                    reply: Some(r.clone()),
                    process,
                    arrived: f.arrived,
                }
            }
            Outcome::Redirect(Some(leader)) if *leader != cl.target => {
                if !self.hop(c, lane) {
                    return Some((lane, self.give_up(c, lane)));
                }
                let cl = &mut self.list[c];
                cl.target = *leader;
                ClientAction::Send {
                    to: cl.target,
                    timeout: self.cfg.timeout,
                }
            }
            Outcome::Redirect(_) | Outcome::NotApplied => {
                if !self.hop(c, lane) {
                    return Some((lane, self.give_up(c, lane)));
                }
                self.rotate(c, lane);
                ClientAction::Backoff(self.cfg.backoff)
            }
        };
        Some((lane, action))
    }

    /// Counts one redirect or "not applied" answer and starts a new attempt generation;
    /// false when the operation had too many.
    fn hop(&mut self, c: usize, lane: usize) -> bool {
        let max_hops = self.max_hops(c, lane);
        let cl = &mut self.list[c];
        let f = cl.lanes[lane].busy.as_mut().expect("in flight");
        f.hops += 1;
        if f.hops > max_hops {
            return false;
        }
        cl.gen += 1;
        f.timer_gen = cl.gen;
        true
    }

    /// Moves client `c` on to the next server of the lane's op's group.
    fn rotate(&mut self, c: usize, lane: usize) {
        let cl = &mut self.list[c];
        let (first, n) = cl.lanes[lane].busy.as_ref().map_or(self.entry, |f| f.nodes);
        cl.target = NodeId(first + (cl.target.0.saturating_sub(first) + 1) % n);
    }

    /// The reply timer of a lane of client `c` fired.
    pub fn on_timeout(&mut self, c: usize, lane: usize, gen: u64) -> ClientAction<F> {
        let retries = self.cfg.retries;
        let cl = &mut self.list[c];
        let Some(f) = cl.lanes[lane].busy.as_mut() else {
            return ClientAction::Nothing;
        };
        if f.timer_gen != gen {
            return ClientAction::Nothing;
        }
        if f.attempts > retries {
            return self.give_up(c, lane);
        }
        f.attempts += 1;
        cl.gen += 1;
        f.timer_gen = cl.gen;
        self.rotate(c, lane);
        ClientAction::Send {
            to: self.list[c].target,
            timeout: self.cfg.timeout,
        }
    }

    /// A backoff ended: resend.
    pub fn on_backoff_done(&mut self, c: usize, lane: usize, gen: u64) -> ClientAction<F> {
        let timeout = self.cfg.timeout;
        let cl = &mut self.list[c];
        match cl.lanes[lane].busy.as_mut() {
            Some(f) if f.timer_gen == gen => {
                cl.gen += 1;
                f.timer_gen = cl.gen;
                ClientAction::Send {
                    to: cl.target,
                    timeout,
                }
            }
            _ => ClientAction::Nothing,
        }
    }

    /// Client `c` crashes: each op in flight becomes `info` (it may still take effect), the
    /// open-loop backlog is lost, and it stays down until restarted; scheduled ops wait for it.
    pub fn crash(&mut self, c: usize) -> Vec<ClientAction<F>> {
        let cl = &mut self.list[c];
        cl.up = false;
        cl.paused = false;
        cl.backlog.clear();
        cl.gen += 1;
        cl.wake_gen += 1;
        for l in &mut cl.lanes {
            l.timer_armed = None;
            l.deadline = None;
        }
        let busy: Vec<usize> = (0..cl.lanes.len())
            .filter(|l| cl.lanes[*l].busy.is_some())
            .collect();
        busy.into_iter().map(|lane| self.give_up(c, lane)).collect()
    }

    /// Client `c` restarts, every lane a fresh process (and session).
    pub fn restart(&mut self, c: usize) {
        let cl = &mut self.list[c];
        cl.up = true;
        cl.gen += 1;
        for l in &mut cl.lanes {
            l.process = self.next_process;
            self.next_process += 1;
        }
    }

    fn give_up(&mut self, c: usize, lane: usize) -> ClientAction<F> {
        let next = self.next_process;
        let cl = &mut self.list[c];
        let l = &mut cl.lanes[lane];
        let f = l.busy.take().expect("in flight");
        let process = l.process;
        // Indeterminate: even if every answer said "not here", a delayed or duplicated copy of
        // the request may still be applied. Continue as a new process (and session).
        l.process = next;
        cl.gen += 1;
        self.next_process += 1;
        ClientAction::Complete {
            kind: EventType::Info,
            op: f.op,
            reply: None,
            process,
            arrived: f.arrived,
        }
    }

    /// The op in flight on a lane, and the lane's process.
    /// The context client `c` sends with its requests.
    pub fn context(&self, c: usize) -> u64 {
        self.list[c].context
    }

    pub fn in_flight(&self, c: usize, lane: usize) -> Option<(&InFlight<F::Op>, u64)> {
        let l = &self.list[c].lanes[lane];
        l.busy.as_ref().map(|f| (f, l.process))
    }
}
