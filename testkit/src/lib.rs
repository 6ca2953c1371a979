//! Stateful, fault-injecting fakes of the Acumatica contract-based REST API
//! and the Looker API 4.0, for testing integrations without live systems.
//!
//! - [`server`]: the HTTP harness ([`server::FakeServer`]) any fake runs in;
//! - [`faults`]: runtime-configurable fault rules shared by both fakes;
//! - [`inspect`]: the request log (never secrets) and counters;
//! - [`acumatica`]: the Acumatica fake;
//! - [`looker`]: the Looker fake;
//! - [`sandbox`]: both fakes at once ([`Sandbox`]), as the
//!   `ml-connector-sandbox` binary serves them;
//! - [`seed`]: the demo company both fakes are generated from.
#![warn(missing_docs)]

pub mod acumatica;
pub mod faults;
pub mod inspect;
pub mod looker;
pub mod sandbox;
pub mod seed;
pub mod server;

pub use faults::{FaultKind, FaultRule, Faults};
pub use inspect::{AuthScheme, RequestLog, RequestRecord};
pub use sandbox::{Sandbox, SandboxOptions};
pub use server::{ErrorStyle, FakeServer};
