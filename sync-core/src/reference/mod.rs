//! The second kind of flow: reference records (e.g. an approved-vendor list kept in Looker)
//! upserted into an Acumatica entity by key, sending only the fields that changed.
//!
//! A run ([`ReferenceFlow::run`]):
//!
//! 1. acquires the flow's lease (another replica running it gives [`Error::Busy`]) and starts a
//!    run in the history; every state write presents the lease's fence, and the lease is
//!    checked again before each write to Acumatica;
//! 2. reads every row from the source and maps it with the [`ReferenceMapping`]; when any row
//!    is invalid, **every** problem is audited and returned at once ([`Error::Data`]) and
//!    nothing is written;
//! 3. reads the current records for the mapped keys in batches: one list request per
//!    [`lookup_page_size`](ReferenceOptions::lookup_page_size) keys, filtered by an or-ed
//!    `Key eq '…'` (linked entities of `a/b` field paths are expanded);
//! 4. diffs each record ([`ReferenceRecord::diff`]): an absent record is created (insert-only
//!    `PUT`), an existing one gets its key and the changed fields only (update-only `PUT`), an
//!    unchanged one gets nothing. Each record leaves an audit event (`created`, `updated`,
//!    `unchanged`, `rejected`, `failed`) with the names of the fields sent, never their values;
//!    a record Acumatica refuses (422, or 400 naming fields) is dead-lettered and the others go
//!    on; a later success resolves the record's open dead letter;
//! 5. finishes the run with its counts ([`ReferenceSummary`]) and releases the lease.
//!
//! **Keys the site assigns itself.** When a numbering sequence covers the entity, Acumatica
//! saves an inserted record under the next number whatever key was asked for (FACTS: a `PUT`
//! with `123` created `C1165`), so the next run would not find it and would create it again.
//! The flow reads the saved key from the insert's answer and, as
//! [`ReferenceOptions::server_keys`] says, either keeps `123 -> C1165` in the state store's key
//! map ([`ServerKeys::Map`]: later runs look up and update `C1165`, the summary, audit trail and
//! plan show it) or stops the run with an error saying what happened and what to do
//! ([`ServerKeys::Refuse`], the default: the record stays in the audit trail and the key map,
//! and later runs write nothing until it is settled). Under `map`, an insert is recorded in the
//! key map before it is sent, so one whose answer was lost is not created again: the rerun
//! finds it by its key, or by [`ReferenceOptions::source_key_field`], or fails that record
//! until a person settles it.
//!
//! While it runs, the flow reports its progress (rows read, records mapped, each batch of keys
//! looked up, each record's outcome) to a listener attached with
//! [`ReferenceFlowBuilder::progress`] or [`ReferenceFlow::with_progress`]; see
//! [`progress`](crate::progress) for the events and their order.
//!
//! [`ReferenceFlow::plan`] is the same run without its writes: it reads, maps, looks the keys up
//! and diffs with the same code, and returns per key whether the record would be created,
//! updated (and which fields) or left unchanged, touching neither Acumatica nor the state store.
//!
//! The flow needs no ledger: it is idempotent by construction. The key finds the record, the
//! diff decides what to send, so a rerun (or a run after a write whose outcome was unknown)
//! sends nothing for records already in step.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use sync_core::mapping::ReferenceMapping;
//! use sync_core::post::LookerQueryConfig;
//! use sync_core::reference::{ReferenceFlow, ReferenceQuerySource};
//! use sync_core::store::SqliteStore;
//!
//! # async fn demo(looker: looker_client::Client, acumatica: acumatica_client::Client) -> sync_core::Result<()> {
//! let mapping = ReferenceMapping::from_toml_file("approved_vendors.toml")?;
//! let query: LookerQueryConfig = toml::from_str(r#"
//!     model = "finance"
//!     explore = "approved_vendors"
//! "#).expect("valid TOML");
//! let flow = ReferenceFlow::builder(mapping.clone())
//!     .source(ReferenceQuerySource::new(looker, &query, &mapping)?)
//!     .acumatica(acumatica)
//!     .store(Arc::new(SqliteStore::open("state.db").await?))
//!     .build()?;
//! let summary = flow.run().await?; // a rerun sends nothing
//! println!("{summary}");
//! println!("created {:?}", summary.keys_with("created"));
//! # Ok(()) }
//! ```

mod keys;
mod options;
mod plan;
mod source;
mod summary;
mod wire;

use std::collections::HashMap;
use std::sync::Arc;

use acumatica_client::{ErrorKind, Filter, ListQuery, PutMode};
use futures::TryStreamExt;
use serde_json::{Map, Value, json};
use tracing::Instrument;

pub use options::{ReferenceOptions, ServerKeys};
pub use plan::{PlannedRecord, ReferencePlan};
pub use source::ReferenceQuerySource;
pub use summary::{RecordOutcome, RecordReport, ReferenceCounts, ReferenceSummary};

use crate::error::{Error, Result};
use crate::mapping::{RecordChange, ReferenceMapping, ReferenceRecord, Row};
use crate::progress::{Progress, ProgressEvent, Reporter, RunKind};
use crate::runtime::{self, LeaseKeeper, Stopper, default_owner};
use crate::store::{
    AuditEvent, AuditStage, NewDeadLetter, RunId, RunStatus, StateStore, redact, signed,
};
use crate::traits::RecordSource;

/// A source of Looker-like rows for a reference flow.
pub type RowSource = dyn RecordSource<Record = Row, Cursor = ()>;

/// A configured reference flow; cheap to clone and share between tasks.
#[derive(Clone)]
pub struct ReferenceFlow {
    mapping: Arc<ReferenceMapping>,
    source: Arc<RowSource>,
    acumatica: acumatica_client::Client,
    store: Arc<dyn StateStore>,
    options: ReferenceOptions,
    owner: String,
    progress: Reporter,
}

impl std::fmt::Debug for ReferenceFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceFlow")
            .field("flow", &self.mapping.flow)
            .field("entity", &self.mapping.entity)
            .field("source", &self.source.describe())
            .field("options", &self.options)
            .field("owner", &self.owner)
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

/// Builds a [`ReferenceFlow`]; see [`ReferenceFlow::builder`].
#[must_use]
pub struct ReferenceFlowBuilder {
    mapping: ReferenceMapping,
    source: Option<Arc<RowSource>>,
    acumatica: Option<acumatica_client::Client>,
    store: Option<Arc<dyn StateStore>>,
    options: ReferenceOptions,
    owner: Option<String>,
    progress: Reporter,
}

impl ReferenceFlowBuilder {
    /// Where rows come from (e.g. a [`ReferenceQuerySource`]).
    pub fn source(
        mut self,
        source: impl RecordSource<Record = Row, Cursor = ()> + 'static,
    ) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// The Acumatica client the records are read from and written to.
    pub fn acumatica(mut self, client: acumatica_client::Client) -> Self {
        self.acumatica = Some(client);
        self
    }

    /// The state store (leases, runs, audit, dead letters).
    pub fn store(mut self, store: Arc<dyn StateStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Options (default: [`ReferenceOptions::default`]).
    pub fn options(mut self, options: ReferenceOptions) -> Self {
        self.options = options;
        self
    }

    /// The lease owner name of this replica (default: [`default_owner`]).
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Where the flow reports its progress while it runs (default: nowhere): rows read, records
    /// mapped, keys looked up, each record's outcome; see [`progress`](crate::progress) for the
    /// events. [`ReferenceFlow::with_progress`] attaches one to a flow built otherwise. A plan
    /// reports nothing.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use sync_core::mapping::ReferenceMapping;
    /// use sync_core::progress::ProgressEvent;
    /// use sync_core::reference::{ReferenceFlow, ReferenceQuerySource};
    ///
    /// # fn demo(source: ReferenceQuerySource, acumatica: acumatica_client::Client,
    /// #   store: Arc<dyn sync_core::store::StateStore>) -> sync_core::Result<()> {
    /// let mapping = ReferenceMapping::from_toml_file("approved_vendors.toml")?;
    /// let flow = ReferenceFlow::builder(mapping)
    ///     .source(source)
    ///     .acumatica(acumatica)
    ///     .store(store)
    ///     .progress(|e: &ProgressEvent| {
    ///         if let ProgressEvent::RecordFinished { record } = e {
    ///             eprintln!("{}: {}", record.key, record.outcome.as_str());
    ///         }
    ///     })
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn progress(mut self, progress: impl Progress + 'static) -> Self {
        self.progress = Reporter::new(progress);
        self
    }

    /// Plans a run without building a flow: needs the mapping, a source and the Acumatica
    /// client, but no state store (a plan writes none); with one set, records of the flow's key
    /// map are looked up and compared under the key Acumatica saved
    /// ([`PlannedRecord::saved_key`]). See [`ReferenceFlow::plan`].
    ///
    /// ```no_run
    /// use sync_core::mapping::ReferenceMapping;
    /// use sync_core::post::LookerQueryConfig;
    /// use sync_core::reference::{ReferenceFlow, ReferenceQuerySource};
    ///
    /// # async fn demo(looker: looker_client::Client, acumatica: acumatica_client::Client) -> sync_core::Result<()> {
    /// let mapping = ReferenceMapping::from_toml_file("approved_vendors.toml")?;
    /// let query: LookerQueryConfig = toml::from_str("model = \"finance\"\nexplore = \"approved_vendors\"")
    ///     .expect("valid TOML");
    /// let plan = ReferenceFlow::builder(mapping.clone())
    ///     .source(ReferenceQuerySource::new(looker, &query, &mapping)?)
    ///     .acumatica(acumatica)
    ///     .plan()
    ///     .await?;
    /// println!("{plan}");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`ReferenceFlow::plan`], and a configuration error naming a missing part or a bad
    /// option.
    pub async fn plan(self) -> Result<ReferencePlan> {
        self.options.check()?;
        self.mapping.check()?;
        keys::check_source_key_field(&self.options, &self.mapping)?;
        let source = self.source.ok_or_else(|| {
            Error::config(
                "source",
                "a reference plan needs a source; set it on the builder",
            )
        })?;
        let acumatica = self.acumatica.ok_or_else(|| {
            Error::config(
                "acumatica",
                "a reference plan needs an acumatica client; set it on the builder",
            )
        })?;
        let book = match &self.store {
            Some(store) => {
                keys::KeyBook::load(store.as_ref(), &self.mapping.flow, &self.mapping.entity)
                    .await?
            }
            None => keys::KeyBook::default(),
        };
        let reader = Reader {
            mapping: &self.mapping,
            source: source.as_ref(),
            acumatica: &acumatica,
            options: &self.options,
        };
        reader.plan(book).await
    }

    /// Checks the parts and builds the flow.
    ///
    /// # Errors
    /// A configuration error naming a missing part or a bad option; a mapping error.
    pub fn build(self) -> Result<ReferenceFlow> {
        self.options.check()?;
        self.mapping.check()?;
        keys::check_source_key_field(&self.options, &self.mapping)?;
        let missing = |what: &str| {
            Error::config(
                what,
                format!("a reference flow needs a {what}; set it on the builder"),
            )
        };
        Ok(ReferenceFlow {
            source: self.source.ok_or_else(|| missing("source"))?,
            acumatica: self.acumatica.ok_or_else(|| missing("acumatica"))?,
            store: self.store.ok_or_else(|| missing("store"))?,
            mapping: Arc::new(self.mapping),
            options: self.options,
            owner: self.owner.unwrap_or_else(default_owner),
            progress: self.progress,
        })
    }
}

/// The mutable state of one run.
struct RunState {
    keeper: LeaseKeeper,
    run_id: RunId,
    counts: ReferenceCounts,
    records: Vec<RecordReport>,
    /// Unresolved dead letters of the flow by natural key.
    open_letters: HashMap<String, i64>,
    progress: Reporter,
    /// Asks the run to stop between records.
    shutdown: Option<Stopper>,
}

impl RunState {
    /// [`Error::Cancelled`] once the run was asked to stop: checked before each record, so
    /// the record being written is finished and recorded first.
    fn check_stop(&self, flow: &str) -> Result<()> {
        if self.shutdown.as_ref().is_some_and(Stopper::is_set) {
            return Err(Error::Cancelled {
                flow: flow.to_owned(),
            });
        }
        Ok(())
    }

    /// Settles a record: it joins the summary and its listener hears of it, once.
    fn finish(&mut self, report: RecordReport) {
        self.progress.emit(|| ProgressEvent::RecordFinished {
            record: report.clone(),
        });
        self.records.push(report);
    }

    async fn audit(
        &mut self,
        store: &dyn StateStore,
        key: Option<&str>,
        stage: AuditStage,
        outcome: &str,
        summary: Value,
    ) -> Result<()> {
        let lease = self.keeper.fresh().await?;
        let event = AuditEvent {
            run_id: self.run_id.clone(),
            natural_key: key.map(str::to_owned),
            stage,
            outcome: outcome.to_owned(),
            summary: signed(redact(summary), &crate::store::operator()),
        };
        store.append_audit(&lease, &event).await?;
        Ok(())
    }
}

/// The read-only half a run and a plan share: rows from the source, the mapping, the lookup of
/// the current records. One copy of each, so a plan predicts exactly what a run compares.
struct Reader<'a> {
    mapping: &'a ReferenceMapping,
    source: &'a RowSource,
    acumatica: &'a acumatica_client::Client,
    options: &'a ReferenceOptions,
}

impl Reader<'_> {
    /// Every row of the source; with a lease keeper (a run), the lease is renewed between pages.
    /// `progress` hears of each page ([`ProgressEvent::RowsRead`]).
    async fn read_rows(
        &self,
        mut keeper: Option<&mut LeaseKeeper>,
        progress: &Reporter,
    ) -> Result<Vec<Row>> {
        let mut rows: Vec<Row> = Vec::new();
        let mut pages = self.source.pages(None).await?;
        while let Some(page) = pages.try_next().await? {
            rows.extend(page);
            progress.emit(|| ProgressEvent::RowsRead {
                rows: rows.len() as u64,
            });
            if let Some(k) = keeper.as_deref_mut() {
                k.fresh().await?;
            }
        }
        Ok(rows)
    }

    /// The error of rows that do not map: every problem, and that nothing `written`.
    fn invalid(&self, problems: &[String], written: &str) -> Error {
        Error::Data {
            what: format!(
                "flow `{}`: {} mapping problem(s), so no {} record {written}; correct the rows or the mapping and run again",
                self.mapping.flow,
                problems.len(),
                self.mapping.entity
            ),
            detail: problems.join("; "),
        }
    }

    /// The current records of `chunk`'s keys, as flat maps by key, and the number of list
    /// requests it took (one, unless a server pages a short answer).
    async fn lookup(
        &self,
        chunk: &[ReferenceRecord],
    ) -> Result<(HashMap<String, Map<String, Value>>, u64)> {
        let key_field = &self.mapping.key.field;
        let keys: Vec<&str> = chunk.iter().map(|r| r.key.as_str()).collect();
        let Some(filter) = Filter::any_of(key_field, keys.iter().copied()) else {
            return Ok((HashMap::new(), 0));
        };
        let paths: Vec<String> = std::iter::once(key_field.clone())
            .chain(self.mapping.fields.keys().cloned())
            .collect();
        // One more than the keys asked for: the answer is always a short page, so the pager
        // knows it is the last one and makes no second request.
        let mut query = ListQuery::new()
            .filter(filter)
            .page_size(u32::try_from(chunk.len() + 1).unwrap_or(u32::MAX));
        let linked = wire::linked(&paths);
        if !linked.is_empty() {
            query = query.expand(linked);
        }
        let mut found = HashMap::new();
        let mut requests = 0;
        let mut pages = self.acumatica.list_json_pages(&self.mapping.entity, query);
        while let Some(page) = pages.try_next().await? {
            requests += 1;
            for item in page.records {
                let Some(obj) = item.as_object() else {
                    continue;
                };
                let flat = wire::flatten(obj, &paths);
                let key = flat
                    .get(key_field.as_str())
                    .and_then(|v| v.get("value").or(Some(v)))
                    .and_then(Value::as_str)
                    .map(|k| k.trim().to_owned());
                // The filter is exact, but keep only asked-for keys in case a server matches
                // loosely (Acumatica compares keys case-insensitively).
                if let Some(key) = key
                    && let Some(asked) = keys.iter().find(|k| k.eq_ignore_ascii_case(&key))
                {
                    found.insert((*asked).to_owned(), flat);
                }
            }
        }
        Ok((found, requests))
    }

    /// Reads, maps, looks up and diffs; writes nothing. Keys of `book` (the flow's key map)
    /// are looked up and compared under the key Acumatica saved.
    async fn plan(&self, book: keys::KeyBook) -> Result<ReferencePlan> {
        let refused = book.in_state(crate::store::KeyState::Refused);
        let (book, refused) = if self.options.server_keys == ServerKeys::Map {
            (book.adopting_refused(), Vec::new())
        } else {
            (book, refused)
        };
        let rows = self.read_rows(None, &Reporter::default()).await?;
        let mapped = self.mapping.map_rows(&rows)?;
        if !mapped.errors.is_empty() {
            let problems: Vec<String> = mapped.errors.iter().map(ToString::to_string).collect();
            return Err(self.invalid(&problems, "would be written"));
        }
        let mut plan = ReferencePlan {
            flow: self.mapping.flow.clone(),
            entity: self.mapping.entity.clone(),
            rows_read: rows.len() as u64,
            lookup_requests: 0,
            records: Vec::with_capacity(mapped.records.len()),
            refused_keys: refused
                .into_iter()
                .map(|m| (m.source_key, m.saved_key.unwrap_or_default()))
                .collect(),
        };
        for chunk in mapped.records.chunks(self.options.lookup_page_size) {
            let targets: Vec<ReferenceRecord> = chunk.iter().map(|r| book.target(r)).collect();
            let (current, requests) = self.lookup(&targets).await?;
            plan.lookup_requests += requests;
            for (record, target) in chunk.iter().zip(&targets) {
                plan.records.push(PlannedRecord {
                    key: record.key.clone(),
                    row: record.row,
                    change: target.diff(current.get(&target.key)),
                    saved_key: (target.key != record.key).then(|| target.key.clone()),
                });
            }
        }
        Ok(plan)
    }
}

impl ReferenceFlow {
    /// Starts building a flow for `mapping` (whose `flow` name names the flow: its lease, runs,
    /// audit trail and dead letters).
    pub fn builder(mapping: ReferenceMapping) -> ReferenceFlowBuilder {
        ReferenceFlowBuilder {
            mapping,
            source: None,
            acumatica: None,
            store: None,
            options: ReferenceOptions::default(),
            owner: None,
            progress: Reporter::default(),
        }
    }

    /// The same flow, reporting its progress to `progress` (replacing any listener it had).
    /// See [`progress`](crate::progress) for the events.
    ///
    /// ```no_run
    /// use sync_core::progress::ProgressEvent;
    ///
    /// # async fn demo(flow: sync_core::reference::ReferenceFlow) -> sync_core::Result<()> {
    /// let flow = flow.with_progress(|e: &ProgressEvent| {
    ///     if let ProgressEvent::KeysLookedUp { batch, keys, found, .. } = e {
    ///         eprintln!("batch {batch}: {keys} key(s), {found} found");
    ///     }
    /// });
    /// let summary = flow.run().await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn with_progress(mut self, progress: impl Progress + 'static) -> Self {
        self.progress = Reporter::new(progress);
        self
    }

    /// The flow's name.
    pub fn name(&self) -> &str {
        &self.mapping.flow
    }

    /// The state store.
    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.store
    }

    /// The natural key of a record in the audit trail and dead letters: `Entity/key`.
    pub fn natural_key(&self, key: &str) -> String {
        format!("{}/{}", self.mapping.entity, key)
    }

    /// What a run would do now, without writing: reads and maps the rows, looks the keys up in
    /// Acumatica and diffs each record, with the run's own code, and returns per key whether it
    /// would be created, updated (with the changed fields' names and their current and wanted
    /// values) or left unchanged. Takes no lease and writes nothing to Acumatica or the state
    /// store (no run, no audit event, no dead letter). Between a plan and a run the data may
    /// change; the run compares again.
    ///
    /// ```no_run
    /// # async fn demo(flow: sync_core::reference::ReferenceFlow) -> sync_core::Result<()> {
    /// let plan = flow.plan().await?;
    /// for record in &plan.records {
    ///     println!("{} {} {:?}", record.key, record.action(), record.fields());
    /// }
    /// println!("{plan}"); // ... 1 to create, 1 to update, 4 unchanged
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Data`] listing every mapping problem; Looker and Acumatica errors as for
    /// [`run`](Self::run).
    pub async fn plan(&self) -> Result<ReferencePlan> {
        let book = keys::KeyBook::load(
            self.store.as_ref(),
            &self.mapping.flow,
            &self.mapping.entity,
        )
        .await?;
        self.reader().plan(book).await
    }

    fn reader(&self) -> Reader<'_> {
        Reader {
            mapping: &self.mapping,
            source: self.source.as_ref(),
            acumatica: &self.acumatica,
            options: &self.options,
        }
    }

    /// Runs the flow once (see the module docs for the steps).
    ///
    /// # Errors
    /// [`Error::Busy`] when another replica runs it; [`Error::Data`] listing every mapping
    /// problem (nothing was written); a fenced store error when the lease was lost; Acumatica
    /// errors that are not about one record (authentication, throttling after retries, server
    /// errors) stop the run — records written before stay written, and a rerun only sends what
    /// still differs.
    pub async fn run(&self) -> Result<ReferenceSummary> {
        self.run_with_shutdown(None).await
    }

    /// [`run`](Self::run), stopping between records once `shutdown` turns `true` (the record
    /// being written is finished and recorded; the run is recorded as
    /// [`RunStatus::Interrupted`] with what it had done and ends [`Error::Cancelled`]; the
    /// next run compares again and sends only what still differs).
    ///
    /// ```no_run
    /// # async fn demo(flow: sync_core::reference::ReferenceFlow) {
    /// let (stop, shutdown) = tokio::sync::watch::channel(false);
    /// tokio::spawn(async move {
    ///     tokio::signal::ctrl_c().await.ok();
    ///     stop.send_replace(true);
    /// });
    /// match flow.run_with_shutdown(Some(shutdown)).await {
    ///     Ok(summary) => println!("{summary}"),
    ///     Err(e) => eprintln!("{e}"),
    /// }
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`run`](Self::run), plus [`Error::Cancelled`].
    pub async fn run_with_shutdown(
        &self,
        shutdown: Option<tokio::sync::watch::Receiver<bool>>,
    ) -> Result<ReferenceSummary> {
        let flow = self.name().to_owned();
        let (keeper, run) = runtime::start_run(
            &self.store,
            &flow,
            &self.owner,
            self.options.lease_ttl(),
            None,
        )
        .await?;
        let lease = keeper.lease().clone();
        let letters = match self.store.dead_letters(&flow, false).await {
            Ok(letters) => letters,
            Err(e) => {
                keeper.release().await;
                return Err(e.into());
            }
        };
        let span = tracing::info_span!("reference_run", flow = %flow, run_id = %run.id, fence = lease.fence);
        let mut state = RunState {
            keeper,
            run_id: run.id.clone(),
            counts: ReferenceCounts::default(),
            records: Vec::new(),
            open_letters: letters.into_iter().map(|l| (l.natural_key, l.id)).collect(),
            progress: self.progress.clone(),
            shutdown: shutdown.map(Stopper::Watch),
        };
        self.progress.emit(|| ProgressEvent::RunStarted {
            flow: flow.clone(),
            run_id: run.id.clone(),
            kind: RunKind::Reference,
        });
        let result = self.body(&mut state).instrument(span.clone()).await;
        let counts = state.counts;
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
        span.in_scope(|| tracing::info!(status = %status, %counts, "run finished"));
        let RunState {
            keeper, records, ..
        } = state;
        let finished = runtime::finish_run(
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
        Ok(ReferenceSummary {
            flow,
            run_id: run.id,
            status,
            counts,
            records,
        })
    }

    async fn body(&self, state: &mut RunState) -> Result<()> {
        let store = self.store.as_ref();
        let reader = self.reader();
        let rows = reader
            .read_rows(Some(&mut state.keeper), &self.progress)
            .await?;
        state.counts.rows_read = rows.len() as u64;
        state
            .audit(
                store,
                None,
                AuditStage::Read,
                "read",
                json!({"source": self.source.describe(), "rows": rows.len()}),
            )
            .await?;
        let mapped = self.mapping.map_rows(&rows)?;
        if !mapped.errors.is_empty() {
            let problems: Vec<String> = mapped.errors.iter().map(ToString::to_string).collect();
            state
                .audit(
                    store,
                    None,
                    AuditStage::Failed,
                    "invalid",
                    json!({"problems": problems, "written": 0}),
                )
                .await?;
            return Err(reader.invalid(&problems, "was written"));
        }
        state.counts.records = mapped.records.len() as u64;
        self.progress.emit(|| ProgressEvent::RecordsMapped {
            entity: self.mapping.entity.clone(),
            records: mapped.records.len() as u64,
        });
        state
            .audit(
                store,
                None,
                AuditStage::Mapped,
                "mapped",
                json!({"records": mapped.records.len(), "entity": self.mapping.entity}),
            )
            .await?;
        // Keys Acumatica assigned itself on earlier runs (see `keys`).
        let mut book = keys::KeyBook::load(store, &self.mapping.flow, &self.mapping.entity).await?;
        self.settle_refusals(state, &mut book).await?;
        let mut keys_total = 0;
        for (batch, chunk) in mapped
            .records
            .chunks(self.options.lookup_page_size)
            .enumerate()
        {
            state.check_stop(self.name())?;
            state.keeper.fresh().await?;
            let targets: Vec<ReferenceRecord> = chunk.iter().map(|r| book.target(r)).collect();
            let (current, requests) = reader.lookup(&targets).await?;
            state.counts.lookup_requests += requests;
            keys_total += chunk.len() as u64;
            self.progress.emit(|| ProgressEvent::KeysLookedUp {
                batch: batch as u64 + 1,
                keys: chunk.len() as u64,
                found: targets
                    .iter()
                    .filter(|r| current.contains_key(&r.key))
                    .count() as u64,
                keys_total,
            });
            for (record, target) in chunk.iter().zip(targets) {
                state.check_stop(self.name())?;
                let mut target = target;
                let mut found = current.get(&target.key).cloned();
                if found.is_some() {
                    // An earlier insert whose answer was lost kept the key: settled.
                    self.unmark_inserting(state, &mut book, &record.key).await?;
                } else {
                    match self.recover_lost_insert(state, &mut book, record).await? {
                        Ok(None) => {}
                        Ok(Some(saved)) => {
                            target.key = saved;
                            let (again, requests) =
                                reader.lookup(std::slice::from_ref(&target)).await?;
                            state.counts.lookup_requests += requests;
                            found = again.get(&target.key).cloned();
                        }
                        Err(error) => {
                            self.lost_insert(state, record, error).await?;
                            continue;
                        }
                    }
                }
                let change = target.diff(found.as_ref());
                self.apply(state, &mut book, record, &target, &change)
                    .await?;
            }
        }
        Ok(())
    }

    /// A record whose earlier insert got no answer and that is not inserted again: failed, with
    /// `error` saying why and what to do.
    async fn lost_insert(
        &self,
        state: &mut RunState,
        record: &ReferenceRecord,
        error: String,
    ) -> Result<()> {
        state.counts.failed += 1;
        state
            .audit(
                self.store.as_ref(),
                Some(&self.natural_key(&record.key)),
                AuditStage::Failed,
                "failed",
                json!({"row": record.row, "fields": [], "error": error, "insert_outcome": "unknown"}),
            )
            .await?;
        state.finish(RecordReport {
            key: record.key.clone(),
            row: record.row,
            outcome: RecordOutcome::Failed { error },
            saved_key: None,
        });
        Ok(())
    }

    /// Writes one record's change. `record` is as the source gives it; `target` is the same
    /// record under the key Acumatica keeps it (different when the key map says so).
    async fn apply(
        &self,
        state: &mut RunState,
        book: &mut keys::KeyBook,
        record: &ReferenceRecord,
        target: &ReferenceRecord,
        change: &RecordChange,
    ) -> Result<()> {
        let store = self.store.as_ref();
        let natural_key = self.natural_key(&record.key);
        let mut saved_key = (target.key != record.key).then(|| target.key.clone());
        let (mode, fields) = match change {
            RecordChange::Unchanged => {
                state.counts.unchanged += 1;
                state
                    .audit(
                        store,
                        Some(&natural_key),
                        AuditStage::Skipped,
                        "unchanged",
                        json!({"row": record.row, "fields": []}),
                    )
                    .await?;
                state.finish(RecordReport {
                    key: record.key.clone(),
                    row: record.row,
                    outcome: RecordOutcome::Unchanged,
                    saved_key,
                });
                return Ok(());
            }
            RecordChange::Create(f) => (PutMode::InsertOnly, f.keys().cloned().collect()),
            RecordChange::Update(f) => (PutMode::UpdateOnly, f.keys().cloned().collect()),
        };
        let fields: Vec<String> = fields;
        let Some(mut payload) = target.payload(change) else {
            return Ok(());
        };
        if mode == PutMode::InsertOnly {
            if let Some(field) = self.options.source_key_field.as_deref() {
                payload.insert(field.to_owned(), Value::String(record.key.clone()));
            }
            self.mark_inserting(state, book, &record.key).await?;
        }
        let body = wire::wrap(&payload);
        // A replica whose lease lapsed must not write to Acumatica either: checked in the store.
        state.keeper.check().await?;
        let sent = self
            .acumatica
            .put_json(&self.mapping.entity, &body, mode, &ListQuery::new())
            .await;
        let mut refused = false;
        let outcome = match sent {
            Ok(answer) => {
                if mode == PutMode::InsertOnly
                    && let Some(saved) = self.inserted(state, book, &record.key, &answer).await?
                {
                    refused = self.options.server_keys == ServerKeys::Refuse;
                    saved_key = Some(saved);
                }
                let outcome = if mode == PutMode::InsertOnly {
                    state.counts.created += 1;
                    RecordOutcome::Created {
                        fields: fields.clone(),
                    }
                } else {
                    state.counts.updated += 1;
                    RecordOutcome::Updated {
                        fields: fields.clone(),
                    }
                };
                let mut summary = json!({"row": record.row, "fields": fields});
                if let Some(saved) = &saved_key {
                    summary["requested_key"] = json!(record.key);
                    summary["saved_key"] = json!(saved);
                    summary["server_keys"] = json!(self.options.server_keys.as_str());
                }
                state
                    .audit(
                        store,
                        Some(&natural_key),
                        AuditStage::Written,
                        outcome.as_str(),
                        summary,
                    )
                    .await?;
                if let Some(id) = state.open_letters.remove(&natural_key) {
                    let lease = state.keeper.fresh().await?;
                    store
                        .resolve_dead_letter(
                            &lease,
                            id,
                            &format!("{} by run {}", outcome.as_str(), state.run_id),
                        )
                        .await?;
                }
                outcome
            }
            Err(e) if matches!(e.kind(), ErrorKind::Validation(_)) => {
                // Refused: nothing was created.
                self.unmark_inserting(state, book, &record.key).await?;
                state.counts.rejected += 1;
                let error = e.to_string();
                let lease = state.keeper.fresh().await?;
                let letter = store
                    .add_dead_letter(
                        &lease,
                        &NewDeadLetter {
                            run_id: Some(state.run_id.clone()),
                            natural_key: natural_key.clone(),
                            payload: redact(json!({
                                "entity": self.mapping.entity,
                                "key": record.key,
                                "row": record.row,
                                "fields": fields,
                                "body": body,
                            })),
                            error: error.clone(),
                        },
                    )
                    .await?;
                state.open_letters.insert(natural_key.clone(), letter.id);
                state
                    .audit(
                        store,
                        Some(&natural_key),
                        AuditStage::Failed,
                        "rejected",
                        json!({"row": record.row, "fields": fields, "status": e.status(), "error": error, "dead_letter": letter.id}),
                    )
                    .await?;
                RecordOutcome::Rejected {
                    error,
                    dead_letter: letter.id,
                }
            }
            // The outcome is unknown, the precondition failed, or the write succeeded but its
            // answer could not be read: this record is compared again by the next run, and the
            // others go on (the service answered, so it is not down).
            Err(e)
                if e.is_outcome_unknown()
                    || matches!(
                        e.kind(),
                        ErrorKind::PreconditionFailed | ErrorKind::Decode { .. }
                    ) =>
            {
                if matches!(e.kind(), ErrorKind::PreconditionFailed) {
                    // 412: the insert found a record with the key, so it created nothing.
                    self.unmark_inserting(state, book, &record.key).await?;
                }
                state.counts.failed += 1;
                let error = e.to_string();
                state
                    .audit(
                        store,
                        Some(&natural_key),
                        AuditStage::Failed,
                        "failed",
                        json!({"row": record.row, "fields": fields, "status": e.status(), "error": error}),
                    )
                    .await?;
                RecordOutcome::Failed { error }
            }
            Err(e) => {
                state.counts.failed += 1;
                state
                    .audit(
                        store,
                        Some(&natural_key),
                        AuditStage::Failed,
                        "failed",
                        json!({"row": record.row, "fields": fields, "status": e.status(), "error": e.to_string()}),
                    )
                    .await?;
                // The run stops here; its listener still hears how this record ended.
                state.progress.emit(|| ProgressEvent::RecordFinished {
                    record: RecordReport {
                        key: record.key.clone(),
                        row: record.row,
                        outcome: RecordOutcome::Failed {
                            error: e.to_string(),
                        },
                        saved_key: saved_key.clone(),
                    },
                });
                return Err(e.into());
            }
        };
        state.finish(RecordReport {
            key: record.key.clone(),
            row: record.row,
            outcome,
            saved_key: saved_key.clone(),
        });
        if refused {
            let refused = keys::KeyBook::in_state(book, crate::store::KeyState::Refused);
            return Err(keys::refusal(
                &self.mapping.flow,
                &self.mapping.entity,
                &self.mapping.key.field,
                &refused,
            ));
        }
        Ok(())
    }
}
