//! Progress of a running flow, as it happens: rows read, journals planned, each document's
//! outcome, reference records compared and written, pages fetched and records written.
//!
//! A flow reports [`ProgressEvent`]s to the [`Progress`] listener attached with
//! [`PostFlowBuilder::progress`](crate::post::PostFlowBuilder::progress) /
//! [`PostFlow::with_progress`](crate::post::PostFlow::with_progress),
//! [`FeedFlowBuilder::progress`](crate::feed::FeedFlowBuilder::progress) /
//! [`FeedFlow::with_progress`](crate::feed::FeedFlow::with_progress) or
//! [`ReferenceFlowBuilder::progress`](crate::reference::ReferenceFlowBuilder::progress) /
//! [`ReferenceFlow::with_progress`](crate::reference::ReferenceFlow::with_progress). Without a
//! listener nothing is built: events are only constructed when someone listens.
//!
//! Events are delivered synchronously, on the task running the flow, in order. A listener
//! must be quick (update a counter or a progress bar, send on a channel); it must not block.
//!
//! The [`RunSummary`](crate::post::RunSummary) or [`FeedSummary`](crate::feed::FeedSummary) a
//! run returns stays the authoritative result; the events tell the same story while it is being
//! written. In particular a post run reports [`ProgressEvent::DocumentFinished`] exactly once
//! for each entry of [`RunSummary::documents`](crate::post::RunSummary::documents), in the same
//! order; a reference run reports [`ProgressEvent::RecordFinished`] once for each entry of
//! [`ReferenceSummary::records`](crate::reference::ReferenceSummary::records), in the same order.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::sync::Arc;
//! use sync_core::post::{DocumentState, PostFlow};
//! use sync_core::progress::ProgressEvent;
//!
//! # async fn demo(flow: PostFlow) -> sync_core::Result<()> {
//! let posted = Arc::new(AtomicU64::new(0));
//! let seen = posted.clone();
//! let flow = flow.with_progress(move |e: &ProgressEvent| {
//!     if let ProgressEvent::DocumentFinished { document } = e {
//!         if matches!(document.state, DocumentState::Posted { .. }) {
//!             seen.fetch_add(1, Ordering::Relaxed);
//!         }
//!         eprintln!("{}: {:?}", document.natural_key, document.state);
//!     }
//! });
//! let summary = flow.run().await?;
//! assert_eq!(posted.load(Ordering::Relaxed), summary.counts.documents_posted);
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::feed::EntityWindow;
use crate::post::{DocumentReport, PlannedState};
use crate::reference::RecordReport;
use crate::store::{RunCounts, RunId, RunStatus};

/// What kind of run an event belongs to.
///
/// ```
/// use sync_core::progress::RunKind;
///
/// assert_eq!(RunKind::Replay.to_string(), "replay");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RunKind {
    /// A post flow's run ([`PostFlow::run`](crate::post::PostFlow::run) and its variants).
    Post,
    /// A post flow's replay of dead letters ([`PostFlow::replay`](crate::post::PostFlow::replay)).
    Replay,
    /// A feed flow's run.
    Feed,
    /// A reference flow's run ([`ReferenceFlow::run`](crate::reference::ReferenceFlow::run)).
    Reference,
}

impl RunKind {
    /// The kind as a word (`post`, `replay`, `feed`, `reference`), as in the `flow_run` log
    /// span.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Post => "post",
            RunKind::Replay => "replay",
            RunKind::Feed => "feed",
            RunKind::Reference => "reference",
        }
    }
}

impl fmt::Display for RunKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step of a running flow.
///
/// Post flows report, in order: [`RunStarted`](Self::RunStarted); when earlier runs left
/// intents without outcome, [`Reconciling`](Self::Reconciling) and one
/// [`Reconciled`](Self::Reconciled) per intent; [`RowsRead`](Self::RowsRead) after each page
/// of source rows (a replay reads dead letters instead, and reports no rows);
/// [`DocumentsMapped`](Self::DocumentsMapped); [`DocumentsPlanned`](Self::DocumentsPlanned)
/// once validation is done; a [`KeysLookedUp`](Self::KeysLookedUp) per lookup request; one
/// [`DocumentFinished`](Self::DocumentFinished) per document; and [`RunFinished`](Self::RunFinished), also when the run stops on an error (once it has
/// started: a flow that is busy elsewhere reports nothing).
///
/// Feed flows report [`RunStarted`](Self::RunStarted), then per entity
/// [`WindowOpened`](Self::WindowOpened), a [`PageFetched`](Self::PageFetched) per page read and a
/// [`RecordsWritten`](Self::RecordsWritten) per batch written, [`MarkAdvanced`](Self::MarkAdvanced)
/// when the window completed and the mark moved, and [`WindowFinished`](Self::WindowFinished)
/// (also when the window failed); then [`RunFinished`](Self::RunFinished).
///
/// Reference flows report [`RunStarted`](Self::RunStarted) (kind [`RunKind::Reference`]);
/// [`RowsRead`](Self::RowsRead) after each page of source rows;
/// [`RecordsMapped`](Self::RecordsMapped) once every row mapped (when some row does not map,
/// nothing is written and the run goes straight to its end); then per batch of keys a
/// [`KeysLookedUp`](Self::KeysLookedUp) followed by one
/// [`RecordFinished`](Self::RecordFinished) per record of the batch, in source order; and
/// [`RunFinished`](Self::RunFinished), also when the run stops on an error. A record whose
/// write failed in a way that stops the run (authentication, throttling after retries, server
/// errors) is still reported once, as failed; the records after it are not reported.
///
/// New kinds of events may be added; match with a wildcard arm.
///
/// ```
/// use sync_core::progress::ProgressEvent;
///
/// fn line(e: &ProgressEvent) -> Option<String> {
///     match e {
///         ProgressEvent::RowsRead { rows } => Some(format!("{rows} row(s) read")),
///         ProgressEvent::RecordsWritten { entity, written_total, .. } => {
///             Some(format!("{entity}: {written_total} written"))
///         }
///         _ => None,
///     }
/// }
/// assert_eq!(line(&ProgressEvent::RowsRead { rows: 12 }).as_deref(), Some("12 row(s) read"));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ProgressEvent {
    /// The run took its lease and started in the run history.
    RunStarted {
        /// The flow.
        flow: String,
        /// The run (its audit trail is kept under this id).
        run_id: RunId,
        /// Post, replay or feed.
        kind: RunKind,
    },
    /// Earlier runs left intents without outcome; they are settled by lookup first.
    Reconciling {
        /// How many.
        pending: u64,
    },
    /// One intent left by an earlier run was settled.
    Reconciled {
        /// Its natural key.
        natural_key: String,
        /// `true`: found in the target (it was posted); `false`: not found, it was never
        /// created (it is posted when its source rows are read again), or its key could not be
        /// read back.
        found: bool,
    },
    /// One intent left by an earlier run was not found, but its create was sent recently
    /// enough that Acumatica may still apply it (its licence queue holds requests up to ten
    /// minutes): it is not concluded absent and stays pending, and nothing else is created in
    /// its partition until `settles_after`; a run after that settles it. The document is also
    /// reported as pending ([`DocumentFinished`](Self::DocumentFinished)).
    StillInFlight {
        /// Its natural key.
        natural_key: String,
        /// When its create was last (possibly) sent, by the state store's clock.
        attempted_at: chrono::DateTime<chrono::Utc>,
        /// When the settle horizon after `attempted_at` ends: a run after this settles it.
        settles_after: chrono::DateTime<chrono::Utc>,
    },
    /// Another page of source rows was read (post and reference flows).
    RowsRead {
        /// Rows read so far in this run (a running count).
        rows: u64,
    },
    /// The rows were mapped to journals (for a replay: the dead letters read back).
    DocumentsMapped {
        /// How many journals.
        documents: u64,
    },
    /// Validation is done: how many documents go through the exactly-once protocol (lookup,
    /// create only if absent). Documents with problems or held back were reported already.
    DocumentsPlanned {
        /// Documents to look up and post if absent (duplicates within the run counted once).
        documents: u64,
    },
    /// A document's fate in this run is settled: posted, already present, skipped, invalid,
    /// withheld, failed or pending. Reported once per entry of the run's
    /// [`RunSummary::documents`](crate::post::RunSummary::documents).
    DocumentFinished {
        /// The document's natural key, partition and state.
        document: DocumentReport,
    },
    /// A post flow's plan started ([`PostFlow::plan`](crate::post::PostFlow::plan)): no lease,
    /// no run, nothing written. It goes on as a run does ([`RowsRead`](Self::RowsRead),
    /// [`DocumentsMapped`](Self::DocumentsMapped), [`DocumentsPlanned`](Self::DocumentsPlanned),
    /// [`KeysLookedUp`](Self::KeysLookedUp) per lookup request), then reports one
    /// [`JournalPlanned`](Self::JournalPlanned) per journal and
    /// [`PlanFinished`](Self::PlanFinished).
    PlanStarted {
        /// The flow.
        flow: String,
    },
    /// What a run would do with one journal, in mapping order (one per entry of
    /// [`PostPlan::journals`](crate::post::PostPlan::journals)).
    JournalPlanned {
        /// Its natural key.
        natural_key: String,
        /// Its partition.
        partition: String,
        /// What a run would do.
        state: PlannedState,
    },
    /// A post flow's plan is complete.
    PlanFinished {
        /// The flow.
        flow: String,
        /// Journals planned.
        journals: u64,
        /// Of these, how many would be posted.
        would_post: u64,
    },
    /// A reference run mapped every row: one record per key goes on to be compared.
    RecordsMapped {
        /// The Acumatica entity, e.g. `Vendor`.
        entity: String,
        /// How many records (one per key).
        records: u64,
    },
    /// A reference run read the current records of one batch of keys from Acumatica (one list
    /// request per batch of [`lookup_page_size`](crate::reference::ReferenceOptions::lookup_page_size)
    /// keys). The batch's records are reported next, one
    /// [`RecordFinished`](Self::RecordFinished) each. A post run and a post plan report one per
    /// lookup request of their lookup phase (`found`: keys whose partition Acumatica holds),
    /// before the documents.
    KeysLookedUp {
        /// The batch number in this run, from 1.
        batch: u64,
        /// Keys in this batch.
        keys: u64,
        /// Of these, how many exist in Acumatica (the others are created).
        found: u64,
        /// Keys looked up so far in this run (a running count).
        keys_total: u64,
    },
    /// A reference record's fate in this run is settled: created, updated, unchanged, rejected
    /// (dead-lettered) or failed. Reported once per entry of the run's
    /// [`ReferenceSummary::records`](crate::reference::ReferenceSummary::records), and once for
    /// a record whose failure stopped the run.
    RecordFinished {
        /// The record's key, source row and outcome (field names only, never values).
        record: RecordReport,
    },
    /// A feed window opened for one entity.
    WindowOpened {
        /// The entity.
        entity: String,
        /// Where the window starts; `None`: the first run, everything is read.
        since: Option<DateTime<Utc>>,
        /// Where the mark moves when the window completes.
        signpost: DateTime<Utc>,
    },
    /// A page of changed records was fetched for one entity (before it is written).
    PageFetched {
        /// The entity.
        entity: String,
        /// The page number in this window, from 1.
        page: u64,
        /// Records on this page (repeats of earlier pages excluded).
        records: u64,
        /// Records read so far in this window (a running count).
        records_read: u64,
    },
    /// A fetched page was written to the warehouse (one transaction).
    RecordsWritten {
        /// The entity.
        entity: String,
        /// The write's number in this window, from 1: records are written in batches of
        /// `batch_records` (one transaction each), which may span several pages read.
        page: u64,
        /// Records of this batch inserted or updated.
        written: u64,
        /// Records of this batch not written because the warehouse held a newer version.
        stale: u64,
        /// Records written so far in this window (a running count).
        written_total: u64,
    },
    /// The entity's high-water mark moved: the whole window is in the warehouse.
    MarkAdvanced {
        /// The entity.
        entity: String,
        /// The new mark.
        mark: DateTime<Utc>,
    },
    /// A feed window ended, complete or not.
    WindowFinished {
        /// What the window did (its `error` says why it did not complete).
        window: EntityWindow,
    },
    /// The run ended and its end is recorded (as far as the store allowed).
    RunFinished {
        /// The flow.
        flow: String,
        /// The run.
        run_id: RunId,
        /// How it ended.
        status: RunStatus,
        /// Its counts, as written to the run history.
        counts: RunCounts,
    },
}

/// Receives the [`ProgressEvent`]s of a running flow.
///
/// Any `Fn(&ProgressEvent) + Send + Sync` closure is a listener; implement the trait for a
/// type of your own when it holds state, and share one listener between flows with an
/// [`Arc`].
///
/// ```
/// use std::sync::Mutex;
/// use sync_core::progress::{Progress, ProgressEvent};
///
/// /// Keeps the last running count of rows.
/// #[derive(Default)]
/// struct Rows(Mutex<u64>);
///
/// impl Progress for Rows {
///     fn event(&self, e: &ProgressEvent) {
///         if let ProgressEvent::RowsRead { rows } = e {
///             *self.0.lock().unwrap() = *rows;
///         }
///     }
/// }
///
/// let rows = Rows::default();
/// rows.event(&ProgressEvent::RowsRead { rows: 500 });
/// assert_eq!(*rows.0.lock().unwrap(), 500);
///
/// let printer = |e: &ProgressEvent| println!("{e:?}");
/// printer.event(&ProgressEvent::RowsRead { rows: 1 });
/// ```
pub trait Progress: Send + Sync {
    /// Called for each event, in order, on the task running the flow; must not block.
    fn event(&self, event: &ProgressEvent);
}

impl<F> Progress for F
where
    F: Fn(&ProgressEvent) + Send + Sync,
{
    fn event(&self, event: &ProgressEvent) {
        self(event);
    }
}

impl<P: Progress + ?Sized> Progress for Arc<P> {
    fn event(&self, event: &ProgressEvent) {
        (**self).event(event);
    }
}

/// Where a flow sends its events: nowhere by default.
#[derive(Clone, Default)]
pub(crate) struct Reporter(Option<Arc<dyn Progress>>);

impl Reporter {
    pub(crate) fn new(progress: impl Progress + 'static) -> Self {
        Self(Some(Arc::new(progress)))
    }

    /// Whether anyone listens.
    pub(crate) fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// Builds the event and hands it over, only when someone listens.
    pub(crate) fn emit(&self, event: impl FnOnce() -> ProgressEvent) {
        if let Some(p) = &self.0 {
            p.event(&event());
        }
    }
}

impl fmt::Debug for Reporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_set() { "Progress" } else { "None" })
    }
}
