//! Simulated clients (DESIGN.md, "Clients"): endpoints on the same network as the servers, one
//! operation in flight each, timeouts and retries, redirects to the leader.
//!
//! - Retries of one operation (same session + sequence number) are one history entry, from the
//!   first invoke to the final reply.
//! - `fail` only for a compare-and-set whose comparison failed (the server says so; nothing
//!   changed). A client that gives up records `info`, whatever the answers were: a delayed or
//!   duplicated copy of its request may still be applied.
//! - `info` when the client gives up; it then continues under a fresh process id (Jepsen's rule),
//!   which is also its new session, so a late application of the old operation cannot be
//!   mistaken for a new one.
//! - Written values are unique per run.

use crate::client::{ClientReply, Op, Outcome};
use crate::config::{ClientConfig, Mix, OpTemplate, WorkloadConfig};
use crate::history::EventType;
use crate::ids::{ClientId, Key, NodeId, Value};
use crate::rng::{Draw, Rng};
use crate::time::Time;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// An operation in flight.
pub(crate) struct InFlight {
    pub op: Op,
    pub seq: u64,
    pub attempts: u32,
    pub hops: u32,
    pub timer_gen: u64,
}

pub(crate) struct ClientState {
    pub id: ClientId,
    pub rng: Rng,
    /// Current process id (Jepsen): fresh after an `info`.
    pub process: u64,
    pub seq: u64,
    pub target: NodeId,
    pub busy: Option<InFlight>,
    /// Scheduled operations waiting for the client to be idle.
    pub queue: VecDeque<OpTemplate>,
    /// Generation of the pending wake/timeout event; older ones are stale.
    pub gen: u64,
    /// Last value seen per key (for choosing a compare-and-set's expected value).
    pub last_seen: BTreeMap<Key, Value>,
    pub values_made: u64,
    /// The current attempt's reply deadline and the generation it belongs to.
    pub deadline: Option<(Time, u64)>,
    /// The time of the queued timeout event, if one is queued.
    pub timer_armed: Option<Time>,
    /// When the random workload wants this client's next op (arrivals are a Poisson process;
    /// a client still busy then starts the op as soon as it is idle).
    pub next_arrival: Time,
}

/// What the engine must do after a client step.
pub(crate) enum ClientAction {
    /// Send the request for the in-flight op to `target`, and arm a timeout.
    Send {
        to: NodeId,
        timeout: Time,
    },
    /// Retry after a pause (no leader known / not applied).
    Backoff(Time),
    /// Record a completion and go idle; `think` is the pause before the next op (None: wait for
    /// scheduled ops only).
    Complete {
        kind: EventType,
        op: Op,
        read: Option<Vec<Value>>,
        process: u64,
    },
    Nothing,
}

pub(crate) struct Clients {
    pub list: Vec<ClientState>,
    pub cfg: ClientConfig,
    pub workload: Option<WorkloadConfig>,
    pub n_nodes: usize,
    /// Random operations invoked so far (for `count`).
    pub random_invoked: u64,
    /// Fresh values are `value_base + k·clients + client index`.
    value_base: Value,
    /// Next process id to hand out after an `info`.
    next_process: u64,
    /// With `key_ops`: each slot's current key and the operations it has had.
    slot_keys: Vec<(Key, u64)>,
    next_key: Key,
    retired: Vec<Key>,
    /// Keys named by scheduled operations: never retired (an operation may still come) and
    /// never handed out as fresh keys.
    pinned: BTreeSet<Key>,
}

impl Clients {
    pub fn new(
        cfg: &ClientConfig,
        workload: Option<&WorkloadConfig>,
        n_nodes: usize,
        seed: u64,
        value_base: Value,
        pinned: BTreeSet<Key>,
    ) -> Self {
        let list = (0..cfg.clients as u32)
            .map(|i| {
                let id = ClientId(i);
                let mut rng = Rng::stream(seed, &format!("workload/{id}"));
                let target = NodeId(rng.below(n_nodes as u64) as u32);
                ClientState {
                    id,
                    rng,
                    process: u64::from(i),
                    seq: 0,
                    target,
                    busy: None,
                    queue: VecDeque::new(),
                    gen: 0,
                    last_seen: BTreeMap::new(),
                    values_made: 0,
                    next_arrival: 0,
                    deadline: None,
                    timer_armed: None,
                }
            })
            .collect();
        Clients {
            list,
            cfg: cfg.clone(),
            workload: workload.cloned(),
            n_nodes,
            random_invoked: 0,
            value_base,
            next_process: cfg.clients as u64,
            slot_keys: Vec::new(),
            next_key: 0,
            retired: Vec::new(),
            pinned,
        }
    }

    fn fresh_value(&mut self, c: usize) -> Value {
        let cl = &mut self.list[c];
        let v = self.value_base + cl.values_made * self.cfg.clients as u64 + c as u64;
        cl.values_made += 1;
        v
    }

    /// The time of client `c`'s next random arrival (each client is a Poisson process at
    /// rate/clients, so the whole workload runs at the configured rate while ops are short).
    pub fn next_arrival(&mut self, c: usize, now: Time) -> Option<Time> {
        let w = self.workload.as_ref()?;
        if c >= w.clients {
            return None;
        }
        let mean = w.interval as f64 * w.clients as f64;
        let gap = libm::round(self.list[c].rng.exp(mean)) as Time;
        let cl = &mut self.list[c];
        cl.next_arrival = cl.next_arrival.max(w.start).saturating_add(gap);
        Some(cl.next_arrival.max(now))
    }

    /// Whether the random workload may invoke another op at `now`.
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

    /// Draws the next random op for client `c`.
    pub fn random_op(&mut self, c: usize) -> Op {
        let w = self.workload.as_ref().expect("random op without a workload");
        let Mix {
            read,
            write,
            cas,
            append,
        } = w.mix;
        let keys = w.keys.max(1);
        // The last `readers` clients of the random workload only read.
        let reader = c + w.readers >= w.clients;
        let cl = &mut self.list[c];
        let kind = if reader {
            0
        } else {
            cl.rng.weighted(&[read, write, cas, append])
        };
        let slot = cl.rng.below(u64::from(keys)) as usize;
        let key = self.slot_key(slot);
        let cl = &mut self.list[c];
        let expected = cl.last_seen.get(&key).copied();
        match kind {
            0 => Op::Read { key },
            1 => Op::Write {
                key,
                value: self.fresh_value(c),
            },
            2 => {
                // Compare against the last value this client saw (or a made-up one, which
                // exercises the failure path).
                let from = expected.unwrap_or(0);
                Op::Cas {
                    key,
                    from,
                    to: self.fresh_value(c),
                }
            }
            _ => Op::Append {
                key,
                value: self.fresh_value(c),
            },
        }
    }

    /// The key in `slot` for the next op. With `key_ops`, a key takes that many operations and
    /// then retires for a fresh one (Jepsen's independent keys): histories stay short per key,
    /// so they can be checked — and forgotten — as the run goes.
    fn slot_key(&mut self, slot: usize) -> Key {
        let w = self.workload.as_ref().expect("random op without a workload");
        let keys = w.keys.max(1) as usize;
        let Some(limit) = w.key_ops else {
            return slot as Key;
        };
        if self.slot_keys.is_empty() {
            self.slot_keys = (0..keys).map(|s| (s as Key, 0)).collect();
            self.next_key = keys as Key;
        }
        let (key, used) = &mut self.slot_keys[slot];
        let k = *key;
        *used += 1;
        if *used >= limit {
            if !self.pinned.contains(&k) {
                self.retired.push(k);
            }
            let mut fresh = self.next_key;
            while self.pinned.contains(&fresh) {
                fresh = fresh.checked_add(1).expect("more than 4 billion keys");
            }
            *key = fresh;
            *used = 0;
            self.next_key = fresh.checked_add(1).expect("more than 4 billion keys");
        }
        k
    }

    /// Keys retired since the last call: no operation will be invoked on them again.
    pub fn take_retired(&mut self) -> Vec<Key> {
        std::mem::take(&mut self.retired)
    }

    /// Turns a scheduled op into a concrete one, giving fresh values to the holes.
    pub fn fill(&mut self, c: usize, t: &OpTemplate) -> Op {
        match *t {
            OpTemplate::Read { key } => Op::Read { key },
            OpTemplate::Write { key, value } => Op::Write {
                key,
                value: value.unwrap_or_else(|| self.fresh_value(c)),
            },
            OpTemplate::Cas { key, from, to } => Op::Cas {
                key,
                from,
                to: to.unwrap_or_else(|| self.fresh_value(c)),
            },
            OpTemplate::Append { key, value } => Op::Append {
                key,
                value: value.unwrap_or_else(|| self.fresh_value(c)),
            },
        }
    }

    /// Starts `op` on idle client `c`; returns the request's target and timeout.
    pub fn start(&mut self, c: usize, op: Op) -> (NodeId, u64, u64, Time) {
        let timeout = self.cfg.timeout;
        let cl = &mut self.list[c];
        assert!(cl.busy.is_none(), "client {} already has an op in flight", cl.id);
        cl.seq += 1;
        cl.gen += 1;
        cl.busy = Some(InFlight {
            op,
            seq: cl.seq,
            attempts: 1,
            hops: 0,
            timer_gen: cl.gen,
        });
        (cl.target, cl.process, cl.seq, timeout)
    }

    fn max_hops(&self) -> u32 {
        // Redirects and "not applied" answers per operation, beyond which the client gives up.
        (self.cfg.retries + 1) * (2 * self.n_nodes as u32 + 2)
    }

    /// A reply arrived at client `c`.
    pub fn on_reply(&mut self, c: usize, reply: &ClientReply) -> ClientAction {
        let max_hops = self.max_hops();
        let backoff = self.cfg.backoff;
        let n = self.n_nodes as u32;
        let timeout = self.cfg.timeout;
        let cl = &mut self.list[c];
        let Some(f) = cl.busy.as_mut() else {
            return ClientAction::Nothing;
        };
        // Replies to earlier attempts of the same op count: the server applied it once.
        if reply.session != cl.process || reply.seq != f.seq {
            return ClientAction::Nothing;
        }
        match &reply.outcome {
            Outcome::Ok(list) => {
                let f = cl.busy.take().expect("in flight");
                cl.gen += 1;
                let read = match &f.op {
                    Op::Read { key } => {
                        if let Some(v) = list.last() {
                            cl.last_seen.insert(*key, *v);
                        }
                        Some(list.clone())
                    }
                    Op::Write { key, value } | Op::Cas { key, to: value, .. } => {
                        cl.last_seen.insert(*key, *value);
                        None
                    }
                    Op::Append { key, value } => {
                        cl.last_seen.insert(*key, *value);
                        None
                    }
                };
                ClientAction::Complete {
                    kind: EventType::Ok,
                    op: f.op,
                    read,
                    process: cl.process,
                }
            }
            Outcome::CasFailed => {
                let f = cl.busy.take().expect("in flight");
                cl.gen += 1;
                ClientAction::Complete {
                    kind: EventType::Fail,
                    op: f.op,
                    read: None,
                    process: cl.process,
                }
            }
            Outcome::Redirect(hint) => {
                f.hops += 1;
                if f.hops > max_hops {
                    return self.give_up(c);
                }
                match hint {
                    Some(leader) if *leader != cl.target => {
                        cl.target = *leader;
                        cl.gen += 1;
                        f.timer_gen = cl.gen;
                        ClientAction::Send {
                            to: cl.target,
                            timeout,
                        }
                    }
                    _ => {
                        cl.target = NodeId((cl.target.0 + 1) % n);
                        cl.gen += 1;
                        f.timer_gen = cl.gen;
                        ClientAction::Backoff(backoff)
                    }
                }
            }
            Outcome::NotApplied => {
                f.hops += 1;
                if f.hops > max_hops {
                    return self.give_up(c);
                }
                cl.target = NodeId((cl.target.0 + 1) % n);
                cl.gen += 1;
                f.timer_gen = cl.gen;
                ClientAction::Backoff(backoff)
            }
        }
    }

    /// The reply timer of client `c` fired.
    pub fn on_timeout(&mut self, c: usize, gen: u64) -> ClientAction {
        let retries = self.cfg.retries;
        let timeout = self.cfg.timeout;
        let n = self.n_nodes as u32;
        let cl = &mut self.list[c];
        let Some(f) = cl.busy.as_mut() else {
            return ClientAction::Nothing;
        };
        if f.timer_gen != gen {
            return ClientAction::Nothing;
        }
        if f.attempts > retries {
            return self.give_up(c);
        }
        f.attempts += 1;
        cl.target = NodeId((cl.target.0 + 1) % n);
        cl.gen += 1;
        f.timer_gen = cl.gen;
        ClientAction::Send {
            to: cl.target,
            timeout,
        }
    }

    /// A backoff ended: resend.
    pub fn on_backoff_done(&mut self, c: usize, gen: u64) -> ClientAction {
        let timeout = self.cfg.timeout;
        let cl = &mut self.list[c];
        match cl.busy.as_mut() {
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

    fn give_up(&mut self, c: usize) -> ClientAction {
        let next = self.next_process;
        let cl = &mut self.list[c];
        let f = cl.busy.take().expect("in flight");
        cl.gen += 1;
        let process = cl.process;
        // Indeterminate: even if every answer said "not here", a delayed or duplicated copy of
        // the request may still be applied. Continue as a new process (and session).
        cl.process = next;
        self.next_process += 1;
        ClientAction::Complete {
            kind: EventType::Info,
            op: f.op,
            read: None,
            process,
        }
    }

    pub fn in_flight(&self, c: usize) -> Option<(&InFlight, u64)> {
        let cl = &self.list[c];
        cl.busy.as_ref().map(|f| (f, cl.process))
    }
}
