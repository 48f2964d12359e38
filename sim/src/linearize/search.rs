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

    /// A search; `relaxed` switches on pruning meant for histories with
    /// many pending ops, such as the explainer's relaxed re-checks (each
    /// rule is sound on its own; they are off in the main search only to
    /// keep its step counts as they were):
    ///
    /// * *run dominance* ([`Search::run_dominated`]): an op placed after a
    ///   run of pending ops that it makes pointless is skipped;
    /// * *irrelevant states* ([`Search::irrelevance`]): when a blind write
    ///   must come before anything can observe the state, the state is left
    ///   out of the memo key and only blind pending ops (or none) are tried;
    /// * *dead runs* ([`Search::dead_run`]): a run of pending ops that can
    ///   no longer lead to a state some candidate accepts is abandoned;
    /// * forward checking also covers ops with a [`Model::precondition`]
    ///   (e.g. a successful cas), not only read-like ones.
    pub(crate) fn with_pruning(
        model: &'m M,
        ops: &'m [Operation<M::Input, M::Output>],
        sops: &[SearchOp],
        relaxed: bool,
    ) -> Self {
        let mut done: Vec<SearchOp> = Vec::new();
        let mut pend: Vec<SearchOp> = Vec::new();
        for &o in sops {
            if o.ret == u64::MAX {
                pend.push(o);
            } else {
                // A return before its call is malformed; treating the op as
                // instantaneous at its call is the least surprising reading.
                done.push(SearchOp {
                    ret: o.ret.max(o.call),
                    ..o
                });
            }
        }
        done.sort_by_key(|o| (o.call, o.orig));
        pend.sort_by_key(|o| (o.call, o.orig));
        let n = done.len();
        let k = pend.len();
        assert!(n < (1 << 30) && k < (1 << 30), "history too large");

        // (time, is_return, op): on equal times calls sort first, so ops
        // that touch at one instant count as concurrent (never a false
        // "not linearizable" from a tie).
        let mut evs: Vec<(u64, bool, u32)> = Vec::with_capacity(2 * n);
        for (i, o) in done.iter().enumerate() {
            evs.push((o.call, false, i as u32));
            evs.push((o.ret, true, i as u32));
        }
        evs.sort_unstable();
        let m = evs.len();
        let head = m as u32;
        let mut next = vec![NIL; m + 1];
        let mut prev = vec![NIL; m + 1];
        let mut ent_op = Vec::with_capacity(m);
        let mut ent_is_call = Vec::with_capacity(m);
        let mut ent_time = Vec::with_capacity(m);
        let mut call_entry = vec![NIL; n];
        let mut ret_entry = vec![NIL; n];
        for (e, &(t, is_ret, op)) in evs.iter().enumerate() {
            ent_op.push(op);
            ent_is_call.push(!is_ret);
            ent_time.push(t);
            if is_ret {
                ret_entry[op as usize] = e as u32;
            } else {
                call_entry[op as usize] = e as u32;
            }
            next[e] = if e + 1 < m { e as u32 + 1 } else { NIL };
            prev[e] = if e == 0 { head } else { e as u32 - 1 };
        }
        next[m] = if m > 0 { 0 } else { NIL };

        let phead = k as u32;
        let mut pnext = vec![NIL; k + 1];
        let mut pprev = vec![NIL; k + 1];
        for p in 0..k {
            pnext[p] = if p + 1 < k { p as u32 + 1 } else { NIL };
            pprev[p] = if p == 0 { phead } else { p as u32 - 1 };
        }
        pnext[k] = if k > 0 { 0 } else { NIL };

        let mut prev_same = vec![NIL; k];
        let mut classes: Interner<(&M::Input, &M::Output)> = Interner::new();
        let mut last_of_class: Vec<u32> = Vec::new();
        for (p, o) in pend.iter().enumerate() {
            let op = &ops[o.orig];
            let c = classes.intern((&op.input, &op.output)) as usize;
            if c == last_of_class.len() {
                last_of_class.push(NIL);
            }
            prev_same[p] = last_of_class[c];
            last_of_class[c] = p as u32;
        }

        let mut interner = Interner::new();
        // Only `legal in one state` matters to forward checking; the
        // relaxed search also uses it for ops that are not read-like.
        let required = |op: &Operation<M::Input, M::Output>| {
            if relaxed {
                model.precondition(&op.input, &op.output)
            } else {
                model.required_state(&op.input, &op.output)
            }
        };
        let mut pre = vec![NIL; if relaxed { n + k } else { 0 }];
        for (i, o) in done.iter().chain(pend.iter()).enumerate().take(pre.len()) {
            if let Some(st) = required(&ops[o.orig]) {
                pre[i] = interner.intern(st);
            }
        }
        let mut req = vec![NIL; n];
        for (i, o) in done.iter().enumerate() {
            if relaxed {
                req[i] = pre[i];
            } else if let Some(st) = required(&ops[o.orig]) {
                req[i] = interner.intern(st);
            }
        }
        let fc = req.iter().any(|&r| r != NIL);
        let mut rl_next = vec![NIL; n + 1];
        let mut rl_prev = vec![NIL; n + 1];
        let mut last = n as u32;
        for (i, &r) in req.iter().enumerate() {
            if r != NIL {
                rl_next[last as usize] = i as u32;
                rl_prev[i] = last;
                last = i as u32;
            }
        }
        let read_only = done
            .iter()
            .map(|o| model.is_read_only(&ops[o.orig].input, &ops[o.orig].output))
            .collect();
        // Non-monotone ops (completed and pending) in call order.
        let mut nm: Vec<(u64, u32)> = Vec::new();
        if fc || relaxed {
            for (i, o) in done.iter().chain(pend.iter()).enumerate() {
                let op = &ops[o.orig];
                if !model.is_monotone(&op.input, &op.output) {
                    nm.push((o.call, i as u32));
                }
            }
        }
        nm.sort_unstable();
        let j = nm.len();
        let orig: Vec<usize> = done.iter().chain(pend.iter()).map(|o| o.orig).collect();
        let nm_floor = nm
            .iter()
            .map(|&(_, op)| {
                let o = &ops[orig[op as usize]];
                match model.reset_floor(&o.input, &o.output) {
                    Some(st) => interner.intern(st),
                    None => NIL,
                }
            })
            .collect();
        let mut nm_pos = vec![NIL; n + k];
        let mut nm_next = vec![NIL; j + 1];
        let mut nm_prev = vec![NIL; j + 1];
        for (x, &(_, op)) in nm.iter().enumerate() {
            nm_pos[op as usize] = x as u32;
            nm_next[x] = if x + 1 < j { x as u32 + 1 } else { NIL };
            nm_prev[x] = if x == 0 { j as u32 } else { x as u32 - 1 };
        }
        nm_next[j] = if j > 0 { 0 } else { NIL };

        // Blind and total flags (blind implies total) for the relaxed rules.
        let (mut blind, mut total) = (Vec::new(), Vec::new());
        if relaxed {
            for o in done.iter().chain(pend.iter()) {
                let op = &ops[o.orig];
                let b = model.is_blind(&op.input, &op.output);
                blind.push(b);
                total.push(b || model.is_total(&op.input, &op.output));
            }
        }
        Search {
            model,
            ops,
            orig,
            n,
            next,
            prev,
            ent_op,
            ent_is_call,
            ent_time,
            call_entry,
            ret_entry,
            head,
            pnext,
            pprev,
            pcall: pend.iter().map(|o| o.call).collect(),
            prev_same,
            placed: vec![false; k],
            phead,
            interner,
            trans: U64Map::new(),
            fc,
            req,
            read_only,
            ret_time: done.iter().map(|o| o.ret).collect(),
            rl_next,
            rl_prev,
            le_cache: U64Map::new(),
            nm_next,
            nm_prev,
            nm_call: nm.iter().map(|&(c, _)| c).collect(),
            nm_floor,
            nm_op: nm.iter().map(|&(_, op)| op).collect(),
            nm_pos,
            nm_head: j as u32,
            memo: Memo::new(),
            cur_p: Vec::new(),
            ubuf: Vec::new(),
            cands: Vec::new(),
            steps: 0,
            budget_end: 0,
            stack: Vec::new(),
            pos: Pos::Fresh,
            level: Level {
                base: 0,
                len: 0,
                r: NIL,
                pref: NIL,
                pend: Pend::All,
            },
            state: 0,
            max_r: NIL,
            started: false,
            relaxed,
            total,
            blind,
            pre,
            entered_pend: Pend::All,
            tbuf: Vec::new(),
        }
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

    /// Whether placing `op` now (giving state `ns`) is dominated by placing
    /// it earlier in the current run of pending placements.
    ///
    /// Pending placements do not move the frontier, so every configuration
    /// of the run (the top frames of the stack chosen as `Pend`/`Pref`) had
    /// the same completed candidates and a subset of the pending ops placed
    /// now, and none had a forced move (it would have been its only child).
    /// If `op` gives `ns` from such an earlier state too, that child of the
    /// earlier configuration has the same frontier, state and unplaced
    /// completed ops with fewer pending ops used: it can do everything this
    /// one can, and the search explores it (or something dominating it)
    /// anyway. E.g. a write after a pending write it overwrites.
    fn run_dominated(&mut self, op: u32, ns: u32) -> bool {
        if !self.relaxed {
            return false;
        }
        for k in (0..self.stack.len()).rev().take(RUN_LOOKBACK) {
            let f = self.stack[k];
            if !matches!(f.choice, Choice::Pend(_) | Choice::Pref(_)) {
                break;
            }
            if self.transition(f.prev_state, op) == Some(ns) {
                return true;
            }
        }
        false
    }

    /// Whether the state `st` of the configuration just entered cannot
    /// matter, because every continuation must place a blind op (legal
    /// everywhere, same result from every state) before any completed op
    /// that could observe the state. Two such configurations that differ only
    /// in their state (and, with a subset, in the pending ops used) are then
    /// equivalent: one can replay the other's continuation without the
    /// pending ops placed before the first blind op (the completed ops placed
    /// before it are legal everywhere). So the state is replaced by
    /// [`ANY_STATE`] in the memo key, and pending ops that are not blind are
    /// not tried (dropping them from a continuation leaves one that starts
    /// with a child tried here).
    ///
    /// Walking the unplaced completed ops in time order (at most
    /// [`IRRELEVANCE_WALK`] list entries): every op invoked so far must be
    /// total (legal everywhere) or *blocked*: legal in one state only
    /// ([`Model::precondition`]) that cannot be reached from `st` without a
    /// blind op ([`Search::reachable`]). Then if a blind op returns, it or
    /// an earlier blind op comes first (and if nothing was blocked, no
    /// pending op needs to be tried at all: `Pend::None`); if a blocked op
    /// returns, a blind op must come before it (`Pend::Blind`). Otherwise
    /// `Pend::All`.
    fn irrelevance(&mut self, st: u32) -> Pend {
        let mut e = self.next[self.head as usize];
        let mut walked = 0;
        let mut blocked = false;
        let mut targets = std::mem::take(&mut self.tbuf);
        let mut out = Pend::All;
        while e != NIL && walked < IRRELEVANCE_WALK {
            let o = self.ent_op[e as usize] as usize;
            if self.ent_is_call[e as usize] {
                if !self.total[o] {
                    targets.clear();
                    targets.push(self.pre[o]);
                    if self.pre[o] == NIL || self.reachable(st, &mut targets, self.ret_time[o], false) {
                        break;
                    }
                    blocked = true;
                }
            } else if self.blind[o] {
                out = if blocked { Pend::Blind } else { Pend::None };
                break;
            } else if !self.total[o] {
                out = Pend::Blind;
                break;
            }
            e = self.next[e as usize];
            walked += 1;
        }
        self.tbuf = targets;
        out
    }

    /// Whether some state `<=` one of `targets` may be reachable from `st`
    /// by unplaced ops invoked by `deadline` other than blind ones (only
    /// pending ones if `pending_only`); `false` is a proof that it is not.
    ///
    /// From a state that is not `<=` a target, monotone ops never get there
    /// ([`Model::is_monotone`], [`Model::state_le`]); a non-monotone op only
    /// if its reset floor is `<=` it ([`Model::reset_floor`]), and if that op
    /// is legal in one state only ([`Model::precondition`]), the state before
    /// it must be that one, which becomes a target too. Grows `targets` to a
    /// closure (giving up beyond [`MAX_TARGETS`]).
    fn reachable(&mut self, st: u32, targets: &mut Vec<u32>, deadline: u64, pending_only: bool) -> bool {
        let mut checked = 0;
        loop {
            while checked < targets.len() {
                if self.le(st, targets[checked]) {
                    return true;
                }
                checked += 1;
            }
            if targets.len() > MAX_TARGETS {
                return true;
            }
            let mut x = self.nm_next[self.nm_head as usize];
            while x != NIL && self.nm_call[x as usize] <= deadline {
                let op = self.nm_op[x as usize] as usize;
                let f = self.nm_floor[x as usize];
                x = self.nm_next[x as usize];
                if (pending_only && op < self.n) || self.blind[op] {
                    continue;
                }
                if f != NIL && !targets.iter().any(|&t| self.le(f, t)) {
                    continue;
                }
                let p = self.pre[op];
                if f == NIL || p == NIL {
                    return true;
                }
                if !targets.contains(&p) {
                    targets.push(p);
                }
            }
            if checked == targets.len() {
                return false;
            }
        }
    }

    /// Whether the current configuration, reached by placing a pending op,
    /// is a dead end. The run of pending ops it belongs to can only be
    /// completed usefully by a completed candidate that is not blind (after
    /// a blind one the run is dominated, see [`Search::run_dominated`]); if
    /// all of those are legal in one state only ([`Model::precondition`]),
    /// the run must reach one of those states, by pending ops that are not
    /// blind (a blind one would be dominated too). Dead if
    /// [`Search::reachable`] proves that impossible.
    fn dead_run(&mut self) -> bool {
        let lo = self.level.base as usize;
        let hi = lo + self.level.len as usize;
        let mut targets = std::mem::take(&mut self.tbuf);
        targets.clear();
        let mut dead = true;
        for k in lo..hi {
            let c = self.cands[k] as usize;
            if self.blind[c] {
                continue;
            }
            if self.pre[c] == NIL {
                dead = false;
                break;
            }
            if !targets.contains(&self.pre[c]) {
                targets.push(self.pre[c]);
            }
        }
        if dead {
            let now = self.ent_time[self.level.r as usize];
            dead = !self.reachable(self.state, &mut targets, now, true);
        }
        self.tbuf = targets;
        dead
    }

    fn nm_remove(&mut self, op: u32) {
        let x = self.nm_pos[op as usize];
        if x != NIL {
            let (pv, nx) = (self.nm_prev[x as usize], self.nm_next[x as usize]);
            self.nm_next[pv as usize] = nx;
            if nx != NIL {
                self.nm_prev[nx as usize] = pv;
            }
        }
    }

    fn nm_restore(&mut self, op: u32) {
        let x = self.nm_pos[op as usize];
        if x != NIL {
            let (pv, nx) = (self.nm_prev[x as usize], self.nm_next[x as usize]);
            self.nm_next[pv as usize] = x;
            if nx != NIL {
                self.nm_prev[nx as usize] = x;
            }
        }
    }

    /// Cached `Model::state_le(a, b)` on interned states.
    fn le(&mut self, a: u32, b: u32) -> bool {
        if a == b {
            return true;
        }
        let key = (u64::from(a) << 32) | u64::from(b);
        match self.le_cache.get(key) {
            Some(x) => x == 1,
            None => {
                let x = self.model.state_le(
                    &self.interner.states[a as usize],
                    &self.interner.states[b as usize],
                );
                self.le_cache.insert_new(key, u32::from(x));
                x
            }
        }
    }

    /// Forward check of the current configuration: `false` if some unplaced
    /// read-like op (every invoked one, and the next `FC_LOOKAHEAD` ones)
    /// can no longer be satisfied. Whenever it is placed, the state it sees
    /// is `>=` the current one, or `>=` the reset floor of some non-monotone
    /// op that can still take effect before it returns; if none of these is
    /// `<=` its required state, it never will be.
    ///
    /// Returns `None` if dead, else the first op (search index) that some
    /// read can only be satisfied through (its state is not `<=` the read's
    /// but this op's floor is) and that can be placed right now: trying it
    /// first is what a correct linearization most likely does next.
    fn viable(&mut self) -> Option<Option<u32>> {
        let state = self.state;
        let now = self.ent_time[self.level.r as usize];
        let mut reset = None;
        let mut g = self.rl_next[self.n];
        let mut ahead = 0;
        'reads: while g != NIL && ahead < FC_LOOKAHEAD {
            let v = self.req[g as usize];
            let deadline = self.ret_time[g as usize];
            let next_g = self.rl_next[g as usize];
            if self.call_entry[g as usize] > self.level.r {
                ahead += 1;
            }
            if self.le(state, v) {
                g = next_g;
                continue;
            }
            let mut x = self.nm_next[self.nm_head as usize];
            // On equal times a call counts as before a return.
            while x != NIL && self.nm_call[x as usize] <= deadline {
                let f = self.nm_floor[x as usize];
                if f == NIL || self.le(f, v) {
                    if reset.is_none() && f != NIL && self.nm_call[x as usize] <= now {
                        reset = Some(self.nm_op[x as usize]);
                    }
                    g = next_g;
                    continue 'reads;
                }
                x = self.nm_next[x as usize];
            }
            return None;
        }
        Some(reset)
    }

    fn rl_remove(&mut self, op: u32) {
        if self.req[op as usize] != NIL {
            let (pv, nx) = (self.rl_prev[op as usize], self.rl_next[op as usize]);
            self.rl_next[pv as usize] = nx;
            if nx != NIL {
                self.rl_prev[nx as usize] = pv;
            }
        }
    }

    fn rl_restore(&mut self, op: u32) {
        if self.req[op as usize] != NIL {
            let (pv, nx) = (self.rl_prev[op as usize], self.rl_next[op as usize]);
            self.rl_next[pv as usize] = op;
            if nx != NIL {
                self.rl_prev[nx as usize] = op;
            }
        }
    }

    fn lift(&mut self, e: u32) {
        let op = self.ent_op[e as usize];
        self.nm_remove(op);
        self.rl_remove(op);
        let r = self.ret_entry[op as usize];
        for x in [e, r] {
            let (p, nx) = (self.prev[x as usize], self.next[x as usize]);
            self.next[p as usize] = nx;
            if nx != NIL {
                self.prev[nx as usize] = p;
            }
        }
    }

    fn unlift(&mut self, e: u32) {
        let op = self.ent_op[e as usize];
        self.nm_restore(op);
        self.rl_restore(op);
        let r = self.ret_entry[op as usize];
        for x in [r, e] {
            let (p, nx) = (self.prev[x as usize], self.next[x as usize]);
            self.next[p as usize] = x;
            if nx != NIL {
                self.prev[nx as usize] = x;
            }
        }
    }

    fn plift(&mut self, p: u32) {
        self.nm_remove(self.n as u32 + p);
        let (pv, nx) = (self.pprev[p as usize], self.pnext[p as usize]);
        self.pnext[pv as usize] = nx;
        if nx != NIL {
            self.pprev[nx as usize] = pv;
        }
        let at = self.cur_p.partition_point(|&x| x < p);
        self.cur_p.insert(at, p);
        self.placed[p as usize] = true;
    }

    fn punlift(&mut self, p: u32) {
        self.nm_restore(self.n as u32 + p);
        let (pv, nx) = (self.pprev[p as usize], self.pnext[p as usize]);
        self.pnext[pv as usize] = p;
        if nx != NIL {
            self.pprev[nx as usize] = p;
        }
        let at = self.cur_p.partition_point(|&x| x < p);
        assert!(self.cur_p.get(at) == Some(&p), "pending set out of sync");
        self.cur_p.remove(at);
        self.placed[p as usize] = false;
    }

    /// First return entry of the current configuration, filling `ubuf`
    /// with the unplaced ops invoked before it (in call order).
    fn frontier(&mut self) -> u32 {
        self.ubuf.clear();
        let mut e = self.next[self.head as usize];
        while e != NIL && self.ent_is_call[e as usize] {
            self.ubuf.push(self.ent_op[e as usize]);
            e = self.next[e as usize];
        }
        e
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

    fn run(&mut self, budget: &Budget<'_>, slice_end: u64) -> Result<Outcome, Stop> {
        if !self.started {
            self.started = true;
            let init = self.model.init();
            self.state = self.interner.intern(init);
            self.max_r = self.frontier();
            self.level.r = self.max_r;
            if self.relaxed && self.max_r != NIL {
                self.entered_pend = self.irrelevance(self.state);
            }
            self.pos = Pos::Fresh;
        }
        if self.max_r == NIL {
            // No completed ops: the pending ones may all be left out.
            return Ok(Outcome::Linearizable);
        }
        loop {
            match self.pos {
                Pos::Fresh => {
                    if self.fresh(budget, slice_end)? {
                        return Ok(Outcome::Linearizable);
                    }
                }
                Pos::Pref => {
                    let level = self.level;
                    let p = level.pref;
                    self.pos = Pos::Cand(0);
                    self.tick(budget, slice_end)?;
                    let state = self.state;
                    let Some(ns) = self
                        .transition(state, self.n as u32 + p)
                        .filter(|&ns| ns != state)
                    else {
                        continue;
                    };
                    if self.run_dominated(self.n as u32 + p, ns) {
                        continue;
                    }
                    self.plift(p);
                    match self.enter(ns)? {
                        None => return Ok(Outcome::Linearizable),
                        Some(Visit::New) => self.push(Choice::Pref(p), NIL, level, ns),
                        Some(_) => {
                            self.level = level;
                            self.punlift(p);
                        }
                    }
                }
                Pos::Cand(i) => {
                    let level = self.level;
                    if i >= level.len {
                        self.pos = if level.pend == Pend::None {
                            Pos::Backtrack
                        } else {
                            Pos::Pend(self.pnext[self.phead as usize])
                        };
                        continue;
                    }
                    self.tick(budget, slice_end)?;
                    let op = self.cands[(level.base + i) as usize];
                    self.pos = Pos::Cand(i + 1);
                    let Some(ns) = self.transition(self.state, op) else {
                        continue;
                    };
                    if self.run_dominated(op, ns) {
                        continue;
                    }
                    let e = self.call_entry[op as usize];
                    self.lift(e);
                    match self.enter(ns)? {
                        None => return Ok(Outcome::Linearizable),
                        Some(Visit::New) => self.push(Choice::Cand(i), e, level, ns),
                        Some(_) => {
                            self.level = level;
                            self.unlift(e);
                        }
                    }
                }
                Pos::Pend(p) => {
                    let level = self.level;
                    if p == NIL || self.pcall[p as usize] > self.ent_time[level.r as usize] {
                        self.pos = Pos::Backtrack;
                        continue;
                    }
                    self.pos = Pos::Pend(self.pnext[p as usize]);
                    let ps = self.prev_same[p as usize];
                    if p == level.pref || (ps != NIL && !self.placed[ps as usize]) {
                        // An identical earlier op is still unplaced.
                        continue;
                    }
                    if level.pend == Pend::Blind && !self.blind[self.n + p as usize] {
                        continue;
                    }
                    self.tick(budget, slice_end)?;
                    let state = self.state;
                    // A pending op that leaves the state unchanged is
                    // pointless: the configuration without it dominates.
                    let Some(ns) = self
                        .transition(state, self.n as u32 + p)
                        .filter(|&ns| ns != state)
                    else {
                        continue;
                    };
                    if self.run_dominated(self.n as u32 + p, ns) {
                        continue;
                    }
                    self.plift(p);
                    match self.enter(ns)? {
                        None => return Ok(Outcome::Linearizable),
                        Some(Visit::New) => self.push(Choice::Pend(p), NIL, level, ns),
                        Some(_) => {
                            self.level = level;
                            self.punlift(p);
                        }
                    }
                }
                Pos::Backtrack => {
                    let Some(f) = self.stack.pop() else {
                        return Ok(self.failure());
                    };
                    self.state = f.prev_state;
                    self.cands.truncate((f.level.base + f.level.len) as usize);
                    self.level = f.level;
                    self.pos = match f.choice {
                        Choice::Cand(i) => {
                            self.unlift(f.entry);
                            Pos::Cand(i + 1)
                        }
                        // The forced child dominated all its siblings.
                        Choice::Forced(_) => {
                            self.unlift(f.entry);
                            Pos::Backtrack
                        }
                        Choice::Pend(p) => {
                            self.punlift(p);
                            Pos::Pend(self.pnext[p as usize])
                        }
                        Choice::Pref(p) => {
                            self.punlift(p);
                            Pos::Cand(0)
                        }
                    };
                }
            }
        }
    }

    /// Sets up a newly entered configuration (its candidates are in `ubuf`,
    /// its first return in `level.r`): candidates sorted by return time, so
    /// ops that must take effect soonest are tried first ("earliest deadline
    /// first" — a long-running op tried first would be placed too early in
    /// most branches); then the forced-move check.
    ///
    /// Forced move: a read-only candidate ([`Model::is_read_only`]) that is
    /// legal now can be moved to this point in any linearization from here —
    /// it is already invoked, nothing unplaced must precede it, and it
    /// changes nothing for the ops it jumps over — so it becomes the only
    /// child. (An op that merely happens not to change the *current* state,
    /// like writing the value already held, does not qualify: later it
    /// might.)
    /// Returns `true` if the forced move completed a linearization.
    fn fresh(&mut self, budget: &Budget<'_>, slice_end: u64) -> Result<bool, Stop> {
        let base = self.cands.len() as u32;
        let mut list = std::mem::take(&mut self.ubuf);
        list.sort_unstable_by_key(|&op| (self.ret_time[op as usize], op));
        self.cands.extend_from_slice(&list);
        self.ubuf = list;
        self.level = Level {
            base,
            len: self.ubuf.len() as u32,
            r: self.level.r,
            pref: NIL,
            pend: self.entered_pend,
        };
        let mut reset = None;
        if self.fc {
            match self.viable() {
                None => {
                    self.pos = Pos::Backtrack;
                    return Ok(false);
                }
                Some(r) => reset = r,
            }
        }
        let in_run = matches!(
            self.stack.last().map(|f| f.choice),
            Some(Choice::Pend(_) | Choice::Pref(_))
        );
        if self.relaxed && in_run && self.dead_run() {
            self.pos = Pos::Backtrack;
            return Ok(false);
        }
        let level = self.level;
        let state = self.state;
        for i in 0..level.len {
            let op = self.cands[(base + i) as usize];
            if !self.read_only[op as usize] || self.transition(state, op) != Some(state) {
                continue;
            }
            self.tick(budget, slice_end)?;
            let e = self.call_entry[op as usize];
            self.lift(e);
            match self.enter(state)? {
                None => return Ok(true),
                Some(Visit::New) => {
                    self.push(Choice::Forced(i), e, level, state);
                    return Ok(false);
                }
                // Already explored from elsewhere (it has more ops placed
                // than anything on the stack, so it is no ancestor): it
                // failed, and so does this configuration.
                Some(_) => {
                    self.level = level;
                    self.unlift(e);
                    self.pos = Pos::Backtrack;
                    return Ok(false);
                }
            }
        }
        self.pos = Pos::Cand(0);
        match reset {
            Some(op) if (op as usize) < self.n => {
                // A completed op: move it to the front of the candidates.
                let lo = level.base as usize;
                let hi = lo + level.len as usize;
                if let Some(at) = self.cands[lo..hi].iter().position(|&c| c == op) {
                    self.cands[lo..=lo + at].rotate_right(1);
                }
            }
            Some(op) if level.pend == Pend::All || (level.pend == Pend::Blind && self.blind[op as usize]) => {
                let p = op - self.n as u32;
                let ps = self.prev_same[p as usize];
                if ps == NIL || self.placed[ps as usize] {
                    self.level.pref = p;
                    self.pos = Pos::Pref;
                }
            }
            _ => {}
        }
        Ok(false)
    }
}
