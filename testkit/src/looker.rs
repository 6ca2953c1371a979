//! A stateful fake of the Looker API 4.0, written from
//! `shared/reference/looker/FACTS.md` and the official OpenAPI spec (every
//! document it answers with is checked against the spec's schemas by the
//! `looker_spec` test).
//!
//! What it serves, under `/api/4.0`:
//!
//! - `POST /login` (form body only; credentials in the query string are
//!   refused with `400`, wrong ones answered `404 Not found`),
//!   `DELETE /logout` (also at the Python SDK's `/api/logout`); tokens with a
//!   configurable lifetime, sent as `Authorization: token <t>` or
//!   `Bearer <t>`; missing, expired or revoked tokens get
//!   `401 {"message":"Requires authentication.",...}`. The harness's token
//!   faults ([`crate::faults::Faults::expire_tokens_after_requests`], ...)
//!   apply through [`LookerFake::faults`].
//! - `GET /versions`, `GET /user`.
//! - `GET /lookml_models` (with `limit`/`offset`, `X-Total-Count`, `Link`),
//!   `/lookml_models/{m}`, `/lookml_models/{m}/explores/{e}` with
//!   `fields.dimensions` / `fields.measures`; `?fields=a,b` selects
//!   top-level properties of any document.
//! - `POST /queries` (a repeated body returns the same query),
//!   `GET /queries/{id}`, `/queries/slug/{slug}`, `GET /queries/{id}/run/{fmt}`,
//!   `POST /queries/run/{fmt}`, `GET /queries/models/{m}/views/{v}/run/{fmt}`
//!   in `json`, `json_bi`, `csv`, `txt` and `sql`; Looker filter expressions
//!   (values and comma lists, `-x`, `%` wildcards, `NULL`/`EMPTY`, `>N`
//!   `>=N` `<N` `<=N` on numbers, strings and dates, `5 to 10`, `[5,10)`,
//!   `>5 AND <10`, dates as `2026-03-31`, `2026-03`, `A to B`, `after A`,
//!   `before A`, yesno `Yes`/`No`), sorts (`field`, `field desc`,
//!   `__UNSORTED__`, Looker's default sort otherwise), measures grouped by
//!   the selected dimensions, the 5000-row default limit, `-1` for every row,
//!   and the run endpoints' `limit` parameter; `422 ValidationError` for
//!   unknown models, explores and fields. Pivots, table calculations, totals
//!   and `filter_expression` are refused with `422 unsupported`.
//! - `POST /query_tasks`, `GET /query_tasks/{id}` (`added` → `running` →
//!   `complete`, or `error` with [`LookerConfig::sql_error`]),
//!   `/query_tasks/{id}/results` (`202`, or `204` like Looker before 25.0,
//!   while running; then the result; `404` when unknown, killed or expired),
//!   `GET /query_tasks/multi_results`, `GET /running_queries`,
//!   `DELETE /running_queries/{id}` (`204`, then `404`).
//!
//! The data: model `finance` with `overhead_allocation`, `gl_summary`,
//! `approved_vendors` (all built from [`crate::seed`], so every account,
//! subaccount and branch exists in the Acumatica fake; defects on request
//! through [`DataProblem`]) and `gl_lines`, a generated GL of any size; model
//! `bench` with `events`. Generated explores stream: rows are computed from
//! their id and written in 64 KiB chunks as the client reads, so a
//! million-row extract holds about one chunk in memory, and a `>N` filter on
//! the id seeks instead of scanning. Results that need sorting or grouping
//! in memory are bounded by [`LookerConfig::max_buffered_rows`].
//!
//! CSV and TXT results head each column with the field's label (`View Label
//! Field Label`), as Looker's downloads do; JSON formats key rows by the
//! fully qualified field name.

mod auth;
mod catalog;
mod config;
mod data;
mod exec;
mod filter;
mod query;
mod render;
mod routes;
mod state;
mod tasks;
mod value;

pub use config::{
    DataProblem, DataProblemKind, LookerConfig, LookerConfigError, MAX_GENERATED_ROWS,
    PendingResults, UNMAPPED_COST_CENTER,
};
pub use data::{AllocationLine, DEFAULT_SUBACCOUNT, overhead_pool};
pub use state::{LookerCounters, LookerFake, QueryRecord, TaskRecord};
pub use tasks::TaskStatus;

impl LookerFake {
    /// The routes of the fake (all under `/api/4.0`, plus the Python SDK's
    /// unversioned `/api/logout`), with a JSON `404` fallback.
    ///
    /// To serve it yourself, hand [`LookerFake::faults`] to the
    /// [`FakeServer`](crate::server::FakeServer) builder so token-expiry
    /// faults reach the fake's auth; [`LookerFake::serve`] does all of it.
    pub fn router(&self) -> axum::Router {
        routes::router(self.clone())
    }

    /// Serves the fake on a free local port in the testkit harness, with
    /// this fake's fault rules and Looker's `Error` body shape for injected
    /// errors.
    ///
    /// ```no_run
    /// use testkit::looker::LookerFake;
    ///
    /// # async fn demo() -> std::io::Result<()> {
    /// let fake = LookerFake::default();
    /// let server = fake.serve().await?;
    /// println!("Looker fake at {}/api/4.0", server.url());
    /// # Ok(()) }
    /// ```
    pub async fn serve(&self) -> std::io::Result<crate::server::FakeServer> {
        crate::server::FakeServer::builder(self.router())
            .faults(self.faults().clone())
            .error_style(crate::server::ErrorStyle::json(|status, message| {
                serde_json::json!({
                    "message": message,
                    "documentation_url": format!("https://cloud.google.com/looker/docs/r/err/4.0/{status}"),
                })
            }))
            .start()
            .await
    }
}
