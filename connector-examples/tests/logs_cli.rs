//! Logs a log shipper can read: with `--log-format json` every stderr line is one JSON
//! object; the daemon's run summary is one structured record (`run finished`), at ERROR for a
//! failed run; a retried request is one WARN record with its retry and 429 counts. In text, one line per record.

#![cfg(unix)]

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{Rig, finish, process, signal, wait_until};
use testkit::SandboxOptions;
use testkit::faults::{FaultKind, FaultRule};
use testkit::looker::{DataProblem, LookerConfig};

/// Every stderr line as JSON, its `fields` (the message and the record's fields) lifted beside
/// `level` and `timestamp`.
fn records(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .map(|l| {
            let mut r = serde_json::from_str::<Value>(l)
                .unwrap_or_else(|e| panic!("not one JSON record per line ({e}): {l:?}\n{stderr}"));
            let fields = r["fields"].as_object().cloned().unwrap_or_default();
            for (k, v) in fields {
                r[k] = v;
            }
            r
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_logs_json_lines_with_one_summary_per_run_failed_runs_at_error() {
    let looker =
        LookerConfig::default().with_data_problem(DataProblem::unbalanced_journal(10, "WEST"));
    let rig = Rig::with(
        SandboxOptions {
            looker,
            ..Default::default()
        },
        |c| {
            c.replacen(
                "cron = \"0 6 1 * *\"",
                "cron = \"*/1 * * * * *\"\ncron_seconds = true",
                1,
            )
        },
    )
    .await;
    // One throttled Acumatica read: retried.
    rig.sandbox.acumatica().faults().add(
        FaultRule::new(FaultKind::TooManyRequests {
            retry_after: Some(0),
        })
        .method("GET")
        .path("/entity/**")
        .times(1),
    );
    let child = process(
        &rig,
        &[
            "--log-format",
            "json",
            "run",
            "--flow",
            "overhead_allocation",
        ],
    );
    let runs = || {
        rig.sandbox
            .acumatica()
            .state()
            .auth_counters()
            .tokens_issued
    };
    assert!(wait_until(60, || runs() >= 2).await, "two scheduled runs");
    tokio::time::sleep(Duration::from_millis(500)).await;
    signal(&child, "TERM");
    let (exit, _out, err, _) = finish(child).await;
    assert_eq!(exit.code(), Some(0), "{err}");
    let records = records(&err);
    for r in &records {
        assert!(r["level"].is_string() && r["timestamp"].is_string(), "{r}");
        assert!(r["message"].is_string(), "{r}");
    }
    let summary = records
        .iter()
        .find(|r| r["message"] == "run finished" && r["flow"] == "overhead_allocation")
        .unwrap_or_else(|| panic!("a run summary record: {err}"));
    assert_eq!(summary["level"], "ERROR", "{summary}");
    assert_eq!(summary["status"], "failed", "{summary}");
    assert_eq!(summary["exit_code"], 4, "{summary}");
    assert_eq!(summary["read"], 18, "{summary}");
    assert!(summary["run_id"].as_str().unwrap().len() > 8, "{summary}");
    assert!(
        summary["error"].as_str().unwrap().contains("balance"),
        "{summary}"
    );
    // Retries are summarized: one WARN record per retried request, with its counts.
    let retried: Vec<&Value> = records.iter().filter(|r| r["event"] == "retried").collect();
    assert_eq!(
        retried.len(),
        1,
        "one summary for the one throttled read: {err}"
    );
    let retry = retried[0];
    assert_eq!(retry["level"], "WARN", "{retry}");
    assert_eq!(retry["system"], "acumatica", "{retry}");
    assert_eq!(retry["retries"], 1, "{retry}");
    assert_eq!(retry["throttled"], 1, "{retry}");
    assert_eq!(retry["outcome"], "succeeded", "{retry}");
    assert!(
        !records
            .iter()
            .any(|r| r["message"] == "retrying after a transient failure"),
        "the single retries stay at DEBUG: {err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_once_logs_json_lines() {
    let rig = Rig::start().await;
    let a = rig
        .cmd()
        .args(["--log-format", "json", "run", "--once"])
        .assert()
        .code(0);
    let err = support::stderr_of(&a);
    let records = records(&err);
    assert!(records.len() > 5, "{err}");
    assert!(
        !support::stdout_of(&a).trim_start().starts_with('{'),
        "the result stays a table on stdout"
    );
}

/// Text logs: one line per record even for a failing daemon run (whose errors span lines):
/// every line starts with its timestamp.
#[tokio::test(flavor = "multi_thread")]
async fn text_logs_keep_each_record_on_one_line() {
    let looker =
        LookerConfig::default().with_data_problem(DataProblem::unbalanced_journal(10, "WEST"));
    let rig = Rig::with(
        SandboxOptions {
            looker,
            ..Default::default()
        },
        |c| {
            c.replacen(
                "cron = \"0 6 1 * *\"",
                "cron = \"*/1 * * * * *\"\ncron_seconds = true",
                1,
            )
        },
    )
    .await;
    let child = process(&rig, &["run", "--flow", "overhead_allocation"]);
    let logins = || rig.sandbox.looker().counters().logins;
    assert!(wait_until(60, || logins() >= 2).await, "two scheduled runs");
    signal(&child, "TERM");
    let (exit, _out, err, _) = finish(child).await;
    assert_eq!(exit.code(), Some(0), "{err}");
    assert!(err.contains("run finished"), "{err}");
    for line in err.lines() {
        let stamp = line.split_whitespace().next().unwrap_or_default();
        assert!(
            chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
            "a line that is not a record of its own: {line:?}\n{err}"
        );
    }
}
