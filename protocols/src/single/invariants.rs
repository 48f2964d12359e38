//! Invariants of `single`, checked after every event.

use super::node::Single;
use sim::{CheckDecl, CheckSink, Invariants, NodeId, World};

pub struct SingleInvariants;

pub const EXACTLY_ONCE: &str = "exactly-once";
pub const SERVER_UP: &str = "server-up";
pub const RECOVERED: &str = "recovered-state";
pub const DEDUPLICATED: &str = "retry-deduplicated";

impl Invariants<Single> for SingleInvariants {
    fn new(_cluster: &sim::cluster::Cluster, _params: &[super::SingleParams]) -> Self {
        SingleInvariants
    }

    fn checks() -> Vec<CheckDecl> {
        vec![
            CheckDecl::always(EXACTLY_ONCE, "no client operation is applied twice"),
            CheckDecl::sometimes(RECOVERED, "the server restarted with state rebuilt from its log"),
            CheckDecl::sometimes(
                DEDUPLICATED,
                "a retried request was answered from the session table",
            ),
            CheckDecl::eventually(SERVER_UP, "the server is up and running"),
        ]
    }

    fn after_event(&mut self, world: &World<Single>, touched: NodeId, sink: &mut CheckSink) {
        let view = world.node(touched);
        let Some(node) = view.state else { return };
        if let Some((session, seq)) = node.applied_twice {
            sink.fail(EXACTLY_ONCE, || {
                format!("{touched} applied operation #{seq} of session {session} a second time")
            });
        }
        if node.recovered_records > 0 {
            sink.reached(RECOVERED);
        }
        if node.deduplicated > 0 {
            sink.reached(DEDUPLICATED);
        }
        if touched == NodeId(0) && view.up && !view.paused {
            sink.holds(SERVER_UP);
        }
    }
}
