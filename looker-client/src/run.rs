//! Creating and running queries: `create_query`, `run_query`,
//! `run_inline_query` in `json`, `json_bi`, `csv` and `txt`, with the row
//! cap checked.
//!
//! Without an explicit limit Looker stops at 5000 rows (FACTS section 5)
//! and says nothing. Here a result whose row count reaches the effective
//! limit is a [`Truncated`](crate::ErrorKind::Truncated) error, unless the
//! caller allows it with [`RunOptions::allow_truncation`], in which case
//! [`RowStream::is_possibly_truncated`] (or [`JsonBiResult::possibly_truncated`])
//! says so.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::query::{DEFAULT_ROW_LIMIT, Query, QueryId, WriteQuery, parse_limit};
use crate::rows::{Limits, RowStream};
use crate::transport::Request;

/// A result format of the run endpoints (the spec's `result_format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResultFormat {
    /// A JSON array of row objects keyed by field name. Streams.
    Json,
    /// JSON with metadata (`{"metadata": ..., "rows": [...]}`); read whole.
    JsonBi,
    /// CSV with a header row. Streams.
    Csv,
    /// Tab-separated text with a header row. Streams.
    Txt,
    /// The generated SQL instead of running the query (as text).
    Sql,
}

impl ResultFormat {
    /// The path segment / `result_format` value.
    ///
    /// ```
    /// assert_eq!(looker_client::ResultFormat::JsonBi.as_str(), "json_bi");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ResultFormat::Json => "json",
            ResultFormat::JsonBi => "json_bi",
            ResultFormat::Csv => "csv",
            ResultFormat::Txt => "txt",
            ResultFormat::Sql => "sql",
        }
    }

    pub(crate) fn streams(self) -> bool {
        matches!(
            self,
            ResultFormat::Json | ResultFormat::Csv | ResultFormat::Txt
        )
    }
}

/// Options of one run (the run endpoints' query parameters, plus this
/// crate's truncation and validation switches).
///
/// ```
/// let opts = looker_client::RunOptions::new()
///     .limit(100_000)
///     .cache(false)
///     .validate(true);
/// assert_eq!(opts.effective_limit(None), 100_000);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    limit: Option<i64>,
    apply_formatting: Option<bool>,
    apply_vis: Option<bool>,
    cache: Option<bool>,
    cache_only: Option<bool>,
    force_production: Option<bool>,
    rebuild_pdts: Option<bool>,
    server_table_calcs: Option<bool>,
    allow_truncation: bool,
    validate: bool,
}

impl RunOptions {
    /// Defaults: the query's own limit, truncation is an error, no
    /// validation round trip.
    pub fn new() -> Self {
        Self::default()
    }

    /// Row limit for this run (overrides the query's; `-1` = unlimited).
    pub fn limit(mut self, limit: i64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Apply model-specified formatting to values (then values are text).
    pub fn apply_formatting(mut self, yes: bool) -> Self {
        self.apply_formatting = Some(yes);
        self
    }

    /// Apply visualization options.
    pub fn apply_vis(mut self, yes: bool) -> Self {
        self.apply_vis = Some(yes);
        self
    }

    /// Use cached results if available.
    pub fn cache(mut self, yes: bool) -> Self {
        self.cache = Some(yes);
        self
    }

    /// Only return cached results, even expired ones.
    pub fn cache_only(mut self, yes: bool) -> Self {
        self.cache_only = Some(yes);
        self
    }

    /// Force production mode.
    pub fn force_production(mut self, yes: bool) -> Self {
        self.force_production = Some(yes);
        self
    }

    /// Rebuild persistent derived tables.
    pub fn rebuild_pdts(mut self, yes: bool) -> Self {
        self.rebuild_pdts = Some(yes);
        self
    }

    /// Compute table calculations on the server.
    pub fn server_table_calcs(mut self, yes: bool) -> Self {
        self.server_table_calcs = Some(yes);
        self
    }

    /// Accept a result that reaches its row limit, and report it with a flag
    /// instead of an error.
    pub fn allow_truncation(mut self, yes: bool) -> Self {
        self.allow_truncation = yes;
        self
    }

    /// Check the query's field, filter and sort names against the explore
    /// before running it (one metadata call per explore, then cached).
    pub fn validate(mut self, yes: bool) -> Self {
        self.validate = yes;
        self
    }

    /// Whether truncation is allowed.
    pub fn allows_truncation(&self) -> bool {
        self.allow_truncation
    }

    /// Whether validation was asked for.
    pub fn validates(&self) -> bool {
        self.validate
    }

    /// The limit that applies to a run of a query whose own limit is
    /// `query_limit`: this run's limit, else the query's, else Looker's
    /// default of 5000. `-1` means unlimited.
    pub fn effective_limit(&self, query_limit: Option<i64>) -> i64 {
        self.limit.or(query_limit).unwrap_or(DEFAULT_ROW_LIMIT)
    }

    pub(crate) fn apply(&self, mut req: Request) -> Request {
        req = req
            .query_opt("limit", self.limit)
            .query_opt("apply_formatting", self.apply_formatting)
            .query_opt("apply_vis", self.apply_vis)
            .query_opt("cache", self.cache)
            .query_opt("cache_only", self.cache_only)
            .query_opt("force_production", self.force_production)
            .query_opt("rebuild_pdts", self.rebuild_pdts)
            .query_opt("server_table_calcs", self.server_table_calcs);
        req
    }

    pub(crate) fn limits(&self, query_limit: Option<i64>, what: String) -> Limits {
        Limits {
            limit: Some(self.effective_limit(query_limit)),
            allow_truncation: self.allow_truncation,
            what,
        }
    }
}

/// A `json_bi` result: Looker's metadata and the rows.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct JsonBiResult<T> {
    /// The `metadata` object (fields, pivots, SQL, ...), as sent.
    pub metadata: serde_json::Value,
    /// The rows.
    pub rows: Vec<T>,
    /// Whether the row count reached the limit (only when truncation was
    /// allowed; otherwise that is an error).
    pub possibly_truncated: bool,
}

#[derive(Deserialize)]
struct JsonBiBody<T> {
    #[serde(default)]
    metadata: serde_json::Value,
    rows: Vec<T>,
}

impl Client {
    /// `POST /queries`: stores `query` and returns it with its id. Safe to
    /// retry: the same body returns the same query.
    ///
    /// ```no_run
    /// # async fn demo(client: looker_client::Client) -> Result<(), looker_client::Error> {
    /// let q = client
    ///     .create_query(&looker_client::WriteQuery::new("thelook", "orders").fields(["orders.id"]))
    ///     .await?;
    /// println!("query {}", q.id);
    /// # Ok(()) }
    /// ```
    pub async fn create_query(&self, query: &WriteQuery) -> Result<Query> {
        query.check_required()?;
        let req = Request::post(&["queries"]).json(query)?.idempotent(true);
        self.call_json(&req).await
    }

    /// `GET /queries/{id}`.
    pub async fn query(&self, id: &QueryId) -> Result<Query> {
        self.call_json(&Request::get(&["queries", id.as_str()]))
            .await
    }

    /// `POST /queries/run/{format}` (create and run in one call), streaming
    /// the rows of a `json`, `csv` or `txt` result into `T` (your `serde`
    /// type, or [`Row`](crate::Row)).
    ///
    /// The row limit is checked when the stream ends (see the module docs).
    ///
    /// ```no_run
    /// use futures::TryStreamExt;
    /// use looker_client::{ResultFormat, RunOptions, WriteQuery};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Order {
    ///     #[serde(rename = "orders.id")]
    ///     id: u64,
    ///     #[serde(rename = "orders.total")]
    ///     total: rust_decimal::Decimal,
    /// }
    ///
    /// # async fn demo(client: looker_client::Client) -> Result<(), looker_client::Error> {
    /// let q = WriteQuery::new("thelook", "orders").fields(["orders.id", "orders.total"]).with_limit(-1);
    /// let mut rows = client
    ///     .run_inline_query_rows::<Order>(&q, ResultFormat::Json, &RunOptions::new().validate(true))
    ///     .await?;
    /// while let Some(order) = rows.try_next().await? {
    ///     println!("{} {}", order.id, order.total);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn run_inline_query_rows<T: DeserializeOwned + Send + 'static>(
        &self,
        query: &WriteQuery,
        format: ResultFormat,
        options: &RunOptions,
    ) -> Result<RowStream<T>> {
        check_streaming(format)?;
        query.check_required()?;
        if options.validate {
            self.validate(query).await?;
        }
        let req = options.apply(
            Request::post(&["queries", "run", format.as_str()])
                .json(query)?
                .idempotent(true),
        );
        let resp = self.call(&req).await?;
        let limits = options.limits(
            query.row_limit()?,
            format!("the query on `{}::{}`", query.model, query.view),
        );
        Ok(RowStream::new(
            format,
            resp.into_stream(req.label()),
            limits,
        ))
    }

    /// `GET /queries/{id}/run/{format}` for a stored query, streaming rows as
    /// [`run_inline_query_rows`](Self::run_inline_query_rows) does. The
    /// query's own `limit` is taken from `query`.
    pub async fn run_query_rows<T: DeserializeOwned + Send + 'static>(
        &self,
        query: &Query,
        format: ResultFormat,
        options: &RunOptions,
    ) -> Result<RowStream<T>> {
        check_streaming(format)?;
        if options.validate {
            self.validate(&query.to_write_query()).await?;
        }
        let req = options.apply(Request::get(&[
            "queries",
            query.id.as_str(),
            "run",
            format.as_str(),
        ]));
        let resp = self.call(&req).await?;
        let limits = options.limits(
            parse_limit(query.limit.as_deref())?,
            format!("query {}", query.id),
        );
        Ok(RowStream::new(
            format,
            resp.into_stream(req.label()),
            limits,
        ))
    }

    /// `POST /queries/run/json_bi`: rows with Looker's field metadata. The
    /// body is read whole (json_bi does not stream); prefer
    /// [`run_inline_query_rows`](Self::run_inline_query_rows) for large results.
    pub async fn run_inline_query_json_bi<T: DeserializeOwned>(
        &self,
        query: &WriteQuery,
        options: &RunOptions,
    ) -> Result<JsonBiResult<T>> {
        query.check_required()?;
        if options.validate {
            self.validate(query).await?;
        }
        let req = options.apply(
            Request::post(&["queries", "run", "json_bi"])
                .json(query)?
                .idempotent(true),
        );
        let body: JsonBiBody<T> = self.call_json(&req).await?;
        let limits = options.limits(
            query.row_limit()?,
            format!("the query on `{}::{}`", query.model, query.view),
        );
        finish_json_bi(body, &limits)
    }

    /// `GET /queries/{id}/run/json_bi` for a stored query (read whole).
    pub async fn run_query_json_bi<T: DeserializeOwned>(
        &self,
        query: &Query,
        options: &RunOptions,
    ) -> Result<JsonBiResult<T>> {
        let req = options.apply(Request::get(&[
            "queries",
            query.id.as_str(),
            "run",
            "json_bi",
        ]));
        let body: JsonBiBody<T> = self.call_json(&req).await?;
        let limits = options.limits(
            parse_limit(query.limit.as_deref())?,
            format!("query {}", query.id),
        );
        finish_json_bi(body, &limits)
    }

    /// `POST /queries/run/{format}` read whole as text: the generated SQL
    /// ([`ResultFormat::Sql`]) or a small CSV/TXT/JSON result as sent. No row
    /// limit check is made on text.
    pub async fn run_inline_query_text(
        &self,
        query: &WriteQuery,
        format: ResultFormat,
        options: &RunOptions,
    ) -> Result<String> {
        query.check_required()?;
        let req = options.apply(
            Request::post(&["queries", "run", format.as_str()])
                .json(query)?
                .idempotent(true),
        );
        let resp = self.call(&req).await?;
        let body = resp.bytes(&req.label()).await?;
        String::from_utf8(body.to_vec()).map_err(|e| {
            Error::decode(
                format!("{}: the result is not UTF-8 text: {e}", req.label()),
                None,
            )
        })
    }
}

pub(crate) fn check_streaming(format: ResultFormat) -> Result<()> {
    if format.streams() {
        Ok(())
    } else {
        Err(Error::config(format!(
            "rows stream from json, csv and txt results, not {}; use run_inline_query_json_bi \
             for json_bi or run_inline_query_text for sql",
            format.as_str()
        )))
    }
}

fn finish_json_bi<T>(body: JsonBiBody<T>, limits: &Limits) -> Result<JsonBiResult<T>> {
    let rows = body.rows.len() as u64;
    let mut possibly_truncated = false;
    if let Some(limit) = limits.limit
        && limit >= 0
        && rows >= limit as u64
    {
        if limits.allow_truncation {
            possibly_truncated = true;
        } else {
            return Err(Error::truncated(&limits.what, rows, limit));
        }
    }
    Ok(JsonBiResult {
        metadata: body.metadata,
        rows: body.rows,
        possibly_truncated,
    })
}
