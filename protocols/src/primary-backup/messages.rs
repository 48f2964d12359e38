//! Messages of `primary-backup`. Replicas PING the view service, which answers with the current
//! VIEW (Budhiraja et al., "The Primary-Backup Approach", 1993, §3; the view service is the
//! one of MIT 6.824's primary/backup lab). The primary sends each backup a SNAPSHOT of its state
//! when a view starts and FORWARDs every write after it; a backup ACKs what it has on disk, or
//! NACKs a message from an older view (fencing by view number).

use crate::common::kv::KvStore;
use crate::common::session::Sessions;
use crate::families::kv::{KvOp, KvReply};
use serde::Serialize;
use sim::NodeId;
use std::fmt;

/// A view (an epoch): its number, its primary and its backups. View 0 is the empty one before
/// the first view.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
pub struct View {
    pub num: u64,
    pub primary: Option<NodeId>,
    pub backups: Vec<NodeId>,
}

impl View {
    pub fn has(&self, n: NodeId) -> bool {
        self.primary == Some(n) || self.backups.contains(&n)
    }

    /// Every member: the primary first.
    pub fn members(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.primary.into_iter().chain(self.backups.iter().copied())
    }
}

impl fmt::Debug for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "view {} ", self.num)?;
        match self.primary {
            Some(p) => write!(f, "(primary {p}")?,
            None => f.write_str("(no primary")?,
        }
        let b: Vec<String> = self.backups.iter().map(|b| b.to_string()).collect();
        if b.is_empty() {
            f.write_str(", no backups)")
        } else {
            write!(f, ", backups {})", b.join(" "))
        }
    }
}

/// A write the primary applied: position `seq` of its sequence, for a client's (session, seq).
#[derive(Clone, Serialize)]
pub struct Write {
    pub seq: u64,
    pub session: u64,
    pub cseq: u64,
    pub op: KvOp,
}

#[derive(Clone, Serialize)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
pub enum Msg {
    /// A replica to the view service, every `ping`: the view it knows, the last view whose
    /// whole state it holds (`synced`), whether it has restarted since it last heard a view,
    /// and (from a primary) backups that have not acknowledged for `ack_timeout`. `sent`: its
    /// clock when it sent this, echoed in the answer (the lease starts there).
    Ping { view: u64, synced: u64, restarted: bool, suspects: Vec<NodeId>, sent: u64 },
    /// The view service's answer: the current view. `lease`: the ping came from this view's
    /// primary and named this view, so the primary may act in it and serve reads until
    /// `echo` + its lease (the view service names no other primary before).
    View { view: View, echo: u64, lease: bool },
    /// The primary's state at the start of `view`, up to position `seq` of its sequence.
    Snapshot {
        view: u64,
        seq: u64,
        kv: KvStore,
        sessions: Sessions<KvReply>,
        /// Ghost state for the checks (digests of the sequence so far); not part of the
        /// protocol, not shown.
        #[serde(skip)]
        chain: Vec<u64>,
    },
    /// One write, after the snapshot (FIFO links keep them in order).
    Forward { view: u64, write: Write },
    /// The backup holds everything up to `seq` on its disk.
    Ack { view: u64, seq: u64 },
    /// Fencing: "I am in a newer view than yours".
    Nack { view: u64 },
    /// A backup got a FORWARD of its view without that view's SNAPSHOT (it restarted since):
    /// "send me the state".
    NeedSnapshot { view: u64 },
}

#[derive(Clone, Debug, Serialize)]
pub enum Timer {
    /// Ping the view service (a replica); look at the pings (the view service).
    Tick,
}

impl fmt::Debug for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Ping { view, synced, restarted, suspects, .. } => {
                write!(f, "PING{{view {view}, synced {synced}")?;
                if *restarted {
                    f.write_str(", restarted")?;
                }
                if !suspects.is_empty() {
                    let s: Vec<String> = suspects.iter().map(|n| n.to_string()).collect();
                    write!(f, ", suspects {}", s.join(" "))?;
                }
                f.write_str("}")
            }
            Msg::View { view, .. } => write!(f, "VIEW{{{view:?}}}"),
            Msg::Snapshot { view, seq, kv, .. } => {
                write!(f, "SNAPSHOT{{view {view}, up to #{seq}, {} keys}}", kv.len())
            }
            Msg::Forward { view, write } => write!(f, "FORWARD{{view {view}, #{}: {}}}", write.seq, write.op),
            Msg::Ack { view, seq } => write!(f, "ACK{{view {view}, #{seq}}}"),
            Msg::Nack { view } => write!(f, "NACK{{in view {view}}}"),
            Msg::NeedSnapshot { view } => write!(f, "NEED-SNAPSHOT{{view {view}}}"),
        }
    }
}
