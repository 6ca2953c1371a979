//! Fault injection shared by every fake, configurable at run time.
//!
//! A [`Faults`] handle holds a list of [`FaultRule`]s. Each rule names a
//! route (optional method plus a path pattern), a [`FaultKind`] and a
//! schedule (always, the next N matching requests, every Nth, after K).
//! The harness in [`crate::server`] consults the rules for every request.
//! Nothing here knows Acumatica or Looker: bodies of made-up errors come from
//! the fake's [`crate::server::ErrorStyle`].
//!
//! Token expiry is different: only the fake knows its tokens, so [`Faults`]
//! keeps a token policy the fakes' auth consults through
//! [`Faults::token_expired`].
//!
//! ```
//! use std::time::Duration;
//! use testkit::faults::{FaultKind, FaultRule, Faults};
//!
//! let faults = Faults::new();
//! // The next two PUTs to any JournalTransaction URL get a 429 without Retry-After.
//! let id = faults.add(
//!     FaultRule::new(FaultKind::TooManyRequests { retry_after: None })
//!         .method("PUT")
//!         .path("/entity/Default/*/JournalTransaction")
//!         .times(2),
//! );
//! // Every third request anywhere is slow.
//! faults.add(FaultRule::new(FaultKind::Latency(Duration::from_millis(200))).every(3));
//! assert_eq!(faults.fired(id), 0);
//! faults.clear();
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderValue, Method, Response, header};

/// What a fault does to a matching request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// `429 Too Many Requests`, with `Retry-After: <seconds>` when given.
    /// The handler does not run.
    TooManyRequests {
        /// Seconds for the `Retry-After` header; `None` sends no header.
        retry_after: Option<u64>,
    },
    /// A server error (500, 502, 503, 504, ...) with a JSON body in the
    /// fake's real error shape. The handler does not run.
    ServerError {
        /// HTTP status to answer.
        status: u16,
    },
    /// An HTML error page as a reverse proxy in front of the service would
    /// send it (`text/html`, not JSON). The handler does not run.
    ProxyErrorPage {
        /// HTTP status, usually 502, 503 or 504.
        status: u16,
    },
    /// Wait this long before the request is handled (combines with the other
    /// kinds).
    Latency(Duration),
    /// Run the handler (the write is applied), then close the connection
    /// before any byte of the response is sent. The client never learns the
    /// outcome.
    DropAfterWrite,
    /// Close the connection without running the handler (nothing applied).
    DropBeforeHandler,
    /// Run the handler, then replace the body with a complete but invalid
    /// JSON document (the first half of the real body) with a matching
    /// `Content-Length`.
    MalformedBody,
    /// Run the handler, then send the first half of the body and abort the
    /// stream (the connection closes mid-body).
    TruncatedBody,
    /// Acumatica's licence queue (FACTS §4): the request waits in the queue
    /// for this long (or until [`Faults::release_queued`]), then the handler
    /// runs and its write is **applied even if the client has given up and
    /// closed the connection meanwhile** — Acumatica gives no sign that a
    /// request is queued and declines it only after ten minutes. A client
    /// still waiting gets the response. Unlike [`FaultKind::Latency`], whose
    /// request is dropped with its connection, the held request runs on a
    /// detached task. [`Faults::queued_held`], [`Faults::queued_applied`] and
    /// [`Faults::wait_queued_applied`] tell a test where the held requests
    /// are, so it needs no guessed sleeps. Combines with
    /// [`FaultKind::Latency`]; the other kinds win over it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use testkit::faults::{FaultKind, FaultRule, Faults};
    ///
    /// let faults = Faults::new();
    /// // The next insert waits 30 s in the "queue" (or until released), then
    /// // lands whether the client still waits or not.
    /// faults.add(
    ///     FaultRule::new(FaultKind::Queued(Duration::from_secs(30)))
    ///         .method("PUT")
    ///         .path("/entity/Default/*/JournalTransaction")
    ///         .times(1),
    /// );
    /// assert_eq!(faults.queued_held(), 0);
    /// faults.release_queued(); // apply every held request now
    /// ```
    Queued(Duration),
}

impl FaultKind {
    fn label(&self) -> String {
        match self {
            FaultKind::TooManyRequests {
                retry_after: Some(s),
            } => format!("429 retry-after {s}"),
            FaultKind::TooManyRequests { retry_after: None } => "429".to_owned(),
            FaultKind::ServerError { status } => format!("{status}"),
            FaultKind::ProxyErrorPage { status } => format!("proxy {status}"),
            FaultKind::Latency(d) => format!("latency {}ms", d.as_millis()),
            FaultKind::DropAfterWrite => "drop after write".to_owned(),
            FaultKind::DropBeforeHandler => "drop before handler".to_owned(),
            FaultKind::MalformedBody => "malformed body".to_owned(),
            FaultKind::TruncatedBody => "truncated body".to_owned(),
            FaultKind::Queued(d) => format!("queued {}ms", d.as_millis()),
        }
    }
}

/// When a rule fires among the requests that match its route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Every matching request.
    Always,
    /// The next `n` matching requests, then never again.
    Times(u64),
    /// Every `n`th matching request (the `n`th, `2n`th, ...).
    EveryNth(u64),
    /// Let `skip` matching requests pass, then fire on the next `times`.
    After {
        /// Requests let through first.
        skip: u64,
        /// Requests that fire afterwards.
        times: u64,
    },
}

/// A path pattern: `/`-separated segments where `*` matches one segment and
/// a final `**` matches any rest (including nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathPattern(String);

impl PathPattern {
    /// Parse a pattern such as `/entity/Default/*/JournalTransaction` or
    /// `/api/4.0/**`.
    pub fn new(pattern: impl Into<String>) -> Self {
        PathPattern(pattern.into())
    }

    /// Whether `path` matches.
    pub fn matches(&self, path: &str) -> bool {
        let mut pat = self
            .0
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty());
        let mut segs = path.trim_matches('/').split('/').filter(|s| !s.is_empty());
        loop {
            match (pat.next(), segs.next()) {
                (Some("**"), _) => return true,
                (Some(p), Some(s)) if p == "*" || p == s => continue,
                (None, None) => return true,
                _ => return false,
            }
        }
    }
}

/// One fault: which requests, what happens, how often.
#[derive(Clone, Debug)]
pub struct FaultRule {
    method: Option<Method>,
    path: PathPattern,
    kind: FaultKind,
    schedule: Schedule,
}

impl FaultRule {
    /// A rule that fires on every request of every route until narrowed.
    pub fn new(kind: FaultKind) -> Self {
        FaultRule {
            method: None,
            path: PathPattern::new("/**"),
            kind,
            schedule: Schedule::Always,
        }
    }

    /// Only requests with this method (`"GET"`, `"PUT"`, ...). An invalid
    /// method name matches nothing.
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(Method::from_bytes(method.as_bytes()).unwrap_or(Method::CONNECT));
        self
    }

    /// Only paths matching `pattern` (see [`PathPattern`]).
    pub fn path(mut self, pattern: &str) -> Self {
        self.path = PathPattern::new(pattern);
        self
    }

    /// Fire on the next `n` matching requests only.
    pub fn times(mut self, n: u64) -> Self {
        self.schedule = Schedule::Times(n);
        self
    }

    /// Fire on every `n`th matching request (`n` of 0 counts as 1).
    pub fn every(mut self, n: u64) -> Self {
        self.schedule = Schedule::EveryNth(n.max(1));
        self
    }

    /// Let `skip` matching requests through, then fire on the next `times`.
    pub fn after(mut self, skip: u64, times: u64) -> Self {
        self.schedule = Schedule::After { skip, times };
        self
    }

    /// Set the schedule directly.
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        self.method.as_ref().is_none_or(|m| m == method) && self.path.matches(path)
    }
}

/// Identifies a rule added with [`Faults::add`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FaultId(u64);

#[derive(Debug)]
struct ActiveRule {
    id: FaultId,
    rule: FaultRule,
    matched: u64,
    fired: u64,
}

impl ActiveRule {
    /// Count a matching request and say whether the rule fires on it.
    fn tick(&mut self) -> bool {
        self.matched += 1;
        let n = self.matched;
        let fire = match self.rule.schedule {
            Schedule::Always => true,
            Schedule::Times(t) => n <= t,
            Schedule::EveryNth(k) => n.is_multiple_of(k),
            Schedule::After { skip, times } => n > skip && n <= skip + times,
        };
        if fire {
            self.fired += 1;
        }
        fire
    }
}

/// When tokens expire in addition to their normal lifetime; consulted by the
/// fakes' auth through [`Faults::token_expired`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenPolicy {
    /// Tokens expire this long after they were issued (shorter than the
    /// fake's configured lifetime wins).
    pub max_age: Option<Duration>,
    /// Tokens expire after this many authenticated requests.
    pub max_uses: Option<u64>,
    /// Tokens issued at or before this instant are expired.
    pub revoked_before: Option<tokio::time::Instant>,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    rules: Vec<ActiveRule>,
    tokens: TokenPolicy,
}

/// Requests held by [`FaultKind::Queued`]: how many wait, how many were
/// applied, and the signals behind [`Faults::release_queued`] and
/// [`Faults::wait_queued_applied`].
#[derive(Debug, Default)]
pub(crate) struct LicenceQueue {
    held: AtomicU64,
    applied: AtomicU64,
    changed: Notify,
    release: Notify,
}

impl LicenceQueue {
    /// Holds one request for `hold` or until released, then lets it run.
    pub(crate) async fn hold(&self, hold: Duration) {
        let released = self.release.notified();
        tokio::pin!(released);
        released.as_mut().enable();
        self.held.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
        tokio::select! {
            _ = tokio::time::sleep(hold) => {}
            _ = released => {}
        }
        self.held.fetch_sub(1, Ordering::SeqCst);
    }

    /// One held request's handler finished: its write is applied.
    pub(crate) fn applied(&self) {
        self.applied.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    async fn wait_until(&self, done: impl Fn(&Self) -> bool) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if done(self) {
                return;
            }
            changed.await;
        }
    }
}

/// Runtime-configurable fault rules of one fake (cheap to clone; clones
/// share the rules).
#[derive(Clone, Debug, Default)]
pub struct Faults {
    state: Arc<Mutex<State>>,
    queue: Arc<LicenceQueue>,
}

impl Faults {
    /// No faults.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add a rule; rules are consulted in the order they were added.
    pub fn add(&self, rule: FaultRule) -> FaultId {
        let mut state = self.lock();
        state.next_id += 1;
        let id = FaultId(state.next_id);
        state.rules.push(ActiveRule {
            id,
            rule,
            matched: 0,
            fired: 0,
        });
        id
    }

    /// Remove one rule. Returns whether it existed.
    pub fn remove(&self, id: FaultId) -> bool {
        let mut state = self.lock();
        let before = state.rules.len();
        state.rules.retain(|r| r.id != id);
        before != state.rules.len()
    }

    /// Remove every rule and the token policy.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.rules.clear();
        state.tokens = TokenPolicy::default();
    }

    /// How many times a rule has fired (0 for an unknown id).
    pub fn fired(&self, id: FaultId) -> u64 {
        self.lock()
            .rules
            .iter()
            .find(|r| r.id == id)
            .map_or(0, |r| r.fired)
    }

    /// How many requests matched a rule's route so far, fired or not.
    pub fn matched(&self, id: FaultId) -> u64 {
        self.lock()
            .rules
            .iter()
            .find(|r| r.id == id)
            .map_or(0, |r| r.matched)
    }

    /// Expire tokens `age` after they were issued.
    pub fn expire_tokens_after(&self, age: Duration) {
        self.lock().tokens.max_age = Some(age);
    }

    /// Expire tokens after `n` authenticated requests each.
    pub fn expire_tokens_after_requests(&self, n: u64) {
        self.lock().tokens.max_uses = Some(n);
    }

    /// Expire every token issued so far (new logins get working tokens).
    pub fn expire_all_tokens(&self) {
        self.lock().tokens.revoked_before = Some(tokio::time::Instant::now());
    }

    /// Requests [`FaultKind::Queued`] holds right now (not yet applied).
    pub fn queued_held(&self) -> u64 {
        self.queue.held.load(Ordering::SeqCst)
    }

    /// Requests [`FaultKind::Queued`] held whose handler has run since the
    /// fake started: their writes are applied, whether or not their client
    /// was still connected.
    pub fn queued_applied(&self) -> u64 {
        self.queue.applied.load(Ordering::SeqCst)
    }

    /// Lets every request [`FaultKind::Queued`] holds now run at once (the
    /// queue's processing cores became free). Their writes are applied.
    pub fn release_queued(&self) {
        self.queue.release.notify_waiters();
    }

    /// Waits until at least `n` requests are held by [`FaultKind::Queued`].
    pub async fn wait_queued_held(&self, n: u64) {
        self.queue
            .wait_until(|q| q.held.load(Ordering::SeqCst) >= n)
            .await;
    }

    /// Waits until at least `n` held requests were applied in all
    /// ([`Faults::queued_applied`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let faults = testkit::faults::Faults::new();
    /// faults.wait_queued_applied(0).await; // returns at once
    /// # }
    /// ```
    pub async fn wait_queued_applied(&self, n: u64) {
        self.queue
            .wait_until(|q| q.applied.load(Ordering::SeqCst) >= n)
            .await;
    }

    pub(crate) fn licence_queue(&self) -> Arc<LicenceQueue> {
        self.queue.clone()
    }

    /// The current token policy.
    pub fn token_policy(&self) -> TokenPolicy {
        self.lock().tokens
    }

    /// For a fake's auth: is a token issued at `issued` and used for `uses`
    /// requests (counting the current one) expired by the configured policy?
    /// The fake still applies its own normal lifetime on top.
    pub fn token_expired(&self, issued: tokio::time::Instant, uses: u64) -> bool {
        let policy = self.token_policy();
        policy.max_age.is_some_and(|age| issued.elapsed() >= age)
            || policy.max_uses.is_some_and(|n| uses > n)
            || policy.revoked_before.is_some_and(|t| issued <= t)
    }

    /// Decide what happens to one request (advances the rules' counters).
    pub(crate) fn plan(&self, method: &Method, path: &str) -> Plan {
        let mut plan = Plan::default();
        let mut state = self.lock();
        for rule in state.rules.iter_mut() {
            if !rule.rule.matches(method, path) || !rule.tick() {
                continue;
            }
            plan.labels.push(rule.rule.kind.label());
            match &rule.rule.kind {
                FaultKind::Latency(d) => *plan.latency.get_or_insert(Duration::ZERO) += *d,
                FaultKind::Queued(d) if plan.terminal.is_none() => plan.queued = Some(*d),
                kind if plan.terminal.is_none() => plan.terminal = Some(kind.clone()),
                _ => {}
            }
        }
        if plan.terminal.is_some() {
            plan.queued = None;
        }
        plan.drop_after_write = matches!(plan.terminal, Some(FaultKind::DropAfterWrite));
        plan
    }
}

/// What the harness does with one request.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) latency: Option<Duration>,
    pub(crate) queued: Option<Duration>,
    pub(crate) drop_after_write: bool,
    terminal: Option<FaultKind>,
    labels: Vec<String>,
}

/// A response decided before the handler runs.
pub(crate) enum Outcome {
    Respond {
        status: u16,
        retry_after: Option<u64>,
        message: String,
    },
    RawPage {
        status: u16,
        content_type: String,
        body: Vec<u8>,
    },
    DropBeforeHandler,
}

impl Plan {
    pub(crate) fn label(&self) -> Option<String> {
        (!self.labels.is_empty()).then(|| self.labels.join(", "))
    }

    pub(crate) fn before_handler(&self) -> Option<Outcome> {
        match self.terminal.as_ref()? {
            FaultKind::TooManyRequests { retry_after } => Some(Outcome::Respond {
                status: 429,
                retry_after: *retry_after,
                message: "The number of requests has exceeded the limit.".to_owned(),
            }),
            FaultKind::ServerError { status } => Some(Outcome::Respond {
                status: *status,
                retry_after: None,
                message: "An error has occurred.".to_owned(),
            }),
            FaultKind::ProxyErrorPage { status } => Some(Outcome::RawPage {
                status: *status,
                content_type: "text/html".to_owned(),
                body: proxy_page(*status).into_bytes(),
            }),
            FaultKind::DropBeforeHandler => Some(Outcome::DropBeforeHandler),
            _ => None,
        }
    }

    pub(crate) async fn after_handler(&self, resp: Response<Body>) -> Response<Body> {
        match self.terminal {
            Some(FaultKind::MalformedBody) => {
                let (mut parts, body) = resp.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                let cut = if bytes.len() >= 2 {
                    bytes.slice(..bytes.len() / 2)
                } else {
                    Bytes::from_static(b"{\"unterminated")
                };
                parts
                    .headers
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(cut.len()));
                parts.headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=utf-8"),
                );
                Response::from_parts(parts, Body::from(cut))
            }
            Some(FaultKind::TruncatedBody) => {
                let (mut parts, body) = resp.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                let half = bytes.slice(..bytes.len() / 2);
                // Announce the full length, send half, then fail the stream:
                // hyper aborts the connection mid-body.
                parts.headers.insert(
                    header::CONTENT_LENGTH,
                    HeaderValue::from(bytes.len().max(1)),
                );
                // Give hyper time to flush the head and the first half, so
                // the client sees a response whose body breaks, not a failed
                // request.
                let stream = futures::stream::unfold(Some(half), |half| async move {
                    match half {
                        Some(half) => Some((Ok(half), None)),
                        None => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Some((
                                Err(std::io::Error::other("injected fault: body truncated")),
                                None,
                            ))
                        }
                    }
                });
                Response::from_parts(parts, Body::from_stream(stream))
            }
            _ => resp,
        }
    }
}

fn proxy_page(status: u16) -> String {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    format!(
        "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_patterns() {
        let p = PathPattern::new("/entity/Default/*/JournalTransaction");
        assert!(p.matches("/entity/Default/24.200.001/JournalTransaction"));
        assert!(!p.matches("/entity/Default/24.200.001/JournalTransaction/GL/000001"));
        assert!(!p.matches("/entity/Default/24.200.001/Vendor"));
        let p = PathPattern::new("/api/4.0/**");
        assert!(p.matches("/api/4.0/queries/1/run/json"));
        assert!(p.matches("/api/4.0"));
        assert!(!p.matches("/api/3.1/login"));
        assert!(PathPattern::new("/**").matches("/"));
    }

    #[test]
    fn schedules_count_matching_requests_only() {
        let faults = Faults::new();
        let id = faults.add(
            FaultRule::new(FaultKind::ServerError { status: 503 })
                .method("PUT")
                .every(2),
        );
        let get = Method::GET;
        let put = Method::PUT;
        assert!(faults.plan(&get, "/x").terminal.is_none());
        assert!(faults.plan(&put, "/x").terminal.is_none());
        assert_eq!(
            faults.plan(&put, "/x").terminal,
            Some(FaultKind::ServerError { status: 503 })
        );
        assert_eq!(faults.matched(id), 2);
        assert_eq!(faults.fired(id), 1);

        let faults = Faults::new();
        let id = faults.add(FaultRule::new(FaultKind::DropAfterWrite).after(1, 1));
        assert!(!faults.plan(&get, "/").drop_after_write);
        assert!(faults.plan(&get, "/").drop_after_write);
        assert!(!faults.plan(&get, "/").drop_after_write);
        assert_eq!(faults.fired(id), 1);
        assert!(faults.remove(id));
        assert!(!faults.remove(id));
    }

    #[test]
    fn latency_combines_with_a_terminal_fault() {
        let faults = Faults::new();
        faults.add(FaultRule::new(FaultKind::Latency(Duration::from_millis(5))));
        faults.add(FaultRule::new(FaultKind::Latency(Duration::from_millis(7))));
        faults.add(FaultRule::new(FaultKind::MalformedBody).times(1));
        let plan = faults.plan(&Method::GET, "/a");
        assert_eq!(plan.latency, Some(Duration::from_millis(12)));
        assert_eq!(plan.terminal, Some(FaultKind::MalformedBody));
        assert_eq!(
            plan.label().unwrap(),
            "latency 5ms, latency 7ms, malformed body"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn token_policy() {
        let faults = Faults::new();
        let issued = tokio::time::Instant::now();
        assert!(!faults.token_expired(issued, 1_000));
        faults.expire_tokens_after_requests(3);
        assert!(!faults.token_expired(issued, 3));
        assert!(faults.token_expired(issued, 4));
        faults.clear();
        faults.expire_tokens_after(Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(!faults.token_expired(issued, 1));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(faults.token_expired(issued, 1));
        faults.clear();
        faults.expire_all_tokens();
        assert!(faults.token_expired(issued, 1));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(!faults.token_expired(tokio::time::Instant::now(), 1));
    }

    #[test]
    fn proxy_page_is_html() {
        assert!(proxy_page(502).contains("<h1>502 Bad Gateway</h1>"));
    }
}
