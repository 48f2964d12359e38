//! Zab's messages, named as in the papers (Junqueira, Reed & Serafini, DSN 2011; Medeiros,
//! "ZooKeeper's atomic broadcast protocol: Theory and practice", 2012): FOLLOWERINFO, NEWEPOCH,
//! ACKEPOCH (discovery), DIFF / TRUNC / SNAP and NEWLEADER, ACK-NEWLEADER, UPTODATE
//! (synchronization), PROPOSAL, ACK, COMMIT (broadcast), plus fast leader election's VOTE.

pub use crate::common::command::{digest, Command};
use serde::Serialize;
use sim::NodeId;
use std::fmt;

/// A transaction id: the epoch of the leader that proposed it and a counter within the epoch,
/// ordered by epoch, then counter (DSN 2011 §IV).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Zxid {
    pub epoch: u64,
    pub counter: u64,
}

impl fmt::Debug for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{},{}>", self.epoch, self.counter)
    }
}

/// A transaction of the history.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Txn {
    pub zxid: Zxid,
    pub cmd: Command,
}

impl fmt::Debug for Txn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}:{:?}", self.zxid, self.cmd)
    }
}

/// What a node stands for in fast leader election: a candidate leader and that candidate's
/// (current epoch, last zxid); the better vote has the higher (epoch, zxid, id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Vote {
    pub epoch: u64,
    pub zxid: Zxid,
    pub leader: u32,
}

/// How the leader brings a follower up to its history (Medeiros §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum SyncKind {
    /// The follower's history is a prefix of the leader's: send what it misses.
    Diff,
    /// The follower has transactions the leader does not: cut back to the common prefix first.
    Trunc,
    /// Nothing in common: the whole history.
    Snap,
}

#[derive(Clone, Serialize)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
pub enum Msg {
    /// Fast leader election: a looking node's vote in election round `round`; a node that
    /// follows or leads answers with its leader (`looking: false`).
    Vote { round: u64, vote: Vote, looking: bool },
    /// Discovery (phase 1): a follower's last accepted epoch, and a summary of its history
    /// (per epoch, its last zxid) so the leader can find the common prefix.
    Followerinfo { accepted_epoch: u64, last: Vec<Zxid> },
    /// The leader's new epoch, above every accepted epoch of a quorum.
    Newepoch { epoch: u64 },
    /// The follower accepted the new epoch; its current epoch and last zxid.
    Ackepoch { epoch: u64, current_epoch: u64, last: Zxid },
    /// Synchronization (phase 2): cut the history to `keep` transactions (none for DIFF),
    /// append `txns`, then take `epoch` as the current epoch (NEWLEADER).
    Newleader { epoch: u64, kind: SyncKind, keep: u64, txns: Vec<Txn> },
    AckNewleader { epoch: u64 },
    /// A quorum has the leader's history: deliver up to `upto` (its length) and serve.
    Uptodate { epoch: u64, upto: u64 },
    /// Broadcast (phase 3).
    Proposal { epoch: u64, txn: Txn },
    Ack { epoch: u64, zxid: Zxid },
    Commit { epoch: u64, zxid: Zxid },
    /// The leader is alive; `committed`: how much of the history is committed.
    Ping { epoch: u64, committed: u64 },
    Pong { epoch: u64 },
    /// Clients the ZooKeeper way (`read_mode` other than `log`): a follower forwards a client's
    /// write to the leader (ZooKeeper's REQUEST).
    Request { epoch: u64, session: u64, seq: u64, op: crate::families::kv::KvOp },
    /// A follower's `sync` for a read, and the leader's answer once every transaction it had
    /// proposed by then (`upto`, a history length) has committed.
    Sync { epoch: u64, id: u64 },
    SyncOk { epoch: u64, id: u64, upto: u64 },
    /// `read_mode = "quorum"`: does the follower still follow this leader in this epoch?
    Confirm { epoch: u64, round: u64 },
    Confirmed { epoch: u64, round: u64 },
}

#[derive(Clone, Debug, Serialize)]
pub enum Timer {
    /// Looking: re-send votes; following or leading: the peer has been silent too long.
    Tick,
}

impl fmt::Debug for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Vote { round, vote, looking } => write!(
                f,
                "VOTE{{round {round}, {} (epoch {}, zxid {:?}){}}}",
                NodeId(vote.leader),
                vote.epoch,
                vote.zxid,
                if *looking { "" } else { ", decided" }
            ),
            Msg::Followerinfo { accepted_epoch, last } => {
                write!(f, "FOLLOWERINFO{{accepted epoch {accepted_epoch}, last {:?}}}", last.last().copied().unwrap_or_default())
            }
            Msg::Newepoch { epoch } => write!(f, "NEWEPOCH{{{epoch}}}"),
            Msg::Ackepoch { epoch, current_epoch, last } => {
                write!(f, "ACKEPOCH{{{epoch}, current epoch {current_epoch}, last {last:?}}}")
            }
            Msg::Newleader { epoch, kind, keep, txns } => {
                let k = match kind {
                    SyncKind::Diff => "DIFF".to_string(),
                    SyncKind::Trunc => format!("TRUNC to {keep}"),
                    SyncKind::Snap => "SNAP".to_string(),
                };
                write!(f, "{k} +{} txns, NEWLEADER{{{epoch}}}", txns.len())
            }
            Msg::AckNewleader { epoch } => write!(f, "ACK-NEWLEADER{{{epoch}}}"),
            Msg::Uptodate { epoch, upto } => write!(f, "UPTODATE{{{epoch}, committed {upto}}}"),
            Msg::Proposal { txn, .. } => write!(f, "PROPOSAL{{{txn:?}}}"),
            Msg::Ack { zxid, .. } => write!(f, "ACK{{{zxid:?}}}"),
            Msg::Commit { zxid, .. } => write!(f, "COMMIT{{{zxid:?}}}"),
            Msg::Ping { epoch, committed } => write!(f, "PING{{{epoch}, committed {committed}}}"),
            Msg::Pong { epoch } => write!(f, "PONG{{{epoch}}}"),
            Msg::Request { op, .. } => write!(f, "REQUEST{{{op}}}"),
            Msg::Sync { id, .. } => write!(f, "SYNC{{#{id}}}"),
            Msg::SyncOk { id, upto, .. } => write!(f, "SYNC{{#{id} done, committed {upto}}}"),
            Msg::Confirm { round, .. } => write!(f, "CONFIRM{{round {round}}}"),
            Msg::Confirmed { round, .. } => write!(f, "CONFIRMED{{round {round}}}"),
        }
    }
}
