//! Client-side pacing: stay under a licence's limits before the server
//! starts refusing.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Paces requests: at most `requests_per_minute` started per minute (a GCRA
/// limiter from [`governor`], which spreads them evenly instead of letting a
/// burst through at the top of each minute) and at most `max_concurrent` in
/// flight at once.
///
/// Acumatica licences limit both (requests per minute and concurrent
/// requests); setting the pacer to the customer's licence keeps a sync from
/// being slowed down by the server's own queue. Cloning shares the limits.
///
/// ```
/// use std::num::NonZeroU32;
/// use ml_connector_retry::Pacer;
///
/// let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// rt.block_on(async {
///     let pacer = Pacer::new(NonZeroU32::new(6000), Some(2));
///     let _first = pacer.acquire().await;
///     let _second = pacer.acquire().await;
///     assert_eq!(pacer.available_slots(), Some(0));
/// });
/// ```
#[derive(Clone, Debug, Default)]
pub struct Pacer {
    rate: Option<Arc<DefaultDirectRateLimiter>>,
    slots: Option<Arc<Semaphore>>,
    max_concurrent: Option<usize>,
}

/// Held while a request is in flight; dropping it frees the slot.
#[derive(Debug)]
pub struct PacerPermit {
    _slot: Option<OwnedSemaphorePermit>,
}

impl Pacer {
    /// A pacer with the given limits; `None` leaves that limit off.
    /// A `max_concurrent` of zero is treated as one.
    pub fn new(requests_per_minute: Option<NonZeroU32>, max_concurrent: Option<usize>) -> Self {
        let max_concurrent = max_concurrent.map(|n| n.max(1));
        Self {
            rate: requests_per_minute.map(|n| {
                // A burst of one: requests are spread evenly over the minute
                // instead of a whole minute's quota going out at once.
                let quota = Quota::per_minute(n).allow_burst(NonZeroU32::MIN);
                Arc::new(RateLimiter::direct(quota))
            }),
            slots: max_concurrent.map(|n| Arc::new(Semaphore::new(n))),
            max_concurrent,
        }
    }

    /// A pacer that never waits.
    ///
    /// ```
    /// assert_eq!(ml_connector_retry::Pacer::unlimited().available_slots(), None);
    /// ```
    pub fn unlimited() -> Self {
        Self::default()
    }

    /// Waits for a free slot and for the rate limit, in that order, and
    /// returns a permit to hold for the duration of the request.
    pub async fn acquire(&self) -> PacerPermit {
        let slot = match &self.slots {
            // The semaphore is never closed, so acquiring cannot fail.
            Some(slots) => slots.clone().acquire_owned().await.ok(),
            None => None,
        };
        if let Some(rate) = &self.rate {
            rate.until_ready().await;
        }
        PacerPermit { _slot: slot }
    }

    /// Free in-flight slots right now, or `None` without a concurrency limit.
    pub fn available_slots(&self) -> Option<usize> {
        self.slots.as_ref().map(|s| s.available_permits())
    }

    /// The configured concurrency limit.
    pub fn max_concurrent(&self) -> Option<usize> {
        self.max_concurrent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn concurrency_is_capped_and_released_on_drop() {
        let pacer = Pacer::new(None, Some(1));
        let first = pacer.acquire().await;
        assert_eq!(pacer.available_slots(), Some(0));
        let waiting = tokio::spawn({
            let pacer = pacer.clone();
            async move {
                let _p = pacer.acquire().await;
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !waiting.is_finished(),
            "second request must wait for the slot"
        );
        drop(first);
        waiting.await.unwrap();
        assert_eq!(pacer.available_slots(), Some(1));
    }

    #[tokio::test]
    async fn rate_limit_spreads_requests() {
        // 1200 per minute = one every 50 ms after the first.
        let pacer = Pacer::new(NonZeroU32::new(1200), None);
        let start = Instant::now();
        for _ in 0..3 {
            let _p = pacer.acquire().await;
        }
        assert!(start.elapsed() >= Duration::from_millis(90));
    }

    #[tokio::test]
    async fn unlimited_never_waits() {
        let pacer = Pacer::unlimited();
        for _ in 0..1000 {
            let _p = pacer.acquire().await;
        }
        assert_eq!(pacer.max_concurrent(), None);
    }
}
