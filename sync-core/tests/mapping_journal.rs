//! Journal mapping: the documented example file, grouping, amounts, and every row problem at once.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sync_core::mapping::{
    AmountError, DocumentDate, JournalMapping, MappingError, Period, Row, acumatica_date,
};

const EXAMPLE: &str = include_str!("data/overhead_allocation.toml");

fn rows(v: Value) -> Vec<Row> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_object().unwrap().clone())
        .collect()
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn row(branch: &str, cc: &str, account: Value, amount: Value) -> Value {
    json!({
        "overhead_allocation.branch": branch,
        "overhead_allocation.cost_center": cc,
        "overhead_allocation.account": account,
        "overhead_allocation.amount": amount,
        "overhead_allocation.posting_date": "2025-01-31",
        "overhead_allocation.pool": "Rent",
        "overhead_allocation.project": null,
        "overhead_allocation.project_task": null,
        "overhead_allocation.driver": "headcount",
        "overhead_allocation.driver_share": "0.25",
    })
}

fn example() -> JournalMapping {
    JournalMapping::from_toml_str(EXAMPLE).expect("the documented example loads")
}

#[test]
fn example_file_maps_an_allocation_into_one_balanced_journal_per_branch() {
    let mapping = example();
    assert_eq!(mapping.document_date(), DocumentDate::PeriodEnd);
    let input = rows(json!([
        row("HQ", "Marketing", json!("6100"), json!(1200.50)),
        row("HQ", "Sales", json!("6100"), json!("799.50")),
        row("EAST", "Operations", json!("6100"), json!(300)),
        row("HQ", "Overhead Pool", json!("6900"), json!(-2000)),
        row("HQ", "Finance", json!("6100"), json!("0.00")),
        row("EAST", "Overhead Pool", json!("6900"), json!("-300.00")),
    ]));
    let mapped = mapping.map_rows(&input).unwrap();
    assert!(mapped.errors.is_empty(), "{:?}", mapped.errors);
    assert_eq!(mapped.rows_read, 6);
    assert_eq!(
        mapped.skipped_rows,
        [5],
        "the zero row is skipped by zero_amount = skip"
    );
    assert_eq!(mapped.documents.len(), 2);

    let hq = &mapped.documents[0];
    assert_eq!(
        hq.partition.to_string(),
        "period=012025 branch=HQ overhead_allocation.pool=Rent"
    );
    assert_eq!(hq.branch, "HQ");
    assert_eq!(hq.ledger, "ACTUAL");
    assert_eq!(hq.period, Period::new(2025, 1).unwrap());
    assert_eq!(hq.transaction_date, NaiveDate::from_ymd_opt(2025, 1, 31));
    assert_eq!(
        acumatica_date(hq.transaction_date.unwrap()),
        "2025-01-31T00:00:00"
    );
    assert_eq!(hq.description, "Overhead allocation Rent 012025 HQ");
    assert!(!hq.hold);
    let summary: Vec<(usize, &str, Option<&str>, String, String)> = hq
        .lines
        .iter()
        .map(|l| {
            (
                l.row,
                l.account.as_str(),
                l.subaccount.as_deref(),
                l.debit.to_string(),
                l.credit.to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, "6100", Some("MKT000"), "1200.50".into(), "0.00".into()),
            (2, "6100", Some("SAL000"), "799.50".into(), "0.00".into()),
            (4, "6900", Some("POL000"), "0.00".into(), "2000.00".into()),
        ]
    );
    assert_eq!(
        hq.lines[0].description.as_deref(),
        Some("Overhead allocation: Marketing (headcount 0.25)")
    );
    assert_eq!(hq.lines[0].project, None);
    assert!(hq.is_balanced());
    assert_eq!(hq.total_debit(), dec("2000.00"));

    let east = &mapped.documents[1];
    assert_eq!(east.branch, "EAST");
    assert_eq!(east.lines.iter().map(|l| l.row).collect::<Vec<_>>(), [3, 6]);
    assert!(east.is_balanced());
}

#[test]
fn every_row_problem_is_reported_at_once_with_row_column_value_and_hint() {
    let mapping = example();
    let mut bad_date = row("HQ", "Sales", json!("6100"), json!(5));
    bad_date["overhead_allocation.posting_date"] = json!("31/01/2025");
    let input = rows(json!([
        row("HQ", "Marketting", json!("6100"), json!(10)),
        row("HQ", "Sales", json!("6100"), json!("12.345")),
        row("HQ", "Sales", Value::Null, json!(1)),
        row("HQ", "Sales", json!("6100"), json!("1,000.00")),
        row("HQ", "Sales", json!("6100"), json!("NaN")),
        bad_date,
        row("HQ", "Sales", json!("6100"), json!(-10)),
    ]));
    let mapped = mapping.map_rows(&input).unwrap();
    let messages: Vec<String> = mapped.errors.iter().map(ToString::to_string).collect();
    assert_eq!(mapped.errors.len(), 6, "{messages:#?}");

    match &mapped.errors[0] {
        MappingError::Unmapped {
            row,
            column,
            value,
            map,
            suggestions,
        } => {
            assert_eq!(
                (*row, column.as_str(), value.as_str(), map.as_str()),
                (
                    1,
                    "overhead_allocation.cost_center",
                    "Marketting",
                    "department"
                )
            );
            assert_eq!(suggestions[0], "Marketing");
            assert!(suggestions.len() <= 3);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        messages[0].contains("add it under [maps.department]"),
        "{}",
        messages[0]
    );

    assert!(matches!(
        &mapped.errors[1],
        MappingError::Amount {
            row: 2,
            source: AmountError::ExceedsCurrencyPrecision {
                actual: 3,
                allowed: 2
            },
            ..
        }
    ));
    assert!(
        messages[1].starts_with("row 2, column `overhead_allocation.amount`: value \"12.345\""),
        "{}",
        messages[1]
    );
    assert!(matches!(
        &mapped.errors[2],
        MappingError::MissingValue {
            row: 3,
            field: "account",
            ..
        }
    ));
    assert!(matches!(
        &mapped.errors[3],
        MappingError::Amount {
            row: 4,
            source: AmountError::NotANumber,
            ..
        }
    ));
    assert!(
        messages[3].contains("no thousands separators"),
        "{}",
        messages[3]
    );
    assert!(matches!(
        &mapped.errors[4],
        MappingError::Amount {
            row: 5,
            source: AmountError::NotFinite,
            ..
        }
    ));
    assert!(matches!(
        &mapped.errors[5],
        MappingError::DateOrPeriod { row: 6, .. }
    ));

    // Rows 1-5 still belong to the HQ journal (their partition is known), so it is incomplete;
    // row 6's period cannot be read, so it belongs to no journal.
    assert_eq!(mapped.documents.len(), 1);
    let doc = &mapped.documents[0];
    assert_eq!(doc.unmapped_rows, [1, 2, 3, 4, 5]);
    assert_eq!(doc.lines.len(), 1);
    assert_eq!(mapped.document_of_row(6), None);
    assert_eq!(mapped.document_of_row(2), Some(0));
}

#[test]
fn a_column_missing_from_the_result_is_one_error_with_suggestions() {
    let mapping = example();
    let mut r = row("HQ", "Sales", json!("6100"), json!(1));
    let obj = r.as_object_mut().unwrap();
    let v = obj.remove("overhead_allocation.amount").unwrap();
    obj.insert("overhead_allocation.amont".into(), v);
    let mapped = mapping.map_rows(&rows(json!([r.clone(), r]))).unwrap();
    assert_eq!(mapped.errors.len(), 1, "{:?}", mapped.errors);
    match &mapped.errors[0] {
        MappingError::ColumnNotFound {
            column,
            suggestions,
        } => {
            assert_eq!(column, "overhead_allocation.amount");
            assert_eq!(suggestions[0], "overhead_allocation.amont");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(mapped.documents.is_empty());
}

#[test]
fn separate_debit_and_credit_columns_and_period_columns() {
    let mapping = JournalMapping::from_toml_str(
        r#"
flow = "dc"
[lines]
account = { column = "j.account" }
subaccount = { column = "j.sub" }
branch = { column = "j.branch" }
amount = { debit = "j.debit", credit = "j.credit" }
period = { column = "j.period" }
reference_nbr = { column = "j.ref" }
[document]
ledger = { column = "j.ledger" }
branch = { constant = "HQ" }
currency = { constant = "USD" }
description = "{flow} {period} {ledger} {currency}"
"#,
    )
    .unwrap();
    assert_eq!(mapping.document_date(), DocumentDate::None);
    let mapped = mapping
        .map_rows(&rows(json!([
            {"j.account": 1000, "j.sub": "000-000", "j.branch": "EAST", "j.debit": "25.1", "j.credit": null, "j.period": "2025-02", "j.ledger": "ACTUAL", "j.ref": "A1"},
            {"j.account": 2000, "j.sub": "000-000", "j.branch": "WEST", "j.debit": "", "j.credit": 25.10, "j.period": "02-2025", "j.ledger": "ACTUAL", "j.ref": null},
            {"j.account": 3000, "j.sub": "000-000", "j.branch": "WEST", "j.debit": 1, "j.credit": 1, "j.period": "022025", "j.ledger": {"value": "ACTUAL", "rendered": "Actual"}, "j.ref": null},
        ])))
        .unwrap();
    assert!(mapped.errors.is_empty(), "{:?}", mapped.errors);
    assert_eq!(
        mapped.documents.len(),
        1,
        "all three period forms name February 2025"
    );
    let doc = &mapped.documents[0];
    assert_eq!(doc.description, "dc 022025 ACTUAL USD");
    assert_eq!(doc.transaction_date, None);
    assert_eq!(doc.currency.as_deref(), Some("USD"));
    let l = &doc.lines;
    assert_eq!(
        (l[0].account.as_str(), l[0].debit, l[0].credit),
        ("1000", dec("25.10"), dec("0.00"))
    );
    assert_eq!(
        (l[1].branch.as_str(), l[1].debit, l[1].credit),
        ("WEST", dec("0.00"), dec("25.10"))
    );
    assert_eq!(
        (l[2].debit, l[2].credit),
        (dec("1.00"), dec("1.00")),
        "kept for validation to report"
    );
    assert_eq!(l[0].reference_nbr.as_deref(), Some("A1"));
}

#[test]
fn a_ledger_that_differs_within_a_journal_is_reported() {
    let mapping = JournalMapping::from_toml_str(
        r#"
flow = "x"
[lines]
account = { column = "j.account" }
branch = { constant = "HQ" }
amount = { signed = "j.amount", invert = true }
period = { constant = "032025" }
[document]
ledger = { column = "j.ledger" }
description = "x"
"#,
    )
    .unwrap();
    let mapped = mapping
        .map_rows(&rows(json!([
            {"j.account": "1", "j.amount": 5, "j.ledger": "ACTUAL"},
            {"j.account": "2", "j.amount": -5, "j.ledger": "BUDGET"},
        ])))
        .unwrap();
    assert_eq!(mapped.errors.len(), 1);
    let msg = mapped.errors[0].to_string();
    assert!(
        msg.starts_with("row 2, column `j.ledger`: the ledger is `BUDGET` but `ACTUAL` in row 1"),
        "{msg}"
    );
    assert!(msg.contains("group_by"), "{msg}");
    let doc = &mapped.documents[0];
    assert_eq!(doc.unmapped_rows, [2]);
    assert_eq!(
        doc.lines[0].credit,
        dec("5.00"),
        "invert: positive is a credit"
    );
}

#[test]
fn rounding_rules_apply_only_when_chosen() {
    let base = r#"
flow = "r"
[lines]
account = { constant = "1000" }
branch = { constant = "HQ" }
amount = { signed = "j.amount" }
period = { constant = "012025" }
[document]
ledger = { constant = "ACTUAL" }
description = "r"
"#;
    let input = rows(json!([{"j.amount": "10.005"}, {"j.amount": "-10.015"}]));
    let strict = JournalMapping::from_toml_str(base)
        .unwrap()
        .map_rows(&input)
        .unwrap();
    assert_eq!(strict.errors.len(), 2);
    let rounded =
        JournalMapping::from_toml_str(&format!("{base}[money]\nrounding = \"half_even\"\n"))
            .unwrap()
            .map_rows(&input)
            .unwrap();
    assert!(rounded.errors.is_empty());
    let l = &rounded.documents[0].lines;
    assert_eq!((l[0].debit, l[1].credit), (dec("10.00"), dec("10.02")));
}

#[test]
fn inconsistent_mappings_are_rejected_on_load_with_the_setting_named() {
    let cases = [
        (
            EXAMPLE.replace("map = \"department\"", "map = \"departement\""),
            "map `departement` is not defined",
        ),
        (
            EXAMPLE.replace(
                "amount = { signed = \"overhead_allocation.amount\" }",
                "amount = { signed = \"a\", debit = \"b\" }",
            ),
            "lines.amount",
        ),
        (
            EXAMPLE.replace("group_by = [\"overhead_allocation.pool\"]", ""),
            "add it to group_by",
        ),
        (
            EXAMPLE.replace("{allocation_label}: ", "{allocation_lable}: "),
            "closest: `allocation_label`",
        ),
        (
            EXAMPLE.replace(
                "date = { column = \"overhead_allocation.posting_date\" }",
                "",
            ),
            "a journal needs a period",
        ),
        (
            EXAMPLE.replace("places = 2", "places = 2\nplaces_typo = 3"),
            "unknown field `places_typo`",
        ),
        (
            EXAMPLE.replace(
                "description = \"{allocation_label} {",
                "description = \"{allocation_label {",
            ),
            "`{` inside a placeholder",
        ),
    ];
    for (text, expected) in cases {
        let err = JournalMapping::from_toml_str(&text)
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "expected {expected:?} in: {err}");
    }
}

#[test]
fn columns_lists_everything_the_query_must_return() {
    let mapping = example();
    let cols: Vec<&str> = mapping.columns().into_iter().collect();
    assert_eq!(
        cols,
        [
            "overhead_allocation.account",
            "overhead_allocation.amount",
            "overhead_allocation.branch",
            "overhead_allocation.cost_center",
            "overhead_allocation.driver",
            "overhead_allocation.driver_share",
            "overhead_allocation.pool",
            "overhead_allocation.posting_date",
            "overhead_allocation.project",
            "overhead_allocation.project_task",
        ]
    );
}

#[test]
fn contract_body_follows_the_journal_transaction_wire_format() {
    use sync_core::key::{NaturalKey, extract_key};
    // A JSON number with exactly these digits (a `json!` float literal would go through f64).
    let exact = |t: &str| serde_json::from_str::<Value>(t).unwrap();
    let mapping = example();
    let input = rows(json!([
        row("HQ", "Marketing", json!("6100"), json!("1200.5")),
        row("HQ", "Overhead Pool", json!("6900"), json!(-1200.50)),
    ]));
    let mapped = mapping.map_rows(&input).unwrap();
    let doc = &mapped.documents[0];
    let key = NaturalKey::for_document(doc);
    let body = doc.contract_body(&key);
    let expected = json!({
        "Module": {"value": "GL"},
        "BranchID": {"value": "HQ"},
        "LedgerID": {"value": "ACTUAL"},
        "PostPeriod": {"value": "012025"},
        "TransactionDate": {"value": "2025-01-31T00:00:00"},
        "Description": {"value": format!("Overhead allocation Rent 012025 HQ {}", key.tag())},
        "Hold": {"value": false},
        "Details": [
            {
                "BranchID": {"value": "HQ"},
                "Account": {"value": "6100"},
                "Subaccount": {"value": "MKT000"},
                "TransactionDescription": {"value": "Overhead allocation: Marketing (headcount 0.25)"},
                "DebitAmount": {"value": exact("1200.50")}
            },
            {
                "BranchID": {"value": "HQ"},
                "Account": {"value": "6900"},
                "Subaccount": {"value": "POL000"},
                "TransactionDescription": {"value": "Overhead allocation: Overhead Pool (headcount 0.25)"},
                "CreditAmount": {"value": exact("1200.50")}
            }
        ]
    });
    assert_eq!(body, expected);
    assert_eq!(
        body["Details"][0]["DebitAmount"]["value"].to_string(),
        "1200.50",
        "amounts go out exactly, at the currency's scale"
    );
    let description = body["Description"]["value"].as_str().unwrap();
    assert_eq!(extract_key(description), Some(key));
}

#[test]
fn document_date_rules() {
    let base = r#"
flow = "d"
[lines]
account = { constant = "1000" }
branch = { constant = "HQ" }
amount = { signed = "j.amount" }
date = { column = "j.date" }
[document]
ledger = { constant = "ACTUAL" }
description = "{flow} {date}"
"#;
    let input = rows(json!([
        {"j.amount": 1, "j.date": "2025-03-20"},
        {"j.amount": -1, "j.date": "2025-03-02T08:00:00"},
    ]));
    let date_of = |rule: &str| {
        let text = base.replace("[document]\n", &format!("[document]\n{rule}\n"));
        let m = JournalMapping::from_toml_str(&text).unwrap();
        let doc = m.map_rows(&input).unwrap().documents.remove(0);
        (doc.transaction_date, doc.description)
    };
    let d = |day| NaiveDate::from_ymd_opt(2025, 3, day);
    assert_eq!(
        date_of(""),
        (d(20), "d 2025-03-20".into()),
        "default: latest row date"
    );
    assert_eq!(
        date_of("date = \"earliest_row_date\""),
        (d(2), "d 2025-03-02".into())
    );
    assert_eq!(
        date_of("date = \"period_end\""),
        (d(31), "d 2025-03-31".into())
    );
    assert_eq!(date_of("date = \"none\""), (None, "d ".into()));
    assert_eq!(
        date_of("date = { constant = \"2025-03-15\" }"),
        (d(15), "d 2025-03-15".into())
    );
    let err = JournalMapping::from_toml_str(
        &base
            .replace(
                "date = { column = \"j.date\" }",
                "period = { constant = \"032025\" }",
            )
            .replace("[document]\n", "[document]\ndate = \"latest_row_date\"\n"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("needs `lines.date`"), "{err}");
}

#[test]
fn subaccount_segments_join_with_the_separator_and_check_their_length() {
    let mapping =
        JournalMapping::from_toml_str(&EXAMPLE.replace("separator = \"\"", "separator = \"-\""))
            .unwrap();
    let mapped = mapping
        .map_rows(&rows(json!([
            row("HQ", "Marketing", json!("6100"), json!(1)),
            row("HQ", "Overhead Pool", json!("6900"), json!(-1)),
        ])))
        .unwrap();
    let subs: Vec<_> = mapped.documents[0]
        .lines
        .iter()
        .map(|l| l.subaccount.clone().unwrap())
        .collect();
    assert_eq!(subs, ["MKT-000", "POL-000"]);

    let wrong_length = EXAMPLE.replace("\"Sales\" = \"SAL\"", "\"Sales\" = \"SALES\"");
    let mapped = JournalMapping::from_toml_str(&wrong_length)
        .unwrap()
        .map_rows(&rows(json!([row("HQ", "Sales", json!("6100"), json!(1))])))
        .unwrap();
    assert_eq!(
        mapped.errors,
        [MappingError::SegmentLength {
            row: 1,
            column: "overhead_allocation.cost_center".into(),
            value: "SALES".into(),
            actual: 5,
            expected: 3
        }]
    );
}
