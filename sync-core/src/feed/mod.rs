//! The supporting flow: Acumatica records kept current in the warehouse behind Looker.
//!
//! A run ([`FeedFlow::run`]) takes the flow's lease, then for each entity (its own partition of
//! the flow's marks):
//!
//! 1. takes a **signpost**: the run's start minus a small lag;
//! 2. reads the entity's **high-water mark** and opens the window at the mark minus a
//!    configurable **lookback** (everything on the first run);
//! 3. reads the records changed in the window `[since, signpost)` ([`AcumaticaChanges`]: time
//!    slices that each fit in one request, so no read relies on a stable offset, several in
//!    flight at once; see its docs), decoding them in a task of their own while it upserts
//!    them into the [`WarehouseSink`] by Acumatica id in batches of
//!    [`batch_records`](FeedOptions::batch_records) (one transaction each); a record changed
//!    after the signpost is read by the next run;
//! 4. moves the mark to the signpost **only after the whole window is written**
//!    (compare-and-set, fenced by the lease);
//! 5. when its [`DeleteScan`] cadence says so, runs the entity's **delete scan**: lists every
//!    id and marks the warehouse rows whose record is certainly gone (`deleted_at`), verifying
//!    each by a direct read first (see [`DeleteScanSummary`] and the `scan` module docs).
//!
//! An entity without a last-modified field (`Subaccount`) is read whole on every run (full
//! refresh) and compared with the warehouse the same way after each read.
//!
//! Killing the process at any point loses nothing (the mark has not moved, the window is read
//! again) and duplicates nothing (upserts by id are idempotent, and an older version never
//! replaces a newer one). One entity failing does not stop the others; its mark stays put.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use sync_core::feed::{FeedConfig, FeedFlow};
//! use sync_core::store::SqliteStore;
//! use sync_core::warehouse::SqliteWarehouse;
//!
//! # async fn demo(acumatica: acumatica_client::Client) -> sync_core::Result<()> {
//! let config = FeedConfig::from_toml_str(r#"
//!     name = "warehouse"
//!     entities = [{ entity = "Vendor" }, { entity = "Bill" }, { entity = "Check" },
//!                 { entity = "JournalTransaction" }, { entity = "Account" }]
//! "#)?;
//! let store = Arc::new(SqliteStore::open("state.db").await?);
//! let warehouse = Arc::new(SqliteWarehouse::open("warehouse.db").await?);
//! let flow = FeedFlow::from_config(&config, acumatica, warehouse, store)?;
//! let summary = flow.run().await?;
//! for window in &summary.entities {
//!     println!("{}: {} written", window.entity, window.written);
//! }
//! # Ok(()) }
//! ```

mod config;
mod pipeline;
mod scan;
mod source;

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use futures::TryStreamExt;
use serde_json::{Value, json};
use tracing::Instrument;

pub use config::{DeleteScan, FeedConfig, FeedEntity, FeedOptions};
pub use scan::{DeleteScanSummary, delete_scan_partition};
pub use source::{AcumaticaChanges, FeedSource};

use crate::error::{Error, Result};
use crate::progress::{Progress, ProgressEvent, Reporter, RunKind};
use crate::runtime::{self, LeaseKeeper, Stopper, default_owner};
use crate::schedule::FlowRun;
use crate::store::{AuditEvent, AuditStage, RunCounts, RunId, RunStatus, StateStore};
use crate::warehouse::{Provenance, TableSpec, WarehouseRecord, WarehouseSink};

/// A source of changed records for the feed (raw JSON, after a timestamp).
pub type ChangeSource = dyn FeedSource;

/// What one entity's window did in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityWindow {
    /// The entity.
    pub entity: String,
    /// Where the window started (the mark minus the lookback); `None`: the first run, read all.
    pub since: Option<DateTime<Utc>>,
    /// The signpost the mark moves to when the window is complete.
    pub signpost: DateTime<Utc>,
    /// Pages read.
    pub pages: u64,
    /// Records read (repeats excluded).
    pub records_read: u64,
    /// Records dropped because their id was read before in this window.
    pub repeats_dropped: u64,
    /// Records inserted or updated.
    pub written: u64,
    /// Records not written because the warehouse held a newer version.
    pub stale: u64,
    /// Detail lines written.
    pub detail_lines: u64,
    /// Whether the mark moved to the signpost.
    pub mark_advanced: bool,
    /// Whether the entity has no last-modified field, so the window read it whole (full
    /// refresh) and compared it with the warehouse.
    pub full_refresh: bool,
    /// What the entity's delete scan did, when one ran (see [`DeleteScan`]).
    pub delete_scan: Option<DeleteScanSummary>,
    /// Why the window (or its delete scan, when `mark_advanced`) did not complete.
    pub error: Option<String>,
}

/// The result of a feed run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedSummary {
    /// The flow.
    pub flow: String,
    /// The run.
    pub run_id: RunId,
    /// How it ended.
    pub status: RunStatus,
    /// One window per entity, in order.
    pub entities: Vec<EntityWindow>,
}

impl FeedSummary {
    /// Totals in the state store's shape.
    pub fn counts(&self) -> RunCounts {
        let mut c = RunCounts::default();
        for w in &self.entities {
            c.read += w.records_read;
            c.mapped += w.records_read;
            c.written += w.written;
            c.skipped += w.stale + w.repeats_dropped;
            c.failed += u64::from(w.error.is_some());
        }
        c
    }
}

impl fmt::Display for FeedSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "flow `{}` run {} {}:",
            self.flow, self.run_id, self.status
        )?;
        for w in &self.entities {
            write!(
                f,
                " {} {} read{}, {} written, {} stale, {} repeats{}{};",
                w.entity,
                w.records_read,
                if w.full_refresh {
                    " (full refresh)"
                } else {
                    ""
                },
                w.written,
                w.stale,
                w.repeats_dropped,
                match &w.delete_scan {
                    Some(s) => format!(", {s}"),
                    None => String::new(),
                },
                match &w.error {
                    Some(e) => format!(" (failed: {e})"),
                    None => String::new(),
                }
            )?;
        }
        Ok(())
    }
}

struct Entry {
    spec: TableSpec,
    source: Arc<ChangeSource>,
    /// The entity's own delete scan cadence, if it has one.
    delete_scan: Option<DeleteScan>,
}

/// A configured feed flow; cheap to clone.
#[derive(Clone)]
pub struct FeedFlow {
    name: String,
    entries: Arc<Vec<Entry>>,
    warehouse: Arc<dyn WarehouseSink>,
    store: Arc<dyn StateStore>,
    options: FeedOptions,
    owner: String,
    progress: Reporter,
}

impl fmt::Debug for FeedFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeedFlow")
            .field("name", &self.name)
            .field(
                "entities",
                &self
                    .entries
                    .iter()
                    .map(|e| e.spec.entity.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("options", &self.options)
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

/// Builds a [`FeedFlow`]; see [`FeedFlow::builder`].
#[must_use]
pub struct FeedFlowBuilder {
    name: String,
    entries: Vec<Entry>,
    warehouse: Option<Arc<dyn WarehouseSink>>,
    store: Option<Arc<dyn StateStore>>,
    options: FeedOptions,
    owner: Option<String>,
    progress: Reporter,
}

impl FeedFlowBuilder {
    /// Adds an entity: its warehouse table and where its changes come from.
    pub fn entity(mut self, spec: TableSpec, source: impl FeedSource + 'static) -> Self {
        self.entries.push(Entry {
            spec,
            source: Arc::new(source),
            delete_scan: None,
        });
        self
    }

    /// The delete scan cadence of the entity added last (default: the options'
    /// [`delete_scan`](FeedOptions::delete_scan)).
    pub fn delete_scan(mut self, cadence: DeleteScan) -> Self {
        if let Some(last) = self.entries.last_mut() {
            last.delete_scan = Some(cadence);
        }
        self
    }

    /// The warehouse.
    pub fn warehouse(mut self, warehouse: Arc<dyn WarehouseSink>) -> Self {
        self.warehouse = Some(warehouse);
        self
    }

    /// The state store (marks, lease, runs, audit).
    pub fn store(mut self, store: Arc<dyn StateStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Window and paging options.
    pub fn options(mut self, options: FeedOptions) -> Self {
        self.options = options;
        self
    }

    /// The lease owner name of this replica (default: [`default_owner`]).
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Where the flow reports its progress while it runs (default: nowhere): pages fetched,
    /// records written, marks advanced; see [`progress`](crate::progress) for the events.
    /// [`FeedFlow::with_progress`] attaches one to a flow built otherwise.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use sync_core::feed::{AcumaticaChanges, FeedFlow};
    /// use sync_core::progress::ProgressEvent;
    /// use sync_core::warehouse::TableSpec;
    ///
    /// # fn demo(client: acumatica_client::Client, warehouse: Arc<dyn sync_core::warehouse::WarehouseSink>,
    /// #   store: Arc<dyn sync_core::store::StateStore>) -> sync_core::Result<()> {
    /// let flow = FeedFlow::builder("warehouse")
    ///     .entity(TableSpec::vendor(), AcumaticaChanges::new(client, "Vendor"))
    ///     .warehouse(warehouse)
    ///     .store(store)
    ///     .progress(|e: &ProgressEvent| {
    ///         if let ProgressEvent::RecordsWritten { entity, written_total, .. } = e {
    ///             eprintln!("{entity}: {written_total} written");
    ///         }
    ///     })
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn progress(mut self, progress: impl Progress + 'static) -> Self {
        self.progress = Reporter::new(progress);
        self
    }

    /// Checks and builds.
    ///
    /// # Errors
    /// A configuration error naming what is missing or wrong.
    pub fn build(self) -> Result<FeedFlow> {
        self.options.check()?;
        if self.name.trim().is_empty() {
            return Err(Error::config("name", "the feed flow needs a name"));
        }
        if self.entries.is_empty() {
            return Err(Error::config(
                "entities",
                "no entity to sync; add at least one",
            ));
        }
        for e in &self.entries {
            e.spec.validate()?;
        }
        Ok(FeedFlow {
            name: self.name,
            entries: Arc::new(self.entries),
            warehouse: self
                .warehouse
                .ok_or_else(|| Error::config("warehouse", "a feed flow needs a warehouse"))?,
            store: self
                .store
                .ok_or_else(|| Error::config("store", "a feed flow needs a state store"))?,
            options: self.options,
            owner: self.owner.unwrap_or_else(default_owner),
            progress: self.progress,
        })
    }
}

impl FeedFlow {
    /// Starts building a flow named `name`.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use sync_core::feed::{AcumaticaChanges, FeedFlow};
    /// use sync_core::warehouse::TableSpec;
    ///
    /// # fn demo(client: acumatica_client::Client, warehouse: Arc<dyn sync_core::warehouse::WarehouseSink>,
    /// #   store: Arc<dyn sync_core::store::StateStore>) -> sync_core::Result<()> {
    /// let flow = FeedFlow::builder("warehouse")
    ///     .entity(TableSpec::vendor(), AcumaticaChanges::new(client.clone(), "Vendor"))
    ///     .entity(TableSpec::bill(), AcumaticaChanges::new(client, "Bill").expand(["Details"]))
    ///     .warehouse(warehouse)
    ///     .store(store)
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn builder(name: impl Into<String>) -> FeedFlowBuilder {
        FeedFlowBuilder {
            name: name.into(),
            entries: Vec::new(),
            warehouse: None,
            store: None,
            options: FeedOptions::default(),
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
    /// use sync_core::feed::{FeedConfig, FeedFlow};
    /// use sync_core::progress::ProgressEvent;
    ///
    /// # async fn demo(config: FeedConfig, acumatica: acumatica_client::Client,
    /// #   warehouse: Arc<dyn sync_core::warehouse::WarehouseSink>,
    /// #   store: Arc<dyn sync_core::store::StateStore>) -> sync_core::Result<()> {
    /// let flow = FeedFlow::from_config(&config, acumatica, warehouse, store)?
    ///     .with_progress(|e: &ProgressEvent| {
    ///         if let ProgressEvent::PageFetched { entity, page, records_read, .. } = e {
    ///             eprintln!("{entity}: page {page}, {records_read} record(s) so far");
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

    /// A flow from its configuration and an Acumatica client.
    ///
    /// # Errors
    /// A configuration error.
    pub fn from_config(
        config: &FeedConfig,
        acumatica: acumatica_client::Client,
        warehouse: Arc<dyn WarehouseSink>,
        store: Arc<dyn StateStore>,
    ) -> Result<Self> {
        config.check()?;
        let mut builder = Self::builder(&config.name)
            .warehouse(warehouse)
            .store(store)
            .options(config.options.clone());
        for e in &config.entities {
            let source = AcumaticaChanges::new(acumatica.clone(), &e.entity)
                .expand(e.expand())
                .page_size(e.page_size.unwrap_or(config.options.page_size))
                .id_page_size(config.options.delete_scan_page_size)
                .read_concurrency(config.options.read_concurrency as usize);
            builder = builder.entity(e.spec()?, source);
            if let Some(cadence) = e.delete_scan {
                builder = builder.delete_scan(cadence);
            }
        }
        builder.build()
    }

    /// The flow's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs every entity's window once.
    ///
    /// # Errors
    /// [`Error::Busy`] when another replica runs the flow; a fenced store error when the lease
    /// was lost. An entity whose window fails is reported in the summary (its mark stays), and
    /// the run ends [`RunStatus::CompletedWithErrors`].
    pub async fn run(&self) -> Result<FeedSummary> {
        self.run_with_shutdown(None).await
    }

    /// [`run`](Self::run), stopping between pages once `shutdown` turns `true` (the current
    /// page is written, the mark of the unfinished window stays).
    ///
    /// # Errors
    /// As [`run`](Self::run), plus [`Error::Cancelled`].
    pub async fn run_with_shutdown(
        &self,
        shutdown: Option<tokio::sync::watch::Receiver<bool>>,
    ) -> Result<FeedSummary> {
        self.run_leased(None, shutdown.map(Stopper::Watch)).await
    }

    /// Runs the flow as a job of the schedule [`Runner`](crate::schedule::Runner), under the
    /// lease the runner holds for it (the schedule's flow name must be this flow's name, and
    /// the runner must share this flow's state store). Stops between pages when the runner's
    /// stop signal fires.
    ///
    /// # Errors
    /// As [`run`](Self::run) (never [`Error::Busy`]); a configuration error when the schedule's
    /// flow name is not this flow's.
    pub async fn run_scheduled(&self, run: &FlowRun) -> Result<FeedSummary> {
        if run.flow != self.name {
            return Err(Error::config(
                "schedule",
                format!(
                    "the runner scheduled flow `{}` but this flow is `{}`; schedule it under its own name",
                    run.flow, self.name
                ),
            ));
        }
        self.run_leased(
            Some(run.lease.clone()),
            Some(Stopper::Runner(run.stop.clone())),
        )
        .await
    }

    async fn run_leased(
        &self,
        borrowed: Option<crate::store::Lease>,
        shutdown: Option<Stopper>,
    ) -> Result<FeedSummary> {
        let (mut keeper, run) = runtime::start_run(
            &self.store,
            &self.name,
            &self.owner,
            self.options.lease_ttl(),
            borrowed,
        )
        .await?;
        let lease = keeper.lease().clone();
        let span = tracing::info_span!("flow_run", flow = %self.name, kind = "feed", run_id = %run.id, fence = lease.fence);
        self.progress.emit(|| ProgressEvent::RunStarted {
            flow: self.name.clone(),
            run_id: run.id.clone(),
            kind: RunKind::Feed,
        });
        let started = Utc::now();
        let mut windows = Vec::new();
        let mut stop: Option<Error> = None;
        for entry in self.entries.iter() {
            if shutdown.as_ref().is_some_and(Stopper::is_set) {
                stop = Some(Error::Cancelled {
                    flow: self.name.clone(),
                });
                break;
            }
            let wspan = tracing::info_span!(parent: &span, "window", entity = %entry.spec.entity);
            let mut window = EntityWindow {
                entity: entry.spec.entity.clone(),
                since: None,
                // Microseconds: what both stores keep, so the mark reads back equal.
                signpost: (started - chrono::Duration::seconds(self.options.lag_secs as i64))
                    .trunc_subsecs(6),
                pages: 0,
                records_read: 0,
                repeats_dropped: 0,
                written: 0,
                stale: 0,
                detail_lines: 0,
                mark_advanced: false,
                full_refresh: false,
                delete_scan: None,
                error: None,
            };
            let result = self
                .window(&mut keeper, &run.id, entry, &mut window, shutdown.as_ref())
                .instrument(wspan)
                .await;
            if let Err(e) = result {
                tracing::warn!(flow = %self.name, entity = %window.entity, error = %e, "window failed; its mark stays");
                window.error = Some(e.to_string());
                let fatal = e.is_fenced() || matches!(e, Error::Cancelled { .. });
                let _ = self
                    .audit(
                        &mut keeper,
                        &run.id,
                        AuditStage::Failed,
                        format!("{} window failed", window.entity),
                        json!({"entity": window.entity, "error": crate::error::chain(&e)}),
                    )
                    .await;
                self.progress.emit(|| ProgressEvent::WindowFinished {
                    window: window.clone(),
                });
                windows.push(window);
                if fatal {
                    stop = Some(e);
                    break;
                }
                continue;
            }
            self.progress.emit(|| ProgressEvent::WindowFinished {
                window: window.clone(),
            });
            windows.push(window);
        }
        let mut summary = FeedSummary {
            flow: self.name.clone(),
            run_id: run.id.clone(),
            status: RunStatus::Succeeded,
            entities: windows,
        };
        summary.status = match &stop {
            Some(Error::Cancelled { .. }) => RunStatus::Interrupted,
            Some(_) => RunStatus::Failed,
            None if summary.entities.iter().any(|w| w.error.is_some()) => {
                RunStatus::CompletedWithErrors
            }
            None => RunStatus::Succeeded,
        };
        let counts = summary.counts();
        span.in_scope(|| {
            tracing::info!(status = %summary.status, records_read = counts.read, written = counts.written, skipped = counts.skipped, failures = counts.failed, "run finished");
        });
        let message = summary.to_string();
        let finished = runtime::finish_run(
            &self.store,
            keeper,
            &run,
            summary.status,
            &counts,
            Some(&message),
        )
        .await;
        self.progress.emit(|| ProgressEvent::RunFinished {
            flow: self.name.clone(),
            run_id: run.id.clone(),
            status: summary.status,
            counts,
        });
        if let Some(e) = stop {
            return Err(e);
        }
        finished?;
        Ok(summary)
    }

    async fn audit(
        &self,
        keeper: &mut LeaseKeeper,
        run_id: &RunId,
        stage: AuditStage,
        outcome: String,
        summary: Value,
    ) -> Result<()> {
        let lease = keeper.fresh().await?;
        self.store
            .append_audit(
                &lease,
                &AuditEvent {
                    run_id: run_id.clone(),
                    natural_key: None,
                    stage,
                    outcome,
                    summary: crate::store::signed(summary, &crate::store::operator()),
                },
            )
            .await?;
        Ok(())
    }

    /// Writes one batch of a window in one warehouse transaction (the lease checked first),
    /// then records it in the audit trail.
    #[allow(clippy::too_many_arguments)]
    async fn write_batch(
        &self,
        keeper: &mut LeaseKeeper,
        run_id: &RunId,
        entry: &Entry,
        window: &mut EntityWindow,
        records: &[WarehouseRecord],
        seen: Provenance,
        batch: u64,
    ) -> Result<()> {
        let entity = &entry.spec.entity;
        // The lease is checked in the store right before each write to the warehouse.
        keeper.check().await?;
        let written = self.warehouse.upsert(&entry.spec, records, &seen).await?;
        window.written += written.written;
        window.stale += written.stale;
        window.detail_lines += written.detail_lines;
        self.progress.emit(|| ProgressEvent::RecordsWritten {
            entity: entity.clone(),
            page: batch,
            written: written.written,
            stale: written.stale,
            written_total: window.written,
        });
        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
        self.audit(
            keeper,
            run_id,
            AuditStage::Written,
            format!("{entity}: {} upserted", written.written),
            json!({"entity": entity, "batch": batch, "pages": window.pages, "table": entry.spec.table, "records": records.len(), "written": written.written, "stale": written.stale, "ids": ids}),
        )
        .await
    }

    /// One entity's window: read (slices in flight together, decoded ahead), upsert batch by
    /// batch, then move the mark.
    async fn window(
        &self,
        keeper: &mut LeaseKeeper,
        run_id: &RunId,
        entry: &Entry,
        window: &mut EntityWindow,
        shutdown: Option<&Stopper>,
    ) -> Result<()> {
        let entity = entry.spec.entity.clone();
        let mark = self.store.watermark(&self.name, &entity).await?;
        let mark_time = match &mark {
            Some(m) => Some(
                DateTime::parse_from_rfc3339(&m.value)
                    .map_err(|e| {
                        Error::data(
                            format!("high-water mark of `{entity}`"),
                            format!(
                                "{:?} is not an RFC 3339 time ({e}); reset the mark",
                                m.value
                            ),
                        )
                    })?
                    .with_timezone(&Utc),
            ),
            None => None,
        };
        window.full_refresh = !entry.source.is_incremental();
        window.since = match window.full_refresh {
            // Read whole every run: there is no time to read changes after.
            true => None,
            false => {
                mark_time.map(|t| t - chrono::Duration::seconds(self.options.lookback_secs as i64))
            }
        };
        self.warehouse.ensure_tables(&entry.spec).await?;
        tracing::info!(entity = %entity, since = ?window.since, signpost = %window.signpost, "window opened");
        self.progress.emit(|| ProgressEvent::WindowOpened {
            entity: entity.clone(),
            since: window.since,
            signpost: window.signpost,
        });
        let read_started = Utc::now();
        let pages = entry
            .source
            .pages_until(window.since.as_ref(), &window.signpost)
            .await?;
        // Pages are decoded into records in a task of their own while batches are written.
        let spec = entry.spec.clone();
        // Pages are moved into their records (no copy of the parsed entity is kept).
        let mut pages = pipeline::read_ahead(pages, 2, move |page: Vec<Value>| {
            Ok(page
                .into_iter()
                .map(|raw| spec.record_from_value(raw))
                .collect::<std::result::Result<Vec<_>, _>>()?)
        });
        let mut seen: HashSet<String> = HashSet::new();
        let endpoint_version = entry.source.endpoint_version();
        let batch_records = self.options.batch_records.max(1) as usize;
        let mut batch: Vec<WarehouseRecord> = Vec::new();
        let mut batches = 0u64;
        loop {
            let next = pages.try_next().await?;
            let done = next.is_none();
            if let Some(page) = next {
                window.pages += 1;
                let before = batch.len();
                for record in page {
                    if seen.insert(record.id.clone()) {
                        batch.push(record);
                    } else {
                        window.repeats_dropped += 1;
                    }
                }
                let added = (batch.len() - before) as u64;
                window.records_read += added;
                self.progress.emit(|| ProgressEvent::PageFetched {
                    entity: entity.clone(),
                    page: window.pages,
                    records: added,
                    records_read: window.records_read,
                });
                if batch.len() < batch_records {
                    continue;
                }
            }
            if !batch.is_empty() {
                batches += 1;
                self.write_batch(
                    keeper,
                    run_id,
                    entry,
                    window,
                    &batch,
                    // Every record was read after the window's reading started: a lower bound
                    // of when it was seen (a delete scan verifies each candidate anyway).
                    Provenance {
                        endpoint_version: endpoint_version.clone(),
                        seen_at: read_started,
                    },
                    batches,
                )
                .await?;
                batch.clear();
                if shutdown.is_some_and(Stopper::is_set) {
                    return Err(Error::Cancelled {
                        flow: self.name.clone(),
                    });
                }
            }
            if done {
                break;
            }
        }
        let value = window.signpost.to_rfc3339_opts(SecondsFormat::Micros, true);
        match mark_time {
            Some(t) if t >= window.signpost => {
                // The clock went back (or runs overlapped): never move a mark backwards.
                tracing::warn!(entity = %entity, mark = %t, signpost = %window.signpost, "signpost not after the mark; mark kept");
            }
            _ => {
                let lease = keeper.fresh().await?;
                self.store
                    .set_watermark(
                        &lease,
                        &entity,
                        mark.as_ref().map(|m| m.value.as_str()),
                        &value,
                    )
                    .await?;
                window.mark_advanced = true;
                self.progress.emit(|| ProgressEvent::MarkAdvanced {
                    entity: entity.clone(),
                    mark: window.signpost,
                });
            }
        }
        self.audit(
            keeper,
            run_id,
            AuditStage::Written,
            format!("{entity} window complete"),
            json!({"entity": entity, "since": window.since.map(|t| t.to_rfc3339()), "signpost": value, "pages": window.pages, "records": window.records_read, "written": window.written, "stale": window.stale, "repeats_dropped": window.repeats_dropped, "full_refresh": window.full_refresh}),
        )
        .await?;
        if window.full_refresh {
            // The whole entity was just read and written: rows it did not return are the
            // candidates, verified one by one before any is marked.
            if self.cadence(entry) != DeleteScan::Never {
                let mut summary = DeleteScanSummary {
                    listed: window.records_read,
                    ..Default::default()
                };
                self.verify_and_mark(keeper, run_id, entry, read_started, &mut summary)
                    .await?;
                self.record_scan(keeper, &entity, read_started).await?;
                window.delete_scan = Some(summary);
            }
        } else {
            window.delete_scan = self.scan_if_due(keeper, run_id, entry).await?;
        }
        Ok(())
    }
}
