//! Which writes are on disk: the syncs a node requested and how far each reaches (a log index,
//! a history length, a count of writes), completed in order by `on_sync_done`.

use sim::SyncId;
use std::collections::VecDeque;

#[derive(Clone, Debug, Default)]
pub struct SyncMarks {
    marks: VecDeque<(SyncId, u64)>,
}

impl SyncMarks {
    /// Sync `s` was requested; once it completes, everything up to `reach` is durable.
    pub fn push(&mut self, s: SyncId, reach: u64) {
        self.marks.push_back((s, reach));
    }

    /// The newest sync requested and not yet completed.
    pub fn last(&self) -> Option<(SyncId, u64)> {
        self.marks.back().copied()
    }

    /// Sync `sync` (and every earlier one) completed: the furthest reach among them.
    pub fn complete(&mut self, sync: SyncId) -> Option<u64> {
        let mut reach = None;
        while let Some(&(s, r)) = self.marks.front() {
            if s > sync {
                break;
            }
            self.marks.pop_front();
            reach = reach.max(Some(r));
        }
        reach
    }

    /// The log was cut back to `len`: syncs already requested cover the removed entries, not
    /// what replaces them.
    pub fn cap(&mut self, len: u64) {
        for (_, r) in &mut self.marks {
            *r = (*r).min(len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_in_order_and_caps() {
        let mut m = SyncMarks::default();
        m.push(SyncId(1), 5);
        m.push(SyncId(2), 9);
        m.push(SyncId(3), 12);
        m.cap(7);
        assert_eq!(m.last(), Some((SyncId(3), 7)));
        assert_eq!(m.complete(SyncId(2)), Some(7));
        assert_eq!(m.complete(SyncId(2)), None);
        assert_eq!(m.complete(SyncId(9)), Some(7));
    }
}
