//! Exact decimal amounts read from JSON cells, and the currency-precision rule.
//!
//! Looker returns numbers as JSON numbers or, for some field types and formats, as strings.
//! Both are parsed from their text, never through `f64`: this crate's `serde_json` is built
//! with `arbitrary_precision` (enabled by `rust_decimal`'s `serde-with-arbitrary-precision`),
//! so a [`serde_json::Number`] keeps the digits exactly as they were sent.

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a cell could not be read as an exact decimal amount.
///
/// The mapping wraps this in [`MappingError::Amount`](super::MappingError::Amount) together
/// with the row and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// The cell holds text that is not a plain decimal number.
    #[error(
        "is not a decimal number (expected digits with an optional sign, decimal point and exponent, e.g. 1250.75 or -3.5e2; no thousands separators, currency signs or parentheses)"
    )]
    NotANumber,
    /// The cell holds `NaN` or an infinity, which no ledger can post.
    #[error(
        "is not a finite number (NaN or infinity); fix the measure in LookML so it yields a number"
    )]
    NotFinite,
    /// The number has more digits than an exact 96-bit decimal can hold.
    #[error(
        "has more digits than an exact decimal holds (at most 28 digits after the point and about 28 significant digits); round it in LookML"
    )]
    TooPrecise,
    /// The cell holds a JSON value of a type that cannot be an amount.
    #[error("is a JSON {0}, not a number or numeric text")]
    WrongType(&'static str),
    /// The number has more decimal places than the currency allows and the rounding rule is
    /// [`Rounding::Error`].
    #[error(
        "has {actual} decimal places but the currency allows {allowed}; round it in LookML or set `rounding` under [money] in the mapping"
    )]
    ExceedsCurrencyPrecision {
        /// Decimal places of the value (after dropping trailing zeros).
        actual: u32,
        /// Decimal places the currency allows.
        allowed: u32,
    },
}

/// What to do when an amount has more decimal places than the currency allows.
///
/// The default is [`Rounding::Error`]: an allocation that produces fractions of a cent is
/// reported, never silently changed, because rounding lines one by one can unbalance a journal.
///
/// ```
/// use sync_core::mapping::Rounding;
/// let r: Rounding = serde_json::from_str("\"half_even\"").unwrap();
/// assert_eq!(r, Rounding::HalfEven);
/// assert_eq!(Rounding::default(), Rounding::Error);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Report the amount as an error (default).
    #[default]
    Error,
    /// Round half to even ("banker's rounding").
    HalfEven,
    /// Round half away from zero (the usual commercial rule).
    HalfAwayFromZero,
}

impl fmt::Display for Rounding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rounding::Error => "error",
            Rounding::HalfEven => "half_even",
            Rounding::HalfAwayFromZero => "half_away_from_zero",
        })
    }
}

/// Reads a JSON cell as an exact decimal.
///
/// Accepts JSON numbers and numeric strings (surrounding whitespace and a leading `+` allowed,
/// exponent allowed). Rejects `NaN`/infinities, thousands separators, currency signs, values
/// with more precision than [`Decimal`] holds, and every other JSON type. `null` is handled by
/// the caller (it means "no value", which is an error for some columns and zero for others).
///
/// ```
/// use rust_decimal::Decimal;
/// use sync_core::mapping::parse_amount;
///
/// let v: serde_json::Value = serde_json::from_str("1234.5600").unwrap();
/// assert_eq!(parse_amount(&v).unwrap().to_string(), "1234.5600");
/// let s = serde_json::json!(" -0.10 ");
/// assert_eq!(parse_amount(&s).unwrap(), Decimal::new(-10, 2));
/// assert!(parse_amount(&serde_json::json!("1,234.00")).is_err());
/// ```
pub fn parse_amount(value: &Value) -> Result<Decimal, AmountError> {
    match value {
        Value::Number(n) => parse_decimal_text(&n.to_string()),
        Value::String(s) => parse_decimal_text(s.trim()),
        Value::Null => Err(AmountError::WrongType("null")),
        Value::Bool(_) => Err(AmountError::WrongType("boolean")),
        Value::Array(_) => Err(AmountError::WrongType("array")),
        Value::Object(_) => Err(AmountError::WrongType("object")),
    }
}

/// Parses decimal text exactly (the grammar of a JSON number plus an optional leading `+` and
/// a bare leading or trailing decimal point).
///
/// ```
/// use sync_core::mapping::parse_decimal_text;
/// assert_eq!(parse_decimal_text("1.5e2").unwrap().to_string(), "150");
/// assert!(parse_decimal_text("NaN").is_err());
/// ```
pub fn parse_decimal_text(text: &str) -> Result<Decimal, AmountError> {
    let lowered = text.trim_start_matches(['+', '-']).to_ascii_lowercase();
    if matches!(lowered.as_str(), "nan" | "inf" | "infinity") {
        return Err(AmountError::NotFinite);
    }
    let (mantissa, exponent) = split_checked(text)?;
    let value = Decimal::from_str_exact(mantissa).map_err(|_| AmountError::TooPrecise)?;
    match exponent {
        None => Ok(value),
        Some(exp) => apply_exponent(value, exp),
    }
}

/// Checks the grammar and splits off the exponent. Returns the mantissa text with any leading
/// `+` removed (rust_decimal accepts it, but we keep the check explicit).
fn split_checked(text: &str) -> Result<(&str, Option<i64>), AmountError> {
    // `body` keeps a leading minus (rust_decimal reads it); a leading plus is dropped.
    let (body, unsigned) = if let Some(rest) = text.strip_prefix('-') {
        (text, rest)
    } else if let Some(rest) = text.strip_prefix('+') {
        (rest, rest)
    } else {
        (text, text)
    };
    let (mantissa_unsigned, exponent_text) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let mut digits = 0usize;
    let mut points = 0usize;
    for c in mantissa_unsigned.chars() {
        match c {
            '0'..='9' => digits += 1,
            '.' => points += 1,
            _ => return Err(AmountError::NotANumber),
        }
    }
    if digits == 0 || points > 1 {
        return Err(AmountError::NotANumber);
    }
    let exponent = match exponent_text {
        None => None,
        Some(e) => {
            let digits_part = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits_part.is_empty() || !digits_part.chars().all(|c| c.is_ascii_digit()) {
                return Err(AmountError::NotANumber);
            }
            Some(e.parse::<i64>().map_err(|_| AmountError::TooPrecise)?)
        }
    };
    let mantissa = &body[..body.len() - unsigned.len() + mantissa_unsigned.len()];
    // rust_decimal rejects a trailing point ("5."); normalise it away.
    let mantissa = mantissa.strip_suffix('.').unwrap_or(mantissa);
    Ok((mantissa, exponent))
}

fn apply_exponent(value: Decimal, exp: i64) -> Result<Decimal, AmountError> {
    if exp == 0 {
        return Ok(value);
    }
    let scale = i64::from(value.scale());
    if exp < 0 {
        let new_scale = scale - exp;
        if new_scale > i64::from(Decimal::MAX_SCALE) {
            return Err(AmountError::TooPrecise);
        }
        let mut v = value;
        v.set_scale(new_scale as u32)
            .map_err(|_| AmountError::TooPrecise)?;
        return Ok(v);
    }
    // Positive exponent: first absorb it into the scale, then multiply by a power of ten.
    if exp <= scale {
        let mut v = value;
        v.set_scale((scale - exp) as u32)
            .map_err(|_| AmountError::TooPrecise)?;
        return Ok(v);
    }
    let mut v = value;
    v.set_scale(0).map_err(|_| AmountError::TooPrecise)?;
    let mut remaining = exp - scale;
    let ten = Decimal::TEN;
    while remaining > 0 {
        v = v.checked_mul(ten).ok_or(AmountError::TooPrecise)?;
        remaining -= 1;
    }
    Ok(v)
}

/// Brings an amount to the currency's number of decimal places.
///
/// Trailing zeros never count (`12.3400` is a valid 2-place amount). When real digits would be
/// lost, [`Rounding::Error`] refuses and the other rules round. The result always has exactly
/// `places` decimal places, so equal amounts print equally.
///
/// ```
/// use rust_decimal::Decimal;
/// use sync_core::mapping::{to_currency_precision, Rounding};
///
/// let d = Decimal::new(12345, 3); // 12.345
/// assert!(to_currency_precision(d, 2, Rounding::Error).is_err());
/// assert_eq!(to_currency_precision(d, 2, Rounding::HalfEven).unwrap().to_string(), "12.34");
/// assert_eq!(to_currency_precision(d, 2, Rounding::HalfAwayFromZero).unwrap().to_string(), "12.35");
/// assert_eq!(to_currency_precision(Decimal::new(5, 0), 2, Rounding::Error).unwrap().to_string(), "5.00");
/// ```
pub fn to_currency_precision(
    value: Decimal,
    places: u32,
    rounding: Rounding,
) -> Result<Decimal, AmountError> {
    let normalized = value.normalize();
    let mut out = if normalized.scale() > places {
        match rounding {
            Rounding::Error => {
                return Err(AmountError::ExceedsCurrencyPrecision {
                    actual: normalized.scale(),
                    allowed: places,
                });
            }
            Rounding::HalfEven => {
                normalized.round_dp_with_strategy(places, RoundingStrategy::MidpointNearestEven)
            }
            Rounding::HalfAwayFromZero => {
                normalized.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero)
            }
        }
    } else {
        normalized
    };
    out.rescale(places);
    // `-0.00` and `0.00` must be the same amount everywhere (hashes, payloads).
    if out.is_zero() {
        out.set_sign_positive(true);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn num(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn json_numbers_keep_every_digit() {
        assert_eq!(
            parse_amount(&num("0.1000000000000000055511151231257827")).map(|d| d.to_string()),
            Err(AmountError::TooPrecise),
            "35 fractional digits cannot be held exactly and must not be rounded"
        );
        assert_eq!(
            parse_amount(&num("1234567890123456.78"))
                .unwrap()
                .to_string(),
            "1234567890123456.78"
        );
        assert_eq!(parse_amount(&num("-0.1")).unwrap().to_string(), "-0.1");
        assert_eq!(parse_amount(&num("1E3")).unwrap().to_string(), "1000");
        assert_eq!(parse_amount(&num("12.5e-3")).unwrap().to_string(), "0.0125");
        assert_eq!(parse_amount(&num("1.25e1")).unwrap().to_string(), "12.5");
    }

    #[test]
    fn strings_follow_the_same_grammar() {
        assert_eq!(parse_amount(&json!("+5.")).unwrap().to_string(), "5");
        assert_eq!(parse_amount(&json!(".5")).unwrap().to_string(), "0.5");
        for bad in [
            "", " ", "1,000.00", "$5", "(5.00)", "1_000", "5..0", "e5", "1e", "--1", "+-1", "-+1",
            "0x10", "1e5.5",
        ] {
            assert_eq!(
                parse_amount(&json!(bad)),
                Err(AmountError::NotANumber),
                "{bad:?}"
            );
        }
        for bad in ["NaN", "-inf", "Infinity", "+INF"] {
            assert_eq!(
                parse_amount(&json!(bad)),
                Err(AmountError::NotFinite),
                "{bad:?}"
            );
        }
        assert_eq!(parse_amount(&json!("1e400")), Err(AmountError::TooPrecise));
        assert_eq!(parse_amount(&json!("1e-40")), Err(AmountError::TooPrecise));
        assert_eq!(
            parse_amount(&json!(true)),
            Err(AmountError::WrongType("boolean"))
        );
        assert_eq!(
            parse_amount(&json!(null)),
            Err(AmountError::WrongType("null"))
        );
    }

    #[test]
    fn precision_rule() {
        let d = Decimal::new(-12345, 3);
        assert_eq!(
            to_currency_precision(d, 2, Rounding::Error),
            Err(AmountError::ExceedsCurrencyPrecision {
                actual: 3,
                allowed: 2
            })
        );
        assert_eq!(
            to_currency_precision(d, 2, Rounding::HalfAwayFromZero)
                .unwrap()
                .to_string(),
            "-12.35"
        );
        assert_eq!(
            to_currency_precision(Decimal::new(-0, 4), 2, Rounding::Error)
                .unwrap()
                .to_string(),
            "0.00"
        );
        assert_eq!(
            to_currency_precision(Decimal::new(1234000, 5), 2, Rounding::Error)
                .unwrap()
                .to_string(),
            "12.34"
        );
    }
}
