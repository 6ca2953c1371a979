//! A reference flow's progress through the binary when stderr is not a terminal: one log line
//! when the run starts, per page of rows, when the rows are mapped, per batch of keys looked
//! up, per record with its outcome, and one at the end; stdout keeps the summary alone.

mod support;

use support::{Rig, stderr_of, stdout_of};

#[tokio::test(flavor = "multi_thread")]
async fn a_reference_run_logs_progress_lines_on_stderr_when_not_a_terminal() {
    let rig = Rig::start().await;
    rig.drift_vendors().await;
    let a = rig
        .cmd()
        .args(["run", "--once", "--flow", "approved_vendors"])
        .assert()
        .code(0);
    let err = stderr_of(&a);
    let progress: Vec<&str> = err
        .lines()
        // The message, without the span before it and the fields after it.
        .filter_map(|l| l.split_once(" approved_vendors: ").map(|(_, rest)| rest))
        .filter_map(|rest| {
            rest.split_once(" flow=\"approved_vendors\"")
                .map(|(m, _)| m)
        })
        .collect();
    assert_eq!(
        progress,
        [
            "reference run started",
            "6 row(s) read",
            "6 Vendor record(s) to compare",
            "keys looked up, batch 1: 6 key(s), 5 found, 1 absent (6 so far)",
            "Vendor/V000001 (row 1): updated: Terms, VendorName",
            "Vendor/V000002 (row 2): created: Status, Terms, VendorClass, VendorName",
            "Vendor/V000003 (row 3): unchanged",
            "Vendor/V000004 (row 4): unchanged",
            "Vendor/V000005 (row 5): unchanged",
            "Vendor/V000006 (row 6): unchanged",
            "reference run succeeded: 6 row(s) read, 6 record(s); 1 created, 1 updated, 4 unchanged, 0 rejected, 0 failed",
        ],
        "{err}"
    );
    assert!(
        err.lines()
            .filter(|l| l.contains("approved_vendors: "))
            .all(|l| l.contains("INFO")),
        "{err}"
    );
    // Progress stays on stderr: stdout is the summary table alone.
    let out = stdout_of(&a);
    assert!(!out.contains("run started"), "{out}");
    assert!(!out.contains("keys looked up"), "{out}");
    assert!(out.contains("updated: Terms, VendorName"), "{out}");

    // With --json the lines are JSON objects on stderr with the counts as fields, and stdout
    // is one JSON document.
    let a = rig
        .cmd()
        .args(["--json", "run", "--once", "--flow", "approved_vendors"])
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v["runs"][0]["counts"]["unchanged"], 6);
    let fields: Vec<serde_json::Value> = stderr_of(&a)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["fields"].clone())
        .collect();
    let lookup = fields
        .iter()
        .find(|f| f["batch"] == 1)
        .unwrap_or_else(|| panic!("{fields:#?}"));
    assert_eq!(lookup["keys"], 6);
    assert_eq!(lookup["found"], 6);
    let records: Vec<&serde_json::Value> = fields
        .iter()
        .filter(|f| {
            f["natural_key"]
                .as_str()
                .is_some_and(|k| k.starts_with("Vendor/"))
        })
        .collect();
    assert_eq!(records.len(), 6, "{fields:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_record_is_logged_as_rejected_and_the_end_counts_it() {
    let rig = Rig::with(testkit::SandboxOptions::default(), |config| {
        config.replace(
            "fields.Status = { column = \"approved_vendors.status\" }\n",
            "fields.Status = { column = \"approved_vendors.status\" }\n\
             fields.MaxReceipt = { column = \"approved_vendors.status\", map = \"receipt\" }\n\n\
             [flows.mapping.maps.receipt]\nActive = \"100\"\n\"On Hold\" = \"50\"\nInactive = \"none\"\n",
        )
    })
    .await;
    let a = rig
        .cmd()
        .args(["run", "--once", "--flow", "approved_vendors"])
        .assert()
        .code(1);
    let err = stderr_of(&a);
    let rejected: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("approved_vendors: Vendor/V000006 (row 6): REJECTED (dead letter #"))
        .collect();
    assert_eq!(rejected.len(), 1, "{err}");
    assert!(
        err.contains("reference run completed_with_errors: 6 row(s) read, 6 record(s); 0 created, 5 updated, 0 unchanged, 1 rejected, 0 failed"),
        "{err}"
    );

    // replay runs the flow: the same lines, from the replay command.
    let a = rig
        .cmd()
        .args(["replay", "--flow", "approved_vendors"])
        .assert()
        .code(1);
    let err = stderr_of(&a);
    assert!(
        err.contains("approved_vendors: reference run started"),
        "{err}"
    );
    assert!(err.contains("1 rejected, 0 failed"), "{err}");
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("(row 5): unchanged"))
            .count(),
        1,
        "{err}"
    );
}
