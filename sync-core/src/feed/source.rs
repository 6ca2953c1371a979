//! [`AcumaticaChanges`]: records of one Acumatica entity changed after a mark, page by page.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

use acumatica_client::ListQuery;
use acumatica_client::entity::modified_field;

use crate::error::{Error, Result};
use crate::traits::{PageStream, RecordSource};

/// Records of one entity changed after a cursor (`LastModifiedDateTime gt <cursor>`), as raw
/// JSON with their details expanded, by offset pages; repeats across pages are dropped by `id`.
///
/// # Why the window has no upper bound in the query
///
/// The contract API has no ordering guarantee and pages only by `$skip`. A filter
/// `LastModifiedDateTime gt since and LastModifiedDateTime le signpost` loses records: when a
/// record on an already-read page is modified while paging, its new timestamp moves it *out*
/// of the filtered set, every later record shifts one place forward, and the next `$skip` jumps
/// over one unread record. With only the lower bound, a modification keeps the record *in* the
/// set (its timestamp only grows) and an insert can only push records back, which repeats a
/// record (dropped by id) but never skips one. Records newer than the signpost are simply
/// written early; the flow's mark still moves only to the signpost, so the next window reads
/// them again. Entities without a last-modified field (`Subaccount`) are read whole each run.
///
/// ```no_run
/// use futures::TryStreamExt;
/// use sync_core::feed::AcumaticaChanges;
/// use sync_core::traits::RecordSource;
///
/// # async fn demo(client: acumatica_client::Client) -> sync_core::Result<()> {
/// let bills = AcumaticaChanges::new(client, "Bill").expand(["Details"]).page_size(200);
/// let since = chrono::Utc::now() - chrono::Duration::hours(1);
/// let mut pages = bills.pages(Some(&since)).await?;
/// while let Some(page) = pages.try_next().await? {
///     println!("{} bills", page.len());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AcumaticaChanges {
    client: acumatica_client::Client,
    entity: String,
    expand: Vec<String>,
    page_size: u32,
}

impl AcumaticaChanges {
    /// Changes of `entity` (500 records per page, nothing expanded).
    pub fn new(client: acumatica_client::Client, entity: impl Into<String>) -> Self {
        Self {
            client,
            entity: entity.into(),
            expand: Vec::new(),
            page_size: 500,
        }
    }

    /// Detail collections to `$expand` (e.g. `Details`).
    #[must_use]
    pub fn expand<S: Into<String>>(mut self, details: impl IntoIterator<Item = S>) -> Self {
        self.expand.extend(details.into_iter().map(Into::into));
        self
    }

    /// Records per page.
    #[must_use]
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// Whether the entity has a last-modified field in the client's endpoint version.
    pub fn is_incremental(&self) -> bool {
        modified_field(&self.entity, self.client.endpoint_version()).is_ok()
    }
}

#[async_trait]
impl RecordSource for AcumaticaChanges {
    type Record = Value;
    type Cursor = DateTime<Utc>;

    fn describe(&self) -> String {
        format!("acumatica {}", self.entity)
    }

    async fn pages(&self, after: Option<&DateTime<Utc>>) -> Result<PageStream<Value>> {
        let mut query = ListQuery::new().page_size(self.page_size);
        if !self.expand.is_empty() {
            query = query.expand(self.expand.clone());
        }
        if let Some(since) = after
            && self.is_incremental()
        {
            let filter = self
                .client
                .changed_filter(&self.entity, since.fixed_offset(), None)?;
            query = query.filter(filter);
        }
        let entity = self.entity.clone();
        Ok(self
            .client
            .list_json_pages(&self.entity, query)
            .map_err(Error::from)
            .map_ok(move |page| {
                if page.repeats_dropped > 0 {
                    tracing::debug!(entity = %entity, repeats = page.repeats_dropped, "repeats dropped by id");
                }
                page.records
            })
            .boxed())
    }
}
