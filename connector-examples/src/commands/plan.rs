//! `ml-connector plan`: a dry run that writes nothing.
//!
//! Runs the flow's Looker query, maps the rows, validates the journals against Acumatica's
//! reference data, looks their natural keys up in Acumatica (read-only), and prints each
//! journal that would be posted: lines, totals and natural key.
//!
//! For a reference flow it runs sync-core's `ReferenceFlow::plan` (the run's own read, mapping,
//! lookup and diff, without the writes) and prints per key whether the record would be
//! created, updated (which fields, with their current and new values) or left unchanged.

use std::collections::BTreeSet;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde_json::json;
use sync_core::mapping::RecordChange;
use sync_core::post::{AcumaticaJournals, LookerQuerySource, PostFlow, PostPlan};
use sync_core::reference::ReferencePlan;
use sync_core::store::LedgerFilter;
use sync_core::store::StateStore;

use crate::cli::{FlowArg, GlobalArgs};
use crate::commands::Context;
use crate::commands::flows::{from_sync, open_store, reference_builder};
use crate::commands::signout::Sessions;
use crate::config::{FlowConfig, FlowKind};
use crate::connect;
use crate::exit::{CliError, CliResult, Exit};
use crate::output::{Align, Table, print_json};
use crate::progress::FlowProgress;

/// Plans one post flow with sync-core's [`PostFlow::plan`]: the run's own read, mapping,
/// validation and lookup phase (the ledger of `store` when there is one, then one lookup
/// request per page of the other keys), writing nothing. Progress goes to stderr as a run's
/// does (bars when `bars`, else log lines).
pub async fn plan_flow(
    looker: &looker_client::Client,
    acumatica: &acumatica_client::Client,
    flow: &FlowConfig,
    store: Option<Arc<dyn StateStore>>,
    bars: bool,
) -> CliResult<PostPlan> {
    let post = flow.post().ok_or_else(|| {
        CliError::usage(format!(
            "flow `{}` is a {} flow; plan shows post and reference flows",
            flow.name,
            flow.kind()
        ))
    })?;
    let ctx = format!(
        "flow `{}`: Looker {}::{}",
        flow.name, post.query.model, post.query.explore
    );
    let source = LookerQuerySource::new(looker.clone(), &post.query, &post.mapping)
        .map_err(|e| from_sync(&ctx, &e))?;
    let progress = Arc::new(FlowProgress::new(flow.name.clone(), bars));
    let mut builder = PostFlow::builder(post.mapping.clone())
        .source(source)
        .sink(AcumaticaJournals::new(acumatica.clone()))
        .options(post.options.clone())
        .progress(progress.clone());
    if let Some(store) = store {
        builder = builder.store(store);
    }
    let plan = builder.plan().await;
    progress.finish();
    plan.map_err(|e| from_sync(&format!("flow `{}`", flow.name), &e))
}

fn money(d: Decimal) -> String {
    if d.is_zero() {
        String::new()
    } else {
        format!("{d:.2}")
    }
}

/// The plan as text: a table per journal with totals and natural key, then the problems.
pub fn render(plan: &PostPlan) -> String {
    let mut out = String::new();
    let n = plan.journals.len();
    out.push_str(&format!(
        "Flow {}: {} row(s) from Looker, {n} journal(s)\n",
        plan.flow, plan.rows_read
    ));
    for (i, j) in plan.journals.iter().enumerate() {
        let d = &j.document;
        out.push_str(&format!(
            "\nJournal {}/{n}: {}  [{}]\n  branch {}, ledger {}, period {}, date {}\n  natural key {}\n",
            i + 1,
            d.description,
            j.state,
            d.branch,
            d.ledger,
            d.period.mmyyyy(),
            d.transaction_date.map_or_else(|| "-".into(), |t| t.to_string()),
            j.key
        ));
        let mut t = Table::new([
            "Row",
            "Account",
            "Subaccount",
            "Branch",
            "Debit",
            "Credit",
            "Description",
        ])
        .align(0, Align::Right)
        .align(4, Align::Right)
        .align(5, Align::Right);
        for l in &d.lines {
            t.row([
                l.row.to_string(),
                l.account.clone(),
                l.subaccount.clone().unwrap_or_default(),
                l.branch.clone(),
                money(l.debit),
                money(l.credit),
                l.description.clone().unwrap_or_default(),
            ]);
        }
        t.rule();
        let balance = if d.is_balanced() {
            "balanced"
        } else {
            "NOT BALANCED"
        };
        t.row([
            String::new(),
            "Total".into(),
            String::new(),
            String::new(),
            format!("{:.2}", d.total_debit()),
            format!("{:.2}", d.total_credit()),
            balance.into(),
        ]);
        for line in t.render().lines() {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
    }
    if !plan.report.is_clean() {
        out.push_str(&format!(
            "\n{} problem(s) found; nothing invalid is ever posted:\n",
            plan.report.issues.len()
        ));
        for line in crate::output::problem_lines(&plan.report.issues) {
            out.push_str(&format!("  - {line}\n"));
        }
    }
    if !plan.foreign.is_empty() {
        out.push_str(&format!(
            "\n!!! WARNING: Acumatica already holds {} journal(s) of this connector for the same \
             period and branch under partitions flow {} does not produce:\n",
            plan.foreign.len(),
            plan.flow
        ));
        for j in &plan.foreign {
            out.push_str(&format!("!!!   {j}\n"));
        }
        out.push_str(
            "!!! Posting would add journals beside them. If the flow was renamed, set \
             key_namespace = \"<old name>\" in its mapping; if a group_by value was renamed, \
             group by a stable id. A run refuses this when post.foreign_journals = \"refuse\".\n",
        );
    }
    out.push_str(&format!(
        "\nPlan: {} of {n} journal(s) would be posted. Nothing was written.\n",
        plan.would_post()
    ));
    out
}

/// The plan as JSON.
pub fn to_json(plan: &PostPlan) -> serde_json::Value {
    json!({
        "flow": plan.flow,
        "rows_read": plan.rows_read,
        "would_post": plan.would_post(),
        "kind": "post",
        "journals": plan.journals.iter().map(|j| crate::commands::run::with_state(&j.state, json!({
            "natural_key": j.key.to_string(),
            "summary": j.state.to_string(),
            "document": j.document,
            "total_debit": j.document.total_debit(),
            "total_credit": j.document.total_credit(),
            "balanced": j.document.is_balanced(),
        }))).collect::<Vec<_>>(),
        "problems": plan.report.issues.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "foreign_journals": plan.foreign,
    })
}

/// Plans one reference flow with sync-core's [`ReferenceFlowBuilder::plan`]: reads Looker,
/// maps, looks the keys up in Acumatica and diffs; takes no lease and writes nothing, not even
/// the state store. With the `store` (when it exists), keys Acumatica assigned itself on
/// earlier runs (the flow's key map, `server_keys = "map"`) are looked up under the saved key
/// and shown.
///
/// [`ReferenceFlowBuilder::plan`]: sync_core::reference::ReferenceFlowBuilder::plan
pub async fn plan_reference(
    looker: &looker_client::Client,
    acumatica: &acumatica_client::Client,
    flow: &FlowConfig,
    store: Option<Arc<dyn StateStore>>,
) -> CliResult<ReferencePlan> {
    let mut builder = reference_builder(flow, looker.clone(), acumatica.clone())?;
    if let Some(store) = store {
        builder = builder.store(store);
    }
    builder
        .plan()
        .await
        .map_err(|e| from_sync(&format!("flow `{}`", flow.name), &e))
}

/// A value as the plan shows it: text in backticks, `(empty)` for none.
fn shown(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "(empty)".into(),
        serde_json::Value::String(s) => format!("`{s}`"),
        other => other.to_string(),
    }
}

/// A reference plan as text: one line per key with what would happen and the fields sent,
/// then for each update the changed fields' current and new values.
///
/// ```
/// use std::collections::BTreeMap;
/// use connector_examples::commands::plan::render_reference;
/// use sync_core::mapping::{FieldChange, FieldValue, RecordChange};
/// use sync_core::reference::{PlannedRecord, ReferencePlan};
///
/// let change = RecordChange::Update(BTreeMap::from([("Terms".to_owned(), FieldChange {
///     current: serde_json::json!("15D"),
///     wanted: FieldValue::Text("30D".into()),
/// })]));
/// let plan = ReferencePlan {
///     flow: "approved_vendors".into(), entity: "Vendor".into(), rows_read: 1,
///     lookup_requests: 1, refused_keys: vec![],
///     records: vec![
///         PlannedRecord { key: "V000001".into(), row: 1, change, saved_key: None },
///         PlannedRecord { key: "123".into(), row: 2, change: RecordChange::Unchanged,
///             saved_key: Some("C1165".into()) },
///     ],
/// };
/// let text = render_reference(&plan);
/// assert!(text.contains("V000001") && text.contains("would update"));
/// assert!(text.contains("123 (Acumatica C1165)"), "{text}");
/// assert!(text.contains("Terms: `15D` -> `30D`"));
/// assert!(text.contains("Nothing was written."));
/// ```
pub fn render_reference(plan: &ReferencePlan) -> String {
    let mut out = format!(
        "Flow {}: {} row(s) from Looker, {} {} record(s)\n",
        plan.flow,
        plan.rows_read,
        plan.records.len(),
        plan.entity
    );
    let mut t = Table::new(["Key", "Row", "Would", "Fields"]).align(1, Align::Right);
    for r in &plan.records {
        t.row([
            match &r.saved_key {
                Some(saved) => format!("{} (Acumatica {saved})", r.key),
                None => r.key.clone(),
            },
            r.row.to_string(),
            match r.action() {
                "unchanged" => "leave unchanged".to_owned(),
                a => format!("would {a}"),
            },
            r.fields().join(", "),
        ]);
    }
    if !t.is_empty() {
        for line in t.render().lines() {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
    }
    let mut changes = String::new();
    for r in &plan.records {
        if let RecordChange::Update(fields) = &r.change {
            for (name, c) in fields {
                changes.push_str(&format!(
                    "  {} {name}: {} -> {}\n",
                    r.key,
                    shown(&c.current),
                    shown(&c.wanted.to_json())
                ));
            }
        }
    }
    if !changes.is_empty() {
        out.push_str("\nChanged fields (current -> new):\n");
        out.push_str(&changes);
    }
    let mapped = plan
        .records
        .iter()
        .filter(|r| r.saved_key.is_some())
        .count();
    if mapped > 0 {
        out.push_str(&format!(
            "\n{mapped} key(s) are kept by Acumatica under a number it assigned (the flow's key map): shown as `key (Acumatica saved key)`; they are looked up and updated under that key.\n"
        ));
    }
    if !plan.refused_keys.is_empty() {
        let list: Vec<String> = plan
            .refused_keys
            .iter()
            .map(|(k, saved)| format!("{k} (saved as {saved})"))
            .collect();
        out.push_str(&format!(
            "\nA run would stop before writing: an earlier run created {} under a key Acumatica numbered itself, and this flow refuses such keys (server_keys = \"refuse\"). Give the record(s) the source key or delete them in Acumatica, or set server_keys = \"map\".\n",
            list.join(", ")
        ));
    }
    out.push_str(&format!(
        "\nPlan: {} to create, {} to update, {} unchanged. Nothing was written.\n",
        plan.count("create"),
        plan.count("update"),
        plan.count("unchanged")
    ));
    out
}

/// A reference plan as JSON: per key the action, the field names and, for updates, each
/// changed field's current and new value.
pub fn reference_to_json(plan: &ReferencePlan) -> serde_json::Value {
    json!({
        "flow": plan.flow,
        "kind": "reference",
        "entity": plan.entity,
        "rows_read": plan.rows_read,
        "lookup_requests": plan.lookup_requests,
        "would_create": plan.count("create"),
        "would_update": plan.count("update"),
        "unchanged": plan.count("unchanged"),
        "refused_keys": plan.refused_keys.iter().map(|(k, saved)| json!({"key": k, "saved_key": saved})).collect::<Vec<_>>(),
        "records": plan.records.iter().map(|r| {
            let mut v = json!({
                "key": r.key,
                "row": r.row,
                // The run's vocabulary: `created` / `updated` / `unchanged` once it ran.
                "state": match r.action() {
                    "create" => "would_create",
                    "update" => "would_update",
                    other => other,
                },
                "action": r.action(),
                "fields": r.fields(),
            });
            if let Some(saved) = &r.saved_key {
                v["saved_key"] = json!(saved);
            }
            if let RecordChange::Update(fields) = &r.change {
                v["changes"] = fields
                    .iter()
                    .map(|(k, c)| (k.clone(), json!({"current": c.current, "new": c.wanted.to_json()})))
                    .collect::<serde_json::Map<_, _>>()
                    .into();
            }
            v
        }).collect::<Vec<_>>(),
    })
}

/// The partition hashes the other configured post flows posted under (from the state store's
/// ledgers), so their journals are not reported as foreign.
async fn other_flows_partitions(ctx: &Context, this: &FlowConfig) -> CliResult<BTreeSet<String>> {
    let mut known = BTreeSet::new();
    let Some(store) = open_store(&ctx.config.store, false).await? else {
        return Ok(known);
    };
    for f in &ctx.config.flows {
        if f.name == this.name || f.post().is_none() {
            continue;
        }
        let entries = store
            .ledger_entries(&f.name, &LedgerFilter::default())
            .await
            .map_err(|e| CliError::failed(format!("state store: {e}")))?;
        for e in entries {
            if let Some((p, _)) = e.natural_key.split_once('-') {
                known.insert(p.to_owned());
            }
        }
    }
    Ok(known)
}

/// Runs `plan`; signs out of Looker and Acumatica when it is done, also when it failed.
pub async fn run(global: &GlobalArgs, args: &FlowArg) -> Result<Exit, CliError> {
    let ctx = Context::load(global)?;
    let sessions = Sessions::new();
    sessions.signing_out(plan(&ctx, args, &sessions)).await
}

async fn plan(ctx: &Context, args: &FlowArg, sessions: &Sessions) -> Result<Exit, CliError> {
    let flows: Vec<&FlowConfig> = ctx
        .config
        .select(args.flow.as_deref())?
        .into_iter()
        .filter(|f| args.flow.is_some() || f.kind() != FlowKind::Feed)
        .collect();
    if flows.is_empty() {
        return Err(CliError::usage(format!(
            "no post or reference flow is configured ({}); plan shows what they would write",
            ctx.config.describe_source()
        )));
    }
    let (looker, acumatica) = connect::clients(&ctx.config, &ctx.secrets).await?;
    sessions.track_looker(&looker);
    sessions.track_acumatica(&acumatica);
    let mut exit = Exit::Ok;
    let mut plans = Vec::new();
    // Read-only: a SQLite store that does not exist yet is not created (no ledger, no key map
    // then).
    let store = open_store(&ctx.config.store, false).await?;
    for flow in flows {
        if flow.reference().is_some() {
            let plan = plan_reference(&looker, &acumatica, flow, store.clone()).await?;
            if ctx.json {
                plans.push(reference_to_json(&plan));
            } else {
                crate::output::emit(&render_reference(&plan));
            }
            continue;
        }
        let mut plan = plan_flow(&looker, &acumatica, flow, store.clone(), ctx.bars).await?;
        if !plan.foreign.is_empty() {
            let known = other_flows_partitions(ctx, flow).await?;
            plan.foreign.retain(|j| !known.contains(&j.partition));
        }
        if !plan.report.is_clean() {
            exit = exit.worst(Exit::Validation);
        }
        if !ctx.json {
            crate::output::emit(&render(&plan));
        }
        plans.push(to_json(&plan));
    }
    if ctx.json {
        print_json(&json!({
            "ok": exit == Exit::Ok,
            "exit_code": exit.code(),
            "plans": plans,
        }));
    }
    Ok(exit)
}
