//! [`FlowSchedule`]: a flow's cron cadence in a time zone, and its missed-run policy.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;

use super::ScheduleError;

/// What to do when the runner finds that a flow's due time passed while it was not running
/// (process down, machine asleep, previous run overran) by more than the misfire grace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedRunPolicy {
    /// Do not catch up; wait for the next due time.
    Skip,
    /// Run once now, however many due times were missed.
    #[default]
    RunOnce,
}

/// Parses a cron pattern as a configuration file should be read: five fields (minute, hour,
/// day of month, month, day of week; croner's `L`, `#`, `W` and aliases such as `@daily` are
/// accepted), or six with **seconds first only when `seconds` is true** (a six-field pattern
/// is otherwise a mistake more often than a wish: `0 6 1 * * *` would run at second 0 of
/// 06:01 every day, not at 06:00 on the 1st). A pattern that can never fire (`0 6 31 2 *`, the
/// 31st of February) is refused too. The error is the reason, in words.
///
/// ```
/// use sync_core::schedule::parse_cron;
/// assert!(parse_cron("0 6 1 * *", false).is_ok());
/// assert!(parse_cron("0 0 6 1 * *", false).unwrap_err().contains("six fields"));
/// assert!(parse_cron("0 0 6 1 * *", true).is_ok());
/// assert!(parse_cron("0 6 31 2 *", false).unwrap_err().contains("never"));
/// ```
pub fn parse_cron(pattern: &str, seconds: bool) -> Result<Cron, String> {
    use croner::parser::{CronParser, Seconds, Year};
    let fields = pattern.split_whitespace().count();
    let alias = pattern.trim_start().starts_with('@');
    if !alias {
        match (fields, seconds) {
            (5, false) | (6, true) => {}
            (6, false) => {
                return Err(
                    "it has six fields, so the first would be seconds; use five (minute hour \
                     day-of-month month day-of-week), or set cron_seconds = true on the flow \
                     if the first field is meant as seconds"
                        .to_owned(),
                );
            }
            (n, true) => {
                return Err(format!(
                    "cron_seconds = true needs six fields (second minute hour day-of-month \
                     month day-of-week); this pattern has {n}"
                ));
            }
            (n, false) => {
                return Err(format!(
                    "it has {n} field(s); use five: minute hour day-of-month month day-of-week"
                ));
            }
        }
    }
    let cron = CronParser::builder()
        .seconds(if seconds {
            Seconds::Required
        } else {
            Seconds::Optional
        })
        .year(Year::Disallowed)
        .build()
        .parse(pattern)
        .map_err(|e| e.to_string())?;
    if cron.find_next_occurrence(&Utc::now(), false).is_err() {
        return Err(
            "it never fires (no such date, e.g. the 31st of February); check the day-of-month and \
             month fields"
                .to_owned(),
        );
    }
    Ok(cron)
}

/// A flow's cadence: a cron pattern (via `croner`) evaluated in an IANA time zone.
///
/// Patterns have five fields (minute, hour, day of month, month, day of week) or six with
/// seconds first (a configuration file should read them with [`parse_cron`], which asks for
/// seconds explicitly); a pattern that never fires is refused; croner also accepts `L`, `#`, `W` and aliases such as `@daily`. Daylight
/// saving transitions follow croner's handling of the zone.
///
/// # Example
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use sync_core::schedule::{FlowSchedule, MissedRunPolicy};
///
/// // 02:00 Berlin time on the first of each month: the month-end allocation.
/// let s = FlowSchedule::new("gl-allocation", "0 2 1 * *", "Europe/Berlin")
///     .unwrap()
///     .missed(MissedRunPolicy::RunOnce);
/// let after = Utc.with_ymd_and_hms(2026, 1, 15, 0, 0, 0).unwrap();
/// // 1 February 02:00 CET is 01:00 UTC.
/// assert_eq!(s.next_after(after).unwrap(), Utc.with_ymd_and_hms(2026, 2, 1, 1, 0, 0).unwrap());
/// // The 31st of February never comes: refused at once.
/// assert!(FlowSchedule::new("x", "0 6 31 2 *", "UTC").is_err());
/// ```
#[derive(Debug, Clone)]
pub struct FlowSchedule {
    pub(super) flow: String,
    pattern: String,
    cron: Cron,
    zone: Tz,
    pub(super) missed: MissedRunPolicy,
    pub(super) group: String,
}

impl FlowSchedule {
    /// A schedule for `flow` firing on `pattern` in time zone `zone` (e.g. `"UTC"`,
    /// `"America/New_York"`), with the default policy [`MissedRunPolicy::RunOnce`] and group
    /// `"default"`.
    pub fn new(flow: &str, pattern: &str, zone: &str) -> Result<Self, ScheduleError> {
        if flow.trim().is_empty() {
            return Err(ScheduleError::InvalidConfig {
                what: "flow name",
                reason: "it is empty; name the flow the schedule runs".to_owned(),
            });
        }
        let cron = Cron::from_str(pattern).map_err(|e| ScheduleError::InvalidCron {
            flow: flow.to_owned(),
            pattern: pattern.to_owned(),
            reason: e.to_string(),
        })?;
        if cron.find_next_occurrence(&Utc::now(), false).is_err() {
            return Err(ScheduleError::NoOccurrence {
                flow: flow.to_owned(),
                pattern: pattern.to_owned(),
                after: Utc::now(),
            });
        }
        let zone = Tz::from_str(zone).map_err(|_| ScheduleError::UnknownTimeZone {
            flow: flow.to_owned(),
            zone: zone.to_owned(),
        })?;
        Ok(Self {
            flow: flow.to_owned(),
            pattern: pattern.to_owned(),
            cron,
            zone,
            missed: MissedRunPolicy::default(),
            group: "default".to_owned(),
        })
    }

    /// Sets the missed-run policy.
    pub fn missed(mut self, policy: MissedRunPolicy) -> Self {
        self.missed = policy;
        self
    }

    /// Puts the flow in a concurrency group (e.g. `"acumatica"` or `"looker"`: the side whose
    /// API limits matter); see [`RunnerBuilder::group_limit`](super::RunnerBuilder::group_limit).
    pub fn group(mut self, group: &str) -> Self {
        self.group = group.to_owned();
        self
    }

    /// The flow.
    pub fn flow(&self) -> &str {
        &self.flow
    }

    /// The cron pattern as given.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The time zone.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The first due time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Result<DateTime<Utc>, ScheduleError> {
        let local = after.with_timezone(&self.zone);
        self.cron
            .find_next_occurrence(&local, false)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| ScheduleError::NoOccurrence {
                flow: self.flow.clone(),
                pattern: self.pattern.clone(),
                after,
            })
    }

    /// The latest due time at or before `at`, if any.
    pub fn latest_at_or_before(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = at.with_timezone(&self.zone);
        self.cron
            .find_previous_occurrence(&local, true)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}
