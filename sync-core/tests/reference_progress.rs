//! The progress events of a reference run, recorded against the fakes: the exact sequence for a
//! small run with a created, a drifted, a refused and unchanged records in two lookup batches,
//! checked against what the run returned.
#![cfg(feature = "flows")]

mod flow_support;

use std::sync::{Arc, Mutex};

use flow_support::{Env, stores};
use serde_json::json;
use sync_core::mapping::ReferenceMapping;
use sync_core::post::LookerQueryConfig;
use sync_core::progress::{Progress, ProgressEvent, RunKind};
use sync_core::reference::{
    RecordOutcome, RecordReport, ReferenceFlow, ReferenceOptions, ReferenceQuerySource,
    ReferenceSummary,
};
use sync_core::store::{RunCounts, RunStatus, StateStore};
use testkit::looker::LookerConfig;
use testkit::seed;

/// The sandbox's vendor mapping with a receipt limit mapped from the status: the inactive
/// vendor's limit maps to `none`, which the fake refuses with a field error, so exactly
/// V000006 is refused on every run.
const MAPPING: &str = r#"
flow = "approved_vendors"
entity = "Vendor"
key = { field = "VendorID", column = "approved_vendors.vendor_id" }
[fields]
VendorName = { column = "approved_vendors.vendor_name" }
VendorClass = { column = "approved_vendors.vendor_class" }
Terms = { column = "approved_vendors.terms" }
Status = { column = "approved_vendors.status" }
MaxReceipt = { column = "approved_vendors.status", map = "receipt" }
[maps.receipt]
Active = "100"
"On Hold" = "50"
Inactive = "none"
"#;

/// A listener that keeps every event.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<ProgressEvent>>>);

impl Progress for Recorder {
    fn event(&self, e: &ProgressEvent) {
        self.0.lock().unwrap().push(e.clone());
    }
}

impl Recorder {
    fn take(&self) -> Vec<ProgressEvent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn flow(env: &Env, store: Arc<dyn StateStore>) -> ReferenceFlow {
    let mapping = ReferenceMapping::from_toml_str(MAPPING).unwrap();
    let query: LookerQueryConfig = toml::from_str(
        "model = \"finance\"\nexplore = \"approved_vendors\"\nsorts = [\"approved_vendors.vendor_id\"]",
    )
    .unwrap();
    let source = ReferenceQuerySource::new(env.looker.clone(), &query, &mapping).unwrap();
    ReferenceFlow::builder(mapping)
        .source(source)
        .acumatica(env.acumatica.clone())
        .store(store)
        .options(ReferenceOptions {
            lookup_page_size: 4,
            ..Default::default()
        })
        .owner("test-owner")
        .build()
        .unwrap()
}

fn records(events: &[ProgressEvent]) -> Vec<RecordReport> {
    events
        .iter()
        .filter_map(|e| match e {
            ProgressEvent::RecordFinished { record } => Some(record.clone()),
            _ => None,
        })
        .collect()
}

fn report(key: &str, row: usize, outcome: RecordOutcome) -> ProgressEvent {
    ProgressEvent::RecordFinished {
        record: RecordReport {
            key: key.into(),
            row,
            outcome,
            saved_key: None,
        },
    }
}

fn rejected(summary: &ReferenceSummary, key: &str) -> RecordOutcome {
    let outcome = summary.record(key).unwrap().outcome.clone();
    assert!(
        matches!(&outcome, RecordOutcome::Rejected { error, .. } if error.contains("MaxReceipt")),
        "{outcome:?}"
    );
    outcome
}

#[tokio::test]
async fn a_reference_run_reports_rows_records_lookups_and_each_record_once_in_order() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(LookerConfig::default()).await;
        let recorder = Recorder::default();
        let flow = flow(&env, store.clone()).with_progress(recorder.clone());

        // The first run gives every vendor its receipt limit; V000006 is refused.
        let first = flow.run().await.unwrap();
        let events = recorder.take();
        assert_eq!(
            records(&events),
            first.records,
            "{backend}: one RecordFinished per record of the summary, in order"
        );
        assert_eq!(first.keys_with("updated").len(), seed::VENDORS.len() - 1);

        // V000001 drifts in Acumatica, V000002 is deleted there.
        env.acumatica
            .put_json(
                "Vendor",
                &json!({"VendorID": {"value": "V000001"}, "VendorName": {"value": "Acme (old name)"}}),
                acumatica_client::PutMode::UpdateOnly,
                &acumatica_client::ListQuery::new(),
            )
            .await
            .unwrap();
        env.acumatica
            .delete_by_keys("Vendor", &["V000002"])
            .await
            .unwrap();

        let summary = flow.run().await.unwrap();
        let events = recorder.take();
        assert_eq!(summary.status, RunStatus::CompletedWithErrors, "{summary}");
        let expected = vec![
            ProgressEvent::RunStarted {
                flow: "approved_vendors".into(),
                run_id: summary.run_id.clone(),
                kind: RunKind::Reference,
            },
            ProgressEvent::RowsRead { rows: 6 },
            ProgressEvent::RecordsMapped {
                entity: "Vendor".into(),
                records: 6,
            },
            ProgressEvent::KeysLookedUp {
                batch: 1,
                keys: 4,
                found: 3,
                keys_total: 4,
            },
            report(
                "V000001",
                1,
                RecordOutcome::Updated {
                    fields: vec!["VendorName".into()],
                },
            ),
            report(
                "V000002",
                2,
                RecordOutcome::Created {
                    fields: ["MaxReceipt", "Status", "Terms", "VendorClass", "VendorName"]
                        .map(String::from)
                        .to_vec(),
                },
            ),
            report("V000003", 3, RecordOutcome::Unchanged),
            report("V000004", 4, RecordOutcome::Unchanged),
            ProgressEvent::KeysLookedUp {
                batch: 2,
                keys: 2,
                found: 2,
                keys_total: 6,
            },
            report("V000005", 5, RecordOutcome::Unchanged),
            report("V000006", 6, rejected(&summary, "V000006")),
            ProgressEvent::RunFinished {
                flow: "approved_vendors".into(),
                run_id: summary.run_id.clone(),
                status: RunStatus::CompletedWithErrors,
                counts: RunCounts {
                    read: 6,
                    mapped: 6,
                    written: 2,
                    skipped: 3,
                    failed: 1,
                    retries: 0,
                },
            },
        ];
        assert_eq!(events, expected, "{backend}");
        assert_eq!(records(&events), summary.records, "{backend}");
        assert_eq!(
            summary.counts.to_run_counts(),
            RunCounts {
                read: 6,
                mapped: 6,
                written: 2,
                skipped: 3,
                failed: 1,
                retries: 0,
            }
        );
        env.shutdown().await;
    }
}

/// Rows that do not map: the run reports its start, the rows and its failed end, and no record.
#[tokio::test]
async fn an_invalid_row_reports_no_record_and_a_failed_end() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(LookerConfig::default()).await;
        let recorder = Recorder::default();
        let mapping =
            ReferenceMapping::from_toml_str(&MAPPING.replace("Inactive = \"none\"\n", "")).unwrap();
        let query: LookerQueryConfig =
            toml::from_str("model = \"finance\"\nexplore = \"approved_vendors\"").unwrap();
        let source = ReferenceQuerySource::new(env.looker.clone(), &query, &mapping).unwrap();
        let flow = ReferenceFlow::builder(mapping)
            .source(source)
            .acumatica(env.acumatica.clone())
            .store(store.clone())
            .progress(recorder.clone())
            .build()
            .unwrap();
        let err = flow.run().await.unwrap_err();
        assert!(err.is_invalid_data(), "{backend}: {err}");
        let events = recorder.take();
        let kinds: Vec<&str> = events
            .iter()
            .map(|e| match e {
                ProgressEvent::RunStarted { kind, .. } => {
                    assert_eq!(*kind, RunKind::Reference);
                    "started"
                }
                ProgressEvent::RowsRead { .. } => "rows",
                ProgressEvent::RunFinished { status, counts, .. } => {
                    assert_eq!(*status, RunStatus::Failed);
                    assert_eq!(counts.read, 6);
                    assert_eq!(counts.written, 0);
                    "finished"
                }
                other => panic!("{backend}: unexpected {other:?}"),
            })
            .collect();
        assert_eq!(kinds, ["started", "rows", "finished"], "{backend}");
        env.shutdown().await;
    }
}
