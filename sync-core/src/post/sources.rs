//! The primary flow's sink: Acumatica GL journal transactions ([`AcumaticaJournals`]). Its
//! source, a Looker query, is shared with the reference flow and lives in
//! [`looker_query`](crate::looker_query).

use async_trait::async_trait;
use futures::TryStreamExt;

use acumatica_client::entity::JournalTransaction;
use acumatica_client::{Filter, ListQuery};

use crate::adapt;
use crate::error::Result;
use crate::key::{NaturalKey, PartitionKey, ReversalKey};
use crate::mapping::{JournalDocument, Period};
use crate::traits::{DocumentSink, ExistingDocument, TaggedJournal};
use crate::validate::ReferenceData;

/// GL journal transactions in Acumatica: looked up by the natural key in the batch
/// `Description`, created insert-only, released on request.
///
/// ```no_run
/// use sync_core::post::AcumaticaJournals;
/// # fn demo(client: acumatica_client::Client) {
/// let sink = AcumaticaJournals::new(client);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AcumaticaJournals {
    client: acumatica_client::Client,
}

impl AcumaticaJournals {
    /// Journals of the site `client` is configured for.
    pub fn new(client: acumatica_client::Client) -> Self {
        Self { client }
    }

    /// The client.
    pub fn client(&self) -> &acumatica_client::Client {
        &self.client
    }
}

#[async_trait]
impl DocumentSink for AcumaticaJournals {
    /// One list request: `$filter=substringof('[mlc:<p1>-',Description) or ...` with
    /// `$select=BatchNbr,Module,Description,Status`.
    async fn find(&self, partitions: &[PartitionKey]) -> Result<Vec<ExistingDocument>> {
        let mut filter: Option<Filter> = None;
        for p in partitions {
            let term = Filter::contains("Description", p.description_needle());
            filter = Some(match filter {
                Some(f) => f.or(term),
                None => term,
            });
        }
        let Some(filter) = filter else {
            return Ok(Vec::new());
        };
        let query =
            ListQuery::new()
                .filter(filter)
                .select(["BatchNbr", "Module", "Description", "Status"]);
        let found: Vec<JournalTransaction> = self.client.list(query).try_collect().await?;
        found.iter().map(adapt::existing_document).collect()
    }

    async fn create(
        &self,
        document: &JournalDocument,
        key: &NaturalKey,
    ) -> Result<ExistingDocument> {
        let batch = adapt::journal_transaction(document, key);
        let created = self.client.create_journal_transaction(&batch).await?;
        let mut existing = adapt::existing_document(&created.record).unwrap_or(ExistingDocument {
            module: created.module.clone(),
            number: created.batch_nbr.clone(),
            id: None,
            description: String::new(),
            status: None,
        });
        existing.number = created.batch_nbr;
        existing.module = created.module;
        existing.id = created.id.or(existing.id);
        if existing.description.is_empty() {
            existing.description = crate::key::embed_key(&document.description, key);
        }
        Ok(existing)
    }

    async fn create_reversal(
        &self,
        reversal: &JournalDocument,
        key: &ReversalKey,
    ) -> Result<ExistingDocument> {
        let batch = adapt::reversal_transaction(reversal, key);
        let created = self.client.create_journal_transaction(&batch).await?;
        let mut existing = adapt::existing_document(&created.record).unwrap_or(ExistingDocument {
            module: created.module.clone(),
            number: created.batch_nbr.clone(),
            id: None,
            description: String::new(),
            status: None,
        });
        existing.number = created.batch_nbr;
        existing.module = created.module;
        existing.id = created.id.or(existing.id);
        if existing.description.is_empty() {
            existing.description = key.description(&reversal.description);
        }
        Ok(existing)
    }

    /// One list request: `$filter=PostPeriod eq '<MMYYYY>' and substringof('[mlc',Description)`
    /// with `$select=BatchNbr,Description,BranchID,PostPeriod`.
    async fn tagged_in_period(&self, period: Period) -> Result<Option<Vec<TaggedJournal>>> {
        let filter =
            Filter::eq("PostPeriod", period.mmyyyy()).and(Filter::contains("Description", "[mlc"));
        let query = ListQuery::new().filter(filter).select([
            "BatchNbr",
            "Description",
            "BranchID",
            "PostPeriod",
        ]);
        let found: Vec<JournalTransaction> = self.client.list(query).try_collect().await?;
        Ok(Some(
            found
                .iter()
                .filter_map(|jt| {
                    Some(TaggedJournal {
                        number: jt.batch_nbr.get()?.trim().to_owned(),
                        description: jt.description.get()?.clone(),
                        branch: jt.branch_id.get().map(|b| b.trim().to_owned()),
                    })
                })
                .collect(),
        ))
    }

    async fn release(&self, document: &ExistingDocument) -> Result<()> {
        self.client
            .release_journal_transaction(&document.module, &document.number)
            .await?;
        Ok(())
    }

    async fn fetch(&self, document: &ExistingDocument) -> Result<JournalDocument> {
        let batch: JournalTransaction = self
            .client
            .get_by_keys(
                &[document.module.as_str(), document.number.as_str()],
                &ListQuery::new().expand(["Details"]),
            )
            .await?;
        adapt::journal_document(&batch)
    }

    async fn reference_data(&self) -> Result<ReferenceData> {
        adapt::read_reference_data(&self.client).await
    }
}
