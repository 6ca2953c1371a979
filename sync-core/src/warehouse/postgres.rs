//! [`PostgresWarehouse`]: warehouse tables in PostgreSQL (a database Looker can connect to).

use std::fmt;
use std::str::FromStr;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use super::WarehouseError;
use super::backend::impl_warehouse_sink;
use super::sql::Dialect;

/// A [`WarehouseSink`](super::WarehouseSink) writing PostgreSQL: amounts in NUMERIC, dates in
/// DATE, timestamps in TIMESTAMPTZ, the raw JSON in JSONB.
///
/// # Example
///
/// ```no_run
/// use sync_core::warehouse::{PostgresWarehouse, TableSpec, WarehouseSink};
///
/// # async fn demo() -> Result<(), sync_core::warehouse::WarehouseError> {
/// let warehouse = PostgresWarehouse::connect("postgres://etl@warehouse/analytics", Some("acumatica")).await?;
/// warehouse.ensure_tables(&TableSpec::journal_transaction()).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresWarehouse {
    pub(super) pool: PgPool,
    target: String,
    schema: Option<String>,
}

impl fmt::Debug for PostgresWarehouse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresWarehouse")
            .field("target", &self.target)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl PostgresWarehouse {
    /// Connects to `url`; with `schema`, the tables live in that schema (created if missing).
    pub async fn connect(url: &str, schema: Option<&str>) -> Result<Self, WarehouseError> {
        if let Some(s) = schema {
            let ok = s
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && s.len() <= 63;
            if !ok {
                return Err(WarehouseError::InvalidSpec {
                    entity: String::new(),
                    reason: format!(
                        "schema name {s:?} is not a plain identifier; use up to 63 ASCII letters, digits and `_`"
                    ),
                });
            }
        }
        let options = PgConnectOptions::from_str(url).map_err(|_| WarehouseError::Connect {
            backend: "postgres",
            target: "<url>".to_owned(),
            source: "the URL is not a valid postgres:// URL".into(),
        })?;
        let target = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("(default database)")
        );
        let connect_err = |e: sqlx::Error| WarehouseError::Connect {
            backend: "postgres",
            target: target.clone(),
            source: Box::new(e),
        };
        let mut conn = PgConnection::connect_with(&options)
            .await
            .map_err(connect_err)?;
        if let Some(s) = schema {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS \"{s}\""
            )))
            .execute(&mut conn)
            .await
            .map_err(connect_err)?;
        }
        conn.close().await.map_err(connect_err)?;
        let options = match schema {
            Some(s) => options.options([("search_path", s)]),
            None => options,
        };
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        Ok(Self {
            pool,
            target,
            schema: schema.map(str::to_owned),
        })
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
}

impl_warehouse_sink!(
    store = PostgresWarehouse,
    db = sqlx::Postgres,
    dialect = Dialect::Postgres
);
