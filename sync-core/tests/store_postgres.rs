//! The shared state-store suite against PostgreSQL (skipped without
//! `ML_CONNECTOR_TEST_POSTGRES_URL`), plus the two-replica lease test.

mod store_suite;

use std::sync::Arc;

use sync_core::schedule::ManualClock;
use sync_core::store::{PostgresStore, StateStore, StoreError};

const URL_VAR: &str = "ML_CONNECTOR_TEST_POSTGRES_URL";

fn url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            println!("skipped: {URL_VAR} not set");
            None
        }
    }
}

/// A fresh schema per test, so parallel tests and reruns never see each other's rows.
fn fresh_schema() -> String {
    format!("t_{}", uuid::Uuid::new_v4().simple())
}

async fn store_in(url: &str, schema: &str, clock: &ManualClock) -> PostgresStore {
    PostgresStore::builder(url)
        .schema(schema)
        .max_connections(4)
        .clock(Arc::new(clock.clone()))
        .build()
        .await
        .unwrap()
}

async fn make() -> Option<(Arc<dyn StateStore>, ManualClock, ())> {
    let url = url()?;
    let clock = store_suite::clock();
    let store = store_in(&url, &fresh_schema(), &clock).await;
    Some((Arc::new(store), clock, ()))
}

store_suite_tests!(make);

#[tokio::test]
async fn two_replicas_share_one_lease() {
    let Some(url) = url() else { return };
    let clock = store_suite::clock();
    let schema = fresh_schema();
    let replica_a = store_in(&url, &schema, &clock).await;
    let replica_b = store_in(&url, &schema, &clock).await;

    let a = replica_a
        .acquire_lease("gl-alloc", "replica-a", store_suite::TTL)
        .await
        .unwrap()
        .unwrap();
    assert!(
        replica_b
            .acquire_lease("gl-alloc", "replica-b", store_suite::TTL)
            .await
            .unwrap()
            .is_none()
    );
    replica_a
        .set_watermark(&a, "202601", None, "row-100")
        .await
        .unwrap();

    // Replica A stalls past its TTL; B takes over with a higher fence.
    clock.advance(store_suite::TTL + std::time::Duration::from_secs(1));
    let b = replica_b
        .acquire_lease("gl-alloc", "replica-b", store_suite::TTL)
        .await
        .unwrap()
        .unwrap();
    assert!(b.fence > a.fence);
    assert!(
        replica_a
            .acquire_lease("gl-alloc", "replica-a", store_suite::TTL)
            .await
            .unwrap()
            .is_none()
    );

    // A wakes up and tries to write: refused, and the mark is untouched.
    let err = replica_a
        .set_watermark(&a, "202601", Some("row-100"), "row-200")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::LeaseSuperseded { current_fence, current_owner, .. } if *current_fence == b.fence && current_owner == "replica-b"),
        "{err:?}"
    );
    assert!(replica_a.start_run(&a).await.unwrap_err().is_fenced());
    replica_b
        .set_watermark(&b, "202601", Some("row-100"), "row-150")
        .await
        .unwrap();
    assert_eq!(
        replica_a
            .watermark("gl-alloc", "202601")
            .await
            .unwrap()
            .unwrap()
            .value,
        "row-150"
    );
}

#[tokio::test]
async fn concurrent_acquirers_across_replicas_get_one_lease() {
    let Some(url) = url() else { return };
    let clock = store_suite::clock();
    let schema = fresh_schema();
    let a = Arc::new(store_in(&url, &schema, &clock).await);
    let b = Arc::new(store_in(&url, &schema, &clock).await);
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            store
                .acquire_lease("contended", &format!("r{i}"), store_suite::TTL)
                .await
                .unwrap()
        }));
    }
    let mut granted = Vec::new();
    for t in tasks {
        granted.extend(t.await.unwrap());
    }
    assert_eq!(granted.len(), 1, "{granted:?}");
}

#[tokio::test]
async fn bad_urls_and_schemas_are_named_without_secrets() {
    let err = PostgresStore::builder("postgres://u:pa55word@127.0.0.1:1/db")
        .schema("bad-schema; DROP TABLE x")
        .build()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("schema name"), "{text}");
    assert!(!text.contains("pa55word"), "{text}");

    let err = PostgresStore::connect("postgres://u:pa55word@127.0.0.1:1/db")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("could not open the postgres state store (127.0.0.1:1/db)"),
        "{text}"
    );
    assert!(!text.contains("pa55word"), "{text}");
    assert!(!format!("{err:?}").contains("pa55word"));
}
