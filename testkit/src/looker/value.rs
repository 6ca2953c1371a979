//! Cell values of generated rows and how each result format writes them.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::io::Write as _;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

/// One cell of a result row.
///
/// Strings borrowed from the seed are stored without allocating, so the
/// large generated explores fill a reused row with no heap traffic.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// SQL `NULL`: JSON `null`, an empty CSV cell.
    Null,
    /// A whole number.
    Int(i64),
    /// An exact decimal (money), written with its scale (`12.30`).
    Dec(Decimal),
    /// Text.
    Str(Cow<'static, str>),
    /// A calendar date, written `YYYY-MM-DD`.
    Date(NaiveDate),
    /// A LookML `yesno` value, written `Yes` / `No`.
    YesNo(bool),
}

impl Value {
    /// A borrowed static string.
    pub(crate) const fn text(s: &'static str) -> Value {
        Value::Str(Cow::Borrowed(s))
    }

    /// The value as a decimal when it is a number.
    pub fn as_decimal(&self) -> Option<Decimal> {
        match self {
            Value::Int(i) => Some(Decimal::from(*i)),
            Value::Dec(d) => Some(*d),
            _ => None,
        }
    }

    /// The value as text when it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::YesNo(_) => 1,
            Value::Int(_) | Value::Dec(_) => 2,
            Value::Date(_) => 3,
            Value::Str(_) => 4,
        }
    }

    /// A total order used by sorts: `NULL` first, numbers compared
    /// numerically whatever their representation.
    pub(crate) fn total_cmp(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => a.cmp(b),
            (Value::Dec(a), Value::Dec(b)) => a.cmp(b),
            (Value::Int(a), Value::Dec(b)) => Decimal::from(*a).cmp(b),
            (Value::Dec(a), Value::Int(b)) => a.cmp(&Decimal::from(*b)),
            (Value::Str(a), Value::Str(b)) => a.cmp(b),
            (Value::Date(a), Value::Date(b)) => a.cmp(b),
            (Value::YesNo(a), Value::YesNo(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }

    /// Writes the value as a JSON value.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Int(i) => write_int(out, *i),
            Value::Dec(d) => write_decimal(out, d),
            Value::Str(s) => write_json_str(out, s),
            Value::Date(d) => {
                out.push(b'"');
                write_date(out, *d);
                out.push(b'"');
            }
            Value::YesNo(b) => out.extend_from_slice(if *b { b"\"Yes\"" } else { b"\"No\"" }),
        }
    }

    /// Writes the value as a CSV cell (quoted when it has to be).
    pub(crate) fn write_csv(&self, out: &mut Vec<u8>) {
        match self {
            Value::Str(s) => write_csv_text(out, s),
            other => other.write_plain(out),
        }
    }

    /// Writes the value as a tab-separated cell: tabs and line breaks in
    /// text become spaces, as a TSV reader could not tell them apart.
    pub(crate) fn write_tsv(&self, out: &mut Vec<u8>) {
        match self {
            Value::Str(s) => out.extend(s.bytes().map(|b| {
                if matches!(b, b'\t' | b'\n' | b'\r') {
                    b' '
                } else {
                    b
                }
            })),
            other => other.write_plain(out),
        }
    }

    /// Writes the value as bare text (`NULL` is empty).
    pub(crate) fn write_plain(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => {}
            Value::Int(i) => write_int(out, *i),
            Value::Dec(d) => write_decimal(out, d),
            Value::Str(s) => out.extend_from_slice(s.as_bytes()),
            Value::Date(d) => write_date(out, *d),
            Value::YesNo(b) => out.extend_from_slice(if *b { b"Yes" } else { b"No" }),
        }
    }
}

/// Writes a JSON string literal with every required escape.
pub(crate) fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // Most text needs no escape (JSON escapes only `"`, `\` and control
    // characters): copy it between quotes without the serializer.
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_quoted(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for b in s.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Writes text as a CSV cell, quoted (RFC 4180) only when it has to be.
pub(crate) fn write_csv_text(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        write_quoted(out, s);
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

/// Writes a decimal as `Display` does (`-12.30`, `15`), without the
/// formatting machinery for the common sizes.
fn write_decimal(out: &mut Vec<u8>, d: &Decimal) {
    let scale = d.scale();
    let mantissa = d.mantissa();
    let Ok(m) = i64::try_from(mantissa.unsigned_abs()) else {
        let _ = write!(out, "{d}");
        return;
    };
    if scale > 18 {
        let _ = write!(out, "{d}");
        return;
    }
    if mantissa < 0 {
        out.push(b'-');
    }
    let pow = 10i64.pow(scale);
    write_int(out, m / pow);
    if scale > 0 {
        out.push(b'.');
        let frac = m % pow;
        let mut digits = [b'0'; 18];
        let mut f = frac;
        for i in (0..scale as usize).rev() {
            digits[i] = b'0' + (f % 10) as u8;
            f /= 10;
        }
        out.extend_from_slice(&digits[..scale as usize]);
    }
}

fn write_int(out: &mut Vec<u8>, mut n: i64) {
    if n == 0 {
        out.push(b'0');
        return;
    }
    if n < 0 {
        out.push(b'-');
        if n == i64::MIN {
            out.extend_from_slice(b"9223372036854775808");
            return;
        }
        n = -n;
    }
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    // Two digits per division: the ids and amounts of the large generated
    // results are written millions of times.
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        at -= 1;
        digits[at] = b'0' + n as u8;
    }
    out.extend_from_slice(&digits[at..]);
}

/// `00`, `01`, ... `99`.
const DIGIT_PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

fn write_date(out: &mut Vec<u8>, d: NaiveDate) {
    let y = d.year();
    let (m, day) = (d.month(), d.day());
    if (0..=9999).contains(&y) {
        let y = y as u32;
        out.extend_from_slice(&[
            b'0' + (y / 1000) as u8,
            b'0' + (y / 100 % 10) as u8,
            b'0' + (y / 10 % 10) as u8,
            b'0' + (y % 10) as u8,
            b'-',
            b'0' + (m / 10) as u8,
            b'0' + (m % 10) as u8,
            b'-',
            b'0' + (day / 10) as u8,
            b'0' + (day % 10) as u8,
        ]);
    } else {
        let _ = write!(out, "{}", d.format("%Y-%m-%d"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(v: Value) -> String {
        let mut b = Vec::new();
        v.write_json(&mut b);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn json_rendering() {
        assert_eq!(json(Value::Int(-120)), "-120");
        for n in [
            0,
            7,
            10,
            99,
            100,
            101,
            999_999,
            1_000_000,
            1_234_567,
            i64::MAX,
        ] {
            assert_eq!(json(Value::Int(n)), n.to_string());
        }
        assert_eq!(json(Value::Int(i64::MIN)), i64::MIN.to_string());
        assert_eq!(json(Value::Dec(Decimal::new(1230, 2))), "12.30");
        assert_eq!(json(Value::text("a\"b")), r#""a\"b""#);
        for text in [
            "",
            "plain",
            "a\\b",
            "tab\there",
            "line\n",
            "\u{7f}",
            "é €",
            "\u{1}",
        ] {
            assert_eq!(
                json(Value::text(text)),
                serde_json::to_string(text).unwrap(),
                "{text:?}"
            );
        }
        assert_eq!(
            json(Value::Date(NaiveDate::from_ymd_opt(2026, 3, 9).unwrap())),
            "\"2026-03-09\""
        );
        assert_eq!(json(Value::YesNo(false)), "\"No\"");
        assert_eq!(json(Value::Null), "null");
    }

    #[test]
    fn decimals_render_like_display() {
        for (m, scale) in [
            (0, 2),
            (-50, 2),
            (1230, 2),
            (5, 0),
            (-7, 3),
            (123456789012, 4),
            (1, 18),
            (i64::MAX, 2),
        ] {
            let d = Decimal::new(m, scale);
            let mut b = Vec::new();
            write_decimal(&mut b, &d);
            assert_eq!(
                String::from_utf8(b).unwrap(),
                d.to_string(),
                "{m} scale {scale}"
            );
        }
        let big = Decimal::MAX;
        let mut b = Vec::new();
        write_decimal(&mut b, &big);
        assert_eq!(String::from_utf8(b).unwrap(), big.to_string());
    }

    #[test]
    fn csv_quotes_only_when_needed() {
        let mut b = Vec::new();
        Value::text("Acme, Inc \"East\"").write_csv(&mut b);
        assert_eq!(String::from_utf8(b).unwrap(), "\"Acme, Inc \"\"East\"\"\"");
        let mut b = Vec::new();
        Value::text("plain").write_csv(&mut b);
        assert_eq!(b, b"plain");
    }

    #[test]
    fn numbers_compare_across_representations() {
        assert_eq!(
            Value::Int(2).total_cmp(&Value::Dec(Decimal::new(150, 2))),
            Ordering::Greater
        );
        assert_eq!(Value::Null.total_cmp(&Value::Int(0)), Ordering::Less);
    }
}
