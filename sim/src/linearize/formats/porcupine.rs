//! Parser of Porcupine kv logs: one flat EDN map per line.

use std::collections::BTreeMap;

use crate::linearize::kv::{KvInput, KvOp, KvOutput};
use crate::linearize::Operation;

use super::{err, numbered_lines, Builder, Completion, ParseError};

#[derive(Clone, Debug, PartialEq)]
enum Edn {
    Nil,
    Int(i64),
    Str(String),
    Keyword(String),
}

/// Parses one flat EDN map `{:k v, :k v}` with keyword keys and nil /
/// integer / string / keyword values.
fn parse_edn_map(line: usize, s: &str) -> Result<BTreeMap<String, Edn>, ParseError> {
    let b = s.trim().as_bytes();
    let at = |i: usize| format!("column {}", i + 1 + (s.len() - s.trim_start().len()));
    if b.first() != Some(&b'{') {
        return err(line, "expected an EDN map starting with `{`");
    }
    let mut map = BTreeMap::new();
    let mut i = 1;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i].is_ascii_whitespace() || b[*i] == b',') {
            *i += 1;
        }
    };
    let token_end = |mut i: usize| {
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b',' | b'}') {
            i += 1;
        }
        i
    };
    loop {
        skip_ws(&mut i);
        match b.get(i) {
            None => return err(line, "unterminated map (missing `}`)"),
            Some(b'}') => {
                i += 1;
                skip_ws(&mut i);
                if i != b.len() {
                    return err(line, format!("unexpected text after `}}` at {}", at(i)));
                }
                return Ok(map);
            }
            Some(b':') => {}
            Some(_) => return err(line, format!("expected a keyword key at {}", at(i))),
        }
        let end = token_end(i);
        let key = String::from_utf8_lossy(&b[i + 1..end]).into_owned();
        i = end;
        skip_ws(&mut i);
        let value = match b.get(i) {
            None | Some(b'}') => return err(line, format!("missing value for :{key}")),
            Some(b'"') => {
                let mut out = Vec::new();
                i += 1;
                loop {
                    match b.get(i) {
                        None => return err(line, format!("unterminated string for :{key}")),
                        Some(b'"') => break,
                        Some(b'\\') => {
                            match b.get(i + 1) {
                                Some(b'n') => out.push(b'\n'),
                                Some(b't') => out.push(b'\t'),
                                Some(&c @ (b'"' | b'\\')) => out.push(c),
                                _ => return err(line, format!("bad escape in string at {}", at(i))),
                            }
                            i += 2;
                        }
                        Some(&c) => {
                            out.push(c);
                            i += 1;
                        }
                    }
                }
                i += 1;
                match String::from_utf8(out) {
                    Ok(s) => Edn::Str(s),
                    Err(_) => return err(line, "string is not valid UTF-8"),
                }
            }
            Some(_) => {
                let end = token_end(i);
                let tok = String::from_utf8_lossy(&b[i..end]).into_owned();
                let v = if tok == "nil" {
                    Edn::Nil
                } else if let Some(k) = tok.strip_prefix(':') {
                    Edn::Keyword(k.to_string())
                } else if let Ok(n) = tok.parse::<i64>() {
                    Edn::Int(n)
                } else {
                    return err(line, format!("unsupported value `{tok}` for :{key} at {}", at(i)));
                };
                i = end;
                v
            }
        };
        if map.insert(key.clone(), value).is_some() {
            return err(line, format!("duplicate key :{key}"));
        }
    }
}

fn edn_field<'a>(line: usize, m: &'a BTreeMap<String, Edn>, k: &str) -> Result<&'a Edn, ParseError> {
    match m.get(k) {
        Some(v) => Ok(v),
        None => err(line, format!("missing field :{k}")),
    }
}

fn edn_keyword<'a>(line: usize, m: &'a BTreeMap<String, Edn>, k: &str) -> Result<&'a str, ParseError> {
    match edn_field(line, m, k)? {
        Edn::Keyword(s) => Ok(s),
        v => err(line, format!("field :{k} must be a keyword, found {v:?}")),
    }
}

/// Parses a Porcupine kv log (one EDN map per line with `:process`,
/// `:type`, `:f` (`:get`/`:put`/`:append`, and `:cas` with `:from`), `:key` and `:value`).
/// `:fail` completions are dropped (the op did not take effect), except that a failed `:cas`
/// ran and found another value; `:info` ones and unmatched invocations are pending.
pub fn parse_porcupine_kv(text: &str) -> Result<Vec<Operation<KvInput, KvOutput>>, ParseError> {
    let mut b = Builder::new(KvOutput::Unknown);
    for (ln, l) in numbered_lines(text) {
        let m = parse_edn_map(ln, l)?;
        let process = match edn_field(ln, &m, "process")? {
            Edn::Int(p) if *p >= 0 => *p as u64,
            v => {
                return err(
                    ln,
                    format!(":process must be a non-negative integer, found {v:?}"),
                )
            }
        };
        let ty = edn_keyword(ln, &m, "type")?;
        let f = edn_keyword(ln, &m, "f")?;
        let key = match edn_field(ln, &m, "key")? {
            Edn::Str(s) => s.clone(),
            Edn::Int(n) => n.to_string(),
            v => return err(ln, format!(":key must be a string, found {v:?}")),
        };
        let value = edn_field(ln, &m, "value")?;
        match ty {
            "invoke" => {
                let op = match (f, value) {
                    ("get", _) => KvOp::Get,
                    ("put", Edn::Str(v)) => KvOp::Put(v.clone()),
                    ("append", Edn::Str(v)) => KvOp::Append(v.clone()),
                    // dsim's exports write a compare-and-set as `:f :cas, :from "1,", :value "2,"`.
                    ("cas", Edn::Str(to)) => match m.get("from") {
                        Some(Edn::Str(from)) => KvOp::Cas {
                            from: from.clone(),
                            to: to.clone(),
                        },
                        v => return err(ln, format!(":from of :cas must be a string, found {v:?}")),
                    },
                    ("put" | "append" | "cas", v) => {
                        return err(ln, format!(":value of :{f} must be a string, found {v:?}"))
                    }
                    _ => return err(ln, format!("unknown function :{f}")),
                };
                b.invoke(ln, process, process, KvInput { key, op })?;
            }
            "ok" | "fail" | "info" => {
                let input = b.pending_input(ln, process)?;
                let expected = match input.op {
                    KvOp::Get => "get",
                    KvOp::Put(_) => "put",
                    KvOp::Append(_) => "append",
                    KvOp::Cas { .. } => "cas",
                };
                if f != expected || key != input.key {
                    return err(
                        ln,
                        format!(
                            "completion :{f} of key {key:?} does not match the in-flight :{expected} of key {:?}",
                            input.key
                        ),
                    );
                }
                let c = match (ty, f, value) {
                    ("info", _, _) => Completion::Indeterminate,
                    // A compare-and-set that failed ran and found another value (as in dsim's
                    // own histories): not the same as one that never happened.
                    ("fail", "cas", _) => Completion::Done(KvOutput::CasFailed),
                    ("fail", _, _) => Completion::Dropped,
                    ("ok", "get", Edn::Str(v)) => Completion::Done(KvOutput::Value(v.clone())),
                    ("ok", "get", Edn::Nil) => Completion::Done(KvOutput::Value(String::new())),
                    ("ok", "get", v) => return err(ln, format!("get result must be a string, found {v:?}")),
                    _ => Completion::Done(KvOutput::Ok),
                };
                b.complete(ln, process, c)?;
            }
            _ => return err(ln, format!("unknown event type :{ty}")),
        }
    }
    Ok(b.finish())
}
