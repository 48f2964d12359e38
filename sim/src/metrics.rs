//! Metrics: numbers a run measures, reported by the engine, the protocol's invariants or the
//! workload family through the check sink, and summarised in `RunReport::metrics` (JSON
//! `metrics`: name → `{n, min, median, mean, p99, max}`, or a single value).
//!
//! A metric is either a *series* of samples (`CheckSink::sample`: a latency per operation, a
//! delay per value) or a single *value* (`CheckSink::value`: messages per operation at the end).
//! Samples are kept for the percentiles up to [`MAX_KEPT`] per metric; beyond it every other
//! kept sample is dropped and only every second new one is kept (then every fourth, …), so the
//! memory stays bounded and the result stays deterministic. `n`, `min`, `mean` and `max` are
//! always exact.

use serde::Serialize;
use std::collections::BTreeMap;

/// What a metric counts, for `dsim list`, the summary and sweeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Simulated nanoseconds (shown as durations).
    Ns,
    /// A count or any plain number.
    Count,
    /// A fraction or a rate (a number without a unit).
    Ratio,
}

/// A metric a protocol, family or the engine can report.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct MetricDecl {
    pub name: &'static str,
    pub unit: Unit,
    pub description: &'static str,
}

impl MetricDecl {
    pub const fn new(name: &'static str, unit: Unit, description: &'static str) -> Self {
        MetricDecl {
            name,
            unit,
            description,
        }
    }
}

/// Samples kept per metric for its percentiles.
pub const MAX_KEPT: usize = 1 << 20;

/// One metric's summary, as in `result.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MetricSummary {
    Series {
        n: u64,
        min: f64,
        median: f64,
        mean: f64,
        p99: f64,
        max: f64,
    },
    Value(f64),
}

/// Samples kept per metric with their times, for plots over time (thinned like `kept`).
pub const MAX_TIMELINE: usize = 2048;

/// A bounded, evenly thinned sample of a stream: item `n` (0-based, in order) is kept when
/// `n` is a multiple of the stride; once `cap` items are kept, every other one is dropped and
/// the stride doubles. Deterministic, and spread over the whole stream.
#[derive(Clone, Debug)]
pub struct Thinned<T> {
    items: Vec<T>,
    stride: u64,
    cap: usize,
}

impl<T> Thinned<T> {
    pub fn new(cap: usize) -> Self {
        Thinned {
            items: Vec::new(),
            stride: 1,
            cap: cap.max(1),
        }
    }

    /// Offers the stream's `n`-th item.
    pub fn offer(&mut self, n: u64, item: T) {
        if !n.is_multiple_of(self.stride) {
            return;
        }
        if self.items.len() >= self.cap {
            let mut i = 0;
            self.items.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.stride *= 2;
        }
        if n.is_multiple_of(self.stride) {
            self.items.push(item);
        }
    }

    pub fn items(&self) -> &[T] {
        &self.items
    }

    pub fn into_items(self) -> Vec<T> {
        self.items
    }

    /// One item in this many is kept.
    pub fn stride(&self) -> u64 {
        self.stride
    }
}

struct Series {
    n: u64,
    min: f64,
    max: f64,
    sum: f64,
    /// Values for the percentiles.
    kept: Thinned<f64>,
    /// (time, value) samples for plots over time.
    timeline: Thinned<(u64, f64)>,
}

impl Default for Series {
    fn default() -> Self {
        Series {
            n: 0,
            min: 0.0,
            max: 0.0,
            sum: 0.0,
            kept: Thinned::new(MAX_KEPT),
            timeline: Thinned::new(MAX_TIMELINE),
        }
    }
}

impl Series {
    fn add_at(&mut self, t: u64, v: f64) {
        self.timeline.offer(self.n, (t, v));
        self.add(v);
    }

    fn add(&mut self, v: f64) {
        if self.n == 0 {
            self.min = v;
            self.max = v;
        }
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += v;
        self.kept.offer(self.n, v);
        self.n += 1;
    }

    fn summary(&self) -> MetricSummary {
        let mut s = self.kept.items().to_vec();
        s.sort_by(f64::total_cmp);
        let rank = |q: f64| nearest_rank(&s, q);
        MetricSummary::Series {
            n: self.n,
            min: self.min,
            median: rank(0.5),
            mean: self.sum / self.n as f64,
            p99: rank(0.99),
            max: self.max,
        }
    }
}

/// Nearest rank: the smallest of the (sorted, non-empty) samples with at least `q` of them at
/// or below it — the percentile definition of every summary dsim writes.
pub fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[i - 1]
}

/// Every metric reported in a run.
#[derive(Default)]
pub struct Metrics {
    series: BTreeMap<&'static str, Series>,
    values: BTreeMap<&'static str, f64>,
}

impl Metrics {
    pub fn sample(&mut self, name: &'static str, v: f64) {
        self.series.entry(name).or_default().add(v);
    }

    /// A sample taken at simulated time `t` (kept for plots over time, at most
    /// [`MAX_TIMELINE`] per metric: when full, every other one is dropped and only every
    /// second new one kept, so the points stay spread over the run).
    pub fn sample_at(&mut self, name: &'static str, t: u64, v: f64) {
        self.series.entry(name).or_default().add_at(t, v);
    }

    /// Each series metric's (time, value) samples, in time order.
    pub fn timelines(&self) -> BTreeMap<String, Vec<(u64, f64)>> {
        self.series
            .iter()
            .filter(|(_, s)| !s.timeline.items().is_empty())
            .map(|(k, s)| (k.to_string(), s.timeline.items().to_vec()))
            .collect()
    }

    pub fn value(&mut self, name: &'static str, v: f64) {
        self.values.insert(name, v);
    }

    /// Whether anything was reported under `name`.
    pub fn has(&self, name: &str) -> bool {
        self.series.contains_key(name) || self.values.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.series.keys().chain(self.values.keys()).copied()
    }

    pub fn summaries(&self) -> BTreeMap<String, MetricSummary> {
        let mut out: BTreeMap<String, MetricSummary> = self
            .series
            .iter()
            .map(|(k, s)| (k.to_string(), s.summary()))
            .collect();
        for (k, v) in &self.values {
            out.insert(k.to_string(), MetricSummary::Value(*v));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeline_stays_bounded_and_spread_over_the_run() {
        let mut m = Metrics::default();
        let n = 10 * MAX_TIMELINE as u64 + 7;
        for k in 0..n {
            m.sample_at("x", k * 1000, k as f64);
        }
        let t = &m.timelines()["x"];
        assert!(
            t.len() <= MAX_TIMELINE && t.len() > MAX_TIMELINE / 4,
            "{}",
            t.len()
        );
        assert_eq!(t[0], (0, 0.0));
        assert!(t.windows(2).all(|w| w[0].0 < w[1].0), "in time order");
        let last = t.last().unwrap().0;
        assert!(last > (n - n / 8) * 1000, "the end of the run is covered: {last}");
        // Evenly thinned: one sample per stride.
        let gaps: Vec<u64> = t.windows(2).map(|w| w[1].0 - w[0].0).collect();
        assert!(gaps.iter().all(|g| *g == gaps[0]), "{gaps:?}");
    }

    #[test]
    fn summaries_are_exact_for_small_series() {
        let mut m = Metrics::default();
        for v in 1..=100 {
            m.sample("x", v as f64);
        }
        m.value("y", 2.5);
        let s = m.summaries();
        assert_eq!(
            s["x"],
            MetricSummary::Series {
                n: 100,
                min: 1.0,
                median: 50.0,
                mean: 50.5,
                p99: 99.0,
                max: 100.0
            }
        );
        assert_eq!(s["y"], MetricSummary::Value(2.5));
    }

    #[test]
    fn long_series_stay_bounded_and_keep_exact_extremes() {
        let mut s = Series::default();
        let n = 3 * MAX_KEPT as u64 + 7;
        for i in 0..n {
            s.add((i % 1000) as f64);
        }
        assert!(s.kept.items().len() <= MAX_KEPT);
        let MetricSummary::Series {
            n: count,
            min,
            max,
            median,
            ..
        } = s.summary()
        else {
            panic!("a series");
        };
        assert_eq!((count, min, max), (n, 0.0, 999.0));
        assert!(
            (450.0..=550.0).contains(&median),
            "median {median} of a uniform 0..1000"
        );
    }
}
