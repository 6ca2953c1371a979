//! Stopping on a signal: the first SIGINT (Ctrl-C) or SIGTERM asks the work to stop, a second
//! one (or the stop timeout) cuts it short.
//!
//! [`Stop::listen`] starts listening for both signals. The first one:
//! - turns [`Stop::requested`] to `true`: the flows stop taking new work between documents,
//!   finish the one in flight and record their run as interrupted with what they did;
//! - starts the clock of `--stop-timeout`: [`Stop::cut_short`] resolves once the work has had
//!   its share of the timeout ([`Stop::drain_budget`]), leaving the rest for the clean-up
//!   (recording the runs still open, releasing leases, signing out).
//!
//! A second signal resolves [`Stop::cut_short`] at once with [`Cut::Now`]: the command records
//! what it can within [`QUICK_CLEANUP`] and exits with 128 + the signal number.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// The default of `--stop-timeout`: below systemd's default stop timeout (90 s) and Docker's
/// (10 s after SIGTERM comes SIGKILL, so set `--stop-timeout` below `docker stop -t`).
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// What a second signal leaves for recording the runs and signing out before the process exits.
pub const QUICK_CLEANUP: Duration = Duration::from_secs(2);

/// The part of the stop timeout kept for the clean-up after the work stopped: recording runs
/// cut short, releasing leases and signing out (a third of the timeout, at most 5 s).
fn cleanup_budget(timeout: Duration) -> Duration {
    (timeout / 3).min(Duration::from_secs(5))
}

/// A signal the command stops on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (service managers, `docker stop`, `kill`).
    Terminate,
}

impl Signal {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }

    /// Its number (2 or 15): a process that exits at once on it exits 128 + this.
    pub fn number(self) -> u8 {
        match self {
            Signal::Interrupt => 2,
            Signal::Terminate => 15,
        }
    }
}

/// Why [`Stop::cut_short`] resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// The work used its share of the stop timeout.
    Timeout,
    /// A second signal: exit at once.
    Now(Signal),
}

#[derive(Debug, Default)]
struct State {
    first: Option<(Signal, Instant)>,
    second: Option<Signal>,
}

/// The signals a command stops on, and the stop timeout. Cheap to clone.
///
/// ```no_run
/// use std::time::Duration;
/// use connector_examples::stop::Stop;
///
/// # async fn demo() {
/// let stop = Stop::listen(Duration::from_secs(20));
/// let flag = stop.requested(); // hand to the flows: they stop between documents
/// tokio::select! {
///     () = async { /* the work */ } => {}
///     cut = stop.cut_short() => println!("cut short: {cut:?}"),
/// }
/// # let _ = flag; }
/// ```
#[derive(Debug, Clone)]
pub struct Stop {
    timeout: Duration,
    state: Arc<Mutex<State>>,
    changed: watch::Receiver<u8>,
}

impl Stop {
    /// Starts listening for SIGINT and SIGTERM (replacing their default of killing the
    /// process); `timeout` is `--stop-timeout`.
    pub fn listen(timeout: Duration) -> Stop {
        let (tx, rx) = watch::channel(0u8);
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Stop {
            timeout,
            state: state.clone(),
            changed: rx,
        };
        tokio::spawn(async move {
            let mut signals = Signals::new();
            loop {
                let signal = signals.next().await;
                let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
                if s.first.is_none() {
                    s.first = Some((signal, Instant::now()));
                    drop(s);
                    tracing::warn!(
                        signal = signal.name(),
                        stop_timeout_secs = timeout.as_secs_f64(),
                        "{} received: stopping; the documents in flight are finished and the runs recorded as interrupted (within {} s); send it again to exit at once",
                        signal.name(),
                        timeout.as_secs_f64()
                    );
                    tx.send_replace(1);
                } else {
                    s.second = Some(signal);
                    drop(s);
                    tracing::warn!(
                        signal = signal.name(),
                        "{} received again: exiting at once, recording what can be recorded",
                        signal.name()
                    );
                    tx.send_replace(2);
                    return;
                }
            }
        });
        stop
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `--stop-timeout`.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The first signal, once it came.
    pub fn signal(&self) -> Option<Signal> {
        self.lock().first.map(|(s, _)| s)
    }

    /// Whether a first signal came.
    pub fn is_requested(&self) -> bool {
        self.lock().first.is_some()
    }

    /// A flag that turns `true` at the first signal (for the flows' `run_with_shutdown`).
    pub fn requested(&self) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(self.is_requested());
        let mut changed = self.changed.clone();
        tokio::spawn(async move {
            if changed.wait_for(|n| *n >= 1).await.is_ok() {
                tx.send_replace(true);
                // Keep the sender until every receiver is gone, so the flag stays readable.
                tx.closed().await;
            }
        });
        rx
    }

    /// Resolves at the first signal.
    pub async fn first(&self) {
        let mut changed = self.changed.clone();
        if changed.wait_for(|n| *n >= 1).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// How long the work may take after the first signal before it is cut short.
    pub fn drain_budget(&self) -> Duration {
        self.timeout.saturating_sub(cleanup_budget(self.timeout))
    }

    /// Resolves when the work must be cut short: a second signal, or the work's share of the
    /// stop timeout ([`drain_budget`](Self::drain_budget)) after the first signal.
    pub async fn cut_short(&self) -> Cut {
        self.first().await;
        let started = self.lock().first.map_or_else(Instant::now, |(_, at)| at);
        let mut changed = self.changed.clone();
        tokio::select! {
            _ = changed.wait_for(|n| *n >= 2) => {}
            () = tokio::time::sleep_until(started + self.drain_budget()) => return Cut::Timeout,
        }
        let second = self.lock().second;
        match second {
            Some(signal) => Cut::Now(signal),
            None => std::future::pending().await,
        }
    }

    /// The time left for clean-up: until the end of the stop timeout after a first signal
    /// (at least 1 s), [`QUICK_CLEANUP`] after a second, `default` without a signal.
    pub fn cleanup_time(&self, default: Duration) -> Duration {
        let s = self.lock();
        if s.second.is_some() {
            return QUICK_CLEANUP;
        }
        match s.first {
            Some((_, at)) => (at + self.timeout)
                .saturating_duration_since(Instant::now())
                .max(Duration::from_secs(1)),
            None => default,
        }
    }

    /// The second signal, if one came.
    pub fn second(&self) -> Option<Signal> {
        self.lock().second
    }
}

/// SIGINT and SIGTERM as one stream.
struct Signals {
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind, name| match signal(kind) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for {name}");
                    None
                }
            };
            Signals {
                int: listen(SignalKind::interrupt(), "SIGINT"),
                term: listen(SignalKind::terminate(), "SIGTERM"),
            }
        }
        #[cfg(not(unix))]
        {
            Signals {}
        }
    }

    async fn next(&mut self) -> Signal {
        #[cfg(unix)]
        {
            async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        if s.recv().await.is_none() {
                            std::future::pending::<()>().await;
                        }
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                () = recv(&mut self.int) => Signal::Interrupt,
                () = recv(&mut self.term) => Signal::Terminate,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Signal::Interrupt
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clean_up_keeps_a_third_of_the_timeout_up_to_five_seconds() {
        assert_eq!(
            cleanup_budget(Duration::from_secs(20)),
            Duration::from_secs(5)
        );
        assert_eq!(
            cleanup_budget(Duration::from_secs(6)),
            Duration::from_secs(2)
        );
        assert_eq!(Signal::Terminate.number(), 15);
        assert_eq!(Signal::Interrupt.number(), 2);
    }
}
