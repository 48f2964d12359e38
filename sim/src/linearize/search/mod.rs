//! Just-in-time linearization search over one partition (see the module docs
//! of [`crate::linearize`] for the algorithm and references).
//!
//! Completed ops live in a doubly-linked list of call/return entries in time
//! order; placing (linearizing) an op lifts both of its entries out. The
//! candidates of a configuration are the call entries before the first
//! remaining return entry. Pending ops (no return) live in a second list and
//! are tried after the completed candidates — except a pending reset that
//! forward checking found some read to depend on, which is tried first.
//! The search is resumable (`resume` with a step slice) so that partitions
//! can be interleaved.
//!
//! The explainer's re-checks relax most ops of a history into pending ones,
//! which the plain search handles badly (any subset, in any order, may take
//! effect anywhere); they switch on extra pruning for that case, see
//! [`Search::with_pruning`].
//!
//! The constructor and the pruning rules are in `prune`, the list
//! operations and the search loop in `run`.

mod prune;
mod run;

use super::memo::{Memo, Visit};
use super::table::{Interner, U64Map};
use super::{Budget, Exhausted, Model, Operation};

const NIL: u32 = u32::MAX;
/// Transition-cache value meaning "the model rejects this step".
const ILLEGAL: u32 = u32::MAX;
/// Forward checking looks at every invoked read-like op and at this many
/// not yet invoked ones (the next in call order): a wrong placement often
/// shows only in a read that starts a little later.
const FC_LOOKAHEAD: u32 = 4;
/// How many pending placements back [`Search::run_dominated`] looks.
const RUN_LOOKBACK: usize = 16;
/// How many list entries [`Search::irrelevance`] looks at.
const IRRELEVANCE_WALK: u32 = 64;
/// [`Search::reachable`] gives up beyond this many target states.
const MAX_TARGETS: usize = 16;
/// Memo-key state of configurations whose state is irrelevant.
const ANY_STATE: u32 = u32::MAX - 1;
/// How often (in steps) the cancel callback and the memory cap are polled.
const POLL_EVERY: u64 = 4096;

/// One operation as the search sees it: an interval and the index of the
/// full operation (input/output) in the caller's slice.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SearchOp {
    pub(crate) call: u64,
    /// `u64::MAX`: optional — may take effect at any point after `call`, or
    /// never (pending / indeterminate, or relaxed by the explainer).
    pub(crate) ret: u64,
    pub(crate) orig: usize,
}

/// Outcome of searching one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Linearizable,
    /// `lower` is the time of the furthest return any explored
    /// configuration reached: the shortest non-linearizable prefix ends at
    /// or after it (forward checking can abandon a configuration before the
    /// return it would fail at, so it is a bound, not the answer).
    NotLinearizable {
        lower: u64,
    },
    Exhausted(Exhausted),
}

/// How a stack frame's op was chosen.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Choice {
    /// Candidate `i` of the parent's candidate list.
    Cand(u32),
    /// The only child explored (it dominates its siblings).
    Forced(u32),
    /// Pending op `p`.
    Pend(u32),
    /// Pending op `p`, tried before the completed candidates.
    Pref(u32),
}

#[derive(Clone, Copy)]
struct Frame {
    choice: Choice,
    /// Main-list call entry of the op (for `Cand`/`Forced`).
    entry: u32,
    prev_state: u32,
    /// The parent's level, restored on backtrack.
    level: Level,
}

/// Where the candidates of the current configuration are.
#[derive(Clone, Copy)]
struct Level {
    /// Offset of its candidate list (sorted by return time) in `cands`.
    base: u32,
    len: u32,
    /// First return entry not yet passed (bounds the pending candidates).
    r: u32,
    /// Pending op tried first at this level (see `fresh`), or `NIL`.
    pref: u32,
    /// Which pending ops may be tried at this level.
    pend: Pend,
}

/// Which pending ops a configuration tries (see [`Search::irrelevance`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pend {
    All,
    /// Only blind ones ([`Model::is_blind`]).
    Blind,
    None,
}

#[derive(Clone, Copy)]
enum Pos {
    /// Just entered a configuration: build its candidate list, look for a
    /// forced move.
    Fresh,
    /// Trying the level's preferred pending op.
    Pref,
    /// Trying completed candidate `i` of the current level.
    Cand(u32),
    /// Trying pending ops from this one on.
    Pend(u32),
    /// The current configuration has no children left: pop.
    Backtrack,
}

/// Why the search loop stopped without a verdict.
enum Stop {
    Exhausted(Exhausted),
    /// The slice given to [`Search::resume`] is used up.
    Pause,
}

pub(crate) struct Search<'m, M: Model> {
    model: &'m M,
    ops: &'m [Operation<M::Input, M::Output>],
    /// Original index per search op: completed ops `0..n`, then pending.
    orig: Vec<usize>,
    n: usize,
    // Main list: entries `0..2n` sorted by time, head sentinel at `2n`.
    next: Vec<u32>,
    prev: Vec<u32>,
    ent_op: Vec<u32>,
    ent_is_call: Vec<bool>,
    ent_time: Vec<u64>,
    call_entry: Vec<u32>,
    ret_entry: Vec<u32>,
    head: u32,
    // Pending list: `0..k` sorted by call, head sentinel at `k`.
    pnext: Vec<u32>,
    pprev: Vec<u32>,
    pcall: Vec<u64>,
    /// Previous pending op (in call order) with identical input and output,
    /// or `NIL`. Identical pending ops are interchangeable, so only the
    /// earliest unplaced one of each class is ever a candidate: the placed
    /// ones of a class always form a prefix, and `{p}` vs `{q}` never both
    /// get explored.
    prev_same: Vec<u32>,
    /// Whether each pending op is currently placed.
    placed: Vec<bool>,
    phead: u32,
    interner: Interner<M::State>,
    trans: U64Map,
    // Forward checking (see `Model::required_state`).
    /// Any completed op has a required state.
    fc: bool,
    /// Required state id per completed op, or `NIL`.
    req: Vec<u32>,
    /// Per completed op: `Model::is_read_only`.
    read_only: Vec<bool>,
    /// Return time per completed op.
    ret_time: Vec<u64>,
    /// Unplaced completed ops with a required state, a linked list in call
    /// order over completed op indices, head sentinel at `n`.
    rl_next: Vec<u32>,
    rl_prev: Vec<u32>,
    /// Cache of `state_le(a, b)` keyed `a << 32 | b`, value 0/1.
    le_cache: U64Map,
    /// Unplaced non-monotone ops (search indices), a linked list over
    /// positions `0..j` in call order, head sentinel at `j`.
    nm_next: Vec<u32>,
    nm_prev: Vec<u32>,
    nm_call: Vec<u64>,
    /// `Model::reset_floor` state id per list position, or `NIL`.
    nm_floor: Vec<u32>,
    /// Search op index per list position.
    nm_op: Vec<u32>,
    /// Position in that list per search op, or `NIL` if monotone.
    nm_pos: Vec<u32>,
    nm_head: u32,
    memo: Memo,
    /// Pending ops currently placed, sorted.
    cur_p: Vec<u32>,
    /// Scratch: unplaced completed ops invoked before the first return.
    ubuf: Vec<u32>,
    /// Candidate lists of all levels on the stack, back to back.
    cands: Vec<u32>,
    /// `steps` at which the budget runs out (set by `resume`).
    budget_end: u64,
    steps: u64,
    // Loop state, kept here so a search can pause and resume.
    stack: Vec<Frame>,
    pos: Pos,
    level: Level,
    state: u32,
    max_r: u32,
    started: bool,
    /// Extra pruning for the explainer's re-checks of relaxed histories
    /// (many pending ops): see [`Search::with_pruning`].
    relaxed: bool,
    /// Per search op (completed, then pending): [`Model::is_total`] and
    /// [`Model::is_blind`]; filled only when `relaxed`.
    total: Vec<bool>,
    blind: Vec<bool>,
    /// Per search op: [`Model::precondition`] state id, or `NIL`; filled
    /// only when `relaxed`.
    pre: Vec<u32>,
    /// Pending ops the configuration just entered tries (see
    /// [`Search::irrelevance`]).
    entered_pend: Pend,
    /// Scratch: required states of the current candidates.
    tbuf: Vec<u32>,
}

/// Runs the search on `sops` (indices into `ops`) to the end, charging
/// `budget`; `relaxed` as in [`Search::with_pruning`].
pub(crate) fn search<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    sops: &[SearchOp],
    budget: &mut Budget<'_>,
    relaxed: bool,
) -> Outcome {
    let mut s = Search::with_pruning(model, ops, sops, relaxed);
    loop {
        if let Some(out) = s.resume(budget, u64::MAX) {
            return out;
        }
    }
}

impl<'m, M: Model> Search<'m, M> {
    pub(crate) fn new(model: &'m M, ops: &'m [Operation<M::Input, M::Output>], sops: &[SearchOp]) -> Self {
        Self::with_pruning(model, ops, sops, false)
    }

    /// Memory held by this search's tables (deterministic).
    pub(crate) fn memory(&self) -> u64 {
        (self.memo.bytes()
            + self.trans.bytes()
            + self.le_cache.bytes()
            + self.interner.bytes()
            + self.next.len() * 32
            + (self.cands.capacity() + self.ubuf.capacity()) * 4
            + self.stack.capacity() * std::mem::size_of::<Frame>()) as u64
    }

    /// Runs for at most `slice` more steps. Returns the outcome, or `None`
    /// if the slice ran out first (call again to continue). Charges the
    /// steps taken to `budget`.
    pub(crate) fn resume(&mut self, budget: &mut Budget<'_>, slice: u64) -> Option<Outcome> {
        let before = self.steps;
        // `budget.steps_used` already holds this search's earlier slices: what is left of it
        // counts from here.
        self.budget_end = self.steps.saturating_add(budget.remaining());
        let end = self.steps.saturating_add(slice).min(self.budget_end);
        let r = self.run(budget, end);
        budget.steps_used = budget.steps_used.saturating_add(self.steps - before);
        match r {
            Ok(o) => Some(o),
            Err(Stop::Exhausted(e)) => Some(Outcome::Exhausted(e)),
            Err(Stop::Pause) => None,
        }
    }

    /// Counts one step; polls cancellation and memory every `POLL_EVERY`.
    /// `end` is where this slice stops: its own length or the budget's end.
    #[inline]
    fn tick(&mut self, budget: &Budget<'_>, end: u64) -> Result<(), Stop> {
        if self.steps >= end {
            return Err(if self.steps >= self.budget_end {
                Stop::Exhausted(Exhausted::Steps)
            } else {
                Stop::Pause
            });
        }
        self.steps += 1;
        if self.steps.is_multiple_of(POLL_EVERY) {
            if let Some(cancel) = budget.cancel {
                if cancel() {
                    return Err(Stop::Exhausted(Exhausted::Cancelled));
                }
            }
            if self.memory() > budget.max_memory_bytes {
                return Err(Stop::Exhausted(Exhausted::Memory));
            }
        }
        Ok(())
    }

    /// The model transition for op `op` (search index) from state `st`,
    /// memoised: the search revisits the same (state, op) pair from many
    /// configurations.
    #[inline]
    fn transition(&mut self, st: u32, op: u32) -> Option<u32> {
        let key = (u64::from(st) << 32) | u64::from(op);
        if let Some(v) = self.trans.get(key) {
            return (v != ILLEGAL).then_some(v);
        }
        let o = &self.ops[self.orig[op as usize]];
        let next = self
            .model
            .step(&self.interner.states[st as usize], &o.input, &o.output);
        let v = match next {
            Some(s) => self.interner.intern(s),
            None => ILLEGAL,
        };
        self.trans.insert_new(key, v);
        (v != ILLEGAL).then_some(v)
    }

    /// After placing an op in state `ns`: memo lookup of the new
    /// configuration (whose frontier is computed here, leaving its candidates
    /// in `ubuf`). `Ok(None)` = every completed op is placed.
    fn enter(&mut self, ns: u32) -> Result<Option<Visit>, Stop> {
        let r = self.frontier();
        if r == NIL {
            return Ok(None);
        }
        let irrelevant = if self.relaxed {
            self.irrelevance(ns)
        } else {
            Pend::All
        };
        let key_state = if irrelevant == Pend::All { ns } else { ANY_STATE };
        let h = Memo::hash_key(r, key_state, &self.ubuf);
        match self.memo.visit(h, r, key_state, &self.ubuf, &self.cur_p) {
            Visit::Full => Err(Stop::Exhausted(Exhausted::Memory)),
            Visit::New => {
                self.max_r = self.max_r.max(r);
                self.level.r = r;
                self.entered_pend = irrelevant;
                Ok(Some(Visit::New))
            }
            Visit::Seen => Ok(Some(Visit::Seen)),
        }
    }

    fn push(&mut self, choice: Choice, entry: u32, parent: Level, ns: u32) {
        self.stack.push(Frame {
            choice,
            entry,
            prev_state: self.state,
            level: parent,
        });
        self.state = ns;
        self.pos = Pos::Fresh;
    }

    fn failure(&self) -> Outcome {
        Outcome::NotLinearizable {
            lower: self.ent_time[self.max_r as usize],
        }
    }

    /// Steps taken so far.
    pub(crate) fn steps(&self) -> u64 {
        self.steps
    }
}
