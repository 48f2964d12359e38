//! The engine glue of `primary-backup`: parameters, what each node keeps on disk, which node
//! is the view service and which are replicas, and the dispatch to `views.rs` and `replica.rs`.

use super::bugs::Bugs;
use super::invariants::PbInvariants;
use super::messages::{Msg, Timer, View, Write};
use super::replica::Replica;
use super::views::ViewService;
use crate::common::command::{digest, Command};
use crate::common::kv::KvStore;
use crate::common::session::Sessions;
use crate::families::kv::{Kv, KvReply};
use serde::{Deserialize, Serialize};
use sim::time::{Dur, NANOS_PER_MILLI};
use sim::{Ctx, NodeId, Protocol, RequestOf, SyncId};

/// When the primary answers a write (`[params] replication`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Replication {
    /// Once every backup of the view has it on disk (and so do reads: they wait for the
    /// writes before them).
    #[default]
    Sync,
    /// Once the primary's own disk has it; backups catch up in the background. A failover
    /// loses what they had not received — acknowledged writes (the documented unsafe option).
    Async,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PbParams {
    /// How often a replica pings the view service (and the view service looks at the pings).
    pub ping: Dur,
    /// The view service declares a replica dead after this long without a ping. It is also
    /// the primary's lease: the view service names no other primary until the primary has
    /// been silent this long, so the primary may serve reads for this long (less the drift
    /// bound) from the ping the view service answered.
    pub dead_after: Dur,
    /// A primary reports a backup that has not acknowledged for this long; the view service
    /// then drops it from the view (and keeps it out for `4 × dead_after`).
    pub ack_timeout: Dur,
    pub replication: Replication,
}

impl Default for PbParams {
    fn default() -> Self {
        PbParams {
            ping: Dur(50 * NANOS_PER_MILLI),
            dead_after: Dur(300 * NANOS_PER_MILLI),
            ack_timeout: Dur(300 * NANOS_PER_MILLI),
            replication: Replication::Sync,
        }
    }
}

pub const PARAM_DOCS: &[sim::ParamDoc] = &[
    sim::ParamDoc {
        name: "ping",
        description: "how often a replica pings the view service",
    },
    sim::ParamDoc {
        name: "dead_after",
        description: "silence after which the view service declares a replica dead; also the primary's read lease",
    },
    sim::ParamDoc {
        name: "ack_timeout",
        description: "a backup that has not acknowledged for this long is reported by the primary and dropped from the view",
    },
    sim::ParamDoc {
        name: "replication",
        description: "\"sync\" (default: a write is answered once every backup has it) or \"async\" (once the primary has it: a failover loses acknowledged writes)",
    },
];

/// Which node does what: the view service (group `views`, else `n1`) and the replicas (group
/// `replicas`, else every other node).
#[derive(Clone, Debug)]
pub struct Layout {
    pub views: NodeId,
    pub replicas: Vec<NodeId>,
}

impl Layout {
    pub fn of(cluster: &sim::cluster::Cluster) -> Self {
        let views = cluster.group(VIEWS).map_or(NodeId(0), |g| NodeId(g.first));
        let replicas = match cluster.group(REPLICAS) {
            Some(g) => g.nodes().collect(),
            None => (0..cluster.len() as u32).map(NodeId).filter(|&n| n != views).collect(),
        };
        Layout { views, replicas }
    }
}

pub const VIEWS: &str = "views";
pub const REPLICAS: &str = "replicas";

/// On disk. A replica: its state and where it stands (durable, so a restarted replica still
/// holds every write it acknowledged). The view service: the current view and the last view
/// whose primary took it up.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PbDurable {
    pub kv: KvStore,
    pub sessions: Sessions<KvReply>,
    pub seq: u64,
    /// Ghost: digests of the write sequence (for the checks).
    #[serde(skip)]
    pub chain: Vec<u64>,
    pub view: u64,
    pub synced: u64,
    pub current: View,
    /// The last view a primary took up, with that primary, and the one before.
    pub last_taken: (u64, Option<NodeId>),
    pub prev_taken: u64,
}

#[derive(Clone, Debug, Serialize)]
pub enum PbWrite {
    Apply(Write),
    Install {
        seq: u64,
        kv: KvStore,
        sessions: Sessions<KvReply>,
        #[serde(skip)]
        chain: Vec<u64>,
    },
    View(u64),
    Synced(u64),
    Current(View),
    TakenUp(u64, NodeId),
}

impl std::fmt::Debug for Write {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}: {}", self.seq, self.op)
    }
}

/// Applies a write to a replica's state: the store, the session table and the digest chain.
pub fn apply_write(kv: &mut KvStore, sessions: &mut Sessions<KvReply>, chain: &mut Vec<u64>, w: &Write) -> KvReply {
    let out = kv.apply(&w.op);
    sessions.record(w.session, w.cseq, out.clone());
    let prev = chain.last().copied().unwrap_or(0);
    let d = digest(&Command::Client {
        session: w.session,
        seq: w.cseq,
        op: w.op.clone(),
    });
    chain.push((prev ^ d).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17));
    out
}

impl sim::Durable for PbDurable {
    type Write = PbWrite;
    fn apply(&mut self, w: &PbWrite) {
        match w {
            PbWrite::Apply(w) => {
                apply_write(&mut self.kv, &mut self.sessions, &mut self.chain, w);
                self.seq = w.seq;
            }
            PbWrite::Install { seq, kv, sessions, chain } => {
                self.seq = *seq;
                self.kv = kv.clone();
                self.sessions = sessions.clone();
                self.chain = chain.clone();
            }
            PbWrite::View(v) => self.view = *v,
            PbWrite::Synced(v) => self.synced = *v,
            PbWrite::Current(v) => self.current = v.clone(),
            PbWrite::TakenUp(v, p) => {
                self.prev_taken = self.last_taken.0;
                self.last_taken = (*v, Some(*p));
            }
        }
    }
}

/// A node: the view service or a replica (one of each kind per node, so the size difference
/// costs nothing worth a box).
#[allow(clippy::large_enum_variant)]
pub enum PrimaryBackup {
    Views(ViewService),
    Replica(Replica),
}

impl PrimaryBackup {
    pub fn replica(&self) -> Option<&Replica> {
        match self {
            PrimaryBackup::Replica(r) => Some(r),
            PrimaryBackup::Views(_) => None,
        }
    }

    pub fn views(&self) -> Option<&ViewService> {
        match self {
            PrimaryBackup::Views(v) => Some(v),
            PrimaryBackup::Replica(_) => None,
        }
    }
}

impl Protocol for PrimaryBackup {
    const NAME: &'static str = "primary-backup";
    const DESCRIPTION: &'static str =
        "primary-backup replication with a view service (Budhiraja et al. 1993; MIT 6.824): sync or async, automatic failover, epoch fencing, read leases";
    const LINK: sim::LinkKind = sim::LinkKind::Stream;
    const DEFAULT_NODES: usize = 4;
    const ROLES: &'static [&'static str] = &["view-service", "primary", "backup", "idle"];
    const ENTRY_GROUP: Option<&'static str> = Some(REPLICAS);

    type Msg = Msg;
    type Timer = Timer;
    type Durable = PbDurable;
    type Params = PbParams;
    type Invariants = PbInvariants;
    type Workload = Kv;

    fn bugs() -> &'static [sim::BugDecl] {
        super::bugs::BUGS
    }

    fn param_docs() -> &'static [sim::ParamDoc] {
        PARAM_DOCS
    }

    fn validate_params(p: &PbParams) -> Result<(), String> {
        if p.ping.0 == 0 || p.ping >= p.dead_after {
            return Err("ping must be greater than 0 and shorter than dead_after".into());
        }
        if p.ack_timeout.0 == 0 {
            return Err("ack_timeout must be greater than 0".into());
        }
        Ok(())
    }

    fn validate_cluster(cluster: &sim::cluster::Cluster, _params: &[PbParams]) -> Result<(), String> {
        if cluster.is_grouped() {
            let names: Vec<&str> = cluster.groups().iter().map(|g| g.name.as_str()).collect();
            if names != [VIEWS, REPLICAS] {
                return Err(format!(
                    "primary-backup's [[groups]] are `views` (the view service, 1 node) and then `replicas`; found {}",
                    names.join(", ")
                ));
            }
            if cluster.group(VIEWS).is_some_and(|g| g.len != 1) {
                return Err("the `views` group is the view service: exactly 1 node".into());
            }
        } else if cluster.len() < 2 {
            return Err("primary-backup needs at least 2 nodes: n1 is the view service, the others replicas".into());
        }
        Ok(())
    }

    fn boot(cx: &mut Ctx<Self>, params: &PbParams, d: &PbDurable) -> Self {
        let layout = Layout::of(cx.cluster());
        let bugs = Bugs::from_set(cx.bugs());
        if cx.id() == layout.views {
            PrimaryBackup::Views(ViewService::boot(cx, params.clone(), layout, d))
        } else {
            PrimaryBackup::Replica(Replica::boot(cx, params.clone(), bugs, layout, d))
        }
    }

    fn on_message(&mut self, cx: &mut Ctx<Self>, from: NodeId, msg: Msg) {
        match self {
            PrimaryBackup::Views(v) => v.on_message(cx, from, msg),
            PrimaryBackup::Replica(r) => {
                r.begin_event();
                r.on_message(cx, from, msg)
            }
        }
    }

    fn on_timer(&mut self, cx: &mut Ctx<Self>, _timer: Timer) {
        match self {
            PrimaryBackup::Views(v) => v.on_tick(cx),
            PrimaryBackup::Replica(r) => {
                r.begin_event();
                r.on_tick(cx)
            }
        }
    }

    fn on_client(&mut self, cx: &mut Ctx<Self>, req: RequestOf<Self>) {
        match self {
            PrimaryBackup::Views(v) => v.on_client(cx, req),
            PrimaryBackup::Replica(r) => {
                r.begin_event();
                r.on_client(cx, req)
            }
        }
    }

    fn on_sync_done(&mut self, cx: &mut Ctx<Self>, sync: SyncId) {
        if let PrimaryBackup::Replica(r) = self {
            r.begin_event();
            r.on_sync_done(cx, sync);
        }
    }

    fn on_link_broken(&mut self, cx: &mut Ctx<Self>, peer: NodeId) {
        if let PrimaryBackup::Replica(r) = self {
            r.begin_event();
            r.on_link_broken(cx, peer);
        }
    }

    fn role(&self) -> &'static str {
        match self {
            PrimaryBackup::Views(_) => "view-service",
            PrimaryBackup::Replica(r) => r.role_name(),
        }
    }

    fn coverage(&self) -> u64 {
        match self {
            PrimaryBackup::Views(v) => v.coverage(),
            PrimaryBackup::Replica(r) => r.coverage() | 1 << 8,
        }
    }

    fn summary(&self) -> String {
        match self {
            PrimaryBackup::Views(v) => format!("{:?}", v.view()),
            PrimaryBackup::Replica(r) => r.summary(),
        }
    }
}
