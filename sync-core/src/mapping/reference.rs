//! Reference records: rows upserted into an Acumatica entity by key (e.g. an approved-vendor
//! list into `Vendor`), sending only the fields that differ from the current record.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Row;
use super::amount::parse_amount;
use super::cell::{cell, cell_text};
use super::config::{FieldSource, ValueMap};
use super::error::MappingError;
use super::suggest::closest_names;

/// The type a reference field takes in Acumatica (`StringValue`, `DecimalValue`,
/// `BooleanValue`), which decides how values are read and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Text, compared exactly after trimming surrounding whitespace (default).
    #[default]
    String,
    /// An exact decimal, compared by value (`30.0000` equals `30`).
    Decimal,
    /// A boolean (`true`/`false`, also `yes`/`no`, `1`/`0` in the source).
    Boolean,
}

/// One field of a reference record: a [`FieldSource`] plus the field's type.
///
/// In TOML: `VendorName = { column = "approved_vendors.name" }`,
/// `Status = { column = "approved_vendors.status", map = "status" }`,
/// `CreditLimit = { column = "approved_vendors.limit", type = "decimal" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReferenceField {
    /// The column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// A constant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constant: Option<String>,
    /// A value map applied to the column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<String>,
    /// The field's type.
    #[serde(default, rename = "type")]
    pub field_type: FieldType,
}

impl ReferenceField {
    fn source(&self) -> FieldSource {
        FieldSource {
            column: self.column.clone(),
            constant: self.constant.clone(),
            map: self.map.clone(),
        }
    }
}

/// The key field of the entity and the column that gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyField {
    /// The entity's key field, e.g. `VendorID`.
    pub field: String,
    /// The column holding it.
    pub column: String,
}

/// What an empty source cell means for a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EmptyCells {
    /// Leave the field as it is in Acumatica (default): an empty cell has no opinion.
    #[default]
    Keep,
    /// Clear the field in Acumatica.
    Clear,
}

/// A mapping of rows to reference records of one entity, as read from a TOML file.
///
/// Field names are the entity's contract field names; a field of a linked entity is written as
/// a path, e.g. `"MainContact/Email"`, and the current record passed to
/// [`ReferenceRecord::diff`] uses the same flat paths.
///
/// ```
/// use sync_core::mapping::ReferenceMapping;
/// let m = ReferenceMapping::from_toml_str(r#"
/// flow = "approved_vendors"
/// entity = "Vendor"
/// key = { field = "VendorID", column = "v.id" }
/// [fields]
/// VendorName = { column = "v.name" }
/// "#).unwrap();
/// assert_eq!(m.entity, "Vendor");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceMapping {
    /// The flow's name.
    pub flow: String,
    /// The Acumatica entity, e.g. `Vendor`.
    pub entity: String,
    /// The key.
    pub key: KeyField,
    /// The fields to keep in step, by contract field name.
    pub fields: BTreeMap<String, ReferenceField>,
    /// What empty cells mean.
    #[serde(default)]
    pub empty_cells: EmptyCells,
    /// Value maps by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub maps: BTreeMap<String, ValueMap>,
}

/// A field value of a reference record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FieldValue {
    /// No value.
    Empty,
    /// Text.
    Text(String),
    /// An exact decimal.
    Decimal(Decimal),
    /// A boolean.
    Bool(bool),
}

impl FieldValue {
    /// The value as plain JSON (decimals as exact JSON numbers), as a payload field takes it
    /// before the client wraps it in `{"value": …}`.
    pub fn to_json(&self) -> Value {
        match self {
            FieldValue::Empty => Value::Null,
            FieldValue::Text(s) => Value::String(s.clone()),
            FieldValue::Bool(b) => Value::Bool(*b),
            FieldValue::Decimal(d) => d
                .to_string()
                .parse::<serde_json::Number>()
                .map_or_else(|_| Value::String(d.to_string()), Value::Number),
        }
    }

    /// Reads a current (Acumatica-side) value as this value's type; `None` when it cannot be.
    fn same_as(&self, current: Option<&Value>) -> bool {
        let current = normalize_current(current);
        match (self, current) {
            (FieldValue::Empty, None) => true,
            (FieldValue::Empty, Some(_)) | (_, None) => false,
            (FieldValue::Text(s), Some(v)) => scalar_text(v).is_some_and(|t| t == *s),
            (FieldValue::Decimal(d), Some(v)) => parse_amount(v).is_ok_and(|c| c == *d),
            (FieldValue::Bool(b), Some(v)) => parse_bool(v) == Some(*b),
        }
    }
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Empty => f.write_str("(empty)"),
            FieldValue::Text(s) => write!(f, "`{s}`"),
            FieldValue::Decimal(d) => write!(f, "{d}"),
            FieldValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// Unwraps `{"value": x}` and treats `{}`, `null` and blank strings as no value.
fn normalize_current(v: Option<&Value>) -> Option<&Value> {
    let v = v?;
    let v = match v {
        Value::Object(o) => o.get("value")?,
        other => other,
    };
    match v {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        other => Some(other),
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.to_string().as_str() {
            "1" => Some(true),
            "0" => Some(false),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "1" => Some(true),
            "false" | "no" | "n" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// One record to upsert, in neutral form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceRecord {
    /// The 1-based row it came from.
    pub row: usize,
    /// The entity, e.g. `Vendor`.
    pub entity: String,
    /// The key field, e.g. `VendorID`.
    pub key_field: String,
    /// The key value.
    pub key: String,
    /// Field values by contract field name (paths for linked entities).
    pub fields: BTreeMap<String, FieldValue>,
}

/// A field whose current value differs from the wanted one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// The current value as Acumatica returned it (`Null` when empty or absent).
    pub current: Value,
    /// The wanted value.
    pub wanted: FieldValue,
}

/// What an upsert has to do for one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordChange {
    /// No current record: create it with all (non-empty) fields.
    Create(BTreeMap<String, FieldValue>),
    /// The record exists; these fields differ.
    Update(BTreeMap<String, FieldChange>),
    /// The record exists and every field already matches: send nothing.
    Unchanged,
}

impl ReferenceRecord {
    /// Compares this record with the current one in Acumatica (`None` when there is none).
    ///
    /// `current` is a flat map of field name (or path) to value, plain (`"ACME"`) or wrapped
    /// (`{"value": "ACME"}`); `{}`, `null`, blank strings and absent fields count as empty, so
    /// read the current record with every mapped field selected. Empty wanted values are left
    /// out unless the mapping says `empty_cells = "clear"` (the mapping leaves them out of
    /// `fields` then).
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use serde_json::json;
    /// use sync_core::mapping::{FieldValue, RecordChange, ReferenceRecord};
    ///
    /// let rec = ReferenceRecord {
    ///     row: 1, entity: "Vendor".into(), key_field: "VendorID".into(), key: "V1".into(),
    ///     fields: BTreeMap::from([
    ///         ("VendorName".into(), FieldValue::Text("Acme".into())),
    ///         ("Status".into(), FieldValue::Text("Active".into())),
    ///     ]),
    /// };
    /// let current = json!({"VendorID": {"value": "V1"}, "VendorName": {"value": "ACME Inc"},
    ///                      "Status": {"value": "Active"}});
    /// let change = rec.diff(Some(current.as_object().unwrap()));
    /// let RecordChange::Update(fields) = &change else { panic!() };
    /// assert_eq!(fields.keys().collect::<Vec<_>>(), ["VendorName"]);
    /// assert_eq!(rec.payload(&change).unwrap(),
    ///            *json!({"VendorID": "V1", "VendorName": "Acme"}).as_object().unwrap());
    /// ```
    pub fn diff(&self, current: Option<&Map<String, Value>>) -> RecordChange {
        let Some(current) = current else {
            return RecordChange::Create(
                self.fields
                    .iter()
                    .filter(|(_, v)| **v != FieldValue::Empty)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            );
        };
        let changes: BTreeMap<String, FieldChange> = self
            .fields
            .iter()
            .filter(|(name, wanted)| !wanted.same_as(current.get(name.as_str())))
            .map(|(name, wanted)| {
                (
                    name.clone(),
                    FieldChange {
                        current: normalize_current(current.get(name.as_str()))
                            .cloned()
                            .unwrap_or(Value::Null),
                        wanted: wanted.clone(),
                    },
                )
            })
            .collect();
        if changes.is_empty() {
            RecordChange::Unchanged
        } else {
            RecordChange::Update(changes)
        }
    }

    /// The fields to send for a change: the key plus the created or changed fields, as plain
    /// JSON (the client wraps each in `{"value": …}`). `None` for [`RecordChange::Unchanged`].
    pub fn payload(&self, change: &RecordChange) -> Option<Map<String, Value>> {
        let mut out = Map::new();
        out.insert(self.key_field.clone(), Value::String(self.key.clone()));
        match change {
            RecordChange::Unchanged => return None,
            RecordChange::Create(fields) => {
                for (k, v) in fields {
                    out.insert(k.clone(), v.to_json());
                }
            }
            RecordChange::Update(fields) => {
                for (k, c) in fields {
                    out.insert(k.clone(), c.wanted.to_json());
                }
            }
        }
        Some(out)
    }
}

/// The result of mapping reference rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedRecords {
    /// The flow.
    pub flow: String,
    /// One record per key, in order of first appearance.
    pub records: Vec<ReferenceRecord>,
    /// Every row problem; rows with problems (and keys given differently by two rows) are left
    /// out of `records`.
    pub errors: Vec<MappingError>,
    /// How many rows were read.
    pub rows_read: usize,
}

impl ReferenceMapping {
    /// Parses and checks a TOML reference mapping.
    pub fn from_toml_str(text: &str) -> Result<Self, MappingError> {
        let m: Self = toml::from_str(text).map_err(|e| MappingError::Toml {
            message: e.to_string(),
        })?;
        m.check()?;
        Ok(m)
    }

    /// Reads, parses and checks a TOML reference mapping file.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, MappingError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| MappingError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_toml_str(&text)
    }

    /// Checks the mapping's consistency.
    pub fn check(&self) -> Result<(), MappingError> {
        if self.flow.trim().is_empty() {
            return Err(MappingError::config("flow", "the flow name is empty"));
        }
        if self.entity.trim().is_empty() {
            return Err(MappingError::config(
                "entity",
                "name the Acumatica entity, e.g. `Vendor`",
            ));
        }
        if self.key.column.trim().is_empty() || self.key.field.trim().is_empty() {
            return Err(MappingError::config(
                "key",
                "give the key `field` and its `column`",
            ));
        }
        if self.fields.is_empty() {
            return Err(MappingError::config("fields", "map at least one field"));
        }
        if self.fields.contains_key(&self.key.field) {
            return Err(MappingError::config(
                format!("fields.{}", self.key.field),
                "the key field is set from `key`; remove it from [fields]",
            ));
        }
        for (name, f) in &self.fields {
            f.source().check(&format!("fields.{name}"), &self.maps)?;
            if let (Some(k), FieldType::Decimal) = (&f.constant, f.field_type) {
                super::amount::parse_decimal_text(k).map_err(|e| {
                    MappingError::config(format!("fields.{name}"), format!("constant `{k}` {e}"))
                })?;
            }
            if let (Some(k), FieldType::Boolean) = (&f.constant, f.field_type)
                && parse_bool(&Value::String(k.clone())).is_none()
            {
                return Err(MappingError::config(
                    format!("fields.{name}"),
                    format!("constant `{k}` is not a boolean (true/false)"),
                ));
            }
        }
        Ok(())
    }

    /// Every column the mapping reads.
    pub fn columns(&self) -> Vec<&str> {
        let mut out: Vec<&str> = std::iter::once(self.key.column.as_str())
            .chain(self.fields.values().filter_map(|f| f.column.as_deref()))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Maps rows to one record per key, reporting every row problem.
    pub fn map_rows(&self, rows: &[Row]) -> Result<MappedRecords, MappingError> {
        self.check()?;
        let mut out = MappedRecords {
            flow: self.flow.clone(),
            records: Vec::new(),
            errors: Vec::new(),
            rows_read: rows.len(),
        };
        if !rows.is_empty() {
            let mut present: Vec<&str> = rows
                .iter()
                .flat_map(|r| r.keys().map(String::as_str))
                .collect();
            present.sort_unstable();
            present.dedup();
            for column in self.columns() {
                if present.binary_search(&column).is_err() {
                    out.errors.push(MappingError::ColumnNotFound {
                        column: column.to_owned(),
                        suggestions: closest_names(column, present.iter().copied()),
                    });
                }
            }
            if !out.errors.is_empty() {
                return Ok(out);
            }
        }
        let mut by_key: HashMap<String, usize> = HashMap::new();
        let mut conflicted: Vec<bool> = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let number = i + 1;
            let Some(record) = self.map_row(row, number, &mut out.errors) else {
                continue;
            };
            match by_key.get(&record.key) {
                None => {
                    by_key.insert(record.key.clone(), out.records.len());
                    out.records.push(record);
                    conflicted.push(false);
                }
                Some(&j) if out.records[j].fields == record.fields => {}
                Some(&j) => {
                    out.errors.push(MappingError::DuplicateKey {
                        entity: self.entity.clone(),
                        column: self.key.column.clone(),
                        key: record.key.clone(),
                        first_row: out.records[j].row,
                        row: number,
                    });
                    conflicted[j] = true;
                }
            }
        }
        let mut keep = conflicted.iter().map(|c| !c);
        out.records.retain(|_| keep.next().unwrap_or(true));
        Ok(out)
    }

    fn map_row(
        &self,
        row: &Row,
        number: usize,
        errors: &mut Vec<MappingError>,
    ) -> Option<ReferenceRecord> {
        let before = errors.len();
        let key = match cell_text(row, &self.key.column) {
            Ok(Some(k)) => Some(k),
            Ok(None) => {
                errors.push(MappingError::MissingValue {
                    row: number,
                    column: self.key.column.clone(),
                    field: "key",
                });
                None
            }
            Err(json) => {
                errors.push(MappingError::NotScalar {
                    row: number,
                    column: self.key.column.clone(),
                    value: json,
                });
                None
            }
        };
        let mut fields = BTreeMap::new();
        for (name, f) in &self.fields {
            if let Some(v) = self.field_value(row, number, f, errors)
                && (v != FieldValue::Empty || self.empty_cells == EmptyCells::Clear)
            {
                fields.insert(name.clone(), v);
            }
        }
        (errors.len() == before).then(|| ReferenceRecord {
            row: number,
            entity: self.entity.clone(),
            key_field: self.key.field.clone(),
            key: key.unwrap_or_default(),
            fields,
        })
    }

    fn field_value(
        &self,
        row: &Row,
        number: usize,
        f: &ReferenceField,
        errors: &mut Vec<MappingError>,
    ) -> Option<FieldValue> {
        let column = f.column.clone().unwrap_or_else(|| "constant".into());
        let raw: Option<Value> = match (&f.constant, &f.column) {
            (Some(k), _) => Some(Value::String(k.clone())),
            (None, Some(c)) => cell(row, c).cloned(),
            (None, None) => None,
        };
        let raw = match raw {
            Some(Value::String(s)) if s.trim().is_empty() => None,
            other => other,
        };
        let Some(raw) = raw else {
            return Some(FieldValue::Empty);
        };
        // Value maps translate the cell's text before typing it.
        let raw = match (&f.map, f.constant.is_none()) {
            (Some(map_name), true) => {
                let Some(text) = scalar_text(&raw) else {
                    errors.push(MappingError::NotScalar {
                        row: number,
                        column,
                        value: raw.to_string(),
                    });
                    return None;
                };
                let map = &self.maps[map_name];
                match map.get(&text) {
                    Some(v) => Value::String(v.clone()),
                    None => {
                        errors.push(MappingError::Unmapped {
                            row: number,
                            column,
                            value: text.clone(),
                            map: map_name.clone(),
                            suggestions: closest_names(&text, map.keys().map(String::as_str)),
                        });
                        return None;
                    }
                }
            }
            _ => raw,
        };
        let wrong = |expected: &'static str| MappingError::WrongType {
            row: number,
            column: column.clone(),
            value: raw.to_string(),
            expected,
        };
        match f.field_type {
            FieldType::String => match scalar_text(&raw) {
                Some(t) => Some(FieldValue::Text(t)),
                None => {
                    errors.push(wrong("text value"));
                    None
                }
            },
            FieldType::Decimal => match parse_amount(&raw) {
                Ok(d) => Some(FieldValue::Decimal(d)),
                Err(source) => {
                    errors.push(MappingError::Amount {
                        row: number,
                        column,
                        value: raw.to_string(),
                        source,
                    });
                    None
                }
            },
            FieldType::Boolean => match parse_bool(&raw) {
                Some(b) => Some(FieldValue::Bool(b)),
                None => {
                    errors.push(wrong("boolean (true/false, yes/no, 1/0)"));
                    None
                }
            },
        }
    }
}
