//! Client sessions for exactly-once application (Raft dissertation §6.3): for each session the
//! highest sequence number applied and its answer, so a retried request is answered from the
//! table instead of being applied twice.

use serde::Serialize;
use sim::Outcome;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Sessions {
    last: BTreeMap<u64, (u64, Outcome)>,
}

/// What the table says about an incoming request.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen<'a> {
    /// Not applied yet.
    New,
    /// Already applied: answer with this.
    Duplicate(&'a Outcome),
    /// Older than the latest applied op of its session: the client has moved on; nobody waits
    /// for the answer.
    Stale,
}

impl Sessions {
    pub fn seen(&self, session: u64, seq: u64) -> Seen<'_> {
        match self.last.get(&session) {
            Some((s, out)) if *s == seq => Seen::Duplicate(out),
            Some((s, _)) if *s > seq => Seen::Stale,
            _ => Seen::New,
        }
    }

    /// Records that (session, seq) was applied with this outcome.
    pub fn record(&mut self, session: u64, seq: u64, outcome: Outcome) {
        let e = self.last.entry(session).or_insert((0, Outcome::NotApplied));
        if seq >= e.0 {
            *e = (seq, outcome);
        }
    }

    pub fn last_applied(&self, session: u64) -> Option<u64> {
        self.last.get(&session).map(|(s, _)| *s)
    }

    pub fn len(&self) -> usize {
        self.last.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}
