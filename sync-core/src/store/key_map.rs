//! The key map of reference flows: source keys whose record Acumatica saved under a key of its
//! own (a numbering sequence overrode the key asked for), and inserts whose outcome is not
//! known yet. See [`StateStore::key_mappings`](super::StateStore::key_mappings).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::{RunId, StoreError};

/// Where a source key of a reference flow stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Acumatica saved the record under [`KeyMapping::saved_key`]; lookups and updates use it.
    Mapped,
    /// Acumatica saved the record under [`KeyMapping::saved_key`] while the flow was configured
    /// to refuse server-assigned keys: the flow writes nothing until this is settled.
    Refused,
    /// An insert was sent and its outcome is not known yet (no saved key).
    Inserting,
}

impl KeyState {
    /// The stored spelling: `mapped`, `refused` or `inserting`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mapped => "mapped",
            Self::Refused => "refused",
            Self::Inserting => "inserting",
        }
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyState {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "mapped" => Self::Mapped,
            "refused" => Self::Refused,
            "inserting" => Self::Inserting,
            other => {
                return Err(StoreError::corrupt(
                    "reference key state",
                    format!("`{other}` is not one of mapped, refused, inserting"),
                ));
            }
        })
    }
}

/// A source key of a reference flow and the key Acumatica keeps its record under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMapping {
    /// The flow.
    pub flow: String,
    /// The Acumatica entity, e.g. `Vendor`.
    pub entity: String,
    /// The key the source gives, e.g. `123`.
    pub source_key: String,
    /// The key Acumatica saved, e.g. `C1165`; `None` while [`KeyState::Inserting`].
    pub saved_key: Option<String>,
    /// Where it stands.
    pub state: KeyState,
    /// The run that wrote it last.
    pub run_id: Option<RunId>,
    /// The lease fence it was written under.
    pub fence: i64,
    /// When it was first written.
    pub created_at: DateTime<Utc>,
    /// When it was last written.
    pub updated_at: DateTime<Utc>,
}

/// What [`StateStore::put_key_mapping`](super::StateStore::put_key_mapping) writes.
///
/// ```
/// use sync_core::store::{KeyState, NewKeyMapping};
/// let m = NewKeyMapping::mapped("Vendor", "123", "C1165", None);
/// assert_eq!(m.state, KeyState::Mapped);
/// assert_eq!(m.saved_key.as_deref(), Some("C1165"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKeyMapping {
    /// The Acumatica entity.
    pub entity: String,
    /// The key the source gives.
    pub source_key: String,
    /// The key Acumatica saved (required unless [`KeyState::Inserting`]).
    pub saved_key: Option<String>,
    /// Where it stands.
    pub state: KeyState,
    /// The run writing it.
    pub run_id: Option<RunId>,
}

impl NewKeyMapping {
    /// `source_key` is saved in Acumatica as `saved_key`.
    pub fn mapped(entity: &str, source_key: &str, saved_key: &str, run_id: Option<RunId>) -> Self {
        Self {
            entity: entity.to_owned(),
            source_key: source_key.to_owned(),
            saved_key: Some(saved_key.to_owned()),
            state: KeyState::Mapped,
            run_id,
        }
    }

    /// `source_key` was saved as `saved_key`, which the flow refuses to use.
    pub fn refused(entity: &str, source_key: &str, saved_key: &str, run_id: Option<RunId>) -> Self {
        Self {
            state: KeyState::Refused,
            ..Self::mapped(entity, source_key, saved_key, run_id)
        }
    }

    /// An insert of `source_key` is about to be sent; its outcome is not known yet.
    pub fn inserting(entity: &str, source_key: &str, run_id: Option<RunId>) -> Self {
        Self {
            entity: entity.to_owned(),
            source_key: source_key.to_owned(),
            saved_key: None,
            state: KeyState::Inserting,
            run_id,
        }
    }

    pub(super) fn check(&self) -> Result<(), StoreError> {
        super::backend::name("entity", &self.entity, 200)?;
        super::backend::name("source key", &self.source_key, 500)?;
        match (&self.saved_key, self.state) {
            (None, KeyState::Inserting) => Ok(()),
            (Some(saved), KeyState::Mapped | KeyState::Refused) => {
                super::backend::name("saved key", saved, 500)
            }
            (Some(_), KeyState::Inserting) => Err(StoreError::invalid(
                "reference key mapping",
                "an inserting entry has no saved key yet; give none",
            )),
            (None, state) => Err(StoreError::invalid(
                "reference key mapping",
                format!("a {state} entry needs the key Acumatica saved"),
            )),
        }
    }
}

pub(super) const KEY_COLUMNS: &str =
    "flow, entity, source_key, saved_key, state, run_id, fence, created_at, updated_at";

#[derive(sqlx::FromRow)]
pub(super) struct KeyRow {
    flow: String,
    entity: String,
    source_key: String,
    saved_key: Option<String>,
    state: String,
    run_id: Option<String>,
    fence: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<KeyRow> for KeyMapping {
    type Error = StoreError;

    fn try_from(r: KeyRow) -> Result<Self, StoreError> {
        Ok(Self {
            state: r.state.parse()?,
            flow: r.flow,
            entity: r.entity,
            source_key: r.source_key,
            saved_key: r.saved_key,
            run_id: r.run_id.map(RunId::new),
            fence: r.fence,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// The key-map methods of [`StateStore`](super::StateStore) as inherent methods of a backend,
/// expanded inside `impl_state_store!` (same helpers: `Self::fence`, `begin_write`, `db`); the
/// trait impl delegates to them.
macro_rules! key_map_methods {
    (store = $store:ty, ts = $ts:path) => {
        impl $store {
        async fn list_key_mappings(
            &self,
            flow: &str,
        ) -> Result<Vec<super::super::KeyMapping>, StoreError> {
            use super::super::key_map::{KEY_COLUMNS, KeyRow};
            let sql = format!(
                "SELECT {KEY_COLUMNS} FROM reference_keys WHERE flow = $1 ORDER BY entity, source_key"
            );
            let rows: Vec<KeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(flow)
                .fetch_all(&self.pool)
                .await
                .map_err(db("key_mappings"))?;
            rows.into_iter()
                .map(super::super::KeyMapping::try_from)
                .collect()
        }

        async fn write_key_mapping(
            &self,
            lease: &Lease,
            mapping: &super::super::NewKeyMapping,
        ) -> Result<super::super::KeyMapping, StoreError> {
            use super::super::key_map::{KEY_COLUMNS, KeyRow};
            const OP: &str = "put_key_mapping";
            mapping.check()?;
            let now = self.now();
            let mut tx = self.begin_write(OP).await?;
            Self::fence(&mut tx, lease, now, OP).await?;
            let sql = format!(
                "INSERT INTO reference_keys (flow, entity, source_key, saved_key, state, run_id, fence, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
                 ON CONFLICT (flow, entity, source_key) DO UPDATE SET \
                 saved_key = excluded.saved_key, state = excluded.state, run_id = excluded.run_id, \
                 fence = excluded.fence, updated_at = excluded.updated_at \
                 RETURNING {KEY_COLUMNS}"
            );
            let row: KeyRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(&lease.flow)
                .bind(&mapping.entity)
                .bind(&mapping.source_key)
                .bind(mapping.saved_key.as_deref())
                .bind(mapping.state.as_str())
                .bind(mapping.run_id.as_ref().map(RunId::as_str))
                .bind(lease.fence)
                .bind($ts(now))
                .fetch_one(&mut *tx)
                .await
                .map_err(db(OP))?;
            tx.commit().await.map_err(db(OP))?;
            super::super::KeyMapping::try_from(row)
        }

        async fn delete_key_mapping(
            &self,
            lease: &Lease,
            entity: &str,
            source_key: &str,
        ) -> Result<bool, StoreError> {
            const OP: &str = "forget_key_mapping";
            let now = self.now();
            let mut tx = self.begin_write(OP).await?;
            Self::fence(&mut tx, lease, now, OP).await?;
            let done = sqlx::query(
                "DELETE FROM reference_keys WHERE flow = $1 AND entity = $2 AND source_key = $3",
            )
            .bind(&lease.flow)
            .bind(entity)
            .bind(source_key)
            .execute(&mut *tx)
            .await
            .map_err(db(OP))?;
            tx.commit().await.map_err(db(OP))?;
            Ok(done.rows_affected() > 0)
        }
        }
    };
}

pub(super) use key_map_methods;
