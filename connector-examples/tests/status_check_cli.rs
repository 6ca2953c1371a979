//! `status --check` for cron and Nagios-style monitors: exit 0 and one `OK` line when nothing
//! needs a person; exit 1 and one line per problem when something does (an open dead letter, a
//! failed, abandoned or interrupted last run, a document whose outcome is unknown past its
//! settle horizon, a feed high-water mark older than `--max-feed-lag`).

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{Rig, stdout_of};
use testkit::SandboxOptions;
use testkit::faults::{FaultKind, FaultRule};
use testkit::looker::{DataProblem, LookerConfig};

/// `status --check --json` (plus `extra`): its exit code and the problems' kinds.
fn check(rig: &Rig, extra: &[&str]) -> (i32, Vec<String>, Value) {
    let out = rig
        .cmd()
        .args(["--json", "status", "--check"])
        .args(extra)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let kinds = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap().to_owned())
        .collect();
    (out.status.code().unwrap(), kinds, v)
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_to_do_is_ok_and_a_run_that_worked_is_ok() {
    let rig = Rig::start().await;
    let a = rig.cmd().args(["status", "--check"]).assert().code(0);
    assert!(
        stdout_of(&a).starts_with("OK: 3 flow(s), nothing needs attention (nothing has run yet)"),
        "{}",
        stdout_of(&a)
    );
    rig.cmd().args(["run", "--once"]).assert().code(0);
    let (code, kinds, v) = check(&rig, &[]);
    assert_eq!((code, kinds.len()), (0, 0), "{v:#}");
    assert_eq!(v["ok"], true);
    let a = rig.cmd().args(["status", "--check"]).assert().code(0);
    assert_eq!(
        stdout_of(&a),
        "OK: 3 flow(s), nothing needs attention\n",
        "one line for a monitor"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_last_run_needs_a_person() {
    let looker =
        LookerConfig::default().with_data_problem(DataProblem::unbalanced_journal(10, "WEST"));
    let rig = Rig::with(
        SandboxOptions {
            looker,
            ..Default::default()
        },
        |c| c,
    )
    .await;
    rig.cmd()
        .args(["run", "--once", "--flow", "overhead_allocation"])
        .assert()
        .code(4);
    let (code, kinds, v) = check(&rig, &[]);
    assert_eq!(code, 1, "{v:#}");
    // The unbalanced journal is a dead letter too.
    assert_eq!(kinds, ["dead_letters", "last_run"], "{v:#}");
    let a = rig.cmd().args(["status", "--check"]).assert().code(1);
    let out = stdout_of(&a);
    assert!(
        out.starts_with("PROBLEM: 2 thing(s) need attention\n"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(
        out.contains("overhead_allocation: the last run (") && out.contains(") ended failed: "),
        "{out}"
    );
    assert!(
        out.lines().all(|l| !l.trim().is_empty()),
        "one line per problem: {out}"
    );
    // Other flows are fine.
    let (code, _, _) = check(&rig, &["--flow", "approved_vendors"]);
    assert_eq!(code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_open_dead_letter_needs_a_person() {
    let rig = Rig::edited(|config| {
        config.replace(
            "fields.Status = { column = \"approved_vendors.status\" }\n",
            "fields.Status = { column = \"approved_vendors.status\" }\n\
             fields.MaxReceipt = { column = \"approved_vendors.status\", map = \"receipt\" }\n\n\
             [flows.mapping.maps.receipt]\nActive = \"100\"\n\"On Hold\" = \"50\"\nInactive = \"none\"\n",
        )
    })
    .await;
    rig.cmd()
        .args(["run", "--once", "--flow", "approved_vendors"])
        .assert()
        .code(1);
    let (code, kinds, v) = check(&rig, &[]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(kinds, ["dead_letters"], "{v:#}");
    let message = v["problems"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("ml-connector deadletters list --flow approved_vendors"),
        "{message}"
    );
}

/// A create whose answer never came (the client timed out while Acumatica held it): pending,
/// which is expected within the settle horizon and needs a person after it.
#[tokio::test(flavor = "multi_thread")]
async fn a_document_pending_past_its_settle_horizon_needs_a_person() {
    let rig = Rig::edited(|c| {
        c.replacen("[acumatica]\n", "[acumatica]\ntimeout = 2\n", 1)
            .replacen(
                "[flows.mapping]\n",
                "[flows.post]\nsettle_horizon_secs = 3\n\n[flows.mapping]\n",
                1,
            )
    })
    .await;
    let faults = rig.sandbox.acumatica().faults();
    faults.add(
        FaultRule::new(FaultKind::Queued(Duration::from_secs(120)))
            .method("PUT")
            .path("/entity/*/*/JournalTransaction")
            .times(1),
    );
    rig.cmd()
        .args(["run", "--once", "--flow", "overhead_allocation"])
        .assert()
        .code(5);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (code, kinds, v) = check(&rig, &["--flow", "overhead_allocation"]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(kinds, ["pending_past_horizon"], "{v:#}");
    assert!(
        v["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("settle horizon 3 s"),
        "{v:#}"
    );
    faults.release_queued();
}

/// A feed whose high-water mark lags more than --max-feed-lag: with the default (6 h) a fresh
/// mark is fine, with a 1 s limit it is a problem a while later.
#[tokio::test(flavor = "multi_thread")]
async fn a_lagging_feed_mark_needs_a_person() {
    let rig = Rig::start().await;
    rig.cmd()
        .args(["run", "--once", "--flow", "gl_feed"])
        .assert()
        .code(0);
    let (code, kinds, v) = check(&rig, &["--flow", "gl_feed"]);
    assert_eq!((code, kinds.len()), (0, 0), "{v:#}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (code, kinds, v) = check(&rig, &["--flow", "gl_feed", "--max-feed-lag", "1s"]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(kinds, ["feed_lag", "feed_lag"], "one per entity: {v:#}");
    let a = rig
        .cmd()
        .args(["status", "--check", "--max-feed-lag", "6 hours"])
        .assert()
        .code(2);
    assert!(
        support::stderr_of(&a).contains("unknown unit"),
        "{}",
        support::stderr_of(&a)
    );
}
