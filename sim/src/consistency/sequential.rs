//! Sequential consistency: is there one order of all operations, legal for the model, that
//! keeps each client's order?
//!
//! # Algorithm
//!
//! A depth-first search over *configurations*: which operations are placed, and the model
//! state of every part ([`Model::partition`]; the state of the whole history is the vector of
//! its parts' states, since sequential consistency is not local). A client's operations sit
//! in invocation order; one may be placed once every operation of its client that completed
//! before it was invoked is placed (the just-in-time idea of Wing & Gong, per client).
//!
//! * **Memoisation**: a configuration is explored once. It is remembered by a 128-bit
//!   Zobrist fingerprint (placed operations and per-part states XORed in and out as the search
//!   moves), so a visit costs O(1) whatever the number of keys.
//! * **Reads at once**: a read-only operation ([`Model::is_read_only`]) that is legal now is
//!   placed without branching — it is its client's next operation, and moving it to this
//!   point keeps every order and every other operation's outcome.
//! * **Forward checking** with the same optional hooks as the linearizability checker
//!   ([`Model::required_state`], [`Model::is_monotone`], [`Model::reset_floor`],
//!   [`Model::state_le`]): when a part's state moves, each client's next unplaced read of that
//!   part — or op with a [`Model::precondition`], e.g. a successful cas — is tested; if the
//!   state is no longer below what it must see and no unplaced operation could reset the part
//!   low enough, the configuration is dead now rather than many steps later.
//! * **Restarts**: a wrong early choice can cost a search of everything below it, and which
//!   candidate order avoids it depends on the system that made the history (a write answered
//!   by a lagging follower returns late but took effect early). So the search runs in rounds,
//!   one search per order (by return, by invocation, by their middle), each round with twice
//!   the steps; any search that finishes decides.
//! * **Optional operations** (outcome unknown): tried where they were invoked; never placed
//!   when it would change nothing, nor on a part with no completed operation left to place
//!   (its state can no longer matter); of identical ones of a client only the earliest. In
//!   explanations, where most operations are relaxed, also not where the state it leads to is
//!   below nothing any operation must see (`Search::pointless`).
//! * **Explanations**: first the shortest failing prefix, by bisection over return times
//!   (ops invoked later left out, ops still running relaxed); the op whose return ends it is
//!   the *culprit*. A prefix of at most 256 completed ops is then reduced by delta debugging
//!   (Zeller 2002) in chunks aligned to parts: a chunk is *relaxed* (may take effect anywhere,
//!   in any order, or never; reads dropped) and stays relaxed if the rest is still
//!   inconsistent, leaving a 1-minimal set that cannot be ordered whatever the others do. A
//!   longer prefix is shown by its last ops instead (re-checks with thousands of relaxed ops
//!   cost too much). Either way per client, in its order, and on a timeline.
//!
//! Every verdict depends on the history and the step budget only (deterministic).
//!
//! # References
//!
//! * L. Lamport. *How to make a multiprocessor computer that correctly executes multiprocess
//!   programs.* IEEE Trans. Computers C-28(9), 1979.
//! * P. B. Gibbons, E. Korach. *Testing shared memories.* SIAM J. Computing 26(4), 1997
//!   (checking sequential consistency is NP-complete in general, hence the budget).
//! * A. Zeller. *Isolating cause-effect chains from computer programs.* FSE 2002.

use super::Verdict;
use crate::linearize::table::{det_hash, fmix64, Interner, U64Map};
use crate::linearize::{timeline, Budget, CheckOptions, Exhausted, Model, Operation, PENDING};
use std::collections::BTreeMap;

/// Explanation of an inconsistent history. Indices refer to the `ops` slice passed to
/// [`check_sequential`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScFailure {
    /// Operations (sorted by invocation). If `minimal`, they cannot be put in one order
    /// keeping each client's order even if every other operation of the prefix may take effect
    /// anywhere, in any order, or not at all, and relaxing any one of them makes the rest
    /// consistent. Otherwise (a long prefix, or the budget ran out) the last ops of the
    /// prefix, around the culprit.
    pub ops: Vec<usize>,
    /// See `ops`.
    pub minimal: bool,
    /// The completed op whose return ends the shortest failing prefix of the history (ops
    /// invoked later left out, ops still running then relaxed). Usually one of `ops` (not
    /// when ops returning at the same moment were enough).
    pub culprit: usize,
    /// Ops invoked within that prefix.
    pub prefix_len: usize,
    /// One line per client: its operations of `ops`, in its order.
    pub clients: String,
    /// `ops` on a real-time timeline (the same rendering as a linearizability failure).
    pub timeline: String,
}

/// Result of [`check_sequential`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScResult {
    /// The verdict.
    pub verdict: Verdict,
    /// Steps spent (search plus explanation).
    pub steps: u64,
    /// Set when the verdict is [`Verdict::Inconsistent`].
    pub failure: Option<ScFailure>,
    /// Set when the search gave up (the verdict is then `Unknown`).
    pub exhausted: Option<Exhausted>,
}

/// An explanation may spend this many times the steps of the search that decided…
const EXPLAIN_FACTOR: u64 = 3;
/// …or at least this many.
const EXPLAIN_MIN: u64 = 2_000_000;

/// Re-checks an explanation may spend, per check, at least this many steps…
const PER_CHECK_MIN: u64 = 200_000;
/// …or this many times what the first search took.
const PER_CHECK_FACTOR: u64 = 4;

/// Checks that `ops` is sequentially consistent with respect to `model`: some total order of
/// the operations is legal and keeps each client's order (see the [module docs](super)).
/// Operations with `ret == PENDING` are optional. An empty history is consistent.
pub fn check_sequential<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    budget: &mut Budget<'_>,
    options: &CheckOptions,
) -> ScResult {
    check_sequential_with(model, ops, budget, options, true)
}

/// [`check_sequential`], optionally without trying linearizability first (tests compare both).
pub(crate) fn check_sequential_with<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    budget: &mut Budget<'_>,
    options: &CheckOptions,
    linearizable_first: bool,
) -> ScResult {
    let start = budget.steps_used;
    let parts = part_of(model, ops);
    let strict: Vec<bool> = ops.iter().map(|o| o.ret != PENDING).collect();
    // A linearizable history is sequentially consistent (its linearization keeps real time,
    // so each client's order), and linearizability is local: most histories are settled here
    // key by key, cheaply. A quarter of the budget at most.
    if linearizable_first {
        let quick = CheckOptions {
            explain: false,
            ..options.clone()
        };
        let mut lin_budget = Budget::new(budget.remaining() / 4);
        let lin = crate::linearize::check_with(model, ops, &mut lin_budget, &quick);
        budget.steps_used += lin_budget.steps_used;
        if lin.verdict == crate::linearize::Verdict::Linearizable {
            return ScResult {
                verdict: Verdict::Consistent,
                steps: budget.steps_used - start,
                failure: None,
                exhausted: None,
            };
        }
    }
    let (outcome, first_steps) = run_restarts(model, ops, &parts, &strict, budget);
    let (verdict, failure, exhausted) = match outcome {
        Outcome::Consistent => (Verdict::Consistent, None, None),
        Outcome::Exhausted(e) => (Verdict::Unknown, None, Some(e)),
        Outcome::Inconsistent => {
            // Explaining may cost a few times what deciding did, never the whole budget.
            let cap = first_steps
                .saturating_mul(EXPLAIN_FACTOR)
                .max(EXPLAIN_MIN)
                .min(budget.remaining());
            let mut eb = Budget {
                max_steps: cap,
                steps_used: 0,
                max_memory_bytes: budget.max_memory_bytes,
                cancel: budget.cancel,
            };
            let f = explain(model, ops, &parts, strict, first_steps, &mut eb, options);
            budget.steps_used += eb.steps_used;
            (Verdict::Inconsistent, Some(f), None)
        }
    };
    ScResult {
        verdict,
        steps: budget.steps_used - start,
        failure,
        exhausted,
    }
}

/// The part of every op (`u32::MAX`: left out by the model's partition).
fn part_of<M: Model>(model: &M, ops: &[Operation<M::Input, M::Output>]) -> Vec<u32> {
    let mut part = vec![u32::MAX; ops.len()];
    for (p, (_, idx)) in model.partition(ops).iter().enumerate() {
        for &i in idx {
            assert!(i < ops.len(), "Model::partition returned index {i} out of range");
            part[i] = p as u32;
        }
    }
    part
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Consistent,
    Inconsistent,
    Exhausted(Exhausted),
}

/// One search over `ops` where `strict[i]` says op `i` must be placed (with its client's
/// order); a non-strict op with `ret == PENDING` is optional after its client's earlier ops,
/// and any other non-strict op is *relaxed*: optional, anywhere (read-only ones dropped).
/// Returns the outcome and the steps it took; at most `max_steps` of them.
fn run<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    parts: &[u32],
    strict: &[bool],
    budget: &mut Budget<'_>,
    max_steps: u64,
) -> (Outcome, u64) {
    run_with(model, ops, parts, strict, budget, max_steps, false, 0)
}

/// Orders to try candidates in, as restarts: by return (earliest deadline first), by
/// invocation, by the middle of the two. Which one finds an order fast depends on the system
/// that made the history (e.g. a write answered by a lagging follower returns late but took
/// effect early), and a wrong early choice can cost a search of everything below it.
const ORDERS: u8 = 3;
/// Steps of the first round of restarts; each round doubles it.
const FIRST_SLICE: u64 = 100_000;

/// The search with restarts: rounds of [`ORDERS`] searches, one per candidate order, each
/// round with twice the steps of the one before, until one decides (a consistent order found,
/// or every order refuted — any complete search refutes) or the budget runs out. Returns the
/// outcome and the steps of the deciding search.
fn run_restarts<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    parts: &[u32],
    strict: &[bool],
    budget: &mut Budget<'_>,
) -> (Outcome, u64) {
    let mut slice = FIRST_SLICE;
    loop {
        for order in 0..ORDERS {
            let last = budget.remaining() <= slice;
            let (out, used) = run_with(model, ops, parts, strict, budget, slice, false, order);
            match out {
                Outcome::Exhausted(Exhausted::Steps) if !last => {}
                _ => return (out, used),
            }
        }
        slice = slice.saturating_mul(2);
    }
}

/// [`run`], optionally skipping optional ops that cannot matter (see [`Search::pointless`];
/// explanations use it, where most ops are relaxed), with candidates in `order` (< [`ORDERS`]).
#[allow(clippy::too_many_arguments)]
fn run_with<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    parts: &[u32],
    strict: &[bool],
    budget: &mut Budget<'_>,
    max_steps: u64,
    filter: bool,
    order: u8,
) -> (Outcome, u64) {
    let mut s = Search::new(model, ops, parts, strict);
    s.order = order;
    if filter {
        s.init_filter();
    }
    let before = budget.steps_used;
    let out = s.search(budget, max_steps);
    (out, budget.steps_used - before)
}

const NONE: u32 = u32::MAX;

/// An op as the search sees it.
#[derive(Clone, Copy)]
struct Op {
    orig: usize,
    part: u32,
    call: u64,
    /// `PENDING` for an optional op.
    ret: u64,
    /// Client list it sits in (relaxed ops: none).
    client: u32,
    /// Position in its client's `done` (completed) or `optional` list.
    pos: u32,
    /// Position in its client's `by_ret` list (completed ops).
    pos_ret: u32,
    /// Required-state list and position in it (completed read-like ops), or `NONE`.
    req_list: u32,
    pos_req: u32,
    /// Class of identical optional ops (same input and output).
    class: u32,
    read_only: bool,
}

#[derive(Default)]
struct Client {
    /// Completed ops in invocation order, and in return order.
    done: Vec<u32>,
    by_ret: Vec<u32>,
    /// Optional ops in invocation order.
    optional: Vec<u32>,
    /// First unplaced op in `done` / `by_ret`.
    first: usize,
    ret_ptr: usize,
}

/// A client's completed read-like ops of one part, in its order, with the first unplaced.
struct ReqList {
    ops: Vec<u32>,
    ptr: usize,
}

struct Frame {
    /// Op placed to enter this configuration (`NONE` at the root).
    entered_by: u32,
    /// Where this frame's greedily placed reads start in `greedy`.
    greedy_from: usize,
    cands: Vec<u32>,
    next: usize,
}

struct Search<'m, M: Model> {
    model: &'m M,
    hist: &'m [Operation<M::Input, M::Output>],
    ops: Vec<Op>,
    clients: Vec<Client>,
    /// Relaxed ops per part (free: no order constraint).
    free: Vec<Vec<u32>>,
    placed: Vec<bool>,
    done_left: usize,
    /// Completed ops still to place, per part.
    strict_left: Vec<u32>,
    state: Vec<u32>,
    states: Interner<M::State>,
    trans: U64Map,
    memo: FpSet,
    fp: u128,
    /// Forward checking: required state per op, floor of each non-monotone op, per part the
    /// floors of its unplaced non-monotone ops (id → count) and how many have none.
    prune: bool,
    req: Vec<u32>,
    monotone: Vec<bool>,
    floor: Vec<u32>,
    floors: Vec<BTreeMap<u32, u32>>,
    no_floor: Vec<u32>,
    req_lists: Vec<ReqList>,
    part_lists: Vec<Vec<u32>>,
    greedy: Vec<u32>,
    steps: u64,
    /// Which order candidates are tried in (see [`ORDERS`]).
    order: u8,
    /// Relevance filter for optional ops (explanations): per part, every state a strict op
    /// must see and every precondition; strict read-only ops without a required state still
    /// unplaced; whether some optional op's outcome depends on the state in a way the filter
    /// cannot follow.
    filter: bool,
    wants: Vec<Vec<u32>>,
    negative_left: Vec<u32>,
    loose: Vec<bool>,
    negative: Vec<bool>,
}

/// A 128-bit fingerprint: two independently mixed halves.
fn zob(a: u64, b: u64) -> u128 {
    let x = fmix64(a.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ b);
    let y = fmix64(x ^ b.rotate_left(29) ^ 0x5851_f42d_4c95_7f2d);
    ((x as u128) << 64) | y as u128
}

fn zob_op(o: u32) -> u128 {
    zob(1, u64::from(o))
}

fn zob_state(part: u32, state: u32) -> u128 {
    zob(2 + u64::from(part), u64::from(state))
}

impl<'m, M: Model> Search<'m, M> {
    fn new(model: &'m M, hist: &'m [Operation<M::Input, M::Output>], parts: &[u32], strict: &[bool]) -> Self {
        let nparts = parts
            .iter()
            .filter(|&&p| p != NONE)
            .map(|&p| p as usize + 1)
            .max()
            .unwrap_or(0);
        let mut client_ids: BTreeMap<u64, u32> = BTreeMap::new();
        let mut ops: Vec<Op> = Vec::new();
        let mut order: Vec<usize> = (0..hist.len()).filter(|&i| parts[i] != NONE).collect();
        order.sort_by_key(|&i| (hist[i].call, i));
        let mut free: Vec<Vec<u32>> = vec![Vec::new(); nparts];
        let mut clients: Vec<Client> = Vec::new();
        for &i in &order {
            let h = &hist[i];
            let relaxed = !strict[i] && h.ret != PENDING;
            let read_only = model.is_read_only(&h.input, &h.output);
            if !strict[i] && read_only {
                continue; // an optional read constrains nothing
            }
            let id = ops.len() as u32;
            let mut op = Op {
                orig: i,
                part: parts[i],
                call: h.call,
                ret: if strict[i] { h.ret.max(h.call) } else { PENDING },
                client: NONE,
                pos: 0,
                pos_ret: 0,
                req_list: NONE,
                pos_req: 0,
                class: 0,
                read_only,
            };
            if relaxed {
                free[op.part as usize].push(id);
            } else {
                let next = client_ids.len() as u32;
                let c = *client_ids.entry(h.client).or_insert(next);
                if c as usize == clients.len() {
                    clients.push(Client::default());
                }
                op.client = c;
                let cl = &mut clients[c as usize];
                if strict[i] {
                    op.pos = cl.done.len() as u32;
                    cl.done.push(id);
                } else {
                    op.pos = cl.optional.len() as u32;
                    cl.optional.push(id);
                }
            }
            ops.push(op);
        }
        for cl in &mut clients {
            cl.by_ret = cl.done.clone();
            cl.by_ret.sort_by_key(|&o| (ops[o as usize].ret, o));
            for (k, &o) in cl.by_ret.iter().enumerate() {
                ops[o as usize].pos_ret = k as u32;
            }
        }
        // Classes of identical optional ops.
        let mut classes: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
        let mut next_class = 0u32;
        for k in 0..ops.len() {
            if ops[k].ret != PENDING {
                continue;
            }
            let h = &hist[ops[k].orig];
            let hash = det_hash(&(&h.input, &h.output));
            let reps = classes.entry(hash).or_default();
            let found = reps.iter().copied().find(|&r| {
                let g = &hist[ops[r as usize].orig];
                g.input == h.input && g.output == h.output
            });
            ops[k].class = match found {
                Some(r) => ops[r as usize].class,
                None => {
                    reps.push(k as u32);
                    next_class += 1;
                    next_class
                }
            };
        }
        let mut states = Interner::new();
        let init = states.intern(model.init());
        let mut fp = 0u128;
        for p in 0..nparts {
            fp ^= zob_state(p as u32, init);
        }
        let mut strict_left = vec![0u32; nparts];
        let mut done_left = 0;
        for op in &ops {
            if op.ret != PENDING {
                strict_left[op.part as usize] += 1;
                done_left += 1;
            }
        }
        let mut s = Search {
            model,
            hist,
            clients,
            free,
            placed: vec![false; ops.len()],
            done_left,
            strict_left,
            state: vec![init; nparts],
            states,
            trans: U64Map::new(),
            memo: FpSet::new(),
            fp,
            prune: false,
            req: vec![NONE; ops.len()],
            monotone: vec![true; ops.len()],
            floor: vec![NONE; ops.len()],
            floors: vec![BTreeMap::new(); nparts],
            no_floor: vec![0; nparts],
            req_lists: Vec::new(),
            part_lists: vec![Vec::new(); nparts],
            greedy: Vec::new(),
            steps: 0,
            order: 0,
            filter: false,
            wants: Vec::new(),
            negative_left: Vec::new(),
            loose: Vec::new(),
            negative: Vec::new(),
            ops,
        };
        s.init_pruning();
        s
    }

    /// Sets up [`Search::pointless`].
    fn init_filter(&mut self) {
        let nparts = self.state.len();
        self.filter = true;
        self.wants = vec![Vec::new(); nparts];
        self.negative_left = vec![0; nparts];
        self.loose = vec![false; nparts];
        self.negative = vec![false; self.ops.len()];
        for k in 0..self.ops.len() {
            let op = self.ops[k];
            let p = op.part as usize;
            let h = &self.hist[op.orig];
            let (i, o) = (&h.input, &h.output);
            let want = if op.ret != PENDING {
                self.model
                    .required_state(i, o)
                    .or_else(|| self.model.precondition(i, o))
            } else {
                self.model.precondition(i, o)
            };
            match want {
                Some(w) => {
                    let w = self.states.intern(w);
                    if !self.wants[p].contains(&w) {
                        self.wants[p].push(w);
                    }
                }
                None if op.ret != PENDING && op.read_only => {
                    self.negative[k] = true;
                    self.negative_left[p] += 1;
                }
                None if op.ret == PENDING && !(self.model.is_blind(i, o) || self.model.is_monotone(i, o)) => {
                    self.loose[p] = true;
                }
                None => {}
            }
        }
    }

    /// True if placing optional op `o` now, leading to state `next`, can never be needed:
    /// its part has no strict read-only op without a required state left, no optional op
    /// whose effect the filter cannot follow, and no state some op must see is above `next`.
    /// Then until a blind op resets the part, only monotone total ops can follow on it (every
    /// other op must see a state `>= next`), so leaving `o` out changes nothing.
    fn pointless(&self, o: u32, next: u32) -> bool {
        let p = self.ops[o as usize].part as usize;
        if !self.filter || self.loose[p] || self.negative_left[p] > 0 {
            return false;
        }
        let s = &self.states.states[next as usize];
        !self.wants[p]
            .iter()
            .any(|&w| self.model.state_le(s, &self.states.states[w as usize]))
    }

    fn init_pruning(&mut self) {
        let mut lists: BTreeMap<(u32, u32), u32> = BTreeMap::new();
        for k in 0..self.ops.len() {
            let op = self.ops[k];
            let h = &self.hist[op.orig];
            if op.ret != PENDING {
                // Reads must see their state, and so must ops with a precondition (a
                // successful cas): both must be placed in exactly that state.
                let must_see = self
                    .model
                    .required_state(&h.input, &h.output)
                    .or_else(|| self.model.precondition(&h.input, &h.output));
                if let Some(r) = must_see {
                    self.prune = true;
                    self.req[k] = self.states.intern(r);
                    let next = self.req_lists.len() as u32;
                    let l = *lists.entry((op.client, op.part)).or_insert(next);
                    if l == next {
                        self.req_lists.push(ReqList {
                            ops: Vec::new(),
                            ptr: 0,
                        });
                        self.part_lists[op.part as usize].push(l);
                    }
                    self.ops[k].req_list = l;
                    self.ops[k].pos_req = self.req_lists[l as usize].ops.len() as u32;
                    self.req_lists[l as usize].ops.push(k as u32);
                }
            }
            if !self.model.is_monotone(&h.input, &h.output) {
                self.monotone[k] = false;
                match self.model.reset_floor(&h.input, &h.output) {
                    Some(f) => {
                        let f = self.states.intern(f);
                        self.floor[k] = f;
                        *self.floors[op.part as usize].entry(f).or_insert(0) += 1;
                    }
                    None => self.no_floor[op.part as usize] += 1,
                }
            }
        }
    }

    /// The state op `o` leads to from its part's current state, if legal (cached).
    fn step(&mut self, o: u32) -> Option<u32> {
        let op = self.ops[o as usize];
        let cur = self.state[op.part as usize];
        let key = (u64::from(cur) << 32) | u64::from(o);
        let next = match self.trans.get(key) {
            Some(n) => n,
            None => {
                let h = &self.hist[op.orig];
                let n = match self
                    .model
                    .step(&self.states.states[cur as usize], &h.input, &h.output)
                {
                    Some(s) => self.states.intern(s),
                    None => NONE,
                };
                self.trans.insert_new(key, n);
                n
            }
        };
        (next != NONE).then_some(next)
    }

    fn place(&mut self, o: u32, next: u32) {
        let op = self.ops[o as usize];
        let p = op.part as usize;
        self.placed[o as usize] = true;
        self.fp ^= zob_op(o) ^ zob_state(op.part, self.state[p]) ^ zob_state(op.part, next);
        self.state[p] = next;
        if op.ret != PENDING {
            self.done_left -= 1;
            self.strict_left[p] -= 1;
            if self.filter && self.negative[o as usize] {
                self.negative_left[p] -= 1;
            }
            let cl = &mut self.clients[op.client as usize];
            while cl.first < cl.done.len() && self.placed[cl.done[cl.first] as usize] {
                cl.first += 1;
            }
            while cl.ret_ptr < cl.by_ret.len() && self.placed[cl.by_ret[cl.ret_ptr] as usize] {
                cl.ret_ptr += 1;
            }
            if op.req_list != NONE {
                let l = &mut self.req_lists[op.req_list as usize];
                while l.ptr < l.ops.len() && self.placed[l.ops[l.ptr] as usize] {
                    l.ptr += 1;
                }
            }
        }
        if !self.monotone[o as usize] {
            self.floor_count(o, false);
        }
    }

    fn unplace(&mut self, o: u32, prev: u32) {
        let op = self.ops[o as usize];
        let p = op.part as usize;
        self.placed[o as usize] = false;
        self.fp ^= zob_op(o) ^ zob_state(op.part, self.state[p]) ^ zob_state(op.part, prev);
        self.state[p] = prev;
        if op.ret != PENDING {
            self.done_left += 1;
            self.strict_left[p] += 1;
            if self.filter && self.negative[o as usize] {
                self.negative_left[p] += 1;
            }
            let cl = &mut self.clients[op.client as usize];
            cl.first = cl.first.min(op.pos as usize);
            cl.ret_ptr = cl.ret_ptr.min(op.pos_ret as usize);
            if op.req_list != NONE {
                let l = &mut self.req_lists[op.req_list as usize];
                l.ptr = l.ptr.min(op.pos_req as usize);
            }
        }
        if !self.monotone[o as usize] {
            self.floor_count(o, true);
        }
    }

    fn floor_count(&mut self, o: u32, add: bool) {
        let p = self.ops[o as usize].part as usize;
        let f = self.floor[o as usize];
        if f == NONE {
            if add {
                self.no_floor[p] += 1;
            } else {
                self.no_floor[p] -= 1;
            }
            return;
        }
        let c = self.floors[p].entry(f).or_insert(0);
        if add {
            *c += 1;
        } else {
            *c -= 1;
            if *c == 0 {
                self.floors[p].remove(&f);
            }
        }
    }

    /// Earliest return among a client's unplaced completed ops.
    fn min_ret(&self, c: usize) -> u64 {
        let cl = &self.clients[c];
        cl.by_ret
            .get(cl.ret_ptr)
            .map_or(u64::MAX, |&o| self.ops[o as usize].ret)
    }

    /// True if some client's next read of part `p` can no longer see what it returned.
    fn dead(&self, p: u32) -> bool {
        if !self.prune || p == NONE {
            return false;
        }
        let cur = &self.states.states[self.state[p as usize] as usize];
        for &l in &self.part_lists[p as usize] {
            let l = &self.req_lists[l as usize];
            let Some(&o) = l.ops.get(l.ptr) else { continue };
            let r = &self.states.states[self.req[o as usize] as usize];
            if self.model.state_le(cur, r) || self.no_floor[p as usize] > 0 {
                continue;
            }
            let reachable = self.floors[p as usize]
                .keys()
                .any(|&f| self.model.state_le(&self.states.states[f as usize], r));
            if !reachable {
                return true;
            }
        }
        false
    }

    /// Places every legal read that is some client's candidate, until none is. Returns the
    /// parts whose first unplaced read moved.
    fn greedy_reads(&mut self, moved: &mut Vec<u32>) {
        loop {
            let mut progress = false;
            for c in 0..self.clients.len() {
                let min_ret = self.min_ret(c);
                let mut k = self.clients[c].first;
                while k < self.clients[c].done.len() {
                    let o = self.clients[c].done[k];
                    k += 1;
                    let op = self.ops[o as usize];
                    if op.call > min_ret {
                        break;
                    }
                    if self.placed[o as usize] || !op.read_only {
                        continue;
                    }
                    self.steps += 1;
                    if let Some(n) = self.step(o) {
                        self.place(o, n);
                        self.greedy.push(o);
                        if !moved.contains(&op.part) {
                            moved.push(op.part);
                        }
                        progress = true;
                    }
                }
            }
            if !progress {
                return;
            }
        }
    }

    /// The ops that may come next, in the order to try them: completed ones by return (the
    /// earliest deadline first), then optional ones.
    fn candidates(&self) -> Vec<u32> {
        let mut done: Vec<u32> = Vec::new();
        let mut optional: Vec<u32> = Vec::new();
        let mut classes: Vec<u32> = Vec::new();
        for c in 0..self.clients.len() {
            let cl = &self.clients[c];
            let min_ret = self.min_ret(c);
            for &o in &cl.done[cl.first..] {
                let op = &self.ops[o as usize];
                if op.call > min_ret {
                    break;
                }
                if !self.placed[o as usize] && !op.read_only {
                    done.push(o);
                }
            }
            classes.clear();
            for &o in &cl.optional {
                let op = &self.ops[o as usize];
                if op.call > min_ret {
                    break;
                }
                if self.placed[o as usize] || classes.contains(&op.class) {
                    continue;
                }
                classes.push(op.class);
                if self.strict_left[op.part as usize] > 0 {
                    optional.push(o);
                }
            }
        }
        for (p, list) in self.free.iter().enumerate() {
            if self.strict_left[p] == 0 {
                continue;
            }
            classes.clear();
            for &o in list {
                let class = self.ops[o as usize].class;
                if self.placed[o as usize] || classes.contains(&class) {
                    continue;
                }
                classes.push(class);
                optional.push(o);
            }
        }
        // An optional op is tried where it was invoked, as if it returned at once: ops that
        // did take effect mostly did so soon after their invocation.
        done.extend(optional);
        let order = self.order;
        done.sort_by_key(|&o| {
            let op = &self.ops[o as usize];
            let at = match (op.ret, order) {
                (PENDING, _) => op.call,
                (r, 0) => r,
                (_, 1) => op.call,
                (r, _) => op.call / 2 + r / 2,
            };
            (at, o)
        });
        done
    }

    fn memory(&self) -> u64 {
        (self.memo.bytes() + self.trans.bytes() + self.states.bytes()) as u64
    }

    /// Enters the current configuration: places reads, tests it. `Some(true)`: every
    /// completed op is placed; `Some(false)`: dead or seen (its reads are undone); `None`: a
    /// frame was pushed.
    fn enter(&mut self, entered_by: u32, stack: &mut Vec<Frame>) -> Option<bool> {
        let greedy_from = self.greedy.len();
        let mut moved: Vec<u32> = Vec::new();
        if entered_by != NONE {
            moved.push(self.ops[entered_by as usize].part);
        } else {
            moved.extend(0..self.state.len() as u32);
        }
        self.greedy_reads(&mut moved);
        if self.done_left == 0 {
            return Some(true);
        }
        let dead = moved.iter().any(|&p| self.dead(p));
        if dead || !self.memo.insert(self.fp) {
            self.undo_greedy(greedy_from);
            return Some(false);
        }
        let cands = self.candidates();
        stack.push(Frame {
            entered_by,
            greedy_from,
            cands,
            next: 0,
        });
        None
    }

    fn undo_greedy(&mut self, from: usize) {
        while self.greedy.len() > from {
            let o = self.greedy.pop().expect("non-empty");
            // A read leaves the state as it found it.
            let s = self.state[self.ops[o as usize].part as usize];
            self.unplace(o, s);
        }
    }

    fn search(&mut self, budget: &mut Budget<'_>, max_steps: u64) -> Outcome {
        let mut stack: Vec<Frame> = Vec::new();
        // The state each placed candidate replaced, to undo it.
        let mut prev: Vec<u32> = Vec::new();
        let limit = budget.remaining().min(max_steps);
        let mut polled = 0u64;
        match self.enter(NONE, &mut stack) {
            Some(true) => return self.charge(budget, Outcome::Consistent),
            Some(false) => return self.charge(budget, Outcome::Inconsistent),
            None => {}
        }
        while let Some(top) = stack.last_mut() {
            if self.steps >= limit {
                return self.charge(budget, Outcome::Exhausted(Exhausted::Steps));
            }
            if self.steps >= polled + 4096 {
                polled = self.steps;
                if budget.cancel.is_some_and(|c| c()) {
                    return self.charge(budget, Outcome::Exhausted(Exhausted::Cancelled));
                }
                if self.memory() > budget.max_memory_bytes {
                    return self.charge(budget, Outcome::Exhausted(Exhausted::Memory));
                }
            }
            if top.next < top.cands.len() {
                let o = top.cands[top.next];
                top.next += 1;
                self.steps += 1;
                let before = self.state[self.ops[o as usize].part as usize];
                let Some(n) = self.step(o) else { continue };
                if self.ops[o as usize].ret == PENDING && (n == before || self.pointless(o, n)) {
                    // An optional op that changes nothing (that matters) is never needed; a
                    // filtered one is not worth a step.
                    self.steps -= u64::from(n != before);
                    continue;
                }
                self.place(o, n);
                prev.push(before);
                match self.enter(o, &mut stack) {
                    Some(true) => return self.charge(budget, Outcome::Consistent),
                    Some(false) => {
                        prev.pop();
                        self.unplace(o, before);
                    }
                    None => {}
                }
            } else {
                let f = stack.pop().expect("non-empty");
                self.undo_greedy(f.greedy_from);
                if f.entered_by != NONE {
                    let before = prev.pop().expect("one per placed candidate");
                    self.unplace(f.entered_by, before);
                }
            }
        }
        self.charge(budget, Outcome::Inconsistent)
    }

    fn charge(&self, budget: &mut Budget<'_>, out: Outcome) -> Outcome {
        budget.steps_used += self.steps;
        out
    }
}

/// Open-addressing set of 128-bit fingerprints (0 is the empty slot; a zero fingerprint is
/// stored as 1).
struct FpSet {
    slots: Vec<u128>,
    len: usize,
}

impl FpSet {
    fn new() -> Self {
        FpSet {
            slots: vec![0; 1024],
            len: 0,
        }
    }

    fn bytes(&self) -> usize {
        self.slots.len() * 16
    }

    /// Inserts `fp`; `false` if it was there.
    fn insert(&mut self, fp: u128) -> bool {
        let fp = fp.max(1);
        if (self.len + 1) * 2 > self.slots.len() {
            let cap = self.slots.len() * 2;
            let old = std::mem::replace(&mut self.slots, vec![0; cap]);
            self.len = 0;
            for f in old.into_iter().filter(|&f| f != 0) {
                self.insert(f);
            }
        }
        let mask = self.slots.len() - 1;
        let mut i = (fp as usize) & mask;
        loop {
            match self.slots[i] {
                0 => {
                    self.slots[i] = fp;
                    self.len += 1;
                    return true;
                }
                f if f == fp => return false,
                _ => i = (i + 1) & mask,
            }
        }
    }
}

/// Explains a failing history (see the module docs): the shortest failing prefix, then a
/// small inconsistent core of it (or, for a long prefix, the ops around its end).
fn explain<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    parts: &[u32],
    strict: Vec<bool>,
    first_steps: u64,
    budget: &mut Budget<'_>,
    options: &CheckOptions,
) -> ScFailure {
    let per_check = first_steps.saturating_mul(PER_CHECK_FACTOR).max(PER_CHECK_MIN);
    let (culprit, prefix_end) = shortest_failing_prefix(model, ops, parts, &strict, per_check, budget);
    // The prefix: ops invoked by then; those still running are relaxed, later ones left out.
    let in_prefix = |i: usize| ops[i].call <= prefix_end && parts[i] != NONE;
    let parts: Vec<u32> = (0..ops.len())
        .map(|i| if in_prefix(i) { parts[i] } else { NONE })
        .collect();
    let mut strict: Vec<bool> = (0..ops.len())
        .map(|i| strict[i] && in_prefix(i) && ops[i].ret <= prefix_end)
        .collect();
    // The prefix's strict ops, latest return first, and the last `w` of them as a mask.
    let mut by_ret: Vec<usize> = (0..ops.len()).filter(|&i| strict[i]).collect();
    by_ret.sort_by_key(|&i| (std::cmp::Reverse(ops[i].ret), i));
    let last = |w: usize| {
        let mut k = vec![false; ops.len()];
        for &i in by_ret.iter().take(w) {
            k[i] = true;
        }
        k
    };
    // A set to minimise: the whole prefix if short, else a failing set of its last ops (the
    // rest relaxed), if one is found.
    let mut core_found = options.explain && by_ret.len() <= MAX_MINIMISE;
    if options.explain && !core_found {
        let mut w = WINDOW;
        while w <= MAX_MINIMISE && budget.remaining() > 0 {
            let keep = last(w);
            if run_with(model, ops, &parts, &keep, budget, per_check, true, 0).0 == Outcome::Inconsistent {
                strict = keep;
                core_found = true;
                break;
            }
            w *= 2;
        }
    }
    let minimal = if core_found {
        reduce(model, ops, &parts, &mut strict, per_check, budget, options)
    } else {
        // Too long to minimise: the last ops of the prefix, where it stopped being consistent.
        strict = last(WINDOW);
        false
    };
    let mut set: Vec<usize> = (0..ops.len()).filter(|&i| strict[i]).collect();
    set.sort_by_key(|&i| (ops[i].call, i));
    ScFailure {
        clients: per_client(model, ops, &set),
        timeline: timeline(model, ops, &set, Some((culprit, "<-- no order gets past this"))),
        culprit,
        prefix_len: parts.iter().filter(|&&p| p != NONE).count(),
        ops: set,
        minimal,
    }
}

/// Strict ops of a failing prefix up to which the core is minimised; beyond, the last
/// `WINDOW` of them are shown instead.
const MAX_MINIMISE: usize = 256;
const WINDOW: usize = 24;

/// The completed op whose return ends the shortest failing prefix (ops invoked after it left
/// out, ops still running then relaxed), by bisection over return times; and that time. A
/// prefix whose check runs out of steps counts as passing, so the answer is always a prefix
/// that provably fails (at worst the whole history).
fn shortest_failing_prefix<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    parts: &[u32],
    strict: &[bool],
    per_check: u64,
    budget: &mut Budget<'_>,
) -> (usize, u64) {
    let mut rets: Vec<(u64, usize)> = (0..ops.len())
        .filter(|&i| strict[i] && parts[i] != NONE)
        .map(|i| (ops[i].ret.max(ops[i].call), i))
        .collect();
    rets.sort_unstable();
    let fails = |k: usize, budget: &mut Budget<'_>| {
        let t = rets[k].0;
        let p: Vec<u32> = (0..ops.len())
            .map(|i| if ops[i].call <= t { parts[i] } else { NONE })
            .collect();
        let s: Vec<bool> = (0..ops.len())
            .map(|i| strict[i] && ops[i].ret.max(ops[i].call) <= t)
            .collect();
        run(model, ops, &p, &s, budget, per_check).0 == Outcome::Inconsistent
    };
    // The whole history fails; find the first k whose prefix fails.
    let (mut lo, mut hi) = (0, rets.len() - 1);
    while lo < hi && budget.remaining() > 0 {
        let mid = (lo + hi) / 2;
        if fails(mid, budget) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    (rets[hi].1, rets[hi].0)
}

/// Delta debugging over the strict ops of a failing history: relaxes chunks (aligned to
/// parts) while the rest stays inconsistent. Returns whether the result is 1-minimal.
fn reduce<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    parts: &[u32],
    strict: &mut [bool],
    per_check: u64,
    budget: &mut Budget<'_>,
    options: &CheckOptions,
) -> bool {
    let mut rechecks = 0usize;
    let mut minimal = true;
    // Strict ops, grouped by part, each part in invocation order: chunks then tend to be
    // whole keys, which is how inconsistencies usually fall apart.
    let mut order: Vec<usize> = (0..ops.len())
        .filter(|&i| strict[i] && parts[i] != NONE)
        .collect();
    order.sort_by_key(|&i| (parts[i], ops[i].call, i));
    let mut chunk = order.len().div_ceil(2).max(1);
    loop {
        let mut changed = false;
        let mut at = 0;
        while at < order.len() {
            if rechecks >= options.max_explain_rechecks || budget.remaining() == 0 {
                return false;
            }
            let end = (at + chunk).min(order.len());
            if end - at == order.len() {
                break; // never relax everything
            }
            for &i in &order[at..end] {
                strict[i] = false;
            }
            rechecks += 1;
            let (out, _) = run_with(model, ops, parts, strict, budget, per_check, true, 0);
            if out == Outcome::Inconsistent {
                order.drain(at..end);
                changed = true;
            } else {
                if matches!(out, Outcome::Exhausted(_)) {
                    minimal = false;
                }
                for &i in &order[at..end] {
                    strict[i] = true;
                }
                at = end;
            }
        }
        if chunk == 1 {
            if !changed {
                return minimal;
            }
        } else {
            chunk = chunk.div_ceil(2);
        }
    }
}

/// One line per client: `c1: write(x, 1); then read(y) -> ""`.
fn per_client<M: Model>(model: &M, ops: &[Operation<M::Input, M::Output>], set: &[usize]) -> String {
    let mut by_client: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for &i in set {
        by_client.entry(ops[i].client).or_default().push(i);
    }
    let mut out = String::new();
    for (c, list) in by_client {
        let descs: Vec<String> = list
            .iter()
            .map(|&i| model.describe(&ops[i].input, &ops[i].output))
            .collect();
        out.push_str(&format!("c{c}: {}\n", descs.join(", then ")));
    }
    out
}
