//! Query bodies (`WriteQuery`): parsing, validation against the explore, and
//! the `Query` document the API answers with.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json, json};

use super::catalog::{self, ExploreDef, FieldType};
use super::filter::{self, Matcher};

/// One entry of a 422 `ValidationError.errors`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Detail {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl Detail {
    fn new(field: &str, code: &'static str, message: String) -> Self {
        Detail {
            field: field.to_owned(),
            code,
            message,
        }
    }
}

/// The row limit of a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Limit {
    /// No limit given: the server default (5000) applies.
    Default,
    /// `-1`: every row.
    Unlimited,
    /// At most this many rows.
    Rows(u64),
}

impl Limit {
    /// Parses a limit given as a string or a number (`-1` = unlimited).
    pub(crate) fn parse(raw: &str) -> Result<Limit, String> {
        match raw.trim().parse::<i64>() {
            Ok(-1) => Ok(Limit::Unlimited),
            Ok(n) if n > 0 => Ok(Limit::Rows(n as u64)),
            _ => Err(format!(
                "limit `{raw}` is not a positive whole number or -1 (unlimited)"
            )),
        }
    }

    /// The effective row cap.
    pub(crate) fn rows(self, default: u64) -> Option<u64> {
        match self {
            Limit::Default => Some(default),
            Limit::Unlimited => None,
            Limit::Rows(n) => Some(n),
        }
    }
}

/// A validated query body.
#[derive(Clone, Debug)]
pub(crate) struct QuerySpec {
    pub model: String,
    pub view: String,
    pub fields: Vec<String>,
    pub filters: BTreeMap<String, String>,
    pub sorts: Vec<String>,
    pub limit: Option<String>,
    pub query_timezone: Option<String>,
    pub client_id: Option<String>,
    /// Kept as sent and echoed back; they do not change results.
    pub vis_config: Option<Json>,
    pub filter_config: Option<Json>,
    pub visible_ui_sections: Option<String>,
}

fn string_list(body: &Map<String, Json>, key: &str, errors: &mut Vec<Detail>) -> Vec<String> {
    match body.get(key) {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Array(items)) => {
            let mut out = Vec::new();
            for item in items {
                match item.as_str() {
                    Some(s) => out.push(s.to_owned()),
                    None => errors.push(Detail::new(
                        key,
                        "invalid",
                        format!("`{key}` must be an array of strings; found {item}"),
                    )),
                }
            }
            out
        }
        Some(other) => {
            errors.push(Detail::new(
                key,
                "invalid",
                format!("`{key}` must be an array of strings; found {other}"),
            ));
            Vec::new()
        }
    }
}

/// A string property that may also be sent as a number (API 4.0 type
/// ambiguity: FACTS section 1).
fn scalar_string(body: &Map<String, Json>, key: &str, errors: &mut Vec<Detail>) -> Option<String> {
    match body.get(key) {
        None | Some(Json::Null) => None,
        Some(Json::String(s)) => Some(s.clone()),
        Some(Json::Number(n)) => Some(n.to_string()),
        Some(other) => {
            errors.push(Detail::new(
                key,
                "invalid",
                format!("`{key}` must be a string; found {other}"),
            ));
            None
        }
    }
}

fn unsupported(body: &Map<String, Json>, errors: &mut Vec<Detail>) {
    let present = |k: &str| match body.get(k) {
        None | Some(Json::Null) | Some(Json::Bool(false)) => false,
        Some(Json::Array(a)) => !a.is_empty(),
        Some(Json::String(s)) => !s.is_empty(),
        Some(_) => true,
    };
    for key in [
        "pivots",
        "fill_fields",
        "filter_expression",
        "dynamic_fields",
        "total",
        "row_total",
        "subtotals",
        "column_limit",
    ] {
        if present(key) {
            errors.push(Detail::new(
                key,
                "unsupported",
                format!("the Looker fake does not implement `{key}`; send the query without it"),
            ));
        }
    }
}

impl QuerySpec {
    /// Reads a `WriteQuery` JSON body. Every problem is reported at once.
    pub(crate) fn from_json(body: &Json) -> Result<QuerySpec, Vec<Detail>> {
        let Some(obj) = body.as_object() else {
            return Err(vec![Detail::new(
                "body",
                "invalid",
                "the request body must be a JSON object (a Query)".into(),
            )]);
        };
        let mut errors = Vec::new();
        let mut required = |key: &str| match obj.get(key).and_then(Json::as_str) {
            Some(s) if !s.is_empty() => s.to_owned(),
            _ => {
                errors.push(Detail::new(
                    key,
                    "missing_field",
                    format!("'{key}' is required."),
                ));
                String::new()
            }
        };
        let model = required("model");
        let view = required("view");
        let fields = string_list(obj, "fields", &mut errors);
        let sorts = string_list(obj, "sorts", &mut errors);
        let mut filters = BTreeMap::new();
        match obj.get("filters") {
            None | Some(Json::Null) => {}
            Some(Json::Object(map)) => {
                for (k, v) in map {
                    match v {
                        Json::String(s) => {
                            filters.insert(k.clone(), s.clone());
                        }
                        Json::Number(n) => {
                            filters.insert(k.clone(), n.to_string());
                        }
                        other => errors.push(Detail::new(
                            "filters",
                            "invalid",
                            format!("filter `{k}` must be a Looker filter expression string; found {other}"),
                        )),
                    }
                }
            }
            Some(other) => errors.push(Detail::new(
                "filters",
                "invalid",
                format!(
                    "`filters` must be an object of field name to filter expression; found {other}"
                ),
            )),
        }
        let limit = scalar_string(obj, "limit", &mut errors);
        if let Some(l) = &limit
            && let Err(msg) = Limit::parse(l)
        {
            errors.push(Detail::new("limit", "invalid", msg));
        }
        let query_timezone = scalar_string(obj, "query_timezone", &mut errors);
        let client_id = scalar_string(obj, "client_id", &mut errors);
        if let Some(c) = &client_id
            && (c.len() != 22 || !c.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            errors.push(Detail::new(
                "client_id",
                "invalid",
                "client_id must be a unique 22 character alphanumeric string".into(),
            ));
        }
        let visible_ui_sections = scalar_string(obj, "visible_ui_sections", &mut errors);
        unsupported(obj, &mut errors);
        let spec = QuerySpec {
            model,
            view,
            fields,
            filters,
            sorts,
            limit,
            query_timezone,
            client_id,
            vis_config: obj.get("vis_config").filter(|v| !v.is_null()).cloned(),
            filter_config: obj.get("filter_config").filter(|v| !v.is_null()).cloned(),
            visible_ui_sections,
        };
        if errors.is_empty()
            && let Err(mut more) = spec.compile()
        {
            errors.append(&mut more);
        }
        if errors.is_empty() {
            Ok(spec)
        } else {
            Err(errors)
        }
    }

    /// A canonical text of everything that makes two queries the same query.
    pub(crate) fn identity(&self) -> String {
        let canon = json!({
            "model": self.model,
            "view": self.view,
            "fields": self.fields,
            "filters": self.filters,
            "sorts": self.sorts,
            "limit": self.limit,
            "query_timezone": self.query_timezone,
            "client_id": self.client_id,
            "vis_config": self.vis_config.as_ref().map(canonical),
            "filter_config": self.filter_config.as_ref().map(canonical),
            "visible_ui_sections": self.visible_ui_sections,
        });
        canonical(&canon)
    }

    /// Resolves the query against its explore.
    pub(crate) fn compile(&self) -> Result<Compiled, Vec<Detail>> {
        let Some(model) = catalog::model(&self.model) else {
            let known: Vec<&str> = catalog::models().iter().map(|m| m.name).collect();
            return Err(vec![Detail::new(
                "model",
                "not_found",
                format!(
                    "model '{}' does not exist; available models: {}",
                    self.model,
                    known.join(", ")
                ),
            )]);
        };
        let Some(explore) = model.explore(&self.view) else {
            let known: Vec<&str> = model.explores.iter().map(|e| e.name).collect();
            return Err(vec![Detail::new(
                "view",
                "not_found",
                format!(
                    "explore '{}' does not exist in model '{}'; its explores: {}",
                    self.view,
                    self.model,
                    known.join(", ")
                ),
            )]);
        };
        compile(self, explore)
    }

    /// The `Query` document (read-only properties included).
    pub(crate) fn document(&self, id: &str, slug: &str, base_url_path: &str) -> Json {
        let url = format!("/explore/{}/{}?qid={slug}", self.model, self.view);
        json!({
            "can": {"run": true, "see_results": true, "explore": true, "create": true, "show": true,
                    "cost_estimate": false, "index": true, "see_lookml": false, "see_aggregate_table_lookml": false,
                    "see_derived_table_lookml": false, "see_sql": true, "generate_drill_links": true},
            "id": id,
            "model": self.model,
            "view": self.view,
            "fields": self.fields,
            "pivots": null,
            "fill_fields": null,
            "filters": if self.filters.is_empty() { Json::Null } else { json!(self.filters) },
            "filter_expression": null,
            "sorts": self.sorts,
            "limit": self.limit,
            "column_limit": null,
            "total": null,
            "row_total": null,
            "subtotals": null,
            "vis_config": self.vis_config,
            "filter_config": self.filter_config,
            "visible_ui_sections": self.visible_ui_sections,
            "slug": slug,
            "dynamic_fields": null,
            "client_id": slug,
            "share_url": format!("{base_url_path}/x/{slug}"),
            "expanded_share_url": format!("{base_url_path}{url}"),
            "url": url,
            "query_timezone": self.query_timezone,
            "has_table_calculations": false,
        })
    }
}

/// JSON text with object keys sorted at every level.
fn canonical(v: &Json) -> String {
    fn write(v: &Json, out: &mut String) {
        match v {
            Json::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Json::from(k.as_str()).to_string());
                    out.push(':');
                    write(&map[k], out);
                }
                out.push('}');
            }
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out
}

/// A query resolved against its explore.
#[derive(Clone, Debug)]
pub(crate) struct Compiled {
    pub explore: &'static ExploreDef,
    /// Field indices of the output columns; the first `visible` are rendered,
    /// the rest are measures only filtered on.
    pub outputs: Vec<usize>,
    pub visible: usize,
    /// Filters on source columns (dimensions).
    pub column_filters: Vec<(usize, Matcher)>,
    /// Filters on output positions (measures, applied after aggregation).
    pub output_filters: Vec<(usize, Matcher)>,
    /// Sorts as (output position, descending).
    pub sorts: Vec<(usize, bool)>,
    pub limit: Limit,
}

impl Compiled {
    /// Whether each source row is its own group (a primary key is selected).
    pub(crate) fn row_per_source_row(&self) -> bool {
        self.outputs
            .iter()
            .any(|&i| self.explore.fields[i].primary_key)
    }
}

fn unknown_field(explore: &ExploreDef, property: &str, name: &str) -> Detail {
    Detail::new(
        property,
        "invalid_field",
        format!(
            "'{name}' is not a field of explore '{}'; GET /api/4.0/lookml_models/{}/explores/{} lists its dimensions and measures",
            explore.id(),
            explore.model,
            explore.name
        ),
    )
}

fn compile(spec: &QuerySpec, explore: &'static ExploreDef) -> Result<Compiled, Vec<Detail>> {
    let mut errors = Vec::new();
    let mut outputs = Vec::new();
    if spec.fields.is_empty() {
        errors.push(Detail::new(
            "fields",
            "missing_field",
            "'fields' is required: select at least one dimension or measure".into(),
        ));
    }
    for name in &spec.fields {
        match explore.field(name) {
            Some((i, _)) if outputs.contains(&i) => errors.push(Detail::new(
                "fields",
                "invalid",
                format!("'{name}' is selected twice"),
            )),
            Some((i, _)) => outputs.push(i),
            None => errors.push(unknown_field(explore, "fields", name)),
        }
    }
    let visible = outputs.len();
    let mut column_filters = Vec::new();
    let mut output_filters = Vec::new();
    for (name, expr) in &spec.filters {
        let Some((i, f)) = explore.field(name) else {
            errors.push(unknown_field(explore, "filters", name));
            continue;
        };
        let ty = if f.is_measure() {
            FieldType::Number
        } else {
            f.ty
        };
        let matcher = match filter::parse(expr, ty) {
            Ok(m) => m,
            Err(why) => {
                errors.push(Detail::new(
                    "filters",
                    "invalid",
                    format!("filter on '{name}' = `{expr}`: {why}"),
                ));
                continue;
            }
        };
        match f.column {
            Some(col) => column_filters.push((col, matcher)),
            None => {
                let pos = outputs.iter().position(|&o| o == i).unwrap_or_else(|| {
                    outputs.push(i);
                    outputs.len() - 1
                });
                output_filters.push((pos, matcher));
            }
        }
    }
    let mut sorts = Vec::new();
    let unsorted = spec.sorts.iter().any(|s| s.trim() == "__UNSORTED__");
    if !unsorted {
        for raw in &spec.sorts {
            let mut words = raw.split_whitespace();
            let name = words.next().unwrap_or_default();
            let desc = match words.next().map(str::to_ascii_lowercase).as_deref() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(other) => {
                    errors.push(Detail::new(
                        "sorts",
                        "invalid",
                        format!("sort `{raw}`: `{other}` is neither asc nor desc"),
                    ));
                    continue;
                }
            };
            match explore.field(name) {
                // Looker ignores sorts on fields the query does not select.
                Some((i, _)) => {
                    if let Some(pos) = outputs[..visible].iter().position(|&o| o == i) {
                        sorts.push((pos, desc));
                    }
                }
                None => errors.push(unknown_field(explore, "sorts", name)),
            }
        }
    }
    let limit = match &spec.limit {
        None => Limit::Default,
        Some(l) => Limit::parse(l).unwrap_or(Limit::Default),
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    if sorts.is_empty() && !unsorted && visible > 0 {
        sorts.push(default_sort(explore, &outputs[..visible]));
    }
    Ok(Compiled {
        explore,
        outputs,
        visible,
        column_filters,
        output_filters,
        sorts,
        limit,
    })
}

/// Looker's default: the first date dimension descending, else the first
/// measure descending, else the first dimension ascending.
fn default_sort(explore: &ExploreDef, outputs: &[usize]) -> (usize, bool) {
    let fields = |pred: &dyn Fn(&catalog::FieldDef) -> bool| {
        outputs.iter().position(|&i| pred(&explore.fields[i]))
    };
    if let Some(p) = fields(&|f| f.ty == FieldType::Date) {
        (p, true)
    } else if let Some(p) = fields(&|f| f.is_measure()) {
        (p, true)
    } else {
        (0, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported() {
        let body = json!({"model": "finance", "view": "gl_lines",
            "fields": ["gl_lines.id", "gl_lines.nope"], "filters": {"gl_lines.bad": "1"},
            "sorts": ["gl_lines.zzz desc"], "limit": "ten"});
        let errs = QuerySpec::from_json(&body).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["limit"], "{errs:?}");
        let body = json!({"model": "finance", "view": "gl_lines",
            "fields": ["gl_lines.id", "gl_lines.nope"], "filters": {"gl_lines.bad": "1"},
            "sorts": ["gl_lines.zzz desc"]});
        let errs = QuerySpec::from_json(&body).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["fields", "filters", "sorts"], "{errs:?}");
        assert!(errs[0].message.contains("gl_lines.nope"));
    }

    #[test]
    fn identity_ignores_key_order_and_limit_type() {
        let a = QuerySpec::from_json(
            &json!({"model":"finance","view":"gl_lines","fields":["gl_lines.id"],"limit":"10",
            "filters":{"gl_lines.id":">5","gl_lines.branch":"HQ"}}),
        )
        .unwrap();
        let b = QuerySpec::from_json(
            &json!({"filters":{"gl_lines.branch":"HQ","gl_lines.id":">5"},"limit":10,
            "view":"gl_lines","model":"finance","fields":["gl_lines.id"]}),
        )
        .unwrap();
        assert_eq!(a.identity(), b.identity());
    }

    #[test]
    fn default_sort_prefers_dates_then_measures() {
        let spec = QuerySpec::from_json(&json!({"model":"finance","view":"gl_lines",
            "fields":["gl_lines.branch","gl_lines.count","gl_lines.posting_date"]}))
        .unwrap();
        assert_eq!(spec.compile().unwrap().sorts, vec![(2, true)]);
        let spec = QuerySpec::from_json(&json!({"model":"finance","view":"gl_lines",
            "fields":["gl_lines.branch","gl_lines.count"]}))
        .unwrap();
        assert_eq!(spec.compile().unwrap().sorts, vec![(1, true)]);
    }
}
