//! Raft's messages (extended paper, Figure 2) and timers, with compact `Debug` forms for the
//! readable trace: `AppendEntries{term: 2, prev: (4, t1), entries: 1, commit: 3}`.

pub use crate::common::command::{digest, Command};
use serde::Serialize;
use std::fmt;

/// A log entry. `chain` is a hash of this entry and every entry before it, computed when the
/// entry is created; checks use it to compare whole prefixes in O(1).
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub term: u64,
    pub cmd: Command,
    pub chain: u64,
}

#[derive(Clone, Serialize)]
pub enum Msg {
    /// §5.2: a candidate asks for a vote.
    RequestVote {
        term: u64,
        last_log_index: u64,
        last_log_term: u64,
    },
    RequestVoteReply {
        term: u64,
        granted: bool,
    },
    /// §5.3: replicate entries.
    AppendEntries(AppendEntries),
    AppendEntriesReply(AppendEntriesReply),
}

/// §5.3: replicate entries (none: a heartbeat). `read_round` lets followers confirm
/// leadership for ReadIndex and lease reads (dissertation §6.4); `compact` is the index
/// every server has, below which logs may be compacted.
#[derive(Clone, Serialize)]
pub struct AppendEntries {
    pub term: u64,
    pub prev_log_index: u64,
    pub prev_log_term: u64,
    pub entries: Vec<Entry>,
    pub leader_commit: u64,
    pub read_round: u64,
    pub compact: u64,
}

/// On success `match_index` is the last index known to match the leader's log. On failure
/// `conflict_term`/`conflict_index` let the leader skip back a whole term at once.
#[derive(Clone, Serialize)]
pub struct AppendEntriesReply {
    pub term: u64,
    pub success: bool,
    pub match_index: u64,
    pub conflict_term: Option<u64>,
    pub conflict_index: u64,
    pub read_round: u64,
}

#[derive(Clone, Debug, Serialize)]
pub enum Timer {
    Election,
    Heartbeat,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}:{:?}", self.term, self.cmd)
    }
}

impl fmt::Debug for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::RequestVote {
                term,
                last_log_index,
                last_log_term,
            } => write!(
                f,
                "RequestVote{{term: {term}, last: ({last_log_index}, t{last_log_term})}}"
            ),
            Msg::RequestVoteReply { term, granted } => {
                write!(f, "RequestVoteReply{{term: {term}, granted: {granted}}}")
            }
            Msg::AppendEntries(AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                ..
            }) => {
                write!(
                    f,
                    "AppendEntries{{term: {term}, prev: ({prev_log_index}, t{prev_log_term}), entries: {}",
                    entries.len()
                )?;
                if !entries.is_empty() && entries.len() <= 3 {
                    write!(f, " {entries:?}")?;
                }
                write!(f, ", commit: {leader_commit}}}")
            }
            Msg::AppendEntriesReply(AppendEntriesReply {
                term,
                success,
                match_index,
                conflict_term,
                conflict_index,
                ..
            }) => {
                if *success {
                    write!(f, "AppendEntriesReply{{term: {term}, ok, match: {match_index}}}")
                } else {
                    match conflict_term {
                        Some(t) => write!(
                            f,
                            "AppendEntriesReply{{term: {term}, rejected, conflict: t{t} from {conflict_index}}}"
                        ),
                        None => write!(f, "AppendEntriesReply{{term: {term}, rejected, log ends at {}}}", conflict_index.saturating_sub(1)),
                    }
                }
            }
        }
    }
}

/// The chain hash of an entry given the previous entry's chain.
pub fn chain(prev: u64, term: u64, cmd: &Command) -> u64 {
    let mut z = prev ^ term.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ digest(cmd).rotate_left(17);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
