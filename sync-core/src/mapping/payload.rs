//! Contract-API request bodies for mapped documents, for flows that send them through a raw
//! call rather than the client's typed entities.
//!
//! Wire format per reference FACTS §5 and §7.1: general fields wrapped as `{"value": …}`,
//! linked entities nested, details as arrays, `TransactionDate` without an offset, decimals as
//! exact JSON numbers.

use serde_json::{Map, Value, json};

use super::journal::{JournalDocument, JournalLine};
use super::period::acumatica_date;
use crate::key::{NaturalKey, embed_key};

fn wrap(v: Value) -> Value {
    json!({ "value": v })
}

fn number(d: rust_decimal::Decimal) -> Value {
    // Exact: serde_json keeps the digits (arbitrary_precision), never an f64.
    d.to_string()
        .parse::<serde_json::Number>()
        .map_or_else(|_| Value::String(d.to_string()), Value::Number)
}

impl JournalDocument {
    /// The `JournalTransaction` body that creates this journal (`PUT …/JournalTransaction`),
    /// with the natural key embedded in `Description`.
    ///
    /// Each line sends only its non-zero side (`DebitAmount` or `CreditAmount`); optional
    /// fields that are empty are left out so Acumatica applies its defaults. `BatchNbr` is not
    /// sent: it is auto-numbered.
    ///
    /// ```
    /// use sync_core::key::NaturalKey;
    /// use sync_core::mapping::{JournalDocument, JournalLine, Partition, Period};
    /// use rust_decimal::Decimal;
    ///
    /// let line = |account: &str, debit: i64, credit: i64| JournalLine {
    ///     row: 1, account: account.into(), subaccount: None, branch: "HQ".into(),
    ///     project: None, task: None, cost_code: None, reference_nbr: None,
    ///     debit: Decimal::new(debit, 2), credit: Decimal::new(credit, 2),
    ///     description: None, date: None,
    /// };
    /// let doc = JournalDocument {
    ///     flow: "alloc".into(), partition: Partition::new([("period", "012025"), ("branch", "HQ")]),
    ///     branch: "HQ".into(), ledger: "ACTUAL".into(), currency: None,
    ///     period: Period::new(2025, 1).unwrap(), transaction_date: None,
    ///     description: "Allocation".into(), hold: false,
    ///     lines: vec![line("6100", 1050, 0), line("1000", 0, 1050)], unmapped_rows: vec![],
    /// };
    /// let key = NaturalKey::for_document(&doc);
    /// let body = doc.contract_body(&key);
    /// assert_eq!(body["PostPeriod"]["value"], "012025");
    /// assert_eq!(body["Details"][0]["DebitAmount"]["value"].to_string(), "10.50");
    /// assert!(body["Details"][0].get("CreditAmount").is_none());
    /// ```
    pub fn contract_body(&self, key: &NaturalKey) -> Value {
        let mut body = Map::new();
        body.insert("Module".into(), wrap(json!("GL")));
        body.insert("BranchID".into(), wrap(json!(self.branch)));
        body.insert("LedgerID".into(), wrap(json!(self.ledger)));
        body.insert("PostPeriod".into(), wrap(json!(self.period.to_string())));
        if let Some(d) = self.transaction_date {
            body.insert("TransactionDate".into(), wrap(json!(acumatica_date(d))));
        }
        if let Some(c) = &self.currency {
            body.insert("CurrencyID".into(), wrap(json!(c)));
        }
        body.insert(
            "Description".into(),
            wrap(json!(embed_key(&self.description, key))),
        );
        body.insert("Hold".into(), wrap(json!(self.hold)));
        body.insert(
            "Details".into(),
            Value::Array(self.lines.iter().map(line_body).collect()),
        );
        Value::Object(body)
    }
}

fn line_body(l: &JournalLine) -> Value {
    let mut m = Map::new();
    m.insert("BranchID".into(), wrap(json!(l.branch)));
    m.insert("Account".into(), wrap(json!(l.account)));
    let optional = [
        ("Subaccount", &l.subaccount),
        ("Project", &l.project),
        ("ProjectTask", &l.task),
        ("CostCode", &l.cost_code),
        ("ReferenceNbr", &l.reference_nbr),
        ("TransactionDescription", &l.description),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            m.insert(name.into(), wrap(json!(v)));
        }
    }
    if !l.debit.is_zero() {
        m.insert("DebitAmount".into(), wrap(number(l.debit)));
    }
    if !l.credit.is_zero() {
        m.insert("CreditAmount".into(), wrap(number(l.credit)));
    }
    Value::Object(m)
}

/// Turns a flat payload of plain values (as [`ReferenceRecord::payload`] returns it) into a
/// contract-API body: each value wrapped as `{"value": …}`, and `Linked/Field` paths nested
/// as linked entities (`{"MainContact": {"Email": {"value": …}}}`).
///
/// [`ReferenceRecord::payload`]: super::ReferenceRecord::payload
///
/// ```
/// use serde_json::json;
/// let flat = json!({"VendorID": "V1", "MainContact/Email": "ap@acme.test", "Hold": null});
/// let body = sync_core::mapping::contract_fields(flat.as_object().unwrap());
/// assert_eq!(body, json!({"VendorID": {"value": "V1"},
///                         "MainContact": {"Email": {"value": "ap@acme.test"}},
///                         "Hold": {"value": null}}));
/// ```
pub fn contract_fields(flat: &Map<String, Value>) -> Value {
    let mut root = Map::new();
    for (path, value) in flat {
        let parts: Vec<&str> = path.split('/').collect();
        insert_path(&mut root, &parts, value.clone());
    }
    Value::Object(root)
}

fn insert_path(node: &mut Map<String, Value>, parts: &[&str], value: Value) {
    match parts {
        [] => {}
        [leaf] => {
            node.insert((*leaf).to_owned(), wrap(value));
        }
        [head, rest @ ..] => {
            let entry = node
                .entry((*head).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(child) = entry {
                insert_path(child, rest, value);
            }
        }
    }
}
