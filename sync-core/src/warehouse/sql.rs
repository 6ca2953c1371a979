//! SQL text for the warehouse tables, per dialect. Identifiers come from validated specs
//! (plain lower-case identifiers) and are quoted anyway.

use super::spec::{ColumnSpec, ColumnType, DetailSpec, PROVENANCE_COLUMNS, TableSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    fn column_type(self, ty: ColumnType) -> &'static str {
        match (self, ty) {
            (_, ColumnType::Text) => "TEXT",
            (Self::Sqlite, ColumnType::Decimal | ColumnType::Date | ColumnType::Timestamp) => {
                "TEXT"
            }
            (Self::Sqlite, ColumnType::Integer | ColumnType::Boolean) => "INTEGER",
            (Self::Postgres, ColumnType::Decimal) => "NUMERIC",
            (Self::Postgres, ColumnType::Date) => "DATE",
            (Self::Postgres, ColumnType::Timestamp) => "TIMESTAMPTZ",
            (Self::Postgres, ColumnType::Integer) => "BIGINT",
            (Self::Postgres, ColumnType::Boolean) => "BOOLEAN",
        }
    }

    fn json(self) -> &'static str {
        match self {
            Self::Sqlite => "TEXT",
            Self::Postgres => "JSONB",
        }
    }

    /// Values other than integers and flags are bound as text; PostgreSQL casts them.
    fn param(self, n: usize, ty: ColumnType) -> String {
        match (self, ty) {
            (Self::Postgres, ColumnType::Decimal) => format!("CAST(${n} AS NUMERIC)"),
            (Self::Postgres, ColumnType::Date) => format!("CAST(${n} AS DATE)"),
            (Self::Postgres, ColumnType::Timestamp) => format!("CAST(${n} AS TIMESTAMPTZ)"),
            _ => format!("${n}"),
        }
    }

    /// Lists a table's column names; `$1` is the table name.
    pub(super) fn columns_query(self) -> &'static str {
        match self {
            Self::Sqlite => "SELECT name FROM pragma_table_info($1)",
            Self::Postgres => {
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1"
            }
        }
    }
}

fn typed(d: Dialect, columns: &[ColumnSpec]) -> String {
    columns
        .iter()
        .map(|c| format!(", \"{}\" {}", c.name, d.column_type(c.ty)))
        .collect()
}

/// `, "entity" TEXT, ...`: the provenance columns' definitions.
fn provenance_defs(d: Dialect) -> String {
    PROVENANCE_COLUMNS
        .iter()
        .map(|(name, ty)| format!(", \"{name}\" {}", d.column_type(*ty)))
        .collect()
}

/// `$first, $first+1, ...` for an `IN` list of `n` values.
fn in_list(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn create_table(d: Dialect, spec: &TableSpec) -> Vec<String> {
    let ts = d.column_type(ColumnType::Timestamp);
    let mut out = vec![
        format!(
            "CREATE TABLE IF NOT EXISTS \"{t}\" (\"id\" TEXT PRIMARY KEY NOT NULL, \"last_modified\" {ts}, \
             \"synced_at\" {ts} NOT NULL, \"raw\" {json} NOT NULL{prov}{cols})",
            t = spec.table,
            json = d.json(),
            prov = provenance_defs(d),
            cols = typed(d, &spec.columns)
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS \"{t}_last_modified\" ON \"{t}\" (\"last_modified\")",
            t = spec.table
        ),
    ];
    if let Some(detail) = &spec.details {
        out.push(format!(
            "CREATE TABLE IF NOT EXISTS \"{dt}\" (\"parent_id\" TEXT NOT NULL REFERENCES \"{t}\" (\"id\") ON DELETE CASCADE, \
             \"line_nbr\" BIGINT NOT NULL, \"detail_id\" TEXT, \"raw\" {json} NOT NULL{prov}{cols}, \
             PRIMARY KEY (\"parent_id\", \"line_nbr\"))",
            dt = detail.table,
            t = spec.table,
            json = d.json(),
            prov = provenance_defs(d),
            cols = typed(d, &detail.columns)
        ));
    }
    out
}

/// The columns a table must have beyond its fixed ones (provenance, then typed), as
/// `(name, type)`: what `ensure_tables` adds to a table created by an earlier version.
pub(super) fn added_columns(columns: &[ColumnSpec]) -> Vec<(&str, ColumnType)> {
    PROVENANCE_COLUMNS
        .iter()
        .map(|(n, t)| (*n, *t))
        .chain(columns.iter().map(|c| (c.name.as_str(), c.ty)))
        .collect()
}

pub(super) fn add_column(d: Dialect, table: &str, name: &str, ty: ColumnType) -> String {
    format!(
        "ALTER TABLE \"{table}\" ADD COLUMN \"{name}\" {}",
        d.column_type(ty)
    )
}

/// Fills `entity` on rows written before the column existed; `$1` is the entity.
pub(super) fn backfill_entity(table: &str) -> String {
    format!("UPDATE \"{table}\" SET \"entity\" = $1 WHERE \"entity\" IS NULL")
}

/// The most parameters one statement binds: SQLite's limit (PostgreSQL allows 65535).
pub(super) const MAX_PARAMS: usize = 32_766;

/// The most rows one multi-row statement writes (a bound on the statement's text and on the
/// memory of its binds).
const MAX_ROWS: usize = 1_000;

/// How many rows of `per_row` parameters one statement holds.
pub(super) fn rows_per_statement(per_row: usize) -> usize {
    (MAX_PARAMS / per_row.max(1)).clamp(1, MAX_ROWS)
}

/// The `n`th parameter of a multi-row statement: `?` on SQLite (parameters numbered or named
/// cost SQLite a search of all earlier ones each, quadratic in a statement of thousands),
/// `$n` on PostgreSQL, cast as [`Dialect::param`] does. Binds follow the text's order.
fn slot(d: Dialect, n: usize, ty: ColumnType) -> String {
    match d {
        Dialect::Sqlite => "?".to_owned(),
        Dialect::Postgres => d.param(n, ty),
    }
}

/// Parameters of each row of [`upsert_rows`]: id, last_modified, synced_at, raw, the
/// provenance columns, then the typed columns.
pub(super) fn upsert_row_params(spec: &TableSpec) -> usize {
    4 + PROVENANCE_COLUMNS.len() + spec.columns.len()
}

/// An upsert of `n` rows in one statement, returning the id of each row it wrote (a row whose
/// table version is newer is not written, so not returned). Binds per row, in order: id,
/// last_modified, synced_at, raw, the provenance columns, the typed columns.
pub(super) fn upsert_rows(d: Dialect, spec: &TableSpec, n: usize) -> String {
    let t = &spec.table;
    let mut names = String::from("\"id\", \"last_modified\", \"synced_at\", \"raw\"");
    let mut updates = String::from(
        "\"last_modified\" = excluded.\"last_modified\", \"synced_at\" = excluded.\"synced_at\", \"raw\" = excluded.\"raw\"",
    );
    let mut types = vec![
        ColumnType::Text,
        ColumnType::Timestamp,
        ColumnType::Timestamp,
        ColumnType::Text,
    ];
    for (name, ty) in PROVENANCE_COLUMNS {
        names.push_str(&format!(", \"{name}\""));
        updates.push_str(&format!(", \"{name}\" = excluded.\"{name}\""));
        types.push(*ty);
    }
    for c in &spec.columns {
        names.push_str(&format!(", \"{}\"", c.name));
        updates.push_str(&format!(", \"{0}\" = excluded.\"{0}\"", c.name));
        types.push(c.ty);
    }
    format!(
        "INSERT INTO \"{t}\" ({names}) VALUES {values} ON CONFLICT (\"id\") DO UPDATE SET {updates} \
         WHERE \"{t}\".\"last_modified\" IS NULL OR excluded.\"last_modified\" IS NULL \
         OR excluded.\"last_modified\" >= \"{t}\".\"last_modified\" RETURNING \"id\"",
        values = rows(d, &types, n)
    )
}

/// `(...), (...)`: `n` rows of slots of `types`, numbered on.
fn rows(d: Dialect, types: &[ColumnType], n: usize) -> String {
    let mut out = String::with_capacity(n * types.len() * 8);
    let mut k = 0;
    for r in 0..n {
        out.push_str(if r == 0 { "(" } else { ", (" });
        for (i, ty) in types.iter().enumerate() {
            k += 1;
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&slot(d, k, *ty));
        }
        out.push(')');
    }
    out
}

/// Deletes the detail lines of the `n` parents from `$1` on.
pub(super) fn delete_details(detail: &DetailSpec, n: usize) -> String {
    format!(
        "DELETE FROM \"{}\" WHERE \"parent_id\" IN ({})",
        detail.table,
        in_list(1, n)
    )
}

/// Parameters of each line of [`insert_details`]: parent_id, line_nbr, detail_id, raw, the
/// provenance columns, then the typed columns.
pub(super) fn detail_row_params(detail: &DetailSpec) -> usize {
    4 + PROVENANCE_COLUMNS.len() + detail.columns.len()
}

/// An insert of `n` detail lines in one statement. Binds per line, in order: parent_id,
/// line_nbr, detail_id, raw, the provenance columns, the typed columns.
pub(super) fn insert_details(d: Dialect, detail: &DetailSpec, n: usize) -> String {
    let mut names = String::from("\"parent_id\", \"line_nbr\", \"detail_id\", \"raw\"");
    let mut types = vec![
        ColumnType::Text,
        ColumnType::Integer,
        ColumnType::Text,
        ColumnType::Text,
    ];
    for (name, ty) in PROVENANCE_COLUMNS {
        names.push_str(&format!(", \"{name}\""));
        types.push(*ty);
    }
    for c in &detail.columns {
        names.push_str(&format!(", \"{}\"", c.name));
        types.push(c.ty);
    }
    format!(
        "INSERT INTO \"{}\" ({names}) VALUES {}",
        detail.table,
        rows(d, &types, n)
    )
}

/// Record ids per statement of the id-list operations below (well under SQLite's and
/// PostgreSQL's parameter limits).
pub(super) const IDS_PER_STATEMENT: usize = 500;

/// Moves `last_seen_at` to `$1` for the `n` ids from `$2` on.
pub(super) fn mark_seen(d: Dialect, table: &str, n: usize) -> String {
    format!(
        "UPDATE \"{table}\" SET \"last_seen_at\" = {} WHERE \"id\" IN ({})",
        d.param(1, ColumnType::Timestamp),
        in_list(2, n)
    )
}

/// Clears `deleted_at` of the `n` rows (`key` = `id`, or `parent_id` for detail lines) from
/// `$1` on that have it.
pub(super) fn undelete(table: &str, key: &str, n: usize) -> String {
    format!(
        "UPDATE \"{table}\" SET \"deleted_at\" = NULL WHERE \"deleted_at\" IS NOT NULL AND \"{key}\" IN ({})",
        in_list(1, n)
    )
}

/// Sets `deleted_at` to `$1` on the `n` rows (`key` as in [`undelete`]) from `$2` on that do
/// not have it yet.
pub(super) fn mark_deleted(d: Dialect, table: &str, key: &str, n: usize) -> String {
    format!(
        "UPDATE \"{table}\" SET \"deleted_at\" = {} WHERE \"deleted_at\" IS NULL AND \"{key}\" IN ({})",
        d.param(1, ColumnType::Timestamp),
        in_list(2, n)
    )
}

/// Ids of rows not marked deleted whose `last_seen_at` is unknown or before `$1`.
pub(super) fn unseen(d: Dialect, table: &str) -> String {
    format!(
        "SELECT \"id\" FROM \"{table}\" WHERE \"deleted_at\" IS NULL \
         AND (\"last_seen_at\" IS NULL OR \"last_seen_at\" < {})",
        d.param(1, ColumnType::Timestamp)
    )
}

/// Deletes the detail lines of rows marked deleted before `$1`.
pub(super) fn purge_details(d: Dialect, spec: &TableSpec, detail: &DetailSpec) -> String {
    format!(
        "DELETE FROM \"{}\" WHERE \"parent_id\" IN (SELECT \"id\" FROM \"{}\" \
         WHERE \"deleted_at\" IS NOT NULL AND \"deleted_at\" < {})",
        detail.table,
        spec.table,
        d.param(1, ColumnType::Timestamp)
    )
}

/// Deletes rows marked deleted before `$1`.
pub(super) fn purge(d: Dialect, table: &str) -> String {
    format!(
        "DELETE FROM \"{table}\" WHERE \"deleted_at\" IS NOT NULL AND \"deleted_at\" < {}",
        d.param(1, ColumnType::Timestamp)
    )
}

/// The provenance columns of the row `$1`.
pub(super) fn row_provenance(table: &str) -> String {
    let names: Vec<String> = PROVENANCE_COLUMNS
        .iter()
        .map(|(n, _)| format!("\"{n}\""))
        .collect();
    format!(
        "SELECT {} FROM \"{table}\" WHERE \"id\" = $1",
        names.join(", ")
    )
}
