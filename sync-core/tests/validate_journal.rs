//! Validation before any write: every problem at once, closest choices, per-journal verdicts.

use chrono::NaiveDate;
use serde_json::{Value, json};
use sync_core::mapping::{Field, JournalMapping, MappedJournals, Period, Row};
use sync_core::validate::{
    AccountInfo, BranchInfo, DocumentStatus, IssueKind, LedgerInfo, PeriodInfo, PeriodStatus,
    ReferenceData, SubaccountInfo, ValidationPolicy, validate,
};

const MAPPING: &str = r#"
flow = "alloc"
[lines]
account = { column = "a.account" }
subaccount = { column = "a.sub" }
branch = { column = "a.branch" }
amount = { debit = "a.debit", credit = "a.credit" }
period = { column = "a.period" }
date = { column = "a.date" }
reference_nbr = { column = "a.ref" }
description = "{a.text}"
[document]
ledger = { column = "a.ledger" }
description = "Allocation {period} {branch}"
"#;

fn rows(v: Value) -> Vec<Row> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_object().unwrap().clone())
        .collect()
}

fn line(branch: &str, account: &str, sub: &str, debit: Value, credit: Value) -> Value {
    json!({
        "a.account": account, "a.sub": sub, "a.branch": branch,
        "a.debit": debit, "a.credit": credit,
        "a.period": "012025", "a.date": "2025-01-31", "a.ledger": "ACTUAL",
        "a.ref": null, "a.text": "allocation",
    })
}

fn reference() -> ReferenceData {
    let jan = Period::new(2025, 1).unwrap();
    let d = |m, day| NaiveDate::from_ymd_opt(2025, m, day).unwrap();
    ReferenceData::new()
        .with_accounts([
            AccountInfo::new("1000", true),
            AccountInfo::new("6100", true),
            AccountInfo::new("6110", true),
            AccountInfo::new("6120", true),
            AccountInfo::new("6150", false),
            AccountInfo::new("6900", true),
        ])
        .with_subaccounts([
            SubaccountInfo::new("MKT-000", true),
            SubaccountInfo::new("SAL-000", true),
            SubaccountInfo::new("OLD-000", false),
            SubaccountInfo::new("000-000", true),
        ])
        .with_branches([
            BranchInfo::new("HQ", true),
            BranchInfo::new("EAST", true),
            BranchInfo::new("WEST", true),
            BranchInfo::new("NORTH", false),
        ])
        .with_ledgers([
            LedgerInfo::new("ACTUAL", ["HQ", "EAST", "WEST", "NORTH"]),
            LedgerInfo::new("BUDGET", Vec::<String>::new()),
        ])
        .with_periods([
            PeriodInfo::new(Period::new(2024, 12).unwrap(), PeriodStatus::Closed),
            PeriodInfo::new(jan, PeriodStatus::Open).with_dates(d(1, 1), d(1, 31)),
            PeriodInfo::new(Period::new(2025, 2).unwrap(), PeriodStatus::Open),
            PeriodInfo::new(
                Period::new(2025, 3).unwrap(),
                PeriodStatus::from_label("Inactive"),
            ),
        ])
}

fn map(v: Value) -> MappedJournals {
    JournalMapping::from_toml_str(MAPPING)
        .unwrap()
        .map_rows(&rows(v))
        .unwrap()
}

#[test]
fn a_valid_allocation_is_clean_and_postable() {
    let mapped = map(json!([
        line("HQ", "6100", "MKT-000", json!("100.00"), json!(null)),
        line("HQ", "6900", "000-000", json!(null), json!(100)),
        line("EAST", "6100", "SAL-000", json!(40.5), json!(null)),
        line("EAST", "6900", "000-000", json!(null), json!("40.50")),
    ]));
    let report = validate(&mapped, &reference(), ValidationPolicy::AllOrNothing);
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.postable_indices(), [0, 1]);
    assert_eq!(report.postable(&mapped).count(), 2);
}

#[test]
fn every_problem_is_reported_at_once_naming_row_column_value_and_choices() {
    let mapped = map(json!([
        line("HQ", "6130", "MKT-000", json!("100.00"), json!(null)), // 1: unknown account
        line("HQ", "6150", "MKT-000", json!("10.00"), json!(null)),  // 2: inactive account
        line("HQ", "6100", "MKX-000", json!("5.00"), json!(null)),   // 3: unknown subaccount
        line("HQ", "6100", "OLD-000", json!("5.00"), json!("5.00")), // 4: inactive sub, debit and credit
        line("HQ", "6100", "MKT-000", json!(0), json!(null)),        // 5: zero
        line("HQ", "6900", "000-000", json!(null), json!("100.00")), // 6: fine
        line("HQ", "6900", "000-000", json!("-3.00"), json!(null)),  // 7: negative debit
        line("SOUTH", "6900", "000-000", json!(null), json!("1.00")), // 8: unknown branch (own journal)
    ]));
    let report = validate(&mapped, &reference(), ValidationPolicy::AllOrNothing);
    let text = report.to_string();
    let kinds: Vec<(Vec<usize>, String)> = report
        .issues
        .iter()
        .map(|i| (i.rows.clone(), i.kind.to_string()))
        .collect();
    assert_eq!(
        kinds,
        [
            (vec![1], "unknown account".into()),
            (vec![1, 2, 3, 4, 5, 6, 7], "unbalanced".into()),
            (vec![2], "inactive account".into()),
            (vec![3], "unknown subaccount".into()),
            (vec![4], "inactive subaccount".into()),
            (vec![4], "debit and credit".into()),
            (vec![5], "zero amount".into()),
            (vec![7], "negative amount".into()),
            (vec![8], "unknown branch".into()),
            (vec![8], "unbalanced".into()),
        ],
        "{text}"
    );

    let unknown = &report.issues[0];
    assert_eq!(unknown.value, "6130");
    assert_eq!(unknown.column, "a.account");
    assert_eq!(unknown.field, Some(Field::Account));
    assert_eq!(
        unknown.suggestions,
        ["6100", "6110", "6120"],
        "active accounts, nearest first"
    );
    let msg = unknown.to_string();
    assert!(
        msg.starts_with("journal period=012025 branch=HQ, row 1, column `a.account`: account `6130` does not exist in Acumatica; closest valid: `6100`, `6110`, `6120`"),
        "{msg}"
    );

    let inactive = &report.issues[2];
    assert!(
        !inactive.suggestions.contains(&"6150".to_string()),
        "inactive accounts are not suggested"
    );
    assert!(inactive.to_string().contains("is inactive"));

    let unbalanced = &report.issues[1];
    assert_eq!(
        unbalanced.kind,
        IssueKind::Unbalanced {
            debit: "117.00".parse().unwrap(),
            credit: "105.00".parse().unwrap(),
            unmapped_rows: vec![]
        }
    );
    assert!(
        unbalanced.to_string().contains("difference 12.00"),
        "{}",
        unbalanced
    );
    assert_eq!(unbalanced.column, "a.debit / a.credit");

    let branch = &report.issues[8];
    assert_eq!(branch.field, Some(Field::DocumentBranch));
    assert_eq!(branch.suggestions.len(), 3);
    assert!(!branch.suggestions.contains(&"NORTH".to_string()));

    assert_eq!(
        report.documents[0].status,
        DocumentStatus::Invalid { issues: 8 }
    );
    assert_eq!(
        report.documents[1].status,
        DocumentStatus::Invalid { issues: 2 }
    );
    assert!(report.postable_indices().is_empty());
    assert!(
        text.starts_with("10 problem(s); 0 of 2 journal(s) postable"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 11);
}

#[test]
fn header_problems_period_ledger_and_dates() {
    let mut closed = line("HQ", "6100", "MKT-000", json!(1), json!(null));
    closed["a.period"] = json!("122024");
    let mut closed2 = line("HQ", "6900", "000-000", json!(null), json!(1));
    closed2["a.period"] = json!("122024");
    let mut missing = line("HQ", "6100", "MKT-000", json!(1), json!(null));
    missing["a.period"] = json!("062026");
    let mut outside = line("WEST", "6100", "MKT-000", json!(1), json!(null));
    outside["a.date"] = json!("2025-02-03");
    let mut outside2 = line("WEST", "6900", "000-000", json!(null), json!(1));
    outside2["a.date"] = json!("2025-01-02");
    let mut budget = line("EAST", "6100", "MKT-000", json!(1), json!(null));
    budget["a.ledger"] = json!("BUDGTE");
    let mut inactive_branch = line("NORTH", "6100", "MKT-000", json!(1), json!(null));
    inactive_branch["a.period"] = json!("032025");
    let mapped = map(json!([
        closed,
        closed2,
        missing,
        outside,
        outside2,
        budget,
        inactive_branch
    ]));
    let report = validate(&mapped, &reference(), ValidationPolicy::PerDocument);
    let by_doc =
        |d: usize| -> Vec<String> { report.issues_for(d).map(|i| i.kind.to_string()).collect() };
    assert_eq!(by_doc(0), ["period not open"]);
    let closed = report.issues_for(0).next().unwrap();
    assert_eq!(closed.value, "122024");
    assert_eq!(closed.rows, [1, 2]);
    assert_eq!(
        closed.suggestions,
        ["012025", "022025"],
        "nearest open periods"
    );
    assert!(
        closed.to_string().contains("is Closed, not Open"),
        "{closed}"
    );
    assert_eq!(by_doc(1), ["unknown period", "unbalanced"]);
    assert_eq!(
        by_doc(2),
        ["date outside period"],
        "latest row date 2025-02-03 is after January"
    );
    assert_eq!(by_doc(3), ["unknown ledger", "unbalanced"]);
    assert_eq!(
        report.issues_for(3).next().unwrap().suggestions[0],
        "BUDGET"
    );
    assert_eq!(
        by_doc(4),
        ["inactive branch", "period not open", "unbalanced"]
    );
}

#[test]
fn ledger_must_belong_to_the_branch_when_known() {
    let data = reference().with_ledgers([
        LedgerInfo::new("ACTUAL", ["EAST"]),
        LedgerInfo::new("HQLEDGER", ["HQ"]),
    ]);
    let mapped = map(json!([
        line("HQ", "6100", "MKT-000", json!(1), json!(null)),
        line("HQ", "6900", "000-000", json!(null), json!(1)),
    ]));
    let report = validate(&mapped, &data, ValidationPolicy::AllOrNothing);
    assert_eq!(report.issues.len(), 1, "{report}");
    let issue = &report.issues[0];
    assert_eq!(
        issue.kind,
        IssueKind::LedgerNotForBranch {
            branch: "HQ".into()
        }
    );
    assert_eq!(issue.suggestions, ["HQLEDGER"]);
}

#[test]
fn policy_decides_whether_valid_journals_proceed() {
    let mapped = map(json!([
        line("HQ", "6100", "MKT-000", json!(1), json!(null)),
        line("HQ", "6900", "000-000", json!(null), json!(1)),
        line("EAST", "6100", "MKT-000", json!(2), json!(null)),
        line("EAST", "6900", "000-000", json!(null), json!(1)),
    ]));
    let all = validate(&mapped, &reference(), ValidationPolicy::AllOrNothing);
    assert_eq!(all.documents[0].status, DocumentStatus::Withheld);
    assert_eq!(
        all.documents[1].status,
        DocumentStatus::Invalid { issues: 1 }
    );
    assert!(all.postable_indices().is_empty());

    let per = validate(&mapped, &reference(), ValidationPolicy::PerDocument);
    assert_eq!(per.documents[0].status, DocumentStatus::Postable);
    assert_eq!(
        per.postable(&mapped)
            .map(|d| d.branch.as_str())
            .collect::<Vec<_>>(),
        ["HQ"]
    );
}

#[test]
fn mapping_problems_block_their_journal_and_unplaceable_rows_block_the_run() {
    let mut bad_amount = line("EAST", "6100", "MKT-000", json!("1.234"), json!(null));
    bad_amount["a.text"] = json!("x");
    let mut no_period = line("WEST", "6100", "MKT-000", json!(1), json!(null));
    no_period["a.period"] = json!("13/2025x");
    let input = json!([
        line("HQ", "6100", "MKT-000", json!(1), json!(null)),
        line("HQ", "6900", "000-000", json!(null), json!(1)),
        bad_amount,
        line("EAST", "6900", "000-000", json!(null), json!(1)),
    ]);
    let mapped = map(input.clone());
    let report = validate(&mapped, &reference(), ValidationPolicy::PerDocument);
    let kinds: Vec<String> = report.issues.iter().map(|i| i.kind.to_string()).collect();
    assert_eq!(kinds, ["mapping", "unbalanced"]);
    let mapping_issue = &report.issues[0];
    assert_eq!(mapping_issue.document, Some(1));
    assert_eq!(mapping_issue.rows, [3]);
    assert_eq!(mapping_issue.column, "a.debit");
    assert!(mapping_issue.to_string().contains("has 3 decimal places"));
    assert!(
        report.issues[1]
            .to_string()
            .contains("row 3 could not be mapped and are not counted"),
        "{}",
        report.issues[1]
    );
    assert_eq!(
        report.postable_indices(),
        [0],
        "HQ may proceed under PerDocument"
    );

    let mut with_orphan = input.as_array().unwrap().clone();
    with_orphan.push(no_period);
    let mapped = map(Value::Array(with_orphan));
    let report = validate(&mapped, &reference(), ValidationPolicy::PerDocument);
    let orphan = report
        .run_issues()
        .next()
        .expect("the unreadable period is a run-level issue");
    assert_eq!(orphan.rows, [5]);
    assert!(
        report.postable_indices().is_empty(),
        "a row of unknown journal stops the run"
    );
    assert_eq!(report.documents[0].status, DocumentStatus::Withheld);
}

#[test]
fn texts_longer_than_their_fields_are_reported() {
    let mut long = line("HQ", "6100", "MKT-000", json!(1), json!(null));
    long["a.text"] = json!("é".repeat(256));
    long["a.ref"] = json!("REF-0123456789AB");
    let mapped = map(json!([
        long,
        line("HQ", "6900", "000-000", json!(null), json!(1))
    ]));
    let report = validate(&mapped, &reference(), ValidationPolicy::AllOrNothing);
    let kinds: Vec<&IssueKind> = report.issues.iter().map(|i| &i.kind).collect();
    assert_eq!(
        kinds,
        [
            &IssueKind::TooLong {
                actual: 256,
                max: 255
            },
            &IssueKind::TooLong {
                actual: 16,
                max: 15
            }
        ]
    );
    assert_eq!(report.issues[1].field, Some(Field::ReferenceNbr));
}

#[test]
fn reports_serialize_for_the_audit_trail() {
    let mapped = map(json!([
        line("HQ", "6130", "MKT-000", json!("1.00"), json!(null)),
        line("HQ", "6900", "000-000", json!(null), json!("1.00")),
    ]));
    let report = validate(&mapped, &reference(), ValidationPolicy::AllOrNothing);
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["policy"], "all_or_nothing");
    assert_eq!(
        v["documents"][0]["status"],
        json!({"invalid": {"issues": 1}})
    );
    let issue = &v["issues"][0];
    assert_eq!(issue["kind"], json!({"kind": "unknown_account"}));
    assert_eq!(issue["rows"], json!([1]));
    assert_eq!(issue["field"], "account");
    assert_eq!(issue["value"], "6130");
    assert_eq!(issue["suggestions"][0], "6100");
    assert_eq!(issue["message"], report.issues[0].to_string());

    // Every kind serializes, including mapping problems and amounts.
    let mapped = map(json!([
        line("HQ", "6100", "MKT-000", json!("1.005"), json!(null)),
        line("HQ", "6900", "000-000", json!(null), json!("2.00")),
    ]));
    let report = validate(&mapped, &reference(), ValidationPolicy::AllOrNothing);
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["issues"][0]["kind"]["kind"], "mapping");
    assert_eq!(v["issues"][1]["kind"]["kind"], "unbalanced");
    assert_eq!(v["issues"][1]["kind"]["unmapped_rows"], json!([1]));
}
