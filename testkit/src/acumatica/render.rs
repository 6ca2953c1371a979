//! Writing entities as the real server does (FACTS section 5): system fields
//! bare, general fields wrapped as `{"value": ...}`, unset fields `{}`,
//! details and linked entities only when `$expand` names them, `$select`
//! narrowing the fields.

use std::collections::HashMap;

use rust_decimal::Decimal;

use super::schema::{CustomFieldDef, FieldType, Schema, available, custom_field, schema};
use super::value::{Row, Val, write_str};

/// What to write of one level (top-level entity, detail or linked entity).
#[derive(Debug)]
pub(crate) struct Shape {
    pub(crate) schema: &'static Schema,
    /// Field indexes to write, in schema order.
    emit: Vec<u16>,
    kids: HashMap<u16, Shape>,
    files: bool,
    /// `$custom` fields `(view, field)` (top level only).
    custom: Vec<(String, String)>,
}

/// A `$select`/`$expand` name the entity does not have.
#[derive(Debug)]
pub(crate) struct UnknownName {
    pub(crate) name: String,
    pub(crate) schema: &'static str,
}

struct Spec {
    select: Option<Vec<String>>,
    sub_select: HashMap<String, Vec<String>>,
    expand: HashMap<String, Vec<String>>,
    files: bool,
}

fn split_paths(list: Option<&str>) -> Vec<String> {
    list.unwrap_or("")
        .split(',')
        .map(|s| s.trim().trim_matches('/').to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

impl Shape {
    /// The shape for `$select` and `$expand` (comma-separated paths) of an
    /// entity in endpoint `version`.
    pub(crate) fn build(
        schema: &'static Schema,
        version: &str,
        select: Option<&str>,
        expand: Option<&str>,
    ) -> Result<Shape, UnknownName> {
        let select = select.map(|s| split_paths(Some(s)));
        Self::build_paths(schema, version, select, split_paths(expand))
    }

    /// Everything expanded, recursively through details and linked entities
    /// (for inspection).
    pub(crate) fn full(schema: &'static Schema, version: &str) -> Shape {
        let mut kids = HashMap::new();
        let mut emit = Vec::new();
        for (i, (name, ty)) in schema.fields.iter().enumerate() {
            if !available(version, schema.name, name) {
                continue;
            }
            emit.push(i as u16);
            if let FieldType::Linked(n) | FieldType::Detail(n) = ty
                && let Some(s) = super::schema::schema(n)
            {
                kids.insert(i as u16, Shape::full(s, version));
            }
        }
        Shape {
            schema,
            emit,
            kids,
            files: false,
            custom: Vec::new(),
        }
    }

    fn build_paths(
        schema: &'static Schema,
        version: &str,
        select: Option<Vec<String>>,
        expand: Vec<String>,
    ) -> Result<Shape, UnknownName> {
        let mut spec = Spec {
            select: None,
            sub_select: HashMap::new(),
            expand: HashMap::new(),
            files: false,
        };
        let unknown = |name: &str| UnknownName {
            name: name.to_owned(),
            schema: schema.name,
        };
        let exists = |name: &str| -> Option<(u16, FieldType)> {
            schema
                .field(name)
                .filter(|_| available(version, schema.name, name))
        };
        for path in expand {
            let (head, rest) = match path.split_once('/') {
                Some((h, r)) => (h.to_owned(), Some(r.to_owned())),
                None => (path.clone(), None),
            };
            if head == "files" && rest.is_none() {
                spec.files = true;
                continue;
            }
            match exists(&head) {
                Some((_, t)) if !t.is_value() => {}
                _ => return Err(unknown(&head)),
            }
            let entry = spec.expand.entry(head).or_default();
            if let Some(r) = rest {
                entry.push(r);
            }
        }
        if let Some(paths) = select {
            let mut top = Vec::new();
            for path in paths {
                match path.split_once('/') {
                    Some((h, r)) => {
                        if exists(h).is_none() {
                            return Err(unknown(h));
                        }
                        spec.sub_select
                            .entry(h.to_owned())
                            .or_default()
                            .push(r.to_owned());
                    }
                    None => {
                        if exists(&path).is_none() {
                            return Err(unknown(&path));
                        }
                        top.push(path);
                    }
                }
            }
            spec.select = Some(top);
        }
        let mut emit = Vec::new();
        let mut kids = HashMap::new();
        for (i, (name, ty)) in schema.fields.iter().enumerate() {
            if !available(version, schema.name, name) {
                continue;
            }
            match ty {
                FieldType::Linked(n) | FieldType::Detail(n) => {
                    let Some(sub_expand) = spec.expand.remove(*name) else {
                        continue;
                    };
                    let Some(kid_schema) = super::schema::schema(n) else {
                        continue;
                    };
                    let sub_select = spec.sub_select.remove(*name);
                    kids.insert(
                        i as u16,
                        Shape::build_paths(kid_schema, version, sub_select, sub_expand)?,
                    );
                    emit.push(i as u16);
                }
                _ => {
                    if spec
                        .select
                        .as_ref()
                        .is_none_or(|s| s.iter().any(|f| f == name))
                    {
                        emit.push(i as u16);
                    }
                }
            }
        }
        Ok(Shape {
            schema,
            emit,
            kids,
            files: spec.files,
            custom: Vec::new(),
        })
    }

    /// Add `$custom` fields (`View.Field`, comma-separated).
    pub(crate) fn with_custom(mut self, custom: Option<&str>) -> Self {
        for item in split_paths(custom) {
            if let Some((view, field)) = item.split_once('.') {
                self.custom.push((view.to_owned(), field.to_owned()));
            }
        }
        self
    }
}

/// Where a top-level entity lives, for `_links`.
pub(crate) struct Links<'a> {
    pub(crate) base: &'a str,
    pub(crate) entity: &'a str,
}

/// Write one entity.
pub(crate) fn write_row(
    out: &mut Vec<u8>,
    shape: &Shape,
    row: &Row,
    row_number: usize,
    links: Option<&Links<'_>>,
) {
    out.extend_from_slice(b"{\"id\":\"");
    let mut id_buf = uuid::Uuid::encode_buffer();
    out.extend_from_slice(row.id.hyphenated().encode_lower(&mut id_buf).as_bytes());
    out.extend_from_slice(b"\",\"rowNumber\":");
    let _ = std::io::Write::write_fmt(out, format_args!("{row_number}"));
    out.extend_from_slice(b",\"note\":{\"value\":");
    write_str(out, row.note.as_deref().unwrap_or(""));
    out.push(b'}');
    let fields = &shape.schema.fields;
    let mut vals = row.vals.iter().peekable();
    for &idx in &shape.emit {
        let (name, ty) = fields[idx as usize];
        out.extend_from_slice(b",\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        match ty {
            FieldType::Detail(_) => {
                out.push(b'[');
                if let Some(kid_shape) = shape.kids.get(&idx) {
                    for (n, kid) in row.kids(idx).iter().enumerate() {
                        if n > 0 {
                            out.push(b',');
                        }
                        write_row(out, kid_shape, kid, n + 1, None);
                    }
                }
                out.push(b']');
            }
            FieldType::Linked(_) => match (shape.kids.get(&idx), row.kids(idx).first()) {
                (Some(kid_shape), Some(kid)) => write_row(out, kid_shape, kid, 1, None),
                (Some(kid_shape), None) => write_row(out, kid_shape, &Row::new(row.id), 1, None),
                _ => out.extend_from_slice(b"{}"),
            },
            _ => {
                while vals.peek().is_some_and(|(i, _)| *i < idx) {
                    vals.next();
                }
                match vals.peek() {
                    Some((i, v)) if *i == idx => {
                        out.extend_from_slice(b"{\"value\":");
                        v.write_json(out);
                        out.push(b'}');
                    }
                    _ => out.extend_from_slice(b"{}"),
                }
            }
        }
    }
    out.extend_from_slice(b",\"custom\":{");
    write_custom(out, shape, row);
    out.push(b'}');
    if shape.files {
        out.extend_from_slice(b",\"files\":[]");
    }
    if let Some(l) = links {
        let id = row.id.hyphenated().encode_lower(&mut id_buf);
        out.extend_from_slice(b",\"_links\":{\"self\":\"");
        out.extend_from_slice(l.base.as_bytes());
        out.push(b'/');
        out.extend_from_slice(l.entity.as_bytes());
        out.push(b'/');
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(b"\",\"files:put\":\"");
        out.extend_from_slice(l.base.as_bytes());
        out.extend_from_slice(b"/files/");
        out.extend_from_slice(l.entity.as_bytes());
        out.push(b'/');
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(b"/{filename}\"}");
    }
    out.push(b'}');
}

/// The `$custom` fields the fake knows: JournalTransaction header totals
/// (`BatchModule.CuryDebitTotal`, `CuryCreditTotal`, `CuryControlTotal`;
/// FACTS section 6), computed from the lines. Others are left out.
fn write_custom(out: &mut Vec<u8>, shape: &Shape, row: &Row) {
    type Fields<'a> = Vec<(&'a str, &'static str, Val)>;
    let mut views: Vec<(&str, Fields<'_>)> = Vec::new();
    for (view, field) in &shape.custom {
        let Some(def) = custom_field(shape.schema.name, view, field) else {
            continue;
        };
        let Some(val) = custom_value(row, def) else {
            continue;
        };
        match views.iter_mut().find(|(v, _)| v == view) {
            Some((_, fields)) => fields.push((field, def.kind, val)),
            None => views.push((view, vec![(field, def.kind, val)])),
        }
    }
    for (n, (view, fields)) in views.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write_str(out, view);
        out.extend_from_slice(b":{");
        for (m, (field, kind, val)) in fields.iter().enumerate() {
            if m > 0 {
                out.push(b',');
            }
            write_str(out, field);
            out.extend_from_slice(b":{\"type\":");
            write_str(out, kind);
            out.extend_from_slice(b",\"value\":");
            val.write_json(out);
            out.push(b'}');
        }
        out.push(b'}');
    }
}

/// The value of a known custom field (`schema::CUSTOM_FIELDS`) on a row.
fn custom_value(row: &Row, def: &CustomFieldDef) -> Option<Val> {
    match (def.entity, def.view, def.field) {
        ("JournalTransaction", "BatchModule", "CuryDebitTotal" | "CuryControlTotal") => {
            Some(Val::Dec(journal_totals(row).0))
        }
        ("JournalTransaction", "BatchModule", "CuryCreditTotal") => {
            Some(Val::Dec(journal_totals(row).1))
        }
        _ => None,
    }
}

/// Sum of `DebitAmount` and `CreditAmount` over a journal's lines.
pub(crate) fn journal_totals(row: &Row) -> (Decimal, Decimal) {
    let jt = schema("JournalTransaction").expect("catalogue");
    let line = schema("JournalTransactionDetail").expect("catalogue");
    let (d, c) = (line.idx("DebitAmount"), line.idx("CreditAmount"));
    row.kids(jt.idx("Details"))
        .iter()
        .fold((Decimal::ZERO, Decimal::ZERO), |(sd, sc), l| {
            (
                sd + l.get(d).and_then(Val::as_dec).unwrap_or_default(),
                sc + l.get(c).and_then(Val::as_dec).unwrap_or_default(),
            )
        })
}

/// Render to a `serde_json::Value` (inspection, small bodies).
pub(crate) fn to_value(shape: &Shape, row: &Row, links: Option<&Links<'_>>) -> serde_json::Value {
    let mut buf = Vec::with_capacity(1024);
    write_row(&mut buf, shape, row, 1, links);
    serde_json::from_slice(&buf).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acumatica::schema::CUSTOM_FIELDS;
    use crate::acumatica::value::det_uuid;

    #[test]
    fn every_listed_custom_field_has_a_value() {
        let row = Row::new(uuid::Uuid::nil());
        for def in CUSTOM_FIELDS {
            assert!(
                custom_value(&row, def).is_some(),
                "{}.{}",
                def.view,
                def.field
            );
        }
    }

    #[test]
    fn wrapped_unset_and_details_only_when_expanded() {
        let s = schema("JournalTransaction").unwrap();
        let l = schema("JournalTransactionDetail").unwrap();
        let mut row = Row::new(det_uuid(9, 1)).with(s.idx("BatchNbr"), Val::Static("000001"));
        row.kids_mut(s.idx("Details"))
            .push(Row::new(det_uuid(9, 2)).with(l.idx("Account"), Val::Static("10200")));

        let plain = to_value(
            &Shape::build(s, "24.200.001", None, None).unwrap(),
            &row,
            None,
        );
        assert_eq!(plain["BatchNbr"], serde_json::json!({"value": "000001"}));
        assert_eq!(plain["Description"], serde_json::json!({}));
        assert_eq!(plain["note"], serde_json::json!({"value": ""}));
        assert!(plain.get("Details").is_none());

        let expanded = to_value(
            &Shape::build(
                s,
                "24.200.001",
                Some("BatchNbr,Details/Account"),
                Some("Details"),
            )
            .unwrap(),
            &row,
            None,
        );
        assert_eq!(expanded["Details"][0]["Account"]["value"], "10200");
        assert!(expanded["Details"][0].get("DebitAmount").is_none());
        assert!(expanded.get("Description").is_none());

        assert!(Shape::build(s, "24.200.001", Some("Nope"), None).is_err());
        assert!(
            Shape::build(s, "24.200.001", None, Some("BatchNbr")).is_err(),
            "a value field cannot be expanded"
        );
        let si = schema("StockItem").unwrap();
        assert!(Shape::build(si, "23.200.001", Some("LastModifiedDateTime"), None).is_err());
        assert!(Shape::build(si, "24.200.001", Some("LastModifiedDateTime"), None).is_ok());
    }
}
