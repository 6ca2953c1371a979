//! The binary signs out of Acumatica and Looker when a command that signed in is done
//! (`run --once`, `plan`, `replay`, the `run` daemon when it stops), also when the run failed,
//! and a failed sign-out is a warning that changes neither the exit code nor the output.
//!
//! Acumatica counts every API session against the licence until it is logged out; the fake
//! counts them too (`active_sessions`), and its request log shows each `POST
//! /entity/auth/logout`. The Looker fake logs each `DELETE /api/4.0/logout`.

mod support;

use support::{Rig, stderr_of, stdout_of};
use testkit::SandboxOptions;
use testkit::faults::{FaultKind, FaultRule};
use testkit::looker::{DataProblem, LookerConfig};

#[tokio::test(flavor = "multi_thread")]
async fn run_once_signs_out_of_both_apis_and_no_session_stays_open() {
    let rig = Rig::start().await;
    rig.cmd()
        .args(["run", "--once", "--flow", "approved_vendors"])
        .assert()
        .code(0);
    assert!(
        rig.sandbox
            .acumatica()
            .state()
            .auth_counters()
            .tokens_issued
            >= 1,
        "the run signed in to Acumatica"
    );
    assert_eq!(rig.acumatica_logouts(), 1);
    assert_eq!(rig.looker_logouts(), 1);
    assert_eq!(
        rig.live_sessions(),
        0,
        "no session counts against the licence"
    );

    // Every flow (post, feed, reference): each flow's clients are signed out.
    let a = rig.cmd().args(["run", "--once"]).assert().code(0);
    assert_eq!(rig.live_sessions(), 0);
    assert_eq!(
        rig.acumatica_logouts(),
        1 + 3,
        "one Acumatica client per flow"
    );
    assert_eq!(
        rig.looker_logouts(),
        1 + 2,
        "the post and reference flows read Looker"
    );
    assert!(!stderr_of(&a).contains("signing out"), "{}", stderr_of(&a));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_that_fails_validation_still_signs_out() {
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
    let a = rig
        .cmd()
        .args(["run", "--once", "--flow", "overhead_allocation"])
        .assert()
        .code(4);
    assert!(
        rig.sandbox
            .acumatica()
            .state()
            .auth_counters()
            .tokens_issued
            >= 1,
        "validation read Acumatica's accounts"
    );
    assert_eq!(rig.acumatica_logouts(), 1, "{}", stderr_of(&a));
    assert_eq!(rig.looker_logouts(), 1);
    assert_eq!(rig.live_sessions(), 0);

    // plan of the same data: exit 4 as well, and signed out.
    rig.cmd()
        .args(["plan", "--flow", "overhead_allocation"])
        .assert()
        .code(4);
    assert_eq!(rig.acumatica_logouts(), 2);
    assert_eq!(rig.looker_logouts(), 2);
    assert_eq!(rig.live_sessions(), 0);
}

/// Each flow of `run --once` signs out when it is done, before the next flow signs in: a
/// licence that allows one API session at a time is enough for all three flows.
#[tokio::test(flavor = "multi_thread")]
async fn run_once_of_every_flow_holds_one_acumatica_session_at_a_time() {
    let options = SandboxOptions::default();
    let rig = Rig::with(
        SandboxOptions {
            acumatica: options.acumatica.max_sessions(1),
            ..options
        },
        |c| c,
    )
    .await;
    let a = rig.cmd().args(["run", "--once"]).assert();
    let err = stderr_of(&a);
    a.code(0);
    assert_eq!(
        rig.sandbox
            .acumatica()
            .state()
            .auth_counters()
            .login_limit_refusals,
        0,
        "{err}"
    );
    assert_eq!(rig.acumatica_logouts(), 3);
    assert_eq!(rig.live_sessions(), 0);
}

/// A refused vendor makes `run` exit 1; `replay` of the reference flow runs it again (exit 1):
/// both sign out.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_record_run_and_its_replay_sign_out() {
    let rig = Rig::with(SandboxOptions::default(), |config| {
        let config = config.replace(
            "fields.Status = { column = \"approved_vendors.status\" }\n",
            "fields.Status = { column = \"approved_vendors.status\" }\n\
             fields.MaxReceipt = { column = \"approved_vendors.status\", map = \"receipt\" }\n\n\
             [flows.mapping.maps.receipt]\nActive = \"100\"\n\"On Hold\" = \"50\"\nInactive = \"none\"\n",
        );
        assert!(config.contains("maps.receipt"), "the sandbox config changed");
        config
    })
    .await;
    rig.cmd()
        .args(["run", "--once", "--flow", "approved_vendors"])
        .assert()
        .code(1);
    assert_eq!(rig.acumatica_logouts(), 1);
    assert_eq!(rig.looker_logouts(), 1);
    assert_eq!(rig.live_sessions(), 0);
    rig.cmd()
        .args(["replay", "--flow", "approved_vendors"])
        .assert()
        .code(1);
    assert_eq!(rig.acumatica_logouts(), 2);
    assert_eq!(rig.looker_logouts(), 2);
    assert_eq!(rig.live_sessions(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_sign_out_is_a_warning_and_keeps_the_exit_code_and_output() {
    let rig = Rig::start().await;
    rig.sandbox.acumatica().faults().add(
        FaultRule::new(FaultKind::ServerError { status: 500 })
            .method("POST")
            .path("/entity/auth/logout"),
    );
    let a = rig
        .cmd()
        .args(["run", "--once", "--flow", "approved_vendors"])
        .assert()
        .code(0);
    let err = stderr_of(&a);
    assert!(
        err.lines()
            .any(|l| l.contains("WARN") && l.contains("signing out of Acumatica")),
        "{err}"
    );
    for secret in [
        testkit::seed::credentials::ACUMATICA_PASSWORD,
        testkit::seed::credentials::ACUMATICA_CLIENT_SECRET,
        testkit::seed::credentials::LOOKER_CLIENT_SECRET,
    ] {
        assert!(!err.contains(secret), "a secret in the log: {err}");
    }
    assert!(
        stdout_of(&a).contains("6 row(s) read, 6 record(s)"),
        "{}",
        stdout_of(&a)
    );
    // Looker is still signed out.
    assert_eq!(rig.looker_logouts(), 1);
}

/// The daemon signs out after each scheduled run (the clients sign in again at the next due
/// time) and when a service manager stops it (SIGTERM), as on Ctrl-C: every sign-in is matched
/// by a sign-out, and no session is left.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_signs_out_after_each_run_and_when_it_is_stopped_with_sigterm() {
    let rig = Rig::with(SandboxOptions::default(), |c| {
        c.replace(
            "cron = \"0 7 * * *\"",
            "cron = \"*/1 * * * * *\"\ncron_seconds = true",
        )
    })
    .await;
    let mut child = rig.daemon("approved_vendors").spawn().unwrap();
    let tokens = || {
        rig.sandbox
            .acumatica()
            .state()
            .auth_counters()
            .tokens_issued
    };
    // Wait (bounded) until two scheduled runs signed in to Acumatica.
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if tokens() >= 2 {
            break;
        }
    }
    assert!(tokens() >= 2, "two scheduled runs signed in");
    assert!(rig.acumatica_logouts() >= 1, "the first run signed out");
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "SIGTERM stops the daemon cleanly: {status:?}"
    );
    assert_eq!(rig.live_sessions(), 0);
    assert_eq!(
        rig.acumatica_logouts() as u64,
        tokens(),
        "one sign-out per sign-in"
    );
    assert_eq!(
        rig.looker_logouts() as u64,
        rig.sandbox.looker().counters().logins,
        "one Looker sign-out per login"
    );
}

/// A 429 on Looker's `DELETE /logout` is retried like any other request: the token is revoked
/// and no sign-out warning is printed.
#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_looker_sign_out_is_retried() {
    let rig = Rig::start().await;
    let throttled = rig.sandbox.looker().faults().add(
        FaultRule::new(FaultKind::TooManyRequests {
            retry_after: Some(0),
        })
        .method("DELETE")
        .path("/api/4.0/logout")
        .times(1),
    );
    let a = rig
        .cmd()
        .args(["run", "--once", "--flow", "approved_vendors"])
        .assert()
        .code(0);
    assert_eq!(rig.sandbox.looker().faults().fired(throttled), 1);
    let err = stderr_of(&a);
    assert!(!err.contains("signing out"), "{err}");
    assert_eq!(
        rig.looker_logouts(),
        2,
        "the throttled DELETE /logout and its retry: {err}"
    );
}
