//! Workload families (DESIGN.md, "Workload families"): what clients ask of a protocol.
//!
//! A family — the `kv` register, a gossiped set, a log with offsets, transactions, locks with
//! tokens, requests with service times — lives beside the protocols (`protocols/src/families/`),
//! not here. It defines its operation and reply types, how its `[workload]` keys generate
//! operations, how its `[[ops]]` entries read, whether an executed operation counts as `ok` or
//! `fail`, which node group an operation is addressed to, and the history checks that fit it.
//!
//! The engine keeps the client mechanics every family shares (`workload.rs`): closed loop (one
//! operation in flight per client) or open loop (arrivals at a rate, a bounded number in
//! flight), timeouts, retries of one operation as one history entry, redirects, `info` plus a
//! fresh process id on give-up, unique written values ([`GenCx::fresh_value`]) and rotating keys
//! ([`GenCx::key`]).

use crate::checks::CheckDecl;
use crate::history::{EventType, HistoryObserver};
use crate::ids::{ClientId, Key, Value};
use crate::rng::Rng;
use crate::time::Time;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;

/// How an executed operation counts in the history (`info` is the engine's: a client that
/// gave up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completion {
    /// It took effect.
    Ok,
    /// It provably did not take effect (e.g. a compare-and-set whose comparison failed).
    Fail,
}

/// A problem with a family's `[workload]` keys or an `[[ops]]` entry; `key` names the key it
/// is about, so the loader can point at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError {
    pub key: Option<&'static str>,
    pub message: String,
    pub hint: Option<String>,
}

impl SpecError {
    pub fn at(key: &'static str, message: impl Into<String>) -> Self {
        SpecError {
            key: Some(key),
            message: message.into(),
            hint: None,
        }
    }

    pub fn whole(message: impl Into<String>) -> Self {
        SpecError {
            key: None,
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// What a scheduled operation names, for the engine's bookkeeping.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScheduledInfo {
    /// Keys it touches: they never rotate out and are never handed out as fresh keys.
    pub keys: Vec<Key>,
    /// Values it writes explicitly: unique across the scenario.
    pub writes: Vec<Value>,
    /// Every value it names (writes, expected values): fresh values start above them all.
    pub values: Vec<Value>,
}

/// What a history check is set up with.
#[derive(Clone, Debug)]
pub struct CheckSetup {
    /// Search steps a checker may spend in the whole run (`[checks] history_budget`).
    pub budget_steps: u64,
    /// Most operations a check may track (`[limits] max_history_ops`).
    pub max_tracked: usize,
    pub quiet_from: Option<Time>,
}

/// A client operation family. The engine is generic over it through
/// [`Protocol::Workload`](crate::Protocol::Workload), so nothing here is dispatched dynamically
/// but its history checks.
pub trait Family: Sized + 'static {
    /// The name shown by `dsim list`.
    const NAME: &'static str;
    const DESCRIPTION: &'static str;
    /// Whether operations name keys (`[workload] keys` and `key_ops` apply).
    const KEYED: bool = true;
    /// Operation names, for `dsim list` and error hints.
    const OPS: &'static [&'static str];

    /// An operation as a server receives it.
    type Op: Clone + fmt::Debug + fmt::Display + Serialize + 'static;
    /// The server's answer to an executed operation (routing answers — redirects, "not
    /// applied" — are the engine's, see [`crate::Outcome`]).
    type Reply: Clone + fmt::Debug + fmt::Display + Serialize + PartialEq + 'static;
    /// The family's own `[workload]` keys. No `deny_unknown_fields`: the loader checks unknown
    /// keys against these fields and the engine's together.
    type Spec: Clone + fmt::Debug + Default + DeserializeOwned + Serialize + 'static;
    /// The family's keys of one `[[ops]]` entry (besides the engine's `at`, `client`,
    /// `repeat`, `every`). Also what `schedule.toml` writes back.
    type OpSpec: Clone + fmt::Debug + DeserializeOwned + Serialize + 'static;

    /// Checks the `[workload]` keys beyond their types.
    fn validate(_spec: &Self::Spec) -> Result<(), SpecError> {
        Ok(())
    }

    /// Checks one `[[ops]]` entry and says what it names.
    fn validate_op(op: &Self::OpSpec) -> Result<ScheduledInfo, SpecError>;

    /// The generator for one run with `clients` clients.
    fn new(spec: &Self::Spec, clients: usize) -> Self;

    /// The next random operation of a client.
    fn generate(&mut self, cx: &mut GenCx) -> Self::Op;

    /// A scheduled operation made concrete (fresh values where the entry left them out).
    fn fill(&mut self, op: &Self::OpSpec, cx: &mut GenCx) -> Self::Op;

    /// Whether an executed operation took effect; the family may also learn from the answer
    /// (e.g. the last value a client saw, for its next compare-and-set).
    fn complete(&mut self, client: ClientId, op: &Self::Op, reply: &Self::Reply) -> Completion;

    /// The `[[ops]]` entry that issues exactly `op` (for `schedule.toml`).
    fn to_spec(op: &Self::Op) -> Self::OpSpec;

    /// The node group `op` is addressed to; `None`: the workload's entry group.
    fn group(&self, _op: &Self::Op) -> Option<&'static str> {
        None
    }

    /// The family's fields of a `history.jsonl` line (between `client` and `time_ns`).
    fn history_fields(
        op: &Self::Op,
        kind: EventType,
        reply: Option<&Self::Reply>,
        out: &mut Vec<(&'static str, serde_json::Value)>,
    );

    /// The history checks the family offers, `[checks] NAME = true|false` switches each; all
    /// are on by default when the scenario has clients.
    fn checks() -> Vec<CheckDecl> {
        Vec::new()
    }

    /// Metrics the family's history checks report.
    fn metrics() -> Vec<crate::metrics::MetricDecl> {
        Vec::new()
    }

    /// Builds the history check called `name` (one of [`Family::checks`]).
    fn make_check(_name: &str, _setup: &CheckSetup) -> Option<Box<dyn HistoryObserver<Self>>> {
        None
    }
}

/// A family's view of one client while it generates an operation.
pub struct GenCx<'a> {
    pub client: ClientId,
    /// The client's own stream (`workload/cN`).
    pub rng: &'a mut Rng,
    pub(crate) reader: bool,
    pub(crate) values: &'a mut ValueSource,
    pub(crate) keys: &'a mut KeySource,
}

impl GenCx<'_> {
    /// A value no other operation of the run writes (so a read names the write it saw).
    pub fn fresh_value(&mut self) -> Value {
        self.values.fresh(self.client)
    }

    /// The key in `slot` (`0..key_count()`) for the next operation. With `key_ops`, a key takes
    /// that many operations and then retires for a fresh one (Jepsen's independent keys).
    pub fn key(&mut self, slot: u32) -> Key {
        self.keys.key(slot)
    }

    /// Keys in use at once (`[workload] keys`).
    pub fn key_count(&self) -> u32 {
        self.keys.count
    }

    /// True for the workload's read-only clients (`[workload] readers`).
    pub fn is_reader(&self) -> bool {
        self.reader
    }
}

/// Unique values: `base + k·clients + client index`.
pub(crate) struct ValueSource {
    pub base: Value,
    pub clients: u64,
    pub made: Vec<u64>,
}

impl ValueSource {
    fn fresh(&mut self, c: ClientId) -> Value {
        let made = &mut self.made[c.index()];
        let v = self.base + *made * self.clients + c.0 as u64;
        *made += 1;
        v
    }
}

/// Rotating keys: `count` slots, each holding a key for `key_ops` operations.
pub(crate) struct KeySource {
    pub count: u32,
    pub key_ops: Option<u64>,
    /// Each slot's current key and the operations it has had.
    pub slots: Vec<(Key, u64)>,
    pub next_key: Key,
    /// Keys retired since the engine last asked.
    pub retired: Vec<Key>,
    /// Keys named by scheduled operations: never retired, never handed out fresh.
    pub pinned: std::collections::BTreeSet<Key>,
}

impl KeySource {
    fn key(&mut self, slot: u32) -> Key {
        let Some(limit) = self.key_ops else {
            return slot;
        };
        if self.slots.is_empty() {
            self.slots = (0..self.count).map(|s| (s as Key, 0)).collect();
            self.next_key = self.count as Key;
        }
        let (key, used) = &mut self.slots[slot as usize];
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
}

/// Operations of a family without clients (benchmarks, probes): there are none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum NoOp {}

impl fmt::Display for NoOp {
    fn fmt(&self, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

/// The `[workload]` keys of [`NoClients`]: none.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
pub struct NoSpec {}

/// The family of protocols that serve no clients (the loader rejects a workload for them).
pub struct NoClients;

impl Family for NoClients {
    const NAME: &'static str = "none";
    const DESCRIPTION: &'static str = "no client operations";
    const KEYED: bool = false;
    const OPS: &'static [&'static str] = &[];
    type Op = NoOp;
    type Reply = NoOp;
    type Spec = NoSpec;
    type OpSpec = NoOp;

    fn validate_op(op: &NoOp) -> Result<ScheduledInfo, SpecError> {
        match *op {}
    }

    fn new(_spec: &NoSpec, _clients: usize) -> Self {
        NoClients
    }

    fn generate(&mut self, _cx: &mut GenCx) -> NoOp {
        unreachable!("the loader gives a protocol without a workload family no clients")
    }

    fn fill(&mut self, op: &NoOp, _cx: &mut GenCx) -> NoOp {
        match *op {}
    }

    fn complete(&mut self, _client: ClientId, op: &NoOp, _reply: &NoOp) -> Completion {
        match *op {}
    }

    fn to_spec(op: &NoOp) -> NoOp {
        *op
    }

    fn history_fields(
        op: &NoOp,
        _kind: EventType,
        _reply: Option<&NoOp>,
        _out: &mut Vec<(&'static str, serde_json::Value)>,
    ) {
        match *op {}
    }
}
