//! `single` has no server-to-server messages and no timers: clients talk to it directly.

use serde::Serialize;

/// No messages between servers.
#[derive(Clone, Debug, Serialize)]
pub enum Msg {}

/// No timers.
#[derive(Clone, Debug, Serialize)]
pub enum Timer {}
