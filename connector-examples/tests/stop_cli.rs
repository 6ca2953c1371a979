//! Stopping the binary with SIGTERM or SIGINT (Ctrl-C) mid-run, as a service manager or a
//! person does: the first signal lets the journal in flight finish, records the run as
//! `interrupted` with what it did, releases the lease, signs out of both systems and exits 6
//! (`run --once`) or 0 (the daemon) within `--stop-timeout`; work that does not stop in time is
//! cut short and recorded from its audit trail; a second signal exits at once (128 + signal).
//!
//! The allocation posts three journals, one at a time; a fault holds each create in the
//! Acumatica fake so the signal lands mid-run.

#![cfg(unix)]

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{Rig, finish, process, signal, wait_until};
use testkit::SandboxOptions;
use testkit::faults::{FaultKind, FaultRule};

const FLOW: &str = "overhead_allocation";
const CREATES: &str = "/entity/*/*/JournalTransaction";

fn created(rig: &Rig) -> u64 {
    rig.sandbox
        .acumatica()
        .state()
        .created("JournalTransaction")
}

/// `status --json` of the allocation flow.
fn status(rig: &Rig) -> Value {
    let out = rig
        .cmd()
        .args(["--json", "status", "--flow", FLOW])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["flows"][0].clone()
}

/// The descriptions of the allocation journals in Acumatica, each checked to be there once.
fn allocation_journals(rig: &Rig) -> Vec<String> {
    let descriptions: Vec<String> = rig
        .sandbox
        .acumatica()
        .state()
        .journal_transactions()
        .into_iter()
        .filter_map(|j| j.description)
        .filter(|d| d.contains("Overhead allocation"))
        .collect();
    let mut unique = descriptions.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        descriptions.len(),
        "a journal posted twice: {descriptions:?}"
    );
    descriptions
}

/// SIGTERM while the first journals are being posted: the journal in flight is finished, the
/// run stops before the next one, is recorded as interrupted with its real counts, the lease
/// is free at once, both systems were signed out, exit 6. A rerun posts the rest and nothing
/// twice.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_run_finishes_the_journal_in_flight_and_records_an_interrupted_run() {
    let rig = Rig::start().await;
    rig.sandbox.acumatica().faults().add(
        FaultRule::new(FaultKind::Latency(Duration::from_millis(1500)))
            .method("PUT")
            .path(CREATES),
    );
    let child = process(&rig, &["run", "--once", "--flow", FLOW]);
    assert!(
        wait_until(60, || created(&rig) >= 1).await,
        "the first journal was posted"
    );
    signal(&child, "TERM");
    let (exit, out, err, took) = finish(child).await;
    assert_eq!(exit.code(), Some(6), "stdout:\n{out}\nstderr:\n{err}");
    assert!(took < Duration::from_secs(15), "{took:?}\n{err}");
    assert!(err.contains("SIGTERM received: stopping"), "{err}");
    assert!(out.contains("interrupted"), "{out}");
    let posted = created(&rig);
    assert!(
        (1..3).contains(&posted),
        "stopped before the last journal: {posted}"
    );

    let flow = status(&rig);
    let run = &flow["runs"][0];
    assert_eq!(run["status"], "interrupted", "{flow:#}");
    assert_eq!(run["read"], 18, "{flow:#}");
    assert_eq!(run["written"], posted, "{flow:#}");
    assert_eq!(flow["leases"], serde_json::json!([]), "the lease is free");
    assert!(rig.acumatica_logouts() >= 1, "signed out of Acumatica");
    assert!(rig.looker_logouts() >= 1, "signed out of Looker");
    assert_eq!(rig.live_sessions(), 0);
    // A monitor sees it.
    let a = rig
        .cmd()
        .args(["status", "--check", "--flow", FLOW])
        .assert()
        .code(1);
    assert!(
        support::stdout_of(&a).contains(") ended interrupted: "),
        "{}",
        support::stdout_of(&a)
    );

    // At once, with nothing waiting for a lease to expire: the rest, and nothing twice.
    rig.sandbox.acumatica().faults().clear();
    rig.cmd()
        .args(["run", "--once", "--flow", FLOW])
        .assert()
        .code(0);
    assert_eq!(created(&rig), 3);
    assert_eq!(allocation_journals(&rig).len(), 3);
    rig.cmd()
        .args(["status", "--check", "--flow", FLOW])
        .assert()
        .code(0);
}

/// A create Acumatica holds (its licence queue) longer than the stop timeout: at the timeout
/// the run is cut short, recorded as interrupted from its audit trail (rows read, journals
/// mapped), the lease released, both systems signed out, exit 6, all within the timeout. The
/// held create lands afterwards; the rerun finds it (its attempt was stamped before it was
/// sent) instead of posting it again.
#[tokio::test(flavor = "multi_thread")]
async fn a_create_held_past_the_stop_timeout_is_cut_short_and_settled_by_the_next_run() {
    let rig = Rig::start().await;
    let faults = rig.sandbox.acumatica().faults();
    let held = faults.add(
        FaultRule::new(FaultKind::Queued(Duration::from_secs(120)))
            .method("PUT")
            .path(CREATES)
            .times(1),
    );
    let child = process(
        &rig,
        &["run", "--once", "--flow", FLOW, "--stop-timeout", "3"],
    );
    assert!(
        wait_until(60, || faults.fired(held) >= 1).await,
        "the first create was sent"
    );
    signal(&child, "TERM");
    let (exit, _out, err, took) = finish(child).await;
    assert_eq!(exit.code(), Some(6), "{err}");
    assert!(
        took < Duration::from_secs(3),
        "within --stop-timeout: {took:?}"
    );
    assert!(err.contains("--stop-timeout 3 s"), "{err}");
    assert!(err.contains("recorded as interrupted"), "{err}");

    let flow = status(&rig);
    let run = &flow["runs"][0];
    assert_eq!(run["status"], "interrupted", "{flow:#}");
    assert_eq!(run["read"], 18, "{flow:#}");
    assert_eq!(run["mapped"], 3, "{flow:#}");
    assert_eq!(flow["leases"], serde_json::json!([]), "the lease is free");
    assert!(rig.acumatica_logouts() >= 1);
    assert!(rig.looker_logouts() >= 1);

    // The held create is handled after the process signed out: the fake refuses it then (the
    // session is gone), as the flow could not know. Its attempt was stamped before it was
    // sent, so the rerun does not conclude it absent before the settle horizon: it stays
    // pending (exit 5) and is not sent again; the other two journals are posted.
    faults.release_queued();
    tokio::time::timeout(Duration::from_secs(10), faults.wait_queued_applied(1))
        .await
        .expect("the held create was handled");
    let a = rig
        .cmd()
        .args(["run", "--once", "--flow", FLOW])
        .assert()
        .code(5);
    let out = support::stdout_of(&a);
    assert!(out.contains("PENDING"), "{out}");
    assert_eq!(out.matches("posted as batch").count(), 2, "{out}");
    let journals = allocation_journals(&rig);
    assert_eq!(journals.len(), 2, "{journals:?}");
}

/// A second signal exits at once (130 for SIGINT) instead of waiting for the journal in
/// flight; what it can record is recorded: the run as interrupted, the lease released.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_signal_exits_at_once() {
    let rig = Rig::start().await;
    let faults = rig.sandbox.acumatica().faults();
    let held = faults.add(
        FaultRule::new(FaultKind::Queued(Duration::from_secs(120)))
            .method("PUT")
            .path(CREATES)
            .times(1),
    );
    let child = process(
        &rig,
        &["run", "--once", "--flow", FLOW, "--stop-timeout", "60"],
    );
    assert!(wait_until(60, || faults.fired(held) >= 1).await);
    signal(&child, "TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(&child, "INT");
    let (exit, _out, err, took) = finish(child).await;
    assert_eq!(exit.code(), Some(130), "{err}");
    assert!(took < Duration::from_secs(4), "at once: {took:?}");
    assert!(err.contains("SIGINT received again"), "{err}");
    let flow = status(&rig);
    assert_eq!(flow["runs"][0]["status"], "interrupted", "{flow:#}");
    assert_eq!(flow["leases"], serde_json::json!([]), "the lease is free");
    faults.release_queued();
}

/// The daemon, stopped with SIGTERM while a scheduled run posts: the run is recorded as
/// interrupted with what it did, both leases (run and schedule) are free, everything is
/// signed out, and it exits 0 well within the stop timeout.
#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_stops_mid_run_on_sigterm_and_records_the_run() {
    let rig = Rig::edited(|c| {
        c.replacen(
            "cron = \"0 6 1 * *\"",
            "cron = \"*/1 * * * * *\"\ncron_seconds = true",
            1,
        )
    })
    .await;
    rig.sandbox.acumatica().faults().add(
        FaultRule::new(FaultKind::Latency(Duration::from_millis(1500)))
            .method("PUT")
            .path(CREATES),
    );
    let child = process(&rig, &["run", "--flow", FLOW]);
    assert!(wait_until(60, || created(&rig) >= 1).await);
    signal(&child, "TERM");
    let (exit, _out, err, took) = finish(child).await;
    assert_eq!(exit.code(), Some(0), "{err}");
    assert!(took < Duration::from_secs(15), "{took:?}");
    let flow = status(&rig);
    let run = &flow["runs"][0];
    assert_eq!(run["status"], "interrupted", "{flow:#}");
    assert!(run["written"].as_u64().unwrap() >= 1, "{flow:#}");
    assert_eq!(
        flow["leases"],
        serde_json::json!([]),
        "both leases are free"
    );
    assert!(rig.acumatica_logouts() >= 1);
    assert_eq!(rig.live_sessions(), 0);
}

/// Acumatica's licence allows no more API sessions: the error names the licence's session
/// limit (not the password), says how to free sessions, and exits 7, not 3.
#[tokio::test(flavor = "multi_thread")]
async fn the_api_login_limit_names_the_licence_not_the_password() {
    let options = SandboxOptions::default();
    let rig = Rig::with(
        SandboxOptions {
            acumatica: options.acumatica.max_sessions(1),
            ..options
        },
        |c| c,
    )
    .await;
    // Someone else holds the licence's only API session.
    let other = rig.acumatica();
    other.sign_in().await.unwrap();
    let a = rig
        .cmd()
        .args(["run", "--once", "--flow", "approved_vendors"])
        .assert()
        .code(7);
    let err = support::stderr_of(&a);
    assert!(err.contains("limit of concurrent API sessions"), "{err}");
    assert!(err.contains("not about the password"), "{err}");
    assert!(err.contains("hint: free a session"), "{err}");
    assert!(!err.contains("user name/password"), "{err}");
    assert!(!err.contains("close()"), "library wording: {err}");
    other.logout().await.unwrap();
}
