//! A single read/write/compare-and-set register (the model of Jepsen's etcd
//! test).

use super::{Model, Operation};

/// Register operation input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterInput {
    /// Read the value.
    Read,
    /// Overwrite the value.
    Write(i64),
    /// Set to `to` if the value is `from`.
    Cas {
        /// Expected value.
        from: i64,
        /// New value.
        to: i64,
    },
}

/// Register operation output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterOutput {
    /// A read's result; `None` = never written.
    Read(Option<i64>),
    /// A write or a cas completed and took effect.
    Ok,
    /// A cas found a value other than `from` and changed nothing.
    CasFailed,
    /// Indeterminate: accepted from every state. A write still sets the
    /// value, and a cas still swaps if the value equals `from`, at the point
    /// where the operation is linearized.
    Unknown,
}

/// The register model. State: `None` until first written.
///
/// An output that does not fit its input (e.g. `Read` with `Ok`) is never
/// legal, so such an op makes a history non-linearizable.
#[derive(Clone, Copy, Debug, Default)]
pub struct RegisterModel;

impl Model for RegisterModel {
    type State = Option<i64>;
    type Input = RegisterInput;
    type Output = RegisterOutput;

    fn init(&self) -> Option<i64> {
        None
    }

    fn step(
        &self,
        state: &Option<i64>,
        input: &RegisterInput,
        output: &RegisterOutput,
    ) -> Option<Option<i64>> {
        use RegisterInput as I;
        use RegisterOutput as O;
        match (input, output) {
            (I::Read, O::Read(v)) => (v == state).then_some(*state),
            (I::Read, O::Unknown) => Some(*state),
            (I::Write(v), O::Ok | O::Unknown) => Some(Some(*v)),
            (I::Cas { from, to }, O::Ok) => (*state == Some(*from)).then_some(Some(*to)),
            // "nil never equals a number": a failed cas on an unwritten
            // register is legal.
            (I::Cas { from, .. }, O::CasFailed) => (*state != Some(*from)).then_some(*state),
            (I::Cas { from, to }, O::Unknown) => Some(if *state == Some(*from) { Some(*to) } else { *state }),
            _ => None,
        }
    }

    fn is_read_only(&self, input: &RegisterInput, output: &RegisterOutput) -> bool {
        matches!(
            (input, output),
            (RegisterInput::Read, _) | (RegisterInput::Cas { .. }, RegisterOutput::CasFailed)
        )
    }

    /// A read's value; a successful cas's expected value.
    fn precondition(&self, input: &RegisterInput, output: &RegisterOutput) -> Option<Option<i64>> {
        match (input, output) {
            (RegisterInput::Read, RegisterOutput::Read(v)) => Some(*v),
            (RegisterInput::Cas { from, .. }, RegisterOutput::Ok) => Some(Some(*from)),
            _ => None,
        }
    }

    /// Writes, and every op with an unknown outcome.
    fn is_total(&self, input: &RegisterInput, output: &RegisterOutput) -> bool {
        matches!(
            (input, output),
            (RegisterInput::Write(_), RegisterOutput::Ok) | (_, RegisterOutput::Unknown)
        )
    }

    /// A write sets its value whatever was there.
    fn is_blind(&self, input: &RegisterInput, output: &RegisterOutput) -> bool {
        matches!(
            (input, output),
            (
                RegisterInput::Write(_),
                RegisterOutput::Ok | RegisterOutput::Unknown
            )
        )
    }

    /// A completed read is legal only in the state it returned.
    fn required_state(&self, input: &RegisterInput, output: &RegisterOutput) -> Option<Option<i64>> {
        match (input, output) {
            (RegisterInput::Read, RegisterOutput::Read(v)) => Some(*v),
            _ => None,
        }
    }

    /// Reads and failed cas change nothing; under the equality preorder
    /// (see `state_le`) that is all that is monotone.
    fn is_monotone(&self, input: &RegisterInput, output: &RegisterOutput) -> bool {
        self.is_read_only(input, output)
    }

    /// A write yields its value, a cas its `to` (or nothing changes).
    fn reset_floor(&self, input: &RegisterInput, _output: &RegisterOutput) -> Option<Option<i64>> {
        match input {
            RegisterInput::Read => None,
            RegisterInput::Write(v) => Some(Some(*v)),
            RegisterInput::Cas { to, .. } => Some(Some(*to)),
        }
    }

    /// Equality: a read of `v` can only be satisfied if the value is `v` now
    /// or some write (or cas) of `v` can still take effect before it returns.
    fn state_le(&self, a: &Option<i64>, b: &Option<i64>) -> bool {
        a == b
    }

    fn describe(&self, input: &RegisterInput, output: &RegisterOutput) -> String {
        let unknown = if *output == RegisterOutput::Unknown {
            " -> ?"
        } else {
            ""
        };
        match (input, output) {
            (RegisterInput::Read, RegisterOutput::Read(Some(v))) => format!("read() -> {v}"),
            (RegisterInput::Read, RegisterOutput::Read(None)) => "read() -> nil".to_string(),
            (RegisterInput::Read, _) => format!("read(){unknown}"),
            (RegisterInput::Write(v), _) => format!("write({v}){unknown}"),
            (RegisterInput::Cas { from, to }, RegisterOutput::CasFailed) => {
                format!("cas({from}, {to}) -> fail")
            }
            (RegisterInput::Cas { from, to }, _) => format!("cas({from}, {to}){unknown}"),
        }
    }
}

/// Convenience alias for a register history.
pub type RegisterOp = Operation<RegisterInput, RegisterOutput>;
