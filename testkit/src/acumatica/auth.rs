//! Sign-in as the real site does it (FACTS section 3): OAuth 2.0 at
//! `/identity/connect/token` (password and refresh grants, rotation, reuse
//! refused with `invalid_grant`) and the legacy cookie session at
//! `/entity/auth/login` / `logout`, with a cap on concurrent API sessions.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

use crate::faults::Faults;
use crate::seed;

/// A sign-in principal of the demo site.
#[derive(Clone, Debug)]
pub(crate) struct Credentials {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) tenant: String,
}

impl Default for Credentials {
    fn default() -> Self {
        use seed::credentials as c;
        Credentials {
            client_id: c::ACUMATICA_CLIENT_ID.to_owned(),
            client_secret: c::ACUMATICA_CLIENT_SECRET.to_owned(),
            username: c::ACUMATICA_USERNAME.to_owned(),
            password: c::ACUMATICA_PASSWORD.to_owned(),
            tenant: seed::TENANT.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Cookie,
    OAuth,
}

#[derive(Debug)]
struct Session {
    kind: Kind,
    issued: Instant,
    uses: u64,
    /// Cookie: last use (idle timeout).
    last_used: Instant,
    /// OAuth: expiry of the latest token.
    expires: Option<Instant>,
    closed: bool,
}

#[derive(Debug)]
struct Access {
    session: String,
    issued: Instant,
    expires: Instant,
    uses: u64,
    revoked: bool,
}

#[derive(Debug)]
struct Refresh {
    session: String,
    scope: String,
    used: bool,
}

/// Settings of the sign-in part.
#[derive(Clone, Debug)]
pub(crate) struct AuthSettings {
    pub(crate) token_lifetime: Duration,
    pub(crate) session_idle_timeout: Duration,
    pub(crate) max_sessions: usize,
}

/// Why a data request is not authenticated.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Denied {
    Missing,
    Unknown,
    Expired,
}

/// An OAuth token endpoint error: `(status, error, description)`.
pub(crate) type OAuthError = (u16, &'static str, Option<String>);

/// A cookie login error.
#[derive(Debug)]
pub(crate) enum LoginError {
    BadRequest(String),
    InvalidCredentials,
    UnknownTenant,
    UnknownBranch(String),
    LoginLimit,
}

/// Counters of the sign-in part, for tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuthCounters {
    /// Access tokens issued (password and refresh grants).
    pub tokens_issued: u64,
    /// Refresh grants that succeeded.
    pub refreshes: u64,
    /// Refresh tokens presented a second time (refused).
    pub refresh_reuse: u64,
    /// Cookie logins that succeeded.
    pub cookie_logins: u64,
    /// Logouts.
    pub logouts: u64,
    /// Sign-ins refused by the session cap.
    pub login_limit_refusals: u64,
}

#[derive(Debug)]
pub(crate) struct AuthState {
    pub(crate) creds: Credentials,
    pub(crate) settings: AuthSettings,
    sessions: HashMap<String, Session>,
    access: HashMap<String, Access>,
    refresh: HashMap<String, Refresh>,
    pub(crate) counters: AuthCounters,
}

fn new_secret() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

impl AuthState {
    pub(crate) fn new(creds: Credentials, settings: AuthSettings) -> Self {
        AuthState {
            creds,
            settings,
            sessions: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            counters: AuthCounters::default(),
        }
    }

    fn live(&self, s: &Session, now: Instant) -> bool {
        !s.closed
            && match s.kind {
                Kind::Cookie => {
                    now.duration_since(s.last_used) < self.settings.session_idle_timeout
                }
                Kind::OAuth => s.expires.is_some_and(|e| now < e),
            }
    }

    /// Sessions currently counted against the license.
    pub(crate) fn live_sessions(&self) -> usize {
        let now = Instant::now();
        self.sessions.values().filter(|s| self.live(s, now)).count()
    }

    fn at_cap(&self) -> bool {
        self.live_sessions() >= self.settings.max_sessions
    }

    /// Check a bearer token for a data request.
    pub(crate) fn check_bearer(&mut self, token: &str, faults: &Faults) -> Result<(), Denied> {
        let now = Instant::now();
        let Some(a) = self.access.get_mut(token) else {
            return Err(Denied::Unknown);
        };
        if a.revoked {
            return Err(Denied::Unknown);
        }
        a.uses += 1;
        if now >= a.expires || faults.token_expired(a.issued, a.uses) {
            return Err(Denied::Expired);
        }
        let session = a.session.clone();
        match self.sessions.get(&session) {
            Some(s) if !s.closed => Ok(()),
            _ => Err(Denied::Expired),
        }
    }

    /// Check a session cookie for a data request.
    pub(crate) fn check_cookie(&mut self, sid: &str, faults: &Faults) -> Result<(), Denied> {
        let now = Instant::now();
        let idle = self.settings.session_idle_timeout;
        let Some(s) = self.sessions.get_mut(sid) else {
            return Err(Denied::Unknown);
        };
        if s.kind != Kind::Cookie || s.closed {
            return Err(Denied::Unknown);
        }
        s.uses += 1;
        if now.duration_since(s.last_used) >= idle || faults.token_expired(s.issued, s.uses) {
            s.closed = true;
            return Err(Denied::Expired);
        }
        s.last_used = now;
        Ok(())
    }

    fn check_client(
        &self,
        form: &HashMap<String, String>,
        basic: Option<(String, String)>,
    ) -> Result<(), OAuthError> {
        let (id, secret) = match basic {
            Some(b) => b,
            None => (
                form.get("client_id").cloned().unwrap_or_default(),
                form.get("client_secret").cloned().unwrap_or_default(),
            ),
        };
        if id.is_empty() {
            return Err((400, "invalid_client", None));
        }
        // The client id must carry the tenant: `<guid>@<tenant>`.
        let (guid, tenant) = id.split_once('@').unwrap_or((id.as_str(), ""));
        let (want_guid, want_tenant) = self
            .creds
            .client_id
            .split_once('@')
            .unwrap_or((&self.creds.client_id, ""));
        if !guid.eq_ignore_ascii_case(want_guid)
            || !tenant.eq_ignore_ascii_case(want_tenant)
            || secret != self.creds.client_secret
        {
            return Err((400, "invalid_client", None));
        }
        Ok(())
    }

    fn issue(&mut self, session: &str, scope: &str) -> serde_json::Value {
        let now = Instant::now();
        let lifetime = self.settings.token_lifetime;
        let token = new_secret();
        self.access.insert(
            token.clone(),
            Access {
                session: session.to_owned(),
                issued: now,
                expires: now + lifetime,
                uses: 0,
                revoked: false,
            },
        );
        if let Some(s) = self.sessions.get_mut(session) {
            s.expires = Some(now + lifetime);
            s.closed = false;
        }
        self.counters.tokens_issued += 1;
        let mut body = serde_json::json!({
            "access_token": token,
            "expires_in": lifetime.as_secs(),
            "token_type": "Bearer",
            "scope": scope,
        });
        if scope.split_whitespace().any(|s| s == "offline_access") {
            let rt = new_secret();
            self.refresh.insert(
                rt.clone(),
                Refresh {
                    session: session.to_owned(),
                    scope: scope.to_owned(),
                    used: false,
                },
            );
            body["refresh_token"] = serde_json::Value::String(rt);
        }
        body
    }

    /// `POST /identity/connect/token` with a parsed form.
    pub(crate) fn token(
        &mut self,
        form: &HashMap<String, String>,
        basic: Option<(String, String)>,
    ) -> Result<serde_json::Value, OAuthError> {
        let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
        match grant {
            "password" => {
                self.check_client(form, basic)?;
                let (Some(user), Some(pass)) = (form.get("username"), form.get("password")) else {
                    return Err((
                        400,
                        "invalid_request",
                        Some("username and password are required".to_owned()),
                    ));
                };
                let scope = form.get("scope").cloned().unwrap_or_default();
                let scopes: Vec<&str> = scope.split_whitespace().collect();
                if !scopes.contains(&"api") {
                    return Err((400, "invalid_scope", None));
                }
                if let Some(bad) = scopes.iter().find(|s| {
                    ![
                        "api",
                        "offline_access",
                        "api:concurrent_access",
                        "openid",
                        "email",
                        "profile",
                    ]
                    .contains(s)
                }) {
                    return Err((400, "invalid_scope", Some(format!("unknown scope '{bad}'"))));
                }
                if !user.eq_ignore_ascii_case(&self.creds.username) || *pass != self.creds.password
                {
                    return Err((
                        400,
                        "invalid_grant",
                        Some("invalid_username_or_password".to_owned()),
                    ));
                }
                if self.at_cap() {
                    self.counters.login_limit_refusals += 1;
                    return Err((400, "invalid_grant", Some("API Login Limit".to_owned())));
                }
                let sid = new_secret();
                self.sessions.insert(
                    sid.clone(),
                    Session {
                        kind: Kind::OAuth,
                        issued: Instant::now(),
                        uses: 0,
                        last_used: Instant::now(),
                        expires: None,
                        closed: false,
                    },
                );
                Ok(self.issue(&sid, &scopes.join(" ")))
            }
            "refresh_token" => {
                self.check_client(form, basic)?;
                let Some(rt) = form.get("refresh_token") else {
                    return Err((
                        400,
                        "invalid_request",
                        Some("refresh_token is required".to_owned()),
                    ));
                };
                let Some(r) = self.refresh.get_mut(rt) else {
                    return Err((400, "invalid_grant", None));
                };
                if r.used {
                    self.counters.refresh_reuse += 1;
                    return Err((400, "invalid_grant", None));
                }
                r.used = true;
                let (session, scope) = (r.session.clone(), r.scope.clone());
                let now = Instant::now();
                let reopening = self
                    .sessions
                    .get(&session)
                    .is_none_or(|s| !self.live(s, now));
                if reopening && self.at_cap() {
                    self.counters.login_limit_refusals += 1;
                    return Err((400, "invalid_grant", Some("API Login Limit".to_owned())));
                }
                self.sessions.entry(session.clone()).or_insert(Session {
                    kind: Kind::OAuth,
                    issued: now,
                    uses: 0,
                    last_used: now,
                    expires: None,
                    closed: false,
                });
                // The old access tokens of the grant stop working.
                for a in self.access.values_mut().filter(|a| a.session == session) {
                    a.revoked = true;
                }
                self.counters.refreshes += 1;
                Ok(self.issue(&session, &scope))
            }
            "" => Err((
                400,
                "invalid_request",
                Some("grant_type is required".to_owned()),
            )),
            _ => Err((400, "unsupported_grant_type", None)),
        }
    }

    /// `POST /entity/auth/login`; returns the new session id.
    pub(crate) fn login(&mut self, body: &serde_json::Value) -> Result<String, LoginError> {
        let get = |k: &str| body.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let (Some(name), Some(password)) = (get("name"), get("password")) else {
            return Err(LoginError::BadRequest(
                "The name and password fields are required.".to_owned(),
            ));
        };
        if let Some(t) = get("tenant").or_else(|| get("company"))
            && !t.eq_ignore_ascii_case(&self.creds.tenant)
        {
            return Err(LoginError::UnknownTenant);
        }
        if !name.eq_ignore_ascii_case(&self.creds.username) || password != self.creds.password {
            return Err(LoginError::InvalidCredentials);
        }
        if let Some(b) = get("branch")
            && !seed::BRANCHES.iter().any(|x| x.id.eq_ignore_ascii_case(&b))
        {
            return Err(LoginError::UnknownBranch(b));
        }
        if self.at_cap() {
            self.counters.login_limit_refusals += 1;
            return Err(LoginError::LoginLimit);
        }
        let sid = new_secret();
        self.sessions.insert(
            sid.clone(),
            Session {
                kind: Kind::Cookie,
                issued: Instant::now(),
                uses: 0,
                last_used: Instant::now(),
                expires: None,
                closed: false,
            },
        );
        self.counters.cookie_logins += 1;
        Ok(sid)
    }

    /// Basic credentials of a conventional user (the GI OData service,
    /// FACTS 11): no API session is opened or counted.
    pub(crate) fn check_basic(&self, username: &str, password: &str) -> bool {
        username.eq_ignore_ascii_case(&self.creds.username) && password == self.creds.password
    }

    /// Whether `tenant` is the site's tenant (login names are
    /// case-insensitive).
    pub(crate) fn is_tenant(&self, tenant: &str) -> bool {
        tenant.eq_ignore_ascii_case(&self.creds.tenant)
    }

    /// `POST /entity/auth/logout` for a cookie session or a bearer token.
    pub(crate) fn logout(&mut self, sid: Option<&str>, bearer: Option<&str>) {
        if let Some(sid) = sid
            && let Some(s) = self.sessions.get_mut(sid)
        {
            s.closed = true;
        }
        if let Some(t) = bearer
            && let Some(a) = self.access.get_mut(t)
        {
            a.revoked = true;
            let session = a.session.clone();
            if let Some(s) = self.sessions.get_mut(&session) {
                s.closed = true;
            }
        }
        self.counters.logouts += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(cap: usize) -> AuthState {
        AuthState::new(
            Credentials::default(),
            AuthSettings {
                token_lifetime: Duration::from_secs(3600),
                session_idle_timeout: Duration::from_secs(600),
                max_sessions: cap,
            },
        )
    }

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn password_form(scope: &str) -> HashMap<String, String> {
        use seed::credentials as c;
        form(&[
            ("grant_type", "password"),
            ("client_id", c::ACUMATICA_CLIENT_ID),
            ("client_secret", c::ACUMATICA_CLIENT_SECRET),
            ("username", c::ACUMATICA_USERNAME),
            ("password", c::ACUMATICA_PASSWORD),
            ("scope", scope),
        ])
    }

    #[tokio::test(start_paused = true)]
    async fn password_refresh_rotation_and_expiry() {
        let faults = Faults::new();
        let mut a = state(5);
        let t = a.token(&password_form("api offline_access"), None).unwrap();
        let access = t["access_token"].as_str().unwrap().to_owned();
        let rt = t["refresh_token"].as_str().unwrap().to_owned();
        assert_eq!(a.check_bearer(&access, &faults), Ok(()));

        let t2 = a
            .token(
                &form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", seed::credentials::ACUMATICA_CLIENT_ID),
                    ("client_secret", seed::credentials::ACUMATICA_CLIENT_SECRET),
                    ("refresh_token", &rt),
                ]),
                None,
            )
            .unwrap();
        assert_ne!(t2["refresh_token"], t["refresh_token"]);
        assert_eq!(
            a.check_bearer(&access, &faults),
            Err(Denied::Unknown),
            "old token replaced"
        );
        let again = a.token(
            &form(&[
                ("grant_type", "refresh_token"),
                ("client_id", seed::credentials::ACUMATICA_CLIENT_ID),
                ("client_secret", seed::credentials::ACUMATICA_CLIENT_SECRET),
                ("refresh_token", &rt),
            ]),
            None,
        );
        assert_eq!(again.unwrap_err().1, "invalid_grant");

        let new_access = t2["access_token"].as_str().unwrap().to_owned();
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(a.check_bearer(&new_access, &faults), Err(Denied::Expired));
    }

    #[test]
    fn client_id_needs_the_tenant_and_scope_needs_api() {
        let mut a = state(5);
        let mut f = password_form("api");
        assert!(a.token(&f, None).unwrap().get("refresh_token").is_none());
        f.insert(
            "client_id".into(),
            "3F2504E0-4F89-11D3-9A0C-0305E82C3301".into(),
        );
        assert_eq!(a.token(&f, None).unwrap_err().1, "invalid_client");
        assert_eq!(
            a.token(&password_form("offline_access"), None)
                .unwrap_err()
                .1,
            "invalid_scope"
        );
        let mut f = password_form("api");
        f.insert("password".into(), "nope".into());
        assert_eq!(a.token(&f, None).unwrap_err().1, "invalid_grant");
    }

    #[test]
    fn session_cap() {
        let mut a = state(2);
        let body = serde_json::json!({"name": "admin", "password": seed::credentials::ACUMATICA_PASSWORD, "tenant": "MLDemo"});
        let s1 = a.login(&body).unwrap();
        a.token(&password_form("api"), None).unwrap();
        assert!(matches!(a.login(&body), Err(LoginError::LoginLimit)));
        a.logout(Some(&s1), None);
        assert!(a.login(&body).is_ok());
        assert_eq!(a.counters.login_limit_refusals, 1);
        let refused = a.token(&password_form("api"), None).unwrap_err();
        assert_eq!(
            (refused.1, refused.2.as_deref()),
            ("invalid_grant", Some("API Login Limit"))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn cookie_sessions_close_after_ten_idle_minutes() {
        let faults = Faults::new();
        let mut a = state(5);
        let body =
            serde_json::json!({"name": "admin", "password": seed::credentials::ACUMATICA_PASSWORD});
        let sid = a.login(&body).unwrap();
        tokio::time::advance(Duration::from_secs(599)).await;
        assert_eq!(
            a.check_cookie(&sid, &faults),
            Ok(()),
            "use resets the idle clock"
        );
        tokio::time::advance(Duration::from_secs(599)).await;
        assert_eq!(a.check_cookie(&sid, &faults), Ok(()));
        assert_eq!(a.live_sessions(), 1);
        tokio::time::advance(Duration::from_secs(600)).await;
        assert_eq!(
            a.live_sessions(),
            0,
            "closed sessions stop counting against the license"
        );
        assert_eq!(a.check_cookie(&sid, &faults), Err(Denied::Expired));
    }
}
