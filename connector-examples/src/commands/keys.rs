//! `ml-connector keys`: the key map of a reference flow (sync-core's
//! `StateStore::key_mappings`): records Acumatica saved under a key it numbered itself, and
//! inserts whose answer was lost. Lists it, and settles one entry by hand (`--map KEY=SAVED`,
//! `--forget KEY`, confirmed with `--yes`) under the flow's lease, recorded as a run with an
//! audit event.

use crate::output::{out, outln};
use std::time::Duration;

use serde_json::json;
use sync_core::post::default_owner;
use sync_core::store::{AuditEvent, AuditStage, NewKeyMapping, RunCounts, RunStatus, StateStore};

use crate::cli::{GlobalArgs, KeysArgs};
use crate::commands::Context;
use crate::commands::flows::open_store;
use crate::exit::{CliError, Exit};
use crate::output::{Table, print_json};

fn store_err(e: impl std::fmt::Display) -> CliError {
    CliError::failed(format!("state store: {e}"))
}

/// What `--map`/`--forget` asks for.
enum Change {
    Map { key: String, saved: String },
    Forget { key: String },
}

fn change(args: &KeysArgs) -> Result<Option<Change>, CliError> {
    if let Some(m) = &args.map {
        let Some((key, saved)) = m.split_once('=') else {
            return Err(CliError::usage(format!(
                "--map {m:?}: give the source key and Acumatica's key as KEY=SAVED, e.g. 123=C1165"
            )));
        };
        let (key, saved) = (key.trim(), saved.trim());
        if key.is_empty() || saved.is_empty() {
            return Err(CliError::usage(format!(
                "--map {m:?}: both keys are needed, as KEY=SAVED, e.g. 123=C1165"
            )));
        }
        return Ok(Some(Change::Map {
            key: key.to_owned(),
            saved: saved.to_owned(),
        }));
    }
    Ok(args.forget.as_ref().map(|k| Change::Forget {
        key: k.trim().to_owned(),
    }))
}

/// Runs `keys`.
pub async fn run(global: &GlobalArgs, args: &KeysArgs) -> Result<Exit, CliError> {
    let ctx = Context::load(global)?;
    let flow = ctx.config.flow(&args.flow)?;
    let Some(reference) = flow.reference() else {
        return Err(CliError::usage(format!(
            "flow `{}` is a {} flow; only reference flows have a key map",
            flow.name,
            flow.kind()
        )));
    };
    let entity = reference.mapping.entity.clone();
    let Some(store) = open_store(&ctx.config.store, false).await? else {
        return Err(CliError::failed(format!(
            "nothing has run yet: the state store {} does not exist",
            ctx.config.store
        )));
    };
    match change(args)? {
        None => list(ctx.json, store.as_ref(), &flow.name).await,
        Some(change) => {
            settle(
                ctx.json,
                store.as_ref(),
                &flow.name,
                &entity,
                change,
                args.yes,
            )
            .await
        }
    }
}

async fn list(json_out: bool, store: &dyn StateStore, flow: &str) -> Result<Exit, CliError> {
    let entries = store.key_mappings(flow).await.map_err(store_err)?;
    if json_out {
        print_json(&json!({
            "flow": flow,
            "keys": entries.iter().map(|m| json!({
                "entity": m.entity, "key": m.source_key, "saved_key": m.saved_key,
                "state": m.state.as_str(), "run_id": m.run_id.as_ref().map(ToString::to_string),
                "updated_at": m.updated_at.to_rfc3339(),
            })).collect::<Vec<_>>(),
        }));
        return Ok(Exit::Ok);
    }
    outln!("Key map of flow {flow}: {} entr(ies)", entries.len());
    let mut t = Table::new(["Entity", "Key", "Acumatica key", "State", "Since"]);
    for m in &entries {
        t.row([
            m.entity.clone(),
            m.source_key.clone(),
            m.saved_key.clone().unwrap_or_else(|| "(unknown)".into()),
            m.state.as_str().to_owned(),
            m.updated_at.format("%Y-%m-%d %H:%M:%S").to_string(),
        ]);
    }
    if !t.is_empty() {
        out!("{}", t.render());
    }
    Ok(Exit::Ok)
}

async fn settle(
    json_out: bool,
    store: &dyn StateStore,
    flow: &str,
    entity: &str,
    change: Change,
    yes: bool,
) -> Result<Exit, CliError> {
    let (key, what) = match &change {
        Change::Map { key, saved } => (
            key.clone(),
            format!(
                "record that {entity} `{key}` is kept in Acumatica as `{saved}` (later runs look it up and update it there)"
            ),
        ),
        Change::Forget { key } => (
            key.clone(),
            format!(
                "forget the entry of {entity} `{key}` (the next run looks it up by `{key}` and creates it when absent: do this only when Acumatica holds no copy of it)"
            ),
        ),
    };
    if !yes {
        return Err(CliError::usage(format!(
            "flow `{flow}`: this would {what}; add --yes to confirm"
        )));
    }
    let Some(lease) = store
        .acquire_lease(flow, &default_owner(), Duration::from_secs(60))
        .await
        .map_err(store_err)?
    else {
        return Err(CliError::failed(format!(
            "flow `{flow}` is running now (its lease is held); try again when the run has ended"
        )));
    };
    let done = async {
        let run = store.start_run(&lease).await?;
        let (outcome, summary) = match &change {
            Change::Map { key, saved } => {
                store
                    .put_key_mapping(
                        &lease,
                        &NewKeyMapping::mapped(entity, key, saved, Some(run.id.clone())),
                    )
                    .await?;
                (
                    "key_mapped_by_hand",
                    json!({"requested_key": key, "saved_key": saved}),
                )
            }
            Change::Forget { key } => {
                let had = store.forget_key_mapping(&lease, entity, key).await?;
                (
                    "key_forgotten_by_hand",
                    json!({"requested_key": key, "had_entry": had}),
                )
            }
        };
        store
            .append_audit(
                &lease,
                &AuditEvent {
                    run_id: run.id.clone(),
                    natural_key: Some(format!("{entity}/{key}")),
                    stage: AuditStage::Mapped,
                    outcome: outcome.to_owned(),
                    summary,
                },
            )
            .await?;
        store
            .finish_run(
                &lease,
                &run.id,
                RunStatus::Succeeded,
                &RunCounts::default(),
                Some(&format!("key map: {outcome} {entity}/{key}")),
            )
            .await?;
        Ok::<_, sync_core::store::StoreError>(run.id)
    }
    .await;
    let _ = store.release_lease(&lease).await;
    let run_id = done.map_err(store_err)?;
    if json_out {
        print_json(&json!({"ok": true, "flow": flow, "run_id": run_id.to_string(), "done": what}));
    } else {
        outln!("flow {flow}: done: {what} (run {run_id}, in the audit trail)");
    }
    Ok(Exit::Ok)
}
