//! [`SqliteWarehouse`]: warehouse tables in a SQLite file (the embedded default).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::WarehouseError;
use super::backend::impl_warehouse_sink;
use super::sql::Dialect;

/// A [`WarehouseSink`](super::WarehouseSink) writing a SQLite file (WAL, busy timeout set
/// before WAL, writers with `BEGIN IMMEDIATE`, as the state store).
///
/// # Example
///
/// ```no_run
/// use sync_core::warehouse::{SqliteWarehouse, TableSpec, WarehouseSink};
///
/// # async fn demo() -> Result<(), sync_core::warehouse::WarehouseError> {
/// let warehouse = SqliteWarehouse::open("warehouse.db").await?;
/// warehouse.ensure_tables(&TableSpec::bill()).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SqliteWarehouse {
    pub(super) pool: SqlitePool,
    path: PathBuf,
}

impl fmt::Debug for SqliteWarehouse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteWarehouse")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteWarehouse {
    /// Opens (creating if needed) the warehouse file at `path`.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, WarehouseError> {
        let path = path.as_ref().to_path_buf();
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .busy_timeout(Duration::from_secs(5))
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| WarehouseError::Connect {
                backend: "sqlite",
                target: path.display().to_string(),
                source: Box::new(e),
            })?;
        Ok(Self { pool, path })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }
}

impl_warehouse_sink!(
    store = SqliteWarehouse,
    db = sqlx::Sqlite,
    dialect = Dialect::Sqlite
);
