//! Both fakes at once, seeded with the demo company: what the sandbox
//! binary and `ml-connector sandbox` serve, and what examples and
//! cross-crate tests start in-process. [`Sandbox::config_toml`] writes the
//! `ml-connector` config that points at a running sandbox, and
//! [`Sandbox::env`] gives the demo secrets that config leaves out.
//!
//! ```no_run
//! # async fn demo() -> Result<(), testkit::sandbox::SandboxError> {
//! use testkit::{Sandbox, SandboxOptions};
//!
//! let sandbox = Sandbox::start(SandboxOptions::default()).await?;
//! println!("Acumatica: {}", sandbox.acumatica_url());
//! println!("Looker:    {}/api/4.0", sandbox.looker_url());
//! // faults and request logs of each side:
//! sandbox.acumatica().faults().expire_all_tokens();
//! assert_eq!(sandbox.looker_server().log().len(), 0);
//! # Ok(()) }
//! ```

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use crate::acumatica::{AcumaticaFake, AcumaticaOptions};
use crate::looker::{LookerConfig, LookerConfigError, LookerFake};
use crate::seed;
use crate::server::{ErrorStyle, FakeServer};

/// How to start a [`Sandbox`].
#[derive(Clone, Debug, Default)]
pub struct SandboxOptions {
    /// Settings of the Acumatica site (its `addr` picks the port).
    pub acumatica: AcumaticaOptions,
    /// Settings of the Looker instance.
    pub looker: LookerConfig,
    /// Where Looker listens; a free port on 127.0.0.1 by default.
    pub looker_addr: Option<SocketAddr>,
}

impl SandboxOptions {
    /// Default settings, listening on `host` at these ports (0: any free
    /// port).
    ///
    /// ```
    /// use std::net::IpAddr;
    /// use testkit::SandboxOptions;
    ///
    /// let options = SandboxOptions::listening(IpAddr::from([127, 0, 0, 1]), 0, 9999);
    /// assert_eq!(options.looker_addr.unwrap().port(), 9999);
    /// ```
    pub fn listening(host: IpAddr, acumatica_port: u16, looker_port: u16) -> SandboxOptions {
        SandboxOptions {
            acumatica: AcumaticaOptions::default().addr(SocketAddr::new(host, acumatica_port)),
            looker: LookerConfig::default(),
            looker_addr: Some(SocketAddr::new(host, looker_port)),
        }
    }
}

/// Why a sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A port could not be bound (in use, or not allowed).
    #[error(
        "cannot listen for the {service} fake: {source}; choose another port or 0 for any free port"
    )]
    Bind {
        /// `"Acumatica"` or `"Looker"`.
        service: &'static str,
        /// The bind error.
        source: std::io::Error,
    },
    /// The Looker settings are inconsistent.
    #[error("invalid Looker settings: {0}")]
    Looker(#[from] LookerConfigError),
}

/// Both fakes, running.
#[derive(Debug)]
pub struct Sandbox {
    acumatica: AcumaticaFake,
    looker: LookerFake,
    looker_server: FakeServer,
}

/// The body shape of Looker's `Error` for errors the harness makes up (the
/// same shape [`LookerFake::serve`] uses).
fn looker_error_style() -> ErrorStyle {
    ErrorStyle::json(|status, message| {
        serde_json::json!({
            "message": message,
            "documentation_url": format!("https://cloud.google.com/looker/docs/r/err/4.0/{status}"),
        })
    })
}

impl Sandbox {
    /// Seed and serve both fakes.
    pub async fn start(options: SandboxOptions) -> Result<Sandbox, SandboxError> {
        let looker = LookerFake::new(options.looker)?;
        let acumatica = AcumaticaFake::start(options.acumatica)
            .await
            .map_err(|source| SandboxError::Bind {
                service: "Acumatica",
                source,
            })?;
        let mut builder = FakeServer::builder(looker.router())
            .faults(looker.faults().clone())
            .error_style(looker_error_style());
        if let Some(addr) = options.looker_addr {
            builder = builder.addr(addr);
        }
        let looker_server = builder.start().await.map_err(|source| SandboxError::Bind {
            service: "Looker",
            source,
        })?;
        Ok(Sandbox {
            acumatica,
            looker,
            looker_server,
        })
    }

    /// Base URL of the Acumatica site, e.g. `http://127.0.0.1:41234`.
    pub fn acumatica_url(&self) -> &str {
        self.acumatica.url()
    }

    /// Base URL of the Looker instance (the API is under `/api/4.0`).
    pub fn looker_url(&self) -> &str {
        self.looker_server.url()
    }

    /// The Acumatica fake: data, faults, request log.
    pub fn acumatica(&self) -> &AcumaticaFake {
        &self.acumatica
    }

    /// The Looker fake's state and knobs.
    pub fn looker(&self) -> &LookerFake {
        &self.looker
    }

    /// The server Looker runs in: its faults and request log.
    pub fn looker_server(&self) -> &FakeServer {
        &self.looker_server
    }

    /// A human summary: URLs and the demo credentials (worthless outside
    /// the sandbox), as the sandbox binary prints it.
    pub fn banner(&self) -> String {
        use seed::credentials as c;
        let versions = self.acumatica.state().versions().join(", ");
        let newest = self
            .acumatica
            .state()
            .versions()
            .last()
            .cloned()
            .unwrap_or_default();
        let mut s = String::new();
        let _ = writeln!(s, "Acumatica fake  {}", self.acumatica_url());
        let _ = writeln!(
            s,
            "  endpoints     {}/entity/Default/<version>/  (versions {versions})",
            self.acumatica_url()
        );
        let _ = writeln!(
            s,
            "  OAuth token   {}/identity/connect/token",
            self.acumatica_url()
        );
        let _ = writeln!(s, "  tenant        {}", seed::TENANT);
        let _ = writeln!(s, "  client_id     {}", c::ACUMATICA_CLIENT_ID);
        let _ = writeln!(s, "  client_secret {}", c::ACUMATICA_CLIENT_SECRET);
        let _ = writeln!(s, "  username      {}", c::ACUMATICA_USERNAME);
        let _ = writeln!(s, "  password      {}", c::ACUMATICA_PASSWORD);
        let _ = writeln!(s);
        let _ = writeln!(s, "Looker fake     {}", self.looker_url());
        let _ = writeln!(s, "  API           {}/api/4.0", self.looker_url());
        let _ = writeln!(s, "  client_id     {}", c::LOOKER_CLIENT_ID);
        let _ = writeln!(s, "  client_secret {}", c::LOOKER_CLIENT_SECRET);
        let _ = writeln!(s);
        let _ = writeln!(s, "Try:");
        let _ = writeln!(
            s,
            "  curl -s -X POST {}/identity/connect/token -d grant_type=password -d 'client_id={}' -d client_secret={} -d username={} -d password={} -d 'scope=api offline_access'",
            self.acumatica_url(),
            c::ACUMATICA_CLIENT_ID,
            c::ACUMATICA_CLIENT_SECRET,
            c::ACUMATICA_USERNAME,
            c::ACUMATICA_PASSWORD
        );
        let _ = writeln!(
            s,
            "  curl -s -H 'Authorization: Bearer <access_token>' '{}/entity/Default/{newest}/JournalTransaction?$top=2&$expand=Details'",
            self.acumatica_url()
        );
        let _ = writeln!(
            s,
            "  curl -s -X POST {}/api/4.0/login -d client_id={} -d client_secret={}",
            self.looker_url(),
            c::LOOKER_CLIENT_ID,
            c::LOOKER_CLIENT_SECRET
        );
        let _ = writeln!(
            s,
            "  Python: looker_sdk with LOOKERSDK_BASE_URL={} and the client id/secret above",
            self.looker_url()
        );
        s
    }

    /// The demo secrets as the environment variables `ml-connector` reads
    /// them from (`NAME`, value): what [`Sandbox::config_toml`] leaves out.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), testkit::sandbox::SandboxError> {
    /// let sandbox = testkit::Sandbox::start(testkit::SandboxOptions::default()).await?;
    /// let mut cmd = std::process::Command::new("ml-connector");
    /// cmd.envs(sandbox.env());
    /// # Ok(()) }
    /// ```
    pub fn env(&self) -> Vec<(&'static str, &'static str)> {
        use seed::credentials as c;
        vec![
            ("ACUMATICA_CLIENT_SECRET", c::ACUMATICA_CLIENT_SECRET),
            ("ACUMATICA_PASSWORD", c::ACUMATICA_PASSWORD),
            ("LOOKERSDK_CLIENT_SECRET", c::LOOKER_CLIENT_SECRET),
        ]
    }

    /// A complete `ml-connector` config for this sandbox ([`demo_config`]
    /// at its URLs); `state_dir` holds the state store and the warehouse.
    pub fn config_toml(&self, state_dir: &str) -> String {
        demo_config(self.acumatica_url(), self.looker_url(), state_dir)
    }

    /// Stop both fakes.
    pub async fn shutdown(self) {
        self.acumatica.shutdown().await;
        self.looker_server.shutdown().await;
    }
}

/// The endpoint version the demo config pins: the newest the demo site
/// offers.
pub const DEMO_ENDPOINT_VERSION: &str = seed::ENDPOINT_VERSIONS[seed::ENDPOINT_VERSIONS.len() - 1];

/// The period the demo allocation posts: the month after the last closed
/// one, open in the demo site (MMYYYY).
///
/// ```
/// assert_eq!(testkit::sandbox::demo_period().len(), 6);
/// ```
pub fn demo_period() -> String {
    seed::period_id(seed::LAST_CLOSED_MONTH + 1)
}

/// The `ml-connector` config for fakes at these URLs: both connections
/// with the demo client ids and users (never secrets: those come from the
/// environment, see [`Sandbox::env`]), the overhead allocation post flow,
/// a GL feed and the approved-vendors reference flow. `state_dir` holds the state store and the warehouse
/// (empty: next to the config).
///
/// ```
/// let text = testkit::sandbox::demo_config("http://127.0.0.1:1", "http://127.0.0.1:2", "/tmp/x");
/// assert!(text.contains("url = \"sqlite:///tmp/x/ml-connector.db\""));
/// assert!(!text.contains(testkit::seed::credentials::ACUMATICA_PASSWORD));
/// ```
pub fn demo_config(acumatica_url: &str, looker_url: &str, state_dir: &str) -> String {
    use seed::credentials as c;
    let sep = if state_dir.is_empty() || state_dir.ends_with('/') {
        ""
    } else {
        "/"
    };
    format!(
        r#"# ml-connector config for the sandbox (demo credentials; secrets come from the
# environment: ACUMATICA_CLIENT_SECRET, ACUMATICA_PASSWORD, LOOKERSDK_CLIENT_SECRET).

[acumatica]
url = "{acumatica_url}"
endpoint_version = "{version}"
tenant = "{tenant}"
auth = "oauth"
client_id = "{acu_client}"
username = "{acu_user}"

[looker]
base_url = "{looker_url}"
client_id = "{looker_client}"
verify_ssl = false
timeout = 60

[store]
url = "sqlite://{state_dir}{sep}ml-connector.db"

# Month-end: allocate the shared overhead pool to the cost centers, one balanced journal
# per branch, posted exactly once.
[[flows]]
name = "overhead_allocation"
kind = "post"
cron = "0 6 1 * *"
time_zone = "UTC"

[flows.looker]
model = "finance"
explore = "overhead_allocation"
filters = {{ "overhead_allocation.period" = "{period}" }}
sorts = ["overhead_allocation.line_id"]

[flows.mapping]
lines.account = {{ column = "overhead_allocation.account" }}
# Looker shows subaccounts as people read them, with the segment separator (100-000);
# Acumatica's API has them as the bare segments (100000). The map below translates; where
# Looker already has Acumatica's form, drop `map` and the table.
lines.subaccount = {{ column = "overhead_allocation.subaccount", map = "subaccount" }}
lines.branch = {{ column = "overhead_allocation.branch" }}
lines.amount = {{ signed = "overhead_allocation.amount" }}
lines.description = "{{overhead_allocation.description}}"
lines.date = {{ column = "overhead_allocation.posting_date" }}
lines.period = {{ column = "overhead_allocation.period", format = "mmyyyy" }}
document.ledger = {{ constant = "{ledger}" }}
document.description = "Overhead allocation {{period}} {{branch}}"
document.date = "period_end"
{maps}

# Supporting flow: copy the latest GL entries into warehouse tables.
[[flows]]
name = "gl_feed"
kind = "feed"
cron = "*/15 * * * *"
entities = ["JournalTransaction", "Account"]
warehouse = "sqlite://{state_dir}{sep}warehouse.db"

# Each window ends lag_secs before the run starts; a record changed later is read by the next
# run. The sandbox's Acumatica shares this machine's clock, so it needs no lag; against a real
# site keep the default (60 s).
[flows.feed]
lag_secs = 0

# Reference records: the approved-vendor list kept in Looker, upserted into Acumatica's
# vendors by VendorID; only fields that differ are sent, so a run with nothing changed
# writes nothing.
[[flows]]
name = "approved_vendors"
kind = "reference"
cron = "0 7 * * *"

[flows.looker]
model = "finance"
explore = "approved_vendors"
sorts = ["approved_vendors.vendor_id"]

[flows.mapping]
entity = "Vendor"
key = {{ field = "VendorID", column = "approved_vendors.vendor_id" }}
fields.VendorName = {{ column = "approved_vendors.vendor_name" }}
fields.VendorClass = {{ column = "approved_vendors.vendor_class" }}
fields.Terms = {{ column = "approved_vendors.terms" }}
fields.Status = {{ column = "approved_vendors.status" }}
"#,
        version = DEMO_ENDPOINT_VERSION,
        tenant = seed::TENANT,
        acu_client = c::ACUMATICA_CLIENT_ID,
        acu_user = c::ACUMATICA_USERNAME,
        looker_client = c::LOOKER_CLIENT_ID,
        period = demo_period(),
        ledger = seed::LEDGER,
        maps = subaccount_map(),
    )
}

/// The `[flows.mapping.maps.subaccount]` table: the demo subaccounts as
/// Looker shows them to Acumatica's codes (see [`seed::Subaccount`] for why
/// they differ).
fn subaccount_map() -> String {
    let mut out = String::from("\n[flows.mapping.maps.subaccount]\n");
    for s in seed::SUBACCOUNTS {
        let _ = writeln!(out, "\"{}\" = \"{}\"", s.cd, s.raw);
    }
    out
}
