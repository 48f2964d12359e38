//! A string key/value store with get, put, append and compare-and-set,
//! partitioned per key (the model of Porcupine's kv tests and of dsim's own
//! histories).

use std::collections::BTreeMap;

use super::{Model, Operation};

/// What a kv operation does to its key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOp {
    /// Read the value.
    Get,
    /// Overwrite the value.
    Put(String),
    /// Concatenate to the value (no separator).
    Append(String),
    /// Set to `to` if the value is exactly `from`.
    Cas {
        /// Expected value.
        from: String,
        /// New value.
        to: String,
    },
}

/// Kv operation input: a key and an operation on it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KvInput {
    /// The key; operations on different keys never interact.
    pub key: String,
    /// The operation.
    pub op: KvOp,
}

/// Kv operation output.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOutput {
    /// A get's result (`""` for a key never written).
    Value(String),
    /// A put, append or cas completed and took effect.
    Ok,
    /// A cas found another value and changed nothing.
    CasFailed,
    /// Indeterminate: accepted from every state; puts, appends and cas
    /// still take effect where the operation is linearized.
    Unknown,
}

/// The kv model. Per-key state is the key's string, initially `""`.
///
/// The checker hash-conses states and caches transitions, so the (possibly
/// long) strings are built and hashed once per distinct (state, op) pair,
/// not once per search step.
#[derive(Clone, Copy, Debug, Default)]
pub struct KvModel;

impl Model for KvModel {
    type State = String;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> String {
        String::new()
    }

    fn step(&self, state: &String, input: &KvInput, output: &KvOutput) -> Option<String> {
        match (&input.op, output) {
            (KvOp::Get, KvOutput::Value(v)) => (v == state).then(|| state.clone()),
            (KvOp::Get, KvOutput::Unknown) => Some(state.clone()),
            (KvOp::Put(v), KvOutput::Ok | KvOutput::Unknown) => Some(v.clone()),
            (KvOp::Append(v), KvOutput::Ok | KvOutput::Unknown) => {
                let mut s = String::with_capacity(state.len() + v.len());
                s.push_str(state);
                s.push_str(v);
                Some(s)
            }
            (KvOp::Cas { from, to }, KvOutput::Ok) => (state == from).then(|| to.clone()),
            (KvOp::Cas { from, .. }, KvOutput::CasFailed) => (state != from).then(|| state.clone()),
            (KvOp::Cas { from, to }, KvOutput::Unknown) => {
                Some(if state == from { to.clone() } else { state.clone() })
            }
            _ => None,
        }
    }

    /// One partition per key, in key order.
    fn partition(&self, ops: &[Operation<KvInput, KvOutput>]) -> Vec<(String, Vec<usize>)> {
        let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, o) in ops.iter().enumerate() {
            by_key.entry(o.input.key.as_str()).or_default().push(i);
        }
        by_key.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    fn is_read_only(&self, input: &KvInput, output: &KvOutput) -> bool {
        matches!(
            (&input.op, output),
            (KvOp::Get, _) | (KvOp::Cas { .. }, KvOutput::CasFailed)
        )
    }

    /// A get's value; a successful cas's expected value.
    fn precondition(&self, input: &KvInput, output: &KvOutput) -> Option<String> {
        match (&input.op, output) {
            (KvOp::Get, KvOutput::Value(v)) | (KvOp::Cas { from: v, .. }, KvOutput::Ok) => Some(v.clone()),
            _ => None,
        }
    }

    /// Puts and appends, and every op with an unknown outcome.
    fn is_total(&self, input: &KvInput, output: &KvOutput) -> bool {
        matches!(
            (&input.op, output),
            (KvOp::Put(_) | KvOp::Append(_), KvOutput::Ok) | (_, KvOutput::Unknown)
        )
    }

    /// A put sets its value whatever was there.
    fn is_blind(&self, input: &KvInput, output: &KvOutput) -> bool {
        matches!(
            (&input.op, output),
            (KvOp::Put(_), KvOutput::Ok | KvOutput::Unknown)
        )
    }

    /// A completed get is legal only in the state it returned.
    fn required_state(&self, input: &KvInput, output: &KvOutput) -> Option<String> {
        match (&input.op, output) {
            (KvOp::Get, KvOutput::Value(v)) => Some(v.clone()),
            _ => None,
        }
    }

    /// Appends only extend the string; gets and failed cas change nothing.
    /// Puts and (possibly) successful cas can go anywhere.
    fn is_monotone(&self, input: &KvInput, output: &KvOutput) -> bool {
        matches!(
            (&input.op, output),
            (KvOp::Append(_), _) | (KvOp::Get, _) | (KvOp::Cas { .. }, KvOutput::CasFailed)
        )
    }

    /// A put gives its value; a cas its `to` (or nothing changes).
    fn reset_floor(&self, input: &KvInput, _output: &KvOutput) -> Option<String> {
        match &input.op {
            KvOp::Put(v) => Some(v.clone()),
            KvOp::Cas { to, .. } => Some(to.clone()),
            KvOp::Get | KvOp::Append(_) => None,
        }
    }

    /// The prefix order: appends only ever extend a string.
    fn state_le(&self, a: &String, b: &String) -> bool {
        b.starts_with(a.as_str())
    }

    fn describe(&self, input: &KvInput, output: &KvOutput) -> String {
        let k = &input.key;
        let tail = match output {
            KvOutput::Unknown => " -> ?",
            KvOutput::CasFailed => " -> fail",
            _ => "",
        };
        match (&input.op, output) {
            (KvOp::Get, KvOutput::Value(v)) => format!("get({k}) -> {}", short(v)),
            (KvOp::Get, _) => format!("get({k}){tail}"),
            (KvOp::Put(v), _) => format!("put({k}, {}){tail}", short(v)),
            (KvOp::Append(v), _) => format!("append({k}, {}){tail}", short(v)),
            (KvOp::Cas { from, to }, _) => {
                format!("cas({k}, {}, {}){tail}", short(from), short(to))
            }
        }
    }
}

/// Quotes a value, eliding the middle of long ones (appended values grow
/// to hundreds of characters; the ends are what tell them apart).
fn short(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 24 {
        format!("{s:?}")
    } else {
        let head: String = chars[..8].iter().collect();
        let tail: String = chars[chars.len() - 12..].iter().collect();
        format!("\"{head}..{tail}\"({} chars)", chars.len())
    }
}

/// Convenience alias for a kv history.
pub type KvHistoryOp = Operation<KvInput, KvOutput>;
