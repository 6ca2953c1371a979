//! End to end: the reference flow (Looker fake `finance.approved_vendors` → ReferenceMapping →
//! Acumatica fake `Vendor`), upserting by key and sending only changed fields, on both
//! state-store backends.
#![cfg(feature = "flows")]

mod flow_support;

use std::sync::Arc;

use flow_support::{Env, stores};
use serde_json::{Value, json};
use sync_core::Error;
use sync_core::mapping::ReferenceMapping;
use sync_core::post::LookerQueryConfig;
use sync_core::reference::{RecordOutcome, ReferenceFlow, ReferenceQuerySource};
use sync_core::store::{AuditStage, RunStatus, StateStore};
use testkit::looker::LookerConfig;
use testkit::seed;

const VENDOR_PUT: &str = "/entity/Default/*/Vendor";

const MAPPING: &str = r#"
flow = "approved_vendors"
entity = "Vendor"
key = { field = "VendorID", column = "approved_vendors.vendor_id" }
[fields]
VendorName = { column = "approved_vendors.vendor_name" }
VendorClass = { column = "approved_vendors.vendor_class" }
Terms = { column = "approved_vendors.terms" }
Status = { column = "approved_vendors.status" }
"#;

fn query() -> LookerQueryConfig {
    toml::from_str(
        r#"
model = "finance"
explore = "approved_vendors"
sorts = ["approved_vendors.vendor_id"]
"#,
    )
    .unwrap()
}

fn flow(env: &Env, mapping: &str, store: Arc<dyn StateStore>) -> ReferenceFlow {
    let mapping = ReferenceMapping::from_toml_str(mapping).unwrap();
    let source = ReferenceQuerySource::new(env.looker.clone(), &query(), &mapping).unwrap();
    ReferenceFlow::builder(mapping)
        .source(source)
        .acumatica(env.acumatica.clone())
        .store(store)
        .owner("test-owner")
        .build()
        .unwrap()
}

fn field(env: &Env, key: &str, name: &str) -> Option<Value> {
    let doc = env.acu.state().document("Vendor", &[key])?;
    doc.get(name)
        .map(|v| v.get("value").cloned().unwrap_or(v.clone()))
}

/// V000001 drifted (name and terms), V000002 is missing; the rest match Looker.
async fn drift(env: &Env) {
    env.acumatica
        .put_json(
            "Vendor",
            &json!({"VendorID": {"value": "V000001"}, "VendorName": {"value": "Acme (old name)"}, "Terms": {"value": "15D"}}),
            acumatica_client::PutMode::UpdateOnly,
            &acumatica_client::ListQuery::new(),
        )
        .await
        .unwrap();
    env.acumatica
        .delete_by_keys("Vendor", &["V000002"])
        .await
        .unwrap();
    assert!(env.acu.state().document("Vendor", &["V000002"]).is_none());
    env.acu.log().reset();
}

#[tokio::test]
async fn upserts_changed_fields_only_and_a_rerun_sends_nothing() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(LookerConfig::default()).await;
        drift(&env).await;
        let flow = flow(&env, MAPPING, store.clone());

        let summary = flow.run().await.unwrap();
        assert_eq!(summary.status, RunStatus::Succeeded, "{backend}: {summary}");
        assert_eq!(summary.counts.rows_read, seed::VENDORS.len() as u64);
        assert_eq!(summary.keys_with("created"), ["V000002"], "{backend}");
        assert_eq!(summary.keys_with("updated"), ["V000001"], "{backend}");
        assert_eq!(
            summary.keys_with("unchanged").len(),
            seed::VENDORS.len() - 2
        );
        assert_eq!(
            summary.record("V000001").unwrap().outcome,
            RecordOutcome::Updated {
                fields: vec!["Terms".into(), "VendorName".into()]
            }
        );
        assert_eq!(
            summary.record("V000002").unwrap().outcome,
            RecordOutcome::Created {
                fields: vec![
                    "Status".into(),
                    "Terms".into(),
                    "VendorClass".into(),
                    "VendorName".into()
                ]
            }
        );
        // Exactly two writes, and one list request for all six keys.
        assert_eq!(env.acu.log().count("PUT", VENDOR_PUT), 2, "{backend}");
        assert_eq!(env.acu.log().count("GET", VENDOR_PUT), 1, "{backend}");
        assert_eq!(summary.counts.lookup_requests, 1);
        let list = env.acu.log().matching("GET", VENDOR_PUT);
        let q = list[0].query.clone().unwrap_or_default();
        assert!(q.contains("filter") && q.contains("V000006"), "{q}");
        // Acumatica now holds Looker's values.
        let v2 = &seed::VENDORS[1];
        assert_eq!(
            field(&env, "V000001", "VendorName"),
            Some(json!("Acme Office Supply"))
        );
        assert_eq!(field(&env, "V000001", "Terms"), Some(json!("30D")));
        assert_eq!(field(&env, "V000002", "VendorName"), Some(json!(v2.name)));
        assert_eq!(field(&env, "V000002", "VendorClass"), Some(json!(v2.class)));
        assert_eq!(field(&env, "V000002", "Status"), Some(json!(v2.status)));
        assert_eq!(env.acu.state().created("Vendor"), 1);

        // One audit event per record with the field names, never values.
        let audit = flow.store().audit_for_run(&summary.run_id).await.unwrap();
        let per_key: Vec<_> = audit.iter().filter(|a| a.natural_key.is_some()).collect();
        assert_eq!(per_key.len(), seed::VENDORS.len(), "{audit:#?}");
        let v1 = per_key
            .iter()
            .find(|a| a.natural_key.as_deref() == Some("Vendor/V000001"))
            .unwrap();
        assert_eq!(v1.stage, AuditStage::Written);
        assert_eq!(v1.outcome, "updated");
        assert_eq!(v1.summary["fields"], json!(["Terms", "VendorName"]));
        assert!(!v1.summary.to_string().contains("Acme Office Supply"));
        let runs = flow
            .store()
            .recent_runs("approved_vendors", 5)
            .await
            .unwrap();
        assert_eq!(runs[0].counts.written, 2);
        assert_eq!(runs[0].counts.skipped, seed::VENDORS.len() as u64 - 2);

        // A rerun finds everything in step: no PUT at all.
        env.acu.log().reset();
        let again = flow.run().await.unwrap();
        assert_eq!(again.status, RunStatus::Succeeded);
        assert_eq!(
            again.keys_with("unchanged").len(),
            seed::VENDORS.len(),
            "{again}"
        );
        assert_eq!(env.acu.log().count("PUT", VENDOR_PUT), 0, "{backend}");
        assert_eq!(env.acu.state().created("Vendor"), 1);
        env.shutdown().await;
    }
}

/// The fake refuses a value it cannot convert with a field error (400 `modelState`, which the
/// client reports like a 422: `ErrorKind::Validation`); the inactive vendor's receipt limit
/// maps to `none`, so only that vendor is refused.
#[tokio::test]
async fn a_refused_vendor_is_dead_lettered_and_the_others_proceed() {
    let mapping = format!(
        "{MAPPING}MaxReceipt = {{ column = \"approved_vendors.status\", map = \"receipt\" }}\n\
         [maps.receipt]\nActive = \"100\"\n\"On Hold\" = \"50\"\nInactive = \"none\"\n"
    );
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(LookerConfig::default()).await;
        let flow = flow(&env, &mapping, store.clone());
        let summary = flow.run().await.unwrap();
        assert_eq!(summary.status, RunStatus::CompletedWithErrors, "{backend}");
        let refused = &summary.record("V000006").unwrap().outcome;
        let RecordOutcome::Rejected { error, dead_letter } = refused else {
            panic!("{refused:?}")
        };
        assert!(error.contains("MaxReceipt"), "{error}");
        assert_eq!(summary.keys_with("updated").len(), seed::VENDORS.len() - 1);
        assert_eq!(field(&env, "V000001", "MaxReceipt"), Some(json!(100)));
        assert_eq!(field(&env, "V000005", "MaxReceipt"), Some(json!(50)));
        let letters = flow
            .store()
            .dead_letters("approved_vendors", false)
            .await
            .unwrap();
        assert_eq!(letters.len(), 1, "{backend}");
        assert_eq!(letters[0].id, *dead_letter);
        assert_eq!(letters[0].natural_key, "Vendor/V000006");
        assert_eq!(letters[0].payload["fields"], json!(["MaxReceipt"]));
        let runs = flow
            .store()
            .recent_runs("approved_vendors", 1)
            .await
            .unwrap();
        assert_eq!(runs[0].counts.failed, 1);

        // A rerun sends only the still-refused vendor.
        env.acu.log().reset();
        let again = flow.run().await.unwrap();
        assert_eq!(again.keys_with("rejected"), ["V000006"]);
        assert_eq!(env.acu.log().count("PUT", VENDOR_PUT), 1);
        env.shutdown().await;
    }
}

#[tokio::test]
async fn any_invalid_row_writes_nothing_and_lists_every_problem() {
    // Neither `On Hold` nor `Inactive` is in the map: two rows are invalid.
    let mapping = format!(
        "{MAPPING}MaxReceipt = {{ column = \"approved_vendors.status\", map = \"receipt\" }}\n\
         [maps.receipt]\nActive = \"100\"\n"
    );
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(LookerConfig::default()).await;
        drift(&env).await;
        let flow = flow(&env, &mapping, store.clone());
        let err = flow.run().await.unwrap_err();
        let Error::Data { what, detail } = &err else {
            panic!("{err:?}")
        };
        assert!(what.contains("2 mapping problem(s)"), "{backend}: {what}");
        assert!(
            detail.contains("On Hold") && detail.contains("Inactive"),
            "{detail}"
        );
        assert_eq!(env.acu.log().count("PUT", VENDOR_PUT), 0);
        assert_eq!(env.acu.log().count("GET", VENDOR_PUT), 0);
        let runs = flow
            .store()
            .recent_runs("approved_vendors", 1)
            .await
            .unwrap();
        assert_eq!(runs[0].status, RunStatus::Failed);
        env.shutdown().await;
    }
}

#[tokio::test]
async fn looks_keys_up_one_list_request_per_page_and_respects_the_lease() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(LookerConfig::default()).await;
        drift(&env).await;
        let mapping = ReferenceMapping::from_toml_str(MAPPING).unwrap();
        let source = ReferenceQuerySource::new(env.looker.clone(), &query(), &mapping).unwrap();
        let flow = ReferenceFlow::builder(mapping)
            .source(source)
            .acumatica(env.acumatica.clone())
            .store(store.clone())
            .options(sync_core::reference::ReferenceOptions {
                lookup_page_size: 2,
                ..Default::default()
            })
            .owner("replica-a")
            .build()
            .unwrap();

        // Another replica holds the lease: nothing is read or written.
        let held = store
            .acquire_lease(
                "approved_vendors",
                "replica-b",
                std::time::Duration::from_secs(60),
            )
            .await
            .unwrap()
            .unwrap();
        let err = flow.run().await.unwrap_err();
        assert!(matches!(err, Error::Busy { .. }), "{backend}: {err}");
        assert_eq!(env.acu.log().count("*", VENDOR_PUT), 0);
        store.release_lease(&held).await.unwrap();

        // Six keys, two per request: three list requests, each filtered by its own keys.
        let summary = flow.run().await.unwrap();
        assert_eq!(summary.counts.lookup_requests, 3, "{backend}");
        let lists = env.acu.log().matching("GET", VENDOR_PUT);
        assert_eq!(lists.len(), 3, "{lists:#?}");
        let first = lists[0].query.clone().unwrap_or_default();
        assert!(
            first.contains("V000001") && first.contains("V000002"),
            "{first}"
        );
        assert!(!first.contains("V000003"), "{first}");
        assert_eq!(summary.keys_with("created"), ["V000002"]);
        assert_eq!(summary.keys_with("updated"), ["V000001"]);
        env.shutdown().await;
    }
}

#[test]
fn a_missing_part_or_a_bad_option_is_named() {
    let mapping = ReferenceMapping::from_toml_str(MAPPING).unwrap();
    let err = ReferenceFlow::builder(mapping.clone()).build().unwrap_err();
    assert!(err.to_string().contains("source"), "{err}");
    let err = ReferenceFlow::builder(mapping)
        .options(sync_core::reference::ReferenceOptions {
            lookup_page_size: 0,
            ..Default::default()
        })
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("lookup_page_size"), "{err}");
}

/// A plan predicts what the run then does, with the same lookups, and writes nothing: no PUT,
/// no run in the history, no audit event, no lease taken.
#[tokio::test]
async fn a_plan_predicts_the_run_and_writes_nothing() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(LookerConfig::default()).await;
        drift(&env).await;
        let flow = flow(&env, MAPPING, store.clone());

        let plan = flow.plan().await.unwrap();
        assert_eq!(plan.rows_read, seed::VENDORS.len() as u64, "{backend}");
        assert_eq!(plan.keys_with("create"), ["V000002"], "{plan}");
        assert_eq!(plan.keys_with("update"), ["V000001"], "{plan}");
        assert_eq!(plan.count("unchanged"), seed::VENDORS.len() - 2);
        assert_eq!(plan.lookup_requests, 1);
        let v1 = plan.record("V000001").unwrap();
        assert_eq!(v1.fields(), ["Terms", "VendorName"]);
        let sync_core::mapping::RecordChange::Update(changes) = &v1.change else {
            panic!("{v1:?}")
        };
        assert_eq!(changes["Terms"].current, json!("15D"));
        assert_eq!(
            plan.record("V000002").unwrap().fields(),
            ["Status", "Terms", "VendorClass", "VendorName"]
        );
        assert!(
            plan.to_string().contains("1 to create, 1 to update"),
            "{plan}"
        );
        assert_eq!(env.acu.log().count("PUT", VENDOR_PUT), 0, "{backend}");
        assert_eq!(env.acu.log().count("GET", VENDOR_PUT), 1, "{backend}");
        assert!(
            store
                .recent_runs("approved_vendors", 5)
                .await
                .unwrap()
                .is_empty(),
            "{backend}: a plan starts no run"
        );
        assert!(
            store
                .current_lease("approved_vendors")
                .await
                .unwrap()
                .is_none(),
            "{backend}: a plan takes no lease"
        );

        // The run does what the plan said.
        let summary = flow.run().await.unwrap();
        assert_eq!(summary.keys_with("created"), plan.keys_with("create"));
        assert_eq!(summary.keys_with("updated"), plan.keys_with("update"));
        env.shutdown().await;
    }
}

/// The builder plans without a state store; a mapping problem is reported, not planned.
#[tokio::test]
async fn the_builder_plans_without_a_store_and_reports_mapping_problems() {
    let env = Env::start(LookerConfig::default()).await;
    drift(&env).await;
    let mapping = ReferenceMapping::from_toml_str(MAPPING).unwrap();
    let source = ReferenceQuerySource::new(env.looker.clone(), &query(), &mapping).unwrap();
    let plan = ReferenceFlow::builder(mapping)
        .source(source)
        .acumatica(env.acumatica.clone())
        .plan()
        .await
        .unwrap();
    assert_eq!(plan.keys_with("update"), ["V000001"]);

    let bad = format!(
        "{MAPPING}MaxReceipt = {{ column = \"approved_vendors.status\", map = \"receipt\" }}\n\
         [maps.receipt]\nActive = \"100\"\n"
    );
    let mapping = ReferenceMapping::from_toml_str(&bad).unwrap();
    let source = ReferenceQuerySource::new(env.looker.clone(), &query(), &mapping).unwrap();
    let err = ReferenceFlow::builder(mapping)
        .source(source)
        .acumatica(env.acumatica.clone())
        .plan()
        .await
        .unwrap_err();
    let Error::Data { what, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(what.contains("would be written"), "{what}");
    assert_eq!(env.acu.log().count("PUT", VENDOR_PUT), 0);
    let err = ReferenceFlow::builder(ReferenceMapping::from_toml_str(MAPPING).unwrap())
        .plan()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("source"), "{err}");
    env.shutdown().await;
}

/// A write that succeeded but whose answer cannot be read (a malformed body) marks that record
/// failed and the run goes on with the others; the next run finds it in step and sends nothing.
#[tokio::test]
async fn an_unreadable_answer_to_an_applied_write_fails_that_record_only() {
    use testkit::faults::{FaultKind, FaultRule};
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(LookerConfig::default()).await;
        drift(&env).await;
        let rule = env.acu.faults().add(
            FaultRule::new(FaultKind::MalformedBody)
                .method("PUT")
                .path(VENDOR_PUT)
                .times(1),
        );
        let flow = flow(&env, MAPPING, store.clone());
        let summary = flow.run().await.unwrap();
        assert_eq!(env.acu.faults().fired(rule), 1);
        assert_eq!(
            summary.status,
            RunStatus::CompletedWithErrors,
            "{backend}: {summary}"
        );
        // V000001 (source order) got the malformed answer; its update was applied all the same.
        let RecordOutcome::Failed { error } = &summary.record("V000001").unwrap().outcome else {
            panic!("{backend}: {summary}")
        };
        assert!(error.contains("the write succeeded"), "{error}");
        assert_eq!(summary.keys_with("created"), ["V000002"], "{backend}");
        assert_eq!(field(&env, "V000001", "Terms"), Some(json!("30D")));

        env.acu.log().reset();
        let again = flow.run().await.unwrap();
        assert_eq!(again.status, RunStatus::Succeeded, "{backend}: {again}");
        assert_eq!(again.keys_with("unchanged").len(), seed::VENDORS.len());
        assert_eq!(env.acu.log().count("PUT", VENDOR_PUT), 0, "{backend}");
        assert_eq!(env.acu.state().created("Vendor"), 1);
        env.shutdown().await;
    }
}
