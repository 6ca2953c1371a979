//! End to end: Acumatica fake → feed flow → warehouse, on both state-store backends.
#![cfg(feature = "flows")]

mod flow_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use flow_support::{Env, stores};
use serde_json::Value;
use sync_core::feed::{AcumaticaChanges, FeedConfig, FeedFlow, FeedOptions};
use sync_core::store::RunStatus;
use sync_core::warehouse::{
    SqliteWarehouse, TableSpec, UpsertSummary, WarehouseError, WarehouseRecord, WarehouseSink,
};
use testkit::acumatica::MidListingMutation;
use testkit::looker::LookerConfig;

const ENTITIES: &[&str] = &["Vendor", "Bill", "Check", "JournalTransaction", "Account"];

fn config(entities: &[&str]) -> FeedConfig {
    let list = entities
        .iter()
        .map(|e| format!("{{ entity = \"{e}\" }}"))
        .collect::<Vec<_>>()
        .join(", ");
    FeedConfig::from_toml_str(&format!(
        "name = \"warehouse\"\nentities = [{list}]\n[options]\npage_size = 25\nlag_secs = 0\n"
    ))
    .unwrap()
}

fn value<'a>(doc: &'a Value, field: &str) -> &'a Value {
    &doc[field]["value"]
}

/// The warehouse holds exactly the fake's records of `entity`: same ids, same modification
/// times and descriptions, same detail lines.
async fn assert_equal(env: &Env, warehouse: &dyn WarehouseSink, entity: &str) {
    let spec = TableSpec::builtin(entity).unwrap();
    let docs = env.acu.state().documents(entity);
    assert_eq!(
        warehouse.count(&spec).await.unwrap(),
        docs.len() as u64,
        "{entity}: warehouse count"
    );
    for doc in &docs {
        let id = doc["id"].as_str().unwrap();
        let raw = warehouse
            .raw_record(&spec, id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{entity} {id} missing from the warehouse"));
        for field in ["LastModifiedDateTime", "Description"] {
            assert_eq!(
                value(&raw, field),
                value(doc, field),
                "{entity} {id} {field}"
            );
        }
        if let Some(details) = spec.details.as_ref().map(|d| d.source.as_str()) {
            let n = |v: &Value| v[details].as_array().map_or(0, Vec::len);
            assert_eq!(n(&raw), n(doc), "{entity} {id} detail lines");
        }
    }
}

/// Waits until the wall clock is past the newest `LastModifiedDateTime` of `entity`: the fake
/// stamps each write strictly after the previous one, so a burst of writes runs its clock a few
/// milliseconds ahead, and a run started (with `lag_secs = 0`) before that would rightly leave
/// those records to the next run.
async fn settle(env: &Env, entity: &str) {
    let newest = env
        .acu
        .state()
        .documents(entity)
        .iter()
        .filter_map(|d| value(d, "LastModifiedDateTime").as_str().map(str::to_owned))
        .filter_map(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .max();
    if let Some(newest) = newest {
        while chrono::Utc::now() <= newest {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}

#[tokio::test]
async fn every_entity_lands_in_the_warehouse_and_a_rerun_reads_only_the_overlap() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(LookerConfig::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let warehouse: Arc<dyn WarehouseSink> = Arc::new(
            SqliteWarehouse::open(dir.path().join("w.db"))
                .await
                .unwrap(),
        );
        let flow = FeedFlow::from_config(
            &config(ENTITIES),
            env.acumatica.clone(),
            warehouse.clone(),
            store.clone(),
        )
        .unwrap();
        let first = flow.run().await.unwrap();
        assert_eq!(first.status, RunStatus::Succeeded, "{backend}: {first}");
        for entity in ENTITIES {
            assert_equal(&env, warehouse.as_ref(), entity).await;
            let w = first.entities.iter().find(|w| w.entity == *entity).unwrap();
            assert!(w.mark_advanced && w.since.is_none(), "{backend}: {w:?}");
            let mark = store.watermark("warehouse", entity).await.unwrap().unwrap();
            assert_eq!(
                chrono::DateTime::parse_from_rfc3339(&mark.value).unwrap(),
                w.signpost
            );
        }
        let bills = first.entities.iter().find(|w| w.entity == "Bill").unwrap();
        assert!(bills.detail_lines > 0, "{backend}: bill lines are kept");

        // The seed was modified long before the signpost: the next window is empty.
        let second = flow.run().await.unwrap();
        for w in &second.entities {
            assert!(w.since.is_some(), "{backend}: {w:?}");
            assert_eq!(w.records_read, 0, "{backend}: {w:?}");
        }
        let runs = store.recent_runs("warehouse", 2).await.unwrap();
        assert_eq!(runs[1].counts.written, first.counts().written);
        env.shutdown().await;
    }
}

#[tokio::test]
async fn records_modified_while_the_window_pages_end_up_exactly_equal() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(LookerConfig::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let warehouse: Arc<dyn WarehouseSink> = Arc::new(
            SqliteWarehouse::open(dir.path().join("w.db"))
                .await
                .unwrap(),
        );
        let flow = FeedFlow::from_config(
            &config(&["JournalTransaction"]),
            env.acumatica.clone(),
            warehouse.clone(),
            store.clone(),
        )
        .unwrap();
        flow.run().await.unwrap();
        let total = env.acu.state().count("JournalTransaction");
        assert!(total > 50, "{total}");
        let before: Vec<String> = env
            .acu
            .state()
            .documents("JournalTransaction")
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect();

        // Every record changes, so the next window holds all of them; while it is paged, the
        // first records (already read) change again and new ones are inserted.
        let all = MidListingMutation {
            entity: "JournalTransaction".into(),
            after_list_requests: 1,
            insert: 0,
            touch: total,
        };
        env.acu.state().mutate_now(&all).unwrap();
        settle(&env, "JournalTransaction").await;
        env.acu
            .state()
            .mutate_mid_listing(MidListingMutation {
                entity: "JournalTransaction".into(),
                after_list_requests: 1,
                insert: 3,
                touch: 10,
            })
            .unwrap();
        let second = flow.run().await.unwrap();
        let w = &second.entities[0];
        assert!(w.pages >= 3, "{backend}: {w:?}");
        // Nothing was skipped: every record whose current version is older than the signpost
        // (all but the ones changed again while the window was read) is current already.
        let spec = TableSpec::journal_transaction();
        let mut current = 0;
        for doc in env.acu.state().documents("JournalTransaction") {
            let stamp = value(&doc, "LastModifiedDateTime").as_str().unwrap();
            let stamp = chrono::DateTime::parse_from_rfc3339(stamp).unwrap();
            if stamp >= w.signpost {
                continue;
            }
            current += 1;
            let id = doc["id"].as_str().unwrap();
            let raw = warehouse.raw_record(&spec, id).await.unwrap();
            let raw = raw.unwrap_or_else(|| panic!("{backend}: {id} was skipped by the window"));
            assert_eq!(
                value(&raw, "Description"),
                value(&doc, "Description"),
                "{backend}: {id} is not current"
            );
        }
        assert!(current + 13 >= total, "{backend}: {current} of {total}");
        assert!(warehouse.count(&spec).await.unwrap() >= before.len() as u64);

        // The next run picks up what changed during the window.
        let third = flow.run().await.unwrap();
        assert_eq!(third.status, RunStatus::Succeeded, "{backend}: {third}");
        assert_equal(&env, warehouse.as_ref(), "JournalTransaction").await;
        env.shutdown().await;
    }
}

/// A warehouse that fails its `n`th upsert, like a process killed mid-window.
#[derive(Debug)]
struct FailingWarehouse {
    inner: Arc<dyn WarehouseSink>,
    calls: AtomicUsize,
    fail_at: usize,
}

#[async_trait]
impl WarehouseSink for FailingWarehouse {
    async fn ensure_tables(&self, spec: &TableSpec) -> Result<(), WarehouseError> {
        self.inner.ensure_tables(spec).await
    }
    async fn upsert(
        &self,
        spec: &TableSpec,
        records: &[WarehouseRecord],
    ) -> Result<UpsertSummary, WarehouseError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) + 1 == self.fail_at {
            return Err(WarehouseError::Database {
                operation: "upsert",
                table: spec.table.clone(),
                source: "simulated crash".into(),
            });
        }
        self.inner.upsert(spec, records).await
    }
    async fn raw_record(
        &self,
        spec: &TableSpec,
        id: &str,
    ) -> Result<Option<Value>, WarehouseError> {
        self.inner.raw_record(spec, id).await
    }
    async fn count(&self, spec: &TableSpec) -> Result<u64, WarehouseError> {
        self.inner.count(spec).await
    }
}

#[tokio::test]
async fn a_window_broken_off_midway_loses_nothing_and_duplicates_nothing() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(LookerConfig::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let real: Arc<dyn WarehouseSink> = Arc::new(
            SqliteWarehouse::open(dir.path().join("w.db"))
                .await
                .unwrap(),
        );
        let failing = Arc::new(FailingWarehouse {
            inner: real.clone(),
            calls: AtomicUsize::new(0),
            fail_at: 2,
        });
        let source = || {
            AcumaticaChanges::new(env.acumatica.clone(), "JournalTransaction")
                .expand(["Details"])
                .page_size(25)
        };
        let broken = FeedFlow::builder("warehouse")
            .entity(TableSpec::journal_transaction(), source())
            .warehouse(failing)
            .store(store.clone())
            .options(FeedOptions {
                page_size: 25,
                ..Default::default()
            })
            .build()
            .unwrap();
        let summary = broken.run().await.unwrap();
        assert_eq!(
            summary.status,
            RunStatus::CompletedWithErrors,
            "{backend}: {summary}"
        );
        let w = &summary.entities[0];
        assert!(
            !w.mark_advanced && w.error.as_deref().unwrap().contains("simulated crash"),
            "{w:?}"
        );
        assert!(
            store
                .watermark("warehouse", "JournalTransaction")
                .await
                .unwrap()
                .is_none()
        );
        // The first slice was written, the rest not.
        let written = real.count(&TableSpec::journal_transaction()).await.unwrap();
        let total = env.acu.state().count("JournalTransaction") as u64;
        assert!(
            written > 0 && written < total,
            "{backend}: {written} of {total}"
        );

        let flow = FeedFlow::builder("warehouse")
            .entity(TableSpec::journal_transaction(), source())
            .warehouse(real.clone())
            .store(store.clone())
            .options(FeedOptions {
                page_size: 25,
                ..Default::default()
            })
            .build()
            .unwrap();
        let again = flow.run().await.unwrap();
        assert_eq!(again.status, RunStatus::Succeeded, "{backend}: {again}");
        assert!(again.entities[0].mark_advanced);
        assert_equal(&env, real.as_ref(), "JournalTransaction").await;
        env.shutdown().await;
    }
}

#[tokio::test]
async fn a_second_replica_cannot_run_the_feed_while_the_first_holds_it() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(LookerConfig::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let warehouse: Arc<dyn WarehouseSink> = Arc::new(
            SqliteWarehouse::open(dir.path().join("w.db"))
                .await
                .unwrap(),
        );
        let lease = store
            .acquire_lease("warehouse", "replica-a", std::time::Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap();
        let flow = FeedFlow::builder("warehouse")
            .entity(
                TableSpec::vendor(),
                AcumaticaChanges::new(env.acumatica.clone(), "Vendor"),
            )
            .warehouse(warehouse)
            .store(store.clone())
            .owner("replica-b")
            .build()
            .unwrap();
        let err = flow.run().await.unwrap_err();
        assert!(err.is_busy(), "{backend}: {err}");
        store.release_lease(&lease).await.unwrap();
        assert_eq!(flow.run().await.unwrap().status, RunStatus::Succeeded);
        env.shutdown().await;
    }
}
