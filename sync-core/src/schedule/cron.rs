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

/// A flow's cadence: a cron pattern (via `croner`) evaluated in an IANA time zone.
///
/// Patterns have five fields (minute, hour, day of month, month, day of week) or six with
/// seconds first; croner also accepts `L`, `#`, `W` and aliases such as `@daily`. Daylight
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
