//! `report.html` and the plots of a run (`dsim run --out`, `dsim report`): the report explains
//! a violation through its causal slice, its links all land, it is self-contained and bounded
//! in size however long the run, it renders in headless Chromium, PNG plots come out with the
//! bundled font, and reports are byte-identical from run to run.

mod common;
use common::{dsim, repo_root, run_out, temp_dir};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

fn read(dir: &Path, f: &str) -> String {
    std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"))
}

/// Every value of `attr="…"` in the page.
fn attrs(html: &str, attr: &str) -> Vec<String> {
    let pat = format!("{attr}=\"");
    html.match_indices(&pat)
        .map(|(i, _)| {
            let rest = &html[i + pat.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect()
}

/// Every in-page link has its target, and the page loads nothing from anywhere.
fn assert_links_land_and_self_contained(html: &str) {
    let ids: BTreeSet<String> = attrs(html, "id").into_iter().collect();
    for href in attrs(html, "href") {
        let target = href
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("a link leaves the page: {href}"));
        assert!(ids.contains(target), "a link to #{target} has no target");
    }
    // Plotters' SVG declares its namespace (xmlns="http://www.w3.org/2000/svg"): a name, not
    // a fetch. Nothing is loaded: no src, no stylesheet link, no script.
    assert!(attrs(html, "src").is_empty(), "the page loads a resource");
    for tag in ["<script", "<link", "<iframe", "<img", "@import"] {
        assert!(!html.contains(tag), "the page holds {tag}");
    }
}

/// The Figure 8 violation explains itself from the report alone: the verdict, the failed
/// checks linked to the causal slice, the slice ending in the new leader that lacks the
/// committed entry, the diagram of that slice, and the faults before it linked both ways.
#[test]
fn the_figure8_report_explains_the_lost_entry() {
    let dir = run_out(
        "report-f8",
        "scenarios/raft/figure8.toml",
        &["--bug", "commit-previous-term"],
    );
    let html = read(&dir, "report.html");
    assert_links_land_and_self_contained(&html);
    assert!(html.contains("VIOLATION: 3 failed checks"), "verdict missing");
    let result: Value = serde_json::from_str(&read(&dir, "result.json")).unwrap();
    for c in result["checks"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        assert!(
            html.contains(&format!("id=\"check-{name}\"")),
            "check {name} missing"
        );
    }
    // The first failed check links to the slice; the slice is violation.txt's, line by line.
    let first = html.find("id=\"check-leader-completeness\"").unwrap();
    assert!(html[first..]
        .split("</tr>")
        .next()
        .unwrap()
        .contains("href=\"#violation\""));
    let violation = read(&dir, "violation.txt");
    let last_line = violation
        .lines()
        .rev()
        .find(|l| l.contains("n5  becomes leader"))
        .expect("the slice ends with n5 becoming leader");
    assert!(
        html.contains(last_line),
        "the slice's last event is in the report"
    );
    assert!(html.contains("!!  crash n1"), "the crashes are in the slice");
    // The diagram is the slice's: it ends with the failing check at event 163.
    let diagram = read(&dir, "messages.svg");
    assert!(
        diagram.contains("`leader-completeness` fails after event 163"),
        "{diagram}"
    );
    assert!(
        diagram.contains("RequestVote t5"),
        "the vote that made n5 leader is drawn"
    );
    assert!(html.contains("`leader-completeness` fails after event 163"));
    // Faults: the table links each fault of the slice back to its line, the slice links to it.
    let back = attrs(&html, "href")
        .iter()
        .filter(|h| h.starts_with("#slice-"))
        .count();
    let fwd = attrs(&html, "href")
        .iter()
        .filter(|h| h.starts_with("#fault-"))
        .count();
    assert!(
        back >= 5 && fwd >= 5,
        "faults linked both ways: {back} back, {fwd} forward"
    );
    for f in ["timeline.svg", "messages.svg", "violation.txt"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    // The README's picture is this diagram, byte for byte.
    let readme = std::fs::read_to_string(repo_root().join("docs/images/figure8-messages.svg")).unwrap();
    assert!(
        readme == diagram,
        "docs/images/figure8-messages.svg is out of date: copy messages.svg of \
         `dsim run scenarios/raft/figure8.toml --bug commit-previous-term --out DIR`"
    );
}

/// A non-linearizable history gets its minimal failing operations on a per-client timeline:
/// the operations the history check names, the culprit among them.
#[test]
fn a_non_linearizable_history_shows_its_failing_operations() {
    let dir = run_out(
        "report-lin",
        "scenarios/raft/clock-skew.toml",
        &["--bug", "lease-read-under-skew"],
    );
    let result: Value = serde_json::from_str(&read(&dir, "result.json")).unwrap();
    let check = result["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "linearizable")
        .unwrap();
    assert_eq!(
        check["status"], "fail",
        "the lease bug makes a stale read at seed 1"
    );
    let svg = read(&dir, "failing-ops.svg")
        .replace("&quot;", "\"")
        .replace("&gt;", ">")
        .replace("&lt;", "<")
        .replace("&amp;", "&");
    let detail = check["detail"].as_str().unwrap();
    let culprit = detail
        .lines()
        .find(|l| l.contains("<-- cannot be linearized"))
        .unwrap();
    let op = culprit.split("|--").nth(1).unwrap().split("--|").next().unwrap();
    assert!(svg.contains(op), "the culprit {op} is drawn:\n{svg}");
    for line in detail.lines().filter(|l| l.contains("|--")) {
        let client = line.split_whitespace().next().unwrap();
        assert!(
            svg.contains(&format!("\n{client}\n")),
            "client {client} has a row"
        );
    }
    let html = read(&dir, "report.html");
    assert_links_land_and_self_contained(&html);
    assert!(html.contains("id=\"failing-ops\""));
    for f in ["latency-cdf.svg", "throughput.svg", "latency.svg", "timeline.svg"] {
        let s = read(&dir, f);
        assert!(s.starts_with("<svg"), "{f}");
        assert!(html.contains(&s), "{f} is inlined in the report");
    }
    let cdf = read(&dir, "latency-cdf.svg");
    for f in ["read ok", "write ok", "p50", "p99", "max"] {
        assert!(cdf.contains(f), "latency CDF legend lacks {f}");
    }
    let th = read(&dir, "throughput.svg");
    assert!(th.contains("partition {"), "the partition is a labelled band");
    // Metrics over time: the samples the run reported, bounded, in time order per metric.
    let mut per: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for l in read(&dir, "metrics.jsonl").lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        per.entry(v["metric"].as_str().unwrap().into())
            .or_default()
            .push(v["t"].as_u64().unwrap());
    }
    for m in ["latency", "replication-lag"] {
        let ts = per
            .get(m)
            .unwrap_or_else(|| panic!("no {m} samples: {:?}", per.keys()));
        assert!(ts.len() <= 2048 && ts.windows(2).all(|w| w[0] <= w[1]), "{m}");
        let n = result["metrics"][m]["n"].as_u64().unwrap();
        assert!(
            ts.len() as u64 <= n && (ts.len() as u64 == n || ts.len() > 512),
            "{m}: {} of {n}",
            ts.len()
        );
    }
    let metrics = read(&dir, "metrics.svg");
    assert!(
        metrics.contains("replication-lag (") && metrics.contains("latency ("),
        "a panel per metric"
    );
}

/// `dsim report DIR --format png --window T1..T2`: PNG files drawn with the bundled font, the
/// diagram of the window asked for; bad windows are usage errors.
#[test]
fn report_draws_png_and_a_chosen_window() {
    let dir = run_out(
        "report-png",
        "scenarios/raft/figure8.toml",
        &["--bug", "commit-previous-term"],
    );
    let d = dir.to_string_lossy().into_owned();
    let (code, out, err) = dsim(&["report", &d, "--format", "png", "--window", "900ms..1s", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let files: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for f in ["timeline.png", "messages.png", "report.html"] {
        assert!(files.contains(&f), "{f} not written: {files:?}");
    }
    let png = std::fs::read(dir.join("messages.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // Width and height from the IHDR chunk: the diagram's own size, not a blank stub.
    let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert!(w >= 700 && h >= 300, "{w}x{h}");
    assert!(
        png.len() > 20_000,
        "a PNG with text and arrows is not this small: {}",
        png.len()
    );
    let html = read(&dir, "report.html");
    assert!(html.contains("from 900 to 1000 ms (the window asked for)"));
    assert!(html.contains("id=\"violation\""), "the slice is still explained");
    for bad in ["1s..900ms", "x", "1s..", "1q..2s"] {
        let (code, _, err) = dsim(&["report", &d, "--window", bad]);
        assert_eq!(code, 2, "--window {bad}: {err}");
        assert!(err.contains("--window"), "{err}");
    }
    let (code, _, err) = dsim(&["report", &d, "--format", "gif"]);
    assert_eq!(code, 2, "{err}");
}

/// A synthetic hour: 300 000 operations, 4 000 faults, 20 000 role changes and 200 000
/// message lines. The report reads it streaming and stays under 5 MB, every plot bounded.
#[test]
fn the_report_of_a_long_run_stays_small() {
    let dir = temp_dir("report-long");
    let hour: u64 = 3_600_000_000_000;
    let mut h = String::new();
    let ops = 300_000u64;
    for k in 0..ops {
        let t = k * (hour / ops);
        let (p, f) = (k % 20, ["read", "write", "append"][(k % 3) as usize]);
        let lat = 1_000_000 + (k * 7919 % 50) * 1_000_000;
        let _ = writeln!(
            h,
            r#"{{"type":"invoke","process":{p},"client":"c{}","f":"{f}","key":"k{}","value":null,"time_ns":{t}}}"#,
            p + 1,
            k % 100
        );
        let kind = if k % 97 == 0 { "info" } else { "ok" };
        let _ = writeln!(
            h,
            r#"{{"type":"{kind}","process":{p},"client":"c{}","f":"{f}","key":"k{}","value":null,"time_ns":{}}}"#,
            p + 1,
            k % 100,
            t + lat
        );
    }
    std::fs::write(dir.join("history.jsonl"), h).unwrap();
    let mut tr = String::new();
    let mut i = 0u64;
    for k in 0..200_000u64 {
        let t = k * (hour / 200_000);
        let (a, b) = (k % 5 + 1, (k + 1) % 5 + 1);
        let _ = writeln!(
            tr,
            r#"{{"i":{i},"t":{t},"ev":"send","id":{k},"from":"n{a}","to":"n{b}","msg":{{"Ping":{{"term":{}}}}}}}"#,
            k / 1000
        );
        let _ = writeln!(
            tr,
            r#"{{"i":{},"t":{},"ev":"deliver","id":{k},"from":"n{a}","to":"n{b}"}}"#,
            i + 1,
            t + 1000
        );
        if k % 10 == 0 {
            let role = ["follower", "candidate", "leader"][(k / 10 % 3) as usize];
            let _ = writeln!(
                tr,
                r#"{{"i":{},"t":{},"ev":"becomes","node":"n{a}","role":"{role}"}}"#,
                i + 1,
                t + 1000
            );
        }
        if k % 50 == 0 {
            let (kind, detail) = if k % 100 == 0 {
                ("crash", format!("crash n{a}"))
            } else {
                ("restart", format!("restart n{a}"))
            };
            let _ = writeln!(
                tr,
                r#"{{"i":{},"t":{},"ev":"fault","node":"n{a}","detail":"{detail}","kind":"{kind}"}}"#,
                i + 1,
                t + 2000
            );
        }
        i += 2;
    }
    std::fs::write(dir.join("trace.jsonl"), tr).unwrap();
    let result = serde_json::json!({
        "name": "synthetic-hour", "protocol": "raft", "seed": 1, "nodes": 5, "bugs": [],
        "sim_time_ns": hour, "events": i, "violations": 0, "trace_hash": "0", "stopped_by": "time",
        "checks": [{"name": "x", "kind": "always", "status": "pass", "detail": "held"}],
        "groups": [{"name": "all", "first": 0, "len": 5, "boot_at": 0}],
    });
    std::fs::write(dir.join("result.json"), result.to_string()).unwrap();
    let (code, _, err) = dsim(&["report", &dir.to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    let html = std::fs::metadata(dir.join("report.html")).unwrap().len();
    assert!(html < 5 << 20, "report.html is {html} bytes");
    for f in [
        "latency-cdf.svg",
        "throughput.svg",
        "timeline.svg",
        "messages.svg",
        "latency.svg",
    ] {
        let n = std::fs::metadata(dir.join(f))
            .unwrap_or_else(|e| panic!("{f}: {e}"))
            .len();
        assert!(n < 2 << 20, "{f} is {n} bytes");
    }
    let page = read(&dir, "report.html");
    assert_links_land_and_self_contained(&page);
    assert!(
        page.contains("2000 faults"),
        "every crash is counted in the fault table"
    );
    assert!(
        page.contains("more in trace.jsonl"),
        "the fault table says it is cut"
    );
}

/// The same run's report is byte for byte the same: rendering depends on the files only.
#[test]
fn reports_are_identical_from_run_to_run() {
    let a = run_out(
        "report-det-a",
        "scenarios/raft/figure8.toml",
        &["--bug", "commit-previous-term"],
    );
    let b = run_out(
        "report-det-b",
        "scenarios/raft/figure8.toml",
        &["--bug", "commit-previous-term"],
    );
    for f in ["report.html", "messages.svg", "timeline.svg", "violation.txt"] {
        assert_eq!(read(&a, f), read(&b, f), "{f} differs between two runs");
    }
    // And `dsim report` regenerates it from the files alone.
    let before = read(&a, "report.html");
    let (code, _, err) = dsim(&["report", &a.to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(read(&a, "report.html"), before);
}

/// Loaded in headless Chromium (Debian's `chromium`): no console errors, the sections and
/// inline plots are in the rendered DOM, and a screenshot is saved beside the report.
#[test]
fn the_report_renders_in_headless_chromium() {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        eprintln!(
            "SKIPPED the_report_renders_in_headless_chromium: no chromium on PATH (apt-get install chromium)"
        );
        return;
    };
    let dir = run_out(
        "report-chromium",
        "scenarios/raft/figure8.toml",
        &["--bug", "commit-previous-term"],
    );
    let page = std::fs::canonicalize(dir.join("report.html")).unwrap();
    let url = format!("file://{}", page.display());
    let profile = temp_dir("report-chromium-profile");
    let base = [
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--enable-logging=stderr".into(),
        "--v=0".into(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let out = std::process::Command::new(chromium)
        .args(&base)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    for id in ["summary", "checks", "violation", "diagram", "faults", "plots"] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "section {id} not rendered");
    }
    assert!(dom.matches("<svg").count() >= 2, "the plots are not in the DOM");
    let shot = dir.join("report-screenshot.png");
    let out = std::process::Command::new(chromium)
        .args(&base)
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1280,2000")
        .arg(&url)
        .output()
        .unwrap();
    let png = std::fs::read(&shot)
        .unwrap_or_else(|e| panic!("no screenshot ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        png.len() > 50_000,
        "a rendered report is not a blank page: {} bytes",
        png.len()
    );
}

/// An eventually-check that fails has no event to slice from; its detail says why it does not
/// hold at the end of the run (which acknowledged value is missing where), and the report
/// shows it.
#[test]
fn an_eventually_failure_says_what_is_missing_where() {
    let dir = run_out(
        "report-eventually",
        "scenarios/broadcast/fuzz.toml",
        &["--seed", "1", "--bug", "no-relay"],
    );
    let result: Value = serde_json::from_str(&read(&dir, "result.json")).unwrap();
    let check = result["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "acked-values-everywhere")
        .unwrap();
    assert_eq!(check["status"], "fail");
    let detail = check["detail"].as_str().unwrap();
    assert!(detail.contains("at the end of the run, value "), "{detail}");
    let (on, off) = detail
        .split_once(" but not on ")
        .expect("names where it is missing");
    assert!(on.contains(" is on n") && off.starts_with('n'), "{detail}");
    let html = read(&dir, "report.html");
    assert_links_land_and_self_contained(&html);
    assert!(html.contains(" but not on "), "the report shows the explanation");
}
