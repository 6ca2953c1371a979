//! Two schedule runners sharing one state store run the real flows as jobs: each due flow runs
//! once, and the allocation is posted once. On SQLite (one file, two handles) and, when
//! `ML_CONNECTOR_TEST_POSTGRES_URL` is set, on PostgreSQL (one schema, two pools).
#![cfg(feature = "flows")]

mod flow_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use flow_support::{Env, open_period};
use sync_core::feed::{FeedConfig, FeedFlow};
use sync_core::post::{PostFlow, PostOptions};
use sync_core::schedule::{
    FlowRun, FlowSchedule, JobError, ManualClock, RunOutcome, Runner, RunnerEvent,
};
use sync_core::store::{PostgresStore, RunStatus, SqliteStore, StateStore};
use sync_core::warehouse::{SqliteWarehouse, TableSpec, WarehouseSink};
use testkit::looker::LookerConfig;
use testkit::seed;
use tokio::sync::{mpsc, oneshot};

async fn within<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .expect("the runners did not get there within 60 s")
}

struct Replica {
    store: Arc<dyn StateStore>,
    post: PostFlow,
    feed: FeedFlow,
}

async fn scenario(backend: &str, stores: [Arc<dyn StateStore>; 2], clock: ManualClock) {
    let month = seed::LAST_CLOSED_MONTH + 1;
    let env = Env::start(LookerConfig::default().with_months(month, month)).await;
    let dir = tempfile::tempdir().unwrap();
    let warehouse: Arc<dyn WarehouseSink> = Arc::new(
        SqliteWarehouse::open(dir.path().join("w.db"))
            .await
            .unwrap(),
    );
    let feed_config = FeedConfig::from_toml_str(
        "name = \"warehouse\"\nentities = [{ entity = \"JournalTransaction\" }]\n[options]\npage_size = 25\n",
    )
    .unwrap();
    let (etx, mut events) = mpsc::unbounded_channel::<RunnerEvent>();
    let mut handles = Vec::new();
    let mut shutdowns = Vec::new();
    let history = stores[0].clone();
    for (i, store) in stores.into_iter().enumerate() {
        let owner = format!("replica-{i}");
        let replica = Arc::new(Replica {
            post: env.post_flow_as(
                store.clone(),
                &open_period(),
                PostOptions::default(),
                &owner,
            ),
            feed: FeedFlow::from_config(
                &feed_config,
                env.acumatica.clone(),
                warehouse.clone(),
                store.clone(),
            )
            .unwrap(),
            store: store.clone(),
        });
        let runner = Runner::builder(replica.store.clone())
            .clock(Arc::new(clock.clone()))
            .owner(&owner)
            .lease_ttl(Duration::from_secs(30))
            .events(etx.clone())
            .schedule(FlowSchedule::new("overhead_allocation", "*/5 * * * *", "UTC").unwrap())
            .schedule(FlowSchedule::new("warehouse", "*/5 * * * *", "UTC").unwrap())
            .build()
            .unwrap();
        let job = move |run: FlowRun| {
            let replica = replica.clone();
            async move {
                match run.flow.as_str() {
                    "overhead_allocation" => {
                        let s = replica.post.run_scheduled(&run).await?;
                        if s.status != RunStatus::Succeeded {
                            return Err(format!("{s}").into());
                        }
                    }
                    _ => {
                        let s = replica.feed.run_scheduled(&run).await?;
                        if s.status != RunStatus::Succeeded {
                            return Err(format!("{s}").into());
                        }
                    }
                }
                Ok::<(), JobError>(())
            }
        };
        let (tx, rx) = oneshot::channel::<()>();
        handles.push(tokio::spawn(runner.run(job, async move {
            let _ = rx.await;
        })));
        shutdowns.push(tx);
    }

    for round in 1..=2 {
        within(clock.wait_for_sleepers(2)).await;
        clock.advance(Duration::from_secs(300));
        let mut per_flow: BTreeMap<String, Vec<RunOutcome>> = BTreeMap::new();
        for _ in 0..4 {
            let e = within(events.recv()).await.unwrap();
            per_flow.entry(e.flow).or_default().push(e.outcome);
        }
        for (flow, outcomes) in &per_flow {
            let completed = outcomes
                .iter()
                .filter(|o| **o == RunOutcome::Completed)
                .count();
            assert_eq!(completed, 1, "{backend} round {round} {flow}: {outcomes:?}");
        }
        assert_eq!(per_flow.len(), 2, "{backend}: {per_flow:?}");
        assert_eq!(
            env.acu.state().created("JournalTransaction"),
            3,
            "{backend} round {round}: the allocation is posted once"
        );
    }
    for tx in shutdowns {
        tx.send(()).unwrap();
    }
    for h in handles {
        h.await.unwrap().unwrap();
    }
    // The shared history holds each flow's two runs, each by one replica.
    for flow in ["overhead_allocation", "warehouse"] {
        let runs = history.recent_runs(flow, 10).await.unwrap();
        assert_eq!(runs.len(), 2, "{backend} {flow}: {runs:?}");
        assert!(
            runs.iter().all(|r| r.status == RunStatus::Succeeded),
            "{backend}: {runs:?}"
        );
    }
    let posted = history
        .recent_runs("overhead_allocation", 10)
        .await
        .unwrap();
    assert_eq!(posted[1].counts.written, 3, "{backend}");
    assert_eq!(
        posted[0].counts.written, 0,
        "{backend}: the second due time posted nothing"
    );
    let warehouse_count = warehouse
        .count(&TableSpec::journal_transaction())
        .await
        .unwrap();
    assert!(warehouse_count >= 60, "{backend}: {warehouse_count}");
    env.shutdown().await;
}

fn clock() -> ManualClock {
    ManualClock::new(Utc.with_ymd_and_hms(2026, 10, 31, 22, 0, 0).unwrap())
}

#[tokio::test]
async fn two_runners_on_one_sqlite_file_run_each_due_flow_once() {
    let clock = clock();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let open = || async {
        Arc::new(
            SqliteStore::builder(&path)
                .clock(Arc::new(clock.clone()))
                .build()
                .await
                .unwrap(),
        ) as Arc<dyn StateStore>
    };
    let stores = [open().await, open().await];
    scenario("sqlite", stores, clock.clone()).await;
}

#[tokio::test]
async fn two_runners_on_one_postgres_run_each_due_flow_once() {
    let Some(url) = flow_support::postgres_url() else {
        return;
    };
    let clock = clock();
    let schema = flow_support::fresh_schema();
    let open = || async {
        Arc::new(
            PostgresStore::builder(&url)
                .schema(&schema)
                .max_connections(4)
                .clock(Arc::new(clock.clone()))
                .build()
                .await
                .unwrap(),
        ) as Arc<dyn StateStore>
    };
    let stores = [open().await, open().await];
    scenario("postgres", stores, clock.clone()).await;
}
