//! [`Client`]: the handle every call goes through, and the request pipeline
//! (credentials, the one replay after a 401, retries of safe requests).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ml_connector_retry::{Classify, Pacer};
use reqwest::Method;
use secrecy::SecretString;
use url::Url;

use crate::auth::Auth;
use crate::config::{ClientBuilder, Config, EndpointVersion};
use crate::error::{Error, ErrorKind, Result};
use crate::scope::Scope;
use crate::transport::{Request, Response, SYSTEM, Safety, Transport, check_status};

/// A client for one Acumatica site, endpoint version and set of credentials.
///
/// Cheap to clone (an `Arc` inside); clones share the token, the cookie
/// session, the pacing limits and the connection pool. `Send + Sync`.
///
/// ```no_run
/// # async fn run() -> acumatica_client::Result<()> {
/// use acumatica_client::{Client, ListQuery, entity::Vendor};
/// use futures::TryStreamExt;
///
/// let client = Client::builder("https://erp.example.com/AcumaticaERP")
///     .endpoint_version("24.200.001")
///     .tenant("MyTenant")
///     .oauth_password("client-guid", "client-secret", "api-user", "password")
///     .build()?;
/// let vendors: Vec<Vendor> = client.list::<Vendor>(ListQuery::new()).try_collect().await?;
/// println!("{} vendors", vendors.len());
/// client.close().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
    /// The branch and business date of this view ([`Client::with_branch`]).
    pub(crate) scope: Option<Arc<Scope>>,
}

pub(crate) struct Inner {
    pub config: Config,
    pub transport: Transport,
    pub auth: Auth,
    pub timeout: Duration,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.auth.session_open() {
            tracing::warn!(
                site = %self.config.site,
                "an Acumatica cookie session was left open (not signed out); it holds an \
                 API-user seat until it times out (10 minutes)"
            );
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Client");
        d.field("endpoint", &self.inner.config.endpoint_base.as_str())
            .field("credentials", &self.inner.config.credentials);
        if let Some(branch) = self.branch_override() {
            d.field("branch", &branch);
        }
        if let Some(date) = self.business_date_override() {
            d.field("business_date", &date);
        }
        d.finish()
    }
}

/// Wraps an error so the retry loop repeats a write only when the server
/// certainly did nothing (429: a declined request is not processed).
struct WriteAttempt(Error);

impl fmt::Display for WriteAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Classify for WriteAttempt {
    fn is_retryable(&self) -> bool {
        self.0.is_throttled()
    }
    fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after()
    }
    fn status(&self) -> Option<u16> {
        self.0.status()
    }
}

impl Client {
    /// Starts configuring a client for `site_url` (the address users open
    /// in a browser, with the instance path if any:
    /// `https://host/AcumaticaERP`).
    ///
    /// ```
    /// let builder = acumatica_client::Client::builder("https://erp.example.com");
    /// assert!(builder.build().is_err(), "the endpoint version is required");
    /// ```
    pub fn builder(site_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(site_url)
    }

    pub(crate) fn from_parts(
        config: Config,
        pacer: Pacer,
        timeout: Duration,
        connect_timeout: Duration,
        user_agent: &str,
    ) -> Result<Self> {
        let transport = Transport::new(
            config.site.clone(),
            pacer,
            timeout,
            connect_timeout,
            user_agent,
        )?;
        let auth = Auth::new(&config);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                transport,
                auth,
                timeout,
            }),
            scope: None,
        })
    }

    /// A view sharing everything with `self` but the scope.
    pub(crate) fn scoped(&self, scope: Scope) -> Client {
        Client {
            inner: self.inner.clone(),
            scope: Some(Arc::new(scope)),
        }
    }

    /// The endpoint base URL (`<site>/entity/<name>/<version>/`).
    pub fn endpoint_url(&self) -> &Url {
        &self.inner.config.endpoint_base
    }

    /// The configured endpoint version.
    pub fn endpoint_version(&self) -> &EndpointVersion {
        &self.inner.config.endpoint_version
    }

    /// The whole-request timeout the client was built with
    /// ([`ClientBuilder::timeout`]; default [`DEFAULT_TIMEOUT`](crate::DEFAULT_TIMEOUT)): how
    /// long a request may still be waiting in Acumatica when the client gives up on it.
    ///
    /// ```
    /// let client = acumatica_client::Client::builder("https://erp.example.com")
    ///     .endpoint_version("24.200.001")
    ///     .timeout(std::time::Duration::from_secs(90))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(client.request_timeout().as_secs(), 90);
    /// ```
    pub fn request_timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The site URL (with a trailing slash).
    pub fn site_url(&self) -> &Url {
        &self.inner.config.site
    }

    /// The OAuth refresh token currently held. Refresh tokens rotate: store
    /// this after a run to start the next one without the password.
    ///
    /// ```no_run
    /// # async fn run(client: acumatica_client::Client) {
    /// use secrecy::ExposeSecret;
    /// if let Some(token) = client.refresh_token().await {
    ///     let _store_me = token.expose_secret();
    /// }
    /// # }
    /// ```
    pub async fn refresh_token(&self) -> Option<SecretString> {
        self.inner.auth.refresh_token().await
    }

    /// Signs in now (otherwise the first request does), so bad credentials
    /// show up at start-up.
    ///
    /// # Errors
    /// [`ErrorKind::Authentication`] or [`ErrorKind::LoginLimit`].
    pub async fn sign_in(&self) -> Result<()> {
        let inner = &self.inner;
        inner
            .auth
            .authorize(&inner.config, &inner.transport)
            .await
            .map(|_| ())
    }

    /// Logs out (`POST /entity/auth/logout` with `Content-Length: 0`) so the
    /// session stops counting against the licence's API-user limit. Safe to
    /// call more than once; the next request signs in again.
    ///
    /// ```no_run
    /// # async fn run(client: acumatica_client::Client) -> acumatica_client::Result<()> {
    /// client.logout().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Transport or server errors of the logout request.
    pub async fn logout(&self) -> Result<()> {
        let inner = &self.inner;
        inner.auth.logout(&inner.config, &inner.transport).await
    }

    /// Ends the client's session: logs out. Call it before dropping the last
    /// clone (a destructor cannot run the asynchronous logout).
    ///
    /// # Errors
    /// As [`logout`](Self::logout).
    pub async fn close(&self) -> Result<()> {
        self.logout().await
    }

    /// Resolves a path relative to the endpoint base (`Vendor/V001`),
    /// refusing anything that would leave the site.
    pub(crate) fn endpoint_path(&self, path: &str) -> Result<Url> {
        let trimmed = path.trim_start_matches('/');
        if trimmed.contains("://")
            || path.starts_with("//")
            || trimmed.split('/').any(|s| s == "..")
        {
            return Err(Error::config(format!(
                "{path:?} must be a path relative to the endpoint (like \"Vendor\" or \"Vendor/V001\"), not a URL"
            )));
        }
        let url = self
            .inner
            .config
            .endpoint_base
            .join(trimmed)
            .map_err(|e| Error::config(format!("cannot build a URL from {path:?}: {e}")))?;
        if !url
            .as_str()
            .starts_with(self.inner.config.endpoint_base.as_str())
        {
            return Err(Error::config(format!("{path:?} leaves the endpoint")));
        }
        Ok(url)
    }

    /// Sends a request through the whole pipeline.
    pub(crate) async fn execute(&self, mut req: Request) -> Result<Response> {
        let inner = &self.inner;
        // The branch and business date go on endpoint requests only (not on
        // sign-in, sign-out or discovery, which are outside the endpoint).
        if let Some(scope) = &self.scope
            && req
                .url
                .as_str()
                .starts_with(inner.config.endpoint_base.as_str())
        {
            req.headers.extend(scope.headers());
        }
        let mut attempt = 0u32;
        let label = format!("{} {}", req.method, req.label);
        let result = match req.safety {
            Safety::Safe => {
                inner
                    .config
                    .retry
                    .run_for(SYSTEM, &label, || {
                        attempt += 1;
                        self.attempt(&req, attempt)
                    })
                    .await
            }
            Safety::Write => inner
                .config
                .retry
                .run_for(SYSTEM, &label, || {
                    attempt += 1;
                    let fut = self.attempt(&req, attempt);
                    async move { fut.await.map_err(WriteAttempt) }
                })
                .await
                .map_err(|w| w.0),
        };
        match result {
            Err(e)
                if e.status() == Some(404)
                    && req.authenticated
                    && req
                        .url
                        .as_str()
                        .starts_with(inner.config.endpoint_base.as_str()) =>
            {
                Err(self.explain_404(e).await)
            }
            other => other,
        }
    }

    pub(crate) async fn attempt(&self, req: &Request, attempt: u32) -> Result<Response> {
        let inner = &self.inner;
        if !req.authenticated {
            let resp = inner.transport.send_once(req, None, attempt).await?;
            return check_status(req, resp);
        }
        // A sign-in failure has been retried by the sign-in itself: not again here.
        let authz = inner
            .auth
            .authorize(&inner.config, &inner.transport)
            .await
            .map_err(Error::retried)?;
        let resp = inner
            .transport
            .send_once(req, authz.bearer.as_ref(), attempt)
            .await?;
        if resp.status != 401 {
            return check_status(req, resp);
        }
        // One renewal and one replay; a second 401 is final.
        tracing::info!(entity = %req.label, "401: renewing credentials and replaying once");
        inner
            .auth
            .renew(&inner.config, &inner.transport, authz.generation)
            .await
            .map_err(Error::retried)?;
        let authz = inner
            .auth
            .authorize(&inner.config, &inner.transport)
            .await
            .map_err(Error::retried)?;
        let resp = inner
            .transport
            .send_once(req, authz.bearer.as_ref(), attempt)
            .await?;
        if resp.status == 401 {
            return Err(Error::new(
                ErrorKind::Authentication,
                format!(
                    "{} {}: still 401 after renewing the credentials; the user may lack API access or the session was closed",
                    req.method, req.label
                ),
            )
            .with_status(401));
        }
        check_status(req, resp)
    }

    /// A 404 on an authenticated endpoint URL: is the endpoint version
    /// missing (FACTS section 1), or just the entity/action/record?
    async fn explain_404(&self, original: Error) -> Error {
        let config = &self.inner.config;
        match self.fetch_site_info().await {
            Ok(info) => {
                let available = info.versions_of(&config.endpoint_name);
                if available.contains(&config.endpoint_version) {
                    original
                } else {
                    version_not_found(
                        &config.endpoint_name,
                        &config.endpoint_version,
                        available.iter().map(ToString::to_string).collect(),
                    )
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "endpoint discovery after a 404 failed");
                original
            }
        }
    }

    /// A GET of the endpoint-relative `path` (safe, retried).
    pub(crate) async fn get_path(&self, url: Url, label: &str) -> Result<Response> {
        self.execute(Request::new(Method::GET, url, label)).await
    }
}

/// The error for an endpoint version the site does not offer.
pub(crate) fn version_not_found(
    name: &str,
    version: &EndpointVersion,
    available: Vec<String>,
) -> Error {
    let requested = format!("{name}/{version}");
    let message = if available.is_empty() {
        format!(
            "the site offers no endpoint named {name:?} (requested {requested}); \
             check the endpoint name and the tenant (custom endpoints are tenant-scoped)"
        )
    } else {
        format!(
            "the site does not offer {requested}; it offers {name} {}: pin one of those as the endpoint version",
            available.join(", ")
        )
    };
    Error::new(
        ErrorKind::EndpointVersionNotFound {
            requested,
            available,
        },
        message,
    )
    .with_status(404)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client::builder("https://erp.example.com/Acu")
            .endpoint_version("24.200.001")
            .build()
            .unwrap()
    }

    #[test]
    fn client_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Client>();
    }

    #[test]
    fn endpoint_paths_stay_inside() {
        let c = client();
        assert_eq!(
            c.endpoint_path("Vendor/V1").unwrap().as_str(),
            "https://erp.example.com/Acu/entity/Default/24.200.001/Vendor/V1"
        );
        for bad in [
            "https://evil.example/x",
            "//evil.example/x",
            "../../identity",
            "Vendor/../../x",
        ] {
            assert!(c.endpoint_path(bad).is_err(), "{bad}");
        }
    }
}
