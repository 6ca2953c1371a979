//! `$filter`: the OData v3 subset the contract-based API accepts (FACTS
//! section 6): `eq ne gt ge lt le`, `and`/`or`, parentheses, string, number,
//! boolean, `null`, `datetimeoffset'...'`, `datetime'...'`, `date'...'` and
//! `guid'...'` literals, linked-entity paths (`MainContact/Email`), and the
//! functions `substringof`, `startswith`, `endswith`.
//!
//! What the real server refuses is refused the same way: `not`, `contains`,
//! `tolower`, `toupper`, arithmetic and any other function get a 500 like
//! the real optimizer error; `substringof(...) eq true` silently matches
//! nothing (both observed live, FACTS section 6). Strings compare without
//! regard to case, as the SQL Server collation of a real site does; a null
//! field satisfies only `eq null`.

use std::cmp::Ordering;

use rust_decimal::Decimal;
use uuid::Uuid;

use super::schema::{FieldType, Schema, available, schema};
use super::value::{Row, Val, parse_datetime, parse_decimal};

/// Why a `$filter` was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FilterError {
    /// Not parseable.
    Syntax(String),
    /// Valid OData the optimizer cannot translate (the real 500).
    Unsupported(String),
    /// A property the entity does not have in this version.
    UnknownField(String),
    /// A literal of the wrong type for the field.
    TypeMismatch(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(Decimal),
    Typed(String, String),
    LParen,
    RParen,
    Comma,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, FilterError> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let string_at = |mut i: usize| -> Result<(String, usize), FilterError> {
        // b[i] == '\''
        i += 1;
        let mut val = String::new();
        loop {
            let rest = &s[i..];
            match rest.find('\'') {
                None => {
                    return Err(FilterError::Syntax(format!(
                        "unterminated string literal in '{s}'"
                    )));
                }
                Some(p) => {
                    val.push_str(&rest[..p]);
                    i += p + 1;
                    if s.as_bytes().get(i) == Some(&b'\'') {
                        val.push('\'');
                        i += 1;
                    } else {
                        return Ok((val, i));
                    }
                }
            }
        }
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            b')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            b',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            b'\'' => {
                let (v, next) = string_at(i)?;
                out.push(Tok::Str(v));
                i = next;
            }
            b'0'..=b'9' | b'-' | b'+' | b'.' => {
                let start = i;
                i += 1;
                while i < b.len()
                    && (b[i].is_ascii_digit() || b[i] == b'.' || b[i] == b'e' || b[i] == b'E')
                {
                    i += 1;
                }
                let text = &s[start..i];
                if i < b.len()
                    && matches!(b[i], b'M' | b'm' | b'L' | b'l' | b'd' | b'D' | b'f' | b'F')
                {
                    i += 1;
                }
                let n = parse_decimal(text)
                    .ok_or_else(|| FilterError::Syntax(format!("bad number '{text}'")))?;
                out.push(Tok::Num(n));
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b'$' => {
                let start = i;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'/' | b'.' | b'$'))
                {
                    i += 1;
                }
                let ident = s[start..i].to_owned();
                if i < b.len() && b[i] == b'\'' {
                    let (v, next) = string_at(i)?;
                    out.push(Tok::Typed(ident, v));
                    i = next;
                } else {
                    out.push(Tok::Ident(ident));
                }
            }
            _ => {
                return Err(FilterError::Syntax(format!(
                    "unexpected character '{}' at position {i}",
                    &s[i..].chars().next().unwrap_or(' ')
                )));
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            _ => return None,
        })
    }

    fn flip(self) -> Op {
        match self {
            Op::Gt => Op::Lt,
            Op::Ge => Op::Le,
            Op::Lt => Op::Gt,
            Op::Le => Op::Ge,
            o => o,
        }
    }

    fn test(self, ord: Ordering) -> bool {
        match self {
            Op::Eq => ord == Ordering::Equal,
            Op::Ne => ord != Ordering::Equal,
            Op::Gt => ord == Ordering::Greater,
            Op::Ge => ord != Ordering::Less,
            Op::Lt => ord == Ordering::Less,
            Op::Le => ord != Ordering::Greater,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Str(String),
    Num(Decimal),
    Bool(bool),
    Null,
    Dt(i64),
    Guid(Uuid),
}

/// Where a field lives: top level, in a linked entity, or in detail lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Top,
    Linked(u16),
    Detail(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldRef {
    place: Place,
    idx: u16,
    ty: FieldType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrFn {
    Substring,
    StartsWith,
    EndsWith,
}

/// A compiled `$filter`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Cmp(FieldRef, Op, Lit),
    StrFn(StrFn, FieldRef, String),
    Const(bool),
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    schema: &'static Schema,
    version: &'a str,
}

const UNSUPPORTED_FNS: &[&str] = &[
    "contains",
    "tolower",
    "toupper",
    "trim",
    "length",
    "indexof",
    "replace",
    "substring",
    "concat",
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "second",
    "round",
    "floor",
    "ceiling",
    "isof",
    "cast",
    "any",
    "all",
];

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s == kw)
    }

    fn expect(&mut self, tok: Tok) -> Result<(), FilterError> {
        match self.next() {
            Some(t) if t == tok => Ok(()),
            other => Err(FilterError::Syntax(format!(
                "expected {tok:?}, found {other:?}"
            ))),
        }
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and()?;
        while self.peek_keyword("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.unary()?;
        while self.peek_keyword("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        if self.peek_keyword("not") {
            return Err(FilterError::Unsupported("not".to_owned()));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let inner = self.or()?;
            self.expect(Tok::RParen)?;
            return Ok(inner);
        }
        // A string function, alone or compared with a boolean.
        if let Some(Tok::Ident(name)) = self.peek().cloned()
            && self.toks.get(self.pos + 1) == Some(&Tok::LParen)
        {
            self.pos += 2;
            let f = self.function(&name)?;
            if let Some(Tok::Ident(op)) = self.peek().cloned()
                && Op::parse(&op).is_some()
            {
                self.pos += 1;
                // `substringof(...) eq true` is accepted and matches nothing
                // on the real server (FACTS section 6).
                return match self.next() {
                    Some(Tok::Ident(b)) if b == "true" || b == "false" => Ok(Filter::Const(false)),
                    other => Err(FilterError::Syntax(format!(
                        "cannot compare a function with {other:?}"
                    ))),
                };
            }
            return Ok(f);
        }
        let left = self.operand()?;
        let op = match self.next() {
            Some(Tok::Ident(op)) => match Op::parse(&op) {
                Some(op) => op,
                None if ["add", "sub", "mul", "div", "mod"].contains(&op.as_str()) => {
                    return Err(FilterError::Unsupported(format!(
                        "arithmetic operator '{op}'"
                    )));
                }
                None => {
                    return Err(FilterError::Syntax(format!(
                        "expected a comparison operator, found '{op}'"
                    )));
                }
            },
            other => {
                return Err(FilterError::Syntax(format!(
                    "expected a comparison operator, found {other:?}"
                )));
            }
        };
        let right = self.operand()?;
        match (left, right) {
            (Operand::Field(f), Operand::Lit(l)) => self.cmp(f, op, l),
            (Operand::Lit(l), Operand::Field(f)) => self.cmp(f, op.flip(), l),
            (Operand::Field(_), Operand::Field(_)) => Err(FilterError::Unsupported(
                "comparison of two fields".to_owned(),
            )),
            (Operand::Lit(_), Operand::Lit(_)) => {
                Err(FilterError::Syntax("comparison of two literals".to_owned()))
            }
        }
    }

    fn cmp(&self, f: FieldRef, op: Op, lit: Lit) -> Result<Filter, FilterError> {
        let ok = matches!(
            (&lit, f.ty),
            (Lit::Null, _)
                | (Lit::Str(_), FieldType::S | FieldType::G)
                | (
                    Lit::Num(_),
                    FieldType::Dec | FieldType::I | FieldType::Sh | FieldType::L
                )
                | (Lit::Bool(_), FieldType::B)
                | (Lit::Dt(_), FieldType::Dt)
                | (Lit::Guid(_), FieldType::G)
        );
        if !ok {
            return Err(FilterError::TypeMismatch(format!(
                "a binary operator with incompatible types was detected: '{}' and '{lit:?}'",
                f.ty.wrapper()
            )));
        }
        if matches!(lit, Lit::Null) && !matches!(op, Op::Eq | Op::Ne) {
            return Ok(Filter::Const(false));
        }
        Ok(Filter::Cmp(f, op, lit))
    }

    fn function(&mut self, name: &str) -> Result<Filter, FilterError> {
        let which = match name {
            "substringof" => StrFn::Substring,
            "startswith" => StrFn::StartsWith,
            "endswith" => StrFn::EndsWith,
            n if n.starts_with("cf.") => {
                return Err(FilterError::Unsupported(format!(
                    "custom field function '{n}' (no custom fields in the fake)"
                )));
            }
            n if UNSUPPORTED_FNS.contains(&n) => {
                return Err(FilterError::Unsupported(format!("function '{n}'")));
            }
            n => return Err(FilterError::Syntax(format!("unknown function '{n}'"))),
        };
        let a = self.operand()?;
        self.expect(Tok::Comma)?;
        let b = self.operand()?;
        self.expect(Tok::RParen)?;
        let (field, text) = match (which, a, b) {
            (StrFn::Substring, Operand::Lit(Lit::Str(t)), Operand::Field(f)) => (f, t),
            (StrFn::StartsWith | StrFn::EndsWith, Operand::Field(f), Operand::Lit(Lit::Str(t))) => {
                (f, t)
            }
            _ => return Err(FilterError::Syntax(format!("bad arguments to '{name}'"))),
        };
        if field.ty != FieldType::S {
            return Err(FilterError::TypeMismatch(format!(
                "'{name}' needs a string field"
            )));
        }
        Ok(Filter::StrFn(which, field, text.to_lowercase()))
    }

    fn operand(&mut self) -> Result<Operand, FilterError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Operand::Lit(Lit::Str(s))),
            Some(Tok::Num(n)) => Ok(Operand::Lit(Lit::Num(n))),
            Some(Tok::Typed(kind, text)) => {
                let lit = match kind.as_str() {
                    "datetimeoffset" | "datetime" | "date" => {
                        Lit::Dt(parse_datetime(&text).ok_or_else(|| {
                            FilterError::Syntax(format!("unrecognized {kind} literal '{text}'"))
                        })?)
                    }
                    "guid" => Lit::Guid(text.parse().map_err(|_| {
                        FilterError::Syntax(format!("unrecognized guid literal '{text}'"))
                    })?),
                    k => return Err(FilterError::Syntax(format!("unrecognized '{k}' literal"))),
                };
                Ok(Operand::Lit(lit))
            }
            Some(Tok::Ident(id)) => match id.as_str() {
                "true" => Ok(Operand::Lit(Lit::Bool(true))),
                "false" => Ok(Operand::Lit(Lit::Bool(false))),
                "null" => Ok(Operand::Lit(Lit::Null)),
                _ if self.peek() == Some(&Tok::LParen) => {
                    if UNSUPPORTED_FNS.contains(&id.as_str()) {
                        Err(FilterError::Unsupported(format!("function '{id}'")))
                    } else {
                        Err(FilterError::Syntax(format!(
                            "function '{id}' cannot be used here"
                        )))
                    }
                }
                _ => self.field(&id).map(Operand::Field),
            },
            other => Err(FilterError::Syntax(format!(
                "expected a field or a literal, found {other:?}"
            ))),
        }
    }

    fn field(&self, path: &str) -> Result<FieldRef, FilterError> {
        let unknown = || FilterError::UnknownField(path.to_owned());
        let visible =
            |s: &Schema, f: &str| s.field(f).filter(|_| available(self.version, s.name, f));
        match path.split_once('/') {
            None => {
                let (idx, ty) = visible(self.schema, path).ok_or_else(unknown)?;
                if !ty.is_value() {
                    return Err(unknown());
                }
                Ok(FieldRef {
                    place: Place::Top,
                    idx,
                    ty,
                })
            }
            Some((head, rest)) => {
                let (kid, kty) = visible(self.schema, head).ok_or_else(unknown)?;
                let (place, kid_schema) = match kty {
                    FieldType::Linked(n) => (Place::Linked(kid), n),
                    FieldType::Detail(n) => (Place::Detail(kid), n),
                    _ => return Err(unknown()),
                };
                let ks = schema(kid_schema).ok_or_else(unknown)?;
                let (idx, ty) = visible(ks, rest).ok_or_else(unknown)?;
                if !ty.is_value() {
                    return Err(unknown());
                }
                Ok(FieldRef { place, idx, ty })
            }
        }
    }
}

pub(crate) enum Operand {
    Field(FieldRef),
    Lit(Lit),
}

impl Filter {
    /// Compile a URL-decoded `$filter` for an entity in endpoint `version`.
    pub(crate) fn parse(
        text: &str,
        schema: &'static Schema,
        version: &str,
    ) -> Result<Filter, FilterError> {
        let toks = tokenize(text)?;
        if toks.is_empty() {
            return Ok(Filter::Const(true));
        }
        let mut p = Parser {
            toks,
            pos: 0,
            schema,
            version,
        };
        let f = p.or()?;
        if p.pos < p.toks.len() {
            return Err(FilterError::Syntax(format!(
                "unexpected {:?} after the end of the expression",
                p.toks[p.pos]
            )));
        }
        Ok(f)
    }

    /// The milliseconds `[from, to)` within which the top-level date-time field `idx` of
    /// every matching row lies, when the filter bounds it (`ge`, `gt`, `lt`, `le`, `eq`
    /// joined by `and`); `None` when it does not. A row whose field is empty matches no such
    /// bound. Used to find candidates by an index; [`matches`](Self::matches) still decides.
    pub(crate) fn dt_range(&self, idx: u16) -> Option<(i64, i64)> {
        match self {
            Filter::And(a, b) => match (a.dt_range(idx), b.dt_range(idx)) {
                (Some((a0, a1)), Some((b0, b1))) => Some((a0.max(b0), a1.min(b1))),
                (one, None) | (None, one) => one,
            },
            Filter::Cmp(f, op, Lit::Dt(ms)) if f.place == Place::Top && f.idx == idx => {
                let ms = *ms;
                match op {
                    Op::Ge => Some((ms, i64::MAX)),
                    Op::Gt => Some((ms.saturating_add(1), i64::MAX)),
                    Op::Lt => Some((i64::MIN, ms)),
                    Op::Le => Some((i64::MIN, ms.saturating_add(1))),
                    Op::Eq => Some((ms, ms.saturating_add(1))),
                    Op::Ne => None,
                }
            }
            _ => None,
        }
    }

    /// Whether a stored row satisfies the filter.
    pub(crate) fn matches(&self, row: &Row) -> bool {
        match self {
            Filter::And(a, b) => a.matches(row) && b.matches(row),
            Filter::Or(a, b) => a.matches(row) || b.matches(row),
            Filter::Const(b) => *b,
            Filter::Cmp(f, op, lit) => any_value(row, f, |v| compare(v, *op, lit)),
            Filter::StrFn(which, f, text) => any_value(row, f, |v| {
                let Some(Val::Str(_) | Val::Static(_)) = v else {
                    return false;
                };
                let s = v.and_then(Val::as_str).unwrap_or("").to_lowercase();
                match which {
                    StrFn::Substring => s.contains(text.as_str()),
                    StrFn::StartsWith => s.starts_with(text.as_str()),
                    StrFn::EndsWith => s.ends_with(text.as_str()),
                }
            }),
        }
    }
}

fn any_value(row: &Row, f: &FieldRef, test: impl Fn(Option<&Val>) -> bool) -> bool {
    match f.place {
        Place::Top => test(row.get(f.idx)),
        Place::Linked(k) => test(row.kids(k).first().and_then(|r| r.get(f.idx))),
        // "The REST API does not support filtering on detail records ...
        // results cannot be predicted" (FACTS section 6): here, any line.
        Place::Detail(k) => row.kids(k).iter().any(|r| test(r.get(f.idx))),
    }
}

fn compare(v: Option<&Val>, op: Op, lit: &Lit) -> bool {
    let Some(v) = v else {
        return matches!((op, lit), (Op::Eq, Lit::Null));
    };
    let ord = match (v, lit) {
        (_, Lit::Null) => return op == Op::Ne,
        (Val::Str(_) | Val::Static(_), Lit::Str(s)) => {
            cmp_ci(v.as_str().unwrap_or("").trim_end(), s.trim_end())
        }
        (Val::Guid(g), Lit::Str(s)) => g.to_string().cmp(&s.to_lowercase()),
        (Val::Guid(g), Lit::Guid(l)) => g.cmp(l),
        (_, Lit::Num(n)) => match v.as_dec() {
            Some(d) => d.cmp(n),
            None => return false,
        },
        (Val::Bool(b), Lit::Bool(l)) => b.cmp(l),
        (Val::Dt(ms), Lit::Dt(l)) => ms.cmp(l),
        _ => return false,
    };
    op.test(ord)
}

/// Case-insensitive comparison, like a `_CI_` SQL Server collation.
pub(crate) fn cmp_ci(a: &str, b: &str) -> Ordering {
    a.chars()
        .flat_map(char::to_lowercase)
        .cmp(b.chars().flat_map(char::to_lowercase))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acumatica::value::{date_ms, det_uuid};

    fn jt() -> (&'static Schema, Row) {
        let s = schema("JournalTransaction").unwrap();
        let row = Row::new(det_uuid(1, 1))
            .with(s.idx("BatchNbr"), Val::Static("000042"))
            .with(s.idx("Module"), Val::Static("GL"))
            .with(s.idx("Description"), Val::Static("Rent for October"))
            .with(s.idx("Hold"), Val::Bool(false))
            .with(
                s.idx("LastModifiedDateTime"),
                Val::Dt(date_ms(2026, 10, 1) + 5_000),
            );
        (s, row)
    }

    fn eval(f: &str) -> Result<bool, FilterError> {
        let (s, row) = jt();
        Filter::parse(f, s, "24.200.001").map(|f| f.matches(&row))
    }

    #[test]
    fn comparisons_and_logic() {
        assert_eq!(eval("BatchNbr eq '000042'"), Ok(true));
        assert_eq!(
            eval("batchnbr eq '000042'").unwrap_err(),
            FilterError::UnknownField("batchnbr".into())
        );
        assert_eq!(
            eval("Module eq 'gl'"),
            Ok(true),
            "case-insensitive like SQL Server"
        );
        assert_eq!(
            eval("BatchNbr gt '000041' and BatchNbr lt '000043'"),
            Ok(true)
        );
        assert_eq!(
            eval("(BatchNbr eq '1' or Hold eq false) and Module eq 'GL'"),
            Ok(true)
        );
        assert_eq!(eval("BatchNbr eq '1' or Hold eq true"), Ok(false));
        assert_eq!(eval("Status eq null"), Ok(true));
        assert_eq!(
            eval("Status ne 'Posted'"),
            Ok(false),
            "null never satisfies ne"
        );
        assert_eq!(eval("'000042' eq BatchNbr"), Ok(true));
        assert_eq!(eval("Description eq 'It''s'"), Ok(false));
    }

    #[test]
    fn datetimes() {
        assert_eq!(
            eval("LastModifiedDateTime gt datetimeoffset'2026-10-01T00:00:04.999+00:00'"),
            Ok(true)
        );
        assert_eq!(
            eval("LastModifiedDateTime gt datetimeoffset'2026-10-01T03:00:05+03:00'"),
            Ok(false)
        );
        assert_eq!(
            eval("LastModifiedDateTime ge datetime'2026-10-01T00:00:05'"),
            Ok(true)
        );
        assert_eq!(eval("LastModifiedDateTime lt date'2026-10-02'"), Ok(true));
        // An un-encoded '+' became a space: refused.
        assert!(matches!(
            eval("LastModifiedDateTime gt datetimeoffset'2026-10-01T00:00:00 03:00'"),
            Err(FilterError::Syntax(_))
        ));
        assert!(matches!(
            eval("LastModifiedDateTime gt '2026-10-01'"),
            Err(FilterError::TypeMismatch(_))
        ));
    }

    #[test]
    fn functions_and_unsupported_syntax() {
        assert_eq!(eval("substringof('october',Description)"), Ok(true));
        assert_eq!(eval("startswith(Description,'Rent')"), Ok(true));
        assert_eq!(eval("endswith(Description,'May')"), Ok(false));
        assert_eq!(
            eval("substringof('october',Description) eq true"),
            Ok(false)
        );
        for bad in [
            "contains(Description,'Rent')",
            "tolower(Module) eq 'gl'",
            "not Hold eq true",
            "BatchNbr add 1 eq 2",
        ] {
            assert!(
                matches!(eval(bad), Err(FilterError::Unsupported(_))),
                "{bad}"
            );
        }
        assert!(matches!(eval("BatchNbr eq"), Err(FilterError::Syntax(_))));
        assert!(matches!(
            eval("BatchNbr eq '1' Module"),
            Err(FilterError::Syntax(_))
        ));
    }

    #[test]
    fn versions_and_paths() {
        let si = schema("StockItem").unwrap();
        assert!(matches!(
            Filter::parse(
                "LastModifiedDateTime gt datetimeoffset'2026-01-01T00:00:00Z'",
                si,
                "23.200.001"
            ),
            Err(FilterError::UnknownField(_))
        ));
        assert!(
            Filter::parse(
                "LastModified gt datetimeoffset'2026-01-01T00:00:00Z'",
                si,
                "23.200.001"
            )
            .is_ok()
        );
        let v = schema("Vendor").unwrap();
        assert!(Filter::parse("MainContact/Email eq 'a@b.c'", v, "24.200.001").is_ok());
        assert!(Filter::parse("MainContact/Nope eq 'a'", v, "24.200.001").is_err());
    }
}
