//! Names of the things on the simulated network.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A server node, 0-based inside the engine, printed 1-based (`n1`, `n2`, …) as in papers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub u32);

/// A simulated client, printed `c1`, `c2`, …
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl ClientId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0 + 1)
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0 + 1)
    }
}

/// Anything that can send or receive: a server or a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Endpoint {
    Node(NodeId),
    Client(ClientId),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Node(n) => n.fmt(f),
            Endpoint::Client(c) => c.fmt(f),
        }
    }
}

/// Parses `n3` / `c2` (1-based) given the cluster's size; `None` if malformed or out of range.
pub fn parse_endpoint(name: &str, nodes: usize, clients: usize) -> Option<Endpoint> {
    let name = name.trim();
    let (kind, num) = name.split_at(name.find(|c: char| c.is_ascii_digit())?);
    let i: usize = num.parse().ok()?;
    if i == 0 {
        return None;
    }
    match kind {
        "n" if i <= nodes => Some(Endpoint::Node(NodeId((i - 1) as u32))),
        "c" if i <= clients => Some(Endpoint::Client(ClientId((i - 1) as u32))),
        _ => None,
    }
}

/// A key of the client workload, printed `k0`, `k1`, …
pub type Key = u32;
/// A value written by a client. Values are unique per run, so a read names the write it saw.
pub type Value = u64;
