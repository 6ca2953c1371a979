//! A Looker query as a source of rows, shared by the flows that read Looker (post and
//! reference): its configuration ([`LookerQueryConfig`], readable from TOML) and the source
//! ([`LookerQuerySource`]) that validates the query's fields against its explore, runs it and
//! hands the rows on in pages.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use looker_client::{ResultFormat, Row, RunOptions, TaskOptions, WriteQuery};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::mapping::JournalMapping;
use crate::traits::{PageStream, RecordSource};

/// Which Looker query feeds the flow.
///
/// ```
/// let q: sync_core::post::LookerQueryConfig = toml::from_str(r#"
/// model = "finance"
/// explore = "overhead_allocation"
/// filters = { "overhead_allocation.period" = "102026" }
/// "#).unwrap();
/// assert!(q.fields.is_empty()); // the mapping's columns are requested
/// assert_eq!(q.limit, -1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookerQueryConfig {
    /// LookML model.
    pub model: String,
    /// Explore (the query's `view`).
    pub explore: String,
    /// Fields to select; empty means exactly the columns the mapping reads.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Filters: field name to Looker filter expression.
    #[serde(default)]
    pub filters: BTreeMap<String, String>,
    /// Sorts (`view.field desc`).
    #[serde(default)]
    pub sorts: Vec<String>,
    /// Row limit; `-1` (the default) reads every row. A result that reaches a positive limit
    /// is an error, never silently cut.
    #[serde(default = "unlimited")]
    pub limit: i64,
    /// Rows per page handed to the flow (default 500).
    #[serde(default = "default_page_rows")]
    pub page_rows: usize,
    /// How the query runs: `auto` (the default), `task` or `inline`.
    #[serde(default)]
    pub mode: LookerReadMode,
    /// The async query task's deadline and polling (`[looker.task]`), when one runs.
    #[serde(default)]
    pub task: LookerTaskConfig,
}

fn unlimited() -> i64 {
    -1
}

/// How a flow runs its Looker query (`mode` of `[flows.<name>.looker]`).
///
/// ```
/// use sync_core::post::{LookerQueryConfig, LookerReadMode};
/// let q: LookerQueryConfig = toml::from_str("model = \"m\"\nexplore = \"e\"\nlimit = 100").unwrap();
/// assert_eq!(q.mode, LookerReadMode::Auto);
/// assert!(!q.uses_task()); // 100 rows fit in one inline request
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LookerReadMode {
    /// An async query task when the row limit is above the inline cap
    /// ([`looker_client::DEFAULT_ROW_LIMIT`], 5000 rows) or unlimited (`-1`), else inline.
    #[default]
    Auto,
    /// Always an async query task (`POST /query_tasks`, polled, its results streamed): no
    /// request has to last as long as the query, so no proxy timeout cuts it.
    Task,
    /// Always one inline request (`POST /queries/run/json`), its body streamed.
    Inline,
}

/// The async query task's deadline and polling (`[flows.<name>.looker.task]`).
///
/// ```
/// let t: sync_core::post::LookerTaskConfig = toml::from_str("deadline_secs = 1800").unwrap();
/// assert_eq!((t.deadline_secs, t.first_poll_ms, t.max_poll_ms), (1800, 20, 5000));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookerTaskConfig {
    /// The longest the task may run before its results start, in seconds (default 600); then
    /// it is cancelled and the run fails.
    #[serde(default = "default_deadline_secs")]
    pub deadline_secs: u64,
    /// The first wait between status checks, in milliseconds (default 20); waits double.
    #[serde(default = "default_first_poll_ms")]
    pub first_poll_ms: u64,
    /// The longest wait between status checks, in milliseconds (default 5000).
    #[serde(default = "default_max_poll_ms")]
    pub max_poll_ms: u64,
}

fn default_deadline_secs() -> u64 {
    600
}

fn default_first_poll_ms() -> u64 {
    looker_client::DEFAULT_FIRST_POLL.as_millis() as u64
}

fn default_max_poll_ms() -> u64 {
    looker_client::DEFAULT_MAX_POLL.as_millis() as u64
}

impl Default for LookerTaskConfig {
    fn default() -> Self {
        Self {
            deadline_secs: default_deadline_secs(),
            first_poll_ms: default_first_poll_ms(),
            max_poll_ms: default_max_poll_ms(),
        }
    }
}

impl LookerTaskConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// A configuration error naming the key (`looker.task.deadline_secs`, ...) for a zero
    /// deadline or wait, or a longest wait below the first.
    pub fn check(&self) -> Result<()> {
        if self.deadline_secs == 0 {
            return Err(Error::config(
                "looker.task.deadline_secs",
                "must be at least 1 (seconds the task may take before it is cancelled)",
            ));
        }
        if self.first_poll_ms == 0 {
            return Err(Error::config(
                "looker.task.first_poll_ms",
                "must be at least 1 (milliseconds before the second status check)",
            ));
        }
        if self.max_poll_ms < self.first_poll_ms {
            return Err(Error::config(
                "looker.task.max_poll_ms",
                format!(
                    "{} is below first_poll_ms ({}): the longest wait cannot be shorter than the \
                     first",
                    self.max_poll_ms, self.first_poll_ms
                ),
            ));
        }
        Ok(())
    }

    /// As the Looker client's task options.
    pub fn options(&self) -> TaskOptions {
        TaskOptions::new()
            .deadline(Duration::from_secs(self.deadline_secs))
            .poll_interval(
                Duration::from_millis(self.first_poll_ms),
                Duration::from_millis(self.max_poll_ms),
            )
    }
}

impl LookerQueryConfig {
    /// Whether the query runs as an async query task: always with `mode = "task"`, never with
    /// `"inline"`, and with `"auto"` when the row limit is unlimited or above the inline cap.
    ///
    /// ```
    /// use sync_core::post::LookerQueryConfig;
    /// let q: LookerQueryConfig = toml::from_str("model = \"m\"\nexplore = \"e\"").unwrap();
    /// assert!(q.uses_task()); // limit -1: every row, which may be many
    /// let q: LookerQueryConfig =
    ///     toml::from_str("model = \"m\"\nexplore = \"e\"\nmode = \"inline\"").unwrap();
    /// assert!(!q.uses_task());
    /// ```
    pub fn uses_task(&self) -> bool {
        match self.mode {
            LookerReadMode::Task => true,
            LookerReadMode::Inline => false,
            LookerReadMode::Auto => self.limit < 0 || self.limit > looker_client::DEFAULT_ROW_LIMIT,
        }
    }

    /// Checks the settings that parsing alone does not.
    ///
    /// # Errors
    /// A configuration error naming the key, as [`LookerTaskConfig::check`].
    pub fn check(&self) -> Result<()> {
        self.task.check()
    }
}

fn default_page_rows() -> usize {
    500
}

/// Rows of one Looker query, validated against its explore before it runs, streamed and handed
/// on in pages.
///
/// ```no_run
/// use sync_core::post::{LookerQuerySource, LookerQueryConfig};
///
/// # fn demo(looker: looker_client::Client, mapping: &sync_core::mapping::JournalMapping) -> sync_core::Result<()> {
/// let config: LookerQueryConfig = toml::from_str(r#"
///     model = "finance"
///     explore = "overhead_allocation"
/// "#).unwrap();
/// let source = LookerQuerySource::new(looker, &config, mapping)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct LookerQuerySource {
    client: looker_client::Client,
    query: WriteQuery,
    page_rows: usize,
    /// The task's options when the query runs as an async query task.
    task: Option<TaskOptions>,
}

impl LookerQuerySource {
    /// A source for `config`'s query; without configured fields it selects exactly the
    /// columns `mapping` reads.
    ///
    /// # Errors
    /// A configuration error when no field is selected.
    pub fn new(
        client: looker_client::Client,
        config: &LookerQueryConfig,
        mapping: &JournalMapping,
    ) -> Result<Self> {
        Self::selecting(client, config, mapping.columns())
    }

    /// A source for `config`'s query; without configured fields it selects `columns` (the
    /// columns whatever turns the rows into records reads). Every flow's Looker source is
    /// built here: [`LookerQuerySource::new`] for journal mappings, and the reference flow's
    /// source for its mappings.
    ///
    /// ```no_run
    /// use sync_core::post::{LookerQueryConfig, LookerQuerySource};
    ///
    /// # fn demo(looker: looker_client::Client) -> sync_core::Result<()> {
    /// let config: LookerQueryConfig = toml::from_str(r#"
    ///     model = "finance"
    ///     explore = "approved_vendors"
    /// "#).unwrap();
    /// let source = LookerQuerySource::selecting(
    ///     looker,
    ///     &config,
    ///     ["approved_vendors.vendor_id", "approved_vendors.name"],
    /// )?;
    /// assert_eq!(source.query().fields.as_ref().map(Vec::len), Some(2));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// A configuration error when no field is selected or a task setting is invalid.
    pub fn selecting<'a>(
        client: looker_client::Client,
        config: &LookerQueryConfig,
        columns: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self> {
        let fields: Vec<String> = if config.fields.is_empty() {
            columns.into_iter().map(str::to_owned).collect()
        } else {
            config.fields.clone()
        };
        if fields.is_empty() {
            return Err(Error::config(
                "looker.fields",
                "no field to select: the mapping reads no column and none is configured",
            ));
        }
        let mut query = WriteQuery::new(&config.model, &config.explore)
            .fields(fields)
            .with_limit(config.limit);
        for (field, expression) in &config.filters {
            query = query.filter(field, expression);
        }
        if !config.sorts.is_empty() {
            query = query.sorts(config.sorts.clone());
        }
        config.check()?;
        let task = config.uses_task().then(|| config.task.options());
        Ok(Self {
            client,
            query,
            page_rows: config.page_rows.max(1),
            task,
        })
    }

    /// The query as it will be sent.
    pub fn query(&self) -> &WriteQuery {
        &self.query
    }

    /// Whether the query runs as an async query task (see [`LookerQueryConfig::uses_task`]).
    pub fn uses_task(&self) -> bool {
        self.task.is_some()
    }

    /// The query for messages: model, explore, fields, filters and limit.
    fn what(&self) -> String {
        let mut what = format!("{}::{}", self.query.model, self.query.view);
        if let Some(fields) = &self.query.fields {
            what.push_str(&format!(" fields [{}]", fields.join(", ")));
        }
        if let Some(filters) = self.query.filters.as_ref().filter(|f| !f.is_empty()) {
            let f: Vec<String> = filters.iter().map(|(k, v)| format!("{k}={v}")).collect();
            what.push_str(&format!(" filters [{}]", f.join(", ")));
        }
        if let Some(limit) = &self.query.limit {
            what.push_str(&format!(" limit {limit}"));
        }
        what
    }

    /// Names Looker, its URL, how the query ran and the query in an error of the client.
    fn context(&self, e: looker_client::Error) -> Error {
        let how = if self.task.is_some() {
            "an async query task"
        } else {
            "an inline query"
        };
        Error::Looker(e.with_context(format!(
            "Looker at {} ({how} for {})",
            self.client.base_url(),
            self.what()
        )))
    }
}

#[async_trait]
impl RecordSource for LookerQuerySource {
    type Record = Row;
    type Cursor = ();

    fn describe(&self) -> String {
        format!("looker {}::{}", self.query.model, self.query.view)
    }

    /// Validates the query's fields against the explore (an unknown field is an error naming
    /// the closest valid ones), then runs it inline or as an async query task (see
    /// [`LookerQueryConfig::uses_task`]) and streams the rows in JSON: a page is in memory at a
    /// time, never the whole result.
    async fn pages(&self, _after: Option<&()>) -> Result<PageStream<Row>> {
        let run = RunOptions::new().validate(true);
        let rows = match &self.task {
            Some(task) => {
                let options = task
                    .clone()
                    .run_options(run)
                    .source(format!("ml-connector {}", self.describe()));
                self.client
                    .run_query_task_rows::<Row>(&self.query, ResultFormat::Json, &options)
                    .await
            }
            None => {
                self.client
                    .run_inline_query_rows::<Row>(&self.query, ResultFormat::Json, &run)
                    .await
            }
        }
        .map_err(|e| self.context(e))?;
        let source = self.clone();
        Ok(rows
            .map_err(move |e| source.context(e))
            .try_chunks(self.page_rows)
            .map_err(|e| e.1)
            .boxed())
    }
}
