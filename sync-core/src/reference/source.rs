//! The reference flow's Looker source: one inline query selecting the mapping's columns.

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use looker_client::{ResultFormat, Row, RunOptions, WriteQuery};

use crate::error::{Error, Result};
use crate::mapping::ReferenceMapping;
use crate::post::LookerQueryConfig;
use crate::traits::{PageStream, RecordSource};

/// Rows of one Looker query for a [`ReferenceMapping`]: without configured fields it selects
/// exactly the columns the mapping reads; the fields are validated against the explore before
/// the query runs (an unknown one is an error naming the closest valid ones).
///
/// ```no_run
/// use sync_core::mapping::ReferenceMapping;
/// use sync_core::post::LookerQueryConfig;
/// use sync_core::reference::ReferenceQuerySource;
///
/// # fn demo(looker: looker_client::Client) -> sync_core::Result<()> {
/// let mapping = ReferenceMapping::from_toml_file("approved_vendors.toml")?;
/// let query: LookerQueryConfig = toml::from_str(r#"
///     model = "finance"
///     explore = "approved_vendors"
/// "#).expect("valid TOML");
/// let source = ReferenceQuerySource::new(looker, &query, &mapping)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ReferenceQuerySource {
    client: looker_client::Client,
    query: WriteQuery,
    page_rows: usize,
}

impl ReferenceQuerySource {
    /// A source for `config`'s query.
    ///
    /// # Errors
    /// A configuration error when no field is selected.
    pub fn new(
        client: looker_client::Client,
        config: &LookerQueryConfig,
        mapping: &ReferenceMapping,
    ) -> Result<Self> {
        let fields: Vec<String> = if config.fields.is_empty() {
            mapping.columns().into_iter().map(str::to_owned).collect()
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
impl RecordSource for ReferenceQuerySource {
    type Record = Row;
    type Cursor = ();

    fn describe(&self) -> String {
        format!("looker {}::{}", self.query.model, self.query.view)
    }

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
