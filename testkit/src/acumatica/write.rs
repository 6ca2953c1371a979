//! PUT (upsert by keys or id, FACTS section 7), business validation with the
//! real 422 shape, DELETE, and the release action.

use std::sync::Arc;

use rust_decimal::Decimal;
use serde_json::{Value as J, json};
use uuid::Uuid;

use super::filter::Filter;
use super::generate::raw_subaccount;
use super::input::{Input, ModelState, parse};
use super::render::{Shape, journal_totals, to_value};
use super::schema::{EntityDef, FieldType, Schema, schema};
use super::store::{Operation, Store, Table, key_of};
use super::value::{Row, Val};
use crate::seed;

/// Why a write was refused.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// 400 with `modelState`.
    BadRequest(ModelState),
    /// 400 with a plain message (e.g. an action body without `entity`).
    Invalid(String),
    /// 412.
    Precondition(&'static str),
    /// 422 with the entity body carrying `error`s.
    Unprocessable(J),
    /// 500 `NoEntitySatisfiesTheConditionException`.
    NoEntity,
}

/// Preconditions from `If-Match` / `If-None-Match`, and the request's
/// branch and business date (FACTS section 5: `PX-CbApiBranch`,
/// `PX-CbApiBusinessDate`), which set the defaults of a new document.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Preconditions {
    /// `If-None-Match: *`: insert only.
    pub(crate) insert_only: bool,
    /// `If-Match: *`: update only.
    pub(crate) update_only: bool,
    /// The branch ID the `PX-CbApiBranch` name resolved to.
    pub(crate) branch: Option<&'static str>,
    /// The `PX-CbApiBusinessDate`, in UTC milliseconds at midnight.
    pub(crate) business_date_ms: Option<i64>,
}

/// Field errors collected during validation: `(path of detail index or
/// None, field, message)`.
type FieldError = (Option<(&'static str, usize)>, &'static str, String);

#[derive(Default, Debug)]
struct Errors {
    fields: Vec<FieldError>,
    entity: Option<String>,
}

impl Errors {
    fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.entity.is_none()
    }
}

fn keys_of_input(table: &Table, input: &Input) -> Option<String> {
    let mut vals = Vec::new();
    for k in table.def.keys {
        let idx = table.schema.idx(k);
        let v = input.get(idx)?.as_ref()?.key_text();
        vals.push(v);
    }
    Some(key_of(&vals.iter().map(String::as_str).collect::<Vec<_>>()))
}

/// Defaults a key lookup assumes when the client leaves the field out.
fn default_keys(def: &EntityDef, schema: &Schema, input: &mut Input) {
    let defaults: &[(&str, &'static str)] = match def.name {
        "JournalTransaction" => &[("Module", "GL")],
        "Bill" => &[("Type", "Bill")],
        "Check" => &[("Type", "Payment")],
        "PurchaseOrder" => &[("Type", "Normal")],
        _ => &[],
    };
    for (f, v) in defaults {
        let idx = schema.idx(f);
        if !matches!(input.get(idx), Some(Some(_))) {
            input.vals.retain(|(i, _)| *i != idx);
            input.vals.push((idx, Some(Val::Static(v))));
        }
    }
}

/// PUT: insert or update one record; returns the stored record.
pub(crate) fn put(
    store: &mut Store,
    entity: &str,
    version: &str,
    body: &[u8],
    pre: Preconditions,
    filter: Option<&Filter>,
) -> Result<Arc<Row>, WriteError> {
    let body = parse_body(body)?;
    let J::Object(obj) = &body else {
        return Err(WriteError::BadRequest(vec![(
            "entity".to_owned(),
            "The request body must be a JSON object of the entity.".to_owned(),
        )]));
    };
    let table = store.table(entity);
    let (def, schema) = (table.def, table.schema);
    let mut errs = Vec::new();
    let mut input = parse(schema, version, obj, "", &mut errs);
    if !errs.is_empty() {
        return Err(WriteError::BadRequest(errs));
    }
    default_keys(def, schema, &mut input);
    let existing = input
        .id
        .and_then(|id| table.by_id(id))
        .or_else(|| keys_of_input(table, &input).and_then(|k| table.by_key(&k)))
        .or_else(|| filter.and_then(|f| table.select(Some(f), 0, Some(1)).pop()));
    if pre.insert_only && existing.is_some() {
        return Err(WriteError::Precondition(
            "The record already exists (If-None-Match: *).",
        ));
    }
    if pre.update_only && existing.is_none() {
        return Err(WriteError::Precondition(
            "The record does not exist (If-Match: *).",
        ));
    }
    write_merged(store, def, schema, version, existing, input, pre)
}

/// PATCH (25.200.001 and later): update only; 404 when missing.
pub(crate) fn patch(
    store: &mut Store,
    entity: &str,
    version: &str,
    body: &[u8],
) -> Result<Option<Arc<Row>>, WriteError> {
    let body = parse_body(body)?;
    let J::Object(obj) = &body else {
        return Err(WriteError::Invalid(
            "The request body must be a JSON object of the entity.".to_owned(),
        ));
    };
    let table = store.table(entity);
    let (def, schema) = (table.def, table.schema);
    let mut errs = Vec::new();
    let mut input = parse(schema, version, obj, "", &mut errs);
    if !errs.is_empty() {
        return Err(WriteError::BadRequest(errs));
    }
    default_keys(def, schema, &mut input);
    let Some(existing) = input
        .id
        .and_then(|id| table.by_id(id))
        .or_else(|| keys_of_input(table, &input).and_then(|k| table.by_key(&k)))
    else {
        return Ok(None);
    };
    write_merged(
        store,
        def,
        schema,
        version,
        Some(existing),
        input,
        Preconditions::default(),
    )
    .map(Some)
}

fn parse_body(body: &[u8]) -> Result<J, WriteError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(WriteError::BadRequest(vec![(
            String::new(),
            "The request body should not be empty.".to_owned(),
        )]));
    }
    serde_json::from_slice(body).map_err(|e| {
        WriteError::BadRequest(vec![(
            "entity".to_owned(),
            format!("Unexpected character encountered while parsing value: {e}"),
        )])
    })
}

fn write_merged(
    store: &mut Store,
    def: &'static EntityDef,
    schema: &'static Schema,
    version: &str,
    existing: Option<Arc<Row>>,
    input: Input,
    context: Preconditions,
) -> Result<Arc<Row>, WriteError> {
    let inserting = existing.is_none();
    let mut row = match &existing {
        Some(r) => (**r).clone(),
        None => Row::new(input.id.unwrap_or_else(Uuid::new_v4)),
    };
    let mut errors = Errors::default();
    if let Some(old) = &existing
        && def.name == "JournalTransaction"
        && matches!(
            old.get(schema.idx("Status")).and_then(Val::as_str),
            Some("Posted" | "Released")
        )
    {
        errors.entity = Some("The batch has been released and cannot be modified.".to_owned());
    }
    apply(schema, &mut row, &input, def.numbering.map(|n| n.field));
    // A numbering sequence on a client-keyed entity overrides the key asked
    // for (FACTS section 7: "123" was saved as "C1165").
    let key_number = if inserting {
        store.free_key_number(def.name)
    } else {
        None
    };
    if let Some(number) = &key_number {
        row.set(
            schema.idx(def.keys[0]),
            Some(Val::Str(number.clone().into_boxed_str())),
        );
    }
    defaults(def, schema, &mut row, inserting, context);
    validate(store, def, schema, &row, &mut errors);
    if !errors.is_empty() {
        if inserting && let Some(n) = def.numbering {
            row.set(schema.idx(n.field), Some(Val::Static("<NEW>")));
        }
        if key_number.is_some() {
            row.set(schema.idx(def.keys[0]), Some(Val::Static("<NEW>")));
        }
        return Err(WriteError::Unprocessable(error_body(
            def, schema, version, &row, inserting, errors,
        )));
    }
    let now = store.now_ms();
    if inserting {
        if let Some(n) = store.table_mut(def.name).next_number() {
            row.set(
                schema.idx(def.numbering.map_or("", |n| n.field)),
                Some(Val::Str(n.into_boxed_str())),
            );
        }
        if let Some((idx, _)) = schema.field("CreatedDateTime") {
            row.set(idx, Some(Val::Dt(now)));
        }
        if key_number.is_some()
            && let Some(seq) = store.key_numbering.get_mut(def.name)
        {
            seq.next += 1;
        }
        *store.created.entry(def.name).or_default() += 1;
    }
    Store::touch(schema, &mut row, now);
    let table = store.table_mut(def.name);
    if table.row_key(&row).is_none() {
        // Unreachable after validation; refuse rather than store a keyless row.
        return Err(WriteError::Invalid("The record has no key.".to_owned()));
    }
    Ok(table.put(row))
}

/// Merge the client's values into a row. The numbering field of a new or
/// existing document is never taken from the client.
fn apply(schema: &Schema, row: &mut Row, input: &Input, numbering: Option<&str>) {
    let skip = numbering.and_then(|f| schema.field(f)).map(|(i, _)| i);
    if let Some(note) = &input.note {
        row.note = Some(note.as_str().into());
    }
    for (idx, val) in &input.vals {
        if Some(*idx) == skip {
            continue;
        }
        row.set(*idx, val.clone());
    }
    for (idx, sub) in &input.linked {
        let FieldType::Linked(n) = schema.fields[*idx as usize].1 else {
            continue;
        };
        let kid_schema = super::schema::schema(n).expect("catalogue");
        let kids = row.kids_mut(*idx);
        if kids.is_empty() {
            kids.push(Row::new(Uuid::new_v4()));
        }
        apply(kid_schema, &mut kids[0], sub, None);
    }
    for (idx, lines) in &input.details {
        let FieldType::Detail(n) = schema.fields[*idx as usize].1 else {
            continue;
        };
        let kid_schema = super::schema::schema(n).expect("catalogue");
        let line_key = kid_schema.field("LineNbr").map(|(i, _)| i);
        let kids = row.kids_mut(*idx);
        for line in lines {
            let pos = line
                .id
                .and_then(|id| kids.iter().position(|k| k.id == id))
                .or_else(|| {
                    let k = line_key?;
                    let want = line.get(k)?.as_ref()?;
                    kids.iter().position(|r| r.get(k) == Some(want))
                });
            match (pos, line.delete) {
                (Some(p), true) => {
                    kids.remove(p);
                }
                (Some(p), false) => apply(kid_schema, &mut kids[p], line, None),
                (None, true) => {}
                (None, false) => {
                    let mut new = Row::new(Uuid::new_v4());
                    apply(kid_schema, &mut new, line, None);
                    kids.push(new);
                }
            }
        }
    }
}

fn set_default(row: &mut Row, schema: &Schema, field: &str, val: Val) {
    let idx = schema.idx(field);
    if row.get(idx).is_none() {
        row.set(idx, Some(val));
    }
}

/// What the graph fills in on a new or changed document.
fn defaults(
    def: &EntityDef,
    schema: &Schema,
    row: &mut Row,
    inserting: bool,
    context: Preconditions,
) {
    match def.name {
        "JournalTransaction" => {
            // The business date (today unless the request set one) and the
            // request's branch are what a new batch defaults to.
            let today_ms = context.business_date_ms.unwrap_or_else(|| {
                chrono::Utc::now()
                    .date_naive()
                    .and_hms_opt(0, 0, 0)
                    .map_or(0, |d| d.and_utc().timestamp_millis())
            });
            set_default(row, schema, "Module", Val::Static("GL"));
            set_default(row, schema, "LedgerID", Val::Static(seed::LEDGER));
            set_default(row, schema, "CurrencyID", Val::Static(seed::CURRENCY));
            set_default(
                row,
                schema,
                "BranchID",
                Val::Static(context.branch.unwrap_or(seed::BRANCHES[0].id)),
            );
            set_default(row, schema, "TransactionDate", Val::Dt(today_ms));
            // "Hold batches on entry" is on in the demo company's GL preferences.
            set_default(row, schema, "Hold", Val::Bool(true));
            let date = row
                .get(schema.idx("TransactionDate"))
                .and_then(Val::as_dt)
                .unwrap_or(today_ms);
            if row.get(schema.idx("PostPeriod")).is_none() {
                let d = chrono::DateTime::from_timestamp_millis(date).unwrap_or_default();
                use chrono::Datelike;
                row.set(
                    schema.idx("PostPeriod"),
                    Some(Val::Str(format!("{:02}{}", d.month(), d.year()).into())),
                );
            } else if let Some(p) = row
                .get(schema.idx("PostPeriod"))
                .and_then(Val::as_str)
                .map(normalize_period)
            {
                row.set(schema.idx("PostPeriod"), Some(Val::Str(p.into())));
            }
            let hold = row
                .get(schema.idx("Hold"))
                .and_then(Val::as_bool)
                .unwrap_or(true);
            let status = row
                .get(schema.idx("Status"))
                .and_then(Val::as_str)
                .unwrap_or("");
            if inserting || matches!(status, "" | "On Hold" | "Balanced") {
                row.set(
                    schema.idx("Status"),
                    Some(Val::Static(if hold { "On Hold" } else { "Balanced" })),
                );
            }
            let branch = row.get(schema.idx("BranchID")).cloned();
            let lines = schema_of("JournalTransactionDetail");
            let details = row.kids_mut(schema.idx("Details"));
            let mut next_line = details
                .iter()
                .filter_map(|l| {
                    l.get(lines.idx("LineNbr"))
                        .and_then(|v| if let Val::Int(i) = v { Some(*i) } else { None })
                })
                .max()
                .unwrap_or(0);
            for line in details.iter_mut() {
                if line.get(lines.idx("LineNbr")).is_none() {
                    next_line += 1;
                    line.set(lines.idx("LineNbr"), Some(Val::Int(next_line)));
                }
                if let Some(b) = &branch {
                    set_default(line, lines, "BranchID", b.clone());
                }
                // Subaccounts are kept raw, without the segment separator.
                let sub_idx = lines.idx("Subaccount");
                match line.get(sub_idx).and_then(Val::as_str) {
                    None => line.set(sub_idx, Some(raw_subaccount(seed::SUBACCOUNTS[0].cd))),
                    Some(s) if s.contains('-') => {
                        let raw = s.replace('-', "");
                        line.set(sub_idx, Some(Val::Str(raw.into_boxed_str())));
                    }
                    Some(_) => {}
                }
                set_default(line, lines, "DebitAmount", Val::Dec(Decimal::new(0, 2)));
                set_default(line, lines, "CreditAmount", Val::Dec(Decimal::new(0, 2)));
                set_default(line, lines, "Qty", Val::Dec(Decimal::ZERO));
                let acct = line
                    .get(lines.idx("Account"))
                    .and_then(Val::as_str)
                    .map(str::to_owned);
                if let Some(a) = acct.and_then(|cd| {
                    seed::ACCOUNTS
                        .iter()
                        .find(|a| a.cd.eq_ignore_ascii_case(cd.trim()))
                }) {
                    line.set(lines.idx("Description"), Some(Val::Static(a.description)));
                }
            }
        }
        "Bill" => {
            set_default(row, schema, "Type", Val::Static("Bill"));
            set_default(row, schema, "CurrencyID", Val::Static(seed::CURRENCY));
            set_default(row, schema, "Hold", Val::Bool(true));
            if inserting {
                let hold = row
                    .get(schema.idx("Hold"))
                    .and_then(Val::as_bool)
                    .unwrap_or(true);
                row.set(
                    schema.idx("Status"),
                    Some(Val::Static(if hold { "On Hold" } else { "Balanced" })),
                );
            }
        }
        "Check" => {
            set_default(row, schema, "Type", Val::Static("Payment"));
            set_default(row, schema, "CurrencyID", Val::Static(seed::CURRENCY));
        }
        "PurchaseOrder" => {
            set_default(row, schema, "Type", Val::Static("Normal"));
            set_default(row, schema, "CurrencyID", Val::Static(seed::CURRENCY));
            if inserting {
                set_default(row, schema, "Status", Val::Static("On Hold"));
            }
        }
        _ => {}
    }
}

/// `01-2026`, `012026` -> `012026`.
fn normalize_period(p: &str) -> String {
    p.trim().replace('-', "")
}

fn schema_of(name: &str) -> &'static Schema {
    schema(name).expect("catalogue")
}

fn exists(store: &Store, entity: &str, key: &str) -> Option<Arc<Row>> {
    store.table(entity).by_key(&key_of(&[key]))
}

fn validate(
    store: &Store,
    def: &EntityDef,
    schema: &'static Schema,
    row: &Row,
    errors: &mut Errors,
) {
    // Keys the client must give (numbered keys come from the sequence).
    for k in def.keys {
        if def.numbering.is_some_and(|n| n.field == *k) {
            continue;
        }
        let idx = schema.idx(k);
        let missing = match row.get(idx) {
            None => true,
            Some(v) => v.as_str().is_some_and(|s| s.trim().is_empty()),
        };
        if missing {
            errors
                .fields
                .push((None, k, format!("'{k}' cannot be empty.")));
        }
    }
    match def.name {
        "JournalTransaction" => validate_journal(store, schema, row, errors),
        "Bill" => {
            let idx = schema.idx("Vendor");
            match row.get(idx).and_then(Val::as_str) {
                None => {
                    errors
                        .fields
                        .push((None, "Vendor", "'Vendor' cannot be empty.".to_owned()))
                }
                Some(v) if exists(store, "Vendor", v).is_none() => errors.fields.push((
                    None,
                    "Vendor",
                    format!("Vendor '{v}' cannot be found in the system."),
                )),
                _ => {}
            }
        }
        _ => {}
    }
}

fn branch_exists(id: &str) -> bool {
    seed::BRANCHES
        .iter()
        .any(|b| b.id.eq_ignore_ascii_case(id.trim()))
}

fn validate_journal(store: &Store, s: &'static Schema, row: &Row, errors: &mut Errors) {
    let str_of =
        |r: &Row, sc: &Schema, f: &str| r.get(sc.idx(f)).and_then(Val::as_str).map(str::to_owned);
    if let Some(b) = str_of(row, s, "BranchID")
        && !branch_exists(&b)
    {
        errors.fields.push((
            None,
            "BranchID",
            format!("Branch '{b}' cannot be found in the system."),
        ));
    }
    if let Some(l) = str_of(row, s, "LedgerID")
        && exists(store, "Ledger", &l).is_none()
    {
        errors.fields.push((
            None,
            "LedgerID",
            format!("Ledger '{l}' cannot be found in the system."),
        ));
    }
    if let Some(m) = str_of(row, s, "Module")
        && !m.eq_ignore_ascii_case("GL")
    {
        errors.fields.push((
            None,
            "Module",
            format!("Module '{m}' is not valid for a journal transaction; use 'GL'."),
        ));
    }
    // The period must exist and be open.
    if let Some(p) = str_of(row, s, "PostPeriod") {
        match period_status(store, &p) {
            None => errors.fields.push((
                None,
                "PostPeriod",
                format!("Financial period '{p}' does not exist."),
            )),
            Some(false) => errors.fields.push((
                None,
                "PostPeriod",
                format!(
                    "The financial period '{}-{}' is closed.",
                    &p[..2.min(p.len())],
                    &p[2.min(p.len())..]
                ),
            )),
            Some(true) => {}
        }
    }
    let l = schema_of("JournalTransactionDetail");
    for (i, line) in row.kids(s.idx("Details")).iter().enumerate() {
        let at = Some(("Details", i));
        match str_of(line, l, "Account") {
            None => errors
                .fields
                .push((at, "Account", "'Account' cannot be empty.".to_owned())),
            Some(a) => match exists(store, "Account", &a) {
                None => errors.fields.push((
                    at,
                    "Account",
                    format!("Account '{a}' cannot be found in the system."),
                )),
                Some(acc) => {
                    let sa = schema_of("Account");
                    if acc.get(sa.idx("Active")).and_then(Val::as_bool) == Some(false) {
                        errors
                            .fields
                            .push((at, "Account", format!("Account '{a}' is inactive.")));
                    }
                }
            },
        }
        if let Some(sub) = str_of(line, l, "Subaccount") {
            let ss = schema_of("Subaccount");
            // Accepted with or without the segment separator; stored raw.
            match exists(store, "Subaccount", &sub.replace('-', "")) {
                None => errors.fields.push((
                    at,
                    "Subaccount",
                    format!("Subaccount '{sub}' cannot be found in the system."),
                )),
                Some(r) if r.get(ss.idx("Active")).and_then(Val::as_bool) == Some(false) => errors
                    .fields
                    .push((at, "Subaccount", format!("Subaccount '{sub}' is inactive."))),
                _ => {}
            }
        }
        if let Some(b) = str_of(line, l, "BranchID")
            && !branch_exists(&b)
        {
            errors.fields.push((
                at,
                "BranchID",
                format!("Branch '{b}' cannot be found in the system."),
            ));
        }
        let amount = |f: &str| line.get(l.idx(f)).and_then(Val::as_dec).unwrap_or_default();
        let (debit, credit) = (amount("DebitAmount"), amount("CreditAmount"));
        if !debit.is_zero() && !credit.is_zero() {
            errors.fields.push((
                at,
                "DebitAmount",
                "A line cannot have both a debit amount and a credit amount.".to_owned(),
            ));
        }
        if debit.is_sign_negative() && !debit.is_zero() {
            errors.fields.push((
                at,
                "DebitAmount",
                "The amount cannot be negative.".to_owned(),
            ));
        }
        if credit.is_sign_negative() && !credit.is_zero() {
            errors.fields.push((
                at,
                "CreditAmount",
                "The amount cannot be negative.".to_owned(),
            ));
        }
    }
    let hold = row
        .get(s.idx("Hold"))
        .and_then(Val::as_bool)
        .unwrap_or(true);
    let (debit, credit) = journal_totals(row);
    if !hold && debit != credit && errors.entity.is_none() {
        errors.entity = Some("Batch is out of balance, please review.".to_owned());
    }
}

/// `Some(open)` for a known period `MMYYYY` (or `MM-YYYY`).
pub(crate) fn period_status(store: &Store, period: &str) -> Option<bool> {
    let p = normalize_period(period);
    if p.len() != 6 {
        return None;
    }
    let year = &p[2..];
    let fp = store.table("FinancialPeriod").by_key(&key_of(&[year]))?;
    let s = schema_of("FinancialPeriod");
    let d = schema_of("FinancialPeriodDetail");
    fp.kids(s.idx("Details"))
        .iter()
        .find(|r| r.get(d.idx("FinancialPeriodID")).and_then(Val::as_str) == Some(p.as_str()))
        .map(|r| r.get(d.idx("Status")).and_then(Val::as_str) == Some("Open"))
}

/// The 422 body: the entity as it would have been saved, with a top-level
/// `error` and `error` on the offending fields (FACTS section 9).
fn error_body(
    def: &EntityDef,
    schema: &'static Schema,
    version: &str,
    row: &Row,
    inserting: bool,
    errors: Errors,
) -> J {
    let mut shape_expand = Vec::new();
    for (i, (name, ty)) in schema.fields.iter().enumerate() {
        if matches!(ty, FieldType::Detail(_)) && !row.kids(i as u16).is_empty() {
            shape_expand.push(*name);
        }
    }
    let expand = shape_expand.join(",");
    let shape = Shape::build(schema, version, None, Some(&expand))
        .unwrap_or_else(|_| Shape::full(schema, version));
    let mut body = to_value(&shape, row, None);
    let top = if !errors.fields.is_empty() {
        format!(
            "{}  '{}' record raised at least one error. Please review the errors.",
            if inserting { "Inserting" } else { "Updating" },
            def.cache
        )
    } else {
        errors.entity.clone().unwrap_or_default()
    };
    let mut top_msg = top;
    if !errors.fields.is_empty()
        && let Some(e) = &errors.entity
    {
        top_msg = format!("{top_msg} {e}");
    }
    if let J::Object(o) = &mut body {
        o.insert("error".to_owned(), J::String(top_msg));
    }
    for (at, field, msg) in errors.fields {
        let target = match at {
            None => Some(&mut body),
            Some((detail, i)) => body.get_mut(detail).and_then(|d| d.get_mut(i)),
        };
        if let Some(J::Object(o)) = target {
            let slot = o.entry(field.to_owned()).or_insert_with(|| json!({}));
            if let J::Object(f) = slot {
                f.insert("error".to_owned(), J::String(msg));
            }
        }
    }
    body
}

/// DELETE by id or keys.
pub(crate) fn delete(store: &mut Store, entity: &str, target: Uuid) -> bool {
    store.table_mut(entity).remove(target)
}

/// `POST <entity>/<action>`: find the target and start the operation.
pub(crate) fn start_action(
    store: &mut Store,
    entity: &'static str,
    action: &str,
    version: &str,
    body: &[u8],
    polls: u32,
) -> Result<Uuid, WriteError> {
    let body = parse_body(body)?;
    let Some(J::Object(target)) = body.get("entity") else {
        return Err(WriteError::BadRequest(vec![(
            "entity".to_owned(),
            "The 'entity' property is required: {\"entity\": {...}, \"parameters\": {}}."
                .to_owned(),
        )]));
    };
    let table = store.table(entity);
    let schema = table.schema;
    let mut errs = Vec::new();
    let mut input = parse(schema, version, target, "entity", &mut errs);
    if !errs.is_empty() {
        return Err(WriteError::BadRequest(errs));
    }
    default_keys(table.def, schema, &mut input);
    let row = input
        .id
        .and_then(|id| table.by_id(id))
        .or_else(|| keys_of_input(table, &input).and_then(|k| table.by_key(&k)))
        .ok_or(WriteError::NoEntity)?;
    if entity == "JournalTransaction" && action == "ReleaseJournalTransaction" {
        let status = row
            .get(schema.idx("Status"))
            .and_then(Val::as_str)
            .unwrap_or("");
        let problem = match status {
            "On Hold" => Some("The batch is on hold and cannot be released."),
            "Posted" | "Released" | "Unposted" => Some("The batch has already been released."),
            _ => None,
        };
        if let Some(p) = problem {
            let shape = Shape::build(schema, version, None, None)
                .unwrap_or_else(|_| Shape::full(schema, version));
            let mut body = to_value(&shape, &row, None);
            if let J::Object(o) = &mut body {
                o.insert("error".to_owned(), J::String(p.to_owned()));
            }
            return Err(WriteError::Unprocessable(body));
        }
    }
    let op = Uuid::new_v4();
    store.ops.insert(
        op,
        Operation {
            entity,
            action: action.to_owned(),
            target: row.id,
            polls_left: polls,
            done: false,
        },
    );
    if polls == 0 {
        finish(store, op);
    }
    Ok(op)
}

/// Poll an operation: `Some(true)` done (204), `Some(false)` running (202),
/// `None` unknown.
pub(crate) fn poll(store: &mut Store, op: Uuid) -> Option<bool> {
    let o = store.ops.get_mut(&op)?;
    if o.done {
        return Some(true);
    }
    if o.polls_left > 0 {
        o.polls_left -= 1;
        return Some(false);
    }
    finish(store, op);
    Some(true)
}

fn finish(store: &mut Store, op: Uuid) {
    let Some(o) = store.ops.get_mut(&op) else {
        return;
    };
    if o.done {
        return;
    }
    o.done = true;
    let (entity, action, target) = (o.entity, o.action.clone(), o.target);
    let new_status = match action.as_str() {
        "ReleaseJournalTransaction" => Some("Posted"),
        "ReleaseBill" | "ReleaseCheck" => Some("Open"),
        "VoidCheck" => Some("Voided"),
        _ => None,
    };
    let now = store.now_ms();
    let table = store.table_mut(entity);
    let schema = table.schema;
    if let Some(row) = table.by_id(target) {
        let mut row = (*row).clone();
        if let Some(st) = new_status {
            row.set(schema.idx("Status"), Some(Val::Static(st)));
        }
        Store::touch(schema, &mut row, now);
        table.put(row);
    }
}
