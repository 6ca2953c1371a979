//! Incremental CSV and TXT (tab-separated) rows with `csv-core`.
//!
//! `csv-core` keeps its parser state between calls, so a record may span any
//! number of chunks; its fields are written into a buffer that grows to the
//! size of the largest record and is reused. The first record is the header.
//! Typed rows are decoded with the `csv` crate's serde support (which parses
//! numbers from text and treats empty cells as `None` for `Option` fields).

use std::marker::PhantomData;

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};
use serde::de::DeserializeOwned;

use super::{Decoder, Row, is_row, row_as, row_error};
use crate::error::{Error, Result};

pub(crate) struct CsvRows<T> {
    reader: Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
    out_len: usize,
    ends_len: usize,
    headers: Option<csv::ByteRecord>,
    header_names: Vec<String>,
    record: csv::ByteRecord,
    index: u64,
    as_row: bool,
    what: &'static str,
    _row: PhantomData<fn() -> T>,
}

impl<T: 'static> CsvRows<T> {
    pub(crate) fn new(delimiter: u8, quoting: bool) -> Self {
        Self {
            reader: ReaderBuilder::new()
                .delimiter(delimiter)
                .quoting(quoting)
                .build(),
            out: vec![0; 1024],
            ends: vec![0; 32],
            out_len: 0,
            ends_len: 0,
            headers: None,
            header_names: Vec::new(),
            record: csv::ByteRecord::new(),
            index: 0,
            as_row: is_row::<T>(),
            what: if delimiter == b'\t' { "TXT" } else { "CSV" },
            _row: PhantomData,
        }
    }
}

impl<T: DeserializeOwned + Send + 'static> CsvRows<T> {
    /// Parses from `input` until a record completes or the input is used up.
    /// Returns the bytes used and whether a record is complete in
    /// `self.record`.
    fn read(&mut self, input: &[u8]) -> (usize, bool) {
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
                    self.record.clear();
                    let mut start = 0;
                    for &end in &self.ends[..self.ends_len] {
                        self.record.push_field(&self.out[start..end]);
                        start = end;
                    }
                    self.out_len = 0;
                    self.ends_len = 0;
                    return (used, true);
                }
                ReadRecordResult::End => return (used, false),
            }
        }
    }

    /// Handles the record in `self.record`: the header, or a row.
    fn take_record(&mut self) -> Result<Option<T>> {
        if self.headers.is_none() {
            self.header_names = self
                .record
                .iter()
                .map(|h| String::from_utf8_lossy(h).trim().to_owned())
                .collect();
            let mut headers = csv::ByteRecord::new();
            for h in &self.header_names {
                headers.push_field(h.as_bytes());
            }
            self.headers = Some(headers);
            return Ok(None);
        }
        let index = self.index;
        self.index += 1;
        if self.record.len() != self.header_names.len() {
            return Err(Error::decode(
                format!(
                    "row {} of the {} result has {} fields but the header has {}",
                    index + 1,
                    self.what,
                    self.record.len(),
                    self.header_names.len()
                ),
                Some(format!("[{index}]")),
            ));
        }
        if self.as_row {
            let mut row = Row::new();
            for (name, cell) in self.header_names.iter().zip(self.record.iter()) {
                let value = if cell.is_empty() {
                    serde_json::Value::Null
                } else {
                    serde_json::Value::String(String::from_utf8_lossy(cell).into_owned())
                };
                row.insert(name.clone(), value);
            }
            return Ok(row_as::<T>(row));
        }
        self.record
            .deserialize::<T>(self.headers.as_ref())
            .map(Some)
            .map_err(|e| {
                let field = match e.kind() {
                    csv::ErrorKind::Deserialize { err, .. } => err
                        .field()
                        .and_then(|f| self.header_names.get(f as usize))
                        .cloned()
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                let detail = match e.kind() {
                    csv::ErrorKind::Deserialize { err, .. } => err.to_string(),
                    other => format!("{other:?}"),
                };
                row_error(index, &field, detail)
            })
    }
}

impl<T: DeserializeOwned + Send + 'static> Decoder<T> for CsvRows<T> {
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
