//! The request log every fake keeps, for tests that assert exactly-once
//! effects and the absence of retries.
//!
//! Each request is recorded with its method, path, redacted query string,
//! final status, the auth scheme it used and the fault applied to it. Bodies
//! are never recorded, nor are header values: a request log can be printed
//! in a test failure without leaking a password, token or cookie. Query
//! parameters whose name suggests a secret (`password`, `client_secret`,
//! `token`, ...) are replaced by `[redacted]`.
//!
//! ```no_run
//! # async fn demo(server: testkit::server::FakeServer) {
//! let log = server.log();
//! assert_eq!(log.count("PUT", "/entity/Default/*/JournalTransaction"), 1);
//! assert!(log.entries().iter().all(|r| r.status != Some(500)));
//! log.reset();
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http::{Method, Request, header};

use crate::faults::PathPattern;

/// How a request authenticated itself (the scheme only, never the value).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AuthScheme {
    /// No `Authorization` header and no cookie.
    None,
    /// `Authorization: Bearer ...`.
    Bearer,
    /// `Authorization: token ...` (Looker's own spelling).
    Token,
    /// `Authorization: Basic ...`.
    Basic,
    /// No `Authorization` header, but a `Cookie` header.
    Cookie,
    /// Another `Authorization` scheme, as sent (the scheme word only).
    Other(String),
}

impl fmt::Display for AuthScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthScheme::None => f.write_str("none"),
            AuthScheme::Bearer => f.write_str("Bearer"),
            AuthScheme::Token => f.write_str("token"),
            AuthScheme::Basic => f.write_str("Basic"),
            AuthScheme::Cookie => f.write_str("cookie"),
            AuthScheme::Other(s) => f.write_str(s),
        }
    }
}

/// One request as the fake saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// Sequence number, from 1, in arrival order of completion.
    pub seq: u64,
    /// HTTP method.
    pub method: Method,
    /// URL path as sent (still percent-encoded).
    pub path: String,
    /// Query string as sent, with secret-looking parameter values replaced
    /// by `[redacted]`.
    pub query: Option<String>,
    /// Status sent to the client; `None` when the connection was dropped
    /// before a response.
    pub status: Option<u16>,
    /// Status the handler produced when a fault dropped the connection after
    /// it ran (the write was applied but the client never saw this).
    pub handler_status: Option<u16>,
    /// Auth scheme used.
    pub auth: AuthScheme,
    /// Faults applied, e.g. `"429"` or `"latency 200ms, drop after write"`.
    pub fault: Option<String>,
    /// Time from arrival to the response head (or the drop).
    pub elapsed: Duration,
    /// The `PX-CbApiBranch` header as sent (Acumatica: the branch the
    /// request runs in).
    pub branch: Option<String>,
    /// The `PX-CbApiBusinessDate` header as sent.
    pub business_date: Option<String>,
}

const SECRET_HINTS: &[&str] = &[
    "password",
    "secret",
    "token",
    "client_id",
    "assertion",
    "code",
    "key",
    "auth",
];

fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| {
            let (name, _) = pair.split_once('=').unwrap_or((pair, ""));
            let lower = name.to_ascii_lowercase();
            if SECRET_HINTS.iter().any(|h| lower.contains(h)) {
                format!("{name}=[redacted]")
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn auth_scheme<B>(req: &Request<B>) -> AuthScheme {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let text = value.to_str().unwrap_or("");
        let scheme = text.split_whitespace().next().unwrap_or("");
        return match scheme.to_ascii_lowercase().as_str() {
            "bearer" => AuthScheme::Bearer,
            "token" => AuthScheme::Token,
            "basic" => AuthScheme::Basic,
            _ => AuthScheme::Other(scheme.chars().take(20).collect()),
        };
    }
    if req.headers().contains_key(header::COOKIE) {
        AuthScheme::Cookie
    } else {
        AuthScheme::None
    }
}

fn header_text<B>(req: &Request<B>, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

impl RequestRecord {
    pub(crate) fn from_request<B>(req: &Request<B>) -> Self {
        RequestRecord {
            seq: 0,
            method: req.method().clone(),
            path: req.uri().path().to_owned(),
            query: req.uri().query().map(redact_query),
            status: None,
            handler_status: None,
            auth: auth_scheme(req),
            fault: None,
            elapsed: Duration::ZERO,
            branch: header_text(req, "px-cbapibranch"),
            business_date: header_text(req, "px-cbapibusinessdate"),
        }
    }
}

#[derive(Debug, Default)]
struct LogState {
    next_seq: u64,
    records: Vec<RequestRecord>,
}

/// The request log of one fake (cheap to clone; clones share the log).
#[derive(Clone, Debug, Default)]
pub struct RequestLog {
    state: Arc<Mutex<LogState>>,
}

impl RequestLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn push(&self, mut record: RequestRecord) {
        let mut state = self.lock();
        state.next_seq += 1;
        record.seq = state.next_seq;
        state.records.push(record);
    }

    /// A copy of every record so far.
    pub fn entries(&self) -> Vec<RequestRecord> {
        self.lock().records.clone()
    }

    /// Records matching a method (`"*"` for any) and a path pattern (see
    /// [`PathPattern`]: `*` is one segment, a final `**` any rest).
    pub fn matching(&self, method: &str, path: &str) -> Vec<RequestRecord> {
        let pattern = PathPattern::new(path);
        self.lock()
            .records
            .iter()
            .filter(|r| {
                (method == "*" || r.method.as_str().eq_ignore_ascii_case(method))
                    && pattern.matches(&r.path)
            })
            .cloned()
            .collect()
    }

    /// How many requests match a method (`"*"` for any) and path pattern.
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.matching(method, path).len()
    }

    /// How many requests were answered with `status`.
    pub fn count_status(&self, status: u16) -> usize {
        self.lock()
            .records
            .iter()
            .filter(|r| r.status == Some(status))
            .count()
    }

    /// Requests per `"METHOD /path"` (query strings left out), sorted.
    pub fn counts_by_route(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for r in &self.lock().records {
            *out.entry(format!("{} {}", r.method, r.path)).or_insert(0) += 1;
        }
        out
    }

    /// Requests per status sent (`None`: the connection was dropped).
    pub fn counts_by_status(&self) -> BTreeMap<Option<u16>, usize> {
        let mut out = BTreeMap::new();
        for r in &self.lock().records {
            *out.entry(r.status).or_insert(0) += 1;
        }
        out
    }

    /// How many requests were received in total.
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    /// Whether no request was received.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most recent record.
    pub fn last(&self) -> Option<RequestRecord> {
        self.lock().records.last().cloned()
    }

    /// Forget every record (sequence numbers continue).
    pub fn reset(&self) {
        self.lock().records.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_queries_are_redacted() {
        let q = redact_query(
            "client_id=abc&client_secret=s3&$top=5&password=p&access_token=t&grant_type=password",
        );
        assert_eq!(
            q,
            "client_id=[redacted]&client_secret=[redacted]&$top=5&password=[redacted]&access_token=[redacted]&grant_type=password"
        );
    }

    #[test]
    fn schemes() {
        let req = |k: Option<(&str, &str)>| {
            let mut b = Request::builder().uri("/x");
            if let Some((k, v)) = k {
                b = b.header(k, v);
            }
            auth_scheme(&b.body(()).unwrap())
        };
        assert_eq!(req(None), AuthScheme::None);
        assert_eq!(
            req(Some(("authorization", "Bearer abc"))),
            AuthScheme::Bearer
        );
        assert_eq!(req(Some(("authorization", "token abc"))), AuthScheme::Token);
        assert_eq!(req(Some(("cookie", ".ASPXAUTH=abc"))), AuthScheme::Cookie);
        assert_eq!(
            req(Some(("authorization", "Digest abc"))),
            AuthScheme::Other("Digest".into())
        );
    }

    #[test]
    fn counting_and_reset() {
        let log = RequestLog::new();
        for (m, p, s) in [
            ("GET", "/a/1", 200),
            ("PUT", "/a/2", 500),
            ("GET", "/b", 200),
        ] {
            let mut r =
                RequestRecord::from_request(&Request::builder().method(m).uri(p).body(()).unwrap());
            r.status = Some(s);
            log.push(r);
        }
        assert_eq!(log.count("GET", "/a/*"), 1);
        assert_eq!(log.count("*", "/a/*"), 2);
        assert_eq!(log.count("*", "/**"), 3);
        assert_eq!(log.count_status(200), 2);
        assert_eq!(log.last().unwrap().seq, 3);
        assert_eq!(log.counts_by_route()["GET /a/1"], 1);
        assert_eq!(log.counts_by_status()[&Some(200)], 2);
        log.reset();
        assert!(log.is_empty());
    }
}
