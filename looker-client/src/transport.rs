//! HTTP plumbing, hidden from the public API.
//!
//! The HTTP client (reqwest) never appears in a public signature. Every URL
//! is built here from the configured instance and percent-encoded path
//! segments, redirects are followed only within the same origin, and the
//! access token is attached only to those URLs, so it cannot leak to another
//! host.

use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use ml_connector_retry::observe;
use reqwest::header::{self, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::config::ClientBuilder;
use crate::error::{Error, Result};
use crate::rows::ReadAhead;

/// The system name in retry summaries and exchange events ([`ml_connector_retry::observe`]).
pub(crate) const SYSTEM: &str = "looker";

/// The API version path every call goes to.
pub(crate) const API_PREFIX: [&str; 2] = ["api", "4.0"];

/// HTTP method of a [`Request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Body {
    Empty,
    Json(Bytes),
    /// Form-encoded; may hold a secret, so it is never shown.
    Form(SecretString),
}

/// One API call: method, path below `/api/4.0`, query and body.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    pub(crate) method: Method,
    pub(crate) segments: Vec<String>,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) body: Body,
    /// Whether sending it twice is harmless. A transport error after a
    /// non-idempotent request may have been sent is not retried.
    pub(crate) idempotent: bool,
}

impl Request {
    pub(crate) fn new<S: AsRef<str>>(method: Method, segments: &[S]) -> Self {
        Self {
            method,
            segments: segments.iter().map(|s| s.as_ref().to_owned()).collect(),
            query: Vec::new(),
            body: Body::Empty,
            idempotent: method != Method::Post,
        }
    }

    pub(crate) fn get<S: AsRef<str>>(segments: &[S]) -> Self {
        Self::new(Method::Get, segments)
    }

    pub(crate) fn post<S: AsRef<str>>(segments: &[S]) -> Self {
        Self::new(Method::Post, segments)
    }

    pub(crate) fn delete<S: AsRef<str>>(segments: &[S]) -> Self {
        Self::new(Method::Delete, segments)
    }

    pub(crate) fn query(mut self, key: &str, value: impl ToString) -> Self {
        self.query.push((key.to_owned(), value.to_string()));
        self
    }

    pub(crate) fn query_opt(self, key: &str, value: Option<impl ToString>) -> Self {
        match value {
            Some(v) => self.query(key, v),
            None => self,
        }
    }

    pub(crate) fn json<T: serde::Serialize + ?Sized>(mut self, body: &T) -> Result<Self> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::config(format!("cannot serialize the request body: {e}")))?;
        self.body = Body::Json(Bytes::from(bytes));
        Ok(self)
    }

    pub(crate) fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    /// `METHOD /api/4.0/path` for messages and logs (no query: it could
    /// hold user data; never a secret).
    pub(crate) fn label(&self) -> String {
        format!(
            "{} /{}/{}",
            self.method.as_str(),
            API_PREFIX.join("/"),
            self.segments.join("/")
        )
    }
}

/// A response of any status.
pub(crate) struct Response {
    inner: reqwest::Response,
}

impl Response {
    pub(crate) fn status(&self) -> u16 {
        self.inner.status().as_u16()
    }

    pub(crate) fn retry_after(&self) -> Option<Duration> {
        self.inner
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(ml_connector_retry::parse_retry_after)
    }

    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.inner
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The whole body.
    pub(crate) async fn bytes(self, context: &str) -> Result<Bytes> {
        self.inner.bytes().await.map_err(|e| {
            Error::transport(&format!("{context}: reading the response body"), e, true)
        })
    }

    /// The body as it arrives, read a few chunks ahead of the caller on a
    /// task of its own ([`ReadAhead`]).
    pub(crate) fn into_stream(
        self,
        context: String,
    ) -> impl Stream<Item = Result<Bytes>> + Send + 'static {
        use futures::TryStreamExt;
        ReadAhead::spawn(self.inner.bytes_stream().map_err(move |e| {
            Error::transport(&format!("{context}: the response body broke off"), e, false)
        }))
    }
}

/// The configured HTTP client and instance.
pub(crate) struct Transport {
    http: reqwest::Client,
    api_root: Url,
    origin: String,
}

impl Transport {
    pub(crate) fn new(cfg: &ClientBuilder, base: &Url) -> Result<Self> {
        let mut headers = HeaderMap::new();
        let app_id = HeaderValue::from_str(&cfg.app_id).map_err(|_| {
            Error::config("the app tag must be printable ASCII (it goes into x-looker-appid)")
        })?;
        headers.insert("x-looker-appid", app_id);
        let origin = base.origin();
        let allowed = origin.clone();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("too many redirects")
            } else if attempt.url().origin() == allowed {
                attempt.follow()
            } else {
                // Never follow to another host: the token would go with it.
                attempt.stop()
            }
        });
        // Only https has certificates to skip; a plain-http sandbox gets no warning.
        if !cfg.verify_ssl && base.scheme() == "https" {
            tracing::warn!(
                instance = %base,
                "TLS certificate verification is turned off (verify_ssl = false): \
                 anyone on the network path can read the credentials; use it only for a \
                 test instance with a self-signed certificate"
            );
        }
        let mut http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(cfg.app_id.clone())
            .redirect(redirects)
            .pool_idle_timeout(cfg.pool_idle_timeout)
            .danger_accept_invalid_certs(!cfg.verify_ssl);
        if let Some(t) = cfg.timeout {
            // A silence limit rather than a total: waiting for the response
            // to start and each wait for more of a streamed body. A result
            // that keeps arriving may take longer in total.
            http = http.connect_timeout(t).read_timeout(t);
        }
        let http = http
            .build()
            .map_err(|e| Error::config(format!("cannot build the HTTP client: {e}")))?;
        let mut api_root = base.clone();
        api_root
            .path_segments_mut()
            .map_err(|_| Error::config("the Looker base_url cannot take a path"))?
            .pop_if_empty()
            .extend(API_PREFIX);
        Ok(Self {
            http,
            api_root,
            origin: origin.ascii_serialization(),
        })
    }

    /// The instance, for messages: `https://host:port`.
    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    pub(crate) fn url(&self, req: &Request) -> Url {
        let mut url = self.api_root.clone();
        url.path_segments_mut()
            .expect("checked when the transport was built")
            .extend(req.segments.iter());
        if !req.query.is_empty() {
            url.query_pairs_mut().extend_pairs(req.query.iter());
        }
        url
    }

    /// Sends `req` once, with the token when one is given. Returns the
    /// response whatever its status.
    pub(crate) async fn send(
        &self,
        req: &Request,
        token: Option<&SecretString>,
    ) -> Result<Response> {
        let url = self.url(req);
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self.http.request(method, url);
        if let Some(token) = token {
            let mut value = HeaderValue::from_str(&format!("token {}", token.expose_secret()))
                .map_err(|_| {
                    Error::new(
                        crate::ErrorKind::Authentication,
                        "Looker returned an access token that is not a valid header value",
                    )
                })?;
            value.set_sensitive(true);
            builder = builder.header(header::AUTHORIZATION, value);
        }
        builder = match &req.body {
            Body::Empty => builder,
            Body::Json(b) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(b.clone()),
            Body::Form(f) => builder
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(f.expose_secret().to_owned()),
        };
        let label = req.label();
        let sent = std::time::Instant::now();
        let result = builder.send().await;
        let status = result.as_ref().ok().map(|r| r.status().as_u16());
        observe::exchange(SYSTEM, req.method.as_str(), status, sent.elapsed());
        let resp = result.map_err(|e| {
            if ml_connector_retry::is_connection_refused(&e) {
                let message = format!(
                    "cannot reach Looker at {}: the connection was refused on {label} (nothing \
                     listens there); check base_url and that the server is running",
                    self.origin
                );
                // Nothing was sent: safe to repeat.
                return Error::transport_refused(message, e.without_url());
            }
            // A request that never reached the server is always safe to repeat.
            let sent_maybe = !e.is_connect();
            let retryable = req.idempotent || !sent_maybe;
            Error::transport(&label, e.without_url(), retryable)
        })?;
        Ok(Response { inner: resp })
    }
}
