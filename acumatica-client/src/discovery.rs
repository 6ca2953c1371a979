//! Endpoint discovery: `GET /entity` lists the Acumatica build and the
//! endpoints the site (and, when signed in, the tenant) offers.

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value as Json;

use crate::client::Client;
use crate::config::EndpointVersion;
use crate::error::{Error, Result};
use crate::transport::{Request, SYSTEM, Safety};

/// One endpoint the site offers.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct EndpointInfo {
    /// Endpoint name (`Default`, or a custom endpoint).
    pub name: String,
    /// Endpoint version (`24.200.001`).
    pub version: String,
    /// Link to the endpoint, relative or absolute.
    #[serde(default)]
    pub href: Option<String>,
}

/// The answer of `GET /entity`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SiteInfo {
    /// `acumaticaBuildVersion`, when the site reports it.
    pub build_version: Option<String>,
    /// `databaseVersion`, when the site reports it.
    pub database_version: Option<String>,
    /// Endpoints offered, in the order the site listed them.
    pub endpoints: Vec<EndpointInfo>,
}

impl SiteInfo {
    /// Parses either shape: an object with `version` and `endpoints`, or a
    /// bare array of endpoints (reported for some older builds).
    ///
    /// ```
    /// use acumatica_client::SiteInfo;
    /// let info = SiteInfo::from_json(&serde_json::json!([
    ///     {"name": "Default", "version": "23.200.001"}
    /// ])).unwrap();
    /// assert_eq!(info.endpoints[0].version, "23.200.001");
    /// ```
    ///
    /// # Errors
    /// A decode error when neither shape matches.
    pub fn from_json(json: &Json) -> Result<Self> {
        let (version, list) = match json {
            Json::Array(_) => (None, json.clone()),
            Json::Object(map) => (
                map.get("version").cloned(),
                map.get("endpoints").cloned().ok_or_else(|| {
                    Error::decode(
                        "endpoints",
                        "GET /entity answered an object without \"endpoints\"",
                    )
                })?,
            ),
            _ => {
                return Err(Error::decode(
                    "",
                    "GET /entity answered neither an object nor an array",
                ));
            }
        };
        let endpoints: Vec<EndpointInfo> = serde_path_to_error::deserialize(list).map_err(|e| {
            Error::decode(
                format!("endpoints{}", e.path()),
                format!("GET /entity: unexpected endpoint list: {}", e.inner()),
            )
        })?;
        let field = |k: &str| {
            version
                .as_ref()
                .and_then(|v| v.get(k))
                .and_then(Json::as_str)
                .map(str::to_owned)
        };
        Ok(Self {
            build_version: field("acumaticaBuildVersion"),
            database_version: field("databaseVersion"),
            endpoints,
        })
    }

    /// Versions offered for endpoint `name`, newest last (compared
    /// component-wise, not as text).
    pub fn versions_of(&self, name: &str) -> Vec<EndpointVersion> {
        let mut v: Vec<EndpointVersion> = self
            .endpoints
            .iter()
            .filter(|e| e.name.eq_ignore_ascii_case(name))
            .filter_map(|e| e.version.parse().ok())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

impl Client {
    /// `GET /entity`: the site's build and endpoints (the tenant's custom
    /// endpoints too, since the request is signed in).
    ///
    /// ```no_run
    /// # async fn run(client: acumatica_client::Client) -> acumatica_client::Result<()> {
    /// let info = client.site_info().await?;
    /// println!("Default versions: {:?}", info.versions_of("Default"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Authentication, transport, server or decode errors.
    pub async fn site_info(&self) -> Result<SiteInfo> {
        self.fetch_site_info().await
    }

    /// The endpoints the site offers; see [`site_info`](Self::site_info).
    ///
    /// # Errors
    /// As [`site_info`](Self::site_info).
    pub async fn endpoints(&self) -> Result<Vec<EndpointInfo>> {
        Ok(self.fetch_site_info().await?.endpoints)
    }

    /// Checks that the site offers the configured endpoint name and version.
    ///
    /// ```no_run
    /// # async fn run(client: acumatica_client::Client) {
    /// if let Err(e) = client.check_endpoint_version().await {
    ///     eprintln!("{e}"); // lists the versions the site offers
    /// }
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::EndpointVersionNotFound`](crate::ErrorKind::EndpointVersionNotFound)
    /// listing the offered versions, or the errors of [`site_info`](Self::site_info).
    pub async fn check_endpoint_version(&self) -> Result<()> {
        let info = self.fetch_site_info().await?;
        let config = &self.inner.config;
        let offered = info.versions_of(&config.endpoint_name);
        if offered.contains(&config.endpoint_version) {
            return Ok(());
        }
        Err(crate::client::version_not_found(
            &config.endpoint_name,
            &config.endpoint_version,
            offered.iter().map(ToString::to_string).collect(),
        ))
    }

    /// Not through `execute` (which calls this after a 404), so no recursion.
    pub(crate) async fn fetch_site_info(&self) -> Result<SiteInfo> {
        let url = self
            .inner
            .config
            .site
            .join("entity")
            .map_err(|e| Error::config(format!("cannot build the discovery URL: {e}")))?;
        let mut req = Request::new(Method::GET, url, "endpoint discovery");
        req.safety = Safety::Safe;
        req.authenticated = self.inner.config.credentials.is_some();
        let mut n = 0;
        let resp = self
            .inner
            .config
            .retry
            .run_for(SYSTEM, "endpoint discovery", || {
                n += 1;
                self.attempt(&req, n)
            })
            .await?;
        let json: Json = serde_json::from_slice(&resp.body).map_err(|e| {
            Error::decode(
                "",
                format!(
                    "GET /entity did not answer JSON ({e}): {}",
                    ml_connector_retry::preview(&resp.body_text(), 200)
                ),
            )
        })?;
        SiteInfo::from_json(&json)
    }
}
