//! `ml-connector run`: run the flows once (`--once`) or as a daemon on their cron cadences.
//!
//! While a flow runs, its progress goes to stderr ([`FlowProgress`]): bars on a terminal, else
//! log lines (one per page of rows or records, per journal or reference record, per batch of
//! reference keys looked up, per feed window, and one per flow at the end). The result goes to
//! stdout when the flow ends: a table, or with `--json` one JSON document, the same with or
//! without progress.

use crate::output::outln;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;
use sync_core::feed::FeedSummary;
use sync_core::post::{DocumentState, RunSummary};
use sync_core::reference::{RecordOutcome, ReferenceSummary};
use sync_core::schedule::{FlowSchedule, Runner, RunnerEvent};
use sync_core::store::{RunStatus, StateStore};

use sync_core::runtime::close_interrupted;
use tokio::sync::watch;

use crate::cli::{GlobalArgs, RunArgs};
use crate::commands::Context;
use crate::commands::flows::{BuiltFlow, build_flow, from_sync, open_store_with};
use crate::commands::signout::{SIGN_OUT_TIMEOUT, Sessions};
use crate::config::FlowConfig;
use crate::exit::{CliError, Exit};
use crate::monitor::Monitor;
use crate::output::{Table, print_json};
use crate::progress::FlowProgress;
use crate::stop::{Cut, Signal, Stop};

/// The prefix of the schedule's own lease names: the runner leases `schedule:<flow>` while
/// the flow itself leases `<flow>` for its run, so the two never fence each other out.
pub const SCHEDULE_LEASE_PREFIX: &str = "schedule:";

/// The exit code a post run summary stands for: 4 for validation problems; 5 when a create
/// may still be queued in Acumatica (its outcome is not known yet: run again after
/// [`RunSummary::settles_after`]); 1 for other failures.
pub fn summary_exit(summary: &RunSummary) -> Exit {
    match summary.status {
        RunStatus::Succeeded => Exit::Ok,
        _ if summary.validation.as_ref().is_some_and(|r| !r.is_clean()) => Exit::Validation,
        _ if summary.settles_after().is_some() => Exit::Unreachable,
        _ => Exit::Failed,
    }
}

/// What happened to a document, in words (the `Result` column of a run's table, and the
/// progress line of each document).
///
/// ```
/// use connector_examples::commands::run::document_outcome;
/// use sync_core::post::DocumentState;
///
/// let posted = DocumentState::Posted { batch: "000123".into() };
/// assert_eq!(document_outcome(&posted), "posted as batch 000123");
/// ```
pub fn document_outcome(state: &DocumentState) -> String {
    match state {
        DocumentState::Posted { batch } => format!("posted as batch {batch}"),
        DocumentState::AlreadyPosted { batch } => match batch {
            Some(b) => format!("already posted (batch {b}); not posted again"),
            None => "already posted; not posted again".into(),
        },
        DocumentState::Skipped { reason } => format!("skipped: {reason}"),
        DocumentState::Invalid { issues } => {
            format!("not posted: {issues} validation problem(s)")
        }
        DocumentState::Withheld { reason } => format!("withheld: {reason}"),
        DocumentState::Failed { error } => {
            format!("FAILED (dead-lettered for replay): {error}")
        }
        DocumentState::Pending { error } => {
            format!(
                "PENDING (not known yet whether Acumatica applied it; a later run settles it): {error}"
            )
        }
    }
}

/// A post run summary as text: one line per document, then the counts.
pub fn render_summary(summary: &RunSummary) -> String {
    let mut out = String::new();
    let mut t = Table::new(["Journal", "Natural key", "Result"]);
    for d in &summary.documents {
        t.row([
            d.partition.clone(),
            d.natural_key.clone(),
            document_outcome(&d.state),
        ]);
    }
    if !t.is_empty() {
        out.push_str(&t.render());
    }
    if let Some(report) = summary.validation.as_ref().filter(|r| !r.is_clean()) {
        out.push_str(&format!("{} validation problem(s):\n", report.issues.len()));
        for line in crate::output::problem_lines(&report.issues) {
            out.push_str(&format!("  - {line}\n"));
        }
    }
    for w in &summary.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out.push_str(&format!("{summary}\n"));
    if let Some(t) = summary.settles_after() {
        out.push_str(&format!(
            "{} journal(s) may still be applied by Acumatica (a write it may hold in its licence queue for up to ten minutes); nothing else is posted for them until then. Run the flow again after {} to settle them.\n",
            summary.counts.in_flight,
            t.format("%Y-%m-%d %H:%M:%S UTC")
        ));
    }
    out
}

/// A post run summary as JSON.
pub fn summary_json(summary: &RunSummary) -> serde_json::Value {
    let c = &summary.counts;
    json!({
        "flow": summary.flow,
        "kind": "post",
        "run_id": summary.run_id.to_string(),
        "status": summary.status.to_string(),
        "counts": {
            "rows_read": c.rows_read,
            "documents_mapped": c.documents_mapped,
            "documents_posted": c.documents_posted,
            "duplicates_skipped": c.duplicates_skipped,
            "invalid": c.invalid,
            "failed": c.failed,
            "pending": c.pending,
            "in_flight": c.in_flight,
            "withheld": c.withheld,
            "released": c.released,
        },
        "settles_after": summary.settles_after().map(|t| t.to_rfc3339()),
        "posted_batches": summary.posted_batches(),
        "documents": summary.documents.iter().map(|d| with_state(&d.state, json!({
            "partition": d.partition,
            "natural_key": d.natural_key,
        }))).collect::<Vec<_>>(),
        "problems": summary.validation.as_ref().map(|r| r.issues.iter().map(ToString::to_string).collect::<Vec<_>>()).unwrap_or_default(),
        "warnings": summary.warnings,
    })
}

/// `fields` with a document's state merged in: its snake_case `state` tag and the state's
/// own fields (`{"state": "posted", "batch": "000061", ...}`), the one shape `run`, `replay`
/// and `plan` print a journal's state in.
pub fn with_state(state: &impl serde::Serialize, fields: serde_json::Value) -> serde_json::Value {
    let mut out = match serde_json::to_value(state) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    if let serde_json::Value::Object(f) = fields {
        for (k, v) in f {
            out.entry(k).or_insert(v);
        }
    }
    out.into()
}

/// A due time's outcome as the daemon's JSON lines print it: a snake_case `outcome` tag, with
/// `error` when the run failed or the state store did.
pub fn due_outcome_json(outcome: &sync_core::schedule::RunOutcome) -> serde_json::Value {
    use sync_core::schedule::RunOutcome as O;
    match outcome {
        O::Completed => json!({"outcome": "completed"}),
        O::Failed(e) => json!({"outcome": "failed", "error": e}),
        O::LeaseLost => json!({"outcome": "lease_lost"}),
        O::HeldElsewhere => json!({"outcome": "held_elsewhere"}),
        O::AlreadyRan => json!({"outcome": "already_ran"}),
        O::MissedSkipped => json!({"outcome": "missed_skipped"}),
        O::NotStarted => json!({"outcome": "not_started"}),
        O::StoreError(e) => json!({"outcome": "store_error", "error": e}),
    }
}

/// A flow built for `run`, with the clients it signs in with (its own: each flow has its
/// clients).
struct ReadyFlow {
    flow: BuiltFlow,
    sessions: Sessions,
    store: Arc<dyn StateStore>,
}

impl ReadyFlow {
    /// Runs the flow once, then signs its clients out, so a run of several flows holds one
    /// flow's Acumatica session at a time (a licence may allow as few as two API users) and a
    /// daemon holds none between due times; the clients sign in again at the next run.
    async fn run_once(
        &self,
        name: &str,
        progress: Arc<FlowProgress>,
        shutdown: Option<watch::Receiver<bool>>,
    ) -> (Exit, String, serde_json::Value) {
        self.sessions
            .signing_out(run_once(
                name,
                &self.flow,
                Some(progress),
                shutdown,
                &self.store,
            ))
            .await
    }
}

/// Builds every selected flow up front, so configuration and credential problems show at
/// start-up rather than at the first due time; their clients also go into `sessions`, the
/// command's, signed out when it ends whatever happened.
async fn build_flows(
    ctx: &Context,
    flows: &[&FlowConfig],
    store: &Arc<dyn StateStore>,
    sessions: &Sessions,
) -> Result<HashMap<String, ReadyFlow>, CliError> {
    let mut built = HashMap::new();
    for f in flows {
        let own = Sessions::new();
        let flow = build_flow(ctx, f, store.clone(), &own).await;
        sessions.track_all(&own);
        built.insert(
            f.name.clone(),
            ReadyFlow {
                flow: flow?,
                sessions: own,
                store: store.clone(),
            },
        );
    }
    Ok(built)
}

/// The exit code a feed run summary stands for.
pub fn feed_exit(summary: &FeedSummary) -> Exit {
    if summary.status == RunStatus::Succeeded {
        Exit::Ok
    } else {
        Exit::Failed
    }
}

/// A feed run summary as text: one line per entity window.
pub fn render_feed_summary(summary: &FeedSummary) -> String {
    let mut t = Table::new([
        "Entity",
        "Window from",
        "Up to (mark)",
        "Read",
        "Written",
        "Stale",
        "Lines",
        "Deleted",
        "Mark",
    ]);
    for w in &summary.entities {
        t.row([
            w.entity.clone(),
            w.since
                .map_or_else(|| "(everything)".into(), |s| s.to_rfc3339()),
            w.signpost.to_rfc3339(),
            w.records_read.to_string(),
            w.written.to_string(),
            w.stale.to_string(),
            w.detail_lines.to_string(),
            match &w.delete_scan {
                Some(s) => format!(
                    "{} ({} checked, {} still present)",
                    s.deleted, s.candidates, s.verified_present
                ),
                None if w.full_refresh => "-".into(),
                None => "(no scan due)".into(),
            },
            match (&w.error, w.mark_advanced) {
                (Some(e), true) => format!("advanced (then failed: {e})"),
                (Some(e), false) => format!("kept (failed: {e})"),
                (None, true) => "advanced".into(),
                (None, false) => "kept".into(),
            },
        ]);
    }
    format!("{}{summary}\n", t.render())
}

/// A feed run summary as JSON.
pub fn feed_json(summary: &FeedSummary) -> serde_json::Value {
    json!({
        "flow": summary.flow,
        "kind": "feed",
        "run_id": summary.run_id.to_string(),
        "status": summary.status.to_string(),
        "entities": summary.entities.iter().map(|w| json!({
            "entity": w.entity,
            "since": w.since.map(|s| s.to_rfc3339()),
            "signpost": w.signpost.to_rfc3339(),
            "records_read": w.records_read,
            "written": w.written,
            "stale": w.stale,
            "detail_lines": w.detail_lines,
            "mark_advanced": w.mark_advanced,
            "full_refresh": w.full_refresh,
            "delete_scan": w.delete_scan.as_ref().map(|s| json!({
                "listed": s.listed,
                "candidates": s.candidates,
                "verified_present": s.verified_present,
                "deleted": s.deleted,
                "undeleted": s.undeleted,
                "purged": s.purged,
            })),
            "error": w.error,
        })).collect::<Vec<_>>(),
    })
}

/// The exit code a reference run summary stands for: 0 when every record is in step, 1 when
/// some were refused (dead-lettered) or their write failed, as a post run with failed journals.
pub fn reference_exit(summary: &ReferenceSummary) -> Exit {
    if summary.status == RunStatus::Succeeded {
        Exit::Ok
    } else {
        Exit::Failed
    }
}

/// What happened to a reference record, in words (the `Result` column of a run's table): the
/// names of the fields sent, never their values.
///
/// ```
/// use connector_examples::commands::run::record_outcome;
/// use sync_core::reference::RecordOutcome;
///
/// let updated = RecordOutcome::Updated { fields: vec!["Terms".into(), "VendorName".into()] };
/// assert_eq!(record_outcome(&updated), "updated: Terms, VendorName");
/// ```
pub fn record_outcome(outcome: &RecordOutcome) -> String {
    match outcome {
        RecordOutcome::Created { fields } => format!("created: {}", fields.join(", ")),
        RecordOutcome::Updated { fields } => format!("updated: {}", fields.join(", ")),
        RecordOutcome::Unchanged => "unchanged".into(),
        RecordOutcome::Rejected { error, dead_letter } => {
            format!("REJECTED (dead letter #{dead_letter}, retried at the next run): {error}")
        }
        RecordOutcome::Failed { error } => {
            format!("FAILED (compared again at the next run): {error}")
        }
    }
}

/// A reference run summary as text: one line per record, then the counts.
pub fn render_reference_summary(summary: &ReferenceSummary) -> String {
    let mut t = Table::new(["Key", "Row", "Result"]);
    for r in &summary.records {
        let key = match &r.saved_key {
            Some(saved) => format!("{} (Acumatica {saved})", r.key),
            None => r.key.clone(),
        };
        t.row([key, r.row.to_string(), record_outcome(&r.outcome)]);
    }
    let mut out = String::new();
    if !t.is_empty() {
        out.push_str(&t.render());
    }
    out.push_str(&format!("{summary}\n"));
    out
}

/// A reference run summary as JSON.
pub fn reference_json(summary: &ReferenceSummary) -> serde_json::Value {
    let c = &summary.counts;
    json!({
        "flow": summary.flow,
        "kind": "reference",
        "run_id": summary.run_id.to_string(),
        "status": summary.status.to_string(),
        "counts": {
            "rows_read": c.rows_read,
            "records": c.records,
            "created": c.created,
            "updated": c.updated,
            "unchanged": c.unchanged,
            "rejected": c.rejected,
            "failed": c.failed,
            "lookup_requests": c.lookup_requests,
        },
        "records": summary.records.iter().map(|r| {
            let mut v = json!({"key": r.key, "row": r.row, "state": r.outcome.as_str(), "outcome": r.outcome.as_str()});
            if let Some(saved) = &r.saved_key {
                v["saved_key"] = json!(saved);
            }
            match &r.outcome {
                RecordOutcome::Created { fields } | RecordOutcome::Updated { fields } => {
                    v["fields"] = json!(fields);
                }
                RecordOutcome::Rejected { error, dead_letter } => {
                    v["error"] = json!(error);
                    v["dead_letter"] = json!(dead_letter);
                }
                RecordOutcome::Failed { error } => v["error"] = json!(error),
                RecordOutcome::Unchanged => {}
            }
            v
        }).collect::<Vec<_>>(),
    })
}

/// Runs one built flow once, reporting its progress to `progress` when given (bars or log
/// lines on stderr, see [`FlowProgress`]); returns its exit code, its text and its JSON.
/// With `shutdown`, the flow stops between documents (records, pages) once it turns `true`:
/// the run is then recorded as interrupted with what it had done, and the result is
/// [`Exit::Interrupted`] with those counts.
pub async fn run_once(
    name: &str,
    flow: &BuiltFlow,
    progress: Option<Arc<FlowProgress>>,
    shutdown: Option<watch::Receiver<bool>>,
    store: &Arc<dyn StateStore>,
) -> (Exit, String, serde_json::Value) {
    let result = match flow {
        BuiltFlow::Post(p) => {
            let flow = match &progress {
                Some(pr) => p.clone().with_progress(pr.clone()),
                None => p.clone(),
            };
            flow.run_with_shutdown(shutdown)
                .await
                .map(|s| (summary_exit(&s), render_summary(&s), summary_json(&s)))
        }
        BuiltFlow::Feed(f) => {
            let flow = match &progress {
                Some(pr) => f.clone().with_progress(pr.clone()),
                None => f.clone(),
            };
            flow.run_with_shutdown(shutdown)
                .await
                .map(|s| (feed_exit(&s), render_feed_summary(&s), feed_json(&s)))
        }
        BuiltFlow::Reference(r) => {
            let flow = match &progress {
                Some(pr) => r.clone().with_progress(pr.clone()),
                None => r.clone(),
            };
            flow.run_with_shutdown(shutdown).await.map(|s| {
                (
                    reference_exit(&s),
                    render_reference_summary(&s),
                    reference_json(&s),
                )
            })
        }
    };
    if let Some(pr) = &progress {
        pr.finish();
    }
    match result {
        Ok(r) => r,
        Err(sync_core::Error::Cancelled { .. }) => interrupted_report(name, store).await,
        Err(e) => {
            let err = from_sync(&format!("flow `{name}`"), &e);
            let text = match &err.hint {
                Some(h) => format!("error: {}\nhint: {h}\n", err.message),
                None => format!("error: {}\n", err.message),
            };
            (
                err.exit,
                text,
                json!({ "flow": name, "error": err.message, "hint": err.hint }),
            )
        }
    }
}

/// What a flow stopped by a signal did, from its run history (the flow recorded its run as
/// interrupted with its counts): exit 6, a line of text and its JSON.
async fn interrupted_report(
    name: &str,
    store: &Arc<dyn StateStore>,
) -> (Exit, String, serde_json::Value) {
    let run = store
        .recent_runs(name, 1)
        .await
        .ok()
        .and_then(|runs| runs.into_iter().next());
    let text = match &run {
        Some(r) => format!(
            "flow `{name}` interrupted: run {} recorded as {} ({}); the next run continues where it stopped\n",
            r.id,
            r.status,
            counts_text(&r.counts)
        ),
        None => format!("flow `{name}` interrupted; the next run continues where it stopped\n"),
    };
    let value = match &run {
        Some(r) => run_record_json(name, r),
        None => json!({ "flow": name, "status": RunStatus::Interrupted.as_str() }),
    };
    (Exit::Interrupted, text, value)
}

/// A run's counts in words.
fn counts_text(c: &sync_core::store::RunCounts) -> String {
    format!(
        "{} read, {} mapped, {} written, {} skipped, {} failed",
        c.read, c.mapped, c.written, c.skipped, c.failed
    )
}

/// A run of the history as JSON (for runs recorded as interrupted).
fn run_record_json(name: &str, r: &sync_core::store::RunRecord) -> serde_json::Value {
    json!({
        "flow": name,
        "run_id": r.id.to_string(),
        "status": r.status.as_str(),
        "counts": {
            "read": r.counts.read,
            "mapped": r.counts.mapped,
            "written": r.counts.written,
            "skipped": r.counts.skipped,
            "failed": r.counts.failed,
        },
        "message": r.message,
    })
}

/// Runs `run`; signs out of Looker and Acumatica when it is done (`--once`: after the flows
/// ran; the daemon: when it stops), also when a flow failed.
///
/// The first SIGINT or SIGTERM stops it (see [`crate::stop`]): flows stop between documents,
/// record their run as interrupted and the command exits [`Exit::Interrupted`] (`--once`) or
/// 0 (the daemon). Work that has not stopped when its share of `--stop-timeout` is up (or at
/// a second signal) is cut short: the runs this process left open are recorded as
/// interrupted with the counts their audit trail shows, their leases released, and both
/// systems signed out, within the rest of the timeout.
pub async fn run(global: &GlobalArgs, args: &RunArgs) -> Result<Exit, CliError> {
    let ctx = Context::load(global)?;
    let stop = Stop::listen(args.stop_timeout());
    let flows = ctx.config.select(args.flow.as_deref())?;
    if flows.is_empty() {
        return Err(CliError::usage(format!(
            "no flows are configured ({})",
            ctx.config.describe_source()
        ))
        .with_hint("add a [[flows]] table; `ml-connector sandbox` prints a complete example"));
    }
    let store = open_store_with(&ctx.config.store, &ctx.config.store_options, true)
        .await?
        .ok_or_else(|| CliError::failed("the state store could not be opened"))?;
    let sessions = Sessions::new();
    let work = run_in(&ctx, args, &flows, &store, &sessions, &stop);
    let cut = tokio::select! {
        result = work => {
            sessions.sign_out_within(stop.cleanup_time(SIGN_OUT_TIMEOUT)).await;
            return result;
        }
        cut = stop.cut_short() => cut,
    };
    // Cut short: the flows' futures are gone; record what they left and sign out, both within
    // what is left of the stop timeout.
    let why = match cut {
        Cut::Timeout => format!(
            "still working {} s after {} (--stop-timeout {} s)",
            stop.drain_budget().as_secs_f64(),
            stop.signal().map_or("the stop signal", Signal::name),
            stop.timeout().as_secs_f64()
        ),
        Cut::Now(signal) => format!("a second {} asked to exit at once", signal.name()),
    };
    let budget = stop.cleanup_time(SIGN_OUT_TIMEOUT);
    let mut names: Vec<String> = Vec::new();
    for f in &flows {
        names.push(f.name.clone());
        names.push(format!("{SCHEDULE_LEASE_PREFIX}{}", f.name));
    }
    let closing = async {
        let mut closed = Vec::new();
        for name in &names {
            match close_interrupted(&store, name, &why).await {
                Ok(Some(run)) => closed.push((name.clone(), run)),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(flow = %name, error = %e, "could not record the interrupted run or release its lease; the lease expires by itself")
                }
            }
        }
        closed
    };
    let (closed, ()) = tokio::join!(
        async {
            tokio::time::timeout(budget, closing)
                .await
                .unwrap_or_else(|_| {
                    tracing::warn!("recording the interrupted runs took longer than {:.1} s; gave up (their leases expire by themselves)", budget.as_secs_f64());
                    Vec::new()
                })
        },
        sessions.sign_out_within(budget)
    );
    let exit = match cut {
        Cut::Timeout => Exit::Interrupted,
        Cut::Now(signal) => Exit::Signal(signal.number()),
    };
    let runs: Vec<serde_json::Value> = closed
        .iter()
        .map(|(name, run)| run_record_json(name, run))
        .collect();
    if ctx.json {
        print_json(
            &json!({ "ok": false, "exit_code": exit.code(), "interrupted": why, "runs": runs }),
        );
    } else {
        eprintln!("stopped: {why}");
        for (name, run) in &closed {
            eprintln!(
                "flow `{name}`: run {} recorded as {} ({}); a write whose answer was cut off is settled by the next run",
                run.id,
                run.status,
                counts_text(&run.counts)
            );
        }
    }
    Ok(exit)
}

async fn run_in(
    ctx: &Context,
    args: &RunArgs,
    flows: &[&FlowConfig],
    store: &Arc<dyn StateStore>,
    sessions: &Sessions,
    stop: &Stop,
) -> Result<Exit, CliError> {
    let built = build_flows(ctx, flows, store, sessions).await?;
    if args.once {
        let mut exit = Exit::Ok;
        let mut runs = Vec::new();
        for f in flows {
            if let Some(signal) = stop.signal() {
                let text = format!(
                    "flow `{}` not started: stopped by {}\n",
                    f.name,
                    signal.name()
                );
                exit = exit.worst(Exit::Interrupted);
                if ctx.json {
                    runs.push(json!({"flow": f.name, "kind": f.kind().to_string(), "status": "not_started", "problems": [text.trim_end()]}));
                } else {
                    eprint!("{text}");
                }
                continue;
            }
            let progress = Arc::new(FlowProgress::new(&f.name, ctx.bars));
            let started = chrono::Utc::now();
            let (code, text, mut value) = built[&f.name]
                .run_once(&f.name, progress, Some(stop.requested()))
                .await;
            exit = exit.worst(code);
            if ctx.json {
                complete_run_json(&mut value, f, code, store, started).await;
            }
            if !ctx.json {
                if code == Exit::Ok || value.get("error").is_none() {
                    crate::output::emit(&text);
                } else {
                    eprint!("{text}");
                }
            }
            runs.push(value);
        }
        if ctx.json {
            print_json(&json!({ "ok": exit == Exit::Ok, "exit_code": exit.code(), "runs": runs }));
        }
        return Ok(exit);
    }
    daemon(ctx, args, flows, store.clone(), built, stop).await
}

/// Completes a flow's `run --once --json` record to the documented schema: its `kind`, a
/// `problems` array (the error's message and hint when the flow failed before its run could
/// report), and the `run_id` of the run it recorded when the summary has none.
async fn complete_run_json(
    value: &mut serde_json::Value,
    flow: &FlowConfig,
    code: Exit,
    store: &Arc<dyn StateStore>,
    started: chrono::DateTime<chrono::Utc>,
) {
    value["kind"] = json!(flow.kind().to_string());
    if !value["problems"].is_array() {
        let problems: Vec<&serde_json::Value> = ["error", "hint"]
            .iter()
            .filter_map(|k| value.get(*k).filter(|v| v.is_string()))
            .collect();
        value["problems"] = json!(problems);
    }
    if code != Exit::Ok && value.get("run_id").is_none_or(serde_json::Value::is_null) {
        let run = store
            .recent_runs(&flow.name, 1)
            .await
            .ok()
            .and_then(|runs| runs.into_iter().next())
            .filter(|r| r.started_at >= started);
        value["run_id"] = json!(run.map(|r| r.id.to_string()));
        if value.get("status").is_none() {
            value["status"] = json!("failed");
        }
    }
}

/// The daemon's record of a finished run: one structured log record (`run finished`) with
/// the flow, run id, status, the run history's counts and the exit code the run stands for:
/// INFO when it succeeded, WARN when it was interrupted, ERROR otherwise (with its error).
async fn log_run_summary(
    name: &str,
    exit: Exit,
    value: &serde_json::Value,
    store: &Arc<dyn StateStore>,
    monitor: Option<&Monitor>,
) {
    let run = store
        .recent_runs(name, 1)
        .await
        .ok()
        .and_then(|runs| runs.into_iter().next());
    let run_id = run.as_ref().map(|r| r.id.to_string()).unwrap_or_default();
    let status = run.as_ref().map_or("not_started", |r| r.status.as_str());
    let c = run.as_ref().map(|r| r.counts).unwrap_or_default();
    let error = value["error"].as_str().unwrap_or_default();
    let exit_code = exit.code();
    if let Some(m) = monitor {
        m.record_run(name, status, exit, &c);
    }
    macro_rules! record {
        ($level:ident) => {
            tracing::$level!(
                flow = name,
                run_id,
                status,
                read = c.read,
                mapped = c.mapped,
                written = c.written,
                skipped = c.skipped,
                failed = c.failed,
                retries = c.retries,
                exit_code,
                error,
                "run finished"
            )
        };
    }
    match exit {
        Exit::Ok => record!(info),
        Exit::Interrupted => record!(warn),
        _ => record!(error),
    }
}

async fn daemon(
    ctx: &Context,
    args: &RunArgs,
    flows: &[&FlowConfig],
    store: Arc<dyn StateStore>,
    built: HashMap<String, ReadyFlow>,
    stop: &Stop,
) -> Result<Exit, CliError> {
    let monitor = match args.listen {
        Some(addr) => {
            let monitor = Arc::new(Monitor::new(store.clone(), flows));
            let bound = monitor.clone().serve(addr).await?;
            if !ctx.json {
                outln!("Monitoring: http://{bound}/metrics, /healthz, /readyz");
            }
            Some(monitor)
        }
        None => None,
    };
    let mut builder = Runner::builder(store);
    let mut scheduled = 0;
    for f in flows {
        let Some(cron) = &f.cron else {
            tracing::warn!(flow = %f.name, "no cron cadence configured; not scheduled (run it with --once)");
            continue;
        };
        let schedule = FlowSchedule::new(
            &format!("{SCHEDULE_LEASE_PREFIX}{}", f.name),
            cron,
            f.time_zone.name(),
        )
        .map_err(|e| CliError::usage(format!("flow `{}`: {e}", f.name)))?;
        if let Ok(next) = schedule.next_after(chrono::Utc::now()) {
            tracing::info!(flow = %f.name, cron = %cron, zone = %f.time_zone, next = %next, "scheduled");
            if !ctx.json {
                outln!("{}: `{cron}` ({}), next run {next}", f.name, f.time_zone);
            }
        }
        builder = builder.schedule(schedule);
        scheduled += 1;
    }
    if scheduled == 0 {
        return Err(CliError::usage("no selected flow has a cron cadence")
            .with_hint("set cron = \"0 6 1 * *\" on a flow, or use `run --once`"));
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<RunnerEvent>();
    let runner = builder
        .events(tx)
        .build()
        .map_err(|e| CliError::usage(format!("schedule: {e}")))?;
    let json = ctx.json;
    tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            // The runner schedules the flows under their schedule lease names.
            let flow = ev
                .flow
                .strip_prefix(SCHEDULE_LEASE_PREFIX)
                .unwrap_or(&ev.flow);
            let outcome = due_outcome_json(&ev.outcome);
            tracing::info!(flow = %flow, occurrence = %ev.occurrence, outcome = outcome["outcome"].as_str().unwrap_or_default(), "due time handled");
            if json {
                outln!(
                    "{}",
                    with_state(
                        &outcome,
                        json!({"event": "due_time", "flow": flow, "occurrence": ev.occurrence.to_rfc3339()})
                    )
                );
            }
        }
    });
    let flows = Arc::new(built);
    if !ctx.json {
        outln!("Running until Ctrl-C or SIGTERM.");
    }
    let report = runner
        .run(
            move |run| {
                let flows = flows.clone();
                let monitor = monitor.clone();
                async move {
                    let name = run
                        .flow
                        .strip_prefix(SCHEDULE_LEASE_PREFIX)
                        .unwrap_or(&run.flow)
                        .to_owned();
                    let flow = flows
                        .get(&name)
                        .ok_or_else(|| format!("flow `{name}` is not configured"))?;
                    // The runner's stop signal (shutdown, or its schedule lease lost) stops the
                    // flow between documents.
                    let (stop_tx, stop_rx) = watch::channel(false);
                    let signal = run.stop.clone();
                    let bridge = tokio::spawn(async move {
                        signal.stopped().await;
                        stop_tx.send_replace(true);
                    });
                    // Several flows may run at once here: log lines, never bars.
                    let progress = Arc::new(FlowProgress::new(&name, false));
                    let (exit, _, value) = flow.run_once(&name, progress, Some(stop_rx)).await;
                    bridge.abort();
                    log_run_summary(&name, exit, &value, &flow.store, monitor.as_deref()).await;
                    if matches!(exit, Exit::Ok | Exit::Interrupted) {
                        Ok(())
                    } else {
                        Err(format!("exit {} ({})", exit.code(), exit.name()).into())
                    }
                }
            },
            async {
                stop.first().await;
                tracing::info!("shutting down: finishing the documents in flight");
            },
        )
        .await
        .map_err(|e| CliError::failed(format!("schedule runner: {e}")))?;
    tracing::info!(?report, "schedule runner stopped");
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_core::post::{DocumentReport, PostCounts};
    use sync_core::store::RunId;

    #[test]
    fn a_write_that_may_still_be_queued_exits_5_and_says_when_to_rerun() {
        let when = chrono::DateTime::parse_from_rfc3339("2026-12-07T19:21:00Z")
            .unwrap()
            .to_utc();
        let summary = RunSummary {
            flow: "alloc".into(),
            run_id: RunId::new("r1".to_owned()),
            status: RunStatus::CompletedWithErrors,
            counts: PostCounts {
                documents_mapped: 1,
                pending: 1,
                in_flight: 1,
                settles_after: Some(when),
                ..PostCounts::default()
            },
            documents: vec![DocumentReport {
                natural_key: "0123456789abcdef-fedcba9876543210".into(),
                partition: "period=122026 branch=HQ".into(),
                state: DocumentState::Pending {
                    error: "a create sent at … may still be applied".into(),
                },
            }],
            validation: None,
            warnings: Vec::new(),
        };
        assert_eq!(summary_exit(&summary), Exit::Unreachable);
        assert_eq!(Exit::Unreachable.code(), 5);
        let text = render_summary(&summary);
        assert!(text.contains("PENDING"), "{text}");
        assert!(
            text.contains("Run the flow again after 2026-12-07 19:21:00 UTC"),
            "{text}"
        );
        assert_eq!(
            summary_json(&summary)["settles_after"],
            "2026-12-07T19:21:00+00:00"
        );
        let failed = RunSummary {
            counts: PostCounts {
                failed: 1,
                ..PostCounts::default()
            },
            ..summary
        };
        assert_eq!(summary_exit(&failed), Exit::Failed);
    }
}
