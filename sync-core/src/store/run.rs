//! Run history: one row per flow run, with counts and a final status.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::StoreError;

/// Identifies a run (a UUID v4 in its hyphenated text form).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(String);

impl RunId {
    /// A fresh random id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// Wraps an id read back from a store or a log.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a run ended (or that it has not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// Started, not finished (or its process died).
    Running,
    /// Everything done.
    Succeeded,
    /// Finished, but some documents failed (see dead letters).
    CompletedWithErrors,
    /// Stopped by an error.
    Failed,
    /// Stopped before finishing because it was asked to (a signal such as Ctrl-C or SIGTERM,
    /// or the daemon shutting down): the documents in flight were finished or recorded, its
    /// counts are what it had done, and the next run continues where it stopped. Stored as
    /// `interrupted` (runs recorded by earlier versions as `cancelled` read back as this).
    Interrupted,
    /// Never finished: its process stopped (killed, crashed, paused past its lease) and its
    /// lease passed to another holder, who closed it. Its counts are what its audit trail
    /// shows it had done.
    Abandoned,
}

impl RunStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::CompletedWithErrors => "completed_with_errors",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
            Self::Abandoned => "abandoned",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "completed_with_errors" => Self::CompletedWithErrors,
            "failed" => Self::Failed,
            "interrupted" | "cancelled" => Self::Interrupted,
            "abandoned" => Self::Abandoned,
            other => {
                return Err(StoreError::corrupt(
                    "run status",
                    format!("`{other}` is not a known run status"),
                ));
            }
        })
    }
}

/// What a run did, in numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Records read from the source.
    pub read: u64,
    /// Documents produced by mapping.
    pub mapped: u64,
    /// Documents or rows written to the sink.
    pub written: u64,
    /// Documents skipped (already posted, or by policy).
    pub skipped: u64,
    /// Documents that failed.
    pub failed: u64,
    /// Requests retried.
    pub retries: u64,
}

/// One row of run history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// The run.
    pub id: RunId,
    /// The flow.
    pub flow: String,
    /// The lease owner that ran it.
    pub owner: String,
    /// The fence it ran under.
    pub fence: i64,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// How it ended.
    pub status: RunStatus,
    /// Its counts (zero until finished).
    pub counts: RunCounts,
    /// A summary or the error that stopped it.
    pub message: Option<String>,
}
