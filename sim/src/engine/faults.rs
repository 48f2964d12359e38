//! Faults: a fault is first *resolved* (a random target, a role, random halves become concrete
//! nodes and groups, drawing from the fault's stream), then *applied* to the nodes and the
//! network. A resolved fault that happened is logged to the replayable schedule and to the
//! fault timeline checks read; its scheduled end (a heal, a restart) follows as its own event.

use super::core::NodeSlot;
use super::event::{Ev, Handled, Heal};
use super::Sim;
use crate::faults::{FaultAction, FaultEvent, FaultKind, FaultRecord, Origin, PartitionSpec, Target};
use crate::ids::{ClientId, Endpoint, NodeId};
use crate::protocol::{LinkKind, Protocol};
use crate::rng::{Draw, Rng};
use crate::time::{format_duration, Time};
use crate::trace::tag;

/// Entries the fault timeline keeps; past it, checks see a truncated timeline (reported as the
/// bound `fault_timeline`).
pub(super) const MAX_FAULT_TIMELINE: usize = 1_000_000;

/// The nemesis stream a fault's random choices come from.
fn stream_of(action: &FaultAction) -> FaultKind {
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

    /// The node or client a target names now: drawn among the `eligible` nodes (of its group)
    /// for `random`, among those with the role for a role, among the up (or, for a restart,
    /// crashed) clients for `random-client`; None, with a trace line, if none qualifies.
    fn resolve(
        &mut self,
        target: &Target,
        nemesis_kind: Option<FaultKind>,
        eligible: impl Fn(&NodeSlot<P>) -> bool,
        client_up: bool,
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
                .filter(|c| self.clients.list[*c as usize].up == client_up)
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

    /// Counts a fault, records it in the canonical trace, the timeline and the trace lines.
    /// The canonical record stays open for operands that follow (a partition's groups).
    pub(super) fn record_fault(&mut self, what: FaultEvent, a: u32, b: u32, text: String) {
        self.core.counters.faults += 1;
        let now = self.core.now;
        self.core.trace.header(tag::FAULT, now, a, b);
        self.core.trace.rec().push(what.code());
        self.core.trace.commit();
        self.note_fault(what, &text);
    }

    /// A fault's timeline entry and trace lines (without a canonical record: a power loss
    /// striking at a write is part of the event that wrote).
    pub(super) fn note_fault(&mut self, what: FaultEvent, text: &str) {
        self.fault_line_on(text, Some(&what));
        if self.fault_timeline.len() < MAX_FAULT_TIMELINE {
            self.fault_timeline.push(FaultRecord {
                time_ns: self.core.now,
                event: self.core.event,
                what,
            });
        } else {
            self.core.bounds_hit.insert("fault_timeline");
        }
    }

    /// Resolves and applies a fault; returns the node it touched, if any. A root fault that
    /// happened goes to the schedule.
    pub(super) fn apply_fault(&mut self, action: FaultAction, origin: Origin) -> Option<NodeId> {
        let nemesis = matches!(origin, Origin::Nemesis(_) | Origin::RoleCrash);
        let resolved = self.resolve_fault(action, nemesis)?;
        let before = self.core.counters.faults;
        let touched = self.apply_resolved(&resolved);
        if origin.is_root() && self.core.counters.faults > before {
            if let Some(w) = self.schedule.as_mut() {
                w.fault(self.core.now, &resolved, origin);
            }
        }
        touched
    }

    /// The fault with every target made concrete: nodes or clients, and partition groups.
    fn resolve_fault(&mut self, action: FaultAction, nemesis: bool) -> Option<FaultAction> {
        let kind = nemesis.then_some(stream_of(&action));
        let up = |s: &NodeSlot<P>| s.state.is_some();
        let any = |_: &NodeSlot<P>| true;
        Some(match action {
            FaultAction::Crash {
                target,
                restart_after,
            } => FaultAction::Crash {
                target: self.resolve(&target, kind, up, true)?,
                restart_after,
            },
            FaultAction::Restart { target } => FaultAction::Restart {
                target: self.resolve(&target, kind, |s| s.state.is_none(), false)?,
            },
            FaultAction::Pause { target, resume_after } => FaultAction::Pause {
                target: self.resolve(&target, kind, |s| s.state.is_some() && !s.meta.paused, true)?,
                resume_after,
            },
            FaultAction::Resume { target } => FaultAction::Resume {
                target: self.resolve(&target, kind, |s| s.meta.paused, true)?,
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
                let a = self.resolve(&from, kind, any, true);
                let b = self.resolve(&to, kind, any, true);
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
                target: self.resolve(&target, kind, any, true)?,
                by_ns,
            },
            FaultAction::SlowDisk {
                target,
                factor,
                duration,
            } => FaultAction::SlowDisk {
                target: self.resolve(&target, kind, any, true)?,
                factor,
                duration,
            },
            FaultAction::LoseUnsynced {
                target,
                within,
                restart_after,
            } => FaultAction::LoseUnsynced {
                target: self.resolve(&target, kind, up, true)?,
                within,
                restart_after,
            },
        })
    }

    /// Applies a resolved fault (every target a node); returns the node it touched.
    fn apply_resolved(&mut self, action: &FaultAction) -> Option<NodeId> {
        let target = |t: &Target| match t {
            Target::Node(n) => *n,
            other => unreachable!("an unresolved target {other}"),
        };
        match action {
            FaultAction::Crash {
                target: Target::Client(c),
                restart_after,
            } => {
                self.crash_client(*c, *restart_after);
                None
            }
            FaultAction::Restart {
                target: Target::Client(c),
            } => {
                self.restart_client(*c);
                None
            }
            FaultAction::Pause {
                target: Target::Client(c),
                resume_after,
            } => {
                self.pause_client(*c, *resume_after);
                None
            }
            FaultAction::Resume {
                target: Target::Client(c),
            } => {
                self.resume_client(*c);
                None
            }
            FaultAction::Crash {
                target: t,
                restart_after,
            } => {
                let n = target(t);
                if self.nodes[n.index()].state.is_none() {
                    self.fault_line(&format!("crash {n}: it is already down; fault skipped"));
                    return None;
                }
                self.record_fault(FaultEvent::Crash { node: n }, n.0, 0, format!("crash {n}"));
                self.crash(n.0, *restart_after);
                Some(n)
            }
            FaultAction::Restart { target: t } => {
                let n = target(t);
                if self.nodes[n.index()].state.is_some() {
                    return None;
                }
                if !self.joined(n) {
                    self.fault_line(&format!("restart {n}: it has not joined yet; fault skipped"));
                    return None;
                }
                self.record_fault(FaultEvent::Restart { node: n }, n.0, 0, format!("restart {n}"));
                self.boot(n.0);
                Some(n)
            }
            FaultAction::Pause {
                target: t,
                resume_after,
            } => self.pause(target(t), *resume_after),
            FaultAction::Resume { target: t } => {
                let n = target(t);
                if !self.nodes[n.index()].meta.paused {
                    return None;
                }
                self.resume(n);
                Some(n)
            }
            FaultAction::Partition { spec, heal_after } => {
                let PartitionSpec::Groups(groups) = spec else {
                    unreachable!("an unresolved partition")
                };
                self.partition(groups, *heal_after);
                None
            }
            FaultAction::Cut { from, to, heal_after } => {
                self.cut(target(from), target(to), *heal_after);
                None
            }
            FaultAction::Heal => {
                self.core.net.heal();
                self.record_fault(FaultEvent::HealAll, 0, 0, "heal all partitions and cuts".into());
                None
            }
            FaultAction::ClockJump { target: t, by_ns } => {
                let (n, by_ns) = (target(t), *by_ns);
                self.nodes[n.index()].meta.clock.jump(by_ns);
                let sign = if by_ns < 0 { "-" } else { "+" };
                self.record_fault(
                    FaultEvent::ClockJump { node: n, by_ns },
                    n.0,
                    by_ns as u32,
                    format!("clock jump {n} {sign}{}", format_duration(by_ns.unsigned_abs())),
                );
                Some(n)
            }
            FaultAction::SlowDisk {
                target: t,
                factor,
                duration,
            } => Some(self.slow_disk(target(t), *factor, *duration)),
            FaultAction::LoseUnsynced {
                target: t,
                within,
                restart_after,
            } => self.lose_unsynced(target(t), *within, *restart_after),
        }
    }

    fn pause(&mut self, n: NodeId, resume_after: Option<Time>) -> Option<NodeId> {
        let slot = &mut self.nodes[n.index()];
        if slot.state.is_none() || slot.meta.paused {
            return None;
        }
        slot.meta.paused = true;
        self.record_fault(FaultEvent::Pause { node: n }, n.0, 0, format!("pause {n}"));
        if let Some(d) = resume_after {
            self.core.queue.push(
                self.core.now.saturating_add(d),
                Ev::Fault {
                    action: Box::new(FaultAction::Resume {
                        target: Target::Node(n),
                    }),
                    origin: Origin::FollowUp,
                },
            );
        }
        Some(n)
    }

    fn partition(&mut self, groups: &[Vec<Endpoint>], heal_after: Option<Time>) {
        let text = FaultAction::Partition {
            spec: PartitionSpec::Groups(groups.to_vec()),
            heal_after: None,
        }
        .to_string();
        let broken = self.core.net.partition(groups);
        self.partition_gen += 1;
        let what = FaultEvent::Partition {
            groups: groups.to_vec(),
        };
        self.record_fault(what, self.partition_gen as u32, 0, text);
        for g in groups {
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

    fn cut(&mut self, a: NodeId, b: NodeId, heal_after: Option<Time>) {
        let gen = self.core.net.cut(a.0, b.0);
        self.record_fault(
            FaultEvent::Cut { from: a, to: b },
            a.0,
            b.0,
            format!("cut {a} -> {b} (one-way)"),
        );
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

    fn slow_disk(&mut self, n: NodeId, factor: u32, duration: Time) -> NodeId {
        let meta = &mut self.nodes[n.index()].meta;
        meta.slow_factor = factor.max(1);
        meta.slow_gen += 1;
        let gen = meta.slow_gen;
        self.record_fault(
            FaultEvent::SlowDisk { node: n, factor },
            n.0,
            factor,
            format!("slow disk {n} x{factor} for {}", format_duration(duration)),
        );
        self.core.queue.push(
            self.core.now.saturating_add(duration),
            Ev::Heal(Heal::DiskNormal(n.0, gen)),
        );
        n
    }

    fn lose_unsynced(&mut self, n: NodeId, within: Time, restart_after: Option<Time>) -> Option<NodeId> {
        let slot = &mut self.nodes[n.index()];
        slot.state.as_ref()?;
        if !slot.meta.storage.unsynced.is_empty() {
            self.record_fault(
                FaultEvent::PowerLoss { node: n },
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
            FaultEvent::PowerLossArmed { node: n },
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
                self.record_fault(
                    FaultEvent::PartitionHealed,
                    gen as u32,
                    0,
                    "partition healed".into(),
                );
            }
            Heal::Uncut(a, b, gen) => {
                if !self.core.net.uncut(a, b, gen) {
                    return Handled::Stale;
                }
                self.record_fault(
                    FaultEvent::CutHealed {
                        from: NodeId(a),
                        to: NodeId(b),
                    },
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
                    FaultEvent::DiskNormal { node: NodeId(n) },
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
                    FaultEvent::PowerLossDisarmed { node: NodeId(n) },
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
                let Target::Node(victim) = self.resolve(t, kind, |s| s.state.is_some(), true)? else {
                    unreachable!("the loader lets only nodes be isolated")
                };
                let mut rest: Vec<Endpoint> = (0..n)
                    .filter(|i| *i != victim.0)
                    .map(|i| Endpoint::Node(NodeId(i)))
                    .collect();
                rest.extend((0..clients).map(|c| Endpoint::Client(ClientId(c))));
                Some(vec![vec![Endpoint::Node(victim)], rest])
            }
            PartitionSpec::RandomHalves(group) => {
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
                origin: Origin::RoleCrash,
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
        let random = Target::Random(nem.group.clone());
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
                spec: PartitionSpec::RandomHalves(nem.group.clone()),
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
        self.apply_fault(action, Origin::Nemesis(kind))
    }
}
