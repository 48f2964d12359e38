//! A command in a replicated log (Raft's entries, Paxos's slots): a no-op or a client
//! operation with its session and sequence number, and a stable digest checks compare.

use crate::families::kv::KvOp as Op;
use serde::Serialize;
use sim::{Key, Value};
use std::fmt;

/// A command in the replicated log.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub enum Command {
    /// A blank entry: Raft's new leader appends one at the start of its term (Raft §8) so it
    /// can commit and serve reads (dissertation §6.4); a Paxos leader fills gaps with them
    /// ("Paxos Made Simple" §3).
    Noop,
    /// A client operation with its session and sequence number (Raft dissertation §6.3).
    Client { session: u64, seq: u64, op: Op },
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Noop => f.write_str("noop"),
            Command::Client { op, .. } => write!(f, "{op}"),
        }
    }
}

/// FNV-1a-style digest of a command, stable across platforms.
pub fn digest(cmd: &Command) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |x: u64| {
        for b in x.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    match cmd {
        Command::Noop => eat(0),
        Command::Client { session, seq, op } => {
            eat(1);
            eat(*session);
            eat(*seq);
            let (kind, key, a, b): (u64, Key, Value, Value) = match *op {
                Op::Read { key } => (1, key, 0, 0),
                Op::Write { key, value } => (2, key, value, 0),
                Op::Cas { key, from, to } => (3, key, from, to),
                Op::Append { key, value } => (4, key, value, 0),
            };
            eat(kind);
            eat(u64::from(key));
            eat(a);
            eat(b);
        }
    }
    h
}
