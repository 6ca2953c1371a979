//! Reference records: the approved-vendor example, typed fields, and changed-fields-only diffs.

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use sync_core::mapping::{FieldValue, MappingError, RecordChange, ReferenceMapping, Row};

const EXAMPLE: &str = include_str!("data/approved_vendors.toml");

fn rows(v: Value) -> Vec<Row> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_object().unwrap().clone())
        .collect()
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn vendor_row(code: &str, state: &str, pct: Value) -> Value {
    json!({
        "approved_vendors.vendor_code": code,
        "approved_vendors.display_name": "Acme Supplies",
        "approved_vendors.legal_name": "Acme Supplies LLC",
        "approved_vendors.approval_state": state,
        "approved_vendors.payment_terms": "30D",
        "approved_vendors.ap_email": null,
        "approved_vendors.max_receipt_pct": pct,
        "approved_vendors.is_1099": "yes",
    })
}

#[test]
fn example_maps_rows_to_typed_vendor_records() {
    let mapping = ReferenceMapping::from_toml_str(EXAMPLE).unwrap();
    let mapped = mapping
        .map_rows(&rows(json!([vendor_row("V100", "approved", json!(100.0))])))
        .unwrap();
    assert!(mapped.errors.is_empty(), "{:?}", mapped.errors);
    let rec = &mapped.records[0];
    assert_eq!(
        (
            rec.entity.as_str(),
            rec.key_field.as_str(),
            rec.key.as_str()
        ),
        ("Vendor", "VendorID", "V100")
    );
    assert_eq!(rec.fields["Status"], FieldValue::Text("Active".into()));
    assert_eq!(
        rec.fields["VendorClass"],
        FieldValue::Text("APPROVED".into())
    );
    assert_eq!(
        rec.fields["MaxReceipt"],
        FieldValue::Decimal(Decimal::new(1000, 1))
    );
    assert_eq!(rec.fields["F1099Vendor"], FieldValue::Bool(true));
    assert!(
        !rec.fields.contains_key("MainContact/Email"),
        "empty cells are left out with empty_cells = keep"
    );
}

#[test]
fn diff_sends_only_changed_fields_comparing_by_type() {
    let mapping = ReferenceMapping::from_toml_str(EXAMPLE).unwrap();
    let rec = mapping
        .map_rows(&rows(json!([vendor_row("V100", "on_hold", json!("100"))])))
        .unwrap()
        .records
        .remove(0);

    // Current record as Acumatica returns it (wrapped values, trailing blanks, decimals with
    // four places, empty fields as {}).
    let current = obj(json!({
        "VendorID": {"value": "V100"},
        "VendorName": {"value": "Acme Supplies  "},
        "LegalName": {"value": "Acme Supplies LLC"},
        "VendorClass": {"value": "APPROVED"},
        "Status": {"value": "Active"},
        "Terms": {},
        "MaxReceipt": {"value": 100.0000},
        "F1099Vendor": {"value": true},
    }));
    let change = rec.diff(Some(&current));
    let RecordChange::Update(fields) = &change else {
        panic!("expected an update, got {change:?}")
    };
    assert_eq!(fields.keys().collect::<Vec<_>>(), ["Status", "Terms"]);
    assert_eq!(fields["Status"].current, json!("Active"));
    assert_eq!(fields["Status"].wanted, FieldValue::Text("Hold".into()));
    assert_eq!(fields["Terms"].current, Value::Null);
    assert_eq!(
        rec.payload(&change).unwrap(),
        obj(json!({"VendorID": "V100", "Status": "Hold", "Terms": "30D"}))
    );

    // Once applied, nothing is sent.
    let mut after = current.clone();
    after.insert("Status".into(), json!({"value": "Hold"}));
    after.insert("Terms".into(), json!("30D"));
    assert_eq!(rec.diff(Some(&after)), RecordChange::Unchanged);
    assert_eq!(rec.payload(&RecordChange::Unchanged), None);

    // A decimal that really differs is sent as an exact JSON number.
    after.insert("MaxReceipt".into(), json!({"value": 99.5}));
    let change = rec.diff(Some(&after));
    let payload = rec.payload(&change).unwrap();
    assert_eq!(payload["MaxReceipt"].to_string(), "100");

    // No current record: create with every non-empty field.
    let RecordChange::Create(all) = rec.diff(None) else {
        panic!()
    };
    assert_eq!(all.len(), 7);
}

#[test]
fn clear_mode_sends_empty_cells_as_null() {
    let text = EXAMPLE.replace("empty_cells = \"keep\"", "empty_cells = \"clear\"");
    let mapping = ReferenceMapping::from_toml_str(&text).unwrap();
    let rec = mapping
        .map_rows(&rows(json!([vendor_row("V1", "approved", json!(1))])))
        .unwrap()
        .records
        .remove(0);
    let current = obj(json!({"MainContact/Email": {"value": "old@example.com"}}));
    let RecordChange::Update(fields) = rec.diff(Some(&current)) else {
        panic!()
    };
    assert_eq!(fields["MainContact/Email"].wanted, FieldValue::Empty);
    let payload = rec.payload(&RecordChange::Update(fields)).unwrap();
    assert_eq!(payload["MainContact/Email"], Value::Null);
}

#[test]
fn row_problems_and_conflicting_duplicates_are_all_reported() {
    let mapping = ReferenceMapping::from_toml_str(EXAMPLE).unwrap();
    let mut conflicting = vendor_row("V2", "approved", json!(5));
    conflicting["approved_vendors.display_name"] = json!("Other name");
    let mut bad_bool = vendor_row("V4", "approved", json!(5));
    bad_bool["approved_vendors.is_1099"] = json!("maybe");
    let mapped = mapping
        .map_rows(&rows(json!([
            vendor_row("V1", "aproved", json!(5)),
            vendor_row("V2", "approved", json!(5)),
            vendor_row("V2", "approved", json!(5)),
            conflicting,
            vendor_row("V3", "approved", json!("five")),
            bad_bool,
            vendor_row("V5", "suspended", json!(5)),
        ])))
        .unwrap();
    let msgs: Vec<String> = mapped.errors.iter().map(ToString::to_string).collect();
    assert_eq!(mapped.errors.len(), 4, "{msgs:#?}");
    assert!(
        matches!(&mapped.errors[0], MappingError::Unmapped { row: 1, suggestions, .. } if suggestions[0] == "approved")
    );
    assert!(matches!(
        &mapped.errors[1],
        MappingError::DuplicateKey {
            first_row: 2,
            row: 4,
            ..
        }
    ));
    assert!(msgs[1].contains("keep one row per key"), "{}", msgs[1]);
    assert!(matches!(
        &mapped.errors[2],
        MappingError::Amount { row: 5, .. }
    ));
    assert!(
        matches!(&mapped.errors[3], MappingError::WrongType { row: 6, expected, .. } if expected.starts_with("boolean"))
    );
    // The identical duplicate (row 3) is merged; the conflicting key V2 is left out entirely.
    let keys: Vec<&str> = mapped.records.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["V5"]);
}

#[test]
fn inconsistent_reference_mappings_are_rejected() {
    for (text, expected) in [
        (
            EXAMPLE.replace("map = \"status\"", "map = \"state\""),
            "map `state` is not defined",
        ),
        (
            EXAMPLE.replace(
                "[maps.status]",
                "[fields.VendorID]\ncolumn = \"x\"\n\n[maps.status]",
            ),
            "remove it from [fields]",
        ),
        (
            EXAMPLE.replace(
                "VendorClass = { constant = \"APPROVED\" }",
                "VendorClass = { constant = \"APPROVED\", column = \"x\" }",
            ),
            "not both",
        ),
    ] {
        let err = ReferenceMapping::from_toml_str(&text)
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "expected {expected:?} in {err}");
    }
}
