//! What a reference run did, per record and in total.

use std::fmt;

use crate::store::{RunCounts, RunId, RunStatus};

/// What happened to one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    /// It was absent and was created with these fields.
    Created {
        /// The fields sent (besides the key).
        fields: Vec<String>,
    },
    /// It existed; only these fields differed and were sent.
    Updated {
        /// The fields sent (besides the key).
        fields: Vec<String>,
    },
    /// Every field already matched: nothing was sent.
    Unchanged,
    /// Acumatica refused it (422/400 naming fields); dead-lettered, other records went on.
    Rejected {
        /// Acumatica's message, with the field errors.
        error: String,
        /// The dead letter's id.
        dead_letter: i64,
    },
    /// The write's outcome is unknown, its precondition failed, or it succeeded with an
    /// answer that could not be read; the next run compares the record again (an upsert by
    /// key is safe to repeat).
    Failed {
        /// What went wrong.
        error: String,
    },
}

impl RecordOutcome {
    /// The audit outcome word: `created`, `updated`, `unchanged`, `rejected` or `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Created { .. } => "created",
            Self::Updated { .. } => "updated",
            Self::Unchanged => "unchanged",
            Self::Rejected { .. } => "rejected",
            Self::Failed { .. } => "failed",
        }
    }
}

/// One record's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordReport {
    /// The key value, e.g. `V000001`.
    pub key: String,
    /// The 1-based source row.
    pub row: usize,
    /// What happened.
    pub outcome: RecordOutcome,
    /// The key Acumatica keeps the record under when it differs from `key`: a key the site
    /// assigned itself (a numbering sequence), from this insert's answer or the flow's key map.
    pub saved_key: Option<String>,
}

/// Counts of a reference run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReferenceCounts {
    /// Rows read from the source.
    pub rows_read: u64,
    /// Records mapped (one per key).
    pub records: u64,
    /// Records created.
    pub created: u64,
    /// Records updated.
    pub updated: u64,
    /// Records already in step.
    pub unchanged: u64,
    /// Records Acumatica refused (dead-lettered).
    pub rejected: u64,
    /// Records whose write failed otherwise.
    pub failed: u64,
    /// List requests made to read the current records.
    pub lookup_requests: u64,
}

impl ReferenceCounts {
    /// True when some record was not brought in step.
    pub fn has_errors(&self) -> bool {
        self.rejected + self.failed > 0
    }

    /// The counts as the run history stores them.
    pub fn to_run_counts(&self) -> RunCounts {
        RunCounts {
            read: self.rows_read,
            mapped: self.records,
            written: self.created + self.updated,
            skipped: self.unchanged,
            failed: self.rejected + self.failed,
            retries: 0,
        }
    }
}

impl fmt::Display for ReferenceCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} row(s) read, {} record(s): {} created, {} updated, {} unchanged, {} rejected, {} failed",
            self.rows_read,
            self.records,
            self.created,
            self.updated,
            self.unchanged,
            self.rejected,
            self.failed
        )
    }
}

/// The result of [`ReferenceFlow::run`](super::ReferenceFlow::run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceSummary {
    /// The flow.
    pub flow: String,
    /// The run in the history.
    pub run_id: RunId,
    /// How it ended.
    pub status: RunStatus,
    /// The counts.
    pub counts: ReferenceCounts,
    /// One report per record, in source order.
    pub records: Vec<RecordReport>,
}

impl ReferenceSummary {
    /// The report of the record with this key.
    pub fn record(&self, key: &str) -> Option<&RecordReport> {
        self.records.iter().find(|r| r.key == key)
    }

    /// Keys of the records with this outcome word (see [`RecordOutcome::as_str`]).
    pub fn keys_with(&self, outcome: &str) -> Vec<&str> {
        self.records
            .iter()
            .filter(|r| r.outcome.as_str() == outcome)
            .map(|r| r.key.as_str())
            .collect()
    }
}

impl fmt::Display for ReferenceSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "flow `{}` run {} {}: {}",
            self.flow, self.run_id, self.status, self.counts
        )
    }
}
