//! Latency and disk-time distributions: constant, uniform, normal, exponential, lognormal, each
//! with an optional `shift` (added) and `min`/`max` clamps, rounded to whole nanoseconds.
//!
//! `shift = 1ms` + exponential with mean `1ms` is PHOLD's delay.

use crate::rng::{Draw, Source};
use crate::time::Time;
use serde::Serialize;

/// The shape of a distribution. Parameters are in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "dist", rename_all = "lowercase")]
pub enum Shape {
    Constant {
        value: Time,
    },
    /// Uniform over the integers `min..=max`.
    Uniform {
        min: Time,
        max: Time,
    },
    Normal {
        mean: f64,
        sd: f64,
    },
    Exponential {
        mean: f64,
    },
    /// `median · e^(sigma · N(0,1))`.
    LogNormal {
        median: f64,
        sigma: f64,
    },
}

/// A distribution of durations: `clamp(shape + shift, min, max)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Dist {
    pub shape: Shape,
    pub shift: Time,
    pub min: Option<Time>,
    pub max: Option<Time>,
}

impl Dist {
    pub fn constant(value: Time) -> Self {
        Dist {
            shape: Shape::Constant { value },
            shift: 0,
            min: None,
            max: None,
        }
    }

    pub fn uniform(min: Time, max: Time) -> Self {
        assert!(min <= max);
        Dist {
            shape: Shape::Uniform { min, max },
            shift: 0,
            min: None,
            max: None,
        }
    }

    pub fn exponential(mean: Time) -> Self {
        Dist {
            shape: Shape::Exponential { mean: mean as f64 },
            shift: 0,
            min: None,
            max: None,
        }
    }

    /// True when sampling draws nothing from the stream.
    pub fn is_constant(&self) -> bool {
        matches!(self.shape, Shape::Constant { .. })
    }

    /// Draws one duration. Constant distributions draw nothing.
    #[inline]
    pub fn sample<S: Source>(&self, rng: &mut S) -> Time {
        let raw: Time = match self.shape {
            Shape::Constant { value } => value,
            Shape::Uniform { min, max } => rng.range_inclusive(min, max),
            Shape::Normal { mean, sd } => to_ns(mean + sd * rng.std_normal()),
            Shape::Exponential { mean } => to_ns(rng.exp(mean)),
            Shape::LogNormal { median, sigma } => to_ns(median * libm::exp(sigma * rng.std_normal())),
        };
        let mut v = raw.saturating_add(self.shift);
        if let Some(lo) = self.min {
            v = v.max(lo);
        }
        if let Some(hi) = self.max {
            v = v.min(hi);
        }
        v
    }

    /// The mean, for documentation and sanity checks (clamps ignored).
    pub fn nominal_mean(&self) -> f64 {
        let m = match self.shape {
            Shape::Constant { value } => value as f64,
            Shape::Uniform { min, max } => (min as f64 + max as f64) / 2.0,
            Shape::Normal { mean, .. } => mean,
            Shape::Exponential { mean } => mean,
            Shape::LogNormal { median, sigma } => median * libm::exp(sigma * sigma / 2.0),
        };
        m + self.shift as f64
    }
}

/// Rounds a sample to nanoseconds (half away from zero); negative samples become 0.
#[inline]
fn to_ns(x: f64) -> Time {
    if x.is_nan() || x <= 0.0 {
        0
    } else if x >= u64::MAX as f64 {
        u64::MAX
    } else {
        libm::round(x) as Time
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::NANOS_PER_MILLI;

    use crate::rng::Rng;

    fn mean_of(d: &Dist, n: usize) -> f64 {
        let mut r = Rng::stream(3, "dist-test");
        (0..n).map(|_| d.sample(&mut r) as f64).sum::<f64>() / n as f64
    }

    #[test]
    fn means_are_close_to_nominal() {
        let ms = NANOS_PER_MILLI;
        let cases = [
            Dist::constant(5 * ms),
            Dist::uniform(ms, 5 * ms),
            Dist {
                shape: Shape::Normal { mean: 10e6, sd: 1e6 },
                shift: 0,
                min: None,
                max: None,
            },
            Dist {
                shape: Shape::Exponential { mean: 1e6 },
                shift: ms,
                min: None,
                max: None,
            },
            Dist {
                shape: Shape::LogNormal {
                    median: 2e6,
                    sigma: 0.5,
                },
                shift: 0,
                min: None,
                max: None,
            },
        ];
        for d in cases {
            let m = mean_of(&d, 20_000);
            let want = d.nominal_mean();
            assert!((m - want).abs() / want < 0.03, "{d:?}: mean {m} want {want}");
        }
    }

    #[test]
    fn clamps_apply() {
        let d = Dist {
            shape: Shape::Exponential { mean: 1e6 },
            shift: 0,
            min: Some(500_000),
            max: Some(2_000_000),
        };
        let mut r = Rng::stream(1, "x");
        for _ in 0..1000 {
            let v = d.sample(&mut r);
            assert!((500_000..=2_000_000).contains(&v));
        }
    }
}
