//! Reading a PUT body: every general field must be wrapped as
//! `{"value": ...}`. An unwrapped value or a value of the wrong type is a
//! 400 with the real `HttpError` shape (`modelState` keyed by the field
//! path), as a model-binding failure is on the real ASP.NET server. Unknown
//! field names are ignored, as the real JSON reader ignores them.

use serde_json::Value as J;
use uuid::Uuid;

use super::schema::{FieldType, Schema, available, schema};
use super::value::{Val, from_json};

/// A record (or detail line, or linked entity) as a client sent it.
#[derive(Debug, Default, Clone)]
pub(crate) struct Input {
    pub(crate) id: Option<Uuid>,
    pub(crate) delete: bool,
    pub(crate) note: Option<String>,
    /// `(field, value)`; `None` clears the field (`{"value": null}`).
    pub(crate) vals: Vec<(u16, Option<Val>)>,
    pub(crate) details: Vec<(u16, Vec<Input>)>,
    pub(crate) linked: Vec<(u16, Input)>,
}

impl Input {
    pub(crate) fn get(&self, idx: u16) -> Option<&Option<Val>> {
        self.vals.iter().find(|(i, _)| *i == idx).map(|(_, v)| v)
    }
}

/// Model-binding errors: `(key, message)` for `modelState`.
pub(crate) type ModelState = Vec<(String, String)>;

fn describe(v: &J) -> String {
    match v {
        J::String(s) => format!("\"{s}\""),
        J::Object(_) => "{...}".to_owned(),
        J::Array(_) => "[...]".to_owned(),
        other => other.to_string(),
    }
}

/// Parse an entity object of `schema`.
pub(crate) fn parse(
    schema: &'static Schema,
    version: &str,
    obj: &serde_json::Map<String, J>,
    path: &str,
    errors: &mut ModelState,
) -> Input {
    let mut input = Input::default();
    let at = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    for (name, value) in obj {
        match name.as_str() {
            "id" => match value {
                J::Null => {}
                J::String(s) => match s.parse() {
                    Ok(id) => input.id = Some(id),
                    Err(_) => errors.push((
                        format!("entity.{}", at("id")),
                        format!(
                            "Error converting value {} to type 'System.Guid'. Path '{}'.",
                            describe(value),
                            at("id")
                        ),
                    )),
                },
                _ => errors.push((
                    format!("entity.{}", at("id")),
                    format!(
                        "Error converting value {} to type 'System.Guid'.",
                        describe(value)
                    ),
                )),
            },
            "delete" => input.delete = value.as_bool().unwrap_or(false),
            "note" => match value {
                J::Object(o) => input.note = o.get("value").and_then(J::as_str).map(str::to_owned),
                J::Null => {}
                other => errors.push(unwrapped(&at("note"), other, "StringValue")),
            },
            "rowNumber" | "custom" | "_links" | "error" | "files" | "_workflowActions" => {}
            _ => {
                let Some((idx, ty)) = schema
                    .field(name)
                    .filter(|_| available(version, schema.name, name))
                else {
                    continue;
                };
                match ty {
                    FieldType::Detail(n) => match value {
                        J::Array(items) => {
                            let kid = super::schema::schema(n).expect("catalogue");
                            let mut lines = Vec::with_capacity(items.len());
                            for (i, item) in items.iter().enumerate() {
                                let p = format!("{}[{i}]", at(name));
                                match item {
                                    J::Object(o) => lines.push(parse(kid, version, o, &p, errors)),
                                    other => errors.push(unwrapped(&p, other, n)),
                                }
                            }
                            input.details.push((idx, lines));
                        }
                        J::Null => {}
                        other => errors.push((
                            format!("entity.{}", at(name)),
                            format!(
                                "Cannot deserialize the current JSON value {} into type 'System.Collections.Generic.List`1[{n}]' because the type requires a JSON array. Path '{}'.",
                                describe(other),
                                at(name)
                            ),
                        )),
                    },
                    FieldType::Linked(n) => match value {
                        J::Object(o) => {
                            let kid = schema_of(n);
                            let sub = parse(kid, version, o, &at(name), errors);
                            input.linked.push((idx, sub));
                        }
                        J::Null => {}
                        other => errors.push(unwrapped(&at(name), other, n)),
                    },
                    _ => match value {
                        J::Object(o) => {
                            let Some(inner) = o.get("value") else { continue };
                            match from_json(ty, inner) {
                                Ok(v) => input.vals.push((idx, v)),
                                Err(()) => errors.push((
                                    format!("entity.{}", at(name)),
                                    format!(
                                        "Error converting value {} to type '{}'. Path '{}.value'.",
                                        describe(inner),
                                        clr_type(ty),
                                        at(name)
                                    ),
                                )),
                            }
                        }
                        J::Null => {}
                        other => errors.push(unwrapped(&at(name), other, ty.wrapper())),
                    },
                }
            }
        }
    }
    input
}

fn schema_of(name: &str) -> &'static Schema {
    schema(name).expect("catalogue")
}

fn unwrapped(path: &str, value: &J, wrapper: &str) -> (String, String) {
    (
        format!("entity.{path}"),
        format!(
            "Error converting value {} to type 'PX.Api.ContractBased.Models.{wrapper}'. Path '{path}'.",
            describe(value)
        ),
    )
}

fn clr_type(ty: FieldType) -> &'static str {
    match ty {
        FieldType::S => "System.String",
        FieldType::Dec => "System.Decimal",
        FieldType::Dt => "System.DateTime",
        FieldType::B => "System.Boolean",
        FieldType::I => "System.Int32",
        FieldType::Sh => "System.Int16",
        FieldType::L => "System.Int64",
        FieldType::G => "System.Guid",
        FieldType::Linked(_) | FieldType::Detail(_) => "System.Object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(body: J) -> (Input, ModelState) {
        let s = schema("JournalTransaction").unwrap();
        let mut errs = Vec::new();
        let input = parse(s, "24.200.001", body.as_object().unwrap(), "", &mut errs);
        (input, errs)
    }

    #[test]
    fn wrapped_values_and_unknown_fields() {
        let (input, errs) = run(json!({
            "Description": {"value": "x"}, "Hold": {"value": false}, "Nope": 5, "TransactionDate": {},
            "Details": [{"Account": {"value": "10200"}, "DebitAmount": {"value": 10.5}}]
        }));
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(input.vals.len(), 2);
        assert_eq!(input.details[0].1.len(), 1);
    }

    #[test]
    fn unwrapped_and_mistyped_values_are_model_errors() {
        let (_, errs) =
            run(json!({"Description": "x", "Details": [{"DebitAmount": {"value": "ten"}}, 5]}));
        let keys: Vec<_> = errs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "entity.Description",
                "entity.Details[0].DebitAmount",
                "entity.Details[1]"
            ]
        );
        assert!(errs[0].1.contains("StringValue"));
    }
}
