//! The `kv` family: a key/value store whose values are lists of unique integers. `write`
//! replaces a key's list with `[v]`, `append` extends it, `cas` replaces exactly `[from]` with
//! `[to]`, `read` returns the whole list. Unique written values make every read name the write
//! it saw, which is what the `stale-read` and `linearizable` checks ([`checks`]) rely on.
//!
//! `[workload] mix = { read, write, cas, append }` weighs the operations (default 0.5, 0.3, 0.1,
//! 0.1); `[[ops]]` entries say `op = "read" | "write" | "cas" | "append"`, `key = "kN"`, and
//! `value`, or `from`/`to` for a cas (values left out are fresh unique ones).

pub mod checks;

use serde::{Deserialize, Serialize};
use sim::family::{CheckSetup, Completion, Family, GenCx, ScheduledInfo, SpecError};
use sim::history::{EventType, HistoryObserver};
use sim::{CheckDecl, ClientId, Draw, Key, Value};
use std::collections::BTreeMap;
use std::fmt;

/// A client operation on the key/value store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "lowercase")]
pub enum KvOp {
    Read {
        key: Key,
    },
    Write {
        key: Key,
        value: Value,
    },
    /// Succeeds iff the key holds exactly `[from]`; then it holds `[to]`.
    Cas {
        key: Key,
        from: Value,
        to: Value,
    },
    /// Appends `value` to the key's list.
    Append {
        key: Key,
        value: Value,
    },
}

impl KvOp {
    pub fn key(&self) -> Key {
        match *self {
            KvOp::Read { key }
            | KvOp::Write { key, .. }
            | KvOp::Cas { key, .. }
            | KvOp::Append { key, .. } => key,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            KvOp::Read { .. } => "read",
            KvOp::Write { .. } => "write",
            KvOp::Cas { .. } => "cas",
            KvOp::Append { .. } => "append",
        }
    }

    pub fn is_read(&self) -> bool {
        matches!(self, KvOp::Read { .. })
    }

    /// The value it writes, if it writes one.
    pub fn written(&self) -> Option<Value> {
        match *self {
            KvOp::Write { value, .. } | KvOp::Append { value, .. } | KvOp::Cas { to: value, .. } => {
                Some(value)
            }
            KvOp::Read { .. } => None,
        }
    }
}

impl fmt::Display for KvOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvOp::Read { key } => write!(f, "read(k{key})"),
            KvOp::Write { key, value } => write!(f, "write(k{key}, {value})"),
            KvOp::Cas { key, from, to } => write!(f, "cas(k{key}, {from}->{to})"),
            KvOp::Append { key, value } => write!(f, "append(k{key}, {value})"),
        }
    }
}

/// The store's answer to an executed operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvReply {
    /// Applied. A read carries the key's whole list (empty: never written).
    Ok(Vec<Value>),
    /// A compare-and-set that found a different value: nothing changed (`fail`).
    CasFailed,
}

impl fmt::Display for KvReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvReply::Ok(v) if v.is_empty() => f.write_str("ok"),
            KvReply::Ok(v) => write!(f, "ok {v:?}"),
            KvReply::CasFailed => f.write_str("cas failed"),
        }
    }
}

/// `[workload]` keys of the kv family.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct KvSpec {
    /// Relative weights of the operations; left out: 0.5, 0.3, 0.1, 0.1. A table that names
    /// only some operations gives the others weight 0.
    pub mix: Option<Mix>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mix {
    pub read: f64,
    pub write: f64,
    pub cas: f64,
    pub append: f64,
}

impl Mix {
    pub const DEFAULT: Mix = Mix {
        read: 0.5,
        write: 0.3,
        cas: 0.1,
        append: 0.1,
    };

    fn weights(&self) -> [f64; 4] {
        [self.read, self.write, self.cas, self.append]
    }
}

/// An `[[ops]]` entry of the kv family.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvOpSpec {
    /// `read`, `write`, `cas` or `append`.
    pub op: String,
    /// `k0`, `k1`, …
    pub key: String,
    /// What a write or append writes (default: a fresh unique value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// What a cas expects (required).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Value>,
    /// What a cas writes (default: a fresh unique value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Value>,
}

/// A scheduled operation, checked: its holes are the values still to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Template {
    Read {
        key: Key,
    },
    Write {
        key: Key,
        value: Option<Value>,
    },
    Cas {
        key: Key,
        from: Value,
        to: Option<Value>,
    },
    Append {
        key: Key,
        value: Option<Value>,
    },
}

impl Template {
    fn parse(s: &KvOpSpec) -> Result<Template, SpecError> {
        let key = match s.key.strip_prefix('k').and_then(|k| k.parse::<u32>().ok()) {
            Some(k) => k,
            None => {
                return Err(
                    SpecError::at("key", format!("`{}` is not a key", s.key)).hint("keys are k0, k1, …")
                )
            }
        };
        let kind = s.op.as_str();
        let allowed: &[&str] = match kind {
            "read" => &[],
            "write" | "append" => &["value"],
            "cas" => &["from", "to"],
            _ => {
                return Err(SpecError::at("op", format!("unknown operation `{kind}`"))
                    .hint("the kv family's operations: read, write, cas, append"))
            }
        };
        let given: [(&'static str, bool); 3] = [
            ("value", s.value.is_some()),
            ("from", s.from.is_some()),
            ("to", s.to.is_some()),
        ];
        for (name, present) in given {
            if present && !allowed.contains(&name) {
                return Err(SpecError::at(
                    name,
                    format!("`{name}` does not apply to a `{kind}` operation"),
                ));
            }
        }
        Ok(match kind {
            "read" => Template::Read { key },
            "write" => Template::Write { key, value: s.value },
            "append" => Template::Append { key, value: s.value },
            _ => {
                let Some(from) = s.from else {
                    return Err(SpecError::whole("a cas needs `from` (the value it expects)"));
                };
                Template::Cas { key, from, to: s.to }
            }
        })
    }
}

/// The kv family's generator: the mix, and per client the last value seen per key (a cas
/// expects it).
pub struct Kv {
    weights: [f64; 4],
    last_seen: Vec<BTreeMap<Key, Value>>,
}

pub const STALE_READ: &str = "stale-read";
pub const LINEARIZABLE: &str = "linearizable";
pub const SEQUENTIAL: &str = "sequential";

impl Family for Kv {
    const NAME: &'static str = "kv";
    const DESCRIPTION: &'static str = "a key/value store of lists: read, write, compare-and-set, append";
    const OPS: &'static [&'static str] = &["read", "write", "cas", "append"];
    type Op = KvOp;
    type Reply = KvReply;
    type Spec = KvSpec;
    type OpSpec = KvOpSpec;

    fn validate(spec: &KvSpec) -> Result<(), SpecError> {
        let Some(mix) = &spec.mix else { return Ok(()) };
        let w = mix.weights();
        if w.iter().any(|x| !x.is_finite() || *x < 0.0) || w.iter().sum::<f64>() <= 0.0 {
            return Err(
                SpecError::at("mix", "mix weights must be non-negative and not all zero")
                    .hint("e.g. mix = { read = 0.5, write = 0.3, cas = 0.1, append = 0.1 }"),
            );
        }
        Ok(())
    }

    fn validate_op(op: &KvOpSpec) -> Result<ScheduledInfo, SpecError> {
        let (key, writes, values) = match Template::parse(op)? {
            Template::Read { key } => (key, vec![], vec![]),
            Template::Write { key, value } | Template::Append { key, value } => {
                (key, value.into_iter().collect(), value.into_iter().collect())
            }
            Template::Cas { key, from, to } => (
                key,
                to.into_iter().collect(),
                [from].into_iter().chain(to).collect(),
            ),
        };
        Ok(ScheduledInfo {
            keys: vec![key],
            writes,
            values,
        })
    }

    fn new(spec: &KvSpec, clients: usize) -> Self {
        Kv {
            weights: spec.mix.as_ref().unwrap_or(&Mix::DEFAULT).weights(),
            last_seen: vec![BTreeMap::new(); clients],
        }
    }

    fn generate(&mut self, cx: &mut GenCx) -> KvOp {
        // The workload's last `readers` clients only read.
        let kind = if cx.is_reader() {
            0
        } else {
            cx.rng.weighted(&self.weights)
        };
        let slot = cx.rng.below(u64::from(cx.key_count().max(1))) as u32;
        let key = cx.key(slot);
        match kind {
            0 => KvOp::Read { key },
            1 => KvOp::Write {
                key,
                value: cx.fresh_value(),
            },
            2 => {
                // Compare against the last value this client saw (or a made-up one, which
                // exercises the failure path).
                let from = self.last_seen[cx.client.index()].get(&key).copied().unwrap_or(0);
                KvOp::Cas {
                    key,
                    from,
                    to: cx.fresh_value(),
                }
            }
            _ => KvOp::Append {
                key,
                value: cx.fresh_value(),
            },
        }
    }

    fn fill(&mut self, op: &KvOpSpec, cx: &mut GenCx) -> KvOp {
        let t = Template::parse(op)
            .unwrap_or_else(|e| panic!("scheduled operations are validated first: {}", e.message));
        match t {
            Template::Read { key } => KvOp::Read { key },
            Template::Write { key, value } => KvOp::Write {
                key,
                value: value.unwrap_or_else(|| cx.fresh_value()),
            },
            Template::Cas { key, from, to } => KvOp::Cas {
                key,
                from,
                to: to.unwrap_or_else(|| cx.fresh_value()),
            },
            Template::Append { key, value } => KvOp::Append {
                key,
                value: value.unwrap_or_else(|| cx.fresh_value()),
            },
        }
    }

    fn complete(&mut self, client: ClientId, op: &KvOp, reply: &KvReply) -> Completion {
        let seen = &mut self.last_seen[client.index()];
        match (op, reply) {
            (_, KvReply::CasFailed) => Completion::Fail,
            (KvOp::Read { key }, KvReply::Ok(list)) => {
                if let Some(v) = list.last() {
                    seen.insert(*key, *v);
                }
                Completion::Ok
            }
            (op, KvReply::Ok(_)) => {
                if let Some(v) = op.written() {
                    seen.insert(op.key(), v);
                }
                Completion::Ok
            }
        }
    }

    fn to_spec(op: &KvOp) -> KvOpSpec {
        let mut s = KvOpSpec {
            op: op.name().to_string(),
            key: format!("k{}", op.key()),
            value: None,
            from: None,
            to: None,
        };
        match *op {
            KvOp::Read { .. } => {}
            KvOp::Write { value, .. } | KvOp::Append { value, .. } => s.value = Some(value),
            KvOp::Cas { from, to, .. } => {
                s.from = Some(from);
                s.to = Some(to);
            }
        }
        s
    }

    fn history_fields(
        op: &KvOp,
        kind: EventType,
        reply: Option<&KvReply>,
        out: &mut Vec<(&'static str, serde_json::Value)>,
    ) {
        out.push(("f", op.name().into()));
        out.push(("key", format!("k{}", op.key()).into()));
        let value = match *op {
            KvOp::Read { .. } => match (kind, reply) {
                (EventType::Ok, Some(KvReply::Ok(list))) => serde_json::json!(list),
                _ => serde_json::Value::Null,
            },
            KvOp::Write { value, .. } | KvOp::Append { value, .. } => value.into(),
            KvOp::Cas { from, to, .. } => serde_json::json!([from, to]),
        };
        out.push(("value", value));
    }

    fn checks() -> Vec<CheckDecl> {
        vec![
            CheckDecl::history(
                STALE_READ,
                "no read returns a value older than a write acknowledged before it was invoked",
            ),
            CheckDecl::history(LINEARIZABLE, "the history is linearizable, key by key"),
            // Implied by `linearizable`; on where reads are only meant to be sequentially
            // consistent (ZooKeeper-style follower reads), with `linearizable = false`.
            CheckDecl::history(
                SEQUENTIAL,
                "the history is sequentially consistent: one order of all operations keeps each client's order (opt-in: `sequential = true`)",
            )
            .opt_in(),
        ]
    }

    fn make_check(name: &str, setup: &CheckSetup) -> Option<Box<dyn HistoryObserver<Self>>> {
        match name {
            STALE_READ => Some(Box::new(checks::StaleReadCheck::new(setup.max_tracked))),
            LINEARIZABLE => Some(Box::new(checks::LinearizableCheck::new(setup.budget_steps))),
            SEQUENTIAL => Some(Box::new(checks::SequentialCheck::new(
                setup.budget_steps,
                setup.max_tracked,
            ))),
            _ => None,
        }
    }
}
