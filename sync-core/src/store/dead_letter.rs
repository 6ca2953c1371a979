//! Dead letters: documents that failed, kept with their error for replay.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::RunId;

/// A failed document to park (the flow comes from the lease it is written under).
///
/// Adding a dead letter for a natural key that already has an unresolved one updates it (new
/// error and payload, attempts + 1) rather than adding a second.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDeadLetter {
    /// The run that failed it.
    pub run_id: Option<RunId>,
    /// The document's natural key.
    pub natural_key: String,
    /// What is needed to replay it (the mapped document or the source rows); redacted before
    /// storing.
    pub payload: Value,
    /// The error, naming what was wrong.
    pub error: String,
}

/// A stored dead letter.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// Its id.
    pub id: i64,
    /// The flow.
    pub flow: String,
    /// The natural key.
    pub natural_key: String,
    /// The latest run that failed it.
    pub run_id: Option<RunId>,
    /// The payload to replay.
    pub payload: Value,
    /// The latest error.
    pub error: String,
    /// How many times it failed while unresolved.
    pub attempts: u32,
    /// First failure.
    pub created_at: DateTime<Utc>,
    /// Latest failure.
    pub updated_at: DateTime<Utc>,
    /// When it was resolved (replayed successfully, or dismissed).
    pub resolved_at: Option<DateTime<Utc>>,
    /// How it was resolved.
    pub resolution: Option<String>,
}
