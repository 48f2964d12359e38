//! Handler unit tests: one node, one message in, the effects it asked for asserted (what it
//! sends, whether it waits for the disk, what it writes). `sim::testing::Recorder` stands in
//! for the engine.

use super::messages::{Ballot, Command, Msg, PValue, Timer};
use super::node::{PaxosDurable, PaxosWrite};
use super::{Paxos, PaxosParams};
use crate::families::kv::KvOp;
use sim::testing::{Effect, EffectsExt, Recorder};
use sim::{BugSet, NodeId, Protocol, SyncId};

const N1: NodeId = NodeId(0);
const N2: NodeId = NodeId(1);
const N3: NodeId = NodeId(2);

fn b(round: u64, node: NodeId) -> Ballot {
    Ballot { round, node: node.0 }
}

fn write(value: u64) -> Command {
    Command::Client {
        session: 1,
        seq: value,
        op: KvOp::Write { key: 0, value },
    }
}

/// Node `id` of three, booted from `durable`, with these planted bugs.
fn node(id: NodeId, durable: &PaxosDurable, bugs: &[&str]) -> (Recorder<Paxos>, Paxos) {
    let mut r = Recorder::<Paxos>::new(id, 3);
    r.bugs = BugSet::new(bugs.iter().map(|b| b.to_string()).collect());
    let x = r.boot(&PaxosParams::default(), durable);
    r.take();
    // Long after any leader was heard from (a booted acceptor assumes it just was).
    r.mono_ns += 1_000_000_000;
    (r, x)
}

/// An acceptor that promised `promised` and accepted these (slot, ballot, value).
fn acceptor(promised: Ballot, accepted: &[(u64, Ballot, u64)]) -> PaxosDurable {
    PaxosDurable {
        promised,
        accepted: accepted.iter().map(|&(s, b, v)| (s, (b, write(v)))).collect(),
        ..PaxosDurable::default()
    }
}

fn deliver(r: &mut Recorder<Paxos>, x: &mut Paxos, from: NodeId, msg: Msg) -> Vec<Effect<Paxos>> {
    r.step(x, |x, cx| x.on_message(cx, from, msg))
}

/// Completes every sync requested in `effects`.
fn finish_syncs(r: &mut Recorder<Paxos>, x: &mut Paxos, effects: &[Effect<Paxos>]) -> Vec<Effect<Paxos>> {
    let mut out = Vec::new();
    for e in effects {
        if let Effect::Sync(s) = e {
            let s: SyncId = *s;
            out.extend(r.step(x, |x, cx| x.on_sync_done(cx, s)));
        }
    }
    out
}

#[test]
fn a_promise_is_written_before_it_is_sent_and_carries_the_accepted_values() {
    let d = acceptor(b(2, N3), &[(3, b(1, N2), 30), (7, b(2, N3), 70)]);
    let (mut r, mut x) = node(N1, &d, &[]);
    let fx = deliver(&mut r, &mut x, N2, Msg::Prepare { ballot: b(5, N2), from_slot: 5 });
    assert!(matches!(fx.persisted()[..], [PaxosWrite::Promise(p)] if *p == b(5, N2)), "{fx:?}");
    let sent = fx.sent();
    assert_eq!(sent.len(), 1, "{fx:?}");
    let (to, msg, after_sync) = sent[0];
    assert_eq!(to, N2);
    assert!(after_sync, "the promise must wait for the disk (§2.5)");
    let Msg::Promise { ballot, accepted } = msg else { panic!("{msg:?}") };
    assert_eq!(*ballot, b(5, N2));
    // Only slots from 5 on: slot 3 is below what the proposer asked for.
    assert_eq!(accepted.iter().map(|p| (p.slot, p.ballot)).collect::<Vec<_>>(), vec![(7, b(2, N3))]);
}

#[test]
fn a_lower_prepare_or_accept_is_refused() {
    let d = acceptor(b(4, N3), &[]);
    let (mut r, mut x) = node(N1, &d, &[]);
    for msg in [
        Msg::Prepare { ballot: b(3, N2), from_slot: 1 },
        Msg::Accept { ballot: b(3, N2), slot: 1, cmd: write(1) },
    ] {
        let fx = deliver(&mut r, &mut x, N2, msg);
        assert!(fx.persisted().is_empty(), "{fx:?}");
        assert!(
            matches!(fx.sent()[..], [(N2, Msg::Nack { promised, .. }, _)] if *promised == b(4, N3)),
            "{fx:?}"
        );
    }
}

#[test]
fn bug_accept_below_promise_accepts_it() {
    let d = acceptor(b(4, N3), &[]);
    let (mut r, mut x) = node(N1, &d, &[super::bugs::ACCEPT_BELOW_PROMISE]);
    let fx = deliver(&mut r, &mut x, N2, Msg::Accept { ballot: b(3, N2), slot: 1, cmd: write(1) });
    assert!(matches!(fx.persisted()[..], [PaxosWrite::Accept(PValue { slot: 1, .. })]), "{fx:?}");
    assert!(matches!(fx.sent()[..], [(N2, Msg::Accepted { .. }, true)]), "{fx:?}");
}

#[test]
fn bug_promise_not_durable_answers_at_once_and_writes_nothing() {
    let (mut r, mut x) = node(N1, &PaxosDurable::default(), &[super::bugs::PROMISE_NOT_DURABLE]);
    let fx = deliver(&mut r, &mut x, N2, Msg::Prepare { ballot: b(1, N2), from_slot: 1 });
    assert!(fx.persisted().is_empty(), "{fx:?}");
    assert!(matches!(fx.sent()[..], [(N2, Msg::Promise { .. }, false)]), "{fx:?}");
}

/// Drives n1 through phase 1: its failure detector fires, its own promise is synced, then
/// n2's promise (carrying `from_n2`) arrives. Returns the ACCEPTs it sends n2: (slot, value).
fn lead(durable: &PaxosDurable, from_n2: Vec<PValue>, bugs: &[&str]) -> (Ballot, Vec<(u64, Command)>) {
    let (mut r, mut x) = node(N1, durable, bugs);
    r.mono_ns = 10_000_000_000;
    let fx = r.step(&mut x, |x, cx| x.on_timer(cx, Timer::LeaderTimeout));
    let prepares: Vec<Ballot> = fx
        .sent()
        .iter()
        .filter_map(|(_, m, _)| match m {
            Msg::Prepare { ballot, .. } => Some(*ballot),
            _ => None,
        })
        .collect();
    assert_eq!(prepares.len(), 2, "PREPARE to n2 and n3: {fx:?}");
    assert!(fx.sent().iter().all(|(_, _, after_sync)| *after_sync), "own promise first: {fx:?}");
    let ballot = prepares[0];
    finish_syncs(&mut r, &mut x, &fx);
    let fx = deliver(&mut r, &mut x, N2, Msg::Promise { ballot, accepted: from_n2 });
    assert_eq!(x.role_kind(), super::Role::Leader, "two of three promised: {fx:?}");
    let accepts = fx
        .sent()
        .iter()
        .filter_map(|(to, m, _)| match m {
            Msg::Accept { slot, cmd, .. } if *to == N2 => Some((*slot, cmd.clone())),
            _ => None,
        })
        .collect();
    (ballot, accepts)
}

#[test]
fn a_new_leader_adopts_the_highest_ballot_value_per_slot_and_fills_gaps() {
    // n1's own acceptor accepted 10 in slot 1 under b2.n2; n2 reports 11 there under the
    // lower b1.n3, and 30 in slot 3. Slot 2 is empty.
    let own = acceptor(b(2, N2), &[(1, b(2, N2), 10)]);
    let from_n2 = vec![
        PValue { slot: 1, ballot: b(1, N3), cmd: write(11) },
        PValue { slot: 3, ballot: b(1, N3), cmd: write(30) },
    ];
    let (ballot, accepts) = lead(&own, from_n2, &[]);
    assert_eq!(ballot, b(3, N1), "above every ballot seen, owned by n1");
    assert_eq!(accepts, vec![(1, write(10)), (2, Command::Noop), (3, write(30))]);
}

#[test]
fn bug_ignore_accepted_value_re_proposes_nothing() {
    let own = acceptor(b(2, N2), &[(1, b(2, N2), 10)]);
    let (_, accepts) = lead(&own, vec![], &[super::bugs::IGNORE_ACCEPTED_VALUE]);
    assert!(accepts.is_empty(), "{accepts:?}");
}

#[test]
fn bug_duplicate_ballots_leaves_the_node_out() {
    let (ballot, _) = lead(&PaxosDurable::default(), vec![], &[super::bugs::DUPLICATE_BALLOTS]);
    assert_eq!(ballot, Ballot { round: 1, node: 0 });
    let (ballot, _) = lead(&PaxosDurable::default(), vec![], &[]);
    assert_eq!(ballot, b(1, N1));
}

#[test]
fn a_value_is_decided_with_a_phase_2_quorum_and_applied_in_slot_order() {
    let (mut r, mut x) = node(N3, &PaxosDurable::default(), &[]);
    // Slot 2 is decided first: nothing can be applied until slot 1 is.
    deliver(&mut r, &mut x, N1, Msg::Decide { decided: vec![(2, write(2))] });
    assert_eq!(x.prefix(), 0);
    let fx = deliver(&mut r, &mut x, N1, Msg::Decide { decided: vec![(1, write(1))] });
    assert_eq!(x.prefix(), 2);
    assert!(fx.persisted().iter().all(|w| matches!(w, PaxosWrite::Decide(..))), "{fx:?}");
    // A restart replays the decisions on disk.
    let mut d = PaxosDurable::default();
    for w in fx.persisted() {
        sim::Durable::apply(&mut d, w);
    }
    d.decided.insert(2, write(2));
    let (_, y) = node(N3, &d, &[]);
    assert_eq!(y.prefix(), 2);
}

#[test]
fn quorum_sizes_must_intersect() {
    let cluster = sim::cluster::Cluster::single(5);
    let p = |q1, q2| PaxosParams { q1, q2, ..PaxosParams::default() };
    assert!(Paxos::validate_cluster(&cluster, &vec![p(0, 0); 5]).is_ok());
    assert!(Paxos::validate_cluster(&cluster, &vec![p(4, 2); 5]).is_ok());
    let err = Paxos::validate_cluster(&cluster, &vec![p(3, 2); 5]).unwrap_err();
    assert!(err.contains("do not intersect"), "{err}");
    assert!(Paxos::validate_cluster(&cluster, &vec![p(6, 0); 5]).is_err());
    assert_eq!(p(0, 0).quorums(5), (3, 3));
    assert_eq!(p(0, 2).quorums(5), (4, 2));
}
