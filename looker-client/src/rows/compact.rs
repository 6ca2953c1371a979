//! [`CompactRow`]: a row stored as one text buffer plus one span per cell, with the column
//! names shared by every row of a stream.
//!
//! The generic [`Row`](super::Row) is a map with a `String` per key and per value (and a
//! `serde_json::Number` per number): a dozen allocations for a row of seven cells. A compact
//! row costs two (its text and its spans), the column names are stored once per stream
//! ([`Columns`], reference counted), and numbers stay exact because they are kept as the text
//! Looker sent. Typed reads ([`CompactRow::try_get`], [`FromCell`]) parse that text on demand.

use std::fmt;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::error::{Error, Result};

/// The column names of a stream of [`CompactRow`]s, shared by all of its rows.
///
/// ```
/// use looker_client::Columns;
/// let c = Columns::new(["orders.id", "orders.total"]);
/// assert_eq!(c.index_of("orders.total"), Some(1));
/// assert_eq!(c.len(), 2);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Columns(Arc<[Box<str>]>);

impl Columns {
    /// Columns with these names, in this order.
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Box<str>>,
    {
        Columns(names.into_iter().map(Into::into).collect())
    }

    /// The position of the column `name` (fully qualified for `json` results, the header as
    /// written for `csv`/`txt`). Resolve it once and read cells with [`CompactRow::cell`].
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.0.iter().position(|c| &**c == name)
    }

    /// The names, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.0.iter().map(|c| &**c)
    }

    /// The name of column `i`.
    pub fn name(&self, i: usize) -> Option<&str> {
        self.0.get(i).map(|c| &**c)
    }

    /// How many columns.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no column.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether both are the same shared list (cheap; rows of one stream normally are).
    pub fn same(&self, other: &Columns) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    pub(crate) fn matches_at(&self, i: usize, name: &[u8]) -> bool {
        self.0.get(i).is_some_and(|c| c.as_bytes() == name)
    }
}

impl fmt::Debug for Columns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// What a cell holds, as Looker sent it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CellKind {
    /// JSON `null`, or an empty `csv`/`txt` cell.
    Null,
    /// JSON `true` or `false` (the text is `true`/`false`).
    Bool,
    /// A JSON number, its text exactly as sent.
    Number,
    /// A JSON string (unescaped), or any non-empty `csv`/`txt` cell.
    String,
    /// A JSON object or array (pivoted measures, `json_detail` cells), its JSON text as sent.
    Json,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Span {
    pub(crate) end: u32,
    pub(crate) kind: CellKind,
}

/// One cell of a [`CompactRow`], borrowed from it.
///
/// ```
/// use looker_client::{CellKind, CompactRow};
/// let row: CompactRow = serde_json::from_str(r#"{"a": 12.50, "b": null, "c": "x"}"#).unwrap();
/// let a = row.get("a").unwrap();
/// assert_eq!((a.kind(), a.text()), (CellKind::Number, "12.50"));
/// assert!(row.get("b").unwrap().is_null());
/// assert_eq!(row.get("c").unwrap().as_str(), Some("x"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Cell<'a> {
    kind: CellKind,
    text: &'a str,
}

impl<'a> Cell<'a> {
    /// What the cell holds.
    pub fn kind(&self) -> CellKind {
        self.kind
    }

    /// Whether the cell is null (or an empty CSV cell).
    pub fn is_null(&self) -> bool {
        self.kind == CellKind::Null
    }

    /// The cell's text: a string unescaped, a number's digits as sent, `true`/`false`, the JSON
    /// text of an object or array, and `""` for null. Writing it to a CSV file loses nothing.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The text, or `None` for null.
    pub fn as_str(&self) -> Option<&'a str> {
        (!self.is_null()).then_some(self.text)
    }

    /// The cell as a JSON value (numbers exact: `serde_json`'s arbitrary precision).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self.kind {
            CellKind::Null => Value::Null,
            CellKind::Bool => Value::Bool(self.text == "true"),
            CellKind::String => Value::String(self.text.to_owned()),
            CellKind::Number => self
                .text
                .parse::<serde_json::Number>()
                .map(Value::Number)
                .unwrap_or_else(|_| Value::String(self.text.to_owned())),
            CellKind::Json => serde_json::from_str(self.text)
                .unwrap_or_else(|_| Value::String(self.text.to_owned())),
        }
    }
}

impl fmt::Debug for Cell<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}({:?})", self.kind, self.text)
    }
}

impl fmt::Display for Cell<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

/// A row of a Looker result stored compactly: the text of all its cells in one buffer, one
/// span per cell, and the column names shared with the other rows of its stream.
///
/// Decode a stream into it like any row type (`run_query_task_rows::<CompactRow>`,
/// `run_inline_query_rows::<CompactRow>`, ...): `json`, `csv` and `txt` results are read
/// straight into it, without going through `serde`. Numbers keep the exact text Looker sent;
/// read them typed with [`try_get`](Self::try_get).
///
/// ```
/// use looker_client::CompactRow;
/// use rust_decimal::Decimal;
///
/// let row: CompactRow =
///     serde_json::from_str(r#"{"orders.id": 7, "orders.total": 1234567.8900, "orders.day": "2026-01-31"}"#)
///         .unwrap();
/// assert_eq!(row.try_get::<i64>("orders.id").unwrap(), 7);
/// assert_eq!(row.try_get::<Decimal>("orders.total").unwrap().to_string(), "1234567.8900");
/// assert_eq!(row.try_get::<chrono::NaiveDate>("orders.day").unwrap().to_string(), "2026-01-31");
/// assert_eq!(row.try_get::<Option<i64>>("orders.missing").unwrap_err().kind(),
///            looker_client::ErrorKind::Decode);
/// ```
#[derive(Clone)]
pub struct CompactRow {
    columns: Columns,
    text: Box<str>,
    spans: Box<[Span]>,
}

impl CompactRow {
    /// A row of `cells` under `columns` (as many cells as columns).
    ///
    /// ```
    /// use looker_client::{CellKind, Columns, CompactRow};
    /// let row = CompactRow::new(
    ///     Columns::new(["a", "b"]),
    ///     [(CellKind::Number, "1"), (CellKind::Null, "")],
    /// ).unwrap();
    /// assert_eq!(row.cell(0).unwrap().text(), "1");
    /// ```
    ///
    /// # Errors
    /// A [`Decode`](crate::ErrorKind::Decode) error when the cell count differs from the
    /// column count.
    pub fn new<'a>(
        columns: Columns,
        cells: impl IntoIterator<Item = (CellKind, &'a str)>,
    ) -> Result<Self> {
        let mut text = String::new();
        let mut spans = Vec::with_capacity(columns.len());
        for (kind, t) in cells {
            text.push_str(t);
            spans.push(Span {
                end: offset(text.len())?,
                kind,
            });
        }
        if spans.len() != columns.len() {
            return Err(Error::decode(
                format!(
                    "a row of {} cells under {} columns",
                    spans.len(),
                    columns.len()
                ),
                None,
            ));
        }
        Ok(Self::from_parts(columns, text, spans))
    }

    pub(crate) fn from_parts(columns: Columns, text: String, spans: Vec<Span>) -> Self {
        Self::from_boxed(columns, text.into_boxed_str(), spans.into_boxed_slice())
    }

    pub(crate) fn from_boxed(columns: Columns, text: Box<str>, spans: Box<[Span]>) -> Self {
        debug_assert_eq!(columns.len(), spans.len());
        CompactRow {
            columns,
            text,
            spans,
        }
    }

    /// The column names (shared with the other rows of the stream).
    pub fn columns(&self) -> &Columns {
        &self.columns
    }

    /// How many cells.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether the row has no cell.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Cell `i` (in column order).
    pub fn cell(&self, i: usize) -> Option<Cell<'_>> {
        let span = self.spans.get(i)?;
        let start = if i == 0 {
            0
        } else {
            self.spans[i - 1].end as usize
        };
        Some(Cell {
            kind: span.kind,
            text: &self.text[start..span.end as usize],
        })
    }

    /// The cell of column `name`.
    pub fn get(&self, name: &str) -> Option<Cell<'_>> {
        self.cell(self.columns.index_of(name)?)
    }

    /// Column name and cell, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, Cell<'_>)> + '_ {
        (0..self.len()).map(move |i| {
            (
                self.columns.name(i).unwrap_or_default(),
                self.cell(i).expect("one span per column"),
            )
        })
    }

    /// The cell of column `name` read as `T` (`String`, `i64`, `u64`, `f64`, `bool`,
    /// `Decimal`, `NaiveDate`, `serde_json::Value`, or `Option` of any of them for a cell that
    /// may be null).
    ///
    /// # Errors
    /// A [`Decode`](crate::ErrorKind::Decode) error naming the column and the text when the
    /// column is missing, the cell is null and `T` is not an `Option`, or the text does not
    /// parse as `T`.
    pub fn try_get<T: FromCell>(&self, name: &str) -> Result<T> {
        match self.get(name) {
            Some(cell) => T::from_cell(cell).map_err(|why| cell_error(name, cell, &why)),
            None => Err(Error::decode(
                format!(
                    "the row has no column `{name}` (its columns: {})",
                    self.columns.iter().collect::<Vec<_>>().join(", ")
                ),
                Some(name.to_owned()),
            )),
        }
    }

    /// The row as the generic map [`Row`](super::Row) (allocates a `String` per key and value).
    pub fn to_map(&self) -> super::Row {
        self.iter()
            .map(|(k, c)| (k.to_owned(), c.to_json()))
            .collect()
    }
}

impl PartialEq for CompactRow {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl fmt::Debug for CompactRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

fn cell_error(name: &str, cell: Cell<'_>, why: &str) -> Error {
    Error::decode(
        format!(
            "column `{name}` ({:?} `{}`) {why}",
            cell.kind(),
            ml_connector_retry::preview(cell.text(), 80)
        ),
        Some(name.to_owned()),
    )
}

pub(crate) fn offset(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::decode("a row larger than 4 GiB", None))
}

/// A type a [`Cell`] can be read as ([`CompactRow::try_get`]).
///
/// ```
/// use looker_client::{Cell, FromCell};
///
/// /// Looker's yes/no dimension as a bool.
/// struct YesNo(bool);
/// impl FromCell for YesNo {
///     fn from_cell(cell: Cell<'_>) -> Result<Self, String> {
///         match cell.text() {
///             "Yes" => Ok(YesNo(true)),
///             "No" => Ok(YesNo(false)),
///             _ => Err("is not Yes or No".into()),
///         }
///     }
/// }
/// ```
pub trait FromCell: Sized {
    /// Reads the cell; the error says what is wrong with it (the caller adds the column).
    fn from_cell(cell: Cell<'_>) -> std::result::Result<Self, String>;
}

fn non_null<'a>(cell: Cell<'a>) -> std::result::Result<&'a str, String> {
    cell.as_str()
        .ok_or_else(|| "is null; read it as an Option".to_owned())
}

impl<T: FromCell> FromCell for Option<T> {
    fn from_cell(cell: Cell<'_>) -> std::result::Result<Self, String> {
        if cell.is_null() {
            Ok(None)
        } else {
            T::from_cell(cell).map(Some)
        }
    }
}

impl FromCell for String {
    fn from_cell(cell: Cell<'_>) -> std::result::Result<Self, String> {
        non_null(cell).map(str::to_owned)
    }
}

impl FromCell for serde_json::Value {
    fn from_cell(cell: Cell<'_>) -> std::result::Result<Self, String> {
        Ok(cell.to_json())
    }
}

impl FromCell for bool {
    fn from_cell(cell: Cell<'_>) -> std::result::Result<Self, String> {
        // Looker writes yesno dimensions as "Yes" / "No" in csv.
        match non_null(cell)?.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(true),
            "false" | "no" | "0" => Ok(false),
            _ => Err("is not a yes/no value".into()),
        }
    }
}

macro_rules! parsed {
    ($($ty:ty => $what:literal),* $(,)?) => {$(
        impl FromCell for $ty {
            fn from_cell(cell: Cell<'_>) -> std::result::Result<Self, String> {
                non_null(cell)?
                    .trim()
                    .parse::<$ty>()
                    .map_err(|e| format!("is not {}: {e}", $what))
            }
        }
    )*};
}

parsed! {
    i32 => "a 32-bit integer",
    i64 => "a 64-bit integer",
    u32 => "an unsigned 32-bit integer",
    u64 => "an unsigned 64-bit integer",
    f64 => "a number",
    chrono::NaiveDate => "a date (YYYY-MM-DD)",
}

impl FromCell for Decimal {
    /// Exact: the digits as sent, in plain or scientific notation.
    fn from_cell(cell: Cell<'_>) -> std::result::Result<Self, String> {
        let text = non_null(cell)?.trim();
        Decimal::from_str_exact(text)
            .or_else(|_| Decimal::from_scientific(text))
            .map_err(|e| format!("is not an exact decimal: {e}"))
    }
}

impl<'de> Deserialize<'de> for CompactRow {
    /// From any map of scalars (the slow, general path; streams decode `json`, `csv` and `txt`
    /// without it). Each row gets its own [`Columns`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct RowVisitor;
        impl<'de> Visitor<'de> for RowVisitor {
            type Value = CompactRow;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a row (a map of field name to value)")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<CompactRow, A::Error> {
                use serde::de::Error as _;
                let mut names = Vec::new();
                let mut text = String::new();
                let mut spans = Vec::new();
                while let Some((name, value)) = map.next_entry::<String, serde_json::Value>()? {
                    let kind = match &value {
                        serde_json::Value::Null => CellKind::Null,
                        serde_json::Value::Bool(b) => {
                            text.push_str(if *b { "true" } else { "false" });
                            CellKind::Bool
                        }
                        serde_json::Value::Number(n) => {
                            text.push_str(&n.to_string());
                            CellKind::Number
                        }
                        serde_json::Value::String(s) => {
                            text.push_str(s);
                            CellKind::String
                        }
                        other => {
                            text.push_str(&other.to_string());
                            CellKind::Json
                        }
                    };
                    names.push(name);
                    spans.push(Span {
                        end: offset(text.len()).map_err(A::Error::custom)?,
                        kind,
                    });
                }
                Ok(CompactRow::from_parts(Columns::new(names), text, spans))
            }
        }
        deserializer.deserialize_map(RowVisitor)
    }
}

impl Serialize for CompactRow {
    /// As a map of column name to value, numbers with every digit.
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (name, cell) in self.iter() {
            map.serialize_entry(name, &cell.to_json())?;
        }
        map.end()
    }
}
