//! Exactly-once sync flows between Looker and Acumatica.
//!
//! `sync-core` composes [`acumatica_client`] and [`looker_client`] into the two
//! flows ml-connector runs, and holds everything that makes them safe to run
//! on a schedule, in several replicas, across crashes:
//!
//! - [`post`]: the primary flow. Looker rows become balanced Acumatica journals,
//!   validated against Acumatica's reference data and posted **exactly once**
//!   (natural key, intent, batched lookup, create only if absent, outcome).
//! - [`reference`](mod@reference): the primary flow's second kind. Looker rows become records of one
//!   Acumatica entity (say `Vendor` by `VendorID`), created if absent, sent only their changed
//!   fields, left alone when equal; keys the site numbers itself are noticed and mapped or
//!   refused.
//! - [`runtime`]: the lease and run lifecycle every flow shares: acquire, start, renew in the
//!   background, check the lease in the store right before each external write, finish,
//!   release.
//! - [`looker_query`]: a Looker query as a source of rows, shared by the post and reference
//!   flows.
//! - [`feed`]: the supporting flow. Records changed in Acumatica since the
//!   high-water mark are upserted into a warehouse; the mark only moves after a
//!   whole window is written.
//! - [`mapping`]: the declarative (TOML) mapping from rows to journals and
//!   reference records, with exact decimal amounts.
//! - [`validate`]: every problem of a run reported at once, with the closest
//!   valid choices.
//! - [`key`]: natural keys and where they live in Acumatica.
//! - [`store`]: the state store (SQLite embedded, PostgreSQL for replicas):
//!   leases with fencing tokens, marks, the intent/outcome ledger, run history,
//!   audit trail and dead letters.
//! - [`warehouse`]: the warehouse sink (SQLite or PostgreSQL tables per entity).
//! - [`schedule`]: cron cadences with time zones and a lease-aware runner.
//! - [`vault`]: credentials sealed with XChaCha20-Poly1305.
//! - [`traits`]: the small public traits for bringing your own source or sink.
//! - [`adapt`]: conversions between the clients' types and the neutral ones.
//! - [`progress`]: events a running flow reports (rows read, documents posted, pages
//!   written), for progress bars and logs.
//!
//! The `flows` feature (on by default) brings in the two HTTP clients and the
//! [`post`], [`reference`](mod@reference), [`feed`], [`runtime`], [`looker_query`], [`adapt`] and [`progress`]
//! modules; without it the store, mapping,
//! validation, schedules and vault are usable on their own.
//!
//! # Example
//!
//! ```no_run
//! # #[cfg(feature = "flows")]
//! # async fn demo(looker: looker_client::Client, acumatica: acumatica_client::Client) -> sync_core::Result<()> {
//! use std::sync::Arc;
//! use sync_core::post::{PostFlow, PostFlowConfig};
//! use sync_core::store::SqliteStore;
//!
//! let config = PostFlowConfig::from_toml_file("flows/overhead_allocation.toml")?;
//! let store = Arc::new(SqliteStore::open("state.db").await?);
//! let flow = PostFlow::from_config(&config, looker, acumatica, store)?;
//! let summary = flow.run().await?; // a rerun posts nothing
//! println!("{summary}");
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

#[cfg(feature = "flows")]
pub mod adapt;
pub mod error;
#[cfg(feature = "flows")]
pub mod feed;
pub mod key;
#[cfg(feature = "flows")]
pub mod looker_query;
pub mod mapping;
#[cfg(feature = "flows")]
pub mod post;
#[cfg(feature = "flows")]
pub mod progress;
#[cfg(feature = "flows")]
pub mod reference;
#[cfg(feature = "flows")]
pub mod runtime;
pub mod schedule;
pub mod store;
pub mod traits;
pub mod validate;
pub mod vault;
pub mod warehouse;

pub use error::{Error, Result};
