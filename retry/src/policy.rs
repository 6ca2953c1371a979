//! The retry loop: classification hooks around [`backon`].

use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use crate::observe;

/// What the retry loop needs to know about an error.
///
/// Each client's error type implements this; the loop never looks at HTTP
/// status codes itself, so the decision of what is safe to send again stays
/// with the client that knows whether a request is idempotent.
pub trait Classify {
    /// Whether sending the same request again may succeed and is safe.
    fn is_retryable(&self) -> bool;

    /// How long the server asked us to wait, when it said so (a
    /// `Retry-After` header or an equivalent body field).
    fn retry_after(&self) -> Option<Duration> {
        None
    }

    /// Whether nothing answered at the address at all (the connection was
    /// refused): a wrong URL or a stopped server, which waiting rarely fixes.
    /// Such errors get at most [`RetryPolicy::refused_attempts`] attempts.
    fn is_refused(&self) -> bool {
        false
    }

    /// The HTTP status of the response that failed, if one arrived (the
    /// retry summary counts the 429s).
    fn status(&self) -> Option<u16> {
        None
    }
}

/// How often and how long a safe request is retried.
///
/// Waits grow exponentially from [`initial_delay`](Self::with_initial_delay)
/// up to [`max_delay`](Self::with_max_delay); each wait is drawn uniformly
/// from zero to that step ("full jitter"), so many clients that failed
/// together do not come back together. When the server names a wait
/// (`Retry-After`), that wait is used instead, but never more than
/// [`retry_after_cap`](Self::with_retry_after_cap). The loop stops after
/// [`max_attempts`](Self::with_max_attempts) attempts or when the next wait
/// would pass [`max_elapsed`](Self::with_max_elapsed), whichever comes first,
/// and returns the last error.
///
/// ```
/// use std::time::Duration;
/// use ml_connector_retry::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .with_max_attempts(6)
///     .with_max_elapsed(Duration::from_secs(120));
/// assert_eq!(policy.max_attempts(), 6);
/// assert_eq!(RetryPolicy::never().max_attempts(), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_delay: Duration,
    max_delay: Duration,
    max_elapsed: Duration,
    retry_after_cap: Duration,
    refused_attempts: u32,
}

impl Default for RetryPolicy {
    /// Five attempts, waits from 500 ms up to 30 s, at most five minutes in
    /// all, a server-named wait capped at two minutes; three attempts when the
    /// connection is refused.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(300),
            retry_after_cap: Duration::from_secs(120),
            refused_attempts: 3,
        }
    }
}

impl RetryPolicy {
    /// A policy that makes one attempt and never retries.
    ///
    /// ```
    /// assert_eq!(ml_connector_retry::RetryPolicy::never().max_attempts(), 1);
    /// ```
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Total attempts, the first included (at least 1).
    ///
    /// ```
    /// let p = ml_connector_retry::RetryPolicy::default().with_max_attempts(0);
    /// assert_eq!(p.max_attempts(), 1);
    /// ```
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The first backoff step.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let p = ml_connector_retry::RetryPolicy::default().with_initial_delay(Duration::from_secs(1));
    /// assert_eq!(p.initial_delay(), Duration::from_secs(1));
    /// ```
    pub fn with_initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// The largest backoff step.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let p = ml_connector_retry::RetryPolicy::default().with_max_delay(Duration::from_secs(5));
    /// assert_eq!(p.max_delay(), Duration::from_secs(5));
    /// ```
    pub fn with_max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The longest the loop may spend, waits and attempts together, before it
    /// gives up. A wait that would pass this limit is not started.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let p = ml_connector_retry::RetryPolicy::default().with_max_elapsed(Duration::from_secs(60));
    /// assert_eq!(p.max_elapsed(), Duration::from_secs(60));
    /// ```
    pub fn with_max_elapsed(mut self, limit: Duration) -> Self {
        self.max_elapsed = limit;
        self
    }

    /// The longest wait taken from a server's `Retry-After`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let p = ml_connector_retry::RetryPolicy::default().with_retry_after_cap(Duration::from_secs(10));
    /// assert_eq!(p.retry_after_cap(), Duration::from_secs(10));
    /// ```
    pub fn with_retry_after_cap(mut self, cap: Duration) -> Self {
        self.retry_after_cap = cap;
        self
    }

    /// Attempts (the first included, at least 1) when the last error says the
    /// connection was refused ([`Classify::is_refused`]): a closed port fails
    /// within a second or two instead of after the whole backoff.
    ///
    /// ```
    /// let p = ml_connector_retry::RetryPolicy::default().with_refused_attempts(2);
    /// assert_eq!(p.refused_attempts(), 2);
    /// ```
    pub fn with_refused_attempts(mut self, attempts: u32) -> Self {
        self.refused_attempts = attempts.max(1);
        self
    }

    /// Attempts when the connection is refused.
    pub fn refused_attempts(&self) -> u32 {
        self.refused_attempts
    }

    /// Total attempts, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The first backoff step.
    pub fn initial_delay(&self) -> Duration {
        self.initial_delay
    }

    /// The largest backoff step.
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The overall time limit.
    pub fn max_elapsed(&self) -> Duration {
        self.max_elapsed
    }

    /// The cap on server-named waits.
    pub fn retry_after_cap(&self) -> Duration {
        self.retry_after_cap
    }

    /// Runs `op` until it succeeds, fails with an error that is not
    /// retryable, or the policy is exhausted; returns the last result.
    ///
    /// As [`run_for`](Self::run_for) with no system named.
    ///
    /// ```
    /// # use ml_connector_retry::{Classify, RetryPolicy};
    /// #[derive(Debug)]
    /// struct Fatal;
    /// impl std::fmt::Display for Fatal {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("fatal") }
    /// }
    /// impl Classify for Fatal { fn is_retryable(&self) -> bool { false } }
    ///
    /// let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    /// let mut calls = 0;
    /// let out: Result<(), Fatal> = rt.block_on(RetryPolicy::default().run("demo", || {
    ///     calls += 1;
    ///     async { Err(Fatal) }
    /// }));
    /// assert!(out.is_err());
    /// assert_eq!(calls, 1, "a non-retryable error is returned at once");
    /// ```
    pub async fn run<T, E, F, Fut>(&self, label: &str, op: F) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Classify + Display,
    {
        self.run_for("", label, op).await
    }

    /// Runs `op` of `system` (`acumatica`, `looker`) until it succeeds, fails
    /// with an error that is not retryable, or the policy is exhausted;
    /// returns the last result.
    ///
    /// Each retry is logged at `DEBUG`; a request that needed retries ends
    /// with one `WARN` summary ([`observe`](crate::observe)) that says how
    /// many, how many followed a 429, and whether it finally succeeded.
    /// `label` names the operation in those events (never put secrets in
    /// it). Sleeping uses `tokio::time`, so tests with a paused clock run
    /// instantly.
    ///
    /// ```
    /// # use ml_connector_retry::{Classify, RetryPolicy};
    /// #[derive(Debug)]
    /// struct Refused;
    /// impl std::fmt::Display for Refused {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("refused") }
    /// }
    /// impl Classify for Refused {
    ///     fn is_retryable(&self) -> bool { true }
    ///     fn is_refused(&self) -> bool { true }
    /// }
    ///
    /// let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    /// let mut calls = 0;
    /// let policy = RetryPolicy::default()
    ///     .with_max_attempts(10)
    ///     .with_initial_delay(std::time::Duration::from_millis(1));
    /// let out: Result<(), Refused> = rt.block_on(policy.run_for("demo", "GET /", || {
    ///     calls += 1;
    ///     async { Err(Refused) }
    /// }));
    /// assert!(out.is_err());
    /// assert_eq!(calls, 3, "a refused connection gets refused_attempts, not max_attempts");
    /// ```
    pub async fn run_for<T, E, F, Fut>(&self, system: &str, label: &str, op: F) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Classify + Display,
    {
        let started = tokio::time::Instant::now();
        let max_elapsed = self.max_elapsed;
        let cap = self.retry_after_cap;
        let refused_attempts = self.refused_attempts;
        let attempt = AtomicU32::new(1);
        let throttled = AtomicU32::new(0);
        let last_retried = Mutex::new(String::new());
        let max_attempts = self.max_attempts;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.initial_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize);

        let result = op
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|err: &E| err.is_retryable())
            .adjust(|err: &E, step: Option<Duration>| {
                // `step` is None once the attempts are used up: stop.
                let step = step?;
                if err.is_refused() && attempt.load(Ordering::Relaxed) >= refused_attempts {
                    return None;
                }
                let wait = match err.retry_after() {
                    Some(asked) => asked.min(cap),
                    None => full_jitter(step),
                };
                if started.elapsed() + wait > max_elapsed {
                    return None;
                }
                Some(wait)
            })
            .notify(|err: &E, wait: Duration| {
                let n = attempt.fetch_add(1, Ordering::Relaxed);
                if err.status() == Some(429) {
                    throttled.fetch_add(1, Ordering::Relaxed);
                }
                let text = err.to_string();
                tracing::debug!(
                    system,
                    operation = label,
                    attempt = n,
                    max_attempts,
                    wait_ms = wait.as_millis() as u64,
                    error = %text,
                    "retrying after a transient failure"
                );
                *last_retried.lock().unwrap_or_else(PoisonError::into_inner) = text;
            })
            .await;
        let retries = attempt.load(Ordering::Relaxed) - 1;
        if retries > 0 {
            let retried_error = last_retried
                .into_inner()
                .unwrap_or_else(PoisonError::into_inner);
            let last_error: &dyn Display = match &result {
                Err(e) => e,
                Ok(_) => &retried_error,
            };
            observe::retried(&observe::RetrySummary {
                system,
                operation: label,
                retries,
                throttled: throttled.load(Ordering::Relaxed),
                succeeded: result.is_ok(),
                last_error,
            });
        }
        result
    }
}

/// Whether `err` or one of its sources is an I/O error of kind
/// `ConnectionRefused`: nothing listens at the address. The clients use it
/// for [`Classify::is_refused`].
///
/// ```
/// let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
/// assert!(ml_connector_retry::is_connection_refused(&refused));
/// let timeout = std::io::Error::from(std::io::ErrorKind::TimedOut);
/// assert!(!ml_connector_retry::is_connection_refused(&timeout));
/// ```
pub fn is_connection_refused(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// A uniformly random wait in `[0, step]`, never below one millisecond so a
/// storm of failures cannot become a busy loop.
fn full_jitter(step: Duration) -> Duration {
    let nanos = u64::try_from(step.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(fastrand::u64(0..=nanos)).max(Duration::from_millis(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Debug, Clone, Default)]
    struct TestError {
        retryable: bool,
        retry_after: Option<Duration>,
        refused: bool,
        status: Option<u16>,
    }

    impl Display for TestError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "test error (retryable: {})", self.retryable)
        }
    }

    impl Classify for TestError {
        fn is_retryable(&self) -> bool {
            self.retryable
        }
        fn retry_after(&self) -> Option<Duration> {
            self.retry_after
        }
        fn is_refused(&self) -> bool {
            self.refused
        }
        fn status(&self) -> Option<u16> {
            self.status
        }
    }

    fn transient() -> TestError {
        TestError {
            retryable: true,
            ..TestError::default()
        }
    }

    /// Runs `policy` against a scripted sequence of results and returns the
    /// outcome, the number of calls and the instants (relative to the start)
    /// at which each call happened.
    async fn drive(
        policy: RetryPolicy,
        script: Vec<Result<u32, TestError>>,
    ) -> (Result<u32, TestError>, Vec<Duration>) {
        let start = tokio::time::Instant::now();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.into_iter()));
        let out = policy
            .run_for("test-system", "test", || {
                calls.lock().unwrap().push(start.elapsed());
                let next = script.lock().unwrap().next().expect("script too short");
                async move { next }
            })
            .await;
        let calls = calls.lock().unwrap().clone();
        (out, calls)
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_errors_until_success() {
        let (out, calls) = drive(
            RetryPolicy::default(),
            vec![Err(transient()), Err(transient()), Ok(7)],
        )
        .await;
        assert_eq!(out.unwrap(), 7);
        assert_eq!(calls.len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn stops_at_max_attempts_with_last_error() {
        let policy = RetryPolicy::default().with_max_attempts(3);
        let (out, calls) = drive(
            policy,
            vec![Err(transient()), Err(transient()), Err(transient())],
        )
        .await;
        assert!(out.unwrap_err().retryable);
        assert_eq!(calls.len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn never_retries_non_retryable() {
        let fatal = TestError::default();
        let (out, calls) = drive(RetryPolicy::default(), vec![Err(fatal)]).await;
        assert!(!out.unwrap_err().retryable);
        assert_eq!(calls.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn honours_retry_after() {
        let throttled = TestError {
            retryable: true,
            retry_after: Some(Duration::from_secs(7)),
            ..TestError::default()
        };
        let (out, calls) = drive(RetryPolicy::default(), vec![Err(throttled), Ok(1)]).await;
        assert_eq!(out.unwrap(), 1);
        assert_eq!(calls[1] - calls[0], Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn caps_retry_after() {
        let throttled = TestError {
            retryable: true,
            retry_after: Some(Duration::from_secs(3600)),
            ..TestError::default()
        };
        let policy = RetryPolicy::default().with_retry_after_cap(Duration::from_secs(9));
        let (out, calls) = drive(policy, vec![Err(throttled), Ok(1)]).await;
        assert_eq!(out.unwrap(), 1);
        assert_eq!(calls[1] - calls[0], Duration::from_secs(9));
    }

    #[tokio::test(start_paused = true)]
    async fn waits_are_jittered_and_bounded_by_the_exponential_step() {
        let policy = RetryPolicy::default()
            .with_max_attempts(5)
            .with_initial_delay(Duration::from_secs(1))
            .with_max_delay(Duration::from_secs(4));
        let (out, calls) = drive(
            policy,
            vec![
                Err(transient()),
                Err(transient()),
                Err(transient()),
                Err(transient()),
                Ok(0),
            ],
        )
        .await;
        assert!(out.is_ok());
        let steps = [1, 2, 4, 4];
        for (i, window) in calls.windows(2).enumerate() {
            let waited = window[1] - window[0];
            assert!(
                waited <= Duration::from_secs(steps[i]),
                "wait {i} was {waited:?}, above the step of {}s",
                steps[i]
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_when_the_next_wait_passes_max_elapsed() {
        let throttled = TestError {
            retryable: true,
            retry_after: Some(Duration::from_secs(40)),
            ..TestError::default()
        };
        let policy = RetryPolicy::default()
            .with_max_attempts(10)
            .with_max_elapsed(Duration::from_secs(100));
        let (out, calls) = drive(
            policy,
            vec![
                Err(throttled.clone()),
                Err(throttled.clone()),
                Err(throttled.clone()),
                Ok(1),
            ],
        )
        .await;
        // 0 s, 40 s, 80 s; a third wait would end at 120 s > 100 s.
        assert!(out.is_err());
        assert_eq!(calls.len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_connection_gets_only_the_refused_attempts() {
        let refused = TestError {
            retryable: true,
            refused: true,
            ..TestError::default()
        };
        let policy = RetryPolicy::default().with_max_attempts(10);
        let (out, calls) = drive(policy, vec![Err(refused); 10]).await;
        assert!(out.unwrap_err().refused);
        assert_eq!(
            calls.len(),
            3,
            "refused_attempts (3), not max_attempts (10)"
        );
        // Waits of the first two backoff steps at most: 0.5 s + 1 s.
        assert!(calls[2] <= Duration::from_millis(1500), "{calls:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_connection_then_other_errors_keeps_the_full_budget() {
        let refused = TestError {
            retryable: true,
            refused: true,
            ..TestError::default()
        };
        let policy = RetryPolicy::default().with_max_attempts(5);
        let (out, calls) = drive(
            policy,
            vec![
                Err(refused),
                Err(transient()),
                Err(transient()),
                Err(transient()),
                Ok(4),
            ],
        )
        .await;
        assert_eq!(out.unwrap(), 4);
        assert_eq!(calls.len(), 5);
    }

    /// The events of [`observe`] seen while `f` runs.
    fn observed<F: std::future::Future>(f: F) -> Vec<observe::HttpEvent> {
        use tracing_subscriber::layer::{Context, SubscriberExt};
        struct Collect(Arc<Mutex<Vec<observe::HttpEvent>>>);
        impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Collect {
            fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
                if let Some(e) = observe::HttpEvent::from_event(event) {
                    self.0.lock().unwrap().push(e);
                }
            }
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Collect(seen.clone()));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        tracing::subscriber::with_default(subscriber, || rt.block_on(f));
        seen.lock().unwrap().clone()
    }

    #[test]
    fn a_retried_request_is_summarized_once_with_its_429s() {
        let throttled = TestError {
            retryable: true,
            status: Some(429),
            retry_after: Some(Duration::from_secs(1)),
            ..TestError::default()
        };
        let events = observed(async {
            observe::exchange("looker", "GET", Some(429), Duration::from_millis(3));
            drive(
                RetryPolicy::default(),
                vec![
                    Err(throttled.clone()),
                    Err(throttled),
                    Err(transient()),
                    Ok(1),
                ],
            )
            .await
            .0
            .unwrap();
            // A request that needed no retry says nothing.
            drive(RetryPolicy::default(), vec![Ok(2)]).await.0.unwrap();
        });
        assert_eq!(
            events,
            vec![
                observe::HttpEvent::Exchange {
                    system: "looker".into(),
                    method: "GET".into(),
                    status: Some(429),
                    seconds: 0.003,
                },
                observe::HttpEvent::Retried {
                    system: "test-system".into(),
                    retries: 3,
                    throttled: 2,
                    succeeded: true,
                },
            ]
        );
    }

    #[test]
    fn full_jitter_stays_in_range() {
        for _ in 0..1000 {
            let w = full_jitter(Duration::from_millis(50));
            assert!(w >= Duration::from_millis(1) && w <= Duration::from_millis(50));
        }
    }
}
