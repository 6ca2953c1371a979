//! OAuth 2.0 token requests at `/identity/connect/token` (FACTS section 3.1):
//! the resource-owner password grant and the refresh-token grant, both
//! form-encoded, both safe to retry on 429/5xx/transport failures.

use std::time::Duration;

use reqwest::Method;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value as Json;

use crate::config::{Config, Credentials};
use crate::error::{Error, ErrorKind, Result};
use crate::transport::{Body, Request, SYSTEM, Safety, Transport, check_status};

pub(crate) struct Token {
    pub access_token: SecretString,
    pub expires_in: Duration,
    pub refresh_token: Option<SecretString>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<Json>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
}

pub(crate) async fn password_grant(
    config: &Config,
    transport: &Transport,
    creds: &Credentials,
) -> Result<Token> {
    let Credentials::OAuthPassword {
        client_id,
        client_secret,
        username,
        password,
    } = creds
    else {
        return Err(Error::config(
            "password grant needs oauth_password credentials",
        ));
    };
    let fields = vec![
        ("grant_type", SecretString::from("password")),
        ("client_id", SecretString::from(client_id.clone())),
        ("client_secret", client_secret.clone()),
        ("username", SecretString::from(username.clone())),
        ("password", password.clone()),
        ("scope", SecretString::from(config.scope.clone())),
    ];
    token_request(config, transport, fields, "password grant").await
}

pub(crate) async fn refresh(
    config: &Config,
    transport: &Transport,
    creds: &Credentials,
    refresh_token: &SecretString,
) -> Result<Token> {
    let (client_id, client_secret) = match creds {
        Credentials::OAuthPassword {
            client_id,
            client_secret,
            ..
        }
        | Credentials::OAuthRefreshToken {
            client_id,
            client_secret,
            ..
        } => (client_id, client_secret),
        Credentials::Session { .. } => {
            return Err(Error::config("a cookie session has no refresh token"));
        }
    };
    let fields = vec![
        ("grant_type", SecretString::from("refresh_token")),
        ("client_id", SecretString::from(client_id.clone())),
        ("client_secret", client_secret.clone()),
        ("refresh_token", refresh_token.clone()),
    ];
    token_request(config, transport, fields, "refresh").await
}

async fn token_request(
    config: &Config,
    transport: &Transport,
    fields: Vec<(&'static str, SecretString)>,
    grant: &str,
) -> Result<Token> {
    let url = config
        .site
        .join("identity/connect/token")
        .map_err(|e| Error::config(format!("cannot build the token URL: {e}")))?;
    let label = format!("token ({grant})");
    let mut attempt = 0;
    let response = config
        .retry
        .run_for(SYSTEM, &label, || {
            attempt += 1;
            let req = Request {
                method: Method::POST,
                url: url.clone(),
                label: label.clone(),
                body: Body::Form(fields.clone()),
                headers: Vec::new(),
                safety: Safety::Safe,
                authenticated: false,
            };
            let n = attempt;
            async move {
                let resp = transport.send_once(&req, None, n).await?;
                if resp.status == 404 {
                    return Err(Error::config(format!(
                        "no identity server at {}: Acumatica answered 404 (not found); check the \
                         URL and the site path (the instance name after the host, as in the \
                         browser's address bar)",
                        req.url
                    ))
                    .with_status(404));
                }
                if (400..500).contains(&resp.status) && resp.status != 429 {
                    return Err(token_refused(&config.site, &resp.body, resp.status, grant));
                }
                check_status(&req, resp)
            }
        })
        .await?;
    let parsed: TokenResponse = serde_json::from_slice(&response.body).map_err(|e| {
        // Never quote the body: it may hold a token.
        Error::decode(
            format!("line {} column {}", e.line(), e.column()),
            format!(
                "the token endpoint answered {} without a usable token response ({:?} error); \
                 is the site URL right and is the identity server enabled?",
                response.status,
                e.classify()
            ),
        )
    })?;
    if let Some(kind) = &parsed.token_type
        && !kind.eq_ignore_ascii_case("bearer")
    {
        return Err(Error::new(
            ErrorKind::Authentication,
            format!("the token endpoint issued a {kind:?} token; only Bearer is supported"),
        ));
    }
    let secs = match &parsed.expires_in {
        Some(Json::Number(n)) => n.to_string().parse::<f64>().unwrap_or(3600.0),
        Some(Json::String(s)) => s.trim().parse::<f64>().unwrap_or(3600.0),
        _ => 3600.0,
    };
    Ok(Token {
        access_token: SecretString::from(parsed.access_token),
        expires_in: Duration::from_secs_f64(secs.max(0.0)),
        refresh_token: parsed.refresh_token.map(SecretString::from),
    })
}

/// A 4xx from the token endpoint: the credentials or the grant were refused.
fn token_refused(site: &url::Url, body: &[u8], status: u16, grant: &str) -> Error {
    let json: Option<Json> = serde_json::from_slice(body).ok();
    let code = json
        .as_ref()
        .and_then(|j| j.get("error"))
        .and_then(Json::as_str)
        .unwrap_or("unknown_error")
        .to_owned();
    let description = json
        .as_ref()
        .and_then(|j| j.get("error_description"))
        .and_then(Json::as_str)
        .map(|d| format!(" ({d})"))
        .unwrap_or_default();
    // FACTS §4: the licence's API-user limit answers the password grant with `invalid_grant`
    // and "API Login Limit" in the description: not a refused password.
    if description.contains("API Login Limit") {
        return Error::new(
            ErrorKind::LoginLimit,
            crate::transport::login_limit_message(&format!("{code}{description}")),
        )
        .with_status(status);
    }
    let hint = match code.as_str() {
        "invalid_client" => "check the client id and secret; the id must end with @<tenant>",
        "invalid_grant" => {
            "the user name/password or the refresh token was refused (a refresh token chain expires after 30 days by default)"
        }
        "unauthorized_client" => "enable this flow for the Connected Application (SM303010)",
        "invalid_scope" => "request the scopes api offline_access",
        _ => "check the Connected Application and the credentials",
    };
    Error::new(
        ErrorKind::Authentication,
        format!("Acumatica at {site} refused the sign-in ({grant}): {code}{description}; {hint}"),
    )
    .with_status(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The licence's session limit answers the password grant with `invalid_grant` (FACTS §4):
    /// it is the login limit, not refused credentials, and says nothing of the password.
    #[test]
    fn an_api_login_limit_refusal_is_the_login_limit_not_a_wrong_password() {
        let body = br#"{"error":"invalid_grant","error_description":"API Login Limit"}"#;
        let site = url::Url::parse("https://erp.example.com/Acu/").unwrap();
        let err = token_refused(&site, body, 400, "password grant");
        assert!(matches!(err.kind(), ErrorKind::LoginLimit), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("limit of concurrent API sessions"), "{text}");
        assert!(text.contains("not about the password"), "{text}");
        assert!(!text.contains("was refused (a refresh"), "{text}");

        let wrong =
            br#"{"error":"invalid_grant","error_description":"invalid_username_or_password"}"#;
        let err = token_refused(&site, wrong, 400, "password grant");
        assert!(matches!(err.kind(), ErrorKind::Authentication), "{err:?}");
        assert!(err.to_string().contains("user name/password"), "{err}");
        assert!(
            err.to_string()
                .contains("Acumatica at https://erp.example.com/Acu/ refused the sign-in"),
            "names Acumatica and its URL: {err}"
        );
    }
}
