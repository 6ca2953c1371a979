//! [`AcumaticaChanges`]: records of one Acumatica entity changed after a mark, page by page.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

use std::collections::BTreeSet;

use acumatica_client::entity::modified_field;
use acumatica_client::{Filter, ListQuery};
use chrono::DurationRound;

use super::pipeline::{Outlet, staged};
use crate::error::{Error, Result};
use crate::traits::{PageStream, RecordSource};

/// Records of one entity changed in a window, as raw JSON with their details expanded, read
/// by **time slices** so that no read depends on a stable offset.
///
/// # Why time slices
///
/// The contract API promises no order and pages only by `$skip` (FACTS section 6). Offset paging
/// loses records: when a record on an already-read page is deleted, or the server returns a
/// page in another order, every later record shifts and the next `$skip` jumps over an unread
/// one. So a window `[since, until)` is read as slices
/// `LastModifiedDateTime ge A and LastModifiedDateTime lt B`, each in **one request** with
/// `$top` one above the page size: a slice that answers with at most a page of records was read
/// whole, in one response, whatever order the server chose. A slice that answers with more is
/// split in two at the median timestamp of the records it returned, and both halves are read
/// the same way. Only a slice one millisecond wide (every record shares one timestamp, the
/// filter's resolution) falls back to offset paging; it is re-read until two complete reads
/// agree on the set of ids (and neither had a repeat), else the window fails and its mark stays.
///
/// A window larger than a page is **planned** first: one request of the last-modified field
/// only (`$select`, nothing expanded, up to 10,000 timestamps; more are probed in halves)
/// tells where to cut it into slices of at most a page, on whole milliseconds, and those
/// slices are read [`read_concurrency`](AcumaticaChanges::read_concurrency) at a time (pages
/// come out in no particular order). A plan is only a guess: each planned slice is still read
/// in one request with `$top` one above the page size, and split as above if it grew since.
///
/// A window that fits in one page costs one request, as before. A record modified while the
/// window is read gets a timestamp after the run's start, so it leaves the window (whose end is
/// the signpost, before the start) and is read by the next run; a record deleted while the
/// window is read cannot shift another out of a slice. Entities without a last-modified field
/// (`Subaccount`) are read whole each run: in one request when the entity fits in a page,
/// else by offset paging repeated until two complete reads agree (as a one-millisecond slice).
///
/// ```no_run
/// use futures::TryStreamExt;
/// use sync_core::feed::AcumaticaChanges;
/// use sync_core::traits::RecordSource;
///
/// # async fn demo(client: acumatica_client::Client) -> sync_core::Result<()> {
/// let bills = AcumaticaChanges::new(client, "Bill").expand(["Details"]).page_size(200);
/// let until = chrono::Utc::now() - chrono::Duration::minutes(1);
/// let since = until - chrono::Duration::hours(1);
/// let mut pages = bills.pages_until(Some(&since), &until).await?;
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
    select: Vec<String>,
    page_size: u32,
    id_page_size: u32,
    read_concurrency: usize,
}

impl AcumaticaChanges {
    /// Changes of `entity` (500 records per page, nothing expanded).
    pub fn new(client: acumatica_client::Client, entity: impl Into<String>) -> Self {
        Self {
            client,
            entity: entity.into(),
            expand: Vec::new(),
            select: Vec::new(),
            page_size: 500,
            id_page_size: 2000,
            read_concurrency: 4,
        }
    }

    /// Ids per request of a delete scan's listing ([`FeedSource::ids`]; default 2000).
    #[must_use]
    pub fn id_page_size(mut self, n: u32) -> Self {
        self.id_page_size = n.max(1);
        self
    }

    /// Detail collections to `$expand` (e.g. `Details`).
    #[must_use]
    pub fn expand<S: Into<String>>(mut self, details: impl IntoIterator<Item = S>) -> Self {
        self.expand.extend(details.into_iter().map(Into::into));
        self
    }

    /// Slices read at once (default 4): a window larger than a page is planned into slices
    /// first (see the type's docs), and this many of them are in flight together.
    #[must_use]
    pub fn read_concurrency(mut self, n: usize) -> Self {
        self.read_concurrency = n.max(1);
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

/// How many complete offset reads of a one-timestamp slice may disagree before the window
/// fails (its mark stays; the next run tries again).
const MAX_FIXED_READS: usize = 8;

/// One slice of a window: `[from, to)`, both on whole milliseconds (the filter's resolution);
/// `None` is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slice {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

fn one_ms() -> chrono::Duration {
    chrono::Duration::milliseconds(1)
}

fn floor_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(chrono::TimeDelta::milliseconds(1))
        .unwrap_or(t)
}

fn ceil_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    let f = floor_ms(t);
    if f == t { t } else { f + one_ms() }
}

impl Slice {
    /// Whether the slice cannot be split further (one millisecond wide).
    fn is_instant(&self) -> bool {
        matches!((self.from, self.to), (Some(a), Some(b)) if b - a <= one_ms())
    }

    /// Two halves split at the median of `stamps` (the timestamps an overfull read returned),
    /// or `None` when the slice cannot be split.
    fn split(&self, stamps: &mut [DateTime<Utc>]) -> Option<(Slice, Slice)> {
        if self.is_instant() || stamps.is_empty() {
            return None;
        }
        stamps.sort_unstable();
        let mut m = floor_ms(stamps[stamps.len() / 2]);
        if let Some(a) = self.from
            && m <= a
        {
            m = a + one_ms();
        }
        if let Some(b) = self.to
            && m >= b
        {
            m = b - one_ms();
        }
        if self.from.is_some_and(|a| m <= a) {
            return None;
        }
        Some((
            Slice {
                from: self.from,
                to: Some(m),
            },
            Slice {
                from: Some(m),
                to: self.to,
            },
        ))
    }
}

/// Timestamps one probe request may return (a page of them is small: the last-modified field
/// and the id only); a larger slice is split and probed in halves.
const PROBE_RECORDS: u32 = 10_000;

/// One unit of a window's reading.
enum Work {
    /// Read the slice whole in one request (split it if it holds more than a page); `planned`:
    /// cut by a probe, so an overfull read splits instead of probing again.
    Read { slice: Slice, planned: bool },
    /// Learn the timestamps of the slice's records and cut it into slices of a page or less.
    Probe(Slice),
}

/// What one unit of work gave.
enum Done {
    /// The records of a slice read whole.
    Page(Vec<Value>),
    /// More work in its place.
    More(Vec<Work>),
}

impl Slice {
    /// The slice cut into consecutive slices of at most `page` of the records whose timestamps
    /// are `stamps` (a probe's answer), cut on whole milliseconds; a millisecond holding more
    /// than a page is a slice of its own (read by offset). Together they cover the slice
    /// exactly, so records the probe did not see are still read.
    fn plan(&self, stamps: &mut [DateTime<Utc>], page: usize) -> Vec<Slice> {
        stamps.iter_mut().for_each(|t| *t = floor_ms(*t));
        stamps.sort_unstable();
        let inside =
            |t: DateTime<Utc>| self.from.is_none_or(|a| t > a) && self.to.is_none_or(|b| t < b);
        let mut cuts: Vec<DateTime<Utc>> = Vec::new();
        let mut count = 0usize;
        let mut i = 0;
        while i < stamps.len() {
            let ms = stamps[i];
            let n = stamps[i..].iter().take_while(|t| **t == ms).count();
            if count > 0 && count + n > page {
                cuts.push(ms);
                count = 0;
            }
            count += n;
            if n > page {
                // One timestamp, more than a page: alone in its slice.
                cuts.push(ms);
                cuts.push(ms + one_ms());
                count = 0;
            }
            i += n;
        }
        cuts.retain(|t| inside(*t));
        cuts.dedup();
        let mut slices = Vec::with_capacity(cuts.len() + 1);
        let mut from = self.from;
        for cut in cuts {
            slices.push(Slice {
                from,
                to: Some(cut),
            });
            from = Some(cut);
        }
        slices.push(Slice { from, to: self.to });
        slices
    }
}

/// What reading one slice in one request gave.
enum SliceRead {
    /// The whole slice.
    Whole(Vec<Value>),
    /// More than a page: the slice must be split (the records' timestamps).
    Overfull(Vec<DateTime<Utc>>),
}

/// The timestamp `field` of a raw record, if it has a readable one (offset-less values are
/// taken as UTC).
fn stamp_of(raw: &Value, field: &str) -> Option<DateTime<Utc>> {
    let v = raw.get(field)?;
    let text = v.get("value").unwrap_or(v).as_str()?;
    let ts: acumatica_client::value::Timestamp = text.parse().ok()?;
    ts.to_utc_assuming(chrono::FixedOffset::east_opt(0)?)
}

fn id_of(raw: &Value) -> Option<&str> {
    raw.get("id").and_then(Value::as_str)
}

impl AcumaticaChanges {
    fn base_query(&self) -> ListQuery {
        let mut query = ListQuery::new();
        if !self.expand.is_empty() {
            query = query.expand(self.expand.clone());
        }
        if !self.select.is_empty() {
            query = query.select(self.select.clone());
        }
        query
    }

    fn slice_query(&self, field: &str, slice: &Slice) -> ListQuery {
        let mut query = self.base_query();
        let mut filter: Option<Filter> = None;
        if let Some(a) = slice.from {
            filter = Some(Filter::ge(field, a.fixed_offset()));
        }
        if let Some(b) = slice.to {
            let lt = Filter::lt(field, b.fixed_offset());
            filter = Some(match filter {
                Some(f) => f.and(lt),
                None => lt,
            });
        }
        if let Some(f) = filter {
            query = query.filter(f);
        }
        query
    }

    /// One request of `query` with `$top` one above the page size: the whole answer when it
    /// holds at most a page, else the records' timestamps in `field` (to split by).
    async fn read_once(&self, query: ListQuery, field: Option<&str>) -> Result<SliceRead> {
        self.read_at_most(query, field, self.page_size).await
    }

    /// One request of `query` with `$top` one above `limit`: the whole answer when it holds at
    /// most `limit` records, else the records' timestamps in `field`.
    async fn read_at_most(
        &self,
        query: ListQuery,
        field: Option<&str>,
        limit: u32,
    ) -> Result<SliceRead> {
        let top = limit.saturating_add(1);
        let query = query.page_size(top).top(top);
        let pages: Vec<acumatica_client::Page<Value>> = self
            .client
            .list_json_pages(&self.entity, query)
            .try_collect()
            .await?;
        let returned: usize = pages.iter().map(|p| p.returned).sum();
        let records: Vec<Value> = pages.into_iter().flat_map(|p| p.records).collect();
        if returned <= limit as usize {
            return Ok(SliceRead::Whole(records));
        }
        Ok(SliceRead::Overfull(match field {
            Some(field) => records.iter().filter_map(|r| stamp_of(r, field)).collect(),
            None => Vec::new(),
        }))
    }

    /// One request of the slice with `$top` one above the page size.
    async fn read_slice(&self, field: &str, slice: &Slice) -> Result<SliceRead> {
        self.read_once(self.slice_query(field, slice), Some(field))
            .await
    }

    /// Offset paging of `query` (records that cannot be told apart by time), repeated until
    /// two complete reads agree on the set of ids and neither saw a repeat.
    async fn read_fixed(&self, query: ListQuery, what: String) -> Result<Vec<Value>> {
        let mut previous: Option<BTreeSet<String>> = None;
        for _ in 0..MAX_FIXED_READS {
            let query = query.clone().page_size(self.page_size);
            let pages: Vec<acumatica_client::Page<Value>> = self
                .client
                .list_json_pages(&self.entity, query)
                .try_collect()
                .await?;
            let repeats: usize = pages.iter().map(|p| p.repeats_dropped).sum();
            let records: Vec<Value> = pages.into_iter().flat_map(|p| p.records).collect();
            let ids: BTreeSet<String> = records
                .iter()
                .filter_map(|r| id_of(r).map(str::to_owned))
                .collect();
            let clean = repeats == 0 && ids.len() == records.len();
            if clean && previous.as_ref() == Some(&ids) {
                return Ok(records);
            }
            tracing::debug!(entity = %self.entity, what = %what, records = records.len(), repeats, "offset read again");
            previous = clean.then_some(ids);
        }
        Err(Error::data(
            what,
            format!(
                "they are more than a page ({}) and {MAX_FIXED_READS} offset reads of them did not agree (the server reorders or the records change while they are read); the window's mark stays, so the next run reads them again; a larger page_size reads them in one request",
                self.page_size
            ),
        ))
    }

    /// Offset paging of a slice that cannot be split.
    async fn read_fixed_slice(&self, field: &str, slice: &Slice) -> Result<Vec<Value>> {
        self.read_fixed(
            self.slice_query(field, slice),
            format!(
                "{} records modified in {:?}..{:?} (they share one timestamp)",
                self.entity, slice.from, slice.to
            ),
        )
        .await
    }

    /// Every record of an entity without a last-modified field: one request when they fit
    /// in a page, else offset reads until two agree.
    fn whole(&self) -> PageStream<Value> {
        let this = self.clone();
        futures::stream::once(async move {
            match this.read_once(this.base_query(), None).await? {
                SliceRead::Whole(records) => Ok(records),
                SliceRead::Overfull(_) => {
                    let what = format!("all {} records (full refresh)", this.entity);
                    this.read_fixed(this.base_query(), what).await
                }
            }
        })
        .try_filter(|page| futures::future::ready(!page.is_empty()))
        .boxed()
    }

    /// The timestamps of the records of `slice`, in one request of the last-modified field
    /// only (`$select`, nothing expanded), when there are at most [`PROBE_RECORDS`]; else the
    /// slice is overfull (the timestamps returned, to split by).
    async fn probe(&self, field: &str, slice: &Slice) -> Result<SliceRead> {
        let bare = Self {
            expand: Vec::new(),
            select: vec![field.to_owned()],
            ..self.clone()
        };
        bare.read_at_most(bare.slice_query(field, slice), Some(field), PROBE_RECORDS)
            .await
    }

    /// One unit of a window's reading; returns a page, or more work.
    async fn work(&self, field: &str, work: Work) -> Result<Done> {
        match work {
            Work::Read { slice, planned } => {
                if slice.is_instant() {
                    return Ok(Done::Page(self.read_fixed_slice(field, &slice).await?));
                }
                match self.read_slice(field, &slice).await? {
                    SliceRead::Whole(records) => Ok(Done::Page(records)),
                    // Larger than a page and not planned yet: learn its timestamps first, so
                    // its slices can be read together.
                    SliceRead::Overfull(_) if !planned => Ok(Done::More(vec![Work::Probe(slice)])),
                    SliceRead::Overfull(mut stamps) => match slice.split(&mut stamps) {
                        Some((older, newer)) => {
                            tracing::debug!(entity = %self.entity, slice = ?slice, "slice holds more than a page; split");
                            Ok(Done::More(vec![
                                Work::Read {
                                    slice: older,
                                    planned,
                                },
                                Work::Read {
                                    slice: newer,
                                    planned,
                                },
                            ]))
                        }
                        None => Ok(Done::Page(self.read_fixed_slice(field, &slice).await?)),
                    },
                }
            }
            Work::Probe(slice) => match self.probe(field, &slice).await? {
                SliceRead::Whole(records) => {
                    let mut stamps: Vec<DateTime<Utc>> =
                        records.iter().filter_map(|r| stamp_of(r, field)).collect();
                    Ok(Done::More(
                        slice
                            .plan(&mut stamps, self.page_size as usize)
                            .into_iter()
                            .map(|slice| Work::Read {
                                slice,
                                planned: true,
                            })
                            .collect(),
                    ))
                }
                SliceRead::Overfull(mut stamps) => Ok(Done::More(match slice.split(&mut stamps) {
                    Some((older, newer)) => vec![Work::Probe(older), Work::Probe(newer)],
                    None => vec![Work::Read {
                        slice,
                        planned: true,
                    }],
                })),
            },
        }
    }

    /// Reads a window's slices, [`read_concurrency`](Self::read_concurrency) at a time,
    /// sending each page that holds records; stops at the first error (sent) or when the
    /// consumer is gone.
    async fn read_slices(self, field: String, first: Slice, out: Outlet<Vec<Value>>) {
        let mut todo = vec![Work::Read {
            slice: first,
            planned: false,
        }];
        let mut running = futures::stream::FuturesUnordered::new();
        loop {
            while running.len() < self.read_concurrency
                && let Some(work) = todo.pop()
            {
                running.push(self.work(&field, work));
            }
            let Some(done) = running.next().await else {
                return;
            };
            match done {
                Ok(Done::Page(records)) => {
                    if !records.is_empty() && !out.send(Ok(records)).await {
                        return;
                    }
                }
                // Oldest first: pushed last.
                Ok(Done::More(more)) => todo.extend(more.into_iter().rev()),
                Err(e) => {
                    out.send(Err(e)).await;
                    return;
                }
            }
        }
    }

    /// Records of the window `[since, until)` (unbounded where `None`) as a stream of pages,
    /// one per slice that held records, in no particular order. The stream ends only after
    /// every slice was read.
    fn sliced(
        &self,
        field: String,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> PageStream<Value> {
        let first = Slice {
            from: since.map(floor_ms),
            to: until.map(ceil_ms),
        };
        let this = self.clone();
        staged(self.read_concurrency, move |out| {
            this.read_slices(field, first, out)
        })
    }

    /// Records whose last-modified time is in `[since, until)` (from the start when `since` is
    /// `None`), read by time slices (see the type's docs). Entities without a last-modified
    /// field are read whole (see the type's docs).
    ///
    /// # Errors
    /// None when opening; the stream yields the errors of its requests, and a data error for
    /// a one-timestamp slice whose reads never agreed.
    pub fn window(
        &self,
        since: Option<&DateTime<Utc>>,
        until: Option<&DateTime<Utc>>,
    ) -> PageStream<Value> {
        match modified_field(&self.entity, self.client.endpoint_version()) {
            Ok(field) => self.sliced(field.to_owned(), since.copied(), until.copied()),
            Err(_) => self.whole(),
        }
    }
}

/// What the feed reads an entity from: its changed records (a [`RecordSource`] by
/// last-modified time), where they come from, and what a delete scan needs (every id, and a
/// certain answer to "is this record gone?").
#[async_trait]
pub trait FeedSource: RecordSource<Record = Value, Cursor = DateTime<Utc>> {
    /// The Acumatica endpoint version the records are read through (the warehouse's
    /// `endpoint_version` column); `None` when unknown.
    fn endpoint_version(&self) -> Option<String> {
        None
    }

    /// Whether changes can be read by last-modified time. `false`: the source reads the whole
    /// entity whatever window it is asked for, and the feed refreshes it fully on every run.
    fn is_incremental(&self) -> bool {
        true
    }

    /// The id of every record of the entity, page by page: a delete scan's listing. It may
    /// miss ids (a listing of a changing entity cannot be sure it saw all); the scan never
    /// marks a record deleted on the listing alone.
    async fn ids(&self) -> Result<PageStream<String>>;

    /// Whether the record `id` is certainly gone: `Ok(true)` only when the server answered that
    /// no such record exists, `Ok(false)` when it returned the record, an error otherwise (the
    /// scan then marks nothing it could not verify).
    async fn is_gone(&self, id: &str) -> Result<bool>;
}

/// The key fields of the entities the client models (FACTS section 8), for a delete scan's
/// `$select`; empty for others (the scan then selects the last-modified field only: the `id`
/// comes with every record anyway).
fn key_fields(entity: &str) -> &'static [&'static str] {
    use acumatica_client::Entity;
    use acumatica_client::entity as e;
    match entity {
        "Vendor" => e::Vendor::KEY_FIELDS,
        "Bill" => e::Bill::KEY_FIELDS,
        "Check" => e::Check::KEY_FIELDS,
        "JournalTransaction" => e::JournalTransaction::KEY_FIELDS,
        "Account" => e::Account::KEY_FIELDS,
        "Subaccount" => e::Subaccount::KEY_FIELDS,
        "Ledger" => e::Ledger::KEY_FIELDS,
        "FinancialPeriod" => e::FinancialPeriod::KEY_FIELDS,
        "PurchaseOrder" => e::PurchaseOrder::KEY_FIELDS,
        "StockItem" => e::StockItem::KEY_FIELDS,
        "NonStockItem" => e::NonStockItem::KEY_FIELDS,
        _ => &[],
    }
}

#[async_trait]
impl FeedSource for AcumaticaChanges {
    fn endpoint_version(&self) -> Option<String> {
        Some(self.client.endpoint_version().to_string())
    }

    fn is_incremental(&self) -> bool {
        AcumaticaChanges::is_incremental(self)
    }

    /// Every id, read like a window over all time (time slices that each fit in one request)
    /// with `$select` of the key fields and the last-modified field only, nothing expanded,
    /// [`id_page_size`](AcumaticaChanges::id_page_size) records per request.
    async fn ids(&self) -> Result<PageStream<String>> {
        let modified = modified_field(&self.entity, self.client.endpoint_version()).ok();
        let mut select: Vec<String> = key_fields(&self.entity)
            .iter()
            .map(|f| (*f).to_owned())
            .collect();
        select.extend(modified.map(str::to_owned));
        let lister = Self {
            expand: Vec::new(),
            select,
            page_size: self.id_page_size,
            ..self.clone()
        };
        Ok(lister
            .window(None, None)
            .map_ok(|page| {
                page.iter()
                    .filter_map(|r| id_of(r).map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .boxed())
    }

    /// A read of the record by its id (FACTS section 6: `GET <Entity>/<id>`). Acumatica answers
    /// a missing record with HTTP 500 `NoEntitySatisfiesTheConditionException`; only that
    /// answer means gone. A 404 means a wrong endpoint or path (FACTS section 1), not a
    /// missing record, so it is an error like any other.
    async fn is_gone(&self, id: &str) -> Result<bool> {
        let select = key_fields(&self.entity).first().copied().or(modified_field(
            &self.entity,
            self.client.endpoint_version(),
        )
        .ok());
        let mut query = ListQuery::new();
        if let Some(field) = select {
            query = query.select([field]);
        }
        match self
            .client
            .get_dynamic_by_id(&self.entity, id, &query)
            .await
        {
            Ok(_) => Ok(false),
            Err(e) if e.is_not_found() && e.status() == Some(500) => Ok(true),
            Err(e) => Err(e.into()),
        }
    }
}

#[async_trait]
impl RecordSource for AcumaticaChanges {
    type Record = Value;
    type Cursor = DateTime<Utc>;

    fn describe(&self) -> String {
        format!("acumatica {}", self.entity)
    }

    /// Records modified at or after `after` (everything when `None`), by time slices with no
    /// upper bound.
    async fn pages(&self, after: Option<&DateTime<Utc>>) -> Result<PageStream<Value>> {
        Ok(self.window(after, None))
    }

    /// Records modified in `[after, until)`, by time slices.
    async fn pages_until(
        &self,
        after: Option<&DateTime<Utc>>,
        until: &DateTime<Utc>,
    ) -> Result<PageStream<Value>> {
        Ok(self.window(after, Some(until)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(ms).unwrap()
    }

    #[test]
    fn window_bounds_widen_to_whole_milliseconds() {
        let t = at(1_000) + chrono::Duration::microseconds(250);
        assert_eq!(floor_ms(t), at(1_000));
        assert_eq!(ceil_ms(t), at(1_001));
        assert_eq!(ceil_ms(at(1_000)), at(1_000));
    }

    #[test]
    fn an_overfull_slice_splits_at_the_median_and_always_shrinks() {
        let s = Slice {
            from: Some(at(0)),
            to: Some(at(1_000)),
        };
        let mut stamps = vec![at(900), at(10), at(500), at(20), at(30)];
        let (a, b) = s.split(&mut stamps).unwrap();
        assert_eq!(
            (a.from, a.to, b.from, b.to),
            (Some(at(0)), Some(at(30)), Some(at(30)), Some(at(1_000)))
        );
        // All at the lower bound: the first millisecond is split off.
        let (a, b) = s.split(&mut [at(0), at(0), at(0)]).unwrap();
        assert!(a.is_instant() && a.from == Some(at(0)) && b.from == Some(at(1)));
        // Unbounded below.
        let open = Slice {
            from: None,
            to: None,
        };
        let (a, b) = open.split(&mut [at(5), at(7), at(9)]).unwrap();
        assert_eq!((a.to, b.from, b.to), (Some(at(7)), Some(at(7)), None));
        // One millisecond wide, or nothing to split by: offset paging instead.
        let instant = Slice {
            from: Some(at(7)),
            to: Some(at(8)),
        };
        assert!(instant.is_instant());
        assert!(instant.split(&mut [at(7), at(7)]).is_none());
        assert!(s.split(&mut []).is_none());
    }

    #[test]
    fn a_probed_slice_is_planned_into_pages_that_cover_it_exactly() {
        let s = Slice {
            from: Some(at(0)),
            to: Some(at(1_000)),
        };
        // 10 records at 10..19, then 5 sharing 500, then 3 at 700..702; pages of 4.
        let mut stamps: Vec<_> = (10..20).map(at).collect();
        stamps.extend(std::iter::repeat_n(at(500), 5));
        stamps.extend((700..703).map(at));
        let plan = s.plan(&mut stamps, 4);
        let bounds: Vec<_> = plan.iter().map(|p| (p.from, p.to)).collect();
        assert_eq!(
            bounds,
            vec![
                (Some(at(0)), Some(at(14))),
                (Some(at(14)), Some(at(18))),
                (Some(at(18)), Some(at(500))),
                (Some(at(500)), Some(at(501))),
                (Some(at(501)), Some(at(1_000))),
            ]
        );
        assert!(plan[3].is_instant());
        // No cut on a bound; an empty probe keeps the slice whole; unbounded ends stay open.
        assert_eq!(s.plan(&mut [], 4), vec![s]);
        let open = Slice {
            from: None,
            to: None,
        };
        let plan = open.plan(&mut [at(1), at(2), at(3)], 2);
        assert_eq!(plan.first().unwrap().from, None);
        assert_eq!(plan.last().unwrap().to, None);
        assert_eq!(plan.len(), 2);
        let mut at_start = vec![at(0); 6];
        let plan = s.plan(&mut at_start, 4);
        assert_eq!(
            plan.iter().map(|p| (p.from, p.to)).collect::<Vec<_>>(),
            vec![(Some(at(0)), Some(at(1))), (Some(at(1)), Some(at(1_000)))]
        );
    }

    #[test]
    fn stamps_are_read_with_or_without_an_offset() {
        let v =
            serde_json::json!({"LastModifiedDateTime": {"value": "2023-12-14T17:20:45.16+00:00"}});
        assert_eq!(
            stamp_of(&v, "LastModifiedDateTime"),
            Some(
                Utc.with_ymd_and_hms(2023, 12, 14, 17, 20, 45).unwrap()
                    + chrono::Duration::milliseconds(160)
            )
        );
        let naive = serde_json::json!({"LastModified": {"value": "2020-02-06T18:03:19.213"}});
        assert!(stamp_of(&naive, "LastModified").is_some());
        assert!(stamp_of(&naive, "LastModifiedDateTime").is_none());
    }
}
