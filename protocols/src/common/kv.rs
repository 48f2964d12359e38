//! The replicated key/value state machine every protocol serves: per key a list of values;
//! `write` replaces it, `append` extends it, `cas` replaces `[from]` with `[to]`.

use crate::common::session::{Seen, Sessions};
use crate::families::kv::{KvOp as Op, KvReply};
use serde::Serialize;
use sim::{Key, Value};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KvStore {
    map: BTreeMap<Key, Vec<Value>>,
}

impl KvStore {
    /// Applies `op` and returns what the client should hear.
    pub fn apply(&mut self, op: &Op) -> KvReply {
        match *op {
            Op::Read { key } => KvReply::Ok(self.read(key)),
            Op::Write { key, value } => {
                self.map.insert(key, vec![value]);
                KvReply::Ok(Vec::new())
            }
            Op::Cas { key, from, to } => match self.map.get_mut(&key) {
                Some(cur) if cur[..] == [from] => {
                    *cur = vec![to];
                    KvReply::Ok(Vec::new())
                }
                // A failed cas changes nothing (and creates no key).
                _ => KvReply::CasFailed,
            },
            Op::Append { key, value } => {
                self.map.entry(key).or_default().push(value);
                KvReply::Ok(Vec::new())
            }
        }
    }

    /// Applies a client's operation once (Raft dissertation §6.3): a duplicate of the
    /// session's last write gets the first answer; an operation older than that is nobody's
    /// question any more (a client has one operation in flight) and gets none. Reads are not
    /// recorded: repeating one is harmless.
    pub fn apply_once(
        &mut self,
        sessions: &mut Sessions<KvReply>,
        session: u64,
        seq: u64,
        op: &Op,
    ) -> Option<KvReply> {
        match sessions.seen(session, seq) {
            Seen::Duplicate(o) => Some(o.clone()),
            Seen::Stale => None,
            Seen::New => {
                let o = self.apply(op);
                if !op.is_read() {
                    sessions.record(session, seq, o.clone());
                }
                Some(o)
            }
        }
    }

    pub fn read(&self, key: Key) -> Vec<Value> {
        self.map.get(&key).cloned().unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations() {
        let mut kv = KvStore::default();
        assert_eq!(kv.apply(&Op::Read { key: 1 }), KvReply::Ok(vec![]));
        assert_eq!(
            kv.apply(&Op::Cas {
                key: 1,
                from: 0,
                to: 5
            }),
            KvReply::CasFailed
        );
        assert!(kv.is_empty(), "a failed cas creates no key");
        kv.apply(&Op::Write { key: 1, value: 3 });
        assert_eq!(
            kv.apply(&Op::Cas {
                key: 1,
                from: 3,
                to: 5
            }),
            KvReply::Ok(vec![])
        );
        kv.apply(&Op::Append { key: 1, value: 9 });
        assert_eq!(kv.read(1), vec![5, 9]);
        assert_eq!(
            kv.apply(&Op::Cas {
                key: 1,
                from: 5,
                to: 6
            }),
            KvReply::CasFailed
        );
    }
}
