//! The `ml-connector` binary against the sandbox: every subcommand, and bad input.
//!
//! Each test starts both fakes in-process, writes a config pointing at them into a temporary
//! directory, and runs the real binary with the demo credentials in its environment.

mod support;

use std::path::Path;

use assert_cmd::Command;
use connector_examples::demo::{PeriodCloseOptions, period_close};
use predicates::prelude::*;
use support::{OUTER_VARS, Rig};
use sync_core::store::StateStore as _;
use testkit::SandboxOptions;
use testkit::looker::{DataProblem, LookerConfig};

impl Rig {
    /// A rig whose Looker data has one unbalanced journal (October, branch WEST), validated per
    /// document: a run posts the other two and dead-letters that one.
    async fn with_unbalanced_journal() -> Rig {
        let looker =
            LookerConfig::default().with_data_problem(DataProblem::unbalanced_journal(10, "WEST"));
        Self::with(
            SandboxOptions {
                looker,
                ..Default::default()
            },
            // Only the first [flows.mapping] is the post flow's: a [flows.post] table in the
            // reference flow is a config error.
            |c| {
                c.replacen(
                    "[flows.mapping]\n",
                    "[flows.post]\nvalidation = \"per_document\"\n\n[flows.mapping]\n",
                    1,
                )
            },
        )
        .await
    }

    fn created(&self) -> u64 {
        self.sandbox
            .acumatica()
            .state()
            .created("JournalTransaction")
    }
}

/// The binary with a clean environment, run in `dir`.
fn bare(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("ml-connector").unwrap();
    for v in OUTER_VARS {
        c.env_remove(v);
    }
    c.current_dir(dir).arg("--no-progress");
    c
}

fn stdout_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

// ---- sandbox -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn sandbox_prints_urls_credentials_and_a_working_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sandbox.toml");
    let a = bare(dir.path())
        .args(["--json", "sandbox", "--duration", "1", "--write-config"])
        .arg(&cfg)
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert!(
        v["acumatica"]["url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert!(
        v["looker"]["base_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert_eq!(v["looker"]["client_secret"], "demo-looker-client-secret");
    assert_eq!(v["env"]["ACUMATICA_PASSWORD"], "demo-password");
    let written = std::fs::read_to_string(&cfg).unwrap();
    assert_eq!(written, v["config"].as_str().unwrap());
    assert!(
        written.contains("[[flows]]") && !written.contains("demo-password"),
        "no secret in the config"
    );
    // The config it printed is valid.
    connector_examples::config::Config::from_file(&cfg, |_| None).unwrap();
}

#[test]
fn sandbox_keeps_an_existing_config_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("edited.toml");
    std::fs::write(&cfg, "# my edited config\n").unwrap();
    let a = bare(dir.path())
        .args(["sandbox", "--duration", "1", "--write-config"])
        .arg(&cfg)
        .assert()
        .failure()
        .code(2);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        err.contains("already exists") && err.contains("--force") && err.contains("edited.toml"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        "# my edited config\n",
        "the file is untouched"
    );
    bare(dir.path())
        .args(["sandbox", "--duration", "1", "--force", "--write-config"])
        .arg(&cfg)
        .assert()
        .success();
    assert!(std::fs::read_to_string(&cfg).unwrap().contains("[[flows]]"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sandbox_text_output_names_both_fakes() {
    let dir = tempfile::tempdir().unwrap();
    bare(dir.path())
        .args(["sandbox", "--duration", "1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Acumatica  http://127.0.0.1:"))
        .stdout(predicate::str::contains("Looker     http://127.0.0.1:"))
        .stdout(predicate::str::contains(
            "export LOOKERSDK_CLIENT_SECRET=demo-looker-client-secret",
        ))
        .stdout(predicate::str::contains("--- ml-connector.toml ---"));
}

// ---- ping ----------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn ping_passes_every_check_against_the_sandbox() {
    let rig = Rig::start().await;
    rig.cmd()
        .arg("ping")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("PASS  Looker login"))
        .stdout(predicate::str::contains("PASS  Looker version"))
        .stdout(predicate::str::contains(
            "explore finance::overhead_allocation",
        ))
        .stdout(predicate::str::contains("PASS  Acumatica token"))
        .stdout(predicate::str::contains("PASS  GET /entity"))
        .stdout(predicate::str::contains(
            "PASS  endpoint Default/24.200.001",
        ))
        .stdout(predicate::str::contains("11 accounts (10 active)"))
        .stdout(predicate::str::contains("All checks passed"));
}

#[tokio::test(flavor = "multi_thread")]
async fn ping_with_bad_credentials_fails_with_exit_3() {
    let rig = Rig::start().await;
    let a = rig
        .cmd()
        .env("ACUMATICA_PASSWORD", "wrong")
        .env("LOOKERSDK_CLIENT_SECRET", "wrong")
        .args(["--json", "ping"])
        .assert()
        .code(3);
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    let checks = v["checks"].as_array().unwrap();
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["Looker login", "Acumatica token"]);
    assert!(
        !stdout_of(&a).contains("wrong"),
        "never echoes the secret it tried"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ping_with_a_wrong_endpoint_version_lists_the_offered_ones() {
    let rig = Rig::start().await;
    rig.cmd()
        .env("ACUMATICA_ENDPOINT_VERSION", "21.200.001")
        .args(["--wide", "ping"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains(
            "FAIL  endpoint Default/21.200.001",
        ))
        .stdout(predicate::str::contains(
            "the site offers 22.200.001, 23.200.001, 24.200.001",
        ))
        .stdout(predicate::str::contains("SKIP  accounts readable"));
}

#[tokio::test(flavor = "multi_thread")]
async fn ping_reports_an_unknown_looker_field_with_the_closest_name() {
    let rig = Rig::with(SandboxOptions::default(), |c| {
        c.replace(
            "sorts = [\"overhead_allocation.line_id\"]",
            "sorts = [\"overhead_allocation.line_id\"]\nfields = [\"overhead_allocation.amout\", \"overhead_allocation.account\"]",
        )
    })
    .await;
    // The two fields also leave out columns the mapping reads: a configuration error (2),
    // which outranks the unknown field (4).
    rig.cmd()
        .args(["--wide", "ping"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains(
            "FAIL  mapping columns (overhead_allocation)",
        ))
        .stdout(predicate::str::contains(
            "FAIL  explore finance::overhead_allocation",
        ))
        .stdout(predicate::str::contains("overhead_allocation.amout"))
        .stdout(predicate::str::contains("overhead_allocation.amount"));
}

// ---- plan ----------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn plan_prints_the_journals_and_writes_nothing() {
    let rig = Rig::start().await;
    let a = rig
        .cmd()
        .args(["plan", "--flow", "overhead_allocation"])
        .assert()
        .code(0);
    let out = stdout_of(&a);
    assert!(out.contains("18 row(s) from Looker, 3 journal(s)"), "{out}");
    assert_eq!(out.matches("[would post]").count(), 3, "{out}");
    assert!(
        out.contains("69100    100000      HQ       5816.50"),
        "{out}"
    );
    assert!(
        out.contains("Total                        16618.49  16618.49  balanced"),
        "{out}"
    );
    assert!(out.contains("natural key "), "{out}");
    assert!(
        out.contains("Plan: 3 of 3 journal(s) would be posted. Nothing was written."),
        "{out}"
    );
    assert_eq!(rig.created(), 0, "plan never writes to Acumatica");
    assert!(
        !rig.store().exists(),
        "plan does not create the state store"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_json_has_documents_totals_and_keys() {
    let rig = Rig::start().await;
    let a = rig.cmd().args(["--json", "plan"]).assert().code(0);
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    let plan = &v["plans"][0];
    assert_eq!(plan["flow"], "overhead_allocation");
    assert_eq!(plan["would_post"], 3);
    let j = &plan["journals"][0];
    assert_eq!(j["balanced"], true);
    assert_eq!(j["total_debit"], j["total_credit"]);
    assert!(j["natural_key"].as_str().unwrap().contains('-'));
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_reports_an_unmapped_value_and_posts_nothing() {
    // The branch map lacks WEST: every WEST row is an unmapped value.
    let rig = Rig::with(SandboxOptions::default(), |c| {
        c.replace(
            "lines.branch = { column = \"overhead_allocation.branch\" }",
            "lines.branch = { column = \"overhead_allocation.branch\", map = \"branch\" }",
        )
        .replace(
            "[flows.mapping.maps.subaccount]",
            "[flows.mapping.maps.branch]\n\"HQ\" = \"HQ\"\n\"EAST\" = \"EAST\"\n\n[flows.mapping.maps.subaccount]",
        )
    })
    .await;
    rig.cmd()
        .arg("plan")
        .assert()
        .code(4)
        .stdout(predicate::str::contains("WEST"))
        .stdout(predicate::str::contains("map `branch`").or(predicate::str::contains("map branch")))
        .stdout(predicate::str::contains("Plan: 0 of"));
    assert_eq!(rig.created(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_with_an_unknown_looker_field_exits_4_naming_it() {
    let rig = Rig::with(SandboxOptions::default(), |c| {
        c.replace(
            "lines.amount = { signed = \"overhead_allocation.amount\" }",
            "lines.amount = { signed = \"overhead_allocation.amout\" }",
        )
    })
    .await;
    rig.cmd()
        .arg("plan")
        .assert()
        .code(4)
        .stderr(predicate::str::contains("overhead_allocation.amout"))
        .stderr(predicate::str::contains("overhead_allocation.amount"));
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_reports_an_inactive_account_with_choices() {
    let looker =
        LookerConfig::default().with_data_problem(DataProblem::inactive_account(10, "EAST"));
    let rig = Rig::with(
        SandboxOptions {
            looker,
            ..Default::default()
        },
        |c| c,
    )
    .await;
    rig.cmd()
        .arg("plan")
        .assert()
        .code(4)
        .stdout(predicate::str::contains("65000"))
        .stdout(predicate::str::contains("branch=EAST"));
}

// ---- run, status, audit, replay ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn run_once_posts_each_journal_once_and_a_rerun_posts_nothing() {
    let rig = Rig::start().await;
    rig.cmd()
        .args(["run", "--once", "--flow", "overhead_allocation"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("posted as batch").count(3))
        .stdout(predicate::str::contains("3 posted, 0 duplicate(s) skipped"));
    assert_eq!(rig.created(), 3);
    let a = rig
        .cmd()
        .args(["--json", "run", "--once", "--flow", "overhead_allocation"])
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v["runs"][0]["counts"]["documents_posted"], 0);
    assert_eq!(v["runs"][0]["counts"]["duplicates_skipped"], 3);
    assert_eq!(rig.created(), 3, "the rerun created nothing");
    // The posted batches balance, on the allocation accounts.
    for b in rig
        .sandbox
        .acumatica()
        .state()
        .journal_transactions()
        .iter()
        .filter(|b| {
            b.description
                .as_deref()
                .is_some_and(|d| d.contains("[mlc:"))
        })
    {
        let dr: rust_decimal::Decimal = b.lines.iter().map(|l| l.debit).sum();
        let cr: rust_decimal::Decimal = b.lines.iter().map(|l| l.credit).sum();
        assert_eq!(dr, cr, "batch {} balances", b.batch_nbr);
        assert!(
            b.lines
                .iter()
                .all(|l| matches!(l.account.as_deref(), Some("69000" | "69100")))
        );
    }

    // status: both runs, the ledger; `run --once` released its lease, so none is held.
    rig.cmd()
        .args(["status", "--flow", "overhead_allocation"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("succeeded").count(2))
        .stdout(predicate::str::contains("ledger: 3 document(s) known"))
        .stdout(predicate::str::contains("leases: none held (free)"));
    // Leases held through the store API show with owner, fence and expiry: one live, and one
    // granted by a clock an hour behind, so it has already run out.
    let store = sync_core::store::SqliteStore::open(rig.store())
        .await
        .unwrap();
    let held = store
        .acquire_lease(
            "overhead_allocation",
            "replica-x:42",
            std::time::Duration::from_secs(600),
        )
        .await
        .unwrap()
        .expect("the lease is free after run --once");
    assert_eq!(held.fence, 3, "two runs took fences 1 and 2");
    let past =
        sync_core::schedule::ManualClock::new(chrono::Utc::now() - chrono::Duration::hours(1));
    let lagging = sync_core::store::SqliteStore::builder(rig.store())
        .clock(std::sync::Arc::new(past))
        .build()
        .await
        .unwrap();
    let stale = lagging
        .acquire_lease(
            "schedule:overhead_allocation",
            "replica-y:7",
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap()
        .unwrap();
    lagging.close().await;
    store.close().await;
    rig.cmd()
        .args(["--wide", "status", "--flow", "overhead_allocation"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("replica-x:42"))
        .stdout(predicate::str::contains("held"))
        .stdout(predicate::str::contains("replica-y:7"))
        .stdout(predicate::str::contains("expired (free to take over)"))
        .stdout(predicate::str::contains("leases: none held").not());
    let a = rig
        .cmd()
        .args(["--json", "status", "--flow", "overhead_allocation"])
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    let leases = v["flows"][0]["leases"].as_array().unwrap();
    assert_eq!(leases.len(), 2, "{v}");
    assert_eq!(leases[0]["lease"], "overhead_allocation");
    assert_eq!(leases[0]["role"], "run");
    assert_eq!(leases[0]["owner"], "replica-x:42");
    assert_eq!(leases[0]["fence"], 3);
    assert_eq!(leases[0]["expired"], false);
    assert_eq!(leases[0]["expires_at"], held.expires_at.to_rfc3339());
    assert_eq!(leases[1]["lease"], "schedule:overhead_allocation");
    assert_eq!(leases[1]["role"], "schedule");
    assert_eq!(leases[1]["owner"], "replica-y:7");
    assert_eq!(leases[1]["fence"], 1);
    assert_eq!(leases[1]["expired"], true);
    assert_eq!(leases[1]["expires_at"], stale.expires_at.to_rfc3339());
    // audit of the latest run: three skips as already posted.
    rig.cmd()
        .args(["--wide", "audit", "--flow", "overhead_allocation"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("already posted as batch").count(3));
    // replay: nothing failed.
    rig.cmd()
        .args(["replay", "--flow", "overhead_allocation"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("no failed documents"));
}

#[tokio::test(flavor = "multi_thread")]
async fn run_once_feeds_the_warehouse_and_moves_the_marks() {
    let rig = Rig::start().await;
    let a = rig
        .cmd()
        .args(["--json", "run", "--once", "--flow", "gl_feed"])
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    let entities = v["runs"][0]["entities"].as_array().unwrap();
    let jt = entities
        .iter()
        .find(|e| e["entity"] == "JournalTransaction")
        .unwrap();
    let seeded = rig.sandbox.acumatica().state().count("JournalTransaction") as u64;
    assert_eq!(
        jt["written"].as_u64().unwrap(),
        seeded,
        "the first window copies everything"
    );
    assert_eq!(jt["mark_advanced"], true);
    assert!(rig.dir.path().join("warehouse.db").exists());
    rig.cmd()
        .args(["status", "--flow", "gl_feed"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "high-water mark JournalTransaction: ",
        ))
        .stdout(predicate::str::contains("high-water mark Account: "));
}

fn stderr_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

/// The `fields` of each log line on stderr (with `--json`, each line is a JSON object); panics
/// naming a line that is not JSON.
fn stderr_json_fields(a: &assert_cmd::assert::Assert) -> Vec<serde_json::Value> {
    stderr_of(a)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .unwrap_or_else(|e| panic!("stderr line is not JSON ({e}): {l}"))
        })
        .map(|l| l["fields"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn run_once_logs_progress_lines_on_stderr_when_not_a_terminal() {
    let rig = Rig::start().await;
    let a = rig
        .cmd()
        .args(["run", "--once", "--flow", "overhead_allocation"])
        .assert()
        .code(0);
    let err = stderr_of(&a);
    let lines = |needle: &str| err.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(lines("overhead_allocation: post run started"), 1, "{err}");
    assert!(lines(" row(s) read") >= 1, "a line per page of rows: {err}");
    assert_eq!(
        lines("overhead_allocation: 3 journal(s) to handle"),
        1,
        "{err}"
    );
    assert_eq!(
        lines(": posted as batch"),
        3,
        "one line per document: {err}"
    );
    assert_eq!(
        lines("overhead_allocation: post run succeeded: "),
        1,
        "one line at the end: {err}"
    );
    assert!(
        err.contains("3 journal(s); 3 posted, 0 already present, 0 skipped, 0 not posted"),
        "{err}"
    );
    // Progress stays on stderr: stdout is the summary table alone.
    let out = stdout_of(&a);
    assert!(!out.contains("run started"), "{out}");
    assert!(!out.contains("journal(s) to handle"), "{out}");
    assert_eq!(out.matches("posted as batch").count(), 3, "{out}");

    // A rerun reports each document as already present.
    let a = rig
        .cmd()
        .args(["run", "--once", "--flow", "overhead_allocation"])
        .assert()
        .code(0);
    let err = stderr_of(&a);
    assert_eq!(
        err.lines()
            .filter(|l| l.contains(": already posted (batch "))
            .count(),
        3,
        "{err}"
    );
    assert!(err.contains("0 posted, 3 already present"), "{err}");

    // A feed run: one line per page of records, one per window; with --json the lines are
    // JSON on stderr and stdout stays one JSON document.
    let a = rig
        .cmd()
        .args(["--json", "run", "--once", "--flow", "gl_feed"])
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    let messages = stderr_json_fields(&a);
    for w in v["runs"][0]["entities"].as_array().unwrap() {
        let entity = w["entity"].as_str().unwrap();
        let pages: Vec<&serde_json::Value> = messages
            .iter()
            .filter(|m| {
                m["entity"] == entity
                    && m["message"]
                        .as_str()
                        .is_some_and(|t| t.starts_with(&format!("gl_feed: {entity} page ")))
            })
            .collect();
        let written: u64 = pages.iter().map(|m| m["written"].as_u64().unwrap()).sum();
        assert_eq!(
            written,
            w["written"].as_u64().unwrap(),
            "{entity}: the page lines add up to what the run wrote: {messages:#?}"
        );
        assert!(!pages.is_empty(), "{entity}: {messages:#?}");
        let done = messages
            .iter()
            .filter(|m| {
                m["message"].as_str().is_some_and(|t| {
                    t.starts_with(&format!("gl_feed: {entity} window complete: "))
                        && t.contains("mark moved to")
                })
            })
            .count();
        assert_eq!(done, 1, "{entity}: {messages:#?}");
    }
    assert!(
        messages.iter().any(|m| m["message"]
            .as_str()
            .is_some_and(|t| t.starts_with("gl_feed: feed run succeeded: "))),
        "{messages:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_journals_are_dead_lettered_listed_and_replayable() {
    let rig = Rig::with_unbalanced_journal().await;
    rig.cmd()
        .args(["run", "--once", "--flow", "overhead_allocation"])
        .assert()
        .code(4)
        .stdout(predicate::str::contains("posted as batch").count(2))
        .stdout(predicate::str::contains("branch=WEST"));
    assert_eq!(
        rig.created(),
        2,
        "the two valid journals posted; the unbalanced one not"
    );
    let a = rig.cmd().args(["--json", "status"]).assert().code(0);
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    let letters = v["flows"][0]["dead_letters"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{v}");
    let id = letters[0]["id"].as_i64().unwrap();
    // Replaying it re-validates: still unbalanced, still not posted.
    rig.cmd()
        .args([
            "replay",
            "--flow",
            "overhead_allocation",
            "--id",
            &id.to_string(),
        ])
        .assert()
        .code(predicate::in_iter([1, 4]));
    assert_eq!(rig.created(), 2);
    rig.cmd()
        .args(["replay", "--flow", "overhead_allocation", "--id", "999"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no unresolved failed document #999",
        ));
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_logs_progress_lines_on_stderr_when_not_a_terminal() {
    let rig = Rig::with_unbalanced_journal().await;
    rig.cmd()
        .args(["run", "--once", "--flow", "overhead_allocation"])
        .assert()
        .code(4);
    // The unbalanced journal is the one failed document; replaying it re-validates it, and it
    // stays unposted: one line per journal on stderr, one at the end.
    let a = rig
        .cmd()
        .args(["replay", "--flow", "overhead_allocation"])
        .assert()
        .code(4);
    let err = stderr_of(&a);
    let lines = |needle: &str| err.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(lines("overhead_allocation: replay run started"), 1, "{err}");
    assert_eq!(
        lines("overhead_allocation: 1 failed journal(s) to replay"),
        1,
        "{err}"
    );
    let journal: Vec<&str> = err
        .lines()
        .filter(|l| l.contains(": not posted: "))
        .collect();
    assert_eq!(journal.len(), 1, "one line per replayed journal: {err}");
    assert!(journal[0].contains("branch=WEST"), "{err}");
    assert_eq!(lines(" row(s) read"), 0, "a replay reads no rows: {err}");
    assert_eq!(
        lines("1 journal(s) replayed; 0 posted, 0 already present, 0 skipped, 1 not posted"),
        1,
        "one line at the end: {err}"
    );
    assert_eq!(lines("overhead_allocation: replay run "), 2, "{err}");
    // Progress stays on stderr: stdout is the summary table alone.
    let out = stdout_of(&a);
    assert!(!out.contains("replay run"), "{out}");
    assert!(!out.contains("to replay"), "{out}");
    assert_eq!(out.matches("not posted: ").count(), 1, "{out}");
    assert_eq!(
        rig.created(),
        2,
        "the unbalanced journal is still not posted"
    );

    // With --json the lines are JSON on stderr and stdout stays one JSON document.
    let a = rig
        .cmd()
        .args(["--json", "replay", "--flow", "overhead_allocation"])
        .assert()
        .code(4);
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v["run"]["counts"]["invalid"], 1, "{v}");
    let messages: Vec<String> = stderr_json_fields(&a)
        .iter()
        .map(|f| f["message"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m == "overhead_allocation: 1 failed journal(s) to replay"),
        "{messages:#?}"
    );
    assert_eq!(
        messages
            .iter()
            .filter(|m| m.contains(": not posted: "))
            .count(),
        1,
        "{messages:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn status_and_audit_before_any_run() {
    let rig = Rig::start().await;
    rig.cmd()
        .arg("status")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("nothing has run yet"))
        .stdout(predicate::str::contains(
            "Flow overhead_allocation (post), cron 0 6 1 * * UTC",
        ));
    rig.cmd()
        .args(["audit", "--flow", "overhead_allocation"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("nothing has run yet"));
    rig.cmd()
        .args(["run", "--once", "--flow", "overhead_allocation"])
        .assert()
        .code(0);
    rig.cmd()
        .args(["audit", "--run", "not-a-run"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no run with id `not-a-run`"));
}

// ---- vault ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn vault_stores_secrets_lists_names_only_and_feeds_the_clients() {
    let rig = Rig::start().await;
    let key = stdout_of(
        &bare(rig.dir.path())
            .args(["--json", "vault", "new-key"])
            .assert()
            .success(),
    );
    let key: serde_json::Value = serde_json::from_str(&key).unwrap();
    let key = key["key"].as_str().unwrap().to_owned();
    rig.cmd()
        .env("ML_CONNECTOR_VAULT_KEY", &key)
        .args(["vault", "store", "acumatica.password"])
        .write_stdin("demo-password\n")
        .assert()
        .success();
    let vault_file = std::fs::read_to_string(rig.dir.path().join("ml-connector.vault")).unwrap();
    assert!(
        !vault_file.contains("demo-password"),
        "sealed, not plaintext"
    );
    rig.cmd()
        .env("ML_CONNECTOR_VAULT_KEY", &key)
        .args(["vault", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("acumatica.password"))
        .stdout(predicate::str::contains("demo-password").not());
    // The password now comes from the vault.
    rig.cmd()
        .env_remove("ACUMATICA_PASSWORD")
        .env("ML_CONNECTOR_VAULT_KEY", &key)
        .arg("ping")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("PASS  Acumatica token"));
    // Without the key the vault cannot be opened: a credentials error.
    rig.cmd()
        .env_remove("ACUMATICA_PASSWORD")
        .arg("ping")
        .assert()
        .code(3)
        .stdout(predicate::str::contains("ML_CONNECTOR_VAULT_KEY"));
}

// ---- bad input -----------------------------------------------------------------------------

#[test]
fn a_missing_config_is_a_usage_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    bare(dir.path())
        .args(["--config", "nope.toml", "plan"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "config file nope.toml does not exist",
        ));
}

#[test]
fn a_malformed_config_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[looker]\nbase_url = \"https://x\"\ntimeout = \"soon\"\n",
    )
    .unwrap();
    bare(dir.path())
        .args(["--config", "bad.toml", "ping"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.toml:3:"))
        .stderr(predicate::str::contains("looker.timeout"));
    std::fs::write(dir.path().join("broken.toml"), "[looker\nbase_url = 1\n").unwrap();
    bare(dir.path())
        .args(["--config", "broken.toml", "ping"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("broken.toml:1:"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_flow_lists_the_configured_ones() {
    let rig = Rig::start().await;
    rig.cmd()
        .args(["plan", "--flow", "overhead_alocation"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "unknown flow `overhead_alocation`",
        ))
        .stderr(predicate::str::contains("overhead_allocation, gl_feed"))
        .stderr(predicate::str::contains(
            "did you mean `overhead_allocation`?",
        ));
}

#[test]
fn a_plaintext_secret_in_the_config_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.toml"),
        "[acumatica]\nurl = \"https://erp.example.com\"\nusername = \"api\"\npassword = \"hunter2\"\n",
    )
    .unwrap();
    bare(dir.path())
        .args(["--config", "c.toml", "ping"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("c.toml:4:"))
        .stderr(predicate::str::contains("refused in the config file"))
        .stderr(predicate::str::contains("ACUMATICA_PASSWORD"))
        .stderr(predicate::str::contains("hunter2").not());
}

#[test]
fn missing_credentials_say_where_to_put_them() {
    let dir = tempfile::tempdir().unwrap();
    bare(dir.path())
        .env("LOOKERSDK_BASE_URL", "http://127.0.0.1:9")
        .env("LOOKERSDK_CLIENT_ID", "id")
        .arg("ping")
        .assert()
        .code(3)
        .stdout(predicate::str::contains("LOOKERSDK_CLIENT_SECRET"));
}

#[test]
fn help_documents_the_exit_codes() {
    bare(Path::new("."))
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit codes:"))
        .stdout(predicate::str::contains("3  credentials"));
}

// ---- the main example ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn period_close_tells_the_whole_story_against_the_sandbox() {
    // The same function `cargo run --example period_close` runs; with no config it uses the
    // in-process sandbox. (Guard against a developer's environment pointing it elsewhere.)
    let options = PeriodCloseOptions::default();
    assert!(
        !connector_examples::demo::uses_real_systems(&options)
            || std::env::var("ML_CONNECTOR_CONFIG").is_ok(),
    );
    if connector_examples::demo::uses_real_systems(&options) {
        return;
    }
    let mut out = Vec::new();
    let outcome = period_close(options, &mut out)
        .await
        .expect("the story succeeds");
    let text = String::from_utf8(out).unwrap();
    assert!(outcome.sandbox);
    assert_eq!(outcome.planned, 3);
    assert_eq!(outcome.posted_batches.len(), 3);
    assert_eq!(outcome.rerun_posted, 0);
    assert_eq!(outcome.rerun_skipped, 3);
    assert!(
        outcome.warehouse_records.unwrap() >= 3,
        "the posted batches reached the warehouse"
    );
    assert_eq!(
        outcome.acumatica_sessions_left,
        Some(0),
        "the story signs out of Acumatica"
    );
    for line in [
        "== 1. The overhead allocation query in Looker",
        "Model finance, explore overhead_allocation",
        "Plan: 3 of 3 journal(s) would be posted. Nothing was written.",
        "== 3. Posted to Acumatica, exactly once per natural key",
        "69100    100000       5816.50",
        "== 4. The same close run again: nothing is posted twice",
        "Journal transactions created in Acumatica: 3 by the first run, 0 by the rerun.",
        "== 5. The warehouse feed: the latest GL entries copied for reporting",
        "batch 000061 is in the warehouse",
        "Period close complete: 3 journal(s) posted once; the rerun posted 0 and skipped 3.",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_runs_flows_on_their_cadence_and_stops_on_ctrl_c() {
    // Every two seconds (six fields, seconds first: cron_seconds = true).
    let rig = Rig::with(SandboxOptions::default(), |c| {
        c.replace(
            "cron = \"0 6 1 * *\"",
            "cron = \"*/2 * * * * *\"\ncron_seconds = true",
        )
    })
    .await;
    let mut child = rig.daemon("overhead_allocation").spawn().unwrap();
    // Wait (bounded) for at least two scheduled runs in the run history.
    let mut runs = 0;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let out = rig
            .cmd()
            .args(["--json", "status", "--flow", "overhead_allocation"])
            .output()
            .unwrap();
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) {
            runs = v["flows"][0]["runs"].as_array().map_or(0, Vec::len);
            if runs >= 2 {
                break;
            }
        }
    }
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(
        runs >= 2,
        "the daemon ran the flow at least twice, saw {runs}"
    );
    assert!(
        status.success(),
        "Ctrl-C stops the daemon cleanly: {status:?}"
    );
    assert_eq!(
        rig.created(),
        3,
        "every scheduled run after the first posted nothing"
    );
}
