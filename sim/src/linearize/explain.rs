//! Turning a failed search into a small, sound explanation.
//!
//! Starting point: the shortest non-linearizable prefix of the failing
//! partition (everything invoked up to the culprit's return; found by
//! [`shortest_failing_prefix`] from the search's lower bound). Inside that
//! prefix, ops completed by then are *strict* (must sit inside their
//! interval with their recorded output) and the others are *relaxed*: they
//! may take effect at any point after their call, with their recorded
//! output, or never. Relaxing only ever adds linearizations, so whenever the
//! relaxed history is still not linearizable, neither is the original.
//!
//! Minimisation looks for a small set of strict ops that stays
//! non-linearizable with every other op of the prefix relaxed. Relaxing
//! (rather than deleting) matters: deleting the write that a read observed
//! would make the read fail on its own and yield a bogus "explanation";
//! relaxing lets the write float, so it is kept as long as the conflict
//! depends on it. Relaxing more ops only adds linearizations, which makes
//! "still fails" monotone: [`extract_core`] uses that to grow a core from
//! the culprit with O(k log n) re-checks (k ops in the result, n strict ops
//! in the prefix), nearest to the culprit first, and the result is
//! 1-minimal: relaxing any single remaining op makes the history
//! linearizable.
//!
//! Re-checks of histories in which most ops are relaxed are what makes this
//! expensive: hundreds of pending ops, any subset of which may take effect
//! in any order. They leave out relaxed read-only ops (never placed anyway)
//! and run the search with the pruning of
//! [`Search::with_pruning`](super::search::Search::with_pruning).
//! All bounds are step counts, so the result is deterministic.

use std::cmp::Reverse;

use super::search::{search, Outcome, SearchOp};
use super::{Budget, CheckOptions, Exhausted, Failure, Model, Operation, PENDING};

/// A re-check may take this many times the steps of the search of the
/// failing prefix, and at least `PER_CHECK_MIN` plus `PER_CHECK_PER_OP` per
/// op of the prefix (a re-check with most ops relaxed may try each pending
/// op at every level, however quickly the strict prefix was refuted). An
/// inconclusive re-check counts as "passes".
const PER_CHECK_FACTOR: u64 = 4;
const PER_CHECK_MIN: u64 = 20_000;
const PER_CHECK_PER_OP: u64 = 64;
/// All re-checks together may take this many times the steps of the search
/// of the failing prefix, and at least `TOTAL_MIN` plus `TOTAL_PER_OP` per op
/// of the prefix.
const TOTAL_FACTOR: u64 = 16;
const TOTAL_MIN: u64 = 250_000;
const TOTAL_PER_OP: u64 = 256;
/// Above this width the timeline puts labels after the bars instead of
/// inside them.
const MAX_WIDE_COLUMNS: usize = 100;
/// At most this many ops are drawn in a timeline.
const MAX_TIMELINE_LINES: usize = 40;

fn eff_ret(o: &SearchOp) -> u64 {
    if o.ret == PENDING {
        PENDING
    } else {
        o.ret.max(o.call)
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn explain<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    partition: &str,
    sops: &[SearchOp],
    lower: u64,
    search_steps: u64,
    budget: &mut Budget<'_>,
    options: &CheckOptions,
) -> Failure {
    let (culprit, prefix_time, exact) =
        shortest_failing_prefix(model, ops, sops, lower, search_steps, budget);
    let mut prefix: Vec<SearchOp> = sops.iter().copied().filter(|o| o.call <= prefix_time).collect();
    prefix.sort_by_key(|o| (o.call, o.orig));
    let prefix_len = prefix.len();
    let unminimised = |ops_set: Vec<usize>| Failure {
        partition: partition.to_string(),
        culprit,
        prefix_len,
        conflicting: ops_set.iter().copied().filter(|&i| i != culprit).collect(),
        timeline: timeline(model, ops, &ops_set, Some((culprit, "<-- cannot be linearized"))),
        ops: ops_set,
        minimal: false,
    };
    if !options.explain {
        return unminimised(vec![culprit]);
    }

    let strict_at_end: Vec<bool> = prefix.iter().map(|o| eff_ret(o) <= prefix_time).collect();
    let set_of = |idx: &[usize]| -> Vec<usize> {
        let mut v: Vec<usize> = idx.iter().map(|&i| prefix[i].orig).collect();
        v.sort_by_key(|&i| (ops[i].call, i));
        v
    };

    let mut checker = ReChecker {
        prefix: &prefix,
        per_check: 0,
        total_end: u64::MAX,
        rechecks: 0,
        max_rechecks: options.max_explain_rechecks,
        exhausted: false,
        inconclusive: false,
    };
    let all: Vec<usize> = (0..prefix.len()).filter(|&i| strict_at_end[i]).collect();
    let before = budget.steps_used;
    match checker.check(model, ops, &all, budget, u64::MAX) {
        Some(true) => {}
        // Cannot happen by construction (see module docs); stay honest and
        // report the unminimised strict prefix if it does.
        _ => return unminimised(set_of(&all)),
    }
    let prefix_steps = budget.steps_used - before;
    let n = prefix_len as u64;
    checker.per_check = prefix_steps
        .saturating_mul(PER_CHECK_FACTOR)
        .max(PER_CHECK_MIN + PER_CHECK_PER_OP * n);
    checker.total_end = budget.steps_used.saturating_add(
        prefix_steps
            .saturating_mul(TOTAL_FACTOR)
            .max(TOTAL_MIN + TOTAL_PER_OP * n),
    );
    checker.inconclusive = false;

    let at = |i: usize| prefix.iter().position(|o| o.orig == i);
    let culprit_at = at(culprit).expect("the culprit is in its prefix");
    let candidates = candidate_order(model, ops, &prefix, &all, culprit_at);
    let core = extract_core(model, ops, &mut checker, budget, culprit_at, candidates);
    let set = set_of(&core);
    Failure {
        partition: partition.to_string(),
        culprit,
        prefix_len,
        conflicting: set.iter().copied().filter(|&i| i != culprit).collect(),
        timeline: timeline(model, ops, &set, Some((culprit, "<-- cannot be linearized"))),
        ops: set,
        minimal: exact && !checker.inconclusive && !checker.exhausted,
    }
}

/// The strict ops of the prefix other than the culprit (positions in
/// `prefix`), in the order the core extraction prefers them: ops that can
/// change the state before read-only ones ([`Model::is_read_only`]: a
/// conflict is best told by the writes it involves, and strict writes keep
/// re-checks cheap), each group nearest to the culprit first (latest return,
/// then latest call): conflicts are usually local, and the extraction finds
/// ops early in this order with few re-checks.
fn candidate_order<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    prefix: &[SearchOp],
    strict: &[usize],
    culprit_at: usize,
) -> Vec<usize> {
    let mut c: Vec<usize> = strict.iter().copied().filter(|&i| i != culprit_at).collect();
    c.sort_by_key(|&i| {
        let o = &prefix[i];
        let ro = model.is_read_only(&ops[o.orig].input, &ops[o.orig].output);
        (ro, Reverse(eff_ret(o)), Reverse(o.call), Reverse(o.orig))
    });
    c
}

/// Core extraction: a small set of strict ops (positions in `prefix`) that
/// stays non-linearizable with every other op of the prefix relaxed.
///
/// Invariant: `core + candidates[..hi]` is known to fail (initially the
/// whole strict prefix). Each round finds the shortest `i` for which
/// `core + candidates[..i]` fails, galloping from `i = 0` (conflicts are
/// usually among the first candidates) and then bisecting; if `i > 0`,
/// `candidates[i - 1]` is needed (the shorter set passes) and joins the
/// core, and the search goes on among `candidates[..i - 1]`. This takes
/// O(k log n) re-checks for a core of k ops among n candidates, and when
/// every passing re-check was conclusive the core is 1-minimal: without
/// the op added in some round it is a subset of that round's passing set,
/// and relaxing more ops only adds linearizations. Otherwise (some re-check
/// ran out of steps) a final pass tries to relax each core op once more.
/// Out of budget, it stops with the known failing set.
fn extract_core<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    checker: &mut ReChecker<'_>,
    budget: &mut Budget<'_>,
    culprit_at: usize,
    mut candidates: Vec<usize>,
) -> Vec<usize> {
    let mut core = vec![culprit_at];
    let mut hi = candidates.len();
    let mut strict: Vec<usize> = Vec::new();
    let mut fails =
        |core: &[usize], cands: &[usize], checker: &mut ReChecker<'_>, budget: &mut Budget<'_>| {
            strict.clear();
            strict.extend_from_slice(core);
            strict.extend_from_slice(cands);
            checker.try_check(model, ops, &strict, budget) == Some(true)
        };
    'rounds: loop {
        // Everything below `lo` is known not to fail (or could not be shown
        // to); `hi` is known to fail.
        let mut lo = 0;
        let mut step = 1;
        while lo < hi {
            let probe = (lo + step - 1).min(hi);
            if probe == hi {
                break;
            }
            if fails(&core, &candidates[..probe], checker, budget) {
                hi = probe;
                break;
            }
            if checker.exhausted {
                break 'rounds;
            }
            lo = probe + 1;
            step *= 2;
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if fails(&core, &candidates[..mid], checker, budget) {
                hi = mid;
            } else if checker.exhausted {
                break 'rounds;
            } else {
                lo = mid + 1;
            }
        }
        if hi == 0 {
            break;
        }
        core.push(candidates[hi - 1]);
        hi -= 1;
        candidates.truncate(hi);
    }
    if checker.exhausted {
        // Stopped early: report the last set known to fail.
        core.extend_from_slice(&candidates[..hi]);
        return core;
    }
    if checker.inconclusive {
        // Some op may have joined the core only because a re-check ran out
        // of steps: try to relax each once more (the culprit is needed).
        checker.inconclusive = false;
        let mut k = 1;
        while k < core.len() {
            let x = core.remove(k);
            if fails(&core, &[], checker, budget) {
                continue;
            }
            core.insert(k, x);
            if checker.exhausted {
                break;
            }
            k += 1;
        }
    }
    core
}

/// The history up to time `t`: ops invoked by then, those not completed by
/// then pending (with their recorded outputs).
fn prefix_ops(sops: &[SearchOp], t: u64) -> Vec<SearchOp> {
    sops.iter()
        .filter(|o| o.call <= t)
        .map(|o| SearchOp {
            ret: if eff_ret(o) <= t { o.ret } else { PENDING },
            ..*o
        })
        .collect()
}

/// Finds the shortest non-linearizable prefix: `(culprit, time of its
/// return, exact)`.
///
/// The search's furthest return `lower` is only a lower bound: forward
/// checking abandons configurations that are doomed by a later read before
/// they reach the return where they would fail. Prefixes ending at later
/// returns are checked exactly (galloping, then bisection); adding a return
/// only adds constraints, so failure is monotone in the prefix length. The
/// whole partition is known to fail; a re-check cut short by the budget
/// counts as "not known to fail" and clears `exact`.
fn shortest_failing_prefix<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    sops: &[SearchOp],
    lower: u64,
    search_steps: u64,
    budget: &mut Budget<'_>,
) -> (usize, u64, bool) {
    let mut rets: Vec<(u64, u64, usize)> = sops
        .iter()
        .filter(|o| o.ret != PENDING)
        .map(|o| (eff_ret(o), o.call, o.orig))
        .collect();
    rets.sort_unstable();
    let last = rets.len() - 1;
    let limit = search_steps.saturating_mul(PER_CHECK_FACTOR).max(PER_CHECK_MIN);
    let mut exact = true;
    let mut fails = |i: usize, budget: &mut Budget<'_>| -> bool {
        if i == last {
            return true;
        }
        let mut sub = Budget {
            max_steps: budget.max_steps.min(budget.steps_used.saturating_add(limit)),
            steps_used: budget.steps_used,
            max_memory_bytes: budget.max_memory_bytes,
            cancel: budget.cancel,
        };
        let out = search(model, ops, &prefix_ops(sops, rets[i].0), &mut sub, true);
        budget.steps_used = sub.steps_used;
        match out {
            Outcome::NotLinearizable { .. } => true,
            Outcome::Linearizable => false,
            Outcome::Exhausted(_) => {
                exact = false;
                false
            }
        }
    };
    // Everything before `lo` is known to pass; `hi` is known to fail.
    let mut lo = rets.partition_point(|r| r.0 < lower).min(last);
    let mut hi = last;
    let mut step = 1;
    while lo < hi {
        let probe = (lo + step - 1).min(hi);
        if fails(probe, budget) {
            hi = probe;
            break;
        }
        lo = probe + 1;
        step *= 2;
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fails(mid, budget) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    (rets[hi].2, rets[hi].0, exact)
}

struct ReChecker<'p> {
    prefix: &'p [SearchOp],
    per_check: u64,
    /// `budget.steps_used` value at which minimisation stops.
    total_end: u64,
    rechecks: usize,
    max_rechecks: usize,
    /// The re-check bound or the budget is used up: no further re-checks.
    exhausted: bool,
    /// Some re-check ran out of steps (its answer was taken as "passes").
    inconclusive: bool,
}

impl ReChecker<'_> {
    /// A bounded re-check; `None` when the bounds or the budget stopped it.
    fn try_check<M: Model>(
        &mut self,
        model: &M,
        ops: &[Operation<M::Input, M::Output>],
        strict: &[usize],
        budget: &mut Budget<'_>,
    ) -> Option<bool> {
        if self.rechecks >= self.max_rechecks
            || budget.steps_used >= self.total_end
            || budget.steps_used >= budget.max_steps
        {
            self.exhausted = true;
            self.inconclusive = true;
            return None;
        }
        self.rechecks += 1;
        let limit = self.per_check.min(self.total_end - budget.steps_used);
        self.check(model, ops, strict, budget, limit)
    }

    /// Whether the prefix with only `strict` (positions in the prefix)
    /// strict and every other op relaxed is not linearizable; `None` if the
    /// search ran out of steps. Relaxed read-only ops are left out: as
    /// pending ops they would never be placed anyway.
    fn check<M: Model>(
        &mut self,
        model: &M,
        ops: &[Operation<M::Input, M::Output>],
        strict: &[usize],
        budget: &mut Budget<'_>,
        limit: u64,
    ) -> Option<bool> {
        let mut is_strict = vec![false; self.prefix.len()];
        for &i in strict {
            is_strict[i] = true;
        }
        let sops: Vec<SearchOp> = self
            .prefix
            .iter()
            .zip(&is_strict)
            .filter(|(o, &s)| s || !model.is_read_only(&ops[o.orig].input, &ops[o.orig].output))
            .map(|(o, &s)| SearchOp {
                ret: if s { o.ret } else { PENDING },
                ..*o
            })
            .collect();
        let mut sub = Budget {
            max_steps: budget.max_steps.min(budget.steps_used.saturating_add(limit)),
            steps_used: budget.steps_used,
            max_memory_bytes: budget.max_memory_bytes,
            cancel: budget.cancel,
        };
        let out = search(model, ops, &sops, &mut sub, true);
        budget.steps_used = sub.steps_used;
        match out {
            Outcome::NotLinearizable { .. } => Some(true),
            Outcome::Linearizable => Some(false),
            Outcome::Exhausted(e) => {
                self.inconclusive = true;
                if e == Exhausted::Cancelled
                    || budget.steps_used >= budget.max_steps
                    || budget.steps_used >= self.total_end
                {
                    self.exhausted = true;
                }
                None
            }
        }
    }
}

/// Renders `set` (indices into `ops`) as one line per op, bars placed by the
/// rank of their call/return in real-time order, each bar long enough to hold
/// its label:
///
/// ```text
/// c3  |----write(7)----|
/// c1        |--read() -> 5--|   <-- cannot be linearized
/// ```
///
/// Pending ops end in `>` at the right margin.
pub(crate) fn timeline<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    set: &[usize],
    culprit: Option<(usize, &str)>,
) -> String {
    let mut set: Vec<usize> = set.to_vec();
    set.sort_by_key(|&i| (ops[i].call, i));
    let mut out = String::new();
    if set.len() > MAX_TIMELINE_LINES {
        let hidden = set.len() - MAX_TIMELINE_LINES;
        out.push_str(&format!("({hidden} earlier ops not shown)\n"));
        set.drain(..hidden);
    }
    let ret_of = |i: usize| {
        let o = &ops[i];
        if o.ret == PENDING {
            PENDING
        } else {
            o.ret.max(o.call)
        }
    };
    let mut times: Vec<u64> = Vec::new();
    for &i in &set {
        times.push(ops[i].call);
        if ret_of(i) != PENDING {
            times.push(ret_of(i));
        }
    }
    times.sort_unstable();
    times.dedup();
    let rank = |t: u64| times.partition_point(|&x| x < t);
    let labels: Vec<String> = set
        .iter()
        .map(|&i| model.describe(&ops[i].input, &ops[i].output))
        .collect();

    let widths: Vec<usize> = labels.iter().map(|l| l.chars().count()).collect();
    let names: Vec<String> = set.iter().map(|&i| format!("c{}", ops[i].client)).collect();
    let name_w = names.iter().map(String::len).max().unwrap_or(0) + 2;
    let calls: Vec<usize> = set.iter().map(|&i| rank(ops[i].call)).collect();
    let rets: Vec<Option<usize>> = set
        .iter()
        .map(|&i| (ret_of(i) != PENDING).then(|| rank(ret_of(i))))
        .collect();

    // Wide layout: column of each rank at least 2 past the previous one and
    // far enough right of every call ending there for "|--label--|" to fit.
    let mut x = vec![0usize; times.len()];
    for r in 0..times.len() {
        if r > 0 {
            x[r] = x[r - 1] + 2;
        }
        for k in 0..set.len() {
            if rets[k] == Some(r) {
                x[r] = x[r].max(x[calls[k]] + widths[k] + 5);
            }
        }
    }
    let mut right = x.last().copied().unwrap_or(0);
    for k in 0..set.len() {
        if rets[k].is_none() {
            right = right.max(x[calls[k]] + widths[k] + 5);
        }
    }
    // Compact layout when that gets too wide: 3 columns per rank, label
    // after the bar.
    let compact = right + 3 > MAX_WIDE_COLUMNS;
    if compact {
        for (r, xr) in x.iter_mut().enumerate() {
            *xr = 3 * r;
        }
        right = x.last().copied().unwrap_or(0);
    }
    let open_end = right + 3;

    for k in 0..set.len() {
        let start = x[calls[k]];
        let end = rets[k].map_or(open_end, |r| x[r]);
        let mut line = format!("{:<name_w$}", names[k]);
        line.push_str(&" ".repeat(start));
        line.push('|');
        let inner = end - start - 1;
        if compact {
            line.push_str(&"-".repeat(inner));
        } else {
            let dashes = inner.saturating_sub(widths[k]);
            let left = dashes / 2;
            line.push_str(&"-".repeat(left));
            line.push_str(&labels[k]);
            line.push_str(&"-".repeat(dashes - left));
        }
        line.push(if rets[k].is_none() { '>' } else { '|' });
        if compact {
            line.push_str("  ");
            line.push_str(&labels[k]);
        }
        if let Some((c, mark)) = culprit {
            if set[k] == c {
                line.push_str("   ");
                line.push_str(mark);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
