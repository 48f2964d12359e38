//! The protocol-facing side of the engine (architecture invariants 1–3).
//!
//! A protocol is a pure state machine: it reacts to boot (start or recovery), messages, timers,
//! client requests, completed syncs and broken stream connections, and acts only through a
//! [`Ctx`]: send, set/cancel timers, read its clocks, write durable state and request a sync,
//! reply to clients, draw randomness. It never touches I/O, threads or `std::time`.

use crate::checks::CheckDecl;
use crate::client::{ClientReply, ClientRequest, Outcome};
use crate::family::Family;
use crate::history::HistoryEvent;
use crate::ids::{ClientId, NodeId};
use crate::rng::TimedRng;
use crate::time::Time;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;

/// State that survives a crash, changed only through writes that become durable when a sync
/// completes (architecture invariant 3). Think of `Write` as a record in a write-ahead log and
/// `apply` as replaying it.
pub trait Durable: Default + Clone + fmt::Debug + Serialize + 'static {
    type Write: Clone + fmt::Debug + Serialize + 'static;
    fn apply(&mut self, write: &Self::Write);
}

/// Protocols without durable state use `()`.
impl Durable for () {
    type Write = ();
    fn apply(&mut self, _write: &()) {}
}

/// A planted bug a protocol can be run with (`--bug NAME`).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct BugDecl {
    pub name: &'static str,
    pub description: &'static str,
    /// The checks that catch it: a run with the bug that fails shows one of these.
    pub breaks: &'static [&'static str],
}

/// A place where a protocol may legally do something rare on purpose (`[buggify]`, FoundationDB's
/// BUGGIFY): [`Ctx::buggify`] with this name is true now and then in runs that enable it.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct BuggifyDecl {
    pub name: &'static str,
    /// What it forces, and why that is still the protocol (cite the rule that allows it).
    pub description: &'static str,
}

/// Documentation of one protocol parameter for `dsim list`.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ParamDoc {
    pub name: &'static str,
    pub description: &'static str,
}

/// Which transport a protocol expects (DESIGN.md, "Links").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    /// Messages may be dropped, duplicated and reordered.
    Datagram,
    /// FIFO without duplicates; a partition or crash breaks the connection and both ends are told.
    Stream,
}

/// A distributed protocol run by the engine. Statically dispatched: the engine is generic
/// over it, so the hot loop has no virtual calls.
pub trait Protocol: Sized + 'static {
    /// The name used in scenario files and `dsim list`.
    const NAME: &'static str;
    /// One line for `dsim list`.
    const DESCRIPTION: &'static str;
    /// The transport this protocol assumes.
    const LINK: LinkKind = LinkKind::Datagram;
    /// Cluster size when a scenario does not say.
    const DEFAULT_NODES: usize = 3;
    /// Every value `role()` can return, so scenario files can aim faults at a role. List the
    /// role most worth striking first (a leader, a primary): `dsim fuzz --swarm` aims faults
    /// at it.
    const ROLES: &'static [&'static str] = &["node"];
    /// The node group clients address first (`[workload] group` overrides it); None: any node.
    const ENTRY_GROUP: Option<&'static str> = None;

    type Msg: Clone + fmt::Debug + Serialize + 'static;
    type Timer: Clone + fmt::Debug + Serialize + 'static;
    type Durable: Durable;
    /// From the scenario's `[params]` (and per-node `[node.nX]` overrides). Should be
    /// `#[serde(default, deny_unknown_fields)]`.
    type Params: Clone + fmt::Debug + Default + DeserializeOwned + Serialize + 'static;
    /// The protocol's invariants, checked after every event.
    type Invariants: Invariants<Self>;
    /// The client operations it serves ([`crate::family::NoClients`] for none).
    type Workload: Family;

    fn bugs() -> &'static [BugDecl] {
        &[]
    }

    fn param_docs() -> &'static [ParamDoc] {
        &[]
    }

    /// The protocol's buggify sites: behaviours its rules allow but that ordinary timing
    /// rarely produces, each forced at random by [`Ctx::buggify`] in runs with `[buggify]`.
    /// A site must never make a correct protocol unsafe: it only reaches rare states sooner.
    fn buggify_sites() -> &'static [BuggifyDecl] {
        &[]
    }

    /// Checks the parameters beyond their types (e.g. min ≤ max); the message is shown to the
    /// user next to the `[params]` table.
    fn validate_params(_params: &Self::Params) -> Result<(), String> {
        Ok(())
    }

    /// Checks the whole cluster: its groups and every node's parameters together (e.g. groups
    /// the protocol needs, or settings that must agree across nodes).
    fn validate_cluster(_cluster: &crate::cluster::Cluster, _params: &[Self::Params]) -> Result<(), String> {
        Ok(())
    }

    /// Starts a node, or restarts it after a crash from its durable state only.
    fn boot(cx: &mut Ctx<Self>, params: &Self::Params, durable: &Self::Durable) -> Self;
    fn on_message(&mut self, cx: &mut Ctx<Self>, from: NodeId, msg: Self::Msg);
    fn on_timer(&mut self, cx: &mut Ctx<Self>, timer: Self::Timer);
    fn on_client(&mut self, cx: &mut Ctx<Self>, req: RequestOf<Self>);
    /// A sync requested with [`Ctx::sync`] completed: every write issued before it is durable.
    fn on_sync_done(&mut self, _cx: &mut Ctx<Self>, _sync: SyncId) {}
    /// A stream connection to `peer` broke (partition, cut or crash). Datagram protocols never
    /// see this.
    fn on_link_broken(&mut self, _cx: &mut Ctx<Self>, _peer: NodeId) {}
    /// A short role name for timelines and for faults aimed at a role (`crash = "leader"`).
    fn role(&self) -> &'static str {
        "node"
    }
    /// A one-line summary of the node's state for the readable trace (e.g. `term 3, commit 7`).
    fn summary(&self) -> String {
        String::new()
    }
    /// An abstract state for coverage-guided fuzzing (`dsim fuzz --guided`): a few small
    /// numbers that matter to the protocol's correctness, packed into a word (for a replicated
    /// log: how far the log runs ahead of the commit index, whether it holds entries of old
    /// terms, ...). Keep it
    /// coarse — bucket counts — so the number of states stays small. The engine records each
    /// node's transitions between (role, this) as coverage. Default: the role alone.
    fn coverage(&self) -> u64 {
        0
    }
}

/// The operation type of a protocol's workload family.
pub type OpOf<P> = <<P as Protocol>::Workload as Family>::Op;
/// The reply type of a protocol's workload family.
pub type ReplyOf<P> = <<P as Protocol>::Workload as Family>::Reply;
/// A client request to protocol `P`.
pub type RequestOf<P> = ClientRequest<OpOf<P>>;
/// What protocol `P` answers a client.
pub type AnswerOf<P> = Outcome<ReplyOf<P>>;

/// A timer, as returned by [`Ctx::set_timer`]. Stays valid (cancellable) while the node is
/// paused and its expired timers wait in the pause buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TimerId(pub u64);

/// A sync request, as returned by [`Ctx::sync`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SyncId(pub u64);

/// The set of planted bugs enabled for a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BugSet(Vec<String>);

impl BugSet {
    pub fn new(mut names: Vec<String>) -> Self {
        names.sort();
        names.dedup();
        BugSet(names)
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|b| b == name)
    }

    pub fn names(&self) -> &[String] {
        &self.0
    }
}

/// Everything a handler can ask of the engine. The engine implements it for a running node
/// (`engine/effects.rs`), [`crate::testing`] implements it for handler unit tests; protocols use
/// it through [`Ctx`]. Effects happen in the order they are asked for.
pub trait Effects<P: Protocol> {
    fn id(&self) -> NodeId;
    fn cluster_size(&self) -> usize;
    fn cluster(&self) -> &crate::cluster::Cluster;
    fn now_mono(&self) -> u64;
    fn now_wall(&self) -> i64;
    fn drift_bound_ppm(&self) -> u64;
    fn rng(&mut self) -> &mut TimedRng;
    fn buggify(&mut self, site: &'static str) -> bool;
    fn bugs(&self) -> &BugSet;
    fn send(&mut self, to: NodeId, msg: P::Msg);
    fn send_after_sync(&mut self, to: NodeId, msg: P::Msg);
    fn reply(&mut self, client: ClientId, reply: ClientReply<ReplyOf<P>>, after_sync: bool);
    fn set_timer(&mut self, delay_ns: u64, timer: P::Timer) -> TimerId;
    fn cancel_timer(&mut self, id: TimerId);
    fn persist(&mut self, write: <P::Durable as Durable>::Write);
    fn sync(&mut self) -> SyncId;
    fn tracing(&self) -> bool;
    fn note(&mut self, text: String);
}

/// What a protocol handler can do. Everything goes through here so the engine owns time,
/// randomness, the network and the disk.
pub struct Ctx<'a, P: Protocol> {
    fx: &'a mut dyn Effects<P>,
}

impl<'a, P: Protocol> Ctx<'a, P> {
    /// A context whose effects go to `fx` (the engine, or a test recorder).
    pub fn new(fx: &'a mut dyn Effects<P>) -> Self {
        Ctx { fx }
    }

    /// This node.
    pub fn id(&self) -> NodeId {
        self.fx.id()
    }

    /// The number of server nodes in the cluster.
    pub fn cluster_size(&self) -> usize {
        self.fx.cluster_size()
    }

    /// Every server node, this one included.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + 'static {
        (0..self.cluster_size() as u32).map(NodeId)
    }

    /// Every other server node.
    pub fn peers(&self) -> impl Iterator<Item = NodeId> + 'static {
        let me = self.id();
        self.nodes().filter(move |n| *n != me)
    }

    /// The node groups (one group, `all`, unless the scenario declares `[[groups]]`).
    pub fn cluster(&self) -> &crate::cluster::Cluster {
        self.fx.cluster()
    }

    /// The name of this node's group.
    pub fn group(&self) -> &str {
        &self.fx.cluster().group_of(self.id()).name
    }

    /// The nodes of group `name` (none if there is no such group).
    pub fn group_nodes(&self, name: &str) -> impl Iterator<Item = NodeId> + 'static {
        let g = self.fx.cluster().group(name);
        let (first, len) = g.map_or((0, 0), |g| (g.first, g.len));
        (first..first + len).map(NodeId)
    }

    /// This node's monotonic clock (ns): drives timers and leases; never jumps.
    pub fn now_mono(&self) -> u64 {
        self.fx.now_mono()
    }

    /// This node's wall clock (ns): for timestamps; may jump, even backwards.
    pub fn now_wall(&self) -> i64 {
        self.fx.now_wall()
    }

    /// The bound on clock drift (ppm) the scenario promises; lease-based protocols must
    /// subtract it.
    pub fn drift_bound_ppm(&self) -> u64 {
        self.fx.drift_bound_ppm()
    }

    /// This node's random stream, keyed by the time of the draw (see [`TimedRng`]).
    pub fn rng(&mut self) -> &mut TimedRng {
        self.fx.rng()
    }

    /// True now and then at an enabled buggify site (see [`Protocol::buggify_sites`]): then do
    /// the rare, legal thing the site names. Always false without `[buggify]`, for a site the
    /// run did not enable, and in the quiet period (a choice made before it may last, such as
    /// a leader's for its whole term). Draws from a stream of its own, so turning
    /// buggify on changes nothing else's randomness.
    pub fn buggify(&mut self, site: &'static str) -> bool {
        self.fx.buggify(site)
    }

    /// The planted bugs enabled for this run.
    pub fn bugs(&self) -> &BugSet {
        self.fx.bugs()
    }

    /// Sends `msg` to `to` now.
    pub fn send(&mut self, to: NodeId, msg: P::Msg) {
        assert!(to.index() < self.cluster_size(), "send to unknown node {to}");
        self.fx.send(to, msg);
    }

    /// Sends `msg` once every write issued so far is durable (requesting a sync if none covers
    /// them). A crash before then loses it. This is how a correct protocol persists before it
    /// speaks.
    pub fn send_after_sync(&mut self, to: NodeId, msg: P::Msg) {
        assert!(to.index() < self.cluster_size(), "send to unknown node {to}");
        self.fx.send_after_sync(to, msg);
    }

    /// Answers a client request now.
    pub fn reply(&mut self, req: &RequestOf<P>, outcome: AnswerOf<P>) {
        self.reply_to(req.client, req.session, req.seq, outcome)
    }

    /// Answers a client request once every write issued so far is durable.
    pub fn reply_after_sync(&mut self, req: &RequestOf<P>, outcome: AnswerOf<P>) {
        let reply = ClientReply {
            session: req.session,
            seq: req.seq,
            outcome,
            context: 0,
        };
        self.fx.reply(req.client, reply, true);
    }

    /// Answers a client given its address and the operation's ids (for protocols that keep
    /// only those while the request is in flight).
    pub fn reply_to(&mut self, client: ClientId, session: u64, seq: u64, outcome: AnswerOf<P>) {
        self.reply_with_context(client, session, seq, outcome, 0);
    }

    /// [`Ctx::reply_to`] with a token the client keeps (the highest it has seen) and sends
    /// with every later request as [`ClientRequest::context`](crate::ClientRequest::context):
    /// e.g. the position in the log the client has seen.
    pub fn reply_with_context(
        &mut self,
        client: ClientId,
        session: u64,
        seq: u64,
        outcome: AnswerOf<P>,
        context: u64,
    ) {
        let reply = ClientReply {
            session,
            seq,
            outcome,
            context,
        };
        self.fx.reply(client, reply, false);
    }

    /// Sets a timer that fires after `delay_ns` on this node's monotonic clock.
    pub fn set_timer(&mut self, delay_ns: u64, timer: P::Timer) -> TimerId {
        self.fx.set_timer(delay_ns, timer)
    }

    /// Cancels a timer; does nothing if it already fired.
    pub fn cancel_timer(&mut self, id: TimerId) {
        self.fx.cancel_timer(id)
    }

    /// Appends a write to this node's durable state. It is lost by a crash until a sync that
    /// covers it completes.
    pub fn persist(&mut self, write: <P::Durable as Durable>::Write) {
        self.fx.persist(write)
    }

    /// Requests a sync of every write issued so far; completes as a later event
    /// ([`Protocol::on_sync_done`]).
    pub fn sync(&mut self) -> SyncId {
        self.fx.sync()
    }

    /// True when a readable trace is being written; use it to skip building [`Ctx::note`] text.
    pub fn tracing(&self) -> bool {
        self.fx.tracing()
    }

    /// Adds a line to the readable trace (e.g. "commit index 5 → 7").
    pub fn note(&mut self, text: impl Into<String>) {
        if self.fx.tracing() {
            self.fx.note(text.into());
        }
    }
}

/// A read-only view of one node for checks: its live state (None while crashed) and its
/// durable state (what a restart would see).
pub struct NodeView<'a, P: Protocol> {
    pub id: NodeId,
    pub state: Option<&'a P>,
    pub durable: &'a P::Durable,
    pub up: bool,
    pub paused: bool,
}

/// Where a [`World`] reads its nodes from (the engine's node table, or a test's).
pub trait NodeSource<P: Protocol> {
    fn nodes(&self) -> usize;
    fn view(&self, id: NodeId) -> NodeView<'_, P>;
}

/// A read-only view of every node (architecture invariant 7).
pub struct World<'a, P: Protocol> {
    nodes: &'a dyn NodeSource<P>,
    faults: &'a [crate::faults::FaultRecord],
    now: Time,
}

impl<'a, P: Protocol> World<'a, P> {
    pub fn new(nodes: &'a dyn NodeSource<P>, faults: &'a [crate::faults::FaultRecord], now: Time) -> Self {
        World { nodes, faults, now }
    }

    /// Every fault that happened so far, in order (crashes, restarts, partitions, heals, …):
    /// what a check needs for "time from the leader's crash until …".
    pub fn faults(&self) -> &'a [crate::faults::FaultRecord] {
        self.faults
    }

    pub fn len(&self) -> usize {
        self.nodes.nodes()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.nodes() == 0
    }

    /// True time of the event just processed.
    pub fn now(&self) -> Time {
        self.now
    }

    pub fn node(&self, id: NodeId) -> NodeView<'a, P> {
        self.nodes.view(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = NodeView<'a, P>> + '_ {
        (0..self.nodes.nodes() as u32).map(move |i| self.node(NodeId(i)))
    }
}

/// Where invariants report. `fail` records a violation (the first one per check is kept, with
/// its event index and time); `reached` marks a `sometimes` check; `holds` says an `eventually`
/// predicate is true now.
pub struct CheckSink<'a> {
    inner: &'a mut crate::checks::CheckBoard,
}

impl<'a> CheckSink<'a> {
    pub fn new(board: &'a mut crate::checks::CheckBoard) -> Self {
        CheckSink { inner: board }
    }

    pub fn fail(&mut self, check: &'static str, detail: impl FnOnce() -> String) {
        self.inner.fail(check, detail);
    }

    pub fn reached(&mut self, check: &'static str) {
        self.inner.reached(check);
    }

    pub fn holds(&mut self, check: &'static str) {
        self.inner.holds(check);
    }

    /// Why eventually-check `check` does not hold now, in words (call it from `at_end`): if
    /// the check failed, its detail ends with this, e.g. which value is missing where.
    pub fn explain(&mut self, check: &'static str, detail: impl FnOnce() -> String) {
        self.inner.explain(check, detail());
    }

    /// Whether a scenario's `[[metrics]]` span is waiting for `condition` right now: compute
    /// a costly condition only then, and report it with [`CheckSink::holds`].
    #[inline]
    pub fn wants(&self, condition: &str) -> bool {
        self.inner.wants(condition)
    }

    /// When the quiet period begins (None: the scenario has none), for eventually-checks that
    /// concern what happened before it.
    pub fn quiet_from(&self) -> Option<Time> {
        self.inner.quiet_from()
    }

    /// One sample of a series metric (e.g. a delay, in ns), declared in `metrics()`.
    pub fn sample(&mut self, metric: &'static str, v: f64) {
        self.inner.sample(metric, v);
    }

    /// The single value of a metric (e.g. at the end of the run), declared in `metrics()`.
    pub fn value(&mut self, metric: &'static str, v: f64) {
        self.inner.value(metric, v);
    }
}

/// A protocol's invariants, kept beside it. `after_event` runs after every event that touched
/// a node (incrementally: look at `touched` first); `at_end` may run full checks.
pub trait Invariants<P: Protocol>: Sized {
    /// Set up for this cluster, knowing every node's parameters.
    fn new(cluster: &crate::cluster::Cluster, params: &[P::Params]) -> Self;
    /// Every check this type can report, with its kind.
    fn checks() -> Vec<CheckDecl>;
    /// Every metric it can report ([`CheckSink::sample`], [`CheckSink::value`]).
    fn metrics() -> Vec<crate::metrics::MetricDecl> {
        Vec::new()
    }
    /// Every condition it can report holding ([`CheckSink::holds`], [`CheckSink::wants`]),
    /// for the spans a scenario's `[[metrics]]` measure.
    fn conditions() -> Vec<crate::checks::ConditionDecl> {
        Vec::new()
    }
    fn after_event(&mut self, world: &World<P>, touched: NodeId, sink: &mut CheckSink);
    /// Every client history event, as it happens (for checks that join the history with the
    /// nodes' state, e.g. "every acknowledged value reaches every node").
    fn on_history(&mut self, _event: &HistoryEvent<P::Workload>, _world: &World<P>, _sink: &mut CheckSink) {}
    fn at_end(&mut self, _world: &World<P>, _sink: &mut CheckSink) {}
}

/// Invariants for protocols that have none yet.
pub struct NoInvariants;

impl<P: Protocol> Invariants<P> for NoInvariants {
    fn new(_cluster: &crate::cluster::Cluster, _params: &[P::Params]) -> Self {
        NoInvariants
    }
    fn checks() -> Vec<CheckDecl> {
        Vec::new()
    }
    fn after_event(&mut self, _world: &World<P>, _touched: NodeId, _sink: &mut CheckSink) {}
}
