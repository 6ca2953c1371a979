//! Stored field values, rows, and the JSON forms of values (FACTS section 5).

use std::io::Write;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::schema::FieldType;

/// A stored value. Absent values are simply not stored (`{}` on the wire).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    Str(Box<str>),
    /// A string from the seed: no allocation per row.
    Static(&'static str),
    Dec(Decimal),
    Int(i64),
    Bool(bool),
    /// Milliseconds since the Unix epoch, UTC.
    Dt(i64),
    Guid(Uuid),
}

impl Val {
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            Val::Static(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_dec(&self) -> Option<Decimal> {
        match self {
            Val::Dec(d) => Some(*d),
            Val::Int(i) => Some(Decimal::from(*i)),
            _ => None,
        }
    }

    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            Val::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub(crate) fn as_dt(&self) -> Option<i64> {
        match self {
            Val::Dt(ms) => Some(*ms),
            _ => None,
        }
    }

    /// The text used for keys (URL keys, sort order).
    pub(crate) fn key_text(&self) -> String {
        match self {
            Val::Str(s) => s.trim().to_owned(),
            Val::Static(s) => s.trim().to_owned(),
            Val::Int(i) => i.to_string(),
            Val::Dec(d) => d.to_string(),
            Val::Bool(b) => b.to_string(),
            Val::Dt(ms) => ms.to_string(),
            Val::Guid(g) => g.to_string(),
        }
    }

    /// Write the bare JSON value (without the `{"value": }` wrapper).
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Val::Str(s) => write_str(out, s),
            Val::Static(s) => write_str(out, s),
            Val::Dec(d) => {
                let _ = write!(out, "{d}");
            }
            Val::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Val::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Val::Dt(ms) => {
                out.push(b'"');
                write_datetime(out, *ms);
                out.push(b'"');
            }
            Val::Guid(g) => {
                let _ = write!(out, "\"{g}\"");
            }
        }
    }
}

pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *out, s);
}

/// `2023-12-14T17:20:45.16+00:00`: offset always, 0 to 3 fractional digits
/// (as the real server writes them, FACTS section 5).
pub(crate) fn write_datetime(out: &mut Vec<u8>, ms: i64) {
    use chrono::{Datelike, Timelike};
    let dt = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
    let two = |out: &mut Vec<u8>, n: u32| {
        out.extend_from_slice(&[b'0' + (n / 10) as u8, b'0' + (n % 10) as u8])
    };
    let year = dt.year();
    if (0..10_000).contains(&year) {
        let y = year as u32;
        two(out, y / 100);
        two(out, y % 100);
    } else {
        let _ = write!(out, "{year}");
    }
    out.push(b'-');
    two(out, dt.month());
    out.push(b'-');
    two(out, dt.day());
    out.push(b'T');
    two(out, dt.hour());
    out.push(b':');
    two(out, dt.minute());
    out.push(b':');
    two(out, dt.second());
    let frac = ms.rem_euclid(1000) as u32;
    if frac != 0 {
        let digits = [
            b'0' + (frac / 100) as u8,
            b'0' + (frac / 10 % 10) as u8,
            b'0' + (frac % 10) as u8,
        ];
        let len = if frac.is_multiple_of(100) {
            1
        } else if frac.is_multiple_of(10) {
            2
        } else {
            3
        };
        out.push(b'.');
        out.extend_from_slice(&digits[..len]);
    }
    out.extend_from_slice(b"+00:00");
}

pub(crate) fn format_datetime(ms: i64) -> String {
    let mut buf = Vec::new();
    write_datetime(&mut buf, ms);
    String::from_utf8(buf).unwrap_or_default()
}

/// Parse a date-time as clients send it: with or without offset and
/// fraction, or a bare date. A missing offset is taken as UTC.
pub(crate) fn parse_datetime(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_millis());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(dt.and_utc().timestamp_millis());
        }
    }
    if let Ok(dt) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(dt.timestamp_millis());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp_millis())
}

/// Milliseconds of midnight UTC of a date.
pub(crate) fn date_ms(y: i32, m: u32, d: u32) -> i64 {
    NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp_millis())
        .unwrap_or(0)
}

/// Convert the `value` of a wrapped field sent by a client. JSON.NET, which
/// the real server uses, converts leniently between strings and numbers;
/// this does the same for the obvious cases and refuses the rest.
pub(crate) fn from_json(ty: FieldType, v: &serde_json::Value) -> Result<Option<Val>, ()> {
    use serde_json::Value as J;
    if v.is_null() {
        return Ok(None);
    }
    let val = match (ty, v) {
        (FieldType::S, J::String(s)) => Val::Str(s.as_str().into()),
        (FieldType::S, J::Number(n)) => Val::Str(n.to_string().into()),
        (FieldType::S, J::Bool(b)) => Val::Str(if *b { "True" } else { "False" }.into()),
        (FieldType::Dec, J::Number(n)) => Val::Dec(parse_decimal(&n.to_string()).ok_or(())?),
        (FieldType::Dec, J::String(s)) => Val::Dec(parse_decimal(s).ok_or(())?),
        (FieldType::I | FieldType::Sh | FieldType::L, J::Number(n)) => {
            Val::Int(n.as_i64().ok_or(())?)
        }
        (FieldType::I | FieldType::Sh | FieldType::L, J::String(s)) => {
            Val::Int(s.trim().parse().map_err(|_| ())?)
        }
        (FieldType::B, J::Bool(b)) => Val::Bool(*b),
        (FieldType::B, J::String(s)) if s.eq_ignore_ascii_case("true") => Val::Bool(true),
        (FieldType::B, J::String(s)) if s.eq_ignore_ascii_case("false") => Val::Bool(false),
        (FieldType::Dt, J::String(s)) => Val::Dt(parse_datetime(s).ok_or(())?),
        (FieldType::G, J::String(s)) => Val::Guid(s.parse().map_err(|_| ())?),
        _ => return Err(()),
    };
    Ok(Some(val))
}

pub(crate) fn parse_decimal(s: &str) -> Option<Decimal> {
    let s = s.trim();
    s.parse::<Decimal>()
        .ok()
        .or_else(|| Decimal::from_scientific(s).ok())
}

/// A stored entity (top-level, detail line or linked entity). Values are
/// sparse and sorted by field index.
#[derive(Clone, Debug, Default)]
pub(crate) struct Row {
    pub(crate) id: Uuid,
    pub(crate) note: Option<Box<str>>,
    pub(crate) vals: Vec<(u16, Val)>,
    /// Detail collections and linked entities (a linked entity is a
    /// collection of one).
    pub(crate) kids: Vec<(u16, Vec<Row>)>,
}

impl Row {
    pub(crate) fn new(id: Uuid) -> Self {
        Row {
            id,
            ..Row::default()
        }
    }

    pub(crate) fn get(&self, idx: u16) -> Option<&Val> {
        self.vals
            .binary_search_by_key(&idx, |(i, _)| *i)
            .ok()
            .map(|p| &self.vals[p].1)
    }

    pub(crate) fn set(&mut self, idx: u16, val: Option<Val>) {
        match (self.vals.binary_search_by_key(&idx, |(i, _)| *i), val) {
            (Ok(p), Some(v)) => self.vals[p].1 = v,
            (Ok(p), None) => {
                self.vals.remove(p);
            }
            (Err(p), Some(v)) => self.vals.insert(p, (idx, v)),
            (Err(_), None) => {}
        }
    }

    /// Builder form of [`Row::set`] for generators.
    pub(crate) fn with(mut self, idx: u16, val: Val) -> Self {
        self.set(idx, Some(val));
        self
    }

    pub(crate) fn kids(&self, idx: u16) -> &[Row] {
        self.kids
            .iter()
            .find(|(i, _)| *i == idx)
            .map(|(_, k)| k.as_slice())
            .unwrap_or(&[])
    }

    pub(crate) fn kids_mut(&mut self, idx: u16) -> &mut Vec<Row> {
        let pos = match self.kids.iter().position(|(i, _)| *i == idx) {
            Some(p) => p,
            None => {
                self.kids.push((idx, Vec::new()));
                self.kids.sort_by_key(|(i, _)| *i);
                self.kids.iter().position(|(i, _)| *i == idx).unwrap_or(0)
            }
        };
        &mut self.kids[pos].1
    }
}

/// Deterministic GUID number `n` of stream `kind` (splitmix64), shaped as a
/// version-4 UUID so it looks like the real `NoteID`s.
pub(crate) fn det_uuid(kind: u64, n: u64) -> Uuid {
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    let hi = mix(kind.wrapping_mul(0x1000_0000_01B3) ^ n);
    let lo = mix(hi ^ n.rotate_left(17));
    uuid::Builder::from_random_bytes(((hi as u128) << 64 | lo as u128).to_be_bytes()).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_round_trip_in_the_real_format() {
        let ms = parse_datetime("2023-12-14T17:20:45.16+00:00").unwrap();
        assert_eq!(format_datetime(ms), "2023-12-14T17:20:45.16+00:00");
        assert_eq!(
            format_datetime(parse_datetime("2025-02-15T00:00:00").unwrap()),
            "2025-02-15T00:00:00+00:00"
        );
        assert_eq!(
            parse_datetime("2024-07-15T10:31:28.402+03:00"),
            parse_datetime("2024-07-15T07:31:28.402Z")
        );
        assert_eq!(parse_datetime("2025-06-17"), Some(date_ms(2025, 6, 17)));
        assert!(parse_datetime("yesterday").is_none());
    }

    #[test]
    fn lenient_conversions_like_json_net() {
        use serde_json::json;
        assert_eq!(
            from_json(FieldType::Dec, &json!("10.50")),
            Ok(Some(Val::Dec(Decimal::new(1050, 2))))
        );
        assert_eq!(
            from_json(FieldType::B, &json!("true")),
            Ok(Some(Val::Bool(true)))
        );
        assert_eq!(from_json(FieldType::S, &json!(null)), Ok(None));
        assert!(from_json(FieldType::Dec, &json!("ten")).is_err());
        assert!(from_json(FieldType::I, &json!({"a": 1})).is_err());
    }

    #[test]
    fn sparse_rows() {
        let mut r = Row::new(det_uuid(1, 1));
        r.set(5, Some(Val::Int(5)));
        r.set(2, Some(Val::Int(2)));
        r.set(9, Some(Val::Int(9)));
        assert_eq!(
            r.vals.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [2, 5, 9]
        );
        r.set(5, None);
        assert_eq!(r.get(5), None);
        assert_eq!(r.get(9), Some(&Val::Int(9)));
        r.kids_mut(3).push(Row::new(det_uuid(1, 2)));
        assert_eq!(r.kids(3).len(), 1);
        assert_ne!(det_uuid(1, 1), det_uuid(1, 2));
        assert_eq!(det_uuid(1, 1), det_uuid(1, 1));
    }
}
