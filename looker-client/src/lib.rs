//! A typed async client for the Looker API 4.0, built for extracting data.
//!
//! - **Login**: API3 credentials, a cached token renewed before it expires,
//!   one login shared by concurrent callers, one re-login and replay on a
//!   401; [`Client::login`] and [`Client::logout`] when you want them early.
//! - **Queries**: [`WriteQuery`] with the spec's field names and types,
//!   [`Client::create_query`], [`Client::run_inline_query_rows`] and
//!   [`Client::run_query_rows`] in `json`, `csv` and `txt` (streamed),
//!   [`Client::run_inline_query_json_bi`] (with metadata).
//! - **Validation**: [`Client::validate`] checks field, filter and sort names
//!   against the explore and suggests the closest valid names.
//! - **Large extracts**, three ways, because query results have no offset or
//!   cursor: streaming ([`RowStream`], memory bounded by a few chunks and one
//!   row), async query tasks ([`Client::run_query_task_rows`]) and keyset
//!   paging ([`Client::keyset_rows`]). List endpoints page by offset
//!   ([`Client::offset_pages`], [`Client::lookml_models`]).
//! - **No silent row cap**: a result that reaches its row limit (5000 when
//!   the query sets none) is a [`Truncated`](ErrorKind::Truncated) error
//!   unless allowed ([`RunOptions::allow_truncation`]).
//! - **Errors**: one [`Error`] with an [`ErrorKind`], [`Error::is_retryable`]
//!   and [`Error::retry_after`]; 429, 502-504 and network errors are retried
//!   with the shared [`RetryPolicy`] (exponential backoff, full jitter,
//!   `Retry-After` honoured and capped).
//!
//! # Quickstart
//!
//! ```no_run
//! use futures::TryStreamExt;
//! use looker_client::{Client, ResultFormat, Row, RunOptions, WriteQuery};
//!
//! # async fn demo() -> Result<(), looker_client::Error> {
//! // Or ClientBuilder::from_env() / from_ini("looker.ini", None).
//! let client = Client::builder("https://example.cloud.looker.com")
//!     .credentials("client-id", "client-secret")
//!     .build()?;
//!
//! let query = WriteQuery::new("thelook", "orders")
//!     .fields(["orders.id", "orders.created_date", "orders.total"])
//!     .filter("orders.created_date", "7 days")
//!     .with_limit(-1); // unlimited: streams
//! let mut rows = client
//!     .run_inline_query_rows::<Row>(&query, ResultFormat::Json, &RunOptions::new().validate(true))
//!     .await?;
//! while let Some(row) = rows.try_next().await? {
//!     println!("{} {}", row["orders.id"], row["orders.total"]);
//! }
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod auth;
mod client;
mod config;
mod error;
mod explore;
mod paging;
mod query;
mod rows;
mod run;
mod task;
mod transport;

pub use client::Client;
pub use config::{
    ClientBuilder, DEFAULT_POOL_IDLE_TIMEOUT, DEFAULT_RENEWAL_MARGIN, DEFAULT_TIMEOUT,
};
pub use error::{Error, ErrorKind, Result, UnknownField, ValidationErrorDetail};
pub use explore::{LookmlModelExplore, LookmlModelExploreField, LookmlModelExploreFieldset};
pub use paging::{ItemStream, LookmlModel, LookmlModelNavExplore};
pub use query::{DEFAULT_ROW_LIMIT, Query, QueryId, WriteQuery};
pub use rows::{Cell, CellKind, Columns, CompactRow, FromCell, Row, RowStream};
pub use run::{JsonBiResult, ResultFormat, RunOptions};
pub use task::{
    CreateQueryTask, DEFAULT_FIRST_POLL, DEFAULT_MAX_POLL, QueryTask, QueryTaskStatus, TaskOptions,
};

/// The retry policy and pacer shared with the other ml-connector clients
/// (re-exported for [`ClientBuilder::retry_policy`] and [`ClientBuilder::pacer`]).
pub use ml_connector_retry::{Pacer, RetryPolicy};

#[cfg(test)]
mod tests {
    /// What sync-core moves between tasks must be `Send` (and the client `Sync`).
    #[test]
    fn handles_can_cross_tasks() {
        fn send<T: Send>() {}
        fn send_sync<T: Send + Sync>() {}
        send_sync::<crate::Client>();
        send_sync::<crate::Error>();
        send::<crate::RowStream<crate::Row>>();
        send::<crate::ItemStream<crate::Row>>();
    }
}
