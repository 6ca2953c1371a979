//! `--json`: one stable schema per command; states as snake_case tags with their fields, the
//! same vocabulary in `plan` and `run`, `kind` on every flow, `run_id` and `problems` on
//! failure, and usage errors as JSON too.

mod support;

use predicates::prelude::*;
use serde_json::Value;
use support::{Rig, stdout_of};
use testkit::faults::{FaultKind, FaultRule};

const FLOW: &str = "overhead_allocation";

fn json_of(a: &assert_cmd::assert::Assert) -> Value {
    let out = stdout_of(a);
    assert!(
        !out.contains(" { ") && !out.contains("Some(") && !out.contains("Posted {"),
        "Rust debug text in the JSON: {out}"
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not one JSON document ({e}): {out}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_and_run_speak_the_same_tagged_states() {
    let rig = Rig::start().await;
    let plan = json_of(
        &rig.cmd()
            .args(["--json", "plan", "--flow", FLOW])
            .assert()
            .code(0),
    );
    let journals = plan["plans"][0]["journals"].as_array().unwrap();
    assert_eq!(plan["plans"][0]["kind"], "post");
    assert!(!journals.is_empty());
    assert!(
        journals.iter().all(|j| j["state"] == "would_post"),
        "{journals:#?}"
    );

    let refs = json_of(
        &rig.cmd()
            .args(["--json", "plan", "--flow", "approved_vendors"])
            .assert()
            .code(0),
    );
    let records = refs["plans"][0]["records"].as_array().unwrap();
    assert!(!records.is_empty());
    assert!(
        records
            .iter()
            .all(|r| ["would_create", "would_update", "unchanged"]
                .contains(&r["state"].as_str().unwrap())),
        "{records:#?}"
    );

    let run = json_of(&rig.cmd().args(["--json", "run", "--once"]).assert().code(0));
    let ran = run["runs"][2]["records"].as_array().unwrap();
    assert_eq!(ran.len(), records.len());
    assert!(
        ran.iter()
            .all(|r| ["created", "updated", "unchanged"].contains(&r["state"].as_str().unwrap())),
        "{ran:#?}"
    );
    assert_eq!(run["ok"], true);
    let runs = run["runs"].as_array().unwrap();
    let kinds: Vec<&str> = runs.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["post", "feed", "reference"], "{run:#}");
    for r in runs {
        assert!(r["run_id"].is_string(), "{r:#}");
        assert!(r["problems"].as_array().is_some_and(Vec::is_empty), "{r:#}");
    }
    let docs = runs[0]["documents"].as_array().unwrap();
    assert_eq!(docs.len(), journals.len());
    for d in docs {
        assert_eq!(d["state"], "posted", "{d:#}");
        assert!(d["batch"].as_str().is_some_and(|b| !b.is_empty()), "{d:#}");
    }

    // Planned again: the same tag a run reports for a journal posted before, with its batch.
    let plan = json_of(
        &rig.cmd()
            .args(["--json", "plan", "--flow", FLOW])
            .assert()
            .code(0),
    );
    let again = plan["plans"][0]["journals"].as_array().unwrap();
    let batches: Vec<&Value> = docs.iter().map(|d| &d["batch"]).collect();
    for j in again {
        assert_eq!(j["state"], "already_posted", "{j:#}");
        assert!(batches.contains(&&j["batch"]), "{j:#}");
    }
    let run = json_of(
        &rig.cmd()
            .args(["--json", "run", "--once", "--flow", FLOW])
            .assert()
            .code(0),
    );
    assert!(
        run["runs"][0]["documents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["state"] == "already_posted")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_run_has_its_run_id_and_problems() {
    let rig = Rig::start().await;
    rig.sandbox.acumatica().faults().add(
        FaultRule::new(FaultKind::ServerError { status: 422 })
            .method("PUT")
            .path("/entity/Default/*/JournalTransaction"),
    );
    let a = rig
        .cmd()
        .args(["--json", "run", "--once", "--flow", FLOW])
        .assert()
        .code(predicate::ne(0));
    let v = json_of(&a);
    assert_eq!(v["ok"], false);
    let r = &v["runs"][0];
    assert_eq!(r["kind"], "post");
    assert!(r["run_id"].is_string(), "{r:#}");
    let docs = r["documents"].as_array().unwrap();
    assert!(
        docs.iter()
            .all(|d| d["state"] == "failed" && d["error"].is_string()),
        "{docs:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_errors_are_json_with_json() {
    let rig = Rig::start().await;
    let a = rig
        .cmd()
        .args(["--json", "no-such-command"])
        .assert()
        .code(2);
    let v = json_of(&a);
    assert_eq!(v["ok"], false);
    assert_eq!(v["exit_code"], 2);
    assert_eq!(v["error_kind"], "usage");
    assert!(
        v["error"].as_str().unwrap().contains("no-such-command"),
        "{v:#}"
    );
    assert!(v["problems"].as_array().is_some_and(|p| !p.is_empty()));
    // A missing required option, and an error of the command itself: the same shape.
    let v = json_of(&rig.cmd().args(["--json", "replay"]).assert().code(2));
    assert!(v["error"].as_str().unwrap().contains("--flow"), "{v:#}");
    let v = json_of(
        &rig.cmd()
            .args(["--json", "replay", "--flow", "nope"])
            .assert()
            .code(2),
    );
    assert_eq!(v["error_kind"], "usage");
    assert!(v["problems"].is_array());
    // Without --json clap's own text on stderr.
    rig.cmd()
        .args(["no-such-command"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("no-such-command"));
}

/// The daemon with --json: one JSON object per line on stdout, one per due time, its outcome a
/// snake_case tag (was Rust debug text such as `Completed`).
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_prints_json_lines() {
    use std::io::BufRead;
    let rig = Rig::edited(|c| {
        c.replacen(
            "cron = \"0 6 1 * *\"",
            "cron = \"* * * * * *\"\ncron_seconds = true",
            1,
        )
    })
    .await;
    let mut child = rig
        .daemon(FLOW)
        .arg("--json")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut due = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while due.len() < 2 && std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(200)) {
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            if v["event"] == "due_time" {
                due.push(v);
            }
        }
    }
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    assert!(due.len() >= 2, "{due:#?}");
    for v in &due {
        assert_eq!(v["flow"], FLOW, "{v:#}");
        assert!(v["occurrence"].is_string(), "{v:#}");
        assert!(
            ["completed", "already_ran", "held_elsewhere"]
                .contains(&v["outcome"].as_str().unwrap()),
            "{v:#}"
        );
    }
}
