//! Error kinds: wrong endpoint version, throttling, missing records,
//! server and transport failures with retries, decode paths, bad config.

use std::time::{Duration, Instant};

use acumatica_client::entity::{JournalTransaction, Vendor};
use acumatica_client::{Client, ErrorKind, ListQuery, RetryPolicy};
use futures::TryStreamExt;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::support::*;

#[tokio::test]
async fn a_404_on_an_authenticated_call_lists_the_versions_the_site_offers() {
    let s = server().await;
    mount_password_grant(&s, "A1", None, 3600).await;
    Mock::given(method("GET"))
        .and(path("/entity/Default/21.200.001/Vendor"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&s)
        .await;
    let doc = fixture("doc_examples.json");
    Mock::given(method("GET"))
        .and(path("/entity"))
        .and(wiremock::matchers::header("authorization", "Bearer A1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            doc["GET_entity_response__IntegrationDev_RESTExample_Basic_Get_List_of_Endpoints.md"].clone(),
        ))
        .expect(1)
        .mount(&s)
        .await;
    let client = oauth_builder(&s)
        .endpoint_version("21.200.001")
        .build()
        .unwrap();
    let err = client
        .list::<Vendor>(ListQuery::new())
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    match err.kind() {
        ErrorKind::EndpointVersionNotFound {
            requested,
            available,
        } => {
            assert_eq!(requested, "Default/21.200.001");
            assert_eq!(
                available,
                &[
                    "20.200.001",
                    "22.200.001",
                    "23.200.001",
                    "24.200.001",
                    "25.200.001"
                ]
            );
        }
        other => panic!("{other:?}: {err}"),
    }
    assert!(
        err.to_string().contains(
            "it offers Default 20.200.001, 22.200.001, 23.200.001, 24.200.001, 25.200.001"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn throttled_with_retry_after_header_waits_that_long() {
    let s = server().await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Vendor")))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Vendor")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&s)
        .await;
    let client = anonymous(&s);
    let started = Instant::now();
    client.get_json("Vendor", &ListQuery::new()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
}

#[tokio::test]
async fn throttled_errors_carry_the_wait_from_header_or_body_or_none() {
    let cases = [
        (
            ResponseTemplate::new(429).insert_header("retry-after", "7"),
            Some(Duration::from_secs(7)),
        ),
        (
            ResponseTemplate::new(429).set_body_json(json!({"message": "limit", "retryAfter": 3})),
            Some(Duration::from_secs(3)),
        ),
        (
            ResponseTemplate::new(429)
                .set_body_string("The custom error module does not recognize this error."),
            None,
        ),
    ];
    for (response, wait) in cases {
        let s = server().await;
        Mock::given(method("GET"))
            .and(path(format!("{EP}/Vendor")))
            .respond_with(response)
            .expect(1)
            .mount(&s)
            .await;
        let client = builder(&s)
            .retry_policy(RetryPolicy::never())
            .build()
            .unwrap();
        let err = client
            .get_json("Vendor", &ListQuery::new())
            .await
            .unwrap_err();
        assert!(err.is_throttled() && err.is_retryable(), "{err}");
        assert_eq!(err.retry_after(), wait);
        assert_eq!(err.status(), Some(429));
    }
}

#[tokio::test]
async fn throttled_without_retry_after_backs_off_and_gives_up_after_max_attempts() {
    let s = server().await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Vendor")))
        .respond_with(ResponseTemplate::new(429))
        .expect(3)
        .mount(&s)
        .await;
    let client = anonymous(&s);
    let err = client
        .get_json("Vendor", &ListQuery::new())
        .await
        .unwrap_err();
    assert!(err.is_throttled());
}

#[tokio::test]
async fn a_missing_record_is_not_found_and_not_retried() {
    let s = server().await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/JournalTransaction/GL/999999")))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({
            "message": "An error has occurred.",
            "exceptionMessage": "No entity satisfies the condition.",
            "exceptionType": "PX.Api.ContractBased.NoEntitySatisfiesTheConditionException",
            "stackTrace": "..."
        })))
        .expect(1)
        .mount(&s)
        .await;
    let client = anonymous(&s);
    let err = client
        .get_by_keys::<JournalTransaction>(&["GL", "999999"], &ListQuery::new())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn transient_server_errors_on_reads_are_retried() {
    let s = server().await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Vendor")))
        .respond_with(
            ResponseTemplate::new(502).set_body_string("<html><body>502 Bad Gateway</body></html>"),
        )
        .up_to_n_times(2)
        .expect(2)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Vendor")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&s)
        .await;
    let client = anonymous(&s);
    client.get_json("Vendor", &ListQuery::new()).await.unwrap();
}

#[tokio::test]
async fn server_errors_keep_exception_type_and_message_and_html_is_previewed() {
    let s = server().await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/PurchaseOrder")))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({
            "message": "An error has occurred.",
            "exceptionMessage": "View Filter has BQL delegate",
            "exceptionType": "PX.Api.ContractBased.Optimization.CannotOptimizeException"
        })))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Bill")))
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_string("<html>\n<body>  Service   Unavailable </body></html>"),
        )
        .expect(1)
        .mount(&s)
        .await;
    let client = builder(&s)
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    let err = client
        .get_json("PurchaseOrder", &ListQuery::new())
        .await
        .unwrap_err();
    match err.kind() {
        ErrorKind::Server {
            exception_type,
            exception_message,
        } => {
            assert!(
                exception_type
                    .as_deref()
                    .unwrap()
                    .ends_with("CannotOptimizeException")
            );
            assert_eq!(
                exception_message.as_deref(),
                Some("View Filter has BQL delegate")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !err.is_retryable(),
        "a deterministic server exception is not retried"
    );
    let err = client
        .get_json("Bill", &ListQuery::new())
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    // A proxy's HTML page is named as such, not dumped as markup.
    let text = err.to_string();
    assert!(text.contains("an HTML page (a proxy or gateway"), "{text}");
    assert!(!text.contains("<html"), "{text}");
}

#[tokio::test]
async fn transport_failures_on_reads_are_retried_then_reported() {
    // Nothing listens on this port.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = Client::builder(format!("http://{addr}"))
        .endpoint_version("24.200.001")
        .retry_policy(fast_retry())
        .build()
        .unwrap();
    let err = client
        .get_json("Vendor", &ListQuery::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Transport, "{err}");
    assert!(err.is_retryable());
    // A create that never connected did not happen: Transport, not OutcomeUnknown.
    let err = client
        .put_json(
            "JournalTransaction",
            &json!({}),
            acumatica_client::PutMode::InsertOnly,
            &ListQuery::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Transport, "{err}");
}

#[tokio::test]
async fn decode_errors_name_the_json_path() {
    let s = server().await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/JournalTransaction")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"BatchNbr": {"value": "1"}},
            {"BatchNbr": {"value": "2"}, "Details": [{"DebitAmount": {"value": "ten"}}]}
        ])))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Vendor")))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&s)
        .await;
    let client = anonymous(&s);
    let err = client
        .list::<JournalTransaction>(ListQuery::new())
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    match err.kind() {
        ErrorKind::Decode { path } => assert_eq!(path, "[1].Details[0].DebitAmount.value", "{err}"),
        other => panic!("{other:?}: {err}"),
    }
    let err = client
        .get_json("Vendor", &ListQuery::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("empty body"), "{err}");
}

#[tokio::test]
async fn bad_configuration_is_reported_not_panicked() {
    let cases: Vec<(acumatica_client::ClientBuilder, &str)> = vec![
        (
            Client::builder("https://erp.example.com"),
            "endpoint version is required",
        ),
        (
            Client::builder("https://erp.example.com").endpoint_version("24.200"),
            "24.200.001",
        ),
        (
            Client::builder("erp.example.com").endpoint_version("24.200.001"),
            "not a valid URL",
        ),
        (
            Client::builder("http://erp.example.com").endpoint_version("24.200.001"),
            "unencrypted",
        ),
        (
            Client::builder("https://erp.example.com")
                .endpoint_version("24.200.001")
                .tenant("T1")
                .oauth_password("GUID@T2", "s", "u", "p"),
            "tenant",
        ),
        (
            Client::builder("https://erp.example.com")
                .endpoint_version("24.200.001")
                .requests_per_minute(0),
            "requests per minute",
        ),
        (
            Client::builder("https://erp.example.com")
                .endpoint_version("24.200.001")
                .branch("HQ")
                .oauth_password("GUID", "s", "u", "p"),
            "Client::with_branch",
        ),
        (
            Client::builder("https://erp.example.com")
                .endpoint_version("24.200.001")
                .endpoint_name("Def ault"),
            "endpoint name",
        ),
    ];
    for (b, needle) in cases {
        let err = b.build().unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Config);
        assert!(err.to_string().contains(needle), "{needle:?} not in {err}");
    }
}

#[tokio::test]
async fn pacing_limits_concurrent_requests() {
    let s = server().await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Vendor")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([]))
                .set_delay(Duration::from_millis(100)),
        )
        .expect(3)
        .mount(&s)
        .await;
    let client = builder(&s).max_concurrent_requests(1).build().unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.get_json("Vendor", &ListQuery::new()).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // One at a time: three 100 ms responses take at least 300 ms in all.
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
#[should_panic(expected = "catch-all: a request matched no mock")]
async fn the_catch_all_fails_any_test_that_hits_an_unmatched_route() {
    let s = server().await;
    let client = builder(&s)
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    let err = client
        .get_json("Nowhere", &ListQuery::new())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(599));
    assert!(err.to_string().contains("UNMATCHED ROUTE"), "{err}");
    // Dropping the server verifies expectations and panics, naming the catch-all.
    drop(s);
}

#[tokio::test]
async fn check_endpoint_version_confirms_or_lists_the_offered_versions() {
    let s = server().await;
    let doc = fixture("doc_examples.json");
    Mock::given(method("GET"))
        .and(path("/entity"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            doc["GET_entity_response__IntegrationDev_RESTExample_Basic_Get_List_of_Endpoints.md"].clone(),
        ))
        .expect(3)
        .mount(&s)
        .await;
    anonymous(&s).check_endpoint_version().await.unwrap();
    let old = builder(&s).endpoint_version("18.200.001").build().unwrap();
    let err = old.check_endpoint_version().await.unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::EndpointVersionNotFound { .. }
    ));
    assert!(err.to_string().contains("25.200.001"), "{err}");
    let custom = builder(&s).endpoint_name("MyEndpoint").build().unwrap();
    let err = custom.check_endpoint_version().await.unwrap_err();
    assert!(
        err.to_string().contains("no endpoint named \"MyEndpoint\""),
        "{err}"
    );
}
