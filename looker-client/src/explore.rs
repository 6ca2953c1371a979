//! Explore metadata and query validation.
//!
//! `GET /lookml_models/{model}/explores/{explore}` lists an explore's
//! dimensions, measures, filters and parameters. [`Client::validate`] checks
//! every name a [`WriteQuery`] uses against that list before the query is
//! sent, and reports each unknown name with the closest valid ones, so a typo
//! is a clear error instead of a Looker 400 (or, worse, silently empty data).

use std::collections::HashSet;
use std::sync::Arc;

use serde::Deserialize;

use crate::client::Client;
use crate::error::{Error, Result, UnknownField};
use crate::query::{WriteQuery, lenient_opt_string};
use crate::transport::Request;

/// One field of an explore (the spec's `LookmlModelExploreField`, the
/// properties useful to a client).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct LookmlModelExploreField {
    /// Fully qualified name, e.g. `orders.count`.
    #[serde(default, deserialize_with = "null_as_empty_string")]
    pub name: String,
    /// Label.
    #[serde(default)]
    pub label: Option<String>,
    /// Short label.
    #[serde(default)]
    pub label_short: Option<String>,
    /// `dimension`, `measure`, `filter` or `parameter`.
    #[serde(default)]
    pub category: Option<String>,
    /// The LookML type (`string`, `number`, `date_date`, `sum`, ...).
    #[serde(default, rename = "type")]
    pub field_type: Option<String>,
    /// Whether it is a measure.
    #[serde(default)]
    pub measure: Option<bool>,
    /// Whether its values are numeric.
    #[serde(default)]
    pub is_numeric: Option<bool>,
    /// Whether it is a timeframe of a dimension group.
    #[serde(default)]
    pub is_timeframe: Option<bool>,
    /// Hidden in the UI (still queryable).
    #[serde(default)]
    pub hidden: Option<bool>,
    /// Whether it is the view's primary key.
    #[serde(default)]
    pub primary_key: Option<bool>,
    /// The view it belongs to.
    #[serde(default)]
    pub view: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Value format.
    #[serde(default)]
    pub value_format: Option<String>,
}

/// The field lists of an explore (`LookmlModelExploreFieldset`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct LookmlModelExploreFieldset {
    /// Dimensions (each timeframe of a dimension group is one).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub dimensions: Vec<LookmlModelExploreField>,
    /// Measures.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub measures: Vec<LookmlModelExploreField>,
    /// Filter-only fields.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub filters: Vec<LookmlModelExploreField>,
    /// Parameters.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub parameters: Vec<LookmlModelExploreField>,
}

fn null_as_empty_string<'de, D>(d: D) -> std::result::Result<String, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

fn null_as_empty<'de, D, T>(d: D) -> std::result::Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// An explore's metadata (`LookmlModelExplore`, the properties useful to a
/// client).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct LookmlModelExplore {
    /// `model::explore`.
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub id: Option<String>,
    /// Explore name.
    #[serde(default)]
    pub name: Option<String>,
    /// Label.
    #[serde(default)]
    pub label: Option<String>,
    /// Model name.
    #[serde(default)]
    pub model_name: Option<String>,
    /// Base view name.
    #[serde(default)]
    pub view_name: Option<String>,
    /// Whether totals can be computed.
    #[serde(default)]
    pub can_total: Option<bool>,
    /// Whether subtotals can be computed.
    #[serde(default)]
    pub can_subtotal: Option<bool>,
    /// The fields.
    #[serde(default)]
    pub fields: LookmlModelExploreFieldset,
}

/// The roles a name plays in a query, for deciding which explore fields
/// are valid there.
#[derive(Clone, Copy)]
enum Role {
    /// `fields` and `sorts`: dimensions, measures, dynamic fields.
    Select,
    /// `filters`: any field, filter or parameter.
    Filter,
    /// `pivots`, `fill_fields`, `subtotals`: dimensions and dynamic dimensions.
    Dimension,
}

impl LookmlModelExplore {
    /// Every name of the explore valid in `role`, plus the query's own
    /// dynamic fields.
    fn names<'a>(&'a self, role: Role, dynamic: &'a [String]) -> Vec<&'a str> {
        let f = &self.fields;
        let mut out: Vec<&str> = match role {
            Role::Select => f
                .dimensions
                .iter()
                .chain(&f.measures)
                .map(|x| x.name.as_str())
                .collect(),
            Role::Filter => f
                .dimensions
                .iter()
                .chain(&f.measures)
                .chain(&f.filters)
                .chain(&f.parameters)
                .map(|x| x.name.as_str())
                .collect(),
            Role::Dimension => f.dimensions.iter().map(|x| x.name.as_str()).collect(),
        };
        out.extend(dynamic.iter().map(String::as_str));
        out
    }

    /// Checks every name `query` uses against this explore; the error lists
    /// each unknown name with up to three suggestions.
    ///
    /// ```
    /// use looker_client::{LookmlModelExplore, WriteQuery};
    ///
    /// let explore: LookmlModelExplore = serde_json::from_value(serde_json::json!({
    ///     "name": "orders",
    ///     "fields": {
    ///         "dimensions": [{"name": "orders.id"}, {"name": "orders.created_date"}],
    ///         "measures": [{"name": "orders.count"}]
    ///     }
    /// })).unwrap();
    /// let q = WriteQuery::new("shop", "orders").fields(["orders.id", "orders.cout"]);
    /// let err = explore.check(&q).unwrap_err();
    /// assert_eq!(err.unknown_fields()[0].suggestions[0], "orders.count");
    /// ```
    pub fn check(&self, query: &WriteQuery) -> Result<()> {
        let dynamic = dynamic_field_names(query.dynamic_fields.as_deref())?;
        let mut unknown = Vec::new();
        let mut check =
            |used_in: &'static str, role: Role, names: &mut dyn Iterator<Item = String>| {
                let valid = self.names(role, &dynamic);
                let set: HashSet<&str> = valid.iter().copied().collect();
                for name in names {
                    if !set.contains(name.as_str()) {
                        unknown.push(UnknownField {
                            used_in,
                            suggestions: closest(&name, &valid),
                            name,
                        });
                    }
                }
            };
        let list = |v: &Option<Vec<String>>| v.clone().unwrap_or_default().into_iter();
        check("fields", Role::Select, &mut list(&query.fields));
        check("pivots", Role::Dimension, &mut list(&query.pivots));
        check(
            "fill_fields",
            Role::Dimension,
            &mut list(&query.fill_fields),
        );
        check("subtotals", Role::Dimension, &mut list(&query.subtotals));
        check(
            "filters",
            Role::Filter,
            &mut query.filters.clone().unwrap_or_default().into_keys(),
        );
        check(
            "sorts",
            Role::Select,
            &mut list(&query.sorts).filter_map(|s| sort_field(&s)),
        );
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(Error::unknown_names(&query.model, &query.view, unknown))
        }
    }
}

/// The field of a sort such as `products.count desc 0`; `None` for
/// `__UNSORTED__`.
fn sort_field(sort: &str) -> Option<String> {
    let field = sort.split_whitespace().next()?;
    (field != "__UNSORTED__").then(|| field.to_owned())
}

/// The names defined by a query's `dynamic_fields` (custom dimensions,
/// measures and table calculations), which are valid beside the explore's.
fn dynamic_field_names(json: Option<&str>) -> Result<Vec<String>> {
    let Some(json) = json.filter(|s| !s.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    let items: Vec<serde_json::Map<String, serde_json::Value>> = serde_json::from_str(json)
        .map_err(|e| {
            Error::config(format!(
                "dynamic_fields must be a JSON array of objects (as a string): {e}"
            ))
        })?;
    Ok(items
        .iter()
        .flat_map(|item| {
            ["table_calculation", "measure", "dimension"]
                .into_iter()
                .filter_map(|k| item.get(k).and_then(|v| v.as_str()).map(str::to_owned))
        })
        .collect())
}

/// Up to three valid names closest to `name`, best first.
///
/// Names of the same view are compared by their field part (all names of a
/// view share the `view.` prefix, which would make every one look close);
/// names of other views by the whole name, slightly discounted (so
/// `customer.count` still finds `customers.count`).
fn closest(name: &str, valid: &[&str]) -> Vec<String> {
    fn split(s: &str) -> (String, String) {
        let lower = s.to_ascii_lowercase();
        match lower.split_once('.') {
            Some((v, f)) => (v.to_owned(), f.to_owned()),
            None => (String::new(), lower),
        }
    }
    let (view, field) = split(name);
    let whole = name.to_ascii_lowercase();
    // Close means: a few edits away (typos, one per three characters), or
    // similar by Jaro-Winkler (a missing suffix such as `_date`).
    let similarity = |a: &str, b: &str| -> Option<f64> {
        let edits = strsim::damerau_levenshtein(a, b);
        let longest = a.chars().count().max(b.chars().count()).max(1);
        let by_edits = 1.0 - edits as f64 / longest as f64;
        let jw = strsim::jaro_winkler(a, b);
        let allowed = (a.chars().count() / 3).max(1);
        (edits <= allowed || jw >= 0.85).then_some(by_edits.max(jw))
    };
    let mut scored: Vec<(f64, &str)> = valid
        .iter()
        .filter_map(|v| {
            let (v_view, v_field) = split(v);
            let score = if v_view == view {
                similarity(&field, &v_field)?
            } else {
                0.95 * similarity(&whole, &v.to_ascii_lowercase())?
            };
            Some((score, *v))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored
        .into_iter()
        .take(3)
        .map(|(_, v)| v.to_owned())
        .collect()
}

/// ` (did you mean `a`, `b`?)` for the names closest to `name`, or the first few valid
/// `kind` when none is close.
fn suggestion(name: &str, valid: &[&str], kind: &str) -> String {
    let close = closest(name, valid);
    if !close.is_empty() {
        let list: Vec<String> = close.iter().map(|c| format!("`{c}`")).collect();
        return format!(" (did you mean {}?)", list.join(", "));
    }
    if valid.is_empty() {
        return format!("; it can see no {kind}: check the API user's role");
    }
    let mut shown: Vec<&str> = valid.to_vec();
    shown.sort_unstable();
    let more = shown.len().saturating_sub(10);
    shown.truncate(10);
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!("; its {kind}: {}{tail}", shown.join(", "))
}

impl Client {
    /// `GET /lookml_models/{model}/explores/{explore}`: the explore's
    /// metadata, fetched fresh.
    ///
    /// ```no_run
    /// # async fn demo(client: looker_client::Client) -> Result<(), looker_client::Error> {
    /// let explore = client.lookml_model_explore("thelook", "orders").await?;
    /// for d in &explore.fields.dimensions {
    ///     println!("{}", d.name);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn lookml_model_explore(
        &self,
        model: &str,
        explore: &str,
    ) -> Result<LookmlModelExplore> {
        let req = Request::get(&["lookml_models", model, "explores", explore]).query(
            "fields",
            "id,name,label,model_name,view_name,can_total,can_subtotal,fields",
        );
        match self.call_json(&req).await {
            Err(e) if e.is_not_found() => {
                Err(self.explain_missing_explore(model, explore, e).await)
            }
            other => other,
        }
    }

    /// After a 404 about `model` and `explore`: says which of the two the API user cannot
    /// see, with the closest names it can. Returns `original` when the models cannot be
    /// listed or both exist (the 404 was about something else).
    pub(crate) async fn explain_missing_explore(
        &self,
        model: &str,
        explore: &str,
        original: Error,
    ) -> Error {
        let models: Vec<crate::paging::LookmlModel> = match self
            .get_json("lookml_models", &[("fields", "name,explores")])
            .await
        {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(error = %e, "listing the models after a 404 failed");
                return original;
            }
        };
        let model_names: Vec<&str> = models.iter().filter_map(|m| m.name.as_deref()).collect();
        let message = match models.iter().find(|m| m.name.as_deref() == Some(model)) {
            None => format!(
                "Looker at {} has no model `{model}` that the API user can see{}",
                self.inner.transport.origin(),
                suggestion(model, &model_names, "models")
            ),
            Some(m) => {
                let explores: Vec<&str> = m
                    .explores
                    .iter()
                    .flatten()
                    .filter_map(|e| e.name.as_deref())
                    .collect();
                if explores.contains(&explore) {
                    return original;
                }
                format!(
                    "Looker model `{model}` has no explore `{explore}` that the API user can see{}",
                    suggestion(explore, &explores, "explores")
                )
            }
        };
        Error::new(crate::ErrorKind::NotFound, message).with_source(original)
    }

    /// Checks `query`'s field, pivot, filter and sort names against its
    /// explore (fetched once per client and explore, then cached). The
    /// error, of kind [`UnknownFields`](crate::ErrorKind::UnknownFields),
    /// lists every unknown name with the closest valid names.
    ///
    /// ```no_run
    /// # async fn demo(client: looker_client::Client) -> Result<(), looker_client::Error> {
    /// let q = looker_client::WriteQuery::new("thelook", "orders").fields(["orders.cont"]);
    /// if let Err(e) = client.validate(&q).await {
    ///     eprintln!("{e}"); // ... `orders.cont` in fields (did you mean `orders.count`?)
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn validate(&self, query: &WriteQuery) -> Result<()> {
        query.check_required()?;
        let key = (query.model.clone(), query.view.clone());
        let cached = self
            .inner
            .explores
            .lock()
            .expect("explore cache")
            .get(&key)
            .cloned();
        let explore = match cached {
            Some(e) => e,
            None => {
                let fetched = Arc::new(self.lookml_model_explore(&query.model, &query.view).await?);
                self.inner
                    .explores
                    .lock()
                    .expect("explore cache")
                    .insert(key, fetched.clone());
                fetched
            }
        };
        explore.check(query)
    }

    /// Forgets the cached explore metadata (after a LookML deploy).
    pub fn clear_explore_cache(&self) {
        self.inner.explores.lock().expect("explore cache").clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn explore() -> LookmlModelExplore {
        serde_json::from_value(serde_json::json!({
            "id": "shop::orders",
            "fields": {
                "dimensions": [
                    {"name": "orders.id", "primary_key": true},
                    {"name": "orders.created_date"},
                    {"name": "customers.name"}
                ],
                "measures": [{"name": "orders.count"}, {"name": "orders.total_amount"}],
                "filters": [{"name": "orders.date_filter"}],
                "parameters": null
            }
        }))
        .unwrap()
    }

    #[test]
    fn valid_query_passes() {
        let q = WriteQuery::new("shop", "orders")
            .fields(["orders.id", "orders.count", "share"])
            .filter("orders.date_filter", "7 days")
            .sorts(["orders.count desc 0", "__UNSORTED__"])
            .pivots(["customers.name"])
            .dynamic_fields(
                &serde_json::json!([{"table_calculation": "share", "expression": "1"}]),
            );
        explore().check(&q).unwrap();
    }

    #[test]
    fn every_unknown_name_is_listed_with_suggestions() {
        let q = WriteQuery::new("shop", "orders")
            .fields(["orders.id", "orders.cont", "order.total_amount"])
            .filter("orders.created", "today")
            .sorts(["orders.iid desc"])
            .pivots(["orders.count"])
            .fill_fields(["zzz.qqq"]);
        let e = explore().check(&q).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnknownFields);
        let u = e.unknown_fields();
        let names: Vec<(&str, &str)> = u.iter().map(|x| (x.used_in, x.name.as_str())).collect();
        assert_eq!(
            names,
            vec![
                ("fields", "orders.cont"),
                ("fields", "order.total_amount"),
                ("pivots", "orders.count"),
                ("fill_fields", "zzz.qqq"),
                ("filters", "orders.created"),
                ("sorts", "orders.iid"),
            ]
        );
        assert_eq!(u[0].suggestions[0], "orders.count");
        assert_eq!(u[1].suggestions[0], "orders.total_amount");
        // A measure is not valid as a pivot: suggestions are dimensions.
        assert!(!u[2].suggestions.contains(&"orders.count".to_owned()));
        assert!(u[3].suggestions.is_empty());
        assert_eq!(u[4].suggestions[0], "orders.created_date");
        assert_eq!(u[5].suggestions[0], "orders.id");
        let msg = e.to_string();
        assert!(msg.contains("explore `shop::orders`"), "{msg}");
        assert!(
            msg.contains("`orders.cont` in fields (did you mean `orders.count`"),
            "{msg}"
        );
        assert!(
            msg.contains("`zzz.qqq` in fill_fields (no similar name"),
            "{msg}"
        );
    }

    #[test]
    fn suggestions_ignore_the_shared_view_prefix() {
        let valid = [
            "gl_lines.id",
            "gl_lines.period",
            "gl_lines.debit",
            "gl_lines.amount",
        ];
        assert_eq!(closest("gl_lines.idd", &valid), vec!["gl_lines.id"]);
        assert_eq!(closest("gl_line.amount", &valid)[0], "gl_lines.amount");
        assert!(closest("gl_lines.zzzz", &valid).is_empty());
    }

    #[test]
    fn bad_dynamic_fields_json_is_reported() {
        let mut q = WriteQuery::new("shop", "orders");
        q.dynamic_fields = Some("{not json".into());
        let e = explore().check(&q).unwrap_err();
        assert!(
            e.to_string()
                .contains("dynamic_fields must be a JSON array")
        );
    }
}
