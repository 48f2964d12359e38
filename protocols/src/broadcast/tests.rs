//! Handler unit tests: one node, one input, the effects asserted.

use super::messages::Msg;
use super::{Node, NodeParams, Topology};
use crate::families::broadcast::{BroadcastOp, BroadcastReply};
use sim::testing::{Effect, EffectsExt, Recorder};
use sim::{ClientId, ClientRequest, NodeId, Outcome, Protocol};

/// Node n2 of a line of three: its neighbours are n1 and n3.
fn middle_of_a_line() -> (Recorder<Node>, Node) {
    let mut r = Recorder::<Node>::new(NodeId(1), 3);
    let params = NodeParams {
        topology: Topology::Line,
        ..NodeParams::default()
    };
    let node = r.boot(&params, &Default::default());
    r.take();
    (r, node)
}

#[test]
fn a_broadcast_is_acknowledged_once_the_value_is_on_disk() {
    let (mut r, mut n2) = middle_of_a_line();
    let req = ClientRequest {
        client: ClientId(0),
        session: 0,
        seq: 1,
        op: BroadcastOp::Broadcast(7),
        context: 0,
    };
    let fx = r.step(&mut n2, |p, cx| p.on_client(cx, req));
    assert_eq!(fx.persisted(), [&7]);
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Reply { reply, after_sync: true, .. } if reply.outcome == Outcome::Done(BroadcastReply::Ack)
    )));
}

#[test]
fn a_value_from_a_peer_is_acknowledged_after_sync_and_not_sent_back() {
    let (mut r, mut n2) = middle_of_a_line();
    let fx = r.step(&mut n2, |p, cx| p.on_message(cx, NodeId(0), Msg::Gossip { values: vec![7] }));
    let sent = fx.sent();
    assert!(matches!(sent[..], [(NodeId(0), Msg::GossipAck { .. }, true)]), "{fx:?}");
    // At the next tick n3 is told, and n1 (which told us) is not.
    let fx = r.step(&mut n2, |p, cx| p.on_timer(cx, super::messages::Timer::Gossip));
    let to: Vec<NodeId> = fx.sent().iter().map(|(to, _, _)| *to).collect();
    assert_eq!(to, [NodeId(2)]);
}
