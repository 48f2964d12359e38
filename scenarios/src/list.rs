//! `dsim list`: protocols (parameters, roles, planted bugs, checks, metrics, workload family)
//! and the bundled scenarios.

use protocols::ProtocolInfo;
use sim::metrics::MetricDecl;
use sim::CheckDecl;
use std::fmt::Write;

/// The catalog as one JSON object: `{protocols, scenarios, engine_metrics}`.
pub fn json() -> serde_json::Value {
    serde_json::json!({
        "protocols": protocols::catalog(),
        "scenarios": bundled(),
        "engine_metrics": sim::engine::engine_metrics(),
    })
}

/// The bundled scenarios: path, name, protocol, description.
fn bundled() -> Vec<serde_json::Value> {
    crate::bundled::BUNDLED
        .iter()
        .map(|(path, text)| {
            let t = toml::from_str::<toml::Table>(text).unwrap_or_default();
            let field = |k: &str| t.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
            serde_json::json!({
                "path": path,
                "name": field("name"),
                "protocol": field("protocol"),
                "description": field("description"),
            })
        })
        .collect()
}

/// `indent`: of the title; entries go two spaces deeper.
fn checks(out: &mut String, indent: usize, title: &str, checks: &[CheckDecl]) {
    if checks.is_empty() {
        return;
    }
    let pad = " ".repeat(indent);
    let _ = writeln!(out, "{pad}{title}");
    for c in checks {
        let _ = writeln!(
            out,
            "{pad}  {:<28} {:<11} {}",
            c.name,
            c.kind.name(),
            c.description
        );
    }
}

fn metrics(out: &mut String, indent: usize, title: &str, metrics: &[MetricDecl]) {
    if metrics.is_empty() {
        return;
    }
    let pad = " ".repeat(indent);
    let _ = writeln!(out, "{pad}{title}");
    for m in metrics {
        let unit = serde_json::to_value(m.unit)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = writeln!(out, "{pad}  {:<28} {unit:<11} {}", m.name, m.description);
    }
}

fn protocol(out: &mut String, p: &ProtocolInfo) {
    let link = serde_json::to_string(&p.link).unwrap_or_default();
    let _ = writeln!(
        out,
        "\n  {} — {} ({} links)",
        p.name,
        p.description,
        link.trim_matches('"')
    );
    let _ = writeln!(
        out,
        "    roles (fault targets may name one): {}",
        p.roles.join(", ")
    );
    if let Some(obj) = p.params.as_object().filter(|o| !o.is_empty()) {
        let _ = writeln!(out, "    parameters ([params] and per node in [node.nX]):");
        for (k, v) in obj {
            let doc = p
                .param_docs
                .iter()
                .find(|d| d.name == k)
                .map(|d| d.description)
                .unwrap_or("");
            let v = v.to_string();
            let _ = writeln!(out, "      {k:<24} default {v:<22} {doc}");
        }
    }
    if !p.bugs.is_empty() {
        let _ = writeln!(out, "    planted bugs (--bug NAME):");
        for b in &p.bugs {
            let _ = writeln!(out, "      {:<28} {}", b.name, b.description);
        }
    }
    if !p.buggify.is_empty() {
        let _ = writeln!(
            out,
            "    buggify sites ([buggify] sites = [...]; dsim fuzz --swarm):"
        );
        for b in &p.buggify {
            let _ = writeln!(out, "      {:<28} {}", b.name, b.description);
        }
    }
    checks(out, 4, "checks:", &p.checks);
    if !p.conditions.is_empty() {
        let _ = writeln!(
            out,
            "    conditions ([[metrics]] until = NAME; eventually-checks count too):"
        );
        for c in &p.conditions {
            let _ = writeln!(out, "      {:<28} {}", c.name, c.description);
        }
    }
    metrics(out, 4, "metrics:", &p.metrics);
    let w = &p.workload;
    if !w.ops.is_empty() {
        let _ = writeln!(
            out,
            "    workload family `{}`: {} (ops: {})",
            w.name,
            w.description,
            w.ops.join(", ")
        );
        checks(
            out,
            6,
            "history checks ([checks] NAME = false switches one off):",
            &w.checks,
        );
        metrics(out, 6, "metrics:", &w.metrics);
    }
}

/// The catalog for people.
pub fn text() -> String {
    let mut out = String::from("Protocols\n");
    for p in &protocols::catalog() {
        protocol(&mut out, p);
    }
    let _ = writeln!(
        out,
        "\n  Every run with clients also checks ops-complete (eventually: operations invoked after the quiet period complete)"
    );
    let _ = writeln!(out, "  and measures latency (ns, invocation to ok/fail).");
    let _ = writeln!(
        out,
        "\nBundled scenarios (dsim run PATH, or the short name such as single/basic)"
    );
    for b in bundled() {
        let _ = writeln!(
            out,
            "  {:<40} {}",
            b["path"].as_str().unwrap_or(""),
            b["description"].as_str().unwrap_or("")
        );
    }
    out
}
