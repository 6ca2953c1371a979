//! `ml-connector sandbox`: local fakes of both APIs with demo data.

use crate::output::{out, outln};
use std::net::IpAddr;
use std::time::Duration;

use testkit::sandbox::DEMO_ENDPOINT_VERSION;
use testkit::seed::{self, credentials};
use testkit::{Sandbox, SandboxOptions};

use crate::cli::{GlobalArgs, SandboxArgs};
use crate::exit::{CliError, Exit};
use crate::output::print_json;

/// Puts the Acumatica fake's vendors out of step with Looker's approved list, as a real site
/// would be before the first reference run: V000001 has an old name and other terms, V000002
/// is missing. The `approved_vendors` flow then has work to do on a fresh sandbox (1 created,
/// 1 updated, 4 unchanged), as the README shows. Done through the API, signed out after.
async fn drift_vendors(sandbox: &Sandbox) -> Result<(), CliError> {
    let client = acumatica_client::Client::builder(sandbox.acumatica_url())
        .endpoint_version(DEMO_ENDPOINT_VERSION)
        .tenant(seed::TENANT)
        .oauth_password(
            credentials::ACUMATICA_CLIENT_ID,
            credentials::ACUMATICA_CLIENT_SECRET,
            credentials::ACUMATICA_USERNAME,
            credentials::ACUMATICA_PASSWORD,
        )
        .allow_insecure_http(true)
        .build()
        .map_err(|e| CliError::from_acumatica("sandbox", &e))?;
    let drift = async {
        client
            .put_json(
                "Vendor",
                &serde_json::json!({
                    "VendorID": {"value": "V000001"},
                    "VendorName": {"value": "Acme Office Supplies (old name)"},
                    "Terms": {"value": "15D"},
                }),
                acumatica_client::PutMode::UpdateOnly,
                &acumatica_client::ListQuery::new(),
            )
            .await?;
        client.delete_by_keys("Vendor", &["V000002"]).await
    };
    let result = drift.await;
    let _ = client.logout().await;
    result.map_err(|e| CliError::from_acumatica("sandbox: preparing the demo vendors", &e))?;
    sandbox.acumatica().log().reset();
    Ok(())
}

/// Runs `sandbox`: starts the fakes, prints URLs, credentials and a config, then serves until
/// Ctrl-C (or `--duration`).
pub async fn run(global: &GlobalArgs, args: &SandboxArgs) -> Result<Exit, CliError> {
    if let Some(path) = &args.write_config
        && !args.force
        && path.exists()
    {
        return Err(CliError::usage(format!(
            "{} already exists and `sandbox --write-config` does not replace a file (it may be a \
             config you edited); pass --force to replace it, or give another path",
            path.display()
        )));
    }
    let sandbox = Sandbox::start(SandboxOptions::listening(
        IpAddr::from([127, 0, 0, 1]),
        args.acumatica_port,
        args.looker_port,
    ))
    .await?;
    drift_vendors(&sandbox).await?;
    let config = sandbox.config_toml("");
    if let Some(path) = &args.write_config {
        write_whole(path, &config).map_err(|e| {
            CliError::usage(format!(
                "cannot write the config to {}: {e}",
                path.display()
            ))
        })?;
    }
    if global.json {
        print_json(&serde_json::json!({
            "acumatica": {
                "url": sandbox.acumatica_url(),
                "endpoint_versions": seed::ENDPOINT_VERSIONS,
                "tenant": seed::TENANT,
                "client_id": credentials::ACUMATICA_CLIENT_ID,
                "client_secret": credentials::ACUMATICA_CLIENT_SECRET,
                "username": credentials::ACUMATICA_USERNAME,
                "password": credentials::ACUMATICA_PASSWORD,
            },
            "looker": {
                "base_url": sandbox.looker_url(),
                "client_id": credentials::LOOKER_CLIENT_ID,
                "client_secret": credentials::LOOKER_CLIENT_SECRET,
            },
            "env": sandbox.env().into_iter().map(|(k, v)| (k.to_owned(), serde_json::Value::from(v))).collect::<serde_json::Map<_, _>>(),
            "config": config,
        }));
    } else {
        outln!("ml-connector sandbox: fakes of both APIs with demo data (demo credentials only)");
        outln!();
        outln!("Acumatica  {}", sandbox.acumatica_url());
        outln!(
            "           endpoint Default/{} (also offers {})",
            DEMO_ENDPOINT_VERSION,
            seed::ENDPOINT_VERSIONS.join(", ")
        );
        outln!(
            "           tenant {}, user {} / {}",
            seed::TENANT,
            credentials::ACUMATICA_USERNAME,
            credentials::ACUMATICA_PASSWORD
        );
        outln!(
            "           OAuth client {} / {}",
            credentials::ACUMATICA_CLIENT_ID,
            credentials::ACUMATICA_CLIENT_SECRET
        );
        outln!(
            "Looker     {}  (API at {}/api/4.0)",
            sandbox.looker_url(),
            sandbox.looker_url()
        );
        outln!(
            "           API3 client {} / {}",
            credentials::LOOKER_CLIENT_ID,
            credentials::LOOKER_CLIENT_SECRET
        );
        outln!(
            "Vendors    Acumatica is out of step with Looker's approved list (V000001 has an \
             old name and terms, V000002 is missing): the first run of approved_vendors \
             updates one and creates one"
        );
        outln!();
        outln!("In another shell:");
        for (k, v) in sandbox.env() {
            outln!("  export {k}={v}");
        }
        match &args.write_config {
            Some(p) => {
                outln!("  ml-connector --config {} ping", p.display());
                outln!("  ml-connector --config {} plan", p.display());
                outln!("  ml-connector --config {} run --once", p.display());
            }
            None => {
                outln!("  # save the config below as ml-connector.toml, then:");
                outln!("  ml-connector ping && ml-connector plan && ml-connector run --once");
            }
        }
        outln!();
        outln!("--- ml-connector.toml ---");
        out!("{config}");
        outln!("--- end ---");
        outln!();
        match args.duration {
            Some(s) => outln!("Serving for {s} s."),
            None => outln!("Serving until Ctrl-C."),
        }
    }
    // Flush now: stdout may be a pipe read by a script waiting for the URLs.
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    match args.duration {
        Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    sandbox.shutdown().await;
    Ok(Exit::Ok)
}

/// Writes `text` to a temporary file beside `path`, then renames it over `path`, so a failed
/// write never leaves half a config behind.
fn write_whole(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
