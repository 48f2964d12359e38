//! The simulated network: per-link latency distributions, drop/duplicate/reorder, partitions as
//! groups, one-way cuts, and stream links (FIFO, broken by partitions and crashes).
//!
//! Endpoints are numbered `0..nodes` for servers and `nodes..nodes+clients` for clients.

use crate::config::{LinkParams, NetworkConfig};
use crate::ids::{ClientId, Endpoint, NodeId};
use crate::protocol::LinkKind;
use crate::rng::{Draw, LinkStreams};
use crate::time::Time;
use std::collections::BTreeMap;

/// Endpoints in no partition group reach everyone.
const FREE: u32 = u32::MAX;
/// Above this many endpoints, per-link state moves from a dense table to a map.
const DENSE_LIMIT: usize = 1024;

/// Per-link state of stream links (datagram links need none besides their random stream).
#[derive(Clone, Copy, Default)]
struct StreamState {
    /// Latest arrival scheduled on this link (streams stay FIFO).
    last_arrival: Time,
    /// Connection number; a break bumps it and drops what is in flight.
    epoch: u32,
}

/// Per-link values: a dense table for up to `DENSE_LIMIT` endpoints, a map beyond.
enum LinkTable<T> {
    Dense(Vec<T>),
    Sparse(BTreeMap<u64, T>),
}

impl<T: Default + Clone> LinkTable<T> {
    fn new(endpoints: usize) -> Self {
        if endpoints <= DENSE_LIMIT {
            LinkTable::Dense(vec![T::default(); endpoints * endpoints])
        } else {
            LinkTable::Sparse(BTreeMap::new())
        }
    }

    #[inline]
    fn get_mut(&mut self, i: u64) -> &mut T {
        match self {
            LinkTable::Dense(v) => &mut v[i as usize],
            LinkTable::Sparse(m) => m.entry(i).or_default(),
        }
    }
}

/// Why a message was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DropReason {
    Partition,
    Cut,
    Loss,
    QueueFull,
    Down,
    PauseBufferFull,
    ConnectionBroken,
}

impl DropReason {
    pub fn code(self) -> u8 {
        self as u8
    }
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Partition => "partition",
            DropReason::Cut => "cut",
            DropReason::Loss => "loss",
            DropReason::QueueFull => "queue full",
            DropReason::Down => "node down",
            DropReason::PauseBufferFull => "pause buffer full",
            DropReason::ConnectionBroken => "connection broken",
        }
    }
}

/// What the network decided for one send.
pub enum SendPlan {
    Dropped(DropReason),
    /// Arrival times (two if duplicated) and the connection epoch.
    Deliver {
        arrivals: [Option<Time>; 2],
        epoch: u32,
    },
}

pub struct Network {
    pub kind: LinkKind,
    n_nodes: usize,
    n_endpoints: usize,
    default: LinkParams,
    overrides: BTreeMap<(u32, u32), LinkParams>,
    group: Vec<u32>,
    partitioned: bool,
    /// One-way cuts, each with the generation that installed it (a heal names its generation).
    cuts: BTreeMap<(u32, u32), u64>,
    cut_gen: u64,
    streams: LinkTable<StreamState>,
    /// Sends per link at the current instant (for the link streams' same-instant index).
    instant: Time,
    instant_sends: Vec<(u64, u32)>,
    link_streams: LinkStreams,
    pub in_flight: usize,
}

impl Network {
    pub fn new(cfg: &NetworkConfig, kind: LinkKind, n_nodes: usize, n_clients: usize, seed: u64) -> Self {
        let n_endpoints = n_nodes + n_clients;
        let mut net = Network {
            kind,
            n_nodes,
            n_endpoints,
            default: cfg.default,
            overrides: BTreeMap::new(),
            group: vec![FREE; n_endpoints],
            partitioned: false,
            cuts: BTreeMap::new(),
            cut_gen: 0,
            instant: 0,
            instant_sends: Vec::new(),
            streams: if kind == LinkKind::Stream {
                LinkTable::new(n_endpoints)
            } else {
                LinkTable::Sparse(BTreeMap::new())
            },
            link_streams: LinkStreams::new(seed),
            in_flight: 0,
        };
        for o in &cfg.links {
            let key = (net.ep(o.from), net.ep(o.to));
            net.overrides.insert(key, o.params);
        }
        net
    }

    pub fn endpoints(&self) -> usize {
        self.n_endpoints
    }

    pub fn ep(&self, e: Endpoint) -> u32 {
        match e {
            Endpoint::Node(n) => n.0,
            Endpoint::Client(c) => self.n_nodes as u32 + c.0,
        }
    }

    pub fn endpoint(&self, i: u32) -> Endpoint {
        if (i as usize) < self.n_nodes {
            Endpoint::Node(NodeId(i))
        } else {
            Endpoint::Client(ClientId(i - self.n_nodes as u32))
        }
    }

    fn link_index(&self, a: u32, b: u32) -> u64 {
        a as u64 * self.n_endpoints as u64 + b as u64
    }

    fn stream_mut(&mut self, a: u32, b: u32) -> &mut StreamState {
        let i = self.link_index(a, b);
        self.streams.get_mut(i)
    }

    /// Can a message from `a` reach `b` right now?
    #[inline]
    pub fn connected(&self, a: u32, b: u32) -> Result<(), DropReason> {
        if self.partitioned {
            let (ga, gb) = (self.group[a as usize], self.group[b as usize]);
            if ga != FREE && gb != FREE && ga != gb {
                return Err(DropReason::Partition);
            }
        }
        if !self.cuts.is_empty() && self.cuts.contains_key(&(a, b)) {
            return Err(DropReason::Cut);
        }
        Ok(())
    }

    /// Decides the fate of one message sent now from `a` to `b`, drawing from the link's stream.
    pub fn plan(&mut self, now: Time, a: u32, b: u32) -> SendPlan {
        if let Err(r) = self.connected(a, b) {
            return SendPlan::Dropped(r);
        }
        let params = if self.overrides.is_empty() {
            self.default
        } else {
            *self.overrides.get(&(a, b)).unwrap_or(&self.default)
        };
        let link = self.link_index(a, b);
        let nth = self.nth_send_now(now, link);
        let rng = &mut self.link_streams.message(link, now, nth);
        match self.kind {
            LinkKind::Datagram => {
                if rng.chance(params.drop) {
                    return SendPlan::Dropped(DropReason::Loss);
                }
                let mut first = now.saturating_add(params.latency.sample(rng));
                if rng.chance(params.reorder) {
                    first = first.saturating_add(rng.range_inclusive(0, params.reorder_delay));
                }
                let second = if rng.chance(params.duplicate) {
                    Some(now.saturating_add(params.latency.sample(rng)))
                } else {
                    None
                };
                SendPlan::Deliver {
                    arrivals: [Some(first), second],
                    epoch: 0,
                }
            }
            LinkKind::Stream => {
                let mut delay = params.latency.sample(rng);
                // A lost segment is retransmitted: it costs another trip, not the message.
                if rng.chance(params.drop) {
                    delay = delay.saturating_add(params.latency.sample(rng));
                }
                let st = self.stream_mut(a, b);
                let arrival = now.saturating_add(delay).max(st.last_arrival);
                st.last_arrival = arrival;
                SendPlan::Deliver {
                    arrivals: [Some(arrival), None],
                    epoch: st.epoch,
                }
            }
        }
    }

    /// How many messages `link` already sent at this instant (usually 0).
    #[inline]
    fn nth_send_now(&mut self, now: Time, link: u64) -> u32 {
        if now != self.instant {
            self.instant = now;
            self.instant_sends.clear();
        }
        match self.instant_sends.iter_mut().find(|(l, _)| *l == link) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.instant_sends.push((link, 0));
                0
            }
        }
    }

    /// The current connection epoch of a stream link (deliveries with another epoch are dropped).
    pub fn epoch(&mut self, a: u32, b: u32) -> u32 {
        self.stream_mut(a, b).epoch
    }

    /// Breaks the stream connection between `a` and `b` (both directions).
    pub fn break_connection(&mut self, a: u32, b: u32) {
        for (x, y) in [(a, b), (b, a)] {
            let st = self.stream_mut(x, y);
            st.epoch = st.epoch.wrapping_add(1);
            st.last_arrival = 0;
        }
    }

    /// Installs a partition. Returns the pairs of endpoints that were connected and no longer are.
    pub fn partition(&mut self, groups: &[Vec<Endpoint>]) -> Vec<(u32, u32)> {
        let before = self.snapshot_reach();
        self.group = vec![FREE; self.n_endpoints];
        for (gi, g) in groups.iter().enumerate() {
            for e in g {
                let i = self.ep(*e) as usize;
                self.group[i] = gi as u32;
            }
        }
        self.partitioned = true;
        self.newly_cut(before)
    }

    /// Cuts `a -> b`; returns the cut's generation.
    pub fn cut(&mut self, a: u32, b: u32) -> u64 {
        self.cut_gen += 1;
        self.cuts.insert((a, b), self.cut_gen);
        self.cut_gen
    }

    /// Heals every partition and cut.
    pub fn heal(&mut self) {
        self.group = vec![FREE; self.n_endpoints];
        self.partitioned = false;
        self.cuts.clear();
    }

    /// Lifts the partition groups, keeping one-way cuts.
    pub fn clear_groups(&mut self) -> bool {
        let had = self.partitioned;
        self.group = vec![FREE; self.n_endpoints];
        self.partitioned = false;
        had
    }

    /// Removes the cut `a -> b` if it is still the one of generation `gen` (a later cut of the
    /// same link has its own heal).
    pub fn uncut(&mut self, a: u32, b: u32, gen: u64) -> bool {
        if self.cuts.get(&(a, b)) == Some(&gen) {
            self.cuts.remove(&(a, b));
            true
        } else {
            false
        }
    }

    pub fn is_partitioned(&self) -> bool {
        self.partitioned || !self.cuts.is_empty()
    }

    /// Which server pairs can talk, for computing which stream connections a change breaks.
    /// Only servers: stream breaks are reported to protocols, not clients.
    fn snapshot_reach(&self) -> Vec<bool> {
        if self.kind != LinkKind::Stream {
            return Vec::new();
        }
        let n = self.n_nodes as u32;
        let mut v = Vec::with_capacity((n * n) as usize);
        for a in 0..n {
            for b in 0..n {
                v.push(self.connected(a, b).is_ok() && self.connected(b, a).is_ok());
            }
        }
        v
    }

    fn newly_cut(&self, before: Vec<bool>) -> Vec<(u32, u32)> {
        if self.kind != LinkKind::Stream {
            return Vec::new();
        }
        let n = self.n_nodes as u32;
        let mut out = Vec::new();
        for a in 0..n {
            for b in (a + 1)..n {
                let was = before[(a * n + b) as usize];
                let now = self.connected(a, b).is_ok() && self.connected(b, a).is_ok();
                if was && !now {
                    out.push((a, b));
                }
            }
        }
        out
    }
}
