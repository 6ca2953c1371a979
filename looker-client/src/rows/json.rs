//! Incremental splitter for a JSON array of rows.
//!
//! The splitter only finds where each top-level element ends; `serde_json`
//! does the decoding. It tracks whether it is inside a string (and after a
//! backslash, even when the backslash ends a chunk) and the nesting depth of
//! objects and arrays. An element that lies wholly inside one chunk is decoded
//! straight from that chunk; only an element that spans chunks is copied into
//! a carry buffer, which is therefore never larger than one row.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use super::{Decoder, cut_off, row_error};
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    /// Before the opening `[`.
    Start,
    /// After `[`: an element or `]`.
    BeforeFirst,
    /// After `,`: an element.
    BeforeNext,
    /// Inside an element.
    InElem,
    /// After an element: `,` or `]`.
    AfterElem,
    /// After the closing `]`: only white space may follow.
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// An object or array: ends when the depth returns to zero.
    Container,
    /// A string: ends at the closing quote.
    String,
    /// A number or literal: ends before `,`, `]` or white space.
    Bare,
}

/// Decodes one element (a row) once the splitter has found where it starts.
pub(crate) trait ElementParser<T>: Send {
    /// Decodes the element at the start of `bytes`, which may go on past it: the row and the
    /// index just past its end, or `None` when `bytes` end inside it.
    fn prefix(&mut self, bytes: &[u8], index: u64) -> Result<Option<(T, usize)>>;
    /// Decodes `bytes`, exactly one element.
    fn whole(&mut self, bytes: &[u8], index: u64) -> Result<T>;
}

/// Rows decoded by `serde_json` into any `DeserializeOwned` type.
pub(crate) struct Serde<T>(PhantomData<fn() -> T>);

impl<T> Default for Serde<T> {
    fn default() -> Self {
        Serde(PhantomData)
    }
}

impl<T: DeserializeOwned> ElementParser<T> for Serde<T> {
    fn prefix(&mut self, bytes: &[u8], index: u64) -> Result<Option<(T, usize)>> {
        // serde_json reports where the element ended, so the bytes are read once.
        let mut rows = serde_json::Deserializer::from_slice(bytes).into_iter::<T>();
        match rows.next() {
            Some(Ok(row)) => Ok(Some((row, rows.byte_offset()))),
            Some(Err(e)) if e.is_eof() => Ok(None),
            Some(Err(_)) => Err(path_error::<T>(bytes, index)),
            None => Ok(None),
        }
    }

    fn whole(&mut self, bytes: &[u8], index: u64) -> Result<T> {
        serde_json::from_slice::<T>(bytes).map_err(|_| path_error::<T>(bytes, index))
    }
}

/// Decodes the element at the start of `bytes` again, slower, to name the path of the problem
/// (trailing bytes are not looked at).
fn path_error<T: DeserializeOwned>(bytes: &[u8], index: u64) -> Error {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(_) => row_error(index, "", "the row is not valid JSON"),
        Err(e) => {
            let path = e.path().to_string();
            row_error(index, &path, e.into_inner())
        }
    }
}

pub(crate) struct JsonRows<T, P = Serde<T>> {
    st: St,
    shape: Shape,
    depth: u32,
    in_string: bool,
    escape: bool,
    carry: Vec<u8>,
    index: u64,
    parser: P,
    _row: PhantomData<fn() -> T>,
}

impl<T, P> JsonRows<T, P> {
    pub(crate) fn new(parser: P) -> Self {
        Self {
            st: St::Start,
            shape: Shape::Container,
            depth: 0,
            in_string: false,
            escape: false,
            carry: Vec::new(),
            index: 0,
            parser,
            _row: PhantomData,
        }
    }
}

#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

fn unexpected(what: &str, rest: &[u8]) -> Error {
    let text = String::from_utf8_lossy(&rest[..rest.len().min(400)]);
    Error::decode(
        format!(
            "{what}; the result continues with: {}",
            ml_connector_retry::preview(&text, 160)
        ),
        None,
    )
}

impl<T: Send, P: ElementParser<T>> JsonRows<T, P> {
    /// Scans an element from `input[i..]`; returns the index just past its
    /// end when it ends inside `input`.
    #[inline]
    fn scan(&mut self, input: &[u8], mut i: usize) -> Option<usize> {
        let n = input.len();
        while i < n {
            if self.in_string {
                if self.escape {
                    self.escape = false;
                    i += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &input[i..]) {
                    None => return None,
                    Some(k) => {
                        i += k;
                        if input[i] == b'\\' {
                            self.escape = true;
                            i += 1;
                        } else {
                            self.in_string = false;
                            i += 1;
                            if self.shape == Shape::String {
                                return Some(i);
                            }
                        }
                    }
                }
                continue;
            }
            let b = input[i];
            match self.shape {
                Shape::Bare => {
                    if b == b',' || b == b']' || is_ws(b) {
                        return Some(i);
                    }
                    i += 1;
                }
                _ => {
                    i += 1;
                    match b {
                        b'"' => self.in_string = true,
                        b'{' | b'[' => self.depth += 1,
                        b'}' | b']' => {
                            self.depth = self.depth.saturating_sub(1);
                            if self.depth == 0 {
                                return Some(i);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        None
    }
}

impl<T: Send, P: ElementParser<T>> Decoder<T> for JsonRows<T, P> {
    fn next(&mut self, input: &[u8]) -> Result<(usize, Option<T>)> {
        let n = input.len();
        let mut i = 0;
        // Where the current element starts in `input` (0 when it began in an
        // earlier chunk and its start is in `carry`).
        let mut start = 0;
        loop {
            match self.st {
                St::Start | St::BeforeFirst | St::BeforeNext | St::AfterElem | St::Done => {
                    while i < n && is_ws(input[i]) {
                        i += 1;
                    }
                    // A UTF-8 byte order mark (EF BB BF) before the array,
                    // possibly split across chunks: none of its bytes can
                    // start JSON.
                    if self.st == St::Start && i < n && matches!(input[i], 0xEF | 0xBB | 0xBF) {
                        i += 1;
                        continue;
                    }
                    if i == n {
                        return Ok((n, None));
                    }
                    let b = input[i];
                    match self.st {
                        St::Start => {
                            if b != b'[' {
                                return Err(unexpected(
                                    "expected the result to be a JSON array of rows",
                                    &input[i..],
                                ));
                            }
                            i += 1;
                            self.st = St::BeforeFirst;
                        }
                        St::BeforeFirst | St::BeforeNext => {
                            if b == b']' {
                                if self.st == St::BeforeNext {
                                    return Err(unexpected(
                                        "a comma is followed by `]` in the JSON result",
                                        &input[i..],
                                    ));
                                }
                                i += 1;
                                self.st = St::Done;
                                continue;
                            }
                            if b == b',' {
                                return Err(unexpected(
                                    "an empty element in the JSON result",
                                    &input[i..],
                                ));
                            }
                            self.shape = match b {
                                b'{' | b'[' => Shape::Container,
                                b'"' => Shape::String,
                                _ => Shape::Bare,
                            };
                            self.depth = 0;
                            self.in_string = false;
                            self.escape = false;
                            if self.shape == Shape::String {
                                // Consume the opening quote here.
                                self.in_string = true;
                                start = i;
                                i += 1;
                            } else {
                                start = i;
                            }
                            self.st = St::InElem;
                        }
                        St::AfterElem => match b {
                            b',' => {
                                i += 1;
                                self.st = St::BeforeNext;
                            }
                            b']' => {
                                i += 1;
                                self.st = St::Done;
                            }
                            _ => {
                                return Err(unexpected(
                                    "expected `,` or `]` after a row of the JSON result",
                                    &input[i..],
                                ));
                            }
                        },
                        St::Done => {
                            return Err(unexpected(
                                "unexpected data after the end of the JSON result",
                                &input[i..],
                            ));
                        }
                        St::InElem => unreachable!(),
                    }
                }
                St::InElem => {
                    // Fast path: an object or array that starts in this
                    // chunk is parsed in place, and serde_json reports where
                    // it ended, so the bytes are read once. Only when the
                    // chunk ends inside it (an EOF error) does the splitter
                    // scan it into the carry buffer.
                    if self.carry.is_empty() && self.shape == Shape::Container && i == start {
                        let index = self.index;
                        if let Some((row, used)) = self.parser.prefix(&input[start..], index)? {
                            self.index += 1;
                            self.st = St::AfterElem;
                            return Ok((start + used, Some(row)));
                        }
                    }
                    match self.scan(input, i) {
                        Some(end) => {
                            self.st = St::AfterElem;
                            let index = self.index;
                            self.index += 1;
                            let row = if self.carry.is_empty() {
                                self.parser.whole(&input[start..end], index)
                            } else {
                                self.carry.extend_from_slice(&input[..end]);
                                let carry = std::mem::take(&mut self.carry);
                                let row = self.parser.whole(&carry, index);
                                // Keep the allocation for the next spanning row.
                                self.carry = carry;
                                self.carry.clear();
                                row
                            };
                            return row.map(|r| (end, Some(r)));
                        }
                        None => {
                            self.carry.extend_from_slice(&input[start..]);
                            return Ok((n, None));
                        }
                    }
                }
            }
        }
    }

    fn finish(&mut self) -> Result<Option<T>> {
        match self.st {
            St::Done => Ok(None),
            _ => Err(cut_off("JSON", self.index)),
        }
    }

    fn buffered(&self) -> usize {
        self.carry.capacity()
    }
}
