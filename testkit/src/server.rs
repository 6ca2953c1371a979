//! The HTTP harness every fake runs in.
//!
//! A fake is just an [`axum::Router`]. [`FakeServer`] binds `127.0.0.1:0`,
//! serves the router over HTTP/1.1 and wraps every request in two generic
//! layers that know nothing about Acumatica or Looker:
//!
//! 1. [`crate::faults`]: the fault rules configured at run time (429, 5xx,
//!    latency, a dropped connection after the write, malformed or truncated
//!    bodies, an HTML proxy error page, a request held in the licence queue
//!    and applied after its client gave up);
//! 2. [`crate::inspect`]: the request log (method, path, redacted query,
//!    status, auth scheme; never a secret or a body).
//!
//! # Plugging a fake in
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use axum::{Router, routing::get};
//! use testkit::server::{ErrorStyle, FakeServer};
//!
//! let router = Router::new().route("/hello", get(|| async { "hi" }));
//! let server = FakeServer::builder(router)
//!     // how an injected 5xx/429 body looks on this service
//!     .error_style(ErrorStyle::json(|status, message| {
//!         serde_json::json!({ "message": message, "status": status })
//!     }))
//!     .start()
//!     .await?;
//! println!("serving on {}", server.url());
//! // server.faults() configures faults, server.log() inspects requests;
//! // dropping `server` (or `server.shutdown().await`) stops it.
//! # Ok(()) }
//! ```
//!
//! Connections are served by hyper directly (not `axum::serve`) so that a
//! fault can kill one: each connection owns a kill switch, and the
//! [`crate::faults::FaultKind::DropAfterWrite`] fault lets the handler finish
//! (the write is applied) and then closes the socket before a single byte of
//! the response is written. The client never learns the outcome, exactly
//! like a load balancer timing out in front of a slow server.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

use crate::faults::{Faults, Outcome};
use crate::inspect::{RequestLog, RequestRecord};

/// How a service formats an error body that the harness makes up itself
/// (an injected 5xx or 429). Each fake sets the shape of its real service.
#[derive(Clone)]
pub struct ErrorStyle {
    make: Arc<MakeBody>,
}

type MakeBody = dyn Fn(u16, &str) -> (String, Vec<u8>) + Send + Sync;

impl ErrorStyle {
    /// A JSON error body built by `f(status, message)`.
    pub fn json<F>(f: F) -> Self
    where
        F: Fn(u16, &str) -> serde_json::Value + Send + Sync + 'static,
    {
        ErrorStyle {
            make: Arc::new(move |status, message| {
                let body = serde_json::to_vec(&f(status, message)).unwrap_or_default();
                ("application/json; charset=utf-8".to_owned(), body)
            }),
        }
    }

    /// Any body: `f(status, message)` returns `(content type, bytes)`.
    pub fn custom<F>(f: F) -> Self
    where
        F: Fn(u16, &str) -> (String, Vec<u8>) + Send + Sync + 'static,
    {
        ErrorStyle { make: Arc::new(f) }
    }

    /// The body for `status` with a human `message`.
    pub fn body(&self, status: u16, message: &str) -> (String, Vec<u8>) {
        (self.make)(status, message)
    }
}

impl Default for ErrorStyle {
    /// `{"message": "..."}`.
    fn default() -> Self {
        ErrorStyle::json(|_, message| serde_json::json!({ "message": message }))
    }
}

impl std::fmt::Debug for ErrorStyle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ErrorStyle(..)")
    }
}

/// Builder of a [`FakeServer`]; see [`FakeServer::builder`].
#[derive(Debug)]
pub struct FakeServerBuilder {
    router: Router,
    faults: Faults,
    log: RequestLog,
    error_style: ErrorStyle,
    addr: SocketAddr,
}

impl FakeServerBuilder {
    /// Share an existing fault handle (e.g. one the fake's auth consults for
    /// token expiry). By default the server creates its own.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Share an existing request log. By default the server creates its own.
    pub fn log(mut self, log: RequestLog) -> Self {
        self.log = log;
        self
    }

    /// The shape of error bodies the harness makes up (injected 5xx/429).
    pub fn error_style(mut self, style: ErrorStyle) -> Self {
        self.error_style = style;
        self
    }

    /// Listen on this address instead of `127.0.0.1:0` (e.g. a fixed port
    /// for the sandbox).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Bind and start serving in the background of the current tokio
    /// runtime.
    pub async fn start(self) -> std::io::Result<FakeServer> {
        let listener = TcpListener::bind(self.addr).await?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            router: self.router,
            faults: self.faults.clone(),
            log: self.log.clone(),
            error_style: self.error_style,
        });
        let task = tokio::spawn(accept_loop(listener, shared, stop_rx));
        Ok(FakeServer {
            url: format!("http://{addr}"),
            addr,
            faults: self.faults,
            log: self.log,
            stop: stop_tx,
            task: Some(task),
        })
    }
}

/// A running fake: an HTTP server on `127.0.0.1` with fault injection and a
/// request log. Stops when dropped or on [`FakeServer::shutdown`].
#[derive(Debug)]
pub struct FakeServer {
    url: String,
    addr: SocketAddr,
    faults: Faults,
    log: RequestLog,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl FakeServer {
    /// Start configuring a server for `router`.
    pub fn builder(router: Router) -> FakeServerBuilder {
        FakeServerBuilder {
            router,
            faults: Faults::new(),
            log: RequestLog::new(),
            error_style: ErrorStyle::default(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }

    /// Serve `router` on a free local port with default settings.
    pub async fn start(router: Router) -> std::io::Result<FakeServer> {
        Self::builder(router).start().await
    }

    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The fault rules of this server (a shared, cloneable handle).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The request log of this server (a shared, cloneable handle).
    pub fn log(&self) -> &RequestLog {
        &self.log
    }

    /// Stop accepting, close every connection and wait for the accept loop.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

struct Shared {
    router: Router,
    faults: Faults,
    log: RequestLog,
    error_style: ErrorStyle,
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        let Ok((stream, _peer)) = accepted else {
            // Out of file descriptors and the like: keep serving the others.
            tokio::task::yield_now().await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let kill = Arc::new(Notify::new());
            let svc_kill = kill.clone();
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let shared = shared.clone();
                let kill = svc_kill.clone();
                async move { Ok::<_, Infallible>(handle(&shared, kill, req).await) }
            });
            let conn = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                // Dropping the connection future closes the socket at once,
                // without writing whatever response is pending.
                _ = kill.notified() => {}
                _ = stop.changed() => {}
            }
        });
    }
}

async fn handle(
    shared: &Arc<Shared>,
    kill: Arc<Notify>,
    req: Request<hyper::body::Incoming>,
) -> Response<Body> {
    let started = tokio::time::Instant::now();
    let mut record = RequestRecord::from_request(&req);
    let plan = shared.faults.plan(req.method(), req.uri().path());
    record.fault = plan.label();

    if let Some(delay) = plan.latency {
        tokio::time::sleep(delay).await;
    }

    let req = req.map(Body::new);
    let response = match plan.before_handler() {
        Some(Outcome::Respond {
            status,
            retry_after,
            message,
        }) => {
            let (ctype, body) = shared.error_style.body(status, &message);
            let mut resp = Response::new(Body::from(body));
            *resp.status_mut() =
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            set_header(&mut resp, header::CONTENT_TYPE, &ctype);
            if let Some(secs) = retry_after {
                set_header(&mut resp, header::RETRY_AFTER, &secs.to_string());
            }
            resp
        }
        Some(Outcome::RawPage {
            status,
            content_type,
            body,
        }) => {
            let mut resp = Response::new(Body::from(body));
            *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            set_header(&mut resp, header::CONTENT_TYPE, &content_type);
            resp
        }
        Some(Outcome::DropBeforeHandler) => {
            record.status = None;
            record.elapsed = started.elapsed();
            shared.log.push(record);
            kill.notify_one();
            std::future::pending::<()>().await;
            unreachable!("the connection is dropped");
        }
        _ if plan.queued.is_some() => {
            // The licence queue: the request runs on a detached task, so it is
            // applied even when the client gives up and hyper drops this
            // connection. Its body is read first, while the connection lives.
            let hold = plan.queued.unwrap_or_default();
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let req = Request::from_parts(parts, Body::from(body));
            let queue = shared.faults.licence_queue();
            let task_shared = shared.clone();
            let (tx, rx) = tokio::sync::oneshot::channel();
            let mut late = record.clone();
            tokio::spawn(async move {
                queue.hold(hold).await;
                let resp = match task_shared.router.clone().oneshot(req).await {
                    Ok(resp) => resp,
                    Err(never) => match never {},
                };
                late.handler_status = Some(resp.status().as_u16());
                queue.applied();
                // The client may be gone; the write is applied either way, and
                // logged here (no response: `status` stays `None`).
                if let Err((_, mut late)) = tx.send((resp, late)) {
                    late.elapsed = started.elapsed();
                    task_shared.log.push(late);
                }
            });
            let Ok((resp, late)) = rx.await else {
                unreachable!("the queued handler always answers");
            };
            record.handler_status = late.handler_status;
            plan.after_handler(resp).await
        }
        _ => {
            let resp = match shared.router.clone().oneshot(req).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            };
            if plan.drop_after_write {
                record.status = None;
                record.handler_status = Some(resp.status().as_u16());
                record.elapsed = started.elapsed();
                shared.log.push(record);
                // The handler ran, so its write is applied; the response is
                // never sent.
                kill.notify_one();
                std::future::pending::<()>().await;
                unreachable!("the connection is dropped");
            }
            plan.after_handler(resp).await
        }
    };
    record.status = Some(response.status().as_u16());
    record.elapsed = started.elapsed();
    shared.log.push(record);
    response
}

fn set_header(resp: &mut Response<Body>, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, value);
    }
}
