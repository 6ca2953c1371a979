//! Building a [`Client`]: the builder, `looker.ini` and `LOOKERSDK_*`
//! environment variables.
//!
//! The file and variable names follow the official Looker SDKs (FACTS section
//! 10): a `looker.ini` section with `base_url`, `client_id`, `client_secret`,
//! `verify_ssl` and `timeout`, each overridden by `LOOKERSDK_BASE_URL`,
//! `LOOKERSDK_CLIENT_ID`, `LOOKERSDK_CLIENT_SECRET`, `LOOKERSDK_VERIFY_SSL` and
//! `LOOKERSDK_TIMEOUT`.

use std::path::Path;
use std::time::Duration;

use ml_connector_retry::{Pacer, RetryPolicy};
use secrecy::SecretString;
use url::Url;

use crate::client::Client;
use crate::error::{Error, Result};

/// The request timeout of the official SDKs, kept as the default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// How long before a token's `expires_in` runs out it is renewed.
pub const DEFAULT_RENEWAL_MARGIN: Duration = Duration::from_secs(60);

/// How long an idle connection is kept for reuse: below the keep-alive of
/// common proxies in front of Looker (nginx closes after 75 s, many load
/// balancers after 60 s), so a request is not sent on a connection the
/// other side is closing.
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The environment variable prefix of the official SDKs.
const ENV_PREFIX: &str = "LOOKERSDK_";

/// Configures and builds a [`Client`]. Every setter is infallible; problems
/// are reported once, by [`build`](Self::build).
///
/// ```no_run
/// use std::time::Duration;
/// use looker_client::Client;
///
/// # fn main() -> Result<(), looker_client::Error> {
/// let client = Client::builder("https://example.cloud.looker.com")
///     .credentials("my-client-id", "my-client-secret")
///     .timeout(Duration::from_secs(300))
///     .build()?;
/// # let _ = client;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    pub(crate) base_url: String,
    pub(crate) client_id: Option<String>,
    pub(crate) client_secret: Option<SecretString>,
    pub(crate) verify_ssl: bool,
    pub(crate) timeout: Option<Duration>,
    pub(crate) renewal_margin: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) app_id: String,
    pub(crate) pool_idle_timeout: Option<Duration>,
    pub(crate) pacer: Pacer,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("verify_ssl", &self.verify_ssl)
            .field("timeout", &self.timeout)
            .field("renewal_margin", &self.renewal_margin)
            .field("retry", &self.retry)
            .field("app_id", &self.app_id)
            .field("pool_idle_timeout", &self.pool_idle_timeout)
            .field("pacer", &self.pacer)
            .finish()
    }
}

impl ClientBuilder {
    pub(crate) fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            client_id: None,
            client_secret: None,
            verify_ssl: true,
            timeout: Some(DEFAULT_TIMEOUT),
            renewal_margin: DEFAULT_RENEWAL_MARGIN,
            retry: RetryPolicy::default(),
            app_id: format!("{}/{}", env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")),
            pool_idle_timeout: Some(DEFAULT_POOL_IDLE_TIMEOUT),
            pacer: Pacer::unlimited(),
        }
    }

    /// Reads a `looker.ini` file, then applies `LOOKERSDK_*` overrides from
    /// the environment.
    ///
    /// `section` picks the ini section; `None` takes the first one (as the
    /// official SDKs do). A missing file, a missing section or an invalid
    /// value is a [`Config`](crate::ErrorKind::Config) error naming it.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), looker_client::Error> {
    /// let client = looker_client::ClientBuilder::from_ini("looker.ini", Some("Looker"))?.build()?;
    /// # let _ = client; Ok(()) }
    /// ```
    pub fn from_ini(path: impl AsRef<Path>, section: Option<&str>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(format!(
                "cannot read Looker settings file {}: {e}",
                path.display()
            ))
        })?;
        Self::from_sources(Some((&text, &path.display().to_string())), section, |k| {
            std::env::var(k).ok()
        })
    }

    /// Settings from the environment alone (`LOOKERSDK_BASE_URL` and the
    /// others), or from `looker.ini` (or `../looker.ini`) overridden by the
    /// environment when that file exists (a missing default file is not an
    /// error, as in the official SDKs).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), looker_client::Error> {
    /// let client = looker_client::ClientBuilder::from_env()?.build()?;
    /// # let _ = client; Ok(()) }
    /// ```
    pub fn from_env() -> Result<Self> {
        // The official Python SDK's default files, in its order.
        for default in ["looker.ini", "../looker.ini"] {
            let path = Path::new(default);
            if path.is_file() {
                return Self::from_ini(path, None);
            }
        }
        Self::from_sources(None, None, |k| std::env::var(k).ok())
    }

    /// The merge of an ini text (with a name for messages) and an
    /// environment lookup; public functions pass the real ones, tests fakes.
    pub(crate) fn from_sources(
        ini: Option<(&str, &str)>,
        section: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let mut values: Vec<(String, String)> = Vec::new();
        if let Some((text, name)) = ini {
            let opts = ini::ParseOption {
                enabled_quote: false,
                enabled_escape: false,
                ..Default::default()
            };
            let parsed = ini::Ini::load_from_str_opt(text, opts)
                .map_err(|e| Error::config(format!("cannot parse {name}: {e}")))?;
            let props = match section {
                Some(s) => parsed
                    .section(Some(s))
                    .ok_or_else(|| Error::config(format!("{name} has no section [{s}]")))?,
                None => {
                    let first = parsed.sections().flatten().next().ok_or_else(|| {
                        Error::config(format!("{name} has no section; add e.g. [Looker]"))
                    })?;
                    parsed.section(Some(first)).expect("section just listed")
                }
            };
            for (k, v) in props.iter() {
                let v = unquote(v);
                if !v.is_empty() {
                    values.push((k.to_ascii_lowercase(), v.to_owned()));
                }
            }
        }
        for key in [
            "base_url",
            "client_id",
            "client_secret",
            "verify_ssl",
            "timeout",
        ] {
            let var = format!("{ENV_PREFIX}{}", key.to_ascii_uppercase());
            if let Some(v) = env(&var) {
                let v = unquote(&v).to_owned();
                if !v.is_empty() {
                    values.retain(|(k, _)| k != key);
                    values.push((key.to_owned(), v));
                }
            }
        }
        let get = |key: &str| {
            values
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let base_url = get("base_url").ok_or_else(|| {
            Error::config(
                "no Looker base_url: set it in looker.ini or LOOKERSDK_BASE_URL \
                 (the instance URL without /api/*, e.g. https://example.cloud.looker.com)",
            )
        })?;
        let mut builder = Self::new(base_url);
        if let (Some(id), Some(secret)) = (get("client_id"), get("client_secret")) {
            builder = builder.credentials(id, secret);
        } else if get("client_id").is_some() || get("client_secret").is_some() {
            return Err(Error::config(
                "Looker client_id and client_secret must be set together \
                 (looker.ini or LOOKERSDK_CLIENT_ID / LOOKERSDK_CLIENT_SECRET)",
            ));
        }
        if let Some(v) = get("verify_ssl") {
            builder.verify_ssl = parse_bool(&v).ok_or_else(|| {
                Error::config(format!(
                    "verify_ssl must be true or false (yes/no/1/0), not `{v}`"
                ))
            })?;
        }
        if let Some(v) = get("timeout") {
            let secs: u64 = v.trim().parse().map_err(|_| {
                Error::config(format!(
                    "timeout must be a whole number of seconds, not `{v}`"
                ))
            })?;
            builder.timeout = Some(Duration::from_secs(secs));
        }
        Ok(builder)
    }

    /// The API3 credentials (Admin > Users > API Keys). The secret is held as
    /// a [`SecretString`] and never appears in `Debug`, logs or errors.
    pub fn credentials(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
    ) -> Self {
        self.client_id = Some(client_id.into());
        self.client_secret = Some(client_secret.into());
        self
    }

    /// Verify the server's TLS certificate (default `true`). Turn off only for
    /// a test instance with a self-signed certificate.
    pub fn verify_ssl(mut self, verify: bool) -> Self {
        self.verify_ssl = verify;
        self
    }

    /// How long the server may stay silent (default 120 s, as in the
    /// official SDKs): connecting, waiting for a response to start (a
    /// synchronous run waits while the query runs), and each wait for more of
    /// a streamed body. A streamed result that keeps arriving is not cut off
    /// however long it takes in total. For queries that run longer than
    /// this before their first byte, raise it or use an async query task.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// No timeout at all (a stalled connection then waits forever; async
    /// query tasks still have their own deadline).
    pub fn no_timeout(mut self) -> Self {
        self.timeout = None;
        self
    }

    /// Renew the token this long before it expires (default 60 s; at most
    /// half of the token's lifetime is used).
    pub fn renewal_margin(mut self, margin: Duration) -> Self {
        self.renewal_margin = margin;
        self
    }

    /// How transient failures (429, 502-504, network) are retried.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// How long idle connections are kept for reuse (default 30 s); `None`
    /// keeps them until the server closes them.
    pub fn pool_idle_timeout(mut self, idle: Option<Duration>) -> Self {
        self.pool_idle_timeout = idle;
        self
    }

    /// Paces requests on the client side (shared [`Pacer`]: requests per
    /// minute, and requests in flight at once). The in-flight limit covers
    /// each request until its response starts, which for a synchronous run
    /// is the time the query runs in the database; a streamed body is read
    /// after the slot is freed. Clones of the client share the pacer.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use looker_client::{Client, Pacer};
    ///
    /// let client = Client::builder("https://example.cloud.looker.com")
    ///     .credentials("id", "secret")
    ///     .pacer(Pacer::new(NonZeroU32::new(600), Some(4)))
    ///     .build()
    ///     .unwrap();
    /// # let _ = client;
    /// ```
    pub fn pacer(mut self, pacer: Pacer) -> Self {
        self.pacer = pacer;
        self
    }

    /// Appends a tag naming the calling application to the `x-looker-appid`
    /// header (which always starts with this crate's name and version).
    pub fn app_tag(mut self, tag: &str) -> Self {
        self.app_id = format!(
            "{}/{} {}",
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            tag.trim()
        );
        self
    }

    /// Validates the settings and builds the client. Nothing is sent yet:
    /// the first call logs in.
    pub fn build(self) -> Result<Client> {
        let base = parse_base_url(&self.base_url)?;
        let (Some(id), Some(secret)) = (self.client_id.clone(), self.client_secret.clone()) else {
            return Err(Error::config(
                "no Looker API credentials: call ClientBuilder::credentials or set \
                 LOOKERSDK_CLIENT_ID and LOOKERSDK_CLIENT_SECRET",
            ));
        };
        if id.trim().is_empty() {
            return Err(Error::config("the Looker client_id is empty"));
        }
        Client::from_parts(self, base, id, secret)
    }
}

/// Checks an instance URL: http(s), a host, no `/api/*`, no query; returns it
/// without a trailing slash.
pub(crate) fn parse_base_url(raw: &str) -> Result<Url> {
    let trimmed = raw.trim();
    let url = Url::parse(trimmed).map_err(|e| {
        Error::config(format!(
            "Looker base_url `{trimmed}` is not a URL ({e}); expected e.g. https://example.cloud.looker.com"
        ))
    })?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(Error::config(format!(
            "Looker base_url `{trimmed}` must start with https:// (or http:// for a local test server)"
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::config(format!(
            "Looker base_url `{trimmed}` has no host"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(Error::config(format!(
            "Looker base_url `{trimmed}` must not carry a query, fragment or user name"
        )));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    if path == "/api"
        || path.starts_with("/api/")
        || path.contains("/api/")
        || path.ends_with("/api")
    {
        return Err(Error::config(format!(
            "Looker base_url `{trimmed}` must not include /api/*: give the instance URL only, \
             e.g. {}://{}",
            url.scheme(),
            url.host_str().unwrap_or_default()
        )));
    }
    let mut url = url;
    url.set_path(&path);
    Ok(url)
}

fn unquote(v: &str) -> &str {
    let v = v.trim();
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

/// The booleans the official Python SDK accepts.
fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "t" | "1" => Some(true),
        "no" | "n" | "false" | "f" | "0" | "" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use std::collections::HashMap;

    const INI: &str = "[Looker]\nbase_url=https://ini.example.com:19999\nclient_id=ini-id\n\
                       client_secret=\"ini-secret\"\nverify_ssl=false\ntimeout=30\n\n\
                       [Other]\nbase_url=https://other.example.com\n";

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn ini_values_are_read() {
        let b = ClientBuilder::from_sources(Some((INI, "looker.ini")), None, env(&[])).unwrap();
        assert_eq!(b.base_url, "https://ini.example.com:19999");
        assert_eq!(b.client_id.as_deref(), Some("ini-id"));
        use secrecy::ExposeSecret;
        assert_eq!(
            b.client_secret.as_ref().unwrap().expose_secret(),
            "ini-secret"
        );
        assert!(!b.verify_ssl);
        assert_eq!(b.timeout, Some(Duration::from_secs(30)));
        assert!(!format!("{b:?}").contains("ini-secret"));
    }

    #[test]
    fn environment_overrides_ini() {
        let b = ClientBuilder::from_sources(
            Some((INI, "looker.ini")),
            Some("Looker"),
            env(&[
                ("LOOKERSDK_BASE_URL", "https://env.example.com"),
                ("LOOKERSDK_CLIENT_SECRET", "env-secret"),
                ("LOOKERSDK_VERIFY_SSL", "yes"),
                ("LOOKERSDK_TIMEOUT", "45"),
            ]),
        )
        .unwrap();
        assert_eq!(b.base_url, "https://env.example.com");
        assert_eq!(b.client_id.as_deref(), Some("ini-id"));
        use secrecy::ExposeSecret;
        assert_eq!(b.client_secret.unwrap().expose_secret(), "env-secret");
        assert!(b.verify_ssl);
        assert_eq!(b.timeout, Some(Duration::from_secs(45)));
    }

    #[test]
    fn named_section_and_errors() {
        let b = ClientBuilder::from_sources(Some((INI, "f")), Some("Other"), env(&[])).unwrap();
        assert_eq!(b.base_url, "https://other.example.com");
        let e = ClientBuilder::from_sources(Some((INI, "f")), Some("Nope"), env(&[])).unwrap_err();
        assert!(e.to_string().contains("no section [Nope]"), "{e}");
        let e = ClientBuilder::from_sources(
            Some((INI, "f")),
            None,
            env(&[("LOOKERSDK_TIMEOUT", "soon")]),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("timeout must be a whole number"),
            "{e}"
        );
        let e = ClientBuilder::from_sources(None, None, env(&[])).unwrap_err();
        assert!(e.to_string().contains("LOOKERSDK_BASE_URL"), "{e}");
    }

    #[test]
    fn base_url_is_validated() {
        assert_eq!(
            parse_base_url("https://x.cloud.looker.com/")
                .unwrap()
                .as_str(),
            "https://x.cloud.looker.com/"
        );
        for bad in [
            "https://x.looker.com/api/4.0",
            "https://x.looker.com/api",
            "ftp://x",
            "not a url",
            "https://x.looker.com/?a=1",
        ] {
            let e = parse_base_url(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{bad}");
        }
        let e = parse_base_url("https://x.looker.com/api/4.0").unwrap_err();
        assert!(e.to_string().contains("must not include /api/*"));
    }

    #[test]
    fn ini_files_are_read_and_a_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("looker.ini");
        std::fs::write(&path, INI).unwrap();
        let b = ClientBuilder::from_ini(&path, Some("Other")).unwrap();
        // The environment may override; the file alone gives this URL.
        if std::env::var("LOOKERSDK_BASE_URL").is_err() {
            assert_eq!(b.base_url, "https://other.example.com");
        }
        let missing = dir.path().join("nope.ini");
        let e = ClientBuilder::from_ini(&missing, None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.to_string().contains("nope.ini"), "{e}");
    }

    #[test]
    fn build_requires_credentials() {
        let e = ClientBuilder::new("https://x.example.com")
            .build()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.to_string().contains("credentials"));
    }
}
