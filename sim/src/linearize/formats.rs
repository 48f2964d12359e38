//! History file parsers: Jepsen etcd logs, Porcupine kv logs (EDN) and
//! dsim's own `history.jsonl`.
//!
//! In all three the file order is the real-time order, so each event line
//! gets the next integer as its time. A completion belongs to the latest
//! invocation of the same process. Invocations that never complete, and
//! indeterminate (`info`) completions, become pending ops
//! ([`PENDING`] return, unknown output): they may take effect
//! at any point after their call, or never. Errors carry the 1-based line
//! number; parsers never panic on malformed input.

use std::collections::BTreeMap;
use std::fmt;

use super::kv::{KvInput, KvOp, KvOutput};
use super::register::{RegisterInput, RegisterOutput};
use super::{Operation, PENDING};

/// A history file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Jepsen etcd register log (`INFO  jepsen.util - 2 :invoke :cas [3 0]`).
    JepsenEtcd,
    /// Porcupine kv log: one EDN map per line.
    PorcupineKv,
    /// dsim `history.jsonl`: one JSON object per line.
    DsimJsonl,
}

/// A parse failure at a 1-based line number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number of the offending line.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        line,
        message: message.into(),
    })
}

/// A parsed history, in the shape its format implies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum History {
    /// A single register (check with [`RegisterModel`](super::RegisterModel)).
    Register(Vec<Operation<RegisterInput, RegisterOutput>>),
    /// A kv store (check with [`KvModel`](super::KvModel)).
    Kv(Vec<Operation<KvInput, KvOutput>>),
}

/// Guesses the format from the first non-empty line of a file.
pub fn detect_format(first_nonempty_line: &str) -> Option<Format> {
    let l = first_nonempty_line.trim();
    if l.contains("jepsen.util") {
        return Some(Format::JepsenEtcd);
    }
    let rest = l.strip_prefix('{')?.trim_start();
    if rest.starts_with(':') {
        Some(Format::PorcupineKv)
    } else if rest.starts_with('"') || rest.starts_with('}') {
        Some(Format::DsimJsonl)
    } else {
        None
    }
}

/// Parses `text` in `format`.
pub fn parse(format: Format, text: &str) -> Result<History, ParseError> {
    Ok(match format {
        Format::JepsenEtcd => History::Register(parse_etcd(text)?),
        Format::PorcupineKv => History::Kv(parse_porcupine_kv(text)?),
        Format::DsimJsonl => History::Kv(parse_dsim_jsonl(text)?),
    })
}

/// How an invocation ended.
enum Completion<O> {
    /// Completed with this output.
    Done(O),
    /// Provably did not take effect: drop the op.
    Dropped,
    /// Indeterminate: pending forever with an unknown output.
    Indeterminate,
}

/// Shared invocation/completion bookkeeping of all three formats.
struct Builder<I, O> {
    /// `None` for dropped ops.
    ops: Vec<Option<Operation<I, O>>>,
    /// Invocation line of each op (for messages).
    lines: Vec<usize>,
    in_flight: BTreeMap<u64, usize>,
    time: u64,
    unknown: O,
}

impl<I, O: Clone> Builder<I, O> {
    fn new(unknown: O) -> Self {
        Builder {
            ops: Vec::new(),
            lines: Vec::new(),
            in_flight: BTreeMap::new(),
            time: 0,
            unknown,
        }
    }

    fn invoke(&mut self, line: usize, process: u64, client: u64, input: I) -> Result<(), ParseError> {
        if let Some(&prev) = self.in_flight.get(&process) {
            return err(
                line,
                format!(
                    "process {process} invokes again while its operation from line {} is in flight",
                    self.lines[prev]
                ),
            );
        }
        self.in_flight.insert(process, self.ops.len());
        self.ops.push(Some(Operation {
            client,
            call: self.time,
            ret: PENDING,
            input,
            output: self.unknown.clone(),
        }));
        self.lines.push(line);
        self.time += 1;
        Ok(())
    }

    /// The in-flight op of `process`, for validating a completion.
    fn pending_input(&self, line: usize, process: u64) -> Result<&I, ParseError> {
        let Some(&i) = self.in_flight.get(&process) else {
            return err(
                line,
                format!("completion for process {process} without a matching invocation"),
            );
        };
        match &self.ops[i] {
            Some(op) => Ok(&op.input),
            None => err(line, "internal: in-flight op was dropped"),
        }
    }

    fn complete(&mut self, line: usize, process: u64, c: Completion<O>) -> Result<(), ParseError> {
        let Some(i) = self.in_flight.remove(&process) else {
            return err(
                line,
                format!("completion for process {process} without a matching invocation"),
            );
        };
        match c {
            Completion::Done(out) => {
                if let Some(op) = &mut self.ops[i] {
                    op.ret = self.time;
                    op.output = out;
                }
            }
            Completion::Dropped => self.ops[i] = None,
            Completion::Indeterminate => {}
        }
        self.time += 1;
        Ok(())
    }

    /// Unmatched invocations stay pending (already `PENDING`/unknown).
    fn finish(self) -> Vec<Operation<I, O>> {
        self.ops.into_iter().flatten().collect()
    }
}

/// 1-based line numbers with their text, skipping blank lines.
fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty())
}

// ---------------------------------------------------------------- etcd ---

fn parse_int(line: usize, s: &str, what: &str) -> Result<i64, ParseError> {
    match s.parse::<i64>() {
        Ok(v) => Ok(v),
        Err(_) => err(line, format!("expected an integer {what}, found `{s}`")),
    }
}

/// Parses a Jepsen value: `nil`, an integer, `[a b]` or a keyword.
#[derive(Debug, PartialEq)]
enum JepsenValue {
    Nil,
    Int(i64),
    Pair(i64, i64),
    Keyword(String),
}

fn parse_jepsen_value(line: usize, toks: &[&str]) -> Result<JepsenValue, ParseError> {
    let joined = toks.join(" ");
    match toks {
        [] => err(line, "missing value"),
        ["nil"] => Ok(JepsenValue::Nil),
        [k] if k.starts_with(':') => Ok(JepsenValue::Keyword(k[1..].to_string())),
        [v] if !v.starts_with('[') => Ok(JepsenValue::Int(parse_int(line, v, "value")?)),
        [a, b] if a.starts_with('[') && b.ends_with(']') => Ok(JepsenValue::Pair(
            parse_int(line, &a[1..], "cas `from`")?,
            parse_int(line, &b[..b.len() - 1], "cas `to`")?,
        )),
        _ => err(line, format!("cannot parse value `{joined}`")),
    }
}

/// Parses a Jepsen etcd log into register operations (see
/// `shared/data/histories/README.md`): `:fail` cas ops are kept as
/// [`RegisterOutput::CasFailed`], a `:fail :read` ends the read with an
/// unknown result, a `:fail :write` is dropped, and `:info` ops (and
/// invocations never completed) are pending with an unknown output. Fields
/// are split on any run of whitespace.
pub fn parse_etcd(text: &str) -> Result<Vec<Operation<RegisterInput, RegisterOutput>>, ParseError> {
    let mut b = Builder::new(RegisterOutput::Unknown);
    for (ln, l) in numbered_lines(text) {
        let toks: Vec<&str> = l.split_whitespace().collect();
        let Some(at) = toks.iter().position(|t| *t == "jepsen.util") else {
            return err(ln, "expected `INFO jepsen.util - <process> <type> <f> <value>`");
        };
        let rest = &toks[at + 1..];
        if rest.first() != Some(&"-") || rest.len() < 5 {
            return err(ln, "expected `jepsen.util - <process> <type> <f> <value>`");
        }
        let process = match rest[1].parse::<u64>() {
            Ok(p) => p,
            Err(_) => return err(ln, format!("expected a process number, found `{}`", rest[1])),
        };
        let (ty, f) = (rest[2], rest[3]);
        let value = parse_jepsen_value(ln, &rest[4..])?;
        match ty {
            ":invoke" => {
                let input = match (f, &value) {
                    (":read", JepsenValue::Nil) => RegisterInput::Read,
                    (":write", JepsenValue::Int(v)) => RegisterInput::Write(*v),
                    (":cas", JepsenValue::Pair(from, to)) => RegisterInput::Cas { from: *from, to: *to },
                    (":read" | ":write" | ":cas", _) => {
                        return err(ln, format!("unexpected value {value:?} for invocation of {f}"))
                    }
                    _ => return err(ln, format!("unknown function `{f}`")),
                };
                b.invoke(ln, process, process, input)?;
            }
            ":ok" | ":fail" | ":info" => {
                let input = *b.pending_input(ln, process)?;
                let expected_f = match input {
                    RegisterInput::Read => ":read",
                    RegisterInput::Write(_) => ":write",
                    RegisterInput::Cas { .. } => ":cas",
                };
                if f != expected_f {
                    return err(
                        ln,
                        format!("completion `{f}` does not match the in-flight `{expected_f}` of process {process}"),
                    );
                }
                let c = match (ty, input, &value) {
                    (":info", _, _) => Completion::Indeterminate,
                    (":ok", RegisterInput::Read, JepsenValue::Nil) => {
                        Completion::Done(RegisterOutput::Read(None))
                    }
                    (":ok", RegisterInput::Read, JepsenValue::Int(v)) => {
                        Completion::Done(RegisterOutput::Read(Some(*v)))
                    }
                    (":ok", RegisterInput::Write(w), JepsenValue::Int(v)) if w == *v => {
                        Completion::Done(RegisterOutput::Ok)
                    }
                    (":ok", RegisterInput::Cas { from, to }, JepsenValue::Pair(a, c))
                        if from == *a && to == *c =>
                    {
                        Completion::Done(RegisterOutput::Ok)
                    }
                    // A failed read changed nothing: an unknown result that
                    // ends here is equivalent to dropping it.
                    (":fail", RegisterInput::Read, _) => Completion::Done(RegisterOutput::Unknown),
                    (":fail", RegisterInput::Write(_), _) => Completion::Dropped,
                    (":fail", RegisterInput::Cas { from, to }, JepsenValue::Pair(a, c))
                        if from == *a && to == *c =>
                    {
                        Completion::Done(RegisterOutput::CasFailed)
                    }
                    _ => {
                        return err(
                            ln,
                            format!("value {value:?} does not fit `{ty} {f}` for invocation {input:?}"),
                        )
                    }
                };
                b.complete(ln, process, c)?;
            }
            _ => return err(ln, format!("unknown event type `{ty}`")),
        }
    }
    Ok(b.finish())
}

// ----------------------------------------------------------- Porcupine ---

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
/// `:type`, `:f` (`:get`/`:put`/`:append`), `:key` and `:value`). `:fail`
/// completions are dropped (the op did not take effect); `:info` ones and
/// unmatched invocations are pending.
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
                    ("put" | "append", v) => {
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

// ---------------------------------------------------------------- dsim ---

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
