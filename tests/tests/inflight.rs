//! SIGKILL while a journal's insert is held in Acumatica's licence queue, and a restart at once
//! — with the same lease owner, and with another one (another replica, or a restarted
//! container that took a new identity).
//!
//! The child (`crash_child`) posts the month-end journals, then runs the reference flow and the
//! feed, against fakes that live in this process. The fake holds the first journal insert
//! ([`FaultKind::Queued`]) and applies it only when this test lets it, as Acumatica's queue
//! would within its ten minutes. The test kills the child while the insert is held, starts the
//! next one at once, and releases the held insert only after the new child's reconciliation
//! has looked the journal up and found nothing (its audit trail says "reconcile deferred").
//! The write lands after that lookup; the new child must not have created it again, and once
//! its settle horizon has passed it reruns and finds it. At the end Acumatica holds each
//! journal exactly once, each balanced to the allocation pool (the Looker figures).
//!
//! The horizon is short here (seconds, configured in the child) and covers the time this test
//! holds the write, as the production default (request timeout plus the queue's ten minutes)
//! covers Acumatica's. On SQLite always, on PostgreSQL when `ML_CONNECTOR_TEST_POSTGRES_URL`
//! is set; `concurrency` 1 with the same owner, 4 with another owner.

use std::process::Stdio;
use std::time::Duration;

use ml_connector_tests::harness;
use sync_core::store::{LedgerFilter, LedgerState, StateStore};
use testkit::acumatica::{AcumaticaFake, AcumaticaOptions};
use testkit::faults::{FaultKind, FaultRule};
use testkit::looker::{LookerConfig, LookerFake};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

const CHILD: &str = env!("CARGO_BIN_EXE_crash_child");
const PG_VAR: &str = "ML_CONNECTOR_TEST_POSTGRES_URL";
const JT_PUT: &str = "/entity/Default/24.200.001/JournalTransaction";
const FLOW: &str = "overhead_allocation";
/// Long enough for anything the test waits for; a hang fails instead of blocking CI.
const PATIENCE: Duration = Duration::from_secs(180);
/// The killed child's lease: another owner takes over once it has expired.
const LEASE_TTL_SECS: u64 = 10;

struct Case {
    name: String,
    store: String,
    store_schema: Option<String>,
    warehouse: String,
    warehouse_schema: Option<String>,
    /// The restarted child's owner is the killed one's.
    same_owner: bool,
    concurrency: usize,
}

impl Case {
    /// Covers the time until the restarted child looks the held journal up (another owner
    /// first waits for the killed child's lease to expire) plus the test's release.
    fn settle_horizon_secs(&self) -> u64 {
        if self.same_owner {
            8
        } else {
            LEASE_TTL_SECS + 10
        }
    }

    fn child(&self, owner: &str, acu: &str, looker: &str) -> Child {
        let mut cmd = Command::new(CHILD);
        cmd.env("CRASH_ACUMATICA_URL", acu)
            .env("CRASH_LOOKER_URL", looker)
            .env("CRASH_STORE", &self.store)
            .env("CRASH_WAREHOUSE", &self.warehouse)
            .env_remove("CRASH_STORE_SCHEMA")
            .env_remove("CRASH_WAREHOUSE_SCHEMA")
            .env("CRASH_OWNER", owner)
            .env(
                "CRASH_SETTLE_HORIZON_SECS",
                self.settle_horizon_secs().to_string(),
            )
            .env("CRASH_LEASE_TTL_SECS", LEASE_TTL_SECS.to_string())
            .env("CRASH_CONCURRENCY", self.concurrency.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(s) = &self.store_schema {
            cmd.env("CRASH_STORE_SCHEMA", s);
        }
        if let Some(s) = &self.warehouse_schema {
            cmd.env("CRASH_WAREHOUSE_SCHEMA", s);
        }
        cmd.spawn().expect("start crash_child")
    }
}

/// Whether a reconciliation left an intended journal pending because its insert may still be
/// queued (the audit trail of some intended key says so).
async fn deferred_seen(store: &dyn StateStore) -> bool {
    let filter = LedgerFilter {
        state: Some(LedgerState::Intended),
        partition: None,
    };
    let Ok(entries) = store.ledger_entries(FLOW, &filter).await else {
        return false;
    };
    for e in entries {
        if let Ok(events) = store.audit_for_key(FLOW, &e.natural_key).await
            && events
                .iter()
                .any(|a| a.outcome.starts_with("reconcile deferred"))
        {
            return true;
        }
    }
    false
}

async fn run_case(case: Case) {
    let name = case.name.clone();
    let acu = AcumaticaFake::start(
        AcumaticaOptions::default()
            .journal_transactions(12)
            .max_sessions(10_000),
    )
    .await
    .unwrap();
    let months = harness::months();
    let looker_fake =
        LookerFake::new(LookerConfig::default().with_months(months[0], *months.last().unwrap()))
            .unwrap();
    let looker = looker_fake.serve().await.unwrap();
    harness::drift_vendors(&harness::acumatica_client(
        acu.url(),
        harness::Retries::Fast,
    ))
    .await;
    acu.faults().add(
        FaultRule::new(FaultKind::Queued(Duration::from_secs(3600)))
            .method("PUT")
            .path(JT_PUT)
            .times(1),
    );

    // The first child sends the first insert, which the queue holds: kill it there.
    let mut first = case.child("inflight-a", acu.url(), looker.url());
    tokio::select! {
        _ = acu.faults().wait_queued_held(1) => {}
        status = first.wait() => panic!("[{name}] the child ended before its insert was queued: {status:?}"),
        _ = tokio::time::sleep(PATIENCE) => panic!("[{name}] no insert reached the queue"),
    }
    first.start_kill().unwrap(); // SIGKILL
    first.wait().await.unwrap();
    let applied_before = acu.state().created("JournalTransaction");

    // Restart at once.
    let owner = if case.same_owner {
        "inflight-a"
    } else {
        "inflight-b"
    };
    let mut second = case.child(owner, acu.url(), looker.url());
    let store = harness::open_store(&case.store, case.store_schema.as_deref())
        .await
        .unwrap();
    // Release the held insert once the new child's lookup has missed it (or it has ended).
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut seen = false;
    let mut ended = None;
    while tokio::time::Instant::now() < deadline {
        if deferred_seen(store.as_ref()).await {
            seen = true;
            break;
        }
        if let Some(status) = second.try_wait().unwrap() {
            ended = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    acu.faults().release_queued();
    acu.faults().wait_queued_applied(1).await;
    let status = match ended {
        Some(s) => s,
        None => tokio::time::timeout(PATIENCE, second.wait())
            .await
            .unwrap_or_else(|_| panic!("[{name}] the restarted child hangs"))
            .unwrap(),
    };
    let mut err = String::new();
    if let Some(mut e) = second.stderr.take() {
        e.read_to_string(&mut err).await.unwrap();
    }

    let journals = harness::check_journals(acu.state());
    println!(
        "[{name}] killed with the insert held ({applied_before} journal(s) created before); restarted child: {status}; reconcile deferred: {seen}; end: {journals:?}"
    );
    let expected = journals.unwrap_or_else(|e| panic!("[{name}] exactly-once violated: {e}"));
    assert_eq!(expected, months.len() * testkit::seed::BRANCHES.len());
    assert!(
        status.success(),
        "[{name}] the restarted child failed: {err}"
    );
    assert!(
        seen,
        "[{name}] the restarted child never left the held journal pending"
    );
    harness::check_vendors(acu.state())
        .unwrap_or_else(|e| panic!("[{name}] vendors not in step: {e}"));
    let warehouse = harness::open_warehouse(&case.warehouse, case.warehouse_schema.as_deref())
        .await
        .unwrap();
    harness::check_warehouse(acu.state(), warehouse.as_ref())
        .await
        .unwrap_or_else(|e| panic!("[{name}] warehouse differs from the source: {e}"));
    looker.shutdown().await;
    acu.shutdown().await;
}

fn cases(
    backend: &str,
    make: impl Fn(&str) -> (String, Option<String>, String, Option<String>),
) -> Vec<Case> {
    [(true, 1), (false, 4)]
        .into_iter()
        .map(|(same_owner, concurrency)| {
            let tag = if same_owner { "same" } else { "other" };
            let (store, store_schema, warehouse, warehouse_schema) = make(tag);
            Case {
                name: format!("{backend}, {tag} owner, concurrency {concurrency}"),
                store,
                store_schema,
                warehouse,
                warehouse_schema,
                same_owner,
                concurrency,
            }
        })
        .collect()
}

async fn run_all(cases: Vec<Case>) {
    let mut set = tokio::task::JoinSet::new();
    for case in cases {
        set.spawn(run_case(case));
    }
    while let Some(r) = set.join_next().await {
        if let Err(e) = r {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_an_insert_is_queued_then_restart_at_once_posts_it_once_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_owned();
    run_all(cases("sqlite", |tag| {
        (
            base.join(format!("state-{tag}.db")).display().to_string(),
            None,
            base.join(format!("warehouse-{tag}.db"))
                .display()
                .to_string(),
            None,
        )
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_an_insert_is_queued_then_restart_at_once_posts_it_once_postgres() {
    let url = match std::env::var(PG_VAR) {
        Ok(u) if !u.trim().is_empty() => u,
        _ => {
            println!("skipped: {PG_VAR} not set");
            return;
        }
    };
    run_all(cases("postgres", |_| {
        let id = uuid::Uuid::new_v4().simple().to_string();
        (
            url.clone(),
            Some(format!("inflight_s_{id}")),
            url.clone(),
            Some(format!("inflight_w_{id}")),
        )
    }))
    .await;
}
