//! The log-capture test, alone in its own test binary.
//!
//! `tracing` caches per call site whether anyone listens. In a binary whose
//! other tests run in parallel threads without a subscriber, a call site
//! first reached by one of them can be cached as "nobody listens" while this
//! test's thread-local subscriber is being installed, and the request span
//! then goes missing (seen as a rare failure in CI). With one test per
//! binary there is no such race.

#[path = "../client/support.rs"]
#[allow(dead_code)]
mod support;

use acumatica_client::ListQuery;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use support::*;

/// Captures everything `tracing` writes while the returned guard lives.
fn capture_logs() -> (
    std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    tracing::subscriber::DefaultGuard,
) {
    use std::sync::{Arc, Mutex};
    #[derive(Clone)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = Sink(buf.clone());
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    (buf, guard)
}

#[tokio::test]
async fn secrets_never_show_in_debug_errors_or_logs() {
    let (logs, _guard) = capture_logs();
    let s = server().await;
    mount_password_grant(&s, "ACCESS-TOKEN-XYZ", Some("REFRESH-TOKEN-XYZ"), 3600).await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Vendor")))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"message": "boom"})))
        .mount(&s)
        .await;
    let builder = oauth_builder(&s);
    let client = builder.build().unwrap();
    let err = client
        .get_json("Vendor", &ListQuery::new())
        .await
        .unwrap_err();
    for text in [format!("{client:?}"), format!("{err:?}"), err.to_string()] {
        for secret in [
            PASSWORD,
            CLIENT_SECRET,
            "ACCESS-TOKEN-XYZ",
            "REFRESH-TOKEN-XYZ",
        ] {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
    }
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("acumatica.request"),
        "requests are traced: {logs}"
    );
    assert!(
        logs.contains("status=500") && logs.contains("entity=Vendor") && logs.contains("attempt=3"),
        "{logs}"
    );
    for secret in [
        PASSWORD,
        CLIENT_SECRET,
        "ACCESS-TOKEN-XYZ",
        "REFRESH-TOKEN-XYZ",
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into logs");
    }
}
