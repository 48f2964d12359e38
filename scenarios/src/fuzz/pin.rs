//! Writing a found failure as a scenario file that replays it: the scenario's own text, its
//! comments kept, with the seed and the planted bugs pinned and a header that says what fails.

use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
struct TopLevel {
    seed: Option<Spanned<toml::Value>>,
    bugs: Option<Spanned<toml::Value>>,
}

/// The whole lines `span` lies on, with the line break after them.
fn lines_of(text: &str, span: std::ops::Range<usize>) -> std::ops::Range<usize> {
    let start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let end = text[span.end..]
        .find('\n')
        .map_or(text.len(), |i| span.end + i + 1);
    start..end
}

/// `text` with its top-level `seed` and `bugs` replaced by these, placed after the file's
/// opening comments; `header` lines (without `#`) go first, as comments.
pub fn pin(text: &str, seed: u64, bugs: &[String], header: &[String]) -> String {
    let mut cut: Vec<std::ops::Range<usize>> = Vec::new();
    if let Ok(top) = toml::from_str::<TopLevel>(text) {
        for v in [top.seed, top.bugs].into_iter().flatten() {
            cut.push(lines_of(text, v.span()));
        }
    }
    cut.sort_by_key(|r| r.start);
    let mut body = String::with_capacity(text.len());
    let mut at = 0;
    for r in cut {
        if r.start >= at {
            body.push_str(&text[at..r.start]);
            at = r.end;
        }
    }
    body.push_str(&text[at..]);
    // After the opening comment block, before the first key or table.
    let mut split = 0;
    for line in body.split_inclusive('\n') {
        let t = line.trim();
        if !(t.is_empty() || t.starts_with('#')) {
            break;
        }
        split += line.len();
    }
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let bug_list: Vec<String> = bugs.iter().map(|b| q(b)).collect();
    let mut out = String::new();
    for h in header {
        for line in h.lines() {
            out.push_str(if line.is_empty() { "#" } else { "# " });
            out.push_str(line);
            out.push('\n');
        }
    }
    if !header.is_empty() {
        out.push('\n');
    }
    out.push_str(&body[..split]);
    out.push_str(&format!("seed = {seed}\nbugs = [{}]\n", bug_list.join(", ")));
    out.push_str(&body[split..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_and_bugs_are_replaced_and_comments_kept() {
        let text = "# A scenario.\n# Second line.\n\nname = \"x\"\nseed = 4   # the file's seed\nbugs = [\n  \"a\",\n]\n[params]\nseed = 9\n";
        let out = pin(text, 17, &["b".into()], &["fails: c".into()]);
        assert_eq!(
            out,
            "# fails: c\n\n# A scenario.\n# Second line.\n\nseed = 17\nbugs = [\"b\"]\nname = \"x\"\n[params]\nseed = 9\n"
        );
        let v: toml::Table = toml::from_str(&out).expect("valid TOML");
        assert_eq!(v["seed"].as_integer(), Some(17));
        assert_eq!(v["params"]["seed"].as_integer(), Some(9));
    }

    #[test]
    fn a_file_without_them_gets_them() {
        let out = pin("[params]\nx = 1\n", 3, &[], &[]);
        assert_eq!(out, "seed = 3\nbugs = []\n[params]\nx = 1\n");
    }
}
