//! `ml-connector config check`: the config file validated offline, every problem listed with
//! its file:line:col; cron cadences that are ambiguous (six fields) or never fire are refused
//! when the file is read; a password in any database URL is a credentials error (exit 3).

mod support;

use predicates::prelude::*;
use support::{Rig, stdout_of};

/// Nothing was sent to either fake and nothing was written next to the config.
fn assert_offline(rig: &Rig) {
    assert!(
        rig.sandbox.acumatica().log().is_empty(),
        "an Acumatica request"
    );
    assert!(
        rig.sandbox.looker_server().log().is_empty(),
        "a Looker request"
    );
    let files: Vec<String> = std::fs::read_dir(rig.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["ml-connector.toml"], "no store, warehouse or vault");
}

fn line_of(rig: &Rig, needle: &str) -> usize {
    let text = std::fs::read_to_string(&rig.config).unwrap();
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?}"))
        + 1
}

#[tokio::test(flavor = "multi_thread")]
async fn a_good_config_passes_without_contacting_anything() {
    let rig = Rig::start().await;
    rig.cmd()
        .env_clear()
        .args(["config", "check"])
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("OK: "))
        .stdout(predicate::str::contains("overhead_allocation (post)"));
    let a = rig
        .cmd()
        .args(["--json", "config", "check"])
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["flows"].as_array().unwrap().len(), 3);
    assert_offline(&rig);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_problem_is_listed_with_its_line() {
    // Three flows, three problems: a six-field cron without cron_seconds, a cron that never
    // fires, an unknown time zone.
    let rig = Rig::edited(|c| {
        c.replacen("cron = \"0 6 1 * *\"", "cron = \"0 0 6 1 * *\"", 1)
            .replacen("cron = \"*/15 * * * *\"", "cron = \"0 6 31 2 *\"", 1)
            .replacen(
                "cron = \"0 7 * * *\"",
                "cron = \"0 7 * * *\"\ntime_zone = \"Mars/Olympus\"",
                1,
            )
    })
    .await;
    let config = rig.config.display().to_string();
    let a = rig.cmd().args(["config", "check"]).assert().code(2);
    let out = stdout_of(&a);
    assert!(
        out.starts_with(&format!("PROBLEM: {config}: 3 problem(s)")),
        "{out}"
    );
    let six = line_of(&rig, "0 0 6 1 * *");
    let never = line_of(&rig, "0 6 31 2 *");
    let tz = line_of(&rig, "Mars/Olympus");
    for (line, what) in [
        (six, "six fields"),
        (never, "never fires"),
        (tz, "Mars/Olympus"),
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("{config}:{line}:")) && l.contains(what)),
            "line {line} ({what}) in {out}"
        );
    }
    assert!(out.contains("cron_seconds = true"), "{out}");
    // JSON: the same problems as an array.
    let a = rig
        .cmd()
        .args(["--json", "config", "check"])
        .assert()
        .code(2);
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["problems"].as_array().unwrap().len(), 3, "{v:#}");
    // Every other command refuses the file the same way, naming all three.
    rig.cmd()
        .args(["status"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("3 problems in the configuration"));
    assert_offline(&rig);
}

#[tokio::test(flavor = "multi_thread")]
async fn six_fields_run_when_seconds_are_asked_for() {
    let rig = Rig::edited(|c| {
        c.replacen(
            "cron = \"0 6 1 * *\"",
            "cron = \"30 0 6 1 * *\"\ncron_seconds = true",
            1,
        )
    })
    .await;
    rig.cmd().args(["config", "check"]).assert().code(0);
    rig.cmd()
        .args(["status"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("overhead_allocation"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_in_any_database_url_is_a_credentials_error() {
    let pg = "postgres://app:hunter2@db.example.com/ml";
    // The store, from the file.
    let rig = Rig::edited(|c| {
        let store = c
            .lines()
            .find(|l| l.starts_with("url = \"sqlite://") && l.contains("ml-connector.db"))
            .unwrap()
            .to_owned();
        c.replacen(&store, &format!("url = \"{pg}\""), 1)
    })
    .await;
    for args in [&["config", "check"][..], &["status"][..]] {
        let a = rig.cmd().args(args).assert().code(3);
        let all = format!("{}{}", stdout_of(&a), support::stderr_of(&a));
        assert!(
            all.contains("store.url") && all.contains("password"),
            "{all}"
        );
        assert!(
            !all.contains("hunter2"),
            "the password is never echoed: {all}"
        );
    }
    // The store, from the environment.
    let rig = Rig::start().await;
    let a = rig
        .cmd()
        .env("ML_CONNECTOR_STORE_URL", pg)
        .args(["status"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("ML_CONNECTOR_STORE_URL"));
    assert!(!support::stderr_of(&a).contains("hunter2"));
    // A feed flow's warehouse, from the file.
    let rig = Rig::edited(|c| {
        let wh = c
            .lines()
            .find(|l| l.starts_with("warehouse = "))
            .unwrap()
            .to_owned();
        c.replacen(&wh, &format!("warehouse = \"{pg}\""), 1)
    })
    .await;
    let a = rig.cmd().args(["status"]).assert().code(3);
    let err = support::stderr_of(&a);
    assert!(
        err.contains("warehouse") && err.contains("password"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}
