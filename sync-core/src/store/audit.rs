//! The audit trail: every record read, mapped, written, skipped or failed, with a summary of
//! the request and response. Summaries pass through [`redact`] before they are stored.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{RunId, StoreError};

/// The stage of a record's way through a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditStage {
    /// Read from the source.
    Read,
    /// Mapped into a document.
    Mapped,
    /// Written to the sink (posted, upserted).
    Written,
    /// Not written, on purpose (duplicate, policy).
    Skipped,
    /// Failed.
    Failed,
}

impl AuditStage {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Mapped => "mapped",
            Self::Written => "written",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for AuditStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuditStage {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "read" => Self::Read,
            "mapped" => Self::Mapped,
            "written" => Self::Written,
            "skipped" => Self::Skipped,
            "failed" => Self::Failed,
            other => {
                return Err(StoreError::corrupt(
                    "audit stage",
                    format!("`{other}` is not one of read, mapped, written, skipped, failed"),
                ));
            }
        })
    }
}

/// An event to append to the audit trail (the flow comes from the lease it is written under).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// The run.
    pub run_id: RunId,
    /// The document's natural key, when the event concerns one document.
    pub natural_key: Option<String>,
    /// The stage.
    pub stage: AuditStage,
    /// A short outcome, e.g. `created`, `already posted`, `422 invalid account`.
    pub outcome: String,
    /// A summary of the request and response, e.g.
    /// `{"request": "PUT JournalTransaction", "status": 200, "batch": "GL00042"}`.
    /// Never put credentials here; values under secret-looking keys are redacted anyway.
    pub summary: Value,
}

/// One stored audit event.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Order of appending (strictly increasing).
    pub seq: i64,
    /// The flow.
    pub flow: String,
    /// The run.
    pub run_id: RunId,
    /// The natural key.
    pub natural_key: Option<String>,
    /// The stage.
    pub stage: AuditStage,
    /// The outcome.
    pub outcome: String,
    /// The redacted summary.
    pub summary: Value,
    /// When it was appended.
    pub at: DateTime<Utc>,
}

/// Object keys whose values are replaced by `"[redacted]"` (compared case-insensitively,
/// ignoring `-` and `_`).
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "clientsecret",
    "token",
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "authorization",
    "cookie",
    "setcookie",
    "apikey",
    "privatekey",
];

/// Replaces, recursively, the values of object keys that name credentials (`password`,
/// `client_secret`, `access_token`, `Authorization`, `Cookie`, ...) with `"[redacted]"`.
///
/// Both store backends apply it to audit summaries and dead-letter payloads; flows may call it
/// on anything else they log.
///
/// # Example
///
/// ```
/// use serde_json::json;
/// use sync_core::store::redact;
///
/// let clean = redact(json!({"request": {"url": "/entity/auth/login", "password": "hunter2"}}));
/// assert_eq!(clean, json!({"request": {"url": "/entity/auth/login", "password": "[redacted]"}}));
/// ```
pub fn redact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    if is_secret_key(&k) {
                        (k, Value::String("[redacted]".to_owned()))
                    } else {
                        (k, redact(v))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        other => other,
    }
}

/// `summary` with who acted (`by`, e.g. `jane@ops-1`, see [`operator`](super::operator))
/// added, when it is an object that does not name one already. Every flow signs its audit
/// events this way.
///
/// ```
/// use serde_json::json;
/// let signed = sync_core::store::signed(json!({"rows": 3}), "jane@ops-1");
/// assert_eq!(signed, json!({"rows": 3, "by": "jane@ops-1"}));
/// assert_eq!(sync_core::store::signed(json!({"by": "x@y"}), "jane@ops-1")["by"], "x@y");
/// ```
pub fn signed(summary: Value, by: &str) -> Value {
    match summary {
        Value::Object(mut fields) => {
            fields
                .entry("by")
                .or_insert_with(|| Value::String(by.to_owned()));
            Value::Object(fields)
        }
        other => other,
    }
}

fn is_secret_key(key: &str) -> bool {
    let norm: String = key
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_KEYS.iter().any(|s| norm == *s) || norm.ends_with("password") || norm.ends_with("secret")
}
