//! The gossip messages and the one timer.

use serde::Serialize;
use sim::Value;

#[derive(Clone, Debug, Serialize)]
pub enum Msg {
    /// Values the sender has and believes the receiver lacks.
    Gossip { values: Vec<Value> },
    /// The receiver now has these durably: the sender stops resending them.
    GossipAck { values: Vec<Value> },
}

#[derive(Clone, Debug, Serialize)]
pub enum Timer {
    /// Time to send each neighbour what it has not acknowledged.
    Gossip,
}
