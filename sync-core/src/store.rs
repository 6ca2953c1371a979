//! The state store: everything a flow must remember between runs and share between replicas.
//!
//! [`StateStore`] holds, per flow:
//! - **leases** with fencing tokens, so one replica runs a flow at a time and a replica whose
//!   lease expired cannot write ([`Lease`]);
//! - **high-water marks** per partition, moved only by compare-and-set ([`Watermark`]);
//! - the **intent/outcome ledger** behind exactly-once posting ([`IntentStatus`], [`Outcome`]);
//! - **run history** ([`RunRecord`]), the **audit trail** ([`AuditRecord`]) and **dead letters**
//!   ([`DeadLetter`]) for replay.
//!
//! Every write takes the caller's [`Lease`] and is refused with a fenced error
//! ([`StoreError::is_fenced`]) unless that lease is still the current, unexpired one for its
//! flow; the check and the write happen in one transaction. Reads need no lease.
//!
//! Two backends implement it with `sqlx`: [`SqliteStore`] (a file, zero setup, the default) and
//! [`PostgresStore`] (shared by several replicas). Both pass the same test suite.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use sync_core::store::{Intent, IntentStatus, Outcome, SqliteStore, StateStore};
//!
//! # async fn demo() -> Result<(), sync_core::store::StoreError> {
//! let store = SqliteStore::open("state.db").await?;
//! let Some(lease) = store.acquire_lease("allocations", "host-a:4242", Duration::from_secs(60)).await? else {
//!     return Ok(()); // another replica runs this flow now
//! };
//! let intent = Intent {
//!     natural_key: "alloc/202601/3f2a9c".into(),
//!     partition: "202601".into(),
//!     payload_hash: "3f2a9c...".into(),
//!     run_id: None,
//! };
//! match store.record_intent(&lease, &intent).await? {
//!     IntentStatus::New(_) | IntentStatus::Rearmed { .. } | IntentStatus::Pending(_) => {
//!         // look the key up in Acumatica, create only if absent, then:
//!         let outcome = Outcome::Posted { batch_number: "GL000123".into(), entity_id: None };
//!         store.record_outcome(&lease, &intent.natural_key, &outcome).await?;
//!     }
//!     IntentStatus::Settled(_) => {} // posted before: never again
//! }
//! store.release_lease(&lease).await?;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

mod audit;
mod backend;
mod dead_letter;
mod error;
mod holder;
mod key_map;
mod lease;
mod ledger;
mod postgres;
mod run;
mod sqlite;

pub use audit::{AuditEvent, AuditRecord, AuditStage, redact, signed};
pub use dead_letter::{DeadLetter, NewDeadLetter};
pub use error::StoreError;
pub use holder::{LeaseHolder, Liveness, ProcessIdentity, instance_id, operator};
pub use key_map::{KeyMapping, KeyState, NewKeyMapping};
pub use lease::{Lease, Watermark};
pub(crate) use ledger::Standing;
pub use ledger::{Intent, IntentStatus, LedgerEntry, LedgerFilter, LedgerState, Outcome};
pub use postgres::{
    DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT, DEFAULT_LOCK_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT,
    PostgresStore, PostgresStoreBuilder,
};
pub use run::{RunCounts, RunId, RunRecord, RunStatus};
pub use sqlite::{SqliteStore, SqliteStoreBuilder};

/// Opens the state store named by `target`: a `postgres://` or `postgresql://` URL gives a
/// [`PostgresStore`]; a `sqlite://` URL or a plain file path gives a [`SqliteStore`]. Both are
/// migrated before they are returned.
///
/// # Example
///
/// ```no_run
/// # async fn demo() -> Result<(), sync_core::store::StoreError> {
/// let embedded = sync_core::store::open_store("/var/lib/ml-connector/state.db").await?;
/// let shared = sync_core::store::open_store("postgres://connector@db.internal/connector").await?;
/// # Ok(())
/// # }
/// ```
pub async fn open_store(target: &str) -> Result<std::sync::Arc<dyn StateStore>, StoreError> {
    let target = target.trim();
    if target.is_empty() {
        return Err(StoreError::InvalidInput {
            what: "state store",
            reason: "no path or URL given; use a file path (SQLite) or a postgres:// URL".into(),
        });
    }
    if target.starts_with("postgres://") || target.starts_with("postgresql://") {
        return Ok(std::sync::Arc::new(PostgresStore::connect(target).await?));
    }
    let path = target.strip_prefix("sqlite://").unwrap_or(target);
    if path.contains("://") {
        return Err(StoreError::InvalidInput {
            what: "state store",
            reason: format!(
                "the scheme of {:?} is not supported; use a file path, sqlite://PATH or postgres://...",
                path.split("://").next().unwrap_or_default()
            ),
        });
    }
    Ok(std::sync::Arc::new(SqliteStore::open(path).await?))
}

/// Durable state for flows: leases, marks, the exactly-once ledger, runs, audit and dead letters.
///
/// Implementations must make each write atomic with its lease check (see the module docs).
/// Users may bring their own implementation; the crate's own are [`SqliteStore`] and
/// [`PostgresStore`].
#[async_trait]
pub trait StateStore: Send + Sync + fmt::Debug {
    // ---- leases -------------------------------------------------------------------------

    /// Grants `owner` **in this process** the lease on `flow` for `ttl`: the same as
    /// [`acquire_lease_as`](Self::acquire_lease_as) with [`LeaseHolder::this_process`].
    /// Returns `None` when another holder has it.
    ///
    /// The same owner in the same process re-acquiring gets a new fence, which makes its older
    /// lease handles stale; the same owner name in another (e.g. restarted) process is another
    /// holder.
    async fn acquire_lease(
        &self,
        flow: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        self.acquire_lease_as(flow, &LeaseHolder::this_process(owner), ttl)
            .await
    }

    /// Grants `holder` the lease on `flow` for `ttl` when nobody else holds an unexpired one,
    /// with a fence one higher than any before. Returns `None` when another holder has it.
    ///
    /// An unexpired lease whose holder provably no longer runs ([`Liveness::Dead`]: same host
    /// and boot, and its pid is gone or belongs to a process started at another time) is taken
    /// over at once (logged). Runs left `running` under an earlier fence are closed as
    /// [`RunStatus::Abandoned`] when a holder takes over. On PostgreSQL expiry is judged by
    /// the database's clock.
    async fn acquire_lease_as(
        &self,
        flow: &str,
        holder: &LeaseHolder,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError>;

    /// Releases the lease of `flow` by hand (an operator's decision, e.g. after a holder on
    /// another host died), when its fence is still `fence`; `by` says who (e.g. `user@host`)
    /// and is recorded in the audit trail of the flow with the holder released. Runs left
    /// running under that fence are closed as abandoned. Returns the lease released.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the flow holds no lease; [`StoreError::InvalidTransition`]
    /// when its fence is no longer `fence` (it changed hands meanwhile: look again).
    async fn release_lease_by_hand(
        &self,
        flow: &str,
        fence: i64,
        by: &str,
    ) -> Result<Lease, StoreError>;

    /// The store's clock: the database's on PostgreSQL (which judges every lease), the
    /// process clock (or the test clock) on SQLite. Use it to tell whether a lease from
    /// [`current_lease`](Self::current_lease) has expired, or how long ago a ledger entry's
    /// [`attempted_at`](LedgerEntry::attempted_at) was: compare stored times with this, never
    /// with the local clock, so one clock judges them.
    async fn now(&self) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
        Ok(chrono::Utc::now())
    }

    /// Extends a held lease to `now + ttl`, keeping its fence. Fails (fenced) when the lease
    /// expired, was released or was superseded: acquire a new one then.
    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease, StoreError>;

    /// Releases a held lease so another owner may acquire it at once. Releasing a lease that
    /// was already lost does nothing (and never affects the current holder).
    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError>;

    /// Checks that `lease` is still the current, unexpired lease of its flow.
    async fn check_lease(&self, lease: &Lease) -> Result<(), StoreError>;

    /// The lease last granted on `flow` while an owner still holds it, for display and
    /// monitoring (needs no lease, changes nothing).
    ///
    /// Returns `None` when the flow was never leased or its lease was released. A lease that
    /// ran out without being released is still returned, so callers can show a replica that
    /// stopped renewing; tell the two apart with [`Lease::is_expired_at`]. The answer may be
    /// stale by the time it is used: only [`acquire_lease`](Self::acquire_lease) grants.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn demo(store: &dyn sync_core::store::StateStore) -> Result<(), sync_core::store::StoreError> {
    /// match store.current_lease("allocations").await? {
    ///     Some(l) if !l.is_expired_at(chrono::Utc::now()) => {
    ///         println!("held by {} (fence {}) until {}", l.owner, l.fence, l.expires_at)
    ///     }
    ///     Some(l) => println!("{} stopped renewing; expired at {}", l.owner, l.expires_at),
    ///     None => println!("free"),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    async fn current_lease(&self, flow: &str) -> Result<Option<Lease>, StoreError>;

    // ---- high-water marks ---------------------------------------------------------------

    /// The mark of `flow` in `partition`, if one was ever set.
    async fn watermark(&self, flow: &str, partition: &str)
    -> Result<Option<Watermark>, StoreError>;

    /// Moves the mark of the lease's flow in `partition` from `expected` (`None`: never set) to
    /// `value`. Fails with [`StoreError::WatermarkConflict`] when the mark is not `expected`.
    async fn set_watermark(
        &self,
        lease: &Lease,
        partition: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<Watermark, StoreError>;

    // ---- ledger -------------------------------------------------------------------------

    /// Records the intent to post a document, unless the key is already known; the returned
    /// [`IntentStatus`] says what the flow must do next.
    async fn record_intent(
        &self,
        lease: &Lease,
        intent: &Intent,
    ) -> Result<IntentStatus, StoreError>;

    /// Records how an intended document ended. Only an intended entry takes an outcome;
    /// recording the same `Posted` outcome twice is accepted (idempotent).
    async fn record_outcome(
        &self,
        lease: &Lease,
        natural_key: &str,
        outcome: &Outcome,
    ) -> Result<LedgerEntry, StoreError>;

    /// Re-opens a settled (posted or skipped) entry, saying why: its posted batch was reversed,
    /// or a skip is to be decided again under another policy. It stays posted or skipped (with
    /// [`LedgerEntry::reopened`] set) until the next [`record_intent`](Self::record_intent) for
    /// the key re-arms it ([`IntentStatus::Rearmed`]). A failed entry is returned unchanged (it
    /// is re-armed anyway); an intended one is refused ([`StoreError::InvalidTransition`]):
    /// reconcile it first.
    ///
    /// ```no_run
    /// # async fn demo(store: &dyn sync_core::store::StateStore, lease: &sync_core::store::Lease) -> Result<(), sync_core::store::StoreError> {
    /// let key = "0123456789abcdef-fedcba9876543210";
    /// let entry = store.reopen_entry(lease, key, "reversed by batch 000043").await?;
    /// assert!(!entry.is_settled());
    /// # Ok(()) }
    /// ```
    async fn reopen_entry(
        &self,
        lease: &Lease,
        natural_key: &str,
        reason: &str,
    ) -> Result<LedgerEntry, StoreError>;

    /// Records, right before the create of an intended document is sent to the target, that it
    /// may now exist there: stamps the entry's [`attempted_at`](LedgerEntry::attempted_at) with
    /// the store's now (checking the lease in the same transaction, like every write). Call it
    /// again when a send ends with an unknown outcome, so `attempted_at` bounds the last moment
    /// a send may have started. Send the create only after this succeeded.
    ///
    /// Fails (invalid transition) unless the entry is intended, and with
    /// [`StoreError::NotFound`] for an unknown key.
    ///
    /// ```no_run
    /// # async fn demo(store: &dyn sync_core::store::StateStore, lease: &sync_core::store::Lease) -> Result<(), sync_core::store::StoreError> {
    /// let entry = store.record_attempt(lease, "3f2a9c0d1e2b3a4c-9c41d2e3f4a5b6c7").await?;
    /// assert!(entry.attempted_at.is_some());
    /// // ... now send the insert-only PUT
    /// # Ok(())
    /// # }
    /// ```
    async fn record_attempt(
        &self,
        lease: &Lease,
        natural_key: &str,
    ) -> Result<LedgerEntry, StoreError>;

    /// [`record_attempt`](Self::record_attempt) for several entries whose creates are sent
    /// together: all stamped with one now, in one transaction that checks the lease once, or
    /// none (an unknown key or an entry that is not intended fails the whole call). Send the
    /// creates only after this succeeded. The default calls `record_attempt` per key (not
    /// atomic); the SQLite and PostgreSQL stores do it in one transaction.
    ///
    /// ```no_run
    /// # async fn demo(store: &dyn sync_core::store::StateStore, lease: &sync_core::store::Lease) -> Result<(), sync_core::store::StoreError> {
    /// let keys = ["3f2a9c0d1e2b3a4c-9c41d2e3f4a5b6c7".to_owned(), "3f2a9c0d1e2b3a4d-1c41d2e3f4a5b6c7".to_owned()];
    /// let entries = store.record_attempts(lease, &keys).await?;
    /// assert!(entries.iter().all(|e| e.attempted_at.is_some()));
    /// // ... now send the insert-only PUTs
    /// # Ok(())
    /// # }
    /// ```
    async fn record_attempts(
        &self,
        lease: &Lease,
        natural_keys: &[String],
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut out = Vec::with_capacity(natural_keys.len());
        for key in natural_keys {
            out.push(self.record_attempt(lease, key).await?);
        }
        Ok(out)
    }

    /// The ledger entry of a natural key.
    async fn ledger_entry(
        &self,
        flow: &str,
        natural_key: &str,
    ) -> Result<Option<LedgerEntry>, StoreError>;

    /// Ledger entries of a flow, oldest intent first.
    async fn ledger_entries(
        &self,
        flow: &str,
        filter: &LedgerFilter,
    ) -> Result<Vec<LedgerEntry>, StoreError>;

    /// Intents without an outcome: to reconcile by lookup before posting anything new.
    async fn pending_intents(&self, flow: &str) -> Result<Vec<LedgerEntry>, StoreError> {
        let filter = LedgerFilter {
            state: Some(LedgerState::Intended),
            partition: None,
        };
        self.ledger_entries(flow, &filter).await
    }

    // ---- runs ---------------------------------------------------------------------------

    /// Starts a run of the lease's flow (status running).
    async fn start_run(&self, lease: &Lease) -> Result<RunRecord, StoreError>;

    /// Finishes a running run of the lease's flow with its final status and counts.
    async fn finish_run(
        &self,
        lease: &Lease,
        run_id: &RunId,
        status: RunStatus,
        counts: &RunCounts,
        message: Option<&str>,
    ) -> Result<RunRecord, StoreError>;

    /// One run.
    async fn run(&self, run_id: &RunId) -> Result<Option<RunRecord>, StoreError>;

    /// The latest `limit` runs of a flow, newest first.
    async fn recent_runs(&self, flow: &str, limit: u32) -> Result<Vec<RunRecord>, StoreError>;

    // ---- audit --------------------------------------------------------------------------

    /// Appends an event (summary redacted with [`redact`]); returns its sequence number.
    async fn append_audit(&self, lease: &Lease, event: &AuditEvent) -> Result<i64, StoreError>;

    /// Appends several events in one transaction (one lease check), in order; returns their
    /// sequence numbers. Use it for per-record events of a page.
    async fn append_audit_many(
        &self,
        lease: &Lease,
        events: &[AuditEvent],
    ) -> Result<Vec<i64>, StoreError> {
        let mut seqs = Vec::with_capacity(events.len());
        for event in events {
            seqs.push(self.append_audit(lease, event).await?);
        }
        Ok(seqs)
    }

    /// The events of a run, in order.
    async fn audit_for_run(&self, run_id: &RunId) -> Result<Vec<AuditRecord>, StoreError>;

    /// The events of one document across runs, in order.
    async fn audit_for_key(
        &self,
        flow: &str,
        natural_key: &str,
    ) -> Result<Vec<AuditRecord>, StoreError>;

    // ---- dead letters -------------------------------------------------------------------

    /// Parks a failed document (payload redacted with [`redact`]), or updates the unresolved
    /// dead letter of the same key.
    async fn add_dead_letter(
        &self,
        lease: &Lease,
        letter: &NewDeadLetter,
    ) -> Result<DeadLetter, StoreError>;

    /// Dead letters of a flow, oldest first; resolved ones only when asked.
    async fn dead_letters(
        &self,
        flow: &str,
        include_resolved: bool,
    ) -> Result<Vec<DeadLetter>, StoreError>;

    /// Marks a dead letter of the lease's flow resolved (replayed, or dismissed).
    async fn resolve_dead_letter(
        &self,
        lease: &Lease,
        id: i64,
        resolution: &str,
    ) -> Result<DeadLetter, StoreError>;

    // ---- reference key map --------------------------------------------------------------

    /// The key map of a reference flow, by entity and source key: records Acumatica saved
    /// under a key of its own ([`KeyState::Mapped`], [`KeyState::Refused`]) and inserts whose
    /// outcome is not known yet ([`KeyState::Inserting`]). Needs no lease.
    ///
    /// The default (for stores that keep no key map) is an empty map.
    ///
    /// ```no_run
    /// # async fn demo(store: &dyn sync_core::store::StateStore) -> Result<(), sync_core::store::StoreError> {
    /// for m in store.key_mappings("approved_vendors").await? {
    ///     println!("{} {} -> {:?} ({})", m.entity, m.source_key, m.saved_key, m.state);
    /// }
    /// # Ok(()) }
    /// ```
    async fn key_mappings(&self, flow: &str) -> Result<Vec<KeyMapping>, StoreError> {
        let _ = flow;
        Ok(Vec::new())
    }

    /// Writes (inserts or replaces) the entry of `mapping.source_key` in the key map of the
    /// lease's flow, fenced like every write.
    ///
    /// The default refuses: a store that keeps no key map cannot serve a reference flow on a
    /// site that numbers the entity's keys itself.
    async fn put_key_mapping(
        &self,
        lease: &Lease,
        mapping: &NewKeyMapping,
    ) -> Result<KeyMapping, StoreError> {
        let _ = (lease, mapping);
        Err(StoreError::invalid(
            "state store",
            "this store keeps no reference key map; use the SQLite or PostgreSQL store",
        ))
    }

    /// Removes the entry of `source_key` from the key map of the lease's flow, fenced; returns
    /// whether there was one. The default refuses, as [`put_key_mapping`](Self::put_key_mapping).
    async fn forget_key_mapping(
        &self,
        lease: &Lease,
        entity: &str,
        source_key: &str,
    ) -> Result<bool, StoreError> {
        let _ = (lease, entity, source_key);
        Err(StoreError::invalid(
            "state store",
            "this store keeps no reference key map; use the SQLite or PostgreSQL store",
        ))
    }
}
