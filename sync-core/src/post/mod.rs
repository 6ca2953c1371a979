//! The primary flow: Looker rows to balanced Acumatica journals, posted exactly once.
//!
//! A run ([`PostFlow::run`]):
//!
//! 1. acquires the flow's lease (another replica running it gives [`Error::Busy`]) and starts a
//!    run in the history; every state write presents the lease's fence;
//! 2. **reconciles** intents earlier runs left without outcome, by lookup, before anything else:
//!    found means posted; not found means never created, unless the create was sent less than
//!    the settle horizon ago ([`PostOptions::settle_horizon_secs`]): Acumatica may still apply
//!    a queued request, so it stays pending, nothing else is created in its partition, and the
//!    run reports it with the time after which a rerun settles it
//!    ([`RunSummary::settles_after`]);
//! 3. reads Acumatica's reference data once ([`DocumentSink::reference_data`]);
//! 4. runs the Looker query (its fields validated against the explore first) and streams the
//!    rows; maps them ([`JournalMapping`]); **validates** every journal, reporting every problem
//!    at once; journals with problems are never posted, dead-lettered for replay, and the
//!    [`ValidationPolicy`](crate::validate::ValidationPolicy) decides about the others;
//! 5. for each journal: natural key → **intent** in the ledger → **lookup** in Acumatica (one
//!    list request per page of keys) → **create only if absent** (insert-only PUT) →
//!    **outcome** in the ledger → **audit** event; optional release. Right before each create
//!    the ledger records the attempt ([`StateStore::record_attempt`], fenced). A create whose
//!    outcome is unknown (dropped connection, timeout) is followed by a lookup, never resent.
//!    A journal whose partition was posted with other content is reported and handled by the
//!    [`ChangedContentPolicy`](crate::key::ChangedContentPolicy) — never posted twice;
//! 6. finishes the run with its counts ([`RunSummary`]) and releases the lease.
//!
//! [`PostFlow::replay`] sends dead-lettered journals through the same protocol.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use sync_core::post::{PostFlow, PostFlowConfig};
//! use sync_core::store::SqliteStore;
//!
//! # async fn demo(looker: looker_client::Client, acumatica: acumatica_client::Client) -> sync_core::Result<()> {
//! let config = PostFlowConfig::from_toml_file("flows/overhead_allocation.toml")?;
//! let store = Arc::new(SqliteStore::open("state.db").await?);
//! let flow = PostFlow::from_config(&config, looker, acumatica, store)?;
//! let summary = flow.run().await?;
//! println!("{summary}");
//! for batch in summary.posted_batches() {
//!     println!("posted batch {batch}");
//! }
//! # Ok(()) }
//! ```

mod config;
mod foreign;
mod lease;
mod lookup;
mod plan;
mod protocol;
mod replay;
mod sources;
mod summary;

use std::sync::Arc;

use futures::TryStreamExt;
use serde_json::json;
use tracing::Instrument;

pub use crate::looker_query::LookerQuerySource;
pub use crate::store::operator;
pub use config::{
    DEFAULT_SETTLE_HORIZON, LICENCE_QUEUE_WAIT, LookerQueryConfig, LookerReadMode,
    LookerTaskConfig, MAX_CONCURRENCY, PostFlowConfig, PostOptions,
};
pub use foreign::{ForeignJournal, ForeignJournalPolicy, foreign_journals, foreign_message};
pub(crate) use lease::Stopper;
pub use lease::default_owner;
pub use plan::{PlannedJournal, PlannedState, PostPlan};
pub use replay::ReplayOptions;
pub use sources::AcumaticaJournals;
pub use summary::{DocumentReport, DocumentState, PostCounts, RunSummary};

use crate::error::{Error, Result};
use crate::key::NaturalKey;
use crate::mapping::{JournalDocument, JournalMapping, MappedJournals, Row};
use crate::progress::{Progress, ProgressEvent, Reporter, RunKind};
use crate::schedule::FlowRun;
use crate::store::{
    AuditRecord, AuditStage, DeadLetter, Lease, LedgerEntry, LedgerFilter, RunId, RunRecord,
    RunStatus, StateStore,
};
use crate::traits::{DocumentSink, RecordSource};
use crate::validate::{DocumentStatus, ValidationReport, validate};
use protocol::Poster;

/// A source of Looker-like rows for the post flow.
pub type RowSource = dyn RecordSource<Record = Row, Cursor = ()>;

/// A configured post flow; cheap to clone and share between tasks.
#[derive(Clone)]
pub struct PostFlow {
    mapping: Arc<JournalMapping>,
    source: Arc<RowSource>,
    sink: Arc<dyn DocumentSink>,
    store: Arc<dyn StateStore>,
    options: PostOptions,
    owner: String,
    progress: Reporter,
}

impl std::fmt::Debug for PostFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostFlow")
            .field("flow", &self.mapping.flow)
            .field("source", &self.source.describe())
            .field("options", &self.options)
            .field("owner", &self.owner)
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

/// Builds a [`PostFlow`]; see [`PostFlow::builder`].
#[must_use]
pub struct PostFlowBuilder {
    mapping: JournalMapping,
    source: Option<Arc<RowSource>>,
    sink: Option<Arc<dyn DocumentSink>>,
    store: Option<Arc<dyn StateStore>>,
    options: PostOptions,
    owner: Option<String>,
    progress: Reporter,
}

impl PostFlowBuilder {
    /// Where rows come from (e.g. a [`LookerQuerySource`]).
    pub fn source(
        mut self,
        source: impl RecordSource<Record = Row, Cursor = ()> + 'static,
    ) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Where journals go (e.g. [`AcumaticaJournals`]).
    pub fn sink(mut self, sink: impl DocumentSink + 'static) -> Self {
        self.sink = Some(Arc::new(sink));
        self
    }

    /// The state store (ledger, leases, runs, audit, dead letters).
    pub fn store(mut self, store: Arc<dyn StateStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Posting options (default: [`PostOptions::default`]).
    pub fn options(mut self, options: PostOptions) -> Self {
        self.options = options;
        self
    }

    /// The lease owner name of this replica (default: [`default_owner`]).
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Where the flow reports its progress while it runs (default: nowhere); see
    /// [`progress`](crate::progress) for the events. [`PostFlow::with_progress`] attaches one
    /// to a flow built otherwise.
    ///
    /// ```no_run
    /// use sync_core::post::PostFlow;
    /// use sync_core::progress::ProgressEvent;
    ///
    /// # fn demo(mapping: sync_core::mapping::JournalMapping, source: sync_core::post::LookerQuerySource,
    /// #   sink: sync_core::post::AcumaticaJournals, store: std::sync::Arc<dyn sync_core::store::StateStore>) -> sync_core::Result<()> {
    /// let flow = PostFlow::builder(mapping)
    ///     .source(source)
    ///     .sink(sink)
    ///     .store(store)
    ///     .progress(|e: &ProgressEvent| {
    ///         if let ProgressEvent::RowsRead { rows } = e {
    ///             eprintln!("{rows} row(s) read");
    ///         }
    ///     })
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn progress(mut self, progress: impl Progress + 'static) -> Self {
        self.progress = Reporter::new(progress);
        self
    }

    /// Checks the parts and builds the flow.
    ///
    /// # Errors
    /// A configuration error naming a missing part or a bad option.
    pub fn build(self) -> Result<PostFlow> {
        self.options.check()?;
        self.mapping.check()?;
        let missing = |what: &str| {
            Error::config(
                what,
                format!("a post flow needs a {what}; set it on the builder"),
            )
        };
        Ok(PostFlow {
            source: self.source.ok_or_else(|| missing("source"))?,
            sink: self.sink.ok_or_else(|| missing("sink"))?,
            store: self.store.ok_or_else(|| missing("store"))?,
            mapping: Arc::new(self.mapping),
            options: self.options,
            owner: self.owner.unwrap_or_else(default_owner),
            progress: self.progress,
        })
    }
}

impl PostFlow {
    /// Starts building a flow for `mapping` (whose `flow` name names the flow: its lease,
    /// ledger, runs and audit trail).
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use sync_core::mapping::JournalMapping;
    /// use sync_core::post::{AcumaticaJournals, LookerQueryConfig, LookerQuerySource, PostFlow, PostOptions};
    ///
    /// # async fn demo(looker: looker_client::Client, acumatica: acumatica_client::Client,
    /// #   store: Arc<dyn sync_core::store::StateStore>, query: LookerQueryConfig) -> sync_core::Result<()> {
    /// let mapping = JournalMapping::from_toml_file("overhead_allocation.toml")?;
    /// let flow = PostFlow::builder(mapping.clone())
    ///     .source(LookerQuerySource::new(looker, &query, &mapping)?)
    ///     .sink(AcumaticaJournals::new(acumatica))
    ///     .store(store)
    ///     .options(PostOptions { release: true, ..Default::default() })
    ///     .build()?;
    /// let summary = flow.run().await?;
    /// # Ok(()) }
    /// ```
    pub fn builder(mapping: JournalMapping) -> PostFlowBuilder {
        PostFlowBuilder {
            mapping,
            source: None,
            sink: None,
            store: None,
            options: PostOptions::default(),
            owner: None,
            progress: Reporter::default(),
        }
    }

    /// The same flow, reporting its progress to `progress` (replacing any listener it had);
    /// for flows built by [`from_config`](Self::from_config). See [`progress`](crate::progress)
    /// for the events.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use sync_core::post::{PostFlow, PostFlowConfig};
    /// use sync_core::progress::ProgressEvent;
    ///
    /// # async fn demo(config: PostFlowConfig, looker: looker_client::Client,
    /// #   acumatica: acumatica_client::Client, store: Arc<dyn sync_core::store::StateStore>) -> sync_core::Result<()> {
    /// let flow = PostFlow::from_config(&config, looker, acumatica, store)?
    ///     .with_progress(|e: &ProgressEvent| {
    ///         if let ProgressEvent::DocumentFinished { document } = e {
    ///             eprintln!("{} {:?}", document.natural_key, document.state);
    ///         }
    ///     });
    /// flow.run().await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn with_progress(mut self, progress: impl Progress + 'static) -> Self {
        self.progress = Reporter::new(progress);
        self
    }

    /// A flow from its configuration file's contents and the two clients.
    ///
    /// # Errors
    /// A configuration or mapping error.
    pub fn from_config(
        config: &PostFlowConfig,
        looker: looker_client::Client,
        acumatica: acumatica_client::Client,
        store: Arc<dyn StateStore>,
    ) -> Result<Self> {
        config.check()?;
        config
            .post
            .check_settle_horizon(acumatica.request_timeout())?;
        let mapping = config.load_mapping()?;
        let source = LookerQuerySource::new(looker, &config.looker, &mapping)?;
        Self::builder(mapping)
            .source(source)
            .sink(AcumaticaJournals::new(acumatica))
            .store(store)
            .options(config.post.clone())
            .build()
    }

    /// The flow's name.
    pub fn name(&self) -> &str {
        &self.mapping.flow
    }

    /// The options.
    pub fn options(&self) -> &PostOptions {
        &self.options
    }

    /// The state store.
    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.store
    }

    /// Runs the flow once (see the module docs for the steps).
    ///
    /// # Errors
    /// [`Error::Busy`] when another replica runs it; [`Error::Validation`] when validation
    /// stopped the run (every problem listed; nothing posted under all-or-nothing);
    /// [`Error::ChangedContent`] under the `fail` policy; a fenced store error when the lease
    /// was lost; client and store errors that stopped the run (its state stays consistent:
    /// the next run reconciles).
    pub async fn run(&self) -> Result<RunSummary> {
        self.run_with_shutdown(None).await
    }

    /// [`run`](Self::run), stopping between documents once `shutdown` turns `true` (the current
    /// document is finished and its state saved; the run ends [`Error::Cancelled`]).
    ///
    /// # Errors
    /// As [`run`](Self::run), plus [`Error::Cancelled`].
    pub async fn run_with_shutdown(
        &self,
        shutdown: Option<tokio::sync::watch::Receiver<bool>>,
    ) -> Result<RunSummary> {
        self.in_run(
            RunKind::Post,
            None,
            shutdown.map(Stopper::Watch),
            |flow, poster| Box::pin(flow.post_body(poster)),
        )
        .await
    }

    /// Runs the flow as a job of the schedule [`Runner`](crate::schedule::Runner), under the
    /// lease the runner acquired and renews for it (the schedule's flow name must be this
    /// flow's name, and the runner must share this flow's state store). Stops between
    /// documents when the runner's stop signal fires.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use sync_core::schedule::{FlowSchedule, Runner};
    ///
    /// # async fn demo(flow: sync_core::post::PostFlow) -> Result<(), Box<dyn std::error::Error>> {
    /// let runner = Runner::builder(flow.store().clone())
    ///     .schedule(FlowSchedule::new(flow.name(), "0 6 1 * *", "Europe/Berlin")?)
    ///     .build()?;
    /// let flow = Arc::new(flow);
    /// runner
    ///     .run(
    ///         move |run| {
    ///             let flow = flow.clone();
    ///             async move { flow.run_scheduled(&run).await.map(|_| ()).map_err(Into::into) }
    ///         },
    ///         async { tokio::signal::ctrl_c().await.ok(); },
    ///     )
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`run`](Self::run) (never [`Error::Busy`]: the runner holds the lease); a
    /// configuration error when the schedule's flow name is not this flow's.
    pub async fn run_scheduled(&self, run: &FlowRun) -> Result<RunSummary> {
        if run.flow != self.name() {
            return Err(Error::config(
                "schedule",
                format!(
                    "the runner scheduled flow `{}` but this flow is `{}`; schedule it under its own name",
                    run.flow,
                    self.name()
                ),
            ));
        }
        self.in_run(
            RunKind::Post,
            Some(run.lease.clone()),
            Some(Stopper::Runner(run.stop.clone())),
            |flow, poster| Box::pin(flow.post_body(poster)),
        )
        .await
    }

    /// Replays dead-lettered journals of this flow (all unresolved ones, or those with the
    /// given ids) through the same protocol: re-validated against fresh reference data, looked
    /// up, created only if absent, the changed-content policy deciding when the partition holds
    /// other content. Of several letters for one partition only the newest is replayed; the
    /// older ones are resolved as superseded. Posted ones are resolved.
    /// [`replay_with`](Self::replay_with) can also re-map the letters from the current mapping.
    ///
    /// ```no_run
    /// # async fn demo(flow: sync_core::post::PostFlow) -> sync_core::Result<()> {
    /// let letters = flow.dead_letters().await?;
    /// let summary = flow.replay(Some(&[letters[0].id])).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`run`](Self::run); a dead letter that cannot be read back is reported, not fatal.
    pub async fn replay(&self, ids: Option<&[i64]>) -> Result<RunSummary> {
        self.replay_with(&ReplayOptions {
            ids: ids.map(<[i64]>::to_vec),
            ..ReplayOptions::default()
        })
        .await
    }

    /// The latest runs of this flow, newest first.
    ///
    /// # Errors
    /// Store errors.
    pub async fn recent_runs(&self, limit: u32) -> Result<Vec<RunRecord>> {
        Ok(self.store.recent_runs(self.name(), limit).await?)
    }

    /// The audit trail of one run.
    ///
    /// # Errors
    /// Store errors.
    pub async fn audit_for_run(&self, run: &RunId) -> Result<Vec<AuditRecord>> {
        Ok(self.store.audit_for_run(run).await?)
    }

    /// The audit trail of one document across runs.
    ///
    /// # Errors
    /// Store errors.
    pub async fn audit_for_document(&self, natural_key: &str) -> Result<Vec<AuditRecord>> {
        Ok(self.store.audit_for_key(self.name(), natural_key).await?)
    }

    /// Ledger entries of this flow.
    ///
    /// # Errors
    /// Store errors.
    pub async fn ledger(&self, filter: &LedgerFilter) -> Result<Vec<LedgerEntry>> {
        Ok(self.store.ledger_entries(self.name(), filter).await?)
    }

    /// Unresolved dead letters of this flow.
    ///
    /// # Errors
    /// Store errors.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        Ok(self.store.dead_letters(self.name(), false).await?)
    }

    /// The lease → run → body → finish → release frame shared by runs and replays.
    async fn in_run<F>(
        &self,
        kind: RunKind,
        borrowed: Option<Lease>,
        shutdown: Option<Stopper>,
        body: F,
    ) -> Result<RunSummary>
    where
        F: for<'a> FnOnce(
            &'a PostFlow,
            &'a mut Poster,
        )
            -> std::pin::Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>,
    {
        let flow = self.name().to_owned();
        let (keeper, run) = crate::runtime::start_run(
            &self.store,
            &flow,
            &self.owner,
            self.options.lease_ttl(),
            borrowed,
        )
        .await?;
        let lease = keeper.lease().clone();
        let span = tracing::info_span!("flow_run", flow = %flow, kind = kind.as_str(), run_id = %run.id, fence = lease.fence);
        self.progress.emit(|| ProgressEvent::RunStarted {
            flow: flow.clone(),
            run_id: run.id.clone(),
            kind,
        });
        let open_letters = match self.store.dead_letters(&flow, false).await {
            Ok(letters) => letters.into_iter().map(|l| (l.natural_key, l.id)).collect(),
            Err(e) => {
                keeper.release().await;
                return Err(e.into());
            }
        };
        let mut poster = Poster::new(
            flow.clone(),
            self.store.clone(),
            self.sink.clone(),
            keeper,
            run.id.clone(),
            self.options.clone(),
            open_letters,
            shutdown,
            self.progress.clone(),
        );
        let result = body(self, &mut poster).instrument(span.clone()).await;
        let counts = poster.counts;
        let status = match &result {
            Ok(()) if counts.has_errors() => RunStatus::CompletedWithErrors,
            Ok(()) => RunStatus::Succeeded,
            Err(Error::Cancelled { .. }) => RunStatus::Interrupted,
            Err(_) => RunStatus::Failed,
        };
        let message = match &result {
            Ok(()) => counts.to_string(),
            Err(e) => format!("{counts}; stopped: {e}"),
        };
        let _enter = span.enter();
        tracing::info!(
            status = %status,
            rows_read = counts.rows_read,
            documents_posted = counts.documents_posted,
            duplicates_skipped = counts.duplicates_skipped,
            failures = counts.invalid + counts.failed + counts.pending + counts.release_failures,
            retries = counts.retries,
            "run finished"
        );
        drop(_enter);
        let Poster {
            keeper,
            documents,
            validation,
            warnings,
            ..
        } = poster;
        let finished = crate::runtime::finish_run(
            &self.store,
            keeper,
            &run,
            status,
            &counts.to_run_counts(),
            Some(&message),
        )
        .await;
        self.progress.emit(|| ProgressEvent::RunFinished {
            flow: flow.clone(),
            run_id: run.id.clone(),
            status,
            counts: counts.to_run_counts(),
        });
        result?;
        finished?;
        Ok(RunSummary {
            flow,
            run_id: run.id,
            status,
            counts,
            documents,
            validation,
            warnings,
        })
    }

    async fn post_body(&self, poster: &mut Poster) -> Result<()> {
        poster.reconcile().await?;
        let reference = self.sink.reference_data().await?;
        let mut rows: Vec<Row> = Vec::new();
        let mut pages = self.source.pages(None).await?;
        while let Some(page) = pages.try_next().await? {
            rows.extend(page);
            self.progress.emit(|| ProgressEvent::RowsRead {
                rows: rows.len() as u64,
            });
            poster.keeper.fresh().await?;
        }
        poster.counts.rows_read = rows.len() as u64;
        poster
            .audit(
                None,
                AuditStage::Read,
                format!("{} row(s) read", rows.len()),
                json!({"source": self.source.describe(), "rows": rows.len()}),
            )
            .await?;
        self.check_row_count(poster, rows.len()).await?;
        let mapped = self.mapping.map_rows(&rows)?;
        poster.run_rows = Arc::new(rows);
        poster.counts.documents_mapped = mapped.documents.len() as u64;
        self.progress.emit(|| ProgressEvent::DocumentsMapped {
            documents: mapped.documents.len() as u64,
        });
        for doc in &mapped.documents {
            let key = NaturalKey::for_document(doc).to_string();
            poster
                .audit(
                    Some(&key),
                    AuditStage::Mapped,
                    format!("{} line(s) from {} row(s)", doc.lines.len(), doc.rows().len()),
                    json!({"partition": doc.partition.to_string(), "lines": doc.lines.len(), "debit_total": doc.total_debit().to_string(), "credit_total": doc.total_credit().to_string()}),
                )
                .await?;
        }
        let report = validate(&mapped, &reference, self.options.validation);
        self.handle_validation(poster, &mapped, &report).await?;
        let postable: Vec<JournalDocument> = report.postable(&mapped).cloned().collect();
        self.check_foreign(poster, &postable).await?;
        if !report.is_clean() {
            poster.validation = Some(report.clone());
            if postable.is_empty() {
                self.progress
                    .emit(|| ProgressEvent::DocumentsPlanned { documents: 0 });
                return Err(report.into());
            }
        }
        poster.post_documents(postable).await
    }

    /// An empty query result is a warning (logged, in the summary); fewer rows than
    /// [`PostOptions::min_rows`] is an error before anything is mapped or posted.
    async fn check_row_count(&self, poster: &mut Poster, rows: usize) -> Result<()> {
        let query = self.source.describe();
        if let Some(min) = self.options.min_rows
            && (rows as u64) < min
        {
            let detail = format!(
                "the query returned {rows} row(s), fewer than min_rows = {min}; nothing was posted. An empty or short result usually means a broken model, explore or filter rather than a quiet period: check the query in Looker, or lower min_rows in [flows.post]"
            );
            poster
                .audit(
                    None,
                    AuditStage::Failed,
                    format!("{rows} row(s), fewer than min_rows = {min}"),
                    json!({"source": query, "rows": rows, "min_rows": min}),
                )
                .await?;
            return Err(Error::data(format!("query {query}"), detail));
        }
        if rows == 0 {
            let warning = format!(
                "the query {query} returned no rows: nothing to post. If this period should have an allocation, check the model and filters; set min_rows in [flows.post] to make this an error"
            );
            tracing::warn!(flow = %self.name(), query = %query, "the query returned no rows");
            poster.warnings.push(warning);
        }
        Ok(())
    }

    /// Reports every validation problem (audit events, dead letters for invalid journals).
    async fn handle_validation(
        &self,
        poster: &mut Poster,
        mapped: &MappedJournals,
        report: &ValidationReport,
    ) -> Result<()> {
        if report.is_clean() {
            return Ok(());
        }
        tracing::warn!(issues = report.issues.len(), "validation found problems");
        let run_issues: Vec<String> = report.run_issues().map(ToString::to_string).collect();
        if !run_issues.is_empty() {
            poster
                .audit(
                    None,
                    AuditStage::Failed,
                    format!("{} problem(s) not tied to one journal", run_issues.len()),
                    json!({"issues": run_issues}),
                )
                .await?;
        }
        for verdict in &report.documents {
            let Some(doc) = mapped.documents.get(verdict.index) else {
                continue;
            };
            let key = NaturalKey::for_document(doc);
            match verdict.status {
                DocumentStatus::Invalid { issues } => {
                    let texts: Vec<String> = report
                        .issues_for(verdict.index)
                        .map(ToString::to_string)
                        .collect();
                    poster.counts.invalid += 1;
                    poster.dead_letter(doc, &key, &texts.join("\n")).await?;
                    poster
                        .audit(
                            Some(&key.to_string()),
                            AuditStage::Failed,
                            format!("{issues} validation problem(s); not posted"),
                            json!({"partition": doc.partition.to_string(), "issues": texts}),
                        )
                        .await?;
                    poster.push_report(doc, &key, DocumentState::Invalid { issues });
                }
                DocumentStatus::Withheld => {
                    poster.counts.withheld += 1;
                    let reason = "withheld: other journals of this run have problems (policy all_or_nothing)".to_owned();
                    poster
                        .audit(
                            Some(&key.to_string()),
                            AuditStage::Skipped,
                            "withheld",
                            json!({"reason": reason}),
                        )
                        .await?;
                    poster.push_report(doc, &key, DocumentState::Withheld { reason });
                }
                DocumentStatus::Postable => {}
            }
        }
        Ok(())
    }
}
