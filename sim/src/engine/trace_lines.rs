//! The human and JSON trace lines (`trace.txt`, `trace.jsonl`). Only written when asked for;
//! the canonical trace records that the hash covers are written where the events happen.

use super::core::Core;
use super::event::Payload;
use super::Sim;
use crate::faults::FaultEvent;
use crate::ids::NodeId;
use crate::protocol::Protocol;
use crate::time::Time;
use serde::Serialize;

/// One line of `trace.jsonl`.
#[derive(Serialize)]
pub(crate) struct JsonEvent<'a, M: Serialize> {
    pub i: u64,
    pub t: Time,
    pub ev: &'a str,
    /// On `send`, `deliver` and `drop` lines: the message id (each send has its own; a
    /// duplicate's two deliveries share it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg: Option<&'a M>,
    /// On a `becomes` line: the node's new role (`down` when it crashed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// On a `fault` line: the fault took `node` down (a crash or a power loss).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub down: bool,
    /// On a `fault` line: what happened (`crash`, `partition`, `partition-healed`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// On a partition's `fault` line: its groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<Vec<String>>>,
}

impl<'a, M: Serialize> JsonEvent<'a, M> {
    pub fn new(i: u64, t: Time, ev: &'a str) -> Self {
        JsonEvent {
            i,
            t,
            ev,
            id: None,
            from: None,
            to: None,
            node: None,
            msg: None,
            role: None,
            detail: None,
            down: false,
            kind: None,
            groups: None,
        }
    }
}

impl<P: Protocol> Core<P> {
    /// A message's lines: `what` is `send` (JSON only), `deliver` or `drop` (with the reason
    /// in `detail`). `link`: from, to, message id. The message itself is on `send` and `drop`
    /// lines; a `deliver` line names its send by id.
    pub fn trace_payload(
        &mut self,
        what: &str,
        now: Time,
        link: (u32, u32, u64),
        payload: &Payload<P>,
        detail: Option<&str>,
    ) {
        let (a, b, id) = link;
        let (from, to) = (self.net.endpoint(a).to_string(), self.net.endpoint(b).to_string());
        if self.trace.wants_text() && what != "send" {
            let arrow = if what == "drop" { "-x" } else { "->" };
            let suffix = detail.map(|d| format!("  (dropped: {d})")).unwrap_or_default();
            match payload {
                Payload::Proto(m) => self
                    .trace
                    .text(now, format_args!("{from} {arrow} {to}  {m:?}{suffix}")),
                Payload::Request(r) => self
                    .trace
                    .text(now, format_args!("{from} {arrow} {to}  {r}{suffix}")),
                Payload::Reply(r) => self
                    .trace
                    .text(now, format_args!("{from} {arrow} {to}  {r}{suffix}")),
            }
        }
        if self.trace.wants_json() {
            let msg = match (what, payload) {
                ("deliver", _) => serde_json::Value::Null,
                (_, Payload::Proto(m)) => serde_json::to_value(m).unwrap_or_default(),
                (_, Payload::Request(r)) => serde_json::to_value(r).unwrap_or_default(),
                (_, Payload::Reply(r)) => serde_json::to_value(r).unwrap_or_default(),
            };
            let mut j = JsonEvent::new(self.event, now, what);
            j.id = Some(id);
            j.from = Some(from);
            j.to = Some(to);
            j.msg = (!msg.is_null()).then_some(&msg);
            j.detail = detail.map(str::to_string);
            self.trace.json(&j);
        }
    }
}

impl<P: Protocol> Sim<P> {
    /// A node's line (`starts`, `becomes`, `timer`, …); `detail` is only built when tracing.
    pub(super) fn trace_node_line(&mut self, node: u32, what: &str, detail: impl FnOnce() -> String) {
        let want_text = self.core.trace.wants_text();
        let want_json = self.core.trace.wants_json();
        if !(want_text || want_json) {
            return;
        }
        let d = detail();
        let now = self.core.now;
        if want_text {
            self.core
                .trace
                .text(now, format_args!("{}     {what} {d}", NodeId(node)));
        }
        if want_json {
            let mut j: JsonEvent<'_, ()> = JsonEvent::new(self.core.event, now, what);
            j.node = Some(NodeId(node).to_string());
            j.detail = (!d.is_empty()).then_some(d);
            self.core.trace.json(&j);
        }
    }

    /// A node's role change: `becomes ROLE (summary)`; the JSON line carries the role as its
    /// own field, and a node going down gets a JSON line too (role `down`).
    pub(super) fn trace_role(&mut self, node: u32, role: &str, summary: impl FnOnce() -> String) {
        let now = self.core.now;
        if self.core.trace.wants_text() && role != "down" {
            let s = summary();
            let text = if s.is_empty() {
                role.to_string()
            } else {
                format!("{role} ({s})")
            };
            self.core
                .trace
                .text(now, format_args!("{}     becomes {text}", NodeId(node)));
        }
        if self.core.trace.wants_json() {
            let mut j: JsonEvent<'_, ()> = JsonEvent::new(self.core.event, now, "becomes");
            j.node = Some(NodeId(node).to_string());
            j.role = Some(role);
            self.core.trace.json(&j);
        }
    }

    /// A trace line about a fault that did not happen (skipped) or about the quiet period.
    pub(super) fn fault_line(&mut self, text: &str) {
        self.fault_line_on(text, None);
    }

    /// A fault's trace lines: its text, and in JSON what happened and to which node.
    pub(super) fn fault_line_on(&mut self, text: &str, what: Option<&FaultEvent>) {
        let now = self.core.now;
        if self.core.trace.wants_text() {
            self.core.trace.text(now, format_args!("!!  {text}"));
        }
        if self.core.trace.wants_json() {
            let mut j: JsonEvent<'_, ()> = JsonEvent::new(self.core.event, now, "fault");
            j.node = what.and_then(|w| w.node()).map(|n| n.to_string());
            j.detail = Some(text.to_string());
            j.down = what.is_some_and(|w| w.takes_down());
            j.kind = what.map(|w| w.kind());
            if let Some(FaultEvent::Partition { groups }) = what {
                j.groups = Some(
                    groups
                        .iter()
                        .map(|g| g.iter().map(|e| e.to_string()).collect())
                        .collect(),
                );
            }
            self.core.trace.json(&j);
        }
    }
}
