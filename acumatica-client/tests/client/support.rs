//! Shared test plumbing: a mock server with a loud catch-all, client
//! builders, and the real payloads under `tests/fixtures`.

use std::time::Duration;

use acumatica_client::{Client, ClientBuilder, RetryPolicy};
use serde_json::{Value, json};
use wiremock::matchers::{any, body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const EP: &str = "/entity/Default/24.200.001";
pub const CLIENT_SECRET: &str = "s3cret-client-value";
pub const PASSWORD: &str = "s3cret-password-value";

/// A mock server whose unmatched requests get 599 and fail the test when
/// the server is dropped (the catch-all expects zero hits).
pub async fn server() -> MockServer {
    let s = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(599)
                .set_body_string("UNMATCHED ROUTE: no mock was set up for this request"),
        )
        .with_priority(u8::MAX)
        .named("catch-all: a request matched no mock")
        .expect(0)
        .mount(&s)
        .await;
    s
}

/// Retries fast so tests do not wait on real backoff.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(3)
        .with_initial_delay(Duration::from_millis(1))
        .with_max_delay(Duration::from_millis(5))
}

pub fn builder(s: &MockServer) -> ClientBuilder {
    Client::builder(s.uri())
        .endpoint_version("24.200.001")
        .retry_policy(fast_retry())
        .timeout(Duration::from_secs(10))
}

/// A client without credentials (the mocks do not check auth).
pub fn anonymous(s: &MockServer) -> Client {
    builder(s).build().unwrap()
}

pub fn oauth_builder(s: &MockServer) -> ClientBuilder {
    builder(s).tenant("T1").oauth_password(
        "8E0761D9-F4EC-2D4B-A60F-BCE2708C6FDD",
        CLIENT_SECRET,
        "api-user",
        PASSWORD,
    )
}

pub fn token_body(access: &str, refresh: Option<&str>, expires_in: u64) -> Value {
    let mut body = json!({
        "access_token": access,
        "expires_in": expires_in,
        "token_type": "Bearer",
        "scope": "api offline_access"
    });
    if let Some(r) = refresh {
        body["refresh_token"] = json!(r);
    }
    body
}

/// Mounts a password-grant token response.
pub async fn mount_password_grant(
    s: &MockServer,
    access: &str,
    refresh: Option<&str>,
    expires_in: u64,
) {
    Mock::given(method("POST"))
        .and(path("/identity/connect/token"))
        .and(body_string_contains("grant_type=password"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(token_body(access, refresh, expires_in)),
        )
        .named("password grant")
        .mount(s)
        .await;
}

pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// A response body recorded by the Jetbuilt gem against a real site.
pub fn jetbuilt(interaction: &str, index: usize) -> (u16, Value) {
    let all = fixture("jetbuilt_cassettes_20.200.001.json");
    let step = &all["interactions"][interaction][index]["response"];
    (
        step["status"].as_u64().unwrap() as u16,
        step["body"].clone(),
    )
}

/// A record in the wire format with just an id and a key.
pub fn record(id: &str, key_field: &str, key: &str) -> Value {
    json!({"id": id, "rowNumber": 1, key_field: {"value": key}})
}
