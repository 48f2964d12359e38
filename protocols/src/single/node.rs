//! The `single` server.

use super::bugs::Bugs;
use super::invariants::SingleInvariants;
use super::messages::{Msg, Timer};
use crate::common::kv::KvStore;
use crate::common::session::{Seen, Sessions};
use crate::families::kv::{Kv, KvOp as Op, KvReply};
use serde::{Deserialize, Serialize};
use sim::{Ctx, Durable, NodeId, Outcome, Protocol, RequestOf};

/// `single` has no parameters yet; the table exists so scenario files can say `[params]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SingleParams {}

/// One log record: a mutating operation applied for (session, seq).
#[derive(Clone, Debug, Serialize)]
pub struct Write {
    pub session: u64,
    pub seq: u64,
    pub op: Op,
}

/// What survives a crash: the store and the session table, rebuilt by replaying synced records.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SingleDurable {
    pub kv: KvStore,
    pub sessions: Sessions<KvReply>,
    pub records: u64,
}

impl Durable for SingleDurable {
    type Write = Write;

    fn apply(&mut self, w: &Write) {
        let outcome = self.kv.apply(&w.op);
        self.sessions.record(w.session, w.seq, outcome);
        self.records += 1;
    }
}

pub struct Single {
    pub(super) id: NodeId,
    pub(super) kv: KvStore,
    pub(super) sessions: Sessions<KvReply>,
    pub(super) bugs: Bugs,
    /// Requests answered from the session table (for the `retry-deduplicated` check).
    pub(super) deduplicated: u64,
    /// Set if an operation was ever applied a second time (for the `exactly-once` check).
    pub(super) applied_twice: Option<(u64, u64)>,
    /// Booted with a non-empty durable state (for the `recovered-state` check).
    pub(super) recovered_records: u64,
}

impl Single {
    fn is_server(&self) -> bool {
        self.id == NodeId(0)
    }

    fn on_mutation(&mut self, cx: &mut Ctx<Self>, req: RequestOf<Self>) {
        match self.sessions.seen(req.session, req.seq) {
            Seen::Duplicate(out) if !self.bugs.no_dedup => {
                // Answered before; the answer may still be waiting for its sync.
                self.deduplicated += 1;
                let out = out.clone();
                cx.reply_after_sync(&req, Outcome::Done(out));
                return;
            }
            Seen::Stale if !self.bugs.no_dedup => return,
            Seen::Duplicate(_) | Seen::Stale => {
                // Bug `no-dedup`: apply again.
                self.applied_twice.get_or_insert((req.session, req.seq));
            }
            Seen::New => {}
        }
        let outcome = self.kv.apply(&req.op);
        self.sessions.record(req.session, req.seq, outcome.clone());
        cx.persist(Write {
            session: req.session,
            seq: req.seq,
            op: req.op.clone(),
        });
        if self.bugs.ack_before_sync {
            cx.sync();
            cx.reply(&req, Outcome::Done(outcome));
        } else {
            cx.reply_after_sync(&req, Outcome::Done(outcome));
        }
    }
}

impl Protocol for Single {
    const NAME: &'static str = "single";
    const DESCRIPTION: &'static str =
        "one durable key/value server (write-ahead log, sync before reply, exactly-once sessions)";

    const DEFAULT_NODES: usize = 1;
    const ROLES: &'static [&'static str] = &["server", "standby"];

    type Msg = Msg;
    type Timer = Timer;
    type Durable = SingleDurable;
    type Params = SingleParams;
    type Invariants = SingleInvariants;
    type Workload = Kv;

    fn bugs() -> &'static [sim::BugDecl] {
        super::bugs::BUGS
    }

    fn boot(cx: &mut Ctx<Self>, _params: &SingleParams, durable: &SingleDurable) -> Self {
        Single {
            id: cx.id(),
            kv: durable.kv.clone(),
            sessions: durable.sessions.clone(),
            bugs: Bugs::from_set(cx.bugs()),
            deduplicated: 0,
            applied_twice: None,
            recovered_records: durable.records,
        }
    }

    fn on_message(&mut self, _cx: &mut Ctx<Self>, _from: NodeId, msg: Msg) {
        match msg {}
    }

    fn on_timer(&mut self, _cx: &mut Ctx<Self>, timer: Timer) {
        match timer {}
    }

    fn on_client(&mut self, cx: &mut Ctx<Self>, req: RequestOf<Self>) {
        if !self.is_server() {
            cx.reply(&req, Outcome::Redirect(Some(NodeId(0))));
            return;
        }
        if let Op::Read { key } = req.op {
            let value = Outcome::Done(KvReply::Ok(self.kv.read(key)));
            if self.bugs.read_unsynced {
                cx.reply(&req, value);
            } else {
                cx.reply_after_sync(&req, value);
            }
            return;
        }
        self.on_mutation(cx, req);
    }

    fn role(&self) -> &'static str {
        if self.is_server() {
            "server"
        } else {
            "standby"
        }
    }

    fn summary(&self) -> String {
        format!("{} keys", self.kv.len())
    }
}
