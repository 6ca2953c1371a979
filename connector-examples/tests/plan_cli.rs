//! `ml-connector plan` of a post flow is the run's lookup phase without the writes: over
//! journals already posted it makes no more lookup requests than `run --once` (none when the
//! ledger knows them) and says the states the run reports.

mod support;

use std::collections::BTreeMap;

use support::{Rig, stdout_of};
use testkit::sandbox::DEMO_ENDPOINT_VERSION;

/// Lookup requests by natural key the Acumatica fake has served so far.
fn lookups(rig: &Rig) -> usize {
    let path = format!("/entity/Default/{DEMO_ENDPOINT_VERSION}/JournalTransaction");
    rig.sandbox
        .acumatica()
        .log()
        .matching("GET", &path)
        .into_iter()
        .filter(|r| {
            r.query
                .as_deref()
                .is_some_and(|q| q.contains("substringof") && !q.contains("PostPeriod"))
        })
        .count()
}

fn json_of(a: &assert_cmd::assert::Assert) -> serde_json::Value {
    serde_json::from_str(&stdout_of(a)).unwrap()
}

/// A journal's state tag, with its batch when it has one (`already_posted 000123`).
fn words(v: &serde_json::Value) -> String {
    match v["batch"].as_str() {
        Some(batch) => format!("{} {batch}", v["state"].as_str().unwrap()),
        None => v["state"].as_str().unwrap().to_owned(),
    }
}

/// `run --once --json`: its states by natural key, in the plan's words, and its lookups.
fn run(rig: &Rig) -> (BTreeMap<String, String>, usize) {
    let before = lookups(rig);
    let a = rig
        .cmd()
        .args(["--json", "run", "--once", "--flow", "overhead_allocation"])
        .assert()
        .code(0);
    let v = json_of(&a);
    let docs = v["runs"][0]["documents"]
        .as_array()
        .unwrap_or_else(|| panic!("no documents in {v:#}"))
        .clone();
    let states = docs
        .iter()
        .map(|d| {
            // The run's tags in the plan's terms: what it posted, a plan would post.
            let words = match d["state"].as_str().unwrap() {
                "posted" => "would_post".to_owned(),
                _ => words(d),
            };
            (d["natural_key"].as_str().unwrap().to_owned(), words)
        })
        .collect();
    (states, lookups(rig) - before)
}

/// `plan --json`: its states by natural key and its lookups.
fn plan(rig: &Rig) -> (BTreeMap<String, String>, usize) {
    let before = lookups(rig);
    let a = rig
        .cmd()
        .args(["--json", "plan", "--flow", "overhead_allocation"])
        .assert()
        .code(0);
    let v = json_of(&a);
    let states = v["plans"][0]["journals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["natural_key"].as_str().unwrap().to_owned(), words(j)))
        .collect();
    (states, lookups(rig) - before)
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_over_posted_journals_looks_up_no_more_than_the_run_and_agrees_with_it() {
    let rig = Rig::start().await;
    // Nothing posted: the plan looks the keys up as the first run does.
    let (planned, plan_lookups) = plan(&rig);
    let (posted, run_lookups) = run(&rig);
    assert_eq!(planned.len(), 3, "{planned:?}");
    assert_eq!(planned, posted);
    assert!(
        plan_lookups <= run_lookups,
        "{plan_lookups} > {run_lookups}"
    );

    // Posted: the run's ledger knows every journal; the plan reads it and looks nothing up.
    let (planned, plan_lookups) = plan(&rig);
    let (rerun, run_lookups) = run(&rig);
    assert_eq!(
        (plan_lookups, run_lookups),
        (0, 0),
        "the plan makes no more lookups than the run"
    );
    assert_eq!(planned, rerun);
    assert!(
        planned.values().all(|s| s.starts_with("already_posted ")),
        "{planned:?}"
    );

    // The ledger is gone: both find the journals by lookup, with the same requests.
    std::fs::remove_file(rig.store()).unwrap();
    let (planned, plan_lookups) = plan(&rig);
    assert!(
        !rig.store().exists(),
        "plan does not create the state store"
    );
    let (rerun, run_lookups) = run(&rig);
    assert_eq!(plan_lookups, run_lookups);
    assert_eq!(planned, rerun);
}
