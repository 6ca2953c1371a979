//! The intent/outcome ledger behind exactly-once posting.
//!
//! Protocol (neither Acumatica nor Looker offers idempotency keys): record the intent for a
//! document's natural key, look the key up in the target system, create the document only if
//! absent, then record the outcome. Entries left [`LedgerState::Intended`] by a crash are
//! reconciled by lookup before anything else is posted. Right before a create is sent the
//! attempt is recorded ([`LedgerEntry::attempted_at`]): an intended entry that was never sent is
//! settled by a lookup miss at once; one that was sent may still be applied by the target for a
//! while (Acumatica's licence queue), so the post flow waits out a settle horizon first.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::{RunId, StoreError};

/// Where a document stands in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LedgerState {
    /// Intent recorded, no outcome yet: the document may or may not exist in the target.
    Intended,
    /// Created in the target (batch number and id recorded). Settled unless
    /// [`LedgerEntry::reopened`] says its batch was reversed since.
    Posted,
    /// Definitely not created (the target rejected it); may be re-armed and retried.
    Failed,
    /// Deliberately not posted (e.g. a policy decision); settled unless re-opened
    /// ([`LedgerEntry::reopened`]).
    Skipped,
}

impl LedgerState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Intended => "intended",
            Self::Posted => "posted",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

impl fmt::Display for LedgerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LedgerState {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "intended" => Self::Intended,
            "posted" => Self::Posted,
            "failed" => Self::Failed,
            "skipped" => Self::Skipped,
            other => {
                return Err(StoreError::corrupt(
                    "ledger state",
                    format!("`{other}` is not one of intended, posted, failed, skipped"),
                ));
            }
        })
    }
}

/// What a flow is about to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// The document's natural key (unique within the flow).
    pub natural_key: String,
    /// The partition, e.g. the financial period.
    pub partition: String,
    /// A hash of the document's content, to detect a changed document for a posted key.
    pub payload_hash: String,
    /// The run recording the intent.
    pub run_id: Option<RunId>,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Created in the target.
    Posted {
        /// The target's document number (e.g. the Acumatica batch number).
        batch_number: String,
        /// The target's record id, when known.
        entity_id: Option<String>,
    },
    /// The target rejected it: it was definitely not created. (When unsure, record nothing and
    /// leave the entry intended: the next run reconciles it by lookup.)
    Failed {
        /// Why, without secrets.
        error: String,
    },
    /// Deliberately not posted.
    Skipped {
        /// Why.
        reason: String,
    },
}

impl Outcome {
    /// The state this outcome moves an entry to.
    pub fn state(&self) -> LedgerState {
        match self {
            Self::Posted { .. } => LedgerState::Posted,
            Self::Failed { .. } => LedgerState::Failed,
            Self::Skipped { .. } => LedgerState::Skipped,
        }
    }
}

/// One ledger row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The flow.
    pub flow: String,
    /// The natural key.
    pub natural_key: String,
    /// The partition.
    pub partition: String,
    /// The content hash of the latest intent.
    pub payload_hash: String,
    /// Where it stands.
    pub state: LedgerState,
    /// The target's document number, once posted.
    pub batch_number: Option<String>,
    /// The target's record id, once posted (when known).
    pub entity_id: Option<String>,
    /// The failure or skip reason.
    pub detail: Option<String>,
    /// How many intents were recorded for this key (1, plus one per re-arm after failure).
    pub attempts: u32,
    /// The run that recorded the latest intent.
    pub run_id: Option<RunId>,
    /// When the latest intent was recorded.
    pub intended_at: DateTime<Utc>,
    /// When the outcome was recorded.
    pub outcome_at: Option<DateTime<Utc>>,
    /// When the document's create was last (possibly) sent to the target, by the store's clock:
    /// stamped by [`StateStore::record_attempt`](super::StateStore::record_attempt) right before
    /// each send and again when a send ends with an unknown outcome. `None`: never sent since
    /// the latest intent, so a lookup that does not find it is conclusive. `Some(t)`: the target
    /// may still apply the write for a while after `t` (Acumatica queues requests for up to ten
    /// minutes), so a miss proves nothing until a settle horizon after `t` has passed.
    pub attempted_at: Option<DateTime<Utc>>,
    /// Why a settled (posted or skipped) entry was re-opened, e.g. `reversed by batch 000043`
    /// ([`StateStore::reopen_entry`](super::StateStore::reopen_entry)); the next intent for the
    /// key re-arms it. `None`: the entry stands as recorded.
    pub reopened: Option<String>,
}

impl LedgerEntry {
    /// Whether the entry is settled: posted or skipped, and not re-opened since. A settled entry
    /// is never posted again.
    pub fn is_settled(&self) -> bool {
        matches!(self.state, LedgerState::Posted | LedgerState::Skipped) && self.reopened.is_none()
    }

    /// What a new intent for this entry's key finds: the one rule behind
    /// [`StateStore::record_intent`](super::StateStore::record_intent)'s answer, which a plan
    /// applies read-only to the entries it reads.
    pub(crate) fn standing(&self) -> Standing {
        if self.state == LedgerState::Intended {
            Standing::Pending
        } else if self.is_settled() {
            Standing::Settled
        } else {
            Standing::Rearm
        }
    }
}

/// What a new intent finds in an existing ledger entry ([`LedgerEntry::standing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standing {
    /// An intent without outcome: reconcile by lookup before creating anything.
    Pending,
    /// Posted or skipped, not re-opened: never posted again.
    Settled,
    /// Failed, or settled and re-opened since: intended again.
    Rearm,
}

/// What [`StateStore::record_intent`](super::StateStore::record_intent) found, and so what the
/// flow must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentStatus {
    /// First intent for this key: look it up in the target, create if absent.
    New(LedgerEntry),
    /// An earlier attempt failed definitively, or the entry was re-opened (its posted batch was
    /// reversed, or a skip is to be decided again); the entry is intended again (attempts + 1,
    /// the new hash): look it up, create if absent.
    Rearmed {
        /// The entry as it was (state failed, or posted/skipped and re-opened).
        previous: Box<LedgerEntry>,
        /// The entry now (state intended).
        entry: LedgerEntry,
    },
    /// An intent without outcome exists (an earlier run died mid-post): reconcile it by lookup
    /// before creating anything. Its `payload_hash` is the earlier content.
    Pending(LedgerEntry),
    /// Already posted or skipped: never post again. Compare `payload_hash` to detect a document
    /// whose content changed since.
    Settled(LedgerEntry),
}

impl IntentStatus {
    /// The entry as stored now.
    pub fn entry(&self) -> &LedgerEntry {
        match self {
            Self::New(e) | Self::Pending(e) | Self::Settled(e) => e,
            Self::Rearmed { entry, .. } => entry,
        }
    }
}

/// Which ledger entries to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerFilter {
    /// Only entries in this state.
    pub state: Option<LedgerState>,
    /// Only entries of this partition.
    pub partition: Option<String>,
}
