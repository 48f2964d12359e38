//! Key paths into a scenario's TOML (`params.election_timeout`, `network.drop`, `nodes`,
//! `faults.leader-crash.enabled`), for `dsim fuzz --swarm`'s `choose` and `dsim sweep`'s `--set`.
//! A step into an array of tables (`faults`, `groups`, `metrics`) names an entry by its `name`
//! key or by its 0-based index.

/// Checks a key path's shape (each step non-empty; not a key the command sets itself).
pub fn check(path: &str) -> Result<(), String> {
    if path.split('.').any(str::is_empty)
        || path.starts_with("swarm")
        || path.starts_with("sweep")
        || ["seed", "bugs", "protocol"].contains(&path)
    {
        return Err(format!(
            "`{path}` is not a key path a scenario sets, such as params.heartbeat or nodes"
        ));
    }
    Ok(())
}

/// Sets `a.b.c` in `t`, creating tables on the way; an array step picks an entry by name or
/// index (it must exist); the last step must not be a table.
pub fn set(t: &mut toml::Table, path: &str, v: toml::Value) -> Result<(), String> {
    check(path)?;
    let parts: Vec<&str> = path.split('.').collect();
    let (last, steps) = parts.split_last().expect("a non-empty path");
    let mut cur = t;
    let mut i = 0;
    while i < steps.len() {
        let p = steps[i];
        let next = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Array(items) = next {
            let Some(sel) = steps.get(i + 1).or(Some(last)).filter(|_| i + 1 < steps.len()) else {
                return Err(format!(
                    "`{p}` in `{path}` is a list: name an entry, e.g. {p}.NAME.key"
                ));
            };
            let found = match sel.parse::<usize>() {
                Ok(k) => items.get_mut(k),
                Err(_) => items
                    .iter_mut()
                    .find(|e| e.get("name").and_then(|n| n.as_str()) == Some(*sel)),
            };
            let Some(entry) = found else {
                return Err(format!("`{p}` has no entry `{sel}` (by name or 0-based index)"));
            };
            cur = entry
                .as_table_mut()
                .ok_or_else(|| format!("`{p}.{sel}` in `{path}` is not a table"))?;
            i += 2;
            continue;
        }
        cur = next
            .as_table_mut()
            .ok_or_else(|| format!("`{p}` in `{path}` is not a table"))?;
        i += 1;
    }
    cur.insert(last.to_string(), v);
    Ok(())
}

/// A loader message without its `file:line:col:` prefix (a variant's lines are not the file's).
pub fn strip_location(msg: &str) -> String {
    msg.split_once(": ").map_or(msg, |(_, rest)| rest).to_string()
}

/// A value as a short label: strings bare, arrays `[a, b]`.
pub fn label(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(a) => format!("[{}]", a.iter().map(label).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

/// Parses `--set`'s value list, `V1,V2,…`: each value is TOML (`0.01`, `true`, `"x"`,
/// `["150ms", "300ms"]`) or a bare word taken as a string (`150ms`, also inside brackets:
/// `[150ms,300ms]`). Commas inside brackets or quotes do not split.
pub fn parse_list(text: &str) -> Result<Vec<toml::Value>, String> {
    split_top(text)?.iter().map(|s| parse_value(s)).collect()
}

fn split_top(text: &str) -> Result<Vec<String>, String> {
    let (mut out, mut cur, mut depth, mut quote) = (Vec::new(), String::new(), 0i32, false);
    for c in text.chars() {
        match c {
            '"' => quote = !quote,
            '[' | '{' if !quote => depth += 1,
            ']' | '}' if !quote => depth -= 1,
            ',' if !quote && depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        if depth < 0 {
            return Err(format!("unbalanced `]` in `{text}`"));
        }
        cur.push(c);
    }
    if depth != 0 || quote {
        return Err(format!("unbalanced brackets or quotes in `{text}`"));
    }
    out.push(cur);
    if out.iter().any(|s| s.trim().is_empty()) {
        return Err(format!("an empty value in `{text}`"));
    }
    Ok(out)
}

fn parse_value(s: &str) -> Result<toml::Value, String> {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        if inner.trim().is_empty() {
            return Ok(toml::Value::Array(Vec::new()));
        }
        return Ok(toml::Value::Array(parse_list(inner)?));
    }
    match toml::from_str::<toml::Table>(&format!("v = {s}")) {
        Ok(mut t) => Ok(t.remove("v").expect("just parsed")),
        Err(_) if !s.contains(['"', '=', '{', '}', '\'']) => Ok(toml::Value::String(s.to_string())),
        Err(_) if s.starts_with('{') => Err(format!(
            "`{s}` is not a TOML inline table (quote its strings: {{ dist = \"uniform\", min = \"1s\", max = \"2s\" }})"
        )),
        Err(_) => Err(format!(
            "`{s}` is not a value (write a number, true/false, a word or [a, b])"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_at_top_level_commas_and_bare_words_are_strings() {
        let v = parse_list("[150ms,150ms],[150ms, 300ms],0.5,true,\"a,b\"").unwrap();
        assert_eq!(v.len(), 5);
        assert_eq!(label(&v[0]), "[150ms, 150ms]");
        assert_eq!(v[2], toml::Value::Float(0.5));
        assert_eq!(v[3], toml::Value::Boolean(true));
        assert_eq!(v[4], toml::Value::String("a,b".into()));
        let t = parse_list("{ with = \"a\" },{ dist = \"uniform\", min = \"1s\", max = \"2s\" }").unwrap();
        assert_eq!(t.len(), 2);
        assert!(t[1].is_table());
        assert!(parse_list("[1,2").is_err());
        assert!(parse_list("1,,2").is_err());
    }

    #[test]
    fn paths_create_tables_and_pick_array_entries_by_name_or_index() {
        let mut t: toml::Table = toml::from_str(
            "nodes = 3\n[[faults]]\nname = \"a\"\nat = \"1s\"\n[[faults]]\nname = \"b\"\nat = \"2s\"\n",
        )
        .unwrap();
        set(&mut t, "params.heartbeat", "20ms".into()).unwrap();
        set(&mut t, "faults.b.enabled", false.into()).unwrap();
        set(&mut t, "faults.0.at", "3s".into()).unwrap();
        assert_eq!(t["params"]["heartbeat"].as_str(), Some("20ms"));
        assert_eq!(t["faults"][1]["enabled"].as_bool(), Some(false));
        assert_eq!(t["faults"][0]["at"].as_str(), Some("3s"));
        assert!(set(&mut t, "faults.c.enabled", true.into()).is_err());
        assert!(
            set(&mut t, "faults", true.into()).is_ok(),
            "replacing the list is allowed"
        );
        assert!(set(&mut t, "nodes.x", 1.into()).is_err());
        assert!(check("seed").is_err() && check("a..b").is_err());
    }
}
