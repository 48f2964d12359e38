//! The reductions, in DEMi's order, repeated until none removes anything more.

use super::candidate::{Candidate, List};
use super::Shrinker;

pub(crate) fn run_all(sh: &mut Shrinker) {
    loop {
        let before = sh.log.len();
        after_violation(sh);
        faults(sh);
        ops(sh);
        clients(sh);
        duration(sh);
        nodes(sh);
        network(sh);
        if sh.log.len() == before || sh.budget_left() == 0 {
            return;
        }
    }
}

fn faults(sh: &mut Shrinker) {
    let n = sh.best.faults.len();
    ddmin(sh, List::Faults, (0..n).map(|i| vec![i]).collect(), "faults");
}

/// Operations: the shortest failing prefix, then whole kinds (all reads), keys and clients, then
/// single ops.
fn ops(sh: &mut Shrinker) {
    let n = sh.best.ops.len();
    if n == 0 {
        return;
    }
    smallest(sh, 0, n as u64, "ops: a prefix", |c, k| {
        let kept = c.ops[..k as usize].to_vec();
        c.with_list(List::Ops, kept)
    });
    for field in ["op", "key", "client"] {
        let groups = group_by(&sh.best.ops, field);
        if groups.len() > 1 {
            ddmin(sh, List::Ops, groups, &format!("ops: whole {field}s"));
        }
    }
    let n = sh.best.ops.len();
    ddmin(sh, List::Ops, (0..n).map(|i| vec![i]).collect(), "ops");
}

/// Indices of the entries with the same value of `field`, in order of first appearance.
fn group_by(items: &[toml::Value], field: &str) -> Vec<Vec<usize>> {
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, e) in items.iter().enumerate() {
        let v = e.get(field).map(|v| v.to_string()).unwrap_or_default();
        match groups.iter_mut().find(|(k, _)| *k == v) {
            Some((_, g)) => g.push(i),
            None => groups.push((v, vec![i])),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// Fewer clients: as many as the operations name.
fn clients(sh: &mut Shrinker) {
    let Some(count) = sh
        .best
        .top
        .get("workload")
        .and_then(|w| w.get("clients"))
        .and_then(|c| c.as_integer())
    else {
        return;
    };
    let used = sh
        .best
        .ops
        .iter()
        .filter_map(|o| o.get("client")?.as_str()?.strip_prefix('c')?.parse::<i64>().ok())
        .max()
        .unwrap_or(0);
    if used < count {
        if let Some(c) = sh.best.with_setting("workload", "clients", used.into(), false) {
            sh.first_failing(vec![c], "clients");
        }
    }
}

/// Nothing after a safety violation matters to it: the run cut just after it (whole ms) is
/// tried first, one cheap run that drops every later fault and operation.
fn after_violation(sh: &mut Shrinker) {
    let Some(at) = sh.violation_at else { return };
    let end = (at / 1_000_000 + 1) * 1_000_000;
    if end < sh.best.duration() {
        let c = sh.best.with_duration(end);
        sh.first_failing(vec![c], "cut after the violation");
    }
}

/// The shortest duration that still fails (what comes after the end is dropped).
fn duration(sh: &mut Shrinker) {
    let d = sh.best.duration();
    // Whole milliseconds keep the file readable.
    let ms = d / 1_000_000;
    if ms <= 1 {
        return;
    }
    smallest(sh, 1, ms, "duration", |c, k| c.with_duration(k * 1_000_000));
}

fn nodes(sh: &mut Shrinker) {
    while let Some(c) = sh.best.without_last_node() {
        if sh.first_failing(vec![c], "nodes").is_none() {
            return;
        }
    }
}

/// A calmer network, exact clocks and no buggify sites: everything at once, else one at a time.
fn network(sh: &mut Shrinker) {
    let zero = || toml::Value::Float(0.0);
    let edits: Vec<(&str, &str, toml::Value, bool)> = vec![
        ("network", "drop", zero(), false),
        ("network", "duplicate", zero(), false),
        ("network", "reorder", zero(), false),
        ("clocks", "max_drift_ppm", toml::Value::Integer(0), true),
        ("clocks", "max_offset", toml::Value::String("0ms".into()), true),
    ];
    let mut all = sh.best.clone();
    let mut singles = Vec::new();
    for (t, k, v, insert) in &edits {
        if let Some(c) = sh.best.with_setting(t, k, v.clone(), *insert) {
            singles.push(c);
            if let Some(a) = all.with_setting(t, k, v.clone(), *insert) {
                all = a;
            }
        }
    }
    if let Some(c) = sh.best.without("buggify") {
        singles.push(c);
        if let Some(a) = all.without("buggify") {
            all = a;
        }
    }
    if singles.is_empty() {
        return;
    }
    let mut cands = vec![all];
    if singles.len() > 1 {
        cands.extend(singles);
    }
    sh.first_failing(cands, "network, clocks and buggify");
}

/// Points tried at once by [`smallest`].
const POINTS: u64 = 4;

/// The smallest `k` in `lo..=hi` for which `make(best, k)` still fails, assuming `hi` does:
/// a search that tests several points of the interval at once, in parallel.
fn smallest(sh: &mut Shrinker, lo: u64, hi: u64, what: &str, make: impl Fn(&Candidate, u64) -> Candidate) {
    let base = sh.best.clone();
    let (mut lo, mut hi) = (lo, hi);
    // A fixed number of points (not one per job): the search must not depend on --jobs.
    let points = POINTS;
    while lo < hi && sh.budget_left() > 0 {
        // Points lo ≤ p < hi, spread out; lo itself first.
        let mut ks: Vec<u64> = (0..points).map(|j| lo + (hi - lo) * j / points).collect();
        ks.dedup();
        let cands = ks.iter().map(|&k| make(&base, k)).collect();
        match sh.first_failing(cands, what) {
            Some(i) => {
                hi = ks[i];
                lo = if i == 0 { ks[0] } else { ks[i - 1] + 1 };
                if i == 0 {
                    return;
                }
            }
            None => lo = ks.last().copied().unwrap_or(lo) + 1,
        }
    }
}

/// Delta debugging (Zeller & Hildebrandt 2002), removing complements: `units` are groups of
/// indices into the list; removes as many as it can while the check still fails.
fn ddmin(sh: &mut Shrinker, which: List, units: Vec<Vec<usize>>, what: &str) {
    if units.is_empty() {
        return;
    }
    let base = sh.best.clone();
    let items = base.list(which).clone();
    let build = |kept: &[Vec<usize>]| -> Candidate {
        let mut idx: Vec<usize> = kept.iter().flatten().copied().collect();
        idx.sort_unstable();
        base.with_list(which, idx.iter().map(|&i| items[i].clone()).collect())
    };
    if sh
        .first_failing(vec![build(&[])], &format!("{what}: all"))
        .is_some()
    {
        return;
    }
    let mut units = units;
    let mut n = 2usize;
    while units.len() >= 2 && sh.budget_left() > 0 {
        let n_now = n.min(units.len());
        let chunks: Vec<std::ops::Range<usize>> = (0..n_now)
            .map(|i| i * units.len() / n_now..(i + 1) * units.len() / n_now)
            .collect();
        let cands = chunks
            .iter()
            .map(|r| {
                let kept: Vec<Vec<usize>> = units[..r.start].iter().chain(&units[r.end..]).cloned().collect();
                build(&kept)
            })
            .collect();
        match sh.first_failing(cands, what) {
            Some(i) => {
                units.drain(chunks[i].clone());
                n = n_now.saturating_sub(1).max(2);
            }
            None if n_now >= units.len() => return,
            None => n = (2 * n_now).min(units.len()),
        }
    }
}
