//! The primary flow's configuration, readable from TOML.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::foreign::ForeignJournalPolicy;

use crate::error::{Error, Result};
use crate::key::{ChangedContentPolicy, LOOKUP_PAGE_SIZE};
pub use crate::looker_query::{LookerQueryConfig, LookerReadMode, LookerTaskConfig};
use crate::mapping::JournalMapping;
use crate::validate::ValidationPolicy;

/// How the primary flow posts.
///
/// ```
/// use sync_core::post::PostOptions;
/// let o = PostOptions::default();
/// assert!(!o.release);
/// assert_eq!(o.lookup_page_size, 20);
/// assert_eq!(o.concurrency, 1);
/// let fast = PostOptions { concurrency: 4, ..PostOptions::default() };
/// assert!(fast.check().is_ok());
/// let err = PostOptions { concurrency: 0, ..PostOptions::default() }.check().unwrap_err();
/// assert!(err.to_string().contains("post.concurrency"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostOptions {
    /// Which journals may be posted when some have problems (default: all or nothing).
    pub validation: ValidationPolicy,
    /// What to do when a journal's partition was posted with other content (default: fail).
    pub changed_content: ChangedContentPolicy,
    /// Release each batch after creating it (default: no; batches stay balanced for review).
    pub release: bool,
    /// Natural keys per lookup request (1 to [`LOOKUP_PAGE_SIZE`], the default).
    pub lookup_page_size: usize,
    /// How long the flow's lease lasts without renewal, in seconds (default 300). The flow
    /// renews it as it goes.
    pub lease_ttl_secs: u64,
    /// Creates in flight at once (1 to [`MAX_CONCURRENCY`]; default 1). Above 1, consecutive
    /// journals to create are sent together and their outcomes recorded in order; every intent
    /// is recorded before its create, so a crash mid-window is reconciled by lookup like any
    /// other. Keep it within the Acumatica licence's concurrent-request limit (the client's
    /// `max_concurrent_requests` paces requests beyond it).
    pub concurrency: usize,
    /// What to do when Acumatica holds journals of this connector for a period and branch the
    /// run posts to, under a partition the run does not produce (a renamed flow or `group_by`
    /// value): `warn` (default), `refuse` or `ignore`; see [`ForeignJournalPolicy`].
    pub foreign_journals: ForeignJournalPolicy,
    /// How long after a create was (possibly) sent Acumatica may still apply it, in seconds
    /// (default [`DEFAULT_SETTLE_HORIZON`]: the client's default request timeout, 660 s, plus
    /// the ten minutes a request may wait in the licence queue, FACTS §4). Until the horizon
    /// has passed, a document whose create may still be in flight and that a lookup does not
    /// find is **not** concluded absent: it stays pending, nothing else is created in its
    /// partition, and the run ends with errors; a run after the horizon settles it. It must be
    /// at least the Acumatica client's request timeout
    /// ([`check_settle_horizon`](Self::check_settle_horizon)).
    pub settle_horizon_secs: u64,
    /// The fewest rows the Looker query must return (default: none). Fewer is an error that
    /// stops the run before anything is posted (an empty or short allocation usually means a
    /// broken model or filter, not a quiet month); without it an empty result is only a
    /// warning, logged and in the run's summary.
    pub min_rows: Option<u64>,
}

/// The most creates [`PostOptions::concurrency`] lets run at once.
pub const MAX_CONCURRENCY: usize = 16;

/// How long Acumatica may keep a request in its licence queue before it declines it (FACTS §4:
/// "a request is declined only if ... the request has waited more than 10 minutes").
pub const LICENCE_QUEUE_WAIT: Duration = Duration::from_secs(600);

/// The default [`PostOptions::settle_horizon_secs`]: the Acumatica client's default request
/// timeout plus [`LICENCE_QUEUE_WAIT`] (1260 s).
///
/// ```
/// assert_eq!(sync_core::post::DEFAULT_SETTLE_HORIZON.as_secs(), 660 + 600);
/// ```
pub const DEFAULT_SETTLE_HORIZON: Duration =
    Duration::from_secs(acumatica_client::DEFAULT_TIMEOUT.as_secs() + LICENCE_QUEUE_WAIT.as_secs());

impl Default for PostOptions {
    fn default() -> Self {
        Self {
            validation: ValidationPolicy::default(),
            changed_content: ChangedContentPolicy::default(),
            release: false,
            lookup_page_size: LOOKUP_PAGE_SIZE,
            lease_ttl_secs: 300,
            concurrency: 1,
            foreign_journals: ForeignJournalPolicy::default(),
            settle_horizon_secs: DEFAULT_SETTLE_HORIZON.as_secs(),
            min_rows: None,
        }
    }
}

impl PostOptions {
    /// The lease TTL.
    pub fn lease_ttl(&self) -> Duration {
        Duration::from_secs(self.lease_ttl_secs)
    }

    /// The settle horizon ([`settle_horizon_secs`](Self::settle_horizon_secs)).
    pub fn settle_horizon(&self) -> Duration {
        Duration::from_secs(self.settle_horizon_secs)
    }

    /// Checks the settle horizon against the request timeout of the Acumatica client that
    /// sends the creates: a write may still be in Acumatica's queue when the client gives up
    /// on it, so a horizon shorter than the timeout could conclude "never created" while the
    /// write is still pending, and post the journal twice.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sync_core::post::PostOptions;
    /// let o = PostOptions { settle_horizon_secs: 120, ..PostOptions::default() };
    /// assert!(o.check_settle_horizon(Duration::from_secs(60)).is_ok());
    /// let err = o.check_settle_horizon(Duration::from_secs(660)).unwrap_err();
    /// assert!(err.to_string().contains("post.settle_horizon_secs"), "{err}");
    /// ```
    ///
    /// # Errors
    /// A configuration error naming `post.settle_horizon_secs` when it is shorter than
    /// `request_timeout`.
    pub fn check_settle_horizon(&self, request_timeout: Duration) -> Result<()> {
        if self.settle_horizon() < request_timeout {
            return Err(Error::config(
                "post.settle_horizon_secs",
                format!(
                    "{} s is shorter than the Acumatica request timeout ({} s): a create the client gave up on may still be waiting in Acumatica's queue, and a shorter horizon would take it for never created and post the journal twice; use at least {} (the timeout), better {} (timeout plus the licence queue's {} s)",
                    self.settle_horizon_secs,
                    request_timeout.as_secs(),
                    request_timeout.as_secs_f64().ceil() as u64,
                    request_timeout.as_secs_f64().ceil() as u64 + LICENCE_QUEUE_WAIT.as_secs(),
                    LICENCE_QUEUE_WAIT.as_secs(),
                ),
            ));
        }
        Ok(())
    }

    /// Checks the values, naming the setting that is wrong.
    ///
    /// # Errors
    /// A configuration error for a lookup page size outside 1..=20, a concurrency outside
    /// 1..=16, a lease TTL outside 10 s..=24 h or a settle horizon outside 1 s..=24 h.
    pub fn check(&self) -> Result<()> {
        if !(1..=24 * 3600).contains(&self.settle_horizon_secs) {
            return Err(Error::config(
                "post.settle_horizon_secs",
                format!(
                    "{} is out of range; use 1 to 86400 seconds, at least the Acumatica request timeout (default {})",
                    self.settle_horizon_secs,
                    DEFAULT_SETTLE_HORIZON.as_secs()
                ),
            ));
        }
        if !(1..=LOOKUP_PAGE_SIZE).contains(&self.lookup_page_size) {
            return Err(Error::config(
                "post.lookup_page_size",
                format!(
                    "{} is out of range; use 1 to {LOOKUP_PAGE_SIZE} keys per lookup request (longer filters risk URL length limits)",
                    self.lookup_page_size
                ),
            ));
        }
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            return Err(Error::config(
                "post.concurrency",
                format!(
                    "{} is out of range; use 1 (one create at a time) to {MAX_CONCURRENCY}, within the Acumatica licence's concurrent-request limit",
                    self.concurrency
                ),
            ));
        }
        if !(10..=24 * 3600).contains(&self.lease_ttl_secs) {
            return Err(Error::config(
                "post.lease_ttl_secs",
                format!(
                    "{} is out of range; use 10 seconds to 86400 (24 hours)",
                    self.lease_ttl_secs
                ),
            ));
        }
        Ok(())
    }
}

/// A post flow as a file describes it: the Looker query, the mapping, and the options.
///
/// ```
/// use sync_core::post::PostFlowConfig;
///
/// let config = PostFlowConfig::from_toml_str(r#"
/// mapping_file = "overhead_allocation.toml"
///
/// [looker]
/// model = "finance"
/// explore = "overhead_allocation"
///
/// [post]
/// release = true
/// changed_content = "reverse_and_repost"
/// "#, None).unwrap();
/// assert!(config.post.release);
/// assert_eq!(config.mapping_file.unwrap().to_str(), Some("overhead_allocation.toml"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostFlowConfig {
    /// The mapping file (relative paths are read from the configuration file's directory).
    #[serde(default)]
    pub mapping_file: Option<PathBuf>,
    /// The mapping inline, instead of a file.
    #[serde(default)]
    pub mapping: Option<JournalMapping>,
    /// The Looker query.
    pub looker: LookerQueryConfig,
    /// Posting options.
    #[serde(default)]
    pub post: PostOptions,
}

impl PostFlowConfig {
    /// Parses a configuration; `base_dir` resolves a relative `mapping_file`.
    ///
    /// # Errors
    /// A configuration error naming the line for invalid TOML or settings.
    pub fn from_toml_str(text: &str, base_dir: Option<&Path>) -> Result<Self> {
        let mut config: Self = toml::from_str(text)
            .map_err(|e| Error::config("post flow file", format!("not a valid post flow: {e}")))?;
        if let (Some(dir), Some(file)) = (base_dir, &config.mapping_file)
            && file.is_relative()
        {
            config.mapping_file = Some(dir.join(file));
        }
        config.check()?;
        Ok(config)
    }

    /// Reads and parses a configuration file.
    ///
    /// # Errors
    /// An I/O error as a configuration error naming the path, or a parse error.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(
                "post flow file",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        Self::from_toml_str(&text, path.parent())
    }

    /// Checks the settings that need no file access.
    ///
    /// # Errors
    /// A configuration error naming the setting.
    pub fn check(&self) -> Result<()> {
        match (&self.mapping_file, &self.mapping) {
            (None, None) => {
                return Err(Error::config(
                    "mapping_file",
                    "no mapping given; set `mapping_file` to a mapping TOML file, or write the mapping inline under [mapping]",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(Error::config(
                    "mapping_file",
                    "both `mapping_file` and an inline [mapping] are given; keep one",
                ));
            }
            _ => {}
        }
        if self.looker.model.trim().is_empty() || self.looker.explore.trim().is_empty() {
            return Err(Error::config(
                "looker.model",
                "the LookML model and explore must both be named",
            ));
        }
        if self.looker.page_rows == 0 {
            return Err(Error::config(
                "looker.page_rows",
                "0 rows per page cannot make progress; use at least 1",
            ));
        }
        if self.looker.limit == 0 || self.looker.limit < -1 {
            return Err(Error::config(
                "looker.limit",
                format!(
                    "{} is not a row limit; use -1 for every row or a positive number",
                    self.looker.limit
                ),
            ));
        }
        self.looker.check()?;
        self.post.check()
    }

    /// The mapping: the inline one, or the file read and checked.
    ///
    /// # Errors
    /// A mapping error naming the file and what is wrong with it.
    pub fn load_mapping(&self) -> Result<JournalMapping> {
        match (&self.mapping, &self.mapping_file) {
            (Some(m), _) => {
                m.check()?;
                Ok(m.clone())
            }
            (None, Some(path)) => Ok(JournalMapping::from_toml_file(path)?),
            (None, None) => Err(Error::config("mapping_file", "no mapping given")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_named() {
        let base = r#"
mapping_file = "m.toml"
[looker]
model = "finance"
explore = "overhead_allocation"
"#;
        let ok = PostFlowConfig::from_toml_str(base, Some(Path::new("/etc/mlc"))).unwrap();
        assert_eq!(ok.mapping_file.unwrap(), Path::new("/etc/mlc/m.toml"));
        let err =
            PostFlowConfig::from_toml_str(&format!("{base}[post]\nlookup_page_size = 50\n"), None)
                .unwrap_err();
        assert!(err.to_string().contains("post.lookup_page_size"), "{err}");
        let err = PostFlowConfig::from_toml_str(&format!("{base}[post]\nrelase = true\n"), None)
            .unwrap_err();
        assert!(err.to_string().contains("relase"), "{err}");
        let err = PostFlowConfig::from_toml_str("[looker]\nmodel = \"m\"\nexplore = \"e\"\n", None)
            .unwrap_err();
        assert!(err.to_string().contains("mapping_file"), "{err}");
    }
}
