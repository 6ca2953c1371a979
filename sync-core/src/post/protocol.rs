//! The exactly-once protocol, one run at a time: reconcile what earlier runs left pending, then
//! for each document record the intent, look the key up (one request per page of keys), create
//! only if absent, record the outcome, audit.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};
use tracing::Instrument;

use super::config::PostOptions;
use super::lease::{LeaseKeeper, Stopper};
use super::summary::{DocumentReport, DocumentState, PostCounts};
use crate::adapt;
use crate::error::{ChangedDocument, Error, Result, chain};
use crate::key::{
    ChangedContentPolicy, ContentHash, KeyMatch, NaturalKey, PartitionKey, match_existing,
};
use crate::mapping::JournalDocument;
use crate::progress::{ProgressEvent, Reporter};
use crate::store::{
    AuditEvent, AuditStage, Intent, IntentStatus, LedgerEntry, LedgerState, NewDeadLetter, Outcome,
    RunId, StateStore,
};
use crate::traits::{DocumentSink, ExistingDocument};
use crate::validate::ValidationReport;

/// What to do with one document after its lookup.
enum Plan {
    /// The ledger says it was posted (or skipped) before.
    Settled(LedgerEntry),
    /// Acumatica holds it already.
    Found(ExistingDocument),
    /// Nothing for its partition: create it.
    Create,
    /// Its partition was posted with other content.
    Changed(Vec<(ContentHash, ExistingDocument)>),
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
    open_letters: HashMap<String, i64>,
    shutdown: Option<Stopper>,
    progress: Reporter,
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
            shutdown,
            progress,
        }
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
            summary,
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
        let letter = NewDeadLetter {
            run_id: Some(self.run_id.clone()),
            natural_key: key.to_string(),
            payload: json!({ "document": doc }),
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

    /// Runs the protocol for validated documents.
    pub(crate) async fn post_documents(&mut self, docs: Vec<JournalDocument>) -> Result<()> {
        let mut items: Vec<(JournalDocument, NaturalKey)> = Vec::with_capacity(docs.len());
        for doc in docs {
            let key = NaturalKey::for_document(&doc);
            if items.iter().any(|(_, k)| *k == key) {
                tracing::warn!(key = %key, "the same journal twice in one run; posted once");
                continue;
            }
            items.push((doc, key));
        }
        self.progress.emit(|| ProgressEvent::DocumentsPlanned {
            documents: items.len() as u64,
        });
        let mut plans: Vec<(usize, Plan)> = Vec::with_capacity(items.len());
        let indices: Vec<usize> = (0..items.len()).collect();
        for page in indices.chunks(self.options.lookup_page_size) {
            let lease = self.keeper.fresh().await?;
            let mut lookup = Vec::new();
            for &i in page {
                let (doc, key) = &items[i];
                let intent = Intent {
                    natural_key: key.to_string(),
                    partition: doc.partition.to_string(),
                    payload_hash: key.content().to_string(),
                    run_id: Some(self.run_id.clone()),
                };
                match self.store.record_intent(&lease, &intent).await? {
                    IntentStatus::Settled(entry) => plans.push((i, Plan::Settled(entry))),
                    IntentStatus::Rearmed { .. } => {
                        self.counts.retries += 1;
                        lookup.push(i);
                    }
                    IntentStatus::New(_) | IntentStatus::Pending(_) => lookup.push(i),
                }
            }
            if lookup.is_empty() {
                continue;
            }
            let partitions = unique_partitions(lookup.iter().map(|&i| &items[i].1));
            let found = self
                .sink
                .find(&partitions)
                .instrument(tracing::info_span!("lookup", keys = partitions.len()))
                .await?;
            for &i in &lookup {
                let m = match_existing(
                    &items[i].1,
                    found.iter().map(|d| (d.description.as_str(), d.clone())),
                );
                plans.push((
                    i,
                    match m {
                        KeyMatch::Absent => Plan::Create,
                        KeyMatch::Posted(d) => Plan::Found(d),
                        KeyMatch::ChangedContent { posted } => Plan::Changed(posted),
                    },
                ));
            }
        }

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
        // The lease is checked in the store right before the writes to Acumatica.
        self.keeper.check().await?;
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
                    for (_, old) in &posted {
                        if let Err(reason) = self.reverse(doc, old).await? {
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
                    }
                    self.create(doc, key).await?;
                }
            },
        }
        Ok(())
    }

    /// Reverses an earlier version through the same protocol (its reversal has a key of its
    /// own). `Ok(Err(reason))` when it could not be reversed.
    async fn reverse(
        &mut self,
        doc: &JournalDocument,
        old: &ExistingDocument,
    ) -> Result<std::result::Result<(), String>> {
        let posted = self.sink.fetch(old).await?;
        let reversal = adapt::reversal_of(posted, &self.flow, &doc.partition, &old.number);
        let key = NaturalKey::for_document(&reversal);
        let key_text = key.to_string();
        let lease = self.keeper.fresh().await?;
        let intent = Intent {
            natural_key: key_text.clone(),
            partition: reversal.partition.to_string(),
            payload_hash: key.content().to_string(),
            run_id: Some(self.run_id.clone()),
        };
        match self.store.record_intent(&lease, &intent).await? {
            IntentStatus::Settled(entry) if entry.state == LedgerState::Posted => {
                return Ok(Ok(()));
            }
            IntentStatus::Settled(entry) => {
                return Ok(Err(entry
                    .detail
                    .unwrap_or_else(|| "the reversal was skipped".into())));
            }
            IntentStatus::Rearmed { .. } => self.counts.retries += 1,
            _ => {}
        }
        let found = self
            .sink
            .find(std::slice::from_ref(key.partition()))
            .await?;
        match match_existing(
            &key,
            found.iter().map(|d| (d.description.as_str(), d.clone())),
        ) {
            KeyMatch::Posted(existing) => {
                let lease = self.keeper.fresh().await?;
                let outcome = Outcome::Posted {
                    batch_number: existing.number.clone(),
                    entity_id: existing.id.clone(),
                };
                self.store
                    .record_outcome(&lease, &key_text, &outcome)
                    .await?;
                Ok(Ok(()))
            }
            KeyMatch::Absent => {
                if self.create(&reversal, &key).await? {
                    self.counts.reversed += 1;
                    Ok(Ok(()))
                } else {
                    Ok(Err(format!("the reversal {key_text} was not created")))
                }
            }
            KeyMatch::ChangedContent { posted } => {
                let batches: Vec<&str> = posted.iter().map(|(_, d)| d.number.as_str()).collect();
                let reason = format!(
                    "a different reversal of batch {} exists already (batch {}); an accountant must decide",
                    old.number,
                    batches.join(", ")
                );
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
                Ok(Err(reason))
            }
        }
    }

    /// Creates a document whose key was looked up and found absent. Returns whether it is
    /// now posted.
    async fn create(&mut self, doc: &JournalDocument, key: &NaturalKey) -> Result<bool> {
        // The lease is checked in the store right before the write to Acumatica.
        self.keeper.check().await?;
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
                        let summary = json!({"request": "PUT JournalTransaction (insert-only)", "error": chain(&e), "lookup_error": chain(&lookup)});
                        self.audit(
                            Some(&key_text),
                            AuditStage::Failed,
                            "outcome unknown; lookup failed",
                            summary,
                        )
                        .await?;
                        self.counts.pending += 1;
                        self.report(
                            doc,
                            key,
                            DocumentState::Pending {
                                error: e.to_string(),
                            },
                        );
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
                        let summary = json!({"request": "PUT JournalTransaction (insert-only)", "error": chain(&e), "lookup": "not found"});
                        self.audit(
                            Some(&key_text),
                            AuditStage::Failed,
                            "outcome unknown; not found; left pending for reconciliation",
                            summary,
                        )
                        .await?;
                        self.counts.pending += 1;
                        self.report(
                            doc,
                            key,
                            DocumentState::Pending {
                                error: e.to_string(),
                            },
                        );
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

fn unique_partitions<'a>(keys: impl Iterator<Item = &'a NaturalKey>) -> Vec<PartitionKey> {
    let mut out: Vec<PartitionKey> = keys.map(|k| k.partition().clone()).collect();
    out.sort();
    out.dedup();
    out
}
