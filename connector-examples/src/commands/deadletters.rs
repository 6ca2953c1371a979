//! `ml-connector deadletters`: list the failed documents of the flows, or discard one.
//!
//! `list` reads the state store only. `discard ID --reason TEXT [--flow NAME]` resolves one
//! dead letter of a post flow as discarded, under the flow's lease, and records the reason and
//! who discarded it (`user@host`, [`sync_core::store::operator`]) in the audit trail; it is
//! never replayed. Without `--flow` the post flow holding dead letter ID is found.

use crate::output::{out, outln};
use serde_json::json;
use sync_core::post::operator;

use crate::cli::{DeadlettersArgs, DeadlettersCommand, GlobalArgs};
use crate::commands::Context;
use crate::commands::flows::{from_sync, open_store, post_flow};
use crate::commands::signout::Sessions;
use crate::exit::{CliError, Exit};
use crate::output::{Table, print_json};

/// Runs `deadletters`.
pub async fn run(global: &GlobalArgs, args: &DeadlettersArgs) -> Result<Exit, CliError> {
    let ctx = Context::load(global)?;
    match &args.command {
        DeadlettersCommand::List { flow, all } => list(&ctx, flow.as_deref(), *all).await,
        DeadlettersCommand::Discard { id, flow, reason } => {
            if reason.trim().is_empty() {
                return Err(CliError::usage(
                    "--reason is empty; say why the dead letter is discarded (it is kept in the audit trail)",
                ));
            }
            let flow = match flow {
                Some(f) => f.clone(),
                None => owner_of(&ctx, *id).await?,
            };
            let sessions = Sessions::new();
            sessions
                .signing_out(discard(&ctx, *id, &flow, reason, &sessions))
                .await
        }
    }
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() > 80 {
        format!("{}…", line.chars().take(79).collect::<String>())
    } else {
        line.to_owned()
    }
}

async fn list(ctx: &Context, flow: Option<&str>, all: bool) -> Result<Exit, CliError> {
    let flows = ctx.config.select(flow)?;
    let Some(store) = open_store(&ctx.config.store, false).await? else {
        if ctx.json {
            print_json(&json!({ "store": ctx.config.store.to_string(), "dead_letters": [] }));
        } else {
            outln!(
                "No dead letters: the state store {} does not exist yet.",
                ctx.config.store
            );
        }
        return Ok(Exit::Ok);
    };
    let mut rows = Vec::new();
    for f in &flows {
        let letters = store
            .dead_letters(&f.name, all)
            .await
            .map_err(|e| CliError::failed(format!("state store: {e}")))?;
        for l in letters {
            rows.push((f.name.clone(), l));
        }
    }
    if ctx.json {
        let v: Vec<_> = rows
            .iter()
            .map(|(flow, l)| {
                json!({
                    "id": l.id,
                    "flow": flow,
                    "natural_key": l.natural_key,
                    "attempts": l.attempts,
                    "error": l.error,
                    "updated_at": l.updated_at.to_rfc3339(),
                    "remappable": l.payload.get("rows").is_some_and(|r| r.is_array()),
                    "resolved_at": l.resolved_at.map(|t| t.to_rfc3339()),
                    "resolution": l.resolution,
                })
            })
            .collect();
        print_json(&json!({ "store": ctx.config.store.to_string(), "dead_letters": v }));
        return Ok(Exit::Ok);
    }
    if rows.is_empty() {
        outln!("No {}dead letters.", if all { "" } else { "unresolved " });
        return Ok(Exit::Ok);
    }
    let mut t = Table::new([
        "ID",
        "Flow",
        "Natural key",
        "Tries",
        "Failed at",
        "Re-map",
        "Error",
        "Resolution",
    ]);
    for (flow, l) in &rows {
        t.row([
            format!("#{}", l.id),
            flow.clone(),
            l.natural_key.clone(),
            l.attempts.to_string(),
            l.updated_at.format("%Y-%m-%d %H:%M").to_string(),
            if l.payload.get("rows").is_some_and(|r| r.is_array()) {
                "yes".into()
            } else {
                "no (no rows kept)".into()
            },
            first_line(&l.error),
            l.resolution.as_deref().map(first_line).unwrap_or_default(),
        ]);
    }
    out!("{}", t.render());
    outln!(
        "\nRetry with `ml-connector replay --flow NAME [--id ID] [--remap]`; drop one with \
         `ml-connector deadletters discard ID --reason TEXT`."
    );
    Ok(Exit::Ok)
}

/// The post flow that has unresolved dead letter `id` (for `discard` without `--flow`).
async fn owner_of(ctx: &Context, id: i64) -> Result<String, CliError> {
    let Some(store) = open_store(&ctx.config.store, false).await? else {
        return Err(CliError::usage(format!(
            "there is no dead letter #{id}: the state store {} does not exist yet",
            ctx.config.store
        )));
    };
    let mut open = Vec::new();
    for f in ctx.config.flows.iter().filter(|f| f.post().is_some()) {
        let letters = store
            .dead_letters(&f.name, false)
            .await
            .map_err(|e| CliError::failed(format!("state store: {e}")))?;
        if letters.iter().any(|l| l.id == id) {
            return Ok(f.name.clone());
        }
        open.extend(letters.iter().map(|l| format!("#{} ({})", l.id, f.name)));
    }
    Err(CliError::usage(format!(
        "no post flow has an unresolved dead letter #{id}; {}",
        if open.is_empty() {
            "there are none".to_owned()
        } else {
            format!("open: {}", open.join(", "))
        }
    ))
    .with_hint("`ml-connector deadletters list` shows them"))
}

async fn discard(
    ctx: &Context,
    id: i64,
    flow: &str,
    reason: &str,
    sessions: &Sessions,
) -> Result<Exit, CliError> {
    let flow_cfg = ctx.config.flow(flow)?;
    if flow_cfg.post().is_none() {
        return Err(CliError::usage(format!(
            "flow `{flow}` is a {} flow: only a post flow's dead letters are discarded by hand",
            flow_cfg.kind()
        ))
        .with_hint(format!(
            "a reference flow retries its refused records on every run; fix the data or the \
             mapping and run `ml-connector run --once --flow {flow}`"
        )));
    }
    let Some(store) = open_store(&ctx.config.store, false).await? else {
        return Err(CliError::usage(format!(
            "flow `{flow}` has no dead letter #{id}: the state store {} does not exist yet",
            ctx.config.store
        )));
    };
    let open = store
        .dead_letters(flow, false)
        .await
        .map_err(|e| CliError::failed(format!("state store: {e}")))?;
    let Some(letter) = open.iter().find(|l| l.id == id) else {
        let ids: Vec<String> = open.iter().map(|l| format!("#{}", l.id)).collect();
        return Err(CliError::usage(format!(
            "flow `{flow}` has no unresolved dead letter #{id}; {}",
            if ids.is_empty() {
                "it has none".to_owned()
            } else {
                format!("it has {}", ids.join(", "))
            }
        )));
    };
    let key = letter.natural_key.clone();
    let who = operator();
    let pf = post_flow(ctx, flow_cfg, store, sessions).await?;
    let summary = pf
        .discard_dead_letter(id, reason, &who)
        .await
        .map_err(|e| from_sync(&format!("flow `{flow}`: discard dead letter #{id}"), &e))?;
    if ctx.json {
        print_json(&json!({
            "ok": true,
            "flow": flow,
            "id": id,
            "natural_key": key,
            "discarded_by": who,
            "reason": reason.trim(),
            "run_id": summary.run_id.to_string(),
        }));
    } else {
        outln!(
            "Dead letter #{id} of flow {flow} ({key}) discarded by {who}: {}\nRecorded in the \
             audit trail of run {} (`ml-connector audit --run {}`).",
            reason.trim(),
            summary.run_id,
            summary.run_id
        );
    }
    Ok(Exit::Ok)
}
