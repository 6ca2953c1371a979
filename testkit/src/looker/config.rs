//! Settings of the Looker fake and the data problems a test can ask for.

use std::fmt;
use std::time::Duration;

use crate::seed;

/// Largest row count a generated explore may be given (100 million).
pub const MAX_GENERATED_ROWS: u64 = 100_000_000;

/// A deliberate defect in the finance data, for tests of validation and
/// error reporting downstream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataProblem {
    /// What is wrong.
    pub kind: DataProblemKind,
    /// Month (1..=12 of [`seed::FINANCIAL_YEAR`]) of the affected journal.
    pub month: u32,
    /// Branch id of the affected journal.
    pub branch: String,
}

/// The kinds of [`DataProblem`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataProblemKind {
    /// The journal's last cost-center line names [`UNMAPPED_COST_CENTER`],
    /// which maps to no subaccount (its `subaccount` is `NULL`).
    UnmappedCostCenter,
    /// The journal's last cost-center line posts to an inactive account of
    /// the seed chart of accounts instead of the allocated-overhead account.
    InactiveAccount,
    /// The journal's last cost-center line is one cent too large, so the
    /// journal no longer balances.
    UnbalancedJournal,
}

/// The cost-center name [`DataProblemKind::UnmappedCostCenter`] injects.
pub const UNMAPPED_COST_CENTER: &str = "Marketing";

impl DataProblem {
    /// A cost center without a subaccount mapping in `month` at `branch`.
    pub fn unmapped_cost_center(month: u32, branch: impl Into<String>) -> Self {
        DataProblem {
            kind: DataProblemKind::UnmappedCostCenter,
            month,
            branch: branch.into(),
        }
    }

    /// A line on an inactive account in `month` at `branch`.
    pub fn inactive_account(month: u32, branch: impl Into<String>) -> Self {
        DataProblem {
            kind: DataProblemKind::InactiveAccount,
            month,
            branch: branch.into(),
        }
    }

    /// An unbalanced journal (off by 0.01) in `month` at `branch`.
    pub fn unbalanced_journal(month: u32, branch: impl Into<String>) -> Self {
        DataProblem {
            kind: DataProblemKind::UnbalancedJournal,
            month,
            branch: branch.into(),
        }
    }
}

/// What `GET /query_tasks/{id}/results` answers while a task is not done.
///
/// Looker answers `202 Accepted` since 25.0 and answered `204 No Content`
/// before (FACTS section 6.3); clients must accept both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PendingResults {
    /// `202 Accepted` (current servers).
    #[default]
    Accepted,
    /// `204 No Content` (Looker 24.20 and older).
    NoContent,
}

/// Settings of a [`LookerFake`](super::LookerFake).
///
/// Build one from [`LookerConfig::default`] with the `with_*` methods; the
/// fake checks it when it is created or updated.
///
/// ```
/// use std::time::Duration;
/// use testkit::looker::{DataProblem, LookerConfig, LookerFake};
///
/// let config = LookerConfig::default()
///     .with_token_lifetime(Duration::from_secs(60))
///     .with_gl_lines_rows(1_000_000)
///     .with_data_problem(DataProblem::unbalanced_journal(10, "HQ"));
/// let fake = LookerFake::new(config).expect("valid settings");
/// assert_eq!(fake.config().gl_lines_rows, 1_000_000);
/// ```
#[derive(Clone)]
pub struct LookerConfig {
    /// API3 client id accepted by `/login`.
    pub client_id: String,
    /// API3 client secret accepted by `/login` (never printed by `Debug`).
    pub client_secret: String,
    /// `expires_in` of new access tokens (Looker's default is one hour).
    pub token_lifetime: Duration,
    /// Rows returned when neither the query nor the call sets a limit.
    pub default_row_limit: u64,
    /// Rows of the generated explore `finance.gl_lines`.
    pub gl_lines_rows: u64,
    /// Rows of the generated explore `bench.events`.
    pub bench_events_rows: u64,
    /// First and last month of [`seed::FINANCIAL_YEAR`] with allocation and
    /// GL summary data.
    pub months: (u32, u32),
    /// Defects injected into the finance data.
    pub data_problems: Vec<DataProblem>,
    /// Status observations (`GET /query_tasks/{id}` or `/results`) a task
    /// answers as not done before it completes.
    pub task_polls_before_complete: u32,
    /// Minimum time (tokio clock) between a task's creation and completion.
    pub task_run_time: Duration,
    /// How long a completed task's results stay available.
    pub task_result_ttl: Duration,
    /// The status of `/results` while a task runs.
    pub pending_results: PendingResults,
    /// Most rows the fake buffers to sort or group a result that cannot be
    /// streamed in generation order; larger results are refused with a
    /// message saying how to query instead.
    pub max_buffered_rows: usize,
    /// When set, every query run fails as if the database refused its SQL
    /// with this message: synchronous runs answer `400`, query tasks end in
    /// status `error` and their `/results` answer `400` (FACTS 6.3).
    pub sql_error: Option<String>,
}

impl fmt::Debug for LookerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LookerConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("token_lifetime", &self.token_lifetime)
            .field("default_row_limit", &self.default_row_limit)
            .field("gl_lines_rows", &self.gl_lines_rows)
            .field("bench_events_rows", &self.bench_events_rows)
            .field("months", &self.months)
            .field("data_problems", &self.data_problems)
            .field(
                "task_polls_before_complete",
                &self.task_polls_before_complete,
            )
            .field("task_run_time", &self.task_run_time)
            .field("task_result_ttl", &self.task_result_ttl)
            .field("pending_results", &self.pending_results)
            .field("max_buffered_rows", &self.max_buffered_rows)
            .field("sql_error", &self.sql_error)
            .finish()
    }
}

impl Default for LookerConfig {
    fn default() -> Self {
        LookerConfig {
            client_id: seed::credentials::LOOKER_CLIENT_ID.to_owned(),
            client_secret: seed::credentials::LOOKER_CLIENT_SECRET.to_owned(),
            token_lifetime: Duration::from_secs(3600),
            default_row_limit: 5000,
            gl_lines_rows: 100_000,
            bench_events_rows: 1_000_000,
            months: (1, 12),
            data_problems: Vec::new(),
            task_polls_before_complete: 2,
            task_run_time: Duration::ZERO,
            task_result_ttl: Duration::from_secs(3600),
            pending_results: PendingResults::Accepted,
            max_buffered_rows: 250_000,
            sql_error: None,
        }
    }
}

impl LookerConfig {
    /// Sets the API3 credentials `/login` accepts.
    pub fn with_credentials(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.client_id = client_id.into();
        self.client_secret = client_secret.into();
        self
    }

    /// Sets `expires_in` of new tokens.
    pub fn with_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// Sets the row count of `finance.gl_lines`.
    pub fn with_gl_lines_rows(mut self, rows: u64) -> Self {
        self.gl_lines_rows = rows;
        self
    }

    /// Sets the row count of `bench.events`.
    pub fn with_bench_events_rows(mut self, rows: u64) -> Self {
        self.bench_events_rows = rows;
        self
    }

    /// Sets the months (inclusive) with finance data.
    pub fn with_months(mut self, first: u32, last: u32) -> Self {
        self.months = (first, last);
        self
    }

    /// Adds a defect to the finance data.
    pub fn with_data_problem(mut self, problem: DataProblem) -> Self {
        self.data_problems.push(problem);
        self
    }

    /// Sets how a query task progresses: it answers "not done" to
    /// `polls` status observations and completes no sooner than `run_time`.
    pub fn with_task_progress(mut self, polls: u32, run_time: Duration) -> Self {
        self.task_polls_before_complete = polls;
        self.task_run_time = run_time;
        self
    }

    /// Sets how long completed task results stay available.
    pub fn with_task_result_ttl(mut self, ttl: Duration) -> Self {
        self.task_result_ttl = ttl;
        self
    }

    /// Sets the status `/results` answers while a task runs.
    pub fn with_pending_results(mut self, pending: PendingResults) -> Self {
        self.pending_results = pending;
        self
    }

    /// Sets the default row limit (Looker's is 5000).
    pub fn with_default_row_limit(mut self, limit: u64) -> Self {
        self.default_row_limit = limit;
        self
    }

    /// Makes every query run fail with a database error `message`.
    pub fn with_sql_error(mut self, message: impl Into<String>) -> Self {
        self.sql_error = Some(message.into());
        self
    }

    /// Sets the most rows buffered to sort or group.
    pub fn with_max_buffered_rows(mut self, rows: usize) -> Self {
        self.max_buffered_rows = rows;
        self
    }

    /// Checks the settings, naming the first one that is wrong.
    pub fn validate(&self) -> Result<(), LookerConfigError> {
        let bad =
            |setting: &'static str, problem: String| Err(LookerConfigError { setting, problem });
        if self.client_id.is_empty() || self.client_secret.is_empty() {
            return bad("client_id/client_secret", "must not be empty".into());
        }
        if self.token_lifetime < Duration::from_secs(1) {
            return bad("token_lifetime", "must be at least one second".into());
        }
        if self.default_row_limit == 0 {
            return bad("default_row_limit", "must be at least 1".into());
        }
        for (setting, rows) in [
            ("gl_lines_rows", self.gl_lines_rows),
            ("bench_events_rows", self.bench_events_rows),
        ] {
            if rows > MAX_GENERATED_ROWS {
                return bad(
                    setting,
                    format!("{rows} is more than the maximum of {MAX_GENERATED_ROWS}"),
                );
            }
        }
        let (first, last) = self.months;
        if !(1..=12).contains(&first) || !(1..=12).contains(&last) || first > last {
            return bad(
                "months",
                format!("({first}, {last}) must be months 1..=12 with first <= last"),
            );
        }
        for p in &self.data_problems {
            if !(first..=last).contains(&p.month) {
                return bad(
                    "data_problems",
                    format!(
                        "month {} is outside the data months {first}..={last}",
                        p.month
                    ),
                );
            }
            if !seed::BRANCHES.iter().any(|b| b.id == p.branch) {
                let known: Vec<&str> = seed::BRANCHES.iter().map(|b| b.id).collect();
                return bad(
                    "data_problems",
                    format!("branch {:?} is not one of {known:?}", p.branch),
                );
            }
        }
        if self.max_buffered_rows == 0 {
            return bad("max_buffered_rows", "must be at least 1".into());
        }
        Ok(())
    }
}

/// A setting of [`LookerConfig`] that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookerConfigError {
    setting: &'static str,
    problem: String,
}

impl LookerConfigError {
    /// The name of the offending setting.
    pub fn setting(&self) -> &str {
        self.setting
    }
}

impl fmt::Display for LookerConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid Looker fake setting `{}`: {}",
            self.setting, self.problem
        )
    }
}

impl std::error::Error for LookerConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_secret_is_not_printed() {
        let c = LookerConfig::default();
        c.validate().unwrap();
        assert!(!format!("{c:?}").contains(seed::credentials::LOOKER_CLIENT_SECRET));
    }

    #[test]
    fn bad_settings_are_named() {
        let e = LookerConfig::default()
            .with_months(3, 2)
            .validate()
            .unwrap_err();
        assert_eq!(e.setting(), "months");
        let e = LookerConfig::default()
            .with_data_problem(DataProblem::inactive_account(1, "NOPE"))
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("NOPE"), "{e}");
        let e = LookerConfig::default()
            .with_gl_lines_rows(MAX_GENERATED_ROWS + 1)
            .validate()
            .unwrap_err();
        assert_eq!(e.setting(), "gl_lines_rows");
    }
}
