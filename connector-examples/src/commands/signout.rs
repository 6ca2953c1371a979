//! Signing out when a command is done.
//!
//! Acumatica counts every API session against the licence until it is logged out (a session
//! that is never logged out keeps counting until it times out), and Looker may limit the live
//! tokens of a user. So every command that signs in (`run --once`, `plan`, `replay`, and the
//! `run` daemon when it stops, `ping` after its checks) keeps the clients it built in one
//! [`Sessions`] and calls [`Sessions::sign_out`] at its end, whatever the outcome: also when
//! the run failed. A
//! sign-out that fails is logged as a warning and changes nothing else: not the exit code, not
//! the error the command reports.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a sign-out may take per client before it is given up with a warning: a run that
/// failed because a system became unreachable must not then hang on its logout.
pub const SIGN_OUT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
enum Session {
    Looker(looker_client::Client),
    Acumatica(acumatica_client::Client),
}

/// The API clients a command signed in with (or may have: clients sign in on first use), to
/// be signed out together when the command is done. Cheap to clone; clones share the list.
///
/// ```no_run
/// use connector_examples::commands::signout::Sessions;
///
/// # async fn demo(looker: looker_client::Client, acumatica: acumatica_client::Client) {
/// let sessions = Sessions::new();
/// sessions.track_looker(&looker);
/// sessions.track_acumatica(&acumatica);
/// let exit = sessions
///     .signing_out(async {
///         // ... use the clients; a failure here is returned as it is ...
///         0
///     })
///     .await; // both clients are logged out here, success or not
/// # let _ = exit; }
/// ```
#[derive(Clone, Default)]
pub struct Sessions {
    clients: Arc<Mutex<Vec<Session>>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Clients only, never their credentials.
        f.debug_struct("Sessions")
            .field("clients", &self.lock().len())
            .finish()
    }
}

impl Sessions {
    /// No clients yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Session>> {
        self.clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Signs this Looker client out at the end (a clone shares its token).
    pub fn track_looker(&self, client: &looker_client::Client) {
        self.lock().push(Session::Looker(client.clone()));
    }

    /// Signs this Acumatica client out at the end (a clone shares its session).
    pub fn track_acumatica(&self, client: &acumatica_client::Client) {
        self.lock().push(Session::Acumatica(client.clone()));
    }

    /// Signs out the clients `other` tracks too (they stay tracked there as well).
    pub fn track_all(&self, other: &Sessions) {
        let theirs = other.lock().clone();
        self.lock().extend(theirs);
    }

    /// How many clients are tracked.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no client is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Logs every tracked client out, Looker and Acumatica, all at once. A client that is not
    /// signed in (never was, or already signed out) sends nothing; one used again afterwards
    /// signs in again, so the same clients can be signed out after each run. A failure (or a
    /// logout taking longer than [`SIGN_OUT_TIMEOUT`]) is logged as a warning naming the
    /// system and the error, never a credential, and the others are still signed out.
    pub async fn sign_out(&self) {
        self.sign_out_within(SIGN_OUT_TIMEOUT).await;
    }

    /// [`sign_out`](Self::sign_out), giving up on a logout after `limit` (a command stopping
    /// on a signal has only what is left of its stop timeout).
    pub async fn sign_out_within(&self, limit: Duration) {
        let clients = self.lock().clone();
        let logouts = clients.into_iter().map(|client| async move {
            let (system, result) = match &client {
                Session::Looker(c) => (
                    "Looker",
                    tokio::time::timeout(limit, c.logout())
                        .await
                        .map(|r| r.map_err(|e| e.to_string())),
                ),
                Session::Acumatica(c) => (
                    "Acumatica",
                    tokio::time::timeout(limit, c.logout())
                        .await
                        .map(|r| r.map_err(|e| e.to_string())),
                ),
            };
            match result {
                Ok(Ok(())) => tracing::debug!(system, "signed out"),
                Ok(Err(error)) => tracing::warn!(
                    system,
                    error = %error,
                    "signing out of {system} failed: {error}; the session ends when it times out"
                ),
                Err(_) => tracing::warn!(
                    system,
                    "signing out of {system} took longer than {:.1}s; gave up, the session ends when it times out",
                    limit.as_secs_f64()
                ),
            }
        });
        futures::future::join_all(logouts).await;
    }

    /// Runs `body`, then signs out (see [`sign_out`](Self::sign_out)) and returns what `body`
    /// returned, unchanged: the one way commands end.
    pub async fn signing_out<T>(&self, body: impl Future<Output = T>) -> T {
        let result = body.await;
        self.sign_out().await;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn clients_that_never_signed_in_sign_out_quietly() {
        let sessions = Sessions::new();
        let looker = looker_client::Client::builder("https://looker.invalid")
            .credentials("id", "secret")
            .build()
            .unwrap();
        sessions.track_looker(&looker);
        assert_eq!(sessions.len(), 1);
        assert!(!format!("{sessions:?}").contains("secret"));
        let out = sessions.signing_out(async { 7 }).await;
        assert_eq!(out, 7, "the body's result is returned unchanged");
        let all = Sessions::new();
        all.track_all(&sessions);
        assert_eq!(all.len(), 1);
        assert_eq!(sessions.len(), 1);
    }
}
