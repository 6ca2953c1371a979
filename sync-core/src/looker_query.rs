//! A Looker query as a source of rows, shared by the flows that read Looker (post and
//! reference): its configuration ([`LookerQueryConfig`], readable from TOML) and the source
//! ([`LookerQuerySource`]) that validates the query's fields against its explore, runs it and
//! hands the rows on in pages.

use std::collections::BTreeMap;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use looker_client::{ResultFormat, Row, RunOptions, WriteQuery};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::mapping::JournalMapping;
use crate::traits::{PageStream, RecordSource};

/// Which Looker query feeds the flow.
///
/// ```
/// let q: sync_core::post::LookerQueryConfig = toml::from_str(r#"
/// model = "finance"
/// explore = "overhead_allocation"
/// filters = { "overhead_allocation.period" = "102026" }
/// "#).unwrap();
/// assert!(q.fields.is_empty()); // the mapping's columns are requested
/// assert_eq!(q.limit, -1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookerQueryConfig {
    /// LookML model.
    pub model: String,
    /// Explore (the query's `view`).
    pub explore: String,
    /// Fields to select; empty means exactly the columns the mapping reads.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Filters: field name to Looker filter expression.
    #[serde(default)]
    pub filters: BTreeMap<String, String>,
    /// Sorts (`view.field desc`).
    #[serde(default)]
    pub sorts: Vec<String>,
    /// Row limit; `-1` (the default) reads every row. A result that reaches a positive limit
    /// is an error, never silently cut.
    #[serde(default = "unlimited")]
    pub limit: i64,
    /// Rows per page handed to the flow (default 500).
    #[serde(default = "default_page_rows")]
    pub page_rows: usize,
}

fn unlimited() -> i64 {
    -1
}

fn default_page_rows() -> usize {
    500
}

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
