//! The warehouse sink: Acumatica records upserted into one table per entity, for Looker.
//!
//! Each entity has a [`TableSpec`]: typed columns (keys as text, amounts as exact decimals,
//! dates, timestamps) read from named Acumatica fields, the raw JSON beside them, and
//! optionally a child table of detail lines keyed by parent id and line number. Records are
//! upserted by their Acumatica `id`; a record's lines are replaced with it; an older version
//! never overwrites a newer one (by `LastModifiedDateTime`). Every row says where it came from
//! (`entity`, `endpoint_version`, `last_seen_at`) and carries `deleted_at`, NULL while the
//! record exists in Acumatica, set by a delete scan once it is certainly gone. Each [`WarehouseSink::upsert`]
//! call is one transaction: pass a whole window (or page) and it is written entirely or not at
//! all, so a crash in between loses nothing and, upserts being idempotent, re-running the
//! window duplicates nothing.
//!
//! Backends: [`SqliteWarehouse`] (embedded default) and [`PostgresWarehouse`].
//!
//! # Example
//!
//! ```no_run
//! use serde_json::json;
//! use sync_core::warehouse::{Provenance, SqliteWarehouse, TableSpec, WarehouseSink};
//!
//! # async fn demo() -> Result<(), sync_core::warehouse::WarehouseError> {
//! let warehouse = SqliteWarehouse::open("warehouse.db").await?;
//! let spec = TableSpec::bill();
//! warehouse.ensure_tables(&spec).await?;
//! let page = vec![json!({"id": "0b5c...", "Type": {"value": "Bill"}, "Amount": {"value": 1250.5},
//!                         "Details": [{"Account": {"value": "60000"}, "Amount": {"value": 1250.5}}]})];
//! let records = page.iter().map(|e| spec.record_from_json(e)).collect::<Result<Vec<_>, _>>()?;
//! let summary = warehouse.upsert(&spec, &records, &Provenance::now(Some("24.200.001"))).await?;
//! println!("{} written, {} lines", summary.written, summary.detail_lines);
//! # Ok(())
//! # }
//! ```

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

mod backend;
mod error;
mod postgres;
mod record;
mod spec;
mod sql;
mod sqlite;

pub use error::WarehouseError;
pub use postgres::PostgresWarehouse;
pub use record::{
    DetailRecord, Provenance, RowProvenance, SeenSummary, UpsertSummary, WarehouseRecord,
    WarehouseValue,
};
pub use spec::{ColumnSpec, ColumnType, DetailSpec, TableSpec};
pub use sqlite::SqliteWarehouse;

/// Where Acumatica records land for analysis. Users may bring their own implementation.
///
/// Every row carries its provenance (see [`TableSpec`]): the entity, the endpoint version, when
/// a run last saw it, and `deleted_at`, set by [`mark_deleted`](Self::mark_deleted) once a
/// delete scan is sure the record is gone and cleared when the record is seen again. Rows are
/// never removed except by [`purge_deleted`](Self::purge_deleted).
#[async_trait]
pub trait WarehouseSink: Send + Sync + fmt::Debug {
    /// Creates the entity's table (and detail table) if missing, and adds columns the spec
    /// gained since, and the provenance columns to tables of earlier versions (their `entity`
    /// filled in; the other provenance columns stay NULL until the row is seen again).
    async fn ensure_tables(&self, spec: &TableSpec) -> Result<(), WarehouseError>;

    /// Upserts `records` (all of `spec`'s entity) in one transaction: all or nothing. Each row
    /// written gets `seen`'s provenance and `deleted_at` NULL (its detail lines too); a row not
    /// written because the table holds a newer version still gets `last_seen_at` and loses any
    /// `deleted_at` (the record was just read, so it exists).
    async fn upsert(
        &self,
        spec: &TableSpec,
        records: &[WarehouseRecord],
        seen: &Provenance,
    ) -> Result<UpsertSummary, WarehouseError>;

    /// The raw JSON stored for a record (whether or not it is marked deleted).
    async fn raw_record(&self, spec: &TableSpec, id: &str)
    -> Result<Option<Value>, WarehouseError>;

    /// How many rows the entity's table holds, including rows marked deleted.
    async fn count(&self, spec: &TableSpec) -> Result<u64, WarehouseError>;

    /// The provenance columns of a row, `None` when the table has no such row.
    async fn row_provenance(
        &self,
        spec: &TableSpec,
        id: &str,
    ) -> Result<Option<RowProvenance>, WarehouseError>;

    /// Records that a run saw `ids` at `at` (a delete scan listed them): their `last_seen_at`
    /// moves to `at`, and rows marked deleted lose the mark (with their detail lines). Ids the
    /// table does not hold are ignored. One transaction.
    async fn mark_seen(
        &self,
        spec: &TableSpec,
        ids: &[String],
        at: DateTime<Utc>,
    ) -> Result<SeenSummary, WarehouseError>;

    /// Ids of rows not marked deleted that no run has seen since `since` (or ever): the
    /// candidates of a delete scan that listed every id it could from `since` on.
    async fn unseen_since(
        &self,
        spec: &TableSpec,
        since: DateTime<Utc>,
    ) -> Result<Vec<String>, WarehouseError>;

    /// Marks the rows `ids` deleted at `at`, with their detail lines, unless already marked;
    /// returns how many rows it marked. Only for ids known to be gone from Acumatica. One
    /// transaction.
    async fn mark_deleted(
        &self,
        spec: &TableSpec,
        ids: &[String],
        at: DateTime<Utc>,
    ) -> Result<u64, WarehouseError>;

    /// Removes the rows marked deleted before `before`, with their detail lines; returns how
    /// many rows it removed. One transaction.
    async fn purge_deleted(
        &self,
        spec: &TableSpec,
        before: DateTime<Utc>,
    ) -> Result<u64, WarehouseError>;
}
