//! The small public traits the flows are written against, so a user can bring their own source
//! or sink: a [`RecordSource`] read from a cursor, page by page, and a [`DocumentSink`] that
//! finds documents by natural key and creates them insert-only. The warehouse side's sink is
//! [`WarehouseSink`](crate::warehouse::WarehouseSink); the state store is
//! [`StateStore`](crate::store::StateStore) and the credential store
//! [`CredentialStore`](crate::vault::CredentialStore).
//!
//! The crate's own implementations (with the `flows` feature): `post::LookerQuerySource` and
//! `feed::AcumaticaChanges` (sources), `post::AcumaticaJournals` (document sink). The state
//! store and the mapping come from [`crate::store`] and [`crate::mapping`]; the natural key
//! from [`crate::key`].

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::error::Result;
use crate::key::{NaturalKey, PartitionKey, ReversalKey};
use crate::mapping::{JournalDocument, Period};
use crate::validate::ReferenceData;

/// Pages of records, in the order the source gives them. A page is the unit a flow writes and
/// checkpoints; an empty stream means nothing to read.
pub type PageStream<T> = BoxStream<'static, Result<Vec<T>>>;

/// A source of records, read after a cursor.
///
/// The stream pages by itself (offset, keyset or streaming chunks: the source knows what its
/// API offers), so the flow needs no separate pager.
///
/// # Example
///
/// A source of fixed records, e.g. for a test:
///
/// ```
/// use async_trait::async_trait;
/// use futures::{StreamExt, TryStreamExt, stream};
/// use sync_core::traits::{PageStream, RecordSource};
///
/// struct Fixed(Vec<(u32, &'static str)>);
///
/// #[async_trait]
/// impl RecordSource for Fixed {
///     type Record = &'static str;
///     type Cursor = u32;
///     fn describe(&self) -> String { "fixed records".into() }
///     async fn pages(&self, after: Option<&u32>) -> sync_core::Result<PageStream<&'static str>> {
///         let after = after.copied().unwrap_or(0);
///         let page: Vec<_> = self.0.iter().filter(|(c, _)| *c > after).map(|(_, r)| *r).collect();
///         Ok(stream::iter([Ok(page)]).boxed())
///     }
/// }
///
/// # tokio_test(async {
/// let source = Fixed(vec![(1, "a"), (2, "b"), (3, "c")]);
/// let pages: Vec<Vec<&str>> = source.pages(Some(&1)).await.unwrap().try_collect().await.unwrap();
/// assert_eq!(pages, vec![vec!["b", "c"]]);
/// # });
/// # fn tokio_test(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[async_trait]
pub trait RecordSource: Send + Sync {
    /// One record.
    type Record: Send + 'static;
    /// Where a read starts (exclusive): a timestamp, a key, or `()` for sources read whole.
    type Cursor: Clone + Send + Sync;

    /// A short description for logs and audit summaries (`looker finance::overhead_allocation`).
    fn describe(&self) -> String;

    /// Opens the records after `after` (all records when `None`) as a stream of pages.
    async fn pages(&self, after: Option<&Self::Cursor>) -> Result<PageStream<Self::Record>>;

    /// Opens the records after `after` and before `until` (the end of a window, such as the
    /// feed's signpost). A source may return records past `until` too (the default opens
    /// [`pages`](Self::pages), with no end); it must not leave out any record before it.
    async fn pages_until(
        &self,
        after: Option<&Self::Cursor>,
        until: &Self::Cursor,
    ) -> Result<PageStream<Self::Record>> {
        let _ = until;
        self.pages(after).await
    }
}

/// A document the target system holds, as a lookup or a create returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingDocument {
    /// The document's module or type (`GL`).
    pub module: String,
    /// The number the target assigned (`BatchNbr`).
    pub number: String,
    /// The target's record id, when known.
    pub id: Option<String>,
    /// The header description, which carries the natural key tag.
    pub description: String,
    /// The document's status (`Balanced`, `Posted`, ...), when known.
    pub status: Option<String>,
}

impl ExistingDocument {
    /// The natural key embedded in the description, if any.
    pub fn natural_key(&self) -> Option<NaturalKey> {
        crate::key::extract_key(&self.description)
    }

    /// Whether the document is released (status `Posted`, `Unposted` or `Released`).
    pub fn is_released(&self) -> bool {
        matches!(
            self.status.as_deref(),
            Some("Posted" | "Unposted" | "Released")
        )
    }
}

/// A journal of this connector (its description carries a `[mlc:` or `[mlc-rev:` tag) found
/// in a financial period by [`DocumentSink::tagged_in_period`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedJournal {
    /// The number the target assigned (`BatchNbr`).
    pub number: String,
    /// The header description with its tag.
    pub description: String,
    /// The header branch (`BranchID`), when known.
    pub branch: Option<String>,
}

/// Where journals are posted: finds them by natural key and creates them insert-only.
///
/// The flow calls [`find`](Self::find) with one page of partition keys at a time (one request
/// per page) and [`create`](Self::create) only for keys found absent. An implementation must
/// never retry a create by itself after it may have reached the target: it returns an error
/// for which [`Error::is_outcome_unknown`](crate::Error::is_outcome_unknown) is true, and the
/// flow looks the key up before anything else.
#[async_trait]
pub trait DocumentSink: Send + Sync {
    /// Every document whose description carries one of these partition keys (any content).
    async fn find(&self, partitions: &[PartitionKey]) -> Result<Vec<ExistingDocument>>;

    /// Creates the document (insert-only) with its natural key embedded where
    /// [`find`](Self::find) looks for it.
    async fn create(
        &self,
        document: &JournalDocument,
        key: &NaturalKey,
    ) -> Result<ExistingDocument>;

    /// Creates (insert-only) the journal that reverses a posted one, with its description
    /// tagged `[mlc-rev:<reversed key>]` and starting with the key's marker
    /// ([`ReversalKey::description`]), so that [`find`](Self::find) of the reversed key's
    /// partition returns it. The same rule as [`create`](Self::create): never retried by itself.
    ///
    /// The default refuses (a configuration error: nothing is sent), for sinks that cannot
    /// reverse; the `reverse_and_repost` policy then fails each changed journal.
    async fn create_reversal(
        &self,
        reversal: &JournalDocument,
        key: &ReversalKey,
    ) -> Result<ExistingDocument> {
        let _ = reversal;
        Err(crate::Error::config(
            "changed_content",
            format!(
                "this document sink cannot create reversals, so batch {} cannot be reversed; implement DocumentSink::create_reversal or use the `fail` or `skip` policy",
                key.batch()
            ),
        ))
    }
    /// Every journal of this connector in a financial period (any key namespace), with its
    /// branch, in one list request; used to notice journals of a partition this flow no longer
    /// produces (a renamed flow or `group_by` value). `None` (the default): the sink cannot
    /// tell, and the check is skipped.
    async fn tagged_in_period(&self, period: Period) -> Result<Option<Vec<TaggedJournal>>> {
        let _ = period;
        Ok(None)
    }
    /// Releases (posts) a created document.
    async fn release(&self, document: &ExistingDocument) -> Result<()>;

    /// Reads a posted document back in neutral form (lines and header), to build its reversal.
    /// `flow` and `partition` of the result are left empty; the flow fills them in.
    async fn fetch(&self, document: &ExistingDocument) -> Result<JournalDocument>;

    /// The target's reference data (accounts, subaccounts, branches, ledgers, periods) that
    /// documents are validated against before any write; read once per run.
    async fn reference_data(&self) -> Result<ReferenceData>;
}
