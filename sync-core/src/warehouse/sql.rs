//! SQL text for the warehouse tables, per dialect. Identifiers come from validated specs
//! (plain lower-case identifiers) and are quoted anyway.

use super::spec::{ColumnSpec, ColumnType, DetailSpec, TableSpec};

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

pub(super) fn create_table(d: Dialect, spec: &TableSpec) -> Vec<String> {
    let ts = d.column_type(ColumnType::Timestamp);
    let mut out = vec![
        format!(
            "CREATE TABLE IF NOT EXISTS \"{t}\" (\"id\" TEXT PRIMARY KEY NOT NULL, \"last_modified\" {ts}, \
             \"synced_at\" {ts} NOT NULL, \"raw\" {json} NOT NULL{cols})",
            t = spec.table,
            json = d.json(),
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
             \"line_nbr\" BIGINT NOT NULL, \"detail_id\" TEXT, \"raw\" {json} NOT NULL{cols}, \
             PRIMARY KEY (\"parent_id\", \"line_nbr\"))",
            dt = detail.table,
            t = spec.table,
            json = d.json(),
            cols = typed(d, &detail.columns)
        ));
    }
    out
}

pub(super) fn add_column(d: Dialect, table: &str, c: &ColumnSpec) -> String {
    format!(
        "ALTER TABLE \"{table}\" ADD COLUMN \"{}\" {}",
        c.name,
        d.column_type(c.ty)
    )
}

pub(super) fn upsert(d: Dialect, spec: &TableSpec) -> String {
    let t = &spec.table;
    let mut names = String::from("\"id\", \"last_modified\", \"synced_at\", \"raw\"");
    let mut values = format!(
        "$1, {}, {}, $4",
        d.param(2, ColumnType::Timestamp),
        d.param(3, ColumnType::Timestamp)
    );
    let mut updates = String::from(
        "\"last_modified\" = excluded.\"last_modified\", \"synced_at\" = excluded.\"synced_at\", \"raw\" = excluded.\"raw\"",
    );
    for (i, c) in spec.columns.iter().enumerate() {
        names.push_str(&format!(", \"{}\"", c.name));
        values.push_str(&format!(", {}", d.param(i + 5, c.ty)));
        updates.push_str(&format!(", \"{0}\" = excluded.\"{0}\"", c.name));
    }
    format!(
        "INSERT INTO \"{t}\" ({names}) VALUES ({values}) ON CONFLICT (\"id\") DO UPDATE SET {updates} \
         WHERE \"{t}\".\"last_modified\" IS NULL OR excluded.\"last_modified\" IS NULL \
         OR excluded.\"last_modified\" >= \"{t}\".\"last_modified\""
    )
}

pub(super) fn delete_details(detail: &DetailSpec) -> String {
    format!("DELETE FROM \"{}\" WHERE \"parent_id\" = $1", detail.table)
}

pub(super) fn insert_detail(d: Dialect, detail: &DetailSpec) -> String {
    let mut names = String::from("\"parent_id\", \"line_nbr\", \"detail_id\", \"raw\"");
    let mut values = String::from("$1, $2, $3, $4");
    for (i, c) in detail.columns.iter().enumerate() {
        names.push_str(&format!(", \"{}\"", c.name));
        values.push_str(&format!(", {}", d.param(i + 5, c.ty)));
    }
    format!(
        "INSERT INTO \"{}\" ({names}) VALUES ({values})",
        detail.table
    )
}
