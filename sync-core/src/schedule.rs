//! Schedules: flows with cron cadences, and a runner that runs each due flow once.

mod clock;

pub use clock::{Clock, ManualClock, SystemClock};
