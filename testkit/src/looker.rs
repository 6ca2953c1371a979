//! A stateful fake of the Looker API 4.0, written from
//! `shared/reference/looker/FACTS.md` and the official OpenAPI spec.
//!
//! What it serves, under `/api/4.0`:
//!
//! - `POST /login` (form body only; credentials in the query string are
//!   refused), `DELETE /logout`; tokens with a configurable lifetime, sent as
//!   `Authorization: token <t>` or `Bearer <t>`; missing, expired or revoked
//!   tokens get `401 {"message":"Requires authentication.",...}`.
//! - `GET /lookml_models` (with `limit`/`offset`, `X-Total-Count`, `Link`),
//!   `/lookml_models/{m}`, `/lookml_models/{m}/explores/{e}` with
//!   `fields.dimensions` / `fields.measures`.
//! - `POST /queries` (a repeated body returns the same query),
//!   `GET /queries/{id}`, `/queries/slug/{slug}`, `GET /queries/{id}/run/{fmt}`,
//!   `POST /queries/run/{fmt}` in `json`, `json_bi`, `csv`, `txt` and `sql`;
//!   filters, sorts, measures grouped by the selected dimensions, the 5000-row
//!   default limit and `-1` for every row; `422` for unknown fields.
//! - `POST /query_tasks`, `GET /query_tasks/{id}` (`added` → `running` →
//!   `complete`), `/query_tasks/{id}/results` (`202` while running, then the
//!   result; `404` when unknown, killed or expired),
//!   `GET /running_queries`, `DELETE /running_queries/{id}`.
//!
//! The data: model `finance` with `overhead_allocation`, `gl_summary`,
//! `approved_vendors` (all built from [`crate::seed`], so every account,
//! subaccount and branch exists in the Acumatica fake) and `gl_lines`, a
//! generated GL of any size; model `bench` with `events`. Generated explores
//! stream: rows are computed from their id and written in 64 KiB chunks as
//! the client reads, so a million-row extract holds one chunk in memory.

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
