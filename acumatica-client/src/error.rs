//! One error type for the whole crate, with predicates instead of a large
//! public enum to match on.

use std::fmt;
use std::time::Duration;

/// Everything that can go wrong when talking to Acumatica.
///
/// Ask it questions ([`is_retryable`](Self::is_retryable),
/// [`is_not_found`](Self::is_not_found), [`retry_after`](Self::retry_after),
/// [`field_errors`](Self::field_errors)) or match on [`kind`](Self::kind).
/// The message never contains secrets (passwords, tokens, cookies).
///
/// ```
/// use acumatica_client::{Client, ErrorKind};
///
/// let err = Client::builder("ftp://erp.example.com").endpoint_version("24.200.001").build().unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::Config));
/// assert!(!err.is_retryable());
/// assert!(err.to_string().contains("http"));
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    status: Option<u16>,
    retry_after: Option<Duration>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
    /// Already retried by an inner loop (a sign-in inside a request): the
    /// outer loop must not multiply the attempts.
    retried: bool,
}

/// What kind of failure an [`Error`] is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The client configuration is invalid (bad URL, version format, missing
    /// credentials, a path outside the site).
    Config,
    /// Sign-in failed or the server refused our credentials or token (401,
    /// wrong password, a token endpoint 4xx).
    Authentication,
    /// The licence's limit of concurrent API users was reached ("API Login
    /// Limit"); log out idle sessions or wait for them to expire (10 min).
    LoginLimit,
    /// The record does not exist (Acumatica answers a missing key with HTTP
    /// 500 `NoEntitySatisfiesTheConditionException`, or 404 for a missing
    /// action or path).
    NotFound,
    /// The configured endpoint name/version is not offered by the site.
    EndpointVersionNotFound {
        /// `Name/Version` that was configured.
        requested: String,
        /// Versions of that endpoint name the site offers.
        available: Vec<String>,
    },
    /// The server rejected the record (HTTP 422 or 400) and named the fields.
    Validation(Vec<FieldError>),
    /// An `If-Match`/`If-None-Match` precondition failed (HTTP 412): an
    /// insert found the record already there, or an update did not find it.
    PreconditionFailed,
    /// Rate or concurrency limit of the licence (HTTP 429).
    Throttled,
    /// The server failed (HTTP 5xx); `exceptionType`/`exceptionMessage` from
    /// the body when present.
    Server {
        /// .NET exception type, such as `PX.Data.PXException`.
        exception_type: Option<String>,
        /// The exception's message.
        exception_message: Option<String>,
    },
    /// Any other HTTP status the API does not document for the call (403,
    /// 3xx redirects, 409, ...).
    Http,
    /// The request never got a response (DNS, TCP, TLS, timeout before any
    /// byte was sent for a write).
    Transport,
    /// The response could not be decoded; `path` is the JSON path that failed.
    Decode {
        /// JSON path such as `[3].Details[0].DebitAmount`, or empty.
        path: String,
    },
    /// A write may or may not have been applied (timeout or dropped
    /// connection after the request was sent, or an empty success body).
    /// It is never retried automatically: look the document up by its
    /// natural key before trying again.
    OutcomeUnknown,
    /// A query cannot be expressed for this entity (e.g. changes since a
    /// time for an entity without `LastModifiedDateTime`).
    Unsupported,
    /// An action is still running after the configured wait.
    ActionTimedOut,
}

/// One field-level message from a rejected record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Where the message was found: `""` for the record itself, `Amount`,
    /// `Details[0].Project`, `MainContact.Email`, `custom.Document.UsrX`.
    pub path: String,
    /// The server's message.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                status: None,
                retry_after: None,
                source: None,
                retried: false,
            }),
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    pub(crate) fn decode(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Decode { path: path.into() }, message)
    }

    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.inner.status = Some(status);
        self
    }

    pub(crate) fn with_retry_after(mut self, wait: Option<Duration>) -> Self {
        self.inner.retry_after = wait;
        self
    }

    /// Marks an error that its own retry loop has already retried, so an
    /// enclosing loop returns it at once.
    pub(crate) fn retried(mut self) -> Self {
        self.inner.retried = true;
        self
    }

    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.inner.source = Some(Box::new(source));
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// The HTTP status, when a response was received.
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }

    /// The message, without the kind prefix.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// Whether sending the same request again may succeed: throttling,
    /// transient server failures and transport failures. Never true for
    /// [`ErrorKind::OutcomeUnknown`] or validation errors.
    pub fn is_retryable(&self) -> bool {
        match &self.inner.kind {
            ErrorKind::Throttled | ErrorKind::Transport => true,
            ErrorKind::Server { exception_type, .. } => {
                !is_deterministic(exception_type.as_deref())
            }
            _ => false,
        }
    }

    /// The wait the server asked for (`Retry-After` header or a `retryAfter`
    /// body field).
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// `true` for a missing record, path or action.
    pub fn is_not_found(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::NotFound)
    }

    /// `true` for sign-in and token failures.
    pub fn is_authentication(&self) -> bool {
        matches!(
            self.inner.kind,
            ErrorKind::Authentication | ErrorKind::LoginLimit
        )
    }

    /// `true` when a write may have happened and must not be repeated blindly.
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::OutcomeUnknown)
    }

    /// `true` for HTTP 429.
    pub fn is_throttled(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::Throttled)
    }

    /// The field-level messages of a validation error (empty otherwise).
    pub fn field_errors(&self) -> &[FieldError] {
        match &self.inner.kind {
            ErrorKind::Validation(errors) => errors,
            _ => &[],
        }
    }
}

/// Server exceptions that will fail the same way every time.
fn is_deterministic(exception_type: Option<&str>) -> bool {
    const DETERMINISTIC: [&str; 6] = [
        "CannotOptimizeException",
        "PXSetupNotEnteredException",
        "PXUndefinedCompanyException",
        "PXInvalidOperationException",
        "PXException",
        "NoEntitySatisfiesTheConditionException",
    ];
    exception_type.is_some_and(|t| DETERMINISTIC.iter().any(|d| t.ends_with(d)))
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match &self.inner.kind {
            ErrorKind::Config => "configuration error",
            ErrorKind::Authentication => "authentication failed",
            ErrorKind::LoginLimit => "API login limit reached",
            ErrorKind::NotFound => "not found",
            ErrorKind::EndpointVersionNotFound { .. } => "endpoint version not found",
            ErrorKind::Validation(_) => "validation failed",
            ErrorKind::PreconditionFailed => "precondition failed",
            ErrorKind::Throttled => "throttled",
            ErrorKind::Server { .. } => "server error",
            ErrorKind::Http => "unexpected HTTP response",
            ErrorKind::Transport => "transport error",
            ErrorKind::Decode { .. } => "could not decode the response",
            ErrorKind::OutcomeUnknown => "outcome unknown",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::ActionTimedOut => "action timed out",
        };
        write!(f, "{label}")?;
        if let Some(status) = self.inner.status {
            write!(f, " (HTTP {status})")?;
        }
        write!(f, ": {}", self.inner.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.inner.kind)
            .field("status", &self.inner.status)
            .field("message", &self.inner.message)
            .field("retry_after", &self.inner.retry_after)
            .field("source", &self.inner.source)
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl ml_connector_retry::Classify for Error {
    fn is_retryable(&self) -> bool {
        !self.inner.retried && Error::is_retryable(self)
    }
    fn retry_after(&self) -> Option<Duration> {
        Error::retry_after(self)
    }
    fn is_refused(&self) -> bool {
        std::error::Error::source(self).is_some_and(ml_connector_retry::is_connection_refused)
    }
    fn status(&self) -> Option<u16> {
        self.inner.status
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryability() {
        assert!(Error::new(ErrorKind::Throttled, "x").is_retryable());
        assert!(Error::new(ErrorKind::Transport, "x").is_retryable());
        let transient = ErrorKind::Server {
            exception_type: None,
            exception_message: None,
        };
        assert!(Error::new(transient, "x").is_retryable());
        let business = ErrorKind::Server {
            exception_type: Some("PX.Data.PXException".into()),
            exception_message: None,
        };
        assert!(!Error::new(business, "x").is_retryable());
        assert!(!Error::new(ErrorKind::OutcomeUnknown, "x").is_retryable());
        assert!(!Error::new(ErrorKind::Validation(vec![]), "x").is_retryable());
    }

    #[test]
    fn display_has_kind_status_and_message() {
        let e = Error::new(ErrorKind::Throttled, "slow down").with_status(429);
        assert_eq!(e.to_string(), "throttled (HTTP 429): slow down");
    }
}
