//! `POST /login`, `DELETE /logout` and the `Authorization` check (FACTS 2).

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;
use tokio::time::Instant;

use super::routes::error;
use super::state::{LookerFake, Token, lock};

/// Characters of an access token (Looker's are 40 alphanumerics).
const TOKEN_LEN: usize = 40;

fn new_token() -> String {
    (0..TOKEN_LEN).map(|_| fastrand::alphanumeric()).collect()
}

/// The token of an `Authorization: token <t>` or `Bearer <t>` header.
fn presented_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let scheme_ok = scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer");
    let token = token.trim();
    (scheme_ok && !token.is_empty()).then_some(token)
}

fn unauthorized(fake: &LookerFake) -> Response {
    fake.inner
        .counters
        .unauthorized
        .fetch_add(1, Ordering::Relaxed);
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({
            "message": "Requires authentication.",
            "documentation_url": "https://cloud.google.com/looker/docs/r/err/4.0/401",
        })),
    )
        .into_response()
}

/// Proof that a request carried a live access token.
pub(crate) struct Authed;

impl FromRequestParts<LookerFake> for Authed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        fake: &LookerFake,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = presented_token(&parts.headers) else {
            return Err(unauthorized(fake));
        };
        let live = match lock(&fake.inner.tokens).get_mut(token) {
            Some(t) => {
                t.uses += 1;
                t.expires_at > Instant::now() && !fake.inner.faults.token_expired(t.issued, t.uses)
            }
            None => false,
        };
        if live {
            Ok(Authed)
        } else {
            Err(unauthorized(fake))
        }
    }
}

/// `POST /api/4.0/login` with a form body `client_id=..&client_secret=..`.
pub(crate) async fn login(
    State(fake): State<LookerFake>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let fail = |status: StatusCode, message: &str| {
        fake.inner
            .counters
            .login_failures
            .fetch_add(1, Ordering::Relaxed);
        error(status, message, "post", "/login")
    };
    let in_query: HashMap<String, String> = query
        .as_deref()
        .map(|q| serde_urlencoded::from_str(q).unwrap_or_default())
        .unwrap_or_default();
    if in_query.contains_key("client_id") || in_query.contains_key("client_secret") {
        return fail(
            StatusCode::BAD_REQUEST,
            "client_id and client_secret in the URL query string are refused; send them as a form-encoded request body (application/x-www-form-urlencoded)",
        );
    }
    let form: HashMap<String, String> = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(_) => {
            return fail(
                StatusCode::BAD_REQUEST,
                "the login body must be form-encoded: client_id=...&client_secret=...",
            );
        }
    };
    let (Some(id), Some(secret)) = (form.get("client_id"), form.get("client_secret")) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "client_id and client_secret are required in the form-encoded body",
        );
    };
    let config = fake.config();
    if *id != config.client_id || *secret != config.client_secret {
        // Looker answers bad API3 credentials with a plain 404.
        return fail(StatusCode::NOT_FOUND, "Not found");
    }
    let token = new_token();
    let lifetime = config.token_lifetime;
    let now = Instant::now();
    let issued = Token {
        issued: now,
        expires_at: now + lifetime,
        uses: 0,
    };
    lock(&fake.inner.tokens).insert(token.clone(), issued);
    fake.inner.counters.logins.fetch_add(1, Ordering::Relaxed);
    axum::Json(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "refresh_token": null,
    }))
    .into_response()
}

/// `DELETE /api/4.0/logout`: revokes the presented token (204); a token
/// that is not live answers 404 as the real server does.
pub(crate) async fn logout(State(fake): State<LookerFake>, headers: HeaderMap) -> Response {
    let Some(token) = presented_token(&headers) else {
        return unauthorized(&fake);
    };
    let removed = lock(&fake.inner.tokens).remove(token);
    match removed {
        Some(t)
            if t.expires_at > Instant::now()
                && !fake.inner.faults.token_expired(t.issued, t.uses) =>
        {
            fake.inner.counters.logouts.fetch_add(1, Ordering::Relaxed);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => error(StatusCode::NOT_FOUND, "Not found", "delete", "/logout"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn both_schemes_are_read() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("token abc"));
        assert_eq!(presented_token(&h), Some("abc"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(presented_token(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(presented_token(&h), None);
        assert_eq!(new_token().len(), TOKEN_LEN);
    }
}
