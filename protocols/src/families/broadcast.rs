//! The `broadcast` family (Maelstrom's broadcast workload): clients `broadcast(v)` a value to
//! any node, which acknowledges it, and `read()` the set of values a node has seen. Values are
//! unique per run. The family's history check, `no-phantom-values`, holds that a read returns
//! only values some client broadcast; that every acknowledged value reaches every node is the
//! protocol's to check (it needs the nodes' state: see `protocols/src/broadcast/invariants.rs`).
//!
//! `[workload] mix = { broadcast = 0.5, read = 0.5 }` (the default); `[[ops]]` entries say
//! `op = "broadcast"` (with an optional `value`) or `op = "read"`.

use serde::{Deserialize, Serialize};
use sim::checks::{CheckKind, CheckResult, CheckStatus};
use sim::family::{CheckSetup, Completion, Family, GenCx, ScheduledInfo, SpecError};
use sim::history::{EventType, HistoryEvent, HistoryObserver};
use sim::time::TraceTime;
use sim::{CheckDecl, ClientId, Draw, Value};
use std::collections::BTreeSet;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BroadcastOp {
    Broadcast(Value),
    Read,
}

impl fmt::Display for BroadcastOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BroadcastOp::Broadcast(v) => write!(f, "broadcast({v})"),
            BroadcastOp::Read => f.write_str("read()"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BroadcastReply {
    /// The value is stored (a broadcast).
    Ack,
    /// The values the node has seen, ascending (a read).
    Values(Vec<Value>),
}

impl fmt::Display for BroadcastReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BroadcastReply::Ack => f.write_str("ack"),
            BroadcastReply::Values(v) => write!(f, "{} values", v.len()),
        }
    }
}

/// `[workload]` keys of the broadcast family.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BroadcastSpec {
    /// Relative weights of broadcasts and reads (default half and half).
    pub mix: Option<Mix>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mix {
    pub broadcast: f64,
    pub read: f64,
}

/// An `[[ops]]` entry of the broadcast family.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BroadcastOpSpec {
    /// `broadcast` or `read`.
    pub op: String,
    /// What a broadcast sends (default: a fresh unique value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

pub const NO_PHANTOM_VALUES: &str = "no-phantom-values";

pub struct Broadcast {
    weights: [f64; 2],
}

impl Family for Broadcast {
    const NAME: &'static str = "broadcast";
    const DESCRIPTION: &'static str = "broadcast a value to any node; read the set of values a node has seen";
    const KEYED: bool = false;
    const OPS: &'static [&'static str] = &["broadcast", "read"];
    type Op = BroadcastOp;
    type Reply = BroadcastReply;
    type Spec = BroadcastSpec;
    type OpSpec = BroadcastOpSpec;

    fn validate(spec: &BroadcastSpec) -> Result<(), SpecError> {
        let Some(m) = &spec.mix else { return Ok(()) };
        let w = [m.broadcast, m.read];
        if w.iter().any(|x| !x.is_finite() || *x < 0.0) || w.iter().sum::<f64>() <= 0.0 {
            return Err(
                SpecError::at("mix", "mix weights must be non-negative and not all zero")
                    .hint("e.g. mix = { broadcast = 0.5, read = 0.5 }"),
            );
        }
        Ok(())
    }

    fn validate_op(op: &BroadcastOpSpec) -> Result<ScheduledInfo, SpecError> {
        match (op.op.as_str(), op.value) {
            ("broadcast", v) => Ok(ScheduledInfo {
                keys: Vec::new(),
                writes: v.into_iter().collect(),
                values: v.into_iter().collect(),
            }),
            ("read", None) => Ok(ScheduledInfo::default()),
            ("read", Some(_)) => Err(SpecError::at("value", "a read takes no `value`")),
            (other, _) => Err(SpecError::at("op", format!("unknown operation `{other}`"))
                .hint("the broadcast family's operations: broadcast, read")),
        }
    }

    fn new(spec: &BroadcastSpec, _clients: usize) -> Self {
        let m = spec.mix.clone().unwrap_or(Mix {
            broadcast: 0.5,
            read: 0.5,
        });
        Broadcast {
            weights: [m.broadcast, m.read],
        }
    }

    fn generate(&mut self, cx: &mut GenCx) -> BroadcastOp {
        if cx.is_reader() || cx.rng.weighted(&self.weights) == 1 {
            BroadcastOp::Read
        } else {
            BroadcastOp::Broadcast(cx.fresh_value())
        }
    }

    fn fill(&mut self, op: &BroadcastOpSpec, cx: &mut GenCx) -> BroadcastOp {
        match op.op.as_str() {
            "read" => BroadcastOp::Read,
            _ => BroadcastOp::Broadcast(op.value.unwrap_or_else(|| cx.fresh_value())),
        }
    }

    fn complete(&mut self, _client: ClientId, _op: &BroadcastOp, _reply: &BroadcastReply) -> Completion {
        Completion::Ok
    }

    fn to_spec(op: &BroadcastOp) -> BroadcastOpSpec {
        match op {
            BroadcastOp::Broadcast(v) => BroadcastOpSpec {
                op: "broadcast".into(),
                value: Some(*v),
            },
            BroadcastOp::Read => BroadcastOpSpec {
                op: "read".into(),
                value: None,
            },
        }
    }

    fn history_fields(
        op: &BroadcastOp,
        kind: EventType,
        reply: Option<&BroadcastReply>,
        out: &mut Vec<(&'static str, serde_json::Value)>,
    ) {
        match op {
            BroadcastOp::Broadcast(v) => {
                out.push(("f", "broadcast".into()));
                out.push(("value", (*v).into()));
            }
            BroadcastOp::Read => {
                out.push(("f", "read".into()));
                let value = match (kind, reply) {
                    (EventType::Ok, Some(BroadcastReply::Values(v))) => serde_json::json!(v),
                    _ => serde_json::Value::Null,
                };
                out.push(("value", value));
            }
        }
    }

    fn checks() -> Vec<CheckDecl> {
        vec![CheckDecl::always(
            NO_PHANTOM_VALUES,
            "a read returns only values some client broadcast",
        )]
    }

    fn make_check(name: &str, _setup: &CheckSetup) -> Option<Box<dyn HistoryObserver<Self>>> {
        (name == NO_PHANTOM_VALUES)
            .then(|| Box::new(NoPhantomValues::default()) as Box<dyn HistoryObserver<Self>>)
    }
}

/// `no-phantom-values`: every value a read returns was broadcast (invoked) before the read
/// completed. Checked at each read, so it fails at the first bad one.
#[derive(Default)]
pub struct NoPhantomValues {
    broadcast: BTreeSet<Value>,
    reads: u64,
    violation: Option<(u64, u64, String)>,
}

impl HistoryObserver<Broadcast> for NoPhantomValues {
    fn observe(&mut self, e: &HistoryEvent<Broadcast>) {
        match (e.kind, e.op, e.reply) {
            (EventType::Invoke, BroadcastOp::Broadcast(v), _) => {
                self.broadcast.insert(*v);
            }
            (EventType::Ok, BroadcastOp::Read, Some(BroadcastReply::Values(vs))) => {
                self.reads += 1;
                if self.violation.is_some() {
                    return;
                }
                if let Some(v) = vs.iter().find(|v| !self.broadcast.contains(v)) {
                    self.violation = Some((
                        e.event,
                        e.time,
                        format!("{} read {v}, which no client broadcast", e.client),
                    ));
                }
            }
            _ => {}
        }
    }

    fn violated(&self) -> bool {
        self.violation.is_some()
    }

    fn finish(&mut self) -> Option<CheckResult> {
        let mut r = CheckResult {
            name: NO_PHANTOM_VALUES.into(),
            kind: CheckKind::Always,
            status: CheckStatus::Pass,
            detail: format!("{} reads checked", self.reads),
            event: None,
            time_ns: None,
        };
        if let Some((event, t, d)) = &self.violation {
            r.status = CheckStatus::Fail;
            r.detail = format!("event {event} at {}: {d}", TraceTime(*t));
            r.event = Some(*event);
            r.time_ns = Some(*t);
        } else if self.reads == 0 {
            r.status = CheckStatus::Skipped;
            r.detail = "no read completed".into();
        }
        Some(r)
    }
}
