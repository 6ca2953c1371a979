//! Shared plumbing of the ml-connector benchmarks (run by `benches/run.sh`).
//!
//! - [`measure`]: peak resident memory, CPU time, the machine's description;
//! - [`record`]: one JSON line per measurement, printed and appended to
//!   `benches/results/<bench>.jsonl`;
//! - [`child`]: a fake served by a child process, so the measuring process
//!   holds only the client and its peak memory is the client's.
//!
//! The benchmarks themselves are in `examples/bench.rs`; they are never run as
//! tests, and every figure they write records the machine's load next to it.

pub mod child;
pub mod measure;
pub mod record;
