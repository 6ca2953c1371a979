//! The shared state-store suite against SQLite, plus SQLite-specific checks.

mod store_suite;

use std::sync::Arc;
use std::time::Duration;

use sync_core::schedule::ManualClock;
use sync_core::store::{Intent, IntentStatus, Outcome, SqliteStore, StateStore};

async fn sqlite() -> (SqliteStore, ManualClock, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let clock = store_suite::clock();
    let store = SqliteStore::builder(dir.path().join("state.db"))
        .clock(Arc::new(clock.clone()))
        .build()
        .await
        .unwrap();
    (store, clock, dir)
}

async fn make() -> Option<(Arc<dyn StateStore>, ManualClock, tempfile::TempDir)> {
    let (store, clock, dir) = sqlite().await;
    Some((Arc::new(store), clock, dir))
}

store_suite_tests!(make);

#[tokio::test]
async fn file_is_switched_to_wal() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("s.db")).await.unwrap();
    // WAL is a property of the file: a fresh connection sees what the store set.
    let mut conn = external(&store).await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

async fn external(store: &SqliteStore) -> sqlx::SqliteConnection {
    use sqlx::ConnectOptions as _;
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(store.path())
        .connect()
        .await
        .unwrap()
}

/// Writers use `BEGIN IMMEDIATE` and the busy timeout: while another process holds the write
/// lock, a store write waits for it instead of failing.
#[tokio::test]
async fn writers_wait_for_the_lock_within_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::builder(dir.path().join("s.db"))
        .busy_timeout(Duration::from_secs(20))
        .build()
        .await
        .unwrap();
    let mut other = external(&store).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let waiting = {
        let store = store.clone();
        tokio::spawn(async move { store.acquire_lease("f", "a", store_suite::TTL).await })
    };
    // Give the store's writer time to hit the lock; it must still be waiting, not failed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the writer should wait for the lock"
    );
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    let lease = waiting
        .await
        .unwrap()
        .unwrap()
        .expect("granted once the lock is free");
    assert_eq!(lease.fence, 1);
}

/// With a tiny busy timeout the same situation fails fast, and the error says to retry.
#[tokio::test]
async fn a_locked_database_is_a_retryable_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::builder(dir.path().join("s.db"))
        .busy_timeout(Duration::from_millis(1))
        .build()
        .await
        .unwrap();
    let mut other = external(&store).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let err = store
        .acquire_lease("f", "a", store_suite::TTL)
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(err.to_string().contains("acquire_lease"), "{err}");
    assert!(err.to_string().contains("retry later"), "{err}");
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    assert!(
        store
            .acquire_lease("f", "a", store_suite::TTL)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn state_survives_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let clock = store_suite::clock();
    let store = SqliteStore::builder(&path)
        .clock(Arc::new(clock.clone()))
        .build()
        .await
        .unwrap();
    let lease = store
        .acquire_lease("f", "a", store_suite::TTL)
        .await
        .unwrap()
        .unwrap();
    let intent = Intent {
        natural_key: "k".into(),
        partition: "p".into(),
        payload_hash: "h".into(),
        run_id: None,
    };
    store.record_intent(&lease, &intent).await.unwrap();
    store.close().await;

    // A restart (same owner) finds the pending intent, and reconciles it before anything else.
    let store = SqliteStore::builder(&path)
        .clock(Arc::new(clock.clone()))
        .build()
        .await
        .unwrap();
    let pending = store.pending_intents("f").await.unwrap();
    assert_eq!(pending.len(), 1);
    let lease2 = store
        .acquire_lease("f", "a", store_suite::TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lease2.fence, lease.fence + 1);
    assert!(matches!(
        store.record_intent(&lease2, &intent).await.unwrap(),
        IntentStatus::Pending(_)
    ));
    store
        .record_outcome(
            &lease2,
            "k",
            &Outcome::Posted {
                batch_number: "GL1".into(),
                entity_id: None,
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn concurrent_acquirers_get_one_lease() {
    let (store, _clock, _dir) = sqlite().await;
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .acquire_lease("contended", &format!("r{i}"), store_suite::TTL)
                .await
                .unwrap()
        }));
    }
    let mut granted = Vec::new();
    for t in tasks {
        if let Some(lease) = t.await.unwrap() {
            granted.push(lease);
        }
    }
    assert_eq!(granted.len(), 1, "{granted:?}");
    assert_eq!(granted[0].fence, 1);
}

#[tokio::test]
async fn settings_out_of_range_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let err = SqliteStore::builder(dir.path().join("s.db"))
        .busy_timeout(Duration::from_secs(40 * 24 * 3600))
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("busy_timeout"), "{err}");
    let err = SqliteStore::builder(dir.path().join("s.db"))
        .max_connections(0)
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("max_connections"), "{err}");
}

#[tokio::test]
async fn open_store_picks_the_backend_from_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("by-url.db");
    let store = sync_core::store::open_store(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert!(format!("{store:?}").contains("SqliteStore"), "{store:?}");
    assert!(path.exists());
    let err = sync_core::store::open_store("mysql://db/x")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("\"mysql\""), "{err}");
    assert!(sync_core::store::open_store("  ").await.is_err());
}

#[tokio::test]
async fn open_reports_an_unusable_path() {
    let err = SqliteStore::open("/proc/definitely/not/here/state.db")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("could not open the sqlite state store"),
        "{text}"
    );
    assert!(
        text.contains("/proc/definitely/not/here/state.db"),
        "{text}"
    );
}
