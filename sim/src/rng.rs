//! Seeded randomness split into named ChaCha streams (architecture invariant 4).
//!
//! Every component draws from its own stream — `workload/c1`, `faults/crash`, `clocks`,
//! `node/n3`, one per network link — derived from the run's seed and the stream's name. A change
//! in one component therefore never shifts another component's draws.
//!
//! Floating point only enters through `libm` (`log`, `exp`, `cos`, `sqrt`), which gives the same
//! bits on every platform.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng as _, SeedableRng};

/// Derives a 256-bit ChaCha key from the run's seed and a stream label (SplitMix64 over an
/// FNV-1a digest of the label). Stable forever: changing it changes every trace hash.
pub fn derive_key(seed: u64, label: &str) -> [u8; 32] {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut state = seed ^ h.rotate_left(29);
    let mut key = [0u8; 32];
    for chunk in key.chunks_exact_mut(8) {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes());
    }
    key
}

/// One named random stream.
#[derive(Clone, Debug)]
pub struct Rng {
    inner: ChaCha8Rng,
}

impl Rng {
    /// The stream called `label` of the run with this seed.
    pub fn stream(seed: u64, label: &str) -> Self {
        Rng {
            inner: ChaCha8Rng::from_seed(derive_key(seed, label)),
        }
    }

    fn from_chacha(inner: ChaCha8Rng) -> Self {
        Rng { inner }
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        self.inner.next_u32()
    }

    /// A uniform integer in `0..n` (Lemire's multiply-and-reject: unbiased). `n` must be > 0.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0)");
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// A uniform integer in `lo..=hi`.
    #[inline]
    pub fn range_inclusive(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "empty range {lo}..={hi}");
        if lo == 0 && hi == u64::MAX {
            return self.next_u64();
        }
        lo + self.below(hi - lo + 1)
    }

    /// A uniform float in `[0, 1)` with 53 random bits.
    #[inline]
    pub fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`. Draws nothing when `p` is 0 or 1, so turning a
    /// probability off does not shift the stream.
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            self.unit_f64() < p
        }
    }

    /// An exponential sample with the given mean (inverse transform, `libm::log`).
    #[inline]
    pub fn exp(&mut self, mean: f64) -> f64 {
        let u = self.unit_f64();
        -mean * libm::log(1.0 - u)
    }

    /// A standard normal sample (Box–Muller, one of the pair).
    pub fn std_normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit_f64(); // (0, 1]
        let u2 = self.unit_f64();
        libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * std::f64::consts::PI * u2)
    }

    /// Picks an index by weight; `weights` must not all be zero.
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        assert!(total > 0.0, "weights sum to zero");
        let mut x = self.unit_f64() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        // Rounding can leave x just past the last bucket: give it to the last positive weight.
        weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// The per-link streams. Thousands of nodes mean millions of links, so a link does not own a
/// generator: it owns a position (in 32-bit words) in its own ChaCha stream — the key is the
/// run's `links` key and the ChaCha stream id is the link's index. Drawing re-seeks one shared
/// generator; consecutive draws on the same link reuse it.
pub struct LinkStreams {
    key: [u8; 32],
    current: Option<u64>,
    scratch: Rng,
}

impl LinkStreams {
    pub fn new(seed: u64) -> Self {
        let key = derive_key(seed, "links");
        LinkStreams {
            key,
            current: None,
            scratch: Rng::from_chacha(ChaCha8Rng::from_seed(key)),
        }
    }

    /// Runs `f` with link `link`'s stream positioned at `*word_pos`, then saves the new position.
    #[inline]
    pub fn with<R>(&mut self, link: u64, word_pos: &mut u64, f: impl FnOnce(&mut Rng) -> R) -> R {
        if self.current != Some(link) {
            let mut g = ChaCha8Rng::from_seed(self.key);
            g.set_stream(link);
            g.set_word_pos(u128::from(*word_pos));
            self.scratch = Rng::from_chacha(g);
            self.current = Some(link);
        }
        let r = f(&mut self.scratch);
        *word_pos = self.scratch.inner.get_word_pos() as u64;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_independent_and_reproducible() {
        let mut a = Rng::stream(7, "workload");
        let mut b = Rng::stream(7, "workload");
        let mut c = Rng::stream(7, "faults");
        let mut d = Rng::stream(8, "workload");
        let xa: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let xb: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        let xc: Vec<u64> = (0..4).map(|_| c.next_u64()).collect();
        let xd: Vec<u64> = (0..4).map(|_| d.next_u64()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
        assert_ne!(xa, xd);
    }

    #[test]
    fn link_streams_match_a_dedicated_generator() {
        // Interleaving draws on two links must give each link the same sequence as if it
        // had its own generator.
        let mut links = LinkStreams::new(42);
        let (mut p1, mut p2) = (0u64, 0u64);
        let mut seq1 = Vec::new();
        let mut seq2 = Vec::new();
        for i in 0..50 {
            seq1.push(links.with(1, &mut p1, |r| r.next_u64()));
            if i % 3 == 0 {
                seq2.push(links.with(2, &mut p2, |r| r.next_u32() as u64));
            }
        }
        let mut g1 = ChaCha8Rng::from_seed(derive_key(42, "links"));
        g1.set_stream(1);
        let want1: Vec<u64> = (0..50).map(|_| g1.next_u64()).collect();
        let mut g2 = ChaCha8Rng::from_seed(derive_key(42, "links"));
        g2.set_stream(2);
        let want2: Vec<u64> = (0..seq2.len()).map(|_| g2.next_u32() as u64).collect();
        assert_eq!(seq1, want1);
        assert_eq!(seq2, want2);
    }

    #[test]
    fn below_is_in_range_and_covers() {
        let mut r = Rng::stream(1, "t");
        let mut seen = [false; 7];
        for _ in 0..1000 {
            let x = r.below(7) as usize;
            seen[x] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }
}
