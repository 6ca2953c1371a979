//! Signing in: OAuth 2.0 tokens ([`oauth`]) or a cookie session
//! ([`session`]), behind one token cache.
//!
//! The cache is a `tokio` mutex around the current credentials and a
//! generation counter. Whoever finds the token missing or about to expire
//! renews it while holding the lock, so ten requests that need a token at
//! once cause one token request ("single flight"); the others wait and then
//! use the new token. After a 401 a request asks for renewal *of the
//! generation it used*: if someone else already renewed, it just replays
//! with the newer credentials.

pub(crate) mod oauth;
pub(crate) mod session;

use std::time::Duration;

use secrecy::SecretString;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::{Config, Credentials};
use crate::error::{Error, ErrorKind, Result};
use crate::transport::Transport;

pub(crate) struct Auth {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    generation: u64,
    /// The access token and when to renew it.
    access: Option<(SecretString, Instant)>,
    refresh: Option<SecretString>,
    session_open: bool,
}

/// What a request carries: a bearer token (OAuth) or nothing (the cookie
/// jar holds the session), and the generation it belongs to.
pub(crate) struct Authz {
    pub bearer: Option<SecretString>,
    pub generation: u64,
}

impl Auth {
    pub fn new(config: &Config) -> Self {
        let refresh = match &config.credentials {
            Some(Credentials::OAuthRefreshToken { refresh_token, .. }) => {
                Some(refresh_token.clone())
            }
            _ => None,
        };
        Self {
            state: Mutex::new(State {
                refresh,
                ..State::default()
            }),
        }
    }

    /// Current credentials, signing in or refreshing first when needed.
    pub async fn authorize(&self, config: &Config, transport: &Transport) -> Result<Authz> {
        let Some(credentials) = &config.credentials else {
            return Ok(Authz {
                bearer: None,
                generation: 0,
            });
        };
        let mut state = self.state.lock().await;
        match credentials {
            Credentials::Session { .. } => {
                if !state.session_open {
                    session::login(config, transport).await?;
                    state.session_open = true;
                    state.generation += 1;
                }
                Ok(Authz {
                    bearer: None,
                    generation: state.generation,
                })
            }
            _ => {
                let fresh = state
                    .access
                    .as_ref()
                    .is_some_and(|(_, refresh_at)| Instant::now() < *refresh_at);
                if !fresh {
                    self.obtain_token(&mut state, config, transport).await?;
                }
                let token = state.access.as_ref().map(|(t, _)| t.clone());
                Ok(Authz {
                    bearer: token,
                    generation: state.generation,
                })
            }
        }
    }

    /// Renews after a 401 seen with credentials of `seen_generation`;
    /// nothing to do when another request already renewed them.
    pub async fn renew(
        &self,
        config: &Config,
        transport: &Transport,
        seen_generation: u64,
    ) -> Result<()> {
        let Some(credentials) = &config.credentials else {
            return Err(Error::new(
                ErrorKind::Authentication,
                "the server requires sign-in but the client has no credentials; \
                 set oauth_password, oauth_refresh_token or session_login on the builder",
            ));
        };
        let mut state = self.state.lock().await;
        if state.generation != seen_generation {
            return Ok(());
        }
        match credentials {
            Credentials::Session { .. } => {
                state.session_open = false;
                session::login(config, transport).await?;
                state.session_open = true;
                state.generation += 1;
            }
            _ => {
                state.access = None;
                self.obtain_token(&mut state, config, transport).await?;
            }
        }
        Ok(())
    }

    async fn obtain_token(
        &self,
        state: &mut State,
        config: &Config,
        transport: &Transport,
    ) -> Result<()> {
        let token = match (&config.credentials, state.refresh.clone()) {
            (Some(creds), Some(refresh)) => {
                match oauth::refresh(config, transport, creds, &refresh).await {
                    Ok(t) => t,
                    // A refused refresh token (any 4xx): sign in again with the
                    // password when we have one.
                    Err(e) if e.is_authentication() => match creds {
                        Credentials::OAuthPassword { .. } => {
                            tracing::info!(
                                "refresh token refused; signing in again with the password grant"
                            );
                            oauth::password_grant(config, transport, creds).await?
                        }
                        _ => {
                            state.refresh = None;
                            return Err(e);
                        }
                    },
                    Err(e) => return Err(e),
                }
            }
            (Some(creds @ Credentials::OAuthPassword { .. }), None) => {
                oauth::password_grant(config, transport, creds).await?
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::Authentication,
                    "no refresh token is left (it was refused earlier); obtain a new one through your \
                     authorization flow and build a new client",
                ));
            }
        };
        let refresh_at = refresh_at(
            Instant::now(),
            token.expires_in,
            config.token_refresh_margin,
        );
        state.access = Some((token.access_token, refresh_at));
        if let Some(rotated) = token.refresh_token {
            // Rotation: the old refresh token is dead once a new one is issued.
            state.refresh = Some(rotated);
        }
        state.generation += 1;
        Ok(())
    }

    /// The refresh token currently held (after rotation), to store for the
    /// next run.
    pub async fn refresh_token(&self) -> Option<SecretString> {
        self.state.lock().await.refresh.clone()
    }

    /// Whether a cookie session is open (best effort: `false` while locked).
    pub fn session_open(&self) -> bool {
        self.state.try_lock().is_ok_and(|s| s.session_open)
    }

    /// Logs out when a session or token is open; idempotent.
    pub async fn logout(&self, config: &Config, transport: &Transport) -> Result<()> {
        let mut state = self.state.lock().await;
        let bearer = state.access.as_ref().map(|(t, _)| t.clone());
        if !state.session_open && bearer.is_none() {
            return Ok(());
        }
        let result = session::logout(config, transport, bearer.as_ref()).await;
        state.session_open = false;
        state.access = None;
        state.generation += 1;
        result
    }
}

/// When to renew a token issued at `now` for `lifetime`: `margin` before it
/// expires, but never later than half-way through a short-lived token's life.
fn refresh_at(now: Instant, lifetime: Duration, margin: Duration) -> Instant {
    now + lifetime - margin.min(lifetime / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_renewed_before_they_expire() {
        let now = Instant::now();
        let hour = Duration::from_secs(3600);
        let minute = Duration::from_secs(60);
        assert_eq!(refresh_at(now, hour, minute), now + hour - minute);
        // A 60 s token with a 60 s margin is renewed after 30 s, not at once.
        assert_eq!(
            refresh_at(now, minute, minute),
            now + Duration::from_secs(30)
        );
        assert_eq!(refresh_at(now, Duration::ZERO, minute), now);
    }
}
