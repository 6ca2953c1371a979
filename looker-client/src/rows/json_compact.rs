//! Reads one JSON object (a row of a `json` result) straight into a [`CompactRow`]: the
//! values' text is copied into one buffer (strings unescaped, numbers as sent, objects and
//! arrays as their JSON text), and the keys are compared with the columns of the previous row
//! so that rows of the same shape share one [`Columns`].

use super::compact::{CellKind, Columns, CompactRow, Span, offset};
use super::json::ElementParser;
use super::row_error;
use crate::error::Result;

/// Why parsing stopped without a row.
enum Stop {
    /// The input ended inside the row: wait for more.
    Eof,
    /// The row is not valid JSON (or not an object): what is wrong.
    Bad(&'static str),
}

type Step<T> = std::result::Result<T, Stop>;

#[derive(Default)]
pub(crate) struct CompactParser {
    columns: Option<Columns>,
    text: Vec<u8>,
    spans: Vec<Span>,
    keys: Vec<u8>,
    key_ends: Vec<usize>,
}

#[inline]
fn ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\n' | b'\r' | b'\t') {
        i += 1;
    }
    i
}

#[inline]
fn at(b: &[u8], i: usize) -> Step<u8> {
    b.get(i).copied().ok_or(Stop::Eof)
}

fn hex4(b: &[u8], i: usize) -> Step<u32> {
    if b.len() < i + 4 {
        return Err(Stop::Eof);
    }
    let mut v = 0u32;
    for &c in &b[i..i + 4] {
        let d = (c as char)
            .to_digit(16)
            .ok_or(Stop::Bad("a \\u escape without four hex digits"))?;
        v = v * 16 + d;
    }
    Ok(v)
}

/// A string whose opening quote is at `i - 1`: its unescaped bytes are appended to `out`;
/// returns the index after the closing quote.
fn string(b: &[u8], mut i: usize, out: &mut Vec<u8>) -> Step<usize> {
    loop {
        let Some(k) = memchr::memchr2(b'"', b'\\', &b[i..]) else {
            return Err(Stop::Eof);
        };
        out.extend_from_slice(&b[i..i + k]);
        i += k;
        if b[i] == b'"' {
            return Ok(i + 1);
        }
        let e = at(b, i + 1)?;
        i += 2;
        let simple = match e {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let mut c = hex4(b, i)?;
                i += 4;
                if (0xD800..0xDC00).contains(&c) {
                    // A high surrogate: a low one must follow.
                    if at(b, i)? != b'\\' || at(b, i + 1)? != b'u' {
                        return Err(Stop::Bad("an unpaired surrogate in a \\u escape"));
                    }
                    let low = hex4(b, i + 2)?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return Err(Stop::Bad("an unpaired surrogate in a \\u escape"));
                    }
                    i += 6;
                    c = 0x10000 + ((c - 0xD800) << 10) + (low - 0xDC00);
                }
                let ch = char::from_u32(c).ok_or(Stop::Bad("an invalid \\u escape"))?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            _ => return Err(Stop::Bad("an invalid escape in a string")),
        };
        out.push(simple);
    }
}

/// The JSON number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn valid_number(t: &[u8]) -> bool {
    let mut i = 0;
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < t.len() && t[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > s
    };
    if t.first() == Some(&b'-') {
        i += 1;
    }
    if t.get(i) == Some(&b'0') {
        i += 1;
    } else if !digits(&mut i) {
        return false;
    }
    if t.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(t.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(t.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == t.len()
}

/// An object or array starting at `i`: returns the index after its end.
fn nested(b: &[u8], mut i: usize) -> Step<usize> {
    let mut depth = 0u32;
    while i < b.len() {
        match b[i] {
            b'"' => {
                // Skip the string, escapes included.
                i += 1;
                loop {
                    let k = memchr::memchr2(b'"', b'\\', &b[i..]).ok_or(Stop::Eof)?;
                    i += k;
                    if b[i] == b'\\' {
                        i += 2;
                        if i > b.len() {
                            return Err(Stop::Eof);
                        }
                    } else {
                        i += 1;
                        break;
                    }
                }
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    Err(Stop::Eof)
}

impl CompactParser {
    /// A value starting at `i` (after white space): appends its text, returns its kind and the
    /// index after it.
    fn value(&mut self, b: &[u8], i: usize) -> Step<(CellKind, usize)> {
        match at(b, i)? {
            b'"' => Ok((CellKind::String, string(b, i + 1, &mut self.text)?)),
            b'-' | b'0'..=b'9' => {
                let mut j = i + 1;
                while j < b.len() && matches!(b[j], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                {
                    j += 1;
                }
                if j == b.len() {
                    // The number may go on in the next chunk.
                    return Err(Stop::Eof);
                }
                if !valid_number(&b[i..j]) {
                    return Err(Stop::Bad("an invalid number"));
                }
                self.text.extend_from_slice(&b[i..j]);
                Ok((CellKind::Number, j))
            }
            b'{' | b'[' => {
                let end = nested(b, i)?;
                self.text.extend_from_slice(&b[i..end]);
                Ok((CellKind::Json, end))
            }
            c => {
                let (word, kind): (&[u8], _) = match c {
                    b't' => (b"true", CellKind::Bool),
                    b'f' => (b"false", CellKind::Bool),
                    b'n' => (b"null", CellKind::Null),
                    _ => return Err(Stop::Bad("an unexpected character where a value starts")),
                };
                let have = &b[i..b.len().min(i + word.len())];
                if have != &word[..have.len()] {
                    return Err(Stop::Bad("an invalid literal (true, false or null)"));
                }
                if have.len() < word.len() {
                    return Err(Stop::Eof);
                }
                if kind == CellKind::Bool {
                    self.text.extend_from_slice(word);
                }
                Ok((kind, i + word.len()))
            }
        }
    }

    /// Parses the object at the start of `b` into the scratch buffers; returns the index after
    /// it and whether its keys are the current columns, in order.
    fn object(&mut self, b: &[u8]) -> Step<(usize, bool)> {
        self.text.clear();
        self.spans.clear();
        self.keys.clear();
        self.key_ends.clear();
        if at(b, 0)? != b'{' {
            return Err(Stop::Bad("the row is not a JSON object"));
        }
        let mut same = true;
        let mut i = ws(b, 1);
        if at(b, i)? == b'}' {
            let n = self.columns.as_ref().map_or(0, Columns::len);
            return Ok((i + 1, n == 0 && self.columns.is_some()));
        }
        loop {
            if at(b, i)? != b'"' {
                return Err(Stop::Bad("expected a field name"));
            }
            let key_start = self.keys.len();
            i = string(b, i + 1, &mut self.keys)?;
            self.key_ends.push(self.keys.len());
            let k = self.key_ends.len() - 1;
            same = same
                && self
                    .columns
                    .as_ref()
                    .is_some_and(|c| c.matches_at(k, &self.keys[key_start..]));
            i = ws(b, i);
            if at(b, i)? != b':' {
                return Err(Stop::Bad("expected `:` after a field name"));
            }
            i = ws(b, i + 1);
            let (kind, end) = self.value(b, i)?;
            let end_text = offset(self.text.len()).map_err(|_| Stop::Bad("a row over 4 GiB"))?;
            self.spans.push(Span {
                end: end_text,
                kind,
            });
            i = ws(b, end);
            match at(b, i)? {
                b',' => i = ws(b, i + 1),
                b'}' => {
                    let n = self.columns.as_ref().map_or(0, Columns::len);
                    return Ok((i + 1, same && n == self.spans.len()));
                }
                _ => return Err(Stop::Bad("expected `,` or `}` after a value")),
            }
        }
    }

    fn parse(&mut self, b: &[u8], index: u64) -> Result<Option<(CompactRow, usize)>> {
        let (end, same) = match self.object(b) {
            Ok(x) => x,
            Err(Stop::Eof) => return Ok(None),
            Err(Stop::Bad(why)) => {
                let field = self.key_ends.len().checked_sub(1).map(|k| {
                    let start = if k == 0 { 0 } else { self.key_ends[k - 1] };
                    String::from_utf8_lossy(&self.keys[start..self.key_ends[k]]).into_owned()
                });
                return Err(row_error(index, field.as_deref().unwrap_or(""), why));
            }
        };
        let text = std::str::from_utf8(&self.text)
            .map_err(|_| row_error(index, "", "a value is not UTF-8 text"))?;
        if !same {
            let keys = std::str::from_utf8(&self.keys)
                .map_err(|_| row_error(index, "", "a field name is not UTF-8 text"))?;
            let names = self.key_ends.iter().enumerate().map(|(k, &e)| {
                let s = if k == 0 { 0 } else { self.key_ends[k - 1] };
                &keys[s..e]
            });
            self.columns = Some(Columns::new(names));
        }
        let columns = self.columns.clone().expect("set above");
        Ok(Some((
            CompactRow::from_boxed(columns, text.into(), self.spans.as_slice().into()),
            end,
        )))
    }
}

impl ElementParser<CompactRow> for CompactParser {
    fn prefix(&mut self, bytes: &[u8], index: u64) -> Result<Option<(CompactRow, usize)>> {
        self.parse(bytes, index)
    }

    fn whole(&mut self, bytes: &[u8], index: u64) -> Result<CompactRow> {
        match self.parse(bytes, index)? {
            Some((row, _)) => Ok(row),
            None => Err(row_error(index, "", "the row ends in the middle")),
        }
    }
}
