//! `[[faults]]` and `[nemesis]`, and fault targets (`n2`, `random`, `random@brokers`,
//! `leader`, `leader@brokers`, a group name, `c3`, `random-client`).

use super::{Builder, R};
use crate::spec::*;
use sim::config::*;
use sim::faults::{FaultAction, FaultKind, PartitionSpec, Target};
use sim::ids::{parse_endpoint, Endpoint};
use sim::time::{format_duration, Time, NANOS_PER_SEC};
use sim::Protocol;
use std::collections::BTreeSet;
use toml::Spanned;

/// One `[[faults]]` entry's action, as written: exactly one action key.
enum ActionSpec<'a> {
    Crash(&'a Spanned<String>),
    Restart(&'a Spanned<String>),
    Pause(&'a Spanned<String>),
    Resume(&'a Spanned<String>),
    Partition(&'a Spanned<PartitionValue>),
    Isolate(&'a Spanned<String>),
    Cut(&'a Spanned<Vec<Spanned<String>>>),
    Heal(&'a Spanned<bool>),
    ClockJump(&'a Spanned<String>),
    SlowDisk(&'a Spanned<String>),
    LoseUnsynced(&'a Spanned<String>),
}

impl ActionSpec<'_> {
    /// The action key, and the option keys that may come with it.
    fn describe(&self) -> (&'static str, &'static [&'static str]) {
        match self {
            ActionSpec::Crash(_) => ("crash", &["restart_after"]),
            ActionSpec::Restart(_) => ("restart", &[]),
            ActionSpec::Pause(_) => ("pause", &["resume_after"]),
            ActionSpec::Resume(_) => ("resume", &[]),
            ActionSpec::Partition(_) => ("partition", &["heal_after"]),
            ActionSpec::Isolate(_) => ("isolate", &["heal_after"]),
            ActionSpec::Cut(_) => ("cut", &["heal_after"]),
            ActionSpec::Heal(_) => ("heal", &[]),
            ActionSpec::ClockJump(_) => ("clock_jump", &["by"]),
            ActionSpec::SlowDisk(_) => ("slow_disk", &["factor", "for"]),
            ActionSpec::LoseUnsynced(_) => ("lose_unsynced", &["restart_after", "within"]),
        }
    }
}

/// A named `[[faults]]` entry seen so far: its time and draw, for `at = { with = NAME }`.
pub(super) struct Named {
    pub name: String,
    pub at: Time,
    pub spread: Time,
    pub draw: u32,
}

/// The largest `max_clock_jump` (10 000 h): a draw spans twice it, in ns.
const MAX_CLOCK_JUMP: Time = 10_000 * 3600 * NANOS_PER_SEC;

/// Every action key, for messages.
const ACTIONS: &str =
    "crash, restart, pause, resume, partition, isolate, cut, heal, clock_jump, slow_disk, lose_unsynced";

/// What a target may name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Aim {
    /// A node: named, random (in a group) or by role.
    Node,
    /// A node or a client (crash, pause).
    NodeOrClient,
    /// A down or paused node or client: no roles (restart, resume).
    Idle,
}

impl<P: Protocol> Builder<'_, P> {
    /// The entry's one action.
    fn action<'a>(&self, fs: &'a Spanned<FaultSpec>) -> R<ActionSpec<'a>> {
        let s = fs.get_ref();
        let mut found: Vec<ActionSpec<'a>> = Vec::new();
        if let Some(t) = &s.crash {
            found.push(ActionSpec::Crash(t));
        }
        if let Some(t) = &s.restart {
            found.push(ActionSpec::Restart(t));
        }
        if let Some(t) = &s.pause {
            found.push(ActionSpec::Pause(t));
        }
        if let Some(t) = &s.resume {
            found.push(ActionSpec::Resume(t));
        }
        if let Some(p) = &s.partition {
            found.push(ActionSpec::Partition(p));
        }
        if let Some(t) = &s.isolate {
            found.push(ActionSpec::Isolate(t));
        }
        if let Some(c) = &s.cut {
            found.push(ActionSpec::Cut(c));
        }
        if let Some(h) = &s.heal {
            found.push(ActionSpec::Heal(h));
        }
        if let Some(t) = &s.clock_jump {
            found.push(ActionSpec::ClockJump(t));
        }
        if let Some(t) = &s.slow_disk {
            found.push(ActionSpec::SlowDisk(t));
        }
        if let Some(t) = &s.lose_unsynced {
            found.push(ActionSpec::LoseUnsynced(t));
        }
        if found.len() != 1 {
            let names: Vec<&str> = found.iter().map(|a| a.describe().0).collect();
            let found = if names.is_empty() {
                "none".to_string()
            } else {
                names.join(" and ")
            };
            return self.err(
                fs.span(),
                format!("a fault needs exactly one action; found {found}"),
                Some(format!("actions: {ACTIONS}")),
            );
        }
        Ok(found.pop().expect("one action"))
    }

    /// When the fault strikes, `(earliest, spread)`: a duration, or
    /// `{ dist = "uniform", min, max }` (drawn per seed); within the run, before the quiet period.
    fn fault_time(&self, s: &FaultSpec, cfg: &SimConfig, named: &[Named]) -> R<(Time, Time, Option<u32>)> {
        let span = s.at.span();
        if let Some(w) = s.at.get_ref().as_table().and_then(|t| t.get("with")) {
            let Some(n) = w.as_str() else {
                return self.err(span, "`at = { with = \"NAME\" }` names an earlier fault", None);
            };
            if s.at.get_ref().as_table().is_some_and(|t| t.len() > 1) {
                return self.err(span, "`at = { with = … }` takes no other key", None);
            }
            return match named.iter().find(|x| x.name == n) {
                Some(x) => Ok((x.at, x.spread, Some(x.draw))),
                None => self.err(
                    span,
                    format!("`at`: no earlier fault is named `{n}`"),
                    Some(
                        "`with` strikes at the same instant as an earlier [[faults]] entry with that name"
                            .into(),
                    ),
                ),
            };
        }
        let parse = |v: &toml::Value, what: &str| -> R<Time> {
            match v.as_str().map(sim::time::parse_duration) {
                Some(Ok(t)) => Ok(t),
                Some(Err(e)) => self.err(span.clone(), format!("`at`: {what}: {e}"), None),
                None => self.err(
                    span.clone(),
                    format!("`at`: {what} must be a duration string, e.g. \"2s\""),
                    None,
                ),
            }
        };
        let uniform_hint = || {
            Some("write at = \"2s\" or at = { dist = \"uniform\", min = \"2s\", max = \"2.3s\" }".to_string())
        };
        let (lo, hi) = match s.at.get_ref() {
            toml::Value::Table(t) => {
                if t.get("dist").and_then(|d| d.as_str()) != Some("uniform") {
                    return self.err(span, "`at` as a table must be a uniform range", uniform_hint());
                }
                if let Some(k) = t.keys().find(|k| !["dist", "min", "max"].contains(&k.as_str())) {
                    return self.err(
                        span,
                        format!("`at`: unknown key `{k}` (a uniform range has min and max)"),
                        uniform_hint(),
                    );
                }
                let (Some(a), Some(b)) = (t.get("min"), t.get("max")) else {
                    return self.err(span, "`at`: a uniform range needs min and max", uniform_hint());
                };
                let (a, b) = (parse(a, "min")?, parse(b, "max")?);
                if a > b {
                    return self.err(span, "`at`: min is after max", None);
                }
                (a, b)
            }
            v => {
                let t = parse(v, "the time")?;
                (t, t)
            }
        };
        if hi > cfg.duration {
            return self.err(
                span,
                format!(
                    "this fault is at {}, after the end of the run (duration = {})",
                    format_duration(hi),
                    format_duration(cfg.duration)
                ),
                Some("move it earlier or make the run longer".into()),
            );
        }
        if let Some(q) = cfg.quiet_from.filter(|q| hi >= *q) {
            return self.err(
                span,
                format!(
                    "this fault is at {}, inside the quiet period (from {})",
                    format_duration(hi),
                    format_duration(q)
                ),
                Some("the quiet period has no faults; move the fault or quiet_from".into()),
            );
        }
        Ok((lo, hi - lo, None))
    }

    /// `index`: the entry's position in the file (its `at` draws from `faults/at/<index>`);
    /// `named`: the earlier named entries, for `at = { with = "NAME" }`.
    pub(super) fn fault(
        &self,
        fs: &Spanned<FaultSpec>,
        cfg: &SimConfig,
        index: u32,
        named: &[Named],
    ) -> R<ScheduledFault> {
        let s = fs.get_ref();
        let (at, spread, with) = self.fault_time(s, cfg, named)?;
        let action = self.action(fs)?;
        // Options that belong to another action are mistakes worth reporting.
        let (name, allowed) = action.describe();
        let options = [
            ("restart_after", s.restart_after.is_some()),
            ("resume_after", s.resume_after.is_some()),
            ("heal_after", s.heal_after.is_some()),
            ("by", s.by.is_some()),
            ("factor", s.factor.is_some()),
            ("for", s.for_.is_some()),
            ("within", s.within.is_some()),
        ];
        if let Some((option, _)) = options
            .iter()
            .find(|(o, present)| *present && !allowed.contains(o))
        {
            return self.err(
                fs.span(),
                format!("`{option}` does not apply to a `{name}` fault"),
                None,
            );
        }
        let after = |d: Option<Dur>| d.map(|d| d.0);
        let a = match action {
            ActionSpec::Crash(t) => FaultAction::Crash {
                target: self.target(t, cfg, Aim::NodeOrClient)?,
                restart_after: after(s.restart_after),
            },
            ActionSpec::Restart(t) => FaultAction::Restart {
                target: self.idle_target(t, cfg, "restart")?,
            },
            ActionSpec::Pause(t) => FaultAction::Pause {
                target: self.target(t, cfg, Aim::NodeOrClient)?,
                resume_after: after(s.resume_after),
            },
            ActionSpec::Resume(t) => FaultAction::Resume {
                target: self.idle_target(t, cfg, "resume")?,
            },
            ActionSpec::Partition(p) => FaultAction::Partition {
                spec: self.partition(p, cfg)?,
                heal_after: after(s.heal_after),
            },
            ActionSpec::Isolate(t) => FaultAction::Partition {
                spec: PartitionSpec::Isolate(self.target(t, cfg, Aim::Node)?),
                heal_after: after(s.heal_after),
            },
            ActionSpec::Cut(c) => {
                let ends = c.get_ref();
                if ends.len() != 2 {
                    return self.err(c.span(), "a cut names two nodes: [\"from\", \"to\"]", None);
                }
                let from = self.target(&ends[0], cfg, Aim::Node)?;
                let to = self.target(&ends[1], cfg, Aim::Node)?;
                if from == to && matches!(from, Target::Node(_)) {
                    return self.err(c.span(), "a cut needs two different nodes", None);
                }
                FaultAction::Cut {
                    from,
                    to,
                    heal_after: after(s.heal_after),
                }
            }
            ActionSpec::Heal(h) => {
                if !*h.get_ref() {
                    return self.err(h.span(), "write `heal = true` (or remove the fault)", None);
                }
                FaultAction::Heal
            }
            ActionSpec::ClockJump(t) => {
                let Some(by) = &s.by else {
                    return self.err(fs.span(), "a clock_jump needs `by`, e.g. by = \"-2s\"", None);
                };
                FaultAction::ClockJump {
                    target: self.target(t, cfg, Aim::Node)?,
                    by_ns: by.get_ref().0,
                }
            }
            ActionSpec::SlowDisk(t) => {
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
                    target: self.target(t, cfg, Aim::Node)?,
                    factor,
                    duration: d.0,
                }
            }
            ActionSpec::LoseUnsynced(t) => FaultAction::LoseUnsynced {
                target: self.target(t, cfg, Aim::Node)?,
                within: s.within.map(|d| d.0).unwrap_or(NANOS_PER_SEC),
                restart_after: after(s.restart_after),
            },
        };
        let name = match &s.name {
            Some(n) => {
                let v = n.get_ref();
                if v == "start" {
                    return self.err(
                        n.span(),
                        "`start` means the start of the run in [[metrics]] `from`: choose another name",
                        None,
                    );
                }
                if !super::plain_name(v) {
                    return self.err(
                        n.span(),
                        format!("fault name `{v}`: use letters, digits, `-` and `_`"),
                        Some("e.g. name = \"leader-crash\"".into()),
                    );
                }
                Some(v.clone())
            }
            None => None,
        };
        Ok(ScheduledFault {
            at,
            spread,
            draw: with.unwrap_or(index),
            name,
            action: a,
        })
    }

    fn partition(&self, p: &Spanned<PartitionValue>, cfg: &SimConfig) -> R<PartitionSpec> {
        match p.get_ref() {
            PartitionValue::Named(n) => match n.strip_prefix("random-halves") {
                Some("") => Ok(PartitionSpec::RandomHalves(None)),
                Some(rest) if rest.starts_with('@') => {
                    let g = self.group_name(&rest[1..], p.span(), cfg)?;
                    Ok(PartitionSpec::RandomHalves(Some(g)))
                }
                _ => self.err(
                    p.span(),
                    format!("unknown partition `{n}`"),
                    Some(
                        "write groups, e.g. [[\"n1\", \"n2\"], [\"n3\"]], \"random-halves\" or \"random-halves@GROUP\""
                            .into(),
                    ),
                ),
            },
            PartitionValue::Groups(groups) => {
                let mut seen = BTreeSet::new();
                let mut out = Vec::new();
                for g in groups {
                    let mut eps = Vec::new();
                    for name in g {
                        let e = self.endpoint(name, cfg)?;
                        if !seen.insert(e) {
                            return self.err(name.span(), format!("`{}` is in two groups", name.get_ref()), None);
                        }
                        eps.push(e);
                    }
                    out.push(eps);
                }
                if out.len() < 2 {
                    return self.err(p.span(), "a partition needs at least two groups", None);
                }
                Ok(PartitionSpec::Groups(out))
            }
        }
    }

    /// A node group's name as written in a target (`@GROUP`).
    fn group_name(&self, g: &str, span: std::ops::Range<usize>, cfg: &SimConfig) -> R<String> {
        if cfg.cluster.group(g).is_some() {
            return Ok(g.to_string());
        }
        let names: Vec<&str> = cfg.cluster.groups().iter().map(|g| g.name.as_str()).collect();
        self.err(
            span,
            format!("no node group `{g}`"),
            Some(format!("groups: {}", names.join(", "))),
        )
    }

    /// A fault target: a node (`n2`), `random`, a role, `random@GROUP`, `ROLE@GROUP` or a
    /// group's name (a random node of it); for crash and pause also a client (`c3`) or
    /// `random-client`.
    fn target(&self, name: &Spanned<String>, cfg: &SimConfig, aim: Aim) -> R<Target> {
        let s = name.get_ref().as_str();
        let clients_ok = aim != Aim::Node;
        let (base, group) = match s.split_once('@') {
            Some((b, g)) => (b, Some(self.group_name(g, name.span(), cfg)?)),
            None => (s, None),
        };
        if base == "random" {
            return Ok(Target::Random(group));
        }
        if base == "random-client" && group.is_none() && clients_ok {
            return Ok(Target::RandomClient);
        }
        if P::ROLES.contains(&base) {
            return Ok(Target::Role(base.to_string(), group));
        }
        if group.is_none() && cfg.cluster.is_grouped() && cfg.cluster.group(base).is_some() {
            return Ok(Target::Random(Some(base.to_string())));
        }
        let clients = if clients_ok { cfg.clients.clients } else { 0 };
        match (group, parse_endpoint(base, cfg.nodes, clients)) {
            (None, Some(Endpoint::Node(n))) => Ok(Target::Node(n)),
            (None, Some(Endpoint::Client(c))) => Ok(Target::Client(c)),
            _ => {
                let mut forms = vec![format!("a node (n1..n{})", cfg.nodes), "`random`".to_string()];
                if !P::ROLES.is_empty() {
                    forms.push(format!("a role of {} ({})", P::NAME, P::ROLES.join(", ")));
                }
                if cfg.cluster.is_grouped() {
                    forms.push("a group, or `random@GROUP` / `ROLE@GROUP`".into());
                }
                if clients_ok && cfg.clients.clients > 0 {
                    forms.push(format!(
                        "a client (c1..c{}) or `random-client`",
                        cfg.clients.clients
                    ));
                }
                self.err(
                    name.span(),
                    format!("no node `{s}`"),
                    Some(format!("write {}", forms.join(", "))),
                )
            }
        }
    }

    /// A target for restart/resume: a crashed or paused node plays no role, so only a name,
    /// `random` (one of the crashed/paused nodes), a group, a client or `random-client`.
    fn idle_target(&self, name: &Spanned<String>, cfg: &SimConfig, action: &str) -> R<Target> {
        match self.target(name, cfg, Aim::Idle)? {
            Target::Role(r, _) => self.err(
                name.span(),
                format!("`{action} = \"{r}\"` can never match: a crashed or paused node has no role"),
                Some(format!("name the node (n1..n{}) or write \"random\"", cfg.nodes)),
            ),
            t => Ok(t),
        }
    }

    /// A role the protocol's `role()` can return (`crash_on_role`, `aim`).
    fn protocol_role(&self, role: &Spanned<String>) -> R<()> {
        let r = role.get_ref();
        if !P::ROLES.contains(&r.as_str()) {
            return self.err(
                role.span(),
                format!("`{r}` is not a role of {}", P::NAME),
                Some(format!("roles: {}", P::ROLES.join(", "))),
            );
        }
        Ok(())
    }

    pub(super) fn nemesis(&self, n: &Spanned<NemesisSpec>, cfg: &SimConfig) -> R<NemesisConfig> {
        let s = n.get_ref();
        let kinds: Vec<(FaultKind, Time)> = [
            (FaultKind::Crash, &s.crash),
            (FaultKind::Pause, &s.pause),
            (FaultKind::Partition, &s.partition),
            (FaultKind::Cut, &s.cut),
            (FaultKind::ClockJump, &s.clock_jump),
            (FaultKind::Disk, &s.disk),
            (FaultKind::ClientCrash, &s.client_crash),
            (FaultKind::ClientPause, &s.client_pause),
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
                self.protocol_role(&r.role)?;
                let [lo, hi] = *r.after.get_ref();
                if lo.0 > hi.0 {
                    return self.err(
                        r.after.span(),
                        "after: the first value must not exceed the second",
                        None,
                    );
                }
                let group = match &r.group {
                    Some(g) => Some(self.group_name(g.get_ref(), g.span(), cfg)?),
                    None => None,
                };
                Some(sim::config::RoleCrash {
                    role: role.clone(),
                    chance: r.chance.0,
                    after: (lo.0, hi.0),
                    group,
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
        let group = match &s.group {
            Some(g) => Some(self.group_name(g.get_ref(), g.span(), cfg)?),
            None => None,
        };
        let max_clock_jump = match &s.max_clock_jump {
            Some(m) if m.get_ref().0 > MAX_CLOCK_JUMP => {
                return self.err(m.span(), "max_clock_jump: at most 10000h", None);
            }
            Some(m) => m.get_ref().0,
            None => NANOS_PER_SEC,
        };
        let aim = match &s.aim {
            None => None,
            Some(a) => {
                let a = a.get_ref();
                let role = a.role.get_ref();
                self.protocol_role(&a.role)?;
                Some(sim::config::Aim {
                    role: role.clone(),
                    chance: a.chance.0,
                })
            }
        };
        Ok(NemesisConfig {
            group,
            role_crash,
            aim,
            kinds,
            fault_duration,
            max_clock_jump,
            slow_disk_factor: slow,
        })
    }
}
