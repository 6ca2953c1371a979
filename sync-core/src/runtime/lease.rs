//! Keeping a flow's lease alive while it runs, and the owner name replicas use.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

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

/// The default lease owner (a display name): `<host>:<pid>` (host from `HOSTNAME`, else
/// `localhost`). The lease holder is unique regardless: each process is its own instance
/// (see [`LeaseHolder`](crate::store::LeaseHolder)).
///
/// ```
/// let owner = sync_core::runtime::default_owner();
/// assert!(owner.contains(':'));
/// ```
pub fn default_owner() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{host}:{}", std::process::id())
}

/// What the renewal task and the flow share.
#[derive(Debug)]
struct Shared {
    lease: Lease,
    /// Set when a renewal found the lease lost: every later [`LeaseKeeper::fresh`] fails.
    lost: bool,
}

/// Holds a flow's lease and renews it **in the background** every third of its TTL while the
/// flow works, so a request that takes longer than the TTL (Acumatica may hold one for
/// minutes) does not cost the lease. A lost lease is logged when the renewal notices it and
/// surfaces as a fenced store error from the next [`fresh`](Self::fresh) or
/// [`check`](Self::check).
#[derive(Debug)]
pub(crate) struct LeaseKeeper {
    store: Arc<dyn StateStore>,
    /// The lease as last read by [`fresh`](Self::fresh) or [`check`](Self::check).
    last: Lease,
    shared: Arc<Mutex<Shared>>,
    /// Held by someone else (the schedule runner), who renews and releases it.
    borrowed: bool,
    renewer: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        // A run that is dropped (or crashed) must not keep its lease alive.
        if let Some(task) = self.renewer.take() {
            task.abort();
        }
    }
}

/// The background renewal: every `ttl / 3`, sooner again after a transient failure; stops for
/// good once the store says the lease is lost.
async fn renew_loop(store: Arc<dyn StateStore>, shared: Arc<Mutex<Shared>>, ttl: Duration) {
    let period = (ttl / 3).max(Duration::from_millis(10));
    let mut wait = period;
    loop {
        tokio::time::sleep(wait).await;
        let lease = lock(&shared).lease.clone();
        match store.renew_lease(&lease, ttl).await {
            Ok(renewed) => {
                tracing::debug!(flow = %renewed.flow, fence = renewed.fence, "lease renewed");
                lock(&shared).lease = renewed;
                wait = period;
            }
            Err(e) if e.is_fenced() => {
                tracing::error!(flow = %lease.flow, fence = lease.fence, error = %e, "lease lost while the run was working; it stops at its next step and writes nothing more");
                lock(&shared).lost = true;
                return;
            }
            Err(e) => {
                tracing::warn!(flow = %lease.flow, fence = lease.fence, error = %e, "could not renew the lease; trying again soon");
                wait = (period / 4).max(Duration::from_millis(10));
            }
        }
    }
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl LeaseKeeper {
    /// Acquires the lease of `flow` for `owner` (in this process), or fails with
    /// [`Error::Busy`]; starts renewing it in the background.
    pub(crate) async fn acquire(
        store: Arc<dyn StateStore>,
        flow: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Self> {
        match store.acquire_lease(flow, owner, ttl).await? {
            Some(lease) => {
                let shared = Arc::new(Mutex::new(Shared {
                    lease: lease.clone(),
                    lost: false,
                }));
                let renewer = tokio::spawn(renew_loop(store.clone(), shared.clone(), ttl));
                Ok(Self {
                    store,
                    last: lease,
                    shared,
                    borrowed: false,
                    renewer: Some(renewer),
                })
            }
            None => {
                let holder = match store.current_lease(flow).await {
                    Ok(Some(l)) => {
                        let alive = match l.holder().liveness() {
                            crate::store::Liveness::Alive => ", a live process on this host",
                            _ => "",
                        };
                        format!(
                            "held by {}{alive} until {}",
                            l.holder().describe(),
                            l.expires_at.to_rfc3339()
                        )
                    }
                    _ => "its lease is held".to_owned(),
                };
                Err(Error::Busy {
                    flow: flow.to_owned(),
                    holder,
                })
            }
        }
    }

    /// Uses a lease someone else holds and renews (the schedule runner's): never renewed nor
    /// released here; the store still refuses writes once it is lost.
    pub(crate) fn borrowed(store: Arc<dyn StateStore>, lease: Lease) -> Self {
        Self {
            store,
            last: lease.clone(),
            shared: Arc::new(Mutex::new(Shared { lease, lost: false })),
            borrowed: true,
            renewer: None,
        }
    }

    /// The lease to present on the next state write (kept renewed in the background).
    ///
    /// # Errors
    /// The fenced store error once a renewal found the lease lost (superseded, naming the
    /// new holder, or expired).
    pub(crate) async fn fresh(&mut self) -> Result<Lease> {
        let (lease, lost) = {
            let shared = lock(&self.shared);
            (shared.lease.clone(), shared.lost)
        };
        if lost {
            // Ask the store again: its answer names who holds the lease now.
            self.store.check_lease(&lease).await?;
            lock(&self.shared).lost = false;
        }
        self.last = lease.clone();
        Ok(lease)
    }

    /// Checks the lease **in the store** (one round trip; on PostgreSQL by the database's
    /// clock) and returns it: call it right before a write to an external system, which the
    /// store's fence cannot guard.
    ///
    /// # Errors
    /// The fenced store error when the lease was lost.
    pub(crate) async fn check(&mut self) -> Result<Lease> {
        let lease = lock(&self.shared).lease.clone();
        if let Err(e) = self.store.check_lease(&lease).await {
            if e.is_fenced() {
                tracing::error!(flow = %lease.flow, fence = lease.fence, error = %e, "lease lost; not writing to the target system");
                lock(&self.shared).lost = true;
            }
            return Err(e.into());
        }
        self.last = lease.clone();
        Ok(lease)
    }

    /// The lease as last known (for writes right after [`fresh`](Self::fresh)).
    pub(crate) fn lease(&self) -> &Lease {
        &self.last
    }

    /// Stops renewing and releases the lease (errors are logged: an expired lease needs no
    /// release).
    pub(crate) async fn release(mut self) {
        if let Some(task) = self.renewer.take() {
            task.abort();
        }
        if self.borrowed {
            return;
        }
        let lease = lock(&self.shared).lease.clone();
        if let Err(e) = self.store.release_lease(&lease).await {
            tracing::warn!(flow = %lease.flow, error = %e, "could not release the lease; it expires by itself");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    /// A request that takes longer than the TTL (here a sleep standing in for a PUT that
    /// Acumatica holds) keeps the lease: the renewal runs in the background. Before, nothing
    /// renewed while a request was pending, and the check after it found the lease expired.
    #[tokio::test]
    async fn a_request_longer_than_the_ttl_keeps_the_lease() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn StateStore> =
            Arc::new(SqliteStore::open(dir.path().join("s.db")).await.unwrap());
        let ttl = Duration::from_millis(900);
        let mut keeper = LeaseKeeper::acquire(store.clone(), "f", "a", ttl)
            .await
            .unwrap();
        let before = keeper.check().await.unwrap();
        tokio::time::sleep(ttl * 3).await; // the long PUT
        let after = keeper.check().await.unwrap();
        assert_eq!(after.fence, before.fence);
        assert!(after.expires_at > before.expires_at);
        // Nobody else could take it meanwhile.
        assert!(store.acquire_lease("f", "b", ttl).await.unwrap().is_none());
        keeper.release().await;
        assert!(store.acquire_lease("f", "b", ttl).await.unwrap().is_some());
    }

    /// A lease lost while work was pending is noticed by the renewal and surfaced by the next
    /// step, naming the holder that took over.
    #[tokio::test]
    async fn a_lost_lease_is_noticed_and_names_the_new_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn StateStore> =
            Arc::new(SqliteStore::open(dir.path().join("s.db")).await.unwrap());
        let ttl = Duration::from_millis(600);
        let mut keeper = LeaseKeeper::acquire(store.clone(), "f", "a", ttl)
            .await
            .unwrap();
        let lease = keeper.fresh().await.unwrap();
        store
            .release_lease_by_hand("f", lease.fence, "ops@test")
            .await
            .unwrap();
        store.acquire_lease("f", "b", ttl).await.unwrap().unwrap();
        let err = keeper.check().await.unwrap_err();
        assert!(err.is_fenced(), "{err:?}");
        assert!(err.to_string().contains("`b`"), "{err}");
        let err = keeper.fresh().await.unwrap_err();
        assert!(err.to_string().contains("`b`"), "{err}");
    }

    /// A refused run says who holds the lease: a user can tell a live replica from a dead one.
    #[tokio::test]
    async fn busy_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn StateStore> =
            Arc::new(SqliteStore::open(dir.path().join("s.db")).await.unwrap());
        let ttl = Duration::from_secs(60);
        let keeper = LeaseKeeper::acquire(store.clone(), "f", "replica-a", ttl)
            .await
            .unwrap();
        let err = LeaseKeeper::acquire(store.clone(), "f", "replica-b", ttl)
            .await
            .unwrap_err();
        assert!(err.is_busy());
        let text = err.to_string();
        assert!(text.contains("`replica-a`"), "{text}");
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        keeper.release().await;
    }

    /// Dropping a keeper (a run future dropped mid-way) stops its renewal: the lease then
    /// runs out instead of being kept alive by an orphaned task.
    #[tokio::test]
    async fn a_dropped_keeper_stops_renewing() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn StateStore> =
            Arc::new(SqliteStore::open(dir.path().join("s.db")).await.unwrap());
        let ttl = Duration::from_millis(300);
        let keeper = LeaseKeeper::acquire(store.clone(), "f", "a", ttl)
            .await
            .unwrap();
        let lease = keeper.lease().clone();
        drop(keeper);
        tokio::time::sleep(ttl * 2).await;
        assert!(store.check_lease(&lease).await.unwrap_err().is_fenced());
    }
}
