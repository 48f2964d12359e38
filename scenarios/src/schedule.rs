//! `schedule.toml`: a run written back as a scenario file, with the random nemesis and the
//! random workload replaced by the faults and operations that happened (DESIGN.md,
//! "Schedules"). The engine streams them as JSON lines (`sim::schedule`); this turns the lines
//! into TOML next to the rest of the original scenario.
//!
//! What a replay reproduces (docs/scenario-format.md, "Schedules"): the same faults on the same
//! nodes at the same instants, the same operations with the same values from the same clients,
//! so the same history and the same check verdicts. The trace hash differs: the original's
//! trace also holds the nemesis's and the random workload's own events (ticks, wake-ups), which
//! the replay has no need of.

use crate::runner::Scenario;
use sim::time::format_duration;
use std::io::{self, BufRead, Write};
use std::path::Path;

/// Top-level keys the schedule writes itself; every other key and table of the original is
/// copied as is (parameters, network, clocks, disks, limits, checks, …).
const REWRITTEN: &[&str] = &[
    "name",
    "description",
    "protocol",
    "nodes",
    "duration",
    "seed",
    "quiet_from",
    "bugs",
    "nemesis",
    "faults",
    "ops",
    "workload",
    "sweep",
];

/// `[workload]` keys that shape how clients behave, not what they do: kept.
const CLIENT_KEYS: &[&str] = &["timeout", "retries", "backoff", "group", "mode", "in_flight"];

/// A TOML value, written inline.
fn inline(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "\"\"".into(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => toml::Value::String(s.clone()).to_string(),
        serde_json::Value::Array(a) => {
            let items: Vec<String> = a.iter().map(inline).collect();
            format!("[{}]", items.join(", "))
        }
        serde_json::Value::Object(m) => {
            let items: Vec<String> = m
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("{} = {}", key(k), inline(v)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
    }
}

fn key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        toml::Value::String(k.to_string()).to_string()
    }
}

/// One schedule line: `{ at = "…", …keys… }`.
fn entry(t: u64, keys: &[(&str, &serde_json::Value)]) -> String {
    let mut parts = vec![format!("at = \"{}\"", format_duration(t))];
    for (k, v) in keys {
        if !v.is_null() {
            parts.push(format!("{} = {}", key(k), inline(v)));
        }
    }
    format!("{{ {} }}", parts.join(", "))
}

/// Opens the schedule's JSON lines afresh (they are read once per array).
type Lines<'a> = &'a dyn Fn() -> io::Result<Box<dyn BufRead + 'a>>;

/// Copies the schedule lines that have `field` into a TOML array `name = [ … ]`, then `extra`.
fn array(out: &mut dyn Write, lines: Lines, name: &str, field: &str, extra: &[String]) -> io::Result<u64> {
    let mut n = 0;
    writeln!(out, "{name} = [")?;
    for line in lines()?.lines() {
        let v: serde_json::Value = serde_json::from_str(&line?).map_err(io::Error::other)?;
        let Some(body) = v.get(field) else { continue };
        let t = v["t"].as_u64().unwrap_or(0);
        let text = match field {
            "fault" => {
                let keys: Vec<(&str, &serde_json::Value)> = body
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| (k.as_str(), v)).collect())
                    .unwrap_or_default();
                let origin = v["origin"].as_str().unwrap_or("");
                format!("{},  # {origin}", entry(t, &keys))
            }
            _ => {
                let mut keys = vec![("client", &v["client"])];
                if let Some(m) = body.as_object() {
                    keys.extend(m.iter().map(|(k, v)| (k.as_str(), v)));
                }
                format!("{},", entry(t, &keys))
            }
        };
        writeln!(out, "  {text}")?;
        n += 1;
    }
    for e in extra {
        writeln!(out, "  {e}")?;
    }
    writeln!(out, "]")?;
    Ok(n)
}

/// Named `[[faults]]` entries of the original that never happened in the run: written back as
/// disabled entries, so the `[[metrics]]` measured from them still load (and stay censored).
fn unfired_names(original: &toml::Table, lines: Lines) -> io::Result<Vec<String>> {
    let mut fired = std::collections::BTreeSet::new();
    for line in lines()?.lines() {
        let v: serde_json::Value = serde_json::from_str(&line?).map_err(io::Error::other)?;
        if let Some(n) = v
            .get("fault")
            .and_then(|f| f.get("name"))
            .and_then(|n| n.as_str())
        {
            fired.insert(n.to_string());
        }
    }
    let named = original
        .get("faults")
        .and_then(|f| f.as_array())
        .into_iter()
        .flatten()
        .filter_map(|f| f.get("name").and_then(|n| n.as_str()));
    Ok(named
        .filter(|n| !fired.contains(*n))
        .map(|n| {
            let name = toml::Value::String(n.to_string());
            format!("{{ at = \"0s\", name = {name}, enabled = false, heal = true }},  # did not happen in this run")
        })
        .collect())
}

/// Writes `schedule.toml` for a finished run of `scn` whose schedule lines are in `jsonl`.
pub fn write_toml(scn: &dyn Scenario, jsonl: &Path, out: &mut dyn Write) -> io::Result<()> {
    let open =
        || -> io::Result<Box<dyn BufRead>> { Ok(Box::new(io::BufReader::new(std::fs::File::open(jsonl)?))) };
    write_toml_from(scn, &open, out)
}

/// `schedule.toml` as text, from schedule lines held in memory.
pub fn toml_text(scn: &dyn Scenario, jsonl: &[u8]) -> io::Result<String> {
    let open = || -> io::Result<Box<dyn BufRead + '_>> { Ok(Box::new(jsonl)) };
    let mut out = Vec::new();
    write_toml_from(scn, &open, &mut out)?;
    String::from_utf8(out).map_err(io::Error::other)
}

fn write_toml_from(scn: &dyn Scenario, lines: Lines, out: &mut dyn Write) -> io::Result<()> {
    let original: toml::Table = toml::from_str(scn.source()).map_err(io::Error::other)?;
    let cfg = scn.config();
    let bugs = cfg.bugs.names();
    writeln!(
        out,
        "# The schedule of one run of {} (seed {}{}).",
        scn.path(),
        cfg.seed,
        crate::summary::bugs_suffix(bugs)
    )?;
    writeln!(
        out,
        "# The same scenario with its random nemesis and random workload replaced by the faults and"
    )?;
    writeln!(
        out,
        "# operations that happened, targets resolved and values explicit. `dsim run` on this file"
    )?;
    writeln!(
        out,
        "# replays the run: the same history and check verdicts (not the same trace hash: see"
    )?;
    writeln!(out, "# docs/scenario-format.md, \"Schedules\").")?;
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    writeln!(
        out,
        "name = {}",
        q(&format!("{} (schedule of seed {})", scn.name(), cfg.seed))
    )?;
    if !scn.description().is_empty() {
        writeln!(out, "description = {}", q(scn.description()))?;
    }
    writeln!(out, "protocol = {}", q(scn.protocol()))?;
    writeln!(out, "nodes = {}", cfg.nodes)?;
    writeln!(out, "duration = \"{}\"", format_duration(cfg.duration))?;
    writeln!(out, "seed = {}", cfg.seed)?;
    if let Some(qf) = cfg.quiet_from {
        writeln!(out, "quiet_from = \"{}\"", format_duration(qf))?;
    }
    let bug_list: Vec<String> = bugs.iter().map(|b| q(b)).collect();
    writeln!(out, "bugs = [{}]", bug_list.join(", "))?;
    writeln!(
        out,
        "\n# Faults as they were applied (restarts, resumes and heals follow from their `*_after`)."
    )?;
    let unfired = unfired_names(&original, lines)?;
    array(out, lines, "faults", "fault", &unfired)?;
    writeln!(
        out,
        "\n# Client operations, values explicit, each at its invocation (open loop: its arrival)."
    )?;
    array(out, lines, "ops", "op", &[])?;
    for (k, v) in &original {
        if REWRITTEN.contains(&k.as_str()) {
            continue;
        }
        let mut one = toml::Table::new();
        one.insert(k.clone(), v.clone());
        let text = toml::to_string(&one).map_err(io::Error::other)?;
        write!(out, "\n{text}")?;
    }
    // Without a random workload there is nothing to replace (and a protocol that serves no
    // clients rejects the table).
    let Some(w) = original.get("workload").and_then(|w| w.as_table()) else {
        return Ok(());
    };
    writeln!(out, "\n[workload]")?;
    writeln!(out, "clients = {}", cfg.clients.clients)?;
    writeln!(
        out,
        "count = 0                # no random operations: they are all under `ops` above"
    )?;
    for k in CLIENT_KEYS {
        if let Some(v) = w.get(*k) {
            writeln!(out, "{k} = {v}")?;
        }
    }
    Ok(())
}
