//! Both testkit fakes, started together with the demo data, and the config that points at
//! them. Used by `ml-connector sandbox`, the `period_close` example and the tests.

use std::net::SocketAddr;

use testkit::acumatica::{AcumaticaFake, AcumaticaOptions};
use testkit::looker::{LookerConfig, LookerFake};
use testkit::seed::{self, credentials};
use testkit::server::{ErrorStyle, FakeServer};

use crate::exit::{CliError, CliResult};

/// The endpoint version the demo config pins (the newest the demo site offers).
pub const DEMO_ENDPOINT_VERSION: &str = "24.200.001";

/// The period the demo allocation posts (October of the demo year: open in the demo site).
pub fn demo_period() -> String {
    seed::period_id(seed::LAST_CLOSED_MONTH + 1)
}

/// How to start the sandbox.
#[derive(Debug, Clone, Default)]
pub struct SandboxOptions {
    /// Port of the Acumatica fake (0: any free port).
    pub acumatica_port: u16,
    /// Port of the Looker fake (0: any free port).
    pub looker_port: u16,
    /// Settings of the Looker fake (defaults: demo credentials, clean data).
    pub looker: Option<LookerConfig>,
    /// Settings of the Acumatica fake.
    pub acumatica: Option<AcumaticaOptions>,
}

/// A running sandbox: the Acumatica and Looker fakes on local ports.
pub struct Sandbox {
    acumatica: AcumaticaFake,
    looker: LookerFake,
    looker_server: FakeServer,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("acumatica", &self.acumatica.url())
            .field("looker", &self.looker_server.url())
            .finish()
    }
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl Sandbox {
    /// Starts both fakes.
    pub async fn start(options: SandboxOptions) -> CliResult<Sandbox> {
        let mut acu_opts = options.acumatica.unwrap_or_default();
        if options.acumatica_port != 0 {
            acu_opts = acu_opts.addr(local(options.acumatica_port));
        }
        let acumatica = AcumaticaFake::start(acu_opts).await.map_err(|e| {
            CliError::usage(format!(
                "cannot start the Acumatica fake on port {}: {e}",
                options.acumatica_port
            ))
        })?;
        let looker = LookerFake::new(options.looker.unwrap_or_default())
            .map_err(|e| CliError::usage(format!("Looker fake settings: {e}")))?;
        let looker_server = FakeServer::builder(looker.router())
            .faults(looker.faults().clone())
            .addr(local(options.looker_port))
            .error_style(ErrorStyle::json(|status, message| {
                serde_json::json!({
                    "message": message,
                    "documentation_url": format!("https://cloud.google.com/looker/docs/r/err/4.0/{status}"),
                })
            }))
            .start()
            .await
            .map_err(|e| {
                CliError::usage(format!(
                    "cannot start the Looker fake on port {}: {e}",
                    options.looker_port
                ))
            })?;
        Ok(Sandbox {
            acumatica,
            looker,
            looker_server,
        })
    }

    /// The Acumatica site URL.
    pub fn acumatica_url(&self) -> &str {
        self.acumatica.url()
    }

    /// The Looker instance URL (the API is under `/api/4.0`).
    pub fn looker_url(&self) -> &str {
        self.looker_server.url()
    }

    /// The Acumatica fake (to inspect what was posted).
    pub fn acumatica(&self) -> &AcumaticaFake {
        &self.acumatica
    }

    /// The Looker fake.
    pub fn looker(&self) -> &LookerFake {
        &self.looker
    }

    /// The demo credentials as environment variables (`NAME`, value).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "ACUMATICA_CLIENT_SECRET",
                credentials::ACUMATICA_CLIENT_SECRET.into(),
            ),
            ("ACUMATICA_PASSWORD", credentials::ACUMATICA_PASSWORD.into()),
            (
                "LOOKERSDK_CLIENT_SECRET",
                credentials::LOOKER_CLIENT_SECRET.into(),
            ),
        ]
    }

    /// A complete config for the sandbox: both connections, the overhead allocation post
    /// flow and a GL feed. `state_dir` holds the state store and the warehouse.
    pub fn config_toml(&self, state_dir: &str) -> String {
        demo_config(self.acumatica_url(), self.looker_url(), state_dir)
    }

    /// Stops both fakes.
    pub async fn shutdown(self) {
        self.looker_server.shutdown().await;
        self.acumatica.shutdown().await;
    }
}

/// The demo config text for fakes at these URLs.
pub fn demo_config(acumatica_url: &str, looker_url: &str, state_dir: &str) -> String {
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
# Looker shows subaccounts with their segment separator (100-000); Acumatica's API takes
# them unsegmented (100000).
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
"#,
        version = DEMO_ENDPOINT_VERSION,
        tenant = seed::TENANT,
        acu_client = credentials::ACUMATICA_CLIENT_ID,
        acu_user = credentials::ACUMATICA_USERNAME,
        looker_client = credentials::LOOKER_CLIENT_ID,
        period = demo_period(),
        ledger = seed::LEDGER,
        maps = subaccount_map(),
    )
}

/// The `[flows.mapping.maps.subaccount]` table: the demo subaccounts as Looker shows them
/// (with separator) to Acumatica's unsegmented codes.
fn subaccount_map() -> String {
    let mut out = String::from("\n[flows.mapping.maps.subaccount]\n");
    for s in seed::SUBACCOUNTS {
        out.push_str(&format!("\"{}\" = \"{}\"\n", s.cd, s.cd.replace('-', "")));
    }
    out
}
