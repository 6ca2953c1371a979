//! Cross-crate tests live in `tests/`; [`harness`] wires the flows to the testkit fakes for
//! the fault matrix, the crash test and its child process.

pub mod harness;
