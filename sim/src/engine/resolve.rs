//! Resolving a fault: a random target, a role, a group, random halves become concrete nodes,
//! clients and partition groups, drawing from the fault's stream. Applying it is `faults.rs`.

use super::core::NodeSlot;
use super::Sim;
use crate::faults::{FaultAction, FaultKind, PartitionSpec, Target};
use crate::ids::{ClientId, Endpoint, NodeId};
use crate::protocol::Protocol;
use crate::rng::{Draw, Rng};
use crate::workload::ClientState;

/// The nemesis stream a fault's random choices come from.
pub(super) fn stream_of(action: &FaultAction) -> FaultKind {
    match action {
        FaultAction::Crash { target, .. } | FaultAction::Restart { target } if target.is_client() => {
            FaultKind::ClientCrash
        }
        FaultAction::Pause { target, .. } | FaultAction::Resume { target } if target.is_client() => {
            FaultKind::ClientPause
        }
        FaultAction::Crash { .. } | FaultAction::Restart { .. } => FaultKind::Crash,
        FaultAction::Pause { .. } | FaultAction::Resume { .. } => FaultKind::Pause,
        FaultAction::Partition { .. } | FaultAction::Heal => FaultKind::Partition,
        FaultAction::Cut { .. } => FaultKind::Cut,
        FaultAction::ClockJump { .. } => FaultKind::ClockJump,
        FaultAction::SlowDisk { .. } | FaultAction::LoseUnsynced { .. } => FaultKind::Disk,
    }
}

impl<P: Protocol> Sim<P> {
    /// The random stream a fault's choices come from: the nemesis kind's own, or the scheduled
    /// faults' stream.
    fn fault_rng(&mut self, nemesis_kind: Option<FaultKind>) -> &mut Rng {
        match nemesis_kind {
            Some(k) => self.nemesis_rng(k),
            None => &mut self.scheduled_faults_rng,
        }
    }

    /// The node or client a target names now: drawn among the `eligible` nodes (of its group)
    /// for `random`, among those with the role for a role, among the `client_eligible` clients
    /// for `random-client`; None, with a trace line, if none qualifies.
    fn resolve(
        &mut self,
        target: &Target,
        nemesis_kind: Option<FaultKind>,
        eligible: impl Fn(&NodeSlot<P>) -> bool,
        client_eligible: fn(&ClientState<P::Workload>) -> bool,
    ) -> Option<Target> {
        let in_group = |g: &Option<String>, n: NodeId| match g {
            None => true,
            Some(g) => self.cfg.cluster.group(g).is_some_and(|g| g.contains(n)),
        };
        let candidates: Vec<Target> = match target {
            Target::Node(_) | Target::Client(_) => return Some(target.clone()),
            Target::Random(g) => (0..self.cfg.nodes as u32)
                .map(NodeId)
                .filter(|n| in_group(g, *n) && self.joined(*n) && eligible(&self.nodes[n.index()]))
                .map(Target::Node)
                .collect(),
            Target::Role(r, g) => (0..self.cfg.nodes as u32)
                .map(NodeId)
                .filter(|n| {
                    in_group(g, *n)
                        && self.nodes[n.index()]
                            .state
                            .as_ref()
                            .is_some_and(|s| s.role() == r.as_str())
                })
                .map(Target::Node)
                .collect(),
            Target::RandomClient => (0..self.clients.list.len() as u32)
                .filter(|c| client_eligible(&self.clients.list[*c as usize]))
                .map(|c| Target::Client(ClientId(c)))
                .collect(),
        };
        if candidates.is_empty() {
            let what = match target {
                Target::Random(None) => "no node can take this fault now".to_string(),
                Target::Random(Some(g)) => format!("no node of {g} can take this fault now"),
                Target::RandomClient => "no client can take this fault now".to_string(),
                other => format!("no node is {other} now"),
            };
            self.fault_line(&format!("{what}; fault skipped"));
            return None;
        }
        let i = self.fault_rng(nemesis_kind).below(candidates.len() as u64) as usize;
        Some(candidates[i].clone())
    }

    /// Whether node `n` has joined the cluster (its group's `boot_at` has come).
    pub(super) fn joined(&self, n: NodeId) -> bool {
        self.core.now >= self.nodes[n.index()].meta.boot_at
    }

    /// The fault with every target made concrete: nodes or clients, and partition groups.
    pub(super) fn resolve_fault(&mut self, action: FaultAction, nemesis: bool) -> Option<FaultAction> {
        let kind = nemesis.then_some(stream_of(&action));
        let up = |s: &NodeSlot<P>| s.state.is_some();
        let any = |_: &NodeSlot<P>| true;
        Some(match action {
            FaultAction::Crash {
                target,
                restart_after,
            } => FaultAction::Crash {
                target: self.resolve(&target, kind, up, |c| c.up)?,
                restart_after,
            },
            FaultAction::Restart { target } => FaultAction::Restart {
                target: self.resolve(&target, kind, |s| s.state.is_none(), |c| !c.up)?,
            },
            FaultAction::Pause { target, resume_after } => FaultAction::Pause {
                target: self.resolve(
                    &target,
                    kind,
                    |s| s.state.is_some() && !s.meta.paused,
                    |c| c.up && !c.paused,
                )?,
                resume_after,
            },
            FaultAction::Resume { target } => FaultAction::Resume {
                target: self.resolve(&target, kind, |s| s.meta.paused, |c| c.paused)?,
            },
            FaultAction::Partition { spec, heal_after } => {
                let Some(groups) = self.partition_groups(&spec, nemesis) else {
                    self.fault_line("partition: no node matches; skipped");
                    return None;
                };
                FaultAction::Partition {
                    spec: PartitionSpec::Groups(groups),
                    heal_after,
                }
            }
            FaultAction::Cut { from, to, heal_after } => {
                let a = self.resolve(&from, kind, any, |c| c.up);
                let b = self.resolve(&to, kind, any, |c| c.up);
                let (a, b) = (a?, b?);
                if a == b {
                    self.fault_line(&format!(
                        "cut {a} -> {a}: a node cannot be cut from itself; skipped"
                    ));
                    return None;
                }
                FaultAction::Cut {
                    from: a,
                    to: b,
                    heal_after,
                }
            }
            FaultAction::Heal => FaultAction::Heal,
            FaultAction::ClockJump { target, by_ns } => FaultAction::ClockJump {
                target: self.resolve(&target, kind, any, |c| c.up)?,
                by_ns,
            },
            FaultAction::SlowDisk {
                target,
                factor,
                duration,
            } => FaultAction::SlowDisk {
                target: self.resolve(&target, kind, any, |c| c.up)?,
                factor,
                duration,
            },
            FaultAction::LoseUnsynced {
                target,
                within,
                restart_after,
            } => FaultAction::LoseUnsynced {
                target: self.resolve(&target, kind, up, |c| c.up)?,
                within,
                restart_after,
            },
        })
    }

    fn partition_groups(&mut self, spec: &PartitionSpec, nemesis: bool) -> Option<Vec<Vec<Endpoint>>> {
        let n = self.cfg.nodes as u32;
        let clients = self.cfg.clients.clients as u32;
        match spec {
            PartitionSpec::Groups(g) => Some(g.clone()),
            PartitionSpec::Isolate(t) => {
                let kind = nemesis.then_some(FaultKind::Partition);
                let Target::Node(victim) = self.resolve(t, kind, |s| s.state.is_some(), |c| c.up)? else {
                    unreachable!("the loader lets only nodes be isolated")
                };
                let mut rest: Vec<Endpoint> = (0..n)
                    .filter(|i| *i != victim.0)
                    .map(|i| Endpoint::Node(NodeId(i)))
                    .collect();
                rest.extend((0..clients).map(|c| Endpoint::Client(ClientId(c))));
                Some(vec![vec![Endpoint::Node(victim)], rest])
            }
            PartitionSpec::RandomHalves(group) => self.halves(group, None, nemesis),
            PartitionSpec::HalvesWithRoleInMinority(role, group) => self.halves(group, Some(role), nemesis),
        }
    }

    /// A random split of the servers (of `group`) into a minority and a majority, clients on
    /// random sides; with `role`, a node holding it (if any) is on the minority side.
    fn halves(
        &mut self,
        group: &Option<String>,
        role: Option<&String>,
        nemesis: bool,
    ) -> Option<Vec<Vec<Endpoint>>> {
        let n = self.cfg.nodes as u32;
        let clients = self.cfg.clients.clients as u32;
        {
            {
                let range = match group {
                    Some(g) => {
                        let g = self.cfg.cluster.group(g).expect("the loader checks group names");
                        g.first..g.first + g.len
                    }
                    None => 0..n,
                };
                let rng = self.fault_rng(nemesis.then_some(FaultKind::Partition));
                let mut servers: Vec<u32> = range.collect();
                let n = servers.len() as u32;
                rng.shuffle(&mut servers);
                if let Some(r) = role {
                    let holds = |i: &u32| {
                        self.nodes[*i as usize]
                            .state
                            .as_ref()
                            .is_some_and(|s| s.role() == r.as_str())
                    };
                    if let Some(j) = servers.iter().position(holds) {
                        servers.swap(0, j);
                    }
                }
                let rng = self.fault_rng(nemesis.then_some(FaultKind::Partition));
                let minority = if n >= 2 {
                    1 + rng.below(u64::from(n / 2)) as usize
                } else {
                    1
                };
                let minority = minority.min(servers.len());
                let node = |i: &u32| Endpoint::Node(NodeId(*i));
                let mut a: Vec<Endpoint> = servers[..minority].iter().map(node).collect();
                let mut b: Vec<Endpoint> = servers[minority..].iter().map(node).collect();
                for c in 0..clients {
                    let side = if rng.chance(0.5) { &mut a } else { &mut b };
                    side.push(Endpoint::Client(ClientId(c)));
                }
                Some(vec![a, b])
            }
        }
    }
}
