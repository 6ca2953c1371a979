//! The crash test's child process: runs the month-end post flow (every open month), the
//! approved-vendor reference flow and then the warehouse feed against fakes that live in the parent test process, on the state store
//! and warehouse it is pointed at. The parent kills it with SIGKILL at random points and starts
//! it again; every start must carry on where the killed one stopped, posting nothing twice.
//!
//! Configuration (environment):
//! - `CRASH_ACUMATICA_URL`, `CRASH_LOOKER_URL`: the fakes;
//! - `CRASH_STORE`: a SQLite path or `postgres://` URL, `CRASH_STORE_SCHEMA` its schema;
//! - `CRASH_WAREHOUSE`: a SQLite path or `postgres://` URL, `CRASH_WAREHOUSE_SCHEMA`;
//! - optional, for the in-flight test (`tests/inflight.rs`): `CRASH_OWNER` (the lease owner,
//!   default `crash-child`), `CRASH_SETTLE_HORIZON_SECS` (default
//!   [`harness::SETTLE_HORIZON_SECS`]), `CRASH_LEASE_TTL_SECS` (default 300) and
//!   `CRASH_CONCURRENCY` (default 1) of the post flows.
//!
//! A post run whose only problems are writes that may still be queued in Acumatica is run
//! again once its settle horizon has passed (as its output tells an operator to); a post run
//! refused because another owner's lease has not expired yet is retried until it has.
//!
//! - `CRASH_POST_ONLY_MONTH` (optional): run only the post flow of this month, as lease owner
//!   `CRASH_OWNER` (default `crash-child`); the replica test (`tests/replicas.rs`) pauses it.
//!
//! Prints `done` and exits 0 when all three flows completed; prints the error and exits 2
//! otherwise.

use std::process::ExitCode;

use ml_connector_tests::harness::{self, Retries};
use sync_core::post::PostOptions;
use sync_core::store::RunStatus;

/// The lease owner every incarnation uses, so a restart takes over the lease of the killed one
/// at once (with a new fence) instead of waiting for it to expire.
const OWNER: &str = "crash-child";

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set; the crash test passes it"))
}

async fn run() -> Result<(), String> {
    let acu_url = var("CRASH_ACUMATICA_URL")?;
    let looker_url = var("CRASH_LOOKER_URL")?;
    let store_target = var("CRASH_STORE")?;
    let warehouse_target = var("CRASH_WAREHOUSE")?;
    let store_schema = std::env::var("CRASH_STORE_SCHEMA").ok();
    let warehouse_schema = std::env::var("CRASH_WAREHOUSE_SCHEMA").ok();

    let acumatica = harness::acumatica_client(&acu_url, Retries::Fast);
    let looker = harness::looker_client(&looker_url, Retries::Fast);
    let store = harness::open_store(&store_target, store_schema.as_deref())
        .await
        .map_err(|e| format!("state store: {e}"))?;
    let owner = std::env::var("CRASH_OWNER").unwrap_or_else(|_| OWNER.to_owned());
    let number = |name: &str, default: u64| -> Result<u64, String> {
        std::env::var(name).ok().map_or(Ok(default), |v| {
            v.parse().map_err(|e| format!("{name}: {e}"))
        })
    };
    let options = PostOptions {
        settle_horizon_secs: number("CRASH_SETTLE_HORIZON_SECS", harness::SETTLE_HORIZON_SECS)?,
        lease_ttl_secs: number("CRASH_LEASE_TTL_SECS", 300)?,
        concurrency: number("CRASH_CONCURRENCY", 1)? as usize,
        ..PostOptions::default()
    };
    if let Ok(month) = std::env::var("CRASH_POST_ONLY_MONTH") {
        let month: u32 = month
            .parse()
            .map_err(|e| format!("CRASH_POST_ONLY_MONTH: {e}"))?;
        let owner = std::env::var("CRASH_OWNER").unwrap_or_else(|_| OWNER.to_owned());
        let flow = harness::post_flow(&looker, &acumatica, store, month, &owner)
            .map_err(|e| format!("post flow: {e}"))?;
        let summary = flow
            .run()
            .await
            .map_err(|e| format!("post run of month {month}: {e}"))?;
        if summary.status != RunStatus::Succeeded {
            return Err(format!("post run of month {month}: {summary}"));
        }
        return Ok(());
    }
    for month in harness::months() {
        let flow = harness::post_flow_with(
            &looker,
            &acumatica,
            store.clone(),
            month,
            &owner,
            options.clone(),
        )
        .map_err(|e| format!("post flow: {e}"))?;
        let summary = loop {
            match harness::run_post_until_settled(&flow).await {
                Err(e) if e.is_busy() => {
                    // Another owner's lease (a killed incarnation's) has not expired yet.
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                other => break other,
            }
        };
        let (summary, _) = summary.map_err(|e| format!("post run of month {month}: {e}"))?;
        if summary.status != RunStatus::Succeeded {
            return Err(format!("post run of month {month}: {summary}"));
        }
    }
    let owner = owner.as_str();
    let reference = harness::reference_flow(&looker, &acumatica, store.clone(), owner)
        .map_err(|e| format!("reference flow: {e}"))?;
    let summary = reference
        .run()
        .await
        .map_err(|e| format!("reference run: {e}"))?;
    if summary.status != RunStatus::Succeeded {
        return Err(format!("reference run: {summary}"));
    }
    let warehouse = harness::open_warehouse(&warehouse_target, warehouse_schema.as_deref())
        .await
        .map_err(|e| format!("warehouse: {e}"))?;
    let feed = harness::feed_flow(&acumatica, warehouse, store, owner)
        .map_err(|e| format!("feed flow: {e}"))?;
    let summary = feed.run().await.map_err(|e| format!("feed run: {e}"))?;
    if summary.status != RunStatus::Succeeded {
        return Err(format!("feed run: {summary}"));
    }
    Ok(())
}

fn main() -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("crash_child: cannot start a runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run()) {
        Ok(()) => {
            println!("done");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("crash_child: {e}");
            ExitCode::from(2)
        }
    }
}
