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

/// A source of uniform 64-bit words. The sampling helpers ([`Draw`]) are written once over it.
pub trait Source {
    fn next_u64(&mut self) -> u64;
}

/// Sampling helpers for every [`Source`]. Floating point goes through `libm` only.
pub trait Draw: Source {
    /// A uniform integer in `0..n` (Lemire's multiply-and-reject: unbiased). `n` must be > 0.
    #[inline]
    fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
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
    fn range_inclusive(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "empty range {lo}..={hi}");
        if lo == 0 && hi == u64::MAX {
            return self.next_u64();
        }
        lo + self.below(hi - lo + 1)
    }

    /// A uniform float in `[0, 1)` with 53 random bits.
    #[inline]
    fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`. Draws nothing when `p` is 0 or 1, so turning a
    /// probability off does not shift the stream.
    #[inline]
    fn chance(&mut self, p: f64) -> bool {
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
    fn exp(&mut self, mean: f64) -> f64 {
        let u = self.unit_f64();
        -mean * libm::log(1.0 - u)
    }

    /// A standard normal sample (Box–Muller, one of the pair).
    fn std_normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit_f64(); // (0, 1]
        let u2 = self.unit_f64();
        libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * std::f64::consts::PI * u2)
    }

    /// Picks an index by weight; `weights` must not all be zero.
    fn weighted(&mut self, weights: &[f64]) -> usize {
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
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

impl<S: Source + ?Sized> Draw for S {}

/// One named ChaCha8 stream.
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

    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        self.inner.next_u32()
    }
}

impl Source for Rng {
    #[inline]
    fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }
}

/// The per-link streams (architecture invariant 4), indexed by send time rather than by a
/// running count: the words a message on link `l` sent at time `t` draws are SplitMix64 over
/// `H(key, l, t, c)`, where `key` comes from the run's ChaCha stream `links` and `c` counts the
/// earlier sends on `l` at the same instant `t`.
///
/// So a link's draws depend only on the seed, the link and when it sends — never on traffic
/// elsewhere, and not even on how many messages the link carried before (a stronger guarantee than
/// a counter per link). And a link costs no memory: PHOLD with 1 024 nodes sends over a random one
/// of a million links per event, and any per-link state (a ChaCha generator, or even a 4-byte
/// counter) cost a cache miss per message — the engine ran at a fifth of a plain loop's speed. The
/// arithmetic is integer-only, so every platform gives the same bits.
#[derive(Clone, Copy, Debug)]
pub struct LinkStreams {
    key: u64,
}

impl LinkStreams {
    pub fn new(seed: u64) -> Self {
        let mut r = Rng::stream(seed, "links");
        LinkStreams { key: r.next_u64() }
    }

    /// The stream of the `nth` message sent on `link` at time `now`.
    #[inline]
    pub fn message(&self, link: u64, now: u64, nth: u32) -> LinkRng {
        let t = mix64(now ^ (u64::from(nth) << 48).rotate_left(7) ^ 0x2545_f491_4f6c_dd1d);
        LinkRng {
            state: mix64(self.key ^ link.wrapping_mul(0xd1b5_4a32_d192_ed03) ^ t),
        }
    }
}

/// A node's stream (its handlers' draws, or its disk's sync latencies), keyed by *when* it draws
/// rather than by how often it drew before: the draws of one handler call at time `t` are
/// SplitMix64 over `H(key, t, c)`, where `c` counts the earlier drawing calls on this stream at the
/// same instant. So removing a client operation or a fault changes a node's draws only at the
/// instants it changes — the election timeout a follower draws at the heartbeat of time `t` is the
/// same with or without an unrelated write before it. Shrinking and guided fuzzing rely on that
/// locality; a single running stream made every later draw depend on every earlier event.
#[derive(Clone, Debug)]
pub struct TimedRng {
    key: u64,
    /// The engine event whose draws the state serves.
    event: u64,
    at: u64,
    nth: u32,
    state: u64,
}

impl TimedRng {
    pub fn stream(seed: u64, label: &str) -> Self {
        TimedRng {
            key: Rng::stream(seed, label).next_u64(),
            event: u64::MAX,
            at: u64::MAX,
            nth: 0,
            state: 0,
        }
    }

    /// The stream positioned for the draws of engine event `event` at time `now`: the first call
    /// of an event starts its words; later calls of the same event continue them.
    #[inline]
    pub fn for_event(&mut self, event: u64, now: u64) -> &mut Self {
        if event != self.event {
            self.event = event;
            if now == self.at {
                self.nth = self.nth.wrapping_add(1);
            } else {
                self.at = now;
                self.nth = 0;
            }
            let t = mix64(now ^ (u64::from(self.nth) << 48).rotate_left(7) ^ 0x6a09_e667_f3bc_c909);
            self.state = mix64(self.key ^ t);
        }
        self
    }
}

impl Source for TimedRng {
    #[inline]
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.state)
    }
}

/// The stream of one message on one link (SplitMix64).
pub struct LinkRng {
    state: u64,
}

impl Source for LinkRng {
    #[inline]
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.state)
    }
}

/// SplitMix64's output function (Steele, Lea & Flood 2014).
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
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
    fn timed_streams_depend_on_the_time_of_the_draw_not_on_earlier_draws() {
        let words = |r: &mut TimedRng, event: u64, t: u64| -> Vec<u64> {
            let r = r.for_event(event, t);
            (0..3).map(|_| r.next_u64()).collect()
        };
        let mut a = TimedRng::stream(5, "node/n1");
        let mut b = TimedRng::stream(5, "node/n1");
        // `a` drew at other times before; at t = 900 both draw the same words.
        words(&mut a, 1, 100);
        words(&mut a, 2, 400);
        let at_900 = words(&mut b, 7, 900);
        assert_eq!(words(&mut a, 3, 900), at_900);
        // A second drawing event at the same instant gets other words; one event continues.
        let second = words(&mut a, 4, 900);
        assert_ne!(second, at_900);
        let more = words(&mut a, 4, 900);
        assert_ne!(more, second, "the same event continues its stream");
        assert_ne!(
            words(&mut TimedRng::stream(5, "node/n2"), 1, 900),
            at_900,
            "per stream"
        );
        assert_ne!(
            words(&mut TimedRng::stream(6, "node/n1"), 1, 900),
            at_900,
            "per seed"
        );
    }

    #[test]
    fn link_streams_depend_on_seed_link_time_and_order_only() {
        let s = LinkStreams::new(42);
        let draw = |s: &LinkStreams, link: u64, t: u64, nth: u32| -> Vec<u64> {
            let mut r = s.message(link, t, nth);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let a = draw(&s, 1, 1000, 0);
        assert_eq!(a, draw(&s, 1, 1000, 0), "reproducible");
        assert_ne!(a, draw(&s, 2, 1000, 0), "per link");
        assert_ne!(a, draw(&s, 1, 1001, 0), "per send time");
        assert_ne!(a, draw(&s, 1, 1000, 1), "per message at one instant");
        assert_ne!(a, draw(&LinkStreams::new(43), 1, 1000, 0), "per seed");
        // Nearby links, times and orders must not give related words.
        let mut all: Vec<u64> = Vec::new();
        for link in 0..20 {
            for t in 0..20 {
                for nth in 0..3 {
                    all.extend(draw(&s, link, t, nth));
                }
            }
        }
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "no repeated words");
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
