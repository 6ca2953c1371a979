//! The one [`WarehouseSink`](super::WarehouseSink) implementation, expanded for each sqlx
//! backend by [`impl_warehouse_sink!`] (as the state store does), so both run the same logic.

use super::spec::{ColumnSpec, PROVENANCE_COLUMNS};
use std::collections::HashSet;

use super::{ColumnType, Provenance, WarehouseRecord, WarehouseValue};

/// How a typed value is bound: integers and flags natively, everything else as text.
#[derive(Clone)]
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

/// A timestamp as the warehouse binds it (RFC 3339 UTC, microseconds: text that sorts in time
/// order on SQLite, cast to TIMESTAMPTZ on PostgreSQL).
pub(super) fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The binds of the provenance columns, in [`PROVENANCE_COLUMNS`] order, for rows of `entity`
/// written now: `deleted_at` is NULL (the record was just read).
pub(super) fn provenance_binds(entity: &str, seen: &Provenance) -> Vec<Bind> {
    PROVENANCE_COLUMNS
        .iter()
        .map(|(name, _)| match *name {
            "entity" => Bind::Text(Some(entity.to_owned())),
            "endpoint_version" => Bind::Text(seen.endpoint_version.clone()),
            "last_seen_at" => Bind::Text(Some(stamp(seen.seen_at))),
            _ => Bind::Text(None),
        })
        .collect()
}

/// `records` cut into runs in which each id appears once, in order: a multi-row upsert may not
/// touch a row twice (PostgreSQL refuses it), and a later copy of an id must meet the earlier
/// one already written, as when records are written one by one.
pub(super) fn distinct_runs(records: &[WarehouseRecord]) -> Vec<&[WarehouseRecord]> {
    let mut runs = Vec::new();
    let mut ids: HashSet<&str> = HashSet::new();
    let mut start = 0;
    for (i, r) in records.iter().enumerate() {
        if !ids.insert(r.id.as_str()) {
            runs.push(&records[start..i]);
            ids.clear();
            ids.insert(r.id.as_str());
            start = i;
        }
    }
    if start < records.len() {
        runs.push(&records[start..]);
    }
    runs
}

macro_rules! impl_warehouse_sink {
    (store = $store:ty, db = $db:ty, dialect = $dialect:expr $(,)?) => {
        mod warehouse_sink_impl {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use serde_json::Value;
            use sqlx::Row as _;
            use sqlx::types::Json;

            use super::super::backend::{Bind, bind_value, distinct_runs, provenance_binds, stamp};
            use super::super::sql;
            use super::super::{
                Provenance, RowProvenance, SeenSummary, TableSpec, UpsertSummary, WarehouseError,
                WarehouseRecord, WarehouseSink,
            };
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

            /// Runs an id-list statement (`sql(n)` for `n` ids, after the `lead` binds) over
            /// `ids` in chunks inside `tx`; returns the rows affected.
            async fn by_ids(
                tx: &mut sqlx::Transaction<'static, $db>,
                ids: &[String],
                lead: Option<&str>,
                statement: impl Fn(usize) -> String + Send + Sync,
                operation: &'static str,
                table: &str,
            ) -> Result<u64, WarehouseError> {
                let mut affected = 0;
                for chunk in ids.chunks(sql::IDS_PER_STATEMENT) {
                    let text = statement(chunk.len());
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(text.as_str()));
                    if let Some(lead) = lead {
                        q = q.bind(lead);
                    }
                    for id in chunk {
                        q = q.bind(id.as_str());
                    }
                    affected += q.execute(&mut **tx).await.map_err(db(operation, table))?.rows_affected();
                }
                Ok(affected)
            }

            impl $store {
                async fn existing_columns(&self, table: &str) -> Result<Vec<String>, WarehouseError> {
                    sqlx::query_scalar($dialect.columns_query())
                        .bind(table)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db("ensure_tables", table))
                }

                /// Replaces the detail lines of the `written` records: one delete of their old
                /// lines, then multi-row inserts of the new ones; returns the lines written.
                async fn replace_details(
                    tx: &mut sqlx::Transaction<'static, $db>,
                    spec: &TableSpec,
                    d: &super::super::DetailSpec,
                    written: &[&WarehouseRecord],
                    seen: &Provenance,
                ) -> Result<u64, WarehouseError> {
                    const OP: &str = "upsert";
                    if written.is_empty() {
                        return Ok(0);
                    }
                    let ids: Vec<String> = written.iter().map(|r| r.id.clone()).collect();
                    by_ids(tx, &ids, None, |n| sql::delete_details(d, n), OP, &d.table).await?;
                    let lines: Vec<(&str, &super::super::DetailRecord)> = written
                        .iter()
                        .flat_map(|r| r.details.iter().map(move |l| (r.id.as_str(), l)))
                        .collect();
                    let rows = sql::rows_per_statement(sql::detail_row_params(d));
                    let provenance = provenance_binds(&spec.entity, seen);
                    for chunk in lines.chunks(rows) {
                        let text = sql::insert_details($dialect, d, chunk.len());
                        let mut q = sqlx::query(sqlx::AssertSqlSafe(text.as_str())).persistent(false);
                        for (parent, line) in chunk {
                            q = q
                                .bind(*parent)
                                .bind(line.line_nbr)
                                .bind(line.id.as_deref())
                                .bind(Json(&line.raw));
                            for b in &provenance {
                                q = push(q, b.clone());
                            }
                            for c in &d.columns {
                                q = push(q, bind_value(c, &line.columns));
                            }
                        }
                        q.execute(&mut **tx).await.map_err(db(OP, &d.table))?;
                    }
                    Ok(lines.len() as u64)
                }

                /// Clears `deleted_at` of the rows `ids` and of their detail lines; returns
                /// how many rows had it.
                async fn undelete(
                    tx: &mut sqlx::Transaction<'static, $db>,
                    spec: &TableSpec,
                    ids: &[String],
                    op: &'static str,
                ) -> Result<u64, WarehouseError> {
                    let n = by_ids(tx, ids, None, |n| sql::undelete(&spec.table, "id", n), op, &spec.table).await?;
                    if let Some(d) = &spec.details && n > 0 {
                        by_ids(tx, ids, None, |n| sql::undelete(&d.table, "parent_id", n), op, &d.table).await?;
                    }
                    Ok(n)
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
                    // Tables of earlier versions gain the provenance columns, and columns added
                    // to a spec after its table was created are added too.
                    let mut tables = vec![(&spec.table, &spec.columns)];
                    if let Some(d) = &spec.details {
                        tables.push((&d.table, &d.columns));
                    }
                    for (table, columns) in tables {
                        let existing = self.existing_columns(table).await?;
                        for (name, ty) in sql::added_columns(columns) {
                            if existing.iter().any(|e| e == name) {
                                continue;
                            }
                            tracing::info!(table = %table, column = %name, "adding warehouse column");
                            sqlx::query(sqlx::AssertSqlSafe(sql::add_column($dialect, table, name, ty)))
                                .execute(&self.pool)
                                .await
                                .map_err(db("ensure_tables", table))?;
                            if name == "entity" {
                                sqlx::query(sqlx::AssertSqlSafe(sql::backfill_entity(table)))
                                    .bind(spec.entity.as_str())
                                    .execute(&self.pool)
                                    .await
                                    .map_err(db("ensure_tables", table))?;
                            }
                        }
                    }
                    Ok(())
                }

                #[tracing::instrument(level = "debug", skip(self, spec, records, seen), fields(table = %spec.table, records = records.len()), err)]
                async fn upsert(
                    &self,
                    spec: &TableSpec,
                    records: &[WarehouseRecord],
                    seen: &Provenance,
                ) -> Result<UpsertSummary, WarehouseError> {
                    spec.validate()?;
                    for r in records {
                        spec.check_record(r)?;
                    }
                    const OP: &str = "upsert";
                    let table = &spec.table;
                    let synced_at = stamp(Utc::now());
                    let mut summary = UpsertSummary::default();
                    let mut stale_ids = Vec::new();
                    let mut tx = self.begin_write().await.map_err(db(OP, table))?;
                    // Multi-row statements; a run of records holds each id once, so a later
                    // copy of an id is compared with the earlier one, as one by one.
                    let rows = sql::rows_per_statement(sql::upsert_row_params(spec));
                    let provenance = provenance_binds(&spec.entity, seen);
                    for run in distinct_runs(records) {
                        for chunk in run.chunks(rows) {
                            let text = sql::upsert_rows($dialect, spec, chunk.len());
                            // Not cached: a statement of up to 1,000 rows is large, and each
                            // row count is another text.
                            let mut q = sqlx::query(sqlx::AssertSqlSafe(text.as_str())).persistent(false);
                            for r in chunk {
                                q = q
                                    .bind(r.id.as_str())
                                    .bind(r.last_modified.map(stamp))
                                    .bind(synced_at.as_str())
                                    .bind(Json(&r.raw));
                                for b in &provenance {
                                    q = push(q, b.clone());
                                }
                                for c in &spec.columns {
                                    q = push(q, bind_value(c, &r.columns));
                                }
                            }
                            let returned = q.fetch_all(&mut *tx).await.map_err(db(OP, table))?;
                            let mut written_ids = std::collections::HashSet::with_capacity(returned.len());
                            for row in &returned {
                                let id: String = row.try_get(0).map_err(db(OP, table))?;
                                written_ids.insert(id);
                            }
                            let mut written: Vec<&WarehouseRecord> = Vec::with_capacity(chunk.len());
                            for r in chunk {
                                if written_ids.contains(&r.id) {
                                    written.push(r);
                                } else {
                                    // The table holds a newer version: keep it, and its lines.
                                    stale_ids.push(r.id.clone());
                                }
                            }
                            summary.written += written.len() as u64;
                            summary.stale += (chunk.len() - written.len()) as u64;
                            if let Some(d) = &spec.details {
                                summary.detail_lines += Self::replace_details(&mut tx, spec, d, &written, seen).await?;
                            }
                        }
                    }
                    if !stale_ids.is_empty() {
                        // Read just now, so it exists, even though its newer version stays.
                        Self::undelete(&mut tx, spec, &stale_ids, OP).await?;
                        let at = stamp(seen.seen_at);
                        by_ids(&mut tx, &stale_ids, Some(&at), |n| sql::mark_seen($dialect, table, n), OP, table).await?;
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

                async fn row_provenance(
                    &self,
                    spec: &TableSpec,
                    id: &str,
                ) -> Result<Option<RowProvenance>, WarehouseError> {
                    spec.validate()?;
                    let err = db("row_provenance", &spec.table);
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql::row_provenance(&spec.table)))
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(&err)?;
                    let Some(row) = row else { return Ok(None) };
                    Ok(Some(RowProvenance {
                        entity: row.try_get("entity").map_err(&err)?,
                        endpoint_version: row.try_get("endpoint_version").map_err(&err)?,
                        last_seen_at: row.try_get::<Option<DateTime<Utc>>, _>("last_seen_at").map_err(&err)?,
                        deleted_at: row.try_get::<Option<DateTime<Utc>>, _>("deleted_at").map_err(&err)?,
                    }))
                }

                async fn mark_seen(
                    &self,
                    spec: &TableSpec,
                    ids: &[String],
                    at: DateTime<Utc>,
                ) -> Result<SeenSummary, WarehouseError> {
                    spec.validate()?;
                    const OP: &str = "mark_seen";
                    if ids.is_empty() {
                        return Ok(SeenSummary::default());
                    }
                    let mut tx = self.begin_write().await.map_err(db(OP, &spec.table))?;
                    let undeleted = Self::undelete(&mut tx, spec, ids, OP).await?;
                    let at = stamp(at);
                    let seen = by_ids(&mut tx, ids, Some(&at), |n| sql::mark_seen($dialect, &spec.table, n), OP, &spec.table).await?;
                    tx.commit().await.map_err(db(OP, &spec.table))?;
                    Ok(SeenSummary { seen, undeleted })
                }

                async fn unseen_since(
                    &self,
                    spec: &TableSpec,
                    since: DateTime<Utc>,
                ) -> Result<Vec<String>, WarehouseError> {
                    spec.validate()?;
                    sqlx::query_scalar(sqlx::AssertSqlSafe(sql::unseen($dialect, &spec.table)))
                        .bind(stamp(since))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db("unseen_since", &spec.table))
                }

                async fn mark_deleted(
                    &self,
                    spec: &TableSpec,
                    ids: &[String],
                    at: DateTime<Utc>,
                ) -> Result<u64, WarehouseError> {
                    spec.validate()?;
                    const OP: &str = "mark_deleted";
                    if ids.is_empty() {
                        return Ok(0);
                    }
                    let at = stamp(at);
                    let mut tx = self.begin_write().await.map_err(db(OP, &spec.table))?;
                    let marked = by_ids(&mut tx, ids, Some(&at), |n| sql::mark_deleted($dialect, &spec.table, "id", n), OP, &spec.table).await?;
                    if let Some(d) = &spec.details {
                        by_ids(&mut tx, ids, Some(&at), |n| sql::mark_deleted($dialect, &d.table, "parent_id", n), OP, &d.table).await?;
                    }
                    tx.commit().await.map_err(db(OP, &spec.table))?;
                    Ok(marked)
                }

                async fn purge_deleted(
                    &self,
                    spec: &TableSpec,
                    before: DateTime<Utc>,
                ) -> Result<u64, WarehouseError> {
                    spec.validate()?;
                    const OP: &str = "purge_deleted";
                    let before = stamp(before);
                    let mut tx = self.begin_write().await.map_err(db(OP, &spec.table))?;
                    if let Some(d) = &spec.details {
                        sqlx::query(sqlx::AssertSqlSafe(sql::purge_details($dialect, spec, d)))
                            .bind(before.as_str())
                            .execute(&mut *tx)
                            .await
                            .map_err(db(OP, &d.table))?;
                    }
                    let purged = sqlx::query(sqlx::AssertSqlSafe(sql::purge($dialect, &spec.table)))
                        .bind(before.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(db(OP, &spec.table))?
                        .rows_affected();
                    tx.commit().await.map_err(db(OP, &spec.table))?;
                    Ok(purged)
                }
            }
        }
    };
}

pub(super) use impl_warehouse_sink;
