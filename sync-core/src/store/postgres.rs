//! [`PostgresStore`]: the state store shared by several replicas.
//!
//! Lease checks lock the lease row (`FOR SHARE`) inside the writer's transaction, so a lease
//! cannot change hands between the check and the write it guards: a replica taking over waits
//! for in-flight writes of the old holder to commit, and every later write of the old holder is
//! refused.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use super::StoreError;
use super::backend::impl_state_store;
use crate::schedule::{Clock, SystemClock};

const MIGRATIONS_TABLE: &str = "ml_connector_state_migrations";

/// A [`StateStore`](super::StateStore) in PostgreSQL.
///
/// # Example
///
/// ```no_run
/// use sync_core::store::PostgresStore;
///
/// # async fn demo() -> Result<(), sync_core::store::StoreError> {
/// let store = PostgresStore::builder("postgres://connector@db.internal/connector")
///     .schema("ml_connector")
///     .build()
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pub(super) pool: PgPool,
    pub(super) clock: Arc<dyn Clock>,
    target: String,
    schema: Option<String>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.target)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// Builds a [`PostgresStore`]; see [`PostgresStore::builder`].
#[derive(Clone)]
pub struct PostgresStoreBuilder {
    url: String,
    schema: Option<String>,
    max_connections: u32,
    acquire_timeout: Duration,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: never print it.
        f.debug_struct("PostgresStoreBuilder")
            .field("schema", &self.schema)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url` with default settings and migrates the schema.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder(url).build().await
    }

    /// Starts building a store for the database at `url`
    /// (`postgres://user[:password]@host[:port]/database`).
    pub fn builder(url: impl Into<String>) -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            url: url.into(),
            schema: None,
            max_connections: 8,
            acquire_timeout: Duration::from_secs(30),
            clock: Arc::new(SystemClock),
        }
    }

    /// The schema the tables live in, when one was set.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Closes the connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin_write(
        &self,
        operation: &'static str,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        self.pool
            .begin()
            .await
            .map_err(|e| StoreError::db(operation, e))
    }
}

impl PostgresStoreBuilder {
    /// Keeps the tables in `schema` (created when missing) instead of the user's default
    /// `search_path`. Letters, digits and `_` only, not starting with a digit.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The most connections kept open (default 8).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n;
        self
    }

    /// How long to wait for a free connection (default 30 s).
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// The clock for lease expiry and timestamps (default: the system clock). Replicas must
    /// keep their clocks in sync to well within the lease TTL.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Connects, creates the schema if asked, applies the migrations and returns the store.
    pub async fn build(self) -> Result<PostgresStore, StoreError> {
        if self.max_connections == 0 {
            return Err(StoreError::invalid(
                "max_connections",
                "0 connections cannot serve anything; use at least 1",
            ));
        }
        if let Some(schema) = &self.schema {
            validate_schema(schema)?;
        }
        let options =
            PgConnectOptions::from_str(&self.url).map_err(|e| StoreError::InvalidInput {
                what: "PostgreSQL URL",
                reason: format!(
                    "{}; expected postgres://user[:password]@host[:port]/database",
                    redact_url_error(&e.to_string(), &self.url)
                ),
            })?;
        let target = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("(default database)")
        );
        let connect_err = |e: sqlx::Error| StoreError::Connect {
            backend: "postgres",
            target: target.clone(),
            source: Box::new(e),
        };
        // One direct connection first: it fails fast on a wrong host or password (a pool would
        // keep retrying until its acquire timeout), and creates the schema when one is set.
        let mut conn = PgConnection::connect_with(&options)
            .await
            .map_err(connect_err)?;
        if let Some(schema) = &self.schema {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
            )))
            .execute(&mut conn)
            .await
            .map_err(connect_err)?;
        }
        conn.close().await.map_err(connect_err)?;
        let options = match &self.schema {
            None => options,
            Some(schema) => options.options([("search_path", schema.as_str())]),
        };
        let pool = PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        let mut migrator = sqlx::migrate!("./migrations/postgres");
        migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
        migrator.run(&pool).await.map_err(|e| StoreError::Migrate {
            backend: "postgres",
            source: Box::new(e),
        })?;
        tracing::debug!(target = %target, schema = ?self.schema, "postgres state store ready");
        Ok(PostgresStore {
            pool,
            clock: self.clock,
            target,
            schema: self.schema,
        })
    }
}

fn validate_schema(schema: &str) -> Result<(), StoreError> {
    let mut chars = schema.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok
        || !schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        || schema.len() > 63
    {
        return Err(StoreError::invalid(
            "schema name",
            format!(
                "{schema:?} is not a plain identifier; use up to 63 ASCII letters, digits and `_`, not starting with a digit"
            ),
        ));
    }
    Ok(())
}

/// Drivers may echo the URL in parse errors; strip it so a password never reaches an error.
fn redact_url_error(message: &str, url: &str) -> String {
    if url.is_empty() {
        message.to_owned()
    } else {
        message.replace(url, "<url>")
    }
}

fn pg_ts(t: DateTime<Utc>) -> DateTime<Utc> {
    t
}

impl_state_store!(
    store = PostgresStore,
    db = sqlx::Postgres,
    for_share = " FOR SHARE",
    for_update = " FOR UPDATE",
    ts = pg_ts,
);
