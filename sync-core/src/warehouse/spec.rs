//! Table specs: which typed columns an entity's warehouse table has, and where in the
//! Acumatica JSON each comes from. Built-in specs cover Vendor, Bill (with details), Check,
//! JournalTransaction (with details), Account and Subaccount; others are configured the same way (the
//! specs are serde types, readable from TOML).
//!
//! Field names follow the Acumatica `Default` endpoint 24.200.001 contract
//! (reference/acumatica/FACTS.md, the SW24 schema list).

use std::collections::HashSet;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{DetailRecord, WarehouseError, WarehouseRecord, WarehouseValue};

/// The SQL type of a typed column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    /// TEXT.
    Text,
    /// NUMERIC on PostgreSQL; exact decimal text on SQLite.
    Decimal,
    /// DATE on PostgreSQL; `YYYY-MM-DD` text on SQLite.
    Date,
    /// TIMESTAMPTZ on PostgreSQL; RFC 3339 UTC text on SQLite.
    Timestamp,
    /// BIGINT / INTEGER.
    Integer,
    /// BOOLEAN / INTEGER 0-1.
    Boolean,
}

impl ColumnType {
    fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Decimal => "decimal",
            Self::Date => "date",
            Self::Timestamp => "timestamp",
            Self::Integer => "integer",
            Self::Boolean => "boolean",
        }
    }

    pub(super) fn accepts(self, value: &WarehouseValue) -> bool {
        matches!(
            (self, value),
            (_, WarehouseValue::Null)
                | (Self::Text, WarehouseValue::Text(_))
                | (Self::Decimal, WarehouseValue::Decimal(_))
                | (Self::Date, WarehouseValue::Date(_))
                | (Self::Timestamp, WarehouseValue::Timestamp(_))
                | (Self::Integer, WarehouseValue::Integer(_))
                | (Self::Boolean, WarehouseValue::Boolean(_))
        )
    }
}

/// One typed column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnSpec {
    /// The SQL column name (lower-case letters, digits, `_`).
    pub name: String,
    /// The Acumatica field it is read from (e.g. `VendorName`).
    pub source: String,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: ColumnType,
}

/// The child table of an entity's detail lines, keyed by parent id and line number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetailSpec {
    /// The table name.
    pub table: String,
    /// The Acumatica array holding the lines (usually `Details`).
    pub source: String,
    /// The field holding the line number, if the entity has one (`LineNbr`); otherwise the
    /// 1-based position in the array is the line number.
    pub line_source: Option<String>,
    /// Its typed columns.
    pub columns: Vec<ColumnSpec>,
}

/// An entity's warehouse table.
///
/// Every table also has `id` (the Acumatica id, primary key), `last_modified`, `synced_at`
/// (when the row was last written) and `raw` (the JSON as returned); every detail table has
/// `parent_id`, `line_nbr` (together the primary key), `detail_id` and `raw`. Both also carry
/// the provenance columns `entity`, `endpoint_version`, `last_seen_at` and `deleted_at` (NULL
/// while the record exists; a Looker model filters `deleted_at IS NULL`).
///
/// # Example
///
/// ```
/// use serde_json::json;
/// use sync_core::warehouse::{TableSpec, WarehouseValue};
///
/// let spec = TableSpec::vendor();
/// let record = spec.record_from_json(&json!({
///     "id": "9b6c1f7e-0000-0000-0000-000000000001",
///     "VendorID": {"value": "V000123"},
///     "VendorName": {"value": "Northwind Supplies"},
///     "LastModifiedDateTime": {"value": "2026-01-30T10:15:00.12+00:00"},
///     "MaxReceipt": {}
/// })).unwrap();
/// assert_eq!(record.id, "9b6c1f7e-0000-0000-0000-000000000001");
/// assert!(record.columns.contains(&("vendor_id".into(), WarehouseValue::Text("V000123".into()))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSpec {
    /// The Acumatica entity, e.g. `Bill`.
    pub entity: String,
    /// The table name.
    pub table: String,
    /// Its typed columns.
    pub columns: Vec<ColumnSpec>,
    /// Its detail lines, if kept.
    pub details: Option<DetailSpec>,
}

/// The provenance columns every entity table and every detail table has, in table (and bind)
/// order, after the system columns and before the typed ones: where the row came from and
/// whether it still exists. This list is the one place they are named; the SQL, the binds and
/// the upgrade of older tables are all built from it. All are nullable, so tables of earlier
/// versions gain them by `ALTER TABLE ... ADD COLUMN`.
///
/// - `entity`: the Acumatica entity (`Bill`; the document's entity on detail lines);
/// - `endpoint_version`: the endpoint version it was read through (`24.200.001`);
/// - `last_seen_at`: when a run last saw the record (read it, or found its id in a delete
///   scan's listing); on detail lines, when the lines were last read with their document;
/// - `deleted_at`: when a delete scan found the record gone (NULL while it exists); detail
///   lines follow their document. Seeing the record again clears it.
pub(super) const PROVENANCE_COLUMNS: &[(&str, ColumnType)] = &[
    ("entity", ColumnType::Text),
    ("endpoint_version", ColumnType::Text),
    ("last_seen_at", ColumnType::Timestamp),
    ("deleted_at", ColumnType::Timestamp),
];
/// Columns every entity table has besides its typed ones (the provenance columns too).
pub(super) const SYSTEM_COLUMNS: &[&str] = &[
    "id",
    "last_modified",
    "synced_at",
    "raw",
    "entity",
    "endpoint_version",
    "last_seen_at",
    "deleted_at",
];
/// Columns every detail table has besides its typed ones (the provenance columns too).
pub(super) const DETAIL_SYSTEM_COLUMNS: &[&str] = &[
    "parent_id",
    "line_nbr",
    "detail_id",
    "raw",
    "entity",
    "endpoint_version",
    "last_seen_at",
    "deleted_at",
];

fn col(name: &str, source: &str, ty: ColumnType) -> ColumnSpec {
    ColumnSpec {
        name: name.to_owned(),
        source: source.to_owned(),
        ty,
    }
}

use ColumnType::{Boolean, Date, Decimal as Dec, Integer, Text, Timestamp};

impl TableSpec {
    /// `Vendor` -> `acumatica_vendor`.
    pub fn vendor() -> Self {
        Self {
            entity: "Vendor".into(),
            table: "acumatica_vendor".into(),
            columns: vec![
                col("vendor_id", "VendorID", Text),
                col("vendor_name", "VendorName", Text),
                col("legal_name", "LegalName", Text),
                col("status", "Status", Text),
                col("vendor_class", "VendorClass", Text),
                col("currency_id", "CurrencyID", Text),
                col("terms", "Terms", Text),
                col("payment_method", "PaymentMethod", Text),
                col("ap_account", "APAccount", Text),
                col("ap_subaccount", "APSubaccount", Text),
                col("cash_account", "CashAccount", Text),
                col("tax_zone", "TaxZone", Text),
                col("f1099_vendor", "F1099Vendor", Boolean),
                col("max_receipt", "MaxReceipt", Dec),
                col("created_at", "CreatedDateTime", Timestamp),
            ],
            details: None,
        }
    }

    /// `Bill` -> `acumatica_bill`, lines in `acumatica_bill_detail` (by array position: the
    /// contract's BillDetail has no LineNbr).
    pub fn bill() -> Self {
        Self {
            entity: "Bill".into(),
            table: "acumatica_bill".into(),
            columns: vec![
                col("type", "Type", Text),
                col("reference_nbr", "ReferenceNbr", Text),
                col("vendor", "Vendor", Text),
                col("vendor_ref", "VendorRef", Text),
                col("status", "Status", Text),
                col("date", "Date", Date),
                col("due_date", "DueDate", Date),
                col("post_period", "PostPeriod", Text),
                col("branch_id", "BranchID", Text),
                col("currency_id", "CurrencyID", Text),
                col("amount", "Amount", Dec),
                col("balance", "Balance", Dec),
                col("tax_total", "TaxTotal", Dec),
                col("terms", "Terms", Text),
                col("description", "Description", Text),
                col("hold", "Hold", Boolean),
                col("approved_for_payment", "ApprovedForPayment", Boolean),
            ],
            details: Some(DetailSpec {
                table: "acumatica_bill_detail".into(),
                source: "Details".into(),
                line_source: None,
                columns: vec![
                    col("account", "Account", Text),
                    col("subaccount", "Subaccount", Text),
                    col("branch", "Branch", Text),
                    col("inventory_id", "InventoryID", Text),
                    col("transaction_description", "TransactionDescription", Text),
                    col("qty", "Qty", Dec),
                    col("uom", "UOM", Text),
                    col("unit_cost", "UnitCost", Dec),
                    col("extended_cost", "ExtendedCost", Dec),
                    col("amount", "Amount", Dec),
                    col("project", "Project", Text),
                    col("project_task", "ProjectTask", Text),
                    col("po_order_nbr", "POOrderNbr", Text),
                ],
            }),
        }
    }

    /// `Check` (AP payments) -> `acumatica_check`.
    pub fn check() -> Self {
        Self {
            entity: "Check".into(),
            table: "acumatica_check".into(),
            columns: vec![
                col("type", "Type", Text),
                col("reference_nbr", "ReferenceNbr", Text),
                col("vendor", "Vendor", Text),
                col("status", "Status", Text),
                col("application_date", "ApplicationDate", Date),
                col("payment_method", "PaymentMethod", Text),
                col("payment_ref", "PaymentRef", Text),
                col("cash_account", "CashAccount", Text),
                col("currency_id", "CurrencyID", Text),
                col("payment_amount", "PaymentAmount", Dec),
                col("unapplied_balance", "UnappliedBalance", Dec),
                col("description", "Description", Text),
                col("hold", "Hold", Boolean),
            ],
            details: None,
        }
    }

    /// `JournalTransaction` -> `acumatica_journal_transaction`, lines (by `LineNbr`) in
    /// `acumatica_journal_transaction_detail`.
    pub fn journal_transaction() -> Self {
        Self {
            entity: "JournalTransaction".into(),
            table: "acumatica_journal_transaction".into(),
            columns: vec![
                col("module", "Module", Text),
                col("batch_nbr", "BatchNbr", Text),
                col("branch_id", "BranchID", Text),
                col("ledger_id", "LedgerID", Text),
                col("post_period", "PostPeriod", Text),
                col("transaction_date", "TransactionDate", Date),
                col("status", "Status", Text),
                col("currency_id", "CurrencyID", Text),
                col("description", "Description", Text),
                col("hold", "Hold", Boolean),
                col("created_at", "CreatedDateTime", Timestamp),
            ],
            details: Some(DetailSpec {
                table: "acumatica_journal_transaction_detail".into(),
                source: "Details".into(),
                line_source: Some("LineNbr".into()),
                columns: vec![
                    col("account", "Account", Text),
                    col("subaccount", "Subaccount", Text),
                    col("branch_id", "BranchID", Text),
                    col("debit_amount", "DebitAmount", Dec),
                    col("credit_amount", "CreditAmount", Dec),
                    col("transaction_description", "TransactionDescription", Text),
                    col("reference_nbr", "ReferenceNbr", Text),
                    col("vendor_or_customer", "VendorOrCustomer", Text),
                    col("project", "Project", Text),
                    col("project_task", "ProjectTask", Text),
                    col("qty", "Qty", Dec),
                ],
            }),
        }
    }

    /// `Account` -> `acumatica_account`.
    pub fn account() -> Self {
        Self {
            entity: "Account".into(),
            table: "acumatica_account".into(),
            columns: vec![
                col("account_cd", "AccountCD", Text),
                col("account_id", "AccountID", Integer),
                col("description", "Description", Text),
                col("type", "Type", Text),
                col("account_class", "AccountClass", Text),
                col("account_group", "AccountGroup", Text),
                col("active", "Active", Boolean),
                col("cash_account", "CashAccount", Boolean),
                col("currency_id", "CurrencyID", Text),
                col("post_option", "PostOption", Text),
                col("created_at", "CreatedDateTime", Timestamp),
            ],
            details: None,
        }
    }

    /// `Subaccount` -> `acumatica_subaccount` (the chart of accounts' subaccounts). The entity
    /// has no `LastModifiedDateTime`, so the feed reads it whole on every run (full refresh).
    pub fn subaccount() -> Self {
        Self {
            entity: "Subaccount".into(),
            table: "acumatica_subaccount".into(),
            columns: vec![
                col("subaccount_cd", "SubaccountCD", Text),
                col("subaccount_id", "SubaccountID", Integer),
                col("description", "Description", Text),
                col("active", "Active", Boolean),
                col("secured", "Secured", Boolean),
            ],
            details: None,
        }
    }

    /// The built-in spec of `entity`, if there is one.
    pub fn builtin(entity: &str) -> Option<Self> {
        Some(match entity {
            "Vendor" => Self::vendor(),
            "Bill" => Self::bill(),
            "Check" => Self::check(),
            "JournalTransaction" => Self::journal_transaction(),
            "Account" => Self::account(),
            "Subaccount" => Self::subaccount(),
            _ => return None,
        })
    }

    /// Checks names (plain lower-case identifiers, no clashes with the system columns).
    pub fn validate(&self) -> Result<(), WarehouseError> {
        let bad = |reason: String| WarehouseError::InvalidSpec {
            entity: self.entity.clone(),
            reason,
        };
        if self.entity.trim().is_empty() {
            return Err(bad("the entity name is empty".into()));
        }
        check_ident(&self.table).map_err(|r| bad(format!("table name {:?} {r}", self.table)))?;
        check_columns(&self.columns, SYSTEM_COLUMNS).map_err(&bad)?;
        if let Some(d) = &self.details {
            check_ident(&d.table)
                .map_err(|r| bad(format!("detail table name {:?} {r}", d.table)))?;
            if d.table == self.table {
                return Err(bad(
                    "the detail table must differ from the entity table".into()
                ));
            }
            check_columns(&d.columns, DETAIL_SYSTEM_COLUMNS).map_err(&bad)?;
        }
        Ok(())
    }

    /// Builds a record from an Acumatica entity as returned by the REST API: the `id`, the
    /// `{"value": ...}`-wrapped fields (`{}` and `{"value": null}` are NULL), and the detail
    /// array. Amounts become exact decimals; dates take the calendar date; timestamps without an
    /// offset are read as UTC.
    pub fn record_from_json(&self, raw: &Value) -> Result<WarehouseRecord, WarehouseError> {
        self.record_from_value(raw.clone())
    }

    /// [`record_from_json`](Self::record_from_json) taking the entity by value: the record
    /// keeps it as its `raw` instead of a copy, so a page of records costs one tree, not two.
    ///
    /// ```
    /// # use sync_core::warehouse::TableSpec;
    /// # use serde_json::json;
    /// let spec = TableSpec::vendor();
    /// let record = spec
    ///     .record_from_value(json!({"id": "a1", "VendorID": {"value": "V1"}}))
    ///     .unwrap();
    /// assert_eq!(record.id, "a1");
    /// ```
    pub fn record_from_value(&self, raw: Value) -> Result<WarehouseRecord, WarehouseError> {
        let id = raw
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let invalid = |reason: String| WarehouseError::InvalidRecord {
            entity: self.entity.clone(),
            id: id.clone(),
            reason,
        };
        if id.is_empty() {
            return Err(invalid(
                "it has no `id`; request entities from the REST API, which always returns it"
                    .into(),
            ));
        }
        let columns = read_columns(&self.columns, &raw).map_err(&invalid)?;
        let last_modified = match field(&raw, "LastModifiedDateTime") {
            None => None,
            Some(v) => match convert(v, ColumnType::Timestamp) {
                Ok(WarehouseValue::Timestamp(t)) => Some(t),
                Ok(_) => None,
                Err(e) => return Err(invalid(format!("LastModifiedDateTime: {e}"))),
            },
        };
        let mut details = Vec::new();
        if let Some(spec) = &self.details {
            let lines = match raw.get(&spec.source) {
                None | Some(Value::Null) => &[][..],
                Some(Value::Array(lines)) => lines.as_slice(),
                Some(_) => return Err(invalid(format!("`{}` is not an array", spec.source))),
            };
            for (index, line) in lines.iter().enumerate() {
                let line_nbr = match &spec.line_source {
                    None => i64::try_from(index + 1).unwrap_or(i64::MAX),
                    Some(src) => match field(line, src).map(|v| convert(v, ColumnType::Integer)) {
                        Some(Ok(WarehouseValue::Integer(n))) => n,
                        _ => {
                            return Err(invalid(format!(
                                "detail line {} has no integer `{src}`",
                                index + 1
                            )));
                        }
                    },
                };
                let columns = read_columns(&spec.columns, line)
                    .map_err(|e| invalid(format!("detail line {line_nbr}: {e}")))?;
                details.push(DetailRecord {
                    line_nbr,
                    id: line.get("id").and_then(Value::as_str).map(str::to_owned),
                    columns,
                    raw: line.clone(),
                });
            }
        }
        Ok(WarehouseRecord {
            entity: self.entity.clone(),
            id,
            last_modified,
            columns,
            raw,
            details,
        })
    }

    /// Checks that `record` belongs to this spec and its values have the columns' types.
    pub(super) fn check_record(&self, record: &WarehouseRecord) -> Result<(), WarehouseError> {
        let invalid = |reason: String| WarehouseError::InvalidRecord {
            entity: record.entity.clone(),
            id: record.id.clone(),
            reason,
        };
        if record.entity != self.entity {
            return Err(invalid(format!(
                "it is a `{}` record but the table `{}` holds `{}`",
                record.entity, self.table, self.entity
            )));
        }
        if record.id.trim().is_empty() {
            return Err(invalid("its id is empty".into()));
        }
        check_values(&self.columns, &record.columns).map_err(&invalid)?;
        match &self.details {
            None if !record.details.is_empty() => Err(invalid(format!(
                "it has {} detail lines but the spec keeps no details",
                record.details.len()
            ))),
            None => Ok(()),
            Some(spec) => {
                let mut seen = HashSet::new();
                for line in &record.details {
                    if !seen.insert(line.line_nbr) {
                        return Err(invalid(format!(
                            "detail line number {} appears twice",
                            line.line_nbr
                        )));
                    }
                    check_values(&spec.columns, &line.columns)
                        .map_err(|e| invalid(format!("detail line {}: {e}", line.line_nbr)))?;
                }
                Ok(())
            }
        }
    }
}

/// The value of an Acumatica field: `{"value": x}` gives `x`; `{}`/`{"value": null}`/absent
/// give `None`; a bare value (custom endpoints) is taken as is.
fn field<'a>(raw: &'a Value, name: &str) -> Option<&'a Value> {
    match raw.get(name)? {
        Value::Object(map) => map.get("value").filter(|v| !v.is_null()),
        Value::Null => None,
        other => Some(other),
    }
}

fn read_columns(
    specs: &[ColumnSpec],
    raw: &Value,
) -> Result<Vec<(String, WarehouseValue)>, String> {
    specs
        .iter()
        .map(|c| {
            let value = match field(raw, &c.source) {
                None => WarehouseValue::Null,
                Some(v) => convert(v, c.ty).map_err(|e| format!("field `{}`: {e}", c.source))?,
            };
            Ok((c.name.clone(), value))
        })
        .collect()
}

fn convert(v: &Value, ty: ColumnType) -> Result<WarehouseValue, String> {
    let text = || match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let wrong = || format!("{v} is not a {} value", ty.name());
    Ok(match ty {
        ColumnType::Text => WarehouseValue::Text(text().ok_or_else(wrong)?),
        ColumnType::Decimal => {
            let t = text().ok_or_else(wrong)?;
            WarehouseValue::Decimal(
                Decimal::from_str_exact(t.trim())
                    .or_else(|_| Decimal::from_scientific(t.trim()))
                    .map_err(|_| format!("{t:?} is not an exact decimal"))?,
            )
        }
        ColumnType::Date => {
            let t = v.as_str().ok_or_else(wrong)?;
            let day = t.get(..10).unwrap_or(t);
            WarehouseValue::Date(
                NaiveDate::parse_from_str(day, "%Y-%m-%d")
                    .map_err(|_| format!("{t:?} is not a date (YYYY-MM-DD...)"))?,
            )
        }
        ColumnType::Timestamp => {
            WarehouseValue::Timestamp(parse_timestamp(v.as_str().ok_or_else(wrong)?)?)
        }
        ColumnType::Integer => match v {
            Value::Number(n) => WarehouseValue::Integer(n.as_i64().ok_or_else(wrong)?),
            Value::String(s) => WarehouseValue::Integer(s.trim().parse().map_err(|_| wrong())?),
            _ => return Err(wrong()),
        },
        ColumnType::Boolean => match v {
            Value::Bool(b) => WarehouseValue::Boolean(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => WarehouseValue::Boolean(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => WarehouseValue::Boolean(false),
            _ => return Err(wrong()),
        },
    })
}

/// Acumatica sends `2023-12-14T17:20:45.16+00:00` in responses (0-3 fraction digits, offset)
/// and sometimes no offset at all.
fn parse_timestamp(t: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.with_timezone(&Utc));
    }
    NaiveDateTime::from_str(t)
        .map(|n| n.and_utc())
        .map_err(|_| format!("{t:?} is not a timestamp (RFC 3339)"))
}

fn check_values(specs: &[ColumnSpec], values: &[(String, WarehouseValue)]) -> Result<(), String> {
    let mut seen = HashSet::new();
    for (name, value) in values {
        let Some(spec) = specs.iter().find(|c| &c.name == name) else {
            let known: Vec<_> = specs.iter().map(|c| c.name.as_str()).collect();
            return Err(format!(
                "column `{name}` is not in the table spec (columns: {})",
                known.join(", ")
            ));
        };
        if !seen.insert(name.as_str()) {
            return Err(format!("column `{name}` is given twice"));
        }
        if !spec.ty.accepts(value) {
            return Err(format!(
                "column `{name}` is {} but got {value:?}",
                spec.ty.name()
            ));
        }
    }
    Ok(())
}

fn check_ident(name: &str) -> Result<(), &'static str> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if !first_ok
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        || name.len() > 63
    {
        return Err(
            "is not a plain identifier: use up to 63 lower-case ASCII letters, digits and `_`, not starting with a digit",
        );
    }
    Ok(())
}

fn check_columns(columns: &[ColumnSpec], system: &[&str]) -> Result<(), String> {
    let mut seen = HashSet::new();
    for c in columns {
        check_ident(&c.name).map_err(|r| format!("column name {:?} {r}", c.name))?;
        if system.contains(&c.name.as_str()) {
            return Err(format!(
                "column name `{}` is reserved (system columns: {})",
                c.name,
                system.join(", ")
            ));
        }
        if !seen.insert(c.name.as_str()) {
            return Err(format!("column `{}` appears twice", c.name));
        }
        if c.source.trim().is_empty() {
            return Err(format!("column `{}` has no source field", c.name));
        }
    }
    Ok(())
}
