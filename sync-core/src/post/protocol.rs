//! The exactly-once protocol, one run at a time: reconcile what earlier runs left pending, then
//! for each document record the intent, look the key up (one request per page of keys), create
//! only if absent, record the outcome, audit.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tracing::Instrument;

use super::config::PostOptions;
use super::lease::{LeaseKeeper, Stopper};
use super::lookup::{
    Before, InFlight, IntentLedger, Plan, look_up, unique_documents, unique_partitions,
};
use super::summary::{DocumentReport, DocumentState, PostCounts};
use crate::adapt;
use crate::error::{ChangedDocument, Error, Result, chain};
use crate::key::{
    ChangedContentPolicy, KeyMatch, NaturalKey, PartitionKey, ReversalKey, find_reversal,
    match_existing,
};
use crate::mapping::{JournalDocument, JournalLine, Row};
use crate::progress::{ProgressEvent, Reporter};
use crate::store::{
    AuditEvent, AuditStage, Intent, IntentStatus, LedgerEntry, LedgerState, NewDeadLetter, Outcome,
    RunId, StateStore, operator, signed,
};
use crate::traits::{DocumentSink, ExistingDocument};
use crate::validate::ValidationReport;

fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// How a reversal ended.
enum Reversal {
    /// Posted (now, or found posted).
    Done,
    /// Definitely not posted, and why.
    NotDone(String),
    /// Maybe posted: left intended for the next run's reconciliation.
    Unknown(String),
}

fn policy_name(p: ChangedContentPolicy) -> &'static str {
    match p {
        ChangedContentPolicy::Fail => "fail",
        ChangedContentPolicy::Skip => "skip",
        ChangedContentPolicy::ReverseAndRepost => "reverse_and_repost",
    }
}

/// The state of one run of a post flow.
pub(crate) struct Poster {
    pub(crate) flow: String,
    pub(crate) store: Arc<dyn StateStore>,
    pub(crate) sink: Arc<dyn DocumentSink>,
    pub(crate) keeper: LeaseKeeper,
    pub(crate) run_id: RunId,
    pub(crate) options: PostOptions,
    pub(crate) counts: PostCounts,
    pub(crate) documents: Vec<DocumentReport>,
    pub(crate) validation: Option<ValidationReport>,
    /// Unresolved dead letters by natural key, resolved when their document gets posted.
    pub(crate) open_letters: HashMap<String, i64>,
    /// The rows this run read (a post run), so a dead letter keeps its journal's source rows
    /// for a replay that re-maps them.
    pub(crate) run_rows: Arc<Vec<Row>>,
    /// Source rows by natural key where they do not come from `run_rows` (a replay).
    pub(crate) letter_rows: HashMap<String, Vec<Row>>,
    /// Partitions (partition key) with a create that may still be queued in the target.
    in_flight: HashMap<String, InFlight>,
    shutdown: Option<Stopper>,
    progress: Reporter,
    /// Who runs this run (`user@host`, [`operator`]): every audit event carries it as `by`.
    pub(crate) by: String,
    /// Warnings for the run's summary.
    pub(crate) warnings: Vec<String>,
}

fn doc_summary(doc: &JournalDocument) -> Value {
    json!({
        "partition": doc.partition.to_string(),
        "period": doc.period.mmyyyy(),
        "branch": doc.branch,
        "ledger": doc.ledger,
        "lines": doc.lines.len(),
        "debit_total": doc.total_debit().to_string(),
        "credit_total": doc.total_credit().to_string(),
        "rows": doc.rows(),
        "journal_lines": doc.lines.iter().map(audit_line).collect::<Vec<_>>(),
    })
}

/// One journal line as the audit trail keeps it: what an auditor ties to the ledger, the
/// amounts as exact decimal strings.
fn audit_line(line: &JournalLine) -> Value {
    json!({
        "row": line.row,
        "account": line.account,
        "subaccount": line.subaccount,
        "branch": line.branch,
        "debit": line.debit.to_string(),
        "credit": line.credit.to_string(),
        "description": line.description,
    })
}

/// True when the target certainly did not create the document: it rejected it (422 with
/// field errors) or the request was never valid. Anything else may have been applied.
fn rejected(e: &Error) -> bool {
    match e {
        Error::Acumatica(a) => matches!(
            a.kind(),
            acumatica_client::ErrorKind::Validation(_) | acumatica_client::ErrorKind::Config
        ),
        Error::Data { .. } | Error::Config { .. } => true,
        _ => false,
    }
}

impl Poster {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        flow: String,
        store: Arc<dyn StateStore>,
        sink: Arc<dyn DocumentSink>,
        keeper: LeaseKeeper,
        run_id: RunId,
        options: PostOptions,
        open_letters: HashMap<String, i64>,
        shutdown: Option<Stopper>,
        progress: Reporter,
    ) -> Self {
        Self {
            flow,
            store,
            sink,
            keeper,
            run_id,
            options,
            counts: PostCounts::default(),
            documents: Vec::new(),
            validation: None,
            open_letters,
            run_rows: Arc::default(),
            letter_rows: HashMap::new(),
            in_flight: HashMap::new(),
            shutdown,
            progress,
            by: operator(),
            warnings: Vec::new(),
        }
    }

    /// When `entry`'s create may still be applied by the target: sent at `attempted_at` less
    /// than the settle horizon before `now` (both by the store's clock).
    fn still_in_flight(&self, entry: &LedgerEntry, now: DateTime<Utc>) -> Option<InFlight> {
        InFlight::of_entry(entry, now, self.options.settle_horizon())
    }

    /// Remembers that `partition` has a create in flight, and counts it.
    fn hold_partition(&mut self, partition: &PartitionKey, flight: &InFlight) {
        self.counts.pending += 1;
        self.counts.in_flight += 1;
        self.counts.settles_after = self.counts.settles_after.max(Some(flight.settles_after));
        let slot = self
            .in_flight
            .entry(partition.as_str().to_owned())
            .or_insert_with(|| flight.clone());
        if flight.settles_after > slot.settles_after {
            *slot = flight.clone();
        }
    }

    fn in_flight_text(&self, flight: &InFlight) -> String {
        format!(
            "a create sent at {} may still be applied by Acumatica until {} (settle horizon {} s: request timeout plus the licence queue); not concluded absent, and nothing else is created for this journal until then; a run after {} settles it",
            utc(flight.attempted_at),
            utc(flight.settles_after),
            self.options.settle_horizon_secs,
            utc(flight.settles_after)
        )
    }

    /// Stamps the ledger right before a create is sent (or when its outcome turned out
    /// unknown): from now on a lookup that misses it is not conclusive until the settle
    /// horizon has passed. Checks the lease in the same transaction.
    async fn record_attempt(&mut self, key: &NaturalKey) -> Result<LedgerEntry> {
        let lease = self.keeper.fresh().await?;
        Ok(self.store.record_attempt(&lease, &key.to_string()).await?)
    }

    fn stopping(&self) -> bool {
        self.shutdown.as_ref().is_some_and(Stopper::is_set)
    }

    pub(crate) async fn audit(
        &mut self,
        key: Option<&str>,
        stage: AuditStage,
        outcome: impl Into<String>,
        summary: Value,
    ) -> Result<()> {
        let lease = self.keeper.fresh().await?;
        let event = AuditEvent {
            run_id: self.run_id.clone(),
            natural_key: key.map(str::to_owned),
            stage,
            outcome: outcome.into(),
            summary: signed(summary, &self.by),
        };
        self.store.append_audit(&lease, &event).await?;
        Ok(())
    }

    pub(crate) fn push_report(
        &mut self,
        doc: &JournalDocument,
        key: &NaturalKey,
        state: DocumentState,
    ) {
        self.report(doc, key, state);
    }

    /// Records a document's fate in the run's summary, and reports it to the progress
    /// listener: the one place both happen, so each document is reported exactly once.
    fn report(&mut self, doc: &JournalDocument, key: &NaturalKey, state: DocumentState) {
        let report = DocumentReport {
            natural_key: key.to_string(),
            partition: doc.partition.to_string(),
            state,
        };
        self.progress.emit(|| ProgressEvent::DocumentFinished {
            document: report.clone(),
        });
        self.documents.push(report);
    }

    /// Parks a document for replay (or updates its open dead letter).
    pub(crate) async fn dead_letter(
        &mut self,
        doc: &JournalDocument,
        key: &NaturalKey,
        error: &str,
    ) -> Result<()> {
        let lease = self.keeper.fresh().await?;
        let rows: Vec<&Row> = match self.letter_rows.get(&key.to_string()) {
            Some(rows) => rows.iter().collect(),
            None => doc
                .rows()
                .iter()
                .filter_map(|r| r.checked_sub(1).and_then(|i| self.run_rows.get(i)))
                .collect(),
        };
        // The source rows let `replay` re-map the journal from a corrected configuration.
        let mut payload = json!({ "document": doc });
        if !rows.is_empty() {
            payload["rows"] = json!(rows);
        }
        let letter = NewDeadLetter {
            run_id: Some(self.run_id.clone()),
            natural_key: key.to_string(),
            payload,
            error: error.to_owned(),
        };
        let stored = self.store.add_dead_letter(&lease, &letter).await?;
        self.open_letters.insert(stored.natural_key, stored.id);
        Ok(())
    }

    async fn resolve_letter(&mut self, key: &NaturalKey, resolution: String) -> Result<()> {
        if let Some(id) = self.open_letters.remove(&key.to_string()) {
            let lease = self.keeper.fresh().await?;
            self.store
                .resolve_dead_letter(&lease, id, &resolution)
                .await?;
        }
        Ok(())
    }

    /// Settles every intent an earlier run left without outcome, by lookup, before anything
    /// else: found means posted; not found means it was never created.
    #[tracing::instrument(level = "info", skip(self), fields(flow = %self.flow))]
    pub(crate) async fn reconcile(&mut self) -> Result<()> {
        let pending = self.store.pending_intents(&self.flow).await?;
        let pending = self.reconcile_reversals(pending).await?;
        if pending.is_empty() {
            return Ok(());
        }
        tracing::info!(
            pending = pending.len(),
            "reconciling intents without outcome"
        );
        self.progress.emit(|| ProgressEvent::Reconciling {
            pending: pending.len() as u64,
        });
        let now = self.store.now().await?;
        for chunk in pending.chunks(self.options.lookup_page_size) {
            let mut keyed = Vec::with_capacity(chunk.len());
            for entry in chunk {
                match entry.natural_key.parse::<NaturalKey>() {
                    Ok(k) => keyed.push((entry, k)),
                    Err(e) => {
                        let lease = self.keeper.fresh().await?;
                        let outcome = Outcome::Failed {
                            error: format!("cannot be reconciled: {e}"),
                        };
                        self.store
                            .record_outcome(&lease, &entry.natural_key, &outcome)
                            .await?;
                        self.progress.emit(|| ProgressEvent::Reconciled {
                            natural_key: entry.natural_key.clone(),
                            found: false,
                        });
                    }
                }
            }
            let partitions = unique_partitions(keyed.iter().map(|(_, k)| k));
            let found = self.sink.find(&partitions).await?;
            for (entry, key) in keyed {
                let lease = self.keeper.fresh().await?;
                let key_text = key.to_string();
                let in_flight = self.still_in_flight(entry, now);
                match match_existing(&key, found.iter().map(|d| (d.description.as_str(), d))) {
                    KeyMatch::Posted(existing) => {
                        let outcome = Outcome::Posted {
                            batch_number: existing.number.clone(),
                            entity_id: existing.id.clone(),
                        };
                        self.store
                            .record_outcome(&lease, &key_text, &outcome)
                            .await?;
                        self.counts.reconciled_found += 1;
                        let summary = json!({"request": "GET JournalTransaction (lookup by natural key)", "found": existing.number, "intended_by_run": entry.run_id.as_ref().map(RunId::as_str)});
                        self.audit(
                            Some(&key_text),
                            AuditStage::Written,
                            format!("reconciled: found as batch {}", existing.number),
                            summary,
                        )
                        .await?;
                        self.progress.emit(|| ProgressEvent::Reconciled {
                            natural_key: key_text.clone(),
                            found: true,
                        });
                    }
                    _ if in_flight.is_some() => {
                        if let Some(flight) = in_flight {
                            self.defer(entry, &key_text, key.partition(), flight)
                                .await?;
                        }
                    }
                    _ => {
                        let error = format!(
                            "not in Acumatica when run {} reconciled it: it was never created; it is posted when its source rows are read again",
                            self.run_id
                        );
                        let outcome = Outcome::Failed {
                            error: error.clone(),
                        };
                        self.store
                            .record_outcome(&lease, &key_text, &outcome)
                            .await?;
                        self.counts.reconciled_absent += 1;
                        self.audit(
                            Some(&key_text),
                            AuditStage::Skipped,
                            "reconciled: never created",
                            json!({"request": "GET JournalTransaction (lookup by natural key)", "found": Value::Null}),
                        )
                        .await?;
                        self.progress.emit(|| ProgressEvent::Reconciled {
                            natural_key: key_text.clone(),
                            found: false,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Leaves an earlier run's intent pending because its create may still be applied: it is
    /// not concluded absent, its partition is held, and the run reports it with the time
    /// after which a rerun settles it.
    /// `key_text` is the ledger key (a posting's natural key or a reversal's key) and
    /// `partition` the partition whose creates it holds.
    async fn defer(
        &mut self,
        entry: &LedgerEntry,
        key_text: &str,
        partition: &PartitionKey,
        flight: InFlight,
    ) -> Result<()> {
        let key_text = key_text.to_owned();
        let text = self.in_flight_text(&flight);
        tracing::warn!(key = %key_text, attempted_at = %flight.attempted_at, settles_after = %flight.settles_after, "not found, but its create may still be queued in Acumatica; left pending");
        self.hold_partition(partition, &flight);
        self.audit(
            Some(&key_text),
            AuditStage::Skipped,
            format!(
                "reconcile deferred: not found, but may still be applied until {}",
                utc(flight.settles_after)
            ),
            json!({"request": "GET JournalTransaction (lookup by natural key)", "found": Value::Null, "attempted_at": flight.attempted_at.to_rfc3339(), "settles_after": flight.settles_after.to_rfc3339(), "settle_horizon_secs": self.options.settle_horizon_secs}),
        )
        .await?;
        self.progress.emit(|| ProgressEvent::StillInFlight {
            natural_key: key_text.clone(),
            attempted_at: flight.attempted_at,
            settles_after: flight.settles_after,
        });
        let report = DocumentReport {
            natural_key: key_text,
            partition: entry.partition.clone(),
            state: DocumentState::Pending { error: text },
        };
        self.progress.emit(|| ProgressEvent::DocumentFinished {
            document: report.clone(),
        });
        self.documents.push(report);
        Ok(())
    }

    /// Runs the protocol for validated documents.
    pub(crate) async fn post_documents(&mut self, docs: Vec<JournalDocument>) -> Result<()> {
        let items = unique_documents(docs);
        self.progress.emit(|| ProgressEvent::DocumentsPlanned {
            documents: items.len() as u64,
        });
        let sink = self.sink.clone();
        let page_size = self.options.lookup_page_size;
        let run_id = self.run_id.clone();
        let progress = self.progress.clone();
        let plans = look_up(&items, self, &*sink, page_size, Some(&run_id), &progress).await?;

        if self.options.changed_content == ChangedContentPolicy::Fail
            && plans.iter().any(|(_, p)| matches!(p, Plan::Changed(_)))
        {
            return self.fail_changed(&items, plans).await;
        }

        let window = self.options.concurrency.max(1);
        let mut plans = plans.into_iter().peekable();
        while let Some((i, plan)) = plans.next() {
            if self.stopping() {
                // Intents recorded but not acted on stay intended: the next run reconciles them.
                return Err(Error::Cancelled {
                    flow: self.flow.clone(),
                });
            }
            if window > 1 && matches!(plan, Plan::Create) {
                let mut batch = vec![i];
                while batch.len() < window
                    && plans.peek().is_some_and(|(_, p)| matches!(p, Plan::Create))
                {
                    batch.extend(plans.next().map(|(i, _)| i));
                }
                self.create_window(&items, &batch).await?;
                continue;
            }
            let (doc, key) = &items[i];
            let span = tracing::info_span!("document", key = %key, partition = %doc.partition);
            self.execute(doc, key, plan).instrument(span).await?;
        }
        Ok(())
    }

    /// Sends the creates of `batch` together, then records each outcome in order exactly as a
    /// single create would. Every outcome is recorded before the first error is returned; a
    /// crash in between leaves intents that the next run reconciles by lookup.
    async fn create_window(
        &mut self,
        items: &[(JournalDocument, NaturalKey)],
        batch: &[usize],
    ) -> Result<()> {
        // Durably "they may exist from now on", all in one fenced transaction, before any
        // PUT of the window leaves.
        let keys: Vec<String> = batch.iter().map(|&i| items[i].1.to_string()).collect();
        let lease = self.keeper.fresh().await?;
        self.store.record_attempts(&lease, &keys).await?;
        let sink = &self.sink;
        let results = futures::future::join_all(batch.iter().map(|&i| {
            let (doc, key) = &items[i];
            let span = tracing::info_span!("create", key = %key, partition = %doc.partition);
            sink.create(doc, key).instrument(span)
        }))
        .await;
        let mut first_error = None;
        for (&i, result) in batch.iter().zip(results) {
            let (doc, key) = &items[i];
            let span = tracing::info_span!("document", key = %key, partition = %doc.partition);
            if let Err(e) = self.settle_create(doc, key, result).instrument(span).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The `fail` policy: nothing of this run is posted when any journal changed after posting.
    async fn fail_changed(
        &mut self,
        items: &[(JournalDocument, NaturalKey)],
        plans: Vec<(usize, Plan)>,
    ) -> Result<()> {
        let mut changed = Vec::new();
        for (i, plan) in plans {
            let (doc, key) = &items[i];
            let key_text = key.to_string();
            match plan {
                Plan::Changed(posted) => {
                    let batches: Vec<String> =
                        posted.iter().map(|(_, d)| d.number.clone()).collect();
                    let error = format!(
                        "content changed after it was posted as batch {}; policy `fail`: not posted",
                        batches.join(", ")
                    );
                    let lease = self.keeper.fresh().await?;
                    self.store
                        .record_outcome(
                            &lease,
                            &key_text,
                            &Outcome::Failed {
                                error: error.clone(),
                            },
                        )
                        .await?;
                    self.dead_letter(doc, key, &error).await?;
                    self.audit(
                        Some(&key_text),
                        AuditStage::Failed,
                        "changed content",
                        json!({"posted_batches": batches, "document": doc_summary(doc)}),
                    )
                    .await?;
                    self.counts.failed += 1;
                    self.report(doc, key, DocumentState::Failed { error });
                    changed.push(ChangedDocument {
                        natural_key: key_text,
                        partition: doc.partition.to_string(),
                        posted_batches: batches,
                    });
                }
                Plan::Create => {
                    let reason = "withheld: other journals of this run changed after posting (policy `fail`)".to_owned();
                    let lease = self.keeper.fresh().await?;
                    self.store
                        .record_outcome(
                            &lease,
                            &key_text,
                            &Outcome::Failed {
                                error: reason.clone(),
                            },
                        )
                        .await?;
                    self.audit(
                        Some(&key_text),
                        AuditStage::Skipped,
                        "withheld",
                        json!({"reason": reason}),
                    )
                    .await?;
                    self.counts.withheld += 1;
                    self.report(doc, key, DocumentState::Withheld { reason });
                }
                other => self.execute(doc, key, other).await?,
            }
        }
        Err(Error::ChangedContent(changed))
    }

    async fn execute(&mut self, doc: &JournalDocument, key: &NaturalKey, plan: Plan) -> Result<()> {
        let key_text = key.to_string();
        match plan {
            Plan::Settled(entry) => {
                self.counts.duplicates_skipped += 1;
                let (outcome, state) = match entry.state {
                    LedgerState::Skipped => {
                        let reason = entry
                            .detail
                            .clone()
                            .unwrap_or_else(|| "skipped earlier".into());
                        (
                            format!("skipped earlier: {reason}"),
                            DocumentState::Skipped { reason },
                        )
                    }
                    _ => (
                        format!(
                            "already posted as batch {}",
                            entry.batch_number.as_deref().unwrap_or("?")
                        ),
                        DocumentState::AlreadyPosted {
                            batch: entry.batch_number.clone(),
                        },
                    ),
                };
                if let Some(batch) = &entry.batch_number {
                    self.resolve_letter(key, format!("already posted as batch {batch}"))
                        .await?;
                }
                self.audit(
                    Some(&key_text),
                    AuditStage::Skipped,
                    outcome,
                    json!({"source": "ledger", "batch": entry.batch_number}),
                )
                .await?;
                self.report(doc, key, state);
            }
            Plan::Found(existing) => {
                let lease = self.keeper.fresh().await?;
                let outcome = Outcome::Posted {
                    batch_number: existing.number.clone(),
                    entity_id: existing.id.clone(),
                };
                self.store
                    .record_outcome(&lease, &key_text, &outcome)
                    .await?;
                self.counts.duplicates_skipped += 1;
                self.resolve_letter(
                    key,
                    format!("found in Acumatica as batch {}", existing.number),
                )
                .await?;
                self.audit(
                    Some(&key_text),
                    AuditStage::Skipped,
                    format!("already in Acumatica as batch {}", existing.number),
                    json!({"request": "GET JournalTransaction (lookup by natural key)", "batch": existing.number, "status": existing.status}),
                )
                .await?;
                self.report(
                    doc,
                    key,
                    DocumentState::AlreadyPosted {
                        batch: Some(existing.number.clone()),
                    },
                );
                if self.options.release && !existing.is_released() {
                    self.release(&key_text, &existing).await?;
                }
            }
            Plan::Create => {
                self.create(doc, key).await?;
            }
            Plan::InFlight(flight) => {
                if flight.natural_key == key_text
                    && self.documents.iter().any(|d| d.natural_key == key_text)
                {
                    // Reported by the reconciliation already.
                    return Ok(());
                }
                let text = if flight.natural_key == key_text {
                    self.in_flight_text(&flight)
                } else {
                    format!(
                        "held: an earlier version of this journal ({}) was sent at {} and may still be applied by Acumatica until {}; this version is not posted before that is settled, so the partition never gets two journals; a run after {} settles it",
                        flight.natural_key,
                        utc(flight.attempted_at),
                        utc(flight.settles_after),
                        utc(flight.settles_after)
                    )
                };
                self.hold_partition(key.partition(), &flight);
                self.audit(
                    Some(&key_text),
                    AuditStage::Skipped,
                    format!(
                        "held: a create for this partition may still be applied until {}",
                        utc(flight.settles_after)
                    ),
                    json!({"in_flight_key": flight.natural_key, "attempted_at": flight.attempted_at.to_rfc3339(), "settles_after": flight.settles_after.to_rfc3339(), "document": doc_summary(doc)}),
                )
                .await?;
                self.report(doc, key, DocumentState::Pending { error: text });
            }
            Plan::Changed(posted) => match self.options.changed_content {
                ChangedContentPolicy::Skip | ChangedContentPolicy::Fail => {
                    let batches: Vec<&str> =
                        posted.iter().map(|(_, d)| d.number.as_str()).collect();
                    let reason = format!(
                        "content changed after it was posted as batch {}; policy `skip` leaves the posted batch as it is",
                        batches.join(", ")
                    );
                    let lease = self.keeper.fresh().await?;
                    self.store
                        .record_outcome(
                            &lease,
                            &key_text,
                            &Outcome::Skipped {
                                reason: reason.clone(),
                            },
                        )
                        .await?;
                    self.counts.changed_skipped += 1;
                    tracing::warn!(key = %key, batches = ?batches, "changed content skipped");
                    self.audit(
                        Some(&key_text),
                        AuditStage::Skipped,
                        "changed content",
                        json!({"posted_batches": batches, "document": doc_summary(doc)}),
                    )
                    .await?;
                    self.report(doc, key, DocumentState::Skipped { reason });
                }
                ChangedContentPolicy::ReverseAndRepost => {
                    for (content, old) in &posted {
                        let reversed =
                            NaturalKey::from_parts(key.partition().clone(), content.clone());
                        let (reason, pending) = match self.reverse(doc, &reversed, old).await? {
                            Reversal::Done => continue,
                            Reversal::NotDone(reason) => (reason, false),
                            Reversal::Unknown(reason) => (reason, true),
                        };
                        let error = format!(
                            "not posted: the earlier version (batch {}) could not be reversed: {reason}",
                            old.number
                        );
                        let lease = self.keeper.fresh().await?;
                        self.store
                            .record_outcome(
                                &lease,
                                &key_text,
                                &Outcome::Failed {
                                    error: error.clone(),
                                },
                            )
                            .await?;
                        if pending {
                            // Not sent; the next run settles the reversal by lookup first, then
                            // decides about this journal again.
                            self.audit(
                                Some(&key_text),
                                AuditStage::Failed,
                                "not sent: reversal of the earlier version pending reconciliation",
                                json!({"batch": old.number, "error": reason}),
                            )
                            .await?;
                            self.counts.pending += 1;
                            self.report(doc, key, DocumentState::Pending { error });
                            return Ok(());
                        }
                        self.dead_letter(doc, key, &error).await?;
                        self.audit(
                            Some(&key_text),
                            AuditStage::Failed,
                            "earlier version not reversed",
                            json!({"batch": old.number, "error": reason}),
                        )
                        .await?;
                        self.counts.failed += 1;
                        self.report(doc, key, DocumentState::Failed { error });
                        return Ok(());
                    }
                    self.create(doc, key).await?;
                }
            },
        }
        Ok(())
    }

    /// Reverses one posting still in effect (batch `old`, which posted `reversed`) exactly once:
    /// the intent is recorded under the reversal's own [`ReversalKey`] (one per reversed batch)
    /// before anything is sent; a lookup of the partition first settles a reversal an earlier
    /// attempt made; the reversing journal is tagged `[mlc-rev:<reversed>]` in the original
    /// partition. Once it is posted, the reversed posting's ledger entry is re-opened, so its
    /// content can be posted again when the figures return to it.
    async fn reverse(
        &mut self,
        doc: &JournalDocument,
        reversed: &NaturalKey,
        old: &ExistingDocument,
    ) -> Result<Reversal> {
        let rkey = ReversalKey::new(reversed.clone(), old.number.clone());
        let key_text = rkey.to_string();
        let lease = self.keeper.fresh().await?;
        let intent = Intent {
            natural_key: key_text.clone(),
            partition: doc.partition.to_string(),
            payload_hash: reversed.content().to_string(),
            run_id: Some(self.run_id.clone()),
        };
        let may_create = match self.store.record_intent(&lease, &intent).await? {
            IntentStatus::Settled(entry) if entry.state == LedgerState::Posted => {
                let batch = entry.batch_number.clone().unwrap_or_default();
                self.reopen_reversed(&rkey, &batch).await?;
                return Ok(Reversal::Done);
            }
            IntentStatus::Settled(entry) => {
                return Ok(Reversal::NotDone(
                    entry
                        .detail
                        .unwrap_or_else(|| "the reversal was skipped".into()),
                ));
            }
            IntentStatus::Rearmed { .. } => {
                self.counts.retries += 1;
                true
            }
            IntentStatus::New(_) => true,
            // An earlier attempt left it without outcome and reconciliation did not settle it:
            // never send it again before a lookup finds it or it is concluded absent.
            IntentStatus::Pending(_) => false,
        };
        let found = self
            .sink
            .find(std::slice::from_ref(reversed.partition()))
            .await?;
        if let Some(existing) =
            find_reversal(&rkey, found.iter().map(|d| (d.description.as_str(), d)))
        {
            let existing = existing.clone();
            self.reversal_posted(&rkey, &existing, "found in Acumatica")
                .await?;
            return Ok(Reversal::Done);
        }
        if !may_create {
            return Ok(Reversal::Unknown(format!(
                "an earlier attempt at reversing batch {} has no known outcome yet ({key_text}); the next run settles it by lookup",
                old.number
            )));
        }
        let posted = match self.sink.fetch(old).await {
            Ok(posted) => posted,
            Err(e) => {
                let error = format!("batch {} could not be read back: {}", old.number, chain(&e));
                self.reversal_failed(&key_text, &error).await?;
                return Ok(Reversal::NotDone(error));
            }
        };
        let reversal = adapt::reversal_of(posted, &doc.flow, &doc.partition, &old.number);
        // Durably "it may exist from now on" before the PUT leaves (fenced like every write).
        let lease = self.keeper.fresh().await?;
        self.store.record_attempt(&lease, &key_text).await?;
        let span = tracing::info_span!("reverse", key = %key_text, batch = %old.number);
        let result = self
            .sink
            .create_reversal(&reversal, &rkey)
            .instrument(span)
            .await;
        match result {
            Ok(existing) => {
                self.reversal_posted(&rkey, &existing, "created").await?;
                Ok(Reversal::Done)
            }
            Err(e) if rejected(&e) => {
                let error = chain(&e);
                self.reversal_failed(&key_text, &error).await?;
                Ok(Reversal::NotDone(error))
            }
            Err(e) => {
                tracing::warn!(key = %key_text, error = %e, "reversal outcome uncertain; looking it up");
                let found = match self
                    .sink
                    .find(std::slice::from_ref(reversed.partition()))
                    .await
                {
                    Ok(found) => found,
                    Err(lookup) => {
                        self.audit(
                            Some(&key_text),
                            AuditStage::Failed,
                            "reversal outcome unknown; lookup failed; left pending for reconciliation",
                            json!({"request": "PUT JournalTransaction (insert-only reversal)", "error": chain(&e), "lookup_error": chain(&lookup)}),
                        )
                        .await?;
                        return Ok(Reversal::Unknown(e.to_string()));
                    }
                };
                if let Some(existing) =
                    find_reversal(&rkey, found.iter().map(|d| (d.description.as_str(), d)))
                {
                    let existing = existing.clone();
                    let how = format!("created (confirmed by lookup after: {e})");
                    self.reversal_posted(&rkey, &existing, &how).await?;
                    return Ok(Reversal::Done);
                }
                if e.is_outcome_unknown() {
                    // The last moment the PUT may have left is now: the horizon counts from it.
                    let lease = self.keeper.fresh().await?;
                    self.store.record_attempt(&lease, &key_text).await?;
                    self.audit(
                        Some(&key_text),
                        AuditStage::Failed,
                        "reversal outcome unknown; not found; left pending for reconciliation",
                        json!({"request": "PUT JournalTransaction (insert-only reversal)", "error": chain(&e), "lookup": "not found"}),
                    )
                    .await?;
                    return Ok(Reversal::Unknown(e.to_string()));
                }
                let error = chain(&e);
                self.reversal_failed(&key_text, &error).await?;
                Ok(Reversal::NotDone(error))
            }
        }
    }

    /// Records a reversal as posted (ledger, audit, counts), re-opens the reversed posting and
    /// releases the reversal when the flow releases.
    async fn reversal_posted(
        &mut self,
        rkey: &ReversalKey,
        existing: &ExistingDocument,
        how: &str,
    ) -> Result<()> {
        let key_text = rkey.to_string();
        let lease = self.keeper.fresh().await?;
        let outcome = Outcome::Posted {
            batch_number: existing.number.clone(),
            entity_id: existing.id.clone(),
        };
        self.store
            .record_outcome(&lease, &key_text, &outcome)
            .await?;
        self.counts.reversed += 1;
        self.counts.documents_posted += 1;
        tracing::info!(key = %key_text, batch = %existing.number, reversed = rkey.batch(), "reversed");
        self.audit(
            Some(&key_text),
            AuditStage::Written,
            format!("reversal of batch {} {how} as batch {}", rkey.batch(), existing.number),
            json!({"request": "PUT JournalTransaction (insert-only reversal)", "reverses": rkey.batch(), "reversed_key": rkey.reversed().to_string(), "batch": existing.number, "status": existing.status}),
        )
        .await?;
        self.reopen_reversed(rkey, &existing.number).await?;
        if self.options.release && !existing.is_released() {
            self.release(&key_text, existing).await?;
        }
        Ok(())
    }

    async fn reversal_failed(&mut self, key_text: &str, error: &str) -> Result<()> {
        let lease = self.keeper.fresh().await?;
        self.store
            .record_outcome(
                &lease,
                key_text,
                &Outcome::Failed {
                    error: error.to_owned(),
                },
            )
            .await?;
        self.audit(
            Some(key_text),
            AuditStage::Failed,
            "reversal not created",
            json!({"request": "PUT JournalTransaction (insert-only reversal)", "error": error}),
        )
        .await
    }

    /// Re-opens the ledger entry of a reversed posting (when it is settled), so the ledger
    /// agrees with Acumatica: that posting is no longer in effect.
    async fn reopen_reversed(&mut self, rkey: &ReversalKey, reversal_batch: &str) -> Result<()> {
        let reversed = rkey.reversed().to_string();
        let Some(entry) = self.store.ledger_entry(&self.flow, &reversed).await? else {
            return Ok(());
        };
        if !entry.is_settled() {
            return Ok(());
        }
        let lease = self.keeper.fresh().await?;
        let reason = format!(
            "batch {} reversed by batch {reversal_batch} in run {}",
            rkey.batch(),
            self.run_id
        );
        self.store.reopen_entry(&lease, &reversed, &reason).await?;
        Ok(())
    }

    /// A changed-content skip recorded earlier is decided again when the policy in force is no
    /// longer `skip`: the entry is re-opened and intended again, and the document is looked up
    /// like a new one. `Some(entry)` when it stays settled.
    async fn redecide_skip(
        &mut self,
        entry: LedgerEntry,
        intent: &Intent,
    ) -> Result<Option<LedgerEntry>> {
        let policy = self.options.changed_content;
        if entry.state != LedgerState::Skipped || policy == ChangedContentPolicy::Skip {
            return Ok(Some(entry));
        }
        let lease = self.keeper.fresh().await?;
        let reason = format!(
            "skipped earlier ({}); decided again under policy `{}` in run {}",
            entry.detail.as_deref().unwrap_or("no reason recorded"),
            policy_name(policy),
            self.run_id
        );
        self.store
            .reopen_entry(&lease, &entry.natural_key, &reason)
            .await?;
        match self.store.record_intent(&lease, intent).await? {
            IntentStatus::Settled(entry) => Ok(Some(entry)),
            _ => Ok(None),
        }
    }

    /// Settles the reversal intents an earlier run left without outcome, by lookup of the
    /// reversed posting's partition, and returns the other pending entries.
    async fn reconcile_reversals(&mut self, pending: Vec<LedgerEntry>) -> Result<Vec<LedgerEntry>> {
        let mut rest = Vec::with_capacity(pending.len());
        let now = self.store.now().await?;
        for entry in pending {
            let Ok(rkey) = entry.natural_key.parse::<ReversalKey>() else {
                rest.push(entry);
                continue;
            };
            let key_text = rkey.to_string();
            let found = self
                .sink
                .find(std::slice::from_ref(rkey.reversed().partition()))
                .await?;
            match find_reversal(&rkey, found.iter().map(|d| (d.description.as_str(), d))) {
                Some(existing) => {
                    let existing = existing.clone();
                    let lease = self.keeper.fresh().await?;
                    let outcome = Outcome::Posted {
                        batch_number: existing.number.clone(),
                        entity_id: existing.id.clone(),
                    };
                    self.store
                        .record_outcome(&lease, &key_text, &outcome)
                        .await?;
                    self.counts.reconciled_found += 1;
                    self.audit(
                        Some(&key_text),
                        AuditStage::Written,
                        format!("reconciled: reversal of batch {} found as batch {}", rkey.batch(), existing.number),
                        json!({"request": "GET JournalTransaction (lookup by natural key)", "found": existing.number, "intended_by_run": entry.run_id.as_ref().map(RunId::as_str)}),
                    )
                    .await?;
                    self.reopen_reversed(&rkey, &existing.number).await?;
                    self.progress.emit(|| ProgressEvent::Reconciled {
                        natural_key: key_text.clone(),
                        found: true,
                    });
                }
                None if self.still_in_flight(&entry, now).is_some() => {
                    // Its PUT may still be queued in Acumatica: not concluded absent before
                    // the settle horizon, and nothing is created in its partition meanwhile.
                    if let Some(flight) = self.still_in_flight(&entry, now) {
                        self.defer(&entry, &key_text, rkey.reversed().partition(), flight)
                            .await?;
                    }
                }
                None => {
                    let lease = self.keeper.fresh().await?;
                    let error = format!(
                        "reversal not in Acumatica when run {} reconciled it: it was never created; the next run reverses batch {} if it is still in effect",
                        self.run_id,
                        rkey.batch()
                    );
                    self.store
                        .record_outcome(&lease, &key_text, &Outcome::Failed { error })
                        .await?;
                    self.counts.reconciled_absent += 1;
                    self.audit(
                        Some(&key_text),
                        AuditStage::Skipped,
                        "reconciled: reversal never created",
                        json!({"request": "GET JournalTransaction (lookup by natural key)", "found": Value::Null}),
                    )
                    .await?;
                    self.progress.emit(|| ProgressEvent::Reconciled {
                        natural_key: key_text.clone(),
                        found: false,
                    });
                }
            }
        }
        Ok(rest)
    }

    /// Creates a document whose key was looked up and found absent. Returns whether it is
    /// now posted.
    async fn create(&mut self, doc: &JournalDocument, key: &NaturalKey) -> Result<bool> {
        // Durably "it may exist from now on" before the PUT leaves (fenced like every write).
        self.record_attempt(key).await?;
        let span = tracing::info_span!("create", key = %key);
        let result = self.sink.create(doc, key).instrument(span).await;
        self.settle_create(doc, key, result).await
    }

    /// Records what a create did: posted, rejected, or (when the answer was lost) what a lookup
    /// finds; never resends. `true` when the document is in Acumatica.
    async fn settle_create(
        &mut self,
        doc: &JournalDocument,
        key: &NaturalKey,
        result: Result<ExistingDocument>,
    ) -> Result<bool> {
        let key_text = key.to_string();
        match result {
            Ok(existing) => {
                self.posted(doc, key, &existing, "created").await?;
                Ok(true)
            }
            Err(e) if rejected(&e) => {
                self.failed(doc, key, &e).await?;
                Ok(false)
            }
            Err(e) => {
                // It may have been created: look it up before anything else, never resend.
                tracing::warn!(key = %key, error = %e, "create outcome uncertain; looking the key up");
                let found = match self.sink.find(std::slice::from_ref(key.partition())).await {
                    Ok(found) => found,
                    Err(lookup) => {
                        let flight = self.restamp(key).await?;
                        let summary = json!({"request": "PUT JournalTransaction (insert-only)", "error": chain(&e), "lookup_error": chain(&lookup), "settles_after": flight.settles_after.to_rfc3339()});
                        self.audit(
                            Some(&key_text),
                            AuditStage::Failed,
                            "outcome unknown; lookup failed",
                            summary,
                        )
                        .await?;
                        let text = format!("{e}; {}", self.in_flight_text(&flight));
                        self.hold_partition(key.partition(), &flight);
                        self.report(doc, key, DocumentState::Pending { error: text });
                        return Err(lookup);
                    }
                };
                match match_existing(
                    key,
                    found.iter().map(|d| (d.description.as_str(), d.clone())),
                ) {
                    KeyMatch::Posted(existing) => {
                        let how = format!("created (confirmed by lookup after: {e})");
                        self.posted(doc, key, &existing, &how).await?;
                        Ok(true)
                    }
                    _ if e.is_outcome_unknown() => {
                        let flight = self.restamp(key).await?;
                        let summary = json!({"request": "PUT JournalTransaction (insert-only)", "error": chain(&e), "lookup": "not found", "settles_after": flight.settles_after.to_rfc3339()});
                        self.audit(
                            Some(&key_text),
                            AuditStage::Failed,
                            "outcome unknown; not found; left pending for reconciliation",
                            summary,
                        )
                        .await?;
                        let text = format!("{e}; {}", self.in_flight_text(&flight));
                        self.hold_partition(key.partition(), &flight);
                        self.report(doc, key, DocumentState::Pending { error: text });
                        Ok(false)
                    }
                    _ => {
                        self.failed(doc, key, &e).await?;
                        Ok(false)
                    }
                }
            }
        }
    }

    /// Stamps the attempt again when a create ended with an unknown outcome: the last send
    /// started before now, so the settle horizon counts from here.
    async fn restamp(&mut self, key: &NaturalKey) -> Result<InFlight> {
        let entry = self.record_attempt(key).await?;
        let attempted_at = entry.attempted_at.unwrap_or(entry.intended_at);
        Ok(InFlight::since(
            entry.natural_key,
            attempted_at,
            self.options.settle_horizon(),
        ))
    }

    async fn posted(
        &mut self,
        doc: &JournalDocument,
        key: &NaturalKey,
        existing: &ExistingDocument,
        how: &str,
    ) -> Result<()> {
        let key_text = key.to_string();
        let lease = self.keeper.fresh().await?;
        let outcome = Outcome::Posted {
            batch_number: existing.number.clone(),
            entity_id: existing.id.clone(),
        };
        self.store
            .record_outcome(&lease, &key_text, &outcome)
            .await?;
        self.counts.documents_posted += 1;
        tracing::info!(key = %key, batch = %existing.number, "posted");
        let mut summary = doc_summary(doc);
        summary["request"] = json!("PUT JournalTransaction (insert-only)");
        summary["batch"] = json!(existing.number);
        summary["id"] = json!(existing.id);
        summary["status"] = json!(existing.status);
        self.audit(Some(&key_text), AuditStage::Written, how, summary)
            .await?;
        self.resolve_letter(
            key,
            format!("posted as batch {} in run {}", existing.number, self.run_id),
        )
        .await?;
        self.report(
            doc,
            key,
            DocumentState::Posted {
                batch: existing.number.clone(),
            },
        );
        if self.options.release && !existing.is_released() {
            self.release(&key_text, existing).await?;
        }
        Ok(())
    }

    async fn failed(&mut self, doc: &JournalDocument, key: &NaturalKey, e: &Error) -> Result<()> {
        let key_text = key.to_string();
        let error = chain(e);
        let lease = self.keeper.fresh().await?;
        self.store
            .record_outcome(
                &lease,
                &key_text,
                &Outcome::Failed {
                    error: error.clone(),
                },
            )
            .await?;
        self.dead_letter(doc, key, &error).await?;
        self.counts.failed += 1;
        tracing::warn!(key = %key, error = %error, "post failed");
        let mut summary = doc_summary(doc);
        summary["request"] = json!("PUT JournalTransaction (insert-only)");
        summary["error"] = json!(error);
        if let Error::Acumatica(a) = e {
            summary["status"] = json!(a.status());
            summary["field_errors"] = json!(
                a.field_errors()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            );
        }
        self.audit(Some(&key_text), AuditStage::Failed, "rejected", summary)
            .await?;
        self.report(doc, key, DocumentState::Failed { error });
        Ok(())
    }

    async fn release(&mut self, key: &str, existing: &ExistingDocument) -> Result<()> {
        let span = tracing::info_span!("release", batch = %existing.number);
        self.keeper.check().await?;
        match self.sink.release(existing).instrument(span).await {
            Ok(()) => {
                self.counts.released += 1;
                self.audit(Some(key), AuditStage::Written, format!("released batch {}", existing.number), json!({"request": "POST JournalTransaction/ReleaseJournalTransaction", "batch": existing.number})).await
            }
            Err(e) => {
                self.counts.release_failures += 1;
                tracing::warn!(batch = %existing.number, error = %e, "release failed");
                self.audit(Some(key), AuditStage::Failed, format!("release of batch {} failed", existing.number), json!({"request": "POST JournalTransaction/ReleaseJournalTransaction", "batch": existing.number, "error": chain(&e)})).await
            }
        }
    }
}

/// A run learns what the ledger knows by recording the intent: fenced, durable before the
/// lookup and any create.
#[async_trait]
impl IntentLedger for Poster {
    async fn intend(&mut self, intent: &Intent) -> Result<Before> {
        let lease = self.keeper.fresh().await?;
        Ok(match self.store.record_intent(&lease, intent).await? {
            IntentStatus::Settled(entry) => match self.redecide_skip(entry, intent).await? {
                Some(entry) => Before::Settled(Box::new(entry)),
                None => Before::LookUp,
            },
            IntentStatus::Rearmed { .. } => {
                self.counts.retries += 1;
                Before::LookUp
            }
            IntentStatus::Pending(entry) => {
                match self.still_in_flight(&entry, self.store.now().await?) {
                    Some(flight) => Before::InFlight(flight),
                    None => Before::LookUp,
                }
            }
            IntentStatus::New(_) => Before::LookUp,
        })
    }

    fn held(&self, partition: &PartitionKey) -> Option<InFlight> {
        self.in_flight.get(partition.as_str()).cloned()
    }

    fn hold(&mut self, partition: &PartitionKey, flight: InFlight) {
        self.in_flight.insert(partition.as_str().to_owned(), flight);
    }
}
