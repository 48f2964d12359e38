//! Handler unit tests: one node, one message in, the effects it asked for asserted.
//! `sim::testing::Recorder` stands in for the engine; without groups, n1 is the view service.

use super::messages::{Msg, View, Write};
use super::node::{PbDurable, PbParams, PrimaryBackup};
use super::replica::Role;
use crate::families::kv::KvOp;
use sim::testing::{Effect, EffectsExt, Recorder};
use sim::{BugSet, ClientId, ClientRequest, NodeId, Protocol, SyncId};

const N1: NodeId = NodeId(0);
const N2: NodeId = NodeId(1);
const N3: NodeId = NodeId(2);
const N4: NodeId = NodeId(3);

fn node(id: NodeId, bugs: &[&str]) -> (Recorder<PrimaryBackup>, PrimaryBackup) {
    let mut r = Recorder::<PrimaryBackup>::new(id, 4);
    r.bugs = BugSet::new(bugs.iter().map(|b| b.to_string()).collect());
    let x = r.boot(&PbParams::default(), &PbDurable::default());
    r.take();
    (r, x)
}

fn deliver(r: &mut Recorder<PrimaryBackup>, x: &mut PrimaryBackup, from: NodeId, msg: Msg) -> Vec<Effect<PrimaryBackup>> {
    r.step(x, |x, cx| x.on_message(cx, from, msg))
}

fn view(num: u64, primary: NodeId, backups: &[NodeId]) -> View {
    View {
        num,
        primary: Some(primary),
        backups: backups.to_vec(),
    }
}

fn write(seq: u64, value: u64) -> Write {
    Write {
        seq,
        session: 9,
        cseq: seq,
        op: KvOp::Write { key: 0, value },
    }
}

fn role(x: &PrimaryBackup) -> Role {
    x.replica().expect("a replica").role()
}

/// n2, primary of view 1 with backups n3 and n4, having taken the view up.
fn primary() -> (Recorder<PrimaryBackup>, PrimaryBackup) {
    let (mut r, mut x) = node(N2, &[]);
    let fx = deliver(&mut r, &mut x, N1, Msg::View { view: view(1, N2, &[N3, N4]), echo: 0, lease: false });
    assert_eq!(role(&x), Role::Primary);
    // R1: not yet: it pings naming the view first.
    assert!(matches!(fx.sent()[..], [(N1, Msg::Ping { view: 1, .. }, false)]), "{fx:?}");
    let fx = deliver(&mut r, &mut x, N1, Msg::View { view: view(1, N2, &[N3, N4]), echo: 0, lease: true });
    let snaps: Vec<NodeId> = fx.sent().iter().filter(|(_, m, _)| matches!(m, Msg::Snapshot { .. })).map(|s| s.0).collect();
    assert_eq!(snaps, [N3, N4], "R2: a SNAPSHOT to every backup");
    (r, x)
}

#[test]
fn the_primary_answers_a_write_once_its_disk_and_every_backup_have_it() {
    let (mut r, mut x) = primary();
    let req = ClientRequest {
        client: ClientId(0),
        session: 9,
        seq: 1,
        op: KvOp::Write { key: 0, value: 5 },
        context: 0,
    };
    let fx = r.step(&mut x, |x, cx| x.on_client(cx, req));
    let forwards = fx.sent().iter().filter(|(_, m, _)| matches!(m, Msg::Forward { .. })).count();
    assert_eq!(forwards, 2, "{fx:?}");
    let sync = fx.iter().find_map(|e| if let Effect::Sync(s) = e { Some(*s) } else { None });
    let answered = |fx: &[Effect<PrimaryBackup>]| fx.iter().any(|e| matches!(e, Effect::Reply { .. }));
    let fx = r.step(&mut x, |x, cx| x.on_sync_done(cx, sync.expect("the write is synced")));
    assert!(!answered(&fx), "no backup has it yet");
    let fx = deliver(&mut r, &mut x, N3, Msg::Ack { view: 1, seq: 1 });
    assert!(!answered(&fx), "n4 has not acknowledged");
    // An acknowledgement of another view does not count.
    let fx = deliver(&mut r, &mut x, N4, Msg::Ack { view: 0, seq: 1 });
    assert!(!answered(&fx));
    let fx = deliver(&mut r, &mut x, N4, Msg::Ack { view: 1, seq: 1 });
    assert!(answered(&fx), "{fx:?}");
}

#[test]
fn ack_before_backup_answers_at_once() {
    let (mut r, mut x) = node(N2, &["ack-before-backup"]);
    deliver(&mut r, &mut x, N1, Msg::View { view: view(1, N2, &[N3]), echo: 0, lease: true });
    deliver(&mut r, &mut x, N1, Msg::View { view: view(1, N2, &[N3]), echo: 0, lease: true });
    let req = ClientRequest { client: ClientId(0), session: 9, seq: 1, op: KvOp::Write { key: 0, value: 5 }, context: 0 };
    r.step(&mut x, |x, cx| x.on_client(cx, req));
    let fx = r.step(&mut x, |x, cx| x.on_sync_done(cx, SyncId(u64::MAX)));
    assert!(fx.iter().any(|e| matches!(e, Effect::Reply { .. })), "{fx:?}");
}

#[test]
fn a_backup_fences_older_views_and_asks_for_the_state_it_lacks() {
    let (mut r, mut x) = node(N3, &[]);
    deliver(&mut r, &mut x, N1, Msg::View { view: view(3, N2, &[N3]), echo: 0, lease: false });
    assert_eq!(role(&x), Role::Backup);
    // R5: a deposed primary's FORWARD is rejected.
    let fx = deliver(&mut r, &mut x, N4, Msg::Forward { view: 2, write: write(1, 7) });
    assert!(matches!(fx.sent()[..], [(N4, Msg::Nack { view: 3 }, false)]), "{fx:?}");
    // R2: the view's own primary, but no SNAPSHOT of this view yet: ask once.
    let fx = deliver(&mut r, &mut x, N2, Msg::Forward { view: 3, write: write(1, 7) });
    assert!(matches!(fx.sent()[..], [(N2, Msg::NeedSnapshot { view: 3 }, false)]), "{fx:?}");
    let fx = deliver(&mut r, &mut x, N2, Msg::Forward { view: 3, write: write(2, 8) });
    assert!(fx.sent().is_empty(), "{fx:?}");
    assert_eq!(x.replica().unwrap().seq(), 0, "nothing applied on top of an unknown state");
}

#[test]
fn without_fencing_a_backup_takes_a_deposed_primarys_writes() {
    let (mut r, mut x) = node(N3, &["no-epoch-fencing"]);
    deliver(&mut r, &mut x, N1, Msg::View { view: view(3, N2, &[N3]), echo: 0, lease: false });
    let fx = deliver(&mut r, &mut x, N4, Msg::Forward { view: 2, write: write(1, 7) });
    assert!(matches!(fx.sent()[..], [(N4, Msg::Ack { view: 2, seq: 1 }, true)]), "{fx:?}");
}

#[test]
fn a_primary_told_of_a_newer_view_steps_down() {
    let (mut r, mut x) = primary();
    let fx = deliver(&mut r, &mut x, N3, Msg::Nack { view: 2 });
    assert_eq!(role(&x), Role::Idle);
    assert!(matches!(fx.sent()[..], [(N1, Msg::Ping { .. }, false)]), "it asks the view service: {fx:?}");
}

#[test]
fn the_view_service_promotes_only_a_backup_synced_in_the_taken_up_view() {
    let (mut r, mut x) = node(N1, &[]);
    let ping = |view, synced| Msg::Ping { view, synced, restarted: false, suspects: vec![], sent: 0 };
    let tick = |r: &mut Recorder<PrimaryBackup>, x: &mut PrimaryBackup| r.step(x, |x, cx| x.on_timer(cx, super::Timer::Tick));
    for n in [N2, N3, N4] {
        deliver(&mut r, &mut x, n, ping(0, 0));
    }
    tick(&mut r, &mut x);
    assert_eq!(x.views().unwrap().view(), &view(1, N2, &[N3, N4]));
    // n2 takes view 1 up; n4 reports its SNAPSHOT on disk, n3 does not.
    r.mono_ns = 100_000_000;
    let fx = deliver(&mut r, &mut x, N2, ping(1, 1));
    assert!(matches!(fx.sent()[..], [(N2, Msg::View { lease: true, .. }, true)]), "{fx:?}");
    deliver(&mut r, &mut x, N3, ping(1, 0));
    deliver(&mut r, &mut x, N4, ping(1, 1));
    // n2 falls silent; n3 and n4 keep pinging.
    r.mono_ns = 350_000_000;
    deliver(&mut r, &mut x, N3, ping(1, 0));
    deliver(&mut r, &mut x, N4, ping(1, 1));
    r.mono_ns = 450_000_000;
    tick(&mut r, &mut x);
    assert_eq!(x.views().unwrap().view(), &view(2, N4, &[N3]), "n4, not n3, holds every acknowledged write");
}
