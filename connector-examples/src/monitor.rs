//! The daemon's monitoring endpoint (`run --listen ADDR`): `/healthz`, `/readyz` and
//! `/metrics` in the Prometheus text format (`prometheus-client`), served with axum.
//!
//! - `/healthz`: 200 while the process serves.
//! - `/readyz`: 200 when the state store answers and the last sign-in of every flow worked;
//!   503 with the reason otherwise.
//! - `/metrics`: counters of this process's runs (by flow and outcome, rows read, documents
//!   written, skipped and failed, retries) and gauges read from the state store at each scrape
//!   (pending documents, open dead letters, feed lag per entity, leases held, store up), and
//!   the HTTP traffic of both clients ([`HttpMetrics`]): requests by system, method and status,
//!   their latency, 429 answers and retries.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::OnceLock;
use sync_core::store::{RunCounts, StateStore};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::Context;

use crate::commands::run::SCHEDULE_LEASE_PREFIX;
use crate::config::FlowConfig;
use crate::exit::{CliError, Exit};

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The HTTP traffic of both clients, counted from their [`observe`] events by [`HttpMetrics::layer`].
/// One per process ([`HttpMetrics::global`]): the clients report through `tracing`, which is
/// process-wide too.
///
/// [`observe`]: ml_connector_retry::observe
///
/// ```
/// use connector_examples::monitor::HttpMetrics;
/// let metrics = HttpMetrics::global();
/// assert_eq!(metrics.requests("looker", "GET", "200"), 0);
/// ```
#[derive(Debug)]
pub struct HttpMetrics {
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    throttled: Family<Labels, Counter>,
    retries: Family<Labels, Counter>,
}

fn latency_histogram() -> Histogram {
    // 5 ms to about 41 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

impl HttpMetrics {
    /// The process's HTTP metrics.
    pub fn global() -> &'static HttpMetrics {
        static METRICS: OnceLock<HttpMetrics> = OnceLock::new();
        METRICS.get_or_init(|| HttpMetrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            throttled: Family::default(),
            retries: Family::default(),
        })
    }

    /// A `tracing` layer that counts the clients' exchange and retry events into
    /// [`HttpMetrics::global`], whatever the log level.
    pub fn layer<S>() -> impl Layer<S> + Send + Sync
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        CountHttp.with_filter(
            Targets::new().with_target(ml_connector_retry::observe::TARGET, tracing::Level::DEBUG),
        )
    }

    /// Requests answered so far with `status` (`"none"` when no response arrived).
    pub fn requests(&self, system: &str, method: &str, status: &str) -> u64 {
        self.requests
            .get(&labels(&[
                ("system", system),
                ("method", method),
                ("status", status),
            ]))
            .map_or(0, |c| c.get())
    }

    fn record(&self, event: ml_connector_retry::observe::HttpEvent) {
        use ml_connector_retry::observe::HttpEvent;
        match event {
            HttpEvent::Exchange {
                system,
                method,
                status,
                seconds,
            } => {
                let status_text = status.map_or_else(|| "none".to_owned(), |s| s.to_string());
                self.requests
                    .get_or_create(&labels(&[
                        ("system", &system),
                        ("method", &method),
                        ("status", &status_text),
                    ]))
                    .inc();
                self.latency
                    .get_or_create(&labels(&[("system", &system), ("method", &method)]))
                    .observe(seconds);
                if status == Some(429) {
                    self.throttled
                        .get_or_create(&labels(&[("system", &system)]))
                        .inc();
                }
            }
            HttpEvent::Retried {
                system, retries, ..
            } => {
                self.retries
                    .get_or_create(&labels(&[("system", &system)]))
                    .inc_by(retries);
            }
            _ => {}
        }
    }

    fn register(&self, registry: &mut Registry) {
        registry.register(
            "http_requests",
            "HTTP requests sent to each system, by method and status (none: no response)",
            self.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from sending a request to its response headers, by system and method",
            self.latency.clone(),
        );
        registry.register(
            "http_throttled",
            "429 Too Many Requests answers, by system",
            self.throttled.clone(),
        );
        registry.register(
            "http_retries",
            "Requests sent again after a transient failure or a 429, by system",
            self.retries.clone(),
        );
    }
}

struct CountHttp;

impl<S: tracing::Subscriber> Layer<S> for CountHttp {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if let Some(e) = ml_connector_retry::observe::HttpEvent::from_event(event) {
            HttpMetrics::global().record(e);
        }
    }
}

/// What the endpoint knows of a configured flow.
#[derive(Debug, Clone)]
struct FlowInfo {
    name: String,
    kind: String,
    entities: Vec<String>,
    post: bool,
}

/// The metrics and readiness of one daemon. Cheap to share (`Arc`).
///
/// ```no_run
/// # async fn demo(store: std::sync::Arc<dyn sync_core::store::StateStore>, flows: Vec<&connector_examples::config::FlowConfig>) -> Result<(), connector_examples::exit::CliError> {
/// use connector_examples::monitor::Monitor;
/// let monitor = std::sync::Arc::new(Monitor::new(store, &flows));
/// let addr = monitor.clone().serve("127.0.0.1:9464".parse().unwrap()).await?;
/// println!("metrics on http://{addr}/metrics");
/// # Ok(()) }
/// ```
pub struct Monitor {
    store: Arc<dyn StateStore>,
    flows: Vec<FlowInfo>,
    registry: Registry,
    runs: Family<Labels, Counter>,
    rows_read: Family<Labels, Counter>,
    written: Family<Labels, Counter>,
    skipped: Family<Labels, Counter>,
    failed: Family<Labels, Counter>,
    retries: Family<Labels, Counter>,
    pending: Family<Labels, Gauge>,
    dead_letters: Family<Labels, Gauge>,
    feed_lag: Family<Labels, Gauge>,
    lease_held: Family<Labels, Gauge>,
    store_up: Gauge,
    /// Per flow: why its last sign-in failed, if it did.
    login_problems: Mutex<HashMap<String, String>>,
    /// One scrape at a time (the gauges are set, then encoded).
    scrape: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("flows", &self.flows.len())
            .finish_non_exhaustive()
    }
}

impl Monitor {
    /// The metrics of the daemon running `flows` over `store`.
    pub fn new(store: Arc<dyn StateStore>, flows: &[&FlowConfig]) -> Monitor {
        let mut registry = Registry::with_prefix("ml_connector");
        let runs = Family::<Labels, Counter>::default();
        registry.register(
            "runs",
            "Runs this process finished, by flow, kind and outcome (the run's status)",
            runs.clone(),
        );
        let rows_read = Family::<Labels, Counter>::default();
        registry.register(
            "rows_read",
            "Rows or records read by this process's runs",
            rows_read.clone(),
        );
        let written = Family::<Labels, Counter>::default();
        registry.register(
            "documents_written",
            "Documents posted, records written or feed rows written by this process's runs",
            written.clone(),
        );
        let skipped = Family::<Labels, Counter>::default();
        registry.register(
            "documents_present",
            "Documents found already posted (not posted again) or records unchanged",
            skipped.clone(),
        );
        let failed = Family::<Labels, Counter>::default();
        registry.register(
            "documents_failed",
            "Documents or records that failed in this process's runs",
            failed.clone(),
        );
        let retries = Family::<Labels, Counter>::default();
        registry.register(
            "retries",
            "Requests retried (throttling, transient failures) in this process's runs",
            retries.clone(),
        );
        let pending = Family::<Labels, Gauge>::default();
        registry.register(
            "documents_pending",
            "Documents whose create outcome is not known yet (settled by a later run)",
            pending.clone(),
        );
        let dead_letters = Family::<Labels, Gauge>::default();
        registry.register(
            "dead_letters_open",
            "Unresolved dead letters (failed documents or refused records)",
            dead_letters.clone(),
        );
        let feed_lag = Family::<Labels, Gauge>::default();
        registry.register(
            "feed_lag_seconds",
            "Now minus the feed's high-water mark, per entity",
            feed_lag.clone(),
        );
        let lease_held = Family::<Labels, Gauge>::default();
        registry.register(
            "lease_held",
            "1 while this process holds the flow's lease (role run or schedule)",
            lease_held.clone(),
        );
        let store_up = Gauge::default();
        registry.register(
            "store_up",
            "1 when the state store answered this scrape",
            store_up.clone(),
        );
        HttpMetrics::global().register(&mut registry);
        Monitor {
            store,
            flows: flows
                .iter()
                .map(|f| FlowInfo {
                    name: f.name.clone(),
                    kind: f.kind().to_string(),
                    entities: f
                        .feed()
                        .map(|feed| feed.entities.iter().map(|e| e.entity.clone()).collect())
                        .unwrap_or_default(),
                    post: f.post().is_some(),
                })
                .collect(),
            registry,
            runs,
            rows_read,
            written,
            skipped,
            failed,
            retries,
            pending,
            dead_letters,
            feed_lag,
            lease_held,
            store_up,
            login_problems: Mutex::new(HashMap::new()),
            scrape: tokio::sync::Mutex::new(()),
        }
    }

    /// Counts a finished run of `flow`: its status (`outcome` label), its counts and, for
    /// readiness, whether its sign-in failed (exit 3 or 7).
    pub fn record_run(&self, flow: &str, status: &str, exit: Exit, counts: &RunCounts) {
        let kind = self
            .flows
            .iter()
            .find(|f| f.name == flow)
            .map_or("unknown", |f| f.kind.as_str());
        self.runs
            .get_or_create(&labels(&[
                ("flow", flow),
                ("kind", kind),
                ("outcome", status),
            ]))
            .inc();
        let by_flow = labels(&[("flow", flow)]);
        self.rows_read.get_or_create(&by_flow).inc_by(counts.read);
        self.written.get_or_create(&by_flow).inc_by(counts.written);
        self.skipped.get_or_create(&by_flow).inc_by(counts.skipped);
        self.failed.get_or_create(&by_flow).inc_by(counts.failed);
        self.retries.get_or_create(&by_flow).inc_by(counts.retries);
        let mut problems = self
            .login_problems
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match exit {
            Exit::Credentials | Exit::LoginLimit => {
                problems.insert(
                    flow.to_owned(),
                    format!("exit {} ({})", exit.code(), exit.name()),
                );
            }
            Exit::Ok => {
                problems.remove(flow);
            }
            _ => {}
        }
    }

    /// The metrics as Prometheus text, the store's gauges read now.
    pub async fn metrics(&self) -> String {
        let _one = self.scrape.lock().await;
        let store = self.store.as_ref();
        let now = store.now().await;
        self.store_up.set(i64::from(now.is_ok()));
        for g in [
            &self.pending,
            &self.dead_letters,
            &self.feed_lag,
            &self.lease_held,
        ] {
            g.clear();
        }
        if let Ok(now) = now {
            for f in &self.flows {
                let by_flow = labels(&[("flow", &f.name)]);
                if let Ok(letters) = store.dead_letters(&f.name, false).await {
                    self.dead_letters
                        .get_or_create(&by_flow)
                        .set(i64::try_from(letters.len()).unwrap_or(i64::MAX));
                }
                if f.post
                    && let Ok(pending) = store.pending_intents(&f.name).await
                {
                    self.pending
                        .get_or_create(&by_flow)
                        .set(i64::try_from(pending.len()).unwrap_or(i64::MAX));
                }
                for entity in &f.entities {
                    if let Ok(Some(mark)) = store.watermark(&f.name, entity).await {
                        let at = chrono::DateTime::parse_from_rfc3339(&mark.value)
                            .map(|t| t.to_utc())
                            .unwrap_or(mark.updated_at);
                        self.feed_lag
                            .get_or_create(&labels(&[("flow", &f.name), ("entity", entity)]))
                            .set((now - at).num_seconds().max(0));
                    }
                }
                for (role, lease) in [
                    ("run", f.name.clone()),
                    ("schedule", format!("{SCHEDULE_LEASE_PREFIX}{}", f.name)),
                ] {
                    let held = matches!(
                        store.current_lease(&lease).await,
                        Ok(Some(l)) if l.instance == sync_core::store::instance_id() && !l.is_expired_at(now)
                    );
                    self.lease_held
                        .get_or_create(&labels(&[("flow", &f.name), ("role", role)]))
                        .set(i64::from(held));
                }
            }
        }
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "could not encode the metrics");
        }
        out
    }

    /// Why the daemon is not ready, if it is not: the store does not answer, or a flow's last
    /// sign-in failed.
    pub async fn not_ready(&self) -> Option<String> {
        if let Err(e) = self.store.now().await {
            return Some(format!("the state store does not answer: {e}"));
        }
        let problems = self
            .login_problems
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut flows: Vec<_> = problems.iter().collect();
        flows.sort();
        flows
            .first()
            .map(|(flow, why)| format!("the last sign-in of flow `{flow}` failed: {why}"))
    }

    /// Serves `/healthz`, `/readyz` and `/metrics` on `addr` in the background; returns the
    /// address bound (port 0 picks a free one).
    ///
    /// # Errors
    /// A usage error (exit 2) naming the address when it cannot be bound.
    pub async fn serve(self: Arc<Self>, addr: SocketAddr) -> Result<SocketAddr, CliError> {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            CliError::usage(format!("--listen {addr}: cannot listen there: {e}"))
                .with_hint("choose a free port, e.g. --listen 127.0.0.1:9464")
        })?;
        let bound = listener.local_addr().unwrap_or(addr);
        let app = axum::Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route(
                "/readyz",
                get(|State(m): State<Arc<Monitor>>| async move {
                    match m.not_ready().await {
                        None => (StatusCode::OK, "ready\n".to_owned()),
                        Some(why) => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!("not ready: {why}\n"),
                        ),
                    }
                }),
            )
            .route(
                "/metrics",
                get(|State(m): State<Arc<Monitor>>| async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        m.metrics().await,
                    )
                        .into_response()
                }),
            )
            .with_state(self);
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the monitoring endpoint stopped");
            }
        });
        tracing::info!(address = %bound, "monitoring endpoint: /healthz, /readyz, /metrics");
        Ok(bound)
    }
}
