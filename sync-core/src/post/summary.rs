//! What a post run did: counts, and the fate of each document.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::store::{RunCounts, RunId, RunStatus};
use crate::validate::ValidationReport;

/// Counters of one post run (also written to the run history and logged with the run span).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PostCounts {
    /// Rows read from the source.
    pub rows_read: u64,
    /// Documents the mapping produced.
    pub documents_mapped: u64,
    /// Documents created in the target in this run (reversals included).
    pub documents_posted: u64,
    /// Documents found already posted (by the ledger or by lookup) and not posted again.
    pub duplicates_skipped: u64,
    /// Documents whose partition was posted with other content and that the `skip` policy
    /// left alone.
    pub changed_skipped: u64,
    /// Earlier versions reversed under the `reverse_and_repost` policy.
    pub reversed: u64,
    /// Documents not posted because they had validation problems.
    pub invalid: u64,
    /// Documents the target rejected, or whose post failed for sure.
    pub failed: u64,
    /// Documents whose create may or may not have happened and that a lookup did not find:
    /// left intended, reconciled at the start of the next run.
    pub pending: u64,
    /// Valid documents held back (all-or-nothing validation, or a `fail` on changed content).
    pub withheld: u64,
    /// Batches released.
    pub released: u64,
    /// Releases that failed (the batch stays posted, unreleased).
    pub release_failures: u64,
    /// Intents of earlier runs settled at the start of this run by lookup: found.
    pub reconciled_found: u64,
    /// Intents of earlier runs settled at the start of this run by lookup: never created.
    pub reconciled_absent: u64,
    /// Documents attempted again after an earlier failure (re-armed intents, replays).
    pub retries: u64,
    /// Of the `pending` documents: those whose create was sent recently enough that Acumatica
    /// may still apply it (within the settle horizon), and journals held back because an
    /// earlier version of their partition is in that state. Nothing is created for their
    /// partitions until [`settles_after`](Self::settles_after).
    pub in_flight: u64,
    /// The latest end of a settle horizon among the `in_flight` documents: a run after this
    /// time settles them (found: posted; not found: never created, and posted then).
    pub settles_after: Option<DateTime<Utc>>,
}

impl PostCounts {
    /// Whether anything went wrong that a person should look at.
    pub fn has_errors(&self) -> bool {
        self.invalid + self.failed + self.pending + self.release_failures + self.withheld > 0
    }

    /// The counts in the state store's shape.
    pub fn to_run_counts(&self) -> RunCounts {
        RunCounts {
            read: self.rows_read,
            mapped: self.documents_mapped,
            written: self.documents_posted,
            skipped: self.duplicates_skipped + self.changed_skipped,
            failed: self.invalid + self.failed + self.pending + self.release_failures,
            retries: self.retries,
        }
    }
}

impl fmt::Display for PostCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} row(s) read, {} document(s) mapped, {} posted, {} duplicate(s) skipped, {} failure(s), {} retried",
            self.rows_read,
            self.documents_mapped,
            self.documents_posted,
            self.duplicates_skipped,
            self.invalid + self.failed + self.pending + self.release_failures,
            self.retries
        )?;
        for (n, what) in [
            (self.changed_skipped, "changed and skipped"),
            (self.reversed, "reversed"),
            (self.invalid, "invalid"),
            (self.pending, "pending reconciliation"),
            (self.withheld, "withheld"),
            (self.released, "released"),
            (self.release_failures, "release failure(s)"),
            (self.reconciled_found, "reconciled as posted"),
            (self.reconciled_absent, "reconciled as never created"),
        ] {
            if n > 0 {
                write!(f, ", {n} {what}")?;
            }
        }
        if self.in_flight > 0 {
            write!(f, ", {} possibly still queued in Acumatica", self.in_flight)?;
            if let Some(t) = self.settles_after {
                write!(
                    f,
                    " (run again after {} to settle)",
                    t.format("%Y-%m-%d %H:%M:%S UTC")
                )?;
            }
        }
        Ok(())
    }
}

/// What happened to one document in a run.
///
/// Serialized (the CLI's `--json`) as a snake_case `state` tag with the variant's fields beside
/// it, the vocabulary [`PlannedState`](super::PlannedState) shares:
///
/// ```
/// use sync_core::post::DocumentState;
/// let v = serde_json::to_value(DocumentState::Posted { batch: "000061".into() }).unwrap();
/// assert_eq!(v, serde_json::json!({"state": "posted", "batch": "000061"}));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DocumentState {
    /// Created in this run.
    Posted {
        /// The batch number.
        batch: String,
    },
    /// Already posted before (found in the ledger or by lookup); not posted again.
    AlreadyPosted {
        /// The batch number, when known.
        batch: Option<String>,
    },
    /// Not posted on purpose (e.g. changed content under the `skip` policy).
    Skipped {
        /// Why.
        reason: String,
    },
    /// Not posted: it has validation problems (see the run's report).
    Invalid {
        /// How many problems.
        issues: usize,
    },
    /// Not posted: held back because of other documents.
    Withheld {
        /// Why.
        reason: String,
    },
    /// The target rejected it, or the post failed for sure; dead-lettered for replay.
    Failed {
        /// The error.
        error: String,
    },
    /// The create may have happened; a lookup did not find it. Reconciled at the next run.
    Pending {
        /// The error that left it uncertain.
        error: String,
    },
}

/// One document of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentReport {
    /// The natural key.
    pub natural_key: String,
    /// The partition, readable (`period=102026 branch=HQ`).
    pub partition: String,
    /// What happened.
    pub state: DocumentState,
}

/// The result of a post (or replay) run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The flow.
    pub flow: String,
    /// The run (its audit trail: [`StateStore::audit_for_run`](crate::store::StateStore::audit_for_run)).
    pub run_id: RunId,
    /// How the run ended.
    pub status: RunStatus,
    /// The counters.
    pub counts: PostCounts,
    /// Every document the run handled, in order.
    pub documents: Vec<DocumentReport>,
    /// The validation report, when validation found problems.
    pub validation: Option<ValidationReport>,
    /// What a person should know although nothing failed (e.g. the query returned no rows).
    pub warnings: Vec<String>,
}

impl RunSummary {
    /// When a rerun settles the documents whose create may still be queued in Acumatica
    /// ([`PostCounts::settles_after`]); `None` when there are none.
    pub fn settles_after(&self) -> Option<DateTime<Utc>> {
        (self.counts.in_flight > 0)
            .then_some(self.counts.settles_after)
            .flatten()
    }

    /// The documents in a given state.
    pub fn posted_batches(&self) -> Vec<&str> {
        self.documents
            .iter()
            .filter_map(|d| match &d.state {
                DocumentState::Posted { batch } => Some(batch.as_str()),
                _ => None,
            })
            .collect()
    }
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "flow `{}` run {} {}: {}",
            self.flow, self.run_id, self.status, self.counts
        )
    }
}
