//! OAuth tokens, refresh, single flight, cookie sessions, login limits,
//! and secrets staying out of Debug/logs.

use std::time::Duration;

use acumatica_client::{ErrorKind, ListQuery};
use secrecy::ExposeSecret;
use serde_json::json;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::support::*;

#[tokio::test]
async fn password_grant_is_form_encoded_with_tenant_qualified_client_id() {
    let s = server().await;
    Mock::given(method("POST"))
        .and(path("/identity/connect/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("grant_type=password"))
        .and(body_string_contains(
            "client_id=8E0761D9-F4EC-2D4B-A60F-BCE2708C6FDD%40T1",
        ))
        .and(body_string_contains("client_secret=s3cret-client-value"))
        .and(body_string_contains("username=api-user"))
        .and(body_string_contains("password=s3cret-password-value"))
        .and(body_string_contains("scope=api+offline_access"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("A1", Some("R1"), 3600)))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Account")))
        .and(header("authorization", "Bearer A1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(2)
        .mount(&s)
        .await;
    let client = oauth_builder(&s).build().unwrap();
    assert!(client.accounts(false).await.unwrap().is_empty());
    // The cached token serves the second call: the token mock expects one hit.
    assert!(client.accounts(false).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_401_refreshes_once_and_replays_once() {
    let s = server().await;
    mount_password_grant(&s, "A1", Some("R1"), 3600).await;
    Mock::given(method("POST"))
        .and(path("/identity/connect/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=R1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("A2", Some("R2"), 3600)))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Vendor")))
        .and(header("authorization", "Bearer A1"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"message": "You are not logged in."})),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Vendor")))
        .and(header("authorization", "Bearer A2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([record(
            "11111111-0000-0000-0000-000000000001",
            "VendorID",
            "V1"
        )])))
        .expect(1)
        .mount(&s)
        .await;
    let client = oauth_builder(&s).build().unwrap();
    let rows = client.get_json("Vendor", &ListQuery::new()).await.unwrap();
    assert_eq!(rows[0]["VendorID"]["value"], "V1");
    assert_eq!(
        client.refresh_token().await.unwrap().expose_secret(),
        "R2",
        "rotated token kept"
    );
}

#[tokio::test]
async fn a_second_401_is_final_not_a_loop() {
    let s = server().await;
    mount_password_grant(&s, "A1", None, 3600).await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Vendor")))
        .respond_with(ResponseTemplate::new(401))
        .expect(2)
        .mount(&s)
        .await;
    let client = oauth_builder(&s).build().unwrap();
    let err = client
        .get_json("Vendor", &ListQuery::new())
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Authentication), "{err}");
    assert!(err.to_string().contains("still 401"), "{err}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn refresh_tokens_rotate_and_the_newest_is_used() {
    let s = server().await;
    // Tokens that expire at once: every call refreshes proactively.
    mount_password_grant(&s, "A1", Some("R1"), 0).await;
    Mock::given(method("POST"))
        .and(path("/identity/connect/token"))
        .and(body_string_contains("refresh_token=R1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("A2", Some("R2"), 0)))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/identity/connect/token"))
        .and(body_string_contains("refresh_token=R2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("A3", Some("R3"), 0)))
        .expect(1)
        .mount(&s)
        .await;
    for token in ["A1", "A2", "A3"] {
        Mock::given(method("GET"))
            .and(path(format!("{EP}/Ledger")))
            .and(header("authorization", format!("Bearer {token}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
            .expect(1)
            .mount(&s)
            .await;
    }
    let client = oauth_builder(&s).build().unwrap();
    for _ in 0..3 {
        client.ledgers().await.unwrap();
    }
    assert_eq!(client.refresh_token().await.unwrap().expose_secret(), "R3");
}

#[tokio::test]
async fn ten_concurrent_requests_share_one_token_request() {
    let s = server().await;
    Mock::given(method("POST"))
        .and(path("/identity/connect/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(token_body("A1", Some("R1"), 3600))
                .set_delay(Duration::from_millis(200)),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Subaccount")))
        .and(header("authorization", "Bearer A1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(10)
        .mount(&s)
        .await;
    let client = oauth_builder(&s).build().unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.subaccounts().await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn ten_concurrent_401s_share_one_refresh() {
    let s = server().await;
    mount_password_grant(&s, "A1", Some("R1"), 3600).await;
    Mock::given(method("POST"))
        .and(path("/identity/connect/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(token_body("A2", Some("R2"), 3600))
                .set_delay(Duration::from_millis(100)),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Subaccount")))
        .and(header("authorization", "Bearer A1"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Subaccount")))
        .and(header("authorization", "Bearer A2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(10)
        .mount(&s)
        .await;
    let client = oauth_builder(&s).build().unwrap();
    client.sign_in().await.unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.subaccounts().await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn refused_refresh_falls_back_to_the_password_grant() {
    let s = server().await;
    Mock::given(method("POST"))
        .and(path("/identity/connect/token"))
        .and(body_string_contains("grant_type=password"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("A1", Some("R1"), 0)))
        .up_to_n_times(1)
        .expect(1)
        .mount(&s)
        .await;
    // Acumatica's 400 body does not reliably say invalid_grant (FACTS 3.1).
    Mock::given(method("POST"))
        .and(path("/identity/connect/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_request"})))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/identity/connect/token"))
        .and(body_string_contains("grant_type=password"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("A9", None, 3600)))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Ledger")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(2)
        .mount(&s)
        .await;
    let client = oauth_builder(&s).build().unwrap();
    client.ledgers().await.unwrap();
    client.ledgers().await.unwrap();
}

#[tokio::test]
async fn an_external_refresh_token_is_used_and_a_refused_one_is_reported() {
    let s = server().await;
    Mock::given(method("POST"))
        .and(path("/identity/connect/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=EXT1"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": "invalid_grant", "error_description": "expired"})),
        )
        .expect(1)
        .mount(&s)
        .await;
    let client = builder(&s)
        .oauth_refresh_token("GUID@T1", CLIENT_SECRET, "EXT1")
        .build()
        .unwrap();
    let err = client.sign_in().await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Authentication));
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("invalid_grant"), "{err}");
    assert!(!err.to_string().contains(CLIENT_SECRET));
}

#[tokio::test]
async fn token_endpoint_5xx_is_retried() {
    let s = server().await;
    Mock::given(method("POST"))
        .and(path("/identity/connect/token"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&s)
        .await;
    mount_password_grant(&s, "A1", None, 3600).await;
    let client = oauth_builder(&s).build().unwrap();
    client.sign_in().await.unwrap();
}

#[tokio::test]
async fn cookie_login_sends_credentials_keeps_cookies_and_logs_out_with_content_length_zero() {
    let s = server().await;
    Mock::given(method("POST"))
        .and(path("/entity/auth/login"))
        .and(wiremock::matchers::body_json(json!({
            "name": "api-user", "password": PASSWORD, "tenant": "T1", "branch": "HQ", "locale": "EN-US"
        })))
        .respond_with(
            ResponseTemplate::new(204)
                .append_header("set-cookie", "ASP.NET_SessionId=sess1; path=/; HttpOnly")
                .append_header("set-cookie", ".ASPXAUTH=auth1; path=/; HttpOnly"),
        )
        .expect(1)
        .mount(&s)
        .await;
    let has_cookie = |r: &wiremock::Request| {
        r.headers
            .get("cookie")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.contains("ASP.NET_SessionId=sess1"))
    };
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Subaccount")))
        .and(has_cookie)
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/entity/auth/logout"))
        .and(header("content-length", "0"))
        .and(has_cookie)
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&s)
        .await;
    let client = builder(&s)
        .tenant("T1")
        .branch("HQ")
        .locale("EN-US")
        .session_login("api-user", PASSWORD)
        .build()
        .unwrap();
    client.subaccounts().await.unwrap();
    client.close().await.unwrap();
    // A second close has nothing to log out of: the logout mock expects one hit.
    client.close().await.unwrap();
}

#[tokio::test]
async fn cookie_session_logs_in_again_after_401() {
    let s = server().await;
    Mock::given(method("POST"))
        .and(path("/entity/auth/login"))
        .respond_with(ResponseTemplate::new(204))
        .expect(2)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Subaccount")))
        .respond_with(ResponseTemplate::new(401))
        .up_to_n_times(1)
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Subaccount")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&s)
        .await;
    let client = builder(&s).session_login("u", PASSWORD).build().unwrap();
    client.subaccounts().await.unwrap();
}

#[tokio::test]
async fn wrong_password_from_the_real_500_payload_is_an_authentication_error() {
    let s = server().await;
    let (status, body) = jetbuilt("login_fail", 0);
    assert_eq!(status, 500);
    Mock::given(method("POST"))
        .and(path("/entity/auth/login"))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .expect(1)
        .mount(&s)
        .await;
    let client = builder(&s).session_login("u", PASSWORD).build().unwrap();
    let err = client.sign_in().await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Authentication), "{err:?}");
    assert!(err.to_string().contains("Invalid credentials"), "{err}");
    assert!(!err.to_string().contains(PASSWORD));
}

#[tokio::test]
async fn api_login_limit_is_its_own_kind() {
    let s = server().await;
    Mock::given(method("POST"))
        .and(path("/entity/auth/login"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({
            "message": "An error has occurred.",
            "exceptionMessage": "API Login Limit",
            "exceptionType": "PX.Data.PXException"
        })))
        .expect(1)
        .mount(&s)
        .await;
    let client = builder(&s).session_login("u", PASSWORD).build().unwrap();
    let err = client.sign_in().await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::LoginLimit);
    assert!(err.to_string().contains("close"), "tells what to do: {err}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn credentials_are_not_sent_to_another_host_via_redirect() {
    let s = server().await;
    let other = server().await;
    mount_password_grant(&s, "A1", None, 3600).await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Vendor")))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/steal", other.uri()).as_str()),
        )
        .expect(1)
        .mount(&s)
        .await;
    let client = oauth_builder(&s).build().unwrap();
    let err = client
        .get_json("Vendor", &ListQuery::new())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(302));
    assert!(err.to_string().contains("not followed"), "{err}");
    // `other`'s catch-all expects zero requests and fails the test on drop.
    let err = client
        .get_json(&format!("{}/x", other.uri()), &ListQuery::new())
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Config), "{err}");
}
