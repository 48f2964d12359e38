//! The set of search configurations already visited.
//!
//! A configuration of the just-in-time search is fully described by
//!
//! * `r`: the first return event not yet passed (every operation that returned
//!   before it is linearized, every operation invoked after it is not),
//! * `u`: the operations invoked before `r` that are *not* linearized yet,
//! * the model state (interned id), and
//! * `p`: the pending (never-returning) operations already linearized.
//!
//! `(r, u)` encodes the set of linearized completed operations exactly (it is
//! "everything invoked before `r`, minus `u`"), so the key grows with the
//! concurrency of the history, not its length: memory per entry stays small
//! however long the history is, which is what Lowe's and Porcupine's full
//! bitsets do not give.
//!
//! For `p` we store more than equality: a configuration that has used a
//! superset of the pending operations of a visited one (same key) can do
//! nothing the visited one could not, because a pending operation may also
//! never take effect. So a lookup succeeds when a stored `p` is a *subset* of
//! the queried one. Each key holds a chain of pairwise incomparable `p` sets.

use super::table::fmix64;

const NONE: u32 = u32::MAX;

/// Result of [`Memo::visit`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Visit {
    /// Not seen (nor dominated): recorded now, explore it.
    New,
    /// Seen before, or dominated by a seen configuration: skip it.
    Seen,
    /// Recording it would overflow the 32-bit arena offsets.
    Full,
}

pub(crate) struct Memo {
    /// `(hash, key record offset)`; offset `NONE` = empty slot.
    slots: Vec<(u64, u32)>,
    /// Key records `[r, state, chain_head, ulen, u...]` and chain nodes
    /// `[next, plen, p...]`, both as runs of `u32`.
    arena: Vec<u32>,
    keys: usize,
    mask: usize,
}

fn is_subset(small: &[u32], big: &[u32]) -> bool {
    if small.len() > big.len() {
        return false;
    }
    let mut j = 0;
    for &x in small {
        while j < big.len() && big[j] < x {
            j += 1;
        }
        if j == big.len() || big[j] != x {
            return false;
        }
        j += 1;
    }
    true
}

impl Memo {
    pub(crate) fn new() -> Self {
        let cap = 64;
        Memo {
            slots: vec![(0, NONE); cap],
            arena: Vec::new(),
            keys: 0,
            mask: cap - 1,
        }
    }

    /// Bytes held (for the memory budget). Deterministic: depends only on
    /// what was inserted, not on the allocator.
    pub(crate) fn bytes(&self) -> usize {
        self.slots.len() * 16 + self.arena.len() * 4
    }

    pub(crate) fn hash_key(r: u32, state: u32, u: &[u32]) -> u64 {
        let mut h = fmix64((u64::from(r) << 32) | u64::from(state));
        for &x in u {
            h = super::table::combine(h, u64::from(x));
        }
        fmix64(h)
    }

    fn key_eq(&self, off: usize, r: u32, state: u32, u: &[u32]) -> bool {
        let a = &self.arena;
        if a[off] != r || a[off + 1] != state || a[off + 3] as usize != u.len() {
            return false;
        }
        &a[off + 4..off + 4 + u.len()] == u
    }

    fn push_node(&mut self, next: u32, p: &[u32]) -> Option<u32> {
        let off = u32::try_from(self.arena.len()).ok()?;
        if self.arena.len() + 2 + p.len() >= NONE as usize {
            return None;
        }
        self.arena.push(next);
        self.arena.push(p.len() as u32);
        self.arena.extend_from_slice(p);
        Some(off)
    }

    /// Looks up the configuration and records it if it is new.
    pub(crate) fn visit(&mut self, hash: u64, r: u32, state: u32, u: &[u32], p: &[u32]) -> Visit {
        let mut i = (hash as usize) & self.mask;
        loop {
            let (h, off) = self.slots[i];
            if off == NONE {
                break;
            }
            if h == hash && self.key_eq(off as usize, r, state, u) {
                return self.visit_chain(off as usize, p);
            }
            i = (i + 1) & self.mask;
        }
        // New key: key record followed by its first chain node.
        let Ok(off) = u32::try_from(self.arena.len()) else {
            return Visit::Full;
        };
        if self.arena.len() + 6 + u.len() + p.len() >= NONE as usize {
            return Visit::Full;
        }
        self.arena
            .extend_from_slice(&[r, state, off + 4 + u.len() as u32, u.len() as u32]);
        self.arena.extend_from_slice(u);
        if self.push_node(NONE, p).is_none() {
            return Visit::Full;
        }
        self.slots[i] = (hash, off);
        self.keys += 1;
        if self.keys * 2 > self.slots.len() {
            self.grow();
        }
        Visit::New
    }

    fn visit_chain(&mut self, key_off: usize, p: &[u32]) -> Visit {
        // Pass 1: is `p` dominated by (a subset of) a stored set?
        let mut node = self.arena[key_off + 2];
        while node != NONE {
            let n = node as usize;
            let plen = self.arena[n + 1] as usize;
            if is_subset(&self.arena[n + 2..n + 2 + plen], p) {
                return Visit::Seen;
            }
            node = self.arena[n];
        }
        // Pass 2: unlink stored sets that the new one dominates; they can no
        // longer cause a hit that the new one would not cause as well.
        let mut prev: Option<usize> = None;
        let mut node = self.arena[key_off + 2];
        while node != NONE {
            let n = node as usize;
            let plen = self.arena[n + 1] as usize;
            let next = self.arena[n];
            if is_subset(p, &self.arena[n + 2..n + 2 + plen]) {
                match prev {
                    None => self.arena[key_off + 2] = next,
                    Some(pv) => self.arena[pv] = next,
                }
            } else {
                prev = Some(n);
            }
            node = next;
        }
        let head = self.arena[key_off + 2];
        match self.push_node(head, p) {
            Some(off) => {
                self.arena[key_off + 2] = off;
                Visit::New
            }
            None => Visit::Full,
        }
    }

    fn grow(&mut self) {
        let cap = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![(0, NONE); cap]);
        self.mask = cap - 1;
        for (h, off) in old {
            if off != NONE {
                let mut i = (h as usize) & self.mask;
                while self.slots[i].1 != NONE {
                    i = (i + 1) & self.mask;
                }
                self.slots[i] = (h, off);
            }
        }
    }
}
