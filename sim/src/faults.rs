//! Faults: what a scenario schedules and what the random nemesis draws.

use crate::ids::{Endpoint, NodeId};
use crate::time::{format_duration, Time};
use serde::Serialize;
use std::fmt;

/// Which node a fault strikes, resolved when it fires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Node(NodeId),
    /// Drawn from the faults stream among eligible nodes.
    Random,
    /// A node whose `Protocol::role()` is this (drawn among them if several; skipped if none).
    Role(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Node(n) => n.fmt(f),
            Target::Random => f.write_str("random"),
            Target::Role(r) => f.write_str(r),
        }
    }
}

/// How a partition splits the network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PartitionSpec {
    /// Explicit groups. Endpoints named in no group keep reaching everyone.
    Groups(Vec<Vec<Endpoint>>),
    /// Cut this node off from every other server and client.
    Isolate(Target),
    /// A random split of the servers into a majority and a minority; clients join a random side.
    RandomHalves,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    Crash,
    Pause,
    Partition,
    Cut,
    ClockJump,
    Disk,
}

impl FaultKind {
    pub const ALL: [FaultKind; 6] = [
        FaultKind::Crash,
        FaultKind::Pause,
        FaultKind::Partition,
        FaultKind::Cut,
        FaultKind::ClockJump,
        FaultKind::Disk,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Crash => "crash",
            FaultKind::Pause => "pause",
            FaultKind::Partition => "partition",
            FaultKind::Cut => "cut",
            FaultKind::ClockJump => "clock_jump",
            FaultKind::Disk => "disk",
        }
    }
}

/// One fault as scheduled (targets unresolved). `*_after` schedules the matching heal.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultAction {
    Crash {
        target: Target,
        restart_after: Option<Time>,
    },
    Restart {
        target: Target,
    },
    Pause {
        target: Target,
        resume_after: Option<Time>,
    },
    Resume {
        target: Target,
    },
    Partition {
        spec: PartitionSpec,
        heal_after: Option<Time>,
    },
    /// Messages from `from` to `to` are dropped; the other direction still works.
    Cut {
        from: Target,
        to: Target,
        heal_after: Option<Time>,
    },
    /// Heal every partition and cut.
    Heal,
    ClockJump {
        target: Target,
        by_ns: i64,
    },
    /// Multiply the node's sync latency by `factor` for `duration`.
    SlowDisk {
        target: Target,
        factor: u32,
        duration: Time,
    },
    /// Power loss while writes are in flight: the node crashes as soon as it has unsynced
    /// writes (now, or at its next write within `within`), losing them.
    LoseUnsynced {
        target: Target,
        within: Time,
        restart_after: Option<Time>,
    },
}

impl fmt::Display for FaultAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let after = |what: &str, d: &Option<Time>| match d {
            Some(d) => format!(", {what} after {}", format_duration(*d)),
            None => String::new(),
        };
        match self {
            FaultAction::Crash {
                target,
                restart_after,
            } => write!(f, "crash {target}{}", after("restart", restart_after)),
            FaultAction::Restart { target } => write!(f, "restart {target}"),
            FaultAction::Pause { target, resume_after } => {
                write!(f, "pause {target}{}", after("resume", resume_after))
            }
            FaultAction::Resume { target } => write!(f, "resume {target}"),
            FaultAction::Partition { spec, heal_after } => {
                match spec {
                    PartitionSpec::Groups(groups) => {
                        let g: Vec<String> = groups
                            .iter()
                            .map(|g| g.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(","))
                            .collect();
                        write!(f, "partition {{{}}}", g.join(" | "))?;
                    }
                    PartitionSpec::Isolate(t) => write!(f, "isolate {t}")?,
                    PartitionSpec::RandomHalves => write!(f, "partition into random halves")?,
                }
                write!(f, "{}", after("heal", heal_after))
            }
            FaultAction::Cut { from, to, heal_after } => {
                write!(f, "cut {from} -> {to}{}", after("heal", heal_after))
            }
            FaultAction::Heal => write!(f, "heal all partitions and cuts"),
            FaultAction::ClockJump { target, by_ns } => {
                let sign = if *by_ns < 0 { "-" } else { "+" };
                write!(
                    f,
                    "clock jump {target} {sign}{}",
                    format_duration(by_ns.unsigned_abs())
                )
            }
            FaultAction::SlowDisk {
                target,
                factor,
                duration,
            } => write!(
                f,
                "slow disk {target} x{factor} for {}",
                format_duration(*duration)
            ),
            FaultAction::LoseUnsynced {
                target,
                restart_after,
                ..
            } => write!(
                f,
                "power loss {target} (unsynced writes lost){}",
                after("restart", restart_after)
            ),
        }
    }
}
