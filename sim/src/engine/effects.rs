//! The engine's side of [`Ctx`]: what a running node's handler effects do to the engine.

use super::core::{Core, NodeMeta};
use super::event::{Ev, Held, Payload};
use crate::client::ClientReply;
use crate::ids::{ClientId, NodeId};
use crate::protocol::{BugSet, Ctx, Durable, Effects, Protocol, ReplyOf, SyncId, TimerId};
use crate::rng::{Draw, TimedRng};
use crate::time::Time;

/// One handler call's access to the engine: its node's bookkeeping and the shared core.
pub(crate) struct NodeFx<'a, P: Protocol> {
    pub node: NodeId,
    pub now: Time,
    pub meta: &'a mut NodeMeta<P>,
    pub core: &'a mut Core<P>,
}

impl<P: Protocol> NodeFx<'_, P> {
    /// Sends `h` now if every write issued so far is durable, else holds it for a sync
    /// (requesting one if none covers those writes).
    fn hold(&mut self, h: Held<P>) {
        let needs = self.meta.storage.issued;
        if needs <= self.meta.storage.durable_upto {
            self.core.release_held(self.now, self.node, h);
        } else {
            if self.meta.storage.requested_upto < needs {
                self.core.request_sync(self.now, self.node, self.meta);
            }
            self.meta.storage.held.push_back((needs, h));
        }
    }

    /// Runs `f` with a [`Ctx`] over this node.
    pub fn with_ctx<R>(&mut self, f: impl FnOnce(&mut Ctx<P>) -> R) -> R {
        let mut cx = Ctx::new(self);
        f(&mut cx)
    }
}

impl<P: Protocol> Effects<P> for NodeFx<'_, P> {
    fn id(&self) -> NodeId {
        self.node
    }

    fn cluster_size(&self) -> usize {
        self.core.n_nodes
    }

    fn cluster(&self) -> &crate::cluster::Cluster {
        &self.core.cluster
    }

    fn now_mono(&self) -> u64 {
        self.meta.clock.mono(self.now)
    }

    fn now_wall(&self) -> i64 {
        self.meta.clock.wall(self.now)
    }

    fn drift_bound_ppm(&self) -> u64 {
        self.core.drift_bound_ppm
    }

    fn rng(&mut self) -> &mut TimedRng {
        self.meta.rng.for_event(self.core.event, self.now)
    }

    fn buggify(&mut self, site: &'static str) -> bool {
        debug_assert!(
            P::buggify_sites().iter().any(|s| s.name == site),
            "buggify site `{site}` is not in {}'s buggify_sites()",
            P::NAME
        );
        let Some(b) = self.core.buggify.as_mut() else {
            return false;
        };
        if self.now >= b.until {
            return false;
        }
        let Some(i) = b.sites.iter().position(|s| s == site) else {
            return false;
        };
        let fire = self
            .meta
            .buggify_rng
            .for_event(self.core.event, self.now)
            .chance(b.chance);
        if fire {
            b.fired[i] += 1;
            if self.core.trace.wants_notes() {
                self.core
                    .trace
                    .note(self.now, self.node, &format!("buggify: {site}"));
            }
        }
        fire
    }

    fn bugs(&self) -> &BugSet {
        &self.core.bugs
    }

    fn send(&mut self, to: NodeId, msg: P::Msg) {
        self.core
            .send_from_node(self.now, self.node, to, Payload::Proto(Box::new(msg)));
    }

    fn send_after_sync(&mut self, to: NodeId, msg: P::Msg) {
        self.hold(Held::Send(to, msg));
    }

    fn reply(&mut self, client: ClientId, reply: ClientReply<ReplyOf<P>>, after_sync: bool) {
        if after_sync {
            self.hold(Held::Reply(client, reply));
        } else {
            self.core.send_reply(self.now, self.node, client, reply);
        }
    }

    fn set_timer(&mut self, delay_ns: u64, timer: P::Timer) -> TimerId {
        let at = self.meta.clock.deadline_after(self.now, delay_ns);
        let id = self.meta.next_timer;
        self.meta.next_timer += 1;
        self.meta.live_timers.insert(id);
        let ev = Ev::Timer {
            node: self.node.0,
            incarnation: self.meta.incarnation,
            id,
            timer,
        };
        self.core.queue.push(at, ev);
        TimerId(id)
    }

    fn cancel_timer(&mut self, id: TimerId) {
        self.meta.live_timers.remove(&id.0);
    }

    fn persist(&mut self, write: <P::Durable as Durable>::Write) {
        self.meta.storage.issued += 1;
        self.meta.storage.unsynced.push_back(write);
        if self.meta.crash_on_write {
            self.core.crash_requested = Some(self.node);
        }
    }

    fn sync(&mut self) -> SyncId {
        self.core.request_sync(self.now, self.node, self.meta)
    }

    fn tracing(&self) -> bool {
        self.core.trace.wants_notes()
    }

    fn note(&mut self, text: String) {
        self.core.trace.note(self.now, self.node, &text);
    }
}
