//! Journals of this connector that a flow would not produce: the check behind
//! [`PostOptions::foreign_journals`](super::PostOptions::foreign_journals).
//!
//! A journal's partition hash covers the flow's key namespace and its `group_by` values, so a
//! renamed flow (without `key_namespace`) or a renamed `group_by` value (a cost center's new
//! display name) produces new partitions, and the lookup by partition finds nothing: the period
//! would be posted a second time. Before posting, the flow lists the journals of this
//! connector in each period it posts to (one request per period) and reports those of its
//! branches whose partition none of its journals has.
//!
//! The same list also holds the journals of other flows posting to the same period and branch,
//! which a run cannot tell from a renamed flow's; hence the default policy only warns.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::key::{NaturalKey, PartitionKey, tagged_partition};
use crate::mapping::JournalDocument;
use crate::traits::DocumentSink;

/// What a post run does when Acumatica holds journals of this connector for a period and
/// branch it posts to, under a partition it does not produce (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForeignJournalPolicy {
    /// Record a warning in the audit trail and the log, and post (default: several flows may
    /// post to one period and branch, and their journals look the same to this check).
    #[default]
    Warn,
    /// Refuse the run, naming the batches, before anything is posted. For installations where
    /// each period and branch belongs to one flow.
    Refuse,
    /// Do not look (saves one list request per period).
    Ignore,
}

/// A journal of this connector for a period and branch the flow posts to, under a partition
/// none of the flow's journals has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignJournal {
    /// Its batch number.
    pub batch: String,
    /// Its description (with its tag).
    pub description: String,
    /// The period (`MMYYYY`).
    pub period: String,
    /// The branch.
    pub branch: String,
    /// The partition hash of its tag.
    pub partition: String,
}

impl std::fmt::Display for ForeignJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "batch {} (period {}, branch {}): {}",
            self.batch, self.period, self.branch, self.description
        )
    }
}

/// Lists the journals of this connector in the periods of `documents` (one request per
/// period) and returns those of the documents' branches whose partition is neither one of the
/// documents' nor in `known` (e.g. partitions of other flows known to post there). `None`
/// when the sink cannot list them ([`DocumentSink::tagged_in_period`]).
///
/// # Errors
/// The sink's list errors.
pub async fn foreign_journals(
    sink: &dyn DocumentSink,
    documents: &[JournalDocument],
    known: &BTreeSet<PartitionKey>,
) -> Result<Option<Vec<ForeignJournal>>> {
    let ours: BTreeSet<PartitionKey> = documents
        .iter()
        .map(|d| NaturalKey::for_document(d).partition().clone())
        .chain(known.iter().cloned())
        .collect();
    let places: BTreeSet<(String, String)> = documents
        .iter()
        .map(|d| (d.period.mmyyyy(), d.branch.clone()))
        .collect();
    let periods: BTreeSet<_> = documents.iter().map(|d| d.period).collect();
    let mut out = Vec::new();
    for period in periods {
        let Some(found) = sink.tagged_in_period(period).await? else {
            return Ok(None);
        };
        for j in found {
            let Some(partition) = tagged_partition(&j.description) else {
                continue;
            };
            let branch = j.branch.unwrap_or_default();
            if ours.contains(&partition) || !places.contains(&(period.mmyyyy(), branch.clone())) {
                continue;
            }
            out.push(ForeignJournal {
                batch: j.number,
                description: j.description,
                period: period.mmyyyy(),
                branch,
                partition: partition.to_string(),
            });
        }
    }
    out.sort_by(|a, b| (&a.period, &a.branch, &a.batch).cmp(&(&b.period, &b.branch, &b.batch)));
    Ok(Some(out))
}

/// The message for foreign journals: which batches, and what to do.
pub fn foreign_message(flow: &str, found: &[ForeignJournal]) -> String {
    let list: Vec<String> = found.iter().map(ToString::to_string).collect();
    format!(
        "Acumatica already holds {} journal(s) of this connector for the periods and branches flow `{flow}` posts to, under partitions this flow does not produce: {}. If the flow was renamed, set key_namespace to its old name; if a group_by value was renamed, group by a stable id; if another flow posts there, this is expected (set post.foreign_journals = \"warn\" or \"ignore\")",
        found.len(),
        list.join("; ")
    )
}

impl super::PostFlow {
    /// The check before posting (see [`ForeignJournalPolicy`]).
    pub(super) async fn check_foreign(
        &self,
        poster: &mut super::protocol::Poster,
        documents: &[JournalDocument],
    ) -> Result<()> {
        let policy = self.options.foreign_journals;
        if policy == ForeignJournalPolicy::Ignore || documents.is_empty() {
            return Ok(());
        }
        let Some(found) = foreign_journals(&*self.sink, documents, &BTreeSet::new()).await? else {
            return Ok(());
        };
        if found.is_empty() {
            return Ok(());
        }
        let message = foreign_message(self.name(), &found);
        tracing::warn!(flow = %self.name(), journals = found.len(), "{message}");
        poster
            .audit(
                None,
                crate::store::AuditStage::Skipped,
                format!(
                    "{} journal(s) of this connector under partitions this flow does not produce",
                    found.len()
                ),
                serde_json::json!({"policy": policy, "journals": found, "hint": "set key_namespace to the flow's old name after a rename; group_by stable ids"}),
            )
            .await?;
        if policy == ForeignJournalPolicy::Refuse {
            return Err(crate::Error::config("post.foreign_journals", message));
        }
        Ok(())
    }
}
