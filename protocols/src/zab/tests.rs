//! Handler unit tests: one server, one message in, the effects it asked for asserted.
//! `sim::testing::Recorder` stands in for the engine.

use super::messages::{Command, Msg, SyncKind, Txn, Vote, Zxid};
use super::node::{Phase, Role, ZabDurable, ZabWrite};
use super::{Zab, ZabParams};
use sim::testing::{Effect, EffectsExt, Recorder};
use sim::{BugSet, NodeId};

const N1: NodeId = NodeId(0);
const N2: NodeId = NodeId(1);
const N3: NodeId = NodeId(2);

fn z(epoch: u64, counter: u64) -> Zxid {
    Zxid { epoch, counter }
}

/// A history of no-ops with these zxids.
fn history(zxids: &[(u64, u64)]) -> Vec<Txn> {
    zxids
        .iter()
        .map(|&(e, c)| Txn {
            zxid: z(e, c),
            cmd: Command::Noop,
        })
        .collect()
}

fn server(id: NodeId, n: usize, d: &ZabDurable, bugs: &[&str]) -> (Recorder<Zab>, Zab) {
    let mut r = Recorder::<Zab>::new(id, n);
    r.bugs = BugSet::new(bugs.iter().map(|b| b.to_string()).collect());
    let x = r.boot(&ZabParams::default(), d);
    r.take();
    (r, x)
}

fn deliver(r: &mut Recorder<Zab>, x: &mut Zab, from: NodeId, msg: Msg) -> Vec<Effect<Zab>> {
    r.step(x, |x, cx| sim::Protocol::on_message(x, cx, from, msg))
}

/// `id` follows n1, which announces itself as the leader.
fn follower_of_n1(id: NodeId, d: &ZabDurable, bugs: &[&str]) -> (Recorder<Zab>, Zab) {
    let (mut r, mut x) = server(id, 3, d, bugs);
    let vote = Vote {
        epoch: 1,
        zxid: Zxid::default(),
        leader: N1.0,
    };
    let fx = deliver(&mut r, &mut x, N1, Msg::Vote { round: 1, vote, looking: false });
    assert_eq!(x.role_kind(), Role::Following);
    assert!(matches!(fx.sent()[..], [(N1, Msg::Followerinfo { .. }, false)]), "{fx:?}");
    (r, x)
}

#[test]
fn the_common_prefix_follows_the_epoch_summary() {
    let d = ZabDurable {
        history: history(&[(1, 1), (1, 2), (1, 3), (2, 1), (2, 2)]),
        ..ZabDurable::default()
    };
    let (_, leader) = server(N1, 3, &d, &[]);
    // A prefix of ours: DIFF from there.
    assert_eq!(leader.common_prefix(&[z(1, 3), z(2, 1)]), 4);
    assert_eq!(leader.common_prefix(&[z(1, 2)]), 2);
    // Epoch 1 continued beyond ours, or an epoch we never had: cut back (TRUNC).
    assert_eq!(leader.common_prefix(&[z(1, 4)]), 3);
    assert_eq!(leader.common_prefix(&[z(1, 3), z(3, 1)]), 3);
    // It lacks the end of epoch 1 but went on into epoch 2: those epoch-2 ones are not ours.
    assert_eq!(leader.common_prefix(&[z(1, 2), z(2, 1)]), 2);
    // Nothing in common (SNAP).
    assert_eq!(leader.common_prefix(&[z(4, 1)]), 0);
}

#[test]
fn a_follower_takes_a_new_epoch_only_above_its_accepted_one() {
    let d = ZabDurable {
        accepted_epoch: 5,
        current_epoch: 4,
        ..ZabDurable::default()
    };
    let (mut r, mut x) = follower_of_n1(N2, &d, &[]);
    let fx = deliver(&mut r, &mut x, N1, Msg::Newepoch { epoch: 6 });
    assert!(matches!(fx.persisted()[..], [ZabWrite::AcceptedEpoch(6)]), "{fx:?}");
    assert!(matches!(fx.sent()[..], [(N1, Msg::Ackepoch { epoch: 6, current_epoch: 4, .. }, true)]), "{fx:?}");
    // A stale leader's epoch sends it back to election.
    let (mut r, mut x) = follower_of_n1(N2, &d, &[]);
    deliver(&mut r, &mut x, N1, Msg::Newepoch { epoch: 4 });
    assert_eq!(x.role_kind(), Role::Looking);
}

/// A follower of n1 at epoch 2 after a sync of `kind` keeping `keep` of its history.
fn synced(d: &ZabDurable, kind: SyncKind, keep: u64, txns: Vec<Txn>, bugs: &[&str]) -> (Recorder<Zab>, Zab, Vec<Effect<Zab>>) {
    let (mut r, mut x) = follower_of_n1(N2, d, bugs);
    // Before NEWLEADER a proposal is not taken: it would not follow our history.
    let early = Msg::Proposal {
        epoch: 2,
        txn: history(&[(2, 9)]).remove(0),
    };
    deliver(&mut r, &mut x, N1, Msg::Newepoch { epoch: 2 });
    let fx = deliver(&mut r, &mut x, N1, early);
    if bugs.is_empty() {
        assert!(fx.sent().is_empty(), "{fx:?}");
    }
    let fx = deliver(&mut r, &mut x, N1, Msg::Newleader { epoch: 2, kind, keep, txns });
    (r, x, fx)
}

#[test]
fn trunc_cuts_the_history_back_and_no_truncate_keeps_it() {
    let d = ZabDurable {
        accepted_epoch: 1,
        current_epoch: 1,
        history: history(&[(1, 1), (1, 2), (1, 3)]),
        ..ZabDurable::default()
    };
    let (_, x, fx) = synced(&d, SyncKind::Trunc, 2, history(&[(2, 1)]), &[]);
    let zxids: Vec<Zxid> = x.history().iter().map(|t| t.zxid).collect();
    assert_eq!(zxids, vec![z(1, 1), z(1, 2), z(2, 1)]);
    assert!(fx.persisted().iter().any(|w| matches!(w, ZabWrite::Truncate(2))), "{fx:?}");
    assert!(matches!(fx.sent()[..], [(N1, Msg::AckNewleader { epoch: 2 }, true)]), "{fx:?}");
    assert_eq!(x.current_epoch(), 2);

    let (_, x, _) = synced(&d, SyncKind::Trunc, 2, history(&[(2, 1)]), &[super::bugs::NO_TRUNCATE]);
    let zxids: Vec<Zxid> = x.history().iter().map(|t| t.zxid).collect();
    assert_eq!(zxids, vec![z(1, 1), z(1, 2), z(1, 3)], "the bug keeps <1,3> (and drops the leader's <2,1>)");
}

#[test]
fn after_newleader_a_proposal_is_written_then_acknowledged_and_only_from_the_leader() {
    let (mut r, mut x, _) = synced(&ZabDurable::default(), SyncKind::Diff, 0, vec![], &[]);
    let p = |from_epoch: u64| Msg::Proposal {
        epoch: from_epoch,
        txn: history(&[(from_epoch, 1)]).remove(0),
    };
    let fx = deliver(&mut r, &mut x, N1, p(2));
    assert!(matches!(fx.persisted()[..], [ZabWrite::Append(_)]), "{fx:?}");
    assert!(matches!(fx.sent()[..], [(N1, Msg::Ack { .. }, true)]), "the ACK waits for the disk: {fx:?}");
    // Another server's proposal of an old epoch: ignored, unless the bug is planted.
    let fx = deliver(&mut r, &mut x, N3, p(1));
    assert!(fx.persisted().is_empty(), "{fx:?}");
    let (mut r, mut x, _) = synced(&ZabDurable::default(), SyncKind::Diff, 0, vec![], &[super::bugs::ACCEPT_OLD_EPOCH]);
    let fx = deliver(&mut r, &mut x, N3, p(1));
    assert!(!fx.persisted().is_empty(), "{fx:?}");
    assert_eq!(x.phase(), Phase::Sync);
}
