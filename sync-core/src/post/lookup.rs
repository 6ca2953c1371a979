//! The lookup phase a run and a plan share: what the ledger knows about each document, then
//! one lookup request per page of the other documents' keys, and what to do with each.
//!
//! A run learns what the ledger knows by recording the intent (fenced, before anything is
//! sent); a plan reads the ledger and applies the same rule without writing
//! ([`IntentLedger`]). Everything after that is this module's, once: which documents are held
//! because a create for their partition may still be queued, which are looked up, how the
//! pages are cut, and how a lookup's answer becomes a [`Plan`].

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tracing::Instrument;

use crate::error::Result;
use crate::key::{ContentHash, KeyMatch, NaturalKey, PartitionKey, match_existing};
use crate::mapping::JournalDocument;
use crate::progress::{ProgressEvent, Reporter};
use crate::store::{Intent, LedgerEntry, LedgerState, RunId};
use crate::traits::{DocumentSink, ExistingDocument};

/// What to do with one document after its lookup.
pub(crate) enum Plan {
    /// The ledger says it was posted (or skipped) before.
    Settled(LedgerEntry),
    /// Acumatica holds it already.
    Found(ExistingDocument),
    /// Nothing for its partition: create it.
    Create,
    /// Its partition was posted with other content.
    Changed(Vec<(ContentHash, ExistingDocument)>),
    /// A create for its partition (this content or another) may still be queued in the
    /// target: nothing is sent for it until the settle horizon has passed.
    InFlight(InFlight),
}

/// A create that may still be applied by the target: sent at `attempted_at`, so not concluded
/// absent before `settles_after`.
#[derive(Debug, Clone)]
pub(crate) struct InFlight {
    pub(crate) natural_key: String,
    pub(crate) attempted_at: DateTime<Utc>,
    pub(crate) settles_after: DateTime<Utc>,
}

impl InFlight {
    /// A create last (possibly) sent at `attempted_at`, settled `horizon` later.
    pub(crate) fn since(
        natural_key: String,
        attempted_at: DateTime<Utc>,
        horizon: Duration,
    ) -> Self {
        let settles_after = chrono::Duration::from_std(horizon)
            .ok()
            .and_then(|h| attempted_at.checked_add_signed(h))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        Self {
            natural_key,
            attempted_at,
            settles_after,
        }
    }

    /// When `entry`'s create may still be applied by the target: an intent without outcome
    /// whose create was sent less than `horizon` before `now` (both by the store's clock).
    pub(crate) fn of_entry(
        entry: &LedgerEntry,
        now: DateTime<Utc>,
        horizon: Duration,
    ) -> Option<Self> {
        if entry.state != LedgerState::Intended {
            return None;
        }
        let flight = Self::since(entry.natural_key.clone(), entry.attempted_at?, horizon);
        (now < flight.settles_after).then_some(flight)
    }
}

/// What the ledger says about a document before its lookup.
pub(crate) enum Before {
    /// Posted or skipped before: never posted again.
    Settled(Box<LedgerEntry>),
    /// Look it up (new, failed before, re-opened, or an earlier intent that has settled).
    LookUp,
    /// A create for it may still be queued in the target.
    InFlight(InFlight),
}

/// Where the lookup phase learns what the ledger knows about each document: a run records
/// the intent (fenced, durable before anything is sent), a plan reads it.
#[async_trait]
pub(crate) trait IntentLedger: Send {
    /// What the ledger knows about `intent`'s key (a run records the intent first).
    async fn intend(&mut self, intent: &Intent) -> Result<Before>;

    /// A create for `partition` that may still be queued, if any (nothing is sent for the
    /// partition until it settles).
    fn held(&self, partition: &PartitionKey) -> Option<InFlight>;

    /// Holds `partition` for `flight`.
    fn hold(&mut self, partition: &PartitionKey, flight: InFlight);
}

/// The documents with their natural keys, each key once (the same journal twice in one run is
/// posted once).
pub(crate) fn unique_documents(docs: Vec<JournalDocument>) -> Vec<(JournalDocument, NaturalKey)> {
    let mut seen = HashSet::with_capacity(docs.len());
    let mut items = Vec::with_capacity(docs.len());
    for doc in docs {
        let key = NaturalKey::for_document(&doc);
        if !seen.insert(key.clone()) {
            tracing::warn!(key = %key, "the same journal twice in one run; posted once");
            continue;
        }
        items.push((doc, key));
    }
    items
}

pub(crate) fn unique_partitions<'a>(
    keys: impl Iterator<Item = &'a NaturalKey>,
) -> Vec<PartitionKey> {
    let mut out: Vec<PartitionKey> = keys.map(|k| k.partition().clone()).collect();
    out.sort();
    out.dedup();
    out
}

/// The intent a document's key stands for.
pub(crate) fn intent_for(
    doc: &JournalDocument,
    key: &NaturalKey,
    run_id: Option<&RunId>,
) -> Intent {
    Intent {
        natural_key: key.to_string(),
        partition: doc.partition.to_string(),
        payload_hash: key.content().to_string(),
        run_id: run_id.cloned(),
    }
}

/// The lookup phase: for each page of `page_size` documents, what the ledger knows, then one
/// lookup request for the page's other keys. Returns a plan per document (by index into
/// `items`) and reports each page's lookup ([`ProgressEvent::KeysLookedUp`]).
///
/// # Errors
/// The ledger's and the sink's errors.
pub(crate) async fn look_up(
    items: &[(JournalDocument, NaturalKey)],
    ledger: &mut dyn IntentLedger,
    sink: &dyn DocumentSink,
    page_size: usize,
    run_id: Option<&RunId>,
    progress: &Reporter,
) -> Result<Vec<(usize, Plan)>> {
    let mut plans: Vec<(usize, Plan)> = Vec::with_capacity(items.len());
    let mut batch = 0u64;
    let mut keys_total = 0u64;
    let indices: Vec<usize> = (0..items.len()).collect();
    for page in indices.chunks(page_size.max(1)) {
        let mut lookup = Vec::new();
        for &i in page {
            let (doc, key) = &items[i];
            if let Some(flight) = ledger.held(key.partition()) {
                // A create for this partition may still be applied: record nothing, send
                // nothing, until the settle horizon has passed.
                plans.push((i, Plan::InFlight(flight)));
                continue;
            }
            match ledger.intend(&intent_for(doc, key, run_id)).await? {
                Before::Settled(entry) => plans.push((i, Plan::Settled(*entry))),
                Before::LookUp => lookup.push(i),
                Before::InFlight(flight) => {
                    ledger.hold(key.partition(), flight.clone());
                    plans.push((i, Plan::InFlight(flight)));
                }
            }
        }
        if lookup.is_empty() {
            continue;
        }
        let partitions = unique_partitions(lookup.iter().map(|&i| &items[i].1));
        let found = sink
            .find(&partitions)
            .instrument(tracing::info_span!("lookup", keys = partitions.len()))
            .await?;
        let mut present = 0u64;
        for &i in &lookup {
            let m = match_existing(
                &items[i].1,
                found.iter().map(|d| (d.description.as_str(), d.clone())),
            );
            let plan = match m {
                KeyMatch::Absent => Plan::Create,
                KeyMatch::Posted(d) => Plan::Found(d),
                KeyMatch::ChangedContent { posted } => Plan::Changed(posted),
            };
            if !matches!(plan, Plan::Create) {
                present += 1;
            }
            plans.push((i, plan));
        }
        batch += 1;
        keys_total += lookup.len() as u64;
        progress.emit(|| ProgressEvent::KeysLookedUp {
            batch,
            keys: lookup.len() as u64,
            found: present,
            keys_total,
        });
    }
    Ok(plans)
}

/// The ledger as a plan sees it: read once, never written. Applies the rule a run's intent
/// meets ([`LedgerEntry::standing`](crate::store::LedgerEntry)) to the entries read, and holds
/// the partitions of intents whose create may still be queued, as the run's reconciliation
/// would.
pub(crate) struct ReadLedger {
    entries: HashMap<String, LedgerEntry>,
    held: HashMap<String, InFlight>,
    now: DateTime<Utc>,
    horizon: Duration,
    /// Whether a settled skip stands (the `skip` policy is in force); otherwise a run decides
    /// it again, by lookup.
    skips_stand: bool,
}

impl ReadLedger {
    /// The ledger of one flow, as read at `now` (by the store's clock).
    pub(crate) fn new(
        entries: Vec<LedgerEntry>,
        now: DateTime<Utc>,
        horizon: Duration,
        skips_stand: bool,
    ) -> Self {
        let mut held: HashMap<String, InFlight> = HashMap::new();
        for entry in &entries {
            let Some(flight) = InFlight::of_entry(entry, now, horizon) else {
                continue;
            };
            // A reversal's intent holds the partition of the posting it reverses.
            let partition = match entry.natural_key.parse::<NaturalKey>() {
                Ok(k) => k.partition().as_str().to_owned(),
                Err(_) => match entry.natural_key.parse::<crate::key::ReversalKey>() {
                    Ok(r) => r.reversed().partition().as_str().to_owned(),
                    Err(_) => continue,
                },
            };
            let slot = held.entry(partition).or_insert_with(|| flight.clone());
            if flight.settles_after > slot.settles_after {
                *slot = flight;
            }
        }
        Self {
            entries: entries
                .into_iter()
                .map(|e| (e.natural_key.clone(), e))
                .collect(),
            held,
            now,
            horizon,
            skips_stand,
        }
    }
}

#[async_trait]
impl IntentLedger for ReadLedger {
    async fn intend(&mut self, intent: &Intent) -> Result<Before> {
        use crate::store::Standing;
        let Some(entry) = self.entries.get(&intent.natural_key) else {
            return Ok(Before::LookUp);
        };
        Ok(match entry.standing() {
            Standing::Settled if entry.state == LedgerState::Skipped && !self.skips_stand => {
                Before::LookUp
            }
            Standing::Settled => Before::Settled(Box::new(entry.clone())),
            Standing::Pending => match InFlight::of_entry(entry, self.now, self.horizon) {
                Some(flight) => Before::InFlight(flight),
                None => Before::LookUp,
            },
            Standing::Rearm => Before::LookUp,
        })
    }

    fn held(&self, partition: &PartitionKey) -> Option<InFlight> {
        self.held.get(partition.as_str()).cloned()
    }

    fn hold(&mut self, partition: &PartitionKey, flight: InFlight) {
        self.held.insert(partition.as_str().to_owned(), flight);
    }
}
