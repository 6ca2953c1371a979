//! Leases from the command line: `status` tells a live replica from a dead one, a rerun after
//! a crash on this host takes the dead holder's lease over at once (its run shows as
//! abandoned), and `lease release` frees a lease by hand, with a confirmation, refusing a
//! holder that still runs here unless forced, recorded in the audit trail.

mod support;

use predicates::prelude::*;
use support::{Rig, stderr_of};
use sync_core::store::{LeaseHolder, ProcessIdentity, SqliteStore, StateStore};

const FLOW: &str = "overhead_allocation";
const TTL: std::time::Duration = std::time::Duration::from_secs(600);

#[tokio::test(flavor = "multi_thread")]
async fn a_crashed_holder_is_taken_over_and_a_remote_one_released_by_hand() {
    let rig = Rig::start().await;
    let me = ProcessIdentity::current();
    let store = SqliteStore::open(rig.store()).await.unwrap();

    // A run killed on this host: its process is gone (here: its pid now belongs to a process
    // started at another time, as after a container restart with pid 1).
    if me.start_ticks.is_some() && me.boot_id.is_some() {
        let crashed = LeaseHolder {
            owner: "web-1:1".into(),
            instance: "before-restart".into(),
            process: Some(ProcessIdentity {
                start_ticks: me.start_ticks.map(|t| t.saturating_sub(50)),
                ..me.clone()
            }),
        };
        let lease = store
            .acquire_lease_as(FLOW, &crashed, TTL)
            .await
            .unwrap()
            .unwrap();
        let killed_run = store.start_run(&lease).await.unwrap();
        rig.cmd()
            .args(["status", "--flow", FLOW])
            .assert()
            .code(0)
            .stdout(predicate::str::contains(
                "held by a process that is no longer running",
            ))
            .stdout(predicate::str::contains(
                "the next run takes it over at once",
            ));
        // The rerun does not wait for the lease to expire.
        rig.cmd()
            .args(["run", "--once", "--flow", FLOW])
            .assert()
            .code(0);
        let closed = store.run(&killed_run.id).await.unwrap().unwrap();
        assert_eq!(closed.status, sync_core::store::RunStatus::Abandoned);
        rig.cmd()
            .args(["status", "--flow", FLOW])
            .assert()
            .code(0)
            .stdout(predicate::str::contains("abandoned"))
            .stdout(predicate::str::contains("succeeded"));
    }

    // A holder on another host: cannot be proved dead from here; released by hand.
    let remote = LeaseHolder {
        owner: "replica-remote:12".into(),
        instance: "remote-instance".into(),
        process: Some(ProcessIdentity {
            host: "db-host-2".into(),
            pid: 12,
            boot_id: None,
            start_ticks: None,
        }),
    };
    let lease = store
        .acquire_lease_as(FLOW, &remote, TTL)
        .await
        .unwrap()
        .unwrap();
    let remote_run = store.start_run(&lease).await.unwrap();
    rig.cmd()
        .args(["--wide", "status", "--flow", FLOW])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "held by a replica (db-host-2, pid 12)",
        ))
        .stdout(predicate::str::contains(format!(
            "ml-connector lease release --flow {FLOW}"
        )));
    // In JSON the lease's state is a tag; the sentence is its description.
    let a = rig
        .cmd()
        .args(["--json", "status", "--flow", FLOW])
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    let shown = &v["flows"][0]["leases"][0];
    assert_eq!(shown["state"], "held", "{v:#}");
    assert!(
        shown["description"]
            .as_str()
            .unwrap()
            .contains("held by a replica (db-host-2, pid 12)"),
        "{v:#}"
    );
    // Not on a terminal and no --yes: refused, nothing released.
    let a = rig
        .cmd()
        .args(["lease", "release", "--flow", FLOW])
        .assert()
        .code(2);
    assert!(
        stderr_of(&a).contains("needs a confirmation"),
        "{}",
        stderr_of(&a)
    );
    assert_eq!(
        store.current_lease(FLOW).await.unwrap(),
        Some(lease.clone())
    );
    rig.cmd()
        .args(["lease", "release", "--flow", FLOW, "--yes"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Released the lease"))
        .stdout(predicate::str::contains("replica-remote:12"));
    assert_eq!(store.current_lease(FLOW).await.unwrap(), None);
    assert_eq!(
        store.run(&remote_run.id).await.unwrap().unwrap().status,
        sync_core::store::RunStatus::Abandoned
    );
    let trail = store.audit_for_key(FLOW, "lease").await.unwrap();
    assert_eq!(trail.len(), 1, "{trail:?}");
    let by = trail[0].summary["released_by"].as_str().unwrap_or_default();
    assert!(by.contains('@'), "who released it: {by}");
    assert_eq!(trail[0].summary["owner"], "replica-remote:12");
    rig.cmd()
        .args(["--wide", "audit", "--flow", FLOW, "--key", "lease"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("released by hand"));

    // A holder that still runs on this host (this test process) is not released unless forced.
    let live = store
        .acquire_lease(FLOW, "live-here", TTL)
        .await
        .unwrap()
        .unwrap();
    rig.cmd()
        .args(["--wide", "status", "--flow", FLOW])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("held by a live replica"));
    let a = rig
        .cmd()
        .args(["lease", "release", "--flow", FLOW, "--yes"])
        .assert()
        .code(2);
    assert!(
        stderr_of(&a).contains("still runs on this host"),
        "{}",
        stderr_of(&a)
    );
    store.check_lease(&live).await.unwrap();
    rig.cmd()
        .args(["lease", "release", "--flow", FLOW, "--yes", "--force"])
        .assert()
        .code(0);
    assert!(store.check_lease(&live).await.unwrap_err().is_fenced());
    // Nothing held: says so.
    rig.cmd()
        .args(["lease", "release", "--flow", FLOW, "--yes"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("not held; nothing to release"));
    store.close().await;
}
