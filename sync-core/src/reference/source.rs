//! The reference flow's Looker source: the post flow's [`LookerQuerySource`], selecting the
//! columns a [`ReferenceMapping`] reads.

use async_trait::async_trait;
use looker_client::{Row, WriteQuery};

use crate::error::Result;
use crate::looker_query::{LookerQueryConfig, LookerQuerySource};
use crate::mapping::ReferenceMapping;
use crate::traits::{PageStream, RecordSource};

/// Rows of one Looker query for a [`ReferenceMapping`]: without configured fields it selects
/// exactly the columns the mapping reads; the fields are validated against the explore before
/// the query runs (an unknown one is an error naming the closest valid ones). The query is
/// built and run by [`LookerQuerySource`]; this type only says which mapping picks the columns.
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
pub struct ReferenceQuerySource(LookerQuerySource);

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
        LookerQuerySource::selecting(client, config, mapping.columns()).map(Self)
    }

    /// The query as it will be sent.
    pub fn query(&self) -> &WriteQuery {
        self.0.query()
    }
}

#[async_trait]
impl RecordSource for ReferenceQuerySource {
    type Record = Row;
    type Cursor = ();

    fn describe(&self) -> String {
        self.0.describe()
    }

    async fn pages(&self, after: Option<&()>) -> Result<PageStream<Row>> {
        self.0.pages(after).await
    }
}
