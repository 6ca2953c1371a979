//! What a post run would do now, without writing ([`PostFlow::plan`]): the run's own read,
//! mapping, validation and lookup phase, with the ledger read instead of written.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;

use super::foreign::{ForeignJournal, foreign_journals};
use super::lookup::{Plan, ReadLedger, look_up, unique_documents};
use super::{PostFlow, PostFlowBuilder, PostOptions, RowSource};
use crate::error::{Error, Result};
use crate::key::{ChangedContentPolicy, NaturalKey};
use crate::mapping::{JournalDocument, JournalMapping, Row};
use crate::progress::{ProgressEvent, Reporter};
use crate::store::{LedgerFilter, LedgerState, StateStore};
use crate::traits::DocumentSink;
use crate::validate::{DocumentStatus, ValidationReport, validate};

/// What a journal would do if the flow ran now: the state its run would report.
///
/// Serialized (the CLI's `--json`) as a snake_case `state` tag with the variant's fields beside
/// it, in the vocabulary of a run's [`DocumentState`](super::DocumentState):
///
/// ```
/// use sync_core::post::PlannedState;
/// let v = serde_json::to_value(PlannedState::AlreadyPosted { batch: Some("000061".into()) }).unwrap();
/// assert_eq!(v, serde_json::json!({"state": "already_posted", "batch": "000061"}));
/// assert_eq!(serde_json::to_value(PlannedState::WouldPost).unwrap()["state"], "would_post");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PlannedState {
    /// Valid and not in Acumatica yet: it would be created.
    WouldPost,
    /// Posted before (the ledger says so, or Acumatica holds the same natural key): not posted
    /// again.
    AlreadyPosted {
        /// The batch number, when known.
        batch: Option<String>,
    },
    /// Acumatica holds its period and branch (its partition) with other content: the flow's
    /// `changed_content` policy decides; nothing is posted twice.
    ChangedContent {
        /// The batches posted earlier.
        batches: Vec<String>,
        /// The policy a run would apply.
        policy: ChangedContentPolicy,
    },
    /// Skipped before (changed content under the `skip` policy, which is still in force).
    Skipped {
        /// Why.
        reason: String,
    },
    /// It has validation problems and would not be posted.
    Invalid {
        /// How many problems.
        issues: usize,
    },
    /// Valid, but held back because of other journals (all-or-nothing validation, or other
    /// journals' changed content under the `fail` policy).
    Withheld,
    /// A create for its partition may still be applied by Acumatica: a run sends nothing for
    /// it before `settles_after`.
    Pending {
        /// The key whose create may still be queued (this journal's, or an earlier version's).
        in_flight_key: String,
        /// When a run settles it.
        settles_after: DateTime<Utc>,
    },
}

impl fmt::Display for PlannedState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlannedState::WouldPost => f.write_str("would post"),
            PlannedState::AlreadyPosted { batch: Some(b) } => {
                write!(f, "already posted as batch {b}")
            }
            PlannedState::AlreadyPosted { batch: None } => f.write_str("already posted"),
            PlannedState::ChangedContent { batches, policy } => write!(
                f,
                "posted before as batch {} with other amounts (changed content; policy {})",
                batches.join(", "),
                match policy {
                    ChangedContentPolicy::Fail => "fail: the run would post nothing",
                    ChangedContentPolicy::Skip => "skip: left as posted",
                    ChangedContentPolicy::ReverseAndRepost => "reverse_and_repost",
                }
            ),
            PlannedState::Skipped { reason } => write!(f, "skipped before: {reason}"),
            PlannedState::Invalid { issues } => write!(f, "invalid ({issues} problem(s))"),
            PlannedState::Withheld => f.write_str("withheld (other journals have problems)"),
            PlannedState::Pending {
                in_flight_key,
                settles_after,
            } => write!(
                f,
                "pending: a create ({in_flight_key}) may still be applied by Acumatica until {}",
                settles_after.format("%Y-%m-%d %H:%M:%S UTC")
            ),
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
    /// What a run would do with it.
    pub state: PlannedState,
}

/// The dry run of a post flow ([`PostFlow::plan`]).
#[derive(Debug, Clone)]
pub struct PostPlan {
    /// The flow.
    pub flow: String,
    /// Rows the source returned.
    pub rows_read: usize,
    /// The journals, in mapping order.
    pub journals: Vec<PlannedJournal>,
    /// Every validation problem.
    pub report: ValidationReport,
    /// Journals of this connector Acumatica holds for the periods and branches the flow
    /// posts to, under partitions it does not produce (see
    /// [`ForeignJournalPolicy`](super::ForeignJournalPolicy)).
    pub foreign: Vec<ForeignJournal>,
}

impl PostPlan {
    /// How many journals would be posted.
    pub fn would_post(&self) -> usize {
        self.journals
            .iter()
            .filter(|j| j.state == PlannedState::WouldPost)
            .count()
    }
}

impl fmt::Display for PostPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "flow {}: {} row(s), {} journal(s), {} would be posted",
            self.flow,
            self.rows_read,
            self.journals.len(),
            self.would_post()
        )
    }
}

/// The parts a plan needs (a flow's, or a builder's without a store).
struct Parts<'a> {
    mapping: &'a JournalMapping,
    source: &'a RowSource,
    sink: &'a dyn DocumentSink,
    store: Option<&'a Arc<dyn StateStore>>,
    options: &'a PostOptions,
    progress: &'a Reporter,
}

impl PostFlow {
    /// What a run would do now, without writing: reads the rows, maps and validates them, and
    /// runs the run's own lookup phase (the ledger, then one lookup request per page of the
    /// other keys), with the ledger read instead of written. Takes no lease and writes nothing
    /// to Acumatica or the state store. Reports its progress to the flow's listener
    /// ([`ProgressEvent::PlanStarted`], then as a run: rows read, journals mapped and planned,
    /// keys looked up, one [`ProgressEvent::JournalPlanned`] per journal,
    /// [`ProgressEvent::PlanFinished`]). Between a plan and a run the data may change; the run
    /// decides again.
    ///
    /// ```no_run
    /// # async fn demo(flow: sync_core::post::PostFlow) -> sync_core::Result<()> {
    /// let plan = flow.plan().await?;
    /// for journal in &plan.journals {
    ///     println!("{} {}", journal.key, journal.state);
    /// }
    /// println!("{plan}");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Mapping errors; Looker, Acumatica and store (read) errors.
    pub async fn plan(&self) -> Result<PostPlan> {
        plan(Parts {
            mapping: &self.mapping,
            source: &*self.source,
            sink: &*self.sink,
            store: Some(&self.store),
            options: &self.options,
            progress: &self.progress,
        })
        .await
    }
}

impl PostFlowBuilder {
    /// [`PostFlow::plan`] for a flow that needs no store: without one (e.g. nothing has run
    /// yet) the ledger is empty, and every valid journal is looked up in Acumatica.
    ///
    /// ```no_run
    /// use sync_core::post::{AcumaticaJournals, LookerQuerySource, PostFlow};
    ///
    /// # async fn demo(mapping: sync_core::mapping::JournalMapping, source: LookerQuerySource,
    /// #   sink: AcumaticaJournals) -> sync_core::Result<()> {
    /// let plan = PostFlow::builder(mapping).source(source).sink(sink).plan().await?;
    /// println!("{plan}");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`PostFlow::plan`], and a configuration error naming a missing part or a bad option.
    pub async fn plan(self) -> Result<PostPlan> {
        self.options.check()?;
        self.mapping.check()?;
        let missing = |what: &str| {
            Error::config(
                what,
                format!("a post flow's plan needs a {what}; set it on the builder"),
            )
        };
        let source = self.source.ok_or_else(|| missing("source"))?;
        let sink = self.sink.ok_or_else(|| missing("sink"))?;
        plan(Parts {
            mapping: &self.mapping,
            source: &*source,
            sink: &*sink,
            store: self.store.as_ref(),
            options: &self.options,
            progress: &self.progress,
        })
        .await
    }
}

async fn plan(parts: Parts<'_>) -> Result<PostPlan> {
    let Parts {
        mapping,
        source,
        sink,
        store,
        options,
        progress,
    } = parts;
    let flow = mapping.flow.clone();
    progress.emit(|| ProgressEvent::PlanStarted { flow: flow.clone() });
    let reference = sink.reference_data().await?;
    let mut rows: Vec<Row> = Vec::new();
    let mut pages = source.pages(None).await?;
    while let Some(page) = pages.try_next().await? {
        rows.extend(page);
        progress.emit(|| ProgressEvent::RowsRead {
            rows: rows.len() as u64,
        });
    }
    let mapped = mapping.map_rows(&rows)?;
    progress.emit(|| ProgressEvent::DocumentsMapped {
        documents: mapped.documents.len() as u64,
    });
    let report = validate(&mapped, &reference, options.validation);
    let verdicts: HashMap<usize, DocumentStatus> = report
        .documents
        .iter()
        .map(|v| (v.index, v.status))
        .collect();
    let postable: Vec<JournalDocument> = report.postable(&mapped).cloned().collect();
    let foreign = if postable.is_empty() {
        Vec::new()
    } else {
        foreign_journals(sink, &postable, &BTreeSet::new())
            .await?
            .unwrap_or_default()
    };
    let ledger = match store {
        Some(store) => ReadLedger::new(
            store
                .ledger_entries(&flow, &LedgerFilter::default())
                .await?,
            store.now().await?,
            options.settle_horizon(),
            options.changed_content == ChangedContentPolicy::Skip,
        ),
        None => ReadLedger::new(
            Vec::new(),
            Utc::now(),
            options.settle_horizon(),
            options.changed_content == ChangedContentPolicy::Skip,
        ),
    };
    let items = unique_documents(postable);
    progress.emit(|| ProgressEvent::DocumentsPlanned {
        documents: items.len() as u64,
    });
    let mut ledger = ledger;
    let plans = look_up(
        &items,
        &mut ledger,
        sink,
        options.lookup_page_size,
        None,
        progress,
    )
    .await?;
    // The `fail` policy: a run posts nothing of its journals when one changed after posting.
    let fails = options.changed_content == ChangedContentPolicy::Fail
        && plans.iter().any(|(_, p)| matches!(p, Plan::Changed(_)));
    let mut by_key: HashMap<String, PlannedState> = HashMap::with_capacity(plans.len());
    for (i, p) in plans {
        let state = match p {
            Plan::Settled(entry) if entry.state == LedgerState::Skipped => PlannedState::Skipped {
                reason: entry.detail.unwrap_or_else(|| "skipped earlier".to_owned()),
            },
            Plan::Settled(entry) => PlannedState::AlreadyPosted {
                batch: entry.batch_number,
            },
            Plan::Found(d) => PlannedState::AlreadyPosted {
                batch: Some(d.number),
            },
            Plan::Create if fails => PlannedState::Withheld,
            Plan::Create => PlannedState::WouldPost,
            Plan::Changed(posted) => PlannedState::ChangedContent {
                batches: posted.into_iter().map(|(_, d)| d.number).collect(),
                policy: options.changed_content,
            },
            Plan::InFlight(f) => PlannedState::Pending {
                in_flight_key: f.natural_key,
                settles_after: f.settles_after,
            },
        };
        by_key.insert(items[i].1.to_string(), state);
    }
    let mut journals = Vec::with_capacity(mapped.documents.len());
    for (i, document) in mapped.documents.into_iter().enumerate() {
        let key = NaturalKey::for_document(&document);
        let state = match verdicts.get(&i) {
            Some(DocumentStatus::Invalid { issues }) => PlannedState::Invalid { issues: *issues },
            Some(DocumentStatus::Withheld) => PlannedState::Withheld,
            _ => by_key
                .get(&key.to_string())
                .cloned()
                .unwrap_or(PlannedState::Withheld),
        };
        progress.emit(|| ProgressEvent::JournalPlanned {
            natural_key: key.to_string(),
            partition: document.partition.to_string(),
            state: state.clone(),
        });
        journals.push(PlannedJournal {
            document,
            key,
            state,
        });
    }
    let plan = PostPlan {
        flow,
        rows_read: rows.len(),
        journals,
        report,
        foreign,
    };
    progress.emit(|| ProgressEvent::PlanFinished {
        flow: plan.flow.clone(),
        journals: plan.journals.len() as u64,
        would_post: plan.would_post() as u64,
    });
    Ok(plan)
}
