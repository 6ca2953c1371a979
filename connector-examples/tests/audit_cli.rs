//! `ml-connector audit` for an auditor: the journal lines posted and who ran it, as CSV too.

mod support;

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use support::{Rig, stdout_of};
use testkit::seed::credentials;

const FLOW: &str = "overhead_allocation";

#[tokio::test(flavor = "multi_thread")]
async fn the_csv_trail_lists_every_posted_line_with_who_ran_it_and_no_secret() {
    let rig = Rig::start().await;
    rig.cmd()
        .env("USER", "audrey")
        .args(["run", "--once", "--flow", FLOW])
        .assert()
        .code(0);
    let posted = rig
        .sandbox
        .acumatica()
        .state()
        .created("JournalTransaction");
    assert!(posted > 0);

    let a = rig
        .cmd()
        .args(["audit", "--flow", FLOW, "--format", "csv"])
        .assert()
        .code(0);
    let text = stdout_of(&a);
    for secret in [
        credentials::ACUMATICA_PASSWORD,
        credentials::ACUMATICA_CLIENT_SECRET,
        credentials::LOOKER_CLIENT_SECRET,
    ] {
        assert!(!text.contains(secret), "a secret in the audit CSV");
    }
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!(
        rows.iter().all(|r| r[col("by")].starts_with("audrey@")),
        "every event names who ran it"
    );
    // Per posted batch: its lines, balanced to the cent, as exact decimals.
    let mut batches: BTreeMap<String, (Decimal, Decimal, usize)> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| &r[col("stage")] == "written" && !r[col("account")].is_empty())
    {
        let e = batches.entry(r[col("batch")].to_owned()).or_default();
        e.0 += r[col("debit")].parse::<Decimal>().unwrap();
        e.1 += r[col("credit")].parse::<Decimal>().unwrap();
        e.2 += 1;
        assert!(!r[col("branch")].is_empty() && !r[col("subaccount")].is_empty());
    }
    assert_eq!(batches.len() as u64, posted, "{batches:#?}");
    for (batch, (debit, credit, lines)) in &batches {
        assert!(!batch.is_empty());
        assert!(*lines >= 2);
        assert_eq!(debit, credit, "batch {batch} balances");
        assert!(*debit > Decimal::ZERO);
    }
    // The table and JSON still work; JSON carries `by` on each event.
    let a = rig
        .cmd()
        .args(["--json", "audit", "--flow", FLOW])
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert!(
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["by"].as_str().is_some_and(|b| b.starts_with("audrey@")))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reference_and_feed_runs_name_who_ran_them_too() {
    let rig = Rig::start().await;
    rig.cmd()
        .env("USER", "audrey")
        .args(["run", "--once"])
        .assert()
        .code(0);
    for flow in ["approved_vendors", "gl_feed"] {
        let a = rig
            .cmd()
            .args(["--json", "audit", "--flow", flow])
            .assert()
            .code(0);
        let v: serde_json::Value = serde_json::from_str(&stdout_of(&a)).unwrap();
        let events = v["events"].as_array().unwrap();
        assert!(!events.is_empty(), "{flow}");
        assert!(
            events
                .iter()
                .all(|e| e["by"].as_str().is_some_and(|b| b.starts_with("audrey@"))),
            "{flow}: {events:#?}"
        );
    }
}
