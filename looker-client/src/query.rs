//! Query definitions: [`WriteQuery`] (what is sent), [`Query`] (what Looker
//! stores and returns) and [`QueryId`].
//!
//! Field names and JSON types are the spec's (`Query` in `Looker.4.0.oas.json`):
//! `limit`, `column_limit`, `row_total` and `dynamic_fields` are JSON
//! *strings*; unset fields are left out of the body. Looker may send a number
//! where a string is declared and vice versa ("type ambiguity" in the SDK
//! docs), so every string field here also accepts a number when decoding.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, Result};

/// The row limit Looker applies when a query sets none (the Explore limit,
/// FACTS section 5).
pub const DEFAULT_ROW_LIMIT: i64 = 5000;

/// The id of a saved query. Ids are strings in API 4.0; a number is accepted.
///
/// ```
/// use looker_client::QueryId;
/// let a: QueryId = serde_json::from_str("\"42\"").unwrap();
/// let b: QueryId = serde_json::from_str("42").unwrap();
/// assert_eq!(a, b);
/// assert_eq!(a.as_str(), "42");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct QueryId(String);

impl QueryId {
    /// Wraps an id.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for QueryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for QueryId {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl From<String> for QueryId {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<u64> for QueryId {
    fn from(n: u64) -> Self {
        Self(n.to_string())
    }
}

impl<'de> Deserialize<'de> for QueryId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lenient_string(d).map(Self)
    }
}

/// A string that may arrive as a JSON number (exact digits are kept).
pub(crate) fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected a string or number, found {other}"
        ))),
    }
}

/// Like [`lenient_string`], allowing `null`.
pub(crate) fn lenient_opt_string<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) => Ok(Some(s)),
        serde_json::Value::Number(n) => Ok(Some(n.to_string())),
        serde_json::Value::Bool(b) => Ok(Some(b.to_string())),
        other => Err(serde::de::Error::custom(format!(
            "expected a string or number, found {other}"
        ))),
    }
}

/// A query to create or run (the spec's `Query` without its read-only
/// properties, as the official SDKs' `WriteQuery`).
///
/// `view` is the **explore** name. Build it with the setters:
///
/// ```
/// use looker_client::WriteQuery;
///
/// let q = WriteQuery::new("thelook", "inventory_items")
///     .fields(["category.name", "products.count"])
///     .filter("category.name", "socks")
///     .sorts(["products.count desc 0"])
///     .with_limit(500)
///     .query_timezone("America/Los_Angeles");
/// let json = serde_json::to_value(&q).unwrap();
/// assert_eq!(json["limit"], "500");
/// assert!(json.get("pivots").is_none(), "unset fields are not sent");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WriteQuery {
    /// LookML model name (required).
    pub model: String,
    /// Explore name (required).
    pub view: String,
    /// Fully qualified `view.field` names to select.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
    /// Fields to pivot on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pivots: Option<Vec<String>>,
    /// Dimensions whose missing values Looker fills in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill_fields: Option<Vec<String>>,
    /// Field name to Looker filter expression (`{"orders.status": "complete"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<BTreeMap<String, String>>,
    /// A Looker expression filter (for conditions with "or").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_expression: Option<String>,
    /// Sorts: `"view.field"`, `"view.field desc"`; `["__UNSORTED__"]` disables sorting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sorts: Option<Vec<String>>,
    /// Row limit as a string; `"-1"` means unlimited. Unset: 5000.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_string"
    )]
    pub limit: Option<String>,
    /// Column limit (pivots), as a string.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_string"
    )]
    pub column_limit: Option<String>,
    /// Compute column totals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<bool>,
    /// Row totals, as a string.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_string"
    )]
    pub row_total: Option<String>,
    /// Fields to compute subtotals on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtotals: Option<Vec<String>>,
    /// Visualization settings (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vis_config: Option<serde_json::Value>,
    /// UI filter state (opaque; the spec asks to leave it unset when creating).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_config: Option<serde_json::Value>,
    /// Visible UI sections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible_ui_sections: Option<String>,
    /// Custom fields and table calculations: a JSON array *as a string*.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_fields: Option<String>,
    /// Client-chosen id (22 alphanumeric characters); usually left unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Time zone of the query, e.g. `America/Los_Angeles`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_timezone: Option<String>,
}

fn strings<I, S>(items: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    items.into_iter().map(Into::into).collect()
}

impl WriteQuery {
    /// A query on `model` and explore `explore` with nothing selected yet.
    pub fn new(model: impl Into<String>, explore: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            view: explore.into(),
            ..Self::default()
        }
    }

    /// Sets the selected fields.
    pub fn fields<I: IntoIterator<Item = S>, S: Into<String>>(mut self, fields: I) -> Self {
        self.fields = Some(strings(fields));
        self
    }

    /// Sets the pivots.
    pub fn pivots<I: IntoIterator<Item = S>, S: Into<String>>(mut self, pivots: I) -> Self {
        self.pivots = Some(strings(pivots));
        self
    }

    /// Sets the fill fields.
    pub fn fill_fields<I: IntoIterator<Item = S>, S: Into<String>>(mut self, f: I) -> Self {
        self.fill_fields = Some(strings(f));
        self
    }

    /// Adds (or replaces) the filter on `field`.
    ///
    /// ```
    /// let q = looker_client::WriteQuery::new("m", "e").filter("orders.id", ">100");
    /// assert_eq!(q.filters.unwrap()["orders.id"], ">100");
    /// ```
    pub fn filter(mut self, field: impl Into<String>, expression: impl Into<String>) -> Self {
        self.filters
            .get_or_insert_with(BTreeMap::new)
            .insert(field.into(), expression.into());
        self
    }

    /// Sets the filter expression.
    pub fn filter_expression(mut self, expression: impl Into<String>) -> Self {
        self.filter_expression = Some(expression.into());
        self
    }

    /// Sets the sorts.
    pub fn sorts<I: IntoIterator<Item = S>, S: Into<String>>(mut self, sorts: I) -> Self {
        self.sorts = Some(strings(sorts));
        self
    }

    /// Sets the row limit; `-1` means unlimited.
    ///
    /// ```
    /// let q = looker_client::WriteQuery::new("m", "e").with_limit(-1);
    /// assert_eq!(q.limit.as_deref(), Some("-1"));
    /// ```
    pub fn with_limit(mut self, limit: i64) -> Self {
        self.limit = Some(limit.to_string());
        self
    }

    /// Sets the column limit.
    pub fn column_limit(mut self, limit: i64) -> Self {
        self.column_limit = Some(limit.to_string());
        self
    }

    /// Asks for column totals.
    pub fn total(mut self, total: bool) -> Self {
        self.total = Some(total);
        self
    }

    /// Sets row totals.
    pub fn row_total(mut self, row_total: impl Into<String>) -> Self {
        self.row_total = Some(row_total.into());
        self
    }

    /// Sets the subtotal fields.
    pub fn subtotals<I: IntoIterator<Item = S>, S: Into<String>>(mut self, s: I) -> Self {
        self.subtotals = Some(strings(s));
        self
    }

    /// Sets the dynamic fields from a JSON array (sent as a string, as the
    /// spec declares).
    ///
    /// ```
    /// let q = looker_client::WriteQuery::new("m", "e").dynamic_fields(&serde_json::json!([
    ///     {"table_calculation": "share", "expression": "${orders.count} / sum(${orders.count})"}
    /// ]));
    /// assert!(q.dynamic_fields.unwrap().starts_with("[{"));
    /// ```
    pub fn dynamic_fields(mut self, fields: &serde_json::Value) -> Self {
        self.dynamic_fields = Some(fields.to_string());
        self
    }

    /// Sets the query time zone.
    pub fn query_timezone(mut self, tz: impl Into<String>) -> Self {
        self.query_timezone = Some(tz.into());
        self
    }

    /// The row limit this query sets: `None` when unset, `Some(-1)` when
    /// unlimited. A limit that is not a number is a configuration error.
    pub fn row_limit(&self) -> Result<Option<i64>> {
        parse_limit(self.limit.as_deref())
    }

    /// Checks the two required fields before anything is sent.
    pub(crate) fn check_required(&self) -> Result<()> {
        if self.model.trim().is_empty() || self.view.trim().is_empty() {
            return Err(Error::config(
                "a WriteQuery needs both `model` (the LookML model) and `view` (the explore name)",
            ));
        }
        self.row_limit().map(|_| ())
    }
}

pub(crate) fn parse_limit(limit: Option<&str>) -> Result<Option<i64>> {
    match limit.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s.parse::<i64>().map(Some).map_err(|_| {
            Error::config(format!(
                "the query limit `{s}` is not a whole number (use e.g. \"500\", or \"-1\" for unlimited)"
            ))
        }),
    }
}

/// A query as Looker stores it (`POST /queries`, `GET /queries/{id}`).
///
/// Queries are immutable: creating the same body again returns the same
/// query, which is why creation is safe to retry.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct Query {
    /// The query id.
    pub id: QueryId,
    /// Short slug for sharing.
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub slug: Option<String>,
    /// Share URL.
    #[serde(default)]
    pub share_url: Option<String>,
    /// Expanded share URL.
    #[serde(default)]
    pub expanded_share_url: Option<String>,
    /// Explore URL of the query.
    #[serde(default)]
    pub url: Option<String>,
    /// Whether the query has table calculations (then results may not stream).
    #[serde(default)]
    pub has_table_calculations: Option<bool>,
    /// LookML model.
    #[serde(default)]
    pub model: String,
    /// Explore.
    #[serde(default)]
    pub view: String,
    /// Selected fields.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// Pivots.
    #[serde(default)]
    pub pivots: Option<Vec<String>>,
    /// Fill fields.
    #[serde(default)]
    pub fill_fields: Option<Vec<String>>,
    /// Filters.
    #[serde(default)]
    pub filters: Option<BTreeMap<String, String>>,
    /// Filter expression.
    #[serde(default)]
    pub filter_expression: Option<String>,
    /// Sorts.
    #[serde(default)]
    pub sorts: Option<Vec<String>>,
    /// Row limit (string; `"-1"` unlimited).
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub limit: Option<String>,
    /// Column limit.
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub column_limit: Option<String>,
    /// Column totals.
    #[serde(default)]
    pub total: Option<bool>,
    /// Row totals.
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub row_total: Option<String>,
    /// Subtotals.
    #[serde(default)]
    pub subtotals: Option<Vec<String>>,
    /// Dynamic fields (JSON string).
    #[serde(default)]
    pub dynamic_fields: Option<String>,
    /// Client id.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Time zone.
    #[serde(default)]
    pub query_timezone: Option<String>,
}

impl Query {
    /// The definition of this query as a [`WriteQuery`] (for validation or
    /// to derive a new query from it).
    pub fn to_write_query(&self) -> WriteQuery {
        WriteQuery {
            model: self.model.clone(),
            view: self.view.clone(),
            fields: self.fields.clone(),
            pivots: self.pivots.clone(),
            fill_fields: self.fill_fields.clone(),
            filters: self.filters.clone(),
            filter_expression: self.filter_expression.clone(),
            sorts: self.sorts.clone(),
            limit: self.limit.clone(),
            column_limit: self.column_limit.clone(),
            total: self.total,
            row_total: self.row_total.clone(),
            subtotals: self.subtotals.clone(),
            vis_config: None,
            filter_config: None,
            visible_ui_sections: None,
            dynamic_fields: self.dynamic_fields.clone(),
            client_id: self.client_id.clone(),
            query_timezone: self.query_timezone.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_query_serializes_spec_shapes_without_nulls() {
        let q = WriteQuery::new("thelook", "orders")
            .fields(["orders.id"])
            .with_limit(10)
            .column_limit(5)
            .dynamic_fields(&serde_json::json!([{"dimension": "d", "expression": "1"}]));
        let v = serde_json::to_value(&q).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "model": "thelook", "view": "orders", "fields": ["orders.id"],
                "limit": "10", "column_limit": "5",
                "dynamic_fields": "[{\"dimension\":\"d\",\"expression\":\"1\"}]"
            })
        );
    }

    #[test]
    fn query_accepts_numbers_for_strings() {
        let q: Query = serde_json::from_str(
            r#"{"id": 17, "model": "m", "view": "v", "limit": 500, "slug": null, "fields": null}"#,
        )
        .unwrap();
        assert_eq!(q.id.as_str(), "17");
        assert_eq!(q.limit.as_deref(), Some("500"));
        assert_eq!(q.to_write_query().row_limit().unwrap(), Some(500));
    }

    #[test]
    fn bad_limit_is_a_config_error() {
        let mut q = WriteQuery::new("m", "e");
        q.limit = Some("lots".into());
        let e = q.check_required().unwrap_err();
        assert!(e.to_string().contains("`lots` is not a whole number"));
        let e = WriteQuery::new("", "e").check_required().unwrap_err();
        assert!(e.to_string().contains("needs both"));
    }
}
