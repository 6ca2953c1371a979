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
use crate::store::{Lease, RunCounts, RunRecord, RunStatus, StateStore, StoreError};

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
