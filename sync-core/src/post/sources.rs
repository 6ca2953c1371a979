//! The primary flow's own source and sink: a Looker query ([`LookerQuerySource`]) and
//! Acumatica GL journal transactions ([`AcumaticaJournals`]).

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use looker_client::{ResultFormat, Row, RunOptions, WriteQuery};

use acumatica_client::entity::JournalTransaction;
use acumatica_client::{Filter, ListQuery};

use super::config::LookerQueryConfig;
use crate::adapt;
use crate::error::{Error, Result};
use crate::key::{NaturalKey, PartitionKey, ReversalKey};
use crate::mapping::{JournalDocument, JournalMapping, Period};
use crate::traits::{DocumentSink, ExistingDocument, PageStream, RecordSource, TaggedJournal};
use crate::validate::ReferenceData;

/// Rows of one Looker query, validated against its explore before it runs, streamed and handed
/// on in pages.
///
/// ```no_run
/// use sync_core::post::{LookerQuerySource, LookerQueryConfig};
///
/// # fn demo(looker: looker_client::Client, mapping: &sync_core::mapping::JournalMapping) -> sync_core::Result<()> {
/// let config: LookerQueryConfig = toml::from_str(r#"
///     model = "finance"
///     explore = "overhead_allocation"
/// "#).unwrap();
/// let source = LookerQuerySource::new(looker, &config, mapping)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct LookerQuerySource {
    client: looker_client::Client,
    query: WriteQuery,
    page_rows: usize,
}

impl LookerQuerySource {
    /// A source for `config`'s query; without configured fields it selects exactly the
    /// columns `mapping` reads.
    ///
    /// # Errors
    /// A configuration error when no field is selected.
    pub fn new(
        client: looker_client::Client,
        config: &LookerQueryConfig,
        mapping: &JournalMapping,
    ) -> Result<Self> {
        Self::selecting(client, config, mapping.columns())
    }

    /// A source for `config`'s query; without configured fields it selects `columns` (the
    /// columns whatever turns the rows into records reads). Every flow's Looker source is
    /// built here: [`LookerQuerySource::new`] for journal mappings, and the reference flow's
    /// source for its mappings.
    ///
    /// ```no_run
    /// use sync_core::post::{LookerQueryConfig, LookerQuerySource};
    ///
    /// # fn demo(looker: looker_client::Client) -> sync_core::Result<()> {
    /// let config: LookerQueryConfig = toml::from_str(r#"
    ///     model = "finance"
    ///     explore = "approved_vendors"
    /// "#).unwrap();
    /// let source = LookerQuerySource::selecting(
    ///     looker,
    ///     &config,
    ///     ["approved_vendors.vendor_id", "approved_vendors.name"],
    /// )?;
    /// assert_eq!(source.query().fields.as_ref().map(Vec::len), Some(2));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// A configuration error when no field is selected.
    pub fn selecting<'a>(
        client: looker_client::Client,
        config: &LookerQueryConfig,
        columns: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self> {
        let fields: Vec<String> = if config.fields.is_empty() {
            columns.into_iter().map(str::to_owned).collect()
        } else {
            config.fields.clone()
        };
        if fields.is_empty() {
            return Err(Error::config(
                "looker.fields",
                "no field to select: the mapping reads no column and none is configured",
            ));
        }
        let mut query = WriteQuery::new(&config.model, &config.explore)
            .fields(fields)
            .with_limit(config.limit);
        for (field, expression) in &config.filters {
            query = query.filter(field, expression);
        }
        if !config.sorts.is_empty() {
            query = query.sorts(config.sorts.clone());
        }
        Ok(Self {
            client,
            query,
            page_rows: config.page_rows.max(1),
        })
    }

    /// The query as it will be sent.
    pub fn query(&self) -> &WriteQuery {
        &self.query
    }
}

#[async_trait]
impl RecordSource for LookerQuerySource {
    type Record = Row;
    type Cursor = ();

    fn describe(&self) -> String {
        format!("looker {}::{}", self.query.model, self.query.view)
    }

    /// Validates the query's fields against the explore (an unknown field is an error naming
    /// the closest valid ones), then streams the rows in JSON.
    async fn pages(&self, _after: Option<&()>) -> Result<PageStream<Row>> {
        let options = RunOptions::new().validate(true);
        let rows = self
            .client
            .run_inline_query_rows::<Row>(&self.query, ResultFormat::Json, &options)
            .await?;
        Ok(rows
            .map_err(Error::from)
            .try_chunks(self.page_rows)
            .map_err(|e| e.1)
            .boxed())
    }
}

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
