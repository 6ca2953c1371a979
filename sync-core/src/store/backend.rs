//! The one implementation of [`StateStore`](super::StateStore) shared by both sqlx backends.
//!
//! The SQL is written once with `$n` placeholders (which SQLite accepts too) and expanded by
//! [`impl_state_store!`] for each concrete database type, so both backends run literally the
//! same statements and logic. What differs is passed in: how a writer transaction begins
//! (`BEGIN IMMEDIATE` on SQLite), the row-lock suffixes (`FOR SHARE` / `FOR UPDATE` on
//! PostgreSQL, nothing on SQLite where the writer lock covers the database) and how a timestamp
//! is bound.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use sqlx::types::Json;

use super::{
    AuditRecord, DeadLetter, Lease, LeaseHolder, LedgerEntry, ProcessIdentity, RunCounts, RunId,
    RunRecord, StoreError, Watermark,
};

/// The longest lease accepted: beyond this a crashed replica would block its flow for too long.
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

pub(super) fn truncate(now: DateTime<Utc>) -> DateTime<Utc> {
    // PostgreSQL keeps microseconds; truncate everywhere so values read back compare equal.
    now.trunc_subsecs(6)
}

pub(super) fn ttl(ttl: Duration) -> Result<chrono::Duration, StoreError> {
    if ttl.is_zero() || ttl > MAX_TTL {
        return Err(StoreError::invalid(
            "lease TTL",
            format!("{ttl:?} is out of range; use more than zero and at most 24 hours"),
        ));
    }
    chrono::Duration::from_std(ttl).map_err(|e| StoreError::invalid("lease TTL", e.to_string()))
}

pub(super) fn name(what: &'static str, value: &str, max: usize) -> Result<(), StoreError> {
    if value.trim().is_empty() {
        return Err(StoreError::invalid(
            what,
            "it is empty; give a non-empty name",
        ));
    }
    if value.chars().count() > max {
        return Err(StoreError::invalid(
            what,
            format!("it is longer than {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(StoreError::invalid(
            what,
            format!("{value:?} contains control characters"),
        ));
    }
    Ok(())
}

pub(super) fn count(what: &'static str, n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| {
        StoreError::invalid(what, format!("{n} does not fit in a signed 64-bit column"))
    })
}

fn unsigned(what: &'static str, n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::corrupt(what, format!("negative count {n}")))
}

/// The lease columns every lease query reads (see [`LeaseRow`]).
pub(super) const LEASE_COLUMNS: &str = "owner, fence, expires_at, instance, holder_host, holder_pid, holder_boot_id, holder_start_ticks, granted_to";

#[derive(sqlx::FromRow)]
pub(super) struct LeaseRow {
    pub owner: Option<String>,
    pub fence: i64,
    pub expires_at: DateTime<Utc>,
    pub instance: Option<String>,
    pub holder_host: Option<String>,
    pub holder_pid: Option<i64>,
    pub holder_boot_id: Option<String>,
    pub holder_start_ticks: Option<i64>,
    pub granted_to: Option<String>,
    /// The database's clock when the row was read (PostgreSQL; `NULL` on SQLite, whose
    /// store judges by the process clock).
    #[sqlx(default)]
    pub db_now: Option<DateTime<Utc>>,
}

impl LeaseRow {
    pub(super) fn process(&self) -> Option<ProcessIdentity> {
        Some(ProcessIdentity {
            host: self.holder_host.clone()?,
            pid: u32::try_from(self.holder_pid?).ok()?,
            boot_id: self.holder_boot_id.clone(),
            start_ticks: self.holder_start_ticks.and_then(|t| u64::try_from(t).ok()),
        })
    }

    /// The lease this row grants, while someone holds it.
    pub(super) fn lease(&self, flow: &str) -> Option<Lease> {
        Some(Lease {
            flow: flow.to_owned(),
            owner: self.owner.clone()?,
            instance: self.instance.clone().unwrap_or_default(),
            process: self.process(),
            fence: self.fence,
            expires_at: self.expires_at,
        })
    }

    /// Whether `holder` is the one holding this row.
    pub(super) fn held_by(&self, holder: &LeaseHolder) -> bool {
        self.owner.as_deref() == Some(holder.owner.as_str())
            && self.instance.as_deref() == Some(holder.instance.as_str())
    }
}

/// The message of runs closed as abandoned when `new_owner` got `fence`.
pub(super) fn abandoned_message(new_owner: &str, fence: i64, why: Option<&str>) -> String {
    format!(
        "abandoned: it never finished, and its lease passed to `{new_owner}` (fence {fence}){}; its counts are what its audit trail shows it had done",
        why.map(|w| format!(" because {w}")).unwrap_or_default()
    )
}

/// Closes the runs of `flow` left running under a fence below `fence`: their holder can never
/// finish them (every write of theirs is refused), so they are abandoned, with the counts
/// their audit trail shows.
pub(super) const ABANDON_RUNS_SQL: &str = "UPDATE runs SET status = 'abandoned', finished_at = $3, message = $4, \
     n_mapped = (SELECT COUNT(*) FROM audit_events a WHERE a.run_id = runs.id AND a.stage = 'mapped'), \
     n_written = (SELECT COUNT(*) FROM audit_events a WHERE a.run_id = runs.id AND a.stage = 'written'), \
     n_skipped = (SELECT COUNT(*) FROM audit_events a WHERE a.run_id = runs.id AND a.stage = 'skipped'), \
     n_failed = (SELECT COUNT(*) FROM audit_events a WHERE a.run_id = runs.id AND a.stage = 'failed') \
     WHERE flow = $1 AND status = 'running' AND fence < $2";

/// Decides whether `lease` is still the current, unexpired lease given the stored row.
pub(super) fn judge_lease(
    lease: &Lease,
    row: Option<LeaseRow>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let not_held = || StoreError::LeaseNotHeld {
        flow: lease.flow.clone(),
        fence: lease.fence,
    };
    let Some(row) = row else {
        return Err(not_held());
    };
    let now = row.db_now.map(truncate).unwrap_or(now);
    if row.fence > lease.fence {
        let current_owner = row
            .owner
            .clone()
            .or_else(|| row.granted_to.clone())
            .unwrap_or_else(|| "an owner that has released it since".to_owned());
        return Err(StoreError::LeaseSuperseded {
            flow: lease.flow.clone(),
            fence: lease.fence,
            current_fence: row.fence,
            current_owner,
        });
    }
    if row.fence != lease.fence
        || row.owner.as_deref() != Some(lease.owner.as_str())
        || row.instance.as_deref().unwrap_or_default() != lease.instance
    {
        return Err(not_held());
    }
    if row.expires_at <= now {
        return Err(StoreError::LeaseExpired {
            flow: lease.flow.clone(),
            fence: lease.fence,
            expired_at: row.expires_at,
        });
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
pub(super) struct WatermarkRow {
    flow: String,
    partition: String,
    value: String,
    fence: i64,
    updated_at: DateTime<Utc>,
}

impl From<WatermarkRow> for Watermark {
    fn from(r: WatermarkRow) -> Self {
        Self {
            flow: r.flow,
            partition: r.partition,
            value: r.value,
            fence: r.fence,
            updated_at: r.updated_at,
        }
    }
}

pub(super) const LEDGER_COLUMNS: &str = "flow, natural_key, partition, payload_hash, state, batch_number, entity_id, detail, attempts, run_id, intended_at, outcome_at, reopened, attempted_at";

#[derive(sqlx::FromRow)]
pub(super) struct LedgerRow {
    flow: String,
    natural_key: String,
    partition: String,
    payload_hash: String,
    state: String,
    batch_number: Option<String>,
    entity_id: Option<String>,
    detail: Option<String>,
    attempts: i64,
    run_id: Option<String>,
    intended_at: DateTime<Utc>,
    outcome_at: Option<DateTime<Utc>>,
    reopened: Option<String>,
    attempted_at: Option<DateTime<Utc>>,
}

impl TryFrom<LedgerRow> for LedgerEntry {
    type Error = StoreError;

    fn try_from(r: LedgerRow) -> Result<Self, StoreError> {
        Ok(Self {
            state: r.state.parse()?,
            attempts: u32::try_from(r.attempts)
                .map_err(|_| StoreError::corrupt("ledger attempts", r.attempts.to_string()))?,
            flow: r.flow,
            natural_key: r.natural_key,
            partition: r.partition,
            payload_hash: r.payload_hash,
            batch_number: r.batch_number,
            entity_id: r.entity_id,
            detail: r.detail,
            run_id: r.run_id.map(RunId::new),
            intended_at: r.intended_at,
            outcome_at: r.outcome_at,
            reopened: r.reopened,
            attempted_at: r.attempted_at,
        })
    }
}

pub(super) const RUN_COLUMNS: &str = "id, flow, owner, fence, started_at, finished_at, status, n_read, n_mapped, n_written, n_skipped, n_failed, n_retries, message";

#[derive(sqlx::FromRow)]
pub(super) struct RunRow {
    id: String,
    flow: String,
    owner: String,
    fence: i64,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    status: String,
    n_read: i64,
    n_mapped: i64,
    n_written: i64,
    n_skipped: i64,
    n_failed: i64,
    n_retries: i64,
    message: Option<String>,
}

impl TryFrom<RunRow> for RunRecord {
    type Error = StoreError;

    fn try_from(r: RunRow) -> Result<Self, StoreError> {
        Ok(Self {
            status: r.status.parse()?,
            counts: RunCounts {
                read: unsigned("run count", r.n_read)?,
                mapped: unsigned("run count", r.n_mapped)?,
                written: unsigned("run count", r.n_written)?,
                skipped: unsigned("run count", r.n_skipped)?,
                failed: unsigned("run count", r.n_failed)?,
                retries: unsigned("run count", r.n_retries)?,
            },
            id: RunId::new(r.id),
            flow: r.flow,
            owner: r.owner,
            fence: r.fence,
            started_at: r.started_at,
            finished_at: r.finished_at,
            message: r.message,
        })
    }
}

pub(super) const AUDIT_COLUMNS: &str =
    "seq, flow, run_id, natural_key, stage, outcome, summary, at";

#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    seq: i64,
    flow: String,
    run_id: String,
    natural_key: Option<String>,
    stage: String,
    outcome: String,
    summary: Json<Value>,
    at: DateTime<Utc>,
}

impl TryFrom<AuditRow> for AuditRecord {
    type Error = StoreError;

    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        Ok(Self {
            stage: r.stage.parse()?,
            seq: r.seq,
            flow: r.flow,
            run_id: RunId::new(r.run_id),
            natural_key: r.natural_key,
            outcome: r.outcome,
            summary: r.summary.0,
            at: r.at,
        })
    }
}

pub(super) const DEAD_LETTER_COLUMNS: &str = "id, flow, natural_key, run_id, payload, error, attempts, created_at, updated_at, resolved_at, resolution";

#[derive(sqlx::FromRow)]
pub(super) struct DeadLetterRow {
    id: i64,
    flow: String,
    natural_key: String,
    run_id: Option<String>,
    payload: Json<Value>,
    error: String,
    attempts: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    resolution: Option<String>,
}

impl TryFrom<DeadLetterRow> for DeadLetter {
    type Error = StoreError;

    fn try_from(r: DeadLetterRow) -> Result<Self, StoreError> {
        Ok(Self {
            attempts: u32::try_from(r.attempts)
                .map_err(|_| StoreError::corrupt("dead letter attempts", r.attempts.to_string()))?,
            id: r.id,
            flow: r.flow,
            natural_key: r.natural_key,
            run_id: r.run_id.map(RunId::new),
            payload: r.payload.0,
            error: r.error,
            created_at: r.created_at,
            updated_at: r.updated_at,
            resolved_at: r.resolved_at,
            resolution: r.resolution,
        })
    }
}

/// Expands the [`StateStore`](super::StateStore) implementation for one backend.
///
/// The store type must have a `pool` field and inherent methods
/// `fn now(&self) -> DateTime<Utc>` (the time records are stamped with),
/// `fn clock_offset(&self) -> Option<String>` (a test offset for the database clock),
/// `async fn begin_write(&self, operation) -> Result<Transaction<'static, DB>, StoreError>`.
/// `now_sql` is the SQL expression of the database's clock (PostgreSQL), or `NULL` when the
/// store judges leases by the process clock (SQLite).
macro_rules! impl_state_store {
    (
        store = $store:ty,
        db = $db:ty,
        for_share = $share:literal,
        for_update = $update:literal,
        now_sql = $now_sql:literal,
        ts = $ts:path $(,)?
    ) => {
        mod state_store_impl {
            use std::time::Duration;

            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::types::Json;
            use sqlx::Transaction;

            use super::super::backend::{
                self, ABANDON_RUNS_SQL, AUDIT_COLUMNS, AuditRow, DEAD_LETTER_COLUMNS, DeadLetterRow,
                LEASE_COLUMNS, LEDGER_COLUMNS, LeaseRow, LedgerRow, RUN_COLUMNS, RunRow, WatermarkRow,
            };
            use super::super::{
                AuditEvent, AuditRecord, DeadLetter, Intent, IntentStatus, LeaseHolder, LedgerEntry,
                LedgerFilter, LedgerState, Lease, Liveness, NewDeadLetter, Outcome, RunCounts, RunId,
                RunRecord, RunStatus, StateStore, StoreError, Watermark, redact,
            };
            use super::super::ledger::Standing;
            use super::*;

            type Tx = Transaction<'static, $db>;

            fn db(operation: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
                move |e| StoreError::db(operation, e)
            }

            /// As [`db`], naming the flow in a timeout error.
            fn db_in<'a>(operation: &'static str, flow: &'a str) -> impl Fn(sqlx::Error) -> StoreError + 'a {
                move |e| StoreError::db(operation, e).in_flow(flow)
            }

            /// The lease row of `flow`, locked with `lock` (a row-lock suffix) before the
            /// database's clock is read, so a lease judged after a lock wait is judged at the
            /// time the wait ended.
            fn lease_sql(lock: &str) -> String {
                format!(
                    "WITH l AS MATERIALIZED (SELECT {LEASE_COLUMNS} FROM leases WHERE flow = $1{lock}) \
                     SELECT l.*, {} AS db_now FROM l",
                    $now_sql
                )
            }

            impl $store {
                /// Checks the lease inside a writer transaction, locking its row against a
                /// concurrent grant until the transaction ends. On PostgreSQL the database's
                /// clock judges expiry; `now` is the process clock (SQLite).
                async fn fence(
                    tx: &mut Tx,
                    lease: &Lease,
                    now: DateTime<Utc>,
                    operation: &'static str,
                ) -> Result<(), StoreError> {
                    let row: Option<LeaseRow> = sqlx::query_as(sqlx::AssertSqlSafe(lease_sql($share)))
                        .bind(&lease.flow)
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(db_in(operation, &lease.flow))?;
                    let verdict = backend::judge_lease(lease, row, now);
                    if let Err(e) = &verdict {
                        tracing::warn!(flow = %lease.flow, fence = lease.fence, operation, error = %e, "state write refused");
                    }
                    verdict
                }

                /// The unlocked lease row of `flow` with the store's clock, in one round trip
                /// (two more when a test clock offsets the database's).
                async fn read_lease_row(
                    &self,
                    flow: &str,
                    operation: &'static str,
                ) -> Result<Option<LeaseRow>, StoreError> {
                    let sql = lease_sql("");
                    if self.clock_offset().is_none() {
                        return sqlx::query_as(sqlx::AssertSqlSafe(sql))
                            .bind(flow)
                            .fetch_optional(&self.pool)
                            .await
                            .map_err(db_in(operation, flow));
                    }
                    let mut tx = self.begin_write(operation).await?;
                    let row = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(flow)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_in(operation, flow))?;
                    tx.commit().await.map_err(db(operation))?;
                    Ok(row)
                }

                /// Closes the runs of the flow left running under a fence below `fence`.
                async fn abandon_runs(
                    tx: &mut Tx,
                    flow: &str,
                    fence: i64,
                    now: DateTime<Utc>,
                    message: &str,
                    operation: &'static str,
                ) -> Result<u64, StoreError> {
                    let done = sqlx::query(ABANDON_RUNS_SQL)
                        .bind(flow)
                        .bind(fence)
                        .bind($ts(now))
                        .bind(message)
                        .execute(&mut **tx)
                        .await
                        .map_err(db_in(operation, flow))?;
                    if done.rows_affected() > 0 {
                        tracing::warn!(flow, runs = done.rows_affected(), fence, "runs left running by an earlier lease holder closed as abandoned");
                    }
                    Ok(done.rows_affected())
                }

                async fn ledger_row(
                    tx: &mut Tx,
                    flow: &str,
                    natural_key: &str,
                    operation: &'static str,
                ) -> Result<Option<LedgerEntry>, StoreError> {
                    let sql = format!(
                        "SELECT {LEDGER_COLUMNS} FROM ledger WHERE flow = $1 AND natural_key = $2{}",
                        $update
                    );
                    let row: Option<LedgerRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(flow)
                        .bind(natural_key)
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(db(operation))?;
                    row.map(LedgerEntry::try_from).transpose()
                }
            }

            #[async_trait]
            impl StateStore for $store {
                #[tracing::instrument(level = "debug", skip(self, holder), fields(owner = %holder.owner), err)]
                async fn acquire_lease_as(
                    &self,
                    flow: &str,
                    holder: &LeaseHolder,
                    ttl: Duration,
                ) -> Result<Option<Lease>, StoreError> {
                    const OP: &str = "acquire_lease";
                    backend::name("flow name", flow, 200)?;
                    backend::name("lease owner", &holder.owner, 200)?;
                    backend::name("lease holder instance", &holder.instance, 200)?;
                    let ttl = backend::ttl(ttl)?;
                    let stamp = self.now();
                    let mut tx = self.begin_write(OP).await.map_err(|e| e.in_flow(flow))?;
                    sqlx::query(
                        "INSERT INTO leases (flow, owner, fence, expires_at, acquired_at) \
                         VALUES ($1, NULL, 0, $2, $2) ON CONFLICT (flow) DO NOTHING",
                    )
                    .bind(flow)
                    .bind($ts(stamp))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_in(OP, flow))?;
                    let row: LeaseRow = sqlx::query_as(sqlx::AssertSqlSafe(lease_sql($update)))
                        .bind(flow)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db_in(OP, flow))?;
                    let now = row.db_now.map(backend::truncate).unwrap_or(stamp);
                    let mut taken_over = None;
                    if row.owner.is_some() && !row.held_by(holder) && row.expires_at > now {
                        let current = row.lease(flow).map(|l| l.holder());
                        match current.as_ref().map(LeaseHolder::liveness) {
                            Some(Liveness::Dead { reason }) => taken_over = current.map(|c| (c, reason)),
                            _ => {
                                tx.rollback().await.map_err(db(OP))?;
                                tracing::debug!(flow, holder = ?row.owner, "lease held by another owner");
                                return Ok(None);
                            }
                        }
                    }
                    let lease = Lease {
                        flow: flow.to_owned(),
                        owner: holder.owner.clone(),
                        instance: holder.instance.clone(),
                        process: holder.process.clone(),
                        fence: row.fence + 1,
                        expires_at: now + ttl,
                    };
                    let process = holder.process.as_ref();
                    sqlx::query(
                        "UPDATE leases SET owner = $2, fence = $3, expires_at = $4, acquired_at = $5, \
                         instance = $6, holder_host = $7, holder_pid = $8, holder_boot_id = $9, \
                         holder_start_ticks = $10, granted_to = $2 WHERE flow = $1",
                    )
                    .bind(flow)
                    .bind(&holder.owner)
                    .bind(lease.fence)
                    .bind($ts(lease.expires_at))
                    .bind($ts(now))
                    .bind(&holder.instance)
                    .bind(process.map(|p| p.host.clone()))
                    .bind(process.map(|p| i64::from(p.pid)))
                    .bind(process.and_then(|p| p.boot_id.clone()))
                    .bind(process.and_then(|p| p.start_ticks).and_then(|t| i64::try_from(t).ok()))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_in(OP, flow))?;
                    let why = taken_over.as_ref().map(|(old, reason)| {
                        format!("its holder {} no longer runs ({reason})", old.describe())
                    });
                    let message = backend::abandoned_message(&holder.owner, lease.fence, why.as_deref());
                    Self::abandon_runs(&mut tx, flow, lease.fence, now, &message, OP).await?;
                    tx.commit().await.map_err(db_in(OP, flow))?;
                    if let Some((old, reason)) = &taken_over {
                        tracing::warn!(flow, owner = %holder.owner, fence = lease.fence, previous = %old.describe(), %reason, "lease taken over at once from a holder that no longer runs");
                    } else {
                        tracing::info!(flow, owner = %holder.owner, fence = lease.fence, "lease acquired");
                    }
                    Ok(Some(lease))
                }

                async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease, StoreError> {
                    const OP: &str = "renew_lease";
                    let ttl = backend::ttl(ttl)?;
                    let stamp = self.now();
                    let mut tx = self.begin_write(OP).await.map_err(|e| e.in_flow(&lease.flow))?;
                    let row: Option<LeaseRow> = sqlx::query_as(sqlx::AssertSqlSafe(lease_sql($update)))
                        .bind(&lease.flow)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_in(OP, &lease.flow))?;
                    let now = row.as_ref().and_then(|r| r.db_now).map(backend::truncate).unwrap_or(stamp);
                    backend::judge_lease(lease, row, now)?;
                    let renewed = Lease {
                        expires_at: now + ttl,
                        ..lease.clone()
                    };
                    sqlx::query("UPDATE leases SET expires_at = $3 WHERE flow = $1 AND fence = $2")
                        .bind(&lease.flow)
                        .bind(lease.fence)
                        .bind($ts(renewed.expires_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(db_in(OP, &lease.flow))?;
                    tx.commit().await.map_err(db_in(OP, &lease.flow))?;
                    Ok(renewed)
                }

                async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
                    const OP: &str = "release_lease";
                    let now = self.now();
                    let done = sqlx::query(
                        "UPDATE leases SET owner = NULL, expires_at = $4 \
                         WHERE flow = $1 AND fence = $2 AND owner = $3 AND instance = $5",
                    )
                    .bind(&lease.flow)
                    .bind(lease.fence)
                    .bind(&lease.owner)
                    .bind($ts(now))
                    .bind(&lease.instance)
                    .execute(&self.pool)
                    .await
                    .map_err(db_in(OP, &lease.flow))?;
                    tracing::info!(flow = %lease.flow, fence = lease.fence, released = done.rows_affected() == 1, "lease released");
                    Ok(())
                }

                #[tracing::instrument(level = "debug", skip(self), err)]
                async fn release_lease_by_hand(
                    &self,
                    flow: &str,
                    fence: i64,
                    by: &str,
                ) -> Result<Lease, StoreError> {
                    const OP: &str = "release_lease_by_hand";
                    backend::name("released by", by, 200)?;
                    let stamp = self.now();
                    let mut tx = self.begin_write(OP).await.map_err(|e| e.in_flow(flow))?;
                    let row: Option<LeaseRow> = sqlx::query_as(sqlx::AssertSqlSafe(lease_sql($update)))
                        .bind(flow)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_in(OP, flow))?;
                    let now = row.as_ref().and_then(|r| r.db_now).map(backend::truncate).unwrap_or(stamp);
                    let Some(lease) = row.as_ref().and_then(|r| r.lease(flow)) else {
                        return Err(StoreError::NotFound {
                            what: "held lease",
                            flow: flow.to_owned(),
                            key: flow.to_owned(),
                        });
                    };
                    if lease.fence != fence {
                        return Err(StoreError::InvalidTransition {
                            what: "lease",
                            flow: flow.to_owned(),
                            key: format!("fence {fence}"),
                            from: "superseded",
                            to: "released",
                            hint: "it changed hands since you looked; look at it again with `status` and release the current fence if you still must",
                        });
                    }
                    sqlx::query("UPDATE leases SET owner = NULL, expires_at = $3 WHERE flow = $1 AND fence = $2")
                        .bind(flow)
                        .bind(fence)
                        .bind($ts(now))
                        .execute(&mut *tx)
                        .await
                        .map_err(db_in(OP, flow))?;
                    let message = format!(
                        "abandoned: it never finished, and its lease (fence {fence}) was released by hand by {by}"
                    );
                    Self::abandon_runs(&mut tx, flow, fence + 1, now, &message, OP).await?;
                    let summary = redact(serde_json::json!({
                        "released_by": by,
                        "owner": lease.owner,
                        "instance": lease.instance,
                        "host": lease.process.as_ref().map(|p| p.host.clone()),
                        "pid": lease.process.as_ref().map(|p| p.pid),
                        "fence": fence,
                        "expires_at": lease.expires_at.to_rfc3339(),
                    }));
                    sqlx::query(
                        "INSERT INTO audit_events (flow, run_id, natural_key, stage, outcome, summary, at) \
                         VALUES ($1, $2, 'lease', 'written', $3, $4, $5)",
                    )
                    .bind(flow)
                    .bind(format!("lease-release-{}", uuid::Uuid::new_v4()))
                    .bind(format!("lease (fence {fence}) of {} released by hand by {by}", lease.holder().describe()))
                    .bind(Json(&summary))
                    .bind($ts(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_in(OP, flow))?;
                    tx.commit().await.map_err(db_in(OP, flow))?;
                    tracing::warn!(flow, fence, by, owner = %lease.owner, "lease released by hand");
                    Ok(lease)
                }

                async fn check_lease(&self, lease: &Lease) -> Result<(), StoreError> {
                    let row = self.read_lease_row(&lease.flow, "check_lease").await?;
                    backend::judge_lease(lease, row, self.now())
                }

                async fn current_lease(&self, flow: &str) -> Result<Option<Lease>, StoreError> {
                    // A released lease keeps its row (and fence) with no owner: nobody holds it.
                    let row = self.read_lease_row(flow, "current_lease").await?;
                    Ok(row.and_then(|r| r.lease(flow)))
                }

                async fn now(&self) -> Result<DateTime<Utc>, StoreError> {
                    if $now_sql == "NULL" {
                        return Ok(<$store>::now(self));
                    }
                    if self.clock_offset().is_none() {
                        let now: DateTime<Utc> = sqlx::query_scalar(concat!("SELECT ", $now_sql))
                            .fetch_one(&self.pool)
                            .await
                            .map_err(db("now"))?;
                        return Ok(backend::truncate(now));
                    }
                    let mut tx = self.begin_write("now").await?;
                    let now: Option<DateTime<Utc>> = sqlx::query_scalar(concat!("SELECT ", $now_sql))
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db("now"))?;
                    tx.commit().await.map_err(db("now"))?;
                    Ok(now.map(backend::truncate).unwrap_or_else(|| <$store>::now(self)))
                }

                async fn watermark(
                    &self,
                    flow: &str,
                    partition: &str,
                ) -> Result<Option<Watermark>, StoreError> {
                    let row: Option<WatermarkRow> = sqlx::query_as(
                        "SELECT flow, partition, value, fence, updated_at FROM watermarks \
                         WHERE flow = $1 AND partition = $2",
                    )
                    .bind(flow)
                    .bind(partition)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db("watermark"))?;
                    Ok(row.map(Watermark::from))
                }

                #[tracing::instrument(level = "debug", skip(self, lease), fields(flow = %lease.flow, fence = lease.fence), err)]
                async fn set_watermark(
                    &self,
                    lease: &Lease,
                    partition: &str,
                    expected: Option<&str>,
                    value: &str,
                ) -> Result<Watermark, StoreError> {
                    const OP: &str = "set_watermark";
                    backend::name("partition", partition, 200).or_else(|e| {
                        if partition.is_empty() { Ok(()) } else { Err(e) }
                    })?;
                    backend::name("high-water mark", value, 1000)?;
                    let now = self.now();
                    let mut tx = self.begin_write(OP).await?;
                    Self::fence(&mut tx, lease, now, OP).await?;
                    let swapped = match expected {
                        None => sqlx::query(
                            "INSERT INTO watermarks (flow, partition, value, fence, updated_at) \
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (flow, partition) DO NOTHING",
                        )
                        .bind(&lease.flow)
                        .bind(partition)
                        .bind(value)
                        .bind(lease.fence)
                        .bind($ts(now))
                        .execute(&mut *tx)
                        .await
                        .map_err(db(OP))?,
                        Some(expected) => sqlx::query(
                            "UPDATE watermarks SET value = $3, fence = $4, updated_at = $5 \
                             WHERE flow = $1 AND partition = $2 AND value = $6",
                        )
                        .bind(&lease.flow)
                        .bind(partition)
                        .bind(value)
                        .bind(lease.fence)
                        .bind($ts(now))
                        .bind(expected)
                        .execute(&mut *tx)
                        .await
                        .map_err(db(OP))?,
                    };
                    if swapped.rows_affected() != 1 {
                        let actual: Option<String> = sqlx::query_scalar(
                            "SELECT value FROM watermarks WHERE flow = $1 AND partition = $2",
                        )
                        .bind(&lease.flow)
                        .bind(partition)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db(OP))?;
                        tx.rollback().await.map_err(db(OP))?;
                        return Err(StoreError::WatermarkConflict {
                            flow: lease.flow.clone(),
                            partition: partition.to_owned(),
                            expected: expected.map(str::to_owned),
                            actual,
                        });
                    }
                    tx.commit().await.map_err(db(OP))?;
                    Ok(Watermark {
                        flow: lease.flow.clone(),
                        partition: partition.to_owned(),
                        value: value.to_owned(),
                        fence: lease.fence,
                        updated_at: now,
                    })
                }

                #[tracing::instrument(level = "debug", skip(self, lease, intent), fields(flow = %lease.flow, key = %intent.natural_key), err)]
                async fn record_intent(
                    &self,
                    lease: &Lease,
                    intent: &Intent,
                ) -> Result<IntentStatus, StoreError> {
                    const OP: &str = "record_intent";
                    backend::name("natural key", &intent.natural_key, 500)?;
                    backend::name("payload hash", &intent.payload_hash, 200)?;
                    let now = self.now();
                    let run_id = intent.run_id.as_ref().map(RunId::as_str);
                    let mut tx = self.begin_write(OP).await?;
                    Self::fence(&mut tx, lease, now, OP).await?;
                    let inserted = sqlx::query(
                        "INSERT INTO ledger (flow, natural_key, partition, payload_hash, state, attempts, run_id, intended_at) \
                         VALUES ($1, $2, $3, $4, 'intended', 1, $5, $6) ON CONFLICT (flow, natural_key) DO NOTHING",
                    )
                    .bind(&lease.flow)
                    .bind(&intent.natural_key)
                    .bind(&intent.partition)
                    .bind(&intent.payload_hash)
                    .bind(run_id)
                    .bind($ts(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(db(OP))?;
                    let status = if inserted.rows_affected() == 1 {
                        IntentStatus::New(LedgerEntry {
                            flow: lease.flow.clone(),
                            natural_key: intent.natural_key.clone(),
                            partition: intent.partition.clone(),
                            payload_hash: intent.payload_hash.clone(),
                            state: LedgerState::Intended,
                            batch_number: None,
                            entity_id: None,
                            detail: None,
                            attempts: 1,
                            run_id: intent.run_id.clone(),
                            intended_at: now,
                            outcome_at: None,
                            reopened: None,
                            attempted_at: None,
                        })
                    } else {
                        let previous = Self::ledger_row(&mut tx, &lease.flow, &intent.natural_key, OP)
                            .await?
                            .ok_or_else(|| StoreError::corrupt("ledger entry", "vanished while recording an intent"))?;
                        match previous.standing() {
                            Standing::Pending => IntentStatus::Pending(previous),
                            Standing::Settled => IntentStatus::Settled(previous),
                            // Failed, or settled and re-opened since: intended again.
                            Standing::Rearm => {
                                sqlx::query(
                                    "UPDATE ledger SET partition = $3, payload_hash = $4, state = 'intended', \
                                     batch_number = NULL, entity_id = NULL, detail = NULL, attempts = attempts + 1, \
                                     run_id = $5, intended_at = $6, outcome_at = NULL, reopened = NULL, attempted_at = NULL \
                                     WHERE flow = $1 AND natural_key = $2",
                                )
                                .bind(&lease.flow)
                                .bind(&intent.natural_key)
                                .bind(&intent.partition)
                                .bind(&intent.payload_hash)
                                .bind(run_id)
                                .bind($ts(now))
                                .execute(&mut *tx)
                                .await
                                .map_err(db(OP))?;
                                let entry = LedgerEntry {
                                    partition: intent.partition.clone(),
                                    payload_hash: intent.payload_hash.clone(),
                                    state: LedgerState::Intended,
                                    batch_number: None,
                                    entity_id: None,
                                    detail: None,
                                    attempts: previous.attempts + 1,
                                    run_id: intent.run_id.clone(),
                                    intended_at: now,
                                    outcome_at: None,
                                    reopened: None,
                                    attempted_at: None,
                                    ..previous.clone()
                                };
                                IntentStatus::Rearmed { previous: Box::new(previous), entry }
                            }
                        }
                    };
                    tx.commit().await.map_err(db(OP))?;
                    Ok(status)
                }

                #[tracing::instrument(level = "debug", skip(self, lease, outcome), fields(flow = %lease.flow, state = %outcome.state()), err)]
                async fn record_outcome(
                    &self,
                    lease: &Lease,
                    natural_key: &str,
                    outcome: &Outcome,
                ) -> Result<LedgerEntry, StoreError> {
                    const OP: &str = "record_outcome";
                    let now = self.now();
                    let mut tx = self.begin_write(OP).await?;
                    Self::fence(&mut tx, lease, now, OP).await?;
                    let entry = Self::ledger_row(&mut tx, &lease.flow, natural_key, OP)
                        .await?
                        .ok_or_else(|| StoreError::NotFound {
                            what: "ledger entry",
                            flow: lease.flow.clone(),
                            key: natural_key.to_owned(),
                        })?;
                    match (entry.state, outcome) {
                        (LedgerState::Intended, _) => {}
                        (LedgerState::Posted, Outcome::Posted { batch_number, .. })
                            if entry.batch_number.as_deref() == Some(batch_number.as_str()) =>
                        {
                            tx.rollback().await.map_err(db(OP))?;
                            return Ok(entry);
                        }
                        (from, _) => {
                            tx.rollback().await.map_err(db(OP))?;
                            return Err(StoreError::InvalidTransition {
                                what: "ledger entry",
                                flow: lease.flow.clone(),
                                key: natural_key.to_owned(),
                                from: from.as_str(),
                                to: outcome.state().as_str(),
                                hint: "an outcome is recorded once per intent; record a new intent first (possible only after a failure)",
                            });
                        }
                    }
                    let (batch_number, entity_id, detail) = match outcome {
                        Outcome::Posted { batch_number, entity_id } => {
                            backend::name("batch number", batch_number, 200)?;
                            (Some(batch_number.clone()), entity_id.clone(), None)
                        }
                        Outcome::Failed { error } => (None, None, Some(error.clone())),
                        Outcome::Skipped { reason } => (None, None, Some(reason.clone())),
                    };
                    sqlx::query(
                        "UPDATE ledger SET state = $3, batch_number = $4, entity_id = $5, detail = $6, outcome_at = $7 \
                         WHERE flow = $1 AND natural_key = $2",
                    )
                    .bind(&lease.flow)
                    .bind(natural_key)
                    .bind(outcome.state().as_str())
                    .bind(&batch_number)
                    .bind(&entity_id)
                    .bind(&detail)
                    .bind($ts(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(db(OP))?;
                    tx.commit().await.map_err(db(OP))?;
                    Ok(LedgerEntry {
                        state: outcome.state(),
                        batch_number,
                        entity_id,
                        detail,
                        outcome_at: Some(now),
                        ..entry
                    })
                }

                #[tracing::instrument(level = "debug", skip(self, lease, reason), fields(flow = %lease.flow), err)]
                async fn reopen_entry(
                    &self,
                    lease: &Lease,
                    natural_key: &str,
                    reason: &str,
                ) -> Result<LedgerEntry, StoreError> {
                    const OP: &str = "reopen_entry";
                    backend::name("re-open reason", reason, 2000)?;
                    let now = self.now();
                    let mut tx = self.begin_write(OP).await?;
                    Self::fence(&mut tx, lease, now, OP).await?;
                    let entry = Self::ledger_row(&mut tx, &lease.flow, natural_key, OP)
                        .await?
                        .ok_or_else(|| StoreError::NotFound {
                            what: "ledger entry",
                            flow: lease.flow.clone(),
                            key: natural_key.to_owned(),
                        })?;
                    match entry.state {
                        LedgerState::Posted | LedgerState::Skipped => {}
                        // Re-armed by the next intent anyway.
                        LedgerState::Failed => {
                            tx.rollback().await.map_err(db(OP))?;
                            return Ok(entry);
                        }
                        LedgerState::Intended => {
                            tx.rollback().await.map_err(db(OP))?;
                            return Err(StoreError::InvalidTransition {
                                what: "ledger entry",
                                flow: lease.flow.clone(),
                                key: natural_key.to_owned(),
                                from: "intended",
                                to: "reopened",
                                hint: "an intent without outcome is reconciled by lookup first; only a posted or skipped entry is re-opened",
                            });
                        }
                    }
                    sqlx::query("UPDATE ledger SET reopened = $3 WHERE flow = $1 AND natural_key = $2")
                        .bind(&lease.flow)
                        .bind(natural_key)
                        .bind(reason)
                        .execute(&mut *tx)
                        .await
                        .map_err(db(OP))?;
                    tx.commit().await.map_err(db(OP))?;
                    Ok(LedgerEntry {
                        reopened: Some(reason.to_owned()),
                        ..entry
                    })
                }

                #[tracing::instrument(level = "debug", skip(self, lease), fields(flow = %lease.flow), err)]
                async fn record_attempt(
                    &self,
                    lease: &Lease,
                    natural_key: &str,
                ) -> Result<LedgerEntry, StoreError> {
                    self.record_attempts(lease, &[natural_key.to_owned()])
                        .await?
                        .pop()
                        .ok_or_else(|| StoreError::corrupt("ledger entry", "no entry stamped"))
                }

                async fn record_attempts(
                    &self,
                    lease: &Lease,
                    natural_keys: &[String],
                ) -> Result<Vec<LedgerEntry>, StoreError> {
                    const OP: &str = "record_attempt";
                    if natural_keys.is_empty() {
                        return Ok(Vec::new());
                    }
                    let now = self.now();
                    let mut tx = self.begin_write(OP).await?;
                    Self::fence(&mut tx, lease, now, OP).await?;
                    // Stamped by the store's clock (the database's on PostgreSQL), the one that
                    // `StateStore::now` reports and the settle horizon is judged by.
                    let stamped: Option<DateTime<Utc>> =
                        sqlx::query_scalar(concat!("SELECT ", $now_sql))
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(db(OP))?;
                    let now = stamped.map(backend::truncate).unwrap_or(now);
                    let mut out = Vec::with_capacity(natural_keys.len());
                    for natural_key in natural_keys {
                        let entry = Self::ledger_row(&mut tx, &lease.flow, natural_key, OP)
                            .await?
                            .ok_or_else(|| StoreError::NotFound {
                                what: "ledger entry",
                                flow: lease.flow.clone(),
                                key: natural_key.clone(),
                            })?;
                        if entry.state != LedgerState::Intended {
                            tx.rollback().await.map_err(db(OP))?;
                            return Err(StoreError::InvalidTransition {
                                what: "ledger entry",
                                flow: lease.flow.clone(),
                                key: natural_key.clone(),
                                from: entry.state.as_str(),
                                to: "attempted",
                                hint: "only an intended entry may be sent; record an intent first",
                            });
                        }
                        sqlx::query("UPDATE ledger SET attempted_at = $3 WHERE flow = $1 AND natural_key = $2")
                            .bind(&lease.flow)
                            .bind(natural_key)
                            .bind($ts(now))
                            .execute(&mut *tx)
                            .await
                            .map_err(db(OP))?;
                        out.push(LedgerEntry {
                            attempted_at: Some(now),
                            ..entry
                        });
                    }
                    tx.commit().await.map_err(db(OP))?;
                    Ok(out)
                }

                async fn ledger_entry(
                    &self,
                    flow: &str,
                    natural_key: &str,
                ) -> Result<Option<LedgerEntry>, StoreError> {
                    let sql = format!("SELECT {LEDGER_COLUMNS} FROM ledger WHERE flow = $1 AND natural_key = $2");
                    let row: Option<LedgerRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(flow)
                        .bind(natural_key)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db("ledger_entry"))?;
                    row.map(LedgerEntry::try_from).transpose()
                }

                async fn ledger_entries(
                    &self,
                    flow: &str,
                    filter: &LedgerFilter,
                ) -> Result<Vec<LedgerEntry>, StoreError> {
                    let sql = format!(
                        "SELECT {LEDGER_COLUMNS} FROM ledger WHERE flow = $1 \
                         AND ($2 IS NULL OR state = $2) AND ($3 IS NULL OR partition = $3) \
                         ORDER BY intended_at, natural_key"
                    );
                    let rows: Vec<LedgerRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(flow)
                        .bind(filter.state.map(LedgerState::as_str))
                        .bind(filter.partition.as_deref())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db("ledger_entries"))?;
                    rows.into_iter().map(LedgerEntry::try_from).collect()
                }

                #[tracing::instrument(level = "debug", skip(self, lease), fields(flow = %lease.flow), err)]
                async fn start_run(&self, lease: &Lease) -> Result<RunRecord, StoreError> {
                    const OP: &str = "start_run";
                    let now = self.now();
                    let id = RunId::generate();
                    let mut tx = self.begin_write(OP).await?;
                    Self::fence(&mut tx, lease, now, OP).await?;
                    let message = backend::abandoned_message(&lease.owner, lease.fence, Some("a later run started"));
                    Self::abandon_runs(&mut tx, &lease.flow, lease.fence, now, &message, OP).await?;
                    sqlx::query(
                        "INSERT INTO runs (id, flow, owner, fence, started_at, status) \
                         VALUES ($1, $2, $3, $4, $5, 'running')",
                    )
                    .bind(id.as_str())
                    .bind(&lease.flow)
                    .bind(&lease.owner)
                    .bind(lease.fence)
                    .bind($ts(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(db(OP))?;
                    tx.commit().await.map_err(db(OP))?;
                    Ok(RunRecord {
                        id,
                        flow: lease.flow.clone(),
                        owner: lease.owner.clone(),
                        fence: lease.fence,
                        started_at: now,
                        finished_at: None,
                        status: RunStatus::Running,
                        counts: RunCounts::default(),
                        message: None,
                    })
                }

                #[tracing::instrument(level = "debug", skip(self, lease, counts, message), fields(flow = %lease.flow, run = %run_id), err)]
                async fn finish_run(
                    &self,
                    lease: &Lease,
                    run_id: &RunId,
                    status: RunStatus,
                    counts: &RunCounts,
                    message: Option<&str>,
                ) -> Result<RunRecord, StoreError> {
                    const OP: &str = "finish_run";
                    if status == RunStatus::Running {
                        return Err(StoreError::invalid(
                            "run status",
                            "a run cannot finish as running; use succeeded, completed_with_errors, failed or interrupted",
                        ));
                    }
                    let now = self.now();
                    let mut tx = self.begin_write(OP).await?;
                    Self::fence(&mut tx, lease, now, OP).await?;
                    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1{}", $update);
                    let row: Option<RunRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(run_id.as_str())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db(OP))?;
                    let run = match row.map(RunRecord::try_from).transpose()? {
                        Some(run) if run.flow == lease.flow => run,
                        _ => {
                            return Err(StoreError::NotFound {
                                what: "run",
                                flow: lease.flow.clone(),
                                key: run_id.to_string(),
                            });
                        }
                    };
                    if run.status != RunStatus::Running {
                        return Err(StoreError::InvalidTransition {
                            what: "run",
                            flow: lease.flow.clone(),
                            key: run_id.to_string(),
                            from: run.status.as_str(),
                            to: status.as_str(),
                            hint: "a run finishes once; start a new run instead",
                        });
                    }
                    sqlx::query(
                        "UPDATE runs SET finished_at = $2, status = $3, n_read = $4, n_mapped = $5, \
                         n_written = $6, n_skipped = $7, n_failed = $8, n_retries = $9, message = $10 \
                         WHERE id = $1",
                    )
                    .bind(run_id.as_str())
                    .bind($ts(now))
                    .bind(status.as_str())
                    .bind(backend::count("read count", counts.read)?)
                    .bind(backend::count("mapped count", counts.mapped)?)
                    .bind(backend::count("written count", counts.written)?)
                    .bind(backend::count("skipped count", counts.skipped)?)
                    .bind(backend::count("failed count", counts.failed)?)
                    .bind(backend::count("retry count", counts.retries)?)
                    .bind(message)
                    .execute(&mut *tx)
                    .await
                    .map_err(db(OP))?;
                    tx.commit().await.map_err(db(OP))?;
                    Ok(RunRecord {
                        finished_at: Some(now),
                        status,
                        counts: *counts,
                        message: message.map(str::to_owned),
                        ..run
                    })
                }

                async fn run(&self, run_id: &RunId) -> Result<Option<RunRecord>, StoreError> {
                    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1");
                    let row: Option<RunRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(run_id.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db("run"))?;
                    row.map(RunRecord::try_from).transpose()
                }

                async fn recent_runs(&self, flow: &str, limit: u32) -> Result<Vec<RunRecord>, StoreError> {
                    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE flow = $1 ORDER BY seq DESC LIMIT $2");
                    let rows: Vec<RunRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(flow)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db("recent_runs"))?;
                    rows.into_iter().map(RunRecord::try_from).collect()
                }

                async fn append_audit(&self, lease: &Lease, event: &AuditEvent) -> Result<i64, StoreError> {
                    const OP: &str = "append_audit";
                    let now = self.now();
                    let summary = redact(event.summary.clone());
                    let mut tx = self.begin_write(OP).await?;
                    Self::fence(&mut tx, lease, now, OP).await?;
                    let seq: i64 = sqlx::query_scalar(
                        "INSERT INTO audit_events (flow, run_id, natural_key, stage, outcome, summary, at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq",
                    )
                    .bind(&lease.flow)
                    .bind(event.run_id.as_str())
                    .bind(event.natural_key.as_deref())
                    .bind(event.stage.as_str())
                    .bind(&event.outcome)
                    .bind(Json(&summary))
                    .bind($ts(now))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db(OP))?;
                    tx.commit().await.map_err(db(OP))?;
                    Ok(seq)
                }

                async fn append_audit_many(
                    &self,
                    lease: &Lease,
                    events: &[AuditEvent],
                ) -> Result<Vec<i64>, StoreError> {
                    const OP: &str = "append_audit_many";
                    let now = self.now();
                    let mut tx = self.begin_write(OP).await?;
                    Self::fence(&mut tx, lease, now, OP).await?;
                    let mut seqs = Vec::with_capacity(events.len());
                    for event in events {
                        let summary = redact(event.summary.clone());
                        let seq: i64 = sqlx::query_scalar(
                            "INSERT INTO audit_events (flow, run_id, natural_key, stage, outcome, summary, at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq",
                        )
                        .bind(&lease.flow)
                        .bind(event.run_id.as_str())
                        .bind(event.natural_key.as_deref())
                        .bind(event.stage.as_str())
                        .bind(&event.outcome)
                        .bind(Json(&summary))
                        .bind($ts(now))
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db(OP))?;
                        seqs.push(seq);
                    }
                    tx.commit().await.map_err(db(OP))?;
                    Ok(seqs)
                }

                async fn audit_for_run(&self, run_id: &RunId) -> Result<Vec<AuditRecord>, StoreError> {
                    let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_events WHERE run_id = $1 ORDER BY seq");
                    let rows: Vec<AuditRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(run_id.as_str())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db("audit_for_run"))?;
                    rows.into_iter().map(AuditRecord::try_from).collect()
                }

                async fn audit_for_key(
                    &self,
                    flow: &str,
                    natural_key: &str,
                ) -> Result<Vec<AuditRecord>, StoreError> {
                    let sql = format!(
                        "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE flow = $1 AND natural_key = $2 ORDER BY seq"
                    );
                    let rows: Vec<AuditRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(flow)
                        .bind(natural_key)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db("audit_for_key"))?;
                    rows.into_iter().map(AuditRecord::try_from).collect()
                }

                async fn add_dead_letter(
                    &self,
                    lease: &Lease,
                    letter: &NewDeadLetter,
                ) -> Result<DeadLetter, StoreError> {
                    const OP: &str = "add_dead_letter";
                    backend::name("natural key", &letter.natural_key, 500)?;
                    let now = self.now();
                    let payload = redact(letter.payload.clone());
                    let mut tx = self.begin_write(OP).await?;
                    Self::fence(&mut tx, lease, now, OP).await?;
                    let sql = format!(
                        "INSERT INTO dead_letters (flow, natural_key, run_id, payload, error, attempts, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, 1, $6, $6) \
                         ON CONFLICT (flow, natural_key) WHERE resolved_at IS NULL DO UPDATE SET \
                         run_id = excluded.run_id, payload = excluded.payload, error = excluded.error, \
                         attempts = dead_letters.attempts + 1, updated_at = excluded.updated_at \
                         RETURNING {DEAD_LETTER_COLUMNS}"
                    );
                    let row: DeadLetterRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(&lease.flow)
                        .bind(&letter.natural_key)
                        .bind(letter.run_id.as_ref().map(RunId::as_str))
                        .bind(Json(&payload))
                        .bind(&letter.error)
                        .bind($ts(now))
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db(OP))?;
                    tx.commit().await.map_err(db(OP))?;
                    DeadLetter::try_from(row)
                }

                async fn dead_letters(
                    &self,
                    flow: &str,
                    include_resolved: bool,
                ) -> Result<Vec<DeadLetter>, StoreError> {
                    let sql = format!(
                        "SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters \
                         WHERE flow = $1 AND ($2 OR resolved_at IS NULL) ORDER BY id"
                    );
                    let rows: Vec<DeadLetterRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(flow)
                        .bind(include_resolved)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db("dead_letters"))?;
                    rows.into_iter().map(DeadLetter::try_from).collect()
                }

                async fn resolve_dead_letter(
                    &self,
                    lease: &Lease,
                    id: i64,
                    resolution: &str,
                ) -> Result<DeadLetter, StoreError> {
                    const OP: &str = "resolve_dead_letter";
                    backend::name("resolution", resolution, 2000)?;
                    let now = self.now();
                    let mut tx = self.begin_write(OP).await?;
                    Self::fence(&mut tx, lease, now, OP).await?;
                    let sql = format!("SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters WHERE id = $1{}", $update);
                    let row: Option<DeadLetterRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db(OP))?;
                    let letter = match row.map(DeadLetter::try_from).transpose()? {
                        Some(letter) if letter.flow == lease.flow => letter,
                        _ => {
                            return Err(StoreError::NotFound {
                                what: "dead letter",
                                flow: lease.flow.clone(),
                                key: id.to_string(),
                            });
                        }
                    };
                    if letter.resolved_at.is_some() {
                        return Err(StoreError::InvalidTransition {
                            what: "dead letter",
                            flow: lease.flow.clone(),
                            key: id.to_string(),
                            from: "resolved",
                            to: "resolved",
                            hint: "it was resolved already; list unresolved dead letters to find open ones",
                        });
                    }
                    sqlx::query("UPDATE dead_letters SET resolved_at = $2, resolution = $3 WHERE id = $1")
                        .bind(id)
                        .bind($ts(now))
                        .bind(resolution)
                        .execute(&mut *tx)
                        .await
                        .map_err(db(OP))?;
                    tx.commit().await.map_err(db(OP))?;
                    Ok(DeadLetter {
                        resolved_at: Some(now),
                        resolution: Some(resolution.to_owned()),
                        ..letter
                    })
                }

                async fn key_mappings(&self, flow: &str) -> Result<Vec<super::super::KeyMapping>, StoreError> {
                    self.list_key_mappings(flow).await
                }

                async fn put_key_mapping(
                    &self,
                    lease: &Lease,
                    mapping: &super::super::NewKeyMapping,
                ) -> Result<super::super::KeyMapping, StoreError> {
                    self.write_key_mapping(lease, mapping).await
                }

                async fn forget_key_mapping(
                    &self,
                    lease: &Lease,
                    entity: &str,
                    source_key: &str,
                ) -> Result<bool, StoreError> {
                    self.delete_key_mapping(lease, entity, source_key).await
                }
            }

            super::super::key_map::key_map_methods!(store = $store, ts = $ts);

        }
    };
}

pub(super) use impl_state_store;
