//! `[checks]`: bounds and requirements of the protocol's checks, and switches for the workload
//! family's history checks.

use super::{Builder, R};
use crate::spec::*;
use sim::config::SimConfig;
use sim::family::Family;
use sim::{CheckDecl, CheckKind, Invariants, Protocol};

/// The engine's own eventually-check of client operations.
const OPS_COMPLETE: &str = "ops-complete";

impl<P: Protocol> Builder<'_, P> {
    pub(super) fn checks(&self, c: Option<&ChecksSpec>, cfg: &mut SimConfig) -> R<()> {
        cfg.checks.history = self.history_checks(cfg)?;
        let Some(c) = c else { return Ok(()) };
        if let Some(w) = c.eventually_within {
            cfg.checks.eventually_within = w.0;
        }
        let decls = <P::Invariants as Invariants<P>>::checks();
        let names_of = |kind: CheckKind| -> Vec<&str> {
            decls.iter().filter(|x| x.kind == kind).map(|x| x.name).collect()
        };
        let eventually = names_of(CheckKind::Eventually);
        for (name, d) in c.within.iter().flatten() {
            let n = name.get_ref();
            if n != OPS_COMPLETE && !eventually.contains(&n.as_str()) {
                let all: Vec<&str> = eventually.iter().copied().chain([OPS_COMPLETE]).collect();
                return self.err(
                    name.span(),
                    format!("`{n}` is not an eventually-check of {}", P::NAME),
                    Some(format!("eventually-checks: {}", all.join(", "))),
                );
            }
            cfg.checks.within.push((n.clone(), d.0));
        }
        let sometimes = names_of(CheckKind::Sometimes);
        for name in c.require.iter().flatten() {
            let n = name.get_ref();
            if !sometimes.contains(&n.as_str()) {
                return self.err(
                    name.span(),
                    format!("`{n}` is not a sometimes-check of {}", P::NAME),
                    Some(format!("sometimes-checks: {}", sometimes.join(", "))),
                );
            }
            cfg.checks.require.push(n.clone());
        }
        if let Some(b) = &c.history_budget {
            cfg.checks.history_budget = self.int_in(b, 1, 1_000_000_000_000, "history_budget")? as u64;
        }
        cfg.checks.stop_on_violation = c.stop_on_violation.unwrap_or(true);
        Ok(())
    }

    /// The family's history checks to run: all of them when there are clients, less those a
    /// `[checks] NAME = false` switches off. Any other unknown key of `[checks]` is an error.
    fn history_checks(&self, cfg: &SimConfig) -> R<Vec<String>> {
        let offered: Vec<CheckDecl> = P::Workload::checks();
        let mut on: Vec<bool> = offered
            .iter()
            .map(|d| cfg.clients.clients > 0 && !d.opt_in)
            .collect();
        let engine = fields_of::<ChecksSpec>();
        for (key, value) in self.keys.checks.iter().flatten() {
            let k = key.get_ref().as_str();
            if engine.contains(&k) {
                continue;
            }
            // `stale_read` and `stale-read` both name the check `stale-read`.
            let Some(i) = offered
                .iter()
                .position(|d| d.name == k || d.name.replace('-', "_") == k)
            else {
                let mut all: Vec<String> = engine.iter().map(|f| format!("`{f}`")).collect();
                all.extend(offered.iter().map(|d| format!("`{}`", d.name.replace('-', "_"))));
                return self.err(
                    key.span(),
                    format!(
                        "unknown field `{k}` in [checks], expected one of {}",
                        all.join(", ")
                    ),
                    Some(format!(
                        "besides its own keys, [checks] switches the `{}` family's history checks on or off",
                        P::Workload::NAME
                    )),
                );
            };
            match value.get_ref().as_bool() {
                Some(b) => on[i] = b && cfg.clients.clients > 0,
                None => {
                    return self.err(
                        value.span(),
                        format!("`{k}` switches a history check: write true or false"),
                        None,
                    )
                }
            }
        }
        Ok(offered
            .iter()
            .zip(on)
            .filter(|(_, on)| *on)
            .map(|(d, _)| d.name.to_string())
            .collect())
    }
}
