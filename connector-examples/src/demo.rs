//! The month-end story the `period_close` example tells, as a library function so the tests
//! run exactly what the example runs.
//!
//! With no configuration it starts the sandbox (both fakes) in-process and keeps its state in
//! a temporary directory; with a config file (or the `LOOKERSDK_*` and `ACUMATICA_*`
//! environment) it talks to the real systems, and then only posts when asked to.

use std::io::Write;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use testkit::{Sandbox, SandboxOptions};

use crate::commands::Context;
use crate::commands::flows::{open_store_with, post_flow};
use crate::commands::plan::{plan_flow, render};
use crate::commands::run::render_summary;
use crate::commands::signout::Sessions;
use crate::config::{Config, FlowConfig};
use crate::connect;
use crate::exit::{CliError, CliResult};
use crate::output::{Align, Table};
use crate::secrets::Secrets;

/// How to run the story.
#[derive(Debug, Clone, Default)]
pub struct PeriodCloseOptions {
    /// A config file for real systems (`None`: the environment decides, see [`uses_real_systems`]).
    pub config: Option<PathBuf>,
    /// Against real systems, actually post (default: plan only).
    pub post: bool,
    /// Draw progress bars.
    pub bars: bool,
    /// Settings of the sandbox (for tests that inject data problems).
    pub sandbox: SandboxOptions,
}

/// What happened, for callers that check it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeriodCloseOutcome {
    /// Whether the sandbox was used.
    pub sandbox: bool,
    /// Journals the plan said would be posted.
    pub planned: usize,
    /// Batches created by the first run.
    pub posted_batches: Vec<String>,
    /// Documents the rerun created (must be zero).
    pub rerun_posted: u64,
    /// Documents the rerun recognised as already posted.
    pub rerun_skipped: u64,
    /// GL batches copied to the warehouse.
    pub warehouse_records: Option<u64>,
    /// With the sandbox: Acumatica API sessions still counted against the licence when the
    /// story ended (zero: every client signed out).
    pub acumatica_sessions_left: Option<usize>,
}

/// Whether the story runs against real systems: a config file was given, or
/// `ML_CONNECTOR_CONFIG`, or both `LOOKERSDK_BASE_URL` and `ACUMATICA_URL` are set.
pub fn uses_real_systems(options: &PeriodCloseOptions) -> bool {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty());
    options.config.is_some()
        || set("ML_CONNECTOR_CONFIG")
        || (set("LOOKERSDK_BASE_URL") && set("ACUMATICA_URL"))
}

macro_rules! say {
    ($out:expr) => { let _ = writeln!($out); };
    ($out:expr, $($arg:tt)*) => { let _ = writeln!($out, $($arg)*); };
}

fn money(d: Decimal) -> String {
    if d.is_zero() {
        String::new()
    } else {
        format!("{d:.2}")
    }
}

/// Tells the period-close story on `out`.
///
/// # Errors
/// Whatever stops the story: configuration, credentials, validation problems (nothing is
/// posted then), or a failed run.
pub async fn period_close(
    options: PeriodCloseOptions,
    out: &mut (dyn Write + Send),
) -> CliResult<PeriodCloseOutcome> {
    if uses_real_systems(&options) {
        let config = Config::load(options.config.as_deref())?;
        let secrets = Secrets::from_env(&config.vault_path);
        let ctx = Context {
            config,
            secrets,
            json: false,
            bars: options.bars,
            layout: crate::output::Layout::stdout(false),
        };
        say!(
            out,
            "Period close against the systems configured in {}.",
            ctx.config.describe_source()
        );
        return story(&ctx, None, options.post, out).await;
    }
    let dir = tempfile::tempdir()
        .map_err(|e| CliError::failed(format!("cannot make a temporary directory: {e}")))?;
    say!(
        out,
        "Period close, end to end, against the sandbox: local fakes of Looker and Acumatica"
    );
    say!(
        out,
        "with a demo company (branches HQ, EAST, WEST; an overhead pool on account 69000"
    );
    say!(
        out,
        "shared out to five cost centers on account 69100). Nothing leaves this machine."
    );
    let sandbox = Sandbox::start(options.sandbox.clone()).await?;
    say!(out, "  Acumatica fake: {}", sandbox.acumatica_url());
    say!(out, "  Looker fake:    {}", sandbox.looker_url());
    say!(
        out,
        "  State store and warehouse (SQLite): {}",
        dir.path().display()
    );
    let result = sandbox_story(&sandbox, dir.path(), options.bars, out)
        .await
        .map(|mut outcome| {
            outcome.acumatica_sessions_left = Some(sandbox.acumatica().state().active_sessions());
            outcome
        });
    sandbox.shutdown().await;
    result
}

async fn sandbox_story(
    sandbox: &Sandbox,
    dir: &Path,
    bars: bool,
    out: &mut (dyn Write + Send),
) -> CliResult<PeriodCloseOutcome> {
    let ctx = sandbox_context(sandbox, dir, bars)?;
    story(&ctx, Some(sandbox), true, out).await
}

/// A command context for a running sandbox: its demo config written to `dir` (state store and
/// warehouse there too) and its demo credentials as the only environment.
///
/// # Errors
/// When `dir` cannot be written.
pub fn sandbox_context(sandbox: &Sandbox, dir: &Path, bars: bool) -> CliResult<Context> {
    let text = sandbox.config_toml(&dir.display().to_string());
    let config_path = dir.join("ml-connector.toml");
    std::fs::write(&config_path, &text)
        .map_err(|e| CliError::failed(format!("cannot write {}: {e}", config_path.display())))?;
    let env: Vec<(String, String)> = sandbox
        .env()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let config = Config::from_str_with_env(&text, &config_path, |_| None)?;
    let secrets = Secrets::with_env(&config.vault_path, lookup);
    Ok(Context {
        config,
        secrets,
        json: false,
        bars,
        layout: crate::output::Layout::stdout(false),
    })
}

fn first_post_flow(ctx: &Context) -> CliResult<&FlowConfig> {
    ctx.config
        .flows
        .iter()
        .find(|f| f.post().is_some())
        .ok_or_else(|| {
            CliError::usage(format!(
                "no post flow is configured ({})",
                ctx.config.describe_source()
            ))
            .with_hint("`ml-connector sandbox` prints a config with the overhead allocation flow")
        })
}

/// The story, signed out of both systems at the end whatever happened (as every command is).
async fn story(
    ctx: &Context,
    sandbox: Option<&Sandbox>,
    post: bool,
    out: &mut (dyn Write + Send),
) -> CliResult<PeriodCloseOutcome> {
    let sessions = Sessions::new();
    sessions
        .signing_out(story_steps(ctx, sandbox, post, out, &sessions))
        .await
}

async fn story_steps(
    ctx: &Context,
    sandbox: Option<&Sandbox>,
    post: bool,
    out: &mut (dyn Write + Send),
    sessions: &Sessions,
) -> CliResult<PeriodCloseOutcome> {
    let mut outcome = PeriodCloseOutcome {
        sandbox: sandbox.is_some(),
        ..Default::default()
    };
    let flow = first_post_flow(ctx)?;
    let p = flow.post().expect("a post flow");
    let q = &p.query;

    say!(out);
    say!(out, "== 1. The overhead allocation query in Looker");
    say!(out, "Model {}, explore {}, fields:", q.model, q.explore);
    for f in p.fields() {
        say!(out, "  {f}");
    }
    for (f, e) in &q.filters {
        say!(out, "Filter: {f} = {e}");
    }
    let (looker, acumatica) = connect::clients(&ctx.config, &ctx.secrets).await?;
    sessions.track_looker(&looker);
    sessions.track_acumatica(&acumatica);

    say!(out);
    say!(
        out,
        "== 2. Mapped to journals and validated against Acumatica's chart of accounts,"
    );
    say!(
        out,
        "==    subaccounts, branches, ledgers and open periods (nothing written yet)"
    );
    // Read-only: a store that does not exist yet is not created here.
    let known = open_store_with(&ctx.config.store, &ctx.config.store_options, false).await?;
    let plan = plan_flow(&looker, &acumatica, flow, known, ctx.bars).await?;
    say!(out, "{}", render(&plan).trim_end());
    outcome.planned = plan.would_post();
    if !plan.report.is_clean() {
        return Err(CliError::validation(format!(
            "{} validation problem(s); nothing was posted (see the list above)",
            plan.report.issues.len()
        )));
    }
    if !post {
        say!(out);
        say!(
            out,
            "Stopping after the plan: pass --post to post to the real Acumatica."
        );
        return Ok(outcome);
    }

    let store = open_store_with(&ctx.config.store, &ctx.config.store_options, true)
        .await?
        .ok_or_else(|| CliError::failed("the state store could not be opened"))?;
    let flow_runner = post_flow(ctx, flow, store.clone(), sessions).await?;
    let created_before = sandbox.map(|s| s.acumatica().state().created("JournalTransaction"));

    say!(out);
    say!(
        out,
        "== 3. Posted to Acumatica, exactly once per natural key"
    );
    let first = flow_runner
        .run()
        .await
        .map_err(|e| crate::commands::flows::from_sync(&format!("flow `{}`", flow.name), &e))?;
    say!(out, "{}", render_summary(&first).trim_end());
    outcome.posted_batches = first
        .posted_batches()
        .into_iter()
        .map(str::to_owned)
        .collect();
    if let Some(s) = sandbox {
        say!(out);
        say!(out, "What the Acumatica fake now holds for these batches:");
        for batch in s.acumatica().state().journal_transactions() {
            if !outcome.posted_batches.contains(&batch.batch_nbr) {
                continue;
            }
            say!(
                out,
                "Batch {} ({}, status {}, branch {}, period {}): {}",
                batch.batch_nbr,
                batch.module,
                batch.status,
                batch.branch.as_deref().unwrap_or("-"),
                batch.post_period.as_deref().unwrap_or("-"),
                batch.description.as_deref().unwrap_or("")
            );
            let mut t = Table::new(["Line", "Account", "Subaccount", "Debit", "Credit"])
                .align(0, Align::Right)
                .align(3, Align::Right)
                .align(4, Align::Right);
            let (mut dr, mut cr) = (Decimal::ZERO, Decimal::ZERO);
            for l in &batch.lines {
                dr += l.debit;
                cr += l.credit;
                t.row([
                    l.line_nbr.to_string(),
                    l.account.clone().unwrap_or_default(),
                    l.subaccount.clone().unwrap_or_default(),
                    money(l.debit),
                    money(l.credit),
                ]);
            }
            t.rule();
            t.row([
                String::new(),
                "Total".into(),
                if dr == cr {
                    "balanced".into()
                } else {
                    "NOT BALANCED".into()
                },
                format!("{dr:.2}"),
                format!("{cr:.2}"),
            ]);
            for line in t.render().lines() {
                say!(out, "  {line}");
            }
        }
    }

    say!(out);
    say!(
        out,
        "== 4. The same close run again: nothing is posted twice"
    );
    let second = flow_runner
        .run()
        .await
        .map_err(|e| crate::commands::flows::from_sync(&format!("flow `{}`", flow.name), &e))?;
    say!(out, "{}", render_summary(&second).trim_end());
    outcome.rerun_posted = second.counts.documents_posted;
    outcome.rerun_skipped = second.counts.duplicates_skipped;
    if let (Some(s), Some(before)) = (sandbox, created_before) {
        let after = s.acumatica().state().created("JournalTransaction");
        say!(
            out,
            "Journal transactions created in Acumatica: {} by the first run, {} by the rerun.",
            outcome.posted_batches.len(),
            after - before - outcome.posted_batches.len() as u64
        );
    }
    // The plan's and the post flow's sessions end here, before the feed signs in.
    sessions.sign_out().await;

    if let Some(feed_cfg) = ctx.config.flows.iter().find(|f| f.feed().is_some()) {
        say!(out);
        say!(
            out,
            "== 5. The warehouse feed: the latest GL entries copied for reporting"
        );
        let feed =
            crate::commands::flows::feed_flow(ctx, feed_cfg, store.clone(), sessions).await?;
        let summary = feed.run().await.map_err(|e| {
            crate::commands::flows::from_sync(&format!("flow `{}`", feed_cfg.name), &e)
        })?;
        say!(
            out,
            "{}",
            crate::commands::run::render_feed_summary(&summary).trim_end()
        );
        let spec =
            sync_core::warehouse::TableSpec::builtin("JournalTransaction").ok_or_else(|| {
                CliError::failed("no built-in warehouse table for JournalTransaction")
            })?;
        let spec_feed = feed_cfg.feed().expect("a feed flow");
        let warehouse = crate::commands::flows::open_warehouse(&spec_feed.warehouse).await?;
        let total = warehouse
            .count(&spec)
            .await
            .map_err(|e| CliError::failed(format!("warehouse: {e}")))?;
        outcome.warehouse_records = Some(total);
        say!(
            out,
            "The warehouse ({}) holds {total} journal transaction(s), table `{}`.",
            spec_feed.warehouse,
            spec.table
        );
        if let Some(s) = sandbox {
            for batch in s.acumatica().state().journal_transactions() {
                if !outcome.posted_batches.contains(&batch.batch_nbr) {
                    continue;
                }
                let raw = warehouse
                    .raw_record(&spec, &batch.id)
                    .await
                    .map_err(|e| CliError::failed(format!("warehouse: {e}")))?;
                say!(
                    out,
                    "  batch {} {}",
                    batch.batch_nbr,
                    if raw.is_some() {
                        "is in the warehouse"
                    } else {
                        "is NOT in the warehouse yet"
                    }
                );
            }
        }
        say!(
            out,
            "Running the feed again reads only the window since its high-water mark (minus a"
        );
        say!(
            out,
            "short lookback); upserts by id mean nothing is duplicated."
        );
    }

    say!(out);
    say!(
        out,
        "Period close complete: {} journal(s) posted once; the rerun posted {} and skipped {}.",
        outcome.posted_batches.len(),
        outcome.rerun_posted,
        outcome.rerun_skipped
    );
    Ok(outcome)
}
