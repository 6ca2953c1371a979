//! Schedules: flows with cron cadences, and a runner that runs each due flow once.
//!
//! - [`FlowSchedule`]: a cron pattern (croner) in an IANA time zone (chrono-tz), with a
//!   [`MissedRunPolicy`] and a concurrency group;
//! - [`Runner`]: sleeps until the next due flow, leases it in the [`StateStore`], runs the
//!   caller's async job, bounded by global and per-group limits, and shuts down gracefully;
//! - [`Clock`]: injectable time ([`SystemClock`], and [`ManualClock`] for tests).
//!
//! [`StateStore`]: crate::store::StateStore

mod clock;
mod cron;
mod error;
mod runner;

pub use clock::{Clock, ManualClock, SystemClock};
pub use cron::{FlowSchedule, MissedRunPolicy, parse_cron};
pub use error::ScheduleError;
pub use runner::{
    FlowRun, JobError, RunOutcome, Runner, RunnerBuilder, RunnerEvent, RunnerReport,
    SCHEDULE_PARTITION, StopReason, StopSignal,
};
