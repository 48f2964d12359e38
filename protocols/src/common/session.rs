//! Client sessions for exactly-once application (Raft dissertation §6.3): for each session the
//! highest sequence number applied and its answer, so a retried request is answered from the
//! table instead of being applied twice.

use serde::Serialize;
use std::collections::BTreeMap;

/// Per session: the highest sequence number applied and the answer it got (`R`: the workload
/// family's reply).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sessions<R> {
    last: BTreeMap<u64, (u64, R)>,
}

impl<R> Default for Sessions<R> {
    fn default() -> Self {
        Sessions {
            last: BTreeMap::new(),
        }
    }
}

/// What the table says about an incoming request.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen<'a, R> {
    /// Not applied yet.
    New,
    /// Already applied: answer with this.
    Duplicate(&'a R),
    /// Older than the latest applied op of its session: the client has moved on; nobody waits
    /// for the answer.
    Stale,
}

impl<R> Sessions<R> {
    pub fn seen(&self, session: u64, seq: u64) -> Seen<'_, R> {
        match self.last.get(&session) {
            Some((s, out)) if *s == seq => Seen::Duplicate(out),
            Some((s, _)) if *s > seq => Seen::Stale,
            _ => Seen::New,
        }
    }

    /// Records that (session, seq) was applied with this outcome.
    pub fn record(&mut self, session: u64, seq: u64, outcome: R) {
        match self.last.get_mut(&session) {
            Some(e) if seq < e.0 => {}
            Some(e) => *e = (seq, outcome),
            None => {
                self.last.insert(session, (seq, outcome));
            }
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
