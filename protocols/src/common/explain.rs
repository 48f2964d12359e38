//! Words for eventually-checks that fail at the end of a run ([`sim::CheckSink::explain`]).

use sim::{Protocol, World};

/// Every node in one line: `n1 down, n2 paused, n3 <what `f` says of its state>`.
pub fn nodes<P: Protocol>(world: &World<P>, f: impl Fn(&P) -> String) -> String {
    world
        .iter()
        .map(|v| match v.state {
            None => format!("{} down", v.id),
            Some(_) if v.paused => format!("{} paused", v.id),
            Some(x) => format!("{} {}", v.id, f(x)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
