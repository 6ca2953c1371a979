//! Both fakes at once, seeded with the demo company: what the sandbox
//! binary serves, and what examples and cross-crate tests start in-process.
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
use std::net::SocketAddr;

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

    /// Stop both fakes.
    pub async fn shutdown(self) {
        self.acumatica.shutdown().await;
        self.looker_server.shutdown().await;
    }
}
