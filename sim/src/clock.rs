//! Node clocks (architecture invariant 5).
//!
//! Each node has a *monotonic* clock, `offset + t·(1 + drift_ppm/10⁶)` of true time `t`, which
//! drives its timers and leases, and a *wall* clock, the monotonic clock plus scheduled jumps,
//! for timestamps it hands out. All arithmetic is integer (u128/i128) with floor rounding.

use crate::time::Time;
use serde::Serialize;

const PPM: i128 = 1_000_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeClock {
    /// Monotonic clock reading at true time 0.
    pub offset_ns: u64,
    /// Rate error in parts per million (positive: runs fast). Must be > -1 000 000.
    pub drift_ppm: i64,
    /// Wall clock minus monotonic clock; changed by clock jumps.
    pub wall_offset_ns: i64,
}

impl NodeClock {
    pub fn new(offset_ns: u64, drift_ppm: i64) -> Self {
        assert!(
            drift_ppm > -(PPM as i64),
            "drift {drift_ppm} ppm would stop the clock"
        );
        NodeClock {
            offset_ns,
            drift_ppm,
            wall_offset_ns: 0,
        }
    }

    pub fn perfect() -> Self {
        NodeClock::new(0, 0)
    }

    fn rate(&self) -> i128 {
        PPM + self.drift_ppm as i128
    }

    /// The monotonic clock at true time `t`.
    #[inline]
    pub fn mono(&self, t: Time) -> u64 {
        if self.drift_ppm == 0 {
            return self.offset_ns.saturating_add(t);
        }
        let scaled = (t as i128 * self.rate()).div_euclid(PPM);
        (self.offset_ns as i128 + scaled).clamp(0, u64::MAX as i128) as u64
    }

    /// The wall clock at true time `t` (may go backwards after a jump).
    pub fn wall(&self, t: Time) -> i64 {
        (self.mono(t) as i128 + self.wall_offset_ns as i128).clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }

    /// The earliest true time at which the monotonic clock, read at `now`, has advanced by
    /// at least `local_delay`.
    #[inline]
    pub fn deadline_after(&self, now: Time, local_delay: u64) -> Time {
        if self.drift_ppm == 0 {
            return now.saturating_add(local_delay);
        }
        let target = (self.mono(now) - self.offset_ns) as u128 + local_delay as u128;
        let rate = self.rate() as u128;
        let t = (target * PPM as u128).div_ceil(rate);
        u64::try_from(t).unwrap_or(u64::MAX).max(now)
    }

    pub fn jump(&mut self, by_ns: i64) {
        self.wall_offset_ns = self.wall_offset_ns.saturating_add(by_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_scales_time() {
        let c = NodeClock::new(5, 1000); // 0.1% fast
        assert_eq!(c.mono(0), 5);
        assert_eq!(c.mono(1_000_000), 5 + 1_001_000);
        let slow = NodeClock::new(0, -1000);
        assert_eq!(slow.mono(1_000_000), 999_000);
    }

    #[test]
    fn deadline_is_exact_inverse() {
        for drift in [-500_000i64, -500_000i64 + 1, -1234, -1, 0, 1, 777, 100_000] {
            let c = NodeClock::new(12345, drift);
            for now in [0u64, 1, 999_999, 123_456_789] {
                for d in [0u64, 1, 150_000_000, 3_000_000_000] {
                    let t = c.deadline_after(now, d);
                    assert!(c.mono(t) >= c.mono(now) + d, "drift {drift} now {now} d {d}");
                    if t > now {
                        assert!(c.mono(t - 1) < c.mono(now) + d, "not earliest: drift {drift}");
                    }
                }
            }
        }
    }

    #[test]
    fn jumps_move_only_the_wall_clock() {
        let mut c = NodeClock::new(0, 0);
        c.jump(-2_000);
        assert_eq!(c.mono(10_000), 10_000);
        assert_eq!(c.wall(10_000), 8_000);
    }
}
