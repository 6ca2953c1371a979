//! `ml-connector replay`: retry the failed documents of a flow.
//!
//! Of several failed documents of one journal (the same period, branch and group), only the
//! newest is replayed; the older ones are resolved as superseded. With `--remap` each failed
//! document's source rows are mapped again with the current configuration (a corrected
//! mapping) instead of re-sending the stored journal; documents stored without their rows (by
//! an older version) are reported as not re-mappable. Who replayed is recorded in the audit
//! trail (`$USER@host`).
//!
//! While the replay runs, its progress goes to stderr as `run`'s does ([`FlowProgress`]): bars
//! on a terminal, else log lines (one per journal and one at the end). The result goes to
//! stdout when it ends: a table, or with `--json` one JSON document.
//!
//! A reference flow has no replay of its own: every run reads its open dead letters and
//! compares those records again, so `replay --flow NAME` of a reference flow says so and runs
//! the flow once (all records; `--id` is refused because a run cannot be limited to one), with
//! the run's progress on stderr.

use crate::output::{out, outln};
use std::sync::Arc;

use serde_json::json;
use sync_core::post::{ReplayOptions, operator};

use crate::cli::{GlobalArgs, ReplayArgs};
use crate::commands::Context;
use crate::commands::flows::{from_sync, open_store_with, post_flow, reference_flow};
use crate::commands::run::{
    reference_exit, reference_json, render_reference_summary, render_summary, summary_exit,
    summary_json,
};
use crate::commands::signout::Sessions;
use crate::config::FlowConfig;
use crate::exit::{CliError, Exit};
use crate::output::print_json;
use crate::progress::FlowProgress;

/// Runs `replay`; signs out of Looker and Acumatica when it is done, also when it failed.
pub async fn run(global: &GlobalArgs, args: &ReplayArgs) -> Result<Exit, CliError> {
    let ctx = Context::load(global)?;
    let sessions = Sessions::new();
    sessions.signing_out(replay(&ctx, args, &sessions)).await
}

async fn replay(ctx: &Context, args: &ReplayArgs, sessions: &Sessions) -> Result<Exit, CliError> {
    let flow_cfg = ctx.config.flow(&args.flow)?;
    let Some(store) = open_store_with(&ctx.config.store, &ctx.config.store_options, false).await?
    else {
        return Err(CliError::failed(format!(
            "nothing to replay: the state store {} does not exist yet",
            ctx.config.store
        )));
    };
    if flow_cfg.reference().is_some() {
        if args.remap {
            return Err(CliError::usage(format!(
                "flow `{}` is a reference flow: --remap applies to post flows",
                args.flow
            ))
            .with_hint(format!(
                "a reference flow maps its rows again on every run; run `ml-connector replay --flow {}` without --remap",
                args.flow
            )));
        }
        return replay_reference(ctx, flow_cfg, args, store, sessions).await;
    }
    let flow = post_flow(ctx, flow_cfg, store, sessions).await?;
    let letters = flow
        .dead_letters()
        .await
        .map_err(|e| from_sync(&format!("flow `{}`", args.flow), &e))?;
    if let Some(id) = args.id
        && !letters.iter().any(|l| l.id == id)
    {
        let ids: Vec<String> = letters.iter().map(|l| format!("#{}", l.id)).collect();
        return Err(CliError::usage(format!(
            "flow `{}` has no unresolved failed document #{id}; {}",
            args.flow,
            if ids.is_empty() {
                "it has none".to_owned()
            } else {
                format!("it has {}", ids.join(", "))
            }
        )));
    }
    if letters.is_empty() {
        if ctx.json {
            print_json(&json!({ "ok": true, "flow": args.flow, "replayed": 0 }));
        } else {
            outln!("Flow {} has no failed documents to replay.", args.flow);
        }
        return Ok(Exit::Ok);
    }
    let ids = args.id.map(|i| vec![i]);
    let progress = Arc::new(FlowProgress::new(&args.flow, ctx.bars));
    let options = ReplayOptions {
        ids,
        remap: args.remap,
        by: operator(),
    };
    let result = flow
        .with_progress(progress.clone())
        .replay_with(&options)
        .await;
    progress.finish();
    let summary = result.map_err(|e| from_sync(&format!("flow `{}`: replay", args.flow), &e))?;
    let exit = summary_exit(&summary);
    if ctx.json {
        print_json(
            &json!({ "ok": exit == Exit::Ok, "exit_code": exit.code(), "run": summary_json(&summary) }),
        );
    } else {
        out!("{}", render_summary(&summary));
    }
    Ok(exit)
}

/// `replay` of a reference flow: a run, which retries every open dead letter.
async fn replay_reference(
    ctx: &Context,
    flow_cfg: &FlowConfig,
    args: &ReplayArgs,
    store: Arc<dyn sync_core::store::StateStore>,
    sessions: &Sessions,
) -> Result<Exit, CliError> {
    if let Some(id) = args.id {
        return Err(CliError::usage(format!(
            "flow `{}` is a reference flow: it cannot replay dead letter #{id} alone",
            args.flow
        ))
        .with_hint(format!(
            "a reference flow retries its failed records on every run, comparing each record \
             again; run `ml-connector replay --flow {0}` (or `run --once --flow {0}`) without --id",
            args.flow
        )));
    }
    let letters = store
        .dead_letters(&args.flow, false)
        .await
        .map_err(|e| CliError::failed(format!("state store: {e}")))?;
    if letters.is_empty() {
        if ctx.json {
            print_json(&json!({ "ok": true, "flow": args.flow, "replayed": 0 }));
        } else {
            outln!("Flow {} has no failed records to retry.", args.flow);
        }
        return Ok(Exit::Ok);
    }
    let flow = reference_flow(ctx, flow_cfg, store, sessions).await?;
    if !ctx.json {
        outln!(
            "Flow {} is a reference flow: every run retries its failed records, so replay runs \
             it once ({} failed record(s) to retry).",
            args.flow,
            letters.len()
        );
    }
    let progress = Arc::new(FlowProgress::new(&args.flow, ctx.bars));
    let result = flow.with_progress(progress.clone()).run().await;
    progress.finish();
    let summary =
        result.map_err(|e| from_sync(&format!("flow `{}`: replay (run)", args.flow), &e))?;
    let exit = reference_exit(&summary);
    if ctx.json {
        print_json(&json!({
            "ok": exit == Exit::Ok,
            "exit_code": exit.code(),
            "replayed_by": "run",
            "dead_letters": letters.len(),
            "run": reference_json(&summary),
        }));
    } else {
        out!("{}", render_reference_summary(&summary));
    }
    Ok(exit)
}
