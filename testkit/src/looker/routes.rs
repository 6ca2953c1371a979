//! The HTTP surface: every route of the fake under `/api/4.0`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use bytes::Bytes;
use serde_json::{Value as Json, json};

use super::auth::{self, Authed};
use super::catalog;
use super::config::PendingResults;
use super::exec;
use super::query::{Detail, Limit, QuerySpec};
use super::render::{self, Format, Renderer};
use super::state::{Interned, LookerFake, StoredQuery, lock};
use super::tasks::{Task, TaskStatus};

/// The Looker release the fake claims to be (the spec it follows).
const RELEASE: &str = "26.12.3";

/// Builds the router serving `fake`.
pub(crate) fn router(fake: LookerFake) -> Router {
    let api = Router::new()
        .route("/login", post(auth::login))
        .route("/logout", delete(auth::logout))
        .route("/versions", get(versions))
        .route("/user", get(me))
        .route("/lookml_models", get(list_models))
        .route("/lookml_models/{model}", get(get_model))
        .route(
            "/lookml_models/{model}/explores/{explore}",
            get(get_explore),
        )
        .route("/queries", post(create_query))
        .route("/queries/{query_id}", get(get_query))
        .route("/queries/slug/{slug}", get(get_query_by_slug))
        .route("/queries/{query_id}/run/{result_format}", get(run_query))
        .route("/queries/run/{result_format}", post(run_inline_query))
        .route(
            "/queries/models/{model}/views/{view}/run/{result_format}",
            get(run_url_encoded_query),
        )
        .route("/query_tasks/multi_results", get(query_task_multi_results))
        .route("/query_tasks", post(create_query_task))
        .route("/query_tasks/{task_id}", get(get_query_task))
        .route("/query_tasks/{task_id}/results", get(query_task_results))
        .route("/running_queries", get(running_queries))
        .route("/running_queries/{task_id}", delete(kill_query));
    Router::new()
        .nest("/api/4.0", api)
        // The Python SDK logs out at the unversioned path (FACTS 2.3).
        .route("/api/logout", delete(auth::logout))
        .fallback(not_found)
        .with_state(fake)
}

fn doc_url(status: StatusCode, method: &str, route: &str) -> String {
    format!(
        "https://cloud.google.com/looker/docs/r/err/4.0/{}/{method}{route}",
        status.as_u16()
    )
}

/// An `Error` document (`message`, `documentation_url`).
pub(crate) fn error(status: StatusCode, message: &str, method: &str, route: &str) -> Response {
    (
        status,
        axum::Json(
            json!({"message": message, "documentation_url": doc_url(status, method, route)}),
        ),
    )
        .into_response()
}

/// A 422 `ValidationError` document.
fn validation(details: &[Detail], method: &str, route: &str) -> Response {
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    let url = doc_url(status, method, route);
    let errors: Vec<Json> = details
        .iter()
        .map(|d| json!({"field": d.field, "code": d.code, "message": d.message, "documentation_url": url}))
        .collect();
    (
        status,
        axum::Json(
            json!({"message": "Validation Failed", "errors": errors, "documentation_url": url}),
        ),
    )
        .into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"message": "Not found", "documentation_url": "https://cloud.google.com/looker/docs/r/err/4.0/404"})),
    )
        .into_response()
}

fn params(raw: Option<&str>) -> HashMap<String, String> {
    raw.map(|q| serde_urlencoded::from_str(q).unwrap_or_default())
        .unwrap_or_default()
}

/// Keeps only the top-level properties named by a `fields=a,b` parameter
/// (the API's partial-response selection).
fn select(doc: Json, params: &HashMap<String, String>) -> Json {
    let Some(wanted) = params.get("fields").filter(|f| !f.trim().is_empty()) else {
        return doc;
    };
    let names: Vec<&str> = wanted.split(',').map(str::trim).collect();
    match doc {
        Json::Object(map) => Json::Object(
            map.into_iter()
                .filter(|(k, _)| names.contains(&k.as_str()))
                .collect(),
        ),
        Json::Array(items) => Json::Array(items.into_iter().map(|i| select(i, params)).collect()),
        other => other,
    }
}

fn base_url(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map_or_else(|| "http://localhost".to_owned(), |h| format!("http://{h}"))
}

async fn versions(headers: HeaderMap) -> Response {
    let base = base_url(&headers);
    let version = json!({
        "version": "4.0",
        "full_version": "4.0.26.12",
        "status": "current",
        "swagger_url": format!("{base}/api/4.0/swagger.json"),
    });
    axum::Json(json!({
        "looker_release_version": RELEASE,
        "current_version": version,
        "supported_versions": [version],
        "api_server_url": base,
        "web_server_url": base,
    }))
    .into_response()
}

async fn me(_: Authed, RawQuery(q): RawQuery) -> Response {
    let doc = json!({
        "id": "1",
        "first_name": "Demo",
        "last_name": "API",
        "display_name": "Demo API",
        "email": "api@mldemo.example",
        "is_disabled": false,
        "locale": "en",
        "role_ids": ["2"],
        "personal_folder_id": "1",
    });
    axum::Json(select(doc, &params(q.as_deref()))).into_response()
}

fn parse_count(p: &HashMap<String, String>, name: &str) -> Result<Option<usize>, String> {
    match p.get(name) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map(Some)
            .map_err(|_| format!("`{name}` must be a non-negative integer; got `{v}`")),
    }
}

async fn list_models(_: Authed, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let p = params(q.as_deref());
    let (limit, offset) = match (parse_count(&p, "limit"), parse_count(&p, "offset")) {
        (Ok(l), Ok(o)) => (l, o.unwrap_or(0)),
        (Err(e), _) | (_, Err(e)) => {
            return error(StatusCode::BAD_REQUEST, &e, "get", "/lookml_models");
        }
    };
    let all = catalog::models();
    let total = all.len();
    let page: Vec<Json> = all
        .iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .map(|m| select(m.metadata(), &p))
        .collect();
    let mut response = axum::Json(Json::Array(page)).into_response();
    let h = response.headers_mut();
    h.insert("x-total-count", total.into());
    if let Some(limit) = limit.filter(|l| *l > 0) {
        let base = format!("{}/api/4.0/lookml_models", base_url(&headers));
        let link =
            |rel: &str, off: usize| format!("<{base}?limit={limit}&offset={off}>; rel=\"{rel}\"");
        let last = (total.saturating_sub(1) / limit) * limit;
        let mut links = vec![link("first", 0)];
        if offset + limit < total {
            links.push(link("next", offset + limit));
        }
        if offset > 0 {
            links.push(link("prev", offset.saturating_sub(limit)));
        }
        links.push(link("last", last));
        if let Ok(v) = links.join(", ").parse() {
            h.insert(header::LINK, v);
        }
    }
    response
}

async fn get_model(_: Authed, Path(model): Path<String>, RawQuery(q): RawQuery) -> Response {
    match catalog::model(&model) {
        Some(m) => axum::Json(select(m.metadata(), &params(q.as_deref()))).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "Not found",
            "get",
            "/lookml_models/{lookml_model_name}",
        ),
    }
}

async fn get_explore(
    _: Authed,
    Path((model, explore)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    match catalog::explore(&model, &explore) {
        Some(e) => axum::Json(select(e.metadata(), &params(q.as_deref()))).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "Not found",
            "get",
            "/lookml_models/{lookml_model_name}/explores/{explore_name}",
        ),
    }
}

fn parse_json(body: &Bytes, method: &str, route: &str) -> Result<Json, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            &format!("the request body is not valid JSON: {e}"),
            method,
            route,
        ))
    })
}

/// Validates and stores a query body (deduplicated).
fn intern(
    fake: &LookerFake,
    body: &Bytes,
    method: &str,
    route: &str,
) -> Result<Arc<StoredQuery>, Box<Response>> {
    let json = parse_json(body, method, route)?;
    let spec = QuerySpec::from_json(&json).map_err(|d| Box::new(validation(&d, method, route)))?;
    let plan = spec
        .compile()
        .map_err(|d| Box::new(validation(&d, method, route)))?;
    let interned = lock(&fake.inner.queries).intern(spec, plan, &fake.inner.counters);
    match interned {
        Interned::Stored(q) => Ok(q),
        Interned::SlugTaken(slug) => Err(Box::new(error(
            StatusCode::CONFLICT,
            &format!(
                "client_id {slug} is already the slug of a different query; use a new client_id or none"
            ),
            method,
            route,
        ))),
    }
}

fn query_doc(q: &StoredQuery, headers: &HeaderMap) -> Json {
    q.spec.document(&q.id, &q.slug, &base_url(headers))
}

async fn create_query(
    _: Authed,
    State(fake): State<LookerFake>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    match intern(&fake, &body, "post", "/queries") {
        Ok(stored) => {
            axum::Json(select(query_doc(&stored, &headers), &params(q.as_deref()))).into_response()
        }
        Err(r) => *r,
    }
}

async fn get_query(
    _: Authed,
    State(fake): State<LookerFake>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let found = lock(&fake.inner.queries).get(&id);
    match found {
        Some(stored) => {
            axum::Json(select(query_doc(&stored, &headers), &params(q.as_deref()))).into_response()
        }
        None => error(
            StatusCode::NOT_FOUND,
            "Not found",
            "get",
            "/queries/{query_id}",
        ),
    }
}

async fn get_query_by_slug(
    _: Authed,
    State(fake): State<LookerFake>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let found = lock(&fake.inner.queries).by_slug(&slug);
    match found {
        Some(stored) => {
            axum::Json(select(query_doc(&stored, &headers), &params(q.as_deref()))).into_response()
        }
        None => error(
            StatusCode::NOT_FOUND,
            "Not found",
            "get",
            "/queries/slug/{slug}",
        ),
    }
}

/// The `limit` query parameter of the run and task endpoints.
fn limit_param(p: &HashMap<String, String>) -> Result<Option<Limit>, String> {
    p.get("limit").map(|l| Limit::parse(l)).transpose()
}

fn parse_format(raw: &str, method: &str, route: &str) -> Result<Format, Box<Response>> {
    Format::parse(raw).map_err(|e| Box::new(error(StatusCode::BAD_REQUEST, &e, method, route)))
}

/// Starts a stored query: the renderer of its result. The `sql` format
/// only describes the query, so nothing is run for it.
fn start_run(
    fake: &LookerFake,
    q: &StoredQuery,
    format: Format,
    limit: Option<Limit>,
) -> Result<Renderer, String> {
    let config = fake.config();
    let counters = &fake.inner.counters;
    let rows = limit.unwrap_or(q.plan.limit).rows(config.default_row_limit);
    counters.query_runs.fetch_add(1, Ordering::Relaxed);
    let cursor = if format == Format::Sql {
        exec::empty()
    } else {
        if let Some(message) = config.sql_error {
            return Err(message);
        }
        exec::run(&q.plan, &config, rows, counters.rows_generated.clone()).map_err(|e| e.0)?
    };
    Ok(Renderer::new(
        format,
        &q.plan,
        rows,
        &q.spec.filters,
        cursor,
        counters.clone(),
    ))
}

/// Runs a stored query and streams the result.
fn run_stored(
    fake: &LookerFake,
    q: &StoredQuery,
    format: Format,
    limit: Option<Limit>,
    method: &str,
    route: &str,
) -> Response {
    let renderer = match start_run(fake, q, format, limit) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e, method, route),
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, format.content_type())
        .body(Body::from_stream(render::body_stream(renderer)))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn run_query(
    _: Authed,
    State(fake): State<LookerFake>,
    Path((id, fmt)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    const ROUTE: &str = "/queries/{query_id}/run/{result_format}";
    let format = match parse_format(&fmt, "get", ROUTE) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let limit = match limit_param(&params(q.as_deref())) {
        Ok(l) => l,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e, "get", ROUTE),
    };
    let found = lock(&fake.inner.queries).get(&id);
    match found {
        Some(stored) => run_stored(&fake, &stored, format, limit, "get", ROUTE),
        None => error(StatusCode::NOT_FOUND, "Not found", "get", ROUTE),
    }
}

async fn run_inline_query(
    _: Authed,
    State(fake): State<LookerFake>,
    Path(fmt): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "/queries/run/{result_format}";
    let format = match parse_format(&fmt, "post", ROUTE) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let limit = match limit_param(&params(q.as_deref())) {
        Ok(l) => l,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e, "post", ROUTE),
    };
    match intern(&fake, &body, "post", ROUTE) {
        Ok(stored) => run_stored(&fake, &stored, format, limit, "post", ROUTE),
        Err(r) => *r,
    }
}

/// `GET /queries/models/{m}/views/{v}/run/{fmt}?fields=a,b&f[a]=x&sorts=a desc&limit=N`:
/// the query in explore-URL syntax (FACTS section 4).
async fn run_url_encoded_query(
    _: Authed,
    State(fake): State<LookerFake>,
    Path((model, view, fmt)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    const ROUTE: &str = "/queries/models/{model_name}/views/{view_name}/run/{result_format}";
    let format = match parse_format(&fmt, "get", ROUTE) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let pairs: Vec<(String, String)> = q
        .as_deref()
        .map(|q| serde_urlencoded::from_str(q).unwrap_or_default())
        .unwrap_or_default();
    let mut body = serde_json::Map::new();
    body.insert("model".into(), Json::from(model));
    body.insert("view".into(), Json::from(view));
    let mut filters = serde_json::Map::new();
    let list = |v: &str| -> Json {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Json::from)
            .collect()
    };
    for (key, value) in pairs {
        match key.as_str() {
            "fields" | "sorts" | "pivots" | "fill_fields" => {
                body.insert(key.clone(), list(&value));
            }
            "limit" | "query_timezone" | "column_limit" | "dynamic_fields"
            | "filter_expression" => {
                body.insert(key.clone(), Json::from(value));
            }
            _ => {
                if let Some(field) = key.strip_prefix("f[").and_then(|k| k.strip_suffix(']')) {
                    filters.insert(field.to_owned(), Json::from(value));
                }
            }
        }
    }
    if !filters.is_empty() {
        body.insert("filters".into(), Json::Object(filters));
    }
    let bytes = Bytes::from(Json::Object(body).to_string());
    match intern(&fake, &bytes, "get", ROUTE) {
        Ok(stored) => run_stored(&fake, &stored, format, None, "get", ROUTE),
        Err(r) => *r,
    }
}

async fn create_query_task(
    _: Authed,
    State(fake): State<LookerFake>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "/query_tasks";
    let p = params(q.as_deref());
    let limit = match limit_param(&p) {
        Ok(l) => l,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e, "post", ROUTE),
    };
    let json = match parse_json(&body, "post", ROUTE) {
        Ok(j) => j,
        Err(r) => return *r,
    };
    let text = |key: &str| match json.get(key) {
        Some(Json::String(s)) => Some(s.clone()),
        Some(Json::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let mut details = Vec::new();
    let query_id = text("query_id");
    if query_id.is_none() {
        details.push(Detail {
            field: "query_id".into(),
            code: "missing_field",
            message: "'query_id' is required.".into(),
        });
    }
    let format = match text("result_format") {
        None => {
            details.push(Detail {
                field: "result_format".into(),
                code: "missing_field",
                message: "'result_format' is required.".into(),
            });
            None
        }
        Some(f) => match Format::parse(&f) {
            Ok(f) => Some(f),
            Err(e) => {
                details.push(Detail {
                    field: "result_format".into(),
                    code: "invalid",
                    message: e,
                });
                None
            }
        },
    };
    let (Some(query_id), Some(format), true) = (query_id, format, details.is_empty()) else {
        return validation(&details, "post", ROUTE);
    };
    let Some(stored) = lock(&fake.inner.queries).get(&query_id) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("Query {query_id} not found"),
            "post",
            ROUTE,
        );
    };
    let task = Task::new(stored.clone(), format, limit, text("source"));
    let doc = task.document(query_doc(&stored, &headers));
    lock(&fake.inner.tasks).insert(task.id.clone(), task);
    fake.inner
        .counters
        .tasks_created
        .fetch_add(1, Ordering::Relaxed);
    axum::Json(select(doc, &p)).into_response()
}

async fn get_query_task(
    _: Authed,
    State(fake): State<LookerFake>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let config = fake.config();
    let mut tasks = lock(&fake.inner.tasks);
    let Some(task) = tasks.get_mut(&id) else {
        return error(
            StatusCode::NOT_FOUND,
            "Not found",
            "get",
            "/query_tasks/{query_task_id}",
        );
    };
    task.observe(&config);
    let doc = task.document(query_doc(&task.query, &headers));
    drop(tasks);
    axum::Json(select(doc, &params(q.as_deref()))).into_response()
}

async fn query_task_results(
    _: Authed,
    State(fake): State<LookerFake>,
    Path(id): Path<String>,
) -> Response {
    const ROUTE: &str = "/query_tasks/{query_task_id}/results";
    let config = fake.config();
    let (status, stored, format, limit, sql_error) = {
        let mut tasks = lock(&fake.inner.tasks);
        let Some(task) = tasks.get_mut(&id) else {
            return error(
                StatusCode::NOT_FOUND,
                "The Query Task Id was not found or the results have expired.",
                "get",
                ROUTE,
            );
        };
        (
            task.observe(&config),
            task.query.clone(),
            task.format,
            task.limit,
            task.error.clone(),
        )
    };
    match status {
        TaskStatus::Added | TaskStatus::Running => match config.pending_results {
            PendingResults::Accepted => {
                (StatusCode::ACCEPTED, axum::Json(json!({}))).into_response()
            }
            PendingResults::NoContent => StatusCode::NO_CONTENT.into_response(),
        },
        TaskStatus::Complete => run_stored(&fake, &stored, format, limit, "get", ROUTE),
        TaskStatus::Error => error(
            StatusCode::BAD_REQUEST,
            sql_error.as_deref().unwrap_or("The query failed."),
            "get",
            ROUTE,
        ),
        TaskStatus::Killed => error(
            StatusCode::NOT_FOUND,
            "The query task was killed; its results do not exist.",
            "get",
            ROUTE,
        ),
        TaskStatus::Expired => error(
            StatusCode::NOT_FOUND,
            "The Query Task Id was not found or the results have expired.",
            "get",
            ROUTE,
        ),
    }
}

/// `GET /query_tasks/multi_results?query_task_ids=a,b`: each task's status,
/// with its data once complete (JSON formats embedded as JSON, the others
/// as a string). The whole result is buffered, as Looker does here.
async fn query_task_multi_results(
    _: Authed,
    State(fake): State<LookerFake>,
    RawQuery(q): RawQuery,
) -> Response {
    const ROUTE: &str = "/query_tasks/multi_results";
    let p = params(q.as_deref());
    let Some(ids) = p.get("query_task_ids").filter(|s| !s.trim().is_empty()) else {
        return validation(
            &[Detail {
                field: "query_task_ids".into(),
                code: "missing_field",
                message: "'query_task_ids' is required: a comma-separated list of query task ids"
                    .into(),
            }],
            "get",
            ROUTE,
        );
    };
    let config = fake.config();
    let mut out = serde_json::Map::new();
    for id in ids.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let observed = lock(&fake.inner.tasks).get_mut(id).map(|t| {
            (
                t.observe(&config),
                t.query.clone(),
                t.format,
                t.limit,
                t.error.clone(),
            )
        });
        let entry = match observed {
            None => json!({"status": "missing"}),
            Some((TaskStatus::Error, stored, .., message)) => json!({"status": "error", "data": {
                "id": stored.slug, "runtime": 0.0, "sql": null,
                "errors": [{"message": message, "sql_error_loc": {"line": 1, "column": 1}}],
            }}),
            Some((TaskStatus::Complete, stored, format, limit, _)) => {
                match start_run(&fake, &stored, format, limit) {
                    Ok(mut renderer) => {
                        let mut buf = Vec::new();
                        while renderer.fill(&mut buf, usize::MAX) {}
                        let data = match format {
                            Format::Json | Format::JsonBi => {
                                serde_json::from_slice(&buf).unwrap_or(Json::Null)
                            }
                            _ => Json::from(String::from_utf8_lossy(&buf).into_owned()),
                        };
                        json!({"status": "complete", "data": data})
                    }
                    Err(e) => {
                        json!({"status": "error", "data": {"id": id, "errors": [{"message": e}]}})
                    }
                }
            }
            Some((status, ..)) => json!({"status": status.as_str()}),
        };
        out.insert(id.to_owned(), entry);
    }
    axum::Json(Json::Object(out)).into_response()
}

async fn running_queries(
    _: Authed,
    State(fake): State<LookerFake>,
    headers: HeaderMap,
) -> Response {
    let tasks = lock(&fake.inner.tasks);
    let list: Vec<Json> = tasks
        .values()
        .filter(|t| t.status().is_pending())
        .map(|t| t.running_entry(query_doc(&t.query, &headers)))
        .collect();
    axum::Json(Json::Array(list)).into_response()
}

async fn kill_query(_: Authed, State(fake): State<LookerFake>, Path(id): Path<String>) -> Response {
    let killed = lock(&fake.inner.tasks).get_mut(&id).is_some_and(Task::kill);
    if killed {
        fake.inner
            .counters
            .tasks_killed
            .fetch_add(1, Ordering::Relaxed);
        StatusCode::NO_CONTENT.into_response()
    } else {
        // Unknown, finished or already killed: Looker answers 404.
        error(
            StatusCode::NOT_FOUND,
            "Not found",
            "delete",
            "/running_queries/{query_task_id}",
        )
    }
}
