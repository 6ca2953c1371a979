//! `ml-connector audit`: the trail of a run or of one document.
//!
//! As a table (default), one JSON document (`--json` or `--format json`), or CSV
//! (`--format csv`): one row per event, and for an event that posted a journal one row per
//! journal line posted (account, subaccount, branch, debit, credit as exact decimals), each
//! with who ran it (`by`, `user@host`). Summaries were redacted when they were stored, so no
//! secret reaches any format.

use serde_json::{Value, json};
use sync_core::store::{AuditRecord, RunId};

use crate::cli::{AuditArgs, AuditFormat, GlobalArgs};
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
    let format = if ctx.json {
        AuditFormat::Json
    } else {
        args.format.unwrap_or(AuditFormat::Table)
    };
    if format == AuditFormat::Json {
        print_json(&json!({
            "what": what,
            "events": records.iter().map(|r| json!({
                "seq": r.seq, "at": r.at.to_rfc3339(), "flow": r.flow, "run_id": r.run_id.to_string(),
                "natural_key": r.natural_key, "stage": r.stage.as_str(), "outcome": r.outcome,
                "by": r.summary.get("by"), "summary": r.summary,
            })).collect::<Vec<_>>(),
        }));
        return Ok(Exit::Ok);
    }
    if format == AuditFormat::Csv {
        let text = csv_of(&records).map_err(|e| CliError::failed(format!("audit as CSV: {e}")))?;
        crate::output::emit(&text);
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

/// The columns of `audit --format csv`.
const CSV_HEADER: [&str; 17] = [
    "seq",
    "at",
    "flow",
    "run_id",
    "stage",
    "natural_key",
    "outcome",
    "by",
    "batch",
    "line_row",
    "account",
    "subaccount",
    "branch",
    "debit",
    "credit",
    "line_description",
    "summary",
];

/// The trail as CSV: one row per event, or per journal line for an event that lists the
/// journal's lines (`summary.journal_lines`).
fn csv_of(records: &[AuditRecord]) -> Result<String, csv::Error> {
    fn text(v: Option<&Value>) -> String {
        match v {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        }
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_HEADER)?;
    for r in records {
        let s = &r.summary;
        let event = [
            r.seq.to_string(),
            r.at.to_rfc3339(),
            r.flow.clone(),
            r.run_id.to_string(),
            r.stage.as_str().to_owned(),
            r.natural_key.clone().unwrap_or_default(),
            r.outcome.clone(),
            text(s.get("by")),
            text(s.get("batch")),
        ];
        let summary = if s.is_null() {
            String::new()
        } else {
            s.to_string()
        };
        let lines = s
            .get("journal_lines")
            .or_else(|| s.get("document").and_then(|d| d.get("journal_lines")))
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty());
        match lines {
            Some(lines) => {
                for l in lines {
                    let mut row = event.to_vec();
                    for field in ["row", "account", "subaccount", "branch", "debit", "credit"] {
                        row.push(text(l.get(field)));
                    }
                    row.push(text(l.get("description")));
                    row.push(summary.clone());
                    w.write_record(&row)?;
                }
            }
            None => {
                let mut row = event.to_vec();
                row.extend(std::iter::repeat_n(String::new(), 7));
                row.push(summary);
                w.write_record(&row)?;
            }
        }
    }
    let bytes = w
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
