//! The fake's state: configuration, tokens, queries, tasks and counters,
//! behind the cheap-to-clone [`LookerFake`] handle.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::time::Instant;

use super::config::{LookerConfig, LookerConfigError};
use super::data::{self, AllocationLine};
use super::query::{Compiled, QuerySpec};
use super::tasks::{Task, TaskStatus};
use crate::faults::Faults;

/// Server-side counters (live atomics).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub logins: AtomicU64,
    pub login_failures: AtomicU64,
    pub logouts: AtomicU64,
    pub unauthorized: AtomicU64,
    pub queries_created: AtomicU64,
    pub query_runs: AtomicU64,
    pub tasks_created: AtomicU64,
    pub tasks_killed: AtomicU64,
    pub rows_generated: Arc<AtomicU64>,
    pub rows_served: AtomicU64,
    pub bytes_served: AtomicU64,
    pub streams_started: AtomicU64,
    pub streams_finished: AtomicU64,
    pub streams_aborted: AtomicU64,
    pub active_streams: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> LookerCounters {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        LookerCounters {
            logins: get(&self.logins),
            login_failures: get(&self.login_failures),
            logouts: get(&self.logouts),
            unauthorized: get(&self.unauthorized),
            queries_created: get(&self.queries_created),
            query_runs: get(&self.query_runs),
            tasks_created: get(&self.tasks_created),
            tasks_killed: get(&self.tasks_killed),
            rows_generated: get(&self.rows_generated),
            rows_served: get(&self.rows_served),
            bytes_served: get(&self.bytes_served),
            streams_started: get(&self.streams_started),
            streams_finished: get(&self.streams_finished),
            streams_aborted: get(&self.streams_aborted),
            active_streams: get(&self.active_streams),
        }
    }

    fn reset(&self) {
        for a in [
            &self.logins,
            &self.login_failures,
            &self.logouts,
            &self.unauthorized,
            &self.queries_created,
            &self.query_runs,
            &self.tasks_created,
            &self.tasks_killed,
            &*self.rows_generated,
            &self.rows_served,
            &self.bytes_served,
            &self.streams_started,
            &self.streams_finished,
            &self.streams_aborted,
        ] {
            a.store(0, Ordering::Relaxed);
        }
    }
}

/// A snapshot of the fake's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LookerCounters {
    /// Successful `POST /login`.
    pub logins: u64,
    /// Refused `POST /login` (bad or misplaced credentials).
    pub login_failures: u64,
    /// Successful `DELETE /logout`.
    pub logouts: u64,
    /// Requests answered `401 Requires authentication.`.
    pub unauthorized: u64,
    /// Distinct queries created (a repeated body reuses its query).
    pub queries_created: u64,
    /// Query executions (`run` endpoints and task results).
    pub query_runs: u64,
    /// Async query tasks created.
    pub tasks_created: u64,
    /// Tasks killed by `DELETE /running_queries/{id}`.
    pub tasks_killed: u64,
    /// Source rows produced by the data generators.
    pub rows_generated: u64,
    /// Result rows written to response bodies.
    pub rows_served: u64,
    /// Result body bytes handed to the server.
    pub bytes_served: u64,
    /// Result bodies started.
    pub streams_started: u64,
    /// Result bodies written to the end.
    pub streams_finished: u64,
    /// Result bodies dropped before the end (client went away).
    pub streams_aborted: u64,
    /// Result bodies being written right now.
    pub active_streams: u64,
}

/// A query as stored by `POST /queries` or an inline run.
#[derive(Debug)]
pub(crate) struct StoredQuery {
    pub id: String,
    pub slug: String,
    pub spec: QuerySpec,
    pub plan: Compiled,
}

/// A created query, for inspection by tests.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueryRecord {
    /// Query id (a numeric string).
    pub id: String,
    /// Query slug.
    pub slug: String,
    /// LookML model.
    pub model: String,
    /// Explore.
    pub view: String,
    /// Selected fields.
    pub fields: Vec<String>,
    /// Filters, field name to expression.
    pub filters: BTreeMap<String, String>,
    /// Sorts as sent.
    pub sorts: Vec<String>,
    /// Row limit as sent.
    pub limit: Option<String>,
}

/// An async query task, for inspection by tests.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskRecord {
    /// Task id (32 hex digits).
    pub id: String,
    /// The query it runs.
    pub query_id: String,
    /// Requested `result_format`.
    pub result_format: String,
    /// Current status (as last observed).
    pub status: TaskStatus,
    /// Status observations so far (`GET /query_tasks/{id}` and `/results`).
    pub observations: u32,
    /// `source` given at creation.
    pub source: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct QueryStore {
    pub by_id: BTreeMap<u64, Arc<StoredQuery>>,
    pub by_identity: HashMap<String, u64>,
    pub by_slug: HashMap<String, u64>,
    pub next_id: u64,
}

/// Outcome of storing a query.
pub(crate) enum Interned {
    Stored(Arc<StoredQuery>),
    /// The `client_id` is taken by a different query.
    SlugTaken(String),
}

impl QueryStore {
    pub(crate) fn intern(
        &mut self,
        spec: QuerySpec,
        plan: Compiled,
        counters: &Counters,
    ) -> Interned {
        let identity = spec.identity();
        if let Some(q) = self
            .by_identity
            .get(&identity)
            .and_then(|id| self.by_id.get(id))
        {
            return Interned::Stored(q.clone());
        }
        let slug = match &spec.client_id {
            Some(c) => c.clone(),
            None => slug_for(&identity),
        };
        if self.by_slug.contains_key(&slug) {
            return Interned::SlugTaken(slug);
        }
        self.next_id += 1;
        let n = self.next_id;
        let q = Arc::new(StoredQuery {
            id: n.to_string(),
            slug: slug.clone(),
            spec,
            plan,
        });
        self.by_id.insert(n, q.clone());
        self.by_identity.insert(identity, n);
        self.by_slug.insert(slug, n);
        counters.queries_created.fetch_add(1, Ordering::Relaxed);
        Interned::Stored(q)
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<StoredQuery>> {
        self.by_id.get(&id.trim().parse::<u64>().ok()?).cloned()
    }

    pub(crate) fn by_slug(&self, slug: &str) -> Option<Arc<StoredQuery>> {
        self.by_id.get(self.by_slug.get(slug)?).cloned()
    }
}

/// A 22-character alphanumeric slug derived from the query identity.
fn slug_for(identity: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(22);
    let mut salt = 0u64;
    while out.len() < 22 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (identity, salt).hash(&mut h);
        let mut x = h.finish();
        for _ in 0..10 {
            if out.len() == 22 {
                break;
            }
            out.push(ALPHABET[(x % ALPHABET.len() as u64) as usize] as char);
            x /= ALPHABET.len() as u64;
        }
        salt += 1;
    }
    out
}

/// An issued access token.
#[derive(Debug)]
pub(crate) struct Token {
    pub issued: Instant,
    pub expires_at: Instant,
    /// Authenticated requests made with it (for the harness's
    /// expire-after-N-requests fault).
    pub uses: u64,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub config: Mutex<LookerConfig>,
    pub tokens: Mutex<HashMap<String, Token>>,
    pub queries: Mutex<QueryStore>,
    pub tasks: Mutex<BTreeMap<String, Task>>,
    pub counters: Arc<Counters>,
    /// The fault rules of the server this fake runs in; auth consults its
    /// token policy.
    pub faults: Faults,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it
/// (a fake must keep serving the rest of a test run).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A stateful fake of the Looker API 4.0.
///
/// Cheap to clone: clones share state. Serve [`LookerFake::router`] on any
/// listener (the testkit's `FakeServer` harness adds fault injection and
/// request inspection) and point a client at `http://<addr>` (the routes
/// are under `/api/4.0`).
///
/// ```no_run
/// use testkit::looker::{LookerConfig, LookerFake};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let fake = LookerFake::new(LookerConfig::default().with_gl_lines_rows(1_000_000))?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let base_url = format!("http://{}", listener.local_addr()?);
/// tokio::spawn(axum::serve(listener, fake.router()).into_future());
/// // ... run the client against base_url, then:
/// assert_eq!(fake.counters().logins, 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct LookerFake {
    pub(crate) inner: Arc<Inner>,
}

impl Default for LookerFake {
    fn default() -> Self {
        LookerFake::from_valid(LookerConfig::default())
    }
}

impl LookerFake {
    /// A fake with checked settings.
    pub fn new(config: LookerConfig) -> Result<LookerFake, LookerConfigError> {
        config.validate()?;
        Ok(LookerFake::from_valid(config))
    }

    fn from_valid(config: LookerConfig) -> LookerFake {
        LookerFake {
            inner: Arc::new(Inner {
                config: Mutex::new(config),
                tokens: Mutex::new(HashMap::new()),
                queries: Mutex::new(QueryStore::default()),
                tasks: Mutex::new(BTreeMap::new()),
                counters: Arc::new(Counters::default()),
                faults: Faults::new(),
            }),
        }
    }

    /// The current settings.
    pub fn config(&self) -> LookerConfig {
        lock(&self.inner.config).clone()
    }

    /// Changes settings at run time (row counts, data problems, token
    /// lifetime, task progress, ...). The change is checked first; on error
    /// nothing changes. Tokens already issued keep their expiry.
    ///
    /// ```
    /// use testkit::looker::{DataProblem, LookerFake};
    ///
    /// let fake = LookerFake::default();
    /// fake.update_config(|c| {
    ///     c.gl_lines_rows = 2_000_000;
    ///     c.data_problems.push(DataProblem::unmapped_cost_center(11, "EAST"));
    /// })
    /// .unwrap();
    /// assert!(fake.update_config(|c| c.months = (0, 4)).is_err());
    /// ```
    pub fn update_config(
        &self,
        change: impl FnOnce(&mut LookerConfig),
    ) -> Result<(), LookerConfigError> {
        let mut guard = lock(&self.inner.config);
        let mut next = guard.clone();
        change(&mut next);
        next.validate()?;
        *guard = next;
        Ok(())
    }

    /// The fault rules shared with the server this fake runs in (see
    /// [`LookerFake::serve`]); their token policy (expiry after an age or a
    /// number of requests) applies to Looker access tokens.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> LookerCounters {
        self.inner.counters.snapshot()
    }

    /// The queries created so far, oldest first.
    pub fn queries(&self) -> Vec<QueryRecord> {
        lock(&self.inner.queries)
            .by_id
            .values()
            .map(|q| QueryRecord {
                id: q.id.clone(),
                slug: q.slug.clone(),
                model: q.spec.model.clone(),
                view: q.spec.view.clone(),
                fields: q.spec.fields.clone(),
                filters: q.spec.filters.clone(),
                sorts: q.spec.sorts.clone(),
                limit: q.spec.limit.clone(),
            })
            .collect()
    }

    /// The async query tasks created so far.
    pub fn tasks(&self) -> Vec<TaskRecord> {
        lock(&self.inner.tasks).values().map(Task::record).collect()
    }

    /// Number of access tokens that are still valid.
    pub fn live_tokens(&self) -> usize {
        let now = Instant::now();
        lock(&self.inner.tokens)
            .values()
            .filter(|t| t.expires_at > now)
            .count()
    }

    /// Makes every issued token expire now (the next call gets `401`).
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for t in lock(&self.inner.tokens).values_mut() {
            t.expires_at = now;
        }
    }

    /// Makes a task's results expire now: its status becomes `expired` and
    /// `/results` answers `404`. Returns whether the task exists.
    pub fn expire_task(&self, task_id: &str) -> bool {
        match lock(&self.inner.tasks).get_mut(task_id) {
            Some(t) => {
                t.force_expire();
                true
            }
            None => false,
        }
    }

    /// The overhead allocation lines the `finance.overhead_allocation`
    /// explore serves under the current settings (the ground truth tests
    /// compare against).
    pub fn allocation_lines(&self) -> Vec<AllocationLine> {
        data::allocation_lines(&self.config())
    }

    /// Forgets queries and tasks and zeroes the counters. Tokens stay valid.
    pub fn reset(&self) {
        *lock(&self.inner.queries) = QueryStore::default();
        lock(&self.inner.tasks).clear();
        self.inner.counters.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_22_alphanumerics_and_stable() {
        let a = slug_for("x");
        assert_eq!(a.len(), 22);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(a, slug_for("x"));
        assert_ne!(a, slug_for("y"));
    }
}
