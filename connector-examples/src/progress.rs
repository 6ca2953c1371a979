//! Progress for long extracts and syncs: a bar on a terminal, plain log lines otherwise.
//!
//! [`Progress`] counts one long task (rows, records); [`FlowProgress`] follows a whole flow run
//! from sync-core's [`ProgressEvent`]s and draws its bars with [`Progress`].

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use sync_core::post::{DocumentState, PlannedState};
use sync_core::progress::{ProgressEvent, RunKind};
use sync_core::reference::RecordOutcome;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::cli::{GlobalArgs, LogFormat};
use crate::commands::run::{document_outcome, record_outcome};

/// Sets up log output on stderr: `info` by default, `-v` debug, `-vv` trace; `RUST_LOG`
/// overrides. One record per line: with `--log-format json` (the default with `--json`) one
/// JSON object each (`timestamp`, `level`, `fields` with `message`, `span`, `spans`); in text, a record whose message spans
/// lines (an error with its hint) has them joined with ` | `. While progress bars are drawn,
/// sync-core's own `info` lines stay off the terminal (the bars tell the same); `-v` brings
/// them back.
pub fn init_logging(global: &GlobalArgs) {
    let default = match global.verbose {
        0 if bars_enabled(global) => "warn,connector_examples=info",
        0 => "warn,connector_examples=info,sync_core=info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let fmt = tracing_subscriber::fmt::layer().with_target(false);
    let fmt = match global.log_format() {
        LogFormat::Json => fmt
            .json()
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed(),
        LogFormat::Text => fmt
            .with_ansi(
                std::io::stderr().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            )
            .with_writer(|| OneLine(std::io::stderr()))
            .with_filter(filter)
            .boxed(),
    };
    // The HTTP metrics count the clients' events whatever the log level shows.
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(crate::monitor::HttpMetrics::layer())
        .try_init();
}

/// A writer that keeps each log record on one line: the formatter writes a record at once,
/// ending in a newline; the line breaks inside it become ` | `.
struct OneLine<W>(W);

impl<W: std::io::Write> std::io::Write for OneLine<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let body = buf.strip_suffix(b"\n").unwrap_or(buf);
        if !body.contains(&b'\n') {
            self.0.write_all(buf)?;
            return Ok(buf.len());
        }
        let mut line = Vec::with_capacity(buf.len() + 16);
        for (i, part) in body.split(|b| *b == b'\n').enumerate() {
            if i > 0 {
                line.extend_from_slice(b" | ");
            }
            line.extend_from_slice(part.strip_suffix(b"\r").unwrap_or(part));
        }
        line.push(b'\n');
        self.0.write_all(&line)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Whether progress bars may be drawn: stderr is a terminal, the logs are text, and neither
/// `--json` nor `--no-progress` was given.
pub fn bars_enabled(global: &GlobalArgs) -> bool {
    !global.json
        && global.log_format() == LogFormat::Text
        && !global.no_progress
        && std::io::stderr().is_terminal()
}

/// Progress of one long task, counted in items (rows, records, documents).
#[derive(Debug)]
pub struct Progress {
    what: String,
    bar: Option<ProgressBar>,
    count: u64,
    started: Instant,
    last_log: Instant,
    every: Duration,
}

impl Progress {
    /// Starts reporting progress of `what` (e.g. "rows from Looker"); `total` when known.
    pub fn new(what: impl Into<String>, total: Option<u64>, bars: bool) -> Self {
        let what = what.into();
        let bar = bars.then(|| {
            let bar = match total {
                Some(t) => ProgressBar::new(t).with_style(
                    ProgressStyle::with_template(
                        "{spinner} {msg} [{wide_bar}] {human_pos}/{human_len} ({per_sec}, eta {eta})",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                ),
                None => ProgressBar::new_spinner().with_style(
                    ProgressStyle::with_template("{spinner} {msg}: {human_pos} ({per_sec})")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                ),
            };
            bar.set_message(what.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let now = Instant::now();
        Progress {
            what,
            bar,
            count: 0,
            started: now,
            last_log: now,
            every: Duration::from_secs(5),
        }
    }

    /// Changes the total (a bar is drawn only when the total was known at the start).
    pub fn set_total(&mut self, total: u64) {
        if let Some(b) = &self.bar {
            b.set_length(total);
        }
    }

    /// Shows `message` next to the bar (e.g. counts by outcome); nothing without a bar.
    pub fn set_message(&self, message: impl Into<String>) {
        if let Some(b) = &self.bar {
            b.set_message(format!("{} ({})", self.what, message.into()));
        }
    }

    /// Moves the count up to `count` (a running total); never backwards.
    pub fn advance_to(&mut self, count: u64) {
        if count > self.count {
            self.inc(count - self.count);
        }
    }

    /// Counts `n` more items.
    pub fn inc(&mut self, n: u64) {
        self.count += n;
        match &self.bar {
            Some(b) => b.inc(n),
            None => {
                if self.last_log.elapsed() >= self.every {
                    self.last_log = Instant::now();
                    tracing::info!("{}: {} so far", self.what, self.count);
                }
            }
        }
    }

    /// How many items were counted.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Ends the bar (or logs the total).
    pub fn finish(self) -> u64 {
        let secs = self.started.elapsed().as_secs_f64();
        match &self.bar {
            Some(b) => b.finish_and_clear(),
            None => tracing::info!("{}: {} in {secs:.1}s", self.what, self.count),
        }
        self.count
    }
}

/// Outcomes a run's items (journals, reference records) are counted by: the word in the last
/// line, and the shorter one on a bar.
const POST_OUTCOMES: &[(&str, &str)] = &[
    ("posted", "posted"),
    ("already present", "present"),
    ("skipped", "skipped"),
    ("not posted", "not posted"),
];
const PLAN_OUTCOMES: &[(&str, &str)] = &[
    ("would post", "would post"),
    ("already posted", "posted"),
    ("changed or skipped", "changed"),
    ("not posted", "not posted"),
];
const REFERENCE_OUTCOMES: &[(&str, &str)] = &[
    ("created", "created"),
    ("updated", "updated"),
    ("unchanged", "unchanged"),
    ("rejected", "rejected"),
    ("failed", "failed"),
];

/// Counts of a run's items by outcome, for its bar and its last line: journals of a post run,
/// records of a reference run.
#[derive(Debug, Clone, Copy)]
struct Tally {
    outcomes: &'static [(&'static str, &'static str)],
    counts: [u64; 5],
}

impl Default for Tally {
    fn default() -> Self {
        Self::new(POST_OUTCOMES)
    }
}

impl Tally {
    fn new(outcomes: &'static [(&'static str, &'static str)]) -> Self {
        Self {
            outcomes,
            counts: [0; 5],
        }
    }

    /// Counts one item with the outcome at `index` of the outcomes.
    fn add(&mut self, index: usize) {
        self.counts[index] += 1;
    }

    /// A post run's journal.
    fn add_document(&mut self, state: &DocumentState) {
        self.add(match state {
            DocumentState::Posted { .. } => 0,
            DocumentState::AlreadyPosted { .. } => 1,
            DocumentState::Skipped { .. } => 2,
            _ => 3,
        });
    }

    /// A post plan's journal.
    fn add_planned(&mut self, state: &PlannedState) {
        self.add(match state {
            PlannedState::WouldPost => 0,
            PlannedState::AlreadyPosted { .. } => 1,
            PlannedState::ChangedContent { .. } | PlannedState::Skipped { .. } => 2,
            _ => 3,
        });
    }

    /// A reference run's record.
    fn add_record(&mut self, outcome: &RecordOutcome) {
        self.add(match outcome {
            RecordOutcome::Created { .. } => 0,
            RecordOutcome::Updated { .. } => 1,
            RecordOutcome::Unchanged => 2,
            RecordOutcome::Rejected { .. } => 3,
            _ => 4,
        });
    }

    fn done(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The first count always, the others when not zero, shortly, for a bar.
    fn short(&self) -> String {
        self.outcomes
            .iter()
            .zip(self.counts)
            .enumerate()
            .filter(|(i, (_, n))| *i == 0 || *n > 0)
            .map(|(_, ((_, word), n))| format!("{n} {word}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .outcomes
            .iter()
            .zip(self.counts)
            .map(|((word, _), n)| format!("{n} {word}"))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

#[derive(Debug, Default)]
struct FlowState {
    /// The bar of the current phase: rows read, documents done, or one entity's records.
    bar: Option<Progress>,
    kind: Option<RunKind>,
    rows: u64,
    tally: Tally,
    reconciling: u64,
    reconciled: (u64, u64),
    /// Records fetched on the current feed page, logged with its write.
    page_records: u64,
    records_read: u64,
    /// A reference run's entity, named in its record lines.
    entity: String,
    /// A post plan (not a run): every journal is reported after the lookups, so the bar's
    /// total stays the mapped journals.
    planning: bool,
}

/// Follows one flow run from its [`ProgressEvent`]s: on a terminal a bar per phase (rows read,
/// then documents done of planned for a post flow; documents only for a replay of failed ones;
/// rows read, then records done of mapped for a reference flow; records per entity for a feed
/// flow); otherwise plain log lines on stderr: one per page of rows or records, one per
/// document or reference record, one per batch of keys looked up, one per feed window, and one
/// when the run ends. Never writes to stdout.
///
/// ```no_run
/// use std::sync::Arc;
/// use connector_examples::progress::FlowProgress;
///
/// # async fn demo(flow: sync_core::post::PostFlow) -> sync_core::Result<()> {
/// let progress = Arc::new(FlowProgress::new(flow.name(), false));
/// let summary = flow.with_progress(progress.clone()).run().await;
/// progress.finish(); // clears a bar left by a run that stopped on an error
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct FlowProgress {
    flow: String,
    bars: bool,
    state: Mutex<FlowState>,
}

impl FlowProgress {
    /// Progress of flow `flow`, with bars when `bars` (see [`bars_enabled`]), else log lines.
    pub fn new(flow: impl Into<String>, bars: bool) -> Self {
        Self {
            flow: flow.into(),
            bars,
            state: Mutex::new(FlowState::default()),
        }
    }

    /// Ends whatever bar is still drawn (a run that stopped on an error reports its end, but
    /// one that could not start does not).
    pub fn finish(&self) {
        let mut state = self.lock();
        Self::end_bar(&mut state);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FlowState> {
        // A listener that panicked while holding the lock left counts only; keep using them.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn end_bar(state: &mut FlowState) {
        if let Some(bar) = state.bar.take() {
            bar.finish();
        }
    }

    /// One more item (journal, record) done: the bar moves and shows the counts by outcome.
    fn item_done(state: &mut FlowState) {
        let tally = state.tally;
        if let Some(bar) = &mut state.bar {
            bar.inc(1);
            bar.set_message(tally.short());
        }
    }

    /// Starts a new phase: the previous bar ends, the new one is drawn (bars only).
    fn phase(&self, state: &mut FlowState, what: String, total: Option<u64>) {
        Self::end_bar(state);
        if self.bars {
            state.bar = Some(Progress::new(what, total, true));
        }
    }

    fn on_event(&self, event: &ProgressEvent) {
        let flow = self.flow.as_str();
        let log = !self.bars;
        let mut state = self.lock();
        let st = &mut *state;
        match event {
            ProgressEvent::RunStarted { kind, run_id, .. } => {
                Self::end_bar(st);
                *st = FlowState {
                    kind: Some(*kind),
                    tally: match kind {
                        RunKind::Reference => Tally::new(REFERENCE_OUTCOMES),
                        _ => Tally::new(POST_OUTCOMES),
                    },
                    ..FlowState::default()
                };
                if matches!(kind, RunKind::Post | RunKind::Reference) {
                    self.phase(st, format!("{flow}: rows read"), None);
                }
                if log {
                    tracing::info!(flow, run_id = %run_id, "{flow}: {kind} run started");
                }
            }
            ProgressEvent::PlanStarted { .. } => {
                Self::end_bar(st);
                *st = FlowState {
                    tally: Tally::new(PLAN_OUTCOMES),
                    planning: true,
                    ..FlowState::default()
                };
                self.phase(st, format!("{flow}: rows read"), None);
                if log {
                    tracing::info!(flow, "{flow}: plan started (nothing is written)");
                }
            }
            ProgressEvent::JournalPlanned {
                natural_key,
                partition,
                state,
            } => {
                st.tally.add_planned(state);
                Self::item_done(st);
                if log {
                    tracing::info!(flow, natural_key = %natural_key, "{flow}: {partition} {natural_key}: {state}");
                }
            }
            ProgressEvent::PlanFinished {
                journals,
                would_post,
                ..
            } => {
                Self::end_bar(st);
                if log {
                    tracing::info!(
                        flow,
                        "{flow}: plan done: {} row(s) read, {journals} journal(s), {would_post} would be posted; {}",
                        st.rows,
                        st.tally
                    );
                }
            }
            ProgressEvent::Reconciling { pending } => {
                st.reconciling = *pending;
                if let Some(bar) = &st.bar {
                    bar.set_message(format!("settling {pending} earlier intent(s)"));
                }
                if log {
                    tracing::info!(
                        flow,
                        pending,
                        "{flow}: settling {pending} intent(s) an earlier run left without outcome, by lookup"
                    );
                }
            }
            ProgressEvent::Reconciled { found, .. } => {
                if *found {
                    st.reconciled.0 += 1;
                } else {
                    st.reconciled.1 += 1;
                }
                let (found, absent) = st.reconciled;
                if log && found + absent == st.reconciling {
                    tracing::info!(
                        flow,
                        found,
                        absent,
                        "{flow}: reconciled: {found} found posted, {absent} never created"
                    );
                }
            }
            ProgressEvent::StillInFlight {
                natural_key,
                attempted_at,
                settles_after,
            } if log => {
                tracing::warn!(
                    flow,
                    key = %natural_key,
                    "{flow}: {natural_key} not found, but its create sent at {} may still be applied by Acumatica until {}; left pending, nothing else is posted for it until then",
                    attempted_at.to_rfc3339(),
                    settles_after.to_rfc3339()
                );
            }
            ProgressEvent::RowsRead { rows } => {
                st.rows = *rows;
                if let Some(bar) = &mut st.bar {
                    bar.advance_to(*rows);
                }
                if log {
                    tracing::info!(flow, rows, "{flow}: {rows} row(s) read");
                }
            }
            ProgressEvent::DocumentsMapped { documents } => {
                self.phase(st, format!("{flow}: journals"), Some(*documents));
                if log {
                    if st.kind == Some(RunKind::Replay) {
                        tracing::info!(
                            flow,
                            documents,
                            "{flow}: {documents} failed journal(s) to replay"
                        );
                    } else {
                        tracing::info!(flow, documents, "{flow}: {documents} journal(s) to handle");
                    }
                }
            }
            ProgressEvent::DocumentsPlanned { documents } => {
                let total = st.tally.done() + documents;
                if let Some(bar) = st.bar.as_mut().filter(|_| !st.planning) {
                    bar.set_total(total);
                }
                if log {
                    tracing::info!(
                        flow,
                        documents,
                        "{flow}: {documents} journal(s) valid: looked up, posted if absent"
                    );
                }
            }
            ProgressEvent::DocumentFinished { document } => {
                st.tally.add_document(&document.state);
                Self::item_done(st);
                if log {
                    let outcome = document_outcome(&document.state);
                    tracing::info!(flow, natural_key = %document.natural_key, "{flow}: {} {}: {outcome}", document.partition, document.natural_key);
                }
            }
            ProgressEvent::RecordsMapped { entity, records } => {
                st.entity.clone_from(entity);
                self.phase(st, format!("{flow}: {entity} records"), Some(*records));
                if log {
                    tracing::info!(
                        flow,
                        entity = %entity,
                        records,
                        "{flow}: {records} {entity} record(s) to compare"
                    );
                }
            }
            ProgressEvent::KeysLookedUp {
                batch,
                keys,
                found,
                keys_total,
            } => {
                if let Some(bar) = &st.bar {
                    bar.set_message(format!("{keys_total} key(s) looked up"));
                }
                if log {
                    let absent = keys - found;
                    tracing::info!(
                        flow,
                        batch,
                        keys,
                        found,
                        "{flow}: keys looked up, batch {batch}: {keys} key(s), {found} found, {absent} absent ({keys_total} so far)"
                    );
                }
            }
            ProgressEvent::RecordFinished { record } => {
                st.tally.add_record(&record.outcome);
                Self::item_done(st);
                if log {
                    let outcome = record_outcome(&record.outcome);
                    let key = format!("{}/{}", st.entity, record.key);
                    tracing::info!(flow, natural_key = %key, row = record.row, "{flow}: {key} (row {}): {outcome}", record.row);
                }
            }
            ProgressEvent::WindowOpened { entity, .. } => {
                // sync-core logs the window's bounds itself ("window opened").
                st.records_read = 0;
                self.phase(st, format!("{flow}: {entity} records read"), None);
            }
            ProgressEvent::PageFetched {
                records,
                records_read,
                ..
            } => {
                st.page_records = *records;
                st.records_read = *records_read;
                if let Some(bar) = &mut st.bar {
                    bar.advance_to(*records_read);
                }
            }
            ProgressEvent::RecordsWritten {
                entity,
                page,
                written,
                stale,
                written_total,
            } => {
                if let Some(bar) = &st.bar {
                    bar.set_message(format!("{written_total} written"));
                }
                if log {
                    let (fetched, read) = (st.page_records, st.records_read);
                    tracing::info!(flow, entity = %entity, page, fetched, written, stale, "{flow}: {entity} page {page}: {fetched} record(s) fetched, {written} written, {stale} stale ({read} read, {written_total} written so far)");
                }
            }
            ProgressEvent::WindowFinished { window } => {
                Self::end_bar(st);
                if log {
                    let entity = &window.entity;
                    let counts = format!(
                        "{} read, {} written, {} stale, {} page(s)",
                        window.records_read, window.written, window.stale, window.pages
                    );
                    match &window.error {
                        Some(error) => {
                            tracing::warn!(flow, entity = %entity, "{flow}: {entity} window failed after {counts}: {error}; its mark stays")
                        }
                        None if window.mark_advanced => {
                            tracing::info!(flow, entity = %entity, "{flow}: {entity} window complete: {counts}; mark moved to {}", window.signpost.to_rfc3339())
                        }
                        None => {
                            tracing::info!(flow, entity = %entity, "{flow}: {entity} window complete: {counts}; mark kept")
                        }
                    }
                }
            }
            ProgressEvent::RunFinished { status, counts, .. } => {
                Self::end_bar(st);
                if log {
                    let kind = st.kind.unwrap_or(RunKind::Post);
                    let what = match kind {
                        RunKind::Feed => format!(
                            "{} record(s) read, {} written, {} skipped, {} window(s) failed",
                            counts.read, counts.written, counts.skipped, counts.failed
                        ),
                        // A replay reads dead letters, not rows.
                        RunKind::Replay => {
                            format!("{} journal(s) replayed; {}", counts.mapped, st.tally)
                        }
                        RunKind::Reference => format!(
                            "{} row(s) read, {} record(s); {}",
                            counts.read, counts.mapped, st.tally
                        ),
                        _ => format!(
                            "{} row(s) read, {} journal(s); {}",
                            st.rows, counts.mapped, st.tally
                        ),
                    };
                    tracing::info!(flow, status = %status, "{flow}: {kind} run {status}: {what}");
                }
            }
            _ => {}
        }
    }
}

impl sync_core::progress::Progress for FlowProgress {
    fn event(&self, event: &ProgressEvent) {
        self.on_event(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn a_record_spanning_lines_is_written_as_one() {
        let mut out = OneLine(Vec::new());
        out.write_all(b"2026-12-07T00:00:00Z ERROR failed: x\nhint: y\r\n")
            .unwrap();
        out.write_all(b"2026-12-07T00:00:01Z  INFO plain\n")
            .unwrap();
        assert_eq!(
            String::from_utf8(out.0).unwrap(),
            "2026-12-07T00:00:00Z ERROR failed: x | hint: y\n2026-12-07T00:00:01Z  INFO plain\n"
        );
    }
}
