//! A shrink candidate: a materialised scenario (a `schedule.toml`) held as TOML, its faults and
//! operations as lists the shrinker cuts, written back as an ordinary scenario file.

use sim::time::{format_duration, parse_duration, Time};

#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    /// Everything but `faults` and `ops`.
    pub top: toml::Table,
    /// `[[faults]]` entries, each an inline table with `at`.
    pub faults: Vec<toml::Value>,
    /// `[[ops]]` entries.
    pub ops: Vec<toml::Value>,
}

/// Which list a reduction works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum List {
    Faults,
    Ops,
}

impl Candidate {
    pub fn parse(text: &str) -> Result<Candidate, String> {
        let mut top: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut take = |k: &str| match top.remove(k) {
            Some(toml::Value::Array(a)) => a,
            _ => Vec::new(),
        };
        let faults = take("faults");
        let ops = take("ops");
        Ok(Candidate { top, faults, ops })
    }

    pub fn list(&self, which: List) -> &Vec<toml::Value> {
        match which {
            List::Faults => &self.faults,
            List::Ops => &self.ops,
        }
    }

    pub fn with_list(&self, which: List, items: Vec<toml::Value>) -> Candidate {
        let mut c = self.clone();
        match which {
            List::Faults => c.faults = items,
            List::Ops => c.ops = items,
        }
        c
    }

    /// An entry's `at`, in ns.
    pub fn at(entry: &toml::Value) -> Time {
        entry
            .get("at")
            .and_then(|v| v.as_str())
            .and_then(|s| parse_duration(s).ok())
            .unwrap_or(0)
    }

    pub fn duration(&self) -> Time {
        self.top
            .get("duration")
            .and_then(|v| v.as_str())
            .and_then(|s| parse_duration(s).ok())
            .unwrap_or(0)
    }

    /// The run cut to `d`: what would come later is dropped, and a quiet period that would
    /// start after the end goes too.
    pub fn with_duration(&self, d: Time) -> Candidate {
        let mut c = self.clone();
        c.top.insert("duration".into(), format_duration(d).into());
        c.faults.retain(|f| Self::at(f) <= d);
        c.ops.retain(|o| Self::at(o) <= d);
        let quiet = c
            .top
            .get("quiet_from")
            .and_then(|v| v.as_str())
            .and_then(|s| parse_duration(s).ok());
        if quiet.is_some_and(|q| q > d) {
            c.top.remove("quiet_from");
        }
        c
    }

    pub fn nodes(&self) -> Option<i64> {
        self.top.get("nodes").and_then(|v| v.as_integer())
    }

    /// One node fewer: the last, `nN`, with the faults that name it and its own tables.
    pub fn without_last_node(&self) -> Option<Candidate> {
        let n = self.nodes()?;
        if n <= 1 || self.top.contains_key("groups") {
            return None;
        }
        let name = format!("n{n}");
        let mut c = self.clone();
        c.top.insert("nodes".into(), (n - 1).into());
        c.faults.retain(|f| !names(f, &name));
        c.ops.retain(|o| !names(o, &name));
        for table in ["node", "clocks"] {
            if let Some(toml::Value::Table(t)) = c.top.get_mut(table) {
                if let Some(toml::Value::Table(per)) = t.get_mut("node") {
                    per.remove(&name);
                }
                if table == "node" {
                    t.remove(&name);
                }
            }
        }
        Some(c)
    }

    /// Sets `table.key` to `value` where it differs: only if the file sets it, or also where
    /// it does not (`insert`, for settings whose default is not `value`). None: nothing to do.
    pub fn with_setting(
        &self,
        table: &str,
        key: &str,
        value: toml::Value,
        insert: bool,
    ) -> Option<Candidate> {
        let old = self.top.get(table).and_then(|t| t.get(key));
        match old {
            Some(old) if same(old, &value) => return None,
            None if !insert => return None,
            _ => {}
        }
        let mut c = self.clone();
        let t = c
            .top
            .entry(table.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t.as_table_mut()?.insert(key.into(), value);
        Some(c)
    }

    /// The candidate without the top-level key or table `key`, if it has one.
    pub fn without(&self, key: &str) -> Option<Candidate> {
        let mut c = self.clone();
        c.top.remove(key)?;
        Some(c)
    }

    /// The scenario file: `header` as comments, top-level keys, the faults and operations one
    /// per line, then the tables.
    pub fn text(&self, header: &[String]) -> String {
        let mut out = String::new();
        for h in header {
            out.push_str(if h.is_empty() { "#\n" } else { "# " });
            if !h.is_empty() {
                out.push_str(h);
                out.push('\n');
            }
        }
        if !header.is_empty() {
            out.push('\n');
        }
        let (mut plain, mut tables) = (toml::Table::new(), toml::Table::new());
        for (k, v) in &self.top {
            let is_table = v.is_table()
                || v.as_array()
                    .is_some_and(|a| !a.is_empty() && a.iter().all(|x| x.is_table()));
            if is_table {
                tables.insert(k.clone(), v.clone());
            } else {
                plain.insert(k.clone(), v.clone());
            }
        }
        out.push_str(&toml::to_string(&plain).unwrap_or_default());
        for (name, list) in [("faults", &self.faults), ("ops", &self.ops)] {
            out.push_str(&format!("\n{name} = [\n"));
            for e in list {
                out.push_str(&format!("  {e},\n"));
            }
            out.push_str("]\n");
        }
        let rest = toml::to_string(&tables).unwrap_or_default();
        if !rest.is_empty() {
            out.push('\n');
            out.push_str(&rest);
        }
        out
    }
}

/// Whether `v` names `name` anywhere (a target, a partition group, a cut).
fn names(v: &toml::Value, name: &str) -> bool {
    match v {
        toml::Value::String(s) => s == name,
        toml::Value::Array(a) => a.iter().any(|x| names(x, name)),
        toml::Value::Table(t) => t.iter().any(|(k, x)| k != "at" && names(x, name)),
        _ => false,
    }
}

/// Whether two settings mean the same (`0` and `0.0`, `"0ms"` and `"0s"`).
fn same(a: &toml::Value, b: &toml::Value) -> bool {
    let num = |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
    match (num(a), num(b), a.as_str(), b.as_str()) {
        (Some(x), Some(y), _, _) => x == y,
        (_, _, Some(x), Some(y)) => {
            x == y || matches!((parse_duration(x), parse_duration(y)), (Ok(p), Ok(q)) if p == q)
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = r#"
protocol = "raft"
nodes = 3
duration = "5s"
quiet_from = "4s"
faults = [
  { at = "1s", crash = "n3", restart_after = "1s" },
  { at = "2s", partition = [["n1"], ["n2", "n3"]], heal_after = "1s" },
  { at = "3s", pause = "n1" },
]
ops = [
  { at = "500ms", client = "c1", op = "write", key = "k1", value = 1 },
]
[network]
drop = 0.1
[node.n3]
election_timeout = ["1s", "2s"]
"#;

    #[test]
    fn it_reads_writes_and_cuts() {
        let c = Candidate::parse(S).expect("parses");
        assert_eq!((c.faults.len(), c.ops.len()), (3, 1));
        let again = Candidate::parse(&c.text(&["hi".into()])).expect("its own text parses");
        assert_eq!(again.faults, c.faults);
        assert_eq!(again.top, c.top);
        let short = c.with_duration(2_500_000_000);
        assert_eq!(short.faults.len(), 2);
        assert!(!short.top.contains_key("quiet_from"));
        let two = c.without_last_node().expect("3 nodes");
        assert_eq!(two.nodes(), Some(2));
        assert_eq!(two.faults.len(), 1, "the crash and the partition named n3");
        assert!(two.top["node"].as_table().expect("node").get("n3").is_none());
        let calm = c
            .with_setting("network", "drop", 0.0.into(), false)
            .expect("drop is set");
        assert_eq!(calm.top["network"]["drop"].as_float(), Some(0.0));
        assert!(calm.with_setting("network", "drop", 0.0.into(), false).is_none());
        assert!(c.with_setting("network", "reorder", 0.0.into(), false).is_none());
        let exact = c
            .with_setting("clocks", "max_drift_ppm", 0.into(), true)
            .expect("inserted");
        assert_eq!(exact.top["clocks"]["max_drift_ppm"].as_integer(), Some(0));
    }
}
