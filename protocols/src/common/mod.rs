//! Pieces several protocols share (architecture invariant 1: they live here, not in `sim`).

pub mod command;
pub mod durability;
pub mod explain;
pub mod kv;
pub mod lease;
pub mod session;
