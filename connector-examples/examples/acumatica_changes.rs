//! What changed in Acumatica since a timestamp: `LastModifiedDateTime` windows over any entity,
//! streamed page by page.
//!
//! ```text
//! cargo run -p connector-examples --example acumatica_changes                    # sandbox, last 30 days of JournalTransaction
//! cargo run -p connector-examples --example acumatica_changes -- --entity Bill --since 2026-06-01T00:00:00Z
//! ```
//!
//! With `ACUMATICA_URL` (and `ACUMATICA_ENDPOINT_VERSION`, `ACUMATICA_TENANT`,
//! `ACUMATICA_CLIENT_ID`, `ACUMATICA_CLIENT_SECRET`, `ACUMATICA_USERNAME`,
//! `ACUMATICA_PASSWORD`) set, it asks the real site instead.

use std::process::ExitCode;

use acumatica_client::ListQuery;
use chrono::{DateTime, Duration, FixedOffset, Utc};
use connector_examples::config::Config;
use connector_examples::connect::{acumatica_client, acumatica_settings};
use connector_examples::exit::{CliError, CliResult};
use connector_examples::output::Table;
use connector_examples::secrets::Secrets;
use futures::TryStreamExt;
use testkit::{Sandbox, SandboxOptions};

fn text(v: &serde_json::Value, field: &str) -> String {
    match &v[field]["value"] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

async fn changes(
    client: &acumatica_client::Client,
    entity: &str,
    since: DateTime<FixedOffset>,
) -> CliResult<()> {
    println!("{entity} records changed since {since}:");
    let mut stream = client.changed_since_json(entity, since, None, ListQuery::new());
    let mut t = Table::new(["Last modified", "Key", "Description / name", "Status"]);
    let mut n = 0u64;
    while let Some(rec) = stream
        .try_next()
        .await
        .map_err(|e| CliError::from_acumatica(&format!("listing {entity}"), &e))?
    {
        n += 1;
        let key = [
            "BatchNbr",
            "ReferenceNbr",
            "VendorID",
            "AccountCD",
            "OrderNbr",
            "InventoryID",
        ]
        .iter()
        .map(|f| text(&rec, f))
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| rec["id"].as_str().unwrap_or_default().to_owned());
        let desc = ["Description", "VendorName"]
            .iter()
            .map(|f| text(&rec, f))
            .find(|s| !s.is_empty())
            .unwrap_or_default();
        t.row([
            text(&rec, "LastModifiedDateTime"),
            key,
            desc,
            text(&rec, "Status"),
        ]);
    }
    print!("{}", t.render());
    println!("{n} record(s).");
    Ok(())
}

async fn run() -> CliResult<()> {
    let mut entity = "JournalTransaction".to_owned();
    let mut since: Option<DateTime<FixedOffset>> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--entity", Some(e)) => entity = e,
            ("--since", Some(s)) => {
                since = Some(DateTime::parse_from_rfc3339(&s).map_err(|e| {
                    CliError::usage(format!("--since `{s}` is not an RFC 3339 timestamp (e.g. 2026-06-01T00:00:00Z): {e}"))
                })?)
            }
            _ => return Err(CliError::usage("usage: acumatica_changes [--entity NAME] [--since RFC3339]")),
        }
    }
    if std::env::var("ACUMATICA_URL").is_ok_and(|v| !v.is_empty()) {
        let config = Config::load(None)?;
        let secrets = Secrets::from_env(&config.vault_path);
        let client = acumatica_client(acumatica_settings(&config)?, &secrets, false).await?;
        let since = since.unwrap_or_else(|| (Utc::now() - Duration::days(1)).fixed_offset());
        let r = changes(&client, &entity, since).await;
        let _ = client.close().await;
        return r;
    }
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    println!("Asking the Acumatica fake at {}", sandbox.acumatica_url());
    let dir =
        tempfile::tempdir().map_err(|e| CliError::failed(format!("temporary directory: {e}")))?;
    let ctx = connector_examples::demo::sandbox_context(&sandbox, dir.path(), false)?;
    let client = acumatica_client(acumatica_settings(&ctx.config)?, &ctx.secrets, false).await?;
    // The demo data's timestamps are spread over its financial year; default to its last quarter.
    let since = since.unwrap_or_else(|| {
        DateTime::parse_from_rfc3339("2026-10-01T00:00:00Z").expect("a valid timestamp")
    });
    let r = changes(&client, &entity, since).await;
    let _ = client.close().await;
    sandbox.shutdown().await;
    r
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            connector_examples::report_error(&e, false);
            ExitCode::from(e.exit.code())
        }
    }
}
