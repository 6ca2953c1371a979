//! Injectable time: the [`Clock`] trait, the real [`SystemClock`] and the test [`ManualClock`].
//!
//! Everything in `sync-core` that depends on "now" (lease expiry in the state stores, due times
//! in the schedule runner) asks a [`Clock`], so tests can move time by hand and never race the
//! wall clock. A PostgreSQL store judges lease expiry by the database's clock, so replicas
//! sharing it need not agree on the time (a clock given to it only moves that clock, see
//! [`PostgresStoreBuilder::clock`](crate::store::PostgresStoreBuilder::clock)); a SQLite
//! store (one machine) judges by the process clock.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// A source of the current time that can also sleep until a given instant.
///
/// # Example
///
/// ```
/// use sync_core::schedule::{Clock, SystemClock};
///
/// let clock = SystemClock;
/// let now = clock.now();
/// assert!(now.timestamp() > 0);
/// ```
#[async_trait]
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant in UTC.
    fn now(&self) -> DateTime<Utc>;

    /// Returns once [`Clock::now`] has reached `deadline` (immediately if it already has).
    async fn sleep_until(&self, deadline: DateTime<Utc>);
}

/// The operating system's clock, sleeping with tokio timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep_until(&self, deadline: DateTime<Utc>) {
        // Re-check after each sleep: the wall clock can be adjusted while we sleep.
        loop {
            let remaining = deadline - Utc::now();
            match remaining.to_std() {
                Ok(d) if !d.is_zero() => tokio::time::sleep(d.min(Duration::from_secs(3600))).await,
                _ => return,
            }
        }
    }
}

/// A clock that only moves when told to: for deterministic tests of leases and schedules.
///
/// Cloning gives another handle on the same time.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use chrono::{TimeZone, Utc};
/// use sync_core::schedule::{Clock, ManualClock};
///
/// let start = Utc.with_ymd_and_hms(2026, 1, 31, 23, 0, 0).unwrap();
/// let clock = ManualClock::new(start);
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.now(), start + chrono::Duration::seconds(90));
/// ```
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

struct ManualInner {
    now: watch::Sender<DateTime<Utc>>,
    /// Deadlines of the tasks sleeping now, by sleeper id.
    sleepers: Mutex<Vec<(u64, DateTime<Utc>)>>,
    next_id: std::sync::atomic::AtomicU64,
    /// Bumped whenever a sleeper comes or goes.
    sleepers_changed: watch::Sender<u64>,
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &*self.inner.now.borrow())
            .finish()
    }
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        let (now, _) = watch::channel(start);
        let (sleepers_changed, _) = watch::channel(0);
        Self {
            inner: Arc::new(ManualInner {
                now,
                sleepers: Mutex::new(Vec::new()),
                next_id: std::sync::atomic::AtomicU64::new(0),
                sleepers_changed,
            }),
        }
    }

    /// Moves time forward by `by`, waking every sleeper whose deadline has come.
    pub fn advance(&self, by: Duration) {
        let by = chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        self.inner.now.send_modify(|t| *t += by);
    }

    /// Sets the time to `to`. Moving backwards is allowed (to test clock skew) but sleepers
    /// only wake when their deadline is reached.
    pub fn set(&self, to: DateTime<Utc>) {
        self.inner.now.send_replace(to);
    }

    /// How many tasks are currently inside [`Clock::sleep_until`] waiting for a future instant.
    pub fn sleepers(&self) -> usize {
        self.lock().len()
    }

    /// Waits until at least `n` tasks are sleeping on this clock: lets a test advance time only
    /// once the code under test has gone idle.
    pub async fn wait_for_sleepers(&self, n: usize) {
        self.wait_for(|sleepers, _| sleepers.len() >= n).await;
    }

    /// Waits until at least `n` tasks sleep on this clock and every sleeper's deadline is still
    /// ahead: no task has a due wake-up left to process. Stronger than
    /// [`ManualClock::wait_for_sleepers`] right after [`ManualClock::advance`], when a woken
    /// task may not have run yet.
    pub async fn wait_for_idle(&self, n: usize) {
        self.wait_for(|sleepers, now| {
            sleepers.len() >= n && sleepers.iter().all(|(_, deadline)| *deadline > now)
        })
        .await;
    }

    async fn wait_for(&self, ready: impl Fn(&[(u64, DateTime<Utc>)], DateTime<Utc>) -> bool) {
        let mut changed = self.inner.sleepers_changed.subscribe();
        let mut ticks = self.inner.now.subscribe();
        loop {
            changed.borrow_and_update();
            ticks.borrow_and_update();
            if ready(&self.lock(), self.now()) {
                return;
            }
            tokio::select! {
                _ = changed.changed() => {}
                _ = ticks.changed() => {}
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(u64, DateTime<Utc>)>> {
        self.inner
            .sleepers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn add_sleeper(&self, deadline: DateTime<Utc>) -> u64 {
        let id = self
            .inner
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.lock().push((id, deadline));
        self.inner.sleepers_changed.send_modify(|g| *g += 1);
        id
    }

    fn remove_sleeper(&self, id: u64) {
        self.lock().retain(|(sid, _)| *sid != id);
        self.inner.sleepers_changed.send_modify(|g| *g += 1);
    }
}

struct SleeperGuard<'a>(&'a ManualClock, u64);

impl Drop for SleeperGuard<'_> {
    fn drop(&mut self) {
        self.0.remove_sleeper(self.1);
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.inner.now.borrow()
    }

    async fn sleep_until(&self, deadline: DateTime<Utc>) {
        let mut rx = self.inner.now.subscribe();
        if *rx.borrow_and_update() >= deadline {
            return;
        }
        let _guard = SleeperGuard(self, self.add_sleeper(deadline));
        // The sender lives as long as `self`, so this only ends when the deadline is reached.
        let _ = rx.wait_for(|now| *now >= deadline).await;
    }
}
