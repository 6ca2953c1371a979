//! Real clients prove the fakes: the community Python client `easy_acumatica`
//! and the official `looker_sdk`, both from PyPI and unchanged, run against
//! the sandbox (both fakes, demo data). Each drives the scripts in
//! `tests/py/` with the interpreter named by `ML_CONNECTOR_TEST_PYTHON` (a
//! venv with the pinned packages; `.ci/run` makes one), then checks what the
//! script printed against the demo data and the fake's own state.
//!
//! Without `ML_CONNECTOR_TEST_PYTHON` each test prints that it was skipped.
//! Locally:
//!
//! ```text
//! python3 -m venv /tmp/mlc-venv
//! /tmp/mlc-venv/bin/pip install easy-acumatica==0.6.1 looker_sdk==26.22.0
//! ML_CONNECTOR_TEST_PYTHON=/tmp/mlc-venv/bin/python cargo test -p ml-connector-tests --test real_clients
//! ```

use std::path::PathBuf;
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use testkit::looker::TaskStatus;
use testkit::sandbox::{DEMO_ENDPOINT_VERSION, demo_period};
use testkit::seed::{self, credentials as c};
use testkit::{Sandbox, SandboxOptions};
use tokio::process::Command;

const PYTHON_VAR: &str = "ML_CONNECTOR_TEST_PYTHON";

/// The interpreter to run the scripts with, or `None` (skipped).
fn python() -> Option<String> {
    std::env::var(PYTHON_VAR)
        .ok()
        .filter(|p| !p.trim().is_empty())
}

/// Run `tests/py/<script>` with `env`; the last line of its stdout is the
/// JSON summary, returned with everything the script printed. Fails with
/// the script's output when it fails.
async fn run_script(python: &str, script: &str, env: &[(&str, String)]) -> (Value, String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("py")
        .join(script);
    let mut cmd = Command::new(python);
    cmd.arg(&path)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(180), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish within 180 s"))
        .unwrap_or_else(|e| panic!("cannot run {python} ({PYTHON_VAR}): {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let summary = serde_json::from_str(last).unwrap_or_else(|e| {
        panic!("{script}: last stdout line is not JSON ({e}):\n{stdout}\n--- stderr\n{stderr}")
    });
    (summary, format!("{stdout}\n{stderr}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().expect("a string").to_owned())
        .collect()
}

#[tokio::test]
async fn easy_acumatica_runs_unchanged_against_the_acumatica_fake() {
    let Some(python) = python() else {
        println!("skipped: {PYTHON_VAR} not set");
        return;
    };
    let sandbox = Sandbox::start(SandboxOptions::default()).await.unwrap();
    let branch = seed::BRANCHES[0].id;
    let (debit_account, credit_account) = (seed::OVERHEAD_POOL_ACCOUNT, "10200");
    let vendor = &seed::VENDORS[1];
    let (out, printed) = run_script(
        &python,
        "easy_acumatica_client.py",
        &[
            ("ACUMATICA_URL", sandbox.acumatica_url().to_owned()),
            ("ACUMATICA_USERNAME", c::ACUMATICA_USERNAME.to_owned()),
            ("ACUMATICA_PASSWORD", c::ACUMATICA_PASSWORD.to_owned()),
            ("ACUMATICA_TENANT", seed::TENANT.to_owned()),
            ("ML_TEST_PERIOD", demo_period()),
            (
                "ML_TEST_ACCOUNTS",
                format!("{debit_account},{credit_account}"),
            ),
            ("ML_TEST_BRANCH", branch.to_owned()),
            ("ML_TEST_VENDOR", vendor.id.to_owned()),
        ],
    )
    .await;

    // Started on the newest version, with services and models from swagger.json.
    assert_eq!(out["endpoint_version"], DEMO_ENDPOINT_VERSION);
    let services = strings(&out["services"]);
    for entity in [
        "Account",
        "Bill",
        "Check",
        "FinancialPeriod",
        "JournalTransaction",
        "Ledger",
        "NonStockItem",
        "PurchaseOrder",
        "StockItem",
        "Subaccount",
        "Vendor",
    ] {
        assert!(
            services.iter().any(|s| s == entity),
            "no service {entity}: {services:?}"
        );
    }
    let header = strings(&out["journal_model_fields"]);
    for f in [
        "BatchNbr",
        "Module",
        "Details",
        "PostPeriod",
        "TransactionDate",
    ] {
        assert!(
            header.iter().any(|h| h == f),
            "JournalTransaction model lacks {f}"
        );
    }
    let line = strings(&out["journal_line_model_fields"]);
    for f in [
        "Account",
        "DebitAmount",
        "CreditAmount",
        "TransactionDescription",
    ] {
        assert!(
            line.iter().any(|h| h == f),
            "JournalTransactionDetail model lacks {f}"
        );
    }
    assert_eq!(
        out["journal_custom_fields"],
        json!([
            "BatchModule.CuryControlTotal",
            "BatchModule.CuryCreditTotal",
            "BatchModule.CuryDebitTotal"
        ])
    );

    // The generic-inquiry metadata it reads at start-up lists none, and
    // nothing failed on the way (it logs failures and carries on).
    assert_eq!(out["inquiries"], json!([]));
    for complaint in ["Error fetching metadata", "Could not build", "Traceback"] {
        assert!(
            !printed.contains(complaint),
            "easy_acumatica complained:\n{printed}"
        );
    }

    // List, filter and get by key, against the demo data.
    let first_three: Vec<&str> = seed::VENDORS.iter().take(3).map(|v| v.id).collect();
    assert_eq!(out["vendors_listed"], json!(first_three));
    let mut active: Vec<&str> = seed::VENDORS
        .iter()
        .filter(|v| v.status == "Active")
        .map(|v| v.id)
        .collect();
    active.sort_unstable();
    assert_eq!(out["active_vendors"], json!(active));
    assert_eq!(out["active_statuses"], json!(["Active"]));
    assert_eq!(
        out["vendor_by_key"],
        json!({"id": vendor.id, "name": vendor.name})
    );

    // The journal: as answered, and as the fake stored it.
    let journal = &out["journal"];
    assert_eq!(journal["module"], "GL");
    assert_eq!(journal["lines"], 2);
    assert_eq!(journal["debit"], journal["credit"]);
    let batch_nbr = journal["batch_nbr"].as_str().expect("a batch number");
    assert_eq!(out["journal_read_back"], batch_nbr);
    let state = sandbox.acumatica().state();
    assert_eq!(state.created("JournalTransaction"), 1);
    let stored = state
        .journal_transactions()
        .into_iter()
        .find(|b| b.module == "GL" && b.batch_nbr == batch_nbr)
        .unwrap_or_else(|| panic!("batch GL/{batch_nbr} is not in the fake"));
    assert_eq!(journal["status"], stored.status.as_str());
    assert!(!stored.hold);
    assert_eq!(stored.post_period.as_deref(), Some(demo_period().as_str()));
    assert_eq!(
        stored.description.as_deref(),
        Some("easy_acumatica real-client test")
    );
    assert_eq!(stored.lines.len(), 2);
    let amount = Decimal::new(1255, 1);
    let debit: Decimal = stored.lines.iter().map(|l| l.debit).sum();
    let credit: Decimal = stored.lines.iter().map(|l| l.credit).sum();
    assert_eq!((debit, credit), (amount, amount), "balanced at 125.5");
    assert_eq!(stored.lines[0].account.as_deref(), Some(debit_account));
    assert_eq!(stored.lines[1].account.as_deref(), Some(credit_account));
    assert!(
        stored
            .lines
            .iter()
            .all(|l| l.branch.as_deref() == Some(branch))
    );

    // Signed in with a cookie session, and out again.
    assert_eq!(out["logout_status"], 204);
    let auth = state.auth_counters();
    assert!(auth.cookie_logins >= 1, "{auth:?}");
    assert!(auth.logouts >= 1, "{auth:?}");
    assert_eq!(state.active_sessions(), 0, "a session was left open");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn looker_sdk_runs_unchanged_against_the_looker_fake() {
    let Some(python) = python() else {
        println!("skipped: {PYTHON_VAR} not set");
        return;
    };
    let sandbox = Sandbox::start(SandboxOptions::default()).await.unwrap();
    let (out, _) = run_script(
        &python,
        "looker_sdk_client.py",
        &[
            ("LOOKERSDK_BASE_URL", sandbox.looker_url().to_owned()),
            ("LOOKERSDK_CLIENT_ID", c::LOOKER_CLIENT_ID.to_owned()),
            (
                "LOOKERSDK_CLIENT_SECRET",
                c::LOOKER_CLIENT_SECRET.to_owned(),
            ),
            ("LOOKERSDK_VERIFY_SSL", "false".to_owned()),
            ("ML_TEST_MODEL", "finance".to_owned()),
            ("ML_TEST_EXPLORE", "approved_vendors".to_owned()),
        ],
    )
    .await;

    assert_eq!(out["logged_in"], true);
    assert_eq!(out["explore"]["name"], "approved_vendors");
    assert_eq!(out["explore"]["model"], "finance");
    let dims = strings(&out["explore"]["dimensions"]);
    assert_eq!(dims[0], "approved_vendors.vendor_id");
    assert!(dims.iter().any(|d| d == "approved_vendors.status"));

    // The explore's rows are the demo vendors: all of them inline, the
    // active ones through the saved query and the async task.
    let all: Vec<Value> = seed::VENDORS
        .iter()
        .map(|v| json!([v.id, v.status]))
        .collect();
    assert_eq!(out["inline"], json!(all));
    let active: Vec<Value> = seed::VENDORS
        .iter()
        .filter(|v| v.status == "Active")
        .map(|v| json!([v.id, v.status]))
        .collect();
    assert_eq!(out["saved_run"], json!(active));
    assert_eq!(out["task_rows"], json!(active));
    assert_eq!(
        strings(&out["task_statuses"]).last().map(String::as_str),
        Some("complete")
    );

    // The fake saw a saved query with the filter, and the task ran it.
    let looker = sandbox.looker();
    let saved_id = out["saved_query_id"].as_str().expect("a query id");
    let saved = looker
        .queries()
        .into_iter()
        .find(|q| q.id == saved_id)
        .unwrap_or_else(|| panic!("query {saved_id} is not in the fake"));
    assert_eq!(
        (saved.model.as_str(), saved.view.as_str()),
        ("finance", "approved_vendors")
    );
    assert_eq!(
        saved
            .filters
            .get("approved_vendors.status")
            .map(String::as_str),
        Some("Active")
    );
    let task_id = out["task_id"].as_str().expect("a task id");
    let task = looker
        .tasks()
        .into_iter()
        .find(|t| t.id == task_id)
        .unwrap_or_else(|| panic!("task {task_id} is not in the fake"));
    assert_eq!(task.query_id, saved_id);
    assert_eq!(task.status, TaskStatus::Complete);
    let counters = looker.counters();
    assert!(
        counters.logins >= 1 && counters.logouts >= 1,
        "{counters:?}"
    );
    assert_eq!(out["logged_out"], true);
    assert_eq!(looker.live_tokens(), 0, "the SDK's token is still live");
    sandbox.shutdown().await;
}
