//! [`ClientBuilder`]: the site, endpoint, credentials, timeouts, retries and
//! pacing of a [`Client`](crate::Client).

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use ml_connector_retry::RetryPolicy;
use secrecy::SecretString;
use url::Url;

use crate::error::{Error, Result};

/// A contract-API endpoint version such as `24.200.001`.
///
/// ```
/// use acumatica_client::EndpointVersion;
///
/// let v: EndpointVersion = "24.200.001".parse().unwrap();
/// assert!(v >= "20.200.001".parse().unwrap());
/// assert!("24.2".parse::<EndpointVersion>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EndpointVersion {
    text: String,
    parts: [u32; 3],
}

impl EndpointVersion {
    /// The version as written (`24.200.001`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `(major, minor, patch)`, e.g. `(24, 200, 1)`.
    pub fn parts(&self) -> (u32, u32, u32) {
        (self.parts[0], self.parts[1], self.parts[2])
    }
}

impl PartialOrd for EndpointVersion {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for EndpointVersion {
    /// Component-wise, so `6.00.001 < 17.200.001`.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.parts.cmp(&other.parts)
    }
}

impl fmt::Display for EndpointVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for EndpointVersion {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let text = s.trim();
        let bad = || {
            Error::config(format!(
                "endpoint version {text:?} is not of the form 24.200.001 (three dot-separated numbers); \
                 GET /entity on the site lists the versions it offers"
            ))
        };
        let pieces: Vec<&str> = text.split('.').collect();
        if pieces.len() != 3 {
            return Err(bad());
        }
        let mut parts = [0u32; 3];
        for (i, p) in pieces.iter().enumerate() {
            if p.is_empty() || p.len() > 4 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            parts[i] = p.parse().map_err(|_| bad())?;
        }
        if pieces[2].len() != 3 {
            return Err(bad());
        }
        Ok(Self {
            text: text.to_owned(),
            parts,
        })
    }
}

/// How the client signs in.
pub(crate) enum Credentials {
    /// OAuth 2.0 resource-owner password grant (refreshes with the refresh
    /// token, falls back to the password when the refresh is refused).
    OAuthPassword {
        client_id: String,
        client_secret: SecretString,
        username: String,
        password: SecretString,
    },
    /// OAuth 2.0 with a refresh token obtained elsewhere (authorization-code
    /// flow in the user's app).
    OAuthRefreshToken {
        client_id: String,
        client_secret: SecretString,
        refresh_token: SecretString,
    },
    /// Legacy cookie session (`/entity/auth/login`).
    Session {
        username: String,
        password: SecretString,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OAuthPassword {
                client_id,
                username,
                ..
            } => f
                .debug_struct("OAuthPassword")
                .field("client_id", client_id)
                .field("username", username)
                .finish_non_exhaustive(),
            Self::OAuthRefreshToken { client_id, .. } => f
                .debug_struct("OAuthRefreshToken")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            Self::Session { username, .. } => f
                .debug_struct("Session")
                .field("username", username)
                .finish_non_exhaustive(),
        }
    }
}

/// Everything [`ClientBuilder::build`] checked; read-only afterwards.
#[derive(Debug)]
pub(crate) struct Config {
    /// Site URL with a trailing slash (`https://host/AcumaticaERP/`).
    pub site: Url,
    /// `<site>entity/<name>/<version>/`.
    pub endpoint_base: Url,
    pub endpoint_name: String,
    pub endpoint_version: EndpointVersion,
    pub tenant: Option<String>,
    pub branch: Option<String>,
    pub locale: Option<String>,
    pub credentials: Option<Credentials>,
    pub scope: String,
    pub retry: RetryPolicy,
    pub page_size: u32,
    pub action_poll_interval: Duration,
    pub action_timeout: Duration,
    pub token_refresh_margin: Duration,
    pub lookup_chunk: usize,
}

/// Builds a [`Client`](crate::Client). Every setter is infallible; all
/// checking happens in [`build`](Self::build), which returns an error that
/// names the bad setting instead of panicking.
///
/// ```
/// use std::time::Duration;
/// use acumatica_client::Client;
///
/// let client = Client::builder("https://erp.example.com/AcumaticaERP")
///     .endpoint_version("24.200.001")
///     .tenant("MyTenant")
///     .oauth_password("8E0761D9-F4EC-2D4B-A60F-BCE2708C6FDD", "client-secret", "api-user", "password")
///     .timeout(Duration::from_secs(600))
///     .requests_per_minute(300)
///     .max_concurrent_requests(4)
///     .build()
///     .unwrap();
/// assert_eq!(client.endpoint_url().as_str(), "https://erp.example.com/AcumaticaERP/entity/Default/24.200.001/");
/// ```
#[must_use]
pub struct ClientBuilder {
    site_url: String,
    endpoint_name: String,
    endpoint_version: Option<String>,
    tenant: Option<String>,
    branch: Option<String>,
    locale: Option<String>,
    credentials: Option<Credentials>,
    scope: String,
    timeout: Duration,
    connect_timeout: Duration,
    user_agent: String,
    retry: RetryPolicy,
    requests_per_minute: Option<u32>,
    max_concurrent: Option<usize>,
    page_size: u32,
    action_poll_interval: Duration,
    action_timeout: Duration,
    token_refresh_margin: Duration,
    lookup_chunk: usize,
    allow_insecure_http: bool,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("site_url", &self.site_url)
            .field("endpoint_name", &self.endpoint_name)
            .field("endpoint_version", &self.endpoint_version)
            .field("tenant", &self.tenant)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// The default whole-request timeout: 11 minutes (660 s). A throttled request may legally
/// wait in Acumatica's queue for up to 10 minutes (FACTS section 4), so the default is longer.
///
/// ```
/// assert_eq!(acumatica_client::DEFAULT_TIMEOUT.as_secs(), 660);
/// ```
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(11 * 60);

/// The default user agent.
pub const DEFAULT_USER_AGENT: &str =
    concat!("ml-connector-acumatica-client/", env!("CARGO_PKG_VERSION"));

impl ClientBuilder {
    pub(crate) fn new(site_url: impl Into<String>) -> Self {
        Self {
            site_url: site_url.into(),
            endpoint_name: "Default".into(),
            endpoint_version: None,
            tenant: None,
            branch: None,
            locale: None,
            credentials: None,
            scope: "api offline_access".into(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: Duration::from_secs(30),
            user_agent: DEFAULT_USER_AGENT.into(),
            retry: RetryPolicy::default(),
            requests_per_minute: None,
            max_concurrent: None,
            page_size: 500,
            action_poll_interval: Duration::from_secs(1),
            action_timeout: Duration::from_secs(15 * 60),
            token_refresh_margin: Duration::from_secs(60),
            lookup_chunk: 50,
            allow_insecure_http: false,
        }
    }

    /// Endpoint name (default `Default`; custom endpoints are tenant-scoped).
    pub fn endpoint_name(mut self, name: impl Into<String>) -> Self {
        self.endpoint_name = name.into();
        self
    }

    /// Endpoint version, required, e.g. `24.200.001`. Pin the version your
    /// field mappings were written against; the site keeps old versions.
    pub fn endpoint_version(mut self, version: impl Into<String>) -> Self {
        self.endpoint_version = Some(version.into());
        self
    }

    /// Tenant (company) login name. For OAuth it is appended to the client
    /// id (`<guid>@<tenant>`) when the id has no `@` yet; for cookie
    /// sessions it is sent with the login.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Branch ID for cookie-session logins (`branch` in the login body).
    /// With OAuth credentials [`build`](Self::build) refuses it: OAuth
    /// clients pick a branch per request with
    /// [`Client::with_branch`](crate::Client::with_branch).
    pub fn branch(mut self, branch: impl Into<String>) -> Self {
        self.branch = Some(branch.into());
        self
    }

    /// Locale for cookie-session logins (e.g. `EN-US`).
    pub fn locale(mut self, locale: impl Into<String>) -> Self {
        self.locale = Some(locale.into());
        self
    }

    /// OAuth 2.0 resource-owner password grant. `client_id` is the Connected
    /// Application's id (`<guid>` or `<guid>@<tenant>`).
    pub fn oauth_password(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
        username: impl Into<String>,
        password: impl Into<SecretString>,
    ) -> Self {
        self.credentials = Some(Credentials::OAuthPassword {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            username: username.into(),
            password: password.into(),
        });
        self
    }

    /// OAuth 2.0 with a refresh token your application obtained (for
    /// example through the authorization-code flow). The client refreshes it
    /// and keeps the rotated token ([`Client::refresh_token`](crate::Client::refresh_token)
    /// returns the current one so you can store it).
    pub fn oauth_refresh_token(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
        refresh_token: impl Into<SecretString>,
    ) -> Self {
        self.credentials = Some(Credentials::OAuthRefreshToken {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            refresh_token: refresh_token.into(),
        });
        self
    }

    /// Legacy cookie session through `/entity/auth/login`. Call
    /// [`Client::close`](crate::Client::close) when done so the session does
    /// not hold an API-user seat for ten more minutes.
    pub fn session_login(
        mut self,
        username: impl Into<String>,
        password: impl Into<SecretString>,
    ) -> Self {
        self.credentials = Some(Credentials::Session {
            username: username.into(),
            password: password.into(),
        });
        self
    }

    /// OAuth scope (default `api offline_access`; without `offline_access`
    /// there is no refresh token).
    pub fn oauth_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = scope.into();
        self
    }

    /// Whole-request timeout (default 11 minutes: Acumatica queues
    /// throttled requests instead of refusing them).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// TCP/TLS connect timeout (default 30 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// `User-Agent` header.
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = agent.into();
        self
    }

    /// Retry policy for safe requests (reads, token requests, logout,
    /// action status polls). Writes are only repeated after a 429 or 401,
    /// which the server answers before doing any work.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Client-side pacing: requests started per minute (set to the licence's
    /// "Maximum Number of Web Services API Requests per Minute").
    pub fn requests_per_minute(mut self, limit: u32) -> Self {
        self.requests_per_minute = Some(limit);
        self
    }

    /// Client-side pacing: requests in flight at once (the licence's
    /// concurrent-request limit).
    pub fn max_concurrent_requests(mut self, limit: usize) -> Self {
        self.max_concurrent = Some(limit);
        self
    }

    /// Records per page for listing streams (default 500).
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = size;
        self
    }

    /// How often a running action's `Location` is polled (default 1 s) and
    /// how long to wait in all (default 15 min).
    pub fn action_polling(mut self, interval: Duration, timeout: Duration) -> Self {
        self.action_poll_interval = interval;
        self.action_timeout = timeout;
        self
    }

    /// Refresh the OAuth access token this long before it expires (default 60 s).
    pub fn token_refresh_margin(mut self, margin: Duration) -> Self {
        self.token_refresh_margin = margin;
        self
    }

    /// How many natural keys one lookup request carries in its `or`-ed
    /// `$filter` (default 50; keeps URLs short).
    pub fn lookup_chunk(mut self, keys_per_request: usize) -> Self {
        self.lookup_chunk = keys_per_request;
        self
    }

    /// Allow plain `http://` to a host that is not the local machine.
    /// Credentials would travel unencrypted; only for test rigs.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Checks the settings and builds the client.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming the setting:
    /// a site URL that is not http(s), carries a query, fragment or
    /// user info, or is plain http to a remote host; a missing or malformed
    /// endpoint version; a client id whose tenant contradicts
    /// [`tenant`](Self::tenant); a zero page size or pacing limit.
    pub fn build(self) -> Result<crate::Client> {
        let site = parse_site_url(&self.site_url, self.allow_insecure_http)?;
        let version_text = self.endpoint_version.clone().ok_or_else(|| {
            Error::config(
                "endpoint version is required (e.g. .endpoint_version(\"24.200.001\")); \
                 GET /entity on the site lists the versions it offers",
            )
        })?;
        let endpoint_version: EndpointVersion = version_text.parse()?;
        let name = self.endpoint_name.trim();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(Error::config(format!(
                "endpoint name {name:?} must be letters, digits, '_' or '-' (e.g. Default)"
            )));
        }
        let endpoint_base = site
            .join(&format!("entity/{name}/{endpoint_version}/"))
            .map_err(|e| Error::config(format!("cannot build the endpoint URL: {e}")))?;
        if self.page_size == 0 {
            return Err(Error::config("page size must be at least 1"));
        }
        if self.lookup_chunk == 0 {
            return Err(Error::config("lookup chunk must be at least 1"));
        }
        if self.max_concurrent == Some(0) {
            return Err(Error::config("max concurrent requests must be at least 1"));
        }
        let rpm = match self.requests_per_minute {
            None => None,
            Some(n) => Some(
                NonZeroU32::new(n)
                    .ok_or_else(|| Error::config("requests per minute must be at least 1"))?,
            ),
        };
        if self.branch.is_some()
            && matches!(
                self.credentials,
                Some(Credentials::OAuthPassword { .. } | Credentials::OAuthRefreshToken { .. })
            )
        {
            return Err(Error::config(
                "a login branch (ClientBuilder::branch) applies to cookie-session logins only; \
                 an OAuth client picks its branch per request: remove the login branch and use \
                 Client::with_branch(<branch name>)",
            ));
        }
        let credentials = match self.credentials {
            Some(Credentials::OAuthPassword {
                client_id,
                client_secret,
                username,
                password,
            }) => Some(Credentials::OAuthPassword {
                client_id: qualify_client_id(&client_id, self.tenant.as_deref())?,
                client_secret,
                username,
                password,
            }),
            Some(Credentials::OAuthRefreshToken {
                client_id,
                client_secret,
                refresh_token,
            }) => Some(Credentials::OAuthRefreshToken {
                client_id: qualify_client_id(&client_id, self.tenant.as_deref())?,
                client_secret,
                refresh_token,
            }),
            other => other,
        };
        let config = Config {
            site,
            endpoint_base,
            endpoint_name: name.to_owned(),
            endpoint_version,
            tenant: self.tenant,
            branch: self.branch,
            locale: self.locale,
            credentials,
            scope: self.scope,
            retry: self.retry,
            page_size: self.page_size,
            action_poll_interval: self.action_poll_interval,
            action_timeout: self.action_timeout,
            token_refresh_margin: self.token_refresh_margin,
            lookup_chunk: self.lookup_chunk,
        };
        let pacer = ml_connector_retry::Pacer::new(rpm, self.max_concurrent);
        crate::client::Client::from_parts(
            config,
            pacer,
            self.timeout,
            self.connect_timeout,
            &self.user_agent,
        )
    }
}

fn parse_site_url(raw: &str, allow_insecure_http: bool) -> Result<Url> {
    let mut url = Url::parse(raw.trim()).map_err(|e| {
        Error::config(format!(
            "site URL {raw:?} is not a valid URL ({e}); expected e.g. https://erp.example.com/AcumaticaERP"
        ))
    })?;
    match url.scheme() {
        "https" => {}
        "http" => {
            let local = matches!(
                url.host_str(),
                Some("localhost" | "127.0.0.1" | "[::1]" | "::1")
            );
            if !local && !allow_insecure_http {
                return Err(Error::config(format!(
                    "site URL {raw:?} uses plain http to a remote host; credentials would travel \
                     unencrypted. Use https (Acumatica's OAuth requires it) or allow_insecure_http(true) for a test rig"
                )));
            }
            if !local {
                tracing::warn!(
                    site = %url,
                    "plain http to a remote Acumatica site (allow_insecure_http): credentials and \
                     tokens travel unencrypted; use it only for a test rig"
                );
            }
        }
        other => {
            return Err(Error::config(format!(
                "site URL {raw:?} has scheme {other:?}; expected http or https"
            )));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::config(format!("site URL {raw:?} has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::config(
            "site URL must not carry a user name or password; pass credentials to the builder",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::config(format!(
            "site URL {raw:?} must not have a query or fragment"
        )));
    }
    let mut path = url.path().trim_end_matches('/').to_owned();
    // A URL pasted from the browser or from an endpoint href: cut at /entity.
    if let Some(pos) = path.find("/entity") {
        path.truncate(pos);
    }
    url.set_path(&format!("{path}/"));
    Ok(url)
}

fn qualify_client_id(client_id: &str, tenant: Option<&str>) -> Result<String> {
    let client_id = client_id.trim();
    if client_id.is_empty() {
        return Err(Error::config("OAuth client id is empty"));
    }
    match (client_id.split_once('@'), tenant) {
        (Some((_, t)), Some(tenant)) if !t.eq_ignore_ascii_case(tenant) => {
            Err(Error::config(format!(
                "OAuth client id names tenant {t:?} but the builder's tenant is {tenant:?}; \
             a token is limited to the tenant in its client id"
            )))
        }
        (Some(_), _) => Ok(client_id.to_owned()),
        (None, Some(tenant)) => Ok(format!("{client_id}@{tenant}")),
        (None, None) => Ok(client_id.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        for good in ["24.200.001", "5.30.001", "6.00.001", "20.200.001"] {
            assert!(good.parse::<EndpointVersion>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "24",
            "24.200",
            "24.200.1",
            "v24.200.001",
            "24.200.001.1",
            "a.b.c",
        ] {
            let err = bad.parse::<EndpointVersion>().unwrap_err();
            assert!(err.to_string().contains("24.200.001"), "{bad}: {err}");
        }
        let a: EndpointVersion = "6.00.001".parse().unwrap();
        let b: EndpointVersion = "17.200.001".parse().unwrap();
        assert!(a < b);
    }

    #[test]
    fn site_urls() {
        let u = parse_site_url("https://h.example/AcumaticaERP", false).unwrap();
        assert_eq!(u.as_str(), "https://h.example/AcumaticaERP/");
        let u = parse_site_url(
            "https://h.example/AcumaticaERP/entity/Default/24.200.001/",
            false,
        )
        .unwrap();
        assert_eq!(u.as_str(), "https://h.example/AcumaticaERP/");
        let u = parse_site_url("https://h.example", false).unwrap();
        assert_eq!(u.as_str(), "https://h.example/");
        assert!(parse_site_url("http://h.example", false).is_err());
        assert!(parse_site_url("http://h.example", true).is_ok());
        assert!(parse_site_url("http://127.0.0.1:8080", false).is_ok());
        assert!(parse_site_url("https://u:p@h.example", false).is_err());
        assert!(parse_site_url("https://h.example/?x=1", false).is_err());
        assert!(parse_site_url("not a url", false).is_err());
    }

    #[test]
    fn client_ids() {
        assert_eq!(qualify_client_id("G", Some("T")).unwrap(), "G@T");
        assert_eq!(qualify_client_id("G@T", Some("t")).unwrap(), "G@T");
        assert_eq!(qualify_client_id("G@T", None).unwrap(), "G@T");
        assert!(qualify_client_id("G@X", Some("T")).is_err());
        assert!(qualify_client_id(" ", None).is_err());
    }
}
