//! `trace.jsonl` is causal: every send has a message id, every delivery and drop names one
//! that was sent (on that link, no later), role changes carry a structured `role`, faults a
//! `kind`, and history lines the index of the event they happened in.

mod common;
use common::{dsim, jsonl as lines, temp_dir};
use std::collections::BTreeMap;

fn check_run(scenario: &str, extra: &[&str]) {
    let dir = temp_dir(&format!("trace-{}", scenario.replace('/', "-")));
    let d = dir.to_string_lossy().into_owned();
    let mut args = vec!["run", scenario, "--out", &d];
    args.extend_from_slice(extra);
    let (code, _, err) = dsim(&args);
    assert!(code <= 1, "{scenario}: {err}");
    let trace = lines(&dir.join("trace.jsonl"));
    // id -> (from, to, event index of the send, deliveries so far)
    let mut sent: BTreeMap<u64, (String, String, u64, u32)> = BTreeMap::new();
    let (mut deliveries, mut drops, mut roles) = (0, 0, 0);
    for l in &trace {
        let ev = l["ev"].as_str().expect("ev");
        let i = l["i"].as_u64().expect("i");
        match ev {
            "send" => {
                let id = l["id"].as_u64().expect("a send has an id");
                let link = (
                    l["from"].as_str().expect("from").to_string(),
                    l["to"].as_str().expect("to").to_string(),
                );
                assert!(
                    l.get("msg").is_some(),
                    "{scenario}: a send line carries its message"
                );
                let old = sent.insert(id, (link.0, link.1, i, 0));
                assert!(old.is_none(), "{scenario}: message id {id} sent twice");
            }
            "deliver" | "drop" => {
                let id = l["id"].as_u64().expect("deliveries and drops name their message");
                if ev == "drop" && !sent.contains_key(&id) {
                    // Dropped at its send: the drop line is its only line, with the message.
                    assert!(l.get("msg").is_some());
                    drops += 1;
                    continue;
                }
                let (from, to, at, n) = sent
                    .get_mut(&id)
                    .unwrap_or_else(|| panic!("{scenario}: {ev} of message {id}, never sent"));
                assert_eq!(
                    (l["from"].as_str(), l["to"].as_str()),
                    (Some(from.as_str()), Some(to.as_str()))
                );
                assert!(*at <= i, "{scenario}: message {id} arrives before it was sent");
                *n += 1;
                assert!(*n <= 2, "{scenario}: message {id} arrived more than twice");
                if ev == "deliver" {
                    deliveries += 1;
                } else {
                    drops += 1;
                }
            }
            "becomes" => {
                assert!(l["role"].is_string(), "{scenario}: a role change names the role");
                roles += 1;
            }
            // Only skipped faults and the quiet period have no kind.
            "fault" if l.get("kind").is_none() => {
                let d = l["detail"].as_str().unwrap_or("");
                assert!(
                    d.contains("skipped") || d.contains("quiet"),
                    "{scenario}: fault line without kind: {d}"
                );
            }
            _ => {}
        }
    }
    assert!(deliveries > 0 && roles > 0, "{scenario}: nothing traced");
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).expect("result.json"))
            .expect("json");
    let m = &result["messages"];
    assert_eq!(
        m["sent"].as_u64(),
        Some(sent.len() as u64 + count_drops_at_send(&trace, &sent))
    );
    assert_eq!(m["delivered"].as_u64(), Some(deliveries));
    assert_eq!(m["dropped"].as_u64(), Some(drops));
    // Every invocation in the history happened in the event that sent its request (or lost it
    // on the way out).
    let sends: BTreeMap<(u64, String), ()> = trace
        .iter()
        .filter(|l| l["ev"] == "send" || l["ev"] == "drop")
        .map(|l| {
            (
                (
                    l["i"].as_u64().unwrap_or(0),
                    l["from"].as_str().unwrap_or("").to_string(),
                ),
                (),
            )
        })
        .collect();
    for h in lines(&dir.join("history.jsonl")) {
        if h["type"] == "invoke" {
            let key = (
                h["i"].as_u64().expect("history lines carry the event index"),
                h["client"].as_str().unwrap_or("").to_string(),
            );
            assert!(
                sends.contains_key(&key),
                "{scenario}: invocation {h} has no request sent in its event"
            );
        }
    }
}

fn count_drops_at_send(trace: &[serde_json::Value], sent: &BTreeMap<u64, (String, String, u64, u32)>) -> u64 {
    trace
        .iter()
        .filter(|l| l["ev"] == "drop" && !sent.contains_key(&l["id"].as_u64().unwrap_or(u64::MAX)))
        .count() as u64
}

#[test]
fn every_delivery_and_drop_names_a_send_and_history_names_its_event() {
    check_run("raft/flaky-network", &["--seed", "2"]);
    check_run("raft/fuzz", &["--seed", "5"]);
    check_run("single/fuzz", &["--seed", "4"]);
}
