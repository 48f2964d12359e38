//! Parser of dsim's `history.jsonl` (one JSON object per line) and the
//! value merging that speeds up checking dsim histories.

use std::collections::BTreeMap;

use crate::linearize::kv::{KvInput, KvOp, KvOutput};
use crate::linearize::Operation;

use super::{err, numbered_lines, Builder, Completion, ParseError};

/// Encodes a dsim list value as a kv string: `[3, 17]` -> `"3,17,"`.
fn list_string(vals: &[i64]) -> String {
    let mut s = String::new();
    for v in vals {
        s.push_str(&v.to_string());
        s.push(',');
    }
    s
}

fn json_int(line: usize, v: &serde_json::Value, what: &str) -> Result<i64, ParseError> {
    match v.as_i64() {
        Some(n) => Ok(n),
        None => err(line, format!("{what} must be an integer, found {v}")),
    }
}

fn json_list(line: usize, v: &serde_json::Value, what: &str) -> Result<Vec<i64>, ParseError> {
    match v.as_array() {
        Some(a) => a.iter().map(|x| json_int(line, x, what)).collect(),
        None => err(line, format!("{what} must be a list of integers, found {v}")),
    }
}

/// Client id: `"c7"` -> 7; other names fall back to the process number.
fn client_id(name: &str, process: u64) -> u64 {
    name.strip_prefix('c')
        .and_then(|d| d.parse::<u64>().ok())
        .unwrap_or(process)
}

/// Parses dsim's `history.jsonl` into kv operations. Each key holds a list
/// of integers, encoded as a kv string (`[3,17]` -> `"3,17,"`): `write v` is
/// `Put("v,")`, `append v` is `Append("v,")`, `cas [a,b]` is
/// `Cas("a,", "b,")` (succeeds iff the list is exactly `[a]`), a read's
/// result is the whole list. A `fail`ed cas is kept as
/// [`KvOutput::CasFailed`]; a `fail`ed read, write or append is dropped;
/// `info` and unmatched invocations are pending.
pub fn parse_dsim_jsonl(text: &str) -> Result<Vec<Operation<KvInput, KvOutput>>, ParseError> {
    let mut b = Builder::new(KvOutput::Unknown);
    for (ln, l) in numbered_lines(text) {
        let v: serde_json::Value = match serde_json::from_str(l) {
            Ok(v) => v,
            Err(e) => return err(ln, format!("invalid JSON: {e}")),
        };
        let Some(obj) = v.as_object() else {
            return err(ln, "expected a JSON object");
        };
        let field = |k: &str| match obj.get(k) {
            Some(v) => Ok(v),
            None => err(ln, format!("missing field \"{k}\"")),
        };
        let string = |k: &str| -> Result<&str, ParseError> {
            match field(k)?.as_str() {
                Some(s) => Ok(s),
                None => err(ln, format!("field \"{k}\" must be a string")),
            }
        };
        let ty = string("type")?;
        let process = match field("process")?.as_u64() {
            Some(p) => p,
            None => return err(ln, "field \"process\" must be a non-negative integer"),
        };
        let client = string("client")?;
        let f = string("f")?;
        let key = string("key")?;
        let value = field("value")?;
        if field("time_ns")?.as_u64().is_none() {
            return err(ln, "field \"time_ns\" must be a non-negative integer");
        }
        match ty {
            "invoke" => {
                let op = match f {
                    "read" if value.is_null() => KvOp::Get,
                    "read" => return err(ln, format!("read invocation must have value null, found {value}")),
                    "write" => KvOp::Put(list_string(&[json_int(ln, value, "write value")?])),
                    "append" => KvOp::Append(list_string(&[json_int(ln, value, "append value")?])),
                    "cas" => match json_list(ln, value, "cas value")?.as_slice() {
                        [from, to] => KvOp::Cas {
                            from: list_string(&[*from]),
                            to: list_string(&[*to]),
                        },
                        _ => return err(ln, format!("cas value must be [from, to], found {value}")),
                    },
                    _ => return err(ln, format!("unknown function \"{f}\"")),
                };
                let input = KvInput {
                    key: key.to_string(),
                    op,
                };
                b.invoke(ln, process, client_id(client, process), input)?;
            }
            "ok" | "fail" | "info" => {
                let input = b.pending_input(ln, process)?;
                let expected = match &input.op {
                    KvOp::Get => "read",
                    KvOp::Put(_) => "write",
                    KvOp::Append(_) => "append",
                    KvOp::Cas { .. } => "cas",
                };
                if f != expected || key != input.key {
                    return err(
                        ln,
                        format!(
                            "completion \"{f}\" on key \"{key}\" does not match the in-flight \"{expected}\" on key \"{}\" of process {process}",
                            input.key
                        ),
                    );
                }
                // Completions of writes/appends/cas echo the argument.
                let echoed = match (&input.op, f) {
                    (KvOp::Put(v) | KvOp::Append(v), _) => {
                        Some(*v == list_string(&[json_int(ln, value, "value")?]))
                    }
                    (KvOp::Cas { from, to }, _) => {
                        Some(match json_list(ln, value, "cas value")?.as_slice() {
                            [a, c] => *from == list_string(&[*a]) && *to == list_string(&[*c]),
                            _ => false,
                        })
                    }
                    (KvOp::Get, _) => None,
                };
                if echoed == Some(false) {
                    return err(
                        ln,
                        format!("completion value {value} differs from the invocation's"),
                    );
                }
                let c = match (ty, &input.op) {
                    ("info", _) => Completion::Indeterminate,
                    ("fail", KvOp::Cas { .. }) => Completion::Done(KvOutput::CasFailed),
                    ("fail", _) => Completion::Dropped,
                    ("ok", KvOp::Get) => Completion::Done(KvOutput::Value(list_string(&json_list(
                        ln,
                        value,
                        "read result",
                    )?))),
                    _ => Completion::Done(KvOutput::Ok),
                };
                b.complete(ln, process, c)?;
            }
            _ => return err(ln, format!("unknown event type \"{ty}\"")),
        }
    }
    Ok(b.finish())
}

/// For dsim histories (values are lists of unique integers, written `"a,b,"`): replaces every
/// written value that no read returned and no compare-and-set expected with `"_,"`.
///
/// The model only compares values with read results and cas expectations, so such values are
/// indistinguishable and the verdict is unchanged. But making them equal lets the search treat
/// indeterminate writes of them as interchangeable — otherwise it explores every subset of the
/// pending writes, the classic blow-up with many `info` operations (measured on a 12 000-op consensus
/// history with ~100 info ops: over 400 M steps without a verdict, 44 k steps with this).
pub fn merge_unobserved_values(ops: &mut [Operation<KvInput, KvOutput>]) {
    let mut observed: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for o in ops.iter() {
        let set = observed.entry(o.input.key.clone()).or_default();
        if let KvOutput::Value(v) = &o.output {
            set.extend(v.split_terminator(',').map(str::to_string));
        }
        if let KvOp::Cas { from, .. } = &o.input.op {
            set.extend(from.split_terminator(',').map(str::to_string));
        }
    }
    let unseen = |key: &str, v: &str| -> bool {
        let token = v.strip_suffix(',').unwrap_or(v);
        !token.contains(',') && !observed.get(key).is_some_and(|s| s.contains(token))
    };
    for o in ops.iter_mut() {
        let key = o.input.key.clone();
        match &mut o.input.op {
            KvOp::Put(v) | KvOp::Append(v) | KvOp::Cas { to: v, .. } if unseen(&key, v) => {
                *v = "_,".to_string();
            }
            _ => {}
        }
    }
}
