//! The generic harness: faults and inspection around any router.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, put};
use testkit::inspect::AuthScheme;
use testkit::server::{ErrorStyle, FakeServer};
use testkit::{FaultKind, FaultRule};

async fn counting_server() -> (FakeServer, Arc<AtomicU64>) {
    let writes = Arc::new(AtomicU64::new(0));
    let w = writes.clone();
    let router = Router::new()
        .route(
            "/items",
            put(move || {
                let w = w.clone();
                async move {
                    let n = w.fetch_add(1, Ordering::SeqCst) + 1;
                    axum::Json(serde_json::json!({ "created": n }))
                }
            }),
        )
        .route(
            "/big",
            get(|| async {
                axum::Json(serde_json::json!({ "rows": (0..1000).collect::<Vec<_>>() }))
            }),
        );
    let server = FakeServer::builder(router)
        .error_style(ErrorStyle::json(
            |status, message| serde_json::json!({ "message": message, "code": status }),
        ))
        .start()
        .await
        .unwrap();
    (server, writes)
}

#[tokio::test]
async fn drop_after_write_applies_the_write_and_the_client_sees_no_response() {
    let (server, writes) = counting_server().await;
    let id = server.faults().add(
        FaultRule::new(FaultKind::DropAfterWrite)
            .method("PUT")
            .path("/items")
            .times(1),
    );
    let client = reqwest::Client::new();
    let err = client
        .put(format!("{}/items", server.url()))
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_status(), "{err}");
    assert_eq!(writes.load(Ordering::SeqCst), 1, "the write was applied");
    assert_eq!(server.faults().fired(id), 1);
    let rec = server.log().last().unwrap();
    assert_eq!(rec.status, None);
    assert_eq!(rec.handler_status, Some(200));
    assert_eq!(rec.fault.as_deref(), Some("drop after write"));

    // The next one goes through.
    let body: serde_json::Value = client
        .put(format!("{}/items", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["created"], 2);
}

/// The licence queue: a held write is applied after its client gave up and closed the
/// connection, and the fake says when (no guessed sleeps). `Latency` alone would drop the
/// write with the connection.
#[tokio::test]
async fn a_queued_write_is_applied_after_the_client_gave_up() {
    let (server, writes) = counting_server().await;
    let id = server.faults().add(
        FaultRule::new(FaultKind::Queued(Duration::from_secs(600)))
            .method("PUT")
            .path("/items")
            .times(1),
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = client
        .put(format!("{}/items", server.url()))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    server.faults().wait_queued_held(1).await;
    assert_eq!(writes.load(Ordering::SeqCst), 0, "still queued");
    assert_eq!(server.faults().queued_applied(), 0);
    assert_eq!(server.faults().fired(id), 1);
    server.faults().release_queued();
    server.faults().wait_queued_applied(1).await;
    assert_eq!(
        writes.load(Ordering::SeqCst),
        1,
        "applied after the client left"
    );
    assert_eq!(server.faults().queued_held(), 0);
    // Logged once, with the handler's status (`status` is `None` only when hyper noticed the
    // closed connection before the answer).
    let recs = server.log().matching("PUT", "/items");
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0].handler_status, Some(200));
    assert_eq!(recs[0].fault.as_deref(), Some("queued 600000ms"));

    // A client that waits long enough gets the answer of a queued write.
    server.faults().add(
        FaultRule::new(FaultKind::Queued(Duration::from_millis(50)))
            .method("PUT")
            .path("/items")
            .times(1),
    );
    let body: serde_json::Value = reqwest::Client::new()
        .put(format!("{}/items", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["created"], 2);
    assert_eq!(server.faults().queued_applied(), 2);
}

#[tokio::test]
async fn drop_before_handler_applies_nothing() {
    let (server, writes) = counting_server().await;
    server
        .faults()
        .add(FaultRule::new(FaultKind::DropBeforeHandler).times(1));
    assert!(
        reqwest::Client::new()
            .put(format!("{}/items", server.url()))
            .send()
            .await
            .is_err()
    );
    assert_eq!(writes.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn too_many_requests_with_and_without_retry_after() {
    let (server, writes) = counting_server().await;
    server.faults().add(
        FaultRule::new(FaultKind::TooManyRequests {
            retry_after: Some(7),
        })
        .times(1),
    );
    server
        .faults()
        .add(FaultRule::new(FaultKind::TooManyRequests { retry_after: None }).after(1, 1));
    let client = reqwest::Client::new();
    let r = client
        .put(format!("{}/items", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], 429);
    let r = client
        .put(format!("{}/items", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_none());
    assert_eq!(
        writes.load(Ordering::SeqCst),
        0,
        "a refused request is not handled"
    );
    assert_eq!(
        client
            .put(format!("{}/items", server.url()))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn server_errors_and_proxy_pages() {
    let (server, _) = counting_server().await;
    server.faults().add(
        FaultRule::new(FaultKind::ServerError { status: 503 })
            .path("/big")
            .times(1),
    );
    server.faults().add(
        FaultRule::new(FaultKind::ProxyErrorPage { status: 502 })
            .path("/big")
            .after(1, 1),
    );
    let client = reqwest::Client::new();
    let r = client
        .get(format!("{}/big", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let r = client
        .get(format!("{}/big", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(r.headers()["content-type"], "text/html");
    assert!(r.text().await.unwrap().contains("502 Bad Gateway"));
}

#[tokio::test]
async fn malformed_and_truncated_bodies() {
    let (server, _) = counting_server().await;
    server
        .faults()
        .add(FaultRule::new(FaultKind::MalformedBody).times(1));
    server
        .faults()
        .add(FaultRule::new(FaultKind::TruncatedBody).after(1, 1));
    let client = reqwest::Client::new();
    let r = client
        .get(format!("{}/big", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_err());
    assert!(text.starts_with("{\"rows\":[0,1,2"));
    let r = client
        .get(format!("{}/big", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.bytes().await.is_err(),
        "the body stream must fail mid-way"
    );
    // Healthy again.
    let v: serde_json::Value = client
        .get(format!("{}/big", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["rows"].as_array().unwrap().len(), 1000);
}

#[tokio::test]
async fn latency_delays_the_response() {
    let (server, _) = counting_server().await;
    server
        .faults()
        .add(FaultRule::new(FaultKind::Latency(Duration::from_millis(150))).times(1));
    let r = reqwest::Client::new()
        .get(format!("{}/big", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(server.log().last().unwrap().elapsed >= Duration::from_millis(150));
}

#[tokio::test]
async fn the_log_records_schemes_but_never_secrets() {
    let (server, _) = counting_server().await;
    let client = reqwest::Client::new();
    client
        .get(format!("{}/big?client_secret=hunter2&$top=3", server.url()))
        .header("authorization", "Bearer sekrit-token")
        .send()
        .await
        .unwrap();
    client
        .get(format!("{}/big", server.url()))
        .header("cookie", ".ASPXAUTH=cookie-secret")
        .send()
        .await
        .unwrap();
    client
        .get(format!("{}/big", server.url()))
        .header("authorization", "token looker-secret")
        .send()
        .await
        .unwrap();
    client
        .get(format!("{}/nothing", server.url()))
        .send()
        .await
        .unwrap();
    let entries = server.log().entries();
    let schemes: Vec<_> = entries.iter().map(|r| r.auth.clone()).collect();
    assert_eq!(
        schemes,
        [
            AuthScheme::Bearer,
            AuthScheme::Cookie,
            AuthScheme::Token,
            AuthScheme::None
        ]
    );
    assert_eq!(
        entries[0].query.as_deref(),
        Some("client_secret=[redacted]&$top=3")
    );
    assert_eq!(entries[3].status, Some(404));
    let dump = format!("{entries:?}");
    for secret in ["hunter2", "sekrit-token", "cookie-secret", "looker-secret"] {
        assert!(!dump.contains(secret), "{secret} leaked into the log");
    }
    assert_eq!(server.log().count("GET", "/big"), 3);
    server.log().reset();
    assert_eq!(server.log().len(), 0);
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let (server, _) = counting_server().await;
    let url = server.url().to_owned();
    server.shutdown().await;
    assert!(
        reqwest::Client::new()
            .get(format!("{url}/big"))
            .send()
            .await
            .is_err()
    );
}
