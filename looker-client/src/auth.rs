//! Login tokens: one cached access token, renewed before it expires, with a
//! single login in flight however many requests wait for it.
//!
//! Looker API3 credentials are exchanged at `POST /api/4.0/login` (form body,
//! never the query string: FACTS 2.1) for a token valid `expires_in` seconds
//! (3600 by default). The official SDKs renew only on expiry and never on a
//! 401; this client renews `renewal_margin` early and, when a request still
//! gets a 401 (token revoked, clock skew), logs in once more and replays the
//! request once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ml_connector_retry::RetryPolicy;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::error::{Error, ErrorKind, Result};
use crate::transport::{Body, Method, Request, SYSTEM, Transport};

/// A cached token and when to stop using it.
#[derive(Clone)]
pub(crate) struct Token {
    pub(crate) value: SecretString,
    /// When the token should be renewed (expiry minus the margin).
    renew_at: Instant,
    /// Increases with every login; tells a stale token from a fresh one.
    pub(crate) generation: u64,
}

struct State {
    token: Option<Token>,
    generation: u64,
}

/// The `AccessToken` response of `/login` (spec field names).
#[derive(Deserialize)]
struct AccessToken {
    access_token: SecretString,
    #[serde(default)]
    expires_in: Option<i64>,
}

pub(crate) struct Auth {
    client_id: String,
    client_secret: SecretString,
    margin: Duration,
    state: Mutex<State>,
    logins: AtomicU64,
}

impl Auth {
    pub(crate) fn new(client_id: String, client_secret: SecretString, margin: Duration) -> Self {
        Self {
            client_id,
            client_secret,
            margin,
            state: Mutex::new(State {
                token: None,
                generation: 0,
            }),
            logins: AtomicU64::new(0),
        }
    }

    /// Logins performed so far (successful or not).
    pub(crate) fn login_count(&self) -> u64 {
        self.logins.load(Ordering::Relaxed)
    }

    /// A token that is valid for at least the margin, logging in if needed.
    /// Callers that arrive while a login runs wait for it and share its token.
    pub(crate) async fn token(&self, t: &Transport, retry: &RetryPolicy) -> Result<Token> {
        let mut state = self.state.lock().await;
        if let Some(tok) = &state.token
            && Instant::now() < tok.renew_at
        {
            return Ok(tok.clone());
        }
        self.login_locked(&mut state, t, retry).await
    }

    /// After a 401 with the token of `stale_generation`: a new token, from a
    /// login of our own unless a concurrent request already made one.
    pub(crate) async fn renew_after_401(
        &self,
        stale_generation: u64,
        t: &Transport,
        retry: &RetryPolicy,
    ) -> Result<Token> {
        let mut state = self.state.lock().await;
        if let Some(tok) = &state.token
            && tok.generation != stale_generation
            && Instant::now() < tok.renew_at
        {
            return Ok(tok.clone());
        }
        state.token = None;
        self.login_locked(&mut state, t, retry).await
    }

    /// Revokes the current token (`DELETE /logout`), if there is one; a 429 or another
    /// transient failure is retried like any other request.
    pub(crate) async fn logout(&self, t: &Transport, retry: &RetryPolicy) -> Result<()> {
        let mut state = self.state.lock().await;
        let Some(tok) = state.token.take() else {
            return Ok(());
        };
        let req = Request::delete(&["logout"]);
        retry
            .run_for(SYSTEM, "logout", || async {
                let resp = t.send(&req, Some(&tok.value)).await?;
                match resp.status() {
                    // 404: the token was already revoked or expired (FACTS 2.3).
                    200..=299 | 401 | 404 => Ok(()),
                    status => {
                        let retry_after = resp.retry_after();
                        let body = resp.bytes(&req.label()).await.unwrap_or_default();
                        Err(Error::from_response(
                            &req.label(),
                            t.origin(),
                            status,
                            retry_after,
                            &body,
                        ))
                    }
                }
            })
            .await
    }

    async fn login_locked(
        &self,
        state: &mut State,
        t: &Transport,
        retry: &RetryPolicy,
    ) -> Result<Token> {
        let (value, expires_in) = retry
            .run_for(SYSTEM, "login", || self.login_once(t))
            .await?;
        // Never renew more than half a lifetime early, so a short-lived
        // token is still used at all.
        let lifetime = Duration::from_secs(expires_in);
        let margin = self.margin.min(lifetime / 2);
        state.generation += 1;
        let token = Token {
            value,
            renew_at: Instant::now() + lifetime - margin,
            generation: state.generation,
        };
        state.token = Some(token.clone());
        tracing::debug!(
            instance = t.origin(),
            expires_in,
            generation = state.generation,
            "logged in to Looker"
        );
        Ok(token)
    }

    async fn login_once(&self, t: &Transport) -> Result<(SecretString, u64)> {
        self.logins.fetch_add(1, Ordering::Relaxed);
        let form = serde_urlencoded::to_string([
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose_secret()),
        ])
        .map_err(|e| Error::config(format!("cannot encode the login form: {e}")))?;
        let mut req = Request::new(Method::Post, &["login"]).idempotent(true);
        req.body = Body::Form(SecretString::from(form));
        let label = req.label();
        let resp = t.send(&req, None).await?;
        let status = resp.status();
        let retry_after = resp.retry_after();
        let body = resp.bytes(&label).await?;
        if status == 200 {
            let tok: AccessToken = serde_json::from_slice(&body).map_err(|e| {
                Error::decode(
                    format!("{label}: the login response is not an AccessToken: {e}"),
                    None,
                )
            })?;
            // 3600 s is Looker's documented default lifetime.
            let expires_in = tok.expires_in.unwrap_or(3600).max(1) as u64;
            return Ok((tok.access_token, expires_in));
        }
        let err = Error::from_response(&label, t.origin(), status, retry_after, &body);
        if matches!(status, 400 | 401 | 403 | 404) {
            return Err(Error::new(
                ErrorKind::Authentication,
                format!(
                    "Looker at {} refused the login for client_id `{}` (HTTP {status}): check \
                     the API3 client_id and client_secret and that the API user is enabled [{err}]",
                    t.origin(),
                    self.client_id
                ),
            )
            .with_source(err));
        }
        Err(err)
    }
}
