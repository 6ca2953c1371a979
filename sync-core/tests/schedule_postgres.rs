//! Two schedule runners sharing one PostgreSQL store run each due flow exactly once
//! (skipped without `ML_CONNECTOR_TEST_POSTGRES_URL`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sync_core::schedule::{
    FlowRun, FlowSchedule, JobError, ManualClock, RunOutcome, Runner, RunnerEvent,
};
use sync_core::store::PostgresStore;
use tokio::sync::{mpsc, oneshot};

/// Fails (instead of hanging) when something the test waits for never happens.
async fn within<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .expect("the runner did not get there within 60 s")
}

/// (flow, due time, replica) of every job call.
type Calls = Arc<Mutex<Vec<(String, DateTime<Utc>, String)>>>;

const URL_VAR: &str = "ML_CONNECTOR_TEST_POSTGRES_URL";

#[tokio::test]
async fn two_runners_run_each_due_flow_once() {
    let Ok(url) = std::env::var(URL_VAR) else {
        println!("skipped: {URL_VAR} not set");
        return;
    };
    let start = Utc.with_ymd_and_hms(2026, 1, 31, 22, 0, 0).unwrap();
    let clock = ManualClock::new(start);
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let calls: Calls = Arc::default();
    let (etx, mut events) = mpsc::unbounded_channel::<RunnerEvent>();
    let mut handles = Vec::new();
    let mut shutdowns = Vec::new();
    for name in ["replica-a", "replica-b"] {
        // Each replica has its own store (its own connection pool) on the shared database.
        let store = PostgresStore::builder(&url)
            .schema(&schema)
            .max_connections(4)
            .clock(Arc::new(clock.clone()))
            .build()
            .await
            .unwrap();
        let runner = Runner::builder(Arc::new(store))
            .clock(Arc::new(clock.clone()))
            .owner(name)
            .lease_ttl(Duration::from_secs(30))
            .events(etx.clone())
            .schedule(FlowSchedule::new("gl-allocation", "*/5 * * * *", "UTC").unwrap())
            .schedule(FlowSchedule::new("warehouse", "*/5 * * * *", "UTC").unwrap())
            .build()
            .unwrap();
        let calls = calls.clone();
        let owner = name.to_owned();
        let job = move |run: FlowRun| {
            calls
                .lock()
                .unwrap()
                .push((run.flow.clone(), run.occurrence, owner.clone()));
            async move {
                // Real work writes state under the lease; do one write to prove it is valid.
                run.store
                    .set_watermark(&run.lease, "probe", None, "x")
                    .await
                    .ok();
                Ok::<(), JobError>(())
            }
        };
        let (tx, rx) = oneshot::channel::<()>();
        handles.push(tokio::spawn(runner.run(job, async move {
            let _ = rx.await;
        })));
        shutdowns.push(tx);
    }

    for round in 1..=3 {
        within(clock.wait_for_sleepers(2)).await;
        clock.advance(Duration::from_secs(300));
        let due = start + chrono::Duration::minutes(5 * round);
        // Each runner reports one outcome per flow for this due time.
        let mut per_flow: BTreeMap<String, Vec<RunOutcome>> = BTreeMap::new();
        for _ in 0..4 {
            let e = within(events.recv()).await.unwrap();
            assert_eq!(e.occurrence, due, "{e:?}");
            per_flow.entry(e.flow).or_default().push(e.outcome);
        }
        for (flow, outcomes) in &per_flow {
            let completed = outcomes
                .iter()
                .filter(|o| **o == RunOutcome::Completed)
                .count();
            assert_eq!(completed, 1, "round {round}, flow {flow}: {outcomes:?}");
            assert!(
                outcomes.iter().all(|o| matches!(
                    o,
                    RunOutcome::Completed | RunOutcome::HeldElsewhere | RunOutcome::AlreadyRan
                )),
                "round {round}, flow {flow}: {outcomes:?}"
            );
        }
        assert_eq!(per_flow.len(), 2);
    }
    for tx in shutdowns {
        tx.send(()).unwrap();
    }
    let mut completed = 0;
    for h in handles {
        completed += h.await.unwrap().unwrap().completed;
    }
    assert_eq!(completed, 6);
    let calls = calls.lock().unwrap();
    let mut keys: Vec<_> = calls.iter().map(|(f, t, _)| (f.clone(), *t)).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(
        keys.len(),
        6,
        "each (flow, due time) ran exactly once: {calls:?}"
    );
    assert_eq!(calls.len(), 6, "{calls:?}");
}
