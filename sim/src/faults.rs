//! Faults: what a scenario schedules and what the random nemesis draws.

use crate::ids::{ClientId, Endpoint, NodeId};
use crate::time::{format_duration, Time};
use serde::Serialize;
use std::fmt;

/// Which node (or client) a fault strikes, resolved when it fires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Node(NodeId),
    /// A client (crash, restart, pause and resume only).
    Client(ClientId),
    /// Drawn from the faults stream among eligible nodes (of this group, if one is named).
    Random(Option<String>),
    /// A node whose `Protocol::role()` is this (of this group, if one is named; drawn among
    /// them if several; skipped if none).
    Role(String, Option<String>),
    /// Drawn among eligible clients.
    RandomClient,
}

impl Target {
    /// Any node.
    pub const RANDOM: Target = Target::Random(None);

    /// Whether it names or draws a client.
    pub fn is_client(&self) -> bool {
        matches!(self, Target::Client(_) | Target::RandomClient)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Node(n) => n.fmt(f),
            Target::Client(c) => c.fmt(f),
            Target::Random(None) => f.write_str("random"),
            Target::Random(Some(g)) => write!(f, "random@{g}"),
            Target::Role(r, None) => f.write_str(r),
            Target::Role(r, Some(g)) => write!(f, "{r}@{g}"),
            Target::RandomClient => f.write_str("random-client"),
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
    /// A random split of the servers (of this group, if one is named) into a majority and a
    /// minority; clients join a random side.
    RandomHalves(Option<String>),
    /// Random halves with a node of this role (if any) on the minority side (`[nemesis] aim`).
    HalvesWithRoleInMinority(String, Option<String>),
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
    ClientCrash,
    ClientPause,
}

impl FaultKind {
    pub const ALL: [FaultKind; 8] = [
        FaultKind::Crash,
        FaultKind::Pause,
        FaultKind::Partition,
        FaultKind::Cut,
        FaultKind::ClockJump,
        FaultKind::Disk,
        FaultKind::ClientCrash,
        FaultKind::ClientPause,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Crash => "crash",
            FaultKind::Pause => "pause",
            FaultKind::Partition => "partition",
            FaultKind::Cut => "cut",
            FaultKind::ClockJump => "clock_jump",
            FaultKind::Disk => "disk",
            FaultKind::ClientCrash => "client_crash",
            FaultKind::ClientPause => "client_pause",
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
                    PartitionSpec::RandomHalves(None) => write!(f, "partition into random halves")?,
                    PartitionSpec::RandomHalves(Some(g)) => write!(f, "partition {g} into random halves")?,
                    PartitionSpec::HalvesWithRoleInMinority(r, None) => {
                        write!(f, "partition into random halves, a {r} in the minority")?
                    }
                    PartitionSpec::HalvesWithRoleInMinority(r, Some(g)) => {
                        write!(f, "partition {g} into random halves, a {r} in the minority")?
                    }
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

/// Where a fault came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// A `[[faults]]` entry.
    Scheduled,
    /// A strike of the nemesis's kind.
    Nemesis(FaultKind),
    /// The nemesis's `crash_on_role`.
    RoleCrash,
    /// The scheduled end of an earlier fault (`restart_after`, `resume_after`).
    FollowUp,
}

impl Origin {
    /// The nemesis stream random choices come from (None: the scheduled faults' stream).
    pub fn nemesis_kind(self) -> Option<FaultKind> {
        match self {
            Origin::Nemesis(k) => Some(k),
            Origin::RoleCrash => Some(FaultKind::Crash),
            Origin::Scheduled | Origin::FollowUp => None,
        }
    }

    /// Whether a replay must schedule it explicitly (follow-ups come from their fault).
    pub fn is_root(self) -> bool {
        self != Origin::FollowUp
    }

    pub fn name(self) -> &'static str {
        match self {
            Origin::Scheduled => "scheduled",
            Origin::Nemesis(_) => "nemesis",
            Origin::RoleCrash => "crash_on_role",
            Origin::FollowUp => "follow-up",
        }
    }
}

/// What a fault did, as it happened: the timeline checks read ([`crate::World::faults`]) and
/// the `kind` of a `fault` line in `trace.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FaultEvent {
    Crash {
        node: NodeId,
    },
    Restart {
        node: NodeId,
    },
    Pause {
        node: NodeId,
    },
    Resume {
        node: NodeId,
    },
    Partition {
        groups: Vec<Vec<Endpoint>>,
    },
    PartitionHealed,
    Cut {
        from: NodeId,
        to: NodeId,
    },
    CutHealed {
        from: NodeId,
        to: NodeId,
    },
    HealAll,
    ClockJump {
        node: NodeId,
        by_ns: i64,
    },
    SlowDisk {
        node: NodeId,
        factor: u32,
    },
    DiskNormal {
        node: NodeId,
    },
    /// A power loss struck: the node crashed, losing its unsynced writes.
    PowerLoss {
        node: NodeId,
    },
    PowerLossArmed {
        node: NodeId,
    },
    PowerLossDisarmed {
        node: NodeId,
    },
    ClientCrash {
        client: ClientId,
    },
    ClientRestart {
        client: ClientId,
    },
    ClientPause {
        client: ClientId,
    },
    ClientResume {
        client: ClientId,
    },
}

impl FaultEvent {
    /// The record code of the canonical trace (the byte after the `FAULT` header). Stable.
    pub fn code(&self) -> u8 {
        match self {
            FaultEvent::Crash { .. } => 1,
            FaultEvent::Restart { .. } => 2,
            FaultEvent::Pause { .. } => 3,
            FaultEvent::Partition { .. } => 4,
            FaultEvent::Cut { .. } => 5,
            FaultEvent::HealAll => 6,
            FaultEvent::ClockJump { .. } => 7,
            FaultEvent::SlowDisk { .. } => 8,
            FaultEvent::PowerLoss { .. } => 9,
            FaultEvent::PowerLossArmed { .. } => 10,
            FaultEvent::PartitionHealed => 11,
            FaultEvent::CutHealed { .. } => 12,
            FaultEvent::DiskNormal { .. } => 13,
            FaultEvent::PowerLossDisarmed { .. } => 14,
            FaultEvent::Resume { .. } => 15,
            FaultEvent::ClientCrash { .. } => 16,
            FaultEvent::ClientRestart { .. } => 17,
            FaultEvent::ClientPause { .. } => 18,
            FaultEvent::ClientResume { .. } => 19,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            FaultEvent::Crash { .. } => "crash",
            FaultEvent::Restart { .. } => "restart",
            FaultEvent::Pause { .. } => "pause",
            FaultEvent::Resume { .. } => "resume",
            FaultEvent::Partition { .. } => "partition",
            FaultEvent::PartitionHealed => "partition-healed",
            FaultEvent::Cut { .. } => "cut",
            FaultEvent::CutHealed { .. } => "cut-healed",
            FaultEvent::HealAll => "heal-all",
            FaultEvent::ClockJump { .. } => "clock-jump",
            FaultEvent::SlowDisk { .. } => "slow-disk",
            FaultEvent::DiskNormal { .. } => "disk-normal",
            FaultEvent::PowerLoss { .. } => "power-loss",
            FaultEvent::PowerLossArmed { .. } => "power-loss-armed",
            FaultEvent::PowerLossDisarmed { .. } => "power-loss-disarmed",
            FaultEvent::ClientCrash { .. } => "client-crash",
            FaultEvent::ClientRestart { .. } => "client-restart",
            FaultEvent::ClientPause { .. } => "client-pause",
            FaultEvent::ClientResume { .. } => "client-resume",
        }
    }

    /// The node it acted on, if one.
    pub fn node(&self) -> Option<NodeId> {
        match *self {
            FaultEvent::Crash { node }
            | FaultEvent::Restart { node }
            | FaultEvent::Pause { node }
            | FaultEvent::Resume { node }
            | FaultEvent::ClockJump { node, .. }
            | FaultEvent::SlowDisk { node, .. }
            | FaultEvent::DiskNormal { node }
            | FaultEvent::PowerLoss { node }
            | FaultEvent::PowerLossArmed { node }
            | FaultEvent::PowerLossDisarmed { node } => Some(node),
            FaultEvent::Partition { .. }
            | FaultEvent::PartitionHealed
            | FaultEvent::Cut { .. }
            | FaultEvent::CutHealed { .. }
            | FaultEvent::HealAll
            | FaultEvent::ClientCrash { .. }
            | FaultEvent::ClientRestart { .. }
            | FaultEvent::ClientPause { .. }
            | FaultEvent::ClientResume { .. } => None,
        }
    }

    /// The client it acted on, if one.
    pub fn client(&self) -> Option<ClientId> {
        match *self {
            FaultEvent::ClientCrash { client }
            | FaultEvent::ClientRestart { client }
            | FaultEvent::ClientPause { client }
            | FaultEvent::ClientResume { client } => Some(client),
            _ => None,
        }
    }

    /// Whether it took its node down.
    pub fn takes_down(&self) -> bool {
        matches!(
            self,
            FaultEvent::Crash { .. } | FaultEvent::PowerLoss { .. } | FaultEvent::ClientCrash { .. }
        )
    }
}

/// One entry of the fault timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FaultRecord {
    /// True time it happened.
    pub time_ns: Time,
    /// Index of the engine event it happened in.
    pub event: u64,
    #[serde(flatten)]
    pub what: FaultEvent,
}

impl FaultAction {
    /// The action as a `[[faults]]` entry's keys (besides `at`): the loader's spelling, so a
    /// resolved action written back into a scenario file reads back to itself.
    pub fn scenario_keys(&self) -> Vec<(&'static str, serde_json::Value)> {
        let dur = |d: Time| serde_json::Value::from(format_duration(d));
        let after =
            |name: &'static str, d: &Option<Time>, out: &mut Vec<(&'static str, serde_json::Value)>| {
                if let Some(d) = d {
                    out.push((name, dur(*d)));
                }
            };
        let mut out = Vec::new();
        match self {
            FaultAction::Crash {
                target,
                restart_after,
            } => {
                out.push(("crash", target.to_string().into()));
                after("restart_after", restart_after, &mut out);
            }
            FaultAction::Restart { target } => out.push(("restart", target.to_string().into())),
            FaultAction::Pause { target, resume_after } => {
                out.push(("pause", target.to_string().into()));
                after("resume_after", resume_after, &mut out);
            }
            FaultAction::Resume { target } => out.push(("resume", target.to_string().into())),
            FaultAction::Partition { spec, heal_after } => {
                match spec {
                    PartitionSpec::Groups(groups) => {
                        let g: Vec<Vec<String>> = groups
                            .iter()
                            .map(|g| g.iter().map(|e| e.to_string()).collect())
                            .collect();
                        out.push(("partition", serde_json::json!(g)));
                    }
                    PartitionSpec::Isolate(t) => out.push(("isolate", t.to_string().into())),
                    PartitionSpec::RandomHalves(None) => out.push(("partition", "random-halves".into())),
                    PartitionSpec::RandomHalves(Some(g))
                    | PartitionSpec::HalvesWithRoleInMinority(_, Some(g)) => {
                        out.push(("partition", format!("random-halves@{g}").into()))
                    }
                    // Only the nemesis aims partitions, and its faults are recorded resolved.
                    PartitionSpec::HalvesWithRoleInMinority(_, None) => {
                        out.push(("partition", "random-halves".into()))
                    }
                }
                after("heal_after", heal_after, &mut out);
            }
            FaultAction::Cut { from, to, heal_after } => {
                out.push(("cut", serde_json::json!([from.to_string(), to.to_string()])));
                after("heal_after", heal_after, &mut out);
            }
            FaultAction::Heal => out.push(("heal", true.into())),
            FaultAction::ClockJump { target, by_ns } => {
                out.push(("clock_jump", target.to_string().into()));
                let sign = if *by_ns < 0 { "-" } else { "" };
                out.push((
                    "by",
                    format!("{sign}{}", format_duration(by_ns.unsigned_abs())).into(),
                ));
            }
            FaultAction::SlowDisk {
                target,
                factor,
                duration,
            } => {
                out.push(("slow_disk", target.to_string().into()));
                out.push(("factor", (*factor).into()));
                out.push(("for", dur(*duration)));
            }
            FaultAction::LoseUnsynced {
                target,
                within,
                restart_after,
            } => {
                out.push(("lose_unsynced", target.to_string().into()));
                out.push(("within", dur(*within)));
                after("restart_after", restart_after, &mut out);
            }
        }
        out
    }
}
