//! Parser of Jepsen etcd register logs (`INFO  jepsen.util - 2 :invoke :cas [3 0]`).

use crate::linearize::register::{RegisterInput, RegisterOutput};
use crate::linearize::Operation;

use super::{err, numbered_lines, Builder, Completion, ParseError};

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
