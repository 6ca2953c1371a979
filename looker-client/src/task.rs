//! Async query tasks ("Run Query Async"): create, poll, fetch, cancel.
//!
//! `POST /query_tasks` starts a query in the background and returns a task
//! id. Its status goes `added` -> `running` -> `complete`, or ends as
//! `error`, `killed` or `expired` (FACTS 6.2). Its results endpoint answers
//! 202 (Looker 25.0 and later) or 204 (earlier) while it is not ready, 200
//! with the data, 400 with the SQL error for every format but `json_detail`,
//! and 404 when the task is unknown or its results expired (FACTS 6.3).
//!
//! [`Client::run_query_task_rows`] does all of it: polls with exponential
//! backoff up to an overall deadline, cancels the running query
//! (`DELETE /running_queries/{id}`) when the deadline passes, and streams the
//! rows of the result.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::query::{QueryId, WriteQuery, lenient_opt_string, lenient_string};
use crate::rows::{Limits, RowStream};
use crate::run::{ResultFormat, RunOptions, check_streaming};
use crate::transport::Request;

/// The body of `POST /query_tasks` (the spec's `CreateQueryTask`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CreateQueryTask {
    /// The stored query to run.
    pub query_id: QueryId,
    /// The result format (`json`, `csv`, ...).
    pub result_format: String,
    /// Where the task comes from, shown in Looker's admin pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Create the task without running it yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deferred: Option<bool>,
}

impl CreateQueryTask {
    /// A task running `query_id` with results in `format`.
    ///
    /// ```
    /// use looker_client::{CreateQueryTask, ResultFormat};
    /// let t = CreateQueryTask::new("42".into(), ResultFormat::Csv);
    /// assert_eq!(serde_json::to_value(&t).unwrap()["result_format"], "csv");
    /// ```
    pub fn new(query_id: QueryId, format: ResultFormat) -> Self {
        Self {
            query_id,
            result_format: format.as_str().to_owned(),
            source: None,
            deferred: None,
        }
    }

    /// Names the source of the task.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }
}

/// The state of a query task (`QueryTask.status`; the spec does not
/// enumerate it, these are the values observed in practice).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryTaskStatus {
    /// Queued.
    Added,
    /// Running in the database.
    Running,
    /// Finished; results can be fetched.
    Complete,
    /// Failed (usually an SQL error).
    Error,
    /// Cancelled.
    Killed,
    /// Its results are gone (or, briefly, before completion on some versions).
    Expired,
    /// Any other value, as sent.
    Other(String),
}

impl QueryTaskStatus {
    fn parse(s: Option<&str>) -> Self {
        match s.map(str::to_ascii_lowercase).as_deref() {
            Some("added") => Self::Added,
            Some("running") => Self::Running,
            Some("complete") => Self::Complete,
            Some("error") => Self::Error,
            Some("killed") => Self::Killed,
            Some("expired") => Self::Expired,
            Some(other) => Self::Other(other.to_owned()),
            None => Self::Other(String::new()),
        }
    }
}

/// A query task as returned by `POST /query_tasks` and `GET /query_tasks/{id}`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct QueryTask {
    /// The task id (a hex string).
    #[serde(deserialize_with = "lenient_string")]
    pub id: String,
    /// The query the task runs.
    #[serde(default)]
    pub query_id: Option<QueryId>,
    /// The raw status; see [`QueryTask::state`].
    #[serde(default)]
    pub status: Option<String>,
    /// The result format.
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub result_format: Option<String>,
    /// Seconds the query ran.
    #[serde(default)]
    pub runtime: Option<f64>,
    /// The task's source.
    #[serde(default)]
    pub source: Option<String>,
    /// Where the result came from (cache, database).
    #[serde(default)]
    pub result_source: Option<String>,
}

impl QueryTask {
    /// The status as an enum.
    pub fn state(&self) -> QueryTaskStatus {
        QueryTaskStatus::parse(self.status.as_deref())
    }
}

/// How [`Client::run_query_task_rows`] waits.
///
/// ```
/// use std::time::Duration;
/// let opts = looker_client::TaskOptions::new()
///     .deadline(Duration::from_secs(1800))
///     .poll_interval(Duration::from_secs(1), Duration::from_secs(10));
/// assert_eq!(opts.deadline_after(), Duration::from_secs(1800));
/// ```
#[derive(Clone, Debug)]
pub struct TaskOptions {
    run: RunOptions,
    deadline: Duration,
    first_poll: Duration,
    max_poll: Duration,
    source: Option<String>,
}

/// The first wait between status checks of a query task ([`TaskOptions::poll_interval`]):
/// short, so that a query that takes a moment is read a moment after it completes.
pub const DEFAULT_FIRST_POLL: Duration = Duration::from_millis(20);

/// The longest wait between status checks of a query task: waits double from
/// [`DEFAULT_FIRST_POLL`] up to this, so a long query costs about one check per 5 s.
pub const DEFAULT_MAX_POLL: Duration = Duration::from_secs(5);

impl Default for TaskOptions {
    /// A 10 minute deadline; a first status check at once, then checks after
    /// [`DEFAULT_FIRST_POLL`] (20 ms), doubling up to [`DEFAULT_MAX_POLL`] (5 s).
    fn default() -> Self {
        Self {
            run: RunOptions::new(),
            deadline: Duration::from_secs(600),
            first_poll: DEFAULT_FIRST_POLL,
            max_poll: DEFAULT_MAX_POLL,
            source: None,
        }
    }
}

impl TaskOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The run options (limit, cache, truncation, validation).
    pub fn run_options(mut self, run: RunOptions) -> Self {
        self.run = run;
        self
    }

    /// The longest the whole task may take, from creation to the first byte
    /// of its results; then it is cancelled and a
    /// [`Timeout`](crate::ErrorKind::Timeout) error returned.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The first wait between polls and the longest (waits double). The
    /// status is checked once right after the task is created, before the
    /// first wait, so a task that completes at once (a cached result) costs
    /// no wait at all.
    pub fn poll_interval(mut self, first: Duration, max: Duration) -> Self {
        self.first_poll = first.max(Duration::from_millis(1));
        self.max_poll = max.max(self.first_poll);
        self
    }

    /// Names the task's source in Looker.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The configured deadline.
    pub fn deadline_after(&self) -> Duration {
        self.deadline
    }

    /// The configured first and longest waits between status checks.
    ///
    /// ```
    /// use std::time::Duration;
    /// use looker_client::TaskOptions;
    /// assert_eq!(TaskOptions::new().poll_intervals(), (Duration::from_millis(20), Duration::from_secs(5)));
    /// ```
    pub fn poll_intervals(&self) -> (Duration, Duration) {
        (self.first_poll, self.max_poll)
    }
}

/// What the results endpoint said.
enum Results<T> {
    NotReady,
    Ready(RowStream<T>),
}

impl Client {
    /// `POST /query_tasks`: starts a task. Run options (limit, cache, ...)
    /// go into its query string. A task is a new piece of work, so a
    /// transport failure after sending is not retried (429 and 503 are).
    pub async fn create_query_task(
        &self,
        task: &CreateQueryTask,
        options: &RunOptions,
    ) -> Result<QueryTask> {
        let req = options.apply(
            Request::post(&["query_tasks"])
                .json(task)?
                .idempotent(false),
        );
        self.call_json(&req).await
    }

    /// `GET /query_tasks/{id}`: the task and its status.
    pub async fn query_task(&self, task_id: &str) -> Result<QueryTask> {
        self.call_json(&Request::get(&["query_tasks", task_id]))
            .await
    }

    /// `DELETE /running_queries/{id}`: cancels a running task. A task that
    /// already finished answers 404, which is not an error here.
    pub async fn cancel_query_task(&self, task_id: &str) -> Result<()> {
        match self
            .call(&Request::delete(&["running_queries", task_id]))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Runs `query` as an async task and streams its rows: create the query,
    /// create the task, check its status at once and then poll until it
    /// completes (backing off), then stream the result (`json`, `csv` or
    /// `txt`).
    ///
    /// Errors: [`Sql`](ErrorKind::Sql) with the database's message,
    /// [`TaskFailed`](ErrorKind::TaskFailed) for `killed`/`expired` or
    /// results that expired, [`Timeout`](ErrorKind::Timeout) after the
    /// deadline (the task is cancelled first), and
    /// [`Truncated`](ErrorKind::Truncated) as for synchronous runs.
    ///
    /// ```no_run
    /// use futures::TryStreamExt;
    /// use looker_client::{ResultFormat, Row, RunOptions, TaskOptions, WriteQuery};
    ///
    /// # async fn demo(client: looker_client::Client) -> Result<(), looker_client::Error> {
    /// let q = WriteQuery::new("thelook", "orders").fields(["orders.id"]).with_limit(-1);
    /// let opts = TaskOptions::new().deadline(std::time::Duration::from_secs(1800));
    /// let rows: Vec<Row> = client
    ///     .run_query_task_rows(&q, ResultFormat::Csv, &opts)
    ///     .await?
    ///     .try_collect()
    ///     .await?;
    /// # let _ = rows; Ok(()) }
    /// ```
    pub async fn run_query_task_rows<T: DeserializeOwned + Send + 'static>(
        &self,
        query: &WriteQuery,
        format: ResultFormat,
        options: &TaskOptions,
    ) -> Result<RowStream<T>> {
        check_streaming(format)?;
        query.check_required()?;
        if options.run.validates() {
            self.validate(query).await?;
        }
        let deadline = Instant::now() + options.deadline;
        let stored = self.create_query(query).await?;
        let mut body = CreateQueryTask::new(stored.id.clone(), format);
        body.source = options.source.clone();
        let task = self.create_query_task(&body, &options.run).await?;
        let limits = options.run.limits(
            query.row_limit()?,
            format!("query task {} (query {})", task.id, stored.id),
        );
        let mut wait = options.first_poll;
        // Phase 1: the task's status. A task whose result is cached (or a
        // quick query) is often complete by the time it has been created, so
        // the status is checked once at once; only then do the waits start.
        let mut status = task.state();
        let mut checked_at_once = false;
        loop {
            match status {
                QueryTaskStatus::Complete => break,
                QueryTaskStatus::Error => {
                    // The results endpoint carries the SQL error (400).
                    return match self.task_results::<T>(&task.id, format, &limits).await {
                        Err(e) => Err(e),
                        Ok(_) => Err(Error::new(
                            ErrorKind::TaskFailed,
                            format!("query task {} ended with status `error`", task.id),
                        )),
                    };
                }
                QueryTaskStatus::Killed | QueryTaskStatus::Expired => {
                    return Err(Error::new(
                        ErrorKind::TaskFailed,
                        format!(
                            "query task {} ended with status `{}` before its results were read; \
                             it was cancelled or its results expired: run it again",
                            task.id,
                            task_status_text(&status)
                        ),
                    ));
                }
                _ => {}
            }
            if checked_at_once {
                self.pause_or_cancel(&task.id, deadline, &mut wait, options)
                    .await?;
            } else {
                checked_at_once = true;
            }
            status = self.query_task(&task.id).await?.state();
        }
        // Phase 2: the results (202/204 until they are ready).
        loop {
            match self.task_results::<T>(&task.id, format, &limits).await? {
                Results::Ready(rows) => return Ok(rows),
                Results::NotReady => {
                    self.pause_or_cancel(&task.id, deadline, &mut wait, options)
                        .await?;
                }
            }
        }
    }

    /// `GET /query_tasks/{id}/results`, streamed as rows when ready; `None`
    /// while the results are not ready (202 or 204). The row limit checked is
    /// `options`' limit, else 5000: pass the limit the task ran with.
    pub async fn query_task_results_rows<T: DeserializeOwned + Send + 'static>(
        &self,
        task_id: &str,
        format: ResultFormat,
        options: &RunOptions,
    ) -> Result<Option<RowStream<T>>> {
        check_streaming(format)?;
        let limits = options.limits(None, format!("query task {task_id}"));
        match self.task_results::<T>(task_id, format, &limits).await? {
            Results::Ready(rows) => Ok(Some(rows)),
            Results::NotReady => Ok(None),
        }
    }

    async fn task_results<T: DeserializeOwned + Send + 'static>(
        &self,
        task_id: &str,
        format: ResultFormat,
        limits: &Limits,
    ) -> Result<Results<T>> {
        let req = Request::get(&["query_tasks", task_id, "results"]);
        match self.call(&req).await {
            Ok(resp) if resp.status() == 202 || resp.status() == 204 => Ok(Results::NotReady),
            Ok(resp) => Ok(Results::Ready(RowStream::new(
                format,
                resp.into_stream(req.label()),
                limits.clone(),
            ))),
            Err(e) if e.status() == Some(400) => Err(Error::new(
                ErrorKind::Sql,
                format!("query task {task_id} failed in the database: {e}"),
            )
            .with_source(e)),
            Err(e) if e.is_not_found() => Err(Error::new(
                ErrorKind::TaskFailed,
                format!(
                    "the results of query task {task_id} were not found: the task is unknown or \
                     its results expired (404); run the query again"
                ),
            )
            .with_source(e)),
            Err(e) => Err(e),
        }
    }

    /// Sleeps the next poll interval, or cancels the task and fails when
    /// that would pass the deadline.
    async fn pause_or_cancel(
        &self,
        task_id: &str,
        deadline: Instant,
        wait: &mut Duration,
        options: &TaskOptions,
    ) -> Result<()> {
        if Instant::now() + *wait > deadline {
            if let Err(e) = self.cancel_query_task(task_id).await {
                tracing::warn!(task = task_id, error = %e, "cancelling the query task failed");
            }
            return Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "query task {task_id} did not finish within {} s and was cancelled; raise \
                     TaskOptions::deadline or narrow the query",
                    options.deadline.as_secs()
                ),
            ));
        }
        tokio::time::sleep(*wait).await;
        *wait = (*wait * 2).min(options.max_poll);
        Ok(())
    }
}

fn task_status_text(s: &QueryTaskStatus) -> &str {
    match s {
        QueryTaskStatus::Added => "added",
        QueryTaskStatus::Running => "running",
        QueryTaskStatus::Complete => "complete",
        QueryTaskStatus::Error => "error",
        QueryTaskStatus::Killed => "killed",
        QueryTaskStatus::Expired => "expired",
        QueryTaskStatus::Other(s) => s,
    }
}
