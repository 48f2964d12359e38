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
//! Minimisation relaxes strict ops one at a time and keeps each relaxation
//! that leaves the history non-linearizable. Relaxing (rather than deleting)
//! matters: deleting the write that a read observed would make the read
//! fail on its own and yield a bogus "explanation"; relaxing lets the write
//! float, so it is kept as long as the conflict depends on it. The result
//! is 1-minimal: relaxing any single remaining op makes the history
//! linearizable (relaxing more ops only adds linearizations, so one pass
//! suffices).

use super::search::{search, Outcome, SearchOp};
use super::{Budget, CheckOptions, Failure, Model, Operation, PENDING};

/// Chunk size of the coarse pass used on long prefixes before the
/// one-by-one pass.
const CHUNK: usize = 8;
/// A re-check may take this many times the steps of the search of the
/// failing prefix (at least `PER_CHECK_MIN`). Relaxed ops make searches
/// costlier; an inconclusive re-check just keeps the op.
const PER_CHECK_FACTOR: u64 = 4;
const PER_CHECK_MIN: u64 = 20_000;
/// All re-checks together may take this many times the steps of the search
/// of the failing prefix (at least `TOTAL_MIN`).
const TOTAL_FACTOR: u64 = 16;
const TOTAL_MIN: u64 = 250_000;
/// Above this width the timeline puts labels after the bars instead of
/// inside them.
const MAX_WIDE_COLUMNS: usize = 100;
/// Prefixes with more strict ops than this get the coarse pass first.
const COARSE_ABOVE: usize = 32;
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
        timeline: timeline(model, ops, &ops_set, Some(culprit)),
        ops: ops_set,
        minimal: false,
    };
    if !options.explain {
        return unminimised(vec![culprit]);
    }

    let mut strict: Vec<bool> = prefix.iter().map(|o| eff_ret(o) <= prefix_time).collect();
    let strict_set = |strict: &[bool]| -> Vec<usize> {
        prefix
            .iter()
            .zip(strict)
            .filter(|(_, &s)| s)
            .map(|(o, _)| o.orig)
            .collect()
    };

    let mut checker = ReChecker {
        prefix: &prefix,
        per_check: 0,
        total_end: u64::MAX,
        rechecks: 0,
        max_rechecks: options.max_explain_rechecks,
        inconclusive: false,
    };
    let before = budget.steps_used;
    match checker.non_linearizable(model, ops, &strict, budget, u64::MAX) {
        Some(true) => {}
        // Cannot happen by construction (see module docs); stay honest and
        // report the unminimised strict prefix if it does.
        _ => return unminimised(strict_set(&strict)),
    }
    let prefix_steps = budget.steps_used - before;
    checker.per_check = prefix_steps.saturating_mul(PER_CHECK_FACTOR).max(PER_CHECK_MIN);
    checker.total_end = budget
        .steps_used
        .saturating_add(prefix_steps.saturating_mul(TOTAL_FACTOR).max(TOTAL_MIN));

    // Nearest to the culprit first: a relaxed op floats from its call to the
    // end of the prefix, so late ones make cheap re-checks; and ops far from
    // the conflict are then tried against an already small strict set.
    let candidates: Vec<usize> = (0..prefix.len())
        .rev()
        .filter(|&i| strict[i] && prefix[i].orig != culprit)
        .collect();
    if candidates.len() > COARSE_ABOVE {
        for chunk in candidates.chunks(CHUNK) {
            for &i in chunk {
                strict[i] = false;
            }
            if checker.try_relax(model, ops, &strict, budget) != Some(true) {
                for &i in chunk {
                    strict[i] = true;
                }
            }
        }
    }
    for &i in &candidates {
        if !strict[i] {
            continue;
        }
        strict[i] = false;
        if checker.try_relax(model, ops, &strict, budget) != Some(true) {
            strict[i] = true;
        }
    }

    let set = strict_set(&strict);
    Failure {
        partition: partition.to_string(),
        culprit,
        prefix_len,
        conflicting: set.iter().copied().filter(|&i| i != culprit).collect(),
        timeline: timeline(model, ops, &set, Some(culprit)),
        ops: set,
        minimal: exact && !checker.inconclusive,
    }
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
        let out = search(model, ops, &prefix_ops(sops, rets[i].0), &mut sub);
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
    /// Some re-check was skipped or ran out of budget.
    inconclusive: bool,
}

impl ReChecker<'_> {
    /// A bounded re-check; `None` when the bound or budget stopped it.
    fn try_relax<M: Model>(
        &mut self,
        model: &M,
        ops: &[Operation<M::Input, M::Output>],
        strict: &[bool],
        budget: &mut Budget<'_>,
    ) -> Option<bool> {
        if self.rechecks >= self.max_rechecks || budget.steps_used >= self.total_end {
            self.inconclusive = true;
            return None;
        }
        self.rechecks += 1;
        let limit = self.per_check.min(self.total_end - budget.steps_used);
        self.non_linearizable(model, ops, strict, budget, limit)
    }

    fn non_linearizable<M: Model>(
        &mut self,
        model: &M,
        ops: &[Operation<M::Input, M::Output>],
        strict: &[bool],
        budget: &mut Budget<'_>,
        limit: u64,
    ) -> Option<bool> {
        let sops: Vec<SearchOp> = self
            .prefix
            .iter()
            .zip(strict)
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
        let out = search(model, ops, &sops, &mut sub);
        budget.steps_used = sub.steps_used;
        match out {
            Outcome::NotLinearizable { .. } => Some(true),
            Outcome::Linearizable => Some(false),
            Outcome::Exhausted(_) => {
                self.inconclusive = true;
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
    culprit: Option<usize>,
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
        if Some(set[k]) == culprit {
            line.push_str("   <-- cannot be linearized");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
