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

/// A store whose (test) clock reads `skew` away from the real time and is never advanced.
async fn skewed_store(url: &str, schema: &str, skew: chrono::Duration) -> PostgresStore {
    let clock = ManualClock::new(chrono::Utc::now() + skew);
    store_in(url, schema, &clock).await
}

/// Replicas whose clocks disagree by hours still agree on who holds a lease: expiry is the
/// database's clock, never a replica's. (Before: a replica an hour behind granted itself a
/// lease that the others judged expired at once, and a second replica took it too.)
#[tokio::test]
async fn skewed_replica_clocks_cannot_both_hold_the_lease() {
    let Some(url) = url() else { return };
    let schema = fresh_schema();
    let behind = skewed_store(&url, &schema, chrono::Duration::hours(-1)).await;
    let ahead = skewed_store(&url, &schema, chrono::Duration::hours(2)).await;
    let db_now = ahead.now().await.unwrap();
    let a = behind
        .acquire_lease("gl-alloc", "replica-behind", store_suite::TTL)
        .await
        .unwrap()
        .unwrap();
    let ttl = chrono::Duration::seconds(30);
    let gap = (a.expires_at - (db_now + ttl)).num_seconds().abs();
    assert!(
        gap < 60,
        "expiry {} is set by the database clock ({db_now} + 30 s)",
        a.expires_at
    );
    assert!(
        ahead
            .acquire_lease("gl-alloc", "replica-ahead", store_suite::TTL)
            .await
            .unwrap()
            .is_none(),
        "the replica two hours ahead must not judge the lease expired"
    );
    behind.check_lease(&a).await.unwrap();
    let a = behind.renew_lease(&a, store_suite::TTL).await.unwrap();
    behind.start_run(&a).await.unwrap();
}

/// A lease runs out when the database's clock says so, whatever the holder's clock says.
/// (Before: a holder whose clock lagged kept writing long after everyone else judged its
/// lease expired.)
#[tokio::test]
async fn a_lease_expires_by_the_database_clock() {
    let Some(url) = url() else { return };
    let schema = fresh_schema();
    let lagging = skewed_store(&url, &schema, chrono::Duration::hours(-1)).await;
    let other = skewed_store(&url, &schema, chrono::Duration::zero()).await;
    let a = lagging
        .acquire_lease("f", "lagging", std::time::Duration::from_secs(1))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let err = lagging.check_lease(&a).await.unwrap_err();
    assert!(matches!(err, StoreError::LeaseExpired { .. }), "{err:?}");
    assert!(lagging.start_run(&a).await.unwrap_err().is_fenced());
    let b = other
        .acquire_lease("f", "other", store_suite::TTL)
        .await
        .unwrap()
        .expect("expired by the database's clock");
    assert!(b.fence > a.fence);
}

/// A stalled session holding the lease row (here a raw connection with `SELECT ... FOR
/// UPDATE` in an open transaction) makes the store's lease operations fail after the lock
/// timeout with an error that says what happened, instead of blocking until TCP gives up.
#[tokio::test]
async fn a_stalled_session_holding_the_lease_row_times_out_with_a_clear_error() {
    use sqlx::Connection as _;
    let Some(url) = url() else { return };
    let schema = fresh_schema();
    let store = PostgresStore::builder(&url)
        .schema(&schema)
        .max_connections(4)
        .lock_timeout(std::time::Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    let lease = store
        .acquire_lease("gl-alloc", "replica-a", store_suite::TTL)
        .await
        .unwrap()
        .unwrap();
    let mut stalled = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut tx = stalled.begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT * FROM \"{schema}\".leases WHERE flow = 'gl-alloc' FOR UPDATE"
    )))
    .execute(&mut *tx)
    .await
    .unwrap();

    // Bounded so that a store without a lock timeout fails this test instead of hanging it.
    const BOUND: std::time::Duration = std::time::Duration::from_secs(30);
    let errors = vec![
        (
            "acquire_lease",
            tokio::time::timeout(
                BOUND,
                store.acquire_lease("gl-alloc", "replica-b", store_suite::TTL),
            )
            .await
            .expect("acquire blocked behind the stalled session")
            .unwrap_err(),
        ),
        (
            "renew_lease",
            tokio::time::timeout(BOUND, store.renew_lease(&lease, store_suite::TTL))
                .await
                .expect("renew blocked behind the stalled session")
                .unwrap_err(),
        ),
        (
            "record_intent",
            tokio::time::timeout(
                BOUND,
                store.record_intent(
                    &lease,
                    &sync_core::store::Intent {
                        natural_key: "k".into(),
                        partition: "p".into(),
                        payload_hash: "h".into(),
                        run_id: None,
                    },
                ),
            )
            .await
            .expect("record_intent blocked behind the stalled session")
            .unwrap_err(),
        ),
    ];
    for (op, err) in errors {
        assert!(
            matches!(&err, StoreError::Timeout { operation, flow, lock: true, .. } if *operation == op && flow == "gl-alloc"),
            "{op}: {err:?}"
        );
        assert!(err.is_retryable() && err.is_timeout());
        let text = err.to_string();
        for needle in [
            op,
            "`gl-alloc`",
            "lock timeout",
            "another database session",
            "pg_stat_activity",
        ] {
            assert!(text.contains(needle), "{op}: {needle:?} missing in {text}");
        }
    }
    tx.rollback().await.unwrap();
    // Once the stalled session is gone, everything works again.
    store.renew_lease(&lease, store_suite::TTL).await.unwrap();
}
