//! Looker filter expressions, the subset tests and connectors use.
//!
//! - Every type: comma-separated alternatives (`a,b`), `NULL`, `-NULL` /
//!   `NOT NULL`, and the comparisons `>x`, `>=x`, `<x`, `<=x` (strings compare
//!   by code point, so keyset paging works on string keys too).
//! - Strings: exact values, `%` wildcards (`FOO%`, `%FOO%`), `-x` to exclude,
//!   `EMPTY`, and `^` to escape a literal `,` `%` `-` or `^`.
//! - Numbers: `5`, `NOT 5` / `!=5`, `5 to 10` (inclusive), intervals `[5,10]`
//!   `(5,10)` `[5,10)` `(5,10]`, and conjunctions such as `>5 AND <=10`.
//! - Dates: `2026-03-31`, `2026-03`, `2026`, `A to B` (B excluded),
//!   `after A` (A included), `before A`.
//! - yesno: `Yes` / `No`.

use std::cmp::Ordering;
use std::str::FromStr;

use chrono::{Months, NaiveDate};
use rust_decimal::Decimal;

use super::catalog::FieldType;
use super::value::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Clone, Debug, PartialEq)]
enum Cond {
    Eq(Value),
    Cmp(Op, Value),
    IsNull,
    IsEmpty,
    Like(Vec<String>),
    /// A half-open date range `[lo, hi)`.
    Dates(NaiveDate, NaiveDate),
    /// A numeric interval with inclusive flags.
    Between(Decimal, bool, Decimal, bool),
}

impl Cond {
    fn matches(&self, v: &Value) -> bool {
        match self {
            Cond::IsNull => matches!(v, Value::Null),
            Cond::IsEmpty => matches!(v, Value::Null) || v.as_str() == Some(""),
            _ if matches!(v, Value::Null) => false,
            Cond::Eq(x) => v.total_cmp(x) == Ordering::Equal,
            Cond::Cmp(op, x) => {
                let comparable = (v.as_decimal().is_some() && x.as_decimal().is_some())
                    || std::mem::discriminant(v) == std::mem::discriminant(x);
                if !comparable {
                    return false;
                }
                let o = v.total_cmp(x);
                match op {
                    Op::Gt => o == Ordering::Greater,
                    Op::Ge => o != Ordering::Less,
                    Op::Lt => o == Ordering::Less,
                    Op::Le => o != Ordering::Greater,
                }
            }
            Cond::Like(parts) => v.as_str().is_some_and(|s| like(s, parts)),
            Cond::Dates(lo, hi) => matches!(v, Value::Date(d) if d >= lo && d < hi),
            Cond::Between(lo, lo_in, hi, hi_in) => v.as_decimal().is_some_and(|d| {
                (if *lo_in { d >= *lo } else { d > *lo })
                    && (if *hi_in { d <= *hi } else { d < *hi })
            }),
        }
    }
}

/// `parts` are the pieces between `%` wildcards.
fn like(s: &str, parts: &[String]) -> bool {
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return true;
    };
    if parts.len() == 1 {
        return s == first;
    }
    if !s.starts_with(first.as_str())
        || s.len() < first.len() + last.len()
        || !s.ends_with(last.as_str())
    {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid.as_str()) {
            Some(at) => rest = &rest[at + mid.len()..],
            None => return false,
        }
    }
    true
}

/// A parsed filter expression for one field.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Matcher {
    /// Alternatives; each is a conjunction. Empty: everything (subject to
    /// `exclude`).
    any: Vec<Vec<Cond>>,
    /// Conditions that reject a value.
    exclude: Vec<Cond>,
}

impl Matcher {
    /// Whether the value passes the filter.
    pub(crate) fn matches(&self, v: &Value) -> bool {
        (self.any.is_empty() || self.any.iter().any(|all| all.iter().all(|c| c.matches(v))))
            && !self.exclude.iter().any(|c| c.matches(v))
    }

    /// Inclusive integer bounds every matching value lies within, when the
    /// expression is simple enough to tell (used to seek generated ids).
    pub(crate) fn int_bounds(&self) -> Option<(Option<i64>, Option<i64>)> {
        if self.any.is_empty() {
            return None;
        }
        let mut union: Option<(Option<i64>, Option<i64>)> = None;
        for all in &self.any {
            let (mut lo, mut hi): (Option<i64>, Option<i64>) = (None, None);
            for c in all {
                let (l, h) = cond_bounds(c)?;
                lo = max_opt(lo, l);
                hi = min_opt(hi, h);
            }
            union = Some(match union {
                None => (lo, hi),
                Some((ul, uh)) => (
                    ul.zip(lo).map(|(a, b)| a.min(b)),
                    uh.zip(hi).map(|(a, b)| a.max(b)),
                ),
            });
        }
        union
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn cond_bounds(c: &Cond) -> Option<(Option<i64>, Option<i64>)> {
    let dec = |v: &Value| v.as_decimal();
    let floor = |d: Decimal| i64::try_from(d.floor()).ok();
    let ceil = |d: Decimal| i64::try_from(d.ceil()).ok();
    Some(match c {
        Cond::Eq(v) => {
            let d = dec(v)?;
            (ceil(d), floor(d))
        }
        Cond::Cmp(Op::Gt, v) => (floor(dec(v)?).map(|x| x.saturating_add(1)), None),
        Cond::Cmp(Op::Ge, v) => (ceil(dec(v)?), None),
        Cond::Cmp(Op::Lt, v) => (None, ceil(dec(v)?).map(|x| x.saturating_sub(1))),
        Cond::Cmp(Op::Le, v) => (None, floor(dec(v)?)),
        Cond::Between(lo, _, hi, _) => (ceil(*lo), floor(*hi)),
        _ => return None,
    })
}

/// Parses `expr` as a filter on a field of type `ty`.
pub(crate) fn parse(expr: &str, ty: FieldType) -> Result<Matcher, String> {
    let mut m = Matcher {
        any: Vec::new(),
        exclude: Vec::new(),
    };
    let terms = split_terms(expr, ty == FieldType::String);
    if terms.iter().all(|t| t.trim().is_empty()) {
        return Err(
            "the filter expression is empty; remove the filter to select everything".into(),
        );
    }
    for raw in terms {
        let term = raw.trim();
        if term.is_empty() {
            continue;
        }
        match ty {
            FieldType::String => string_term(term, &mut m)?,
            FieldType::Date => date_term(term, &mut m)?,
            FieldType::YesNo => match term.to_ascii_lowercase().as_str() {
                "yes" => m.any.push(vec![Cond::Eq(Value::YesNo(true))]),
                "no" => m.any.push(vec![Cond::Eq(Value::YesNo(false))]),
                _ => {
                    common_term(term, &mut m).ok_or_else(|| format!("`{term}` is not Yes or No"))?
                }
            },
            FieldType::Number | FieldType::Count | FieldType::Sum => number_term(term, &mut m)?,
        }
    }
    Ok(m)
}

/// Splits on commas outside brackets; in strings `^,` is a literal comma
/// (the escape is kept for the term parser).
fn split_terms(expr: &str, escapes: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0i32;
    let mut chars = expr.chars();
    while let Some(c) = chars.next() {
        match c {
            '^' if escapes => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '[' | '(' if !escapes => {
                depth += 1;
                cur.push(c);
            }
            ']' | ')' if !escapes => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth <= 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn common_term(term: &str, m: &mut Matcher) -> Option<()> {
    match term.to_ascii_uppercase().as_str() {
        "NULL" => m.any.push(vec![Cond::IsNull]),
        "-NULL" | "NOT NULL" => m.exclude.push(Cond::IsNull),
        _ => return None,
    }
    Some(())
}

fn comparison(term: &str) -> Option<(Op, &str)> {
    for (prefix, op) in [(">=", Op::Ge), ("<=", Op::Le), (">", Op::Gt), ("<", Op::Lt)] {
        if let Some(rest) = term.strip_prefix(prefix) {
            return Some((op, rest.trim()));
        }
    }
    None
}

/// Removes `^` escapes; returns the pieces between unescaped `%`.
fn unescape(term: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = term.chars();
    while let Some(c) = chars.next() {
        match c {
            '^' => {
                if let Some(n) = chars.next()
                    && let Some(p) = parts.last_mut()
                {
                    p.push(n);
                }
            }
            '%' => parts.push(String::new()),
            _ => {
                if let Some(p) = parts.last_mut() {
                    p.push(c);
                }
            }
        }
    }
    parts
}

fn string_term(term: &str, m: &mut Matcher) -> Result<(), String> {
    if common_term(term, m).is_some() {
        return Ok(());
    }
    match term {
        "EMPTY" => {
            m.any.push(vec![Cond::IsEmpty]);
            return Ok(());
        }
        "-EMPTY" => {
            m.exclude.push(Cond::IsEmpty);
            return Ok(());
        }
        _ => {}
    }
    if let Some((op, rest)) = comparison(term) {
        let text: String = unescape(rest).join("%");
        m.any.push(vec![Cond::Cmp(op, Value::Str(text.into()))]);
        return Ok(());
    }
    let (negate, body) = match term.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, term),
    };
    let parts = unescape(body);
    let cond = if parts.len() == 1 {
        Cond::Eq(Value::Str(
            parts.into_iter().next().unwrap_or_default().into(),
        ))
    } else {
        Cond::Like(parts)
    };
    if negate {
        m.exclude.push(cond)
    } else {
        m.any.push(vec![cond])
    }
    Ok(())
}

fn number(s: &str) -> Result<Decimal, String> {
    let s = s.trim();
    Decimal::from_str(s)
        .or_else(|_| Decimal::from_scientific(s))
        .map_err(|_| format!("`{s}` is not a number"))
}

fn number_term(term: &str, m: &mut Matcher) -> Result<(), String> {
    if common_term(term, m).is_some() {
        return Ok(());
    }
    let upper = term.to_ascii_uppercase();
    if upper.contains(" OR ") {
        for part in split_words(term, " OR ") {
            number_term(part, m)?;
        }
        return Ok(());
    }
    if upper.starts_with("NOT ") || term.starts_with("!=") || term.starts_with("<>") {
        let rest = if upper.starts_with("NOT ") {
            &term[4..]
        } else {
            &term[2..]
        };
        m.exclude.push(Cond::Eq(Value::Dec(number(rest)?)));
        return Ok(());
    }
    let mut all = Vec::new();
    for part in split_words(term, " AND ") {
        all.push(number_cond(part.trim())?);
    }
    m.any.push(all);
    Ok(())
}

/// Splits on a keyword, case-insensitively.
fn split_words<'a>(term: &'a str, word: &str) -> Vec<&'a str> {
    let upper = term.to_ascii_uppercase();
    let mut out = Vec::new();
    let mut start = 0;
    while let Some(at) = upper[start..].find(word) {
        out.push(&term[start..start + at]);
        start += at + word.len();
    }
    out.push(&term[start..]);
    out
}

fn number_cond(term: &str) -> Result<Cond, String> {
    if let Some((op, rest)) = comparison(term) {
        return Ok(Cond::Cmp(op, Value::Dec(number(rest)?)));
    }
    if let Some(rest) = term.strip_prefix('=') {
        return Ok(Cond::Eq(Value::Dec(number(rest)?)));
    }
    let first = term.chars().next();
    let last = term.chars().last();
    if matches!(first, Some('[' | '(')) && matches!(last, Some(']' | ')')) && term.len() >= 2 {
        let inner = &term[1..term.len() - 1];
        let (a, b) = inner
            .split_once(',')
            .ok_or_else(|| format!("interval `{term}` needs two bounds: [low,high]"))?;
        return Ok(Cond::Between(
            number(a)?,
            first == Some('['),
            number(b)?,
            last == Some(']'),
        ));
    }
    let parts = split_words(term, " TO ");
    if parts.len() == 2 {
        return Ok(Cond::Between(
            number(parts[0])?,
            true,
            number(parts[1])?,
            true,
        ));
    }
    Ok(Cond::Eq(Value::Dec(number(term)?)))
}

/// A date, month or year: the half-open range it covers.
fn date_span(s: &str) -> Result<(NaiveDate, NaiveDate), String> {
    let s = s.trim().replace('/', "-");
    let err = || format!("`{s}` is not a date (use YYYY-MM-DD, YYYY-MM or YYYY)");
    let nums: Vec<&str> = s.split('-').collect();
    let int = |x: &str| x.parse::<u32>().map_err(|_| err());
    match nums.as_slice() {
        [y, m, d] => {
            let day = NaiveDate::from_ymd_opt(int(y)? as i32, int(m)?, int(d)?).ok_or_else(err)?;
            Ok((day, day.succ_opt().ok_or_else(err)?))
        }
        [y, m] => {
            let first = NaiveDate::from_ymd_opt(int(y)? as i32, int(m)?, 1).ok_or_else(err)?;
            Ok((
                first,
                first.checked_add_months(Months::new(1)).ok_or_else(err)?,
            ))
        }
        [y] if y.len() == 4 => {
            let first = NaiveDate::from_ymd_opt(int(y)? as i32, 1, 1).ok_or_else(err)?;
            Ok((
                first,
                first.checked_add_months(Months::new(12)).ok_or_else(err)?,
            ))
        }
        _ => Err(err()),
    }
}

fn date_term(term: &str, m: &mut Matcher) -> Result<(), String> {
    if common_term(term, m).is_some() {
        return Ok(());
    }
    let lower = term.to_ascii_lowercase();
    if let Some((op, rest)) = comparison(term) {
        let (lo, hi) = date_span(rest)?;
        let cond = match op {
            Op::Gt => Cond::Dates(hi, NaiveDate::MAX),
            Op::Ge => Cond::Dates(lo, NaiveDate::MAX),
            Op::Lt => Cond::Dates(NaiveDate::MIN, lo),
            Op::Le => Cond::Dates(NaiveDate::MIN, hi),
        };
        m.any.push(vec![cond]);
    } else if let Some(rest) = lower.strip_prefix("after ") {
        m.any
            .push(vec![Cond::Dates(date_span(rest)?.0, NaiveDate::MAX)]);
    } else if let Some(rest) = lower.strip_prefix("before ") {
        m.any
            .push(vec![Cond::Dates(NaiveDate::MIN, date_span(rest)?.0)]);
    } else if let Some((a, b)) = lower.split_once(" to ") {
        m.any
            .push(vec![Cond::Dates(date_span(a)?.0, date_span(b)?.0)]);
    } else {
        let (lo, hi) = date_span(term)?;
        m.any.push(vec![Cond::Dates(lo, hi)]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(expr: &str, v: i64) -> bool {
        parse(expr, FieldType::Number)
            .unwrap()
            .matches(&Value::Int(v))
    }

    fn text(expr: &str, v: &'static str) -> bool {
        parse(expr, FieldType::String)
            .unwrap()
            .matches(&Value::text(v))
    }

    fn date(expr: &str, y: i32, m: u32, d: u32) -> bool {
        parse(expr, FieldType::Date)
            .unwrap()
            .matches(&Value::Date(NaiveDate::from_ymd_opt(y, m, d).unwrap()))
    }

    #[test]
    fn numbers() {
        assert!(num(">5", 6) && !num(">5", 5));
        assert!(num(">=5", 5) && !num("<5", 5) && num("<=5", 5));
        assert!(num("1,3,5", 3) && !num("1,3,5", 4));
        assert!(num("5 to 10", 10) && !num("5 to 10", 11));
        assert!(num("[5,10)", 5) && !num("[5,10)", 10) && !num("(5,10]", 5));
        assert!(num(">5 AND <10", 7) && !num(">5 AND <10", 10));
        assert!(!num("NOT 5", 5) && num("NOT 5", 6) && !num("!=5", 5));
        assert!(num(">100 OR <2", 1));
        assert!(parse("abc", FieldType::Number).is_err());
        assert!(
            !parse("NULL", FieldType::Number)
                .unwrap()
                .matches(&Value::Int(1))
        );
        assert!(
            parse("NOT NULL", FieldType::Number)
                .unwrap()
                .matches(&Value::Int(1))
        );
    }

    #[test]
    fn strings() {
        assert!(text("HQ", "HQ") && !text("HQ", "EAST"));
        assert!(text("HQ,EAST", "EAST"));
        assert!(!text("-HQ", "HQ") && text("-HQ", "EAST"));
        assert!(
            text("Acme%", "Acme Office")
                && text("%Office%", "Acme Office")
                && !text("%Office", "Office X")
        );
        assert!(text(">B", "C") && !text(">B", "B") && text(">=B", "B"));
        assert!(text("a^,b", "a,b"));
        assert!(
            parse("EMPTY", FieldType::String)
                .unwrap()
                .matches(&Value::Null)
        );
    }

    #[test]
    fn dates() {
        assert!(date("2026-03", 2026, 3, 31) && !date("2026-03", 2026, 4, 1));
        assert!(
            date("2026-01-01 to 2026-02-01", 2026, 1, 31)
                && !date("2026-01-01 to 2026-02-01", 2026, 2, 1)
        );
        assert!(date("after 2026-03-01", 2026, 3, 1) && !date("before 2026-03-01", 2026, 3, 1));
        assert!(date(">2026-03-01", 2026, 3, 2) && !date(">2026-03-01", 2026, 3, 1));
        assert!(date("2026/03/05", 2026, 3, 5));
        assert!(parse("yesterday-ish", FieldType::Date).is_err());
    }

    #[test]
    fn bounds_for_seeking() {
        let b = |e: &str| parse(e, FieldType::Number).unwrap().int_bounds();
        assert_eq!(b(">100"), Some((Some(101), None)));
        assert_eq!(b(">=100 AND <200"), Some((Some(100), Some(199))));
        assert_eq!(b("5,9"), Some((Some(5), Some(9))));
        assert_eq!(b(">5,<2"), Some((None, None)));
        assert_eq!(b("NOT 5"), None);
    }
}
