//! The HTTP layer, hidden from the public API: one attempt of one request,
//! with pacing, a `tracing` span, the origin check that keeps credentials on
//! the configured host, and the mapping of HTTP statuses to [`Error`]s.

use std::time::Duration;

use bytes::Bytes;
use ml_connector_retry::{Pacer, observe, parse_retry_after, preview};
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, redirect};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value as Json;
use tracing::Instrument;
use url::Url;

use crate::error::{Error, ErrorKind, FieldError, Result};

/// The system name in retry summaries and exchange events ([`ml_connector_retry::observe`]).
pub(crate) const SYSTEM: &str = "acumatica";

/// A request body.
pub(crate) enum Body {
    None,
    /// `Content-Length: 0` explicitly (logout: IIS answers 411 without it).
    Empty,
    Json(Json),
    /// Form fields; may hold secrets, exposed only while the body is built.
    Form(Vec<(&'static str, SecretString)>),
}

/// Whether a request may be repeated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Safety {
    /// Reads, token requests, logout, action status polls.
    Safe,
    /// Anything that may change data: repeated only after 429/401, and any
    /// failure after the bytes left becomes [`ErrorKind::OutcomeUnknown`].
    Write,
}

pub(crate) struct Request {
    pub method: Method,
    pub url: Url,
    /// Entity or operation name for logs and spans (never secrets).
    pub label: String,
    pub body: Body,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub safety: Safety,
    /// Whether the client's credentials are attached.
    pub authenticated: bool,
}

impl Request {
    pub fn new(method: Method, url: Url, label: impl Into<String>) -> Self {
        let safety = if method == Method::GET {
            Safety::Safe
        } else {
            Safety::Write
        };
        Self {
            method,
            url,
            label: label.into(),
            body: Body::None,
            headers: Vec::new(),
            safety,
            authenticated: true,
        }
    }

    pub fn json(mut self, body: Json) -> Self {
        self.body = Body::Json(body);
        self
    }

    pub fn header(mut self, name: HeaderName, value: &'static str) -> Self {
        self.headers.push((name, HeaderValue::from_static(value)));
        self
    }
}

#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn header_str(&self, name: HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Option<Json> {
        serde_json::from_slice(&self.body).ok()
    }
}

pub(crate) struct Transport {
    http: reqwest::Client,
    site: Url,
    pacer: Pacer,
}

impl Transport {
    pub fn new(
        site: Url,
        pacer: Pacer,
        timeout: Duration,
        connect_timeout: Duration,
        user_agent: &str,
    ) -> Result<Self> {
        let http = reqwest::Client::builder()
            // Never follow a redirect: it could carry the Authorization
            // header or cookies to another host.
            .redirect(redirect::Policy::none())
            .cookie_store(true)
            .timeout(timeout)
            .connect_timeout(connect_timeout)
            .user_agent(user_agent)
            .build()
            .map_err(|e| {
                Error::config(format!("cannot build the HTTP client: {e}")).with_source(e)
            })?;
        Ok(Self { http, site, pacer })
    }

    /// `true` when `url` is on the configured scheme, host and port.
    pub fn same_origin(&self, url: &Url) -> bool {
        url.origin() == self.site.origin()
    }

    /// Sends one attempt and returns whatever status came back.
    pub async fn send_once(
        &self,
        req: &Request,
        bearer: Option<&SecretString>,
        attempt: u32,
    ) -> Result<Response> {
        if !self.same_origin(&req.url) {
            return Err(Error::config(format!(
                "refusing to send a request to {} which is not on the configured site {}",
                req.url.origin().ascii_serialization(),
                self.site.origin().ascii_serialization()
            )));
        }
        let span = tracing::info_span!(
            "acumatica.request",
            method = %req.method,
            entity = %req.label,
            path = %req.url.path(),
            attempt,
            status = tracing::field::Empty,
        );
        async {
            let mut rb = self
                .http
                .request(req.method.clone(), req.url.clone())
                .header(header::ACCEPT, "application/json");
            for (name, value) in &req.headers {
                rb = rb.header(name.clone(), value.clone());
            }
            if let Some(token) = bearer {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
                    .map_err(|_| {
                        Error::new(
                            ErrorKind::Authentication,
                            "the access token contains characters not allowed in a header",
                        )
                    })?;
                value.set_sensitive(true);
                rb = rb.header(header::AUTHORIZATION, value);
            }
            rb = match &req.body {
                Body::None => rb,
                Body::Empty => rb
                    .header(header::CONTENT_LENGTH, "0")
                    .body(Vec::<u8>::new()),
                Body::Json(json) => {
                    let bytes = serde_json::to_vec(json).map_err(|e| {
                        Error::config(format!("cannot serialize the request body: {e}"))
                    })?;
                    rb.header(header::CONTENT_TYPE, "application/json")
                        .body(bytes)
                }
                Body::Form(fields) => {
                    let mut ser = url::form_urlencoded::Serializer::new(String::new());
                    for (k, v) in fields {
                        ser.append_pair(k, v.expose_secret());
                    }
                    rb.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .body(ser.finish())
                }
            };
            let _permit = self.pacer.acquire().await;
            let sent = std::time::Instant::now();
            let result = rb.send().await;
            let method = req.method.as_str();
            let response = match result {
                Ok(r) => r,
                Err(e) => {
                    observe::exchange(SYSTEM, method, None, sent.elapsed());
                    return Err(transport_error(req, &self.site, e, false));
                }
            };
            let status = response.status().as_u16();
            observe::exchange(SYSTEM, method, Some(status), sent.elapsed());
            tracing::Span::current().record("status", status);
            let headers = response.headers().clone();
            let body = response
                .bytes()
                .await
                .map_err(|e| transport_error(req, &self.site, e, true))?;
            tracing::debug!(status, bytes = body.len(), "response");
            Ok(Response {
                status,
                headers,
                body,
            })
        }
        .instrument(span)
        .await
    }
}

fn transport_error(req: &Request, site: &Url, e: reqwest::Error, after_headers: bool) -> Error {
    // Connect and builder failures happen before any byte of the request left.
    let never_sent = !after_headers && (e.is_connect() || e.is_builder());
    if req.safety == Safety::Write && !never_sent {
        return Error::new(
            ErrorKind::OutcomeUnknown,
            format!(
                "{} {} was sent but no complete response arrived ({}); it may or may not have been \
                 applied, so it is not repeated: look the record up by its natural key before trying again",
                req.method,
                req.label,
                describe(&e)
            ),
        )
        .with_source(e);
    }
    if ml_connector_retry::is_connection_refused(&e) {
        return Error::new(
            ErrorKind::Transport,
            format!(
                "cannot reach Acumatica at {site}: the connection was refused (nothing listens \
                 at {}); check the site URL and that the server is running",
                site.origin().ascii_serialization()
            ),
        )
        .with_source(e);
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    Error::new(
        ErrorKind::Transport,
        format!("{} {} {what}: {}", req.method, req.label, describe(&e)),
    )
    .with_source(e)
}

fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The parsed `HttpError` body Acumatica sends with 4xx/5xx.
#[derive(Default, Debug)]
pub(crate) struct HttpErrorBody {
    pub message: Option<String>,
    pub exception_message: Option<String>,
    pub exception_type: Option<String>,
    pub model_state: Vec<FieldError>,
    pub retry_after: Option<Duration>,
}

impl HttpErrorBody {
    pub fn parse(json: &Json) -> Self {
        let s = |k: &str| json.get(k).and_then(Json::as_str).map(str::to_owned);
        let mut out = Self {
            message: s("message"),
            exception_message: s("exceptionMessage"),
            exception_type: s("exceptionType"),
            ..Self::default()
        };
        // Nested innerException: keep the innermost message/type when the
        // outer one is generic.
        let mut inner = json.get("innerException");
        while let Some(i) = inner {
            if let Some(m) = i.get("exceptionMessage").and_then(Json::as_str) {
                out.exception_message = Some(m.to_owned());
            }
            if let Some(t) = i.get("exceptionType").and_then(Json::as_str) {
                out.exception_type = Some(t.to_owned());
            }
            inner = i.get("innerException");
        }
        if let Some(Json::Object(state)) = json.get("modelState") {
            for (path, messages) in state {
                for m in messages.as_array().into_iter().flatten() {
                    if let Some(m) = m.as_str() {
                        out.model_state.push(FieldError {
                            path: path.clone(),
                            message: m.to_owned(),
                        });
                    }
                }
            }
        }
        out.retry_after = match json.get("retryAfter") {
            Some(Json::Number(n)) => n
                .to_string()
                .parse::<f64>()
                .ok()
                .filter(|s| *s >= 0.0 && s.is_finite())
                .map(Duration::from_secs_f64),
            Some(Json::String(s)) => parse_retry_after(s),
            _ => None,
        };
        out
    }

    fn summary(&self) -> Option<String> {
        match (&self.exception_message, &self.message) {
            (Some(e), _) => Some(e.clone()),
            (None, Some(m)) => Some(m.clone()),
            _ => None,
        }
    }
}

/// Walks an entity (a 422 body) for every `error` string: the record's own,
/// its fields', detail lines', linked entities' and custom fields'.
pub(crate) fn collect_entity_errors(json: &Json) -> Vec<FieldError> {
    fn walk(json: &Json, path: &str, out: &mut Vec<FieldError>) {
        match json {
            Json::Object(map) => {
                if let Some(Json::String(e)) = map.get("error")
                    && !e.trim().is_empty()
                {
                    out.push(FieldError {
                        path: path.to_owned(),
                        message: e.trim().to_owned(),
                    });
                }
                for (k, v) in map {
                    if k == "error" || k == "_links" {
                        continue;
                    }
                    let child = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(v, &child, out);
                }
            }
            Json::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(json, "", &mut out);
    out
}

fn list_errors(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Turns a non-success response into an [`Error`]; `Ok` for 2xx.
pub(crate) fn check_status(req: &Request, resp: Response) -> Result<Response> {
    let status = resp.status;
    if (200..300).contains(&status) {
        return Ok(resp);
    }
    let json = resp.json();
    let body = json.as_ref().map(HttpErrorBody::parse).unwrap_or_default();
    let text = resp.body_text();
    let detail = body.summary().unwrap_or_else(|| {
        if text.trim().is_empty() {
            "(empty body)".to_owned()
        } else {
            preview(&text, 300)
        }
    });
    let what = format!("{} {}", req.method, req.label);
    let err = match status {
        400 | 422 => {
            let mut errors = json.as_ref().map(collect_entity_errors).unwrap_or_default();
            if errors.is_empty() {
                errors = body.model_state.clone();
            }
            if errors.is_empty() {
                if status == 422 {
                    Error::new(
                        ErrorKind::Validation(vec![]),
                        format!("{what} was rejected: {detail}"),
                    )
                } else {
                    Error::new(
                        ErrorKind::Http,
                        format!("{what} was refused as invalid: {detail}"),
                    )
                }
            } else {
                let listed = list_errors(&errors);
                Error::new(
                    ErrorKind::Validation(errors),
                    format!("{what} was rejected: {listed}"),
                )
            }
        }
        401 => Error::new(
            ErrorKind::Authentication,
            format!("{what}: the server says we are not signed in ({detail})"),
        ),
        403 => Error::new(
            ErrorKind::Http,
            format!(
                "{what} is forbidden: the API user lacks rights to this form, or the feature is disabled ({detail})"
            ),
        ),
        404 => Error::new(
            ErrorKind::NotFound,
            format!("{what}: {} does not exist ({detail})", req.url.path()),
        ),
        412 => Error::new(
            ErrorKind::PreconditionFailed,
            format!(
                "{what}: precondition failed (an insert-only write found the record, or an update-only write did not) ({detail})"
            ),
        ),
        429 => {
            let wait = resp
                .header_str(header::RETRY_AFTER)
                .and_then(parse_retry_after)
                .or(body.retry_after);
            if text.contains("API Login Limit") {
                Error::new(ErrorKind::LoginLimit, login_limit_message(&detail))
            } else {
                Error::new(
                    ErrorKind::Throttled,
                    format!("{what}: the licence's request limit was exceeded ({detail})"),
                )
                .with_retry_after(wait)
            }
        }
        500..=599 => {
            let exception_type = body.exception_type.clone();
            if exception_type
                .as_deref()
                .is_some_and(|t| t.contains("NoEntitySatisfiesTheCondition"))
                || text.contains("NoEntitySatisfiesTheConditionException")
            {
                Error::new(
                    ErrorKind::NotFound,
                    format!("{what}: no record matches ({detail})"),
                )
            } else if text.contains("API Login Limit") {
                Error::new(ErrorKind::LoginLimit, login_limit_message(&detail))
            } else if text.contains("Invalid credentials") {
                Error::new(ErrorKind::Authentication, format!("{what}: {detail}"))
            } else {
                let wait = resp
                    .header_str(header::RETRY_AFTER)
                    .and_then(parse_retry_after);
                let kind_text = exception_type
                    .as_deref()
                    .map(|t| format!(" [{t}]"))
                    .unwrap_or_default();
                Error::new(
                    ErrorKind::Server {
                        exception_type,
                        exception_message: body.exception_message.clone(),
                    },
                    format!("{what} failed on the server{kind_text}: {detail}"),
                )
                .with_retry_after(wait)
            }
        }
        300..=399 => Error::new(
            ErrorKind::Http,
            format!(
                "{what} was redirected to {:?}; redirects are not followed (credentials stay on the site). Check the site URL",
                resp.header_str(header::LOCATION).unwrap_or("")
            ),
        ),
        _ => Error::new(ErrorKind::Http, format!("{what}: {detail}")),
    };
    Err(err.with_status(status))
}

/// The message of [`ErrorKind::LoginLimit`]: the licence's session limit, not the password.
pub(crate) fn login_limit_message(detail: &str) -> String {
    format!(
        "the sign-in was refused because the licence's limit of concurrent API sessions is reached \
         ({detail}); this is not about the password: sign other API clients out, or wait for idle \
         sessions to close (10 minutes after their last request)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn walks_nested_errors() {
        let body = json!({
            "error": "top",
            "Amount": {"value": 1, "error": "bad amount"},
            "Details": [{"Project": {"value": "X", "error": "no project"}}, {"Qty": {}}],
            "MainContact": {"Email": {"value": "x", "error": "bad email"}},
            "custom": {"Document": {"UsrX": {"type": "CustomStringField", "value": "a", "error": "bad custom"}}},
            "_links": {"error": "ignored"}
        });
        let errors = collect_entity_errors(&body);
        let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "",
                "Amount",
                "Details[0].Project",
                "MainContact.Email",
                "custom.Document.UsrX"
            ]
        );
    }

    #[test]
    fn http_error_body_inner_and_retry_after() {
        let b = HttpErrorBody::parse(&json!({
            "message": "An error has occurred.",
            "exceptionMessage": "outer",
            "innerException": {"exceptionMessage": "inner", "exceptionType": "X.Inner"},
            "retryAfter": 12
        }));
        assert_eq!(b.exception_message.as_deref(), Some("inner"));
        assert_eq!(b.exception_type.as_deref(), Some("X.Inner"));
        assert_eq!(b.retry_after, Some(Duration::from_secs(12)));
    }
}
