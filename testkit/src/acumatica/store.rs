//! The fake's database: one table per top-level entity, ordered by key as
//! the real server lists them, with auto-numbering, a monotonic clock, the
//! release operations in flight and the mid-listing mutation knob.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use uuid::Uuid;

use super::filter::Filter;
use super::schema::{ENTITIES, EntityDef, Schema, schema};
use super::value::{Row, Val};

/// A table of one top-level entity.
#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) def: &'static EntityDef,
    pub(crate) schema: &'static Schema,
    key_idx: Vec<u16>,
    rows: BTreeMap<String, Arc<Row>>,
    by_id: HashMap<Uuid, String>,
    /// The last-modified field, when the entity has one.
    stamp_idx: Option<u16>,
    /// Keys by last-modified time (rows with one): a time-bounded listing finds its rows here
    /// instead of testing every row.
    by_stamp: BTreeSet<(i64, String)>,
    /// Last number handed out by the numbering sequence.
    pub(crate) last_number: u64,
    /// Records made by the generator so far (seeded plus mutation inserts).
    pub(crate) generated: u64,
}

/// Lower-cased key values joined by `\u{1}`: the order and identity of
/// records, case-insensitive like a real site's database.
pub(crate) fn key_of(values: &[&str]) -> String {
    let mut k = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            k.push('\u{1}');
        }
        k.extend(v.trim().chars().flat_map(char::to_lowercase));
    }
    k
}

impl Table {
    fn new(def: &'static EntityDef) -> Self {
        let schema = schema(def.name).expect("every served entity is in the catalogue");
        let key_idx = def.keys.iter().map(|k| schema.idx(k)).collect();
        let stamp_idx = ["LastModifiedDateTime", "LastModified"]
            .iter()
            .find_map(|f| schema.field(f).map(|(i, _)| i));
        Table {
            def,
            schema,
            key_idx,
            rows: BTreeMap::new(),
            by_id: HashMap::new(),
            stamp_idx,
            by_stamp: BTreeSet::new(),
            last_number: 0,
            generated: 0,
        }
    }

    /// The key of a row, if all its key fields are set.
    pub(crate) fn row_key(&self, row: &Row) -> Option<String> {
        let mut vals = Vec::with_capacity(self.key_idx.len());
        for idx in &self.key_idx {
            vals.push(row.get(*idx)?.key_text());
        }
        if vals.iter().any(|v| v.trim().is_empty()) {
            return None;
        }
        Some(key_of(&vals.iter().map(String::as_str).collect::<Vec<_>>()))
    }

    pub(crate) fn by_key(&self, key: &str) -> Option<Arc<Row>> {
        self.rows.get(key).cloned()
    }

    pub(crate) fn by_id(&self, id: Uuid) -> Option<Arc<Row>> {
        self.by_id.get(&id).and_then(|k| self.rows.get(k)).cloned()
    }

    /// The last-modified time of a row, when the entity and the row have one.
    fn stamp_of(&self, row: &Row) -> Option<i64> {
        self.stamp_idx.and_then(|i| row.get(i)).and_then(Val::as_dt)
    }

    /// Removes the row stored under `key` (and its time index entry).
    fn remove_key(&mut self, key: &str) -> Option<Arc<Row>> {
        let row = self.rows.remove(key)?;
        if let Some(ms) = self.stamp_of(&row) {
            self.by_stamp.remove(&(ms, key.to_owned()));
        }
        Some(row)
    }

    /// Insert or replace (same key) a row. The row must have its keys.
    pub(crate) fn put(&mut self, row: Row) -> Arc<Row> {
        let key = self.row_key(&row).expect("rows are stored with their keys");
        if let Some(old) = self.by_id.get(&row.id).cloned()
            && old != key
        {
            self.remove_key(&old);
        }
        let row = Arc::new(row);
        if let Some(prev) = self.remove_key(&key)
            && prev.id != row.id
        {
            self.by_id.remove(&prev.id);
        }
        if let Some(ms) = self.stamp_of(&row) {
            self.by_stamp.insert((ms, key.clone()));
        }
        self.rows.insert(key.clone(), row.clone());
        self.by_id.insert(row.id, key);
        row
    }

    pub(crate) fn remove(&mut self, id: Uuid) -> bool {
        match self.by_id.remove(&id) {
            Some(key) => self.remove_key(&key).is_some(),
            None => false,
        }
    }

    /// The rows matching `filter` in key order; through the time index when the filter
    /// bounds the last-modified field.
    fn matching(&self, filter: Option<&Filter>) -> Vec<Arc<Row>> {
        let Some(f) = filter else {
            return self.rows.values().cloned().collect();
        };
        let range = self.stamp_idx.and_then(|i| f.dt_range(i));
        let Some((from, to)) = range else {
            return self
                .rows
                .values()
                .filter(|r| f.matches(r))
                .cloned()
                .collect();
        };
        if from >= to {
            return Vec::new();
        }
        let mut found: Vec<(&String, &Arc<Row>)> = self
            .by_stamp
            .range((from, String::new())..(to, String::new()))
            .filter_map(|(_, key)| self.rows.get_key_value(key))
            .filter(|(_, r)| f.matches(r))
            .collect();
        found.sort_unstable_by(|a, b| a.0.cmp(b.0));
        found.into_iter().map(|(_, r)| r.clone()).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Matching rows in key order after `skip`, at most `top`.
    pub(crate) fn select(
        &self,
        filter: Option<&Filter>,
        skip: usize,
        top: Option<usize>,
    ) -> Vec<Arc<Row>> {
        self.select_ordered(filter, skip, top, None)
    }

    /// Matching rows after `skip`, at most `top`: in key order, or (with `shuffle` = a seed)
    /// in an order drawn from that seed, as a server with no order guarantee may answer.
    pub(crate) fn select_ordered(
        &self,
        filter: Option<&Filter>,
        skip: usize,
        top: Option<usize>,
        shuffle: Option<u64>,
    ) -> Vec<Arc<Row>> {
        let mut rows = self.matching(filter);
        if let Some(seed) = shuffle {
            fastrand::Rng::with_seed(seed).shuffle(&mut rows);
        }
        rows.drain(..skip.min(rows.len()));
        if let Some(t) = top {
            rows.truncate(t);
        }
        rows
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = &Arc<Row>> {
        self.rows.values()
    }

    /// The next document number, e.g. `000061` or `PO000016`.
    pub(crate) fn next_number(&mut self) -> Option<String> {
        let n = self.def.numbering?;
        self.last_number += 1;
        Some(format!(
            "{}{:0width$}",
            n.prefix,
            self.last_number,
            width = n.width
        ))
    }
}

/// A numbering sequence set on an entity whose key the client normally
/// gives (FACTS section 7: on a site whose numbering sequence covers the
/// entity, a PUT with `"CustomerID":"123"` created `"C1165"`): every
/// record inserted through the API gets the next number, whatever key the
/// request asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyNumbering {
    /// The fixed start, e.g. `C`.
    pub(crate) prefix: String,
    /// The next number to hand out.
    pub(crate) next: u64,
    /// Digits, zero-padded (the width of the first number given).
    pub(crate) width: usize,
}

impl KeyNumbering {
    /// Parses a first number like `C1165` (prefix `C`, next 1165, width 4).
    pub(crate) fn parse(first: &str) -> Option<Self> {
        let digits = first.len() - first.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return None;
        }
        let (prefix, number) = first.split_at(first.len() - digits);
        Some(KeyNumbering {
            prefix: prefix.to_owned(),
            next: number.parse().ok()?,
            width: digits,
        })
    }

    /// The number the next insert gets, without taking it.
    pub(crate) fn peek(&self) -> String {
        format!("{}{:0width$}", self.prefix, self.next, width = self.width)
    }
}

/// A release (or other action) in flight.
#[derive(Debug, Clone)]
pub(crate) struct Operation {
    pub(crate) entity: &'static str,
    pub(crate) action: String,
    pub(crate) target: Uuid,
    /// Polls left that still answer 202.
    pub(crate) polls_left: u32,
    pub(crate) done: bool,
}

/// "After the Nth list request of `entity`, insert K records and touch M."
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MidListingMutation {
    /// Top-level entity name, e.g. `"JournalTransaction"`.
    pub entity: String,
    /// Fire after this many list (`GET <entity>`) requests counted from
    /// when the mutation was set; 1 = right after the first page is served.
    pub after_list_requests: u64,
    /// New records to insert (generated like the seed; their
    /// `LastModifiedDateTime` is the time of the mutation).
    pub insert: usize,
    /// Existing records (the first ones in key order, i.e. pages the client
    /// has already read) whose `LastModifiedDateTime` moves to now and whose
    /// `Description` (where the entity has one) gets an " (edited)" suffix.
    pub touch: usize,
    /// Existing records to delete, taken first: the first ones in key order
    /// (so later records shift towards the front of an offset listing); the
    /// records touched are the first ones left after the deletes.
    pub delete: usize,
}

/// The order in which the fake lists records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ListOrder {
    /// Key order on every request, as a real site usually answers (the default).
    #[default]
    Key,
    /// A different order on every list request, drawn from `seed` and the
    /// request's serial number: the contract API promises no order (FACTS
    /// section 6), and this is the harshest reading of that. Deterministic
    /// for the same seed and sequence of requests.
    Shuffled {
        /// The seed of the orders.
        seed: u64,
    },
}

#[derive(Debug)]
pub(crate) struct PendingMutation {
    pub(crate) plan: MidListingMutation,
    pub(crate) seen: u64,
}

/// Everything the fake stores.
#[derive(Debug)]
pub(crate) struct Store {
    tables: HashMap<&'static str, Table>,
    last_ms: i64,
    /// Records inserted through the API, per entity.
    pub(crate) created: HashMap<&'static str, u64>,
    pub(crate) ops: HashMap<Uuid, Operation>,
    pub(crate) mutations: Vec<PendingMutation>,
    /// Entities whose client-given key is overridden on insert by a
    /// numbering sequence ([`KeyNumbering`]); none by default.
    pub(crate) key_numbering: HashMap<&'static str, KeyNumbering>,
    /// How list requests order their rows.
    pub(crate) list_order: ListOrder,
    /// List requests served so far (draws each shuffled order).
    list_serial: AtomicU64,
}

impl Store {
    pub(crate) fn new() -> Self {
        Store {
            tables: ENTITIES.iter().map(|d| (d.name, Table::new(d))).collect(),
            last_ms: 0,
            created: HashMap::new(),
            ops: HashMap::new(),
            mutations: Vec::new(),
            key_numbering: HashMap::new(),
            list_order: ListOrder::Key,
            list_serial: AtomicU64::new(0),
        }
    }

    /// The shuffle seed of the next list request (`None`: key order).
    pub(crate) fn next_list_shuffle(&self) -> Option<u64> {
        let serial = self.list_serial.fetch_add(1, Ordering::Relaxed);
        match self.list_order {
            ListOrder::Key => None,
            ListOrder::Shuffled { seed } => Some(seed ^ serial.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        }
    }

    pub(crate) fn table(&self, entity: &str) -> &Table {
        self.tables.get(entity).expect("served entity")
    }

    pub(crate) fn table_mut(&mut self, entity: &str) -> &mut Table {
        self.tables.get_mut(entity).expect("served entity")
    }

    /// The number the next insert of `entity` gets from its key numbering
    /// sequence, if it has one, past any key already stored (not taken
    /// until the insert succeeds).
    pub(crate) fn free_key_number(&mut self, entity: &str) -> Option<String> {
        let table = self.tables.get(entity)?;
        let seq = self.key_numbering.get_mut(entity)?;
        while table.by_key(&key_of(&[&seq.peek()])).is_some() {
            seq.next += 1;
        }
        Some(seq.peek())
    }

    /// A strictly increasing "now" in UTC milliseconds: never before the
    /// seeded data, never equal to a previous write.
    pub(crate) fn now_ms(&mut self) -> i64 {
        let real = chrono::Utc::now().timestamp_millis();
        self.last_ms = real.max(self.last_ms + 1);
        self.last_ms
    }

    /// Make sure later writes are newer than `ms` (used by the seed).
    pub(crate) fn observe_ms(&mut self, ms: i64) {
        self.last_ms = self.last_ms.max(ms);
    }

    /// Stamp `LastModifiedDateTime` (and `LastModified` where it exists) on
    /// a row of `schema`.
    pub(crate) fn touch(schema: &Schema, row: &mut Row, ms: i64) {
        for f in ["LastModifiedDateTime", "LastModified"] {
            if let Some((idx, _)) = schema.field(f) {
                row.set(idx, Some(Val::Dt(ms)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acumatica::generate::generate;
    use crate::acumatica::value::format_datetime;

    /// The listing before the time index: every row tested, in key order.
    fn scanned(
        t: &Table,
        f: &Filter,
        skip: usize,
        top: Option<usize>,
        shuffle: Option<u64>,
    ) -> Vec<Uuid> {
        let mut rows: Vec<Arc<Row>> = t.all().filter(|r| f.matches(r)).cloned().collect();
        if let Some(seed) = shuffle {
            fastrand::Rng::with_seed(seed).shuffle(&mut rows);
        }
        rows.into_iter()
            .skip(skip)
            .take(top.unwrap_or(usize::MAX))
            .map(|r| r.id)
            .collect()
    }

    #[test]
    fn time_bounded_listings_through_the_index_equal_a_full_scan() {
        let mut store = Store::new();
        let n = 400;
        let t = store.table_mut("JournalTransaction");
        for i in 0..n {
            let row = generate(t, i, n);
            t.put(row);
        }
        let lm = t.schema.idx("LastModifiedDateTime");
        let mut stamps: Vec<i64> = t.all().filter_map(|r| r.get(lm)?.as_dt()).collect();
        stamps.sort_unstable();
        // Edits move rows in time (some onto one shared stamp), deletes remove them.
        let shared = stamps[n as usize / 2];
        let ids: Vec<Uuid> = t.all().map(|r| r.id).collect();
        for (k, id) in ids.iter().enumerate().step_by(7) {
            let mut row = (*t.by_id(*id).unwrap()).clone();
            let ms = if k % 2 == 0 {
                shared
            } else {
                stamps[0] + k as i64
            };
            row.set(lm, Some(Val::Dt(ms)));
            t.put(row);
        }
        for id in ids.iter().skip(3).step_by(11) {
            t.remove(*id);
        }
        let at = |ms: i64| format_datetime(ms);
        let (a, b) = (stamps[40], stamps[300]);
        let filters = [
            format!(
                "LastModifiedDateTime ge datetimeoffset'{}' and LastModifiedDateTime lt datetimeoffset'{}'",
                at(a),
                at(b)
            ),
            format!(
                "LastModifiedDateTime gt datetimeoffset'{}' and LastModifiedDateTime le datetimeoffset'{}'",
                at(a),
                at(b)
            ),
            format!("LastModifiedDateTime eq datetimeoffset'{}'", at(shared)),
            format!("LastModifiedDateTime lt datetimeoffset'{}'", at(b)),
            format!(
                "LastModifiedDateTime ge datetimeoffset'{}' and Status eq 'Posted'",
                at(a)
            ),
            format!(
                "LastModifiedDateTime lt datetimeoffset'{}' and LastModifiedDateTime ge datetimeoffset'{}'",
                at(a),
                at(b)
            ),
            format!(
                "LastModifiedDateTime ge datetimeoffset'{}' or Status eq 'Posted'",
                at(b)
            ),
        ];
        for text in &filters {
            let f = Filter::parse(text, t.schema, "24.200.001").unwrap();
            for (skip, top, shuffle) in
                [(0, None, None), (5, Some(20), None), (3, Some(50), Some(7))]
            {
                let got: Vec<Uuid> = t
                    .select_ordered(Some(&f), skip, top, shuffle)
                    .iter()
                    .map(|r| r.id)
                    .collect();
                assert_eq!(
                    got,
                    scanned(t, &f, skip, top, shuffle),
                    "{text} {skip} {top:?} {shuffle:?}"
                );
            }
        }
    }
}
