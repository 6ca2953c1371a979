//! Replaying and discarding dead letters.
//!
//! A dead letter is kept per natural key (partition and content), so one partition can have
//! several: content A refused, the figures changed, content B refused. A replay posts at most
//! one journal per partition: of the letters of one partition the newest (latest failure)
//! wins and the older ones are resolved as superseded, in the audit trail; the winner goes
//! through the whole protocol (lookup, then the changed-content policy when Acumatica holds
//! other content for its partition).
//!
//! A replay can **re-map** the letters ([`ReplayOptions::remap`]): their source rows (kept in
//! the letter since this version) are mapped again with the flow's current mapping, e.g. after
//! a corrected account map, instead of re-sending the stored journal. A letter can also be
//! **discarded** with a reason ([`PostFlow::discard_dead_letter`]). Both are recorded in the
//! audit trail with who did it ([`operator`]).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::{DocumentState, PostFlow, RunSummary};
use crate::error::{Error, Result};
use crate::key::NaturalKey;
use crate::mapping::{JournalDocument, MappedJournals, Row};
use crate::progress::{ProgressEvent, RunKind};
use crate::store::{AuditStage, DeadLetter, operator};
use crate::validate::{ValidationPolicy, validate};

use super::protocol::Poster;

/// How [`PostFlow::replay_with`] replays.
///
/// ```
/// use sync_core::post::ReplayOptions;
/// let options = ReplayOptions { ids: Some(vec![7]), remap: true, ..Default::default() };
/// assert!(options.by.is_empty()); // recorded as `sync_core::store::operator()`
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayOptions {
    /// Only these dead letters (`None`: every unresolved one of the flow). Letters of one
    /// partition are reduced to the newest among those selected.
    pub ids: Option<Vec<i64>>,
    /// Map each letter's source rows again with the flow's current mapping instead of
    /// re-sending the stored journal. A letter stored without its rows (by an older version)
    /// is reported as not re-mappable and left open.
    pub remap: bool,
    /// Who replays, for the audit trail (e.g. `jane@ops-1`); empty: [`operator`].
    pub by: String,
}

/// The source rows a dead letter keeps (`payload.rows`), if any.
fn stored_rows(letter: &DeadLetter) -> Option<Vec<Row>> {
    letter
        .payload
        .get("rows")?
        .as_array()?
        .iter()
        .map(|r| r.as_object().cloned())
        .collect()
}

/// The partition a letter is for (its key's partition half; the whole key if unreadable).
fn letter_partition(letter: &DeadLetter) -> String {
    letter.natural_key.parse::<NaturalKey>().map_or_else(
        |_| letter.natural_key.clone(),
        |k| k.partition().to_string(),
    )
}

impl PostFlow {
    /// Replays dead letters as [`replay`](Self::replay) does, optionally re-mapping them from
    /// the current mapping ([`ReplayOptions::remap`]). A re-mapped letter is resolved once its
    /// journal is posted (or found posted), or once the re-mapped journal failed and was
    /// dead-lettered under its own key; otherwise it stays open.
    ///
    /// ```no_run
    /// use sync_core::post::ReplayOptions;
    /// # async fn demo(flow: sync_core::post::PostFlow) -> sync_core::Result<()> {
    /// let summary = flow
    ///     .replay_with(&ReplayOptions { remap: true, ..Default::default() })
    ///     .await?;
    /// println!("{summary}");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`replay`](Self::replay).
    pub async fn replay_with(&self, options: &ReplayOptions) -> Result<RunSummary> {
        let mut options = options.clone();
        if options.by.trim().is_empty() {
            options.by = operator();
        }
        self.in_run(RunKind::Replay, None, None, move |flow, poster| {
            Box::pin(flow.replay_body(poster, options))
        })
        .await
    }

    /// Discards an unresolved dead letter of this flow: it is resolved as
    /// `discarded by <by>: <reason>` and never replayed, and the audit trail records who
    /// discarded it, why, and the error it had. Runs under the flow's lease (as a replay run
    /// that posts nothing).
    ///
    /// ```no_run
    /// # async fn demo(flow: sync_core::post::PostFlow) -> sync_core::Result<()> {
    /// let who = sync_core::store::operator();
    /// flow.discard_dead_letter(7, "posted by hand as batch 000123", &who).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// A configuration error when the reason is empty or the id is not an unresolved dead
    /// letter of this flow; [`Error::Busy`] when the flow runs elsewhere; store errors.
    pub async fn discard_dead_letter(&self, id: i64, reason: &str, by: &str) -> Result<RunSummary> {
        let reason = reason.trim().to_owned();
        if reason.is_empty() {
            return Err(Error::config(
                "discard reason",
                "give the reason a dead letter is discarded; it is kept in the audit trail",
            ));
        }
        let by = if by.trim().is_empty() {
            operator()
        } else {
            by.trim().to_owned()
        };
        self.in_run(RunKind::Replay, None, None, move |flow, poster| {
            Box::pin(flow.discard_body(poster, id, reason, by))
        })
        .await
    }

    async fn discard_body(
        &self,
        poster: &mut Poster,
        id: i64,
        reason: String,
        by: String,
    ) -> Result<()> {
        poster.by.clone_from(&by);
        let letters = self.store.dead_letters(self.name(), false).await?;
        let Some(letter) = letters.into_iter().find(|l| l.id == id) else {
            return Err(Error::config(
                "dead letter id",
                format!(
                    "dead letter {id} is not an unresolved dead letter of flow `{}`; list them with dead_letters()",
                    self.name()
                ),
            ));
        };
        let lease = poster.keeper.fresh().await?;
        self.store
            .resolve_dead_letter(&lease, id, &format!("discarded by {by}: {reason}"))
            .await?;
        poster.open_letters.remove(&letter.natural_key);
        poster
            .audit(
                Some(&letter.natural_key),
                AuditStage::Skipped,
                format!("dead letter {id} discarded by {by}"),
                json!({"dead_letter": id, "reason": reason, "by": by, "error": letter.error}),
            )
            .await
    }

    /// Keeps the newest letter of each partition; resolves the older ones as superseded.
    async fn supersede(
        &self,
        poster: &mut Poster,
        letters: Vec<DeadLetter>,
        by: &str,
    ) -> Result<Vec<DeadLetter>> {
        let mut groups: BTreeMap<String, Vec<DeadLetter>> = BTreeMap::new();
        for l in letters {
            groups.entry(letter_partition(&l)).or_default().push(l);
        }
        let mut winners = Vec::new();
        for (partition, mut group) in groups {
            group.sort_by_key(|l| std::cmp::Reverse((l.updated_at, l.id)));
            let mut group = group.into_iter();
            let Some(winner) = group.next() else {
                continue;
            };
            for older in group {
                let resolution = format!(
                    "superseded by dead letter {} (a newer journal of the same partition) when {by} replayed in run {}",
                    winner.id, poster.run_id
                );
                let lease = poster.keeper.fresh().await?;
                self.store
                    .resolve_dead_letter(&lease, older.id, &resolution)
                    .await?;
                poster.open_letters.remove(&older.natural_key);
                poster
                    .audit(
                        Some(&older.natural_key),
                        AuditStage::Skipped,
                        format!(
                            "dead letter {} superseded by dead letter {}",
                            older.id, winner.id
                        ),
                        json!({"dead_letter": older.id, "superseded_by": winner.id, "superseded_by_key": winner.natural_key, "partition": partition, "by": by}),
                    )
                    .await?;
            }
            winners.push(winner);
        }
        winners.sort_by_key(|l| l.id);
        Ok(winners)
    }

    /// The letter's journals mapped again from its source rows with the current mapping;
    /// `None` (reported) when it cannot be.
    async fn remap(
        &self,
        poster: &mut Poster,
        letter: &DeadLetter,
        by: &str,
    ) -> Result<Option<Vec<JournalDocument>>> {
        let not_remapped =
            |reason: String| json!({"dead_letter": letter.id, "by": by, "reason": reason});
        let Some(rows) = stored_rows(letter) else {
            poster.counts.failed += 1;
            let reason = format!(
                "dead letter {} was stored without its source rows (by an older version), so it cannot be re-mapped; replay it as stored (without re-mapping), or discard it and run the flow again",
                letter.id
            );
            poster
                .audit(
                    Some(&letter.natural_key),
                    AuditStage::Failed,
                    "cannot be re-mapped",
                    not_remapped(reason),
                )
                .await?;
            return Ok(None);
        };
        let mapped = match self.mapping.map_rows(&rows) {
            Ok(m) if m.errors.is_empty() && !m.documents.is_empty() => m,
            Ok(m) => {
                poster.counts.failed += 1;
                let errors: Vec<String> = m.errors.iter().map(ToString::to_string).collect();
                let reason = if errors.is_empty() {
                    "its rows map to no journal with the current mapping".to_owned()
                } else {
                    errors.join("\n")
                };
                poster
                    .audit(
                        Some(&letter.natural_key),
                        AuditStage::Failed,
                        "re-mapping failed",
                        not_remapped(reason),
                    )
                    .await?;
                return Ok(None);
            }
            Err(e) => {
                poster.counts.failed += 1;
                poster
                    .audit(
                        Some(&letter.natural_key),
                        AuditStage::Failed,
                        "re-mapping failed",
                        not_remapped(e.to_string()),
                    )
                    .await?;
                return Ok(None);
            }
        };
        let mut keys = Vec::new();
        for doc in &mapped.documents {
            let key = NaturalKey::for_document(doc).to_string();
            let doc_rows = doc
                .rows()
                .iter()
                .filter_map(|r| r.checked_sub(1).and_then(|i| rows.get(i)).cloned())
                .collect();
            poster.letter_rows.insert(key.clone(), doc_rows);
            keys.push(key);
        }
        poster
            .audit(
                Some(&letter.natural_key),
                AuditStage::Mapped,
                format!(
                    "dead letter {} re-mapped from the current configuration by {by}",
                    letter.id
                ),
                json!({"dead_letter": letter.id, "by": by, "rows": rows.len(), "natural_keys": keys}),
            )
            .await?;
        Ok(Some(mapped.documents))
    }

    /// Resolves re-mapped letters by what became of their journals in this run.
    async fn settle_remapped(
        &self,
        poster: &mut Poster,
        remapped: &[(DeadLetter, Vec<String>)],
        by: &str,
    ) -> Result<()> {
        for (letter, keys) in remapped {
            // The same key: posting resolves the letter, a failure updates it.
            if keys.contains(&letter.natural_key) {
                continue;
            }
            let states: Vec<&DocumentState> = poster
                .documents
                .iter()
                .filter(|d| keys.contains(&d.natural_key))
                .map(|d| &d.state)
                .collect();
            let posted: Vec<String> = states
                .iter()
                .filter_map(|s| match s {
                    DocumentState::Posted { batch } => Some(batch.clone()),
                    DocumentState::AlreadyPosted { batch } => {
                        Some(batch.clone().unwrap_or_else(|| "?".into()))
                    }
                    _ => None,
                })
                .collect();
            let failed = states.iter().any(|s| {
                matches!(
                    s,
                    DocumentState::Failed { .. } | DocumentState::Invalid { .. }
                )
            });
            let resolution = if posted.len() == keys.len() {
                format!(
                    "re-mapped from the current configuration by {by} in run {} and posted as batch {}",
                    poster.run_id,
                    posted.join(", ")
                )
            } else if failed {
                format!(
                    "re-mapped from the current configuration by {by} in run {}; the re-mapped journal failed and is dead-lettered under key {}",
                    poster.run_id,
                    keys.join(", ")
                )
            } else {
                continue;
            };
            let lease = poster.keeper.fresh().await?;
            self.store
                .resolve_dead_letter(&lease, letter.id, &resolution)
                .await?;
            poster
                .audit(
                    Some(&letter.natural_key),
                    AuditStage::Written,
                    format!("dead letter {} resolved", letter.id),
                    json!({"dead_letter": letter.id, "by": by, "resolution": resolution}),
                )
                .await?;
        }
        Ok(())
    }

    pub(super) async fn replay_body(
        &self,
        poster: &mut Poster,
        options: ReplayOptions,
    ) -> Result<()> {
        poster.by.clone_from(&options.by);
        poster.reconcile().await?;
        let ids = options.ids;
        let letters: Vec<DeadLetter> = self
            .store
            .dead_letters(self.name(), false)
            .await?
            .into_iter()
            .filter(|l| ids.as_ref().is_none_or(|ids| ids.contains(&l.id)))
            .collect();
        if let Some(ids) = &ids
            && let Some(missing) = ids.iter().find(|id| !letters.iter().any(|l| l.id == **id))
        {
            return Err(Error::config(
                "replay ids",
                format!(
                    "dead letter {missing} is not an unresolved dead letter of flow `{}`; list them with dead_letters()",
                    self.name()
                ),
            ));
        }
        if letters.is_empty() {
            return Ok(());
        }
        let letters = self.supersede(poster, letters, &options.by).await?;
        let reference = self.sink.reference_data().await?;
        let mut documents = Vec::new();
        let mut remapped = Vec::new();
        for letter in letters {
            if options.remap {
                if let Some(docs) = self.remap(poster, &letter, &options.by).await? {
                    let keys = docs
                        .iter()
                        .map(|d| NaturalKey::for_document(d).to_string())
                        .collect();
                    documents.extend(docs);
                    remapped.push((letter, keys));
                }
                continue;
            }
            match serde_json::from_value::<JournalDocument>(letter.payload["document"].clone()) {
                Ok(doc) if doc.flow == self.mapping.namespace() => {
                    if let Some(rows) = stored_rows(&letter) {
                        poster.letter_rows.insert(letter.natural_key.clone(), rows);
                    }
                    documents.push(doc);
                }
                Ok(doc) => {
                    poster.counts.failed += 1;
                    poster.audit(Some(&letter.natural_key), AuditStage::Failed, "not replayable", json!({"dead_letter": letter.id, "reason": format!("it belongs to key namespace `{}`, not this flow's `{}`", doc.flow, self.mapping.namespace())})).await?;
                }
                Err(e) => {
                    poster.counts.failed += 1;
                    poster.audit(Some(&letter.natural_key), AuditStage::Failed, "not replayable", json!({"dead_letter": letter.id, "reason": format!("the stored document cannot be read: {e}")})).await?;
                }
            }
        }
        // Never two journals of one partition in one replay (re-mapping may move a journal).
        let mut partitions = BTreeSet::new();
        let mut kept = Vec::with_capacity(documents.len());
        for doc in documents {
            let key = NaturalKey::for_document(&doc);
            if partitions.insert(key.partition().clone()) {
                kept.push(doc);
            } else {
                poster
                    .audit(
                        Some(&key.to_string()),
                        AuditStage::Skipped,
                        "not replayed: another journal of its partition is replayed in this run",
                        json!({"partition": doc.partition.to_string()}),
                    )
                    .await?;
            }
        }
        let documents = kept;
        poster.counts.retries += documents.len() as u64;
        poster.counts.documents_mapped = documents.len() as u64;
        self.progress.emit(|| ProgressEvent::DocumentsMapped {
            documents: documents.len() as u64,
        });
        let mapped = MappedJournals {
            flow: self.name().to_owned(),
            documents,
            errors: Vec::new(),
            skipped_rows: Vec::new(),
            rows_read: 0,
            origins: self.mapping.origins(),
        };
        // Each dead letter stands alone: one invalid journal does not hold back another.
        let report = validate(&mapped, &reference, ValidationPolicy::PerDocument);
        self.handle_validation(poster, &mapped, &report).await?;
        let postable: Vec<JournalDocument> = report.postable(&mapped).cloned().collect();
        if !report.is_clean() {
            poster.validation = Some(report);
        }
        let result = poster.post_documents(postable).await;
        self.settle_remapped(poster, &remapped, &options.by).await?;
        result
    }
}
