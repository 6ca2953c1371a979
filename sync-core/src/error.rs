//! [`Error`]: the one error type of the crate's flows, wrapping the errors of every module and
//! of both API clients, with predicates that tell a caller what to do next.

use crate::key::KeyParseError;
use crate::mapping::MappingError;
use crate::schedule::ScheduleError;
use crate::store::StoreError;
use crate::validate::ValidationReport;
use crate::vault::VaultError;
use crate::warehouse::WarehouseError;

/// Everything that can stop a flow, or one of its steps.
///
/// Module errors convert with `?` ([`StoreError`], [`MappingError`], [`ValidationReport`],
/// [`WarehouseError`], [`VaultError`], [`ScheduleError`], [`KeyParseError`] and, with the `flows` feature, `acumatica_client::Error` and
/// `looker_client::Error`). Ask it questions rather than matching on every variant:
/// [`is_retryable`](Self::is_retryable), [`is_fenced`](Self::is_fenced),
/// [`is_outcome_unknown`](Self::is_outcome_unknown), [`is_invalid_data`](Self::is_invalid_data),
/// [`is_config`](Self::is_config).
///
/// Messages never contain secrets: the client errors redact credentials themselves, and the
/// flows only add names, keys and numbers.
///
/// ```
/// use sync_core::Error;
///
/// let err = Error::config("post.lookup_page_size", "0 keys per lookup cannot find anything; use 1 to 20");
/// assert!(err.is_config());
/// assert!(!err.is_retryable());
/// assert!(err.to_string().contains("post.lookup_page_size"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The state store failed (see [`StoreError`]; a fenced error means this replica lost its
    /// lease).
    #[error(transparent)]
    Store(#[from] StoreError),

    /// A mapping file or the rows it maps are wrong.
    #[error(transparent)]
    Mapping(#[from] MappingError),

    /// Validation against Acumatica's reference data found problems: every one is listed.
    #[error("{0}")]
    Validation(Box<ValidationReport>),

    /// The warehouse could not be written (nothing of the failed call was written).
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),

    /// The credential vault failed (missing or wrong key, tampered record, ...).
    #[error(transparent)]
    Vault(#[from] VaultError),

    /// A schedule or the schedule runner failed.
    #[error(transparent)]
    Schedule(#[from] ScheduleError),

    /// A natural key read back (from the ledger or a description) is malformed.
    #[error(transparent)]
    Key(#[from] KeyParseError),

    /// A call to Acumatica failed.
    #[cfg(feature = "flows")]
    #[error("Acumatica: {0}")]
    Acumatica(#[from] acumatica_client::Error),

    /// A call to Looker failed.
    #[cfg(feature = "flows")]
    #[error("Looker: {0}")]
    Looker(#[from] looker_client::Error),

    /// A flow's configuration is wrong.
    #[error("flow setting `{setting}`: {problem}")]
    Config {
        /// The setting, as a TOML path (e.g. `looker.explore`).
        setting: String,
        /// What is wrong and how to fix it.
        problem: String,
    },

    /// Documents whose partition was already posted with other content, under the `fail`
    /// policy: nothing of the run was posted.
    #[error(
        "{} journal(s) changed after they were posted and the policy is `fail`, so nothing was posted: {}; correct the source, or set `changed_content` to `skip` or `reverse_and_repost`",
        .0.len(),
        changed_list(.0)
    )]
    ChangedContent(Vec<ChangedDocument>),

    /// Records read from a source could not be used (e.g. a warehouse record without an `id`).
    #[error("{what}: {detail}")]
    Data {
        /// What was being read.
        what: String,
        /// What was wrong with it.
        detail: String,
    },

    /// Another replica holds the flow's lease, so this run did not start.
    #[error(
        "flow `{flow}` is being run by another replica ({holder}); nothing was done, try again after that run ends (if that replica is gone but cannot be proved dead from here, release its lease by hand: `ml-connector lease release --flow {flow}`)"
    )]
    Busy {
        /// The flow.
        flow: String,
        /// Who holds the lease, and until when (for the message).
        holder: String,
    },

    /// The run was stopped by shutdown; state is saved and the next run continues.
    #[error(
        "flow `{flow}` was interrupted (asked to stop); its state is saved and the next run continues"
    )]
    Cancelled {
        /// The flow.
        flow: String,
    },

    /// An error from a user-supplied source or sink.
    #[error("{context}: {source}")]
    Other {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
        /// Whether repeating may succeed.
        retryable: bool,
    },
}

/// A document whose partition Acumatica already holds with other content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedDocument {
    /// The new document's natural key.
    pub natural_key: String,
    /// Its partition, readable (`period=102026 branch=HQ`).
    pub partition: String,
    /// Batch numbers already posted for the partition.
    pub posted_batches: Vec<String>,
}

fn changed_list(docs: &[ChangedDocument]) -> String {
    docs.iter()
        .map(|d| {
            format!(
                "[{}] (key {}) already posted as batch {}",
                d.partition,
                d.natural_key,
                d.posted_batches.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<ValidationReport> for Error {
    fn from(report: ValidationReport) -> Self {
        Self::Validation(Box::new(report))
    }
}

impl Error {
    /// A configuration error naming the setting and what to do.
    pub fn config(setting: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Config {
            setting: setting.into(),
            problem: problem.into(),
        }
    }

    /// A data error naming what was read and what was wrong.
    pub fn data(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Data {
            what: what.into(),
            detail: detail.into(),
        }
    }

    /// Wraps the error of a user-supplied source or sink.
    ///
    /// ```
    /// use sync_core::Error;
    /// let io = std::io::Error::other("disk full");
    /// let err = Error::other("writing warehouse table vendor", io, false);
    /// assert_eq!(err.to_string(), "writing warehouse table vendor: disk full");
    /// ```
    pub fn other(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
        retryable: bool,
    ) -> Self {
        Self::Other {
            context: context.into(),
            source: source.into(),
            retryable,
        }
    }

    /// True when repeating the same step later may succeed (a busy database, throttling, a
    /// transient server or network failure). Never true when a write may already have happened
    /// ([`is_outcome_unknown`](Self::is_outcome_unknown)).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Store(e) | Self::Schedule(ScheduleError::Store(e)) => e.is_retryable(),
            Self::Warehouse(e) => matches!(
                e,
                WarehouseError::Database { .. } | WarehouseError::Connect { .. }
            ),
            #[cfg(feature = "flows")]
            Self::Acumatica(e) => e.is_retryable(),
            #[cfg(feature = "flows")]
            Self::Looker(e) => e.is_retryable(),
            Self::Busy { .. } => true,
            Self::Other { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// True when this replica lost its lease: stop, write nothing more.
    pub fn is_fenced(&self) -> bool {
        matches!(self, Self::Store(e) | Self::Schedule(ScheduleError::Store(e)) if e.is_fenced())
    }

    /// True when a write to Acumatica may or may not have happened: the document must be looked
    /// up by its natural key before anything else, never sent again blindly.
    pub fn is_outcome_unknown(&self) -> bool {
        match self {
            #[cfg(feature = "flows")]
            Self::Acumatica(e) => e.is_outcome_unknown(),
            _ => false,
        }
    }

    /// True when the data itself is wrong (mapping, validation, changed content, unusable
    /// records): repeating will fail the same way until the data is fixed.
    pub fn is_invalid_data(&self) -> bool {
        match self {
            Self::Mapping(e) => !matches!(
                e,
                MappingError::Io { .. } | MappingError::Toml { .. } | MappingError::Config { .. }
            ),
            Self::Validation(_) | Self::ChangedContent(_) | Self::Data { .. } | Self::Key(_) => {
                true
            }
            Self::Warehouse(e) => matches!(e, WarehouseError::InvalidRecord { .. }),
            Self::Vault(e) => e.is_tampered(),
            #[cfg(feature = "flows")]
            Self::Acumatica(e) => !e.field_errors().is_empty(),
            _ => false,
        }
    }

    /// True for configuration mistakes (flow settings, mapping files, client settings).
    pub fn is_config(&self) -> bool {
        match self {
            Self::Config { .. } => true,
            Self::Warehouse(e) => matches!(e, WarehouseError::InvalidSpec { .. }),
            Self::Vault(e) => !e.is_tampered(),
            Self::Schedule(e) => !matches!(e, ScheduleError::Store(_)),
            Self::Mapping(e) => matches!(
                e,
                MappingError::Io { .. } | MappingError::Toml { .. } | MappingError::Config { .. }
            ),
            #[cfg(feature = "flows")]
            Self::Acumatica(e) => matches!(e.kind(), acumatica_client::ErrorKind::Config),
            #[cfg(feature = "flows")]
            Self::Looker(e) => matches!(e.kind(), looker_client::ErrorKind::Config),
            _ => false,
        }
    }

    /// True when another replica runs the flow now.
    pub fn is_busy(&self) -> bool {
        matches!(self, Self::Busy { .. })
    }

    /// The validation report, when validation stopped the run.
    pub fn validation_report(&self) -> Option<&ValidationReport> {
        match self {
            Self::Validation(r) => Some(r),
            _ => None,
        }
    }
}

/// Shorthand for results of this crate's flows.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Formats an error with its chain of sources (`a: b: c`), for audit summaries and logs (of the
/// post flows, hence only with the `flows` feature).
#[cfg(feature = "flows")]
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    use std::fmt;

    struct Chain<'a>(&'a (dyn std::error::Error + 'static));
    impl fmt::Display for Chain<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}", self.0)?;
            let mut cur = self.0.source();
            while let Some(s) = cur {
                let text = s.to_string();
                if !self.0.to_string().contains(&text) {
                    write!(f, ": {text}")?;
                }
                cur = s.source();
            }
            Ok(())
        }
    }
    Chain(err).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_follow_the_wrapped_errors() {
        let fenced = Error::from(StoreError::LeaseNotHeld {
            flow: "f".into(),
            fence: 3,
        });
        assert!(fenced.is_fenced());
        assert!(!fenced.is_retryable());
        let mapping = Error::from(MappingError::Toml {
            message: "line 3".into(),
        });
        assert!(mapping.is_config());
        assert!(!mapping.is_invalid_data());
        let missing = Error::from(MappingError::MissingValue {
            row: 4,
            column: "v.account".into(),
            field: "account",
        });
        assert!(missing.is_invalid_data());
        assert!(missing.to_string().contains("row 4"));
        assert!(
            Error::Busy {
                flow: "f".into(),
                holder: "its lease is held".into()
            }
            .is_retryable()
        );
    }

    #[test]
    fn changed_content_names_every_document() {
        let err = Error::ChangedContent(vec![ChangedDocument {
            natural_key: "0123456789abcdef-fedcba9876543210".into(),
            partition: "period=102026 branch=HQ".into(),
            posted_batches: vec!["000042".into()],
        }]);
        let text = err.to_string();
        assert!(text.contains("period=102026 branch=HQ"), "{text}");
        assert!(text.contains("000042"), "{text}");
        assert!(text.contains("reverse_and_repost"), "{text}");
        assert!(err.is_invalid_data());
    }

    #[cfg(feature = "flows")]
    #[test]
    fn chain_skips_repeated_sources() {
        let err = Error::other("reading", std::io::Error::other("boom"), true);
        assert_eq!(chain(&err), "reading: boom");
        assert!(err.is_retryable());
    }
}
