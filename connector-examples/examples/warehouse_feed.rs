//! The supporting flow alone: Acumatica's GL entries and accounts copied into warehouse tables
//! (a SQLite file), twice, to show the window, the high-water marks, and that a rerun
//! duplicates nothing.
//!
//! ```text
//! cargo run -p connector-examples --example warehouse_feed
//! cargo run -p connector-examples --example warehouse_feed -- --config ml-connector.toml
//! ```

use std::process::ExitCode;

use connector_examples::commands::Context;
use connector_examples::commands::flows::{feed_flow, from_sync, open_store, open_warehouse};
use connector_examples::commands::run::render_feed_summary;
use connector_examples::commands::signout::Sessions;
use connector_examples::config::Config;
use connector_examples::demo::sandbox_context;
use connector_examples::exit::{CliError, CliResult};
use connector_examples::secrets::Secrets;
use sync_core::warehouse::TableSpec;
use testkit::{Sandbox, SandboxOptions};

async fn feed_twice(ctx: &Context, sessions: &Sessions) -> CliResult<()> {
    let flow_cfg = ctx
        .config
        .flows
        .iter()
        .find(|f| f.feed().is_some())
        .ok_or_else(|| CliError::usage("no feed flow is configured (kind = \"feed\")"))?;
    let feed = flow_cfg.feed().expect("a feed flow");
    let store = open_store(&ctx.config.store, true)
        .await?
        .ok_or_else(|| CliError::failed("no state store"))?;
    let flow = feed_flow(ctx, flow_cfg, store.clone(), sessions).await?;
    let warehouse = open_warehouse(&feed.warehouse).await?;
    for (i, what) in [
        "First run: no mark yet, so everything is read",
        "Second run: only the window since the mark (minus the lookback)",
    ]
    .iter()
    .enumerate()
    {
        println!("\n== {}. {what}", i + 1);
        let summary = flow
            .run()
            .await
            .map_err(|e| from_sync(&format!("flow `{}`", flow_cfg.name), &e))?;
        print!("{}", render_feed_summary(&summary));
        for e in &feed.entities {
            let mark = store
                .watermark(&flow_cfg.name, &e.entity)
                .await
                .map_err(|err| CliError::failed(format!("state store: {err}")))?;
            let count = match TableSpec::builtin(&e.entity) {
                Some(spec) => warehouse
                    .count(&spec)
                    .await
                    .map_err(|err| CliError::failed(format!("warehouse: {err}")))?,
                None => 0,
            };
            println!(
                "  {}: {count} row(s) in the warehouse, high-water mark {}",
                e.entity,
                mark.map_or_else(|| "(none)".into(), |m| m.value)
            );
        }
    }
    println!(
        "\nThe warehouse is {}; point Looker at its tables.",
        feed.warehouse
    );
    Ok(())
}

async fn run() -> CliResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, path] = args.as_slice()
        && flag == "--config"
    {
        let config = Config::load(Some(path.as_ref()))?;
        let secrets = Secrets::from_env(&config.vault_path);
        let ctx = Context {
            config,
            secrets,
            json: false,
            bars: false,
            layout: connector_examples::output::Layout::stdout(false),
        };
        let sessions = Sessions::new();
        return sessions.signing_out(feed_twice(&ctx, &sessions)).await;
    }
    if !args.is_empty() {
        return Err(CliError::usage("usage: warehouse_feed [--config PATH]"));
    }
    let dir =
        tempfile::tempdir().map_err(|e| CliError::failed(format!("temporary directory: {e}")))?;
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    println!(
        "Feeding from the Acumatica fake at {} into {}",
        sandbox.acumatica_url(),
        dir.path().display()
    );
    let ctx = sandbox_context(&sandbox, dir.path(), false)?;
    let sessions = Sessions::new();
    let result = sessions.signing_out(feed_twice(&ctx, &sessions)).await;
    sandbox.shutdown().await;
    result
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
