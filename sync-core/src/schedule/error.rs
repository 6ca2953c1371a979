//! [`ScheduleError`]: what is wrong with a schedule or the runner, and what to do.

use crate::store::StoreError;

/// An error configuring schedules or starting the runner.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// The cron pattern could not be parsed.
    #[error(
        "flow `{flow}`: cron pattern {pattern:?} is invalid: {reason}; use five fields (minute hour day-of-month month day-of-week, e.g. \"0 2 * * *\"), optionally with seconds first"
    )]
    InvalidCron {
        /// The flow.
        flow: String,
        /// The pattern.
        pattern: String,
        /// The parser's complaint.
        reason: String,
    },

    /// The time zone name is not in the IANA database.
    #[error(
        "flow `{flow}`: time zone {zone:?} is unknown; use an IANA name such as \"Europe/Berlin\" or \"UTC\""
    )]
    UnknownTimeZone {
        /// The flow.
        flow: String,
        /// The rejected name.
        zone: String,
    },

    /// The pattern never fires after the given time (e.g. 30 February).
    #[error(
        "flow `{flow}`: cron pattern {pattern:?} has no occurrence after {after}; check the day and month fields"
    )]
    NoOccurrence {
        /// The flow.
        flow: String,
        /// The pattern.
        pattern: String,
        /// The instant searched from.
        after: chrono::DateTime<chrono::Utc>,
    },

    /// Two schedules for the same flow.
    #[error("flow `{flow}` is scheduled twice; give each flow one schedule")]
    DuplicateFlow {
        /// The flow.
        flow: String,
    },

    /// A runner setting is out of range.
    #[error("invalid runner setting {what}: {reason}")]
    InvalidConfig {
        /// The setting.
        what: &'static str,
        /// Why, and what is accepted.
        reason: String,
    },

    /// The state store failed while the runner started.
    #[error("the schedule runner could not read its state: {0}")]
    Store(#[from] StoreError),
}
