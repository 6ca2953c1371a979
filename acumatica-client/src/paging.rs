//! Listing as `futures` streams, by page and by record.
//!
//! The contract API has neither ordering nor a count (FACTS section 6), so:
//!
//! - **Offset paging** (`$top` + `$skip`) stops at the first short page and
//!   drops records whose `id` was already seen (rows that shift between
//!   requests can repeat). A full page made only of repeats means the server
//!   ignores `$skip`; that is an error rather than an endless loop.
//! - **Keyset paging** (`Key gt 'last'`) asks for the records after the last
//!   key of the previous page; it does not skip or repeat rows that change
//!   while paging.
//! - **Changes in a window**: `LastModifiedDateTime gt since and
//!   LastModifiedDateTime le until`, with the per-entity field rules of
//!   [`modified_field`](crate::entity::modified_field).

use std::collections::HashSet;

use chrono::{DateTime, FixedOffset};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;
use serde_json::value::RawValue;

use crate::client::Client;
use crate::dynamic::DynamicEntity;
use crate::entity::{Entity, modified_field};
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::query::{self, ListQuery};
use crate::read::decode;

/// One page of a listing.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    /// Records new in this page (repeats of earlier pages removed).
    pub records: Vec<T>,
    /// Records the server returned, repeats included.
    pub returned: usize,
    /// How many were dropped as repeats of an earlier page.
    pub repeats_dropped: usize,
}

#[derive(Clone)]
enum Mode {
    Offset {
        next_skip: u32,
    },
    Keyset {
        field: String,
        after: Option<String>,
    },
}

struct Pager {
    client: Client,
    entity: String,
    query: ListQuery,
    page_size: u32,
    remaining: Option<u32>,
    mode: Mode,
    seen: HashSet<SeenId>,
    done: bool,
}

impl Pager {
    async fn next_page<T: Listed>(&mut self) -> Result<Option<Page<T>>> {
        if self.done || self.remaining == Some(0) {
            return Ok(None);
        }
        let want = self
            .remaining
            .map_or(self.page_size, |r| r.min(self.page_size));
        let mut q = self.query.clone();
        if let Mode::Keyset {
            field,
            after: Some(last),
        } = &self.mode
        {
            q = q.filter(Filter::gt(field.clone(), last.as_str()));
        }
        let skip = match &self.mode {
            Mode::Offset { next_skip } => *next_skip,
            Mode::Keyset { .. } => 0,
        };
        let body = fetch_page(&self.client, &self.entity, q, want, skip).await?;
        let what = format!("GET {} (list)", self.entity);
        let mut last_key = None;
        let rows: Vec<(Option<SeenId>, Result<T>)> = match &self.mode {
            Mode::Offset { .. } => decode_page(&body, &what)?,
            Mode::Keyset { field, .. } => {
                let raw: Vec<Raw> = decode(&body, &what)?;
                if let Some(last) = raw.last() {
                    last_key = Some(keyset_key(last, field, raw.len() - 1, &self.entity)?);
                }
                raw.iter()
                    .enumerate()
                    .map(|(i, row)| (raw_id(row).map(SeenId::new), decode_raw(row, i, &what)))
                    .collect()
            }
        };
        let returned = rows.len();
        if returned as u64 > u64::from(want) {
            // The server ignored $top; paging stays correct (repeats are dropped).
            tracing::warn!(entity = %self.entity, returned, want, "the server returned more rows than $top");
        }
        let (records, repeats) = keep_new(rows, &mut self.seen)?;
        if let Some(r) = &mut self.remaining {
            *r = r.saturating_sub(records.len() as u32);
        }
        match &mut self.mode {
            Mode::Offset { next_skip } => {
                *next_skip += returned as u32;
            }
            Mode::Keyset { after, field } => {
                if returned > 0 && last_key.is_some() && *after == last_key {
                    return Err(Error::decode(
                        field.clone(),
                        format!(
                            "keyset paging of {} did not advance past {field} = {:?}; the key must be unique",
                            self.entity, last_key
                        ),
                    ));
                }
                if last_key.is_some() {
                    *after = last_key;
                }
            }
        }
        if returned < want as usize {
            self.done = true;
        } else if records.is_empty() && matches!(self.mode, Mode::Offset { .. }) {
            return Err(ignored_skip(&self.entity, returned));
        }
        Ok(Some(Page {
            records,
            returned,
            repeats_dropped: repeats,
        }))
    }
}

/// The keyset key of a page's last record.
fn keyset_key(last: &RawValue, field: &str, index: usize, entity: &str) -> Result<String> {
    let last: Json = serde_json::from_str(last.get())
        .map_err(|e| Error::decode(format!("[{index}]"), format!("GET {entity}: {e}")))?;
    match last.get(field).and_then(|v| v.get("value")) {
        Some(Json::String(s)) => Ok(s.clone()),
        Some(Json::Number(n)) => Ok(n.to_string()),
        _ => Err(Error::decode(
            field.to_owned(),
            format!(
                "keyset paging of {entity} needs the key field {field} in every record; add it to $select"
            ),
        )),
    }
}

/// A record id remembered to drop repeats. Acumatica ids are GUIDs, kept as
/// 16 bytes rather than a 36-character string: the set holds every id of a
/// listing, so this is most of a long listing's memory. Any other id is kept
/// as it is (never hashed down, which could drop a record by collision).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum SeenId {
    Guid(u128),
    Text(String),
}

impl SeenId {
    fn new(id: impl AsRef<str> + Into<String>) -> Self {
        match parse_guid(id.as_ref()) {
            Some(g) => Self::Guid(g),
            None => Self::Text(id.into()),
        }
    }
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hex, either case) as a number.
/// Case is folded, as GUIDs compare without case.
fn parse_guid(text: &str) -> Option<u128> {
    let b = text.as_bytes();
    if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
        return None;
    }
    let mut value: u128 = 0;
    for (i, &c) in b.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            continue;
        }
        value = (value << 4) | u128::from((c as char).to_digit(16)?);
    }
    Some(value)
}

/// Keeps the records whose id was not seen on an earlier page (records
/// without an id are always kept); a record that failed to decode fails the
/// page only when it is kept. Returns the records and the repeats dropped.
fn keep_new<T>(
    rows: Vec<(Option<SeenId>, Result<T>)>,
    seen: &mut HashSet<SeenId>,
) -> Result<(Vec<T>, usize)> {
    let mut records = Vec::with_capacity(rows.len());
    let mut repeats = 0;
    for (id, record) in rows {
        if id.is_none_or(|id| seen.insert(id)) {
            records.push(record?);
        } else {
            repeats += 1;
        }
    }
    Ok((records, repeats))
}

fn ignored_skip(entity: &str, returned: usize) -> Error {
    Error::decode(
        "",
        format!(
            "listing {entity}: a full page of {returned} records held only records already seen; \
             the server seems to ignore $skip. Use keyset paging (list_keyset) instead"
        ),
    )
}

/// One `GET` of `$top = top` records after `$skip = skip`; the body as sent.
async fn fetch_page(
    client: &Client,
    entity: &str,
    mut q: ListQuery,
    top: u32,
    skip: u32,
) -> Result<bytes::Bytes> {
    q.top = None;
    q.skip = None;
    let mut pairs = q.pairs(false);
    pairs.push(("$top", top.to_string()));
    if skip > 0 {
        pairs.push(("$skip", skip.to_string()));
    }
    let mut url = client.entity_url(entity)?;
    query::apply(&mut url, &pairs);
    Ok(client.get_path(url, entity).await?.body)
}

/// A record type a listing can produce: decodable, and with the record's
/// `id` readable once decoded (to drop repeats between pages).
pub(crate) trait Listed: DeserializeOwned + Send + 'static {
    /// The record's top-level `id`, when it has one.
    fn record_id(&self) -> Option<&str>;
}

impl<E: Entity> Listed for E {
    fn record_id(&self) -> Option<&str> {
        self.id()
    }
}

impl Listed for Json {
    fn record_id(&self) -> Option<&str> {
        self.get("id").and_then(Json::as_str)
    }
}

/// Decodes a page body into its records, each with its `id`.
///
/// The fast path reads the whole page in one pass. Only when that fails is
/// the page split into records and each decoded alone, so the error names
/// the record and the field, and a bad record fails the listing only if it is
/// not a repeat of an earlier page.
fn decode_page<T: Listed>(body: &[u8], what: &str) -> Result<Vec<(Option<SeenId>, Result<T>)>> {
    if let Ok(records) = serde_json::from_slice::<Vec<T>>(body) {
        return Ok(records
            .into_iter()
            .map(|r| (r.record_id().map(SeenId::new), Ok(r)))
            .collect());
    }
    let raw: Vec<Raw> = decode(body, what)?;
    Ok(raw
        .iter()
        .enumerate()
        .map(|(i, row)| (raw_id(row).map(SeenId::new), decode_raw(row, i, what)))
        .collect())
}

/// Offset paging with up to `concurrency` pages in flight: page offsets are
/// known in advance, so later pages are requested while earlier ones are
/// still on the wire. Each page is fetched and decoded on its own task, so
/// decoding uses every core and overlaps the transfers; pages are still
/// yielded in order, repeats dropped, and the stream ends at the first short
/// page (tasks already started for later pages are aborted).
fn pages_concurrent<T: Listed>(
    client: Client,
    entity: String,
    query: ListQuery,
    page_size: u32,
    concurrency: usize,
    what: String,
) -> BoxStream<'static, Result<Page<T>>> {
    let start = query.skip.unwrap_or(0);
    let limit = query.top;
    let offsets = (0u32..).map_while(move |k| {
        let offset = k.checked_mul(page_size)?;
        let want = match limit {
            Some(total) if offset >= total => return None,
            Some(total) => (total - offset).min(page_size),
            None => page_size,
        };
        Some((start.checked_add(offset)?, want))
    });
    let fetches = stream::iter(offsets)
        .map(move |(skip, want)| {
            let client = client.clone();
            let entity = entity.clone();
            let query = query.clone();
            let what = what.clone();
            AbortOnDrop(tokio::spawn(async move {
                let body = fetch_page(&client, &entity, query, want, skip).await?;
                // Decoding a page is milliseconds of CPU: off the async workers.
                let decoded = tokio::task::spawn_blocking(move || decode_page::<T>(&body, &what))
                    .await
                    .map_err(join_error)??;
                Ok::<_, Error>((entity, decoded, want))
            }))
        })
        .buffered(concurrency.max(1));
    // `unfold` rather than `scan`: once done, the in-flight requests are
    // dropped without polling the buffer again (which would start more).
    let state = (fetches.boxed(), HashSet::<SeenId>::new(), false);
    stream::unfold(state, |(mut fetches, mut seen, done)| async move {
        if done {
            return None;
        }
        let (out, done) = match fetches.next().await? {
            Err(e) => (Err(e), true),
            Ok((entity, rows, want)) => {
                let returned = rows.len();
                match keep_new(rows, &mut seen) {
                    Err(e) => (Err(e), true),
                    Ok((records, repeats)) => {
                        let page = Page {
                            records,
                            returned,
                            repeats_dropped: repeats,
                        };
                        if returned < want as usize {
                            (Ok(page), true)
                        } else if page.records.is_empty() {
                            (Err(ignored_skip(&entity, returned)), true)
                        } else {
                            (Ok(page), false)
                        }
                    }
                }
            }
        };
        Some((out, (fetches, seen, done)))
    })
    .boxed()
}

/// A spawned page task that is aborted when the listing no longer wants it
/// (the stream ended early or was dropped).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> std::future::Future for AbortOnDrop<Result<T>> {
    type Output = Result<T>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<T>> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|joined| joined.map_err(join_error).and_then(|r| r))
    }
}

/// A page task that panicked passes the panic on; one cancelled (the
/// runtime is shutting down) is an error.
fn join_error(e: tokio::task::JoinError) -> Error {
    match e.try_into_panic() {
        Ok(panic) => std::panic::resume_unwind(panic),
        Err(e) => Error::new(
            crate::error::ErrorKind::Transport,
            format!("a page request was cancelled: {e}"),
        ),
    }
}

fn pages<T: Listed>(pager: Pager) -> BoxStream<'static, Result<Page<T>>> {
    stream::try_unfold(pager, |mut pager| async move {
        let page = pager.next_page::<T>().await?;
        Ok(page.map(|p| (p, pager)))
    })
    .boxed()
}

/// A record as the text the server sent, not parsed yet.
type Raw = Box<RawValue>;

/// The top-level `id` of a raw record, without decoding the rest.
fn raw_id(raw: &RawValue) -> Option<String> {
    if let Some(id) = leading_id(raw.get()) {
        return Some(id.to_owned());
    }
    #[derive(Deserialize)]
    struct IdOnly {
        #[serde(default)]
        id: Option<String>,
    }
    serde_json::from_str::<IdOnly>(raw.get()).ok()?.id
}

/// The `id` when it is the record's first key and a string without escapes,
/// which is how Acumatica writes records: found without scanning the rest of
/// the record (a listing checks every record for repeats).
fn leading_id(text: &str) -> Option<&str> {
    let rest = text.trim_start().strip_prefix('{')?.trim_start();
    let rest = rest.strip_prefix("\"id\"")?.trim_start();
    let rest = rest.strip_prefix(':')?.trim_start().strip_prefix('"')?;
    let end = rest.find(['"', '\\'])?;
    (rest.as_bytes()[end] == b'"').then(|| &rest[..end])
}

fn decode_raw<T: DeserializeOwned>(raw: &RawValue, index: usize, what: &str) -> Result<T> {
    // Fast path without path tracking; a failure is decoded again to name
    // the path.
    if let Ok(value) = serde_json::from_str(raw.get()) {
        return Ok(value);
    }
    let prefix = format!("[{index}]");
    let mut de = serde_json::Deserializer::from_str(raw.get());
    let tracked: std::result::Result<T, _> = serde_path_to_error::deserialize(&mut de);
    tracked.map_err(|e| {
        let inner = e.path().to_string();
        let path = if inner == "." {
            prefix.to_owned()
        } else {
            format!("{prefix}.{inner}")
        };
        Error::decode(path.clone(), format!("{what}: at {path}: {}", e.inner()))
    })
}

fn items<T: Send + 'static>(
    pages: BoxStream<'static, Result<Page<T>>>,
) -> BoxStream<'static, Result<T>> {
    pages
        .map_ok(|p| stream::iter(p.records.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
}

impl Client {
    fn pager(&self, entity: &str, query: ListQuery, mode: Mode) -> Pager {
        let page_size = query.page_size.unwrap_or(self.inner.config.page_size);
        let mode = match mode {
            Mode::Offset { .. } => Mode::Offset {
                next_skip: query.skip.unwrap_or(0),
            },
            keyset => keyset,
        };
        Pager {
            client: self.clone(),
            entity: entity.to_owned(),
            remaining: query.top,
            query,
            page_size,
            mode,
            seen: HashSet::new(),
            done: false,
        }
    }

    /// Lists `entity` as raw JSON pages (offset paging).
    pub fn list_json_pages(
        &self,
        entity: &str,
        query: ListQuery,
    ) -> BoxStream<'static, Result<Page<Json>>> {
        self.offset_pages(entity, query)
    }

    /// Offset paging of `entity` decoded into `T`: sequential, or with the
    /// query's concurrency.
    fn offset_pages<T: Listed>(
        &self,
        entity: &str,
        query: ListQuery,
    ) -> BoxStream<'static, Result<Page<T>>> {
        let what = format!("GET {entity} (list)");
        match query.concurrency {
            Some(n) if n > 1 => {
                let page_size = query.page_size.unwrap_or(self.inner.config.page_size);
                pages_concurrent(self.clone(), entity.to_owned(), query, page_size, n, what)
            }
            _ => pages(self.pager(entity, query, Mode::Offset { next_skip: 0 })),
        }
    }

    /// Lists `entity` as raw JSON records (offset paging).
    ///
    /// ```no_run
    /// # async fn run(client: acumatica_client::Client) -> acumatica_client::Result<()> {
    /// use acumatica_client::{ListQuery, filter::Filter};
    /// use futures::TryStreamExt;
    /// let mut rows = client.list_json("Customer", ListQuery::new().filter(Filter::eq("Status", "Active")));
    /// while let Some(row) = rows.try_next().await? {
    ///     println!("{}", row["CustomerID"]["value"]);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list_json(&self, entity: &str, query: ListQuery) -> BoxStream<'static, Result<Json>> {
        items(self.list_json_pages(entity, query))
    }

    /// Lists `entity` as [`DynamicEntity`] records (offset paging).
    pub fn list_dynamic(
        &self,
        entity: &str,
        query: ListQuery,
    ) -> BoxStream<'static, Result<DynamicEntity>> {
        items(self.offset_pages(entity, query))
    }

    /// Lists typed records page by page (offset paging).
    ///
    /// ```no_run
    /// # async fn run(client: acumatica_client::Client) -> acumatica_client::Result<()> {
    /// use acumatica_client::{ListQuery, entity::Bill};
    /// use futures::TryStreamExt;
    /// let mut pages = client.list_pages::<Bill>(ListQuery::new().expand(["Details"]).page_size(100));
    /// while let Some(page) = pages.try_next().await? {
    ///     println!("{} bills ({} repeats dropped)", page.records.len(), page.repeats_dropped);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list_pages<E: Entity>(&self, query: ListQuery) -> BoxStream<'static, Result<Page<E>>> {
        self.offset_pages(E::NAME, query)
    }

    /// Lists typed records one by one (offset paging).
    ///
    /// ```no_run
    /// # async fn run(client: acumatica_client::Client) -> acumatica_client::Result<()> {
    /// use acumatica_client::{ListQuery, entity::Vendor, filter::Filter};
    /// use futures::TryStreamExt;
    /// let active: Vec<Vendor> = client
    ///     .list::<Vendor>(ListQuery::new().filter(Filter::eq("Status", "Active")))
    ///     .try_collect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn list<E: Entity>(&self, query: ListQuery) -> BoxStream<'static, Result<E>> {
        items(self.list_pages::<E>(query))
    }

    /// Lists raw JSON pages with keyset paging on `key_field`: each page
    /// asks for `key_field gt '<last key of the previous page>'`.
    pub fn list_keyset_json_pages(
        &self,
        entity: &str,
        key_field: &str,
        query: ListQuery,
    ) -> BoxStream<'static, Result<Page<Json>>> {
        self.keyset_pages(entity, key_field, query)
    }

    fn keyset_pages<T: Listed>(
        &self,
        entity: &str,
        key_field: &str,
        query: ListQuery,
    ) -> BoxStream<'static, Result<Page<T>>> {
        let mode = Mode::Keyset {
            field: key_field.to_owned(),
            after: None,
        };
        let mut query = query;
        query.skip = None;
        pages(self.pager(entity, query, mode))
    }

    /// Lists typed records with keyset paging on `key_field` (which must be
    /// unique, such as `VendorID` or `InventoryID`).
    ///
    /// ```no_run
    /// # async fn run(client: acumatica_client::Client) -> acumatica_client::Result<()> {
    /// use acumatica_client::{ListQuery, entity::StockItem};
    /// use futures::TryStreamExt;
    /// let items: Vec<StockItem> = client.list_keyset::<StockItem>("InventoryID", ListQuery::new()).try_collect().await?;
    /// # Ok(()) }
    /// ```
    pub fn list_keyset<E: Entity>(
        &self,
        key_field: &str,
        query: ListQuery,
    ) -> BoxStream<'static, Result<E>> {
        items(self.keyset_pages(E::NAME, key_field, query))
    }

    /// The filter selecting records of `entity` changed after `since` and,
    /// when given, at or before `until` (the signpost).
    ///
    /// ```
    /// use acumatica_client::Client;
    /// use chrono::{TimeZone, Utc};
    ///
    /// let client = Client::builder("https://erp.example.com").endpoint_version("23.200.001").build().unwrap();
    /// let since = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap().fixed_offset();
    /// let f = client.changed_filter("StockItem", since, None).unwrap();
    /// assert_eq!(f.to_string(), "LastModified gt datetimeoffset'2024-01-01T00:00:00.000+00:00'");
    /// assert!(client.changed_filter("Subaccount", since, None).is_err());
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) for an
    /// entity without a last-modified field (`Subaccount`).
    pub fn changed_filter(
        &self,
        entity: &str,
        since: DateTime<FixedOffset>,
        until: Option<DateTime<FixedOffset>>,
    ) -> Result<Filter> {
        let field = modified_field(entity, &self.inner.config.endpoint_version)?;
        let mut f = Filter::gt(field, since);
        if let Some(until) = until {
            if until < since {
                return Err(Error::config(format!(
                    "the change window ends ({until}) before it starts ({since})"
                )));
            }
            f = f.and(Filter::le(field, until));
        }
        Ok(f)
    }

    /// Typed records changed after `since` (and at or before `until`),
    /// combined with the query's own filter. The stream yields one error
    /// and ends for entities without a last-modified field.
    ///
    /// ```no_run
    /// # async fn run(client: acumatica_client::Client) -> acumatica_client::Result<()> {
    /// use acumatica_client::{ListQuery, entity::Bill};
    /// use chrono::{Duration, Utc};
    /// use futures::TryStreamExt;
    /// let until = Utc::now().fixed_offset();
    /// let since = until - Duration::hours(1);
    /// let changed: Vec<Bill> = client
    ///     .changed_since::<Bill>(since, Some(until), ListQuery::new().expand(["Details"]))
    ///     .try_collect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn changed_since<E: Entity>(
        &self,
        since: DateTime<FixedOffset>,
        until: Option<DateTime<FixedOffset>>,
        query: ListQuery,
    ) -> BoxStream<'static, Result<E>> {
        match self.changed_filter(E::NAME, since, until) {
            Ok(f) => self.list::<E>(query.filter(f)),
            Err(e) => stream::once(async move { Err(e) }).boxed(),
        }
    }

    /// [`changed_since`](Self::changed_since) for any entity name, as JSON.
    pub fn changed_since_json(
        &self,
        entity: &str,
        since: DateTime<FixedOffset>,
        until: Option<DateTime<FixedOffset>>,
        query: ListQuery,
    ) -> BoxStream<'static, Result<Json>> {
        match self.changed_filter(entity, since, until) {
            Ok(f) => self.list_json(entity, query.filter(f)),
            Err(e) => stream::once(async move { Err(e) }).boxed(),
        }
    }

    /// Records of `E` whose `field` equals any of `values`, fetched with
    /// `or`-ed equality filters, [`lookup_chunk`](crate::ClientBuilder::lookup_chunk)
    /// values per request (one request for short lists).
    ///
    /// ```no_run
    /// # async fn run(client: acumatica_client::Client) -> acumatica_client::Result<()> {
    /// use acumatica_client::{ListQuery, entity::Vendor};
    /// let found: Vec<Vendor> = client.find_by_values::<Vendor>("VendorID", &["V1", "V2"], ListQuery::new()).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Any error of the underlying list requests.
    pub async fn find_by_values<E: Entity>(
        &self,
        field: &str,
        values: &[impl AsRef<str>],
        query: ListQuery,
    ) -> Result<Vec<E>> {
        let mut out = Vec::new();
        let mut unique: Vec<&str> = Vec::new();
        for v in values {
            let v = v.as_ref();
            if !unique.contains(&v) {
                unique.push(v);
            }
        }
        for chunk in unique.chunks(self.inner.config.lookup_chunk) {
            let Some(f) = Filter::any_of(field, chunk.iter().copied()) else {
                continue;
            };
            let page: Vec<E> = self
                .list::<E>(query.clone().filter(f))
                .try_collect()
                .await?;
            out.extend(page);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Raw {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn leading_id_is_read_without_parsing_the_record() {
        assert_eq!(leading_id(r#"{"id":"a-1","X":{"value":1}}"#), Some("a-1"));
        assert_eq!(
            leading_id(" {\n  \"id\" : \"a-1\" , \"X\": 1}"),
            Some("a-1")
        );
        // Not first, escaped, or not a string: the full parse decides.
        assert_eq!(leading_id(r#"{"X":1,"id":"a-1"}"#), None);
        assert_eq!(leading_id(r#"{"id":"a\"1"}"#), None);
        assert_eq!(leading_id(r#"{"id":null}"#), None);
        assert_eq!(leading_id(r#"{"idx":"a"}"#), None);
    }

    #[test]
    fn raw_id_finds_the_id_anywhere_and_only_at_the_top() {
        assert_eq!(raw_id(&raw(r#"{"id":"a-1"}"#)).as_deref(), Some("a-1"));
        assert_eq!(
            raw_id(&raw(r#"{"X":{"id":"inner"},"id":"a\"1"}"#)).as_deref(),
            Some("a\"1")
        );
        assert_eq!(raw_id(&raw(r#"{"X":{"id":"inner"}}"#)), None);
    }

    #[test]
    fn guid_ids_are_kept_as_numbers_and_others_as_text() {
        let a = SeenId::new("a1b2c3d4-0000-4000-8000-00000000000F");
        assert_eq!(a, SeenId::new("A1B2C3D4-0000-4000-8000-00000000000f"));
        assert!(matches!(a, SeenId::Guid(_)));
        assert_ne!(a, SeenId::new("a1b2c3d4-0000-4000-8000-00000000000e"));
        for other in [
            "",
            "a-1",
            "a1b2c3d4-0000-4000-8000-00000000000g",
            "a1b2c3d4x0000-4000-8000-00000000000f",
        ] {
            assert_eq!(
                SeenId::new(other),
                SeenId::Text(other.to_owned()),
                "{other}"
            );
        }
    }

    #[test]
    fn a_page_is_read_in_one_pass_with_ids() {
        let body = br#"[{"id":"a","BatchNbr":{"value":"1"}},{"BatchNbr":{"value":"2"}}]"#;
        let rows = decode_page::<crate::entity::JournalTransaction>(body, "GET").unwrap();
        let ids: Vec<_> = rows.iter().map(|(id, _)| id.clone()).collect();
        assert_eq!(ids, [Some(SeenId::new("a")), None]);
        let json = decode_page::<Json>(body, "GET").unwrap();
        assert_eq!(json[0].0, Some(SeenId::new("a")));
        assert!(decode_page::<Json>(b"  ", "GET").is_err());
        assert!(decode_page::<Json>(br#"{"not":"a list"}"#, "GET").is_err());
    }

    #[test]
    fn a_bad_record_fails_the_page_only_when_it_is_kept() {
        type Jt = crate::entity::JournalTransaction;
        let body = br#"[{"id":"a","BatchNbr":{"value":"1"}},{"id":"b","BatchNbr":{"value":[2]}}]"#;
        // "b" was on an earlier page: its bad copy is a repeat and dropped.
        let mut seen: HashSet<SeenId> = [SeenId::new("b")].into();
        let (records, repeats) =
            keep_new(decode_page::<Jt>(body, "GET").unwrap(), &mut seen).unwrap();
        assert_eq!((records.len(), repeats), (1, 1));
        // New, it fails the page and names the record and field.
        let mut seen = HashSet::new();
        let err = keep_new(decode_page::<Jt>(body, "GET Jt").unwrap(), &mut seen).unwrap_err();
        assert!(err.message().contains("at [1].BatchNbr.value"), "{err}");
    }

    #[test]
    fn decode_failure_names_the_record_and_the_field() {
        let row = raw(r#"{"id":"x","BatchNbr":{"value":[1]}}"#);
        let err =
            decode_raw::<crate::entity::JournalTransaction>(&row, 7, "GET JournalTransaction")
                .unwrap_err();
        assert!(err.message().contains("at [7].BatchNbr"), "{err}");
    }
}
