//! What sits in the event queue, and what the run loop learns from handling it.

use crate::client::ClientReply;
use crate::faults::{FaultAction, FaultKind, Origin};
use crate::ids::{ClientId, NodeId};
use crate::protocol::{Protocol, ReplyOf, RequestOf};
use crate::time::Time;

/// What travels on the network.
pub(crate) enum Payload<P: Protocol> {
    /// Boxed so a queued event stays small whatever the protocol's messages weigh (the queue
    /// moves events around; a consensus message inline made them 96 bytes).
    Proto(Box<P::Msg>),
    Request(Box<RequestOf<P>>),
    Reply(Box<ClientReply<ReplyOf<P>>>),
}

impl<P: Protocol> Payload<P> {
    /// A second copy, for a duplicated datagram.
    pub fn duplicate(&self) -> Self {
        match self {
            Payload::Proto(m) => Payload::Proto(m.clone()),
            Payload::Request(r) => Payload::Request(r.clone()),
            Payload::Reply(r) => Payload::Reply(r.clone()),
        }
    }

    /// Appends the payload's canonical bytes to a trace record.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Payload::Proto(m) => crate::trace::encode(m, out),
            Payload::Request(r) => crate::trace::encode(r, out),
            Payload::Reply(r) => crate::trace::encode(r, out),
        }
    }
}

/// A send held until the writes before it are durable.
pub(crate) enum Held<P: Protocol> {
    Send(NodeId, P::Msg),
    Reply(ClientId, ClientReply<ReplyOf<P>>),
}

/// Engine-internal follow-ups of faults.
#[derive(Clone, Debug)]
pub(crate) enum Heal {
    /// Undo the partition with this generation (a newer partition supersedes it).
    Partition(u64),
    Uncut(u32, u32, u64),
    DiskNormal(u32, u64),
    PowerLossExpire(u32, u64),
}

/// The kinds of events, as counted in `RunReport::events_by_kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventKind {
    Boot,
    Deliver,
    Timer,
    Sync,
    SyncNotify,
    LinkBroken,
    ClientWake,
    ClientTimeout,
    ClientBackoff,
    ScheduledOp,
    Fault,
    Heal,
    Nemesis,
    Quiet,
}

impl EventKind {
    pub const ALL: [EventKind; 14] = [
        EventKind::Boot,
        EventKind::Deliver,
        EventKind::Timer,
        EventKind::Sync,
        EventKind::SyncNotify,
        EventKind::LinkBroken,
        EventKind::ClientWake,
        EventKind::ClientTimeout,
        EventKind::ClientBackoff,
        EventKind::ScheduledOp,
        EventKind::Fault,
        EventKind::Heal,
        EventKind::Nemesis,
        EventKind::Quiet,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventKind::Boot => "boot",
            EventKind::Deliver => "deliver",
            EventKind::Timer => "timer",
            EventKind::Sync => "sync",
            EventKind::SyncNotify => "sync-notify",
            EventKind::LinkBroken => "link-broken",
            EventKind::ClientWake => "client-wake",
            EventKind::ClientTimeout => "client-timeout",
            EventKind::ClientBackoff => "client-backoff",
            EventKind::ScheduledOp => "scheduled-op",
            EventKind::Fault => "fault",
            EventKind::Heal => "heal",
            EventKind::Nemesis => "nemesis",
            EventKind::Quiet => "quiet",
        }
    }
}

pub(crate) enum Ev<P: Protocol> {
    Boot {
        node: u32,
    },
    Deliver {
        from: u32,
        to: u32,
        epoch: u32,
        /// The message id its send was given (a duplicate shares it).
        id: u64,
        payload: Payload<P>,
    },
    Timer {
        node: u32,
        incarnation: u32,
        id: u64,
        timer: P::Timer,
    },
    SyncDone {
        node: u32,
        incarnation: u32,
        sync: u64,
    },
    /// The process side of a completed sync (buffered while paused).
    SyncNotify {
        node: u32,
        incarnation: u32,
        sync: u64,
    },
    LinkBroken {
        node: u32,
        incarnation: u32,
        peer: u32,
    },
    ClientWake {
        client: u32,
        gen: u64,
    },
    /// A lane's (single) reply timer; `at` tells stale events from the armed one.
    ClientTimeout {
        client: u32,
        lane: u32,
        at: Time,
    },
    ClientBackoff {
        client: u32,
        lane: u32,
        gen: u64,
    },
    ScheduledOp {
        index: u32,
    },
    Fault {
        action: Box<FaultAction>,
        origin: Origin,
        /// A named scheduled fault: its index in `SimConfig::faults`.
        mark: Option<u32>,
    },
    Heal(Heal),
    NemesisTick {
        kind: FaultKind,
    },
    Quiet,
}

impl<P: Protocol> Ev<P> {
    pub fn kind(&self) -> EventKind {
        match self {
            Ev::Boot { .. } => EventKind::Boot,
            Ev::Deliver { .. } => EventKind::Deliver,
            Ev::Timer { .. } => EventKind::Timer,
            Ev::SyncDone { .. } => EventKind::Sync,
            Ev::SyncNotify { .. } => EventKind::SyncNotify,
            Ev::LinkBroken { .. } => EventKind::LinkBroken,
            Ev::ClientWake { .. } => EventKind::ClientWake,
            Ev::ClientTimeout { .. } => EventKind::ClientTimeout,
            Ev::ClientBackoff { .. } => EventKind::ClientBackoff,
            Ev::ScheduledOp { .. } => EventKind::ScheduledOp,
            Ev::Fault { .. } => EventKind::Fault,
            Ev::Heal(_) => EventKind::Heal,
            Ev::NemesisTick { .. } => EventKind::Nemesis,
            Ev::Quiet => EventKind::Quiet,
        }
    }
}

/// What handling one event amounted to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Handled {
    /// The event was stale (a cancelled timer, a superseded timeout, a buffered delivery): it
    /// is neither counted nor checked.
    Stale,
    /// Handled; no node's state changed.
    Done,
    /// Handled, and this node may have changed: run its role bookkeeping and the invariants.
    Touched(NodeId),
}

impl Handled {
    pub fn touching(node: Option<NodeId>) -> Self {
        node.map_or(Handled::Done, Handled::Touched)
    }
}
