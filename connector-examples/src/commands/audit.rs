//! `ml-connector audit`: the trail of a run or of one document.

use serde_json::json;
use sync_core::store::{AuditRecord, RunId};

use crate::cli::{AuditArgs, GlobalArgs};
use crate::commands::Context;
use crate::commands::flows::open_store_with;
use crate::exit::{CliError, Exit};
use crate::output::{Table, print_json};

fn store_err(e: impl std::fmt::Display) -> CliError {
    CliError::failed(format!("state store: {e}"))
}

/// Runs `audit`.
pub async fn run(global: &GlobalArgs, args: &AuditArgs) -> Result<Exit, CliError> {
    let ctx = Context::load(global)?;
    if let Some(f) = &args.flow {
        ctx.config.flow(f)?;
    }
    let Some(store) = open_store_with(&ctx.config.store, &ctx.config.store_options, false).await?
    else {
        return Err(CliError::failed(format!(
            "nothing has run yet: the state store {} does not exist",
            ctx.config.store
        )));
    };
    let (what, records): (String, Vec<AuditRecord>) = match (&args.run, &args.flow, &args.key) {
        (Some(run), _, _) => {
            let id = RunId::new(run.clone());
            if store.run(&id).await.map_err(store_err)?.is_none() {
                return Err(CliError::usage(format!("no run with id `{run}`"))
                    .with_hint("`ml-connector status` lists the latest runs of each flow"));
            }
            (
                format!("run {run}"),
                store.audit_for_run(&id).await.map_err(store_err)?,
            )
        }
        (None, Some(flow), Some(key)) => (
            format!("document {key} of flow {flow}"),
            store.audit_for_key(flow, key).await.map_err(store_err)?,
        ),
        (None, Some(flow), None) => {
            let runs = store.recent_runs(flow, 1).await.map_err(store_err)?;
            let Some(latest) = runs.first() else {
                return Err(CliError::failed(format!("flow `{flow}` has not run yet")));
            };
            (
                format!("latest run {} of flow {flow}", latest.id),
                store.audit_for_run(&latest.id).await.map_err(store_err)?,
            )
        }
        (None, None, _) => {
            return Err(CliError::usage(
                "say what to audit: --run RUN_ID, or --flow NAME [--key KEY]",
            ));
        }
    };
    if ctx.json {
        print_json(&json!({
            "what": what,
            "events": records.iter().map(|r| json!({
                "seq": r.seq, "at": r.at.to_rfc3339(), "flow": r.flow, "run_id": r.run_id.to_string(),
                "natural_key": r.natural_key, "stage": r.stage.as_str(), "outcome": r.outcome,
                "summary": r.summary,
            })).collect::<Vec<_>>(),
        }));
        return Ok(Exit::Ok);
    }
    ctx.layout.line(&format!(
        "Audit trail of {what}: {} event(s)",
        records.len()
    ));
    let mut t = Table::new(["#", "At", "Stage", "Document", "Outcome", "Details"]);
    for r in &records {
        t.row([
            r.seq.to_string(),
            r.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            r.stage.as_str().to_owned(),
            r.natural_key.clone().unwrap_or_default(),
            r.outcome.clone(),
            if r.summary.is_null() {
                String::new()
            } else {
                r.summary.to_string()
            },
        ]);
    }
    ctx.layout.table(&t, "");
    Ok(Exit::Ok)
}
