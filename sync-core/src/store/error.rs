//! [`StoreError`]: what went wrong in a state store, and what to do about it.

use chrono::{DateTime, Utc};

/// An error from a [`StateStore`](super::StateStore) backend.
///
/// Predicates tell a caller what to do: [`StoreError::is_fenced`] means this replica lost its
/// lease and must stop writing; [`StoreError::is_retryable`] means the database was busy or
/// unreachable and the same call may succeed later.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened, connected to or prepared.
    #[error(
        "could not open the {backend} state store ({target}): {source}; check the path or URL, that the database is running and that this user may create tables"
    )]
    Connect {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// The path or the host/database (never a password).
        target: String,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// Applying the schema migrations failed.
    #[error(
        "could not migrate the {backend} state store schema: {source}; if the database was migrated by a newer ml-connector, upgrade this one"
    )]
    Migrate {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// The migrator's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A statement failed.
    #[error("state store operation `{operation}` failed: {source}{hint}", hint = if *retryable { "; the database was busy or unreachable: retry later" } else { "" })]
    Database {
        /// The store operation, e.g. `record_intent`.
        operation: &'static str,
        /// Whether repeating the call may succeed (busy, locked, connection lost, serialization failure).
        retryable: bool,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A PostgreSQL `lock_timeout` or `statement_timeout` fired: the operation gave up instead
    /// of blocking (typically another session, a stalled replica, holds a row lock it needs).
    #[error("{}", timeout_message(operation, flow, *lock))]
    Timeout {
        /// The store operation, e.g. `acquire_lease`.
        operation: &'static str,
        /// The flow ("" when not known at that point).
        flow: String,
        /// `true`: the lock timeout; `false`: the statement timeout.
        lock: bool,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A newer lease (higher fence) was granted for the flow: this replica's lease is stale.
    #[error(
        "lease for flow `{flow}` was lost: this replica holds fence {fence} but fence {current_fence} was granted to `{current_owner}`; stop this run and do not write any more state"
    )]
    LeaseSuperseded {
        /// The flow.
        flow: String,
        /// The stale fence presented.
        fence: i64,
        /// The fence now current.
        current_fence: i64,
        /// Who holds it now (empty when it has since been released).
        current_owner: String,
    },

    /// The lease presented has expired (and was not renewed in time).
    #[error(
        "lease for flow `{flow}` (fence {fence}) expired at {expired_at}; renew it well before its TTL ends, or acquire a new lease before writing"
    )]
    LeaseExpired {
        /// The flow.
        flow: String,
        /// The fence presented.
        fence: i64,
        /// When it expired.
        expired_at: DateTime<Utc>,
    },

    /// The lease presented was released (or never granted by this store).
    #[error(
        "lease for flow `{flow}` (fence {fence}) is not held: it was released or never granted by this store; acquire a lease before writing"
    )]
    LeaseNotHeld {
        /// The flow.
        flow: String,
        /// The fence presented.
        fence: i64,
    },

    /// Compare-and-set of a high-water mark failed: someone else moved it.
    #[error(
        "high-water mark of flow `{flow}` partition `{partition}` is {actual:?}, not the expected {expected:?}; another run moved it: reread the mark and restart the window"
    )]
    WatermarkConflict {
        /// The flow.
        flow: String,
        /// The partition.
        partition: String,
        /// What the caller expected.
        expected: Option<String>,
        /// What the store holds.
        actual: Option<String>,
    },

    /// A ledger entry, run or dead letter cannot move to the requested state.
    #[error("{what} `{key}` of flow `{flow}` is {from} and cannot become {to}; {hint}")]
    InvalidTransition {
        /// `ledger entry`, `run` or `dead letter`.
        what: &'static str,
        /// The flow.
        flow: String,
        /// The natural key, run id or dead-letter id.
        key: String,
        /// The current state.
        from: &'static str,
        /// The requested state.
        to: &'static str,
        /// What to do instead.
        hint: &'static str,
    },

    /// A record the call refers to does not exist.
    #[error("{what} `{key}` not found{scope}; check the id, and that it belongs to this flow", scope = if flow.is_empty() { String::new() } else { format!(" in flow `{flow}`") })]
    NotFound {
        /// `ledger entry`, `run` or `dead letter`.
        what: &'static str,
        /// The flow ("" when not scoped).
        flow: String,
        /// The key or id.
        key: String,
    },

    /// An argument was invalid.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// Which argument.
        what: &'static str,
        /// Why, and what is accepted.
        reason: String,
    },

    /// A stored value could not be understood (edited by hand, or written by another version).
    #[error(
        "state store holds an unreadable {what}: {detail}; the database may have been edited by hand or by an incompatible version"
    )]
    Corrupt {
        /// What was read.
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },
}

impl StoreError {
    /// True when this replica's lease was lost (superseded, expired or released): stop the run,
    /// write nothing more, and acquire a new lease before trying again.
    pub fn is_fenced(&self) -> bool {
        matches!(
            self,
            Self::LeaseSuperseded { .. } | Self::LeaseExpired { .. } | Self::LeaseNotHeld { .. }
        )
    }

    /// True when the same call may succeed if repeated later (busy, locked, lost connection,
    /// a lock or statement timeout).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Database {
                retryable: true,
                ..
            } | Self::Timeout { .. }
        )
    }

    /// True when a PostgreSQL lock or statement timeout fired.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }

    /// Names the flow in a timeout error that did not know it.
    pub(crate) fn in_flow(mut self, name: &str) -> Self {
        if let Self::Timeout { flow, .. } = &mut self
            && flow.is_empty()
        {
            name.clone_into(flow);
        }
        self
    }

    /// True for a compare-and-set conflict on a high-water mark.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::WatermarkConflict { .. })
    }

    pub(crate) fn db(operation: &'static str, err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(d) = &err {
            let lock = match d.code().as_deref() {
                Some("55P03") => Some(true),
                Some("57014") => Some(false),
                _ => None,
            };
            if let Some(lock) = lock {
                return Self::Timeout {
                    operation,
                    flow: String::new(),
                    lock,
                    source: Box::new(err),
                };
            }
        }
        let retryable = is_transient(&err);
        Self::Database {
            operation,
            retryable,
            source: Box::new(err),
        }
    }

    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            what,
            reason: reason.into(),
        }
    }

    pub(crate) fn corrupt(what: &'static str, detail: impl Into<String>) -> Self {
        Self::Corrupt {
            what,
            detail: detail.into(),
        }
    }
}

fn timeout_message(operation: &str, flow: &str, lock: bool) -> String {
    let scope = if flow.is_empty() {
        String::new()
    } else {
        format!(" for flow `{flow}`")
    };
    if lock {
        format!(
            "state store operation `{operation}`{scope} gave up waiting for a row lock after the lock timeout: \
             another database session holds it (a stalled or paused replica, or a transaction left open by hand), \
             and this operation wrote nothing; find that session in pg_stat_activity (state `idle in transaction`, \
             or wait_event_type `Lock`), end it with pg_terminate_backend(pid) if it is stuck, then run again \
             (raise the store's lock_timeout only if the other session is merely slow)"
        )
    } else {
        format!(
            "state store operation `{operation}`{scope} ran longer than the statement timeout and was cancelled, \
             writing nothing; the database may be overloaded or waiting on another session (see pg_stat_activity); \
             run again, or raise the store's statement_timeout"
        )
    }
}

/// Busy/locked (SQLite 5, 6), serialization failure and deadlock (PostgreSQL 40001, 40P01),
/// and connection-level failures are worth a retry; constraint and syntax errors are not.
fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or_default();
            // SQLite extended codes keep the primary code in the low byte.
            let sqlite_busy = code
                .parse::<i32>()
                .map(|c| matches!(c & 0xff, 5 | 6))
                .unwrap_or(false);
            sqlite_busy || matches!(code, "40001" | "40P01" | "57P01" | "08006" | "08003")
        }
        _ => false,
    }
}
