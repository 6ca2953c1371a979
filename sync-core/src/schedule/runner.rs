//! [`Runner`]: sleeps until the next due flow, leases it, runs it, and stops gracefully.
//!
//! For each due time the runner (in its own task, within the concurrency limits):
//! 1. acquires the flow's lease in the state store; if another replica holds it, skips;
//! 2. reads the flow's schedule mark (partition [`SCHEDULE_PARTITION`]); if that due time was
//!    already run by anyone, skips;
//! 3. runs the caller's job, renewing the lease every third of its TTL; if renewal fails, the
//!    job's [`StopSignal`] fires with [`StopReason::LeaseLost`];
//! 4. moves the schedule mark to the due time (compare-and-set, fenced), then releases the lease.
//!
//! So several runners sharing one PostgreSQL store run each due time of each flow once. The
//! mark moves after the job returns, failed or not: a failed run is recorded by the flow (run
//! history, dead letters) and retried at the next due time, not in a tight loop.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tracing::Instrument as _;

use super::{Clock, FlowSchedule, MissedRunPolicy, ScheduleError, SystemClock};
use crate::store::{Lease, StateStore};

/// The watermark partition where the runner keeps each flow's last due time run.
pub const SCHEDULE_PARTITION: &str = "@schedule";

/// What a job returns on failure.
pub type JobError = Box<dyn std::error::Error + Send + Sync>;

/// Why a running job is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The runner is shutting down: finish the current document, save state, return.
    Shutdown,
    /// The lease could not be renewed: stop at once; state writes will be refused.
    LeaseLost,
}

/// Tells a running job when to stop.
#[derive(Debug, Clone)]
pub struct StopSignal {
    rx: watch::Receiver<Option<StopReason>>,
}

impl StopSignal {
    /// Why the job should stop, if it should.
    pub fn reason(&self) -> Option<StopReason> {
        *self.rx.borrow()
    }

    /// Whether the job should stop.
    pub fn is_stopping(&self) -> bool {
        self.reason().is_some()
    }

    /// Waits until the job should stop.
    pub async fn stopped(&self) -> StopReason {
        let mut rx = self.rx.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(reason) => reason.unwrap_or(StopReason::Shutdown),
            // The runner is gone: nothing will renew the lease any more.
            Err(_) => StopReason::Shutdown,
        }
    }
}

/// What a job gets for one due time of its flow.
#[derive(Debug, Clone)]
pub struct FlowRun {
    /// The flow.
    pub flow: String,
    /// The due time being run (in UTC).
    pub occurrence: DateTime<Utc>,
    /// The lease to present on every state write (the runner keeps renewing it).
    pub lease: Lease,
    /// The state store the runner uses.
    pub store: Arc<dyn StateStore>,
    /// Fires when the job should stop.
    pub stop: StopSignal,
}

/// How one due time of one flow ended, on this runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// The job ran and returned `Ok`.
    Completed,
    /// The job ran and returned an error (or panicked).
    Failed(String),
    /// The lease was lost while the job ran.
    LeaseLost,
    /// Another replica holds the flow's lease.
    HeldElsewhere,
    /// The due time was already run (by another replica).
    AlreadyRan,
    /// The due time was missed beyond the grace and the policy is [`MissedRunPolicy::Skip`].
    MissedSkipped,
    /// Shutdown came before the run could start.
    NotStarted,
    /// The state store failed; the due time is left for the next one.
    StoreError(String),
}

/// One finished attempt, for observers (see [`RunnerBuilder::events`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerEvent {
    /// The flow.
    pub flow: String,
    /// The due time.
    pub occurrence: DateTime<Utc>,
    /// This runner's owner name.
    pub owner: String,
    /// How it ended.
    pub outcome: RunOutcome,
}

/// Counts of outcomes over a runner's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunnerReport {
    /// [`RunOutcome::Completed`].
    pub completed: u64,
    /// [`RunOutcome::Failed`].
    pub failed: u64,
    /// [`RunOutcome::LeaseLost`].
    pub lease_lost: u64,
    /// [`RunOutcome::HeldElsewhere`].
    pub held_elsewhere: u64,
    /// [`RunOutcome::AlreadyRan`].
    pub already_ran: u64,
    /// [`RunOutcome::MissedSkipped`].
    pub missed_skipped: u64,
    /// [`RunOutcome::NotStarted`].
    pub not_started: u64,
    /// [`RunOutcome::StoreError`].
    pub store_errors: u64,
}

impl RunnerReport {
    fn count(&mut self, outcome: &RunOutcome) {
        let slot = match outcome {
            RunOutcome::Completed => &mut self.completed,
            RunOutcome::Failed(_) => &mut self.failed,
            RunOutcome::LeaseLost => &mut self.lease_lost,
            RunOutcome::HeldElsewhere => &mut self.held_elsewhere,
            RunOutcome::AlreadyRan => &mut self.already_ran,
            RunOutcome::MissedSkipped => &mut self.missed_skipped,
            RunOutcome::NotStarted => &mut self.not_started,
            RunOutcome::StoreError(_) => &mut self.store_errors,
        };
        *slot += 1;
    }
}

/// Runs scheduled flows; built by [`Runner::builder`].
///
/// # Example
///
/// ```no_run
/// use std::sync::Arc;
/// use sync_core::schedule::{FlowSchedule, Runner};
/// use sync_core::store::SqliteStore;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Arc::new(SqliteStore::open("state.db").await?);
/// let runner = Runner::builder(store)
///     .schedule(FlowSchedule::new("gl-allocation", "0 2 1 * *", "Europe/Berlin")?.group("acumatica"))
///     .schedule(FlowSchedule::new("warehouse", "*/15 * * * *", "UTC")?.group("acumatica"))
///     .group_limit("acumatica", 1)
///     .build()?;
/// let report = runner
///     .run(
///         |run| async move {
///             // ... the flow, writing state with `run.lease`, checking `run.stop` between documents
///             println!("running {} due {}", run.flow, run.occurrence);
///             Ok(())
///         },
///         async { tokio::signal::ctrl_c().await.ok(); },
///     )
///     .await?;
/// println!("{report:?}");
/// # Ok(())
/// # }
/// ```
pub struct Runner {
    schedules: Vec<FlowSchedule>,
    store: Arc<dyn StateStore>,
    clock: Arc<dyn Clock>,
    owner: String,
    lease_ttl: Duration,
    max_concurrent: usize,
    group_limits: HashMap<String, usize>,
    misfire_grace: Duration,
    events: Option<mpsc::UnboundedSender<RunnerEvent>>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field(
                "flows",
                &self
                    .schedules
                    .iter()
                    .map(FlowSchedule::flow)
                    .collect::<Vec<_>>(),
            )
            .field("owner", &self.owner)
            .field("lease_ttl", &self.lease_ttl)
            .field("max_concurrent", &self.max_concurrent)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Runner`].
pub struct RunnerBuilder {
    inner: Runner,
}

impl Runner {
    /// Starts building a runner over `store`.
    pub fn builder(store: Arc<dyn StateStore>) -> RunnerBuilder {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".to_owned());
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        RunnerBuilder {
            inner: Runner {
                schedules: Vec::new(),
                store,
                clock: Arc::new(SystemClock),
                owner: format!("{host}:{}:{}", std::process::id(), &suffix[..8]),
                lease_ttl: Duration::from_secs(60),
                max_concurrent: 2,
                group_limits: HashMap::new(),
                misfire_grace: Duration::from_secs(60),
                events: None,
            },
        }
    }

    /// This runner's lease owner name.
    pub fn owner(&self) -> &str {
        &self.owner
    }
}

impl RunnerBuilder {
    /// Adds a flow's schedule.
    pub fn schedule(mut self, schedule: FlowSchedule) -> Self {
        self.inner.schedules.push(schedule);
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.inner.clock = clock;
        self
    }

    /// The lease owner name (default `HOSTNAME:pid:random`); unique per replica.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.inner.owner = owner.into();
        self
    }

    /// The lease TTL (default 60 s); the runner renews every third of it.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.inner.lease_ttl = ttl;
        self
    }

    /// The most flows running at once on this runner (default 2).
    pub fn max_concurrent(mut self, n: usize) -> Self {
        self.inner.max_concurrent = n;
        self
    }

    /// The most flows of `group` running at once (default: `max_concurrent`).
    pub fn group_limit(mut self, group: &str, n: usize) -> Self {
        self.inner.group_limits.insert(group.to_owned(), n);
        self
    }

    /// How late a due time may be noticed and still count as on time (default 60 s); later
    /// than that it is missed and the flow's [`MissedRunPolicy`] applies.
    pub fn misfire_grace(mut self, grace: Duration) -> Self {
        self.inner.misfire_grace = grace;
        self
    }

    /// Sends a [`RunnerEvent`] for every finished attempt.
    pub fn events(mut self, tx: mpsc::UnboundedSender<RunnerEvent>) -> Self {
        self.inner.events = Some(tx);
        self
    }

    /// Checks the settings and returns the runner.
    pub fn build(self) -> Result<Runner, ScheduleError> {
        let r = &self.inner;
        let invalid = |what, reason: &str| ScheduleError::InvalidConfig {
            what,
            reason: reason.to_owned(),
        };
        if r.schedules.is_empty() {
            return Err(invalid(
                "schedules",
                "none given; add at least one FlowSchedule",
            ));
        }
        let mut seen = HashSet::new();
        for s in &r.schedules {
            if !seen.insert(s.flow()) {
                return Err(ScheduleError::DuplicateFlow {
                    flow: s.flow().to_owned(),
                });
            }
        }
        if r.lease_ttl < Duration::from_secs(3) || r.lease_ttl > Duration::from_secs(24 * 3600) {
            return Err(invalid("lease_ttl", "use between 3 seconds and 24 hours"));
        }
        if r.max_concurrent == 0 {
            return Err(invalid(
                "max_concurrent",
                "0 would never run anything; use at least 1",
            ));
        }
        if let Some((g, _)) = r.group_limits.iter().find(|(_, n)| **n == 0) {
            return Err(ScheduleError::InvalidConfig {
                what: "group_limit",
                reason: format!("group `{g}` has limit 0 and would never run; use at least 1"),
            });
        }
        if r.owner.trim().is_empty() {
            return Err(invalid(
                "owner",
                "it is empty; give each replica a unique name",
            ));
        }
        Ok(self.inner)
    }
}

struct Shared<F> {
    store: Arc<dyn StateStore>,
    clock: Arc<dyn Clock>,
    owner: String,
    ttl: Duration,
    job: F,
}

fn mark_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn parse_mark(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl Runner {
    /// Runs until `shutdown` completes, then lets running jobs finish (their [`StopSignal`]
    /// fires with [`StopReason::Shutdown`]) and returns the counts.
    ///
    /// `job` is called once per due time won by this runner; a flow never runs twice at once
    /// on one runner, and with a shared store never twice at once anywhere.
    pub async fn run<F, Fut>(
        self,
        job: F,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<RunnerReport, ScheduleError>
    where
        F: Fn(FlowRun) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let shared = Arc::new(Shared {
            store: self.store.clone(),
            clock: self.clock.clone(),
            owner: self.owner.clone(),
            ttl: self.lease_ttl,
            job,
        });
        let (stop_tx, stop_rx) = watch::channel(None::<StopReason>);
        let global = Arc::new(Semaphore::new(self.max_concurrent));
        let mut groups: HashMap<&str, Arc<Semaphore>> = HashMap::new();
        for s in &self.schedules {
            let limit = self
                .group_limits
                .get(&s.group)
                .copied()
                .unwrap_or(self.max_concurrent);
            groups
                .entry(s.group.as_str())
                .or_insert_with(|| Arc::new(Semaphore::new(limit)));
        }

        let now = self.clock.now();
        let mut next_due = Vec::with_capacity(self.schedules.len());
        for s in &self.schedules {
            let mark = self
                .store
                .watermark(s.flow(), SCHEDULE_PARTITION)
                .await?
                .and_then(|m| parse_mark(&m.value));
            next_due.push(s.next_after(mark.unwrap_or(now))?);
        }
        tracing::info!(owner = %self.owner, flows = self.schedules.len(), "schedule runner started");

        let mut running = vec![false; self.schedules.len()];
        let mut tasks: JoinSet<(usize, DateTime<Utc>, RunOutcome)> = JoinSet::new();
        let mut report = RunnerReport::default();
        let grace = chrono::Duration::from_std(self.misfire_grace).unwrap_or(chrono::Duration::MAX);
        let mut shutdown = std::pin::pin!(shutdown);

        loop {
            let due = (0..self.schedules.len())
                .filter(|i| !running[*i])
                .map(|i| next_due[i])
                .min();
            let clock = self.clock.clone();
            let sleep = async move {
                match due {
                    Some(d) => clock.sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                    let (i, occurrence, outcome) = match joined {
                        Ok(done) => done,
                        // run_one catches job panics itself; this is only reached if the
                        // runtime is shutting down.
                        Err(e) => {
                            tracing::error!(error = %e, "schedule task ended abnormally");
                            continue;
                        }
                    };
                    running[i] = false;
                    next_due[i] = self.schedules[i]
                        .next_after(occurrence)
                        .unwrap_or(DateTime::<Utc>::MAX_UTC);
                    self.finish(&mut report, i, occurrence, outcome);
                    continue;
                }
                () = sleep => {}
            }

            let now = self.clock.now();
            for i in 0..self.schedules.len() {
                if running[i] || next_due[i] > now {
                    continue;
                }
                let schedule = &self.schedules[i];
                let occurrence = schedule.latest_at_or_before(now).unwrap_or(next_due[i]);
                let on_time = now - occurrence <= grace;
                if !on_time && schedule.missed == MissedRunPolicy::Skip {
                    tracing::warn!(flow = schedule.flow(), %occurrence, "due time missed; skipped by policy");
                    next_due[i] = schedule.next_after(now).unwrap_or(DateTime::<Utc>::MAX_UTC);
                    self.finish(&mut report, i, occurrence, RunOutcome::MissedSkipped);
                    continue;
                }
                if !on_time {
                    tracing::info!(flow = schedule.flow(), %occurrence, "due time missed; running once now");
                }
                running[i] = true;
                let permits = (global.clone(), groups[schedule.group.as_str()].clone());
                let span = tracing::info_span!("scheduled_run", flow = schedule.flow(), %occurrence, owner = %self.owner);
                let run = run_one(
                    shared.clone(),
                    schedule.flow().to_owned(),
                    occurrence,
                    permits,
                    stop_rx.clone(),
                );
                tasks.spawn(async move { (i, occurrence, run.await) }.instrument(span));
            }
        }

        tracing::info!(in_flight = tasks.len(), "schedule runner stopping");
        stop_tx.send_replace(Some(StopReason::Shutdown));
        while let Some(joined) = tasks.join_next().await {
            if let Ok((i, occurrence, outcome)) = joined {
                self.finish(&mut report, i, occurrence, outcome);
            }
        }
        tracing::info!(?report, "schedule runner stopped");
        Ok(report)
    }

    fn finish(
        &self,
        report: &mut RunnerReport,
        i: usize,
        occurrence: DateTime<Utc>,
        outcome: RunOutcome,
    ) {
        report.count(&outcome);
        if let Some(tx) = &self.events {
            let _ = tx.send(RunnerEvent {
                flow: self.schedules[i].flow().to_owned(),
                occurrence,
                owner: self.owner.clone(),
                outcome,
            });
        }
    }
}

async fn run_one<F, Fut>(
    shared: Arc<Shared<F>>,
    flow: String,
    occurrence: DateTime<Utc>,
    (global, group): (Arc<Semaphore>, Arc<Semaphore>),
    runner_stop: watch::Receiver<Option<StopReason>>,
) -> RunOutcome
where
    F: Fn(FlowRun) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), JobError>> + Send + 'static,
{
    let stop = StopSignal {
        rx: runner_stop.clone(),
    };
    // Wait for capacity, unless shutdown comes first.
    let permits = tokio::select! {
        biased;
        _ = stop.stopped() => return RunOutcome::NotStarted,
        permits = async {
            let g = group.acquire_owned().await;
            let a = global.acquire_owned().await;
            (g, a)
        } => permits,
    };
    let (Ok(_group_permit), Ok(_global_permit)) = permits else {
        return RunOutcome::NotStarted;
    };
    if stop.is_stopping() {
        return RunOutcome::NotStarted;
    }

    let store = &shared.store;
    let lease = match store.acquire_lease(&flow, &shared.owner, shared.ttl).await {
        Ok(Some(lease)) => lease,
        Ok(None) => return RunOutcome::HeldElsewhere,
        Err(e) => return RunOutcome::StoreError(e.to_string()),
    };
    let mark = match store.watermark(&flow, SCHEDULE_PARTITION).await {
        Ok(m) => m.map(|m| m.value),
        Err(e) => {
            let _ = store.release_lease(&lease).await;
            return RunOutcome::StoreError(e.to_string());
        }
    };
    if mark
        .as_deref()
        .and_then(parse_mark)
        .is_some_and(|m| m >= occurrence)
    {
        let _ = store.release_lease(&lease).await;
        return RunOutcome::AlreadyRan;
    }

    let (run_stop_tx, run_stop_rx) = watch::channel(None::<StopReason>);
    let run = FlowRun {
        flow: flow.clone(),
        occurrence,
        lease: lease.clone(),
        store: store.clone(),
        stop: StopSignal { rx: run_stop_rx },
    };
    // A separate task, so a panicking job is reported as a failure rather than taking the
    // runner down.
    let mut job = tokio::spawn((shared.job)(run));
    let renew_every = shared.ttl / 3;
    let mut renew_at =
        Some(shared.clock.now() + chrono::Duration::from_std(renew_every).unwrap_or_default());
    let mut lease_lost = false;
    let mut forwarded = false;
    let result = loop {
        let clock = shared.clock.clone();
        let renew = async move {
            match renew_at {
                Some(at) => clock.sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let shutdown = async {
            if forwarded {
                std::future::pending::<()>().await;
            }
            let mut rx = runner_stop.clone();
            let _ = rx.wait_for(Option::is_some).await;
        };
        tokio::select! {
            joined = &mut job => break joined,
            () = renew => {
                match store.renew_lease(&lease, shared.ttl).await {
                    Ok(_) => {
                        renew_at = Some(shared.clock.now() + chrono::Duration::from_std(renew_every).unwrap_or_default());
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "lease renewal failed; asking the job to stop");
                        lease_lost = lease_lost || e.is_fenced();
                        if e.is_fenced() {
                            renew_at = None;
                            run_stop_tx.send_replace(Some(StopReason::LeaseLost));
                        } else {
                            // A transient store error: try again soon, the lease may still be valid.
                            renew_at = Some(shared.clock.now() + chrono::Duration::seconds(1));
                        }
                    }
                }
            }
            () = shutdown => {
                forwarded = true;
                if run_stop_tx.borrow().is_none() {
                    run_stop_tx.send_replace(Some(StopReason::Shutdown));
                }
            }
        }
    };
    let outcome = match result {
        Ok(Ok(())) => RunOutcome::Completed,
        Ok(Err(e)) => RunOutcome::Failed(e.to_string()),
        Err(e) => RunOutcome::Failed(format!("the job panicked or was cancelled: {e}")),
    };
    if lease_lost {
        return RunOutcome::LeaseLost;
    }
    match store
        .set_watermark(
            &lease,
            SCHEDULE_PARTITION,
            mark.as_deref(),
            &mark_text(occurrence),
        )
        .await
    {
        Ok(_) => {}
        Err(e) if e.is_fenced() => return RunOutcome::LeaseLost,
        Err(e) => tracing::error!(error = %e, "could not record the due time as run"),
    }
    if let Err(e) = store.release_lease(&lease).await {
        tracing::warn!(error = %e, "could not release the lease; it expires by itself");
    }
    match &outcome {
        RunOutcome::Failed(e) => tracing::warn!(error = %e, "scheduled run failed"),
        _ => tracing::info!("scheduled run completed"),
    }
    outcome
}
