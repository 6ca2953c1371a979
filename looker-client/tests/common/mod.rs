//! Shared set-up for the wiremock tests: a server whose catch-all fails the
//! test loudly, a login mock that checks the form body, and a client with
//! fast retries.
#![allow(dead_code)]

use std::time::Duration;

use looker_client::{Client, RetryPolicy};
use wiremock::matchers::{any, body_string, header, method, path, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const CLIENT_ID: &str = "test-client-id";
pub const CLIENT_SECRET: &str = "s3cr3t+/=&value";

/// A server with a catch-all that answers 599 and, when the server is
/// dropped, fails the test if anything reached it.
pub async fn server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(599).set_body_string("UNEXPECTED REQUEST (catch-all)"))
        .with_priority(u8::MAX)
        .expect(0)
        .named("catch-all: no unexpected request")
        .mount(&server)
        .await;
    server
}

/// The login form exactly as it must be sent.
pub fn login_form() -> String {
    serde_urlencoded::to_string([("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)])
        .unwrap()
}

/// An `AccessToken` response.
pub fn token_response(token: &str, expires_in: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": expires_in
    }))
}

/// `POST /api/4.0/login` with the credentials in the form body only.
pub fn login(token: &str, expires_in: u64) -> Mock {
    login_with(token_response(token, expires_in))
}

/// Like [`login`] with any response.
pub fn login_with(response: ResponseTemplate) -> Mock {
    Mock::given(method("POST"))
        .and(path("/api/4.0/login"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string(login_form()))
        .and(query_param_is_missing("client_id"))
        .and(query_param_is_missing("client_secret"))
        .respond_with(response)
}

/// Retries fast and bounded, so failing tests end quickly.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(3)
        .with_initial_delay(Duration::from_millis(1))
        .with_max_delay(Duration::from_millis(5))
}

pub fn client(server: &MockServer) -> Client {
    Client::builder(server.uri())
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .retry_policy(fast_retry())
        .build()
        .unwrap()
}

/// For tests on a paused clock: no request timeout and no idle-connection
/// timer (a paused clock jumps to the next timer while a request waits for
/// the server, which runs on another thread).
pub fn paused_client(server: &MockServer, retry: RetryPolicy) -> Client {
    Client::builder(server.uri())
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .retry_policy(retry)
        .no_timeout()
        .pool_idle_timeout(None)
        .build()
        .unwrap()
}

/// Requests received on `p`.
pub async fn hits(server: &MockServer, m: &str, p: &str) -> Vec<wiremock::Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.method.as_str() == m && r.url.path() == p)
        .collect()
}

/// A JSON array of `n` order rows.
pub fn order_rows(n: u64) -> serde_json::Value {
    serde_json::Value::Array(
        (1..=n)
            .map(|i| serde_json::json!({"orders.id": i, "orders.total": format!("{}.{:02}", i, i % 100)}))
            .collect(),
    )
}
