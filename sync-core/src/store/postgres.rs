//! [`PostgresStore`]: the state store shared by several replicas.
//!
//! Lease checks lock the lease row (`FOR SHARE`) inside the writer's transaction, so a lease
//! cannot change hands between the check and the write it guards: a replica taking over waits
//! for in-flight writes of the old holder to commit, and every later write of the old holder is
//! refused.
//!
//! **One clock.** Lease expiry (acquire, renew, check, and the fence of every write) is judged
//! by the database's clock (`clock_timestamp()`, read after the lease row is locked), never by
//! a replica's: replicas whose clocks disagree still agree on who holds a lease. Record
//! timestamps (run start, audit events) are the writing process's clock.
//!
//! **Timeouts.** Every pooled session runs with `lock_timeout` (default 10 s),
//! `statement_timeout` (default 60 s) and `idle_in_transaction_session_timeout` (default 60 s),
//! so a stalled replica holding the lease row cannot block the others for hours: they fail
//! with [`StoreError::Timeout`] naming the operation and the flow, and PostgreSQL ends the
//! stalled session's transaction.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use super::StoreError;
use super::backend::impl_state_store;
use crate::schedule::Clock;

const MIGRATIONS_TABLE: &str = "ml_connector_state_migrations";

/// Default [`PostgresStoreBuilder::lock_timeout`].
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`PostgresStoreBuilder::statement_timeout`].
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default [`PostgresStoreBuilder::idle_in_transaction_timeout`].
pub const DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);

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
    /// A test clock and its reading when the store was built: the database's clock is moved
    /// by how far it has advanced since.
    test_clock: Option<(Arc<dyn Clock>, DateTime<Utc>)>,
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
    lock_timeout: Duration,
    statement_timeout: Duration,
    idle_in_transaction_timeout: Duration,
    clock: Option<Arc<dyn Clock>>,
}

impl fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: never print it.
        f.debug_struct("PostgresStoreBuilder")
            .field("schema", &self.schema)
            .field("max_connections", &self.max_connections)
            .field("lock_timeout", &self.lock_timeout)
            .field("statement_timeout", &self.statement_timeout)
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
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            idle_in_transaction_timeout: DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT,
            clock: None,
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

    /// The time records are stamped with: the process clock (the test clock when one is
    /// set). Leases are judged by the database's clock in SQL, not by this.
    fn now(&self) -> DateTime<Utc> {
        let now = match &self.test_clock {
            Some((clock, _)) => clock.now(),
            None => Utc::now(),
        };
        super::backend::truncate(now)
    }

    /// How far the test clock moved since the store was built, and whether backwards.
    fn offset(&self) -> Option<(Duration, bool)> {
        let (clock, base) = self.test_clock.as_ref()?;
        let moved = clock.now() - *base;
        Some(match moved.to_std() {
            Ok(d) => (d, false),
            Err(_) => ((-moved).to_std().unwrap_or_default(), true),
        })
    }

    /// The test clock's offset as a PostgreSQL interval, for the database's clock.
    fn clock_offset(&self) -> Option<String> {
        let (d, back) = self.offset()?;
        Some(format!(
            "{}{}.{:06} seconds",
            if back { "-" } else { "" },
            d.as_secs(),
            d.subsec_micros()
        ))
    }

    async fn begin_write(
        &self,
        operation: &'static str,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| StoreError::db(operation, e))?;
        if let Some(offset) = self.clock_offset() {
            sqlx::query("SELECT set_config('ml_connector.clock_offset', $1, true)")
                .bind(offset)
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::db(operation, e))?;
        }
        Ok(tx)
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

    /// A **test** clock (default: none). Leases are always judged by the database's clock;
    /// a clock given here only *moves* it, by as far as this clock has advanced since the
    /// store was built (its absolute time is ignored, so a skewed clock changes nothing).
    /// That lets tests expire leases with [`ManualClock::advance`](crate::schedule::ManualClock::advance)
    /// without waiting. Records (runs, audit events, ledger entries) are stamped with this
    /// clock's time.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// How long a statement waits for a row lock (PostgreSQL `lock_timeout`, default 10 s;
    /// zero waits for ever). When it fires the operation fails with [`StoreError::Timeout`]
    /// instead of blocking behind a stalled session.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), sync_core::store::StoreError> {
    /// use std::time::Duration;
    /// let store = sync_core::store::PostgresStore::builder("postgres://connector@db/connector")
    ///     .lock_timeout(Duration::from_secs(5))
    ///     .statement_timeout(Duration::from_secs(30))
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The longest a statement may run (PostgreSQL `statement_timeout`, default 60 s; zero:
    /// no limit).
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// How long one of this store's sessions may sit idle inside a transaction before
    /// PostgreSQL ends it (`idle_in_transaction_session_timeout`, default 60 s; zero: never),
    /// so a replica paused mid-transaction does not hold the lease row for ever.
    pub fn idle_in_transaction_timeout(mut self, timeout: Duration) -> Self {
        self.idle_in_transaction_timeout = timeout;
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
        let options = options.options([
            ("lock_timeout", millis(self.lock_timeout)),
            ("statement_timeout", millis(self.statement_timeout)),
            (
                "idle_in_transaction_session_timeout",
                millis(self.idle_in_transaction_timeout),
            ),
        ]);
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
            test_clock: self.clock.map(|c| {
                let base = c.now();
                (c, base)
            }),
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

fn millis(d: Duration) -> String {
    format!("{}ms", d.as_millis().min(i32::MAX as u128))
}

fn pg_ts(t: DateTime<Utc>) -> DateTime<Utc> {
    t
}

impl_state_store!(
    store = PostgresStore,
    db = sqlx::Postgres,
    for_share = " FOR SHARE",
    for_update = " FOR UPDATE",
    now_sql = "(clock_timestamp() + COALESCE(NULLIF(current_setting('ml_connector.clock_offset', true), '')::interval, interval '0 seconds'))",
    ts = pg_ts,
);
