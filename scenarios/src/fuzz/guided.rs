//! `dsim fuzz --guided`: coverage-guided search over schedules.
//!
//! Every run reports coverage: each node's transitions between abstract states (its role and
//! what the protocol's `coverage()` packs: for Raft, uncommitted entries, a log lagging the
//! term, unapplied commits, a known leader, an old-term entry first in line to commit). A run
//! that reaches a transition no earlier run reached joins the corpus as its materialised
//! schedule — every fault and operation explicit. Part of the seed budget then goes to
//! *mutants*: a corpus schedule with one to three changes (a fault shifted, dropped,
//! duplicated, retargeted or made longer or shorter; a block of operations dropped or shifted),
//! drawn from the case's own stream `guided`. A mutant that reaches something new joins too.
//!
//! Deterministic: cases run in batches of a fixed size; the corpus grows only between batches,
//! from the batch's outcomes in case order, so the same seed range gives the same campaign for
//! any `--jobs`. Case `s` of the range is the plain seed `s` when it is in the warm-up (the
//! first quarter) or even; otherwise it is a mutant.

use crate::shrink::candidate::Candidate;
use sim::rng::{Draw, Rng};
use sim::time::{format_duration, parse_duration, Time};
use std::collections::BTreeMap;
#[cfg(test)]
use std::collections::BTreeSet;

/// Cases per batch (fixed: the corpus a case sees must not depend on `--jobs`).
pub(crate) const BATCH: usize = 32;
/// The most schedules kept; the oldest goes first.
const MAX_CORPUS: usize = 64;

/// One corpus entry.
pub(crate) struct Entry {
    pub schedule: Candidate,
    /// The case it came from (a seed, or a mutant's case number).
    pub case: u64,
    /// Every feature its run reached.
    features: Vec<u64>,
}

#[derive(Default)]
pub(crate) struct Corpus {
    pub entries: Vec<Entry>,
    /// How many runs reached each feature (AFLFast's idea: a state few runs reach is where
    /// to look next).
    hits: BTreeMap<u64, u32>,
    /// Runs that added coverage, over the campaign.
    pub added: u64,
}

impl Corpus {
    /// Whether case `index` (0-based within the campaign of `count`) is a mutant.
    pub fn mutates(&self, index: usize, count: usize) -> bool {
        !self.entries.is_empty() && index >= count / 4 && index % 2 == 1
    }

    /// Records a run's features; if any is new, keeps `schedule` (parsed lazily by the caller).
    /// Returns whether the run was new.
    pub fn offer(
        &mut self,
        features: &[u64],
        case: u64,
        schedule: impl FnOnce() -> Option<Candidate>,
    ) -> bool {
        let mut new = false;
        for f in features {
            let h = self.hits.entry(*f).or_insert(0);
            new |= *h == 0;
            *h = h.saturating_add(1);
        }
        if new {
            if let Some(schedule) = schedule() {
                if self.entries.len() == MAX_CORPUS {
                    // The entry whose rarest state is the commonest goes (the oldest of equals).
                    let worst = (0..self.entries.len())
                        .rev()
                        .max_by_key(|&i| self.rarity(&self.entries[i]))
                        .expect("the corpus is full");
                    self.entries.remove(worst);
                }
                self.entries.push(Entry {
                    schedule,
                    case,
                    features: features.to_vec(),
                });
                self.added += 1;
            }
        }
        new
    }

    /// How many runs reached the entry's rarest feature (lower is rarer).
    fn rarity(&self, e: &Entry) -> u32 {
        e.features
            .iter()
            .map(|f| self.hits.get(f).copied().unwrap_or(0))
            .min()
            .unwrap_or(u32::MAX)
    }

    /// Whether a run with these features would add any.
    pub fn is_new(&self, features: &[u64]) -> bool {
        features.iter().any(|f| !self.hits.contains_key(f))
    }

    pub fn features(&self) -> usize {
        self.hits.len()
    }

    /// The mutant of case `seed`: a parent drawn from the corpus and one to three mutations.
    pub fn mutant(&self, seed: u64) -> Option<(Candidate, String)> {
        let mut rng = Rng::stream(seed, "guided");
        if self.entries.is_empty() {
            return None;
        }
        // A tournament of three: the entry that reached the rarest state is the parent.
        let parent = (0..3)
            .map(|_| &self.entries[rng.below(self.entries.len() as u64) as usize])
            .min_by_key(|e| self.rarity(e))?;
        let mut c = parent.schedule.clone();
        let n = 1 + rng.below(3);
        let mut what = Vec::new();
        for _ in 0..n {
            what.push(mutate(&mut c, &mut rng));
        }
        Some((c, format!("case {} mutated: {}", parent.case, what.join("; "))))
    }
}

/// A duration drawn log-uniformly from 100 µs to 300 ms: mostly small moves, near the parent.
fn delta(rng: &mut Rng) -> Time {
    let (lo, hi) = (libm::log(1e5), libm::log(3e8));
    libm::exp(lo + (hi - lo) * rng.unit_f64()) as Time
}

fn at_of(e: &toml::Value) -> Time {
    Candidate::at(e)
}

fn set_at(e: &mut toml::Value, t: Time) {
    if let Some(tab) = e.as_table_mut() {
        tab.insert("at".into(), format_duration(t).into());
    }
}

fn shifted(t: Time, rng: &mut Rng, end: Time) -> Time {
    let d = delta(rng);
    let t = if rng.chance(0.5) {
        t.saturating_sub(d)
    } else {
        t.saturating_add(d)
    };
    t.min(end.saturating_sub(1))
}

/// One change to `c`; returns what it did.
fn mutate(c: &mut Candidate, rng: &mut Rng) -> String {
    let end = c.duration().max(1);
    let nodes = c.nodes().unwrap_or(1).max(1) as u64;
    let nf = c.faults.len() as u64;
    let no = c.ops.len() as u64;
    // Fault mutations weigh more: they change the protocol's story most.
    let pick = rng.below(if no > 0 { 8 } else { 6 });
    let what = match (pick, nf) {
        (0, 1..) => {
            let i = rng.below(nf) as usize;
            let t = shifted(at_of(&c.faults[i]), rng, end);
            set_at(&mut c.faults[i], t);
            format!("fault {i} moved to {}", format_duration(t))
        }
        (1, 1..) => {
            let i = rng.below(nf) as usize;
            c.faults.remove(i);
            format!("fault {i} dropped")
        }
        (2, 1..) => {
            let i = rng.below(nf) as usize;
            let mut f = c.faults[i].clone();
            let t = shifted(at_of(&f), rng, end);
            set_at(&mut f, t);
            c.faults.push(f);
            format!("fault {i} repeated at {}", format_duration(t))
        }
        (3, 1..) => {
            let i = rng.below(nf) as usize;
            let to = format!("n{}", 1 + rng.below(nodes));
            retarget(&mut c.faults[i], &to);
            format!("fault {i} aimed at {to}")
        }
        (4 | 5, 1..) => {
            let i = rng.below(nf) as usize;
            let f = 0.25 * libm::pow(16.0, rng.unit_f64());
            scale_durations(&mut c.faults[i], f);
            format!("fault {i} lasts x{f:.2}")
        }
        (6, _) => {
            let len = (no / 20).max(1);
            let from = rng.below(no) as usize;
            let to = (from + len as usize).min(c.ops.len());
            c.ops.drain(from..to);
            format!("ops {from}..{to} dropped")
        }
        (7, _) => {
            let len = (no / 20).max(1);
            let from = rng.below(no) as usize;
            let to = (from + len as usize).min(c.ops.len());
            let d = delta(rng);
            let later = rng.chance(0.5);
            for o in &mut c.ops[from..to] {
                let t = at_of(o);
                let t = if later {
                    t.saturating_add(d)
                } else {
                    t.saturating_sub(d)
                }
                .min(end - 1);
                set_at(o, t);
            }
            format!(
                "ops {from}..{to} shifted by {}{}",
                if later { "+" } else { "-" },
                format_duration(d)
            )
        }
        _ => {
            // No fault to change: add a crash somewhere.
            let t = rng.below(end);
            let node = format!("n{}", 1 + rng.below(nodes));
            let mut tab = toml::Table::new();
            tab.insert("at".into(), format_duration(t).into());
            tab.insert("crash".into(), node.clone().into());
            tab.insert("restart_after".into(), format_duration(delta(rng)).into());
            c.faults.push(toml::Value::Table(tab));
            format!("crash of {node} added at {}", format_duration(t))
        }
    };
    c.faults.sort_by_key(at_of);
    c.ops.sort_by_key(at_of);
    what
}

/// Points a fault's node target(s) at `to` (a single-node target; groups are left alone).
fn retarget(f: &mut toml::Value, to: &str) {
    if let Some(t) = f.as_table_mut() {
        for (k, v) in t.iter_mut() {
            if k == "at" {
                continue;
            }
            if let toml::Value::String(s) = v {
                if s.len() > 1 && s.starts_with('n') && s[1..].bytes().all(|b| b.is_ascii_digit()) {
                    *s = to.to_string();
                }
            }
        }
    }
}

/// Scales a fault's `*_after` and `within` durations by `f`.
fn scale_durations(fault: &mut toml::Value, f: f64) {
    if let Some(t) = fault.as_table_mut() {
        for (k, v) in t.iter_mut() {
            if !(k.ends_with("_after") || k == "within" || k == "for") {
                continue;
            }
            if let Some(d) = v.as_str().and_then(|s| parse_duration(s).ok()) {
                let scaled = (libm::round(d as f64 * f) as Time).max(1_000_000);
                *v = format_duration(scaled / 1_000_000 * 1_000_000).into();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = r#"
protocol = "raft"
nodes = 3
duration = "5s"
faults = [
  { at = "1s", crash = "n3", restart_after = "1s" },
  { at = "2s", pause = "n1", resume_after = "300ms" },
]
ops = [
  { at = "500ms", client = "c1", op = "write", key = "k1", value = 1 },
  { at = "600ms", client = "c1", op = "read", key = "k1" },
]
"#;

    #[test]
    fn mutants_are_deterministic_and_load() {
        let mut corpus = Corpus::default();
        assert!(corpus.offer(&[1, 2], 1, || Candidate::parse(S).ok()));
        assert!(!corpus.offer(&[2], 2, || Candidate::parse(S).ok()), "nothing new");
        let mut distinct = BTreeSet::new();
        for seed in 0..60 {
            let (m, what) = corpus.mutant(seed).expect("a parent");
            let again = corpus.mutant(seed).expect("a parent");
            assert_eq!(m.text(&[]), again.0.text(&[]), "{what}");
            crate::load::load_str("m.toml", &m.text(&[]))
                .unwrap_or_else(|e| panic!("{what}: the mutant does not load: {e}"));
            distinct.insert(m.text(&[]));
        }
        assert!(distinct.len() > 30, "only {} distinct mutants", distinct.len());
    }
}
