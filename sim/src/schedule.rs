//! The replayable schedule of a run (DESIGN.md, "Schedules"): every fault as it was applied,
//! with its targets resolved (a node, not `random` or a role; groups, not `random-halves`), and
//! every client operation as it was invoked (in the open loop: at its arrival). The engine streams it as JSON lines; the scenario
//! crate turns them into `schedule.toml`, the same scenario with the nemesis and the random
//! workload replaced by what happened.
//!
//! Lines, in time order:
//! - `{"t": NS, "fault": {KEYS}, "origin": "nemesis"}`: a `[[faults]]` entry's keys
//!   ([`FaultAction::scenario_keys`]); follow-ups (restarts, resumes, heals) are not listed, they
//!   come from the fault's `*_after`.
//! - `{"t": NS, "client": "c1", "op": {KEYS}}`: an `[[ops]]` entry's family keys, with every
//!   value explicit, and `retire = true` on the last op on a key the workload retired
//!   (`key_ops`).

use crate::faults::{FaultAction, Origin};
use crate::ids::ClientId;
use crate::time::Time;
use serde::Serialize;
use std::io::{self, Write};

pub struct ScheduleWriter {
    out: io::BufWriter<Box<dyn Write>>,
    error: Option<io::Error>,
}

impl ScheduleWriter {
    pub fn new(out: Box<dyn Write>) -> Self {
        ScheduleWriter {
            out: io::BufWriter::with_capacity(1 << 16, out),
            error: None,
        }
    }

    fn line(&mut self, v: &serde_json::Value) {
        let r = serde_json::to_writer(&mut self.out, v)
            .map_err(io::Error::from)
            .and_then(|_| self.out.write_all(b"\n"));
        if let Err(e) = r {
            self.error.get_or_insert(e);
        }
    }

    /// A fault that happened (resolved), from a root origin.
    /// A fault that happened; `name`: the `[[faults]]` entry's name, kept so `[[metrics]]`
    /// measured from it still work in the replay.
    pub fn fault(&mut self, t: Time, action: &FaultAction, origin: Origin, name: Option<&str>) {
        let mut keys: serde_json::Map<String, serde_json::Value> = action
            .scenario_keys()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        if let Some(n) = name {
            keys.insert("name".into(), n.into());
        }
        self.line(&serde_json::json!({ "t": t, "fault": keys, "origin": origin.name() }));
    }

    /// An operation invoked by `client`, as the family's `[[ops]]` keys (`retire`: its keys
    /// retired with it).
    pub fn op(&mut self, t: Time, client: ClientId, spec: &impl Serialize, retire: bool) {
        let mut op = serde_json::to_value(spec).unwrap_or(serde_json::Value::Null);
        if let (true, Some(m)) = (retire, op.as_object_mut()) {
            m.insert("retire".into(), true.into());
        }
        self.line(&serde_json::json!({ "t": t, "client": client.to_string(), "op": op }));
    }

    pub fn finish_io(&mut self) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()
    }
}
