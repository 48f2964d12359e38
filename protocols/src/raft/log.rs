//! The replicated log and what Raft keeps on disk (Figure 2, "Persistent state on all servers":
//! currentTerm, votedFor, log[]), written as a write-ahead log of small records.
//!
//! Log compaction (§7) is the simple form: every server drops the prefix that *every* server
//! already holds (the leader advertises that index), keeping a snapshot of the state machine.
//! No server can ever need those entries again, so no InstallSnapshot RPC is required; it comes
//! with full snapshots in a later issue.

use super::messages::{chain, Command, Entry};
use crate::common::kv::KvStore;
use crate::common::session::Sessions;
use crate::families::kv::KvReply;
use serde::Serialize;
use sim::{Durable, NodeId};

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RaftLog {
    /// The last discarded entry (0 = none): its index, term and chain hash.
    pub base_index: u64,
    pub base_term: u64,
    pub base_chain: u64,
    /// Entries `base_index + 1 ..= last_index()`.
    pub entries: Vec<Entry>,
}

impl RaftLog {
    pub fn last_index(&self) -> u64 {
        self.base_index + self.entries.len() as u64
    }

    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(self.base_term, |e| e.term)
    }

    pub fn last_chain(&self) -> u64 {
        self.entries.last().map_or(self.base_chain, |e| e.chain)
    }

    fn pos(&self, index: u64) -> Option<usize> {
        (index > self.base_index && index <= self.last_index())
            .then(|| (index - self.base_index - 1) as usize)
    }

    pub fn entry(&self, index: u64) -> Option<&Entry> {
        self.pos(index).map(|p| &self.entries[p])
    }

    /// The term at `index`: known for the base and for kept entries.
    pub fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.base_index {
            Some(self.base_term)
        } else {
            self.entry(index).map(|e| e.term)
        }
    }

    pub fn chain_at(&self, index: u64) -> Option<u64> {
        if index == self.base_index {
            Some(self.base_chain)
        } else {
            self.entry(index).map(|e| e.chain)
        }
    }

    /// Appends a new command, computing its chain hash from this log.
    pub fn append(&mut self, term: u64, cmd: Command) -> u64 {
        let c = chain(self.last_chain(), term, &cmd);
        self.entries.push(Entry { term, cmd, chain: c });
        self.last_index()
    }

    /// Appends an entry received from a leader; the chain is recomputed from *this* log, so a
    /// log that diverged earlier gets a different chain (which the checks notice).
    pub fn append_received(&mut self, e: &Entry) -> Entry {
        let c = chain(self.last_chain(), e.term, &e.cmd);
        let mine = Entry {
            term: e.term,
            cmd: e.cmd.clone(),
            chain: c,
        };
        self.entries.push(mine.clone());
        mine
    }

    /// Appends entries exactly as given (replaying the write-ahead log).
    pub fn extend_exact(&mut self, first: u64, entries: &[Entry]) {
        assert_eq!(first, self.last_index() + 1, "log append out of place");
        self.entries.extend_from_slice(entries);
    }

    /// Removes entries `index..`. Entries at or below the base cannot be removed.
    pub fn truncate_from(&mut self, index: u64) {
        assert!(index > self.base_index, "truncating compacted entries");
        if let Some(p) = self.pos(index) {
            self.entries.truncate(p);
        }
    }

    /// Discards entries `..=upto`, remembering the last one's term and chain.
    pub fn compact(&mut self, upto: u64) {
        if upto <= self.base_index {
            return;
        }
        let upto = upto.min(self.last_index());
        let last = self.entry(upto).expect("compaction point is in the log").clone();
        let n = (upto - self.base_index) as usize;
        self.entries.drain(..n);
        self.base_index = upto;
        self.base_term = last.term;
        self.base_chain = last.chain;
    }

    /// Up to `max` entries from `from` on.
    pub fn slice(&self, from: u64, max: usize) -> Vec<Entry> {
        match self.pos(from) {
            Some(p) => self.entries[p..(p + max).min(self.entries.len())].to_vec(),
            None => Vec::new(),
        }
    }

    /// The first index holding `term`, scanning back from `from` (for conflict hints).
    pub fn first_index_of_term(&self, term: u64, from: u64) -> u64 {
        let mut i = from;
        while i > self.base_index + 1 && self.term_at(i - 1) == Some(term) {
            i -= 1;
        }
        i
    }

    /// The last index holding `term`, if any entry has it. Terms never decrease along a log
    /// (an entry's term is its leader's, and leaders only append), so a binary search finds it.
    pub fn last_index_of_term(&self, term: u64) -> Option<u64> {
        let p = self.entries.partition_point(|e| e.term <= term);
        (p > 0 && self.entries[p - 1].term == term).then(|| self.base_index + p as u64)
    }
}

/// The state machine at an index: what compaction keeps instead of the entries.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SmSnapshot {
    pub index: u64,
    pub kv: KvStore,
    pub sessions: Sessions<KvReply>,
}

/// Everything a server keeps on disk.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RaftDurable {
    pub term: u64,
    pub voted_for: Option<NodeId>,
    pub log: RaftLog,
    pub sm: SmSnapshot,
    /// Number of truncations ever made (for the checks).
    pub truncations: u64,
}

/// One record of the write-ahead log.
#[derive(Clone, Debug, Serialize)]
pub enum RaftWrite {
    /// currentTerm and votedFor.
    HardState {
        term: u64,
        voted_for: Option<NodeId>,
    },
    Append {
        first: u64,
        entries: Vec<Entry>,
    },
    TruncateFrom(u64),
    Compact {
        log_upto: u64,
        sm: SmSnapshot,
    },
}

impl Durable for RaftDurable {
    type Write = RaftWrite;

    fn apply(&mut self, w: &RaftWrite) {
        match w {
            RaftWrite::HardState { term, voted_for } => {
                self.term = *term;
                self.voted_for = *voted_for;
            }
            RaftWrite::Append { first, entries } => self.log.extend_exact(*first, entries),
            RaftWrite::TruncateFrom(i) => {
                self.log.truncate_from(*i);
                self.truncations += 1;
            }
            RaftWrite::Compact { log_upto, sm } => {
                self.log.compact(*log_upto);
                self.sm = sm.clone();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(terms: &[u64]) -> RaftLog {
        let mut l = RaftLog::default();
        for t in terms {
            l.append(*t, Command::Noop);
        }
        l
    }

    #[test]
    fn indexes_terms_and_chains() {
        let mut l = log_of(&[1, 1, 2, 3, 3]);
        assert_eq!(l.last_index(), 5);
        assert_eq!(l.term_at(3), Some(2));
        assert_eq!(l.term_at(0), Some(0));
        assert_eq!(l.term_at(6), None);
        assert_eq!(l.first_index_of_term(3, 5), 4);
        assert_eq!(l.last_index_of_term(1), Some(2));
        assert_eq!(l.last_index_of_term(3), Some(5));
        assert_eq!(l.last_index_of_term(0), None);
        assert_eq!(log_of(&[1, 1, 3]).last_index_of_term(2), None);
        assert_eq!(l.last_index_of_term(4), None);
        let c4 = l.chain_at(4);
        l.compact(3);
        assert_eq!(l.base_index, 3);
        assert_eq!(l.term_at(3), Some(2));
        assert_eq!(l.term_at(2), None);
        assert_eq!(l.chain_at(4), c4);
        assert_eq!(
            (l.last_index_of_term(3), l.last_index_of_term(2)),
            (Some(5), None)
        );
        l.truncate_from(5);
        assert_eq!(l.last_index(), 4);
    }

    #[test]
    fn chains_differ_when_prefixes_differ() {
        let a = log_of(&[1, 2, 2]);
        let b = log_of(&[1, 1, 2]);
        assert_eq!(a.term_at(3), b.term_at(3));
        assert_ne!(a.chain_at(3), b.chain_at(3));
        assert_eq!(log_of(&[1, 2, 2]).chain_at(3), a.chain_at(3));
    }
}
