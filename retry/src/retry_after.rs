//! `Retry-After` parsing (RFC 9110 section 10.2.3).

use std::time::{Duration, SystemTime};

/// Parses a `Retry-After` header value relative to the current wall clock.
///
/// Accepts both forms the RFC allows: a number of seconds (`"120"`) and an
/// HTTP-date (`"Wed, 21 Oct 2015 07:28:00 GMT"`). A date in the past gives a
/// zero wait. Anything else gives `None`, so the caller falls back to its own
/// backoff instead of failing.
///
/// ```
/// use std::time::Duration;
/// use ml_connector_retry::parse_retry_after;
///
/// assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
/// assert_eq!(parse_retry_after("soon"), None);
/// ```
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    parse_retry_after_at(value, SystemTime::now())
}

/// Like [`parse_retry_after`], with an explicit "now" for HTTP-dates.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use ml_connector_retry::parse_retry_after_at;
///
/// // 1445412480 is Wed, 21 Oct 2015 07:28:00 GMT.
/// let now = UNIX_EPOCH + Duration::from_secs(1_445_412_480 - 30);
/// assert_eq!(
///     parse_retry_after_at("Wed, 21 Oct 2015 07:28:00 GMT", now),
///     Some(Duration::from_secs(30))
/// );
/// ```
pub fn parse_retry_after_at(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // Saturate absurdly large values instead of rejecting them; the
        // policy caps the wait anyway.
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn delta_seconds() {
        assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("99999999999999999999999"),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn http_date_future_and_past() {
        let date = "Wed, 21 Oct 2015 07:28:00 GMT";
        let at = UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(
            parse_retry_after_at(date, at - Duration::from_secs(90)),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_retry_after_at(date, at + Duration::from_secs(5)),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn garbage_is_none() {
        for bad in ["", "  ", "-1", "1.5", "tomorrow", "Wed, 99 Oct 2015"] {
            assert_eq!(parse_retry_after(bad), None, "{bad:?}");
        }
    }
}
