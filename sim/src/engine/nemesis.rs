//! The random nemesis: each enabled kind strikes as a Poisson process until the quiet period,
//! and `crash_on_role` crashes nodes soon after they take on a role.

use super::event::Ev;
use super::Sim;
use crate::faults::{FaultAction, FaultKind, Origin, PartitionSpec, Target};
use crate::ids::NodeId;
use crate::protocol::Protocol;
use crate::rng::{Draw, Rng};

impl<P: Protocol> Sim<P> {
    pub(super) fn nemesis_rng(&mut self, kind: FaultKind) -> &mut Rng {
        &mut self
            .nemesis_rngs
            .iter_mut()
            .find(|(k, _)| *k == kind)
            .expect("nemesis stream for an enabled kind")
            .1
    }

    /// The nemesis's crash of nodes that just took on a role (see [`crate::config::RoleCrash`]).
    pub(super) fn maybe_role_crash(&mut self, node: NodeId, role: &'static str) {
        if self.quiet {
            return;
        }
        let Some(nem) = self.cfg.nemesis.as_ref() else {
            return;
        };
        let Some(rc) = nem.role_crash.clone() else { return };
        let in_group = rc
            .group
            .as_ref()
            .is_none_or(|g| self.cfg.cluster.group(g).is_some_and(|g| g.contains(node)));
        if rc.role != role || !in_group {
            return;
        }
        let (lo, hi) = nem.fault_duration;
        let now = self.core.now;
        let rng = &mut self.role_crash_rng;
        if !rng.chance(rc.chance) {
            return;
        }
        // At least 1 ns after the change: a replay schedules the crash up front, so at the very
        // instant it would run before the event that made the node take the role.
        let delay = rng.range_inclusive(rc.after.0, rc.after.1).max(1);
        let down = rng.range_inclusive(lo, hi);
        let at = now.saturating_add(delay);
        if self.cfg.quiet_from.is_some_and(|q| at >= q) {
            return;
        }
        self.core.queue.push(
            at,
            Ev::Fault {
                action: Box::new(FaultAction::Crash {
                    target: Target::Node(node),
                    restart_after: Some(down),
                }),
                origin: Origin::RoleCrash,
                mark: None,
            },
        );
    }

    /// One strike of the nemesis's `kind`: draws the fault and applies it. With `[nemesis]
    /// group`, node faults stay inside that group.
    pub(super) fn nemesis_strike(&mut self, kind: FaultKind) -> Option<NodeId> {
        let nem = self.cfg.nemesis.clone().expect("nemesis configured");
        let (lo, hi) = nem.fault_duration;
        let range = match &nem.group {
            Some(g) => {
                let g = self.cfg.cluster.group(g).expect("the loader checks group names");
                (u64::from(g.first), u64::from(g.len))
            }
            None => (0, self.cfg.nodes as u64),
        };
        // `aim`: now and then at a role's holder instead (only where an up node holds it now
        // that can take this fault, and only for the kinds that strike a node).
        let aimable = matches!(
            kind,
            FaultKind::Crash
                | FaultKind::Pause
                | FaultKind::Partition
                | FaultKind::ClockJump
                | FaultKind::Disk
        );
        let aimed = nem.aim.as_ref().filter(|a| {
            let holder = aimable
                && (0..self.cfg.nodes).any(|i| {
                    let slot = &self.nodes[i];
                    slot.state.as_ref().is_some_and(|s| s.role() == a.role.as_str())
                        && !(kind == FaultKind::Pause && slot.meta.paused)
                        && nem.group.as_ref().is_none_or(|g| {
                            self.cfg
                                .cluster
                                .group(g)
                                .is_some_and(|g| g.contains(NodeId(i as u32)))
                        })
                });
            holder && self.aim_rng.chance(a.chance)
        });
        let random = match aimed {
            Some(a) => Target::Role(a.role.clone(), nem.group.clone()),
            None => Target::Random(nem.group.clone()),
        };
        let halves = match aimed {
            Some(a) => PartitionSpec::HalvesWithRoleInMinority(a.role.clone(), nem.group.clone()),
            None => PartitionSpec::RandomHalves(nem.group.clone()),
        };
        let rng = self.nemesis_rng(kind);
        let d = rng.range_inclusive(lo, hi);
        let action = match kind {
            FaultKind::Crash => FaultAction::Crash {
                target: random,
                restart_after: Some(d),
            },
            FaultKind::Pause => FaultAction::Pause {
                target: random,
                resume_after: Some(d),
            },
            FaultKind::Partition => FaultAction::Partition {
                spec: halves,
                heal_after: Some(d),
            },
            FaultKind::Cut => {
                let (first, n) = range;
                if n < 2 {
                    return None;
                }
                let a = rng.below(n);
                let b = (a + 1 + rng.below(n - 1)) % n;
                FaultAction::Cut {
                    from: Target::Node(NodeId((first + a) as u32)),
                    to: Target::Node(NodeId((first + b) as u32)),
                    heal_after: Some(d),
                }
            }
            FaultKind::ClockJump => {
                let max = nem.max_clock_jump;
                let by = rng.range_inclusive(0, 2 * max) as i64 - max as i64;
                FaultAction::ClockJump {
                    target: random,
                    by_ns: by,
                }
            }
            FaultKind::Disk => {
                if rng.chance(0.5) {
                    FaultAction::SlowDisk {
                        target: random,
                        factor: nem.slow_disk_factor,
                        duration: d,
                    }
                } else {
                    FaultAction::LoseUnsynced {
                        target: random,
                        within: d,
                        restart_after: Some(d),
                    }
                }
            }
            FaultKind::ClientCrash => FaultAction::Crash {
                target: Target::RandomClient,
                restart_after: Some(d),
            },
            FaultKind::ClientPause => FaultAction::Pause {
                target: Target::RandomClient,
                resume_after: Some(d),
            },
        };
        self.apply_fault(action, Origin::Nemesis(kind), None)
    }
}
