//! Rows decoded from a result body as it arrives.
//!
//! A [`RowStream`] reads the HTTP body chunk by chunk and hands out one row
//! at a time, so memory holds a few chunks (a body from the API is read up to
//! [`readahead::DEPTH`] chunks ahead, on a task of its own, so the network and
//! the decoding overlap) and at most one row that spans two chunks, whatever
//! the size of the result:
//!
//! - JSON (`json` format, a JSON array of objects): an incremental splitter
//!   finds where each array element ends (it tracks strings, escapes and
//!   nesting depth) and gives each complete element to `serde_json`.
//! - CSV and TXT (`csv`, `txt`): `csv-core` parses records incrementally;
//!   the first record is the header.
//!
//! Rows are decoded into the caller's `serde` type, into a generic [`Row`], or (fastest for
//! rows whose shape is not known in advance) into a [`CompactRow`], which has its own
//! decoders here that do not go through `serde`.

mod cell;
mod compact;
mod csv;
mod json;
mod json_compact;
mod readahead;

pub use compact::{Cell, CellKind, Columns, CompactRow, FromCell};

pub(crate) use readahead::ReadAhead;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind, Result};
use crate::run::ResultFormat;

/// A generic row: field name to JSON value.
///
/// From `json` results the keys are fully qualified field names
/// (`orders.created_date`) and numbers keep every digit. From `csv`/`txt`
/// results the keys are the header row as Looker wrote it and every value is
/// a string as written (an empty cell is `null`).
pub type Row = serde_json::Map<String, serde_json::Value>;

/// One step of a decoder over a slice of input.
pub(crate) trait Decoder<T>: Send {
    /// Consumes input up to the end of the next complete row and returns how
    /// many bytes were used and the row, or consumes everything and returns
    /// no row when the input ends inside one.
    fn next(&mut self, input: &[u8]) -> Result<(usize, Option<T>)>;
    /// Called once at the end of the body: the last row if one was pending,
    /// or an error if the body ended in the middle of the result.
    fn finish(&mut self) -> Result<Option<T>>;
    /// Bytes held between calls (the part of a row that spans chunks).
    fn buffered(&self) -> usize;
}

/// How a finished stream checks its row count against the row limit.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// The effective row limit; `None` or a negative value means unlimited.
    pub(crate) limit: Option<i64>,
    /// Report reaching the limit as a flag instead of an error.
    pub(crate) allow_truncation: bool,
    /// Names the query in the truncation message.
    pub(crate) what: String,
}

impl Limits {
    pub(crate) fn unlimited() -> Self {
        Self {
            limit: None,
            allow_truncation: true,
            what: "the result".into(),
        }
    }
}

#[derive(Default)]
struct Stats {
    rows: AtomicU64,
    finished: AtomicBool,
    truncated: AtomicBool,
    max_buffered: AtomicU64,
}

/// A stream of decoded rows, read from the response body as it arrives.
///
/// After the stream has ended, [`is_possibly_truncated`](Self::is_possibly_truncated)
/// tells whether the row count reached the row limit (only when truncation
/// was allowed; otherwise the stream's last item is a
/// [`Truncated`](crate::ErrorKind::Truncated) error). Any error ends the
/// stream.
///
/// ```
/// use futures::{StreamExt, TryStreamExt};
/// use looker_client::{ResultFormat, Row, RowStream};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// // Two chunks that split a row in the middle.
/// let chunks = vec![
///     Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"[{\"orders.id\": 1}, {\"orders")),
///     Ok(bytes::Bytes::from_static(b".id\": 2}]")),
/// ];
/// let rows: Vec<Row> = RowStream::from_byte_stream(ResultFormat::Json, futures::stream::iter(chunks))
///     .try_collect()
///     .await
///     .unwrap();
/// assert_eq!(rows[1]["orders.id"], 2);
/// # });
/// ```
pub struct RowStream<T> {
    // Polled by hand rather than through `futures::stream::unfold`, which
    // moved the whole state in and out of a future for every row.
    state: State<T>,
}

impl<T> std::fmt::Debug for RowStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowStream")
            .field("rows_read", &self.rows_read())
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned + Send + 'static> RowStream<T> {
    /// Decodes rows in `format` from any stream of byte chunks (a file, a
    /// body from elsewhere, or bytes already in memory). No row limit is
    /// checked.
    ///
    /// `format` must be [`Json`](ResultFormat::Json), [`Csv`](ResultFormat::Csv)
    /// or [`Txt`](ResultFormat::Txt); for another format the stream yields
    /// one [`Config`](crate::ErrorKind::Config) error.
    pub fn from_byte_stream<S, E>(format: ResultFormat, body: S) -> Self
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        let body = body.map(|r| r.map_err(|e| Error::transport("reading the row data", e, false)));
        Self::new(format, body, Limits::unlimited())
    }

    pub(crate) fn new<S>(format: ResultFormat, body: S, limits: Limits) -> Self
    where
        S: Stream<Item = Result<Bytes>> + Send + 'static,
    {
        let decoder: Box<dyn Decoder<T>> = match format {
            ResultFormat::Json | ResultFormat::Csv | ResultFormat::Txt => {
                match compact_decoder::<T>(format) {
                    Some(d) => d,
                    None => serde_decoder::<T>(format),
                }
            }
            other => {
                let err = Error::config(format!(
                    "rows can be streamed from json, csv and txt results, not {}; use \
                     run_inline_query_json_bi for json_bi",
                    other.as_str()
                ));
                return Self {
                    state: State::new(Box::pin(futures::stream::empty()), None, limits, Some(err)),
                };
            }
        };
        Self {
            state: State::new(Box::pin(body), Some(decoder), limits, None),
        }
    }
}

/// The `serde` decoder of `format` (json, csv or txt).
fn serde_decoder<T: DeserializeOwned + Send + 'static>(
    format: ResultFormat,
) -> Box<dyn Decoder<T>> {
    match format {
        ResultFormat::Csv => Box::new(csv::CsvRows::new(
            b',',
            true,
            csv::SerdeRecords::<T>::default(),
        )),
        ResultFormat::Txt => Box::new(csv::CsvRows::new(
            b'\t',
            false,
            csv::SerdeRecords::<T>::default(),
        )),
        _ => Box::new(json::JsonRows::new(json::Serde::<T>::default())),
    }
}

/// When `T` is [`CompactRow`], its own decoder of `format` (json, csv or txt), which reads
/// cells straight into the row; `None` for any other `T`.
fn compact_decoder<T: 'static>(format: ResultFormat) -> Option<Box<dyn Decoder<T>>> {
    if std::any::TypeId::of::<T>() != std::any::TypeId::of::<CompactRow>() {
        return None;
    }
    let decoder: Box<dyn Decoder<CompactRow>> = match format {
        ResultFormat::Csv => Box::new(csv::CsvRows::new(
            b',',
            true,
            csv::CompactRecords::default(),
        )),
        ResultFormat::Txt => Box::new(csv::CsvRows::new(
            b'\t',
            false,
            csv::CompactRecords::default(),
        )),
        _ => Box::new(json::JsonRows::new(json_compact::CompactParser::default())),
    };
    // `T` is `CompactRow`, so this is the same type and the downcast succeeds.
    let any: Box<dyn std::any::Any> = Box::new(decoder);
    any.downcast::<Box<dyn Decoder<T>>>().ok().map(|b| *b)
}

impl<T> RowStream<T> {
    /// Rows handed out so far.
    pub fn rows_read(&self) -> u64 {
        self.state.stats.rows.load(Ordering::Relaxed)
    }

    /// Whether the whole body has been read.
    pub fn is_finished(&self) -> bool {
        self.state.stats.finished.load(Ordering::Relaxed)
    }

    /// Whether the finished result reached its row limit (truncation was
    /// allowed, so this is a flag instead of an error). `false` until the
    /// stream has ended.
    pub fn is_possibly_truncated(&self) -> bool {
        self.state.stats.truncated.load(Ordering::Relaxed)
    }

    /// The most bytes the decoder held between chunks (part of a row that
    /// spanned two chunks): a measure of the memory bound.
    pub fn max_buffered_bytes(&self) -> u64 {
        self.state.stats.max_buffered.load(Ordering::Relaxed)
    }
}

impl<T> Stream for RowStream<T> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Every field is `Unpin` (the body and the decoder are boxed).
        self.get_mut().state.poll_step(cx)
    }
}

struct State<T> {
    body: Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>,
    chunk: Bytes,
    pos: usize,
    /// `None` only when the stream was built with an error to report.
    decoder: Option<Box<dyn Decoder<T>>>,
    /// An error found while building the stream, handed out first.
    early: Option<Error>,
    body_done: bool,
    decoder_finished: bool,
    done: bool,
    limits: Limits,
    stats: Arc<Stats>,
}

impl<T> State<T> {
    fn new(
        body: Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>,
        decoder: Option<Box<dyn Decoder<T>>>,
        limits: Limits,
        early: Option<Error>,
    ) -> Self {
        State {
            body,
            chunk: Bytes::new(),
            pos: 0,
            decoder,
            early,
            body_done: false,
            decoder_finished: false,
            done: false,
            limits,
            stats: Arc::new(Stats::default()),
        }
    }

    /// The next item, or `None` at the end. Any error ends the stream.
    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let out = match self.early.take() {
            Some(e) => Some(Err(e)),
            None => std::task::ready!(self.poll_inner(cx)),
        };
        if matches!(out, Some(Err(_)) | None) {
            self.done = true;
        }
        Poll::Ready(out)
    }

    fn poll_inner(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        let Some(decoder) = self.decoder.as_mut() else {
            return Poll::Ready(None);
        };
        loop {
            if self.pos < self.chunk.len() {
                match decoder.next(&self.chunk[self.pos..]) {
                    Ok((0, None)) => {
                        // Cannot happen with the decoders here; never spin.
                        return Poll::Ready(Some(Err(Error::decode(
                            "the row decoder stopped making progress",
                            None,
                        ))));
                    }
                    Ok((used, row)) => {
                        self.pos += used;
                        if let Some(row) = row {
                            self.stats.rows.fetch_add(1, Ordering::Relaxed);
                            return Poll::Ready(Some(Ok(row)));
                        }
                        let held = decoder.buffered() as u64;
                        self.stats.max_buffered.fetch_max(held, Ordering::Relaxed);
                        continue;
                    }
                    Err(e) => return Poll::Ready(Some(Err(e))),
                }
            }
            if self.body_done {
                return Poll::Ready(self.finish());
            }
            match std::task::ready!(self.body.as_mut().poll_next(cx)) {
                Some(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => self.body_done = true,
            }
        }
    }

    fn finish(&mut self) -> Option<Result<T>> {
        if !self.decoder_finished
            && let Some(decoder) = self.decoder.as_mut()
        {
            self.decoder_finished = true;
            match decoder.finish() {
                // The last row came without a terminator (CSV without a final
                // newline): hand it out; the limit is checked on the next call.
                Ok(Some(row)) => {
                    self.stats.rows.fetch_add(1, Ordering::Relaxed);
                    return Some(Ok(row));
                }
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
        }
        self.stats.finished.store(true, Ordering::Relaxed);
        let rows = self.stats.rows.load(Ordering::Relaxed);
        if let Some(limit) = self.limits.limit
            && limit >= 0
            && rows >= limit as u64
        {
            if self.limits.allow_truncation {
                self.stats.truncated.store(true, Ordering::Relaxed);
            } else {
                return Some(Err(Error::truncated(&self.limits.what, rows, limit)));
            }
        }
        None
    }
}

/// A decode error for row `index` (0-based) with its path.
pub(crate) fn row_error(index: u64, path: &str, detail: impl std::fmt::Display) -> Error {
    let full = if path.is_empty() || path == "." {
        format!("[{index}]")
    } else {
        format!("[{index}].{path}")
    };
    Error::decode(
        format!(
            "row {} of the result cannot be decoded at `{full}`: {detail}",
            index + 1
        ),
        Some(full),
    )
}

/// An error for a body that ended before the result was complete.
pub(crate) fn cut_off(what: &str, rows: u64) -> Error {
    Error::new(
        ErrorKind::Transport,
        format!(
            "the {what} result ended early after {rows} rows: the response was cut off \
             (connection closed or a proxy limit); run it again or use an async query task"
        ),
    )
}

#[cfg(test)]
mod tests;
