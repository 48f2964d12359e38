//! Turning a failed search into a small, sound explanation.
//!
//! Starting point: the search's culprit and the shortest non-linearizable
//! prefix (everything invoked before the culprit's return). Inside that
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
    culprit: usize,
    prefix_time: u64,
    budget: &mut Budget<'_>,
    options: &CheckOptions,
) -> Failure {
    let mut prefix: Vec<SearchOp> = sops
        .iter()
        .copied()
        .filter(|o| o.call <= prefix_time)
        .collect();
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

    let mut strict: Vec<bool> = prefix
        .iter()
        .map(|o| eff_ret(o) <= prefix_time)
        .collect();
    let strict_set = |strict: &[bool]| -> Vec<usize> {
        prefix
            .iter()
            .zip(strict)
            .filter(|(_, &s)| s)
            .map(|(o, _)| o.orig)
            .collect()
    };

    // Each re-check may cost a few times the prefix's own search.
    let mut checker = ReChecker {
        prefix: &prefix,
        per_check: 0,
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
    checker.per_check = (budget.steps_used - before).saturating_mul(8).max(200_000);

    let candidates: Vec<usize> = (0..prefix.len())
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
        minimal: !checker.inconclusive,
    }
}

struct ReChecker<'p> {
    prefix: &'p [SearchOp],
    per_check: u64,
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
        if self.rechecks >= self.max_rechecks {
            self.inconclusive = true;
            return None;
        }
        self.rechecks += 1;
        self.non_linearizable(model, ops, strict, budget, self.per_check)
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

    // Column of each rank: at least 2 past the previous one, and far enough
    // right of every call ending here for "|--label--|" to fit.
    let mut x = vec![0usize; times.len()];
    for r in 0..times.len() {
        if r > 0 {
            x[r] = x[r - 1] + 2;
        }
        for (k, &i) in set.iter().enumerate() {
            if ret_of(i) != PENDING && rank(ret_of(i)) == r {
                let need = x[rank(ops[i].call)] + labels[k].chars().count() + 5;
                x[r] = x[r].max(need);
            }
        }
    }
    let mut right = x.last().copied().unwrap_or(0);
    for (k, &i) in set.iter().enumerate() {
        if ret_of(i) == PENDING {
            right = right.max(x[rank(ops[i].call)] + labels[k].chars().count() + 5);
        }
    }
    let open_end = right + 3;

    let names: Vec<String> = set.iter().map(|&i| format!("c{}", ops[i].client)).collect();
    let name_w = names.iter().map(String::len).max().unwrap_or(0) + 2;
    for (k, &i) in set.iter().enumerate() {
        let start = x[rank(ops[i].call)];
        let pending = ret_of(i) == PENDING;
        let end = if pending {
            open_end
        } else {
            x[rank(ret_of(i))]
        };
        let label = &labels[k];
        let inner = end - start - 1;
        let dashes = inner.saturating_sub(label.chars().count());
        let left = dashes / 2;
        let mut line = format!("{:<name_w$}", names[k]);
        line.push_str(&" ".repeat(start));
        line.push('|');
        line.push_str(&"-".repeat(left));
        line.push_str(label);
        line.push_str(&"-".repeat(dashes - left));
        line.push(if pending { '>' } else { '|' });
        if Some(i) == culprit {
            line.push_str("   <-- cannot be linearized");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
