//! Faults: a fault is first *resolved* (`resolve.rs`: a random target, a role, random halves
//! become concrete nodes and groups), then *applied* here to the nodes and the network. A resolved fault that happened is logged to the replayable schedule and to the
//! fault timeline checks read; its scheduled end (a heal, a restart) follows as its own event.

use super::event::{Ev, Handled, Heal};
use super::Sim;
use crate::faults::{FaultAction, FaultEvent, FaultRecord, Origin, PartitionSpec, Target};
use crate::ids::{Endpoint, NodeId};
use crate::protocol::{LinkKind, Protocol};
use crate::time::{format_duration, Time};
use crate::trace::tag;

/// Entries the fault timeline keeps; past it, checks see a truncated timeline (reported as the
/// bound `fault_timeline`).
pub(super) const MAX_FAULT_TIMELINE: usize = 1_000_000;

impl<P: Protocol> Sim<P> {
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
    /// `mark`: a named scheduled fault's index, for `[[metrics]]` spans and the schedule.
    pub(super) fn apply_fault(
        &mut self,
        action: FaultAction,
        origin: Origin,
        mark: Option<u32>,
    ) -> Option<NodeId> {
        let nemesis = matches!(origin, Origin::Nemesis(_) | Origin::RoleCrash);
        let resolved = self.resolve_fault(action, nemesis)?;
        let before = self.core.counters.faults;
        let touched = self.apply_resolved(&resolved);
        if self.core.counters.faults > before {
            let name = mark.and_then(|i| self.cfg.faults[i as usize].name.clone());
            if let Some(name) = &name {
                self.board.mark(name);
            }
            if origin.is_root() {
                if let Some(w) = self.schedule.as_mut() {
                    w.fault(self.core.now, &resolved, origin, name.as_deref());
                }
            }
        }
        touched
    }

    /// Applies a resolved fault (every target a node or a client); returns the node it touched.
    fn apply_resolved(&mut self, action: &FaultAction) -> Option<NodeId> {
        let target = |t: &Target| match t {
            Target::Node(n) => *n,
            other => unreachable!("an unresolved target {other}"),
        };
        match action {
            FaultAction::Crash {
                target: Target::Client(c),
                restart_after,
            } => self.crash_client(*c, *restart_after),
            FaultAction::Restart {
                target: Target::Client(c),
            } => self.restart_client(*c),
            FaultAction::Pause {
                target: Target::Client(c),
                resume_after,
            } => self.pause_client(*c, *resume_after),
            FaultAction::Resume {
                target: Target::Client(c),
            } => self.resume_client(*c),
            FaultAction::Crash {
                target: t,
                restart_after,
            } => return self.crash_node(target(t), *restart_after),
            FaultAction::Restart { target: t } => return self.restart_node(target(t)),
            FaultAction::Pause {
                target: t,
                resume_after,
            } => return self.pause(target(t), *resume_after),
            FaultAction::Resume { target: t } => {
                let n = target(t);
                if !self.nodes[n.index()].meta.paused {
                    return None;
                }
                self.resume(n);
                return Some(n);
            }
            FaultAction::Partition { spec, heal_after } => {
                let PartitionSpec::Groups(groups) = spec else {
                    unreachable!("an unresolved partition")
                };
                self.partition(groups, *heal_after);
            }
            FaultAction::Cut { from, to, heal_after } => self.cut(target(from), target(to), *heal_after),
            FaultAction::Heal => {
                self.core.net.heal();
                self.record_fault(FaultEvent::HealAll, 0, 0, "heal all partitions and cuts".into());
            }
            FaultAction::ClockJump { target: t, by_ns } => return Some(self.clock_jump(target(t), *by_ns)),
            FaultAction::SlowDisk {
                target: t,
                factor,
                duration,
            } => return Some(self.slow_disk(target(t), *factor, *duration)),
            FaultAction::LoseUnsynced {
                target: t,
                within,
                restart_after,
            } => return self.lose_unsynced(target(t), *within, *restart_after),
        }
        None
    }

    fn crash_node(&mut self, n: NodeId, restart_after: Option<Time>) -> Option<NodeId> {
        if self.nodes[n.index()].state.is_none() {
            self.fault_line(&format!("crash {n}: it is already down; fault skipped"));
            return None;
        }
        self.record_fault(FaultEvent::Crash { node: n }, n.0, 0, format!("crash {n}"));
        self.crash(n.0, restart_after);
        Some(n)
    }

    fn restart_node(&mut self, n: NodeId) -> Option<NodeId> {
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

    fn clock_jump(&mut self, n: NodeId, by_ns: i64) -> NodeId {
        self.nodes[n.index()].meta.clock.jump(by_ns);
        let sign = if by_ns < 0 { "-" } else { "+" };
        self.record_fault(
            FaultEvent::ClockJump { node: n, by_ns },
            n.0,
            by_ns as u32,
            format!("clock jump {n} {sign}{}", format_duration(by_ns.unsigned_abs())),
        );
        n
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
                    mark: None,
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
}
