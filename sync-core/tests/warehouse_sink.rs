//! The warehouse sink suite against SQLite and PostgreSQL (the latter skipped without
//! `ML_CONNECTOR_TEST_POSTGRES_URL`), plus column-type checks per backend.

mod warehouse_suite;

use async_trait::async_trait;
use sqlx::Row as _;
use sync_core::warehouse::{PostgresWarehouse, SqliteWarehouse, TableSpec, WarehouseSink};
use warehouse_suite::Peek;

mod sqlite {
    use super::*;

    pub struct SqlitePeek {
        pub pool: sqlx::SqlitePool,
        pub _dir: tempfile::TempDir,
    }

    #[async_trait]
    impl Peek for SqlitePeek {
        async fn texts(&self, sql: &str) -> Vec<Vec<Option<String>>> {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_all(&self.pool)
                .await
                .unwrap();
            rows.iter()
                .map(|r| {
                    (0..r.len())
                        .map(|i| r.try_get::<Option<String>, _>(i).unwrap())
                        .collect()
                })
                .collect()
        }
        async fn exec(&self, sql: &str) {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&self.pool)
                .await
                .unwrap();
        }
    }

    pub async fn make() -> Option<(Box<dyn WarehouseSink>, Box<dyn Peek>)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("warehouse.db");
        let sink = SqliteWarehouse::open(&path).await.unwrap();
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        Some((Box::new(sink), Box::new(SqlitePeek { pool, _dir: dir })))
    }

    warehouse_suite_tests!(make);
}

mod postgres {
    use super::*;

    pub struct PgPeek {
        pub pool: sqlx::PgPool,
    }

    #[async_trait]
    impl Peek for PgPeek {
        async fn texts(&self, sql: &str) -> Vec<Vec<Option<String>>> {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_all(&self.pool)
                .await
                .unwrap();
            rows.iter()
                .map(|r| {
                    (0..r.len())
                        .map(|i| r.try_get::<Option<String>, _>(i).unwrap())
                        .collect()
                })
                .collect()
        }
        fn json_type(&self) -> &'static str {
            "JSONB"
        }
        async fn exec(&self, sql: &str) {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&self.pool)
                .await
                .unwrap();
        }
    }

    pub fn url() -> Option<String> {
        match std::env::var("ML_CONNECTOR_TEST_POSTGRES_URL") {
            Ok(u) if !u.trim().is_empty() => Some(u),
            _ => {
                println!("skipped: ML_CONNECTOR_TEST_POSTGRES_URL not set");
                None
            }
        }
    }

    pub async fn connect() -> Option<(PostgresWarehouse, PgPeek)> {
        let url = url()?;
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let sink = PostgresWarehouse::connect(&url, Some(&schema))
            .await
            .unwrap();
        let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options.options([("search_path", schema.as_str())]))
            .await
            .unwrap();
        Some((sink, PgPeek { pool }))
    }

    pub async fn make() -> Option<(Box<dyn WarehouseSink>, Box<dyn Peek>)> {
        let (sink, peek) = connect().await?;
        Some((Box::new(sink), Box::new(peek)))
    }

    warehouse_suite_tests!(make);

    /// Looker reads typed columns: amounts NUMERIC (never floating point), dates DATE, JSONB.
    #[tokio::test]
    async fn columns_have_exact_sql_types() {
        let Some((sink, peek)) = connect().await else {
            return;
        };
        sink.ensure_tables(&TableSpec::bill()).await.unwrap();
        let types = peek
            .texts(
                "SELECT column_name::text, data_type::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = 'acumatica_bill' \
                 AND column_name IN ('amount', 'date', 'raw', 'last_modified', 'hold') ORDER BY column_name",
            )
            .await;
        let got: Vec<(String, String)> = types
            .into_iter()
            .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("amount".to_owned(), "numeric".to_owned()),
                ("date".to_owned(), "date".to_owned()),
                ("hold".to_owned(), "boolean".to_owned()),
                (
                    "last_modified".to_owned(),
                    "timestamp with time zone".to_owned()
                ),
                ("raw".to_owned(), "jsonb".to_owned()),
            ]
        );
    }
}
