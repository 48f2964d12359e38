//! The search loop of a [`Search`] and the list operations it uses to
//! place (lift) and unplace (unlift) ops.

use crate::linearize::memo::Visit;
use crate::linearize::{Budget, Model};

use super::{Choice, Level, Outcome, Pend, Pos, Search, Stop, NIL};

impl<'m, M: Model> Search<'m, M> {
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
    pub(super) fn frontier(&mut self) -> u32 {
        self.ubuf.clear();
        let mut e = self.next[self.head as usize];
        while e != NIL && self.ent_is_call[e as usize] {
            self.ubuf.push(self.ent_op[e as usize]);
            e = self.next[e as usize];
        }
        e
    }

    pub(super) fn run(&mut self, budget: &Budget<'_>, slice_end: u64) -> Result<Outcome, Stop> {
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
