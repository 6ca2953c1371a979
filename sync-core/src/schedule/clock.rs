//! Injectable time: the [`Clock`] trait, the real [`SystemClock`] and the test [`ManualClock`].
//!
//! Everything in `sync-core` that depends on "now" (lease expiry in the state stores, due times
//! in the schedule runner) asks a [`Clock`], so tests can move time by hand and never race the
//! wall clock. Replicas sharing one PostgreSQL store compare lease expiry against their own
//! clocks: keep them synchronised (NTP) to well under the lease TTL.

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
    sleepers: Mutex<usize>,
    sleepers_changed: watch::Sender<usize>,
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
                sleepers: Mutex::new(0),
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
        *self
            .inner
            .sleepers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until at least `n` tasks are sleeping on this clock: lets a test advance time only
    /// once the code under test has gone idle.
    pub async fn wait_for_sleepers(&self, n: usize) {
        let mut rx = self.inner.sleepers_changed.subscribe();
        // `wait_for` checks the current value first, so no update can be missed.
        let _ = rx.wait_for(|count| *count >= n).await;
    }

    fn change_sleepers(&self, up: bool) {
        let mut count = self
            .inner
            .sleepers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if up {
            *count += 1;
        } else {
            *count = count.saturating_sub(1);
        }
        self.inner.sleepers_changed.send_replace(*count);
    }
}

struct SleeperGuard<'a>(&'a ManualClock);

impl Drop for SleeperGuard<'_> {
    fn drop(&mut self) {
        self.0.change_sleepers(false);
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
        self.change_sleepers(true);
        let _guard = SleeperGuard(self);
        // The sender lives as long as `self`, so this only ends when the deadline is reached.
        let _ = rx.wait_for(|now| *now >= deadline).await;
    }
}
