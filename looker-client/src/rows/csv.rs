//! Incremental CSV and TXT (tab-separated) rows with `csv-core`.
//!
//! `csv-core` keeps its parser state between calls, so a record may span any
//! number of chunks; its fields are written into a buffer that grows to the
//! size of the largest record and is reused. The first record is the header.
//! Rows are decoded straight from that buffer through a cell deserializer
//! (see `cell.rs`) that parses numbers from text only when the target asks
//! for a number, so amounts never pass through a float.

use std::marker::PhantomData;

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};
use serde::de::DeserializeOwned;

use super::cell::Cell;
use super::compact::{CellKind, Columns, CompactRow, Span, offset};
use super::{Decoder, row_error};
use crate::error::{Error, Result};

/// Turns a complete record (its text and field ends) into a row.
pub(crate) trait RecordBuilder<T>: Send {
    /// Row `index` (0-based) from `text`, whose fields end at `ends`, under `headers`.
    fn build(&mut self, headers: &Columns, text: &str, ends: &[usize], index: u64) -> Result<T>;
}

/// Rows decoded through `serde` (a cell deserializer per field) into any `DeserializeOwned`.
pub(crate) struct SerdeRecords<T>(PhantomData<fn() -> T>);

impl<T> Default for SerdeRecords<T> {
    fn default() -> Self {
        SerdeRecords(PhantomData)
    }
}

/// Rows copied into a [`CompactRow`]: one buffer for the record's text, the header shared.
#[derive(Default)]
pub(crate) struct CompactRecords {
    spans: Vec<Span>,
}

impl RecordBuilder<CompactRow> for CompactRecords {
    fn build(
        &mut self,
        headers: &Columns,
        text: &str,
        ends: &[usize],
        _index: u64,
    ) -> Result<CompactRow> {
        self.spans.clear();
        let mut start = 0;
        for &end in ends {
            self.spans.push(Span {
                end: offset(end)?,
                kind: if end == start {
                    CellKind::Null
                } else {
                    CellKind::String
                },
            });
            start = end;
        }
        Ok(CompactRow::from_boxed(
            headers.clone(),
            text.into(),
            self.spans.as_slice().into(),
        ))
    }
}

impl<T: DeserializeOwned + Send> RecordBuilder<T> for SerdeRecords<T> {
    fn build(&mut self, headers: &Columns, text: &str, ends: &[usize], index: u64) -> Result<T> {
        let cells = || {
            headers.iter().enumerate().map(move |(i, h)| {
                let start = if i == 0 { 0 } else { ends[i - 1] };
                (h, Cell(&text[start..ends[i]]))
            })
        };
        let map = serde::de::value::MapDeserializer::<_, serde::de::value::Error>::new(cells());
        match T::deserialize(map) {
            Ok(row) => Ok(row),
            Err(_) => {
                // Again, slower, to name the field.
                let map =
                    serde::de::value::MapDeserializer::<_, serde::de::value::Error>::new(cells());
                match serde_path_to_error::deserialize::<_, T>(map) {
                    Ok(row) => Ok(row),
                    Err(e) => {
                        let path = e.path().to_string();
                        Err(row_error(index, &path, e.into_inner()))
                    }
                }
            }
        }
    }
}

pub(crate) struct CsvRows<T, B = SerdeRecords<T>> {
    reader: Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
    out_len: usize,
    ends_len: usize,
    /// The header, once read.
    header_names: Option<Columns>,
    builder: B,
    /// Fields of the complete record in `out`/`ends` (0 while none).
    record_fields: usize,
    index: u64,
    what: &'static str,
    _row: PhantomData<fn() -> T>,
}

impl<T: 'static, B> CsvRows<T, B> {
    pub(crate) fn new(delimiter: u8, quoting: bool, builder: B) -> Self {
        Self {
            reader: ReaderBuilder::new()
                .delimiter(delimiter)
                .quoting(quoting)
                .build(),
            out: vec![0; 1024],
            ends: vec![0; 32],
            out_len: 0,
            ends_len: 0,
            header_names: None,
            builder,
            record_fields: 0,
            index: 0,
            what: if delimiter == b'\t' { "TXT" } else { "CSV" },
            _row: PhantomData,
        }
    }
}

impl<T: Send + 'static, B: RecordBuilder<T>> CsvRows<T, B> {
    /// Parses from `input` until a record completes or the input is used up.
    /// Returns the bytes used and whether a record is complete in
    /// `out`/`ends`.
    fn read(&mut self, input: &[u8]) -> (usize, bool) {
        if self.record_fields > 0 {
            // The previous record was handed out: reuse the buffers.
            self.record_fields = 0;
            self.out_len = 0;
            self.ends_len = 0;
        }
        let mut used = 0;
        loop {
            let (res, nin, nout, nend) = self.reader.read_record(
                &input[used..],
                &mut self.out[self.out_len..],
                &mut self.ends[self.ends_len..],
            );
            used += nin;
            self.out_len += nout;
            self.ends_len += nend;
            match res {
                ReadRecordResult::InputEmpty => return (used, false),
                ReadRecordResult::OutputFull => {
                    let len = self.out.len() * 2;
                    self.out.resize(len, 0);
                    // Only an empty slice may tell csv-core that the data
                    // ended: when this input is used up, wait for more.
                    if used == input.len() && !input.is_empty() {
                        return (used, false);
                    }
                }
                ReadRecordResult::OutputEndsFull => {
                    let len = self.ends.len() * 2;
                    self.ends.resize(len, 0);
                    if used == input.len() && !input.is_empty() {
                        return (used, false);
                    }
                }
                ReadRecordResult::Record => {
                    self.record_fields = self.ends_len;
                    return (used, true);
                }
                ReadRecordResult::End => return (used, false),
            }
        }
    }

    /// The fields of the complete record.
    fn fields(&self) -> impl Iterator<Item = &[u8]> {
        let ends = &self.ends[..self.record_fields];
        ends.iter().enumerate().map(move |(i, &end)| {
            let start = if i == 0 { 0 } else { ends[i - 1] };
            &self.out[start..end]
        })
    }

    /// Handles the complete record: the header, or a row.
    fn take_record(&mut self) -> Result<Option<T>> {
        let Some(headers) = &self.header_names else {
            let names = Columns::new(
                self.fields()
                    .map(|h| String::from_utf8_lossy(h).trim().to_owned()),
            );
            self.header_names = Some(names);
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        if self.record_fields != headers.len() {
            return Err(Error::decode(
                format!(
                    "row {} of the {} result has {} fields but the header has {}",
                    index + 1,
                    self.what,
                    self.record_fields,
                    headers.len()
                ),
                Some(format!("[{index}]")),
            ));
        }
        // csv-core only removes ASCII bytes (quotes, delimiters), so when
        // the record's bytes are UTF-8 every field is too, at char
        // boundaries: one check for the whole record.
        let ends = &self.ends[..self.record_fields];
        let total = ends.last().copied().unwrap_or(0);
        let text = match std::str::from_utf8(&self.out[..total]) {
            Ok(t) => t,
            Err(e) => {
                let at = e.valid_up_to();
                let field = ends.iter().position(|&end| end > at).unwrap_or(0);
                return Err(row_error(
                    index,
                    headers.name(field).unwrap_or_default(),
                    "the cell is not UTF-8 text",
                ));
            }
        };
        self.builder.build(headers, text, ends, index).map(Some)
    }
}

impl<T: Send + 'static, B: RecordBuilder<T>> Decoder<T> for CsvRows<T, B> {
    fn next(&mut self, input: &[u8]) -> Result<(usize, Option<T>)> {
        let mut used = 0;
        while used < input.len() {
            let (n, complete) = self.read(&input[used..]);
            used += n;
            if !complete {
                return Ok((used, None));
            }
            if let Some(row) = self.take_record()? {
                return Ok((used, Some(row)));
            }
        }
        Ok((used, None))
    }

    fn finish(&mut self) -> Result<Option<T>> {
        // An empty input tells csv-core the data ended: it completes a last
        // record that had no line break. (CSV has no end marker, so a body
        // cut off between records cannot be told from a complete one here;
        // the HTTP layer reports a connection that broke off.)
        let (_, complete) = self.read(&[]);
        if !complete {
            return Ok(None);
        }
        self.take_record()
    }

    fn buffered(&self) -> usize {
        self.out.capacity() + self.ends.capacity() * std::mem::size_of::<usize>()
    }
}
