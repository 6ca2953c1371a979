//! The warehouse sink: Acumatica records upserted into one table per entity, for Looker.
//!
//! Each entity has a [`TableSpec`]: typed columns (keys as text, amounts as exact decimals,
//! dates, timestamps) read from named Acumatica fields, the raw JSON beside them, and
//! optionally a child table of detail lines keyed by parent id and line number. Records are
//! upserted by their Acumatica `id`; a record's lines are replaced with it; an older version
//! never overwrites a newer one (by `LastModifiedDateTime`). Each [`WarehouseSink::upsert`]
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
//! use sync_core::warehouse::{SqliteWarehouse, TableSpec, WarehouseSink};
//!
//! # async fn demo() -> Result<(), sync_core::warehouse::WarehouseError> {
//! let warehouse = SqliteWarehouse::open("warehouse.db").await?;
//! let spec = TableSpec::bill();
//! warehouse.ensure_tables(&spec).await?;
//! let page = vec![json!({"id": "0b5c...", "Type": {"value": "Bill"}, "Amount": {"value": 1250.5},
//!                         "Details": [{"Account": {"value": "60000"}, "Amount": {"value": 1250.5}}]})];
//! let records = page.iter().map(|e| spec.record_from_json(e)).collect::<Result<Vec<_>, _>>()?;
//! let summary = warehouse.upsert(&spec, &records).await?;
//! println!("{} written, {} lines", summary.written, summary.detail_lines);
//! # Ok(())
//! # }
//! ```

use std::fmt;

use async_trait::async_trait;
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
pub use record::{DetailRecord, UpsertSummary, WarehouseRecord, WarehouseValue};
pub use spec::{ColumnSpec, ColumnType, DetailSpec, TableSpec};
pub use sqlite::SqliteWarehouse;

/// Where Acumatica records land for analysis. Users may bring their own implementation.
#[async_trait]
pub trait WarehouseSink: Send + Sync + fmt::Debug {
    /// Creates the entity's table (and detail table) if missing, and adds columns the spec
    /// gained since.
    async fn ensure_tables(&self, spec: &TableSpec) -> Result<(), WarehouseError>;

    /// Upserts `records` (all of `spec`'s entity) in one transaction: all or nothing.
    async fn upsert(
        &self,
        spec: &TableSpec,
        records: &[WarehouseRecord],
    ) -> Result<UpsertSummary, WarehouseError>;

    /// The raw JSON stored for a record.
    async fn raw_record(&self, spec: &TableSpec, id: &str)
    -> Result<Option<Value>, WarehouseError>;

    /// How many records the entity's table holds.
    async fn count(&self, spec: &TableSpec) -> Result<u64, WarehouseError>;
}
