//! The behaviour every `StateStore` backend must show, written once and run against each
//! backend by `store_sqlite.rs` and `store_postgres.rs` (through [`store_suite_tests!`]).

#![allow(dead_code)]

use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::json;
use sync_core::schedule::ManualClock;
use sync_core::store::{
    AuditEvent, AuditStage, Intent, IntentStatus, LeaseHolder, LedgerFilter, LedgerState,
    NewDeadLetter, Outcome, ProcessIdentity, RunCounts, RunId, RunStatus, StateStore, StoreError,
};

pub const TTL: Duration = Duration::from_secs(30);

pub fn clock() -> ManualClock {
    ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 31, 22, 0, 0).unwrap())
}

fn intent(key: &str, partition: &str, hash: &str) -> Intent {
    Intent {
        natural_key: key.to_owned(),
        partition: partition.to_owned(),
        payload_hash: hash.to_owned(),
        run_id: None,
    }
}

/// One replica holds the lease; the other gets it only after expiry or release, always with a
/// higher fence; the loser's writes are refused with errors that say what happened.
pub async fn leases_are_exclusive_and_fenced(store: &dyn StateStore, clock: &ManualClock) {
    let before = store.now().await.unwrap();
    let a = store
        .acquire_lease("gl-alloc", "replica-a", TTL)
        .await
        .unwrap()
        .expect("free lease is granted");
    let after = store.now().await.unwrap();
    assert_eq!(a.fence, 1);
    assert_eq!(a.owner, "replica-a");
    // The store's clock (the database's on PostgreSQL) sets the expiry.
    let ttl = chrono::Duration::seconds(30);
    assert!(
        before + ttl <= a.expires_at && a.expires_at <= after + ttl,
        "{before} <= {} - 30 s <= {after}",
        a.expires_at
    );
    assert!(
        store
            .acquire_lease("gl-alloc", "replica-b", TTL)
            .await
            .unwrap()
            .is_none()
    );
    // Other flows are independent.
    let other = store
        .acquire_lease("warehouse", "replica-b", TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other.fence, 1);

    clock.advance(Duration::from_secs(20));
    let a = store.renew_lease(&a, TTL).await.unwrap();
    assert_eq!(a.fence, 1);
    clock.advance(Duration::from_secs(20)); // 40 s after grant, 20 s after renewal: still held
    store.check_lease(&a).await.unwrap();
    assert!(
        store
            .acquire_lease("gl-alloc", "replica-b", TTL)
            .await
            .unwrap()
            .is_none()
    );

    clock.advance(Duration::from_secs(11)); // renewal + 31 s: expired
    let err = store.set_watermark(&a, "", None, "x").await.unwrap_err();
    assert!(
        matches!(err, StoreError::LeaseExpired { fence: 1, .. }),
        "{err:?}"
    );
    assert!(err.is_fenced());
    assert!(err.to_string().contains("expired"), "{err}");
    let err = store.renew_lease(&a, TTL).await.unwrap_err();
    assert!(
        err.is_fenced(),
        "an expired lease cannot be renewed: {err:?}"
    );

    let b = store
        .acquire_lease("gl-alloc", "replica-b", TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.fence, 2);
    let err = store.set_watermark(&a, "", None, "x").await.unwrap_err();
    match &err {
        StoreError::LeaseSuperseded {
            fence,
            current_fence,
            current_owner,
            ..
        } => {
            assert_eq!(
                (*fence, *current_fence, current_owner.as_str()),
                (1, 2, "replica-b")
            );
        }
        other => panic!("expected LeaseSuperseded, got {other:?}"),
    }
    assert!(err.to_string().contains("fence 2"), "{err}");
    assert!(err.to_string().contains("replica-b"), "{err}");
    // The stale holder's release must not free the new holder's lease.
    store.release_lease(&a).await.unwrap();
    store.check_lease(&b).await.unwrap();
    assert!(
        store
            .acquire_lease("gl-alloc", "replica-c", TTL)
            .await
            .unwrap()
            .is_none()
    );
    store
        .set_watermark(&b, "", None, "b-was-here")
        .await
        .unwrap();
    assert_eq!(
        store
            .watermark("gl-alloc", "")
            .await
            .unwrap()
            .unwrap()
            .value,
        "b-was-here"
    );

    // Release frees it at once, and the next grant has a higher fence.
    store.release_lease(&b).await.unwrap();
    let err = store.check_lease(&b).await.unwrap_err();
    assert!(matches!(err, StoreError::LeaseNotHeld { .. }), "{err:?}");
    let c = store
        .acquire_lease("gl-alloc", "replica-c", TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.fence, 3);
    // Re-acquiring by the same owner gives a new fence and stales the old handle.
    let c2 = store
        .acquire_lease("gl-alloc", "replica-c", TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c2.fence, 4);
    assert!(matches!(
        store.check_lease(&c).await.unwrap_err(),
        StoreError::LeaseSuperseded {
            current_fence: 4,
            ..
        }
    ));
    // A forged handle with a fence never granted is refused.
    let forged = sync_core::store::Lease {
        fence: 99,
        ..c2.clone()
    };
    assert!(store.check_lease(&forged).await.unwrap_err().is_fenced());

    // Bad arguments are named.
    let err = store.acquire_lease("", "x", TTL).await.unwrap_err();
    assert!(err.to_string().contains("flow name"), "{err}");
    let err = store
        .acquire_lease("f", "x", Duration::ZERO)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("TTL"), "{err}");
}

/// `current_lease` reports the holder (even after expiry, until someone else takes over or it
/// is released), never grants or changes anything, and says `None` for a free flow.
pub async fn current_lease_is_a_read_only_view(store: &dyn StateStore, clock: &ManualClock) {
    assert_eq!(store.current_lease("gl-alloc").await.unwrap(), None);
    let a = store
        .acquire_lease("gl-alloc", "replica-a", TTL)
        .await
        .unwrap()
        .unwrap();
    let seen = store.current_lease("gl-alloc").await.unwrap();
    assert_eq!(
        seen.as_ref(),
        Some(&a),
        "the holder, fence and expiry as granted"
    );
    assert!(!a.is_expired_at(store.now().await.unwrap()));
    // Other flows are not affected, and reading did not create a lease row for them.
    assert_eq!(store.current_lease("warehouse").await.unwrap(), None);
    let w = store
        .acquire_lease("warehouse", "replica-b", TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(w.fence, 1, "a read must not have used up a fence");

    // Renewal shows the new expiry.
    clock.advance(Duration::from_secs(10));
    let a = store.renew_lease(&a, TTL).await.unwrap();
    assert_eq!(
        store.current_lease("gl-alloc").await.unwrap().as_ref(),
        Some(&a)
    );

    // Past its expiry the lease is still reported (a replica that stopped renewing), marked
    // expired by its time; reading it does not revive it or block a takeover.
    clock.advance(Duration::from_secs(31));
    let stale = store.current_lease("gl-alloc").await.unwrap().unwrap();
    assert_eq!(stale, a);
    assert!(stale.is_expired_at(store.now().await.unwrap()));
    assert!(store.check_lease(&a).await.unwrap_err().is_fenced());
    let b = store
        .acquire_lease("gl-alloc", "replica-b", TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.fence, 2);
    let now_held = store.current_lease("gl-alloc").await.unwrap().unwrap();
    assert_eq!((now_held.owner.as_str(), now_held.fence), ("replica-b", 2));

    // Released: free again, although the fence history is kept for the next grant.
    store.release_lease(&b).await.unwrap();
    assert_eq!(store.current_lease("gl-alloc").await.unwrap(), None);
    let c = store
        .acquire_lease("gl-alloc", "replica-c", TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.fence, 3);
    assert_eq!(store.current_lease("gl-alloc").await.unwrap(), Some(c));
}

/// Marks move only by compare-and-set, per partition.
pub async fn watermarks_compare_and_set(store: &dyn StateStore, _clock: &ManualClock) {
    let lease = store
        .acquire_lease("vendors", "r", TTL)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .watermark("vendors", "Vendor")
            .await
            .unwrap()
            .is_none()
    );

    let err = store
        .set_watermark(
            &lease,
            "Vendor",
            Some("2026-01-01T00:00:00Z"),
            "2026-01-02T00:00:00Z",
        )
        .await
        .unwrap_err();
    match &err {
        StoreError::WatermarkConflict {
            expected, actual, ..
        } => {
            assert_eq!(expected.as_deref(), Some("2026-01-01T00:00:00Z"));
            assert_eq!(actual, &None);
        }
        other => panic!("expected conflict, got {other:?}"),
    }
    assert!(err.is_conflict());

    let m = store
        .set_watermark(&lease, "Vendor", None, "2026-01-01T00:00:00Z")
        .await
        .unwrap();
    assert_eq!(m.fence, lease.fence);
    let err = store
        .set_watermark(&lease, "Vendor", None, "2026-01-05T00:00:00Z")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::WatermarkConflict { actual: Some(a), .. } if a == "2026-01-01T00:00:00Z"),
        "{err:?}"
    );
    store
        .set_watermark(
            &lease,
            "Vendor",
            Some("2026-01-01T00:00:00Z"),
            "2026-01-02T00:00:00Z",
        )
        .await
        .unwrap();
    let read = store.watermark("vendors", "Vendor").await.unwrap().unwrap();
    assert_eq!(read.value, "2026-01-02T00:00:00Z");
    assert_eq!(read.partition, "Vendor");
    assert_eq!(read.updated_at, m.updated_at);
    // Partitions are independent.
    assert!(store.watermark("vendors", "Bill").await.unwrap().is_none());
    store
        .set_watermark(&lease, "Bill", None, "b1")
        .await
        .unwrap();
    assert_eq!(
        store
            .watermark("vendors", "Vendor")
            .await
            .unwrap()
            .unwrap()
            .value,
        "2026-01-02T00:00:00Z"
    );
    // A lease only writes its own flow's marks (the flow comes from the lease).
    assert!(store.watermark("other", "Bill").await.unwrap().is_none());
}

/// The intent/outcome protocol: every state of the ledger and the transitions between them.
pub async fn ledger_protocol(store: &dyn StateStore, clock: &ManualClock) {
    let lease = store
        .acquire_lease("alloc", "r", TTL)
        .await
        .unwrap()
        .unwrap();
    let run = store.start_run(&lease).await.unwrap();
    let mut first = intent("alloc|202601|aaa", "202601", "hash-1");
    first.run_id = Some(run.id.clone());

    let status = store.record_intent(&lease, &first).await.unwrap();
    let IntentStatus::New(entry) = &status else {
        panic!("expected New, got {status:?}")
    };
    assert_eq!(entry.state, LedgerState::Intended);
    assert_eq!(entry.attempts, 1);
    assert_eq!(entry.run_id.as_ref(), Some(&run.id));
    assert_eq!(
        store
            .ledger_entry("alloc", "alloc|202601|aaa")
            .await
            .unwrap()
            .as_ref(),
        Some(entry)
    );

    // A second intent before any outcome: an earlier attempt may have posted; reconcile first.
    clock.advance(Duration::from_secs(1));
    let status = store.record_intent(&lease, &first).await.unwrap();
    assert!(
        matches!(&status, IntentStatus::Pending(e) if e == entry),
        "{status:?}"
    );
    let pending = store.pending_intents("alloc").await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].natural_key, "alloc|202601|aaa");

    let posted = Outcome::Posted {
        batch_number: "GL000101".into(),
        entity_id: Some("6f1e-guid".into()),
    };
    let after = store
        .record_outcome(&lease, "alloc|202601|aaa", &posted)
        .await
        .unwrap();
    assert_eq!(after.state, LedgerState::Posted);
    assert_eq!(after.batch_number.as_deref(), Some("GL000101"));
    assert_eq!(after.entity_id.as_deref(), Some("6f1e-guid"));
    assert_eq!(after.outcome_at, Some(clock.now_for_tests()));
    assert_eq!(
        store
            .ledger_entry("alloc", "alloc|202601|aaa")
            .await
            .unwrap()
            .unwrap(),
        after
    );
    assert!(store.pending_intents("alloc").await.unwrap().is_empty());

    // Recording the same posting twice is harmless; a different one is refused.
    let again = store
        .record_outcome(&lease, "alloc|202601|aaa", &posted)
        .await
        .unwrap();
    assert_eq!(again, after);
    let err = store
        .record_outcome(
            &lease,
            "alloc|202601|aaa",
            &Outcome::Posted {
                batch_number: "GL000999".into(),
                entity_id: None,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidTransition { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("posted"), "{err}");

    // A posted key is settled: a changed document is visible by its hash, never reposted.
    let changed = intent("alloc|202601|aaa", "202601", "hash-2");
    let status = store.record_intent(&lease, &changed).await.unwrap();
    match &status {
        IntentStatus::Settled(e) => {
            assert_eq!(e.payload_hash, "hash-1");
            assert_eq!(e.state, LedgerState::Posted);
        }
        other => panic!("expected Settled, got {other:?}"),
    }
    assert_eq!(
        store
            .ledger_entry("alloc", "alloc|202601|aaa")
            .await
            .unwrap()
            .unwrap()
            .payload_hash,
        "hash-1"
    );

    // Failure, then a new intent re-arms the key.
    store
        .record_intent(&lease, &intent("alloc|202601|bbb", "202601", "h-b"))
        .await
        .unwrap();
    let failed = store
        .record_outcome(
            &lease,
            "alloc|202601|bbb",
            &Outcome::Failed {
                error: "422: account 999999 is inactive".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(failed.state, LedgerState::Failed);
    assert_eq!(
        failed.detail.as_deref(),
        Some("422: account 999999 is inactive")
    );
    let status = store
        .record_intent(&lease, &intent("alloc|202601|bbb", "202601", "h-b2"))
        .await
        .unwrap();
    match &status {
        IntentStatus::Rearmed { previous, entry } => {
            assert_eq!(**previous, failed);
            assert_eq!(entry.state, LedgerState::Intended);
            assert_eq!(entry.attempts, 2);
            assert_eq!(entry.payload_hash, "h-b2");
            assert_eq!(entry.detail, None);
        }
        other => panic!("expected Rearmed, got {other:?}"),
    }
    assert_eq!(
        store
            .ledger_entry("alloc", "alloc|202601|bbb")
            .await
            .unwrap()
            .as_ref(),
        Some(status.entry())
    );

    // Skipped is final.
    store
        .record_intent(&lease, &intent("alloc|202602|ccc", "202602", "h-c"))
        .await
        .unwrap();
    store
        .record_outcome(
            &lease,
            "alloc|202602|ccc",
            &Outcome::Skipped {
                reason: "policy: skip changed".into(),
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .record_intent(&lease, &intent("alloc|202602|ccc", "202602", "h-c"))
            .await
            .unwrap(),
        IntentStatus::Settled(_)
    ));
    let err = store
        .record_outcome(
            &lease,
            "alloc|202602|ccc",
            &Outcome::Failed { error: "x".into() },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidTransition { .. }),
        "{err:?}"
    );

    // Filters.
    let all = store
        .ledger_entries("alloc", &LedgerFilter::default())
        .await
        .unwrap();
    let keys: Vec<_> = all.iter().map(|e| e.natural_key.as_str()).collect();
    assert_eq!(
        keys,
        ["alloc|202601|aaa", "alloc|202601|bbb", "alloc|202602|ccc"]
    );
    let jan = store
        .ledger_entries(
            "alloc",
            &LedgerFilter {
                state: None,
                partition: Some("202601".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(jan.len(), 2);
    let intended = store.pending_intents("alloc").await.unwrap();
    assert_eq!(intended.len(), 1);
    assert_eq!(intended[0].natural_key, "alloc|202601|bbb");
    let skipped = store
        .ledger_entries(
            "alloc",
            &LedgerFilter {
                state: Some(LedgerState::Skipped),
                partition: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(skipped.len(), 1);
    assert!(
        store
            .ledger_entries("other-flow", &LedgerFilter::default())
            .await
            .unwrap()
            .is_empty()
    );

    // Unknown keys and bad input are named.
    let err = store
        .record_outcome(&lease, "nope", &posted)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("nope"), "{err}");
    let err = store
        .record_intent(&lease, &intent("", "p", "h"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("natural key"), "{err}");
}

/// Run history: start, finish once, list newest first.
/// A settled entry re-opened (its batch reversed, or a skip decided again) is re-armed by the
/// next intent; an intended one cannot be re-opened; every re-open is fenced.
pub async fn ledger_reopen(store: &dyn StateStore, clock: &ManualClock) {
    let lease = store
        .acquire_lease("alloc", "r", TTL)
        .await
        .unwrap()
        .unwrap();
    let posted = |batch: &str| Outcome::Posted {
        batch_number: batch.into(),
        entity_id: None,
    };
    store
        .record_intent(&lease, &intent("p-a", "202601", "a"))
        .await
        .unwrap();
    store
        .record_outcome(&lease, "p-a", &posted("000001"))
        .await
        .unwrap();
    let reopened = store
        .reopen_entry(&lease, "p-a", "batch 000001 reversed by batch 000002")
        .await
        .unwrap();
    assert_eq!(reopened.state, LedgerState::Posted);
    assert_eq!(
        reopened.reopened.as_deref(),
        Some("batch 000001 reversed by batch 000002")
    );
    assert!(!reopened.is_settled());
    assert_eq!(
        store.ledger_entry("alloc", "p-a").await.unwrap().as_ref(),
        Some(&reopened)
    );
    match store
        .record_intent(&lease, &intent("p-a", "202601", "a"))
        .await
        .unwrap()
    {
        IntentStatus::Rearmed { previous, entry } => {
            assert_eq!(*previous, reopened);
            assert_eq!(entry.state, LedgerState::Intended);
            assert_eq!(entry.reopened, None);
            assert_eq!(entry.batch_number, None);
            assert_eq!(entry.attempts, 2);
        }
        other => panic!("expected Rearmed, got {other:?}"),
    }
    // Intended: reconcile first.
    let err = store.reopen_entry(&lease, "p-a", "x").await.unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidTransition { .. }),
        "{err:?}"
    );
    let again = store
        .record_outcome(&lease, "p-a", &posted("000005"))
        .await
        .unwrap();
    assert!(again.is_settled());
    assert!(matches!(
        store
            .record_intent(&lease, &intent("p-a", "202601", "a"))
            .await
            .unwrap(),
        IntentStatus::Settled(_)
    ));

    // A skip re-opened is decided again.
    store
        .record_intent(&lease, &intent("p-b", "202601", "b"))
        .await
        .unwrap();
    store
        .record_outcome(
            &lease,
            "p-b",
            &Outcome::Skipped {
                reason: "changed".into(),
            },
        )
        .await
        .unwrap();
    store
        .reopen_entry(&lease, "p-b", "decided again")
        .await
        .unwrap();
    assert!(matches!(
        store
            .record_intent(&lease, &intent("p-b", "202601", "b"))
            .await
            .unwrap(),
        IntentStatus::Rearmed { .. }
    ));
    // Failed: unchanged (re-armed anyway). Unknown: named.
    store
        .record_outcome(&lease, "p-b", &Outcome::Failed { error: "e".into() })
        .await
        .unwrap();
    let failed = store.reopen_entry(&lease, "p-b", "x").await.unwrap();
    assert_eq!(failed.state, LedgerState::Failed);
    assert_eq!(failed.reopened, None);
    let err = store.reopen_entry(&lease, "nope", "x").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");

    // Fenced: a lease taken over cannot re-open.
    clock.advance(TTL * 2);
    let other = store
        .acquire_lease("alloc", "r2", TTL)
        .await
        .unwrap()
        .unwrap();
    let err = store.reopen_entry(&lease, "p-a", "x").await.unwrap_err();
    assert!(err.is_fenced(), "{err:?}");
    store.reopen_entry(&other, "p-a", "reversed").await.unwrap();
}

pub async fn run_history(store: &dyn StateStore, clock: &ManualClock) {
    let lease = store.acquire_lease("wh", "r", TTL).await.unwrap().unwrap();
    let first = store.start_run(&lease).await.unwrap();
    assert_eq!(first.status, RunStatus::Running);
    assert_eq!(store.run(&first.id).await.unwrap().as_ref(), Some(&first));
    clock.advance(Duration::from_secs(5));
    let counts = RunCounts {
        read: 120,
        mapped: 118,
        written: 117,
        skipped: 1,
        failed: 2,
        retries: 3,
    };
    let done = store
        .finish_run(
            &lease,
            &first.id,
            RunStatus::CompletedWithErrors,
            &counts,
            Some("2 documents failed"),
        )
        .await
        .unwrap();
    assert_eq!(done.counts, counts);
    assert_eq!(done.finished_at, Some(clock.now_for_tests()));
    assert_eq!(store.run(&first.id).await.unwrap().unwrap(), done);

    let err = store
        .finish_run(&lease, &first.id, RunStatus::Succeeded, &counts, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidTransition { .. }),
        "{err:?}"
    );
    let second = store.start_run(&lease).await.unwrap();
    let err = store
        .finish_run(&lease, &second.id, RunStatus::Running, &counts, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput { .. }), "{err:?}");
    let third = store.start_run(&lease).await.unwrap();

    let recent = store.recent_runs("wh", 2).await.unwrap();
    let ids: Vec<_> = recent.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids, [third.id.clone(), second.id.clone()]);
    assert_eq!(store.recent_runs("wh", 10).await.unwrap().len(), 3);

    // Another flow's lease cannot finish this run.
    let other = store
        .acquire_lease("other", "r", TTL)
        .await
        .unwrap()
        .unwrap();
    let err = store
        .finish_run(&other, &second.id, RunStatus::Succeeded, &counts, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert!(store.run(&RunId::new("missing")).await.unwrap().is_none());
}

/// The audit trail, queried by run and by document, with secrets redacted.
pub async fn audit_trail(store: &dyn StateStore, _clock: &ManualClock) {
    let lease = store
        .acquire_lease("alloc", "r", TTL)
        .await
        .unwrap()
        .unwrap();
    let run1 = store.start_run(&lease).await.unwrap();
    let run2 = store.start_run(&lease).await.unwrap();
    let event = |run: &RunId, key: Option<&str>, stage, outcome: &str, summary| AuditEvent {
        run_id: run.clone(),
        natural_key: key.map(str::to_owned),
        stage,
        outcome: outcome.to_owned(),
        summary,
    };
    let s1 = store
        .append_audit(
            &lease,
            &event(
                &run1.id,
                None,
                AuditStage::Read,
                "412 rows",
                json!({"query": "q-1", "rows": 412}),
            ),
        )
        .await
        .unwrap();
    let s2 = store
        .append_audit(
            &lease,
            &event(
                &run1.id,
                Some("k1"),
                AuditStage::Written,
                "created",
                json!({"request": {"method": "PUT", "headers": {"Authorization": "Bearer abc.def"}, "body": {"password": "hunter2"}}, "status": 200}),
            ),
        )
        .await
        .unwrap();
    let s3 = store
        .append_audit(
            &lease,
            &event(
                &run2.id,
                Some("k1"),
                AuditStage::Skipped,
                "already posted",
                json!({"batch": "GL1"}),
            ),
        )
        .await
        .unwrap();
    assert!(s1 < s2 && s2 < s3);

    let by_run = store.audit_for_run(&run1.id).await.unwrap();
    assert_eq!(by_run.len(), 2);
    assert_eq!(by_run[0].stage, AuditStage::Read);
    assert_eq!(by_run[0].summary, json!({"query": "q-1", "rows": 412}));
    assert_eq!(by_run[1].flow, "alloc");
    assert_eq!(
        by_run[1].summary,
        json!({"request": {"method": "PUT", "headers": {"Authorization": "[redacted]"}, "body": {"password": "[redacted]"}}, "status": 200})
    );
    let by_key = store.audit_for_key("alloc", "k1").await.unwrap();
    let stages: Vec<_> = by_key
        .iter()
        .map(|r| (r.seq, r.stage, r.run_id.clone()))
        .collect();
    assert_eq!(
        stages,
        [
            (s2, AuditStage::Written, run1.id.clone()),
            (s3, AuditStage::Skipped, run2.id.clone())
        ]
    );
    assert!(store.audit_for_key("other", "k1").await.unwrap().is_empty());

    // A page of events in one call: in order, after the earlier ones, redacted too.
    let page: Vec<_> = (0..3)
        .map(|i| {
            event(
                &run2.id,
                Some(&format!("p{i}")),
                AuditStage::Read,
                "row",
                json!({"row": i, "token": "t0k3n"}),
            )
        })
        .collect();
    let seqs = store.append_audit_many(&lease, &page).await.unwrap();
    assert_eq!(seqs.len(), 3);
    assert!(seqs[0] > s3 && seqs[0] < seqs[1] && seqs[1] < seqs[2]);
    let by_run = store.audit_for_run(&run2.id).await.unwrap();
    assert_eq!(by_run.len(), 4);
    assert_eq!(by_run[3].natural_key.as_deref(), Some("p2"));
    assert_eq!(by_run[3].summary, json!({"row": 2, "token": "[redacted]"}));
}

/// Dead letters: park, update while open, resolve, list.
pub async fn dead_letters(store: &dyn StateStore, clock: &ManualClock) {
    let lease = store
        .acquire_lease("alloc", "r", TTL)
        .await
        .unwrap()
        .unwrap();
    let run = store.start_run(&lease).await.unwrap();
    let letter = NewDeadLetter {
        run_id: Some(run.id.clone()),
        natural_key: "k9".into(),
        payload: json!({"doc": {"lines": 2}, "client_secret": "s3cr3t"}),
        error: "account 999999 inactive".into(),
    };
    let first = store.add_dead_letter(&lease, &letter).await.unwrap();
    assert_eq!(first.attempts, 1);
    assert_eq!(
        first.payload,
        json!({"doc": {"lines": 2}, "client_secret": "[redacted]"})
    );
    clock.advance(Duration::from_secs(10));
    let again = store
        .add_dead_letter(
            &lease,
            &NewDeadLetter {
                error: "still inactive".into(),
                ..letter.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(again.id, first.id, "one open dead letter per key");
    assert_eq!(again.attempts, 2);
    assert_eq!(again.error, "still inactive");
    assert_eq!(again.created_at, first.created_at);
    assert!(again.updated_at > first.updated_at);
    let other = store
        .add_dead_letter(
            &lease,
            &NewDeadLetter {
                natural_key: "k10".into(),
                ..letter.clone()
            },
        )
        .await
        .unwrap();

    let open = store.dead_letters("alloc", false).await.unwrap();
    assert_eq!(
        open.iter().map(|d| d.id).collect::<Vec<_>>(),
        [first.id, other.id]
    );
    let resolved = store
        .resolve_dead_letter(&lease, first.id, "replayed in run X")
        .await
        .unwrap();
    assert_eq!(resolved.resolution.as_deref(), Some("replayed in run X"));
    assert!(resolved.resolved_at.is_some());
    assert_eq!(store.dead_letters("alloc", false).await.unwrap().len(), 1);
    assert_eq!(store.dead_letters("alloc", true).await.unwrap().len(), 2);
    let err = store
        .resolve_dead_letter(&lease, first.id, "again")
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidTransition { .. }),
        "{err:?}"
    );
    let err = store
        .resolve_dead_letter(&lease, 424242, "x")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    // Once resolved, a new failure opens a new dead letter.
    let fresh = store.add_dead_letter(&lease, &letter).await.unwrap();
    assert_ne!(fresh.id, first.id);
    assert_eq!(fresh.attempts, 1);
}

/// Every write is refused once the lease is lost, and nothing is written.
pub async fn every_write_is_fenced(store: &dyn StateStore, clock: &ManualClock) {
    let old = store.acquire_lease("f", "old", TTL).await.unwrap().unwrap();
    let run = store.start_run(&old).await.unwrap();
    store
        .record_intent(&old, &intent("k", "p", "h"))
        .await
        .unwrap();
    let letter = store
        .add_dead_letter(
            &old,
            &NewDeadLetter {
                run_id: None,
                natural_key: "d".into(),
                payload: json!({}),
                error: "e".into(),
            },
        )
        .await
        .unwrap();
    clock.advance(TTL + Duration::from_secs(1));
    let new = store.acquire_lease("f", "new", TTL).await.unwrap().unwrap();
    assert!(new.fence > old.fence);

    let results: Vec<(&str, StoreError)> = vec![
        (
            "set_watermark",
            store.set_watermark(&old, "", None, "v").await.unwrap_err(),
        ),
        (
            "record_intent",
            store
                .record_intent(&old, &intent("k2", "p", "h"))
                .await
                .unwrap_err(),
        ),
        (
            "record_outcome",
            store
                .record_outcome(
                    &old,
                    "k",
                    &Outcome::Posted {
                        batch_number: "B".into(),
                        entity_id: None,
                    },
                )
                .await
                .unwrap_err(),
        ),
        ("start_run", store.start_run(&old).await.unwrap_err()),
        (
            "finish_run",
            store
                .finish_run(
                    &old,
                    &run.id,
                    RunStatus::Succeeded,
                    &RunCounts::default(),
                    None,
                )
                .await
                .unwrap_err(),
        ),
        (
            "append_audit",
            store
                .append_audit(
                    &old,
                    &AuditEvent {
                        run_id: run.id.clone(),
                        natural_key: None,
                        stage: AuditStage::Read,
                        outcome: "x".into(),
                        summary: json!({}),
                    },
                )
                .await
                .unwrap_err(),
        ),
        (
            "append_audit_many",
            store
                .append_audit_many(
                    &old,
                    &[AuditEvent {
                        run_id: run.id.clone(),
                        natural_key: None,
                        stage: AuditStage::Read,
                        outcome: "x".into(),
                        summary: json!({}),
                    }],
                )
                .await
                .unwrap_err(),
        ),
        (
            "add_dead_letter",
            store
                .add_dead_letter(
                    &old,
                    &NewDeadLetter {
                        run_id: None,
                        natural_key: "d2".into(),
                        payload: json!({}),
                        error: "e".into(),
                    },
                )
                .await
                .unwrap_err(),
        ),
        (
            "resolve_dead_letter",
            store
                .resolve_dead_letter(&old, letter.id, "x")
                .await
                .unwrap_err(),
        ),
    ];
    for (op, err) in results {
        assert!(
            matches!(err, StoreError::LeaseSuperseded { fence, current_fence, .. } if fence == old.fence && current_fence == new.fence),
            "{op}: {err:?}"
        );
    }
    // Nothing the stale lease attempted was written.
    assert!(store.watermark("f", "").await.unwrap().is_none());
    assert!(store.ledger_entry("f", "k2").await.unwrap().is_none());
    assert_eq!(
        store.ledger_entry("f", "k").await.unwrap().unwrap().state,
        LedgerState::Intended
    );
    // The run the old holder can never finish was closed when the new holder took over.
    let abandoned = store.run(&run.id).await.unwrap().unwrap();
    assert_eq!(abandoned.status, RunStatus::Abandoned);
    assert!(
        abandoned
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("`new`"),
        "{abandoned:?}"
    );
    assert!(store.audit_for_run(&run.id).await.unwrap().is_empty());
    assert_eq!(store.dead_letters("f", true).await.unwrap().len(), 1);
    assert_eq!(store.recent_runs("f", 10).await.unwrap().len(), 1);
    // The new holder writes fine.
    store
        .record_outcome(
            &new,
            "k",
            &Outcome::Posted {
                batch_number: "B".into(),
                entity_id: None,
            },
        )
        .await
        .unwrap();
}

/// A holder that provably no longer runs (same host and boot; its pid gone, or reused by a
/// process that started at another time) is taken over at once, before its lease expires,
/// and the run it left running is closed as abandoned with what its audit trail shows. A
/// holder that may still run keeps its lease.
pub async fn dead_holders_are_taken_over_at_once(store: &dyn StateStore, _clock: &ManualClock) {
    let me = ProcessIdentity::current();
    if me.boot_id.is_none() || me.start_ticks.is_none() {
        println!("skipped: no /proc to tell a live process from a dead one");
        return;
    }
    // A container restarted with the same host name and pid: the same display name and pid,
    // but another instance whose process started at another time.
    let old = LeaseHolder {
        owner: "web-1:1".into(),
        instance: "instance-before-restart".into(),
        process: Some(ProcessIdentity {
            start_ticks: me.start_ticks.map(|t| t.saturating_sub(100)),
            ..me.clone()
        }),
    };
    let old_lease = store
        .acquire_lease_as("gl-alloc", &old, TTL)
        .await
        .unwrap()
        .unwrap();
    let run = store.start_run(&old_lease).await.unwrap();
    store
        .append_audit(
            &old_lease,
            &AuditEvent {
                run_id: run.id.clone(),
                natural_key: Some("k1".into()),
                stage: AuditStage::Written,
                outcome: "created".into(),
                summary: json!({}),
            },
        )
        .await
        .unwrap();
    // The restarted process, at once (no clock advance): taken over with a new fence.
    let new = store
        .acquire_lease("gl-alloc", "web-1:1", TTL)
        .await
        .unwrap()
        .expect("a holder that no longer runs is taken over at once");
    assert_eq!(new.fence, old_lease.fence + 1);
    assert_eq!(new.instance, sync_core::store::instance_id());
    let closed = store.run(&run.id).await.unwrap().unwrap();
    assert_eq!(closed.status, RunStatus::Abandoned);
    assert!(closed.finished_at.is_some());
    assert_eq!(closed.counts.written, 1, "{closed:?}");
    let message = closed.message.unwrap_or_default();
    assert!(message.contains("no longer runs"), "{message}");
    assert!(message.contains("pid"), "{message}");
    let err = store.check_lease(&old_lease).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::LeaseSuperseded { current_owner, .. } if current_owner == "web-1:1"),
        "{err:?}"
    );

    // A pid that is gone: taken over too.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let gone = ProcessIdentity::of_pid(child.id());
    child.wait().unwrap();
    if let Some(gone) = gone {
        let dead = LeaseHolder {
            owner: "batch-7".into(),
            instance: "killed".into(),
            process: Some(gone),
        };
        let l = store
            .acquire_lease_as("warehouse", &dead, TTL)
            .await
            .unwrap()
            .unwrap();
        let taken = store
            .acquire_lease("warehouse", "batch-8", TTL)
            .await
            .unwrap()
            .expect("a holder whose pid is gone is taken over");
        assert!(taken.fence > l.fence);
    }

    // A live process (this one, as another instance), a holder on another host and one
    // without a recorded process keep their leases until they expire.
    for (flow, holder) in [
        (
            "live",
            LeaseHolder {
                owner: "other".into(),
                instance: "another-instance".into(),
                process: Some(me.clone()),
            },
        ),
        (
            "remote",
            LeaseHolder {
                owner: "other".into(),
                instance: "remote-instance".into(),
                process: Some(ProcessIdentity {
                    host: "another-host".into(),
                    pid: 999_999,
                    ..me.clone()
                }),
            },
        ),
        (
            "unknown",
            LeaseHolder {
                owner: "other".into(),
                instance: "unknown-instance".into(),
                process: None,
            },
        ),
    ] {
        store
            .acquire_lease_as(flow, &holder, TTL)
            .await
            .unwrap()
            .unwrap();
        assert!(
            store
                .acquire_lease(flow, "web-1:1", TTL)
                .await
                .unwrap()
                .is_none(),
            "{flow}: a holder that may still run keeps its lease"
        );
    }
}

/// The lost-lease error names the owner the lease went to, even after that owner released it.
pub async fn lost_lease_names_the_new_owner(store: &dyn StateStore, clock: &ManualClock) {
    let a = store
        .acquire_lease("gl-alloc", "replica-a", TTL)
        .await
        .unwrap()
        .unwrap();
    clock.advance(TTL + Duration::from_secs(1));
    let b = store
        .acquire_lease("gl-alloc", "replica-b", TTL)
        .await
        .unwrap()
        .unwrap();
    store.release_lease(&b).await.unwrap();
    let err = store.check_lease(&a).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::LeaseSuperseded { current_owner, .. } if current_owner == "replica-b"),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("granted to `replica-b`"), "{text}");
    assert!(!text.contains("``"), "{text}");
}

/// An operator releases a lease by hand: recorded in the audit trail with who did it, the
/// holder's run is closed as abandoned, and the holder's writes are refused from then on.
pub async fn leases_are_released_by_hand(store: &dyn StateStore, _clock: &ManualClock) {
    let err = store
        .release_lease_by_hand("gl-alloc", 1, "alice@ops")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    let holder = LeaseHolder {
        owner: "replica-a".into(),
        instance: "stuck-instance".into(),
        process: None,
    };
    let lease = store
        .acquire_lease_as("gl-alloc", &holder, TTL)
        .await
        .unwrap()
        .unwrap();
    let run = store.start_run(&lease).await.unwrap();
    let err = store
        .release_lease_by_hand("gl-alloc", lease.fence + 1, "alice@ops")
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidTransition { .. }),
        "{err:?}"
    );
    let released = store
        .release_lease_by_hand("gl-alloc", lease.fence, "alice@ops")
        .await
        .unwrap();
    assert_eq!(released, lease);
    assert_eq!(store.current_lease("gl-alloc").await.unwrap(), None);
    assert!(
        store
            .record_intent(&lease, &intent("k", "p", "h"))
            .await
            .unwrap_err()
            .is_fenced()
    );
    let closed = store.run(&run.id).await.unwrap().unwrap();
    assert_eq!(closed.status, RunStatus::Abandoned);
    assert!(
        closed
            .message
            .unwrap_or_default()
            .contains("released by hand by alice@ops")
    );
    let trail = store.audit_for_key("gl-alloc", "lease").await.unwrap();
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(trail[0].summary["released_by"], "alice@ops");
    assert_eq!(trail[0].summary["owner"], "replica-a");
    assert!(trail[0].outcome.contains("released by hand"), "{trail:?}");
    let next = store
        .acquire_lease("gl-alloc", "replica-b", TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.fence, lease.fence + 1);
}

/// Extension used by the suite: `ManualClock::now` via the `Clock` trait, truncated like the
/// stores truncate (to microseconds).
pub trait NowForTests {
    fn now_for_tests(&self) -> chrono::DateTime<Utc>;
}

impl NowForTests for ManualClock {
    fn now_for_tests(&self) -> chrono::DateTime<Utc> {
        use chrono::SubsecRound;
        use sync_core::schedule::Clock;
        self.now().trunc_subsecs(6)
    }
}

/// The key map of reference flows: per flow, entity and source key, upserted and forgotten
/// under the lease like every write; a stale fence writes nothing.
pub async fn reference_key_map(store: &dyn StateStore, clock: &ManualClock) {
    use sync_core::store::{KeyState, NewKeyMapping};
    let lease = store
        .acquire_lease("vendors", "replica-a", TTL)
        .await
        .unwrap()
        .unwrap();
    assert!(store.key_mappings("vendors").await.unwrap().is_empty());
    let run = RunId::new("run-1");
    let m = store
        .put_key_mapping(
            &lease,
            &NewKeyMapping::inserting("Vendor", "123", Some(run.clone())),
        )
        .await
        .unwrap();
    assert_eq!(
        (m.state, m.saved_key.as_deref()),
        (KeyState::Inserting, None)
    );
    assert_eq!(m.fence, lease.fence);
    assert_eq!(m.created_at, clock.now_for_tests());
    clock.advance(Duration::from_secs(1));
    let m = store
        .put_key_mapping(
            &lease,
            &NewKeyMapping::mapped("Vendor", "123", "C1165", Some(run.clone())),
        )
        .await
        .unwrap();
    assert_eq!(
        (m.state, m.saved_key.as_deref()),
        (KeyState::Mapped, Some("C1165"))
    );
    assert!(
        m.updated_at > m.created_at,
        "the entry was replaced, not added"
    );
    store
        .put_key_mapping(
            &lease,
            &NewKeyMapping::refused("Vendor", "124", "C1166", None),
        )
        .await
        .unwrap();
    // Another flow has its own map.
    let other = store
        .acquire_lease("customers", "replica-a", TTL)
        .await
        .unwrap()
        .unwrap();
    store
        .put_key_mapping(&other, &NewKeyMapping::mapped("Vendor", "123", "X9", None))
        .await
        .unwrap();
    let all = store.key_mappings("vendors").await.unwrap();
    let got: Vec<(&str, Option<&str>, KeyState)> = all
        .iter()
        .map(|m| (m.source_key.as_str(), m.saved_key.as_deref(), m.state))
        .collect();
    assert_eq!(
        got,
        [
            ("123", Some("C1165"), KeyState::Mapped),
            ("124", Some("C1166"), KeyState::Refused)
        ]
    );
    assert_eq!(all[0].run_id.as_ref(), Some(&run));
    // Bad entries are refused with the reason.
    let bad = NewKeyMapping {
        saved_key: None,
        ..NewKeyMapping::mapped("Vendor", "9", "C1", None)
    };
    let e = store.put_key_mapping(&lease, &bad).await.unwrap_err();
    assert!(
        e.to_string().contains("needs the key Acumatica saved"),
        "{e}"
    );
    assert!(
        store
            .forget_key_mapping(&lease, "Vendor", "124")
            .await
            .unwrap()
    );
    assert!(
        !store
            .forget_key_mapping(&lease, "Vendor", "124")
            .await
            .unwrap()
    );
    // A lease taken over: the old holder's writes are fenced and change nothing.
    clock.advance(TTL + Duration::from_secs(1));
    let b = store
        .acquire_lease("vendors", "replica-b", TTL)
        .await
        .unwrap()
        .unwrap();
    let e = store
        .put_key_mapping(
            &lease,
            &NewKeyMapping::mapped("Vendor", "123", "C9999", None),
        )
        .await
        .unwrap_err();
    assert!(e.is_fenced(), "{e}");
    let e = store
        .forget_key_mapping(&lease, "Vendor", "123")
        .await
        .unwrap_err();
    assert!(e.is_fenced(), "{e}");
    let all = store.key_mappings("vendors").await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].saved_key.as_deref(), Some("C1165"));
    assert!(store.forget_key_mapping(&b, "Vendor", "123").await.unwrap());
    assert!(store.key_mappings("vendors").await.unwrap().is_empty());
}

/// `record_attempt` stamps an intended entry with the store's now (the clock the store writes
/// with, which `now()` reports), keeps the latest stamp, refuses settled entries, unknown keys
/// and a lost lease, and a re-armed intent starts unsent again.
pub async fn attempts_are_stamped_fenced_and_cleared_by_a_rearm(
    store: &dyn StateStore,
    clock: &ManualClock,
) {
    let lease = store.acquire_lease("f", "a", TTL).await.unwrap().unwrap();
    let status = store
        .record_intent(&lease, &intent("k", "p", "h"))
        .await
        .unwrap();
    assert_eq!(
        status.entry().attempted_at,
        None,
        "a new intent was never sent"
    );
    // Stamped by the store's clock (`now()`): the test clock on SQLite, the database's clock
    // (shifted by the test clock's advances) on PostgreSQL, which moves on by itself.
    let t0 = store.now().await.unwrap();
    let first = store.record_attempt(&lease, "k").await.unwrap();
    let t1 = store.now().await.unwrap();
    let stamp = first.attempted_at.expect("stamped");
    assert!(t0 <= stamp && stamp <= t1, "{t0} <= {stamp} <= {t1}");
    assert_eq!(first.state, LedgerState::Intended);
    clock.advance(Duration::from_secs(5));
    let second = store.record_attempt(&lease, "k").await.unwrap();
    assert!(
        second.attempted_at >= Some(stamp + chrono::Duration::seconds(5)),
        "the latest stamp bounds the last send: {:?} after {stamp}",
        second.attempted_at
    );
    let read = store.ledger_entry("f", "k").await.unwrap().unwrap();
    assert_eq!(read.attempted_at, second.attempted_at, "durable");
    let pending = store.pending_intents("f").await.unwrap();
    assert_eq!(pending[0].attempted_at, second.attempted_at);
    match store
        .record_intent(&lease, &intent("k", "p", "h"))
        .await
        .unwrap()
    {
        IntentStatus::Pending(e) => assert_eq!(e.attempted_at, second.attempted_at),
        other => panic!("{other:?}"),
    }

    let missing = store.record_attempt(&lease, "nope").await.unwrap_err();
    assert!(missing.to_string().contains("nope"), "{missing}");

    store
        .record_outcome(
            &lease,
            "k",
            &Outcome::Failed {
                error: "rejected".into(),
            },
        )
        .await
        .unwrap();
    let refused = store.record_attempt(&lease, "k").await.unwrap_err();
    assert!(refused.to_string().contains("failed"), "{refused}");
    match store
        .record_intent(&lease, &intent("k", "p", "h2"))
        .await
        .unwrap()
    {
        IntentStatus::Rearmed { entry, .. } => {
            assert_eq!(
                entry.attempted_at, None,
                "a re-armed intent was not sent yet"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store
            .ledger_entry("f", "k")
            .await
            .unwrap()
            .unwrap()
            .attempted_at,
        None
    );

    clock.advance(TTL + Duration::from_secs(1));
    let _other = store.acquire_lease("f", "b", TTL).await.unwrap().unwrap();
    let fenced = store.record_attempt(&lease, "k").await.unwrap_err();
    assert!(fenced.is_fenced(), "{fenced}");
    assert_eq!(
        store
            .ledger_entry("f", "k")
            .await
            .unwrap()
            .unwrap()
            .attempted_at,
        None,
        "a fenced attempt changes nothing"
    );
}

/// `record_attempts` stamps a window's entries with one now in one fenced transaction, or
/// none of them: an entry that is not intended, an unknown key or a lost lease leaves every
/// entry of the call unstamped.
pub async fn a_windows_attempts_are_stamped_together_or_not_at_all(
    store: &dyn StateStore,
    clock: &ManualClock,
) {
    let lease = store.acquire_lease("f", "a", TTL).await.unwrap().unwrap();
    for k in ["k1", "k2", "k3"] {
        store
            .record_intent(&lease, &intent(k, &format!("p{k}"), "h"))
            .await
            .unwrap();
    }
    let stamp = |k: &'static str| async move {
        store
            .ledger_entry("f", k)
            .await
            .unwrap()
            .unwrap()
            .attempted_at
    };
    let keys = |ks: &[&str]| ks.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>();

    // k3 is settled: the window fails as a whole and k1 stays unsent.
    store
        .record_outcome(
            &lease,
            "k3",
            &Outcome::Failed {
                error: "rejected".into(),
            },
        )
        .await
        .unwrap();
    let refused = store
        .record_attempts(&lease, &keys(&["k1", "k3"]))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("k3"), "{refused}");
    assert_eq!(
        stamp("k1").await,
        None,
        "nothing of a refused window is stamped"
    );
    let missing = store
        .record_attempts(&lease, &keys(&["k1", "nope"]))
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("nope"), "{missing}");
    assert_eq!(stamp("k1").await, None);

    let t0 = store.now().await.unwrap();
    let stamped = store
        .record_attempts(&lease, &keys(&["k1", "k2"]))
        .await
        .unwrap();
    let t1 = store.now().await.unwrap();
    assert_eq!(stamped.len(), 2);
    assert_eq!(stamped[0].natural_key, "k1");
    assert_eq!(stamped[1].natural_key, "k2");
    let at = stamped[0].attempted_at.expect("stamped");
    assert!(t0 <= at && at <= t1, "{t0} <= {at} <= {t1}");
    assert_eq!(stamped[1].attempted_at, Some(at), "one now for the window");
    assert_eq!(stamp("k1").await, Some(at), "durable");
    assert_eq!(stamp("k2").await, Some(at), "durable");
    assert!(
        store.record_attempts(&lease, &[]).await.unwrap().is_empty(),
        "an empty window stamps nothing"
    );

    clock.advance(TTL + Duration::from_secs(1));
    let _other = store.acquire_lease("f", "b", TTL).await.unwrap().unwrap();
    clock.advance(Duration::from_secs(5));
    let fenced = store
        .record_attempts(&lease, &keys(&["k1", "k2"]))
        .await
        .unwrap_err();
    assert!(fenced.is_fenced(), "{fenced}");
    assert_eq!(
        stamp("k1").await,
        Some(at),
        "a fenced window changes nothing"
    );
    assert_eq!(stamp("k2").await, Some(at));
}

/// Generates one `#[tokio::test]` per suite function for a backend. `$make` is an async fn
/// returning `Option<(Arc<dyn StateStore>, ManualClock, guard)>` (`None`: backend unavailable,
/// test skipped; the guard keeps e.g. a temporary directory alive).
#[macro_export]
macro_rules! store_suite_tests {
    ($make:path) => {
        $crate::store_suite_tests!(@each $make;
            leases_are_exclusive_and_fenced,
            current_lease_is_a_read_only_view,
            watermarks_compare_and_set,
            ledger_protocol,
            ledger_reopen,
            run_history,
            audit_trail,
            dead_letters,
            every_write_is_fenced,
            reference_key_map,
            attempts_are_stamped_fenced_and_cleared_by_a_rearm,
            a_windows_attempts_are_stamped_together_or_not_at_all,
            dead_holders_are_taken_over_at_once,
            lost_lease_names_the_new_owner,
            leases_are_released_by_hand,
        );
    };
    (@each $make:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some((store, clock, _guard)) = $make().await else { return };
                store_suite::$name(&*store, &clock).await;
            }
        )*
    };
}
