//! The Acumatica fake's `swagger.json` against the official contract files
//! (`../shared/reference/acumatica`, beside the clone in CI): for each
//! version the fake serves, the format is the one real sites serve (Swagger
//! 2.0 for 22/23, OpenAPI 3.0.1 for 24), every entity definition the fake
//! describes has exactly the official property names and types, the value
//! wrappers are identical, and each path and operation id the fake lists
//! exists in the official file. Skipped, with a message, when the reference
//! files are absent.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use testkit::acumatica::{AcumaticaFake, AcumaticaOptions};
use testkit::seed::credentials as c;

/// Fields of 22.200.001 that later versions dropped and the fake's
/// catalogue (built on 24.200.001 with the fields older versions lack) does
/// not have; the fake neither describes nor serves them.
const CATALOGUE_GAPS: &[(&str, &str, &str)] = &[
    ("22.200.001", "Contact", "OverrideSalesTerritory"),
    ("22.200.001", "Contact", "SalesTerritoryID"),
    ("22.200.001", "RelationDetail", "Description"),
    ("22.200.001", "RelationDetail", "OwnerID"),
    ("22.200.001", "RelationDetail", "Status"),
    ("22.200.001", "StockItem", "SubItems"),
];

fn reference_file(version: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/acumatica");
    let suffix = if version.starts_with("24.") {
        "openapi3"
    } else {
        "swagger2"
    };
    let path = dir.join(format!(
        "AcumaticaRESTAPIClientForCSharp__EndpointDefinitions__Default_{version}.{suffix}.json"
    ));
    path.exists().then_some(path)
}

fn definitions(doc: &Value) -> &serde_json::Map<String, Value> {
    doc.get("definitions")
        .or_else(|| doc.pointer("/components/schemas"))
        .and_then(Value::as_object)
        .expect("a definitions section")
}

/// Property name -> its `$ref` target or its type, for an `allOf` entity.
fn entity_properties(def: &Value) -> Option<BTreeMap<String, String>> {
    let props = def.get("allOf")?.get(1)?.get("properties")?.as_object()?;
    Some(
        props
            .iter()
            .map(|(k, v)| {
                let target = v
                    .get("$ref")
                    .or_else(|| v.pointer("/items/$ref"))
                    .and_then(Value::as_str)
                    .map(|r| r.rsplit('/').next().unwrap_or(r).to_owned())
                    .unwrap_or_else(|| v["type"].to_string());
                let kind = if v.get("items").is_some() { "[]" } else { "" };
                (k.clone(), format!("{target}{kind}"))
            })
            .collect(),
    )
}

async fn served_document(fake: &AcumaticaFake, version: &str) -> Value {
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{}/identity/connect/token", fake.url()))
        .form(&[
            ("grant_type", "password"),
            ("client_id", c::ACUMATICA_CLIENT_ID),
            ("client_secret", c::ACUMATICA_CLIENT_SECRET),
            ("username", c::ACUMATICA_USERNAME),
            ("password", c::ACUMATICA_PASSWORD),
            ("scope", "api"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = token["access_token"].as_str().expect("a token");
    let res = http
        .get(format!("{}swagger.json", fake.endpoint_url(version)))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{version}");
    res.json().await.expect("swagger.json parses as JSON")
}

#[tokio::test]
async fn swagger_json_matches_the_official_contract_files() {
    let fake = AcumaticaFake::start(AcumaticaOptions::default())
        .await
        .unwrap();
    let mut compared = 0;
    for version in fake.state().versions().to_vec() {
        let Some(path) = reference_file(&version) else {
            println!(
                "skipped {version}: no official contract file beside the clone (../shared/reference/acumatica)"
            );
            continue;
        };
        let official: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let ours = served_document(&fake, &version).await;
        for key in ["swagger", "openapi"] {
            assert_eq!(
                ours.get(key),
                official.get(key),
                "{version}: format key {key}"
            );
        }
        assert_eq!(ours["info"], official["info"], "{version}: info");
        let (ours_defs, official_defs) = (definitions(&ours), definitions(&official));
        for wrapper in [
            "StringValue",
            "DecimalValue",
            "DoubleValue",
            "DateTimeValue",
            "BooleanValue",
            "ByteValue",
            "ShortValue",
            "IntValue",
            "LongValue",
            "GuidValue",
            "CustomField",
            "CustomStringField",
            "CustomDecimalField",
            "CustomDateTimeField",
            "CustomDoubleField",
            "CustomBooleanField",
            "CustomByteField",
            "CustomShortField",
            "CustomIntField",
            "CustomLongField",
            "CustomGuidField",
            "Entity",
            "FileLink",
            "HttpError",
        ] {
            assert_eq!(
                ours_defs[wrapper], official_defs[wrapper],
                "{version}: {wrapper}"
            );
        }
        for (name, def) in ours_defs {
            let official_def = official_defs
                .get(name)
                .unwrap_or_else(|| panic!("{version}: {name} is not an official definition"));
            if let Some(ours_props) = entity_properties(def) {
                let official_props = entity_properties(official_def)
                    .unwrap_or_else(|| panic!("{version}: {name} is not an entity officially"));
                for (field, ty) in &ours_props {
                    assert_eq!(
                        official_props.get(field),
                        Some(ty),
                        "{version}: {name}.{field} differs from the official file"
                    );
                }
                for field in official_props.keys() {
                    assert!(
                        ours_props.contains_key(field)
                            || CATALOGUE_GAPS.contains(&(
                                version.as_str(),
                                name.as_str(),
                                field.as_str()
                            )),
                        "{version}: {name}.{field} is missing from the fake's catalogue"
                    );
                }
                compared += 1;
            } else if def.get("required").is_some() {
                // An action: same required members and parameter names.
                assert_eq!(
                    def["required"], official_def["required"],
                    "{version}: {name}"
                );
                let names = |d: &Value| -> Vec<String> {
                    d.pointer("/properties/parameters/properties")
                        .and_then(Value::as_object)
                        .map(|m| m.keys().cloned().collect())
                        .unwrap_or_default()
                };
                assert_eq!(
                    names(def),
                    names(official_def),
                    "{version}: parameters of {name}"
                );
            }
        }
        for (path, ops) in ours["paths"].as_object().unwrap() {
            let official_ops = official["paths"]
                .get(path)
                .unwrap_or_else(|| panic!("{version}: path {path} is not in the official file"));
            for (method, op) in ops.as_object().unwrap() {
                assert_eq!(
                    op["operationId"], official_ops[method]["operationId"],
                    "{version}: {method} {path}"
                );
            }
        }
    }
    println!("compared {compared} entity definitions with the official files");
    fake.shutdown().await;
}
