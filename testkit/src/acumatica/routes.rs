//! The HTTP surface of the Acumatica fake.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Response, Uri, header};
use axum::routing::{any, get, post};
use base64::Engine as _;
use serde_json::json;
use uuid::Uuid;

use super::auth::{AuthState, Denied, LoginError};
use super::filter::{Filter, FilterError};
use super::generate::{can_generate, generate};
use super::render::{Links, Shape, to_value, write_row};
use super::reply::*;
use super::schema::{EntityDef, action_available, entity as entity_def, version_key};
use super::store::{Store, key_of};
use super::value::{Row, Val};
use super::write::{self, Preconditions, WriteError};
use super::{inquiry, odata, swagger};
use crate::faults::Faults;
use crate::seed;

/// Shape of `GET /entity`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EndpointListShape {
    /// `{"version": {...}, "endpoints": [...]}` as documented (FACTS 1).
    #[default]
    Object,
    /// A bare array of endpoint rows (reported for older builds; FACTS 1).
    BareArray,
}

#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) versions: Vec<String>,
    pub(crate) endpoint_list: EndpointListShape,
    pub(crate) release_running_polls: u32,
}

/// Shared state of one fake site.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) settings: Settings,
    pub(crate) store: RwLock<Store>,
    pub(crate) auth: Mutex<AuthState>,
    pub(crate) faults: Faults,
}

impl Inner {
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn auth(&self) -> MutexGuard<'_, AuthState> {
        self.auth.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) type S = State<Arc<Inner>>;

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/entity", get(endpoints))
        .route("/entity/", get(endpoints))
        .route("/entity/auth/login", post(login))
        .route("/entity/auth/logout", post(logout))
        .route("/identity/connect/token", post(token))
        .route("/identity/.well-known/openid-configuration", get(discovery))
        .route("/entity/{*rest}", any(entity))
        .route("/t/{tenant}/api/odata/gi", get(odata::service))
        .route("/t/{tenant}/api/odata/gi/$metadata", get(odata::metadata))
        // IIS accepts bodies up to about 30 MB by default (maxAllowedContentLength).
        .layer(axum::extract::DefaultBodyLimit::max(30_000_000))
        .with_state(inner)
}

async fn endpoints(State(inner): S) -> Response<Body> {
    let rows: Vec<_> = inner
        .settings
        .versions
        .iter()
        .map(|v| json!({"name": "Default", "version": v, "href": format!("/entity/Default/{v}/")}))
        .collect();
    match inner.settings.endpoint_list {
        EndpointListShape::BareArray => json_response(200, &json!(rows)),
        EndpointListShape::Object => json_response(
            200,
            &json!({
                "version": {"acumaticaBuildVersion": seed::ACUMATICA_BUILD, "databaseVersion": seed::ACUMATICA_BUILD},
                "endpoints": rows,
            }),
        ),
    }
}

async fn discovery(headers: HeaderMap) -> Response<Body> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let base = format!("http://{host}/identity");
    json_response(
        200,
        &json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/connect/authorize"),
            "token_endpoint": format!("{base}/connect/token"),
            "grant_types_supported": ["authorization_code", "implicit", "password", "refresh_token"],
            "scopes_supported": ["api", "offline_access", "api:concurrent_access", "openid", "profile", "email"],
        }),
    )
}

pub(crate) fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// ASP.NET Web API reads entity bodies with its JSON formatter only when
/// the request says it is JSON.
fn is_json(headers: &HeaderMap) -> bool {
    let ct = content_type(headers);
    let media = ct.split(';').next().unwrap_or("").trim();
    media == "application/json" || media == "text/json" || media.ends_with("+json")
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase()
}

async fn token(State(inner): S, headers: HeaderMap, body: Bytes) -> Response<Body> {
    if !content_type(&headers).starts_with("application/x-www-form-urlencoded") {
        return oauth_error(
            400,
            "invalid_request",
            Some("The token request must be application/x-www-form-urlencoded."),
        );
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let result = inner.auth().token(&form, basic_auth(&headers));
    match result {
        Ok(body) => {
            let mut r = json_response(200, &body);
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store, no-cache, max-age=0"),
            );
            r.headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            r
        }
        Err((status, error, description)) => oauth_error(status, error, description.as_deref()),
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|line| {
            line.split(';').find_map(|kv| {
                let (k, v) = kv.trim().split_once('=')?;
                (k == name).then(|| v.to_owned())
            })
        })
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

async fn login(State(inner): S, headers: HeaderMap, body: Bytes) -> Response<Body> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return bad_request(&vec![(
            String::new(),
            "The request body should not be empty.".to_owned(),
        )]);
    }
    let parsed: serde_json::Value = if content_type(&headers)
        .starts_with("application/x-www-form-urlencoded")
    {
        let map: serde_json::Map<String, serde_json::Value> = url::form_urlencoded::parse(&body)
            .into_owned()
            .map(|(k, v)| (k, json!(v)))
            .collect();
        serde_json::Value::Object(map)
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return bad_request(&vec![(
                    "credentials".to_owned(),
                    format!("Invalid JSON: {e}"),
                )]);
            }
        }
    };
    let result = inner.auth().login(&parsed);
    match result {
        Ok(sid) => {
            let mut r = empty(204);
            let branch = parsed
                .get("branch")
                .and_then(|b| b.as_str())
                .unwrap_or(seed::BRANCHES[0].id)
                .to_owned();
            let cookies = [
                format!(".ASPXAUTH={sid}; path=/; HttpOnly"),
                format!(
                    "ASP.NET_SessionId={}; path=/; HttpOnly; SameSite=Lax",
                    Uuid::new_v4().simple()
                ),
                format!("CompanyID={}; path=/", seed::TENANT),
                "Locale=Culture=en-US&TimeZone=GMTM0000A; path=/".to_owned(),
                format!("UserBranch={branch}; path=/"),
                format!("requestid={}; path=/", Uuid::new_v4().simple()),
                "requeststat=+st:0+sc:~/entity/auth/login; path=/".to_owned(),
            ];
            for c in cookies {
                if let Ok(v) = HeaderValue::from_str(&c) {
                    r.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            r
        }
        Err(LoginError::BadRequest(m)) => bad_request(&vec![("credentials".to_owned(), m)]),
        Err(LoginError::InvalidCredentials) => exception(
            500,
            "Error: Invalid credentials. Please try again.",
            "PX.Data.PXException",
        ),
        Err(LoginError::UnknownTenant) => exception(
            500,
            "A proper company ID cannot be determined for the request.",
            "PX.Data.PXUndefinedCompanyException",
        ),
        Err(LoginError::UnknownBranch(b)) => exception(
            500,
            &format!("Error: The branch '{b}' cannot be found."),
            "PX.Data.PXException",
        ),
        Err(LoginError::LoginLimit) => json_response(
            429,
            &json!({
                "message": "An error has occurred.",
                "exceptionMessage": "API Login Limit",
                "exceptionType": "PX.Data.PXException",
            }),
        ),
    }
}

async fn logout(State(inner): S, headers: HeaderMap) -> Response<Body> {
    if !headers.contains_key(header::CONTENT_LENGTH)
        && !headers.contains_key(header::TRANSFER_ENCODING)
    {
        return length_required();
    }
    let sid = cookie(&headers, ".ASPXAUTH");
    let token = bearer(&headers);
    inner.auth().logout(sid.as_deref(), token.as_deref());
    let mut r = empty(204);
    r.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static(
            ".ASPXAUTH=; expires=Mon, 11-Oct-1999 00:00:00 GMT; path=/; HttpOnly",
        ),
    );
    r
}

fn authenticate(inner: &Inner, headers: &HeaderMap) -> Result<(), Denied> {
    if let Some(t) = bearer(headers) {
        return inner.auth().check_bearer(&t, &inner.faults);
    }
    if let Some(sid) = cookie(headers, ".ASPXAUTH") {
        return inner.auth().check_cookie(&sid, &inner.faults);
    }
    Err(Denied::Missing)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (
                (b[i + 1] as char).to_digit(16),
                (b[i + 2] as char).to_digit(16),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Query {
    params: HashMap<String, String>,
}

impl Query {
    fn parse(uri: &Uri) -> Self {
        let params = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        Query { params }
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.params
            .get(k)
            .map(String::as_str)
            .filter(|s| !s.trim().is_empty())
    }

    fn number(&self, k: &str) -> Result<Option<usize>, Box<Response<Body>>> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<usize>()
                .map(Some)
                .map_err(|_| {
                    bad_request(&vec![(
                        k.to_owned(),
                        format!(
                            "The value '{v}' is not valid for {k}; use a non-negative integer."
                        ),
                    )])
                })
                .map_err(Box::new),
        }
    }

    fn shape(&self, def: &EntityDef, version: &str) -> Result<Shape, Box<Response<Body>>> {
        let schema = super::schema::schema(def.name).expect("catalogue");
        Shape::build(schema, version, self.get("$select"), self.get("$expand"))
            .map(|s| s.with_custom(self.get("$custom")))
            .map_err(|u| {
                odata_error(&format!(
                    "Could not find a property named '{}' on type 'Default.{}'.",
                    u.name, u.schema
                ))
            })
            .map_err(Box::new)
    }

    fn filter(
        &self,
        def: &EntityDef,
        version: &str,
    ) -> Result<Option<Filter>, Box<Response<Body>>> {
        let Some(text) = self.get("$filter") else {
            return Ok(None);
        };
        let schema = super::schema::schema(def.name).expect("catalogue");
        Filter::parse(text, schema, version)
            .map(Some)
            .map_err(|e| match e {
                FilterError::Unsupported(what) => cannot_optimize(&what),
                FilterError::Syntax(m) => {
                    odata_error(&format!("Syntax error in $filter '{text}': {m}"))
                }
                FilterError::UnknownField(f) => odata_error(&format!(
                    "Could not find a property named '{f}' on type 'Default.{}'.",
                    def.name
                )),
                FilterError::TypeMismatch(m) => odata_error(&m),
            })
            .map_err(Box::new)
    }
}

async fn entity(
    State(inner): S,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    // Authentication happens before routing: even an unknown version is a
    // 401 without credentials (FACTS 1).
    if authenticate(&inner, &headers).is_err() {
        return unauthorized();
    }
    let path = uri.path().to_owned();
    let segs: Vec<String> = path
        .trim_start_matches("/entity/")
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    if segs.len() < 3
        || segs[0] != "Default"
        || !inner.settings.versions.iter().any(|v| *v == segs[1])
    {
        return not_found(&path);
    }
    let version = segs[1].clone();
    if segs.len() == 3 && segs[2] == "swagger.json" {
        return match method {
            Method::GET => {
                let host = headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("localhost");
                json_response(200, &swagger::document(&version, host))
            }
            m => method_not_allowed(m.as_str()),
        };
    }
    let Some(def) = entity_def(&segs[2]) else {
        return not_found(&path);
    };
    let rest = &segs[3..];
    let q = Query::parse(&uri);
    if matches!(method.as_str(), "PUT" | "PATCH" | "POST") && !body.is_empty() && !is_json(&headers)
    {
        return unsupported_media_type(&content_type(&headers));
    }
    match (method.as_str(), rest.len()) {
        ("GET", 0) => list(&inner, def, &version, &q),
        ("GET", 3) if rest[1] == "status" && has_action(def, &version, &rest[0]) => {
            poll(&inner, def, &version, rest, &path)
        }
        ("GET", 1) if rest[0] == "$adHocSchema" => {
            json_response(200, &swagger::ad_hoc_schema(def.name))
        }
        ("GET", _) => match find(&inner, def, rest) {
            Some(row) => single(def, &version, &q, &row),
            None => no_entity(),
        },
        ("PUT", 0) if inquiry::is_inquiry(def.name) => match q.shape(def, &version) {
            Ok(shape) => inquiry::run(&inner.read(), def, &version, &shape, &body),
            Err(r) => *r,
        },
        ("PUT", 0) => put(&inner, def, &version, &q, &headers, &body),
        ("PATCH", 0) if version_key(&version) >= (25, 0, 0) => {
            patch(&inner, def, &version, &q, &body)
        }
        ("POST", 1) if has_action(def, &version, &rest[0]) => {
            action(&inner, def, &version, &rest[0], &body)
        }
        ("POST", 1) => not_found(&path),
        ("DELETE", n) if n > 0 => match find(&inner, def, rest) {
            Some(row) => {
                write::delete(&mut inner.write(), def.name, row.id);
                empty(204)
            }
            None => no_entity(),
        },
        (m, _) => method_not_allowed(m),
    }
}

/// Whether `name` is a contract action of the entity in `version`.
fn has_action(def: &EntityDef, version: &str, name: &str) -> bool {
    def.actions.contains(&name) && action_available(version, name)
}

/// A record by `<guid>` or by its keys (`/k1/k2` or `k1|k2`).
fn find(inner: &Inner, def: &EntityDef, rest: &[String]) -> Option<Arc<Row>> {
    let store = inner.read();
    let table = store.table(def.name);
    if rest.len() == 1
        && let Ok(id) = rest[0].parse::<Uuid>()
    {
        return table.by_id(id);
    }
    let keys: Vec<&str> = rest.iter().flat_map(|s| s.split('|')).collect();
    if keys.len() != def.keys.len() {
        return None;
    }
    table.by_key(&key_of(&keys))
}

fn links_base(version: &str) -> String {
    format!("/entity/Default/{version}")
}

fn single(def: &EntityDef, version: &str, q: &Query, row: &Row) -> Response<Body> {
    let shape = match q.shape(def, version) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    match q.filter(def, version) {
        Err(r) => return *r,
        Ok(Some(f)) if !f.matches(row) => return no_entity(),
        Ok(_) => {}
    }
    let base = links_base(version);
    let mut buf = Vec::with_capacity(2048);
    write_row(
        &mut buf,
        &shape,
        row,
        1,
        Some(&Links {
            base: &base,
            entity: def.name,
        }),
    );
    bytes_response(200, JSON, buf)
}

fn list(inner: &Arc<Inner>, def: &'static EntityDef, version: &str, q: &Query) -> Response<Body> {
    let shape = match q.shape(def, version) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let filter = match q.filter(def, version) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let (top, skip) = match (q.number("$top"), q.number("$skip")) {
        (Ok(t), Ok(s)) => (t, s.unwrap_or(0)),
        (Err(r), _) | (_, Err(r)) => return *r,
    };
    let rows = {
        let store = inner.read();
        let shuffle = store.next_list_shuffle();
        store
            .table(def.name)
            .select_ordered(filter.as_ref(), skip, top, shuffle)
    };
    after_list(inner, def.name);
    stream_rows(rows, shape, links_base(version), def.name)
}

/// Serialise rows in chunks as the body is read, so a large listing costs
/// one `Arc` per row up front and a bounded buffer while streaming.
fn stream_rows(
    rows: Vec<Arc<Row>>,
    shape: Shape,
    base: String,
    entity: &'static str,
) -> Response<Body> {
    const CHUNK: usize = 256;
    let state = (rows, 0usize, shape, base);
    let stream = futures::stream::unfold(Some(state), move |state| async move {
        let (rows, pos, shape, base) = state?;
        let end = (pos + CHUNK).min(rows.len());
        let mut buf = Vec::with_capacity(64 * 1024);
        if pos == 0 {
            buf.push(b'[');
        }
        let links = Links {
            base: &base,
            entity,
        };
        for (i, row) in rows[pos..end].iter().enumerate() {
            if pos + i > 0 {
                buf.push(b',');
            }
            write_row(&mut buf, &shape, row, pos + i + 1, Some(&links));
        }
        let next = if end == rows.len() {
            buf.push(b']');
            None
        } else {
            Some((rows, end, shape, base))
        };
        Some((Ok::<_, Infallible>(Bytes::from(buf)), next))
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    r
}

/// Apply a pending mid-listing mutation once its list request count is
/// reached (the listing that triggered it already has its snapshot).
fn after_list(inner: &Inner, entity: &str) {
    if !inner
        .read()
        .mutations
        .iter()
        .any(|m| m.plan.entity == entity)
    {
        return;
    }
    let mut store = inner.write();
    if store.mutations.is_empty() {
        return;
    }
    let mut fire = Vec::new();
    store.mutations.retain_mut(|m| {
        if m.plan.entity != entity {
            return true;
        }
        m.seen += 1;
        if m.seen >= m.plan.after_list_requests {
            fire.push(m.plan.clone());
            false
        } else {
            true
        }
    });
    for plan in fire {
        apply_mutation(&mut store, &plan);
    }
}

pub(crate) fn apply_mutation(store: &mut Store, plan: &super::store::MidListingMutation) {
    let entity = plan.entity.as_str();
    let schema = store.table(entity).schema;
    let deleted: Vec<uuid::Uuid> = store
        .table(entity)
        .all()
        .take(plan.delete)
        .map(|r| r.id)
        .collect();
    for id in deleted {
        store.table_mut(entity).remove(id);
    }
    let touched: Vec<Row> = store
        .table(entity)
        .all()
        .take(plan.touch)
        .map(|r| (**r).clone())
        .collect();
    for mut row in touched {
        let now = store.now_ms();
        if let Some((idx, _)) = schema.field("Description") {
            let old = row.get(idx).and_then(Val::as_str).unwrap_or("").to_owned();
            row.set(idx, Some(Val::Str(format!("{old} (edited)").into())));
        }
        Store::touch(schema, &mut row, now);
        store.table_mut(entity).put(row);
    }
    if can_generate(entity) {
        for _ in 0..plan.insert {
            let now = store.now_ms();
            let table = store.table_mut(entity);
            let i = table.generated;
            let mut row = generate(table, i, i + 1);
            row.id = Uuid::new_v4();
            Store::touch(schema, &mut row, now);
            table.generated += 1;
            table.put(row);
        }
    }
}

/// The branch ID a `PX-CbApiBranch` header names (it carries the branch's
/// name). FACTS has no line on an unknown name; the fake ignores it, so the
/// default branch applies.
fn request_branch(headers: &HeaderMap) -> Option<&'static str> {
    let name = headers.get("px-cbapibranch")?.to_str().ok()?.trim();
    seed::BRANCHES
        .iter()
        .find(|b| b.name.eq_ignore_ascii_case(name))
        .map(|b| b.id)
}

/// A `PX-CbApiBusinessDate` header ("any format", FACTS section 5): the ISO
/// and the slash forms the documentation and the C# client use. Anything
/// else is ignored, as FACTS does not say what the server does with it.
fn request_business_date(headers: &HeaderMap) -> Option<i64> {
    let text = headers.get("px-cbapibusinessdate")?.to_str().ok()?.trim();
    let date = ["%Y-%m-%d", "%Y/%m/%d", "%m/%d/%Y"]
        .iter()
        .find_map(|f| chrono::NaiveDate::parse_from_str(text, f).ok())?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

fn put(
    inner: &Inner,
    def: &EntityDef,
    version: &str,
    q: &Query,
    headers: &HeaderMap,
    body: &[u8],
) -> Response<Body> {
    let shape = match q.shape(def, version) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let star = |h: header::HeaderName| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == "*")
    };
    let pre = Preconditions {
        insert_only: star(header::IF_NONE_MATCH),
        update_only: star(header::IF_MATCH),
        branch: request_branch(headers),
        business_date_ms: request_business_date(headers),
    };
    // `$filter` on a PUT picks the record to update (FACTS section 7).
    let filter = match q.filter(def, version) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let result = write::put(
        &mut inner.write(),
        def.name,
        version,
        body,
        pre,
        filter.as_ref(),
    );
    written(result.map(Some), &shape, def, version)
}

fn patch(inner: &Inner, def: &EntityDef, version: &str, q: &Query, body: &[u8]) -> Response<Body> {
    let shape = match q.shape(def, version) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let result = write::patch(&mut inner.write(), def.name, version, body);
    written(result, &shape, def, version)
}

fn written(
    result: Result<Option<Arc<Row>>, WriteError>,
    shape: &Shape,
    def: &EntityDef,
    version: &str,
) -> Response<Body> {
    match result {
        Ok(Some(row)) => {
            let base = links_base(version);
            json_response(
                200,
                &to_value(
                    shape,
                    &row,
                    Some(&Links {
                        base: &base,
                        entity: def.name,
                    }),
                ),
            )
        }
        Ok(None) => message(404, "The entity to update was not found."),
        Err(e) => write_error(e),
    }
}

fn write_error(e: WriteError) -> Response<Body> {
    match e {
        WriteError::BadRequest(ms) => bad_request(&ms),
        WriteError::Invalid(m) => message(400, &m),
        WriteError::Precondition(m) => message(412, m),
        WriteError::Unprocessable(body) => json_response(422, &body),
        WriteError::NoEntity => no_entity(),
    }
}

fn action(
    inner: &Inner,
    def: &'static EntityDef,
    version: &str,
    name: &str,
    body: &[u8],
) -> Response<Body> {
    let polls = inner.settings.release_running_polls;
    let result = write::start_action(&mut inner.write(), def.name, name, version, body, polls);
    match result {
        Ok(op) => {
            let location = format!("/entity/Default/{version}/{}/{name}/status/{op}", def.name);
            let done = inner.read().ops.get(&op).is_some_and(|o| o.done);
            let mut r = empty(if done { 204 } else { 202 });
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        Err(e) => write_error(e),
    }
}

fn poll(
    inner: &Inner,
    def: &EntityDef,
    version: &str,
    rest: &[String],
    path: &str,
) -> Response<Body> {
    let Ok(op) = rest[2].parse::<Uuid>() else {
        return not_found(path);
    };
    let result = write::poll(&mut inner.write(), op);
    match result {
        Some(true) => empty(204),
        Some(false) => {
            let mut r = empty(202);
            let location = format!(
                "/entity/Default/{version}/{}/{}/status/{op}",
                def.name, rest[0]
            );
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        None => not_found(path),
    }
}
