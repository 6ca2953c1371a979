//! The schedule runner against a SQLite store, with a manual clock: due times, missed runs,
//! bounded concurrency, graceful shutdown, lost leases and failing jobs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sync_core::schedule::{
    Clock, FlowRun, FlowSchedule, JobError, ManualClock, MissedRunPolicy, RunOutcome, Runner,
    RunnerEvent, RunnerReport, SCHEDULE_PARTITION, ScheduleError, StopReason,
};
use sync_core::store::{SqliteStore, StateStore};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

/// Fails (instead of hanging) when something the test waits for never happens.
async fn within<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .expect("the runner did not get there within 60 s")
}

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 31, h, m, s).unwrap()
}

struct Fixture {
    store: Arc<SqliteStore>,
    clock: ManualClock,
    _dir: tempfile::TempDir,
}

async fn fixture(start: DateTime<Utc>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(start);
    let store = SqliteStore::builder(dir.path().join("state.db"))
        .clock(Arc::new(clock.clone()))
        .build()
        .await
        .unwrap();
    Fixture {
        store: Arc::new(store),
        clock,
        _dir: dir,
    }
}

impl Fixture {
    fn runner(
        &self,
        events: mpsc::UnboundedSender<RunnerEvent>,
    ) -> sync_core::schedule::RunnerBuilder {
        Runner::builder(self.store.clone())
            .clock(Arc::new(self.clock.clone()))
            .owner("runner-1")
            .lease_ttl(Duration::from_secs(30))
            .events(events)
    }

    /// Pretends an earlier process ran `flow` up to `mark`.
    async fn set_mark(&self, flow: &str, mark: &str) {
        let lease = self
            .store
            .acquire_lease(flow, "earlier", Duration::from_secs(30))
            .await
            .unwrap()
            .unwrap();
        self.store
            .set_watermark(&lease, SCHEDULE_PARTITION, None, mark)
            .await
            .unwrap();
        self.store.release_lease(&lease).await.unwrap();
    }
}

type Calls = Arc<Mutex<Vec<(String, DateTime<Utc>)>>>;

fn spawn<F, Fut>(
    runner: Runner,
    job: F,
) -> (
    JoinHandle<Result<RunnerReport, ScheduleError>>,
    oneshot::Sender<()>,
)
where
    F: Fn(FlowRun) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), JobError>> + Send + 'static,
{
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(runner.run(job, async move {
        let _ = rx.await;
    }));
    (handle, tx)
}

fn recording(
    calls: &Calls,
) -> impl Fn(FlowRun) -> std::future::Ready<Result<(), JobError>> + Send + Sync + 'static {
    let calls = calls.clone();
    move |run: FlowRun| {
        calls
            .lock()
            .unwrap()
            .push((run.flow.clone(), run.occurrence));
        std::future::ready(Ok(()))
    }
}

/// Lets spawned tasks make progress; used only to show that nothing *else* happens.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn runs_each_due_time_once_and_sleeps_in_between() {
    let f = fixture(at(22, 0, 0)).await;
    let (etx, mut events) = mpsc::unbounded_channel();
    let runner = f
        .runner(etx)
        .schedule(FlowSchedule::new("warehouse", "*/5 * * * *", "UTC").unwrap())
        .build()
        .unwrap();
    let calls = Calls::default();
    let (handle, shutdown) = spawn(runner, recording(&calls));

    within(f.clock.wait_for_sleepers(1)).await;
    settle().await;
    assert!(calls.lock().unwrap().is_empty(), "nothing is due at start");

    f.clock.advance(Duration::from_secs(300));
    let e = within(events.recv()).await.unwrap();
    assert_eq!(
        (e.flow.as_str(), e.occurrence, &e.outcome),
        ("warehouse", at(22, 5, 0), &RunOutcome::Completed)
    );
    assert_eq!(e.owner, "runner-1");

    within(f.clock.wait_for_sleepers(1)).await;
    f.clock.advance(Duration::from_secs(240)); // 22:09: not due yet
    settle().await;
    assert!(events.try_recv().is_err());
    f.clock.advance(Duration::from_secs(60)); // 22:10
    let e = within(events.recv()).await.unwrap();
    assert_eq!(e.occurrence, at(22, 10, 0));

    shutdown.send(()).unwrap();
    let report = handle.await.unwrap().unwrap();
    assert_eq!(report.completed, 2);
    assert_eq!(
        *calls.lock().unwrap(),
        [
            ("warehouse".to_owned(), at(22, 5, 0)),
            ("warehouse".to_owned(), at(22, 10, 0))
        ]
    );
    let mark = f
        .store
        .watermark("warehouse", SCHEDULE_PARTITION)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mark.value, "2026-01-31T22:10:00Z");
    // The lease was released after each run.
    assert!(
        f.store
            .acquire_lease("warehouse", "someone-else", Duration::from_secs(30))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_due_time_noticed_within_the_grace_runs_whatever_the_policy() {
    let f = fixture(at(22, 0, 40)).await;
    f.set_mark("catch-up", "2026-01-31T21:00:00Z").await;
    f.set_mark("skipper", "2026-01-31T21:00:00Z").await;
    // Due at 22:00 too, but noticed within the grace: on time whatever the policy.
    f.set_mark("in-grace", "2026-01-31T21:55:00Z").await;

    let (etx, mut events) = mpsc::unbounded_channel();
    let runner = f
        .runner(etx)
        .misfire_grace(Duration::from_secs(60))
        .max_concurrent(3)
        .schedule(
            FlowSchedule::new("catch-up", "*/5 * * * *", "UTC")
                .unwrap()
                .missed(MissedRunPolicy::RunOnce),
        )
        .schedule(
            FlowSchedule::new("skipper", "*/5 * * * *", "UTC")
                .unwrap()
                .missed(MissedRunPolicy::Skip),
        )
        .schedule(
            FlowSchedule::new("in-grace", "*/5 * * * *", "UTC")
                .unwrap()
                .missed(MissedRunPolicy::Skip),
        )
        .build()
        .unwrap();
    // At 22:00:40 the latest due time (22:00) is 40 s old: within the grace for all three,
    // although two of them also missed eleven earlier due times (coalesced into this run).
    let calls = Calls::default();
    let (handle, shutdown) = spawn(runner, recording(&calls));

    let mut got = Vec::new();
    for _ in 0..3 {
        let e = within(events.recv()).await.unwrap();
        got.push((e.flow, e.occurrence, e.outcome));
    }
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            ("catch-up".to_owned(), at(22, 0, 0), RunOutcome::Completed),
            ("in-grace".to_owned(), at(22, 0, 0), RunOutcome::Completed),
            ("skipper".to_owned(), at(22, 0, 0), RunOutcome::Completed),
        ],
        "at 22:00:40 the latest due time (22:00) is within the grace for every flow"
    );
    shutdown.send(()).unwrap();
    handle.await.unwrap().unwrap();
}

#[tokio::test]
async fn missed_runs_beyond_the_grace_run_once_or_are_skipped() {
    let f = fixture(at(22, 2, 30)).await;
    f.set_mark("catch-up", "2026-01-31T21:00:00Z").await;
    f.set_mark("skipper", "2026-01-31T21:00:00Z").await;
    let (etx, mut events) = mpsc::unbounded_channel();
    let runner = f
        .runner(etx)
        .misfire_grace(Duration::from_secs(60))
        .schedule(
            FlowSchedule::new("catch-up", "*/5 * * * *", "UTC")
                .unwrap()
                .missed(MissedRunPolicy::RunOnce),
        )
        .schedule(
            FlowSchedule::new("skipper", "*/5 * * * *", "UTC")
                .unwrap()
                .missed(MissedRunPolicy::Skip),
        )
        .build()
        .unwrap();
    let calls = Calls::default();
    let (handle, shutdown) = spawn(runner, recording(&calls));

    let mut got = Vec::new();
    for _ in 0..2 {
        let e = within(events.recv()).await.unwrap();
        got.push((e.flow, e.occurrence, e.outcome));
    }
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            ("catch-up".to_owned(), at(22, 0, 0), RunOutcome::Completed),
            (
                "skipper".to_owned(),
                at(22, 0, 0),
                RunOutcome::MissedSkipped
            ),
        ]
    );
    // Twelve due times were missed; the catch-up ran once, the skipper not at all.
    assert_eq!(
        *calls.lock().unwrap(),
        [("catch-up".to_owned(), at(22, 0, 0))]
    );

    // Both run normally at the next due time.
    within(f.clock.wait_for_sleepers(1)).await;
    f.clock.set(at(22, 5, 0));
    let mut next = vec![
        within(events.recv()).await.unwrap(),
        within(events.recv()).await.unwrap(),
    ];
    next.sort_by(|a, b| a.flow.cmp(&b.flow));
    assert!(
        next.iter()
            .all(|e| e.occurrence == at(22, 5, 0) && e.outcome == RunOutcome::Completed),
        "{next:?}"
    );
    shutdown.send(()).unwrap();
    let report = handle.await.unwrap().unwrap();
    assert_eq!((report.completed, report.missed_skipped), (3, 1));
}

#[tokio::test]
async fn concurrency_is_bounded_globally_and_per_group() {
    let f = fixture(at(22, 0, 0)).await;
    let (etx, mut events) = mpsc::unbounded_channel();
    let runner = f
        .runner(etx)
        .max_concurrent(2)
        .group_limit("acumatica", 1)
        .schedule(
            FlowSchedule::new("acu-1", "*/5 * * * *", "UTC")
                .unwrap()
                .group("acumatica"),
        )
        .schedule(
            FlowSchedule::new("acu-2", "*/5 * * * *", "UTC")
                .unwrap()
                .group("acumatica"),
        )
        .schedule(
            FlowSchedule::new("looker-1", "*/5 * * * *", "UTC")
                .unwrap()
                .group("looker"),
        )
        .schedule(
            FlowSchedule::new("looker-2", "*/5 * * * *", "UTC")
                .unwrap()
                .group("looker"),
        )
        .build()
        .unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let active = Arc::new(AtomicUsize::new(0));
    let active_acumatica = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let max_acumatica = Arc::new(AtomicUsize::new(0));
    let (started_tx, mut started) = mpsc::unbounded_channel::<String>();
    let job = {
        let (gate, active, active_acumatica, max_seen, max_acumatica) = (
            gate.clone(),
            active.clone(),
            active_acumatica.clone(),
            max_seen.clone(),
            max_acumatica.clone(),
        );
        move |run: FlowRun| {
            let (gate, active, active_acumatica, max_seen, max_acumatica, started_tx) = (
                gate.clone(),
                active.clone(),
                active_acumatica.clone(),
                max_seen.clone(),
                max_acumatica.clone(),
                started_tx.clone(),
            );
            async move {
                let acu = run.flow.starts_with("acu");
                max_seen.fetch_max(active.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                if acu {
                    max_acumatica.fetch_max(
                        active_acumatica.fetch_add(1, Ordering::SeqCst) + 1,
                        Ordering::SeqCst,
                    );
                }
                started_tx.send(run.flow.clone()).unwrap();
                gate.acquire().await.unwrap().forget();
                if acu {
                    active_acumatica.fetch_sub(1, Ordering::SeqCst);
                }
                active.fetch_sub(1, Ordering::SeqCst);
                Ok::<(), JobError>(())
            }
        }
    };
    let (handle, shutdown) = spawn(runner, job);
    within(f.clock.wait_for_sleepers(1)).await;
    f.clock.advance(Duration::from_secs(300));

    let mut first = vec![
        within(started.recv()).await.unwrap(),
        within(started.recv()).await.unwrap(),
    ];
    settle().await;
    assert!(
        started.try_recv().is_err(),
        "a third flow started beyond max_concurrent = 2"
    );
    first.sort();
    assert_eq!(
        first.iter().filter(|f| f.starts_with("acu")).count(),
        1,
        "{first:?}"
    );

    let mut all = first;
    for _ in 0..2 {
        gate.add_permits(1);
        all.push(within(started.recv()).await.unwrap());
    }
    gate.add_permits(2);
    for _ in 0..4 {
        assert_eq!(
            within(events.recv()).await.unwrap().outcome,
            RunOutcome::Completed
        );
    }
    all.sort();
    assert_eq!(all, ["acu-1", "acu-2", "looker-1", "looker-2"]);
    assert_eq!(max_seen.load(Ordering::SeqCst), 2);
    assert_eq!(max_acumatica.load(Ordering::SeqCst), 1);
    shutdown.send(()).unwrap();
    assert_eq!(handle.await.unwrap().unwrap().completed, 4);
}

#[tokio::test]
async fn shutdown_lets_the_current_run_finish_and_save_state() {
    let f = fixture(at(22, 0, 0)).await;
    let (etx, _events) = mpsc::unbounded_channel();
    let runner = f
        .runner(etx)
        .schedule(FlowSchedule::new("alloc", "*/5 * * * *", "UTC").unwrap())
        .build()
        .unwrap();
    let (started_tx, mut started) = mpsc::unbounded_channel::<()>();
    let seen_reason = Arc::new(Mutex::new(None));
    let job = {
        let seen_reason = seen_reason.clone();
        move |run: FlowRun| {
            let (started_tx, seen_reason) = (started_tx.clone(), seen_reason.clone());
            async move {
                started_tx.send(()).unwrap();
                let reason = run.stop.stopped().await;
                *seen_reason.lock().unwrap() = Some(reason);
                // "Finish the current document and save state": the lease is still good.
                run.store
                    .set_watermark(&run.lease, "202601", None, "doc-17")
                    .await?;
                Ok::<(), JobError>(())
            }
        }
    };
    let (handle, shutdown) = spawn(runner, job);
    within(f.clock.wait_for_sleepers(1)).await;
    f.clock.advance(Duration::from_secs(300));
    within(started.recv()).await.unwrap();
    shutdown.send(()).unwrap();
    let report = handle.await.unwrap().unwrap();

    assert_eq!(*seen_reason.lock().unwrap(), Some(StopReason::Shutdown));
    assert_eq!(report.completed, 1);
    assert_eq!(
        f.store
            .watermark("alloc", "202601")
            .await
            .unwrap()
            .unwrap()
            .value,
        "doc-17"
    );
    assert_eq!(
        f.store
            .watermark("alloc", SCHEDULE_PARTITION)
            .await
            .unwrap()
            .unwrap()
            .value,
        "2026-01-31T22:05:00Z"
    );
    assert!(
        f.store
            .acquire_lease("alloc", "next", Duration::from_secs(30))
            .await
            .unwrap()
            .is_some(),
        "lease released"
    );
}

#[tokio::test]
async fn a_lost_lease_stops_the_job_and_its_writes() {
    let f = fixture(at(22, 0, 0)).await;
    let (etx, mut events) = mpsc::unbounded_channel();
    let runner = f
        .runner(etx)
        .schedule(FlowSchedule::new("alloc", "*/5 * * * *", "UTC").unwrap())
        .build()
        .unwrap();
    let (started_tx, mut started) = mpsc::unbounded_channel::<()>();
    let write_result = Arc::new(Mutex::new(None));
    let job = {
        let write_result = write_result.clone();
        move |run: FlowRun| {
            let (started_tx, write_result) = (started_tx.clone(), write_result.clone());
            async move {
                started_tx.send(()).unwrap();
                let reason = run.stop.stopped().await;
                let res = run.store.set_watermark(&run.lease, "p", None, "late").await;
                *write_result.lock().unwrap() = Some((reason, res.map_err(|e| e.is_fenced())));
                Ok::<(), JobError>(())
            }
        }
    };
    let (handle, shutdown) = spawn(runner, job);
    within(f.clock.wait_for_sleepers(1)).await;
    f.clock.advance(Duration::from_secs(300));
    within(started.recv()).await.unwrap();
    // The process stalls for longer than the TTL (the renewal comes too late).
    f.clock.advance(Duration::from_secs(45));
    let e = within(events.recv()).await.unwrap();
    assert_eq!(e.outcome, RunOutcome::LeaseLost);
    let (reason, res) = write_result.lock().unwrap().take().unwrap();
    assert_eq!(reason, StopReason::LeaseLost);
    assert_eq!(
        res,
        Err(true),
        "the write after losing the lease is refused as fenced"
    );
    assert!(
        f.store
            .watermark("alloc", SCHEDULE_PARTITION)
            .await
            .unwrap()
            .is_none()
    );
    shutdown.send(()).unwrap();
    assert_eq!(handle.await.unwrap().unwrap().lease_lost, 1);
}

#[tokio::test]
async fn failing_and_panicking_jobs_are_reported_and_the_runner_goes_on() {
    let f = fixture(at(22, 0, 0)).await;
    let (etx, mut events) = mpsc::unbounded_channel();
    let runner = f
        .runner(etx)
        .schedule(FlowSchedule::new("fails", "*/5 * * * *", "UTC").unwrap())
        .schedule(FlowSchedule::new("panics", "*/5 * * * *", "UTC").unwrap())
        .build()
        .unwrap();
    let job = |run: FlowRun| async move {
        if run.flow == "panics" {
            panic!("boom in the job");
        }
        Err::<(), JobError>("Acumatica answered 500".into())
    };
    let (handle, shutdown) = spawn(runner, job);
    for round in 1..=2 {
        within(f.clock.wait_for_sleepers(1)).await;
        f.clock.advance(Duration::from_secs(300));
        let mut got = [
            within(events.recv()).await.unwrap(),
            within(events.recv()).await.unwrap(),
        ];
        got.sort_by(|a, b| a.flow.cmp(&b.flow));
        assert_eq!(
            got[0].outcome,
            RunOutcome::Failed("Acumatica answered 500".into()),
            "round {round}"
        );
        assert!(
            matches!(&got[1].outcome, RunOutcome::Failed(m) if m.contains("panicked")),
            "{:?}",
            got[1]
        );
    }
    shutdown.send(()).unwrap();
    let report = handle.await.unwrap().unwrap();
    assert_eq!(report.failed, 4);
    // Failed runs still count as run: the next due time is the next attempt.
    assert_eq!(
        f.store
            .watermark("fails", SCHEDULE_PARTITION)
            .await
            .unwrap()
            .unwrap()
            .value,
        "2026-01-31T22:10:00Z"
    );
}

#[tokio::test]
async fn schedules_and_settings_are_validated() {
    let err = FlowSchedule::new("f", "61 * * * *", "UTC").unwrap_err();
    assert!(matches!(err, ScheduleError::InvalidCron { .. }), "{err:?}");
    assert!(err.to_string().contains("\"61 * * * *\""), "{err}");
    let err = FlowSchedule::new("f", "0 2 * * *", "Mars/Olympus").unwrap_err();
    assert!(err.to_string().contains("Mars/Olympus"), "{err}");

    let f = fixture(at(22, 0, 0)).await;
    let s = || FlowSchedule::new("f", "0 2 * * *", "UTC").unwrap();
    let err = Runner::builder(f.store.clone())
        .schedule(s())
        .schedule(s())
        .build()
        .unwrap_err();
    assert!(
        matches!(err, ScheduleError::DuplicateFlow { .. }),
        "{err:?}"
    );
    let err = Runner::builder(f.store.clone())
        .schedule(s())
        .max_concurrent(0)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("max_concurrent"), "{err}");
    let err = Runner::builder(f.store.clone())
        .schedule(s())
        .group_limit("acumatica", 0)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("acumatica"), "{err}");
    let err = Runner::builder(f.store.clone()).build().unwrap_err();
    assert!(err.to_string().contains("add at least one"), "{err}");
}

#[test]
fn cadences_follow_their_time_zone() {
    // 02:00 in Berlin: 01:00 UTC in winter (CET), 00:00 UTC in summer (CEST).
    let s = FlowSchedule::new("f", "0 2 * * *", "Europe/Berlin").unwrap();
    assert_eq!(
        s.next_after(at(12, 0, 0)).unwrap(),
        Utc.with_ymd_and_hms(2026, 2, 1, 1, 0, 0).unwrap()
    );
    let july = Utc.with_ymd_and_hms(2026, 7, 1, 12, 0, 0).unwrap();
    assert_eq!(
        s.next_after(july).unwrap(),
        Utc.with_ymd_and_hms(2026, 7, 2, 0, 0, 0).unwrap()
    );
    // Across the spring-forward night (29 March 2026, 02:00 does not exist) the schedule still
    // fires once that day or the next, and never goes backwards.
    let before = Utc.with_ymd_and_hms(2026, 3, 28, 12, 0, 0).unwrap();
    let n1 = s.next_after(before).unwrap();
    let n2 = s.next_after(n1).unwrap();
    assert!(n1 > before && n2 > n1);
    assert!(
        n1 < Utc.with_ymd_and_hms(2026, 3, 30, 12, 0, 0).unwrap(),
        "{n1}"
    );
    // 09:30 New York on weekdays.
    let ny = FlowSchedule::new("f", "30 9 * * MON-FRI", "America/New_York").unwrap();
    // Saturday 31 January -> Monday 2 February, 14:30 UTC (EST).
    assert_eq!(
        ny.next_after(at(22, 0, 0)).unwrap(),
        Utc.with_ymd_and_hms(2026, 2, 2, 14, 30, 0).unwrap()
    );
    assert_eq!(
        ny.latest_at_or_before(at(22, 0, 0)).unwrap(),
        Utc.with_ymd_and_hms(2026, 1, 30, 14, 30, 0).unwrap()
    );
}

#[tokio::test]
async fn manual_clock_wakes_sleepers_only_at_their_deadline() {
    let clock = ManualClock::new(at(0, 0, 0));
    let c = clock.clone();
    let woke = tokio::spawn(async move {
        c.sleep_until(at(0, 1, 0)).await;
        c.now()
    });
    within(clock.wait_for_sleepers(1)).await;
    clock.advance(Duration::from_secs(59));
    settle().await;
    assert!(!woke.is_finished());
    assert_eq!(clock.sleepers(), 1);
    clock.advance(Duration::from_secs(1));
    assert_eq!(woke.await.unwrap(), at(0, 1, 0));
    assert_eq!(clock.sleepers(), 0);
}

#[tokio::test]
async fn a_long_run_keeps_its_lease_by_renewing_it() {
    let f = fixture(at(22, 0, 0)).await;
    let (etx, mut events) = mpsc::unbounded_channel();
    let runner = f
        .runner(etx)
        .schedule(FlowSchedule::new("long", "*/5 * * * *", "UTC").unwrap())
        .build()
        .unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let (started_tx, mut started) = mpsc::unbounded_channel::<()>();
    let job = {
        let gate = gate.clone();
        move |run: FlowRun| {
            let (gate, started_tx) = (gate.clone(), started_tx.clone());
            async move {
                started_tx.send(()).unwrap();
                gate.acquire().await.unwrap().forget();
                // Two minutes later, four TTLs after the lease was granted, it still writes.
                run.store
                    .set_watermark(&run.lease, "p", None, "done")
                    .await?;
                Ok::<(), JobError>(())
            }
        }
    };
    let (handle, shutdown) = spawn(runner, job);
    within(f.clock.wait_for_sleepers(1)).await;
    f.clock.advance(Duration::from_secs(300));
    within(started.recv()).await.unwrap();
    // 12 steps of 10 s: the runner renews every 10 s (a third of the 30 s TTL).
    for _ in 0..12 {
        within(f.clock.wait_for_idle(1)).await; // the renewal timer (the main loop waits on the run)
        f.clock.advance(Duration::from_secs(10));
        assert!(
            f.store
                .acquire_lease("long", "intruder", Duration::from_secs(30))
                .await
                .unwrap()
                .is_none(),
            "the lease must stay with the runner while it renews"
        );
    }
    gate.add_permits(1);
    let e = within(events.recv()).await.unwrap();
    assert_eq!(e.outcome, RunOutcome::Completed);
    assert_eq!(
        f.store.watermark("long", "p").await.unwrap().unwrap().value,
        "done"
    );
    shutdown.send(()).unwrap();
    handle.await.unwrap().unwrap();
}
