//! Legacy cookie sessions: `POST /entity/auth/login` and
//! `POST /entity/auth/logout` (FACTS section 3.2). The cookies live in the
//! HTTP client's jar, which only ever talks to the configured site.

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value as Json};

use crate::config::{Config, Credentials};
use crate::error::{Error, ErrorKind, Result};
use crate::transport::{Body, Request, SYSTEM, Safety, Transport, check_status};

pub(crate) async fn login(config: &Config, transport: &Transport) -> Result<()> {
    let Some(Credentials::Session { username, password }) = &config.credentials else {
        return Err(Error::config(
            "cookie login needs session_login credentials",
        ));
    };
    let url = config
        .site
        .join("entity/auth/login")
        .map_err(|e| Error::config(format!("cannot build the login URL: {e}")))?;
    let mut attempt = 0;
    config
        .retry
        .run_for(SYSTEM, "login", || {
            attempt += 1;
            let n = attempt;
            let mut body = Map::new();
            body.insert("name".into(), Json::String(username.clone()));
            // The password is exposed only inside this request body.
            body.insert(
                "password".into(),
                Json::String(password.expose_secret().to_owned()),
            );
            for (key, value) in [
                ("tenant", &config.tenant),
                ("branch", &config.branch),
                ("locale", &config.locale),
            ] {
                if let Some(v) = value {
                    body.insert(key.into(), Json::String(v.clone()));
                }
            }
            let req = Request {
                method: Method::POST,
                url: url.clone(),
                label: "login".into(),
                body: Body::Json(Json::Object(body)),
                headers: Vec::new(),
                // Login creates no data; repeating it after a transient
                // failure is safe.
                safety: Safety::Safe,
                authenticated: false,
            };
            async move {
                let resp = transport.send_once(&req, None, n).await?;
                check_status(&req, resp).map_err(|e| match e.kind() {
                    ErrorKind::LoginLimit | ErrorKind::Authentication => e,
                    _ if e.status() == Some(400) => Error::new(
                        ErrorKind::Authentication,
                        format!(
                            "Acumatica at {} refused the sign-in: {}",
                            config.site,
                            e.message()
                        ),
                    )
                    .with_status(400),
                    _ => e,
                })
            }
        })
        .await?;
    tracing::debug!("cookie session opened");
    Ok(())
}

pub(crate) async fn logout(
    config: &Config,
    transport: &Transport,
    bearer: Option<&SecretString>,
) -> Result<()> {
    let url = config
        .site
        .join("entity/auth/logout")
        .map_err(|e| Error::config(format!("cannot build the logout URL: {e}")))?;
    let mut attempt = 0;
    config
        .retry
        .run_for(SYSTEM, "logout", || {
            attempt += 1;
            let n = attempt;
            let req = Request {
                method: Method::POST,
                url: url.clone(),
                label: "logout".into(),
                // IIS answers 411 Length Required without Content-Length: 0.
                body: Body::Empty,
                headers: Vec::new(),
                safety: Safety::Safe,
                authenticated: true,
            };
            async move {
                let resp = transport.send_once(&req, bearer, n).await?;
                // 401 means the session had already expired: nothing to close.
                if resp.status == 401 {
                    return Ok(());
                }
                check_status(&req, resp).map(|_| ())
            }
        })
        .await
}
