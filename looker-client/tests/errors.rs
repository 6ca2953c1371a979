//! Retries (429, 503, 502-504, network), Retry-After, and error bodies that
//! are not JSON.

mod common;

use std::time::Duration;

use common::*;
use looker_client::{CreateQueryTask, ErrorKind, ResultFormat, RetryPolicy, RunOptions};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

fn versions_ok() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(serde_json::json!({"looker_release_version": "26.12.3"}))
}

fn versions() -> wiremock::MockBuilder {
    Mock::given(method("GET")).and(path("/api/4.0/versions"))
}

fn policy() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(4)
        .with_initial_delay(Duration::from_millis(1))
        .with_max_delay(Duration::from_millis(5))
        .with_retry_after_cap(Duration::from_secs(30))
}

#[tokio::test(start_paused = true)]
async fn a_429_is_retried_after_the_servers_retry_after() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    versions()
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "7")
                .set_body_json(
                    serde_json::json!({"message": "Rate limit exceeded", "documentation_url": "x"}),
                ),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    versions()
        .respond_with(versions_ok())
        .expect(1)
        .mount(&server)
        .await;
    let client = paused_client(&server, policy());
    let start = tokio::time::Instant::now();
    let v: serde_json::Value = client.get_json("versions", &[]).await.unwrap();
    assert_eq!(v["looker_release_version"], "26.12.3");
    let waited = start.elapsed();
    // Backoff steps are at most 5 ms here, so only Retry-After explains 7 s.
    assert!(waited >= Duration::from_secs(7), "waited {waited:?}");
    assert!(waited < Duration::from_secs(30), "waited {waited:?}");
}

#[tokio::test(start_paused = true)]
async fn a_long_retry_after_is_capped() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    versions()
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "86400"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    versions()
        .respond_with(versions_ok())
        .expect(1)
        .mount(&server)
        .await;
    let client = paused_client(
        &server,
        policy().with_retry_after_cap(Duration::from_secs(12)),
    );
    let start = tokio::time::Instant::now();
    client
        .get_json::<serde_json::Value>("versions", &[])
        .await
        .unwrap();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(12) && waited < Duration::from_secs(120),
        "waited {waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn throttling_that_never_ends_is_reported_with_the_wait() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    versions()
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "2")
                .set_body_string(""),
        )
        .expect(4)
        .mount(&server)
        .await;
    let err = paused_client(&server, policy())
        .get_json::<serde_json::Value>("versions", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Throttled);
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
    assert!(err.to_string().contains("rate limit"), "{err}");
}

#[tokio::test]
async fn a_503_proxy_page_is_retried() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    versions()
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_raw("<html><body>Service Unavailable</body></html>", "text/html"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    versions()
        .respond_with(versions_ok())
        .expect(1)
        .mount(&server)
        .await;
    client(&server)
        .get_json::<serde_json::Value>("versions", &[])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_502_html_page_is_shown_briefly_after_the_retries() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    let page = format!(
        "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n{}</body>\r\n</html>",
        "<!-- padding -->\n".repeat(200)
    );
    versions()
        .respond_with(ResponseTemplate::new(502).set_body_raw(page, "text/html"))
        .expect(3)
        .mount(&server)
        .await;
    let err = client(&server)
        .get_json::<serde_json::Value>("versions", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert_eq!(err.status(), Some(502));
    let msg = err.to_string();
    assert!(
        msg.contains("body is not JSON: an HTML page titled \"502 Bad Gateway\""),
        "{msg}"
    );
    assert!(
        msg.len() < 500,
        "the page is previewed, not dumped: {} chars",
        msg.len()
    );
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    for (status, kind) in [
        (400, ErrorKind::Api),
        (404, ErrorKind::NotFound),
        (409, ErrorKind::Api),
        (500, ErrorKind::Server),
    ] {
        let p = format!("/api/4.0/thing{status}");
        Mock::given(method("GET"))
            .and(path(p.as_str()))
            .respond_with(ResponseTemplate::new(status).set_body_string("plain text, not JSON"))
            .expect(1)
            .mount(&server)
            .await;
        let err = client(&server)
            .get_json::<serde_json::Value>(&format!("thing{status}"), &[])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{status}");
        assert!(!err.is_retryable());
        assert!(
            err.to_string()
                .contains("body is not JSON: plain text, not JSON"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn creating_a_task_is_not_repeated_after_a_gateway_error() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    Mock::given(method("POST"))
        .and(path("/api/4.0/query_tasks"))
        .respond_with(ResponseTemplate::new(504).set_body_string("Gateway Timeout"))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server)
        .create_query_task(
            &CreateQueryTask::new("1".into(), ResultFormat::Csv),
            &RunOptions::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert!(!err.is_retryable(), "the task may have been created");
}

#[tokio::test]
async fn an_unreachable_instance_is_a_transport_error() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = looker_client::Client::builder(format!("http://127.0.0.1:{port}"))
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .retry_policy(fast_retry())
        .build()
        .unwrap();
    let err = client.login().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(err.is_retryable());
    assert!(err.to_string().contains("POST /api/4.0/login"), "{err}");
    assert!(!err.to_string().contains(CLIENT_SECRET));
}

#[tokio::test]
async fn an_unexpected_json_shape_names_the_path() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/4.0/queries/5"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"id": "5", "model": "m", "view": "v", "fields": "not-a-list"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server).query(&"5".into()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert_eq!(err.decode_path(), Some("fields"));
    assert!(err.to_string().contains("GET /api/4.0/queries/5"), "{err}");
}

#[tokio::test]
async fn a_failing_login_is_retried_once_per_policy_not_per_call() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/api/4.0/login"))
        .respond_with(ResponseTemplate::new(503).set_body_string("maintenance"))
        .expect(3) // fast_retry: 3 attempts in all, not 3 x 3
        .mount(&server)
        .await;
    let err = client(&server)
        .get_json::<serde_json::Value>("versions", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert!(err.to_string().contains("POST /api/4.0/login"), "{err}");
}
