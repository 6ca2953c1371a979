//! `ping` checks everything a run will need, each failing check named with what to do and
//! the exit code non-zero: the mapping's columns against the query's `fields`, the state
//! store, each feed's warehouse (writable), each feed entity (one record read), the vault
//! (every secret opens with the key), besides the two systems.

#![cfg(unix)]

mod support;

use serde_json::Value;
use support::{Rig, stdout_of};
use testkit::faults::{FaultKind, FaultRule};

/// `--json ping`: exit code and the checks by name.
fn ping(rig: &Rig, env: &[(&str, &str)]) -> (Option<i32>, Vec<Value>) {
    let mut c = rig.cmd();
    for (k, v) in env {
        c.env(k, v);
    }
    let a = c.args(["--json", "ping"]).assert();
    let v: Value = serde_json::from_str(&stdout_of(&a)).expect("JSON");
    (
        a.get_output().status.code(),
        v["checks"].as_array().cloned().unwrap_or_default(),
    )
}

fn check<'a>(checks: &'a [Value], name: &str) -> &'a Value {
    checks
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check `{name}` in {checks:#?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fitting_setup_passes_every_check_a_run_needs() {
    let rig = Rig::start().await;
    let (code, checks) = ping(&rig, &[]);
    assert_eq!(code, Some(0), "{checks:#?}");
    for name in [
        "mapping columns (overhead_allocation)",
        "mapping columns (approved_vendors)",
        "state store",
        "warehouse (gl_feed)",
        "JournalTransaction readable (gl_feed)",
        "Account readable (gl_feed)",
    ] {
        assert_eq!(
            check(&checks, name)["status"],
            "pass",
            "{name}: {checks:#?}"
        );
    }
    assert_eq!(check(&checks, "vault")["status"], "skip", "no vault file");
    // After a run the store and warehouse exist: still writable and answering.
    rig.cmd().args(["run", "--once"]).assert().code(0);
    let (code, checks) = ping(&rig, &[]);
    assert_eq!(code, Some(0), "{checks:#?}");
    assert!(
        check(&checks, "warehouse (gl_feed)")["detail"]
            .as_str()
            .unwrap()
            .ends_with("takes new tables"),
        "{checks:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mapping_column_missing_from_the_fields_fails() {
    let rig = Rig::edited(|c| {
        c.replacen(
            "explore = \"overhead_allocation\"\n",
            "explore = \"overhead_allocation\"\nfields = [\"overhead_allocation.account\", \"overhead_allocation.amount\"]\n",
            1,
        )
    })
    .await;
    let (code, checks) = ping(&rig, &[]);
    assert_eq!(code, Some(2), "{checks:#?}");
    let c = check(&checks, "mapping columns (overhead_allocation)");
    assert_eq!(c["status"], "fail");
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.contains("`overhead_allocation.branch`")
            && detail.contains("does not select")
            && detail.contains("add them to [flows.looker] fields"),
        "{detail}"
    );
    assert!(
        !detail.contains("`overhead_allocation.account`"),
        "{detail}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_warehouse_that_cannot_be_created_fails() {
    let rig = Rig::edited(|c| {
        let line = c
            .lines()
            .find(|l| l.starts_with("warehouse = "))
            .unwrap()
            .to_owned();
        c.replacen(
            &line,
            "warehouse = \"sqlite:///dev/null/feeds/warehouse.db\"",
            1,
        )
    })
    .await;
    let (code, checks) = ping(&rig, &[]);
    assert_ne!(code, Some(0), "{checks:#?}");
    let c = check(&checks, "warehouse (gl_feed)");
    assert_eq!(c["status"], "fail", "{checks:#?}");
    assert!(
        c["detail"].as_str().unwrap().contains("is not writable"),
        "{c}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_feed_entity_fails() {
    let rig = Rig::start().await;
    rig.sandbox.acumatica().faults().add(
        FaultRule::new(FaultKind::ServerError { status: 403 })
            .method("GET")
            .path("/entity/Default/*/Account"),
    );
    let (code, checks) = ping(&rig, &[]);
    assert_ne!(code, Some(0), "{checks:#?}");
    let c = check(&checks, "Account readable (gl_feed)");
    assert_eq!(c["status"], "fail", "{checks:#?}");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("the feed reads this entity"),
        "{c}"
    );
    assert_eq!(
        check(&checks, "JournalTransaction readable (gl_feed)")["status"],
        "pass"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vault_sealed_with_another_key_fails() {
    let rig = Rig::start().await;
    let new_key = || {
        let a = rig
            .cmd()
            .args(["--json", "vault", "new-key"])
            .assert()
            .success();
        let v: Value = serde_json::from_str(&stdout_of(&a)).unwrap();
        v["key"].as_str().unwrap().to_owned()
    };
    let (sealing, other) = (new_key(), new_key());
    rig.cmd()
        .env("ML_CONNECTOR_VAULT_KEY", &sealing)
        .args(["vault", "store", "looker.client_secret"])
        .write_stdin("demo-looker-client-secret\n")
        .assert()
        .success();
    let (code, checks) = ping(&rig, &[("ML_CONNECTOR_VAULT_KEY", &sealing)]);
    assert_eq!(code, Some(0), "{checks:#?}");
    assert!(
        check(&checks, "vault")["detail"]
            .as_str()
            .unwrap()
            .contains("1 secret(s) open with the key"),
        "{checks:#?}"
    );
    let (code, checks) = ping(&rig, &[("ML_CONNECTOR_VAULT_KEY", &other)]);
    assert_eq!(code, Some(3), "{checks:#?}");
    assert_eq!(check(&checks, "vault")["status"], "fail", "{checks:#?}");
}
