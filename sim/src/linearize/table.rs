//! Small deterministic hash tables used by the search.
//!
//! The crate bans `std::collections::HashMap` (its `RandomState` would make
//! iteration order, and therefore anything derived from it, vary between
//! runs). The search only needs lookups, never iteration, but we still want
//! the same memory layout and probe sequences on every run so that step and
//! memory accounting are reproducible; hence these open-addressing tables
//! with a fixed hash function.

use std::hash::{Hash, Hasher};

/// 64-bit finaliser from MurmurHash3: spreads every input bit over the whole
/// word so that the low bits used for bucket selection are well mixed.
#[inline]
pub(crate) fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// Combines a running hash with one more word (order-sensitive).
#[inline]
pub(crate) fn combine(h: u64, w: u64) -> u64 {
    (h.rotate_left(23) ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// A fixed-seed, FxHash-like streaming hasher. Deterministic across runs and
/// platforms of the same endianness, which is all the memo tables need.
#[derive(Default)]
pub(crate) struct DetHasher {
    h: u64,
}

impl Hasher for DetHasher {
    fn finish(&self) -> u64 {
        fmix64(self.h)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.h = combine(self.h, u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            // Mix the tail length in so "ab" and "ab\0" differ.
            self.h = combine(self.h, u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.h = combine(self.h, u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.h = combine(self.h, u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.h = combine(self.h, i);
    }

    fn write_i64(&mut self, i: i64) {
        self.h = combine(self.h, i as u64);
    }

    fn write_usize(&mut self, i: usize) {
        self.h = combine(self.h, i as u64);
    }
}

/// Hashes any `Hash` value with [`DetHasher`].
pub(crate) fn det_hash<T: Hash + ?Sized>(v: &T) -> u64 {
    let mut h = DetHasher::default();
    v.hash(&mut h);
    h.finish()
}

const EMPTY_KEY: u64 = u64::MAX;

/// Open-addressing map from `u64` keys (never `u64::MAX`) to `u32` values,
/// with linear probing. Used for the transition cache.
pub(crate) struct U64Map {
    keys: Vec<u64>,
    vals: Vec<u32>,
    len: usize,
    mask: usize,
}

impl U64Map {
    pub(crate) fn new() -> Self {
        let cap = 256;
        U64Map {
            keys: vec![EMPTY_KEY; cap],
            vals: vec![0; cap],
            len: 0,
            mask: cap - 1,
        }
    }

    /// Bytes held by the table (for memory accounting).
    pub(crate) fn bytes(&self) -> usize {
        self.keys.len() * 12
    }

    #[inline]
    pub(crate) fn get(&self, key: u64) -> Option<u32> {
        let mut i = (fmix64(key) as usize) & self.mask;
        loop {
            let k = self.keys[i];
            if k == key {
                return Some(self.vals[i]);
            }
            if k == EMPTY_KEY {
                return None;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Inserts a key that is known to be absent.
    pub(crate) fn insert_new(&mut self, key: u64, val: u32) {
        assert!(key != EMPTY_KEY, "U64Map key u64::MAX is reserved");
        if (self.len + 1) * 2 > self.keys.len() {
            self.grow();
        }
        let mut i = (fmix64(key) as usize) & self.mask;
        while self.keys[i] != EMPTY_KEY {
            i = (i + 1) & self.mask;
        }
        self.keys[i] = key;
        self.vals[i] = val;
        self.len += 1;
    }

    fn grow(&mut self) {
        let cap = self.keys.len() * 2;
        let old_keys = std::mem::replace(&mut self.keys, vec![EMPTY_KEY; cap]);
        let old_vals = std::mem::replace(&mut self.vals, vec![0; cap]);
        self.mask = cap - 1;
        self.len = 0;
        for (k, v) in old_keys.into_iter().zip(old_vals) {
            if k != EMPTY_KEY {
                self.insert_new(k, v);
            }
        }
    }
}

/// Hash-consing table: maps each distinct state to a dense `u32` id so the
/// search can store, compare and hash states as plain integers. A state is
/// cloned and hashed once, when it is first produced.
pub(crate) struct Interner<S> {
    pub(crate) states: Vec<S>,
    hashes: Vec<u64>,
    /// Slot holds `id + 1`, 0 = empty.
    slots: Vec<u32>,
    mask: usize,
}

impl<S: Hash + Eq> Interner<S> {
    pub(crate) fn new() -> Self {
        let cap = 64;
        Interner {
            states: Vec::new(),
            hashes: Vec::new(),
            slots: vec![0; cap],
            mask: cap - 1,
        }
    }

    /// Bytes held by the table itself plus `size_of::<S>()` per state (heap
    /// data owned by states, e.g. string contents, is not visible here).
    pub(crate) fn bytes(&self) -> usize {
        self.slots.len() * 4 + self.states.len() * (8 + std::mem::size_of::<S>())
    }

    pub(crate) fn intern(&mut self, s: S) -> u32 {
        let h = det_hash(&s);
        let mut i = (h as usize) & self.mask;
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                break;
            }
            let id = (slot - 1) as usize;
            if self.hashes[id] == h && self.states[id] == s {
                return slot - 1;
            }
            i = (i + 1) & self.mask;
        }
        let id = u32::try_from(self.states.len()).unwrap_or(u32::MAX);
        assert!(id < u32::MAX - 2, "more than 2^32 distinct model states");
        self.states.push(s);
        self.hashes.push(h);
        self.slots[i] = id + 1;
        if self.states.len() * 2 > self.slots.len() {
            self.grow();
        }
        id
    }

    fn grow(&mut self) {
        let cap = self.slots.len() * 2;
        self.slots = vec![0; cap];
        self.mask = cap - 1;
        for (id, &h) in self.hashes.iter().enumerate() {
            let mut i = (h as usize) & self.mask;
            while self.slots[i] != 0 {
                i = (i + 1) & self.mask;
            }
            self.slots[i] = id as u32 + 1;
        }
    }
}
