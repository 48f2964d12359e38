//! Linearizability checking of recorded client histories.
//!
//! # Problem
//!
//! A history is a set of [`Operation`]s, each with an invocation time
//! (`call`), a completion time (`ret`) and an observed input/output. It is
//! *linearizable* (Herlihy & Wing 1990) with respect to a sequential
//! [`Model`] if every operation can be assigned a single point between its
//! call and its return such that executing the operations in point order on
//! the model reproduces every observed output. Operations whose outcome is
//! unknown (a client timeout: Jepsen's `:info`) have `ret = u64::MAX`: they
//! may take effect at any point after their call, or never, and their output
//! (normally "unknown") is checked only if they are placed.
//!
//! # Algorithm
//!
//! * **Just-in-time linearization search** (Wing & Gong 1993, improved by
//!   Lowe 2017 and implemented this way by Porcupine): call and return events
//!   sit in a doubly-linked list in time order. The search repeatedly picks a
//!   call entry that precedes the first remaining return entry, applies it to
//!   the model, and if legal *lifts* it (and its return) out of the list;
//!   reaching a return entry means the corresponding op can no longer be
//!   placed, so the search backtracks (unlifts the most recent choice).
//!   Candidates are tried in order of their return time (earliest deadline
//!   first) rather than call time: a long-running op tried first would be
//!   placed too early in most branches.
//! * **Memoisation** (Lowe 2017): a configuration (set of linearized ops,
//!   model state) is explored at most once. The set is stored compactly as
//!   "first unpassed return + the ops invoked before it that are still
//!   unplaced", so a memo entry costs O(concurrency), not O(history length).
//!   Model states are hash-consed to integer ids and model transitions are
//!   cached per (state, op), so the model runs once per distinct pair.
//! * **Indeterminate operations** (our additions): pending ops are tried
//!   after the completed candidates; one that leaves the state unchanged is
//!   never placed; identical pending ops (same input and output) are
//!   interchangeable, so only the earliest unplaced one is a candidate; and a
//!   configuration is skipped when a visited one has the same key and placed
//!   a *subset* of its pending ops (a pending op may also never happen).
//!   Without these, each indeterminate write multiplies the search space.
//! * **Pruning through optional model hooks** (our additions; the defaults
//!   switch them off, so a custom model only has to be correct):
//!   [`Model::is_read_only`] ops that are legal now are placed at once
//!   without branching (they could be moved to this point in any
//!   linearization); and *forward checking* with [`Model::required_state`],
//!   [`Model::is_monotone`], [`Model::reset_floor`] and [`Model::state_le`]
//!   abandons a configuration as soon as some unplaced read (every invoked
//!   one and the next few) can no longer see its value, instead of at the
//!   read's return. For the kv model (appends only extend a string) this
//!   turns exponential backtracking into near-linear search; it is what
//!   "unique written values" pruning achieves, derived from the model.
//! * **P-compositionality** (Horn & Kroening 2015): [`Model::partition`]
//!   splits a history into independent sub-histories (e.g. per key); the
//!   history is linearizable iff every part is. Parts are searched
//!   round-robin in fixed slices of steps, so a part that fails quickly is
//!   found even if another would need a huge search.
//! * **Explanations**: the shortest non-linearizable prefix of the failing
//!   part is found (the search gives a lower bound; exact prefix checks
//!   gallop from there); its last return is the *culprit*. The explainer
//!   then extracts a small set of ops of that prefix that stays
//!   non-linearizable when every other op is *relaxed* (may happen at any
//!   point after its call, or not at all): growing it from the culprit,
//!   nearest ops first, with galloping and bisection over how many
//!   candidates must stay strict. Its re-checks, where most ops are
//!   pending, use extra pruning driven by the optional hooks
//!   [`Model::is_blind`], [`Model::is_total`] and [`Model::precondition`]:
//!   pending ops before a blind write that overwrites their effect are
//!   pointless, so is a state that such a write must overwrite before it
//!   can be observed, and so are runs of pending ops that can no longer
//!   reach a state the next op accepts.
//!
//! All verdicts depend only on the history and the step budget, never on
//! wall-clock time, so simulations stay deterministic; a wall-clock timeout
//! can be layered on top through [`Budget::cancel`].
//!
//! # References
//!
//! * J. M. Wing, C. Gong. *Testing and verifying concurrent objects.*
//!   J. Parallel Distrib. Comput. 17(1-2), 1993.
//! * G. Lowe. *Testing for linearizability.* Concurrency and Computation:
//!   Practice and Experience 29(4), 2017.
//! * A. Horn, D. Kroening. *Faster linearizability checking via
//!   P-compositionality.* FORTE 2015.
//! * A. Athalye. *Porcupine: a fast linearizability checker in Go.*
//!   <https://github.com/anishathalye/porcupine>

#![warn(missing_docs)]

mod explain;
pub mod formats;
pub mod kv;
mod memo;
pub mod register;
mod search;
pub(crate) mod table;
#[cfg(test)]
mod tests;

use std::fmt::Debug;
use std::hash::Hash;

pub use formats::{detect_format, Format, ParseError};
pub use kv::{KvHistoryOp, KvInput, KvModel, KvOp, KvOutput};
pub use register::{RegisterInput, RegisterModel, RegisterOp, RegisterOutput};

use search::{Outcome, Search, SearchOp};

pub(crate) use explain::timeline;

/// `ret` value of an operation that never completed (pending at the end of
/// the history, or indeterminate): it may take effect at any point after its
/// call, or never.
pub const PENDING: u64 = u64::MAX;

/// Steps a partition may run before the scheduler moves to the next one.
const SLICE_STEPS: u64 = 16_384;

/// Default for [`Budget::max_steps`] in [`Budget::default`].
pub const DEFAULT_MAX_STEPS: u64 = 100_000_000;

/// Default for [`Budget::max_memory_bytes`]: 2 GiB.
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 2 << 30;

/// One client operation of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// Client (process) that issued the operation. Only used for display.
    pub client: u64,
    /// Position of the invocation in the history's total real-time order.
    pub call: u64,
    /// Position of the completion in the same order, or [`PENDING`]. All
    /// `call`/`ret` values of a history should be distinct; on ties a call
    /// is ordered before a return (the two ops then count as concurrent).
    pub ret: u64,
    /// What the client asked for.
    pub input: I,
    /// What the client observed; for a pending op, a value the model treats
    /// as "unknown".
    pub output: O,
}

/// A sequential specification that histories are checked against.
///
/// Implement this to check your own data type. `step` must be a pure
/// function of its arguments: the checker caches its results per
/// (state, operation) pair.
pub trait Model {
    /// Model state. Hashed and compared to memoise the search, so it should
    /// be canonical (equal states must compare equal).
    type State: Clone + Eq + Ord + Hash + Debug;
    /// Operation input (e.g. "write 3"). `Eq + Hash` let the search treat
    /// identical pending operations as interchangeable (symmetry reduction).
    type Input: Clone + Debug + Eq + Hash;
    /// Operation output (e.g. "ok", "read 3"). Should have an "unknown"
    /// value accepted from every state, used for indeterminate operations.
    type Output: Clone + Debug + Eq + Hash;

    /// The initial state.
    fn init(&self) -> Self::State;

    /// Applies one operation: `Some(next_state)` if `output` is a legal
    /// result of `input` in `state`, `None` otherwise.
    fn step(&self, state: &Self::State, input: &Self::Input, output: &Self::Output) -> Option<Self::State>;

    /// Splits a history into independent parts, each a name and a list of
    /// indices into `ops`; every op must be in exactly one part (ops left out
    /// are not checked). Default: a single part `"all"`.
    fn partition(&self, ops: &[Operation<Self::Input, Self::Output>]) -> Vec<(String, Vec<usize>)> {
        vec![("all".to_string(), (0..ops.len()).collect())]
    }

    /// Short human-readable rendering of an operation, e.g. `read() -> 3`.
    fn describe(&self, input: &Self::Input, output: &Self::Output) -> String;

    /// Optional pruning hook: `true` if this op never changes the state
    /// (it may still be illegal in some states), e.g. a read or a failed cas.
    /// A read-only op that is legal right now is placed at once without
    /// trying alternatives: in any linearization it could be moved to this
    /// point. Default `false`, which is always sound.
    fn is_read_only(&self, _input: &Self::Input, _output: &Self::Output) -> bool {
        false
    }

    /// Optional pruning hook: the single state in which this op is legal,
    /// if there is one (e.g. a read's value, or the expected value of a
    /// successful compare-and-set). Used when re-checking relaxed histories
    /// for failure explanations, with [`Model::state_le`] and
    /// [`Model::reset_floor`]. Default: [`Model::required_state`].
    fn precondition(&self, input: &Self::Input, output: &Self::Output) -> Option<Self::State> {
        self.required_state(input, output)
    }

    /// Optional pruning hook: `true` if this op is legal in every state
    /// (e.g. a write, an append, or any op with an unknown outcome). Only
    /// used, together with [`Model::is_blind`], when re-checking relaxed
    /// histories for failure explanations. Default `false`, which is always
    /// sound.
    fn is_total(&self, _input: &Self::Input, _output: &Self::Output) -> bool {
        false
    }

    /// Optional pruning hook: `true` if this op is legal in every state and
    /// leads to one and the same state whatever the state before (a blind
    /// write, e.g. `put`). Used when re-checking relaxed histories for
    /// failure explanations: ops placed just before a blind write are
    /// pointless if they change nothing else. Default `false`, which is
    /// always sound.
    fn is_blind(&self, _input: &Self::Input, _output: &Self::Output) -> bool {
        false
    }

    /// Optional pruning hook (forward checking), used together with
    /// [`Model::is_monotone`] and [`Model::state_le`]: the single state in
    /// which this op is legal, if the op is read-like (legal in exactly that
    /// state and changes nothing). Default `None` (no pruning).
    fn required_state(&self, _input: &Self::Input, _output: &Self::Output) -> Option<Self::State> {
        None
    }

    /// Optional pruning hook: `true` if this op can only move the state
    /// upward in the preorder [`Model::state_le`] (from every state it is
    /// legal in), e.g. an append under the string prefix order. Default
    /// `false`, which is always sound.
    fn is_monotone(&self, _input: &Self::Input, _output: &Self::Output) -> bool {
        false
    }

    /// Optional pruning hook for a non-monotone op: a state `f` such that
    /// every state this op can produce is `>= f` or `>=` the state it was
    /// applied to (e.g. `put v` gives `v`; a cas gives `to` or changes
    /// nothing). `None` (the default) means "anything", which disables
    /// forward checking while such an op could still take effect.
    fn reset_floor(&self, _input: &Self::Input, _output: &Self::Output) -> Option<Self::State> {
        None
    }

    /// Optional pruning hook: a preorder on states that monotone ops never
    /// go down in. Only consulted when some op has a
    /// [`Model::required_state`]; the default (`true`) never prunes.
    ///
    /// How it is used: if a read-like op requiring state `v` is invoked but
    /// not yet placed, the state it will see is `>=` the current state `s`
    /// or `>=` the [`Model::reset_floor`] of some non-monotone op that could
    /// take effect before it returns. If neither can be `<= v`, the search
    /// abandons the configuration at once instead of at the read's return.
    fn state_le(&self, _a: &Self::State, _b: &Self::State) -> bool {
        true
    }
}

/// Work limits for a check.
///
/// Every candidate transition the search tries costs one step, so memo
/// growth is bounded by the step count; memory is additionally capped by
/// `max_memory_bytes` (computed from table sizes, hence deterministic).
/// Running out of either yields [`Verdict::Unknown`], never a wrong verdict.
pub struct Budget<'a> {
    /// Maximum total steps (compared with `steps_used`).
    pub max_steps: u64,
    /// Steps spent so far; incremented by every check using this budget.
    pub steps_used: u64,
    /// Cap on the memory of the search tables of all partitions being
    /// searched at once (computed from table sizes, so deterministic).
    pub max_memory_bytes: u64,
    /// Polled every few thousand steps; returning `true` aborts the check
    /// with [`Verdict::Unknown`]. Meant for wall-clock timeouts in the CLI;
    /// leave `None` inside simulations so verdicts stay deterministic.
    pub cancel: Option<&'a dyn Fn() -> bool>,
}

impl Budget<'_> {
    /// A budget of `max_steps` steps, default memory cap, no cancellation.
    pub fn new(max_steps: u64) -> Self {
        Budget {
            max_steps,
            steps_used: 0,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
            cancel: None,
        }
    }

    /// Steps left before the budget is exhausted.
    pub fn remaining(&self) -> u64 {
        self.max_steps.saturating_sub(self.steps_used)
    }
}

impl Default for Budget<'_> {
    fn default() -> Self {
        Budget::new(DEFAULT_MAX_STEPS)
    }
}

/// Outcome of a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every partition has a linearization.
    Linearizable,
    /// Some partition provably has none.
    NotLinearizable,
    /// No partition failed, but some could not be decided within the budget.
    Unknown,
}

/// Why a check gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exhausted {
    /// [`Budget::max_steps`] reached.
    Steps,
    /// [`Budget::max_memory_bytes`] reached.
    Memory,
    /// [`Budget::cancel`] returned `true`.
    Cancelled,
}

/// Result of [`check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    /// The verdict.
    pub verdict: Verdict,
    /// Steps spent by this call (search plus explanation).
    pub steps: u64,
    /// Number of partitions the model split the history into.
    pub partitions: usize,
    /// Set when the verdict is [`Verdict::NotLinearizable`].
    pub failure: Option<Failure>,
    /// Set when some partition gave up (the verdict is then `Unknown`,
    /// unless another partition failed).
    pub exhausted: Option<Exhausted>,
}

/// Explanation of a non-linearizable partition. All indices refer to the
/// `ops` slice passed to [`check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Name of the failing partition (e.g. the key).
    pub partition: String,
    /// The op whose completion no linearization can get past: the history
    /// up to its return is the shortest non-linearizable prefix.
    pub culprit: usize,
    /// Number of ops of the partition invoked within that prefix.
    pub prefix_len: usize,
    /// A small failing sub-history, sorted by call: these ops cannot be
    /// linearized even if every other op of the prefix is allowed to take
    /// effect at any point after its invocation, or not at all. Contains the
    /// culprit.
    pub ops: Vec<usize>,
    /// The ops of `ops` other than the culprit, i.e. what it conflicts with.
    pub conflicting: Vec<usize>,
    /// `true` if `ops` is 1-minimal (relaxing any one of them makes the
    /// history linearizable); `false` if the re-check bound or the budget
    /// stopped minimisation early, or explanations were disabled.
    pub minimal: bool,
    /// Fixed-width text rendering of `ops`, one line per op, bars scaled to
    /// the real-time order.
    pub timeline: String,
}

/// Options for [`check_with`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckOptions {
    /// Compute a minimised [`Failure`] (costs extra searches on failure).
    pub explain: bool,
    /// Upper bound on the re-checks the minimisation may run.
    pub max_explain_rechecks: usize,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            explain: true,
            max_explain_rechecks: 256,
        }
    }
}

/// Checks `ops` against `model` with default options (explanations on).
/// An empty history is linearizable.
pub fn check<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    budget: &mut Budget<'_>,
) -> CheckResult {
    check_with(model, ops, budget, &CheckOptions::default())
}

/// Checks `ops` against `model`, partition by partition.
///
/// Partitions are searched round-robin in slices of a few thousand steps,
/// so a partition that fails quickly is found even when another one would
/// need a huge search (a non-linearizable partition can be exponentially
/// expensive to refute). The first partition found non-linearizable decides
/// the verdict. The order is fixed, so results are deterministic.
pub fn check_with<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    budget: &mut Budget<'_>,
    options: &CheckOptions,
) -> CheckResult {
    let start = budget.steps_used;
    let parts = model.partition(ops);
    let mut exhausted = None;
    let mut failure = None;
    // Undecided partitions: (index into `parts`, its ops, its search once
    // started). A search is created on first use and dropped once decided.
    type Live<'a, M> = (usize, Vec<SearchOp>, Option<Search<'a, M>>);
    let mut live: Vec<Live<'_, M>> = parts
        .iter()
        .enumerate()
        .map(|(pi, (_, idx))| {
            let sops = idx
                .iter()
                .map(|&i| {
                    assert!(i < ops.len(), "Model::partition returned index {i} out of range");
                    SearchOp {
                        call: ops[i].call,
                        ret: ops[i].ret,
                        orig: i,
                    }
                })
                .collect();
            (pi, sops, None)
        })
        .collect();
    'rounds: while !live.is_empty() {
        // Decided partitions are marked here and dropped after the round
        // (removing them one by one would be quadratic with many keys).
        let mut decided = vec![false; live.len()];
        for i in 0..live.len() {
            let (pi, sops, slot) = &mut live[i];
            let search = slot.get_or_insert_with(|| Search::new(model, ops, sops));
            match search.resume(budget, SLICE_STEPS) {
                None => continue,
                Some(Outcome::Linearizable) => {}
                Some(Outcome::NotLinearizable { lower }) => {
                    let search_steps = search.steps();
                    let name = &parts[*pi].0;
                    let sops = sops.to_vec();
                    live.clear(); // free the other searches before explaining
                    failure = Some(explain::explain(
                        model,
                        ops,
                        name,
                        &sops,
                        lower,
                        search_steps,
                        budget,
                        options,
                    ));
                    break 'rounds;
                }
                Some(Outcome::Exhausted(e)) => {
                    exhausted = Some(e);
                    // Steps and cancellation are global: nothing else can
                    // be decided. Memory is freed by dropping this search.
                    if e != Exhausted::Memory {
                        break 'rounds;
                    }
                }
            }
            decided[i] = true;
            *slot = None;
        }
        let mut k = 0;
        live.retain(|_| {
            k += 1;
            !decided[k - 1]
        });
        // Keep the searches still running within the memory cap together:
        // give up on the hungriest ones first.
        loop {
            let total: u64 = live.iter().filter_map(|l| l.2.as_ref().map(Search::memory)).sum();
            if total <= budget.max_memory_bytes {
                break;
            }
            let Some((at, _)) = live
                .iter()
                .enumerate()
                .filter_map(|(k, l)| l.2.as_ref().map(|s| (k, s.memory())))
                .max_by_key(|&(k, m)| (m, std::cmp::Reverse(k)))
            else {
                break;
            };
            live.remove(at);
            exhausted = Some(Exhausted::Memory);
        }
    }
    let verdict = if failure.is_some() {
        Verdict::NotLinearizable
    } else if exhausted.is_some() {
        Verdict::Unknown
    } else {
        Verdict::Linearizable
    };
    CheckResult {
        verdict,
        steps: budget.steps_used - start,
        partitions: parts.len(),
        failure,
        exhausted,
    }
}
