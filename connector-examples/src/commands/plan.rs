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

use futures::TryStreamExt;
use rust_decimal::Decimal;
use serde_json::json;
use sync_core::key::{KeyMatch, NaturalKey, match_existing};
use sync_core::mapping::{JournalDocument, MappedJournals, RecordChange};
use sync_core::post::{AcumaticaJournals, ForeignJournal, LookerQuerySource, foreign_journals};
use sync_core::reference::ReferencePlan;
use sync_core::store::LedgerFilter;
use sync_core::store::StateStore;
use sync_core::traits::{DocumentSink, RecordSource};
use sync_core::validate::{DocumentStatus, ValidationReport, validate};

use crate::cli::{FlowArg, GlobalArgs};
use crate::commands::Context;
use crate::commands::flows::{from_sync, open_store, reference_builder};
use crate::commands::signout::Sessions;
use crate::config::{FlowConfig, FlowKind, PostFlow};
use crate::connect;
use crate::exit::{CliError, CliResult, Exit};
use crate::output::{Align, Table, print_json};
use crate::progress::Progress;

/// What a journal would do if the flow ran now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanState {
    /// Valid and not in Acumatica yet: it would be created.
    WouldPost,
    /// Acumatica already holds it (same natural key): it would not be posted again.
    AlreadyPosted {
        /// The batch number.
        batch: String,
    },
    /// Acumatica holds this period and branch with other content: the flow's
    /// `changed_content` policy decides; nothing is posted twice.
    ChangedContent {
        /// The batch posted earlier.
        batch: String,
    },
    /// It has validation problems and would not be posted.
    Invalid {
        /// How many problems.
        issues: usize,
    },
    /// Valid, but held back because other journals have problems (all-or-nothing policy).
    Withheld,
}

impl PlanState {
    /// A short label.
    pub fn label(&self) -> String {
        match self {
            PlanState::WouldPost => "would post".into(),
            PlanState::AlreadyPosted { batch } => format!("already posted as batch {batch}"),
            PlanState::ChangedContent { batch } => {
                format!("posted before as batch {batch} with other amounts (changed content)")
            }
            PlanState::Invalid { issues } => format!("invalid ({issues} problem(s))"),
            PlanState::Withheld => "withheld (other journals have problems)".into(),
        }
    }
}

/// One journal of a plan.
#[derive(Debug, Clone)]
pub struct PlannedJournal {
    /// The journal.
    pub document: JournalDocument,
    /// Its natural key.
    pub key: NaturalKey,
    /// What would happen to it.
    pub state: PlanState,
}

/// The dry run of one post flow.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The flow.
    pub flow: String,
    /// Rows Looker returned.
    pub rows_read: usize,
    /// The journals.
    pub journals: Vec<PlannedJournal>,
    /// Every validation problem.
    pub report: ValidationReport,
    /// Journals of this connector Acumatica holds for the periods and branches of this plan
    /// under partitions the flow does not produce (a renamed flow without `key_namespace`, a
    /// renamed `group_by` value), minus those known to belong to other configured flows.
    pub foreign: Vec<ForeignJournal>,
}

impl Plan {
    /// How many journals would be posted.
    pub fn would_post(&self) -> usize {
        self.journals
            .iter()
            .filter(|j| j.state == PlanState::WouldPost)
            .count()
    }
}

/// Reads the flow's rows from Looker (validating the fields against the explore first).
pub async fn read_rows(
    looker: &looker_client::Client,
    flow: &FlowConfig,
    post: &PostFlow,
    bars: bool,
) -> CliResult<Vec<sync_core::mapping::Row>> {
    let ctx = format!(
        "flow `{}`: Looker {}::{}",
        flow.name, post.query.model, post.query.explore
    );
    looker
        .validate(&post.write_query())
        .await
        .map_err(|e| CliError::from_looker(&ctx, &e))?;
    let source = LookerQuerySource::new(looker.clone(), &post.query, &post.mapping)
        .map_err(|e| from_sync(&ctx, &e))?;
    let mut pages = source.pages(None).await.map_err(|e| from_sync(&ctx, &e))?;
    let mut progress = Progress::new(format!("rows from {}", source.describe()), None, bars);
    let mut rows = Vec::new();
    while let Some(page) = pages.try_next().await.map_err(|e| from_sync(&ctx, &e))? {
        progress.inc(page.len() as u64);
        rows.extend(page);
    }
    progress.finish();
    Ok(rows)
}

/// Plans one post flow: query, map, validate, look up; writes nothing.
pub async fn plan_flow(
    looker: &looker_client::Client,
    acumatica: &acumatica_client::Client,
    flow: &FlowConfig,
    bars: bool,
) -> CliResult<Plan> {
    let post = flow.post().ok_or_else(|| {
        CliError::usage(format!(
            "flow `{}` is a {} flow; plan shows post and reference flows",
            flow.name,
            flow.kind()
        ))
    })?;
    let rows = read_rows(looker, flow, post, bars).await?;
    let mapped: MappedJournals = post
        .mapping
        .map_rows(&rows)
        .map_err(|e| CliError::validation(format!("flow `{}`: mapping: {e}", flow.name)))?;
    let sink = AcumaticaJournals::new(acumatica.clone());
    let reference = sink.reference_data().await.map_err(|e| {
        from_sync(
            &format!("flow `{}`: Acumatica reference data", flow.name),
            &e,
        )
    })?;
    let report = validate(&mapped, &reference, post.options.validation);
    let keys: Vec<NaturalKey> = mapped
        .documents
        .iter()
        .map(NaturalKey::for_document)
        .collect();
    let mut existing = Vec::new();
    for chunk in keys.chunks(post.options.lookup_page_size.max(1)) {
        let partitions: Vec<_> = chunk.iter().map(|k| k.partition().clone()).collect();
        existing.extend(sink.find(&partitions).await.map_err(|e| {
            from_sync(
                &format!("flow `{}`: looking up posted journals", flow.name),
                &e,
            )
        })?);
    }
    let journals = mapped
        .documents
        .iter()
        .zip(keys)
        .enumerate()
        .map(|(i, (doc, key))| {
            let verdict = report
                .documents
                .iter()
                .find(|v| v.index == i)
                .map(|v| v.status);
            // What is in effect: postings minus reversals of the partition.
            let (same, other) =
                match match_existing(&key, existing.iter().map(|e| (e.description.as_str(), e))) {
                    KeyMatch::Posted(e) => (Some(e), None),
                    KeyMatch::ChangedContent { posted } => (None, posted.first().map(|(_, e)| *e)),
                    KeyMatch::Absent => (None, None),
                };
            let state = match (verdict, same, other) {
                (_, Some(e), _) => PlanState::AlreadyPosted {
                    batch: e.number.clone(),
                },
                (Some(DocumentStatus::Invalid { issues }), _, _) => PlanState::Invalid { issues },
                (_, _, Some(e)) => PlanState::ChangedContent {
                    batch: e.number.clone(),
                },
                (Some(DocumentStatus::Withheld), _, _) => PlanState::Withheld,
                _ => PlanState::WouldPost,
            };
            PlannedJournal {
                document: doc.clone(),
                key,
                state,
            }
        })
        .collect();
    let foreign = foreign_journals(&sink, &mapped.documents, &BTreeSet::new())
        .await
        .map_err(|e| {
            from_sync(
                &format!("flow `{}`: listing the period's journals", flow.name),
                &e,
            )
        })?
        .unwrap_or_default();
    Ok(Plan {
        flow: flow.name.clone(),
        rows_read: rows.len(),
        journals,
        report,
        foreign,
    })
}

fn money(d: Decimal) -> String {
    if d.is_zero() {
        String::new()
    } else {
        format!("{d:.2}")
    }
}

/// The plan as text: a table per journal with totals and natural key, then the problems.
pub fn render(plan: &Plan) -> String {
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
            j.state.label(),
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
        for issue in &plan.report.issues {
            out.push_str(&format!("  - {issue}\n"));
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
pub fn to_json(plan: &Plan) -> serde_json::Value {
    json!({
        "flow": plan.flow,
        "rows_read": plan.rows_read,
        "would_post": plan.would_post(),
        "journals": plan.journals.iter().map(|j| json!({
            "natural_key": j.key.to_string(),
            "state": j.state.label(),
            "document": j.document,
            "total_debit": j.document.total_debit(),
            "total_credit": j.document.total_credit(),
            "balanced": j.document.is_balanced(),
        })).collect::<Vec<_>>(),
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
    // Read-only: a SQLite store that does not exist yet is not created (no key map then).
    let store = if flows.iter().any(|f| f.reference().is_some()) {
        open_store(&ctx.config.store, false).await?
    } else {
        None
    };
    for flow in flows {
        if flow.reference().is_some() {
            let plan = plan_reference(&looker, &acumatica, flow, store.clone()).await?;
            if ctx.json {
                plans.push(reference_to_json(&plan));
            } else {
                print!("{}", render_reference(&plan));
            }
            continue;
        }
        let mut plan = plan_flow(&looker, &acumatica, flow, ctx.bars).await?;
        if !plan.foreign.is_empty() {
            let known = other_flows_partitions(ctx, flow).await?;
            plan.foreign.retain(|j| !known.contains(&j.partition));
        }
        if !plan.report.is_clean() {
            exit = exit.worst(Exit::Validation);
        }
        if !ctx.json {
            print!("{}", render(&plan));
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
