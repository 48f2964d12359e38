//! Consistency models weaker than linearizability, checked on the same histories and against
//! the same sequential [`Model`](crate::linearize::Model)s as [`crate::linearize`].
//!
//! * [`sequential`]: **sequential consistency** (Lamport 1979). A history is sequentially
//!   consistent if one total order of its operations is legal for the model and keeps each
//!   client's own order; unlike linearizability it ignores real time *between* clients. It is
//!   not local (Herlihy & Wing 1990, §3.2): every key can be fine on its own while the history
//!   as a whole is not, so the whole multi-key history is searched at once.
//!
//! A client's order is its real-time order: an operation follows every operation of the same
//! client that completed before it was invoked. For a client with one operation in flight at a
//! time this is its program order; operations a client overlaps (several lanes) stay
//! unordered, and an operation whose outcome is unknown (`info`, or pending at the end) follows
//! the client's earlier operations but may take effect at any later point, or never.

pub mod sequential;

pub use sequential::{check_sequential, ScFailure, ScResult};

/// Outcome of a consistency check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// An order that satisfies the model exists.
    Consistent,
    /// Provably none exists.
    Inconsistent,
    /// Not decided within the budget.
    Unknown,
}

#[cfg(test)]
mod tests;
