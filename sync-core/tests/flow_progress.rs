//! The progress events of both flows, recorded against the fakes, checked against what the runs
//! returned and what the fakes and the warehouse hold.
#![cfg(feature = "flows")]

mod flow_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use flow_support::{Env, open_period, stores};
use sync_core::Error;
use sync_core::feed::{FeedConfig, FeedFlow};
use sync_core::post::{DocumentReport, DocumentState, PostOptions, RunSummary};
use sync_core::progress::{Progress, ProgressEvent, RunKind};
use sync_core::store::RunStatus;
use sync_core::warehouse::{SqliteWarehouse, TableSpec, WarehouseSink};
use testkit::faults::{FaultKind, FaultRule};
use testkit::looker::LookerConfig;
use testkit::seed;

const JT_PUT: &str = "/entity/Default/24.200.001/JournalTransaction";

fn looker_config() -> LookerConfig {
    let month = seed::LAST_CLOSED_MONTH + 1;
    LookerConfig::default().with_months(month, month)
}

/// A listener that keeps every event.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<ProgressEvent>>>);

impl Progress for Recorder {
    fn event(&self, e: &ProgressEvent) {
        self.0.lock().unwrap().push(e.clone());
    }
}

impl Recorder {
    /// The events so far, forgetting them.
    fn take(&self) -> Vec<ProgressEvent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn finished(events: &[ProgressEvent]) -> Vec<DocumentReport> {
    events
        .iter()
        .filter_map(|e| match e {
            ProgressEvent::DocumentFinished { document } => Some(document.clone()),
            _ => None,
        })
        .collect()
}

fn position(events: &[ProgressEvent], what: impl Fn(&ProgressEvent) -> bool) -> usize {
    events
        .iter()
        .position(what)
        .unwrap_or_else(|| panic!("event missing in {events:#?}"))
}

/// The frame every post run reports, matched against its summary: started first, finished
/// last with the summary's status and counts, each document once and in the summary's order.
fn assert_tells_the_summary(events: &[ProgressEvent], summary: &RunSummary, kind: RunKind) {
    match events.first() {
        Some(ProgressEvent::RunStarted {
            flow,
            run_id,
            kind: k,
        }) => {
            assert_eq!(flow, &summary.flow);
            assert_eq!(run_id, &summary.run_id);
            assert_eq!(*k, kind);
        }
        other => panic!("the first event is not RunStarted: {other:?}"),
    }
    match events.last() {
        Some(ProgressEvent::RunFinished {
            run_id,
            status,
            counts,
            ..
        }) => {
            assert_eq!(run_id, &summary.run_id);
            assert_eq!(*status, summary.status);
            assert_eq!(*counts, summary.counts.to_run_counts());
        }
        other => panic!("the last event is not RunFinished: {other:?}"),
    }
    let docs = finished(events);
    assert_eq!(
        docs, summary.documents,
        "one DocumentFinished per document of the summary, in order"
    );
    let keys: BTreeSet<&str> = docs.iter().map(|d| d.natural_key.as_str()).collect();
    assert_eq!(keys.len(), docs.len(), "no document reported twice");
    let mapped: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            ProgressEvent::DocumentsMapped { documents } => Some(*documents),
            _ => None,
        })
        .collect();
    assert_eq!(mapped, vec![summary.counts.documents_mapped]);
}

#[tokio::test]
async fn a_post_run_reports_rows_plan_and_each_document_once_and_a_rerun_reports_them_present() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(looker_config()).await;
        let recorder = Recorder::default();
        let flow = env
            .post_flow(store.clone(), &open_period(), PostOptions::default())
            .with_progress(recorder.clone());

        let first = flow.run().await.unwrap();
        let events = recorder.take();
        assert_eq!(first.counts.documents_posted, 3, "{backend}: {first}");
        assert_tells_the_summary(&events, &first, RunKind::Post);

        // Rows: a running count that ends at the rows the summary counted.
        let rows: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                ProgressEvent::RowsRead { rows } => Some(*rows),
                _ => None,
            })
            .collect();
        assert!(!rows.is_empty(), "{backend}: no RowsRead");
        assert!(rows.windows(2).all(|w| w[0] < w[1]), "{backend}: {rows:?}");
        assert_eq!(rows.last().copied(), Some(first.counts.rows_read));

        // Read, then mapped, then planned, then the documents.
        let read = position(&events, |e| matches!(e, ProgressEvent::RowsRead { .. }));
        let mapped = position(&events, |e| {
            matches!(e, ProgressEvent::DocumentsMapped { documents: 3 })
        });
        let planned = position(&events, |e| {
            matches!(e, ProgressEvent::DocumentsPlanned { documents: 3 })
        });
        let first_doc = position(&events, |e| {
            matches!(e, ProgressEvent::DocumentFinished { .. })
        });
        assert!(
            read < mapped && mapped < planned && planned < first_doc,
            "{backend}: {events:#?}"
        );
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, ProgressEvent::Reconciling { .. })),
            "{backend}: nothing to reconcile on a first run"
        );

        // The keys reported posted are the ledger's, and the batches are Acumatica's.
        let docs = finished(&events);
        let posted: BTreeSet<String> = docs
            .iter()
            .filter_map(|d| match &d.state {
                DocumentState::Posted { batch } => Some(batch.clone()),
                _ => None,
            })
            .collect();
        let created: BTreeSet<String> = env
            .tagged_batches()
            .into_iter()
            .map(|b| b.batch_nbr)
            .collect();
        assert_eq!(posted, created, "{backend}");
        let ledger_keys: BTreeSet<String> = flow
            .ledger(&Default::default())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.natural_key)
            .collect();
        let reported_keys: BTreeSet<String> = docs.iter().map(|d| d.natural_key.clone()).collect();
        assert_eq!(reported_keys, ledger_keys, "{backend}");

        // A rerun reports the same documents, as already present; nothing posted.
        let second = flow.run().await.unwrap();
        let events = recorder.take();
        assert_tells_the_summary(&events, &second, RunKind::Post);
        let docs = finished(&events);
        assert_eq!(docs.len(), 3, "{backend}: {events:#?}");
        assert!(
            docs.iter()
                .all(|d| matches!(d.state, DocumentState::AlreadyPosted { batch: Some(_) })),
            "{backend}: {docs:#?}"
        );
        let again: BTreeSet<String> = docs.iter().map(|d| d.natural_key.clone()).collect();
        assert_eq!(again, reported_keys, "{backend}");
        assert_eq!(env.acu.state().created("JournalTransaction"), 3);
        env.shutdown().await;
    }
}

#[tokio::test]
async fn a_rejected_document_reports_failure_and_its_replay_reports_it_posted() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(looker_config()).await;
        env.acu.faults().add(
            FaultRule::new(FaultKind::ServerError { status: 422 })
                .method("PUT")
                .path(JT_PUT)
                .times(1),
        );
        let recorder = Recorder::default();
        let flow = env
            .post_flow(store.clone(), &open_period(), PostOptions::default())
            .with_progress(recorder.clone());
        let summary = flow.run().await.unwrap();
        let events = recorder.take();
        assert_eq!(summary.status, RunStatus::CompletedWithErrors, "{backend}");
        assert_tells_the_summary(&events, &summary, RunKind::Post);
        let docs = finished(&events);
        let failed: Vec<&DocumentReport> = docs
            .iter()
            .filter(|d| matches!(d.state, DocumentState::Failed { .. }))
            .collect();
        assert_eq!(failed.len(), 1, "{backend}: {docs:#?}");
        assert_eq!(
            docs.iter()
                .filter(|d| matches!(d.state, DocumentState::Posted { .. }))
                .count(),
            2,
            "{backend}"
        );
        let letters = flow.dead_letters().await.unwrap();
        assert_eq!(letters.len(), 1);
        assert_eq!(failed[0].natural_key, letters[0].natural_key, "{backend}");
        let DocumentState::Failed { error } = &failed[0].state else {
            unreachable!()
        };
        assert!(error.contains("422"), "{backend}: {error}");

        // The replay reports through the same events, as a replay.
        let replay = flow.replay(None).await.unwrap();
        let events = recorder.take();
        assert_tells_the_summary(&events, &replay, RunKind::Replay);
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, ProgressEvent::RowsRead { .. })),
            "{backend}: a replay reads no rows"
        );
        let docs = finished(&events);
        assert_eq!(docs.len(), 1, "{backend}: {events:#?}");
        assert_eq!(docs[0].natural_key, letters[0].natural_key);
        assert!(
            matches!(docs[0].state, DocumentState::Posted { .. }),
            "{backend}: {docs:#?}"
        );
        env.shutdown().await;
    }
}

#[tokio::test]
async fn a_stopped_run_reports_cancelled_and_the_next_run_reports_its_reconciliation() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(looker_config()).await;
        // The listener itself asks the run to stop once the first document is posted.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let recorder = Recorder::default();
        let rec = recorder.clone();
        let flow = env
            .post_flow(store.clone(), &open_period(), PostOptions::default())
            .with_progress(move |e: &ProgressEvent| {
                rec.event(e);
                if matches!(e, ProgressEvent::DocumentFinished { .. }) {
                    stop.send_replace(true);
                }
            });
        let err = flow.run_with_shutdown(Some(stopped)).await.unwrap_err();
        assert!(matches!(err, Error::Cancelled { .. }), "{backend}: {err}");
        let events = recorder.take();
        assert_eq!(finished(&events).len(), 1, "{backend}: {events:#?}");
        assert!(
            matches!(
                events.last(),
                Some(ProgressEvent::RunFinished {
                    status: RunStatus::Interrupted,
                    ..
                })
            ),
            "{backend}: {events:#?}"
        );

        // The two intents left without outcome are settled first, by lookup: never created.
        let flow = flow.with_progress(recorder.clone());
        let summary = flow.run().await.unwrap();
        let events = recorder.take();
        assert_tells_the_summary(&events, &summary, RunKind::Post);
        assert_eq!(summary.counts.reconciled_absent, 2, "{backend}: {summary}");
        let reconciling = position(&events, |e| {
            matches!(e, ProgressEvent::Reconciling { pending: 2 })
        });
        let settled: Vec<(usize, bool)> = events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                ProgressEvent::Reconciled { found, .. } => Some((i, *found)),
                _ => None,
            })
            .collect();
        assert_eq!(settled.len(), 2, "{backend}: {events:#?}");
        assert!(settled.iter().all(|(_, found)| !found));
        let read = position(&events, |e| matches!(e, ProgressEvent::RowsRead { .. }));
        assert!(
            settled.iter().all(|(i, _)| reconciling < *i && *i < read),
            "{backend}: reconciliation comes before reading: {events:#?}"
        );
        assert_eq!(summary.counts.documents_posted, 2, "{backend}: {summary}");
        assert_eq!(env.acu.state().created("JournalTransaction"), 3);
        env.shutdown().await;
    }
}

fn feed_config(entities: &[&str]) -> FeedConfig {
    let list = entities
        .iter()
        .map(|e| format!("{{ entity = \"{e}\" }}"))
        .collect::<Vec<_>>()
        .join(", ");
    FeedConfig::from_toml_str(&format!(
        "name = \"warehouse\"\nentities = [{list}]\n[options]\npage_size = 25\n"
    ))
    .unwrap()
}

#[tokio::test]
async fn a_feed_run_reports_pages_records_and_marks_as_the_warehouse_got_them() {
    const ENTITIES: &[&str] = &["Vendor", "Bill", "JournalTransaction", "Account"];
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(LookerConfig::default()).await;
        // Vendor pages fail: its window reports the failure and no mark.
        env.acu.faults().add(
            FaultRule::new(FaultKind::ServerError { status: 400 })
                .method("GET")
                .path("/entity/Default/*/Vendor"),
        );
        let dir = tempfile::tempdir().unwrap();
        let warehouse: Arc<dyn WarehouseSink> = Arc::new(
            SqliteWarehouse::open(dir.path().join("w.db"))
                .await
                .unwrap(),
        );
        let recorder = Recorder::default();
        let flow = FeedFlow::from_config(
            &feed_config(ENTITIES),
            env.acumatica.clone(),
            warehouse.clone(),
            store.clone(),
        )
        .unwrap()
        .with_progress(recorder.clone());
        let summary = flow.run().await.unwrap();
        let events = recorder.take();
        assert_eq!(summary.status, RunStatus::CompletedWithErrors, "{summary}");
        assert!(matches!(
            events.first(),
            Some(ProgressEvent::RunStarted {
                kind: RunKind::Feed,
                ..
            })
        ));
        match events.last() {
            Some(ProgressEvent::RunFinished { status, counts, .. }) => {
                assert_eq!(*status, summary.status);
                assert_eq!(*counts, summary.counts());
            }
            other => panic!("{backend}: last event {other:?}"),
        }

        let mut pages: BTreeMap<&str, Vec<(u64, u64, u64)>> = BTreeMap::new();
        let mut writes: BTreeMap<&str, Vec<(u64, u64, u64)>> = BTreeMap::new();
        let mut marks: BTreeMap<&str, chrono::DateTime<chrono::Utc>> = BTreeMap::new();
        let mut windows = Vec::new();
        for e in &events {
            match e {
                ProgressEvent::PageFetched {
                    entity,
                    page,
                    records,
                    records_read,
                } => pages
                    .entry(entity)
                    .or_default()
                    .push((*page, *records, *records_read)),
                ProgressEvent::RecordsWritten {
                    entity,
                    page,
                    written,
                    written_total,
                    ..
                } => writes
                    .entry(entity)
                    .or_default()
                    .push((*page, *written, *written_total)),
                ProgressEvent::MarkAdvanced { entity, mark } => {
                    assert!(marks.insert(entity, *mark).is_none(), "{entity} mark twice");
                }
                ProgressEvent::WindowFinished { window } => windows.push(window.clone()),
                _ => {}
            }
        }
        assert_eq!(windows, summary.entities, "{backend}");
        let mut several_pages = false;
        for w in &summary.entities {
            let entity = w.entity.as_str();
            if entity == "Vendor" {
                assert!(w.error.is_some(), "{backend}: {w:?}");
                assert!(!marks.contains_key(entity), "{backend}: no mark on failure");
                assert!(!writes.contains_key(entity), "{backend}");
                continue;
            }
            let p = &pages[entity];
            let wr = &writes[entity];
            assert_eq!(p.len() as u64, w.pages, "{backend} {entity}");
            several_pages |= p.len() > 1;
            // Page numbers count from 1; the running counts add the pages up.
            let mut total = 0;
            for (i, (page, records, read)) in p.iter().enumerate() {
                assert_eq!(*page, i as u64 + 1, "{backend} {entity}");
                total += records;
                assert_eq!(*read, total, "{backend} {entity}: running count");
            }
            assert_eq!(total, w.records_read, "{backend} {entity}");
            let mut total = 0;
            for (i, (page, written, written_total)) in wr.iter().enumerate() {
                assert_eq!(*page, i as u64 + 1, "{backend} {entity}");
                total += written;
                assert_eq!(*written_total, total, "{backend} {entity}: running count");
            }
            // What was reported written is what the warehouse holds, and what the fake has.
            let spec = TableSpec::builtin(entity).unwrap();
            assert_eq!(total, w.written, "{backend} {entity}");
            assert_eq!(
                warehouse.count(&spec).await.unwrap(),
                total,
                "{backend} {entity}"
            );
            assert_eq!(
                total,
                env.acu.state().count(entity) as u64,
                "{backend} {entity}"
            );
            let stored = store.watermark("warehouse", entity).await.unwrap().unwrap();
            assert_eq!(
                chrono::DateTime::parse_from_rfc3339(&stored.value).unwrap(),
                marks[entity],
                "{backend} {entity}: the reported mark is the stored one"
            );
            assert_eq!(marks[entity], w.signpost);
        }
        assert!(several_pages, "{backend}: some entity needs several pages");
        env.shutdown().await;
    }
}
