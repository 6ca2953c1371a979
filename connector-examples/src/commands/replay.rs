//! `ml-connector replay`: retry the failed documents of a flow.
//!
//! While the replay runs, its progress goes to stderr as `run`'s does ([`FlowProgress`]): bars
//! on a terminal, else log lines (one per journal and one at the end). The result goes to
//! stdout when it ends: a table, or with `--json` one JSON document.

use std::sync::Arc;

use serde_json::json;

use crate::cli::{GlobalArgs, ReplayArgs};
use crate::commands::Context;
use crate::commands::flows::{from_sync, open_store, post_flow};
use crate::commands::run::{render_summary, summary_exit, summary_json};
use crate::exit::{CliError, Exit};
use crate::output::print_json;
use crate::progress::FlowProgress;

/// Runs `replay`.
pub async fn run(global: &GlobalArgs, args: &ReplayArgs) -> Result<Exit, CliError> {
    let ctx = Context::load(global)?;
    let flow_cfg = ctx.config.flow(&args.flow)?;
    let Some(store) = open_store(&ctx.config.store, false).await? else {
        return Err(CliError::failed(format!(
            "nothing to replay: the state store {} does not exist yet",
            ctx.config.store
        )));
    };
    let flow = post_flow(&ctx, flow_cfg, store).await?;
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
            println!("Flow {} has no failed documents to replay.", args.flow);
        }
        return Ok(Exit::Ok);
    }
    let ids = args.id.map(|i| vec![i]);
    let progress = Arc::new(FlowProgress::new(&args.flow, ctx.bars));
    let result = flow
        .with_progress(progress.clone())
        .replay(ids.as_deref())
        .await;
    progress.finish();
    let summary = result.map_err(|e| from_sync(&format!("flow `{}`: replay", args.flow), &e))?;
    let exit = summary_exit(&summary);
    if ctx.json {
        print_json(
            &json!({ "ok": exit == Exit::Ok, "exit_code": exit.code(), "run": summary_json(&summary) }),
        );
    } else {
        print!("{}", render_summary(&summary));
    }
    Ok(exit)
}
