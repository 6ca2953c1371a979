//! The `{"value": x}` wrapper every general field travels in, and the wire
//! formats of the scalar types inside it.
//!
//! Acumatica wraps each general field of an entity in an object
//! (`"VendorID": {"value": "V001"}`); an unset field comes back as `{}` or
//! `{"value": null}`, and a field the server rejected carries an `error`
//! string beside its value (FACTS section 5). [`Value`] models exactly that:
//! it is *absent* (not sent at all), *null* (read as `{}`/`{"value":null}`,
//! written as `{"value":null}` to clear a field) or *set*, and it keeps the
//! field-level error.
//!
//! The scalar types inside the wrapper implement [`WireType`]: money is
//! [`Decimal`] (exact; read from JSON numbers without going through `f64`,
//! or from strings; written as a JSON number with all its digits) and
//! date-times are [`Timestamp`] (read leniently, with or without an offset
//! and with 0 to 7 fraction digits).
//!
//! For your own structs, the [`serde_with`] adapter [`Wrapped`] maps an
//! `Option<T>` to the wrapper:
//!
//! ```
//! use acumatica_client::value::Wrapped;
//! use rust_decimal::Decimal;
//! use serde::{Deserialize, Serialize};
//! use serde_with::serde_as;
//!
//! #[serde_as]
//! #[derive(Serialize, Deserialize)]
//! struct Row {
//!     #[serde_as(as = "Wrapped")]
//!     #[serde(rename = "Amount", default)]
//!     amount: Option<Decimal>,
//! }
//!
//! let row: Row = serde_json::from_str(r#"{"Amount":{"value":201.73}}"#).unwrap();
//! assert_eq!(row.amount, Some(Decimal::new(20173, 2)));
//! let empty: Row = serde_json::from_str(r#"{"Amount":{}}"#).unwrap();
//! assert_eq!(empty.amount, None);
//! assert_eq!(serde_json::to_string(&row).unwrap(), r#"{"Amount":{"value":201.73}}"#);
//! ```

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use rust_decimal::Decimal;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value as Json};

mod wire;

/// A general field: absent, null or set, plus the field-level `error` the
/// server attached, if any.
///
/// ```
/// use acumatica_client::value::Value;
///
/// let v: Value<String> = serde_json::from_str(r#"{"value":"TES2323T","error":"Project cannot be found"}"#).unwrap();
/// assert_eq!(v.get().map(String::as_str), Some("TES2323T"));
/// assert_eq!(v.error(), Some("Project cannot be found"));
///
/// let unset: Value<String> = serde_json::from_str("{}").unwrap();
/// assert_eq!(unset.get(), None);
///
/// assert_eq!(serde_json::to_string(&Value::set("V001".to_string())).unwrap(), r#"{"value":"V001"}"#);
/// assert_eq!(serde_json::to_string(&Value::<String>::null()).unwrap(), r#"{"value":null}"#);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Value<T> {
    slot: Slot<T>,
    error: Option<String>,
}

#[derive(Clone, PartialEq, Eq)]
enum Slot<T> {
    Absent,
    Null,
    Set(T),
}

impl<T> Default for Value<T> {
    /// Absent.
    fn default() -> Self {
        Self {
            slot: Slot::Absent,
            error: None,
        }
    }
}

impl<T> Value<T> {
    /// A field with a value.
    pub fn set(value: T) -> Self {
        Self {
            slot: Slot::Set(value),
            error: None,
        }
    }

    /// A field explicitly without a value; written as `{"value": null}`,
    /// which clears the field on the server.
    pub fn null() -> Self {
        Self {
            slot: Slot::Null,
            error: None,
        }
    }

    /// A field that is not part of the record at all; it is not serialized
    /// (entity structs skip absent fields), so an update leaves it alone.
    pub fn absent() -> Self {
        Self::default()
    }

    /// The value, when set.
    pub fn get(&self) -> Option<&T> {
        match &self.slot {
            Slot::Set(v) => Some(v),
            _ => None,
        }
    }

    /// The value, when set, by value.
    pub fn into_inner(self) -> Option<T> {
        match self.slot {
            Slot::Set(v) => Some(v),
            _ => None,
        }
    }

    /// `true` when the field was not in the JSON at all (and will not be sent).
    pub fn is_absent(&self) -> bool {
        matches!(self.slot, Slot::Absent)
    }

    /// `true` when the field is present but has no value (`{}`, `{"value":null}`).
    pub fn is_null(&self) -> bool {
        matches!(self.slot, Slot::Null)
    }

    /// The field-level error message the server attached (validation, HTTP 422).
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

impl Value<String> {
    /// The string, when set.
    ///
    /// ```
    /// use acumatica_client::value::Value;
    /// assert_eq!(Value::from("GL").as_str(), Some("GL"));
    /// assert_eq!(Value::<String>::null().as_str(), None);
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        self.get().map(String::as_str)
    }
}

impl<T> From<T> for Value<T> {
    fn from(value: T) -> Self {
        Self::set(value)
    }
}

impl From<&str> for Value<String> {
    fn from(value: &str) -> Self {
        Self::set(value.to_owned())
    }
}

impl<T> From<Option<T>> for Value<T> {
    /// `Some(x)` is set, `None` is null (clears the field when written).
    fn from(value: Option<T>) -> Self {
        match value {
            Some(v) => Self::set(v),
            None => Self::null(),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.slot {
            Slot::Absent => f.write_str("Absent")?,
            Slot::Null => f.write_str("Null")?,
            Slot::Set(v) => v.fmt(f)?,
        }
        if let Some(e) = &self.error {
            write!(f, " (error: {e:?})")?;
        }
        Ok(())
    }
}

impl<T: WireType> Value<T> {
    /// The wrapper as JSON: `{"value": x}`, `{"value": null}`, or `{}` when absent.
    pub fn to_json(&self) -> Json {
        let mut map = Map::new();
        match &self.slot {
            Slot::Absent => {}
            Slot::Null => {
                map.insert("value".into(), Json::Null);
            }
            Slot::Set(v) => {
                map.insert("value".into(), v.to_wire());
            }
        }
        Json::Object(map)
    }

    /// Reads the wrapper from JSON: `{}`, `{"value": null}` and a bare
    /// `null` are null; `{"value": x}` is set; `error` is kept.
    ///
    /// # Errors
    /// A message naming what was found when the JSON is not a wrapper or the
    /// value has the wrong type.
    pub fn from_json(json: &Json) -> Result<Self, String> {
        match json {
            Json::Null => Ok(Self::null()),
            Json::Object(map) => {
                let error = match map.get("error") {
                    None | Some(Json::Null) => None,
                    Some(Json::String(s)) => Some(s.clone()),
                    Some(other) => Some(other.to_string()),
                };
                let slot = match map.get("value") {
                    None | Some(Json::Null) => Slot::Null,
                    Some(v) => Slot::Set(T::from_wire(v)?),
                };
                Ok(Self { slot, error })
            }
            other => Err(format!(
                "expected a wrapped field like {{\"value\": ...}}, found {}",
                short_json(other)
            )),
        }
    }
}

impl<T: WireType> Serialize for Value<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de, T: WireType> Deserialize<'de> for Value<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Straight from the text, without an intermediate `serde_json::Value`
        // per field (which cost a map, a key and a copy of every value):
        // reading a listing is dominated by this.
        deserializer.deserialize_any(wire::WrapperVisitor::<T>::new())
    }
}

/// A scalar type that can sit inside the `{"value": x}` wrapper.
///
/// Implemented for the field types of the contract API: `String`
/// (StringValue, GuidValue), `bool`, `i16` (ShortValue), `i32` (IntValue),
/// `i64` (LongValue), `u8` (ByteValue), `f64` (DoubleValue, never money),
/// [`Decimal`] (DecimalValue), [`Timestamp`] (DateTimeValue) and
/// `serde_json::Value` (anything, untouched).
pub trait WireType: Sized {
    /// The JSON written inside `{"value": ...}`.
    fn to_wire(&self) -> Json;
    /// Reads the JSON found inside `{"value": ...}`.
    ///
    /// # Errors
    /// A message that names the expected type and what was found.
    fn from_wire(json: &Json) -> Result<Self, String>;

    /// Reads a JSON string found inside `{"value": ...}`.
    ///
    /// Decoding calls this for string values instead of building a
    /// `serde_json::Value` first; the default does exactly that and calls
    /// [`from_wire`](Self::from_wire), so override it only to go faster, with
    /// the same result.
    ///
    /// # Errors
    /// As [`from_wire`](Self::from_wire).
    fn from_wire_str(text: &str) -> Result<Self, String> {
        Self::from_wire(&Json::String(text.to_owned()))
    }

    /// Reads a JSON number found inside `{"value": ...}`, given as its exact
    /// text (every digit the server sent). The default goes through
    /// [`from_wire`](Self::from_wire).
    ///
    /// ```
    /// use acumatica_client::value::WireType;
    /// use rust_decimal::Decimal;
    /// assert_eq!(Decimal::from_wire_number("201.73").unwrap(), Decimal::new(20173, 2));
    /// assert_eq!(String::from_wire_number("42").unwrap(), "42");
    /// assert!(bool::from_wire_number("1").is_err());
    /// ```
    ///
    /// # Errors
    /// As [`from_wire`](Self::from_wire).
    fn from_wire_number(text: &str) -> Result<Self, String> {
        let number = serde_json::Number::from_str(text)
            .map_err(|_| format!("expected a JSON number, found {text:?}"))?;
        Self::from_wire(&Json::Number(number))
    }
}

fn short_json(json: &Json) -> String {
    ml_connector_retry::preview(&json.to_string(), 60)
}

fn wrong(expected: &str, json: &Json) -> String {
    format!("expected {expected}, found {}", short_json(json))
}

impl WireType for String {
    fn to_wire(&self) -> Json {
        Json::String(self.clone())
    }
    fn from_wire(json: &Json) -> Result<Self, String> {
        match json {
            Json::String(s) => Ok(s.clone()),
            // Some endpoints send numeric codes for string fields.
            Json::Number(n) => Ok(n.to_string()),
            other => Err(wrong("a string", other)),
        }
    }
    fn from_wire_str(text: &str) -> Result<Self, String> {
        Ok(text.to_owned())
    }
    fn from_wire_number(text: &str) -> Result<Self, String> {
        Ok(text.to_owned())
    }
}

impl WireType for bool {
    fn to_wire(&self) -> Json {
        Json::Bool(*self)
    }
    fn from_wire(json: &Json) -> Result<Self, String> {
        match json {
            Json::Bool(b) => Ok(*b),
            Json::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
            Json::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
            other => Err(wrong("a boolean", other)),
        }
    }
    fn from_wire_str(text: &str) -> Result<Self, String> {
        if text.eq_ignore_ascii_case("true") {
            Ok(true)
        } else if text.eq_ignore_ascii_case("false") {
            Ok(false)
        } else {
            Err(format!("expected a boolean, found {text:?}"))
        }
    }
    fn from_wire_number(text: &str) -> Result<Self, String> {
        Err(format!("expected a boolean, found {text}"))
    }
}

macro_rules! wire_integer {
    ($($t:ty => $name:literal),*) => {$(
        impl WireType for $t {
            fn to_wire(&self) -> Json {
                Json::from(*self)
            }
            fn from_wire(json: &Json) -> Result<Self, String> {
                let text = match json {
                    Json::Number(n) => n.to_string(),
                    Json::String(s) => s.trim().to_owned(),
                    other => return Err(wrong($name, other)),
                };
                text.parse::<$t>().map_err(|_| format!("expected {}, found {text}", $name))
            }
            fn from_wire_str(text: &str) -> Result<Self, String> {
                let text = text.trim();
                text.parse::<$t>().map_err(|_| format!("expected {}, found {text}", $name))
            }
            fn from_wire_number(text: &str) -> Result<Self, String> {
                text.parse::<$t>().map_err(|_| format!("expected {}, found {text}", $name))
            }
        }
    )*};
}
wire_integer!(i16 => "a 16-bit integer", i32 => "a 32-bit integer", i64 => "a 64-bit integer", u8 => "a byte (0-255)");

impl WireType for f64 {
    fn to_wire(&self) -> Json {
        serde_json::Number::from_f64(*self)
            .map(Json::Number)
            .unwrap_or(Json::Null)
    }
    fn from_wire(json: &Json) -> Result<Self, String> {
        let text = match json {
            Json::Number(n) => n.to_string(),
            Json::String(s) => s.trim().to_owned(),
            other => return Err(wrong("a number", other)),
        };
        text.parse::<f64>()
            .map_err(|_| format!("expected a number, found {text}"))
    }
    fn from_wire_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        text.parse::<f64>()
            .map_err(|_| format!("expected a number, found {text}"))
    }
    fn from_wire_number(text: &str) -> Result<Self, String> {
        Self::from_wire_str(text)
    }
}

impl WireType for Decimal {
    fn to_wire(&self) -> Json {
        decimal_to_json(self)
    }
    fn from_wire(json: &Json) -> Result<Self, String> {
        decimal_from_json(json)
    }
    fn from_wire_str(text: &str) -> Result<Self, String> {
        decimal_from_text(text.trim())
    }
    fn from_wire_number(text: &str) -> Result<Self, String> {
        decimal_from_text(text)
    }
}

impl WireType for Json {
    fn to_wire(&self) -> Json {
        self.clone()
    }
    fn from_wire(json: &Json) -> Result<Self, String> {
        Ok(json.clone())
    }
}

impl WireType for Timestamp {
    fn to_wire(&self) -> Json {
        Json::String(self.to_string())
    }
    fn from_wire(json: &Json) -> Result<Self, String> {
        match json {
            Json::String(s) => s.parse(),
            other => Err(wrong("a date-time string", other)),
        }
    }
    fn from_wire_str(text: &str) -> Result<Self, String> {
        text.parse()
    }
    fn from_wire_number(text: &str) -> Result<Self, String> {
        Err(format!("expected a date-time string, found {text}"))
    }
}

/// A decimal as a JSON number carrying every digit (never through `f64`).
pub(crate) fn decimal_to_json(d: &Decimal) -> Json {
    // serde_json is built with `arbitrary_precision` in this workspace (the
    // rust_decimal feature turns it on), so the text is kept verbatim.
    match serde_json::Number::from_str(&d.normalize().to_string()) {
        Ok(n) => Json::Number(n),
        Err(_) => Json::String(d.to_string()),
    }
}

/// Reads a decimal from a JSON number (exact text) or a string.
pub(crate) fn decimal_from_json(json: &Json) -> Result<Decimal, String> {
    match json {
        Json::Number(n) => decimal_from_text(n.as_str()),
        Json::String(s) => decimal_from_text(s.trim()),
        other => Err(wrong("a decimal number", other)),
    }
}

/// A decimal from its text (`201.73`, `5.06e-6`), exactly.
fn decimal_from_text(text: &str) -> Result<Decimal, String> {
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .map_err(|_| format!("expected a decimal number, found {text:?}"))
}

/// A date-time as Acumatica sends it: a local date and time, with an offset
/// when the server gave one.
///
/// Responses carry `LastModifiedDateTime` with an offset
/// (`2023-12-14T17:20:45.16+00:00`); document dates such as
/// `TransactionDate` have none (`2025-02-15T00:00:00`). Parsing accepts 0 to 7
/// fraction digits (.NET's `DateTime` precision), `Z` or `±hh:mm`, and a bare
/// date.
///
/// ```
/// use acumatica_client::value::Timestamp;
///
/// let t: Timestamp = "2023-12-14T17:20:45.16+00:00".parse().unwrap();
/// assert!(t.offset().is_some());
/// let d: Timestamp = "2025-02-15T00:00:00".parse().unwrap();
/// assert_eq!(d.to_string(), "2025-02-15T00:00:00");
/// let seven: Timestamp = "2020-02-06T18:03:19.2133333-04:00".parse().unwrap();
/// assert_eq!(seven.to_utc().unwrap().to_rfc3339(), "2020-02-06T22:03:19.213333300+00:00");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Timestamp {
    local: NaiveDateTime,
    offset: Option<FixedOffset>,
}

impl Timestamp {
    /// A date-time without offset (how document dates are written).
    pub fn naive(local: NaiveDateTime) -> Self {
        Self {
            local,
            offset: None,
        }
    }

    /// Midnight of a date, without offset.
    pub fn date(date: NaiveDate) -> Self {
        Self::naive(date.and_time(NaiveTime::MIN))
    }

    /// The local date and time as sent.
    pub fn local(&self) -> NaiveDateTime {
        self.local
    }

    /// The offset, when the server sent one.
    pub fn offset(&self) -> Option<FixedOffset> {
        self.offset
    }

    /// The instant, when the value has an offset.
    pub fn to_fixed(&self) -> Option<DateTime<FixedOffset>> {
        let offset = self.offset?;
        self.local.and_local_timezone(offset).single()
    }

    /// The instant in UTC, when the value has an offset.
    pub fn to_utc(&self) -> Option<DateTime<Utc>> {
        self.to_fixed().map(|d| d.with_timezone(&Utc))
    }

    /// The instant, reading an offset-less value in `assumed` (the site's
    /// time zone offset).
    pub fn to_utc_assuming(&self, assumed: FixedOffset) -> Option<DateTime<Utc>> {
        let offset = self.offset.unwrap_or(assumed);
        self.local
            .and_local_timezone(offset)
            .single()
            .map(|d| d.with_timezone(&Utc))
    }
}

impl From<DateTime<FixedOffset>> for Timestamp {
    fn from(d: DateTime<FixedOffset>) -> Self {
        Self {
            local: d.naive_local(),
            offset: Some(*d.offset()),
        }
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(d: DateTime<Utc>) -> Self {
        Self::from(d.fixed_offset())
    }
}

impl From<NaiveDate> for Timestamp {
    fn from(d: NaiveDate) -> Self {
        Self::date(d)
    }
}

impl From<NaiveDateTime> for Timestamp {
    fn from(d: NaiveDateTime) -> Self {
        Self::naive(d)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.local.format("%Y-%m-%dT%H:%M:%S"))?;
        // Fractions with as many digits as needed (Acumatica writes `.16`).
        let nanos = self.local.and_utc().timestamp_subsec_nanos();
        if nanos > 0 {
            let digits = format!("{nanos:09}");
            write!(f, ".{}", digits.trim_end_matches('0'))?;
        }
        if let Some(offset) = self.offset {
            write!(f, "{offset}")?;
        }
        Ok(())
    }
}

impl FromStr for Timestamp {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        // Listings carry several date-times per record: the usual shape is
        // read by hand; anything else goes through chrono's format parser,
        // which also words the errors.
        match Self::parse_common(text) {
            Some(t) => Ok(t),
            None => Self::parse_general(text),
        }
    }
}

impl Timestamp {
    /// `YYYY-MM-DDTHH:MM:SS`, an optional fraction of 1 to 7 digits and an
    /// optional `Z` or `±hh:mm`; `None` for anything else (the general
    /// parser decides). Gives exactly what [`parse_general`](Self::parse_general)
    /// gives for the same text.
    fn parse_common(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() < 19
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
        {
            return None;
        }
        let num = |from: usize, to: usize| -> Option<u32> {
            b[from..to].iter().try_fold(0u32, |acc, &c| {
                c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
            })
        };
        let date =
            NaiveDate::from_ymd_opt(i32::try_from(num(0, 4)?).ok()?, num(5, 7)?, num(8, 10)?)?;
        let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
        let mut at = 19;
        let mut nanos = 0u32;
        if b.get(at) == Some(&b'.') {
            let digits = b[at + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if !(1..=7).contains(&digits) {
                return None;
            }
            nanos = num(at + 1, at + 1 + digits)? * 10u32.pow(9 - digits as u32);
            at += 1 + digits;
        }
        let offset = match &b[at..] {
            [] => None,
            [b'Z' | b'z'] => Some(FixedOffset::east_opt(0)?),
            [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
                let secs =
                    i32::try_from(num(at + 1, at + 3)? * 3600 + num(at + 4, at + 6)? * 60).ok()?;
                Some(FixedOffset::east_opt(if *sign == b'-' {
                    -secs
                } else {
                    secs
                })?)
            }
            _ => return None,
        };
        let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
        Some(Self {
            local: date.and_time(time),
            offset,
        })
    }

    /// Every form [`Timestamp`] accepts, with the error message.
    fn parse_general(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "expected a date-time like 2024-07-15T10:31:28.402+03:00 or 2025-02-15T00:00:00, found {text:?}"
            )
        };
        if text.len() == 10 {
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| bad())?;
            return Ok(Self::date(date));
        }
        // Split off an offset: `Z`, or `+hh:mm`/`-hh:mm` after the time part.
        let (body, offset) = if let Some(body) = text.strip_suffix(['Z', 'z']) {
            (body, Some(FixedOffset::east_opt(0).ok_or_else(bad)?))
        } else if text.len() > 19 && matches!(text.as_bytes()[text.len() - 6], b'+' | b'-') {
            let (body, off) = text.split_at(text.len() - 6);
            // Slicing below is by byte; anything but ASCII is not an offset
            // (found by the acumatica_entity fuzz target: "+aé00" panicked).
            if !off.is_ascii() {
                return Err(bad());
            }
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let hours: i32 = off[1..3].parse().map_err(|_| bad())?;
            let minutes: i32 = off[4..6].parse().map_err(|_| bad())?;
            if &off[3..4] != ":" {
                return Err(bad());
            }
            let secs = sign * (hours * 3600 + minutes * 60);
            (body, Some(FixedOffset::east_opt(secs).ok_or_else(bad)?))
        } else {
            (text, None)
        };
        // Fractions: chrono's %.f accepts up to 9 digits; we accept 0-7 as .NET writes.
        if let Some((_, frac)) = body.split_once('.')
            && (frac.is_empty() || frac.len() > 7 || !frac.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad());
        }
        let local = NaiveDateTime::parse_from_str(body, "%Y-%m-%dT%H:%M:%S%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(body, "%Y-%m-%dT%H:%M"))
            .map_err(|_| bad())?;
        Ok(Self { local, offset })
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(D::Error::custom)
    }
}

/// [`serde_with`] adapter: `Option<T>` as the `{"value": x}` wrapper (`None`
/// is read from `{}`/`{"value":null}` and written as `{"value":null}`).
/// Field errors are dropped; use [`Value`] to keep them.
///
/// See the [module documentation](self) for an example.
pub struct Wrapped;

impl<T: WireType> serde_with::SerializeAs<Option<T>> for Wrapped {
    fn serialize_as<S: Serializer>(source: &Option<T>, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = Map::new();
        map.insert(
            "value".into(),
            source.as_ref().map(WireType::to_wire).unwrap_or(Json::Null),
        );
        Json::Object(map).serialize(serializer)
    }
}

impl<'de, T: WireType> serde_with::DeserializeAs<'de, Option<T>> for Wrapped {
    fn deserialize_as<D: Deserializer<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
        Value::<T>::deserialize(deserializer).map(Value::into_inner)
    }
}

/// [`serde_with`] adapter: a [`Decimal`] as an exact JSON number (read from a
/// number or a string; written as a number with every digit).
///
/// ```
/// use acumatica_client::value::ExactDecimal;
/// use rust_decimal::Decimal;
/// use serde_with::serde_as;
///
/// #[serde_as]
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Line { #[serde_as(as = "ExactDecimal")] amount: Decimal }
///
/// let line: Line = serde_json::from_str(r#"{"amount": 12345678901234.5678}"#).unwrap();
/// assert_eq!(line.amount.to_string(), "12345678901234.5678");
/// let line: Line = serde_json::from_str(r#"{"amount": "0.10"}"#).unwrap();
/// assert_eq!(serde_json::to_string(&line).unwrap(), r#"{"amount":0.1}"#);
/// ```
pub struct ExactDecimal;

impl serde_with::SerializeAs<Decimal> for ExactDecimal {
    fn serialize_as<S: Serializer>(source: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
        decimal_to_json(source).serialize(serializer)
    }
}

impl<'de> serde_with::DeserializeAs<'de, Decimal> for ExactDecimal {
    fn deserialize_as<D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
        let json = Json::deserialize(deserializer)?;
        decimal_from_json(&json).map_err(D::Error::custom)
    }
}

/// Deserializes an optional bare integer (`rowNumber`) with the same reader
/// as the value inside a wrapper: a number (exact text), a numeric string or
/// `null`.
pub(crate) fn de_opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    serde::de::DeserializeSeed::deserialize(wire::WireSeed::<i64>(std::marker::PhantomData), d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_ascii_offset_is_an_error_not_a_panic() {
        // Found by the acumatica_entity fuzz target.
        assert!("2024-01-01T00:00:00+aé00".parse::<Timestamp>().is_err());
        assert!("2024-01-01T00:00:00+é:00".parse::<Timestamp>().is_err());
    }

    #[test]
    fn empty_object_and_null_are_unset() {
        for text in ["{}", r#"{"value":null}"#, "null"] {
            let v: Value<Decimal> = serde_json::from_str(text).unwrap();
            assert!(v.is_null(), "{text}");
            assert_eq!(v.get(), None);
        }
    }

    #[test]
    fn bare_scalar_is_an_error_that_says_what_was_expected() {
        let err = serde_json::from_str::<Value<String>>(r#""V001""#).unwrap_err();
        assert!(
            err.to_string().contains("expected a wrapped field"),
            "{err}"
        );
    }

    #[test]
    fn streamed_wrapper_reads_every_form() {
        // A numeric code in a string field keeps its exact text.
        let v: Value<String> = serde_json::from_str(r#"{"value": 100000}"#).unwrap();
        assert_eq!(v.as_str(), Some("100000"));
        let v: Value<String> = serde_json::from_str(r#"{"value": "a\"b\u00e9"}"#).unwrap();
        assert_eq!(v.as_str(), Some("a\"bé"));
        // Field errors are kept beside the value; unknown keys are ignored.
        let v: Value<i32> =
            serde_json::from_str(r#"{"other": [1, {"x": 2}], "value": " 7 ", "error": "too big"}"#)
                .unwrap();
        assert_eq!((v.get(), v.error()), (Some(&7), Some("too big")));
        let v: Value<bool> = serde_json::from_str(r#"{"value": "True"}"#).unwrap();
        assert_eq!(v.get(), Some(&true));
        let v: Value<Timestamp> =
            serde_json::from_str(r#"{"value": "2025-02-15T00:00:00"}"#).unwrap();
        assert_eq!(v.get().unwrap().to_string(), "2025-02-15T00:00:00");
        // Anything goes into a `serde_json::Value` field, numbers exact.
        let v: Value<Json> =
            serde_json::from_str(r#"{"value": {"a": 1.10, "b": [true]}}"#).unwrap();
        assert_eq!(v.get().unwrap().to_string(), r#"{"a":1.10,"b":[true]}"#);
        let v: Value<Json> = serde_json::from_str(r#"{"value": 0.30000000000000004441}"#).unwrap();
        assert_eq!(v.get().unwrap().to_string(), "0.30000000000000004441");
        // Through a serde_json::Value too (numbers keep their text there).
        let json: Json = serde_json::from_str(r#"{"value": 12.50}"#).unwrap();
        let v: Value<Decimal> = serde_json::from_value(json).unwrap();
        assert_eq!(v.get().unwrap().to_string(), "12.50");
    }

    #[test]
    fn row_numbers_are_read_as_numbers_strings_or_null() {
        use crate::entity::{JournalTransaction, SystemFields};
        for (text, expected) in [("7", Some(7)), ("\" 7\"", Some(7)), ("null", None)] {
            let record = format!(r#"{{"rowNumber": {text}}}"#);
            let system: SystemFields = serde_json::from_str(&record).unwrap();
            assert_eq!(system.row_number, expected, "{text}");
            let entity: JournalTransaction = serde_json::from_str(&record).unwrap();
            assert_eq!(entity.system.row_number, expected, "{text}");
        }
        let err = serde_json::from_str::<JournalTransaction>(r#"{"rowNumber": 1.5}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("expected a 64-bit integer, found 1.5"),
            "{err}"
        );
    }

    #[test]
    fn streamed_wrapper_errors_say_what_was_expected_and_found() {
        for (text, expected) in [
            (
                r#"5"#,
                "expected a wrapped field like {\"value\": ...}, found 5",
            ),
            (r#"12.5"#, "found 12.5"),
            (r#"true"#, "found true"),
            (r#"[1]"#, "found [1]"),
            (
                r#"{"value": "abc"}"#,
                "expected a 32-bit integer, found abc",
            ),
            (r#"{"value": 1.5}"#, "expected a 32-bit integer, found 1.5"),
            (
                r#"{"value": true}"#,
                "expected a 32-bit integer, found true",
            ),
            (r#"{"value": [1]}"#, "expected a 32-bit integer, found [1]"),
        ] {
            let err = serde_json::from_str::<Value<i32>>(text).unwrap_err();
            assert!(err.to_string().contains(expected), "{text}: {err}");
        }
        let err = serde_json::from_str::<Value<Timestamp>>(r#"{"value": 20250215}"#).unwrap_err();
        assert!(
            err.to_string().contains("expected a date-time string"),
            "{err}"
        );
        let err = serde_json::from_str::<Value<Decimal>>(r#"{"value": "12,5"}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("expected a decimal number, found \"12,5\""),
            "{err}"
        );
        let err = serde_json::from_str::<Value<bool>>(r#"{"value": 1}"#).unwrap_err();
        assert!(
            err.to_string().contains("expected a boolean, found 1"),
            "{err}"
        );
    }

    #[test]
    fn decimals_are_exact_both_ways() {
        let v: Value<Decimal> =
            serde_json::from_str(r#"{"value": 12345678901234567.8901}"#).unwrap();
        assert_eq!(v.get().unwrap().to_string(), "12345678901234567.8901");
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"value":12345678901234567.8901}"#
        );
        let s: Value<Decimal> = serde_json::from_str(r#"{"value": "30.0000"}"#).unwrap();
        assert_eq!(s.get().unwrap(), &Decimal::new(30, 0));
        let sci: Value<Decimal> = serde_json::from_str(r#"{"value": 5.06e-6}"#).unwrap();
        assert_eq!(sci.get().unwrap().to_string(), "0.00000506");
        assert!(serde_json::from_str::<Value<Decimal>>(r#"{"value": true}"#).is_err());
    }

    #[test]
    fn timestamps_lenient() {
        let cases = [
            ("2023-12-14T17:20:45.16+00:00", true),
            ("2020-02-06T18:03:19.213+00:00", true),
            ("2020-08-11T10:47:41.17-04:00", true),
            ("2025-02-15T00:00:00", false),
            ("2025-02-15T00:00:00.1234567", false),
            ("2025-02-15T00:00:00Z", true),
            ("2025-02-15", false),
        ];
        for (text, has_offset) in cases {
            let t: Timestamp = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(t.offset().is_some(), has_offset, "{text}");
        }
        for bad in [
            "2025-02-15T00:00:00.12345678",
            "yesterday",
            "2025-02-15T00:00:00+0100",
            "",
        ] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad}");
        }
        let t: Timestamp = "2020-08-11T10:47:41.17-04:00".parse().unwrap();
        assert_eq!(t.to_string(), "2020-08-11T10:47:41.17-04:00");
        assert_eq!(
            t.to_utc().unwrap().to_rfc3339(),
            "2020-08-11T14:47:41.170+00:00"
        );
    }

    #[test]
    fn the_common_timestamp_parser_agrees_with_the_general_one() {
        for text in [
            "2023-12-14T17:20:45.16+00:00",
            "2020-02-06T18:03:19.2133333-04:00",
            "2025-02-15T00:00:00",
            "2025-02-15T00:00:00Z",
            "2025-02-15T00:00:00.1z",
            "2025-02-15T23:59:59.9999999+14:00",
            "2025-02-15T00:00:00+05:99",
            "0001-01-01T00:00:00",
            "9999-12-31T23:59:59",
            "2024-02-29T12:00:00-12:00",
        ] {
            let fast =
                Timestamp::parse_common(text).unwrap_or_else(|| panic!("{text}: not common"));
            assert_eq!(Ok(fast), Timestamp::parse_general(text), "{text}");
        }
        // Shapes the common parser leaves to the general one.
        for text in [
            "2025-02-15",
            "2025-02-15T00:00",
            "2025-02-15T00:00:00.",
            "2025-02-15T00:00:00.12345678",
            "2025-02-15T00:00:00+0100",
            "2023-02-29T00:00:00",
            "2025-02-15T24:00:00",
            "2025-02-15T00:00:00+aé00",
            "2025-02-15 00:00:00",
            "+2025-02-15T00:00:00",
            "2025-02-15T00:00:00+24:00",
        ] {
            assert_eq!(Timestamp::parse_common(text), None, "{text}");
        }
    }

    proptest::proptest! {
        #[test]
        fn common_and_general_timestamp_parsers_agree(text in "[0-9]{4}-(0[1-9]|1[0-2]|[0-9]{2})-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-4]):[0-5][0-9]:[0-6][0-9](\\.[0-9]{0,8})?(Z|[+-][01][0-9]:[0-9]{2})?") {
            if let Some(fast) = Timestamp::parse_common(&text) {
                proptest::prop_assert_eq!(Ok(fast), Timestamp::parse_general(&text));
            }
        }

        #[test]
        fn decimal_wrapping_round_trips(mantissa in proptest::num::i64::ANY, scale in 0u32..=12) {
            let d = Decimal::new(mantissa, scale);
            let text = serde_json::to_string(&Value::set(d)).unwrap();
            let back: Value<Decimal> = serde_json::from_str(&text).unwrap();
            proptest::prop_assert_eq!(back.get(), Some(&d));
        }

        #[test]
        fn string_wrapping_round_trips(text in ".*") {
            let json = serde_json::to_string(&Value::set(text.clone())).unwrap();
            let back: Value<String> = serde_json::from_str(&json).unwrap();
            proptest::prop_assert_eq!(back.into_inner(), Some(text));
        }

        #[test]
        fn timestamps_round_trip(secs in 0i64..4_102_444_800, nanos in 0u32..10_000_000, offset_min in -720i32..=840) {
            let offset = FixedOffset::east_opt(offset_min * 60).unwrap();
            // .NET precision: 100 ns ticks.
            let nanos = nanos / 100 * 100;
            let at = DateTime::from_timestamp(secs, nanos).unwrap().with_timezone(&offset);
            let t = Timestamp::from(at);
            let back: Timestamp = t.to_string().parse().unwrap();
            proptest::prop_assert_eq!(back.to_fixed(), Some(at));
        }
    }
}
