//! The one [`WarehouseSink`](super::WarehouseSink) implementation, expanded for each sqlx
//! backend by [`impl_warehouse_sink!`] (as the state store does), so both run the same logic.

use super::spec::ColumnSpec;
use super::{ColumnType, WarehouseValue};

/// How a typed value is bound: integers and flags natively, everything else as text.
pub(super) enum Bind {
    Text(Option<String>),
    Integer(Option<i64>),
    Boolean(Option<bool>),
}

pub(super) fn bind_value(spec: &ColumnSpec, values: &[(String, WarehouseValue)]) -> Bind {
    let value = values
        .iter()
        .find(|(name, _)| *name == spec.name)
        .map(|(_, v)| v)
        .unwrap_or(&WarehouseValue::Null);
    match (spec.ty, value) {
        (ColumnType::Integer, WarehouseValue::Integer(i)) => Bind::Integer(Some(*i)),
        (ColumnType::Integer, _) => Bind::Integer(None),
        (ColumnType::Boolean, WarehouseValue::Boolean(b)) => Bind::Boolean(Some(*b)),
        (ColumnType::Boolean, _) => Bind::Boolean(None),
        (_, v) => Bind::Text(v.as_text()),
    }
}

macro_rules! impl_warehouse_sink {
    (store = $store:ty, db = $db:ty, dialect = $dialect:expr $(,)?) => {
        mod warehouse_sink_impl {
            use async_trait::async_trait;
            use chrono::Utc;
            use serde_json::Value;
            use sqlx::types::Json;

            use super::super::backend::{Bind, bind_value};
            use super::super::sql;
            use super::super::{TableSpec, UpsertSummary, WarehouseError, WarehouseRecord, WarehouseSink};
            use super::*;

            fn db(operation: &'static str, table: &str) -> impl Fn(sqlx::Error) -> WarehouseError {
                let table = table.to_owned();
                move |e| WarehouseError::Database {
                    operation,
                    table: table.clone(),
                    source: Box::new(e),
                }
            }

            type Args = <$db as sqlx::Database>::Arguments;

            fn push<'q>(
                q: sqlx::query::Query<'q, $db, Args>,
                b: Bind,
            ) -> sqlx::query::Query<'q, $db, Args> {
                match b {
                    Bind::Text(v) => q.bind(v),
                    Bind::Integer(v) => q.bind(v),
                    Bind::Boolean(v) => q.bind(v),
                }
            }

            impl $store {
                async fn existing_columns(&self, table: &str) -> Result<Vec<String>, WarehouseError> {
                    sqlx::query_scalar($dialect.columns_query())
                        .bind(table)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db("ensure_tables", table))
                }
            }

            #[async_trait]
            impl WarehouseSink for $store {
                async fn ensure_tables(&self, spec: &TableSpec) -> Result<(), WarehouseError> {
                    spec.validate()?;
                    let mut tx = self.pool.begin().await.map_err(db("ensure_tables", &spec.table))?;
                    for statement in sql::create_table($dialect, spec) {
                        sqlx::query(sqlx::AssertSqlSafe(statement))
                            .execute(&mut *tx)
                            .await
                            .map_err(db("ensure_tables", &spec.table))?;
                    }
                    tx.commit().await.map_err(db("ensure_tables", &spec.table))?;
                    // Columns added to a spec after its table was created are added too.
                    let mut tables = vec![(&spec.table, &spec.columns)];
                    if let Some(d) = &spec.details {
                        tables.push((&d.table, &d.columns));
                    }
                    for (table, columns) in tables {
                        let existing = self.existing_columns(table).await?;
                        for c in columns.iter().filter(|c| !existing.contains(&c.name)) {
                            tracing::info!(table = %table, column = %c.name, "adding warehouse column");
                            sqlx::query(sqlx::AssertSqlSafe(sql::add_column($dialect, table, c)))
                                .execute(&self.pool)
                                .await
                                .map_err(db("ensure_tables", table))?;
                        }
                    }
                    Ok(())
                }

                #[tracing::instrument(level = "debug", skip(self, spec, records), fields(table = %spec.table, records = records.len()), err)]
                async fn upsert(
                    &self,
                    spec: &TableSpec,
                    records: &[WarehouseRecord],
                ) -> Result<UpsertSummary, WarehouseError> {
                    spec.validate()?;
                    for r in records {
                        spec.check_record(r)?;
                    }
                    const OP: &str = "upsert";
                    let table = &spec.table;
                    let upsert_sql = sql::upsert($dialect, spec);
                    let detail_sql = spec.details.as_ref().map(|d| (sql::delete_details(d), sql::insert_detail($dialect, d)));
                    let synced_at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
                    let mut summary = UpsertSummary::default();
                    let mut tx = self.begin_write().await.map_err(db(OP, table))?;
                    for r in records {
                        let raw: &Value = &r.raw;
                        let last_modified = r
                            .last_modified
                            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
                        let mut q = sqlx::query(sqlx::AssertSqlSafe(upsert_sql.as_str()))
                            .bind(r.id.as_str())
                            .bind(last_modified)
                            .bind(synced_at.as_str())
                            .bind(Json(raw));
                        for c in &spec.columns {
                            q = push(q, bind_value(c, &r.columns));
                        }
                        let done = q.execute(&mut *tx).await.map_err(db(OP, table))?;
                        if done.rows_affected() == 0 {
                            // The table holds a newer version: keep it, and its lines.
                            summary.stale += 1;
                            continue;
                        }
                        summary.written += 1;
                        if let (Some(d), Some((delete, insert))) = (&spec.details, &detail_sql) {
                            sqlx::query(sqlx::AssertSqlSafe(delete.as_str()))
                                .bind(r.id.as_str())
                                .execute(&mut *tx)
                                .await
                                .map_err(db(OP, &d.table))?;
                            for line in &r.details {
                                let mut q = sqlx::query(sqlx::AssertSqlSafe(insert.as_str()))
                                    .bind(r.id.as_str())
                                    .bind(line.line_nbr)
                                    .bind(line.id.as_deref())
                                    .bind(Json(&line.raw));
                                for c in &d.columns {
                                    q = push(q, bind_value(c, &line.columns));
                                }
                                q.execute(&mut *tx).await.map_err(db(OP, &d.table))?;
                                summary.detail_lines += 1;
                            }
                        }
                    }
                    tx.commit().await.map_err(db(OP, table))?;
                    Ok(summary)
                }

                async fn raw_record(&self, spec: &TableSpec, id: &str) -> Result<Option<Value>, WarehouseError> {
                    spec.validate()?;
                    let row: Option<Json<Value>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT \"raw\" FROM \"{}\" WHERE \"id\" = $1",
                        spec.table
                    )))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db("raw_record", &spec.table))?;
                    Ok(row.map(|j| j.0))
                }

                async fn count(&self, spec: &TableSpec) -> Result<u64, WarehouseError> {
                    spec.validate()?;
                    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT COUNT(*) FROM \"{}\"",
                        spec.table
                    )))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db("count", &spec.table))?;
                    Ok(u64::try_from(n).unwrap_or_default())
                }
            }
        }
    };
}

pub(super) use impl_warehouse_sink;
