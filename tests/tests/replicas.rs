//! Two live replicas of the post flow, one of them paused (SIGSTOP) past its lease while inside
//! a create, the other with a clock far from it: the paused one's write is applied by
//! Acumatica while it sleeps, the other takes the lease over, finds that journal by lookup and
//! posts the rest; when the paused one wakes, the store refuses its next write (no PUT is
//! sent), it stops naming the replica that took over, and Acumatica holds each journal exactly
//! once with the Looker figures.
//!
//! Replica A is the `crash_child` binary (so it can really be paused), replica B runs in this
//! process. B's clock is skewed: on SQLite (one machine, the process clock judges leases) it
//! runs an hour ahead, which is how B sees A's lease as expired; on PostgreSQL its clock starts
//! an hour *behind* and is then advanced past A's lease: only the advance moves the database's
//! clock, which alone judges leases there. Runs on SQLite always and on PostgreSQL when
//! `ML_CONNECTOR_TEST_POSTGRES_URL` is set.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use ml_connector_tests::harness;
use sync_core::key::extract_key;
use sync_core::schedule::ManualClock;
use sync_core::store::{PostgresStore, RunStatus, SqliteStore, StateStore};
use testkit::acumatica::{AcumaticaFake, AcumaticaOptions};
use testkit::faults::{FaultKind, FaultRule};
use testkit::looker::{LookerConfig, LookerFake};
use testkit::seed;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

const CHILD: &str = env!("CARGO_BIN_EXE_crash_child");
const PG_VAR: &str = "ML_CONNECTOR_TEST_POSTGRES_URL";
const JT_PUT: &str = "/entity/Default/24.200.001/JournalTransaction";
const FLOW: &str = "overhead_allocation";

enum Store {
    Sqlite(std::path::PathBuf),
    Postgres { url: String, schema: String },
}

impl Store {
    fn target(&self) -> (String, Option<String>) {
        match self {
            Self::Sqlite(p) => (p.display().to_string(), None),
            Self::Postgres { url, schema } => (url.clone(), Some(schema.clone())),
        }
    }

    /// Replica B's store, whose clock is skewed (see the module docs).
    async fn replica_b(&self) -> Arc<dyn StateStore> {
        match self {
            Self::Sqlite(p) => {
                let ahead = ManualClock::new(chrono::Utc::now() + chrono::Duration::hours(1));
                Arc::new(
                    SqliteStore::builder(p)
                        .clock(Arc::new(ahead))
                        .build()
                        .await
                        .unwrap(),
                )
            }
            Self::Postgres { url, schema } => {
                let behind = ManualClock::new(chrono::Utc::now() - chrono::Duration::hours(1));
                let store = PostgresStore::builder(url)
                    .schema(schema)
                    .max_connections(4)
                    .clock(Arc::new(behind.clone()))
                    .build()
                    .await
                    .unwrap();
                // Past A's lease (300 s by default) by the database's clock.
                behind.advance(Duration::from_secs(600));
                Arc::new(store)
            }
        }
    }
}

async fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {sig} {pid}");
}

async fn paused_replica_cannot_write_after_takeover(store: Store) {
    let acu = AcumaticaFake::start(AcumaticaOptions::default().max_sessions(100))
        .await
        .unwrap();
    let months = harness::months();
    let month = months[0];
    let looker_fake =
        LookerFake::new(LookerConfig::default().with_months(month, *months.last().unwrap()))
            .unwrap();
    let looker = looker_fake.serve().await.unwrap();
    // A's first create is held by the server long enough to pause A inside it.
    let held = acu.faults().add(
        FaultRule::new(FaultKind::Latency(Duration::from_millis(1500)))
            .method("PUT")
            .path(JT_PUT)
            .times(1),
    );

    let (target, schema) = store.target();
    let mut cmd = Command::new(CHILD);
    cmd.env("CRASH_ACUMATICA_URL", acu.url())
        .env("CRASH_LOOKER_URL", looker.url())
        .env("CRASH_STORE", &target)
        .env("CRASH_WAREHOUSE", "unused-by-post-only")
        .env("CRASH_POST_ONLY_MONTH", month.to_string())
        .env("CRASH_OWNER", "replica-a")
        .env_remove("CRASH_STORE_SCHEMA")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(s) = &schema {
        cmd.env("CRASH_STORE_SCHEMA", s);
    }
    let mut a = cmd.spawn().expect("start replica A");
    let pid = a.id().expect("replica A runs");

    // A is inside its first create: pause it there.
    wait_for("replica A's first PUT", || acu.faults().matched(held) >= 1).await;
    signal(pid, "-STOP");
    // The server applies A's write while A sleeps.
    wait_for("the held PUT to be applied", || {
        acu.state().created("JournalTransaction") >= 1
    })
    .await;

    // Replica B takes over (A's lease has run out by B's store's clock) and runs the month.
    let store_b = store.replica_b().await;
    let acumatica = harness::acumatica_client(acu.url(), harness::Retries::Fast);
    let looker_client = harness::looker_client(looker.url(), harness::Retries::Fast);
    let flow_b = harness::post_flow(
        &looker_client,
        &acumatica,
        store_b.clone(),
        month,
        "replica-b",
    )
    .unwrap();
    let summary = flow_b.run().await.expect("replica B runs the month");
    assert_eq!(summary.status, RunStatus::Succeeded, "{summary}");
    let puts = acu.log().count("PUT", JT_PUT);
    assert_eq!(puts, seed::BRANCHES.len(), "A's one create and B's others");

    // A wakes up: its next write is refused by the store's fence, and it sends no PUT.
    signal(pid, "-CONT");
    let status = tokio::time::timeout(Duration::from_secs(60), a.wait())
        .await
        .expect("replica A stops after waking")
        .unwrap();
    let mut err = String::new();
    a.stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .await
        .unwrap();
    assert!(!status.success(), "replica A must fail: {err}");
    assert!(
        err.contains("was lost") && err.contains("granted to `replica-b`"),
        "replica A reports the lost lease naming the new owner: {err}"
    );
    assert_eq!(
        acu.log().count("PUT", JT_PUT),
        puts,
        "replica A sent a PUT after losing its lease"
    );

    // Exactly once, with the Looker figures.
    let period = seed::period_id(month);
    for (bi, branch) in seed::BRANCHES.iter().enumerate() {
        let batches: Vec<_> = acu
            .state()
            .journal_transactions()
            .into_iter()
            .filter(|b| b.description.as_deref().and_then(extract_key).is_some())
            .filter(|b| b.post_period.as_deref() == Some(period.as_str()))
            .filter(|b| b.branch.as_deref() == Some(branch.id))
            .collect();
        assert_eq!(batches.len(), 1, "{period} {}: {batches:?}", branch.id);
        let debit: rust_decimal::Decimal = batches[0].lines.iter().map(|l| l.debit).sum();
        let credit: rust_decimal::Decimal = batches[0].lines.iter().map(|l| l.credit).sum();
        let pool = testkit::looker::overhead_pool(month, bi);
        assert_eq!((debit, credit), (pool, pool), "{period} {}", branch.id);
    }
    // A's run was closed as abandoned; B's succeeded.
    let runs = store_b.recent_runs(FLOW, 5).await.unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0].status, RunStatus::Succeeded);
    assert_eq!(runs[0].owner, "replica-b");
    assert_eq!(runs[1].status, RunStatus::Abandoned, "{:?}", runs[1]);
    assert_eq!(runs[1].owner, "replica-a");
    looker.shutdown().await;
    acu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_replica_cannot_write_after_takeover_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    paused_replica_cannot_write_after_takeover(Store::Sqlite(dir.path().join("state.db"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_replica_cannot_write_after_takeover_postgres() {
    let Some(url) = std::env::var(PG_VAR).ok().filter(|u| !u.trim().is_empty()) else {
        println!("skipped: {PG_VAR} not set");
        return;
    };
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    paused_replica_cannot_write_after_takeover(Store::Postgres { url, schema }).await;
}
