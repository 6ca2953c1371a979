//! The one observation hook both clients report through: `tracing` events on
//! the target [`TARGET`], which a subscriber layer can count (the
//! `ml-connector` command turns them into Prometheus metrics) without the
//! clients depending on any metrics crate.
//!
//! Two events exist:
//!
//! - an **exchange** (level `DEBUG`), one per HTTP attempt: the system
//!   (`acumatica`, `looker`), the method, the status (absent when no response
//!   arrived) and the time to the response headers. Sent by the clients'
//!   transports through [`exchange`].
//! - a **retry summary** (level `WARN`), one per request that needed retries,
//!   sent by [`RetryPolicy::run_for`](crate::RetryPolicy::run_for): how many
//!   retries, how many of them after a 429, and whether the request finally
//!   succeeded. The single retries are logged at `DEBUG` only.
//!
//! [`HttpEvent::from_event`] reads either back from a [`tracing::Event`], so a
//! layer never parses field names itself.
//!
//! ```
//! use std::time::Duration;
//! use ml_connector_retry::observe::{self, HttpEvent};
//!
//! // What a transport does after each response:
//! observe::exchange("looker", "GET", Some(200), Duration::from_millis(12));
//! // A layer's `on_event` does:
//! # fn on_event(event: &tracing::Event<'_>) {
//! if let Some(HttpEvent::Exchange { system, status, .. }) = HttpEvent::from_event(event) {
//!     println!("{system} answered {status:?}");
//! }
//! # }
//! ```

use std::fmt;
use std::time::Duration;

use tracing::field::{Field, Visit};

/// The `tracing` target of every event of this module.
pub const TARGET: &str = "ml_connector::http";

/// Reports one HTTP attempt of `system`: its method, the status (`None` when
/// no response arrived: refused, timed out, broken off) and how long it took.
pub fn exchange(system: &'static str, method: &str, status: Option<u16>, elapsed: Duration) {
    tracing::debug!(
        target: TARGET,
        event = "exchange",
        system,
        method,
        status = status.map(u64::from),
        seconds = elapsed.as_secs_f64(),
        "HTTP exchange"
    );
}

/// What a retry summary says, sent once per request that was retried.
pub(crate) struct RetrySummary<'a> {
    pub system: &'a str,
    pub operation: &'a str,
    pub retries: u32,
    pub throttled: u32,
    pub succeeded: bool,
    pub last_error: &'a dyn fmt::Display,
}

pub(crate) fn retried(s: &RetrySummary<'_>) {
    let outcome = if s.succeeded { "succeeded" } else { "gave up" };
    tracing::warn!(
        target: TARGET,
        event = "retried",
        system = s.system,
        operation = s.operation,
        retries = s.retries,
        throttled = s.throttled,
        outcome,
        last_error = %s.last_error,
        "{} {}: {outcome} after {} retr{} ({} after a 429)",
        s.system,
        s.operation,
        s.retries,
        if s.retries == 1 { "y" } else { "ies" },
        s.throttled,
    );
}

/// An event of this module, read back from a [`tracing::Event`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum HttpEvent {
    /// One HTTP attempt (see [`exchange`]).
    Exchange {
        /// `acumatica` or `looker`.
        system: String,
        /// `GET`, `PUT`, ...
        method: String,
        /// The HTTP status; `None` when no response arrived.
        status: Option<u16>,
        /// Time to the response headers (or to the failure).
        seconds: f64,
    },
    /// A request that needed retries.
    Retried {
        /// `acumatica` or `looker`.
        system: String,
        /// How many times the request was sent again.
        retries: u64,
        /// How many of those retries followed a 429.
        throttled: u64,
        /// Whether the request finally succeeded.
        succeeded: bool,
    },
}

impl HttpEvent {
    /// Reads an event sent by this module; `None` for any other event.
    ///
    /// ```
    /// # fn on_event(event: &tracing::Event<'_>) {
    /// use ml_connector_retry::observe::HttpEvent;
    /// match HttpEvent::from_event(event) {
    ///     Some(HttpEvent::Retried { system, retries, .. }) => println!("{system}: {retries}"),
    ///     _ => {}
    /// }
    /// # }
    /// ```
    pub fn from_event(event: &tracing::Event<'_>) -> Option<HttpEvent> {
        if event.metadata().target() != TARGET {
            return None;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        match fields.event.as_str() {
            "exchange" => Some(HttpEvent::Exchange {
                system: fields.system,
                method: fields.method,
                status: fields.status.and_then(|s| u16::try_from(s).ok()),
                seconds: fields.seconds,
            }),
            "retried" => Some(HttpEvent::Retried {
                system: fields.system,
                retries: fields.retries,
                throttled: fields.throttled,
                succeeded: fields.outcome == "succeeded",
            }),
            _ => None,
        }
    }
}

#[derive(Default)]
struct Fields {
    event: String,
    system: String,
    method: String,
    outcome: String,
    status: Option<u64>,
    seconds: f64,
    retries: u64,
    throttled: u64,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        let slot = match field.name() {
            "event" => &mut self.event,
            "system" => &mut self.system,
            "method" => &mut self.method,
            "outcome" => &mut self.outcome,
            _ => return,
        };
        value.clone_into(slot);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "status" => self.status = Some(value),
            "retries" => self.retries = value,
            "throttled" => self.throttled = value,
            _ => {}
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "seconds" {
            self.seconds = value;
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn fmt::Debug) {}
}
