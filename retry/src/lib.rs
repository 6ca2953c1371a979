//! Shared resilience plumbing for the ml-connector API clients.
//!
//! Both `acumatica-client` and `looker-client` retry the same way, so the
//! mechanism lives here once:
//!
//! - [`RetryPolicy`]: bounded attempts and total time, exponential backoff with
//!   *full jitter* (a uniformly random wait between zero and the exponential
//!   step), and a server's `Retry-After` honoured but capped. The loop itself is
//!   [`backon`]; this crate only supplies the classification hooks.
//! - [`Classify`]: the two questions the loop asks an error: may the request be
//!   sent again, and did the server say when.
//! - [`parse_retry_after`]: the header in both of its RFC 9110 forms
//!   (delta-seconds and HTTP-date).
//! - [`Pacer`]: optional client-side pacing (requests per minute with
//!   [`governor`], and a cap on requests in flight) so a client stays under a
//!   licence limit before the server starts answering 429.
//! - [`observe`]: the one observation hook of both clients, `tracing` events
//!   for each HTTP exchange and each retried request, which a layer can count
//!   (metrics per system, status, 429s and retries).
//! - [`preview`]: a short, single-line excerpt of a response body, for error
//!   messages about bodies that are not what was expected (a proxy's HTML page).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use ml_connector_retry::{Classify, RetryPolicy};
//!
//! #[derive(Debug)]
//! struct Busy;
//! impl std::fmt::Display for Busy {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         f.write_str("server busy")
//!     }
//! }
//! impl Classify for Busy {
//!     fn is_retryable(&self) -> bool { true }
//! }
//!
//! # tokio_test();
//! # fn tokio_test() {
//! let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
//! rt.block_on(async {
//!     let policy = RetryPolicy::default()
//!         .with_max_attempts(3)
//!         .with_initial_delay(Duration::from_millis(1));
//!     let mut calls = 0;
//!     let result: Result<u32, Busy> = policy
//!         .run("demo", || {
//!             calls += 1;
//!             let n = calls;
//!             async move { if n < 3 { Err(Busy) } else { Ok(n) } }
//!         })
//!         .await;
//!     assert_eq!(result.unwrap(), 3);
//! });
//! # }
//! ```
#![warn(missing_docs)]

pub mod observe;
mod pacer;
mod policy;
mod preview;
mod retry_after;

pub use pacer::{Pacer, PacerPermit};
pub use policy::{Classify, RetryPolicy, is_connection_refused};
pub use preview::preview;
pub use retry_after::{parse_retry_after, parse_retry_after_at};
