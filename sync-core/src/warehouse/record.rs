//! The neutral record the warehouse sink takes: typed column values, the raw JSON, detail lines.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

/// A typed column value. Amounts are exact decimals, never floats.
#[derive(Debug, Clone, PartialEq)]
pub enum WarehouseValue {
    /// No value.
    Null,
    /// Text (keys, names, codes).
    Text(String),
    /// An exact decimal amount or quantity.
    Decimal(Decimal),
    /// A calendar date.
    Date(NaiveDate),
    /// An instant.
    Timestamp(DateTime<Utc>),
    /// A whole number.
    Integer(i64),
    /// A flag.
    Boolean(bool),
}

impl WarehouseValue {
    /// The value as text for binding: decimals keep their scale (`"100.50"`), dates are
    /// `YYYY-MM-DD`, timestamps RFC 3339 UTC with microseconds.
    pub(super) fn as_text(&self) -> Option<String> {
        match self {
            Self::Null => None,
            Self::Text(s) => Some(s.clone()),
            Self::Decimal(d) => Some(d.to_string()),
            Self::Date(d) => Some(d.format("%Y-%m-%d").to_string()),
            Self::Timestamp(t) => Some(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
            Self::Integer(i) => Some(i.to_string()),
            Self::Boolean(b) => Some(b.to_string()),
        }
    }
}

/// One entity record to upsert, keyed by its Acumatica id.
#[derive(Debug, Clone, PartialEq)]
pub struct WarehouseRecord {
    /// The entity, e.g. `Bill` (must match the table spec).
    pub entity: String,
    /// The Acumatica record id (the `id` GUID of the entity).
    pub id: String,
    /// `LastModifiedDateTime`, when known: an upsert never replaces a newer version with an
    /// older one.
    pub last_modified: Option<DateTime<Utc>>,
    /// Typed columns by spec column name; columns the spec has but the record lacks are NULL.
    pub columns: Vec<(String, WarehouseValue)>,
    /// The record as Acumatica returned it, stored beside the typed columns.
    pub raw: Value,
    /// Detail lines (replacing all earlier lines of this record).
    pub details: Vec<DetailRecord>,
}

/// One detail line of a record.
#[derive(Debug, Clone, PartialEq)]
pub struct DetailRecord {
    /// The line number: Acumatica's `LineNbr` where the entity has one, else the 1-based
    /// position in the `Details` array.
    pub line_nbr: i64,
    /// The detail's own Acumatica id, when present.
    pub id: Option<String>,
    /// Typed columns by detail spec column name.
    pub columns: Vec<(String, WarehouseValue)>,
    /// The line as returned.
    pub raw: Value,
}

/// What an upsert call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsertSummary {
    /// Records inserted or updated.
    pub written: u64,
    /// Records not written because the table already held a newer version.
    pub stale: u64,
    /// Detail lines written.
    pub detail_lines: u64,
}

/// Where a batch of records came from: written on every row an upsert touches (the provenance
/// columns `entity`, `endpoint_version`, `last_seen_at`; the entity comes from the table spec).
///
/// ```
/// use sync_core::warehouse::Provenance;
/// let seen = Provenance::now(Some("24.200.001"));
/// assert_eq!(seen.endpoint_version.as_deref(), Some("24.200.001"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// The Acumatica endpoint version the records were read through, when known.
    pub endpoint_version: Option<String>,
    /// When the run read them.
    pub seen_at: DateTime<Utc>,
}

impl Provenance {
    /// Records read now through `endpoint_version`.
    pub fn now(endpoint_version: Option<&str>) -> Self {
        Self {
            endpoint_version: endpoint_version.map(str::to_owned),
            seen_at: Utc::now(),
        }
    }
}

/// The provenance columns of one stored row, as [`WarehouseSink::row_provenance`] reads them.
///
/// [`WarehouseSink::row_provenance`]: super::WarehouseSink::row_provenance
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProvenance {
    /// The Acumatica entity (NULL only on rows written before the column existed).
    pub entity: Option<String>,
    /// The endpoint version the row was last read through.
    pub endpoint_version: Option<String>,
    /// When a run last saw the record.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// When a delete scan found it gone; `None` while it exists.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// What [`WarehouseSink::mark_seen`] did.
///
/// [`WarehouseSink::mark_seen`]: super::WarehouseSink::mark_seen
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeenSummary {
    /// Rows whose `last_seen_at` moved.
    pub seen: u64,
    /// Rows that were marked deleted and are not any more (seen again).
    pub undeleted: u64,
}
