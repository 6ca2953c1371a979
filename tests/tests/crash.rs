//! Crash test: the month-end post flow, the approved-vendor reference flow and the warehouse
//! feed run in a child process (`crash_child`) that is killed with SIGKILL at random points and
//! started again, until one incarnation completes; then Acumatica must hold each expected
//! journal exactly once, every vendor must hold Looker's values with the missing one created
//! exactly once, and the warehouse must equal the source. The fakes live in this process, so they outlive every
//! child.
//!
//! Kill points are chosen by a seeded generator as "after the child made N more requests"
//! (counted in the fakes' request logs), which spreads them over login, the Looker query,
//! the lookups, the insert-only PUTs, the ledger writes and the feed's pages. The seed is
//! printed; set `CRASH_SEED` to replay a plan and `CRASH_KILLS` for more kills (default 20
//! per backend). Between incarnations the Acumatica data changes (records inserted, touched
//! and deleted), so the feed always has new work when it is killed, and the fake lists in a
//! new order on every request. The feed scans for deletes on every run, so at the end every
//! deleted journal must be marked deleted in the warehouse and every other record current.
//!
//! Runs on SQLite always and on PostgreSQL when `ML_CONNECTOR_TEST_POSTGRES_URL` is set (a
//! fresh schema per run).

use std::process::Stdio;
use std::time::{Duration, Instant};

use ml_connector_tests::harness;
use testkit::acumatica::{AcumaticaFake, AcumaticaOptions, ListOrder, MidListingMutation};
use testkit::looker::{LookerConfig, LookerFake};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

const CHILD: &str = env!("CARGO_BIN_EXE_crash_child");
const PG_VAR: &str = "ML_CONNECTOR_TEST_POSTGRES_URL";

/// Where one round keeps its state.
struct Backend {
    name: &'static str,
    store: String,
    store_schema: Option<String>,
    warehouse: String,
    warehouse_schema: Option<String>,
}

struct Outcome {
    kills: u32,
    starts: u32,
    requests: usize,
}

fn seed() -> u64 {
    match std::env::var("CRASH_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .expect("CRASH_SEED must be an unsigned integer"),
        Err(_) => fastrand::u64(..),
    }
}

fn kills_wanted() -> u32 {
    std::env::var("CRASH_KILLS")
        .ok()
        .map(|s| s.trim().parse().expect("CRASH_KILLS must be a number"))
        .unwrap_or(20)
}

/// One round: fresh fakes and fresh state, children killed at the plan's points until one
/// completes, then the end state checked.
async fn round(rng: &mut fastrand::Rng, backend: &Backend, max_kills: u32) -> Outcome {
    let acu = AcumaticaFake::start(
        AcumaticaOptions::default()
            .journal_transactions(12)
            // Every killed child leaves its OAuth session counted until the token expires;
            // the crash test is about the ledger, not the licence, so allow plenty.
            .max_sessions(10_000)
            // A new list order on every request (the contract API promises none): the feed
            // must lose nothing whatever order the pages come in.
            .list_order(ListOrder::Shuffled { seed: rng.u64(..) }),
    )
    .await
    .unwrap();
    let months = harness::months();
    let looker_fake =
        LookerFake::new(LookerConfig::default().with_months(months[0], *months.last().unwrap()))
            .unwrap();
    let looker = looker_fake.serve().await.unwrap();
    // Acumatica out of step with Looker's vendor list: one update and one insert to make.
    harness::drift_vendors(&harness::acumatica_client(
        acu.url(),
        harness::Retries::Fast,
    ))
    .await;
    let requests = || acu.log().len() + looker.log().len();

    let mut out = Outcome {
        kills: 0,
        starts: 0,
        requests: 0,
    };
    let mut failures = 0;
    // Seeded journals deleted so far: at most 6 of the 12, so the connector's own are kept.
    let mut deletes = 0;
    loop {
        let mut cmd = Command::new(CHILD);
        cmd.env("CRASH_ACUMATICA_URL", acu.url())
            .env("CRASH_LOOKER_URL", looker.url())
            .env("CRASH_STORE", &backend.store)
            .env("CRASH_WAREHOUSE", &backend.warehouse)
            .env_remove("CRASH_STORE_SCHEMA")
            .env_remove("CRASH_WAREHOUSE_SCHEMA")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(s) = &backend.store_schema {
            cmd.env("CRASH_STORE_SCHEMA", s);
        }
        if let Some(s) = &backend.warehouse_schema {
            cmd.env("CRASH_WAREHOUSE_SCHEMA", s);
        }
        // A kill point for this incarnation (none once the round has its kills).
        let kill_after = (out.kills < max_kills).then(|| rng.usize(1..=45));
        let start = requests();
        let mut child = cmd.spawn().expect("start crash_child");
        out.starts += 1;
        let status = match kill_after {
            None => Some(child.wait().await.unwrap()),
            Some(n) => loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break Some(status);
                }
                if requests() >= start + n {
                    child.start_kill().unwrap(); // SIGKILL
                    child.wait().await.unwrap();
                    out.kills += 1;
                    break None;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            },
        };
        let finished = kill_after.is_none() && status.as_ref().is_some_and(|s| s.success());
        if !finished {
            // Change the source between incarnations so the feed has new work to lose.
            for entity in ["JournalTransaction", "Vendor"] {
                let delete =
                    usize::from(entity == "JournalTransaction" && deletes < 6 && rng.bool());
                deletes += delete;
                acu.state()
                    .mutate_now(&MidListingMutation {
                        entity: entity.into(),
                        after_list_requests: 1,
                        insert: usize::from(rng.bool()),
                        touch: rng.usize(0..=2),
                        // Journals are deleted too (the oldest seeded ones, in key order);
                        // vendors stay, as the reference flow's end check counts them.
                        delete,
                    })
                    .unwrap();
            }
        }
        match status {
            None => continue,
            Some(s) if s.success() => {
                if kill_after.is_none() {
                    break;
                }
                // Completed before its kill point: the next start is the final, unkilled
                // one (it also sees the source changes just made).
                continue;
            }
            Some(s) => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    e.read_to_string(&mut err).await.unwrap();
                }
                failures += 1;
                eprintln!("[{}] crash_child failed ({s}): {err}", backend.name);
                assert!(
                    failures < 5,
                    "[{}] crash_child keeps failing: {err}",
                    backend.name
                );
            }
        }
    }
    out.requests = requests();

    // Exactly once: every expected journal once, nothing else the connector created.
    let expected = harness::check_journals(acu.state())
        .unwrap_or_else(|e| panic!("[{}] exactly-once violated: {e}", backend.name));
    assert_eq!(expected, months.len() * testkit::seed::BRANCHES.len());
    // The reference flow: every vendor in step, the deleted one created once.
    harness::check_vendors(acu.state())
        .unwrap_or_else(|e| panic!("[{}] vendors not in step: {e}", backend.name));
    // Nothing lost, nothing twice: the warehouse equals the source.
    let warehouse =
        harness::open_warehouse(&backend.warehouse, backend.warehouse_schema.as_deref())
            .await
            .unwrap();
    harness::check_warehouse(acu.state(), warehouse.as_ref())
        .await
        .unwrap_or_else(|e| panic!("[{}] warehouse differs from the source: {e}", backend.name));
    looker.shutdown().await;
    acu.shutdown().await;
    out
}

/// Rounds (fresh state each) until the backend has taken `kills_wanted()` kills.
async fn crash_backend(make: impl Fn(u32) -> Backend) {
    let seed = seed();
    let wanted = kills_wanted();
    let mut rng = fastrand::Rng::with_seed(seed);
    let began = Instant::now();
    let (mut kills, mut starts, mut rounds, mut requests) = (0, 0, 0, 0);
    let mut name = "";
    while kills < wanted {
        let backend = make(rounds);
        name = backend.name;
        println!("[{name}] crash round {rounds}: seed {seed} (replay with CRASH_SEED={seed})");
        let out = round(&mut rng, &backend, 8.min(wanted - kills)).await;
        kills += out.kills;
        starts += out.starts;
        requests += out.requests;
        rounds += 1;
    }
    println!(
        "[{name}] {kills} SIGKILLs over {rounds} rounds, {starts} child starts, {requests} requests, {:.1?}; exactly once held (seed {seed})",
        began.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_posts_each_journal_once_and_loses_no_record_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_owned();
    crash_backend(|round| Backend {
        name: "sqlite",
        store: base.join(format!("state-{round}.db")).display().to_string(),
        store_schema: None,
        warehouse: base
            .join(format!("warehouse-{round}.db"))
            .display()
            .to_string(),
        warehouse_schema: None,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_posts_each_journal_once_and_loses_no_record_postgres() {
    let url = match std::env::var(PG_VAR) {
        Ok(u) if !u.trim().is_empty() => u,
        _ => {
            println!("skipped: {PG_VAR} not set");
            return;
        }
    };
    crash_backend(|_| {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Backend {
            name: "postgres",
            store: url.clone(),
            store_schema: Some(format!("crash_s_{id}")),
            warehouse: url.clone(),
            warehouse_schema: Some(format!("crash_w_{id}")),
        }
    })
    .await;
}
