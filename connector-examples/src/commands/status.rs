//! `ml-connector status`: flows, leases, last runs, high-water marks, pending documents, dead
//! letters.

use serde_json::json;
use sync_core::feed::delete_scan_partition;
use sync_core::schedule::{FlowSchedule, SCHEDULE_PARTITION};
use sync_core::store::{LedgerFilter, RunStatus, StateStore};

use crate::cli::{GlobalArgs, StatusArgs};
use crate::commands::Context;
use crate::commands::flows::open_store_with;
use crate::commands::run::SCHEDULE_LEASE_PREFIX;
use crate::config::FlowConfig;
use crate::exit::{CliError, Exit};
use crate::output::{Paint, Table, emit_line, print_json};

fn store_err(e: impl std::fmt::Display) -> CliError {
    CliError::failed(format!("state store: {e}"))
}

async fn flow_status(
    store: Option<&dyn StateStore>,
    f: &FlowConfig,
) -> Result<serde_json::Value, CliError> {
    let next = f.cron.as_ref().and_then(|c| {
        FlowSchedule::new(&f.name, c, f.time_zone.name())
            .ok()
            .and_then(|s| s.next_after(chrono::Utc::now()).ok())
    });
    let mut v = json!({
        "flow": f.name,
        "kind": f.kind().to_string(),
        "cron": f.cron,
        "time_zone": f.time_zone.name(),
        "next_due": next.map(|n| n.to_rfc3339()),
    });
    if let Some(r) = f.reference() {
        v["entity"] = json!(r.mapping.entity);
        v["key_field"] = json!(r.mapping.key.field);
    }
    let Some(store) = store else {
        v["runs"] = json!([]);
        v["leases"] = json!([]);
        return Ok(v);
    };
    // Each flow has two leases: its own (held during a run) and its schedule's (held by the
    // daemon that fires its due times). Only currently held (or expired, unreleased) ones show.
    // The store's clock judges expiry (the database's on PostgreSQL).
    let now = store.now().await.map_err(store_err)?;
    let mut leases = Vec::new();
    for (role, name) in [
        ("run", f.name.clone()),
        ("schedule", format!("{SCHEDULE_LEASE_PREFIX}{}", f.name)),
    ] {
        if let Some(l) = store.current_lease(&name).await.map_err(store_err)? {
            let (state, words) = crate::commands::lease::describe(&l, now);
            leases.push(json!({
                "lease": name,
                "role": role,
                "owner": l.owner,
                "fence": l.fence,
                "expires_at": l.expires_at.to_rfc3339(),
                "expired": l.is_expired_at(now),
                "holder": {
                    "instance": l.instance,
                    "host": l.process.as_ref().map(|p| p.host.clone()),
                    "pid": l.process.as_ref().map(|p| p.pid),
                    "state": state,
                },
                "state": state,
                "description": words,
            }));
        }
    }
    v["leases"] = json!(leases);
    let runs = store.recent_runs(&f.name, 5).await.map_err(store_err)?;
    v["runs"] = runs
        .iter()
        .map(|r| {
            json!({
                "run_id": r.id.to_string(),
                "status": r.status.to_string(),
                "started_at": r.started_at.to_rfc3339(),
                "finished_at": r.finished_at.map(|t| t.to_rfc3339()),
                "read": r.counts.read, "mapped": r.counts.mapped, "written": r.counts.written,
                "skipped": r.counts.skipped, "failed": r.counts.failed,
                "message": r.message,
            })
        })
        .collect();
    let mark = store
        .watermark(
            &format!("{SCHEDULE_LEASE_PREFIX}{}", f.name),
            SCHEDULE_PARTITION,
        )
        .await
        .map_err(store_err)?;
    v["last_scheduled_due_time"] = json!(mark.map(|m| m.value));
    let mut marks = serde_json::Map::new();
    let mut scans = serde_json::Map::new();
    if let Some(feed) = f.feed() {
        let config = feed.to_feed_config(&f.name);
        for e in &feed.entities {
            if let Some(m) = store
                .watermark(&f.name, &e.entity)
                .await
                .map_err(store_err)?
            {
                marks.insert(
                    e.entity.clone(),
                    json!({"value": m.value, "updated_at": m.updated_at.to_rfc3339()}),
                );
            }
            let last = store
                .watermark(&f.name, &delete_scan_partition(&e.entity))
                .await
                .map_err(store_err)?;
            scans.insert(
                e.entity.clone(),
                json!({
                    "cadence": config.delete_scan_of(&e.entity),
                    "last_started_at": last.map(|m| m.value),
                }),
            );
        }
        // The counts of the latest run's delete scans are in its summary (also in the audit
        // trail, `ml-connector audit`).
        v["last_run_summary"] = json!(runs.first().and_then(|r| r.message.clone()));
    }
    v["high_water_marks"] = serde_json::Value::Object(marks);
    v["delete_scans"] = serde_json::Value::Object(scans);
    if f.post().is_some() {
        let ledger = store
            .ledger_entries(&f.name, &LedgerFilter::default())
            .await
            .map_err(store_err)?;
        let pending = store.pending_intents(&f.name).await.map_err(store_err)?;
        v["ledger_entries"] = json!(ledger.len());
        v["pending_intents"] = pending.iter().map(|p| json!(p.natural_key)).collect();
    }
    let letters = store
        .dead_letters(&f.name, false)
        .await
        .map_err(store_err)?;
    v["dead_letters"] = letters
        .iter()
        .map(|d| json!({"id": d.id, "natural_key": d.natural_key, "attempts": d.attempts, "error": d.error}))
        .collect();
    Ok(v)
}

/// Something `status --check` found that needs a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The flow.
    pub flow: String,
    /// What kind: `dead_letters`, `last_run`, `pending_past_horizon` or `feed_lag`.
    pub kind: &'static str,
    /// What is wrong and what to do, in one line.
    pub message: String,
}

/// A duration in words, to the minute (or second below a minute).
fn age(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// What needs a person in one flow: open dead letters, a last run that failed, was abandoned
/// or interrupted, a document whose outcome is still unknown past its settle horizon, a feed
/// high-water mark older than `max_feed_lag`. Judged by the store's clock.
async fn flow_problems(
    store: &dyn StateStore,
    f: &FlowConfig,
    max_feed_lag: std::time::Duration,
) -> Result<Vec<Problem>, CliError> {
    let now = store.now().await.map_err(store_err)?;
    let mut problems = Vec::new();
    let mut problem = |kind, message: String| {
        problems.push(Problem {
            flow: f.name.clone(),
            kind,
            message,
        });
    };
    let letters = store
        .dead_letters(&f.name, false)
        .await
        .map_err(store_err)?;
    if let Some(first) = letters.first() {
        let what = if f.reference().is_some() {
            "refused record(s)"
        } else {
            "failed document(s)"
        };
        problem(
            "dead_letters",
            format!(
                "{} {what} open as dead letters (first #{} {}: {}); see `ml-connector deadletters list --flow {}`, then replay or discard them",
                letters.len(),
                first.id,
                first.natural_key,
                first.error.lines().next().unwrap_or_default(),
                f.name
            ),
        );
    }
    let runs = store.recent_runs(&f.name, 1).await.map_err(store_err)?;
    if let Some(last) = runs.first().filter(|r| {
        matches!(
            r.status,
            RunStatus::Failed | RunStatus::Abandoned | RunStatus::Interrupted
        )
    }) {
        problem(
            "last_run",
            format!(
                "the last run ({}, started {}) ended {}: {}; run it again: `ml-connector run --once --flow {}`",
                last.id,
                last.started_at.to_rfc3339(),
                last.status,
                last.message
                    .as_deref()
                    .and_then(|m| m.lines().next())
                    .unwrap_or("no message"),
                f.name
            ),
        );
    }
    if let Some(post) = f.post() {
        let horizon = chrono::Duration::seconds(
            i64::try_from(post.options.settle_horizon_secs).unwrap_or(i64::MAX / 1000),
        );
        for p in store.pending_intents(&f.name).await.map_err(store_err)? {
            let since = p.attempted_at.unwrap_or(p.intended_at);
            if now - since > horizon {
                problem(
                    "pending_past_horizon",
                    format!(
                        "{} ({}): its outcome is still unknown {} after it was {} (settle horizon {} s); run the flow to settle it, and if it stays pending look for it in Acumatica",
                        p.natural_key,
                        p.partition,
                        age(now - since),
                        if p.attempted_at.is_some() {
                            "sent"
                        } else {
                            "planned"
                        },
                        post.options.settle_horizon_secs
                    ),
                );
            }
        }
    }
    if let Some(feed) = f.feed() {
        let limit = chrono::Duration::from_std(max_feed_lag).unwrap_or(chrono::Duration::MAX);
        for e in &feed.entities {
            let Some(mark) = store
                .watermark(&f.name, &e.entity)
                .await
                .map_err(store_err)?
            else {
                continue;
            };
            let at = chrono::DateTime::parse_from_rfc3339(&mark.value)
                .map(|t| t.to_utc())
                .unwrap_or(mark.updated_at);
            if now - at > limit {
                problem(
                    "feed_lag",
                    format!(
                        "the high-water mark of {} ({}) is {} behind, more than --max-feed-lag {}; is the feed running? (`ml-connector run --once --flow {}`)",
                        e.entity,
                        mark.value,
                        age(now - at),
                        age(limit),
                        f.name
                    ),
                );
            }
        }
    }
    Ok(problems)
}

/// `status --check`: one summary line, then one line per problem; exit 1 when there is one.
async fn check(
    ctx: &Context,
    flows: &[&FlowConfig],
    store: Option<&dyn StateStore>,
    args: &StatusArgs,
) -> Result<Exit, CliError> {
    let mut problems = Vec::new();
    if let Some(store) = store {
        for f in flows {
            problems.extend(flow_problems(store, f, args.max_feed_lag).await?);
        }
    }
    let exit = if problems.is_empty() {
        Exit::Ok
    } else {
        Exit::Failed
    };
    if ctx.json {
        print_json(&json!({
            "ok": problems.is_empty(),
            "exit_code": exit.code(),
            "flows": flows.iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
            "problems": problems.iter().map(|p| json!({"flow": p.flow, "kind": p.kind, "message": p.message})).collect::<Vec<_>>(),
        }));
        return Ok(exit);
    }
    if problems.is_empty() {
        emit_line(&format!(
            "OK: {} flow(s), nothing needs attention{}",
            flows.len(),
            if store.is_none() {
                " (nothing has run yet)"
            } else {
                ""
            }
        ));
    } else {
        emit_line(&format!(
            "PROBLEM: {} thing(s) need attention",
            problems.len()
        ));
        for p in &problems {
            emit_line(&format!("{}: {}", p.flow, p.message));
        }
    }
    Ok(exit)
}

/// Runs `status` (`status --check`: see [`StatusArgs::check`](crate::cli::StatusArgs)).
pub async fn run(global: &GlobalArgs, args: &StatusArgs) -> Result<Exit, CliError> {
    let ctx = Context::load(global)?;
    let flows = ctx.config.select(args.flow.as_deref())?;
    let store = open_store_with(&ctx.config.store, &ctx.config.store_options, false).await?;
    if args.check {
        return check(&ctx, &flows, store.as_deref(), args).await;
    }
    let mut out = Vec::new();
    for f in &flows {
        out.push(flow_status(store.as_deref(), f).await?);
    }
    if ctx.json {
        print_json(&json!({ "store": ctx.config.store.to_string(), "flows": out }));
        return Ok(Exit::Ok);
    }
    ctx.layout.line(&format!(
        "State store: {}{}",
        ctx.config.store,
        if store.is_none() {
            " (nothing has run yet)"
        } else {
            ""
        }
    ));
    if flows.is_empty() {
        ctx.layout.line(&format!(
            "No flows are configured ({}).",
            ctx.config.describe_source()
        ));
    }
    for v in &out {
        ctx.layout.line(&format!(
            "\nFlow {} ({}), cron {} {}, next due {}",
            v["flow"].as_str().unwrap_or_default(),
            v["kind"].as_str().unwrap_or_default(),
            v["cron"].as_str().unwrap_or("(none)"),
            v["time_zone"].as_str().unwrap_or_default(),
            v["next_due"].as_str().unwrap_or("-"),
        ));
        if let Some(entity) = v["entity"].as_str() {
            ctx.layout.line(&format!(
                "  upserts {entity} records by {}",
                v["key_field"].as_str().unwrap_or_default()
            ));
        }
        if let Some(m) = v["last_scheduled_due_time"].as_str() {
            ctx.layout
                .line(&format!("  last scheduled due time run: {m}"));
        }
        if let Some(marks) = v["high_water_marks"].as_object().filter(|m| !m.is_empty()) {
            for (k, m) in marks {
                ctx.layout.line(&format!(
                    "  high-water mark {k}: {}",
                    m["value"].as_str().unwrap_or_default()
                ));
            }
        }
        if let Some(scans) = v["delete_scans"].as_object() {
            for (k, s) in scans {
                ctx.layout.line(&format!(
                    "  delete scan {k} ({}): last started {}",
                    s["cadence"].as_str().unwrap_or_default(),
                    s["last_started_at"].as_str().unwrap_or("never")
                ));
            }
        }
        if let Some(m) = v["last_run_summary"].as_str() {
            ctx.layout.line(&format!("  last run: {m}"));
        }
        match v["leases"].as_array().filter(|l| !l.is_empty()) {
            None => ctx.layout.line("  leases: none held (free)"),
            Some(leases) => {
                let mut t = Table::new(["Lease", "Owner", "Fence", "Expires at", "State"]);
                for l in leases {
                    let expired = l["expired"].as_bool().unwrap_or_default();
                    t.row([
                        l["lease"].as_str().unwrap_or_default().to_owned(),
                        l["owner"].as_str().unwrap_or_default().to_owned(),
                        l["fence"].to_string(),
                        l["expires_at"].as_str().unwrap_or_default().to_owned(),
                        if expired {
                            "expired (free to take over)".to_owned()
                        } else {
                            "held".to_owned()
                        },
                    ]);
                }
                ctx.layout.table(&t, "  ");
                for l in leases {
                    ctx.layout.line(&format!(
                        "  {}: {}",
                        l["lease"].as_str().unwrap_or_default(),
                        l["description"].as_str().unwrap_or_default()
                    ));
                    if l["holder"]["state"] == "held" {
                        ctx.layout.line(&format!(
                            "    if that replica is gone: `ml-connector lease release --flow {}{}`",
                            v["flow"].as_str().unwrap_or_default(),
                            if l["role"] == "schedule" {
                                " --schedule"
                            } else {
                                ""
                            }
                        ));
                    }
                }
            }
        }
        let runs = v["runs"].as_array().cloned().unwrap_or_default();
        if runs.is_empty() {
            ctx.layout.line("  no runs yet");
        } else {
            let mut t = Table::new([
                "Run", "Status", "Started", "Read", "Written", "Skipped", "Failed",
            ])
            .paint(1, |status| match status {
                "succeeded" => Some(Paint::Good),
                "failed" | "abandoned" | "interrupted" => Some(Paint::Bad),
                "running" | "completed_with_errors" => Some(Paint::Warn),
                _ => None,
            });
            for r in &runs {
                t.row([
                    r["run_id"].as_str().unwrap_or_default().to_owned(),
                    r["status"].as_str().unwrap_or_default().to_owned(),
                    r["started_at"].as_str().unwrap_or_default().to_owned(),
                    r["read"].to_string(),
                    r["written"].to_string(),
                    r["skipped"].to_string(),
                    r["failed"].to_string(),
                ]);
            }
            ctx.layout.table(&t, "  ");
        }
        if let Some(n) = v["ledger_entries"].as_u64() {
            ctx.layout.line(&format!("  ledger: {n} document(s) known"));
        }
        if let Some(p) = v["pending_intents"].as_array().filter(|p| !p.is_empty()) {
            ctx.layout.line(&format!(
                "  {} document(s) with unknown outcome (reconciled by lookup at the next run)",
                p.len()
            ));
        }
        if let Some(d) = v["dead_letters"].as_array().filter(|d| !d.is_empty()) {
            let flow = v["flow"].as_str().unwrap_or_default();
            if v["kind"] == "reference" {
                ctx.layout.line(&format!(
                    "  {} refused record(s), retried by the next run (or now with \
                     `ml-connector replay --flow {flow}`):",
                    d.len()
                ));
            } else {
                ctx.layout.line(&format!(
                    "  {} failed document(s) waiting for `ml-connector replay --flow {flow}`:",
                    d.len()
                ));
            }
            for l in d {
                ctx.layout.line(&format!(
                    "    #{} {} ({} attempt(s)): {}",
                    l["id"],
                    l["natural_key"].as_str().unwrap_or_default(),
                    l["attempts"],
                    l["error"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    Ok(Exit::Ok)
}
