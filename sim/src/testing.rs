//! A recording context for handler unit tests, in the style of etcd's consensus library: build a node, feed
//! it one input, assert on the effects it asked for. No engine, network or queue is involved.
//!
//! ```
//! # use sim::testing::{Effect, Recorder};
//! # fn demo<P: sim::Protocol>(params: P::Params) {
//! let mut r = Recorder::<P>::new(sim::NodeId(0), 3);
//! let mut node = r.boot(&params, &Default::default());
//! let effects = r.take();                       // what boot did: timers, writes, …
//! # let _ = (&mut node, effects);
//! # }
//! ```

use crate::client::ClientReply;
use crate::ids::{ClientId, NodeId};
use crate::protocol::{BugSet, Ctx, Durable, Effects, Protocol, ReplyOf, SyncId, TimerId};
use crate::rng::TimedRng;

/// One effect a handler asked for, in order.
pub enum Effect<P: Protocol> {
    Send {
        to: NodeId,
        msg: P::Msg,
        /// Sent only once every earlier write is durable.
        after_sync: bool,
    },
    Reply {
        client: ClientId,
        reply: ClientReply<ReplyOf<P>>,
        after_sync: bool,
    },
    SetTimer {
        id: TimerId,
        delay_ns: u64,
        timer: P::Timer,
    },
    CancelTimer(TimerId),
    Persist(<P::Durable as Durable>::Write),
    Sync(SyncId),
    Note(String),
}

impl<P: Protocol> std::fmt::Debug for Effect<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = |after_sync: bool| if after_sync { " (after sync)" } else { "" };
        match self {
            Effect::Send { to, msg, after_sync } => write!(f, "send {to} {msg:?}{}", held(*after_sync)),
            Effect::Reply {
                client,
                reply,
                after_sync,
            } => write!(f, "reply {client} {reply}{}", held(*after_sync)),
            Effect::SetTimer { id, delay_ns, timer } => {
                write!(f, "timer {} {timer:?} in {delay_ns} ns", id.0)
            }
            Effect::CancelTimer(id) => write!(f, "cancel timer {}", id.0),
            Effect::Persist(w) => write!(f, "persist {w:?}"),
            Effect::Sync(id) => write!(f, "sync {}", id.0),
            Effect::Note(text) => write!(f, "note {text}"),
        }
    }
}

/// A node's context outside the engine: the clocks read what the test sets, randomness comes
/// from a fixed stream, and every effect is recorded.
pub struct Recorder<P: Protocol> {
    pub id: NodeId,
    pub cluster_size: usize,
    /// The groups (one group, `all`, unless the test sets others).
    pub cluster: crate::cluster::Cluster,
    /// What `now_mono` reads (the test moves it).
    pub mono_ns: u64,
    /// Wall clock minus monotonic clock.
    pub wall_offset_ns: i64,
    pub drift_bound_ppm: u64,
    pub bugs: BugSet,
    pub tracing: bool,
    rng: TimedRng,
    /// Handler calls that drew (each its own event for the stream).
    draws: u64,
    effects: Vec<Effect<P>>,
    next_timer: u64,
    next_sync: u64,
}

impl<P: Protocol> Recorder<P> {
    /// Node `id` of a cluster of `cluster_size`, at monotonic time 0, no bugs.
    pub fn new(id: NodeId, cluster_size: usize) -> Self {
        assert!(
            id.index() < cluster_size,
            "{id} is not in a cluster of {cluster_size}"
        );
        Recorder {
            id,
            cluster_size,
            cluster: crate::cluster::Cluster::single(cluster_size),
            mono_ns: 0,
            wall_offset_ns: 0,
            drift_bound_ppm: 0,
            bugs: BugSet::default(),
            tracing: false,
            rng: TimedRng::stream(0, &format!("test/{id}")),
            draws: 0,
            effects: Vec::new(),
            next_timer: 0,
            next_sync: 0,
        }
    }

    /// Boots a node from `durable` (a first start from the default).
    pub fn boot(&mut self, params: &P::Params, durable: &P::Durable) -> P {
        P::boot(&mut Ctx::new(self), params, durable)
    }

    /// Runs one handler with a context over this recorder and returns the effects it asked
    /// for (and any left from before).
    pub fn step(&mut self, node: &mut P, f: impl FnOnce(&mut P, &mut Ctx<P>)) -> Vec<Effect<P>> {
        f(node, &mut Ctx::new(self));
        self.take()
    }

    /// The effects recorded so far, emptying the record.
    pub fn take(&mut self) -> Vec<Effect<P>> {
        std::mem::take(&mut self.effects)
    }
}

/// Helpers for asserting on effects.
pub trait EffectsExt<P: Protocol> {
    /// Every message sent, with its destination and whether it waits for a sync.
    fn sent(&self) -> Vec<(NodeId, &P::Msg, bool)>;
    /// Every durable write, in order.
    fn persisted(&self) -> Vec<&<P::Durable as Durable>::Write>;
    /// Whether a sync was requested.
    fn synced(&self) -> bool;
}

impl<P: Protocol> EffectsExt<P> for [Effect<P>] {
    fn sent(&self) -> Vec<(NodeId, &P::Msg, bool)> {
        self.iter()
            .filter_map(|e| match e {
                Effect::Send { to, msg, after_sync } => Some((*to, msg, *after_sync)),
                _ => None,
            })
            .collect()
    }

    fn persisted(&self) -> Vec<&<P::Durable as Durable>::Write> {
        self.iter()
            .filter_map(|e| match e {
                Effect::Persist(w) => Some(w),
                _ => None,
            })
            .collect()
    }

    fn synced(&self) -> bool {
        self.iter().any(|e| matches!(e, Effect::Sync(_)))
    }
}

impl<P: Protocol> Effects<P> for Recorder<P> {
    fn id(&self) -> NodeId {
        self.id
    }

    fn cluster_size(&self) -> usize {
        self.cluster_size
    }

    fn cluster(&self) -> &crate::cluster::Cluster {
        &self.cluster
    }

    fn now_mono(&self) -> u64 {
        self.mono_ns
    }

    fn now_wall(&self) -> i64 {
        (self.mono_ns as i64).saturating_add(self.wall_offset_ns)
    }

    fn drift_bound_ppm(&self) -> u64 {
        self.drift_bound_ppm
    }

    fn buggify(&mut self, _site: &'static str) -> bool {
        false
    }

    fn rng(&mut self) -> &mut TimedRng {
        self.draws += 1;
        self.rng.for_event(self.draws, self.mono_ns)
    }

    fn bugs(&self) -> &BugSet {
        &self.bugs
    }

    fn send(&mut self, to: NodeId, msg: P::Msg) {
        self.effects.push(Effect::Send {
            to,
            msg,
            after_sync: false,
        });
    }

    fn send_after_sync(&mut self, to: NodeId, msg: P::Msg) {
        self.effects.push(Effect::Send {
            to,
            msg,
            after_sync: true,
        });
    }

    fn reply(&mut self, client: ClientId, reply: ClientReply<ReplyOf<P>>, after_sync: bool) {
        self.effects.push(Effect::Reply {
            client,
            reply,
            after_sync,
        });
    }

    fn set_timer(&mut self, delay_ns: u64, timer: P::Timer) -> TimerId {
        let id = TimerId(self.next_timer);
        self.next_timer += 1;
        self.effects.push(Effect::SetTimer { id, delay_ns, timer });
        id
    }

    fn cancel_timer(&mut self, id: TimerId) {
        self.effects.push(Effect::CancelTimer(id));
    }

    fn persist(&mut self, write: <P::Durable as Durable>::Write) {
        self.effects.push(Effect::Persist(write));
    }

    fn sync(&mut self) -> SyncId {
        let id = SyncId(self.next_sync);
        self.next_sync += 1;
        self.effects.push(Effect::Sync(id));
        id
    }

    fn tracing(&self) -> bool {
        self.tracing
    }

    fn note(&mut self, text: String) {
        self.effects.push(Effect::Note(text));
    }
}
