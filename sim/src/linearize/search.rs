//! Just-in-time linearization search over one partition (see the module docs
//! of [`crate::linearize`] for the algorithm and references).

use super::memo::{Memo, Visit};
use super::table::{Interner, U64Map};
use super::{Budget, Exhausted, Model, Operation};

const NIL: u32 = u32::MAX;
/// Transition-cache value meaning "the model rejects this step".
const ILLEGAL: u32 = u32::MAX;
/// Marks a stack frame whose op came from the pending list.
const PEND_FLAG: u32 = 1 << 31;
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
    /// `culprit` (index into the caller's ops) is the operation whose return
    /// no linearization of the history could get past; `prefix_time` is the
    /// time of that return. The prefix of the history up to it is the
    /// shortest non-linearizable prefix.
    NotLinearizable {
        culprit: usize,
        prefix_time: u64,
    },
    Exhausted(Exhausted),
}

#[derive(Clone, Copy)]
struct Frame {
    /// Main-list call entry, or `PEND_FLAG | pending index`.
    kind: u32,
    prev_state: u32,
    /// For pending frames: the first return entry of the configuration the
    /// op was chosen from (bounds which pending ops are candidates).
    limit: u32,
}

enum Pos {
    /// Scanning the main list at this entry.
    Main(u32),
    /// Scanning pending ops from this one; `limit` is the first return entry.
    Pend(u32, u32),
}

struct Search<'m, M: Model> {
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
    ret_entry: Vec<u32>,
    head: u32,
    // Pending list: `0..k` sorted by call, head sentinel at `k`.
    pnext: Vec<u32>,
    pprev: Vec<u32>,
    pcall: Vec<u64>,
    phead: u32,
    interner: Interner<M::State>,
    trans: U64Map,
    memo: Memo,
    /// Pending ops currently linearized, sorted.
    cur_p: Vec<u32>,
    ubuf: Vec<u32>,
    steps: u64,
}

/// Runs the search on `sops` (indices into `ops`), charging `budget`.
pub(crate) fn search<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    sops: &[SearchOp],
    budget: &mut Budget<'_>,
) -> Outcome {
    let mut s = Search::new(model, ops, sops);
    let out = s.run(budget);
    budget.steps_used = budget.steps_used.saturating_add(s.steps);
    out
}

impl<'m, M: Model> Search<'m, M> {
    fn new(model: &'m M, ops: &'m [Operation<M::Input, M::Output>], sops: &[SearchOp]) -> Self {
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
        let mut ret_entry = vec![NIL; n];
        for (e, &(t, is_ret, op)) in evs.iter().enumerate() {
            ent_op.push(op);
            ent_is_call.push(!is_ret);
            ent_time.push(t);
            if is_ret {
                ret_entry[op as usize] = e as u32;
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

        let orig = done.iter().chain(pend.iter()).map(|o| o.orig).collect();
        let pcall = pend.iter().map(|o| o.call).collect();
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
            ret_entry,
            head,
            pnext,
            pprev,
            pcall,
            phead,
            interner: Interner::new(),
            trans: U64Map::new(),
            memo: Memo::new(),
            cur_p: Vec::new(),
            ubuf: Vec::new(),
            steps: 0,
        }
    }

    fn memory(&self) -> u64 {
        (self.memo.bytes() + self.trans.bytes() + self.interner.bytes() + self.next.len() * 24)
            as u64
    }

    /// Counts one step; polls cancellation and memory every `POLL_EVERY`.
    #[inline]
    fn tick(&mut self, budget: &Budget<'_>) -> Result<(), Exhausted> {
        self.steps += 1;
        if budget.steps_used.saturating_add(self.steps) > budget.max_steps {
            return Err(Exhausted::Steps);
        }
        if self.steps % POLL_EVERY == 0 {
            if let Some(cancel) = budget.cancel {
                if cancel() {
                    return Err(Exhausted::Cancelled);
                }
            }
            if self.memory() > budget.max_memory_bytes {
                return Err(Exhausted::Memory);
            }
        }
        Ok(())
    }

    /// The model transition for op `op` (search index) from state `st`,
    /// memoised: the search revisits the same (state, op) pair many times
    /// from different configurations.
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

    fn lift(&mut self, e: u32) {
        let r = self.ret_entry[self.ent_op[e as usize] as usize];
        for x in [e, r] {
            let (p, nx) = (self.prev[x as usize], self.next[x as usize]);
            self.next[p as usize] = nx;
            if nx != NIL {
                self.prev[nx as usize] = p;
            }
        }
    }

    fn unlift(&mut self, e: u32) {
        let r = self.ret_entry[self.ent_op[e as usize] as usize];
        for x in [r, e] {
            let (p, nx) = (self.prev[x as usize], self.next[x as usize]);
            self.next[p as usize] = x;
            if nx != NIL {
                self.prev[nx as usize] = x;
            }
        }
    }

    fn plift(&mut self, p: u32) {
        let (pv, nx) = (self.pprev[p as usize], self.pnext[p as usize]);
        self.pnext[pv as usize] = nx;
        if nx != NIL {
            self.pprev[nx as usize] = pv;
        }
        let at = self.cur_p.partition_point(|&x| x < p);
        self.cur_p.insert(at, p);
    }

    fn punlift(&mut self, p: u32) {
        let (pv, nx) = (self.pprev[p as usize], self.pnext[p as usize]);
        self.pnext[pv as usize] = p;
        if nx != NIL {
            self.pprev[nx as usize] = p;
        }
        let at = self.cur_p.partition_point(|&x| x < p);
        assert!(self.cur_p.get(at) == Some(&p), "pending set out of sync");
        self.cur_p.remove(at);
    }

    /// First return entry of the current configuration, filling `ubuf`
    /// with the not-yet-linearized ops invoked before it.
    fn frontier(&mut self) -> u32 {
        self.ubuf.clear();
        let mut e = self.next[self.head as usize];
        while e != NIL && self.ent_is_call[e as usize] {
            self.ubuf.push(self.ent_op[e as usize]);
            e = self.next[e as usize];
        }
        e
    }

    fn run(&mut self, budget: &Budget<'_>) -> Outcome {
        match self.run_inner(budget) {
            Ok(o) => o,
            Err(e) => Outcome::Exhausted(e),
        }
    }

    fn run_inner(&mut self, budget: &Budget<'_>) -> Result<Outcome, Exhausted> {
        let init = self.model.init();
        let mut state = self.interner.intern(init);
        let mut max_r = self.frontier();
        if max_r == NIL {
            // No completed ops: pending ones may all be left out.
            return Ok(Outcome::Linearizable);
        }
        let mut stack: Vec<Frame> = Vec::new();
        let mut pos = Pos::Main(self.next[self.head as usize]);
        loop {
            match pos {
                Pos::Main(e) => {
                    if e == NIL {
                        return Ok(Outcome::Linearizable);
                    }
                    if !self.ent_is_call[e as usize] {
                        // Every candidate from the main list has been tried;
                        // now the pending ops invoked before this return.
                        pos = Pos::Pend(self.pnext[self.phead as usize], e);
                        continue;
                    }
                    self.tick(budget)?;
                    let op = self.ent_op[e as usize];
                    if let Some(ns) = self.transition(state, op) {
                        self.lift(e);
                        let r = self.frontier();
                        if r == NIL {
                            return Ok(Outcome::Linearizable);
                        }
                        let h = Memo::hash_key(r, ns, &self.ubuf);
                        match self.memo.visit(h, r, ns, &self.ubuf, &self.cur_p) {
                            Visit::New => {
                                max_r = max_r.max(r);
                                stack.push(Frame {
                                    kind: e,
                                    prev_state: state,
                                    limit: NIL,
                                });
                                state = ns;
                                pos = Pos::Main(self.next[self.head as usize]);
                                continue;
                            }
                            Visit::Seen => self.unlift(e),
                            Visit::Full => return Err(Exhausted::Memory),
                        }
                    }
                    pos = Pos::Main(self.next[e as usize]);
                    continue;
                }
                Pos::Pend(p, limit) => {
                    if p != NIL && self.pcall[p as usize] <= self.ent_time[limit as usize] {
                        self.tick(budget)?;
                        let op = (self.n as u32) + p;
                        // A pending op that leaves the state unchanged is
                        // pointless: the configuration without it dominates.
                        if let Some(ns) = self.transition(state, op).filter(|&ns| ns != state) {
                            self.plift(p);
                            let r = self.frontier();
                            let h = Memo::hash_key(r, ns, &self.ubuf);
                            match self.memo.visit(h, r, ns, &self.ubuf, &self.cur_p) {
                                Visit::New => {
                                    stack.push(Frame {
                                        kind: PEND_FLAG | p,
                                        prev_state: state,
                                        limit,
                                    });
                                    state = ns;
                                    pos = Pos::Main(self.next[self.head as usize]);
                                    continue;
                                }
                                Visit::Seen => self.punlift(p),
                                Visit::Full => return Err(Exhausted::Memory),
                            }
                        }
                        pos = Pos::Pend(self.pnext[p as usize], limit);
                        continue;
                    }
                    // No candidate left here: backtrack.
                    let Some(f) = stack.pop() else {
                        let op = self.ent_op[max_r as usize] as usize;
                        return Ok(Outcome::NotLinearizable {
                            culprit: self.orig[op],
                            prefix_time: self.ent_time[max_r as usize],
                        });
                    };
                    state = f.prev_state;
                    if f.kind & PEND_FLAG != 0 {
                        let p = f.kind & !PEND_FLAG;
                        self.punlift(p);
                        pos = Pos::Pend(self.pnext[p as usize], f.limit);
                    } else {
                        self.unlift(f.kind);
                        pos = Pos::Main(self.next[f.kind as usize]);
                    }
                }
            }
        }
    }
}
