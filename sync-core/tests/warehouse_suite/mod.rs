//! Behaviour every `WarehouseSink` backend must show, run by `warehouse_sink.rs` against
//! SQLite and PostgreSQL.

#![allow(dead_code)]

use async_trait::async_trait;
use serde_json::{Value, json};
use sync_core::warehouse::{
    ColumnSpec, ColumnType, Provenance, TableSpec, UpsertSummary, WarehouseError, WarehouseSink,
};

/// The provenance of records read now through 24.200.001.
pub fn seen() -> Provenance {
    Provenance::now(Some("24.200.001"))
}

/// Runs SQL that both dialects understand and returns every column as text.
#[async_trait]
pub trait Peek: Send + Sync {
    async fn texts(&self, sql: &str) -> Vec<Vec<Option<String>>>;
    async fn exec(&self, sql: &str);
    /// The type of the `raw` column in this dialect.
    fn json_type(&self) -> &'static str {
        "TEXT"
    }
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
    let summary = sink.upsert(&spec, &[record], &seen()).await.unwrap();
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
    sink.upsert(&spec, &[spec.record_from_json(&v1).unwrap()], &seen())
        .await
        .unwrap();
    let s = sink
        .upsert(&spec, &[spec.record_from_json(&v2).unwrap()], &seen())
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
        .upsert(&spec, &[spec.record_from_json(&v1).unwrap()], &seen())
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
        sink.upsert(&spec, &[spec.record_from_json(&v2).unwrap()], &seen())
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
    sink.upsert(&spec, &[spec.record_from_json(&first).unwrap()], &seen())
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
    let err = sink.upsert(&spec, &window, &seen()).await.unwrap_err();
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
    let err = sink.upsert(&spec, &window, &seen()).await.unwrap_err();
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
    sink.upsert(&spec, &window, &seen()).await.unwrap();
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
        sink.upsert(&spec, &[spec.record_from_json(&raw).unwrap()], &seen())
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
    sink.upsert(&spec, &[spec.record_from_json(&raw).unwrap()], &seen())
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
    let err = sink.upsert(&vendor, &[bill], &seen()).await.unwrap_err();
    assert!(err.to_string().contains("`Bill` record"), "{err}");
    let mut rec = vendor.record_from_json(&json!({"id": "v-x"})).unwrap();
    rec.columns.retain(|(n, _)| n != "max_receipt");
    rec.columns.push((
        "max_receipt".into(),
        sync_core::warehouse::WarehouseValue::Text("lots".into()),
    ));
    let err = sink.upsert(&vendor, &[rec], &seen()).await.unwrap_err();
    assert!(
        err.to_string().contains("max_receipt") && err.to_string().contains("decimal"),
        "{err}"
    );
}

fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// Each row says where it came from; a row marked deleted keeps its data, its lines follow it,
/// reading or listing it again clears the mark, and only a purge removes it.
pub async fn rows_carry_provenance_and_deletion_marks(sink: &dyn WarehouseSink, peek: &dyn Peek) {
    let spec = TableSpec::bill();
    sink.ensure_tables(&spec).await.unwrap();
    let read = Provenance {
        endpoint_version: Some("24.200.001".into()),
        seen_at: at("2026-02-01T08:00:00.123456Z"),
    };
    let lines = vec![line("1", json!(60)), line("2", json!(40))];
    let b1 = bill(
        "p-1",
        "2026-01-30T10:00:00+00:00",
        json!(100),
        lines.clone(),
    );
    let b2 = bill("p-2", "2026-01-30T10:00:00+00:00", json!(5), vec![]);
    let records = [
        spec.record_from_json(&b1).unwrap(),
        spec.record_from_json(&b2).unwrap(),
    ];
    sink.upsert(&spec, &records, &read).await.unwrap();
    let p = sink.row_provenance(&spec, "p-1").await.unwrap().unwrap();
    assert_eq!(p.entity.as_deref(), Some("Bill"));
    assert_eq!(p.endpoint_version.as_deref(), Some("24.200.001"));
    assert_eq!(p.last_seen_at, Some(read.seen_at));
    assert_eq!(p.deleted_at, None);
    assert!(sink.row_provenance(&spec, "nope").await.unwrap().is_none());
    let line_prov = peek
        .texts("SELECT entity, endpoint_version FROM acumatica_bill_detail WHERE parent_id = 'p-1'")
        .await;
    assert_eq!(line_prov.len(), 2);
    assert!(
        line_prov
            .iter()
            .all(|r| r[0].as_deref() == Some("Bill") && r[1].as_deref() == Some("24.200.001"))
    );

    // Both were seen at 08:00; a scan from 09:00 that listed only p-2 leaves p-1 a candidate.
    let scan = at("2026-02-01T09:00:00Z");
    let mut unseen = sink.unseen_since(&spec, scan).await.unwrap();
    unseen.sort();
    assert_eq!(unseen, ["p-1", "p-2"]);
    let s = sink
        .mark_seen(&spec, &["p-2".into(), "not-stored".into()], scan)
        .await
        .unwrap();
    assert_eq!((s.seen, s.undeleted), (1, 0));
    assert_eq!(sink.unseen_since(&spec, scan).await.unwrap(), ["p-1"]);

    // Marked deleted: the row and its lines keep their data and carry the time.
    let gone = at("2026-02-01T09:05:00Z");
    assert_eq!(
        sink.mark_deleted(&spec, &["p-1".into()], gone)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        sink.mark_deleted(&spec, &["p-1".into()], gone)
            .await
            .unwrap(),
        0,
        "already marked"
    );
    assert_eq!(
        sink.row_provenance(&spec, "p-1")
            .await
            .unwrap()
            .unwrap()
            .deleted_at,
        Some(gone)
    );
    assert_eq!(sink.count(&spec).await.unwrap(), 2);
    let marked = |sql: &'static str| async move { peek.texts(sql).await.len() };
    assert_eq!(
        marked("SELECT parent_id FROM acumatica_bill_detail WHERE deleted_at IS NOT NULL").await,
        2
    );
    assert!(
        sink.unseen_since(&spec, scan).await.unwrap().is_empty(),
        "deleted rows are no candidates"
    );

    // Listed again (e.g. restored from the archive): the mark goes, from the lines too.
    let s = sink.mark_seen(&spec, &["p-1".into()], scan).await.unwrap();
    assert_eq!((s.seen, s.undeleted), (1, 1));
    assert_eq!(
        marked("SELECT parent_id FROM acumatica_bill_detail WHERE deleted_at IS NOT NULL").await,
        0
    );

    // Read again, even as an older (stale) copy: the mark goes too.
    sink.mark_deleted(&spec, &["p-1".into()], gone)
        .await
        .unwrap();
    let older = bill("p-1", "2026-01-29T10:00:00+00:00", json!(1), vec![]);
    let later = Provenance {
        seen_at: at("2026-02-01T10:00:00Z"),
        ..read.clone()
    };
    let s = sink
        .upsert(&spec, &[spec.record_from_json(&older).unwrap()], &later)
        .await
        .unwrap();
    assert_eq!((s.written, s.stale), (0, 1));
    let p = sink.row_provenance(&spec, "p-1").await.unwrap().unwrap();
    assert_eq!((p.deleted_at, p.last_seen_at), (None, Some(later.seen_at)));
    assert_eq!(
        marked("SELECT parent_id FROM acumatica_bill_detail WHERE deleted_at IS NULL").await,
        2,
        "lines kept"
    );
    sink.mark_deleted(&spec, &["p-1".into()], gone)
        .await
        .unwrap();
    sink.upsert(&spec, &[spec.record_from_json(&b1).unwrap()], &later)
        .await
        .unwrap();
    assert_eq!(
        sink.row_provenance(&spec, "p-1")
            .await
            .unwrap()
            .unwrap()
            .deleted_at,
        None
    );
    assert_eq!(
        marked("SELECT parent_id FROM acumatica_bill_detail WHERE deleted_at IS NULL").await,
        2
    );

    // A purge removes only rows marked deleted before its time, with their lines.
    sink.mark_deleted(&spec, &["p-1".into()], gone)
        .await
        .unwrap();
    assert_eq!(
        sink.purge_deleted(&spec, gone).await.unwrap(),
        0,
        "marked at, not before"
    );
    assert_eq!(
        sink.purge_deleted(&spec, at("2026-02-02T00:00:00Z"))
            .await
            .unwrap(),
        1
    );
    assert!(sink.raw_record(&spec, "p-1").await.unwrap().is_none());
    assert!(sink.raw_record(&spec, "p-2").await.unwrap().is_some());
    assert_eq!(
        marked("SELECT parent_id FROM acumatica_bill_detail").await,
        0
    );
}

/// A warehouse written by a version without the provenance columns gains them: rows keep
/// their data, `entity` is filled in, `deleted_at` is NULL, and the next upsert fills the rest.
pub async fn older_tables_gain_the_provenance_columns(sink: &dyn WarehouseSink, peek: &dyn Peek) {
    // The tables as the previous version created them (its DDL, before any provenance column).
    let json_type = peek.json_type();
    peek.exec(&format!(
        "CREATE TABLE acumatica_bill (id TEXT PRIMARY KEY NOT NULL, last_modified TEXT, \
         synced_at TEXT NOT NULL, raw {json_type} NOT NULL, reference_nbr TEXT)"
    ))
    .await;
    peek.exec(&format!(
        "CREATE TABLE acumatica_bill_detail (parent_id TEXT NOT NULL REFERENCES acumatica_bill (id) \
         ON DELETE CASCADE, line_nbr BIGINT NOT NULL, detail_id TEXT, raw {json_type} NOT NULL, \
         account TEXT, PRIMARY KEY (parent_id, line_nbr))"
    ))
    .await;
    peek.exec("INSERT INTO acumatica_bill (id, synced_at, raw, reference_nbr) VALUES ('o-1', 'x', '{}', 'R1')")
        .await;
    peek.exec("INSERT INTO acumatica_bill_detail (parent_id, line_nbr, raw, account) VALUES ('o-1', 1, '{}', '6')")
        .await;
    let mut spec = TableSpec::bill();
    spec.columns.retain(|c| c.name == "reference_nbr");
    spec.details
        .as_mut()
        .unwrap()
        .columns
        .retain(|c| c.name == "account");
    sink.ensure_tables(&spec).await.unwrap();
    let p = sink.row_provenance(&spec, "o-1").await.unwrap().unwrap();
    assert_eq!(p.entity.as_deref(), Some("Bill"));
    assert_eq!(
        (p.endpoint_version, p.last_seen_at, p.deleted_at),
        (None, None, None)
    );
    assert_eq!(
        peek.texts("SELECT entity, reference_nbr FROM acumatica_bill")
            .await,
        [[Some("Bill".to_owned()), Some("R1".to_owned())]]
    );
    assert_eq!(
        peek.texts("SELECT entity, account FROM acumatica_bill_detail")
            .await,
        [[Some("Bill".to_owned()), Some("6".to_owned())]]
    );
    // Never seen since the upgrade: a delete scan would verify it before marking anything.
    assert_eq!(
        sink.unseen_since(&spec, at("2000-01-01T00:00:00Z"))
            .await
            .unwrap(),
        ["o-1"]
    );
    let b = bill(
        "o-1",
        "2026-01-30T10:00:00+00:00",
        json!(7),
        vec![line("1", json!(7))],
    );
    sink.upsert(&spec, &[spec.record_from_json(&b).unwrap()], &seen())
        .await
        .unwrap();
    let p = sink.row_provenance(&spec, "o-1").await.unwrap().unwrap();
    assert!(p.endpoint_version.is_some() && p.last_seen_at.is_some());
    assert_eq!(sink.raw_record(&spec, "o-1").await.unwrap().unwrap(), b);
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

/// One call with thousands of records (more than one multi-row statement holds, and more
/// lines than one holds), repeats of an id in the same call (newer after older and older after
/// newer), and rows the table already holds in a newer version, ends exactly as writing the
/// records one by one in order would: the newest version of each with its lines, the stale
/// ones untouched but seen, every row and line with its provenance.
pub async fn a_large_batch_writes_what_one_by_one_writes(
    sink: &dyn WarehouseSink,
    peek: &dyn Peek,
) {
    let spec = TableSpec::bill();
    sink.ensure_tables(&spec).await.unwrap();
    let stamp = |minute: u32| format!("2026-02-01T10:{minute:02}:00+00:00");
    let bill_v = |i: usize, minute: u32| {
        let lines = (0..1 + i % 3)
            .map(|l| {
                line(
                    &format!("{}", 60_000 + l),
                    json!(format!("{i}.{minute:02}")),
                )
            })
            .collect();
        bill(
            &format!("b-{i:05}"),
            &stamp(minute),
            json!(format!("{i}.{minute:02}")),
            lines,
        )
    };
    // Already in the table, newer than what the batch brings for them.
    let newer: Vec<Value> = (0..50).map(|i| bill_v(i, 30)).collect();
    let records: Vec<_> = newer
        .iter()
        .map(|v| spec.record_from_json(v).unwrap())
        .collect();
    sink.upsert(&spec, &records, &seen()).await.unwrap();

    let mut batch: Vec<Value> = (0..2_600).map(|i| bill_v(i, 10)).collect();
    // Repeats: b-00100 newer later in the call, b-00200 older later in the call.
    batch.push(bill_v(100, 20));
    batch.push(bill_v(200, 5));
    batch.push(bill_v(300, 10));
    let records: Vec<_> = batch
        .iter()
        .map(|v| spec.record_from_json(v).unwrap())
        .collect();
    let summary = sink.upsert(&spec, &records, &seen()).await.unwrap();

    // The model: one by one, in order.
    let mut model: std::collections::BTreeMap<String, (u32, usize)> = Default::default();
    let (mut written, mut stale, mut lines) = (0u64, 0u64, 0u64);
    for i in 0..50 {
        model.insert(format!("b-{i:05}"), (30, i));
    }
    for (n, v) in batch.iter().enumerate() {
        let i = if n < 2_600 {
            n
        } else {
            [100, 200, 300][n - 2_600]
        };
        let minute = v["LastModifiedDateTime"]["value"].as_str().unwrap()[14..16]
            .parse()
            .unwrap();
        let id = format!("b-{i:05}");
        match model.get(&id) {
            Some((m, _)) if *m > minute => stale += 1,
            _ => {
                model.insert(id, (minute, i));
                written += 1;
                lines += (1 + i % 3) as u64;
            }
        }
    }
    assert_eq!(
        summary,
        UpsertSummary {
            written,
            stale,
            detail_lines: lines
        }
    );
    let rows = peek
        .texts("SELECT id, CAST(amount AS TEXT), entity, endpoint_version, CAST(last_seen_at AS TEXT), CAST(deleted_at AS TEXT) FROM acumatica_bill ORDER BY id")
        .await;
    assert_eq!(rows.len(), model.len());
    for (row, (id, (minute, i))) in rows.iter().zip(&model) {
        assert_eq!(row[0].as_deref(), Some(id.as_str()));
        let amount: rust_decimal::Decimal = row[1].as_deref().unwrap().parse().unwrap();
        let want: rust_decimal::Decimal = format!("{i}.{minute:02}").parse().unwrap();
        assert_eq!(amount, want, "{id}");
        assert_eq!(row[2].as_deref(), Some("Bill"), "{id}");
        assert_eq!(row[3].as_deref(), Some("24.200.001"), "{id}");
        assert!(row[4].is_some() && row[5].is_none(), "{id}: {row:?}");
    }
    let detail = peek
        .texts("SELECT parent_id, CAST(amount AS TEXT), entity, CAST(deleted_at AS TEXT) FROM acumatica_bill_detail ORDER BY parent_id, line_nbr")
        .await;
    let expected_lines: usize = model.values().map(|(_, i)| 1 + i % 3).sum();
    assert_eq!(detail.len(), expected_lines);
    for row in &detail {
        let (minute, i) = model[row[0].as_deref().unwrap()];
        let amount: rust_decimal::Decimal = row[1].as_deref().unwrap().parse().unwrap();
        assert_eq!(
            amount,
            format!("{i}.{minute:02}")
                .parse::<rust_decimal::Decimal>()
                .unwrap()
        );
        assert_eq!(row[2].as_deref(), Some("Bill"));
        assert!(row[3].is_none());
    }
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
            rows_carry_provenance_and_deletion_marks,
            older_tables_gain_the_provenance_columns,
            a_large_batch_writes_what_one_by_one_writes,
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
