//! `[[faults]]` and `[nemesis]`.

use super::{Builder, R};
use crate::spec::*;
use sim::config::*;
use sim::faults::{FaultAction, FaultKind, PartitionSpec, Target};
use sim::time::{format_duration, Time, NANOS_PER_SEC};
use sim::Protocol;
use std::collections::BTreeSet;
use toml::Spanned;

impl<P: Protocol> Builder<'_, P> {
    pub(super) fn fault(&self, fs: &Spanned<FaultSpec>, cfg: &SimConfig) -> R<ScheduledFault> {
        let s = fs.get_ref();
        let at = s.at.get_ref().0;
        if at > cfg.duration {
            return self.err(
                s.at.span(),
                format!(
                    "this fault is at {}, after the end of the run (duration = {})",
                    format_duration(at),
                    format_duration(cfg.duration)
                ),
                Some("move it earlier or make the run longer".into()),
            );
        }
        if let Some(q) = cfg.quiet_from {
            if at >= q {
                return self.err(
                    s.at.span(),
                    format!(
                        "this fault is at {}, inside the quiet period (from {})",
                        format_duration(at),
                        format_duration(q)
                    ),
                    Some("the quiet period has no faults; move the fault or quiet_from".into()),
                );
            }
        }
        let actions: Vec<&str> = [
            ("crash", s.crash.is_some()),
            ("restart", s.restart.is_some()),
            ("pause", s.pause.is_some()),
            ("resume", s.resume.is_some()),
            ("partition", s.partition.is_some()),
            ("isolate", s.isolate.is_some()),
            ("cut", s.cut.is_some()),
            ("heal", s.heal.is_some()),
            ("clock_jump", s.clock_jump.is_some()),
            ("slow_disk", s.slow_disk.is_some()),
            ("lose_unsynced", s.lose_unsynced.is_some()),
        ]
        .iter()
        .filter(|(_, p)| *p)
        .map(|(n, _)| *n)
        .collect();
        if actions.len() != 1 {
            let found = if actions.is_empty() {
                "none".to_string()
            } else {
                actions.join(" and ")
            };
            return self.err(
                fs.span(),
                format!("a fault needs exactly one action; found {found}"),
                Some("actions: crash, restart, pause, resume, partition, isolate, cut, heal, clock_jump, slow_disk, lose_unsynced".into()),
            );
        }
        let action = actions[0];
        // Options that belong to another action are mistakes worth reporting.
        let allowed: &[&str] = match action {
            "crash" => &["restart_after"],
            "lose_unsynced" => &["restart_after", "within"],
            "pause" => &["resume_after"],
            "partition" | "isolate" | "cut" => &["heal_after"],
            "clock_jump" => &["by"],
            "slow_disk" => &["factor", "for"],
            _ => &[],
        };
        let options = [
            ("restart_after", s.restart_after.is_some()),
            ("resume_after", s.resume_after.is_some()),
            ("heal_after", s.heal_after.is_some()),
            ("by", s.by.is_some()),
            ("factor", s.factor.is_some()),
            ("for", s.for_.is_some()),
            ("within", s.within.is_some()),
        ];
        for (name, present) in options {
            if present && !allowed.contains(&name) {
                return self.err(
                    fs.span(),
                    format!("`{name}` does not apply to a `{action}` fault"),
                    None,
                );
            }
        }
        let after = |d: Option<Dur>| d.map(|d| d.0);
        let a = match action {
            "crash" => FaultAction::Crash {
                target: self.target(s.crash.as_ref().expect("checked"), cfg)?,
                restart_after: after(s.restart_after),
            },
            "restart" => FaultAction::Restart {
                target: self.node_or_random(s.restart.as_ref().expect("checked"), cfg, "restart")?,
            },
            "pause" => FaultAction::Pause {
                target: self.target(s.pause.as_ref().expect("checked"), cfg)?,
                resume_after: after(s.resume_after),
            },
            "resume" => FaultAction::Resume {
                target: self.node_or_random(s.resume.as_ref().expect("checked"), cfg, "resume")?,
            },
            "partition" => {
                let p = s.partition.as_ref().expect("checked");
                let spec = match p.get_ref() {
                    PartitionValue::Named(n) if n == "random-halves" => PartitionSpec::RandomHalves,
                    PartitionValue::Named(n) => {
                        return self.err(
                            p.span(),
                            format!("unknown partition `{n}`"),
                            Some(
                                "write groups, e.g. [[\"n1\", \"n2\"], [\"n3\"]], or \"random-halves\""
                                    .into(),
                            ),
                        )
                    }
                    PartitionValue::Groups(groups) => {
                        let mut seen = BTreeSet::new();
                        let mut out = Vec::new();
                        for g in groups {
                            let mut eps = Vec::new();
                            for name in g {
                                let e = self.endpoint(name, cfg)?;
                                if !seen.insert(e) {
                                    return self.err(
                                        name.span(),
                                        format!("`{}` is in two groups", name.get_ref()),
                                        None,
                                    );
                                }
                                eps.push(e);
                            }
                            out.push(eps);
                        }
                        if out.len() < 2 {
                            return self.err(p.span(), "a partition needs at least two groups", None);
                        }
                        PartitionSpec::Groups(out)
                    }
                };
                FaultAction::Partition {
                    spec,
                    heal_after: after(s.heal_after),
                }
            }
            "isolate" => FaultAction::Partition {
                spec: PartitionSpec::Isolate(self.target(s.isolate.as_ref().expect("checked"), cfg)?),
                heal_after: after(s.heal_after),
            },
            "cut" => {
                let c = s.cut.as_ref().expect("checked");
                let ends = c.get_ref();
                if ends.len() != 2 {
                    return self.err(c.span(), "a cut names two nodes: [\"from\", \"to\"]", None);
                }
                let from = self.target(&ends[0], cfg)?;
                let to = self.target(&ends[1], cfg)?;
                if from == to && matches!(from, Target::Node(_)) {
                    return self.err(c.span(), "a cut needs two different nodes", None);
                }
                FaultAction::Cut {
                    from,
                    to,
                    heal_after: after(s.heal_after),
                }
            }
            "heal" => {
                let h = s.heal.as_ref().expect("checked");
                if !*h.get_ref() {
                    return self.err(h.span(), "write `heal = true` (or remove the fault)", None);
                }
                FaultAction::Heal
            }
            "clock_jump" => {
                let Some(by) = &s.by else {
                    return self.err(fs.span(), "a clock_jump needs `by`, e.g. by = \"-2s\"", None);
                };
                FaultAction::ClockJump {
                    target: self.target(s.clock_jump.as_ref().expect("checked"), cfg)?,
                    by_ns: by.get_ref().0,
                }
            }
            "slow_disk" => {
                let factor = match &s.factor {
                    Some(f) => self.int_in(f, 1, 1_000_000, "factor")? as u32,
                    None => 10,
                };
                let Some(d) = s.for_ else {
                    return self.err(
                        fs.span(),
                        "a slow_disk fault needs `for`, e.g. for = \"5s\"",
                        None,
                    );
                };
                FaultAction::SlowDisk {
                    target: self.target(s.slow_disk.as_ref().expect("checked"), cfg)?,
                    factor,
                    duration: d.0,
                }
            }
            "lose_unsynced" => FaultAction::LoseUnsynced {
                target: self.target(s.lose_unsynced.as_ref().expect("checked"), cfg)?,
                within: s.within.map(|d| d.0).unwrap_or(NANOS_PER_SEC),
                restart_after: after(s.restart_after),
            },
            _ => unreachable!("action list above"),
        };
        Ok(ScheduledFault { at, action: a })
    }

    pub(super) fn nemesis(&self, n: &Spanned<NemesisSpec>) -> R<NemesisConfig> {
        let s = n.get_ref();
        let kinds: Vec<(FaultKind, Time)> = [
            (FaultKind::Crash, &s.crash),
            (FaultKind::Pause, &s.pause),
            (FaultKind::Partition, &s.partition),
            (FaultKind::Cut, &s.cut),
            (FaultKind::ClockJump, &s.clock_jump),
            (FaultKind::Disk, &s.disk),
        ]
        .into_iter()
        .filter_map(|(k, r)| r.as_ref().map(|r| (k, r.get_ref().0)))
        .collect();
        let fault_duration = match &s.fault_duration {
            Some(d) => {
                let [lo, hi] = *d.get_ref();
                if lo.0 > hi.0 {
                    return self.err(
                        d.span(),
                        "fault_duration: the first value must not exceed the second",
                        None,
                    );
                }
                (lo.0, hi.0)
            }
            None => (NANOS_PER_SEC, 5 * NANOS_PER_SEC),
        };
        let slow = match &s.slow_disk_factor {
            Some(f) => self.int_in(f, 1, 1_000_000, "slow_disk_factor")? as u32,
            None => 10,
        };
        let role_crash = match &s.crash_on_role {
            None => None,
            Some(rc) => {
                let r = rc.get_ref();
                let role = r.role.get_ref();
                if !P::ROLES.contains(&role.as_str()) {
                    return self.err(
                        r.role.span(),
                        format!("`{role}` is not a role of {}", P::NAME),
                        Some(format!("roles: {}", P::ROLES.join(", "))),
                    );
                }
                let [lo, hi] = *r.after.get_ref();
                if lo.0 > hi.0 {
                    return self.err(
                        r.after.span(),
                        "after: the first value must not exceed the second",
                        None,
                    );
                }
                Some(sim::config::RoleCrash {
                    role: role.clone(),
                    chance: r.chance.0,
                    after: (lo.0, hi.0),
                })
            }
        };
        if kinds.is_empty() && role_crash.is_none() {
            return self.err(
                n.span(),
                "[nemesis] enables no fault kind",
                Some("give a rate per kind, e.g. crash = \"1/10s\", partition = \"1/20s\"".into()),
            );
        }
        Ok(NemesisConfig {
            role_crash,
            kinds,
            fault_duration,
            max_clock_jump: s.max_clock_jump.map(|d| d.0).unwrap_or(NANOS_PER_SEC),
            slow_disk_factor: slow,
        })
    }
}
