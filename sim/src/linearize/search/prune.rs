//! Construction of a [`Search`] and the pruning rules it applies: run
//! dominance, irrelevant states, dead runs and forward checking, with the
//! linked lists of unplaced non-monotone and read-like ops they walk.

use crate::linearize::memo::Memo;
use crate::linearize::table::{Interner, U64Map};
use crate::linearize::{Model, Operation};

use super::{Choice, Level, Pend, Pos, Search, SearchOp};
use super::{FC_LOOKAHEAD, IRRELEVANCE_WALK, MAX_TARGETS, NIL, RUN_LOOKBACK};

impl<'m, M: Model> Search<'m, M> {
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
    pub(super) fn run_dominated(&mut self, op: u32, ns: u32) -> bool {
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
    /// [`ANY_STATE`](super::ANY_STATE) in the memo key, and pending ops that
    /// are not blind are not tried (dropping them from a continuation leaves
    /// one that starts with a child tried here).
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
    pub(super) fn irrelevance(&mut self, st: u32) -> Pend {
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
    pub(super) fn dead_run(&mut self) -> bool {
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

    pub(super) fn nm_remove(&mut self, op: u32) {
        let x = self.nm_pos[op as usize];
        if x != NIL {
            let (pv, nx) = (self.nm_prev[x as usize], self.nm_next[x as usize]);
            self.nm_next[pv as usize] = nx;
            if nx != NIL {
                self.nm_prev[nx as usize] = pv;
            }
        }
    }

    pub(super) fn nm_restore(&mut self, op: u32) {
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
    pub(super) fn viable(&mut self) -> Option<Option<u32>> {
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

    pub(super) fn rl_remove(&mut self, op: u32) {
        if self.req[op as usize] != NIL {
            let (pv, nx) = (self.rl_prev[op as usize], self.rl_next[op as usize]);
            self.rl_next[pv as usize] = nx;
            if nx != NIL {
                self.rl_prev[nx as usize] = pv;
            }
        }
    }

    pub(super) fn rl_restore(&mut self, op: u32) {
        if self.req[op as usize] != NIL {
            let (pv, nx) = (self.rl_prev[op as usize], self.rl_next[op as usize]);
            self.rl_next[pv as usize] = op;
            if nx != NIL {
                self.rl_prev[nx as usize] = op;
            }
        }
    }
}
