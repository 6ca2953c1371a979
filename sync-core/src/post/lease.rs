//! Keeping a flow's lease alive while it runs, and the owner name replicas use.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::error::{Error, Result};
use crate::schedule::StopSignal;
use crate::store::{Lease, StateStore};

/// What asks a running flow to stop between documents (or pages).
#[derive(Debug, Clone)]
pub(crate) enum Stopper {
    /// A flag the caller flips to `true`.
    Watch(tokio::sync::watch::Receiver<bool>),
    /// The schedule runner's signal (shutdown, or a lost lease).
    Runner(StopSignal),
}

impl Stopper {
    pub(crate) fn is_set(&self) -> bool {
        match self {
            Self::Watch(rx) => *rx.borrow(),
            Self::Runner(signal) => signal.is_stopping(),
        }
    }
}

/// The default lease owner: `<host>:<pid>` (host from `HOSTNAME`, else `localhost`).
///
/// ```
/// let owner = sync_core::post::default_owner();
/// assert!(owner.contains(':'));
/// ```
pub fn default_owner() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{host}:{}", std::process::id())
}

/// Holds a flow's lease and renews it when half its TTL has passed, so every state write
/// presents a current fence. A lost lease surfaces as a fenced store error.
#[derive(Debug)]
pub(crate) struct LeaseKeeper {
    store: Arc<dyn StateStore>,
    lease: Lease,
    ttl: Duration,
    /// Held by someone else (the schedule runner), who renews and releases it.
    borrowed: bool,
}

impl LeaseKeeper {
    /// Acquires the lease of `flow` for `owner`, or fails with [`Error::Busy`].
    pub(crate) async fn acquire(
        store: Arc<dyn StateStore>,
        flow: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Self> {
        match store.acquire_lease(flow, owner, ttl).await? {
            Some(lease) => Ok(Self {
                store,
                lease,
                ttl,
                borrowed: false,
            }),
            None => Err(Error::Busy {
                flow: flow.to_owned(),
            }),
        }
    }

    /// Uses a lease someone else holds and renews (the schedule runner's): never renewed nor
    /// released here; the store still refuses writes once it is lost.
    pub(crate) fn borrowed(store: Arc<dyn StateStore>, lease: Lease) -> Self {
        Self {
            store,
            lease,
            ttl: Duration::ZERO,
            borrowed: true,
        }
    }

    /// The lease, renewed first when less than half its TTL is left.
    pub(crate) async fn fresh(&mut self) -> Result<Lease> {
        if self.borrowed {
            return Ok(self.lease.clone());
        }
        let left = self.lease.expires_at - Utc::now();
        let half = chrono::Duration::from_std(self.ttl / 2).unwrap_or(chrono::Duration::zero());
        if left < half {
            self.lease = self.store.renew_lease(&self.lease, self.ttl).await?;
            tracing::debug!(flow = %self.lease.flow, fence = self.lease.fence, "lease renewed");
        }
        Ok(self.lease.clone())
    }

    /// The lease as last known (for writes right after [`fresh`](Self::fresh)).
    pub(crate) fn lease(&self) -> &Lease {
        &self.lease
    }

    /// Releases the lease (errors are logged: an expired lease needs no release).
    pub(crate) async fn release(self) {
        if self.borrowed {
            return;
        }
        if let Err(e) = self.store.release_lease(&self.lease).await {
            tracing::warn!(flow = %self.lease.flow, error = %e, "could not release the lease; it expires by itself");
        }
    }
}
