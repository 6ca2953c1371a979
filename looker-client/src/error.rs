//! The crate's one error type.
//!
//! Every failure is an [`Error`] with an [`ErrorKind`]; callers branch on the
//! kind or on predicates such as [`Error::is_retryable`] instead of matching a
//! large enum. Messages say what went wrong and what to do next, and never
//! contain a secret (client secret, access token).

use std::fmt;
use std::time::Duration;

use ml_connector_retry::{Classify, preview};
use serde::Deserialize;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The longest excerpt of an unexpected response body kept in a message.
const BODY_PREVIEW_CHARS: usize = 240;

/// What kind of failure an [`Error`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The client was configured wrongly (bad base URL, missing credentials,
    /// unreadable `looker.ini`) or a call was given an argument it cannot use.
    Config,
    /// Looker refused the credentials or a token (login refused, 401 twice).
    Authentication,
    /// A 404 answer. Looker also answers 404 when the API user lacks the
    /// permission to see a resource, so this may mean "forbidden".
    NotFound,
    /// 422 (or the 403 "Database OAuth Error"): Looker rejected the request
    /// body; see [`Error::validation_errors`].
    Validation,
    /// A query names fields, filters or sorts its explore does not have; see
    /// [`Error::unknown_fields`]. Found by [`Client::validate`](crate::Client::validate)
    /// before anything is run.
    UnknownFields,
    /// The database reported an error running the query's SQL.
    Sql,
    /// 429: Looker's rate limit. Retried; [`Error::retry_after`] holds the
    /// server's requested wait when it sent one.
    Throttled,
    /// 5xx, including proxy pages that are not JSON.
    Server,
    /// Any other refusal by the API (400, 403, 405, 409, ...).
    Api,
    /// The network: connection refused or reset, TLS, request timeout, a body
    /// that broke off.
    Transport,
    /// A response did not have the documented shape; see [`Error::decode_path`].
    Decode,
    /// A result's row count reached its row limit, so rows may be missing.
    Truncated,
    /// An async query task ended as `error`, `killed` or `expired`, or its
    /// results expired.
    TaskFailed,
    /// An overall deadline (for example of an async query task) passed.
    Timeout,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ErrorKind::Config => "configuration error",
            ErrorKind::Authentication => "authentication error",
            ErrorKind::NotFound => "not found",
            ErrorKind::Validation => "validation error",
            ErrorKind::UnknownFields => "unknown fields",
            ErrorKind::Sql => "SQL error",
            ErrorKind::Throttled => "throttled",
            ErrorKind::Server => "server error",
            ErrorKind::Api => "API error",
            ErrorKind::Transport => "transport error",
            ErrorKind::Decode => "decode error",
            ErrorKind::Truncated => "truncated result",
            ErrorKind::TaskFailed => "query task failed",
            ErrorKind::Timeout => "deadline exceeded",
        };
        f.write_str(s)
    }
}

/// One item of a 422 `ValidationError.errors[]` (spec: `ValidationErrorDetail`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ValidationErrorDetail {
    /// The request field the problem is about.
    #[serde(default)]
    pub field: Option<String>,
    /// A machine-readable code such as `missing_field`.
    #[serde(default)]
    pub code: Option<String>,
    /// A human-readable message.
    #[serde(default)]
    pub message: Option<String>,
    /// A link to Looker's documentation of the error.
    #[serde(default)]
    pub documentation_url: Option<String>,
}

/// A name used in a query that its explore does not have, with the closest
/// names it does have.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnknownField {
    /// Where the name was used: `fields`, `pivots`, `fill_fields`, `filters`,
    /// `sorts` or `subtotals`.
    pub used_in: &'static str,
    /// The name as written in the query.
    pub name: String,
    /// Up to three valid names closest to it, best first.
    pub suggestions: Vec<String>,
}

impl fmt::Display for UnknownField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` in {}", self.name, self.used_in)?;
        if self.suggestions.is_empty() {
            f.write_str(" (no similar name in the explore)")
        } else {
            let list: Vec<String> = self.suggestions.iter().map(|s| format!("`{s}`")).collect();
            write!(f, " (did you mean {}?)", list.join(", "))
        }
    }
}

/// The error of every fallible operation in this crate.
///
/// ```
/// use looker_client::{Error, ErrorKind};
///
/// fn report(err: &Error) {
///     match err.kind() {
///         ErrorKind::Throttled => eprintln!("slow down: {err}"),
///         ErrorKind::NotFound => eprintln!("missing or not permitted: {err}"),
///         _ if err.is_retryable() => eprintln!("transient: {err}"),
///         _ => eprintln!("{err}"),
///     }
/// }
/// # let _ = report;
/// ```
pub struct Error(Box<Inner>);

struct Inner {
    kind: ErrorKind,
    message: String,
    status: Option<u16>,
    retryable: bool,
    retry_after: Option<Duration>,
    documentation_url: Option<String>,
    validation: Vec<ValidationErrorDetail>,
    unknown: Vec<UnknownField>,
    decode_path: Option<String>,
    row_limit: Option<i64>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            kind,
            message: message.into(),
            status: None,
            retryable: false,
            retry_after: None,
            documentation_url: None,
            validation: Vec::new(),
            unknown: Vec::new(),
            decode_path: None,
            row_limit: None,
            source: None,
        }))
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    pub(crate) fn decode(message: impl Into<String>, path: Option<String>) -> Self {
        let mut e = Self::new(ErrorKind::Decode, message);
        e.0.decode_path = path;
        e
    }

    pub(crate) fn truncated(what: &str, rows: u64, limit: i64) -> Self {
        let mut e = Self::new(
            ErrorKind::Truncated,
            format!(
                "{what} returned {rows} rows, which reaches its row limit of {limit}: rows may be \
                 missing. Raise the limit (WriteQuery::with_limit or RunOptions::limit; -1 means \
                 unlimited, which streams), page with keyset paging, or allow truncation with \
                 RunOptions::allow_truncation(true) if the first {limit} rows are enough"
            ),
        );
        e.0.row_limit = Some(limit);
        e
    }

    pub(crate) fn unknown_names(model: &str, explore: &str, unknown: Vec<UnknownField>) -> Self {
        let list: Vec<String> = unknown.iter().map(ToString::to_string).collect();
        let mut e = Self::new(
            ErrorKind::UnknownFields,
            format!(
                "the query names {} field(s) that explore `{model}::{explore}` does not have: {}",
                unknown.len(),
                list.join("; ")
            ),
        );
        e.0.unknown = unknown;
        e
    }

    pub(crate) fn transport(
        context: &str,
        err: impl std::error::Error + Send + Sync + 'static,
        retryable: bool,
    ) -> Self {
        let mut e = Self::new(
            ErrorKind::Transport,
            format!("{context}: {}", error_chain(&err)),
        );
        e.0.retryable = retryable;
        e.0.source = Some(Box::new(err));
        e
    }

    /// A connection refused: nothing listens at the instance. `message`
    /// names Looker and its address.
    pub(crate) fn transport_refused(
        message: String,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        let mut e = Self::new(ErrorKind::Transport, message);
        e.0.retryable = true;
        e.0.source = Some(Box::new(err));
        e
    }

    pub(crate) fn with_retryable(mut self, retryable: bool) -> Self {
        self.0.retryable = retryable;
        self
    }

    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.0.source = Some(Box::new(source));
        self
    }

    /// Builds the error for a response whose status is not a success.
    ///
    /// `context` names the call (method and path, never a secret); `host`
    /// names the instance for authentication messages.
    pub(crate) fn from_response(
        context: &str,
        host: &str,
        status: u16,
        retry_after: Option<Duration>,
        body: &[u8],
    ) -> Self {
        let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
        let (server_message, doc_url, details) = match parsed {
            Some(b) => (
                b.message
                    .filter(|m| !m.trim().is_empty())
                    .unwrap_or_else(|| "no message".to_owned()),
                b.documentation_url,
                b.errors.unwrap_or_default(),
            ),
            None => {
                let text = String::from_utf8_lossy(body);
                let shown = preview(&text, BODY_PREVIEW_CHARS);
                let shown = if shown.is_empty() {
                    "empty body".to_owned()
                } else {
                    format!("body is not JSON: {shown}")
                };
                (shown, None, Vec::new())
            }
        };
        let (kind, retryable) = match status {
            401 => (ErrorKind::Authentication, false),
            404 => (ErrorKind::NotFound, false),
            422 => (ErrorKind::Validation, false),
            403 if !details.is_empty() => (ErrorKind::Validation, false),
            429 => (ErrorKind::Throttled, true),
            502..=504 => (ErrorKind::Server, true),
            500..=599 => (ErrorKind::Server, false),
            _ => (ErrorKind::Api, false),
        };
        let mut message = match kind {
            ErrorKind::NotFound => format!(
                "{context}: 404 not found ({server_message}). Looker also answers 404 when the \
                 API user lacks the permission to see the resource: check the name and the \
                 user's role"
            ),
            ErrorKind::Authentication => format!(
                "{context}: Looker at {host} rejected the access token (401: {server_message})"
            ),
            ErrorKind::Throttled => format!(
                "{context}: Looker's rate limit was reached (429: {server_message}){}",
                match retry_after {
                    Some(d) => format!("; the server asked to wait {} s", d.as_secs()),
                    None => String::new(),
                }
            ),
            _ => format!("{context}: HTTP {status}: {server_message}"),
        };
        if !details.is_empty() {
            let items: Vec<String> = details
                .iter()
                .map(|d| {
                    format!(
                        "{}: {} ({})",
                        d.field.as_deref().unwrap_or("?"),
                        d.message.as_deref().unwrap_or("invalid"),
                        d.code.as_deref().unwrap_or("no code")
                    )
                })
                .collect();
            message.push_str(&format!(" [{}]", items.join("; ")));
        }
        let mut e = Self::new(kind, message);
        e.0.status = Some(status);
        e.0.retryable = retryable;
        e.0.retry_after = retry_after;
        e.0.documentation_url = doc_url;
        e.0.validation = details;
        e
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The HTTP status, when the error came from a response.
    pub fn status(&self) -> Option<u16> {
        self.0.status
    }

    /// Whether sending the same request again may succeed: 429, 502, 503,
    /// 504 and transport errors of requests that are safe to repeat.
    ///
    /// ```
    /// # use looker_client::Error;
    /// fn should_retry(e: &Error) -> bool { e.is_retryable() }
    /// # let _ = should_retry;
    /// ```
    pub fn is_retryable(&self) -> bool {
        self.0.retryable
    }

    /// The wait the server asked for with `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }

    /// Whether this is a 404 (which Looker also uses for "no permission").
    pub fn is_not_found(&self) -> bool {
        self.0.kind == ErrorKind::NotFound
    }

    /// Whether a result reached its row limit (see [`ErrorKind::Truncated`]).
    pub fn is_truncated(&self) -> bool {
        self.0.kind == ErrorKind::Truncated
    }

    /// The items of a 422 `ValidationError` body.
    pub fn validation_errors(&self) -> &[ValidationErrorDetail] {
        &self.0.validation
    }

    /// The unknown names found by explore validation, each with suggestions.
    pub fn unknown_fields(&self) -> &[UnknownField] {
        &self.0.unknown
    }

    /// Where in a response a decode error happened, as a path such as
    /// `[12].orders.count` (row 12, key `orders.count`).
    pub fn decode_path(&self) -> Option<&str> {
        self.0.decode_path.as_deref()
    }

    /// The row limit a truncated result reached.
    pub fn row_limit(&self) -> Option<i64> {
        self.0.row_limit
    }

    /// Looker's `documentation_url` for the error, when it sent one.
    pub fn documentation_url(&self) -> Option<&str> {
        self.0.documentation_url.as_deref()
    }

    /// The same error with `context` (what was being done, where) before its message; the
    /// kind, status and every other detail are kept.
    ///
    /// ```no_run
    /// # async fn demo(client: looker_client::Client, q: looker_client::WriteQuery) {
    /// let err = client.create_query(&q).await.unwrap_err();
    /// let err = err.with_context(format!("Looker at {} (query for the GL feed)", client.base_url()));
    /// assert!(err.to_string().contains("(query for the GL feed): "));
    /// # }
    /// ```
    pub fn with_context(mut self, context: impl fmt::Display) -> Self {
        self.0.message = format!("{context}: {}", self.0.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0.kind, self.0.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.0.kind)
            .field("message", &self.0.message);
        if let Some(s) = self.0.status {
            d.field("status", &s);
        }
        if self.0.retryable {
            d.field("retryable", &true);
        }
        if let Some(r) = self.0.retry_after {
            d.field("retry_after", &r);
        }
        if let Some(p) = &self.0.decode_path {
            d.field("decode_path", p);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl Classify for Error {
    fn is_retryable(&self) -> bool {
        self.0.retryable
    }

    fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }

    fn is_refused(&self) -> bool {
        std::error::Error::source(self).is_some_and(ml_connector_retry::is_connection_refused)
    }

    fn status(&self) -> Option<u16> {
        self.0.status
    }
}

/// The body shapes of the spec's `Error` and `ValidationError`.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    documentation_url: Option<String>,
    #[serde(default)]
    errors: Option<Vec<ValidationErrorDetail>>,
}

/// An error and its sources on one line (reqwest hides the useful part,
/// such as "connection refused", in the source chain).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        next = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_proxy_page_is_previewed() {
        let body =
            b"<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>";
        let e = Error::from_response("GET /api/4.0/x", "h", 502, None, body);
        assert_eq!(e.kind(), ErrorKind::Server);
        assert!(e.is_retryable());
        let text = e.to_string();
        assert!(
            text.contains("body is not JSON: an HTML page titled \"502 Bad Gateway\""),
            "{text}"
        );
        assert!(!text.contains("<html"), "{text}");
    }

    #[test]
    fn not_found_mentions_permission() {
        let e = Error::from_response(
            "GET /api/4.0/lookml_models/m",
            "h",
            404,
            None,
            br#"{"message":"Not found","documentation_url":"https://cloud.google.com/looker/docs/"}"#,
        );
        assert!(e.is_not_found());
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("lacks the permission"), "{e}");
        assert_eq!(
            e.documentation_url(),
            Some("https://cloud.google.com/looker/docs/")
        );
    }

    #[test]
    fn validation_details_are_kept() {
        let body = br#"{"message":"Validation Failed","errors":[{"field":"model","code":"missing_field","message":"'model' is required.","documentation_url":"u"}],"documentation_url":"d"}"#;
        let e = Error::from_response("POST /api/4.0/queries", "h", 422, None, body);
        assert_eq!(e.kind(), ErrorKind::Validation);
        assert_eq!(
            e.validation_errors()[0].code.as_deref(),
            Some("missing_field")
        );
        assert!(
            e.to_string()
                .contains("model: 'model' is required. (missing_field)")
        );
    }

    #[test]
    fn throttled_keeps_retry_after() {
        let e = Error::from_response("x", "h", 429, Some(Duration::from_secs(3)), b"");
        assert_eq!(e.kind(), ErrorKind::Throttled);
        assert!(e.is_retryable());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        assert!(e.to_string().contains("empty body"));
        assert!(e.to_string().contains("wait 3 s"));
    }
}
