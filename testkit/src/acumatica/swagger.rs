//! The endpoint's own description, as every real site serves it (FACTS 1):
//! `GET /entity/Default/{version}/swagger.json` and
//! `GET /entity/Default/{version}/{Entity}/$adHocSchema`.
//!
//! Both are built from the fake's catalogue ([`super::schema`]), the same
//! source the entities are served from, so a client that generates its
//! models from the document (as `easy_acumatica` does) sees exactly the
//! fields, detail and linked entities, keys and actions the fake answers.
//!
//! Shape: 22.200.001 and 23.200.001 sites serve Swagger 2.0 (`definitions`,
//! inline parameters); 24.200.001 and later serve OpenAPI 3.0.1
//! (`components.schemas`, `components.parameters` and
//! `components.responses` referenced by `$ref`) (FACTS 1). Names, paths,
//! operation ids and types follow the official files; descriptions are our
//! own words. Left out, because the fake does not serve them: file
//! attachment (`{ids}/files/{filename}`), custom actions (`{actionName}`)
//! and the `PATCH` operation of 25.200.001.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::{Map, Value, json};

use super::schema::{
    self, ACTION_PARAMETERS, CUSTOM_FIELDS, ENTITIES, EntityDef, FieldType, action_available,
    available, version_key,
};

/// The value wrappers (FACTS 5): name, JSON type, format.
const WRAPPERS: &[(&str, &str, Option<&str>)] = &[
    ("StringValue", "string", None),
    ("DecimalValue", "number", Some("double")),
    ("DoubleValue", "number", Some("double")),
    ("DateTimeValue", "string", Some("date-time")),
    ("BooleanValue", "boolean", None),
    ("ByteValue", "integer", Some("int32")),
    ("ShortValue", "integer", Some("int32")),
    ("IntValue", "integer", Some("int32")),
    ("LongValue", "integer", Some("int64")),
    ("GuidValue", "string", Some("uuid")),
];

/// The typed custom fields (`custom` section, FACTS 5): the wrapper whose
/// value type each one carries.
const CUSTOM_TYPES: &[(&str, &str)] = &[
    ("CustomStringField", "StringValue"),
    ("CustomDecimalField", "DecimalValue"),
    ("CustomDoubleField", "DoubleValue"),
    ("CustomDateTimeField", "DateTimeValue"),
    ("CustomBooleanField", "BooleanValue"),
    ("CustomByteField", "ByteValue"),
    ("CustomShortField", "ShortValue"),
    ("CustomIntField", "IntValue"),
    ("CustomLongField", "LongValue"),
    ("CustomGuidField", "GuidValue"),
];

/// Which of the two document formats a version's site serves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// Swagger 2.0 (22.200.001, 23.200.001).
    Swagger2,
    /// OpenAPI 3.0.1 (24.200.001 and later).
    OpenApi3,
}

impl Dialect {
    fn of(version: &str) -> Self {
        if version_key(version) >= (24, 0, 0) {
            Dialect::OpenApi3
        } else {
            Dialect::Swagger2
        }
    }

    fn reference(self, schema: &str) -> Value {
        match self {
            Dialect::Swagger2 => json!({ "$ref": format!("#/definitions/{schema}") }),
            Dialect::OpenApi3 => json!({ "$ref": format!("#/components/schemas/{schema}") }),
        }
    }

    /// A scalar JSON schema; Swagger 2.0 files list `format` first.
    fn scalar(self, ty: &str, format: Option<&str>) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), ty.into());
        if let Some(f) = format {
            m.insert("format".into(), f.into());
        }
        Value::Object(m)
    }
}

/// The schemas (top-level, detail and linked) an endpoint version reaches
/// from the entities it serves, in a stable order.
fn reached_schemas(version: &str) -> BTreeSet<&'static str> {
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<&'static str> = ENTITIES.iter().map(|e| e.name).collect();
    while let Some(name) = queue.pop_front() {
        if !seen.insert(name) {
            continue;
        }
        let s = schema::schema(name).expect("catalogue");
        for (field, ty) in &s.fields {
            if let FieldType::Linked(n) | FieldType::Detail(n) = ty
                && available(version, name, field)
                && available(version, n, "")
            {
                queue.push_back(n);
            }
        }
    }
    seen
}

fn property(d: Dialect, ty: FieldType) -> Value {
    match ty {
        FieldType::Detail(n) => json!({"type": "array", "items": d.reference(n)}),
        other => d.reference(other.wrapper()),
    }
}

/// Every definition of the document: base types, then entities and
/// actions.
fn schemas(d: Dialect, version: &str) -> Map<String, Value> {
    let mut out = Map::new();
    let custom_map = json!({
        "type": "object",
        "additionalProperties": {"type": "object", "additionalProperties": d.reference("CustomField")},
    });
    out.insert(
        "Entity".into(),
        json!({"type": "object", "properties": {
            "id": d.scalar("string", Some("uuid")),
            "rowNumber": d.scalar("integer", Some("int64")),
            "note": d.reference("StringValue"),
            "custom": custom_map,
            "error": {"type": "string"},
            "files": {"type": "array", "items": d.reference("FileLink")},
        }}),
    );
    // OpenAPI 3 files mark the optional texts `nullable` (FACTS 5, 9);
    // Swagger 2.0 has no such keyword, and its FileLink has no comment.
    let nullable = || match d {
        Dialect::Swagger2 => json!({"type": "string"}),
        Dialect::OpenApi3 => json!({"type": "string", "nullable": true}),
    };
    let mut file_link = json!({
        "id": d.scalar("string", Some("uuid")),
        "filename": {"type": "string"},
        "href": d.scalar("string", Some("uri")),
    });
    if d == Dialect::OpenApi3 {
        file_link["comment"] = nullable();
    }
    out.insert(
        "FileLink".into(),
        json!({"type": "object", "properties": file_link}),
    );
    out.insert(
        "HttpError".into(),
        json!({"type": "object", "properties": {
            "message": {"type": "string"},
            "exceptionMessage": nullable(),
            "exceptionType": nullable(),
            "stackTrace": nullable(),
            "modelState": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            "messageDetail": {"type": "string"},
        }, "additionalProperties": {"type": "object"}}),
    );
    let discriminator = match d {
        Dialect::Swagger2 => json!("type"),
        Dialect::OpenApi3 => json!({"propertyName": "type"}),
    };
    out.insert(
        "CustomField".into(),
        json!({"required": ["type"], "type": "object",
               "properties": {"type": {"type": "string"}}, "discriminator": discriminator}),
    );
    let value_schema = |ty: &str, format: Option<&str>| {
        json!({"type": "object", "properties": {
            "value": d.scalar(ty, format),
            "error": {"type": "string"},
        }})
    };
    for (name, ty, format) in WRAPPERS {
        out.insert((*name).into(), value_schema(ty, *format));
    }
    for (name, wrapper) in CUSTOM_TYPES {
        let (_, ty, format) = WRAPPERS.iter().find(|w| w.0 == *wrapper).expect("wrapper");
        out.insert(
            (*name).into(),
            json!({"allOf": [d.reference("CustomField"), value_schema(ty, *format)]}),
        );
    }
    for name in reached_schemas(version) {
        let s = schema::schema(name).expect("catalogue");
        let props: Map<String, Value> = s
            .fields
            .iter()
            .filter(|(f, _)| available(version, name, f))
            .map(|(f, ty)| ((*f).to_owned(), property(d, *ty)))
            .collect();
        out.insert(
            name.into(),
            json!({"allOf": [d.reference("Entity"), {"type": "object", "properties": props}]}),
        );
    }
    for e in ENTITIES {
        for action in e.actions.iter().filter(|a| action_available(version, a)) {
            let params: Map<String, Value> = ACTION_PARAMETERS
                .iter()
                .filter(|(a, _)| a == action)
                .flat_map(|(_, ps)| ps.iter())
                .map(|(p, ty)| ((*p).to_owned(), property(d, *ty)))
                .collect();
            let mut props = Map::new();
            props.insert("entity".into(), d.reference(e.name));
            let mut required = vec!["entity"];
            if !params.is_empty() {
                required.push("parameters");
                props.insert(
                    "parameters".into(),
                    json!({"type": "object", "properties": params,
                           "description": "The values the action takes."}),
                );
            }
            out.insert(
                (*action).into(),
                json!({"required": required, "type": "object", "properties": props}),
            );
        }
    }
    out
}

/// One parameter of an operation, in either dialect.
#[derive(Clone, Copy)]
enum Param {
    Select,
    Filter,
    Expand,
    Custom,
    Skip,
    Top,
    Ids,
    Id,
}

impl Param {
    fn key(self) -> &'static str {
        match self {
            Param::Select => "select",
            Param::Filter => "filter",
            Param::Expand => "expand",
            Param::Custom => "custom",
            Param::Skip => "skip",
            Param::Top => "top",
            Param::Ids => "ids",
            Param::Id => "id",
        }
    }

    /// `(in, name, description, type, format)`.
    fn spec(
        self,
    ) -> (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
    ) {
        match self {
            Param::Select => ("query", "$select", "Fields to return.", "string", None),
            Param::Filter => (
                "query",
                "$filter",
                "OData v3 condition on the records.",
                "string",
                None,
            ),
            Param::Expand => (
                "query",
                "$expand",
                "Detail and linked entities to include.",
                "string",
                None,
            ),
            Param::Custom => (
                "query",
                "$custom",
                "Fields outside the contract to return (View.Field).",
                "string",
                None,
            ),
            Param::Skip => (
                "query",
                "$skip",
                "Records to skip first.",
                "integer",
                Some("int32"),
            ),
            Param::Top => (
                "query",
                "$top",
                "Most records to return.",
                "integer",
                Some("int32"),
            ),
            Param::Ids => (
                "path",
                "ids",
                "Key field values in key order.",
                "string",
                None,
            ),
            Param::Id => (
                "path",
                "id",
                "The record's id (GUID).",
                "string",
                Some("uuid"),
            ),
        }
    }

    /// The definition (OpenAPI 3 `components.parameters`) or the inline
    /// parameter (Swagger 2.0).
    fn definition(self, d: Dialect) -> Value {
        let (place, name, description, ty, format) = self.spec();
        let mut m = Map::new();
        m.insert("name".into(), name.into());
        m.insert("in".into(), place.into());
        m.insert("description".into(), description.into());
        if place == "path" {
            m.insert("required".into(), true.into());
        }
        match (d, self) {
            (Dialect::Swagger2, Param::Ids) => {
                m.insert("type".into(), "array".into());
                m.insert("items".into(), json!({"type": "string"}));
                m.insert("collectionFormat".into(), "pipes".into());
            }
            (Dialect::Swagger2, _) => {
                if let Value::Object(s) = d.scalar(ty, format) {
                    m.extend(s);
                }
            }
            (Dialect::OpenApi3, _) => {
                m.insert("schema".into(), d.scalar(ty, format));
            }
        }
        Value::Object(m)
    }

    fn use_in(self, d: Dialect) -> Value {
        match d {
            Dialect::Swagger2 => self.definition(d),
            Dialect::OpenApi3 => json!({"$ref": format!("#/components/parameters/{}", self.key())}),
        }
    }
}

const ALL_PARAMS: &[Param] = &[
    Param::Select,
    Param::Filter,
    Param::Expand,
    Param::Custom,
    Param::Skip,
    Param::Top,
    Param::Ids,
    Param::Id,
];

/// A response: status, description, body schema and whether it carries a
/// `Location` header.
fn response(d: Dialect, description: &str, body: Option<Value>, location: bool) -> Value {
    let mut m = Map::new();
    m.insert("description".into(), description.into());
    if let Some(schema) = body {
        match d {
            Dialect::Swagger2 => {
                m.insert("schema".into(), schema);
            }
            Dialect::OpenApi3 => {
                let media = json!({"schema": schema});
                m.insert(
                    "content".into(),
                    json!({"application/json": media.clone(), "text/json": media}),
                );
            }
        }
    }
    if location {
        let header = match d {
            Dialect::Swagger2 => {
                json!({"description": "Where to poll or read the result.", "type": "string", "format": "uri"})
            }
            Dialect::OpenApi3 => {
                json!({"description": "Where to poll or read the result.", "schema": {"type": "string", "format": "uri"}})
            }
        };
        m.insert("headers".into(), json!({ "Location": header }));
    }
    Value::Object(m)
}

/// The shared responses (OpenAPI 3 `components.responses`), by the names
/// the official files use.
fn shared_responses(d: Dialect) -> Vec<(&'static str, Value)> {
    let err = || Some(d.reference("HttpError"));
    vec![
        (
            "ContractBasedControllerBase_401",
            response(d, "Not signed in.", err(), false),
        ),
        (
            "ContractBasedControllerBase_500",
            response(d, "Server error.", err(), false),
        ),
        (
            "InvokeAction_204",
            response(d, "The action has finished.", None, true),
        ),
        (
            "InvokeAction_202",
            response(d, "The action is running; poll Location.", None, true),
        ),
        (
            "InvokeAction_400",
            response(d, "Invalid request.", err(), false),
        ),
        (
            "InvokeAction_412",
            response(
                d,
                "If-Match / If-None-Match precondition failed.",
                err(),
                false,
            ),
        ),
        (
            "PutEntity_400",
            response(d, "Invalid request.", err(), false),
        ),
        (
            "PutEntity_412",
            response(
                d,
                "If-Match / If-None-Match precondition failed.",
                err(),
                false,
            ),
        ),
        ("DeleteByKeys_204", response(d, "Deleted.", None, false)),
        ("DeleteById_204", response(d, "Deleted.", None, false)),
    ]
}

fn shared(d: Dialect, name: &str) -> Value {
    match d {
        Dialect::OpenApi3 => json!({"$ref": format!("#/components/responses/{name}")}),
        Dialect::Swagger2 => shared_responses(d)
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .expect("shared response"),
    }
}

struct Op<'a> {
    entity: &'a str,
    id: String,
    summary: &'a str,
    params: &'a [Param],
    /// `(name of the body, schema)` of a request body.
    body: Option<(&'a str, Value)>,
    responses: Vec<(&'a str, Value)>,
}

impl Op<'_> {
    fn render(self, d: Dialect) -> Value {
        let mut m = Map::new();
        m.insert("tags".into(), json!([self.entity]));
        m.insert("summary".into(), self.summary.into());
        m.insert("operationId".into(), self.id.into());
        if d == Dialect::Swagger2 {
            if self.body.is_some() {
                m.insert("consumes".into(), json!(["application/json", "text/json"]));
            }
            m.insert("produces".into(), json!(["application/json", "text/json"]));
        }
        let mut params: Vec<Value> = self.params.iter().map(|p| p.use_in(d)).collect();
        if let Some((name, schema)) = self.body {
            match d {
                Dialect::Swagger2 => params.push(json!({
                    "in": "body", "name": name, "required": true, "schema": schema,
                })),
                Dialect::OpenApi3 => {
                    let media = json!({"schema": schema});
                    m.insert(
                        "requestBody".into(),
                        json!({"content": {"application/json": media.clone(), "text/json": media},
                               "required": true, "x-bodyName": name}),
                    );
                }
            }
        }
        if !params.is_empty() {
            m.insert("parameters".into(), Value::Array(params));
        }
        let mut responses = Map::new();
        responses.insert("401".into(), shared(d, "ContractBasedControllerBase_401"));
        responses.insert("500".into(), shared(d, "ContractBasedControllerBase_500"));
        for (status, r) in self.responses {
            responses.insert(status.into(), r);
        }
        m.insert("responses".into(), Value::Object(responses));
        Value::Object(m)
    }
}

/// The paths of one top-level entity, in the order the official files
/// list them.
fn entity_paths(d: Dialect, version: &str, e: &EntityDef, paths: &mut Map<String, Value>) {
    let name = e.name;
    let one = || Some(d.reference(name));
    let invalid = || {
        response(
            d,
            "Validation failed; the entity with its errors.",
            one(),
            false,
        )
    };
    for action in e.actions.iter().filter(|a| action_available(version, a)) {
        let op = Op {
            entity: name,
            id: format!("{name}_InvokeAction_{action}"),
            summary: "Runs the action on a record.",
            params: &[],
            body: Some(("invocation", d.reference(action))),
            responses: vec![
                ("204", shared(d, "InvokeAction_204")),
                ("202", shared(d, "InvokeAction_202")),
                ("400", shared(d, "InvokeAction_400")),
                ("412", shared(d, "InvokeAction_412")),
                ("422", invalid()),
            ],
        };
        paths.insert(format!("/{name}/{action}"), json!({"post": op.render(d)}));
    }
    let adhoc = Op {
        entity: name,
        id: format!("{name}_GetAdHocSchema"),
        summary: "Lists the fields outside the contract (view, name, type).",
        params: &[],
        body: None,
        responses: vec![(
            "200",
            response(d, "The entity with its custom fields.", one(), false),
        )],
    };
    paths.insert(
        format!("/{name}/$adHocSchema"),
        json!({"get": adhoc.render(d)}),
    );
    let read = [Param::Select, Param::Filter, Param::Expand, Param::Custom];
    let by = |kind: &str, param: Param| {
        let params_read = [param, read[0], read[1], read[2], read[3]];
        let get = Op {
            entity: name,
            id: format!("{name}_GetBy{kind}"),
            summary: "Reads one record.",
            params: &params_read,
            body: None,
            responses: vec![("200", response(d, "The record.", one(), false))],
        }
        .render(d);
        let delete = Op {
            entity: name,
            id: format!("{name}_DeleteBy{kind}"),
            summary: "Deletes one record.",
            params: &[param],
            body: None,
            responses: vec![("204", shared(d, &format!("DeleteBy{kind}_204")))],
        }
        .render(d);
        json!({"get": get, "delete": delete})
    };
    paths.insert(format!("/{name}/{{ids}}"), by("Keys", Param::Ids));
    paths.insert(format!("/{name}/{{id}}"), by("Id", Param::Id));
    let list = Op {
        entity: name,
        id: format!("{name}_GetList"),
        summary: "Lists the records that match.",
        params: &[read[0], read[1], read[2], read[3], Param::Skip, Param::Top],
        body: None,
        responses: vec![(
            "200",
            response(
                d,
                "The records.",
                Some(json!({"type": "array", "items": d.reference(name)})),
                false,
            ),
        )],
    }
    .render(d);
    let put = Op {
        entity: name,
        id: format!("{name}_PutEntity"),
        summary: "Creates the record, or updates the one its keys, id or $filter pick.",
        params: &read,
        body: Some(("entity", d.reference(name))),
        responses: vec![
            ("200", response(d, "The record as saved.", one(), false)),
            ("400", shared(d, "PutEntity_400")),
            ("412", shared(d, "PutEntity_412")),
            ("422", invalid()),
        ],
    }
    .render(d);
    paths.insert(format!("/{name}"), json!({"get": list, "put": put}));
}

/// The whole document for `version`, as served at
/// `http://{host}/entity/Default/{version}/swagger.json`.
pub(crate) fn document(version: &str, host: &str) -> Value {
    let d = Dialect::of(version);
    let base = format!("/entity/Default/{version}");
    let mut paths = Map::new();
    for e in ENTITIES {
        entity_paths(d, version, e, &mut paths);
    }
    let tags: Vec<Value> = ENTITIES
        .iter()
        .map(|e| json!({"name": e.name, "description": format!("({})", e.screen)}))
        .collect();
    let info = json!({"title": format!("Default/{version}"), "version": "4"});
    match d {
        Dialect::Swagger2 => json!({
            "swagger": "2.0",
            "info": info,
            "host": host,
            "basePath": base,
            "schemes": ["http"],
            "paths": paths,
            "definitions": schemas(d, version),
            "tags": tags,
        }),
        Dialect::OpenApi3 => {
            let parameters: Map<String, Value> = ALL_PARAMS
                .iter()
                .map(|p| (p.key().to_owned(), p.definition(d)))
                .collect();
            let responses: Map<String, Value> = shared_responses(d)
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v))
                .collect();
            json!({
                "openapi": "3.0.1",
                "info": info,
                "servers": [{"url": format!("http://{host}{base}")}],
                "paths": paths,
                "components": {
                    "schemas": schemas(d, version),
                    "responses": responses,
                    "parameters": parameters,
                },
                "tags": tags,
            })
        }
    }
}

/// `GET {Entity}/$adHocSchema`: the entity with its fields outside the
/// contract, each as `{"type": "Custom…Field"}` under its view, at the
/// level that holds it. The fake knows the custom fields of
/// [`CUSTOM_FIELDS`] (the ones `$custom` answers); other entities come back
/// with an empty `custom`.
pub(crate) fn ad_hoc_schema(entity: &str) -> Value {
    let mut views: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    for c in CUSTOM_FIELDS.iter().filter(|c| c.entity == entity) {
        views
            .entry(c.view)
            .or_default()
            .insert(c.field.into(), json!({"type": c.kind}));
    }
    let custom: Map<String, Value> = views
        .into_iter()
        .map(|(v, fields)| (v.to_owned(), Value::Object(fields)))
        .collect();
    json!({"rowNumber": 1, "custom": custom})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definitions(doc: &Value) -> &Map<String, Value> {
        doc.get("definitions")
            .or_else(|| doc.pointer("/components/schemas"))
            .and_then(Value::as_object)
            .expect("definitions")
    }

    fn properties(def: &Value) -> BTreeSet<String> {
        def["allOf"][1]["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn every_served_entity_is_described_with_its_fields_in_every_version() {
        for version in crate::seed::ENDPOINT_VERSIONS {
            let doc = document(version, "localhost:1");
            // It is JSON a client can parse back.
            let text = serde_json::to_string(&doc).unwrap();
            let doc: Value = serde_json::from_str(&text).unwrap();
            let defs = definitions(&doc);
            for e in ENTITIES {
                let s = schema::schema(e.name).unwrap();
                let expected: BTreeSet<String> = s
                    .fields
                    .iter()
                    .filter(|(f, _)| available(version, e.name, f))
                    .map(|(f, _)| (*f).to_owned())
                    .collect();
                assert_eq!(properties(&defs[e.name]), expected, "{version} {}", e.name);
                for p in ["", "/{ids}", "/{id}", "/$adHocSchema"] {
                    assert!(
                        doc["paths"].get(format!("/{}{p}", e.name)).is_some(),
                        "{version} {}{p}",
                        e.name
                    );
                }
                assert!(doc["paths"][format!("/{}", e.name)]["put"].is_object());
            }
            // Every reference points at a definition of the document.
            let mut refs = Vec::new();
            collect_refs(&doc, &mut refs);
            for r in refs {
                let name = r.rsplit('/').next().unwrap();
                if r.contains("/parameters/") {
                    assert!(
                        doc.pointer(&format!("/components/parameters/{name}"))
                            .is_some(),
                        "{r}"
                    );
                } else if r.contains("/responses/") {
                    assert!(
                        doc.pointer(&format!("/components/responses/{name}"))
                            .is_some(),
                        "{r}"
                    );
                } else {
                    assert!(defs.contains_key(name), "{version}: dangling {r}");
                }
            }
        }
    }

    fn collect_refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if k == "$ref" {
                        out.push(v.as_str().unwrap().to_owned());
                    } else {
                        collect_refs(v, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn the_format_follows_the_version() {
        let old = document("23.200.001", "h");
        assert_eq!(old["swagger"], "2.0");
        assert_eq!(old["basePath"], "/entity/Default/23.200.001");
        assert_eq!(
            old["definitions"]["JournalTransaction"]["allOf"][1]["properties"]["Details"]["items"]
                ["$ref"],
            "#/definitions/JournalTransactionDetail"
        );
        let new = document("24.200.001", "h");
        assert_eq!(new["openapi"], "3.0.1");
        assert_eq!(
            new["servers"][0]["url"],
            "http://h/entity/Default/24.200.001"
        );
        assert_eq!(
            new["paths"]["/JournalTransaction/{ids}"]["get"]["parameters"][0]["$ref"],
            "#/components/parameters/ids"
        );
        assert_eq!(
            new["components"]["schemas"]["ReleaseJournalTransaction"]["properties"]["entity"]["$ref"],
            "#/components/schemas/JournalTransaction"
        );
    }

    #[test]
    fn version_differences_show_in_the_document() {
        let defs22 = document("22.200.001", "h");
        let defs23 = document("23.200.001", "h");
        let defs24 = document("24.200.001", "h");
        let stock = |doc: &Value| properties(&definitions(doc)["StockItem"]);
        assert!(!stock(&defs23).contains("LastModifiedDateTime"));
        assert!(stock(&defs24).contains("LastModifiedDateTime"));
        // Added in 23.200.001 (FACTS 2).
        assert!(
            defs22["paths"]
                .get("/Vendor/CreateContactFromVendor")
                .is_none()
        );
        assert!(
            defs23["paths"]
                .get("/Vendor/CreateContactFromVendor")
                .is_some()
        );
        let bill22 = properties(&definitions(&defs22)["Bill"]);
        assert!(!bill22.contains("IsTaxValid"));
    }

    #[test]
    fn ad_hoc_schema_lists_the_custom_fields_dollar_custom_serves() {
        let jt = ad_hoc_schema("JournalTransaction");
        assert_eq!(
            jt["custom"]["BatchModule"]["CuryDebitTotal"]["type"],
            "CustomDecimalField"
        );
        assert_eq!(ad_hoc_schema("Vendor")["custom"], json!({}));
    }
}
