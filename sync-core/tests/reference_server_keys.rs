//! Issue 12 item 7: a reference flow on a site that numbers the entity's keys itself (the
//! Acumatica fake auto-numbers Vendor from `C1165`, as FACTS §7 observed: a PUT asking for
//! `123` created `C1165`). Before, the flow never noticed: every run created another copy of
//! each new vendor and exited 0. Now it maps (`server_keys = "map"`) or refuses (the default),
//! on both state-store backends.
#![cfg(feature = "flows")]

mod flow_support;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use flow_support::{Env, stores};
use futures::{StreamExt, stream};
use serde_json::{Value, json};
use sync_core::Error;
use sync_core::mapping::{ReferenceMapping, Row};
use sync_core::reference::{RecordOutcome, ReferenceFlow, ReferenceOptions, ServerKeys};
use sync_core::store::{AuditStage, KeyState, RunStatus, StateStore};
use sync_core::traits::{PageStream, RecordSource};
use testkit::acumatica::AcumaticaOptions;
use testkit::faults::{FaultKind, FaultRule};
use testkit::looker::LookerConfig;

const VENDOR_PUT: &str = "/entity/Default/*/Vendor";

const MAPPING: &str = r#"
flow = "new_vendors"
entity = "Vendor"
key = { field = "VendorID", column = "vendor_id" }
[fields]
VendorName = { column = "vendor_name" }
"#;

/// Looker's list, changeable between runs.
#[derive(Clone, Default)]
struct Rows(Arc<Mutex<Vec<(String, String)>>>);

impl Rows {
    fn new(rows: &[(&str, &str)]) -> Self {
        let r = Self::default();
        for (k, n) in rows {
            r.set(k, n);
        }
        r
    }

    fn set(&self, key: &str, name: &str) {
        let mut rows = self.0.lock().unwrap();
        rows.retain(|(k, _)| k != key);
        rows.push((key.to_owned(), name.to_owned()));
    }
}

#[async_trait]
impl RecordSource for Rows {
    type Record = Row;
    type Cursor = ();

    fn describe(&self) -> String {
        "test vendor list".into()
    }

    async fn pages(&self, _after: Option<&()>) -> sync_core::Result<PageStream<Row>> {
        let page: Vec<Row> = self
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|(k, n)| {
                json!({"vendor_id": k, "vendor_name": n})
                    .as_object()
                    .unwrap()
                    .clone()
            })
            .collect();
        Ok(stream::iter([Ok(page)]).boxed())
    }
}

fn flow(
    env: &Env,
    rows: &Rows,
    store: Arc<dyn StateStore>,
    options: ReferenceOptions,
) -> ReferenceFlow {
    ReferenceFlow::builder(ReferenceMapping::from_toml_str(MAPPING).unwrap())
        .source(rows.clone())
        .acumatica(env.acumatica.clone())
        .store(store)
        .options(options)
        .owner("test-owner")
        .build()
        .unwrap()
}

fn map() -> ReferenceOptions {
    ReferenceOptions {
        server_keys: ServerKeys::Map,
        ..Default::default()
    }
}

async fn numbering_site() -> Env {
    Env::start_with(
        AcumaticaOptions::default().auto_number_keys("Vendor", "C1165"),
        LookerConfig::default(),
    )
    .await
}

/// Vendors in Acumatica with this name.
fn named(env: &Env, name: &str) -> Vec<String> {
    env.acu
        .state()
        .documents("Vendor")
        .iter()
        .filter(|v| v["VendorName"]["value"] == json!(name))
        .map(|v| {
            v["VendorID"]["value"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

fn name_of(env: &Env, key: &str) -> Option<Value> {
    env.acu.state().document("Vendor", &[key])?["VendorName"]
        .get("value")
        .cloned()
}

#[tokio::test]
async fn map_keeps_the_saved_key_and_later_runs_update_that_vendor() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = numbering_site().await;
        let rows = Rows::new(&[("123", "Numbered One"), ("124", "Numbered Two")]);
        let flow = flow(&env, &rows, store.clone(), map());

        let first = flow.run().await.unwrap();
        assert_eq!(first.status, RunStatus::Succeeded, "{backend}: {first}");
        assert_eq!(first.keys_with("created"), ["123", "124"]);
        assert_eq!(
            first.record("123").unwrap().saved_key.as_deref(),
            Some("C1165")
        );
        assert_eq!(
            first.record("124").unwrap().saved_key.as_deref(),
            Some("C1166")
        );
        let map = store.key_mappings("new_vendors").await.unwrap();
        let got: Vec<_> = map
            .iter()
            .map(|m| (m.source_key.as_str(), m.saved_key.as_deref(), m.state))
            .collect();
        assert_eq!(
            got,
            [
                ("123", Some("C1165"), KeyState::Mapped),
                ("124", Some("C1166"), KeyState::Mapped)
            ],
            "{backend}"
        );
        // The audit trail says which key Acumatica chose.
        let audit = store
            .audit_for_key("new_vendors", "Vendor/123")
            .await
            .unwrap();
        let created = audit.iter().find(|a| a.outcome == "created").unwrap();
        assert_eq!(created.summary["saved_key"], json!("C1165"), "{audit:#?}");
        assert_eq!(created.summary["requested_key"], json!("123"));

        // Second run, nothing changed in Looker: nothing is created again.
        env.acu.log().reset();
        let second = flow.run().await.unwrap();
        assert_eq!(second.status, RunStatus::Succeeded, "{backend}: {second}");
        assert_eq!(second.keys_with("unchanged"), ["123", "124"], "{backend}");
        assert_eq!(env.acu.log().count("PUT", VENDOR_PUT), 0, "{backend}");
        assert_eq!(env.acu.state().created("Vendor"), 2, "{backend}");
        assert_eq!(named(&env, "Numbered One"), ["C1165"]);

        // Looker renames 123: the plan and the run update C1165, and create nothing.
        rows.set("123", "Numbered One Renamed");
        let plan = flow.plan().await.unwrap();
        let p = plan.record("123").unwrap();
        assert_eq!(
            (p.action(), p.saved_key.as_deref()),
            ("update", Some("C1165"))
        );
        let third = flow.run().await.unwrap();
        assert_eq!(third.keys_with("updated"), ["123"], "{backend}: {third}");
        assert_eq!(
            third.record("123").unwrap().saved_key.as_deref(),
            Some("C1165")
        );
        assert_eq!(
            name_of(&env, "C1165"),
            Some(json!("Numbered One Renamed")),
            "{backend}"
        );
        assert_eq!(env.acu.state().created("Vendor"), 2, "{backend}");
        assert!(named(&env, "Numbered One").is_empty());
        assert!(env.acu.state().document("Vendor", &["123"]).is_none());
        env.shutdown().await;
    }
}

#[tokio::test]
async fn refuse_stops_after_the_first_renumbered_insert_and_later_runs_write_nothing() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = numbering_site().await;
        let rows = Rows::new(&[("123", "Numbered One"), ("124", "Numbered Two")]);
        let refusing = flow(&env, &rows, store.clone(), ReferenceOptions::default());

        let err = refusing.run().await.unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(
                err,
                Error::Other {
                    retryable: false,
                    ..
                }
            ),
            "{backend}: {err:?}"
        );
        for needed in [
            "`123` was saved as `C1165`",
            "Vendor",
            "numbering sequence",
            "server_keys = \"map\"",
        ] {
            assert!(
                text.contains(needed),
                "{backend}: missing {needed:?} in {text}"
            );
        }
        assert_eq!(
            env.acu.state().created("Vendor"),
            1,
            "{backend}: stopped after the first"
        );
        let runs = store.recent_runs("new_vendors", 1).await.unwrap();
        assert_eq!(runs[0].status, RunStatus::Failed);
        // The created record is in the audit trail, with both keys.
        let audit = store
            .audit_for_key("new_vendors", "Vendor/123")
            .await
            .unwrap();
        let created = audit.iter().find(|a| a.outcome == "created").unwrap();
        assert_eq!(created.stage, AuditStage::Written);
        assert_eq!(created.summary["saved_key"], json!("C1165"));

        // The rerun refuses before writing: no second copy.
        env.acu.log().reset();
        let again = refusing.run().await.unwrap_err();
        assert!(
            again.to_string().contains("`123` was saved as `C1165`"),
            "{again}"
        );
        assert_eq!(env.acu.log().count("PUT", VENDOR_PUT), 0, "{backend}");
        assert_eq!(env.acu.state().created("Vendor"), 1, "{backend}");
        assert_eq!(named(&env, "Numbered One"), ["C1165"]);

        // The person chooses map: the refused record is adopted, 124 is created once.
        let mapped = flow(&env, &rows, store.clone(), map());
        let summary = mapped.run().await.unwrap();
        assert_eq!(
            summary.keys_with("unchanged"),
            ["123"],
            "{backend}: {summary}"
        );
        assert_eq!(
            summary.record("123").unwrap().saved_key.as_deref(),
            Some("C1165")
        );
        assert_eq!(summary.keys_with("created"), ["124"]);
        assert_eq!(env.acu.state().created("Vendor"), 2, "{backend}");
        assert_eq!(named(&env, "Numbered One"), ["C1165"]);
        env.shutdown().await;
    }
}

#[tokio::test]
async fn a_refusal_is_settled_once_the_copy_is_gone_and_numbering_is_off() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = numbering_site().await;
        let rows = Rows::new(&[("123", "Numbered One")]);
        let flow = flow(&env, &rows, store.clone(), ReferenceOptions::default());
        flow.run().await.unwrap_err();
        // The person turns the sequence off and deletes the copy.
        env.acu.state().number_keys("Vendor", None).unwrap();
        env.acumatica
            .delete_by_keys("Vendor", &["C1165"])
            .await
            .unwrap();
        let summary = flow.run().await.unwrap();
        assert_eq!(
            summary.keys_with("created"),
            ["123"],
            "{backend}: {summary}"
        );
        assert_eq!(summary.record("123").unwrap().saved_key, None);
        assert_eq!(named(&env, "Numbered One"), ["123"]);
        assert!(store.key_mappings("new_vendors").await.unwrap().is_empty());
        let audit = store
            .audit_for_key("new_vendors", "Vendor/123")
            .await
            .unwrap();
        assert!(
            audit.iter().any(|a| a.outcome == "key_refusal_settled"),
            "{audit:#?}"
        );
        env.shutdown().await;
    }
}

/// The answer to the insert is lost (connection dropped after the fake applied it). The rerun
/// cannot find the vendor by `123`: with `source_key_field` it finds it by `AccountRef` and
/// maps it; without, it refuses to insert again. Either way, one vendor.
#[tokio::test]
async fn an_insert_whose_answer_was_lost_is_not_created_twice() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        for carry in [true, false] {
            let env = numbering_site().await;
            let rows = Rows::new(&[("123", "Numbered One")]);
            let options = ReferenceOptions {
                source_key_field: carry.then(|| "AccountRef".to_owned()),
                ..map()
            };
            let flow = flow(&env, &rows, store.clone(), options);
            let rule = env.acu.faults().add(
                FaultRule::new(FaultKind::DropAfterWrite)
                    .method("PUT")
                    .path(VENDOR_PUT)
                    .times(1),
            );
            let first = flow.run().await.unwrap();
            assert_eq!(env.acu.faults().fired(rule), 1);
            assert!(matches!(
                first.record("123").unwrap().outcome,
                RecordOutcome::Failed { .. }
            ));
            assert_eq!(env.acu.state().created("Vendor"), 1);

            let second = flow.run().await.unwrap();
            assert_eq!(
                env.acu.state().created("Vendor"),
                1,
                "{backend} carry={carry}: {second}"
            );
            assert_eq!(named(&env, "Numbered One"), ["C1165"]);
            if carry {
                assert_eq!(
                    second.keys_with("unchanged"),
                    ["123"],
                    "{backend}: {second}"
                );
                assert_eq!(
                    second.record("123").unwrap().saved_key.as_deref(),
                    Some("C1165")
                );
                assert_eq!(second.status, RunStatus::Succeeded);
            } else {
                let RecordOutcome::Failed { error } = &second.record("123").unwrap().outcome else {
                    panic!("{backend}: {second}")
                };
                assert!(error.contains("not inserted again"), "{error}");
                assert_eq!(second.status, RunStatus::CompletedWithErrors);
            }
            store
                .key_mappings("new_vendors")
                .await
                .unwrap()
                .iter()
                .for_each(|m| assert_eq!(m.flow, "new_vendors"));
            env.shutdown().await;
            // Each pass starts from an empty key map.
            let lease = store
                .acquire_lease("new_vendors", "cleanup", std::time::Duration::from_secs(30))
                .await
                .unwrap()
                .unwrap();
            store
                .forget_key_mapping(&lease, "Vendor", "123")
                .await
                .unwrap();
            store.release_lease(&lease).await.unwrap();
        }
    }
}

#[test]
fn source_key_field_is_checked_against_the_mode_and_the_mapping() {
    let mapping = ReferenceMapping::from_toml_str(MAPPING).unwrap();
    let build = |options: ReferenceOptions| {
        ReferenceFlow::builder(mapping.clone())
            .options(options)
            .build()
            .unwrap_err()
            .to_string()
    };
    let refuse = build(ReferenceOptions {
        source_key_field: Some("AccountRef".into()),
        ..Default::default()
    });
    assert!(refuse.contains("server_keys = \"map\""), "{refuse}");
    let clash = build(ReferenceOptions {
        source_key_field: Some("VendorName".into()),
        ..map()
    });
    assert!(
        clash.contains("`VendorName` is the key or a field the mapping"),
        "{clash}"
    );
    let parsed: ReferenceOptions =
        toml::from_str("server_keys = \"map\"\nsource_key_field = \"AccountRef\"").unwrap();
    assert_eq!(parsed.server_keys, ServerKeys::Map);
    assert!(toml::from_str::<ReferenceOptions>("server_keys = \"renumber\"").is_err());
}
