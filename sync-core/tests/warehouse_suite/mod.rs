//! Behaviour every `WarehouseSink` backend must show, run by `warehouse_sink.rs` against
//! SQLite and PostgreSQL.

#![allow(dead_code)]

use async_trait::async_trait;
use serde_json::{Value, json};
use sync_core::warehouse::{
    ColumnSpec, ColumnType, TableSpec, UpsertSummary, WarehouseError, WarehouseSink,
};

/// Runs SQL that both dialects understand and returns every column as text.
#[async_trait]
pub trait Peek: Send + Sync {
    async fn texts(&self, sql: &str) -> Vec<Vec<Option<String>>>;
    async fn exec(&self, sql: &str);
}

pub fn bill(id: &str, modified: &str, amount: Value, lines: Vec<Value>) -> Value {
    json!({
        "id": id,
        "rowNumber": 1,
        "Type": {"value": "Bill"},
        "ReferenceNbr": {"value": "000123"},
        "Vendor": {"value": "V000042"},
        "Status": {"value": "Open"},
        "Date": {"value": "2026-01-15T00:00:00+00:00"},
        "DueDate": {},
        "Amount": {"value": amount},
        "Hold": {"value": false},
        "LastModifiedDateTime": {"value": modified},
        "custom": {},
        "Details": lines
    })
}

pub fn line(account: &str, amount: Value) -> Value {
    json!({"id": format!("line-{account}"), "Account": {"value": account}, "Amount": {"value": amount}, "Qty": {"value": 1.0}})
}

pub async fn bills_round_trip_with_exact_amounts(sink: &dyn WarehouseSink, peek: &dyn Peek) {
    let spec = TableSpec::bill();
    sink.ensure_tables(&spec).await.unwrap();
    sink.ensure_tables(&spec).await.unwrap(); // idempotent
    let raw = bill(
        "b-1",
        "2026-01-30T10:15:00.12+00:00",
        json!("1234567890.123456"),
        vec![
            line("60000", json!("1000.10")),
            line("60100", json!("1234566890.023456")),
        ],
    );
    let record = spec.record_from_json(&raw).unwrap();
    let summary = sink.upsert(&spec, &[record]).await.unwrap();
    assert_eq!(
        summary,
        UpsertSummary {
            written: 1,
            stale: 0,
            detail_lines: 2
        }
    );
    assert_eq!(sink.count(&spec).await.unwrap(), 1);
    assert_eq!(sink.raw_record(&spec, "b-1").await.unwrap().unwrap(), raw);
    assert!(sink.raw_record(&spec, "nope").await.unwrap().is_none());

    let rows = peek
        .texts("SELECT CAST(reference_nbr AS TEXT), CAST(amount AS TEXT), CAST(date AS TEXT), CAST(due_date AS TEXT), CAST(vendor AS TEXT) FROM acumatica_bill WHERE id = 'b-1'")
        .await;
    assert_eq!(
        rows,
        [[
            Some("000123".into()),
            Some("1234567890.123456".into()),
            Some("2026-01-15".into()),
            None,
            Some("V000042".into())
        ]]
    );
    let lines = peek
        .texts("SELECT CAST(line_nbr AS TEXT), CAST(account AS TEXT), CAST(amount AS TEXT), CAST(detail_id AS TEXT) FROM acumatica_bill_detail WHERE parent_id = 'b-1' ORDER BY line_nbr")
        .await;
    assert_eq!(
        lines,
        [
            [
                Some("1".into()),
                Some("60000".into()),
                Some("1000.10".into()),
                Some("line-60000".into())
            ],
            [
                Some("2".into()),
                Some("60100".into()),
                Some("1234566890.023456".into()),
                Some("line-60100".into())
            ],
        ]
    );
}

pub async fn updates_replace_lines_and_never_go_back_in_time(
    sink: &dyn WarehouseSink,
    peek: &dyn Peek,
) {
    let spec = TableSpec::bill();
    sink.ensure_tables(&spec).await.unwrap();
    let v1 = bill(
        "b-2",
        "2026-01-30T10:00:00+00:00",
        json!(100),
        vec![line("1", json!(60)), line("2", json!(40))],
    );
    let v2 = bill(
        "b-2",
        "2026-01-30T11:00:00+00:00",
        json!("150.00"),
        vec![line("3", json!("150.00"))],
    );
    sink.upsert(&spec, &[spec.record_from_json(&v1).unwrap()])
        .await
        .unwrap();
    let s = sink
        .upsert(&spec, &[spec.record_from_json(&v2).unwrap()])
        .await
        .unwrap();
    assert_eq!(
        s,
        UpsertSummary {
            written: 1,
            stale: 0,
            detail_lines: 1
        }
    );
    let lines = peek
        .texts("SELECT CAST(account AS TEXT) FROM acumatica_bill_detail WHERE parent_id = 'b-2'")
        .await;
    assert_eq!(
        lines,
        [[Some("3".into())]],
        "lines are replaced, not appended"
    );

    // A late, older copy (e.g. from an overlapping lookback window) does not overwrite.
    let s = sink
        .upsert(&spec, &[spec.record_from_json(&v1).unwrap()])
        .await
        .unwrap();
    assert_eq!(
        s,
        UpsertSummary {
            written: 0,
            stale: 1,
            detail_lines: 0
        }
    );
    let amount = peek
        .texts("SELECT CAST(amount AS TEXT) FROM acumatica_bill WHERE id = 'b-2'")
        .await;
    assert_eq!(amount, [[Some("150.00".into())]]);
    assert_eq!(
        peek.texts("SELECT parent_id FROM acumatica_bill_detail WHERE parent_id = 'b-2'")
            .await
            .len(),
        1
    );

    // The same window twice changes nothing and duplicates nothing.
    for _ in 0..2 {
        sink.upsert(&spec, &[spec.record_from_json(&v2).unwrap()])
            .await
            .unwrap();
    }
    assert_eq!(sink.count(&spec).await.unwrap(), 1);
    assert_eq!(
        peek.texts("SELECT parent_id FROM acumatica_bill_detail")
            .await
            .len(),
        1
    );
}

pub async fn a_window_is_written_entirely_or_not_at_all(sink: &dyn WarehouseSink, peek: &dyn Peek) {
    let spec = TableSpec::bill();
    sink.ensure_tables(&spec).await.unwrap();
    let first = bill("w-1", "2026-01-30T10:00:00+00:00", json!(1), vec![]);
    sink.upsert(&spec, &[spec.record_from_json(&first).unwrap()])
        .await
        .unwrap();

    // An invalid record anywhere in the window: nothing of it is written.
    let mut bad = spec
        .record_from_json(&bill("w-3", "2026-01-30T10:00:00+00:00", json!(3), vec![]))
        .unwrap();
    bad.columns.push((
        "no_such_column".into(),
        sync_core::warehouse::WarehouseValue::Integer(1),
    ));
    let window = vec![
        spec.record_from_json(&bill("w-2", "2026-01-30T10:00:00+00:00", json!(2), vec![]))
            .unwrap(),
        bad,
    ];
    let err = sink.upsert(&spec, &window).await.unwrap_err();
    assert!(
        matches!(err, WarehouseError::InvalidRecord { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("no_such_column"), "{err}");
    assert!(err.to_string().contains("w-3"), "{err}");
    assert_eq!(sink.count(&spec).await.unwrap(), 1);

    // A database failure half-way (the detail table vanished): the whole window rolls back.
    peek.exec("DROP TABLE acumatica_bill_detail").await;
    let changed = bill(
        "w-1",
        "2026-01-30T12:00:00+00:00",
        json!(99),
        vec![line("9", json!(99))],
    );
    let new = bill("w-4", "2026-01-30T12:00:00+00:00", json!(4), vec![]);
    let window = [
        spec.record_from_json(&new).unwrap(),
        spec.record_from_json(&changed).unwrap(),
    ];
    let err = sink.upsert(&spec, &window).await.unwrap_err();
    assert!(matches!(err, WarehouseError::Database { .. }), "{err:?}");
    assert!(err.to_string().contains("rolled back"), "{err}");
    assert_eq!(
        sink.count(&spec).await.unwrap(),
        1,
        "w-4 must not be written"
    );
    assert_eq!(
        peek.texts("SELECT CAST(amount AS TEXT) FROM acumatica_bill WHERE id = 'w-1'")
            .await,
        [[Some("1".into())]]
    );
    // Recreating the tables heals it.
    sink.ensure_tables(&spec).await.unwrap();
    sink.upsert(&spec, &window).await.unwrap();
    assert_eq!(sink.count(&spec).await.unwrap(), 2);
}

pub async fn every_builtin_entity_lands_in_its_table(sink: &dyn WarehouseSink, peek: &dyn Peek) {
    let cases = [
        (
            TableSpec::vendor(),
            json!({"id": "v-1", "VendorID": {"value": "V1"}, "VendorName": {"value": "Northwind"}, "F1099Vendor": {"value": true},
                   "MaxReceipt": {"value": 100.5}, "CreatedDateTime": {"value": "2020-02-06T18:03:19.213+00:00"},
                   "LastModifiedDateTime": {"value": "2023-12-14T17:20:45.16+00:00"}}),
            "SELECT CAST(vendor_name AS TEXT), CAST(max_receipt AS TEXT) FROM acumatica_vendor",
            vec![Some("Northwind".to_owned()), Some("100.5".to_owned())],
        ),
        (
            TableSpec::check(),
            json!({"id": "c-1", "Type": {"value": "Payment"}, "ReferenceNbr": {"value": "CHK01"}, "PaymentAmount": {"value": "250.00"},
                   "ApplicationDate": {"value": "2026-01-20T00:00:00"}}),
            "SELECT CAST(payment_amount AS TEXT), CAST(application_date AS TEXT) FROM acumatica_check",
            vec![Some("250.00".to_owned()), Some("2026-01-20".to_owned())],
        ),
        (
            TableSpec::account(),
            json!({"id": "a-1", "AccountCD": {"value": "60000"}, "AccountID": {"value": 1234}, "Active": {"value": true}, "Type": {"value": "Expense"}}),
            "SELECT CAST(account_cd AS TEXT), CAST(account_id AS TEXT) FROM acumatica_account",
            vec![Some("60000".to_owned()), Some("1234".to_owned())],
        ),
        (
            TableSpec::journal_transaction(),
            json!({"id": "j-1", "Module": {"value": "GL"}, "BatchNbr": {"value": "000042"}, "TransactionDate": {"value": "2026-01-31T00:00:00+00:00"},
            "Details": [
                {"LineNbr": {"value": 2}, "Account": {"value": "60000"}, "DebitAmount": {"value": "500.00"}, "CreditAmount": {"value": 0}},
                {"LineNbr": {"value": 1}, "Account": {"value": "10200"}, "DebitAmount": {"value": 0}, "CreditAmount": {"value": "500.00"}}
            ]}),
            "SELECT CAST(batch_nbr AS TEXT), CAST(transaction_date AS TEXT) FROM acumatica_journal_transaction",
            vec![Some("000042".to_owned()), Some("2026-01-31".to_owned())],
        ),
    ];
    for (spec, raw, sql, want) in cases {
        sink.ensure_tables(&spec).await.unwrap();
        sink.upsert(&spec, &[spec.record_from_json(&raw).unwrap()])
            .await
            .unwrap();
        assert_eq!(peek.texts(sql).await, [want], "{}", spec.entity);
    }
    let lines = peek
        .texts("SELECT CAST(line_nbr AS TEXT), CAST(account AS TEXT), CAST(credit_amount AS TEXT) FROM acumatica_journal_transaction_detail ORDER BY line_nbr")
        .await;
    assert_eq!(
        lines,
        [
            [
                Some("1".into()),
                Some("10200".into()),
                Some("500.00".into())
            ],
            [Some("2".into()), Some("60000".into()), Some("0".into())],
        ],
        "lines keyed by Acumatica's LineNbr"
    );
}

pub async fn specs_gain_columns_and_reject_bad_names(sink: &dyn WarehouseSink, peek: &dyn Peek) {
    let mut spec = TableSpec::account();
    sink.ensure_tables(&spec).await.unwrap();
    spec.columns.push(ColumnSpec {
        name: "chart_order".into(),
        source: "ChartOfAccountsOrder".into(),
        ty: ColumnType::Integer,
    });
    sink.ensure_tables(&spec).await.unwrap();
    let raw =
        json!({"id": "a-9", "AccountCD": {"value": "70000"}, "ChartOfAccountsOrder": {"value": 7}});
    sink.upsert(&spec, &[spec.record_from_json(&raw).unwrap()])
        .await
        .unwrap();
    assert_eq!(
        peek.texts("SELECT CAST(chart_order AS TEXT) FROM acumatica_account WHERE id = 'a-9'")
            .await,
        [[Some("7".into())]]
    );

    let mut bad = TableSpec::vendor();
    bad.table = "vendors; DROP TABLE x".into();
    let err = sink.ensure_tables(&bad).await.unwrap_err();
    assert!(matches!(err, WarehouseError::InvalidSpec { .. }), "{err:?}");
    let mut bad = TableSpec::vendor();
    bad.columns.push(ColumnSpec {
        name: "raw".into(),
        source: "X".into(),
        ty: ColumnType::Text,
    });
    assert!(
        sink.ensure_tables(&bad)
            .await
            .unwrap_err()
            .to_string()
            .contains("reserved")
    );

    // A record of another entity, or with a wrongly typed value, is refused with its id.
    let vendor = TableSpec::vendor();
    let bill = TableSpec::bill()
        .record_from_json(&json!({"id": "b-x"}))
        .unwrap();
    let err = sink.upsert(&vendor, &[bill]).await.unwrap_err();
    assert!(err.to_string().contains("`Bill` record"), "{err}");
    let mut rec = vendor.record_from_json(&json!({"id": "v-x"})).unwrap();
    rec.columns.retain(|(n, _)| n != "max_receipt");
    rec.columns.push((
        "max_receipt".into(),
        sync_core::warehouse::WarehouseValue::Text("lots".into()),
    ));
    let err = sink.upsert(&vendor, &[rec]).await.unwrap_err();
    assert!(
        err.to_string().contains("max_receipt") && err.to_string().contains("decimal"),
        "{err}"
    );
}

#[test]
fn json_conversion_names_what_is_wrong() {
    let spec = TableSpec::bill();
    let err = spec
        .record_from_json(&json!({"Type": {"value": "Bill"}}))
        .unwrap_err();
    assert!(err.to_string().contains("no `id`"), "{err}");
    let err = spec
        .record_from_json(&json!({"id": "b", "Amount": {"value": "12,50"}}))
        .unwrap_err();
    assert!(
        err.to_string().contains("Amount") && err.to_string().contains("exact decimal"),
        "{err}"
    );
    let err = spec
        .record_from_json(&json!({"id": "b", "Date": {"value": "15/01/2026"}}))
        .unwrap_err();
    assert!(err.to_string().contains("not a date"), "{err}");
    let err = TableSpec::journal_transaction()
        .record_from_json(&json!({"id": "j", "Details": [{"Account": {"value": "1"}}]}))
        .unwrap_err();
    assert!(err.to_string().contains("LineNbr"), "{err}");
    // `{}` and `{"value": null}` are NULL.
    let rec = spec
        .record_from_json(&json!({"id": "b", "Amount": {}, "Vendor": {"value": null}}))
        .unwrap();
    assert!(
        rec.columns
            .iter()
            .all(|(_, v)| *v == sync_core::warehouse::WarehouseValue::Null)
    );
    // Specs round-trip through TOML, so other entities can be configured.
    let text = toml::to_string(&TableSpec::bill()).unwrap();
    assert_eq!(
        toml::from_str::<TableSpec>(&text).unwrap(),
        TableSpec::bill()
    );
}

#[macro_export]
macro_rules! warehouse_suite_tests {
    ($make:path) => {
        $crate::warehouse_suite_tests!(@each $make;
            bills_round_trip_with_exact_amounts,
            updates_replace_lines_and_never_go_back_in_time,
            a_window_is_written_entirely_or_not_at_all,
            every_builtin_entity_lands_in_its_table,
            specs_gain_columns_and_reject_bad_names,
        );
    };
    (@each $make:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some((sink, peek)) = $make().await else { return };
                warehouse_suite::$name(&*sink, &*peek).await;
            }
        )*
    };
}
