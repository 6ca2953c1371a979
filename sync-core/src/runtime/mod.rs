//! The flow runtime: the lease and run lifecycle every kind of flow (post, reference, feed)
//! shares, so none of them imports another's.
//!
//! A run: **acquire** the flow's lease (or use the schedule runner's), **start** a run in the
//! history (closing as abandoned any run an earlier holder left running), keep the lease
//! **renewed** in the background while the flow works, **check** it in the store right before
//! each write to an external system (Acumatica, the warehouse), **finish** the run with its
//! status and counts, and **release** the lease. Every state write is fenced by the store
//! itself.

mod lease;

use std::sync::Arc;
use std::time::Duration;

pub use lease::default_owner;
pub(crate) use lease::{LeaseKeeper, Stopper};

use crate::error::Result;
use crate::store::{
    AuditRecord, AuditStage, Lease, RunCounts, RunRecord, RunStatus, StateStore, StoreError,
};

/// Acquires the lease of `flow` for `owner` (or borrows the schedule runner's `borrowed`
/// lease) and starts a run under it. On failure nothing is left held.
///
/// # Errors
/// [`Error::Busy`](crate::Error::Busy) when another live holder has the lease; store errors.
pub(crate) async fn start_run(
    store: &Arc<dyn StateStore>,
    flow: &str,
    owner: &str,
    ttl: Duration,
    borrowed: Option<Lease>,
) -> Result<(LeaseKeeper, RunRecord)> {
    let mut keeper = match borrowed {
        Some(lease) => LeaseKeeper::borrowed(store.clone(), lease),
        None => LeaseKeeper::acquire(store.clone(), flow, owner, ttl).await?,
    };
    let lease = match keeper.fresh().await {
        Ok(lease) => lease,
        Err(e) => {
            keeper.release().await;
            return Err(e);
        }
    };
    match store.start_run(&lease).await {
        Ok(run) => Ok((keeper, run)),
        Err(e) => {
            keeper.release().await;
            Err(e.into())
        }
    }
}

/// Finishes the run with its status, counts and message, then releases the lease (whatever
/// the store answered). Returns the store's answer to the finish.
pub(crate) async fn finish_run(
    store: &Arc<dyn StateStore>,
    keeper: LeaseKeeper,
    run: &RunRecord,
    status: RunStatus,
    counts: &RunCounts,
    message: Option<&str>,
) -> std::result::Result<RunRecord, StoreError> {
    let lease = keeper.lease().clone();
    let finished = store
        .finish_run(&lease, &run.id, status, counts, message)
        .await;
    if let Err(e) = &finished {
        tracing::warn!(flow = %run.flow, run = %run.id, error = %e, "could not record the end of the run");
    }
    keeper.release().await;
    finished
}

/// Closes what this process left of a run of `flow` that it stopped mid-way (the run's future
/// was dropped at a stop deadline, or a second signal asked to exit at once): when the flow's
/// lease is still held **by this process** (its [`instance_id`](crate::store::instance_id)),
/// the run left `running` under it is finished as [`RunStatus::Interrupted`] with the counts
/// its audit trail shows (see [`audit_counts`]) and `why` in its message, and the lease is
/// released, so a rerun can start at once instead of waiting for the lease to expire. A
/// lease held by anyone else, or none, is left alone and `None` returned.
///
/// Exactly once is not at stake here: a create whose answer was cut off had its attempt
/// stamped in the ledger before it was sent, and the next run settles it by lookup.
///
/// Call it only once the run's own future is gone: a run still working in this process
/// would find its lease released.
///
/// ```no_run
/// # async fn demo(store: std::sync::Arc<dyn sync_core::store::StateStore>) -> Result<(), sync_core::store::StoreError> {
/// if let Some(run) = sync_core::runtime::close_interrupted(&store, "gl_allocation", "stop timeout").await? {
///     println!("run {} recorded as {}", run.id, run.status);
/// }
/// # Ok(()) }
/// ```
///
/// # Errors
/// Store errors (the lease then expires by itself, and the next holder closes the run as
/// abandoned).
pub async fn close_interrupted(
    store: &Arc<dyn StateStore>,
    flow: &str,
    why: &str,
) -> std::result::Result<Option<RunRecord>, StoreError> {
    let Some(lease) = store.current_lease(flow).await? else {
        return Ok(None);
    };
    if lease.instance != crate::store::instance_id() {
        return Ok(None);
    }
    let mut closed = None;
    let running = store
        .recent_runs(flow, 10)
        .await?
        .into_iter()
        .find(|r| r.status == RunStatus::Running && r.fence == lease.fence);
    if let Some(run) = running {
        let audit = store.audit_for_run(&run.id).await?;
        let counts = audit_counts(&audit);
        let message = format!(
            "interrupted: {why}; stopped mid-way, its counts are what its audit trail shows it had done"
        );
        match store
            .finish_run(
                &lease,
                &run.id,
                RunStatus::Interrupted,
                &counts,
                Some(&message),
            )
            .await
        {
            Ok(run) => closed = Some(run),
            Err(e) => {
                tracing::warn!(flow, run = %run.id, error = %e, "could not record the interrupted run");
            }
        }
    }
    store.release_lease(&lease).await?;
    Ok(closed)
}

/// What a run had done, from its audit trail: rows read (the `rows` of its `read` events),
/// documents mapped (one per keyed `mapped` event, or the `records` of an unkeyed one), and
/// one written, skipped or failed per such event. Retries are not audited (0).
///
/// ```
/// use sync_core::runtime::audit_counts;
/// assert_eq!(audit_counts(&[]).written, 0);
/// ```
pub fn audit_counts(audit: &[AuditRecord]) -> RunCounts {
    let mut counts = RunCounts::default();
    let number =
        |r: &AuditRecord, field: &str| r.summary.get(field).and_then(serde_json::Value::as_u64);
    for r in audit {
        match r.stage {
            AuditStage::Read => counts.read += number(r, "rows").unwrap_or(0),
            AuditStage::Mapped => {
                counts.mapped += match &r.natural_key {
                    Some(_) => 1,
                    None => number(r, "records").unwrap_or(0),
                };
            }
            AuditStage::Written => counts.written += 1,
            AuditStage::Skipped => counts.skipped += 1,
            AuditStage::Failed => counts.failed += u64::from(r.natural_key.is_some()),
        }
    }
    counts
}
