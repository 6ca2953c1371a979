//! The [`Client`] handle and the request pipeline every call goes through:
//! token, send, one re-login and replay on a 401, status check, retries.

use std::collections::HashMap;
use std::sync::Arc;

use ml_connector_retry::{Pacer, RetryPolicy};
use secrecy::SecretString;
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::auth::Auth;
use crate::config::ClientBuilder;
use crate::error::{Error, ErrorKind, Result};
use crate::explore::LookmlModelExplore;
use crate::transport::{Request, Response, SYSTEM, Transport};

/// A Looker API 4.0 client. Cheap to clone; clones share the token, the
/// connection pool and the explore cache.
///
/// ```no_run
/// use looker_client::{Client, ResultFormat, RunOptions, WriteQuery};
/// use futures::TryStreamExt;
///
/// # async fn demo() -> Result<(), looker_client::Error> {
/// let client = Client::builder("https://example.cloud.looker.com")
///     .credentials("client-id", "client-secret")
///     .build()?;
/// let query = WriteQuery::new("thelook", "orders")
///     .fields(["orders.id", "orders.total"])
///     .with_limit(-1);
/// let mut rows = client.run_inline_query_rows::<looker_client::Row>(
///     &query,
///     ResultFormat::Csv,
///     &RunOptions::new(),
/// ).await?;
/// while let Some(row) = rows.try_next().await? {
///     println!("{row:?}");
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) transport: Transport,
    pub(crate) auth: Auth,
    pub(crate) retry: RetryPolicy,
    pub(crate) pacer: Pacer,
    pub(crate) base_url: Url,
    pub(crate) explores: std::sync::Mutex<HashMap<(String, String), Arc<LookmlModelExplore>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url.as_str())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts configuring a client for the instance at `base_url` (without
    /// `/api/*`, e.g. `https://example.cloud.looker.com` or
    /// `https://looker.example.com:19999`).
    ///
    /// ```
    /// let err = looker_client::Client::builder("https://x.looker.com/api/4.0")
    ///     .credentials("id", "secret")
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("must not include /api/*"));
    /// ```
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(base_url)
    }

    pub(crate) fn from_parts(
        cfg: ClientBuilder,
        base: Url,
        client_id: String,
        secret: SecretString,
    ) -> Result<Self> {
        let transport = Transport::new(&cfg, &base)?;
        Ok(Self {
            inner: Arc::new(Inner {
                transport,
                auth: Auth::new(client_id, secret, cfg.renewal_margin),
                retry: cfg.retry,
                pacer: cfg.pacer,
                base_url: base,
                explores: std::sync::Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The instance URL the client talks to.
    pub fn base_url(&self) -> &str {
        self.inner.base_url.as_str()
    }

    /// Logs in now instead of at the first call (to fail fast on bad
    /// credentials). Does nothing while the cached token is still valid.
    pub async fn login(&self) -> Result<()> {
        self.inner
            .auth
            .token(&self.inner.transport, &self.inner.retry)
            .await
            .map(|_| ())
    }

    /// Revokes the current token (`DELETE /api/4.0/logout`). The next call
    /// logs in again.
    pub async fn logout(&self) -> Result<()> {
        self.inner
            .auth
            .logout(&self.inner.transport, &self.inner.retry)
            .await
    }

    /// How many login requests this client has sent (for monitoring).
    pub fn login_count(&self) -> u64 {
        self.inner.auth.login_count()
    }

    /// `GET /api/4.0/{path}` decoded as `T`: an escape hatch for the hundreds
    /// of endpoints this crate does not wrap. `path` is relative (e.g.
    /// `"versions"` or `"users/me"`); each `/`-separated part is
    /// percent-encoded.
    ///
    /// ```no_run
    /// # async fn demo(client: looker_client::Client) -> Result<(), looker_client::Error> {
    /// let me: serde_json::Value = client.get_json("user", &[("fields", "id,display_name")]).await?;
    /// # let _ = me; Ok(()) }
    /// ```
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T> {
        let mut req = Request::get(&split_path(path)?);
        for (k, v) in query {
            req = req.query(k, v);
        }
        self.call_json(&req).await
    }

    /// `POST /api/4.0/{path}` with a JSON body, decoded as `T`. Not retried
    /// after a transport error, since the server may have acted on it.
    pub async fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let req = Request::post(&split_path(path)?).json(body)?;
        self.call_json(&req).await
    }

    /// Sends `req` with retries and returns a successful (2xx) response.
    pub(crate) async fn call(&self, req: &Request) -> Result<Response> {
        let label = req.label();
        self.inner
            .retry
            .run_for(SYSTEM, &label, || self.call_once(req))
            .await
    }

    /// Sends `req` with retries and decodes the JSON body as `T`.
    pub(crate) async fn call_json<T: DeserializeOwned>(&self, req: &Request) -> Result<T> {
        let resp = self.call(req).await?;
        let label = req.label();
        let body = resp.bytes(&label).await?;
        decode_json(&label, &body)
    }

    /// One attempt: token, send, one re-login and replay on a 401, and
    /// the status check.
    async fn call_once(&self, req: &Request) -> Result<Response> {
        let inner = &self.inner;
        // A login failure has been retried by the login itself: not again here.
        let token = inner
            .auth
            .token(&inner.transport, &inner.retry)
            .await
            .map_err(|e| e.with_retryable(false))?;
        let _slot = inner.pacer.acquire().await;
        let mut resp = inner.transport.send(req, Some(&token.value)).await?;
        if resp.status() == 401 {
            tracing::info!(
                request = %req.label(),
                "Looker answered 401; logging in again and replaying once"
            );
            let fresh = inner
                .auth
                .renew_after_401(token.generation, &inner.transport, &inner.retry)
                .await
                .map_err(|e| e.with_retryable(false))?;
            resp = inner.transport.send(req, Some(&fresh.value)).await?;
            if resp.status() == 401 {
                let err = self.error_from(req, resp).await;
                return Err(Error::new(
                    ErrorKind::Authentication,
                    format!(
                        "Looker at {} answered 401 again right after a new login; the API user \
                         may have lost its permissions or been disabled [{err}]",
                        inner.transport.origin()
                    ),
                )
                .with_source(err));
            }
        }
        if (200..300).contains(&resp.status()) {
            Ok(resp)
        } else {
            Err(self.error_from(req, resp).await)
        }
    }

    /// The error for a response that is not a success.
    pub(crate) async fn error_from(&self, req: &Request, resp: Response) -> Error {
        let status = resp.status();
        let label = req.label();
        if (300..400).contains(&status) {
            let to = resp.header("location").unwrap_or_default();
            return Error::new(
                ErrorKind::Api,
                format!(
                    "{label}: Looker redirected to `{to}` (HTTP {status}), which is not on {}; \
                     redirects to another host are not followed because the token would go \
                     with them. Check the base_url",
                    self.inner.transport.origin()
                ),
            );
        }
        let retry_after = resp.retry_after();
        let body = match resp.bytes(&label).await {
            Ok(b) => b,
            Err(e) => return e,
        };
        let err = Error::from_response(
            &label,
            self.inner.transport.origin(),
            status,
            retry_after,
            &body,
        );
        // 503 is retryable for every request: the server did not act on it.
        if status == 503 {
            return err.with_retryable(true);
        }
        if !req.idempotent && matches!(status, 502 | 504) {
            // A gateway error after a non-idempotent request: it may have run.
            return err.with_retryable(false);
        }
        err
    }
}

/// Decodes a JSON body, naming the path of the first mismatch.
pub(crate) fn decode_json<T: DeserializeOwned>(label: &str, body: &[u8]) -> Result<T> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let shown = if inner.is_syntax() || inner.is_eof() {
            format!(
                "; body: {}",
                ml_connector_retry::preview(&String::from_utf8_lossy(body), 200)
            )
        } else {
            String::new()
        };
        Error::decode(
            format!("{label}: unexpected response at `{path}`: {inner}{shown}"),
            Some(path),
        )
    })
}

/// Splits a relative API path into segments, refusing absolute URLs (the
/// token must only go to the configured host).
pub(crate) fn split_path(path: &str) -> Result<Vec<String>> {
    if path.contains("://") || path.starts_with("//") {
        return Err(Error::config(format!(
            "`{path}` is not a path below /api/4.0; give a relative path such as `users/me`"
        )));
    }
    let trimmed = path.trim_start_matches('/');
    let trimmed = trimmed.strip_prefix("api/4.0/").unwrap_or(trimmed);
    let segments: Vec<String> = trimmed.split('/').map(str::to_owned).collect();
    if segments
        .iter()
        .any(|s| s.is_empty() || s == ".." || s == ".")
    {
        return Err(Error::config(format!(
            "`{path}` has an empty, `.` or `..` part; give a path such as `lookml_models/thelook`"
        )));
    }
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_test::traced_test;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const SECRET: &str = "very-secret-client-secret";
    const TOKEN_1: &str = "first-access-token-value";
    const TOKEN_2: &str = "second-access-token-value";

    #[tokio::test]
    #[traced_test]
    async fn logs_never_contain_the_secret_or_a_token() {
        let server = MockServer::start().await;
        let token = |t: &str| {
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"access_token": t, "expires_in": 3600}))
        };
        Mock::given(method("POST"))
            .and(path("/api/4.0/login"))
            .respond_with(token(TOKEN_1))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/api/4.0/login"))
            .respond_with(token(TOKEN_2))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/4.0/versions"))
            .and(header("authorization", format!("token {TOKEN_1}").as_str()))
            .respond_with(ResponseTemplate::new(401))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/4.0/versions"))
            .and(header("authorization", format!("token {TOKEN_2}").as_str()))
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/4.0/versions"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
            .mount(&server)
            .await;
        let client = Client::builder(server.uri())
            .credentials("the-id", SECRET)
            .build()
            .unwrap();
        let _: serde_json::Value = client.get_json("versions", &[]).await.unwrap();
        // The events were captured (so the check below means something) ...
        assert!(logs_contain("logging in again and replaying once"));
        assert!(logs_contain("logged in to Looker"));
        // ... and none carries a secret.
        for secret in [SECRET, TOKEN_1, TOKEN_2] {
            assert!(!logs_contain(secret), "a log line contains {secret}");
        }
    }

    #[test]
    fn paths_are_relative_only() {
        assert_eq!(split_path("/users/me").unwrap(), vec!["users", "me"]);
        assert_eq!(split_path("api/4.0/versions").unwrap(), vec!["versions"]);
        assert!(split_path("https://evil.example.com/x").is_err());
        assert!(split_path("//evil.example.com/x").is_err());
        assert!(split_path("a/../b").is_err());
    }
}
