//! Financial periods (`PostPeriod`) and transaction dates in Acumatica's formats.
//!
//! Acumatica's `JournalTransaction.PostPeriod` takes the period as `MMYYYY` (forms like `01-2025`
//! and `032025` both appear in the vendor's examples; reference FACTS §7.1). Internally the
//! financial period ID is `YYYYPP`. `TransactionDate` is sent as a date-time without an offset,
//! e.g. `2025-02-15T00:00:00` (FACTS §5).

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// A financial period: a year and the period's number within it (1-based).
///
/// Ordered by year, then number. Displays as `MMYYYY`, the form `PostPeriod` takes.
///
/// ```
/// use sync_core::mapping::Period;
///
/// let p: Period = "01-2025".parse().unwrap();
/// assert_eq!(p, Period::new(2025, 1).unwrap());
/// assert_eq!(p.to_string(), "012025");
/// assert_eq!(p.fin_period_id(), "202501");
/// assert_eq!(Period::parse_yyyymm("2025-01").unwrap(), p);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Period {
    year: u16,
    number: u8,
}

/// Why a period or date text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a {expected}")]
pub struct PeriodParseError {
    text: String,
    expected: &'static str,
}

impl PeriodParseError {
    fn new(text: &str, expected: &'static str) -> Self {
        Self {
            text: text.to_owned(),
            expected,
        }
    }
}

impl Period {
    /// A period from its year (1000..=9999) and number (1..=99; Acumatica allows more than 12
    /// periods a year, e.g. 13 or weekly calendars). `None` when out of range.
    pub fn new(year: u16, number: u8) -> Option<Self> {
        ((1000..=9999).contains(&year) && (1..=99).contains(&number))
            .then_some(Self { year, number })
    }

    /// The calendar-month period that contains `date`.
    ///
    /// This assumes the company's financial periods are calendar months; where they are not
    /// (4-4-5 calendars, fiscal years starting mid-month), map a period column instead. The
    /// validator reports dates outside their period when the reference data carries period
    /// start and end dates.
    pub fn calendar_month_of(date: NaiveDate) -> Self {
        Self {
            year: date.year().clamp(1000, 9999) as u16,
            number: date.month() as u8,
        }
    }

    /// The year.
    pub fn year(&self) -> u16 {
        self.year
    }

    /// The period number within the year.
    pub fn number(&self) -> u8 {
        self.number
    }

    /// `MMYYYY`, the form `PostPeriod` takes (same as `Display`).
    pub fn mmyyyy(&self) -> String {
        format!("{:02}{:04}", self.number, self.year)
    }

    /// `YYYYPP`, Acumatica's internal financial period ID.
    pub fn fin_period_id(&self) -> String {
        format!("{:04}{:02}", self.year, self.number)
    }

    /// The last day of the calendar month with this number, when the number is a month
    /// (1..=12). See [`Period::calendar_month_of`] for the assumption this makes.
    pub fn calendar_month_end(&self) -> Option<NaiveDate> {
        let (y, m) = (i32::from(self.year), u32::from(self.number));
        if !(1..=12).contains(&m) {
            return None;
        }
        let first_of_next = if m == 12 {
            NaiveDate::from_ymd_opt(y + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(y, m + 1, 1)
        }?;
        first_of_next.pred_opt()
    }

    /// Parses `MMYYYY` or `MM-YYYY` (also `MM/YYYY`).
    pub fn parse_mmyyyy(text: &str) -> Result<Self, PeriodParseError> {
        let t = text.trim();
        let digits: String = match t.len() {
            6 => t.to_owned(),
            7 if matches!(t.as_bytes()[2], b'-' | b'/') => format!("{}{}", &t[..2], &t[3..]),
            _ => return Err(PeriodParseError::new(text, "period in MMYYYY form")),
        };
        Self::from_parts(&digits[..2], &digits[2..])
            .ok_or_else(|| PeriodParseError::new(text, "period in MMYYYY form"))
    }

    /// Parses `YYYYMM` or `YYYY-MM` (the form of a Looker `month` timeframe, and Acumatica's
    /// internal `FinPeriodID`).
    pub fn parse_yyyymm(text: &str) -> Result<Self, PeriodParseError> {
        let t = text.trim();
        let digits: String = match t.len() {
            6 => t.to_owned(),
            7 if matches!(t.as_bytes()[4], b'-' | b'/') => format!("{}{}", &t[..4], &t[5..]),
            _ => return Err(PeriodParseError::new(text, "period in YYYYMM form")),
        };
        Self::from_parts(&digits[4..], &digits[..4])
            .ok_or_else(|| PeriodParseError::new(text, "period in YYYYMM form"))
    }

    /// Parses any of the forms by their shape: `MM-YYYY` and `YYYY-MM` by the separator's
    /// position; six digits as `MMYYYY` when that gives a year from 1900 to 2199, otherwise as
    /// `YYYYMM` (so `012025` is January 2025 and `202501` is too). Use
    /// [`Period::parse_mmyyyy`] or [`Period::parse_yyyymm`] when the form is known.
    ///
    /// ```
    /// use sync_core::mapping::Period;
    /// let jan = Period::new(2025, 1).unwrap();
    /// for text in ["012025", "01-2025", "202501", "2025-01"] {
    ///     assert_eq!(Period::parse_any(text).unwrap(), jan);
    /// }
    /// ```
    pub fn parse_any(text: &str) -> Result<Self, PeriodParseError> {
        let t = text.trim();
        let plausible = |p: &Period| (1900..=2199).contains(&p.year);
        match t.len() {
            7 if matches!(t.as_bytes()[4], b'-' | b'/') => Self::parse_yyyymm(t),
            6 => match Self::parse_mmyyyy(t) {
                Ok(p) if plausible(&p) => Ok(p),
                _ => Self::parse_yyyymm(t)
                    .ok()
                    .filter(plausible)
                    .ok_or_else(|| PeriodParseError::new(text, "period in MMYYYY or YYYYMM form")),
            },
            _ => Self::parse_mmyyyy(t),
        }
    }

    fn from_parts(number: &str, year: &str) -> Option<Self> {
        if !number
            .bytes()
            .chain(year.bytes())
            .all(|b| b.is_ascii_digit())
        {
            return None;
        }
        Self::new(year.parse().ok()?, number.parse().ok()?)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}{:04}", self.number, self.year)
    }
}

impl FromStr for Period {
    type Err = PeriodParseError;

    /// Parses `MMYYYY` or `MM-YYYY`, Acumatica's `PostPeriod` forms.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_mmyyyy(s)
    }
}

impl TryFrom<String> for Period {
    type Error = PeriodParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Period> for String {
    fn from(p: Period) -> String {
        p.to_string()
    }
}

/// Formats a date the way Acumatica's `TransactionDate` is sent: `YYYY-MM-DDT00:00:00`, no
/// offset.
///
/// ```
/// use chrono::NaiveDate;
/// let d = NaiveDate::from_ymd_opt(2025, 2, 15).unwrap();
/// assert_eq!(sync_core::mapping::acumatica_date(d), "2025-02-15T00:00:00");
/// ```
pub fn acumatica_date(date: NaiveDate) -> String {
    format!("{}T00:00:00", date.format("%Y-%m-%d"))
}

/// Reads a date cell: `YYYY-MM-DD`, optionally followed by a time (`T` or space separated, with
/// or without an offset; the time part is ignored because a journal date has no time).
pub fn parse_date_text(text: &str) -> Result<NaiveDate, PeriodParseError> {
    let t = text.trim();
    let bad = || PeriodParseError::new(text, "date in YYYY-MM-DD form");
    let (date_part, rest) = match (t.get(..10), t.get(10..)) {
        (Some(d), Some(r)) => (d, r),
        _ => return Err(bad()),
    };
    let shape_ok = date_part.bytes().enumerate().all(|(i, b)| {
        if i == 4 || i == 7 {
            b == b'-'
        } else {
            b.is_ascii_digit()
        }
    });
    if !shape_ok || !(rest.is_empty() || rest.starts_with(['T', ' '])) {
        return Err(bad());
    }
    NaiveDate::parse_from_str(date_part, "%Y-%m-%d").map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_forms() {
        let p = Period::new(2025, 3).unwrap();
        for t in ["032025", "03-2025", "03/2025", " 032025 "] {
            assert_eq!(Period::parse_mmyyyy(t).unwrap(), p, "{t}");
        }
        for t in ["202503", "2025-03", "2025/03"] {
            assert_eq!(Period::parse_yyyymm(t).unwrap(), p, "{t}");
        }
        for t in ["2025-03", "32025", "002025", "13-20x5", "", "0320255"] {
            assert!(Period::parse_mmyyyy(t).is_err(), "{t}");
        }
        assert_eq!(Period::new(2025, 13).unwrap().to_string(), "132025");
        assert!(Period::new(2025, 0).is_none());
        assert_eq!(
            Period::new(2024, 2).unwrap().calendar_month_end(),
            NaiveDate::from_ymd_opt(2024, 2, 29)
        );
        assert_eq!(
            Period::new(2024, 12).unwrap().calendar_month_end(),
            NaiveDate::from_ymd_opt(2024, 12, 31)
        );
        assert_eq!(Period::new(2024, 13).unwrap().calendar_month_end(), None);
    }

    #[test]
    fn dates() {
        let d = NaiveDate::from_ymd_opt(2025, 1, 31).unwrap();
        for t in [
            "2025-01-31",
            "2025-01-31 23:59:59",
            "2025-01-31T10:00:00+02:00",
        ] {
            assert_eq!(parse_date_text(t).unwrap(), d, "{t}");
        }
        for t in ["2025-1-31", "31/01/2025", "2025-01-31x", "2025-02-30"] {
            assert!(parse_date_text(t).is_err(), "{t}");
        }
        assert_eq!(acumatica_date(d), "2025-01-31T00:00:00");
    }
}
