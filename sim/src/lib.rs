//! dsim's engine: a deterministic, single-threaded discrete-event simulator for distributed
//! protocols. It knows no protocol (architecture invariant 1): protocols plug in through
//! [`Protocol`] and act only through [`Ctx`].
//!
//! One seed + one [`SimConfig`] = one exactly reproducible run, summarised by a trace hash.
#![deny(clippy::disallowed_types, clippy::disallowed_methods)]

pub mod checks;
pub mod client;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod consistency;
pub mod dist;
pub mod engine;
pub mod family;
pub mod faults;
pub mod history;
pub mod ids;
pub mod linearize;
pub mod metrics;
pub mod net;
pub mod output;
pub mod protocol;
pub mod queue;
pub mod report;
pub mod rng;
pub mod schedule;
pub mod testing;
pub mod time;
pub mod trace;
mod workload;

pub use checks::{CheckDecl, CheckKind, CheckResult, CheckStatus, ConditionDecl};
pub use client::{ClientReply, ClientRequest, Outcome};
pub use config::SimConfig;
pub use dist::Dist;
pub use engine::{Outputs, Setup, Sim, SimError};
pub use family::{Completion, Family, GenCx};
pub use ids::{ClientId, Endpoint, Key, NodeId, Value};
pub use protocol::{
    AnswerOf, BugDecl, BugSet, BuggifyDecl, CheckSink, Ctx, Durable, Effects, Invariants, LinkKind,
    NoInvariants, NodeSource, NodeView, OpOf, ParamDoc, Protocol, ReplyOf, RequestOf, SyncId, TimerId, World,
};
pub use report::RunReport;
pub use rng::{Draw, Rng};
pub use time::Time;
