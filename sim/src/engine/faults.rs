//! Faults: resolving a target (a named node, a random one, a role), applying the fault, its
//! scheduled heal, and the random nemesis.

use super::core::NodeSlot;
use super::event::{Ev, Handled, Heal};
use super::Sim;
use crate::faults::{FaultAction, FaultKind, PartitionSpec, Target};
use crate::ids::{ClientId, Endpoint, NodeId};
use crate::protocol::{LinkKind, Protocol};
use crate::rng::{Draw, Rng};
use crate::time::{format_duration, Time};
use crate::trace::tag;

/// What a fault did, as recorded in the canonical trace (the byte after the `FAULT` header).
/// Stable: a new variant takes a new number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Applied {
    Crash = 1,
    Restart = 2,
    Pause = 3,
    Partition = 4,
    Cut = 5,
    HealAll = 6,
    ClockJump = 7,
    SlowDisk = 8,
    /// A power loss that struck at once (writes were in flight).
    PowerLoss = 9,
    PowerLossArmed = 10,
    PartitionHealed = 11,
    CutHealed = 12,
    DiskNormal = 13,
    PowerLossDisarmed = 14,
    Resume = 15,
}

impl Applied {
    /// Whether the first operand is the node the fault acted on.
    fn acts_on_node(self) -> bool {
        !matches!(
            self,
            Applied::Partition
                | Applied::Cut
                | Applied::HealAll
                | Applied::PartitionHealed
                | Applied::CutHealed
        )
    }

    /// Whether it took that node down.
    fn takes_down(self) -> bool {
        matches!(self, Applied::Crash | Applied::PowerLoss)
    }
}

impl<P: Protocol> Sim<P> {
    pub(super) fn nemesis_rng(&mut self, kind: FaultKind) -> &mut Rng {
        &mut self
            .nemesis_rngs
            .iter_mut()
            .find(|(k, _)| *k == kind)
            .expect("nemesis stream for an enabled kind")
            .1
    }

    /// The random stream a fault's choices come from: the nemesis kind's own, or the scheduled
    /// faults' stream.
    fn fault_rng(&mut self, nemesis_kind: Option<FaultKind>) -> &mut Rng {
        match nemesis_kind {
            Some(k) => self.nemesis_rng(k),
            None => &mut self.scheduled_faults_rng,
        }
    }

    /// The node a target names now, drawn among the `eligible` ones for `random` and among those
    /// with the role for a role; None (with a trace line) if none qualifies.
    fn resolve(
        &mut self,
        target: &Target,
        nemesis_kind: Option<FaultKind>,
        eligible: impl Fn(&NodeSlot<P>) -> bool,
    ) -> Option<NodeId> {
        let candidates: Vec<NodeId> = match target {
            Target::Node(n) => return Some(*n),
            Target::Random => (0..self.cfg.nodes as u32)
                .map(NodeId)
                .filter(|n| eligible(&self.nodes[n.index()]))
                .collect(),
            Target::Role(r) => (0..self.cfg.nodes as u32)
                .map(NodeId)
                .filter(|n| {
                    self.nodes[n.index()]
                        .state
                        .as_ref()
                        .is_some_and(|s| s.role() == r.as_str())
                })
                .collect(),
        };
        if candidates.is_empty() {
            let what = match target {
                Target::Random => "no node can take this fault now".to_string(),
                other => format!("no node is {other} now"),
            };
            self.fault_line(&format!("{what}; fault skipped"));
            return None;
        }
        let i = self.fault_rng(nemesis_kind).below(candidates.len() as u64) as usize;
        Some(candidates[i])
    }

    /// Counts a fault and records it in the canonical trace and the trace lines. The record
    /// stays open for operands that follow (a partition's groups).
    pub(super) fn record_fault(&mut self, what: Applied, a: u32, b: u32, text: String) {
        self.core.counters.faults += 1;
        let now = self.core.now;
        self.core.trace.header(tag::FAULT, now, a, b);
        self.core.trace.rec().push(what as u8);
        self.core.trace.commit();
        let node = what.acts_on_node().then_some(NodeId(a));
        self.fault_line_on(&text, node, what.takes_down());
    }

    /// Applies a fault; returns the node it touched, if any.
    pub(super) fn apply_fault(&mut self, action: FaultAction, nemesis: bool) -> Option<NodeId> {
        let kind = |k: FaultKind| nemesis.then_some(k);
        match action {
            FaultAction::Crash {
                target,
                restart_after,
            } => {
                let n = self.resolve(&target, kind(FaultKind::Crash), |s| s.state.is_some())?;
                if self.nodes[n.index()].state.is_none() {
                    self.fault_line(&format!("crash {n}: it is already down; fault skipped"));
                    return None;
                }
                self.record_fault(Applied::Crash, n.0, 0, format!("crash {n}"));
                self.crash(n.0, restart_after);
                Some(n)
            }
            FaultAction::Restart { target } => {
                let n = self.resolve(&target, kind(FaultKind::Crash), |s| s.state.is_none())?;
                if self.nodes[n.index()].state.is_some() {
                    return None;
                }
                self.record_fault(Applied::Restart, n.0, 0, format!("restart {n}"));
                self.boot(n.0);
                Some(n)
            }
            FaultAction::Pause { target, resume_after } => self.pause(&target, resume_after, nemesis),
            FaultAction::Resume { target } => {
                let n = self.resolve(&target, kind(FaultKind::Pause), |s| s.meta.paused)?;
                if !self.nodes[n.index()].meta.paused {
                    return None;
                }
                self.resume(n);
                Some(n)
            }
            FaultAction::Partition { spec, heal_after } => {
                self.partition(&spec, heal_after, nemesis);
                None
            }
            FaultAction::Cut { from, to, heal_after } => {
                self.cut(&from, &to, heal_after, nemesis);
                None
            }
            FaultAction::Heal => {
                self.core.net.heal();
                self.record_fault(Applied::HealAll, 0, 0, "heal all partitions and cuts".into());
                None
            }
            FaultAction::ClockJump { target, by_ns } => {
                let n = self.resolve(&target, kind(FaultKind::ClockJump), |_| true)?;
                self.nodes[n.index()].meta.clock.jump(by_ns);
                let sign = if by_ns < 0 { "-" } else { "+" };
                self.record_fault(
                    Applied::ClockJump,
                    n.0,
                    by_ns as u32,
                    format!("clock jump {n} {sign}{}", format_duration(by_ns.unsigned_abs())),
                );
                Some(n)
            }
            FaultAction::SlowDisk {
                target,
                factor,
                duration,
            } => self.slow_disk(&target, factor, duration, nemesis),
            FaultAction::LoseUnsynced {
                target,
                within,
                restart_after,
            } => self.lose_unsynced(&target, within, restart_after, nemesis),
        }
    }

    fn pause(&mut self, target: &Target, resume_after: Option<Time>, nemesis: bool) -> Option<NodeId> {
        let kind = nemesis.then_some(FaultKind::Pause);
        let n = self.resolve(target, kind, |s| s.state.is_some() && !s.meta.paused)?;
        let slot = &mut self.nodes[n.index()];
        if slot.state.is_none() || slot.meta.paused {
            return None;
        }
        slot.meta.paused = true;
        self.record_fault(Applied::Pause, n.0, 0, format!("pause {n}"));
        if let Some(d) = resume_after {
            self.core.queue.push(
                self.core.now.saturating_add(d),
                Ev::Fault {
                    action: Box::new(FaultAction::Resume {
                        target: Target::Node(n),
                    }),
                    nemesis,
                },
            );
        }
        Some(n)
    }

    fn partition(&mut self, spec: &PartitionSpec, heal_after: Option<Time>, nemesis: bool) {
        let Some(groups) = self.partition_groups(spec, nemesis) else {
            self.fault_line("partition: no node matches; skipped");
            return;
        };
        let text = FaultAction::Partition {
            spec: PartitionSpec::Groups(groups.clone()),
            heal_after: None,
        }
        .to_string();
        let broken = self.core.net.partition(&groups);
        self.partition_gen += 1;
        self.record_fault(Applied::Partition, self.partition_gen as u32, 0, text);
        for g in &groups {
            let ids: Vec<u32> = g.iter().map(|e| self.core.net.ep(*e)).collect();
            let rec = self.core.trace.rec();
            rec.extend_from_slice(&(ids.len() as u32).to_le_bytes());
            for i in ids {
                rec.extend_from_slice(&i.to_le_bytes());
            }
        }
        self.core.trace.commit();
        self.break_streams(&broken);
        if let Some(d) = heal_after {
            self.core.queue.push(
                self.core.now.saturating_add(d),
                Ev::Heal(Heal::Partition(self.partition_gen)),
            );
        }
    }

    fn cut(&mut self, from: &Target, to: &Target, heal_after: Option<Time>, nemesis: bool) {
        let kind = nemesis.then_some(FaultKind::Cut);
        let a = self.resolve(from, kind, |_| true);
        let b = self.resolve(to, kind, |_| true);
        let (Some(a), Some(b)) = (a, b) else {
            return;
        };
        if a == b {
            self.fault_line(&format!(
                "cut {a} -> {a}: a node cannot be cut from itself; skipped"
            ));
            return;
        }
        let gen = self.core.net.cut(a.0, b.0);
        self.record_fault(Applied::Cut, a.0, b.0, format!("cut {a} -> {b} (one-way)"));
        if self.core.net.kind == LinkKind::Stream {
            self.break_streams(&[(a.0, b.0)]);
        }
        if let Some(d) = heal_after {
            self.core.queue.push(
                self.core.now.saturating_add(d),
                Ev::Heal(Heal::Uncut(a.0, b.0, gen)),
            );
        }
    }

    fn slow_disk(&mut self, target: &Target, factor: u32, duration: Time, nemesis: bool) -> Option<NodeId> {
        let n = self.resolve(target, nemesis.then_some(FaultKind::Disk), |_| true)?;
        let meta = &mut self.nodes[n.index()].meta;
        meta.slow_factor = factor.max(1);
        meta.slow_gen += 1;
        let gen = meta.slow_gen;
        self.record_fault(
            Applied::SlowDisk,
            n.0,
            factor,
            format!("slow disk {n} x{factor} for {}", format_duration(duration)),
        );
        self.core.queue.push(
            self.core.now.saturating_add(duration),
            Ev::Heal(Heal::DiskNormal(n.0, gen)),
        );
        Some(n)
    }

    fn lose_unsynced(
        &mut self,
        target: &Target,
        within: Time,
        restart_after: Option<Time>,
        nemesis: bool,
    ) -> Option<NodeId> {
        let n = self.resolve(target, nemesis.then_some(FaultKind::Disk), |s| s.state.is_some())?;
        let slot = &mut self.nodes[n.index()];
        slot.state.as_ref()?;
        if !slot.meta.storage.unsynced.is_empty() {
            self.record_fault(
                Applied::PowerLoss,
                n.0,
                0,
                format!("power loss at {n} with writes in flight: unsynced writes lost"),
            );
            self.crash(n.0, restart_after);
            return Some(n);
        }
        slot.meta.crash_on_write = true;
        slot.meta.power_loss_gen += 1;
        slot.meta.power_loss_restart = restart_after;
        let gen = slot.meta.power_loss_gen;
        self.record_fault(
            Applied::PowerLossArmed,
            n.0,
            0,
            format!(
                "power loss armed at {n}: strikes at its next write within {}",
                format_duration(within)
            ),
        );
        self.core.queue.push(
            self.core.now.saturating_add(within),
            Ev::Heal(Heal::PowerLossExpire(n.0, gen)),
        );
        Some(n)
    }

    /// A fault's scheduled end; stale if a later fault of the same kind superseded it.
    pub(super) fn apply_heal(&mut self, h: Heal) -> Handled {
        match h {
            Heal::Partition(gen) => {
                // Lift the groups; one-way cuts stay until their own heal.
                if gen != self.partition_gen || !self.core.net.clear_groups() {
                    return Handled::Stale;
                }
                self.record_fault(Applied::PartitionHealed, gen as u32, 0, "partition healed".into());
            }
            Heal::Uncut(a, b, gen) => {
                if !self.core.net.uncut(a, b, gen) {
                    return Handled::Stale;
                }
                self.record_fault(
                    Applied::CutHealed,
                    a,
                    b,
                    format!("cut {} -> {} healed", NodeId(a), NodeId(b)),
                );
            }
            Heal::DiskNormal(n, gen) => {
                let meta = &mut self.nodes[n as usize].meta;
                if meta.slow_gen != gen || meta.slow_factor == 1 {
                    return Handled::Stale;
                }
                meta.slow_factor = 1;
                self.record_fault(
                    Applied::DiskNormal,
                    n,
                    0,
                    format!("disk of {} back to normal", NodeId(n)),
                );
            }
            Heal::PowerLossExpire(n, gen) => {
                let meta = &mut self.nodes[n as usize].meta;
                if meta.power_loss_gen != gen || !meta.crash_on_write {
                    return Handled::Stale;
                }
                meta.crash_on_write = false;
                meta.power_loss_restart = None;
                self.record_fault(
                    Applied::PowerLossDisarmed,
                    n,
                    0,
                    format!("power loss at {} disarmed (no write came)", NodeId(n)),
                );
            }
        }
        Handled::Done
    }

    fn partition_groups(&mut self, spec: &PartitionSpec, nemesis: bool) -> Option<Vec<Vec<Endpoint>>> {
        let n = self.cfg.nodes as u32;
        let clients = self.cfg.clients.clients as u32;
        match spec {
            PartitionSpec::Groups(g) => Some(g.clone()),
            PartitionSpec::Isolate(t) => {
                let kind = nemesis.then_some(FaultKind::Partition);
                let victim = self.resolve(t, kind, |s| s.state.is_some())?;
                let mut rest: Vec<Endpoint> = (0..n)
                    .filter(|i| *i != victim.0)
                    .map(|i| Endpoint::Node(NodeId(i)))
                    .collect();
                rest.extend((0..clients).map(|c| Endpoint::Client(ClientId(c))));
                Some(vec![vec![Endpoint::Node(victim)], rest])
            }
            PartitionSpec::RandomHalves => {
                let rng = self.fault_rng(nemesis.then_some(FaultKind::Partition));
                let mut servers: Vec<u32> = (0..n).collect();
                rng.shuffle(&mut servers);
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

    /// The nemesis's crash of nodes that just took on a role (see [`crate::config::RoleCrash`]).
    pub(super) fn maybe_role_crash(&mut self, node: NodeId, role: &'static str) {
        if self.quiet {
            return;
        }
        let Some(nem) = self.cfg.nemesis.as_ref() else {
            return;
        };
        let Some(rc) = nem.role_crash.clone() else { return };
        if rc.role != role {
            return;
        }
        let (lo, hi) = nem.fault_duration;
        let now = self.core.now;
        let rng = &mut self.role_crash_rng;
        if !rng.chance(rc.chance) {
            return;
        }
        let delay = rng.range_inclusive(rc.after.0, rc.after.1);
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
                nemesis: true,
            },
        );
    }

    /// One strike of the nemesis's `kind`: draws the fault and applies it.
    pub(super) fn nemesis_strike(&mut self, kind: FaultKind) -> Option<NodeId> {
        let nem = self.cfg.nemesis.clone().expect("nemesis configured");
        let (lo, hi) = nem.fault_duration;
        let n = self.cfg.nodes as u64;
        let rng = self.nemesis_rng(kind);
        let d = rng.range_inclusive(lo, hi);
        let action = match kind {
            FaultKind::Crash => FaultAction::Crash {
                target: Target::Random,
                restart_after: Some(d),
            },
            FaultKind::Pause => FaultAction::Pause {
                target: Target::Random,
                resume_after: Some(d),
            },
            FaultKind::Partition => FaultAction::Partition {
                spec: PartitionSpec::RandomHalves,
                heal_after: Some(d),
            },
            FaultKind::Cut => {
                if n < 2 {
                    return None;
                }
                let a = rng.below(n);
                let b = (a + 1 + rng.below(n - 1)) % n;
                FaultAction::Cut {
                    from: Target::Node(NodeId(a as u32)),
                    to: Target::Node(NodeId(b as u32)),
                    heal_after: Some(d),
                }
            }
            FaultKind::ClockJump => {
                let max = nem.max_clock_jump;
                let by = rng.range_inclusive(0, 2 * max) as i64 - max as i64;
                FaultAction::ClockJump {
                    target: Target::Random,
                    by_ns: by,
                }
            }
            FaultKind::Disk => {
                if rng.chance(0.5) {
                    FaultAction::SlowDisk {
                        target: Target::Random,
                        factor: nem.slow_disk_factor,
                        duration: d,
                    }
                } else {
                    FaultAction::LoseUnsynced {
                        target: Target::Random,
                        within: d,
                        restart_after: Some(d),
                    }
                }
            }
        };
        self.apply_fault(action, true)
    }
}
