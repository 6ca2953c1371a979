//! [`SqliteStore`]: the zero-setup state store in one SQLite file.
//!
//! Each connection sets `busy_timeout` before it switches the file to WAL: sqlx calls
//! `sqlite3_busy_timeout` while establishing the connection and only then runs the
//! `PRAGMA journal_mode = WAL` (sqlx-sqlite `connection/establish.rs`, then
//! `options/connect.rs`), which avoids the "database is locked" race of the reverse order.
//! Writers begin with `BEGIN IMMEDIATE`, so a lease check and the write it guards hold the
//! database's write lock together, and a second writer waits (up to the busy timeout) instead
//! of failing on lock upgrade.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::StoreError;
use super::backend::impl_state_store;
use crate::schedule::{Clock, SystemClock};

/// Name of the table recording applied migrations (not sqlx's default, so the store can share a
/// database with an application's own sqlx migrations).
const MIGRATIONS_TABLE: &str = "ml_connector_state_migrations";

/// A [`StateStore`](super::StateStore) in a SQLite file (WAL mode).
///
/// Suits one process (or several on one host). For replicas on different hosts use
/// [`PostgresStore`](super::PostgresStore).
///
/// # Example
///
/// ```no_run
/// use std::time::Duration;
/// use sync_core::store::SqliteStore;
///
/// # async fn demo() -> Result<(), sync_core::store::StoreError> {
/// let store = SqliteStore::builder("/var/lib/ml-connector/state.db")
///     .busy_timeout(Duration::from_secs(10))
///     .build()
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    pub(super) pool: SqlitePool,
    pub(super) clock: Arc<dyn Clock>,
    path: PathBuf,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Builds a [`SqliteStore`]; see [`SqliteStore::builder`].
#[derive(Debug, Clone)]
pub struct SqliteStoreBuilder {
    path: PathBuf,
    busy_timeout: Duration,
    max_connections: u32,
    clock: Arc<dyn Clock>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path` with default settings, and migrates it.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::builder(path).build().await
    }

    /// Starts building a store at `path`.
    pub fn builder(path: impl AsRef<Path>) -> SqliteStoreBuilder {
        SqliteStoreBuilder {
            path: path.as_ref().to_path_buf(),
            busy_timeout: Duration::from_secs(5),
            max_connections: 4,
            clock: Arc::new(SystemClock),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the connections (pending writes finish first).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The time records are stamped with and leases are judged by: the process clock (or the
    /// test clock): one machine shares one clock.
    fn now(&self) -> DateTime<Utc> {
        super::backend::truncate(self.clock.now())
    }

    /// SQLite has no database clock to offset.
    #[allow(clippy::unused_self)]
    fn clock_offset(&self) -> Option<String> {
        None
    }

    async fn begin_write(
        &self,
        operation: &'static str,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| StoreError::db(operation, e))
    }
}

impl SqliteStoreBuilder {
    /// How long a connection waits for another writer's lock before failing (default 5 s, at
    /// most one hour).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// The most connections kept open (default 4; at least 1).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n;
        self
    }

    /// The clock for lease expiry and timestamps (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Opens the file (creating it when missing), applies the migrations and returns the store.
    pub async fn build(self) -> Result<SqliteStore, StoreError> {
        if self.max_connections == 0 {
            return Err(StoreError::invalid(
                "max_connections",
                "0 connections cannot serve anything; use at least 1",
            ));
        }
        if self.busy_timeout > Duration::from_secs(3600) {
            // SQLite takes the timeout as i32 milliseconds; an hour is already far too long to
            // hold a flow waiting on a lock.
            return Err(StoreError::invalid(
                "busy_timeout",
                format!("{:?} is too long; use at most one hour", self.busy_timeout),
            ));
        }
        let target = self.path.display().to_string();
        let options = SqliteConnectOptions::new()
            .filename(&self.path)
            .create_if_missing(true)
            .busy_timeout(self.busy_timeout)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(self.max_connections)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Connect {
                backend: "sqlite",
                target: target.clone(),
                source: Box::new(e),
            })?;
        let mut migrator = sqlx::migrate!("./migrations/sqlite");
        migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
        migrator.run(&pool).await.map_err(|e| StoreError::Migrate {
            backend: "sqlite",
            source: Box::new(e),
        })?;
        tracing::debug!(path = %target, "sqlite state store ready");
        Ok(SqliteStore {
            pool,
            clock: self.clock,
            path: self.path,
        })
    }
}

/// SQLite keeps timestamps as text: a fixed width (microseconds, `Z`) keeps their text order
/// equal to their time order.
fn sqlite_ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl_state_store!(
    store = SqliteStore,
    db = sqlx::Sqlite,
    for_share = "",
    for_update = "",
    now_sql = "NULL",
    ts = sqlite_ts,
);
