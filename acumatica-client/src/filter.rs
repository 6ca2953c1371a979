//! A typed `$filter` builder for the contract API's OData v3 dialect
//! (FACTS section 6): comparisons `eq ne gt ge lt le`, `and`/`or`,
//! `startswith`/`endswith`/`substringof`, with literals written correctly:
//! strings quoted with `'` doubled, date-times as `datetimeoffset'...'`,
//! dates as `date'...'`, decimals with the `M` suffix.
//!
//! Filters render to the OData text; the query-string encoder of this crate
//! then percent-encodes it (so `:` becomes `%3A`, `+` becomes `%2B` and
//! spaces `%20`), which is how Acumatica expects a `datetimeoffset`
//! literal.
//!
//! ```
//! use acumatica_client::filter::Filter;
//! use chrono::{FixedOffset, TimeZone};
//!
//! let since = FixedOffset::east_opt(3 * 3600).unwrap()
//!     .with_ymd_and_hms(2024, 7, 15, 10, 31, 28).unwrap();
//! let f = Filter::eq("Status", "Open")
//!     .and(Filter::gt("LastModifiedDateTime", since))
//!     .and(Filter::eq("VendorName", "O'Brien").or(Filter::eq("Hold", false)));
//! assert_eq!(
//!     f.to_string(),
//!     "Status eq 'Open' and LastModifiedDateTime gt datetimeoffset'2024-07-15T10:31:28.000+03:00' \
//!      and (VendorName eq 'O''Brien' or Hold eq false)"
//! );
//! ```

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use rust_decimal::Decimal;

/// A literal value in a filter.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Literal {
    /// `'text'` with `'` doubled.
    Str(String),
    /// `42`.
    Int(i64),
    /// `12.50M`.
    Decimal(Decimal),
    /// `true`/`false`.
    Bool(bool),
    /// `datetimeoffset'2024-07-15T10:31:28.402+03:00'`.
    DateTimeOffset(DateTime<FixedOffset>),
    /// `date'2025-06-17'` (documented for 25.200.001).
    Date(NaiveDate),
    /// `guid'...'`.
    Guid(String),
    /// `null`.
    Null,
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Decimal(d) => write!(f, "{d}M"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::DateTimeOffset(d) => {
                write!(
                    f,
                    "datetimeoffset'{}'",
                    d.format("%Y-%m-%dT%H:%M:%S%.3f%:z")
                )
            }
            Literal::Date(d) => write!(f, "date'{}'", d.format("%Y-%m-%d")),
            Literal::Guid(g) => write!(f, "guid'{}'", g.replace('\'', "")),
            Literal::Null => f.write_str("null"),
        }
    }
}

macro_rules! literal_from {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {$(
        impl From<$t> for Literal {
            fn from($v: $t) -> Self { $e }
        }
    )*};
}
literal_from!(
    &str => |v| Literal::Str(v.to_owned()),
    String => |v| Literal::Str(v),
    &String => |v| Literal::Str(v.clone()),
    i32 => |v| Literal::Int(v.into()),
    i64 => |v| Literal::Int(v),
    u32 => |v| Literal::Int(v.into()),
    bool => |v| Literal::Bool(v),
    Decimal => |v| Literal::Decimal(v),
    DateTime<FixedOffset> => |v| Literal::DateTimeOffset(v),
    DateTime<Utc> => |v| Literal::DateTimeOffset(v.fixed_offset()),
    NaiveDate => |v| Literal::Date(v),
);

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::Lt => "lt",
            Op::Le => "le",
        }
    }
}

/// A `$filter` expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter(Node);

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Cmp(String, Op, Literal),
    Func(&'static str, String, Literal),
    And(Vec<Node>),
    Or(Vec<Node>),
    Raw(String),
}

impl Filter {
    /// `field op value`. `field` may be a linked path (`MainContact/Email`)
    /// or a custom-field function (`cf.String(f='Document.UsrX')`).
    pub fn cmp(field: impl Into<String>, op: Op, value: impl Into<Literal>) -> Self {
        Self(Node::Cmp(field.into(), op, value.into()))
    }
    /// `field eq value`
    pub fn eq(field: impl Into<String>, value: impl Into<Literal>) -> Self {
        Self::cmp(field, Op::Eq, value)
    }
    /// `field ne value`
    pub fn ne(field: impl Into<String>, value: impl Into<Literal>) -> Self {
        Self::cmp(field, Op::Ne, value)
    }
    /// `field gt value`
    pub fn gt(field: impl Into<String>, value: impl Into<Literal>) -> Self {
        Self::cmp(field, Op::Gt, value)
    }
    /// `field ge value`
    pub fn ge(field: impl Into<String>, value: impl Into<Literal>) -> Self {
        Self::cmp(field, Op::Ge, value)
    }
    /// `field lt value`
    pub fn lt(field: impl Into<String>, value: impl Into<Literal>) -> Self {
        Self::cmp(field, Op::Lt, value)
    }
    /// `field le value`
    pub fn le(field: impl Into<String>, value: impl Into<Literal>) -> Self {
        Self::cmp(field, Op::Le, value)
    }
    /// `startswith(field,'prefix')`
    pub fn starts_with(field: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self(Node::Func(
            "startswith",
            field.into(),
            Literal::Str(prefix.into()),
        ))
    }
    /// `endswith(field,'suffix')`
    pub fn ends_with(field: impl Into<String>, suffix: impl Into<String>) -> Self {
        Self(Node::Func(
            "endswith",
            field.into(),
            Literal::Str(suffix.into()),
        ))
    }
    /// `substringof('part',field)` (the bare form; `... eq true` returns
    /// nothing on Acumatica).
    pub fn contains(field: impl Into<String>, part: impl Into<String>) -> Self {
        Self(Node::Func(
            "substringof",
            field.into(),
            Literal::Str(part.into()),
        ))
    }
    /// A filter text written by hand, used as is (parenthesized when combined).
    pub fn raw(text: impl Into<String>) -> Self {
        Self(Node::Raw(text.into()))
    }

    /// `field eq v1 or field eq v2 or ...`; `None` for an empty list.
    ///
    /// ```
    /// use acumatica_client::filter::Filter;
    /// let f = Filter::any_of("Description", ["run-1", "run-2"]).unwrap();
    /// assert_eq!(f.to_string(), "Description eq 'run-1' or Description eq 'run-2'");
    /// ```
    pub fn any_of<V: Into<Literal>>(
        field: &str,
        values: impl IntoIterator<Item = V>,
    ) -> Option<Self> {
        let nodes: Vec<Node> = values
            .into_iter()
            .map(|v| Node::Cmp(field.to_owned(), Op::Eq, v.into()))
            .collect();
        match nodes.len() {
            0 => None,
            1 => nodes.into_iter().next().map(Self),
            _ => Some(Self(Node::Or(nodes))),
        }
    }

    /// Both filters.
    #[must_use]
    pub fn and(self, other: Filter) -> Self {
        let mut parts = match self.0 {
            Node::And(p) => p,
            n => vec![n],
        };
        match other.0 {
            Node::And(p) => parts.extend(p),
            n => parts.push(n),
        }
        Self(Node::And(parts))
    }

    /// Either filter.
    #[must_use]
    pub fn or(self, other: Filter) -> Self {
        let mut parts = match self.0 {
            Node::Or(p) => p,
            n => vec![n],
        };
        match other.0 {
            Node::Or(p) => parts.extend(p),
            n => parts.push(n),
        }
        Self(Node::Or(parts))
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn join(
            f: &mut fmt::Formatter<'_>,
            parts: &[Node],
            sep: &str,
            parent_and: bool,
        ) -> fmt::Result {
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    write!(f, " {sep} ")?;
                }
                let wrap = match p {
                    Node::Or(_) => parent_and,
                    Node::And(_) => !parent_and,
                    Node::Raw(_) => true,
                    _ => false,
                };
                if wrap {
                    write!(f, "({p})")?;
                } else {
                    write!(f, "{p}")?;
                }
            }
            Ok(())
        }
        match self {
            Node::Cmp(field, op, lit) => write!(f, "{field} {} {lit}", op.as_str()),
            Node::Func("substringof", field, lit) => write!(f, "substringof({lit},{field})"),
            Node::Func(name, field, lit) => write!(f, "{name}({field},{lit})"),
            Node::And(parts) => join(f, parts, "and", true),
            Node::Or(parts) => join(f, parts, "or", false),
            Node::Raw(text) => f.write_str(text),
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn literals() {
        assert_eq!(Literal::from("it's").to_string(), "'it''s'");
        assert_eq!(Literal::from(Decimal::new(1250, 2)).to_string(), "12.50M");
        assert_eq!(Literal::from(true).to_string(), "true");
        let d = NaiveDate::from_ymd_opt(2025, 6, 17).unwrap();
        assert_eq!(Literal::from(d).to_string(), "date'2025-06-17'");
        let t = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(
            Literal::from(t).to_string(),
            "datetimeoffset'2024-01-02T03:04:05.000+00:00'"
        );
    }

    #[test]
    fn precedence_is_kept_with_parentheses() {
        let f = Filter::eq("A", 1)
            .or(Filter::eq("B", 2))
            .and(Filter::eq("C", 3));
        assert_eq!(f.to_string(), "(A eq 1 or B eq 2) and C eq 3");
        let g = Filter::eq("A", 1)
            .and(Filter::eq("B", 2))
            .or(Filter::eq("C", 3));
        assert_eq!(g.to_string(), "(A eq 1 and B eq 2) or C eq 3");
        let h = Filter::raw("X eq 1 or Y eq 2").and(Filter::contains("Name", "ac"));
        assert_eq!(
            h.to_string(),
            "(X eq 1 or Y eq 2) and substringof('ac',Name)"
        );
        assert!(Filter::any_of::<&str>("X", []).is_none());
    }

    proptest::proptest! {
        #[test]
        fn string_literals_escape_every_quote(text in ".*") {
            let lit = Literal::from(text.as_str()).to_string();
            proptest::prop_assert!(lit.starts_with('\'') && lit.ends_with('\''));
            let inner = &lit[1..lit.len() - 1];
            // Every quote inside comes in a pair, and undoubling gives the text back.
            proptest::prop_assert!(!inner.replace("''", "").contains('\''));
            proptest::prop_assert_eq!(inner.replace("''", "'"), text);
        }
    }
}
