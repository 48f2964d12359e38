//! Handler unit tests.
