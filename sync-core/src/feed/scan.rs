//! The delete scan: warehouse rows whose record is gone from Acumatica are marked deleted.
//!
//! Acumatica's REST API has no feed of deletes, so the scan reconciles ids. It lists every id
//! of the entity ([`FeedSource::ids`]), moving `last_seen_at` of each listed row, then takes
//! the rows not seen since the listing started (plus rows never seen) as **candidates**. A
//! listing can miss ids: the API promises no order and pages only by offset, so a reordering
//! or a delete during the listing can hide a live record. So each candidate is **verified** by
//! a direct read of its id ([`FeedSource::is_gone`]): only the server's "no such record" marks
//! it deleted; a record the read finds is counted as present (and seen). A verification that
//! fails (an error, a timeout) marks nothing of that scan and is reported; the next due scan
//! tries again.
//!
//! For an entity read whole on every run (no last-modified field, `Subaccount`), the run's own
//! read is the listing: after it is written, the rows it did not return are the candidates.

use chrono::{DateTime, SecondsFormat, Utc};
use futures::{StreamExt, TryStreamExt};
use serde_json::json;

use super::{DeleteScan, Entry, FeedFlow};
use crate::error::{Error, Result};
use crate::runtime::LeaseKeeper;
use crate::store::{AuditStage, RunId};

/// Direct reads of candidates in flight at once (each is one small GET).
const VERIFY_CONCURRENCY: usize = 4;
/// Ids of rows marked deleted listed in one audit event (the count is always complete).
const AUDIT_IDS: usize = 1000;

/// What one entity's delete scan did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteScanSummary {
    /// Ids the listing returned (for a full refresh: records read).
    pub listed: u64,
    /// Warehouse rows the listing did not show: each was read directly.
    pub candidates: u64,
    /// Candidates the direct read found: the listing had missed them; nothing was marked.
    pub verified_present: u64,
    /// Candidates the direct read found gone, now marked deleted.
    pub deleted: u64,
    /// Rows marked deleted before that were seen again (the mark was cleared).
    pub undeleted: u64,
    /// Rows marked deleted long enough ago that they were removed
    /// ([`purge_deleted_after_days`](super::FeedOptions::purge_deleted_after_days)).
    pub purged: u64,
}

impl std::fmt::Display for DeleteScanSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "delete scan: {} listed, {} missing from the listing ({} gone and marked deleted, {} still present), {} seen again, {} purged",
            self.listed,
            self.candidates,
            self.deleted,
            self.verified_present,
            self.undeleted,
            self.purged
        )
    }
}

/// The partition of the flow's marks in the state store that remembers when `entity`'s last
/// delete scan started (an RFC 3339 time), beside the entity's own high-water mark.
///
/// ```
/// assert_eq!(sync_core::feed::delete_scan_partition("Bill"), "Bill#delete_scan");
/// ```
pub fn delete_scan_partition(entity: &str) -> String {
    format!("{entity}#delete_scan")
}

impl FeedFlow {
    /// The entity's delete scan cadence.
    pub(super) fn cadence(&self, entry: &Entry) -> DeleteScan {
        entry.delete_scan.unwrap_or(self.options.delete_scan)
    }

    /// Runs the delete scan of an incremental entity if its cadence says it is due; `None`
    /// when it was not.
    pub(super) async fn scan_if_due(
        &self,
        keeper: &mut LeaseKeeper,
        run_id: &RunId,
        entry: &Entry,
    ) -> Result<Option<DeleteScanSummary>> {
        let entity = &entry.spec.entity;
        let partition = delete_scan_partition(entity);
        let last = self.store.watermark(&self.name, &partition).await?;
        let last_at = match &last {
            None => None,
            Some(m) => Some(
                DateTime::parse_from_rfc3339(&m.value)
                    .map_err(|e| {
                        Error::data(
                            format!("last delete scan of `{entity}` ({partition})"),
                            format!(
                                "{:?} is not an RFC 3339 time ({e}); reset the mark",
                                m.value
                            ),
                        )
                    })?
                    .with_timezone(&Utc),
            ),
        };
        let started = Utc::now();
        if !self.cadence(entry).is_due(last_at, started) {
            return Ok(None);
        }
        tracing::info!(entity = %entity, last = ?last_at, "delete scan");
        let mut summary = DeleteScanSummary::default();
        let mut ids = entry.source.ids().await?;
        while let Some(page) = ids.try_next().await? {
            summary.listed += page.len() as u64;
            keeper.check().await?;
            let seen = self
                .warehouse
                .mark_seen(&entry.spec, &page, Utc::now())
                .await?;
            summary.undeleted += seen.undeleted;
        }
        self.verify_and_mark(keeper, run_id, entry, started, &mut summary)
            .await?;
        self.record_scan(keeper, entity, started).await?;
        Ok(Some(summary))
    }

    /// Remembers in the state store that `entity`'s delete scan started at `started` and
    /// completed.
    pub(super) async fn record_scan(
        &self,
        keeper: &mut LeaseKeeper,
        entity: &str,
        started: DateTime<Utc>,
    ) -> Result<()> {
        let partition = delete_scan_partition(entity);
        let last = self.store.watermark(&self.name, &partition).await?;
        let lease = keeper.fresh().await?;
        self.store
            .set_watermark(
                &lease,
                &partition,
                last.as_ref().map(|m| m.value.as_str()),
                &started.to_rfc3339_opts(SecondsFormat::Micros, true),
            )
            .await?;
        Ok(())
    }

    /// Candidates: rows not seen since `since`. Each is read directly; those certainly gone
    /// are marked deleted, then old marks are purged if configured; one audit event.
    pub(super) async fn verify_and_mark(
        &self,
        keeper: &mut LeaseKeeper,
        run_id: &RunId,
        entry: &Entry,
        since: DateTime<Utc>,
        summary: &mut DeleteScanSummary,
    ) -> Result<()> {
        let spec = &entry.spec;
        let candidates = self.warehouse.unseen_since(spec, since).await?;
        summary.candidates = candidates.len() as u64;
        let source = entry.source.clone();
        let verdicts: Vec<(String, bool)> = futures::stream::iter(candidates)
            .map(|id| {
                let source = source.clone();
                async move { source.is_gone(&id).await.map(|gone| (id, gone)) }
            })
            .buffer_unordered(VERIFY_CONCURRENCY)
            .try_collect()
            .await?;
        let (gone, present): (Vec<_>, Vec<_>) = verdicts.into_iter().partition(|(_, g)| *g);
        let gone: Vec<String> = gone.into_iter().map(|(id, _)| id).collect();
        let present: Vec<String> = present.into_iter().map(|(id, _)| id).collect();
        summary.verified_present = present.len() as u64;
        let now = Utc::now();
        keeper.check().await?;
        if !present.is_empty() {
            tracing::info!(entity = %spec.entity, missed = present.len(), "the id listing missed records a direct read found; none marked");
            self.warehouse.mark_seen(spec, &present, now).await?;
        }
        summary.deleted = self.warehouse.mark_deleted(spec, &gone, now).await?;
        if let Some(days) = self.options.purge_deleted_after_days {
            let before = now - chrono::Duration::days(i64::from(days));
            // Marked at `now` with 0 days: purge those too.
            let before = if days == 0 {
                before + chrono::Duration::microseconds(1)
            } else {
                before
            };
            summary.purged = self.warehouse.purge_deleted(spec, before).await?;
        }
        let listed_ids: Vec<&String> = gone.iter().take(AUDIT_IDS).collect();
        self.audit(
            keeper,
            run_id,
            AuditStage::Written,
            format!(
                "{}: {} marked deleted, {} purged",
                spec.entity, summary.deleted, summary.purged
            ),
            json!({
                "entity": spec.entity,
                "table": spec.table,
                "delete_scan": {
                    "since": since.to_rfc3339_opts(SecondsFormat::Micros, true),
                    "listed": summary.listed,
                    "candidates": summary.candidates,
                    "verified_present": summary.verified_present,
                    "verified_gone": gone.len(),
                    "deleted": summary.deleted,
                    "undeleted": summary.undeleted,
                    "purged": summary.purged,
                },
                "deleted_ids": listed_ids,
                "deleted_ids_truncated": gone.len() > AUDIT_IDS,
            }),
        )
        .await?;
        Ok(())
    }
}
