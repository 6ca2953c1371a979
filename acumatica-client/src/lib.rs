//! A typed async client for the Acumatica ERP contract-based REST API.
//!
//! - **Configuration**: [`Client::builder`] ([`ClientBuilder`]) takes the site
//!   URL, endpoint name and version, tenant, credentials, timeouts, retry
//!   policy and pacing; [`Client::site_info`] discovers endpoints.
//! - **Authentication**: OAuth 2.0 password or refresh-token grant
//!   ([`ClientBuilder::oauth_password`], [`ClientBuilder::oauth_refresh_token`])
//!   with proactive refresh, rotation and a single-flight token cache, or a
//!   cookie session ([`ClientBuilder::session_login`]); [`Client::close`]
//!   logs out. A 401 renews the credentials and replays the request once.
//! - **Data model**: [`value::Value`] for the `{"value": x}` wrapper, exact
//!   money ([`rust_decimal::Decimal`]), lenient [`value::Timestamp`]s, typed
//!   [`entity`] structs that keep unknown fields, and [`DynamicEntity`].
//! - **Reading**: [`filter::Filter`] and [`ListQuery`] build queries;
//!   [`Client::list`], [`Client::list_pages`], [`Client::list_keyset`] and
//!   [`Client::changed_since`] stream records; [`Client::get_by_keys`] and
//!   [`Client::get_by_id`] read one; [`Client::find_by_values`] looks up
//!   many natural keys at once; reference data through
//!   [`Client::accounts`], [`Client::subaccounts`], [`Client::ledgers`],
//!   [`Client::financial_periods`].
//! - **Writing**: [`Client::put`], [`Client::insert`], [`Client::update`],
//!   [`Client::upsert_by_key`] (only changed fields), [`Client::invoke_action`]
//!   (202 + `Location` polling), deletes; for journals
//!   [`Client::create_journal_transaction`] and
//!   [`Client::release_journal_transaction`]. Creates are never repeated
//!   when their outcome is unknown ([`ErrorKind::OutcomeUnknown`]).
//! - **Inquiries**: [`Client::inquiry`] runs an [`Inquiry`] (a `PUT` of
//!   its parameters with `$expand=Results`), typed for the GL balances
//!   ([`inquiry::AccountSummaryInquiry`]) and journal lines
//!   ([`inquiry::AccountDetailsForPeriodInquiry`]).
//! - **Errors**: one [`Error`] with an [`ErrorKind`] and predicates
//!   ([`Error::is_retryable`], [`Error::retry_after`], [`Error::is_not_found`]).
//! - **Escape hatch**: [`Client::get_json`], [`Client::put_json`],
//!   [`Client::list_json`] for any entity path.
//!
//! # Quickstart
//!
//! ```no_run
//! use acumatica_client::{Client, ListQuery, entity::{JournalTransaction, JournalTransactionDetail}};
//! use futures::TryStreamExt;
//! use rust_decimal::Decimal;
//!
//! # async fn run() -> acumatica_client::Result<()> {
//! let client = Client::builder("https://erp.example.com/AcumaticaERP")
//!     .endpoint_version("24.200.001")
//!     .tenant("MyTenant")
//!     .oauth_password("8E0761D9-F4EC-2D4B-A60F-BCE2708C6FDD", "secret", "api-user", "password")
//!     .build()?;
//!
//! // Reference data.
//! let accounts = client.accounts(true).await?;
//!
//! // A balanced GL batch, created exactly once and then released.
//! let batch = JournalTransaction {
//!     module: "GL".into(),
//!     description: "looker-2025-02-15".into(),
//!     hold: false.into(),
//!     details: Some(vec![
//!         JournalTransactionDetail::debit("10200", "000000", Decimal::new(12550, 2)),
//!         JournalTransactionDetail::credit("40000", "000000", Decimal::new(12550, 2)),
//!     ]),
//!     ..Default::default()
//! };
//! let created = client.create_journal_transaction(&batch).await?;
//! client.release_journal_transaction(&created.module, &created.batch_nbr).await?;
//!
//! // Everything changed in the last day.
//! let until = chrono::Utc::now().fixed_offset();
//! let since = until - chrono::Duration::days(1);
//! let bills: Vec<acumatica_client::entity::Bill> = client
//!     .changed_since(since, Some(until), ListQuery::new().expand(["Details"]))
//!     .try_collect()
//!     .await?;
//! client.close().await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod action;
mod auth;
mod client;
mod config;
mod discovery;
mod dynamic;
pub mod entity;
mod error;
pub mod filter;
pub mod inquiry;
mod paging;
mod query;
mod read;
mod scope;
mod transport;
pub mod value;
mod write;

pub use action::ActionOutcome;
pub use client::Client;
pub use config::{ClientBuilder, DEFAULT_TIMEOUT, DEFAULT_USER_AGENT, EndpointVersion};
pub use discovery::{EndpointInfo, SiteInfo};
pub use dynamic::DynamicEntity;
pub use entity::Entity;
pub use entity::journal::CreatedBatch;
pub use error::{Error, ErrorKind, FieldError, Result};
pub use filter::Filter;
pub use inquiry::Inquiry;
pub use paging::Page;
pub use query::ListQuery;
pub use write::{PutMode, Upserted};

/// Re-exported so callers can name the retry policy without another dependency.
pub use ml_connector_retry::RetryPolicy;

/// The README's examples, compiled as doctests so they stay correct.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
