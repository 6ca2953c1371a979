//! Async query tasks (`/query_tasks`) and their status progression.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value as Json, json};
use tokio::time::Instant;

use super::config::LookerConfig;
use super::query::Limit;
use super::render::Format;
use super::state::{StoredQuery, TaskRecord};

/// Status of a query task, as `QueryTask.status` spells it (FACTS 6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskStatus {
    /// Created, not started.
    Added,
    /// Running.
    Running,
    /// Results are ready.
    Complete,
    /// Cancelled by `DELETE /running_queries/{id}`.
    Killed,
    /// The database refused the query (see `LookerConfig::sql_error`).
    Error,
    /// Results are gone.
    Expired,
}

impl TaskStatus {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Added => "added",
            TaskStatus::Running => "running",
            TaskStatus::Complete => "complete",
            TaskStatus::Killed => "killed",
            TaskStatus::Error => "error",
            TaskStatus::Expired => "expired",
        }
    }

    /// Whether the task may still complete.
    pub fn is_pending(self) -> bool {
        matches!(self, TaskStatus::Added | TaskStatus::Running)
    }
}

/// A task and its progress.
#[derive(Debug)]
pub(crate) struct Task {
    pub id: String,
    pub query: Arc<StoredQuery>,
    pub format: Format,
    pub limit: Option<Limit>,
    pub source: Option<String>,
    created: Instant,
    observations: u32,
    status: TaskStatus,
    completed_at: Option<Instant>,
    runtime: Option<Duration>,
    /// The database error the task ended with.
    pub error: Option<String>,
}

impl Task {
    pub(crate) fn new(
        query: Arc<StoredQuery>,
        format: Format,
        limit: Option<Limit>,
        source: Option<String>,
    ) -> Task {
        let id = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        Task {
            id,
            query,
            format,
            limit,
            source,
            created: Instant::now(),
            observations: 0,
            status: TaskStatus::Added,
            completed_at: None,
            runtime: None,
            error: None,
        }
    }

    /// The status now, counting this as one observation of a pending task.
    pub(crate) fn observe(&mut self, config: &LookerConfig) -> TaskStatus {
        let now = Instant::now();
        match self.status {
            TaskStatus::Added | TaskStatus::Running => {
                self.observations += 1;
                let elapsed = now.duration_since(self.created);
                if self.observations > config.task_polls_before_complete
                    && elapsed >= config.task_run_time
                {
                    self.error = config.sql_error.clone();
                    self.status = match self.error {
                        Some(_) => TaskStatus::Error,
                        None => TaskStatus::Complete,
                    };
                    self.completed_at = Some(now);
                    self.runtime = Some(elapsed);
                } else {
                    self.status = TaskStatus::Running;
                }
            }
            TaskStatus::Complete => {
                if self
                    .completed_at
                    .is_some_and(|at| now.duration_since(at) >= config.task_result_ttl)
                {
                    self.status = TaskStatus::Expired;
                }
            }
            TaskStatus::Killed | TaskStatus::Expired | TaskStatus::Error => {}
        }
        self.status
    }

    /// The status without counting an observation.
    pub(crate) fn status(&self) -> TaskStatus {
        self.status
    }

    /// Cancels a pending task; `false` when it is no longer running.
    pub(crate) fn kill(&mut self) -> bool {
        if self.status.is_pending() {
            self.status = TaskStatus::Killed;
            true
        } else {
            false
        }
    }

    pub(crate) fn force_expire(&mut self) {
        self.status = TaskStatus::Expired;
    }

    pub(crate) fn record(&self) -> TaskRecord {
        TaskRecord {
            id: self.id.clone(),
            query_id: self.query.id.clone(),
            result_format: self.format.name().to_owned(),
            status: self.status,
            observations: self.observations,
            source: self.source.clone(),
        }
    }

    /// The `QueryTask` document.
    pub(crate) fn document(&self, query_doc: Json) -> Json {
        json!({
            "can": {"show": true, "cancel": self.status.is_pending()},
            "id": self.id,
            "query_id": self.query.id,
            "query": query_doc,
            "generate_links": false,
            "force_production": true,
            "path_prefix": null,
            "cache": true,
            "server_table_calcs": false,
            "cache_only": false,
            "cache_key": format!("{}:{}", self.query.slug, self.format.name()),
            "status": self.status.as_str(),
            "source": self.source,
            "runtime": self.runtime.map(|d| d.as_secs_f64()),
            "rebuild_pdts": false,
            "result_source": if self.status == TaskStatus::Complete { Json::from("query") } else { Json::Null },
            "look_id": null,
            "dashboard_id": null,
            "result_format": self.format.name(),
        })
    }

    /// The `RunningQueries` entry of a pending task.
    pub(crate) fn running_entry(&self, query_doc: Json) -> Json {
        json!({
            "can": {"kill": true},
            "id": self.id,
            "query": query_doc,
            "query_id": self.query.id,
            "query_task_id": self.id,
            "slug": self.query.slug,
            "source": self.source,
            "status": self.status.as_str(),
            "runtime": Instant::now().duration_since(self.created).as_secs_f64(),
            "connection_name": super::catalog::CONNECTION,
            "dialect": "postgres",
        })
    }
}
