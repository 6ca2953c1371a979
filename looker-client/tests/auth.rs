//! Login, token reuse, renewal, 401 replay, concurrency, logout.

mod common;

use std::time::Duration;

use common::*;
use looker_client::{Client, ErrorKind};
use wiremock::matchers::{header, header_exists, method, path};
use wiremock::{Mock, ResponseTemplate};

fn versions(token: &str) -> Mock {
    Mock::given(method("GET"))
        .and(path("/api/4.0/versions"))
        .and(header("authorization", format!("token {token}").as_str()))
        .and(header_exists("x-looker-appid"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"looker_release_version": "26.12.3"})),
        )
}

async fn call(client: &Client) -> looker_client::Result<serde_json::Value> {
    client.get_json("versions", &[]).await
}

#[tokio::test]
async fn credentials_go_in_the_form_body_and_one_login_serves_many_calls() {
    let server = server().await;
    login("T1", 3600).expect(1).mount(&server).await;
    versions("T1").expect(3).mount(&server).await;
    let client = client(&server);
    for _ in 0..3 {
        assert_eq!(
            call(&client).await.unwrap()["looker_release_version"],
            "26.12.3"
        );
    }
    assert_eq!(client.login_count(), 1);
    // The login carried no Authorization header and the app id header.
    let logins = hits(&server, "POST", "/api/4.0/login").await;
    assert!(logins[0].headers.get("authorization").is_none());
    let appid = logins[0]
        .headers
        .get("x-looker-appid")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(appid.starts_with("looker-client/"), "{appid}");
    assert!(
        logins[0].url.query().is_none(),
        "nothing in the query string"
    );
}

#[tokio::test]
async fn the_token_is_renewed_before_it_expires() {
    let server = server().await;
    login("T1", 3600)
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    login("T2", 3600).expect(1).mount(&server).await;
    versions("T1").expect(2).mount(&server).await;
    versions("T2").expect(1).mount(&server).await;
    let client = Client::builder(server.uri())
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .renewal_margin(Duration::from_secs(60))
        .build()
        .unwrap();
    call(&client).await.unwrap();
    // 3539 s later the token still has 61 s: reused.
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(3539)).await;
    tokio::time::resume();
    call(&client).await.unwrap();
    assert_eq!(client.login_count(), 1);
    // Two seconds later it is inside the 60 s margin: renewed first.
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(2)).await;
    tokio::time::resume();
    call(&client).await.unwrap();
    assert_eq!(client.login_count(), 2);
}

#[tokio::test]
async fn a_401_leads_to_exactly_one_relogin_and_replay() {
    let server = server().await;
    login("T1", 3600)
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    login("T2", 3600).expect(1).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/4.0/versions"))
        .and(header("authorization", "token T1"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "message": "Requires authentication.",
            "documentation_url": "https://cloud.google.com/looker/docs/"
        })))
        .expect(1)
        .mount(&server)
        .await;
    versions("T2").expect(1).mount(&server).await;
    let client = client(&server);
    call(&client).await.unwrap();
    assert_eq!(client.login_count(), 2);
}

#[tokio::test]
async fn a_second_401_is_an_authentication_error_not_a_loop() {
    let server = server().await;
    login("T1", 3600).expect(2).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/4.0/versions"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(serde_json::json!({"message": "Requires authentication."})),
        )
        .expect(2)
        .mount(&server)
        .await;
    let client = client(&server);
    let err = call(&client).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication);
    assert!(!err.is_retryable());
    assert!(
        err.to_string()
            .contains("answered 401 again right after a new login"),
        "{err}"
    );
    assert!(
        err.to_string().contains(&server.uri()),
        "names the instance: {err}"
    );
}

#[tokio::test]
async fn ten_concurrent_calls_share_one_login() {
    let server = server().await;
    // A slow login, so all ten calls arrive while it runs.
    login_with(token_response("T1", 3600).set_delay(Duration::from_millis(300)))
        .expect(1)
        .mount(&server)
        .await;
    versions("T1").expect(10).mount(&server).await;
    let client = client(&server);
    let calls = (0..10).map(|_| {
        let c = client.clone();
        tokio::spawn(async move { call(&c).await })
    });
    for r in futures::future::join_all(calls).await {
        r.unwrap().unwrap();
    }
    assert_eq!(client.login_count(), 1);
}

#[tokio::test]
async fn concurrent_401s_share_one_relogin() {
    let server = server().await;
    login("T1", 3600)
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    login("T2", 3600).expect(1).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/4.0/versions"))
        .and(header("authorization", "token T1"))
        .respond_with(ResponseTemplate::new(401).set_body_string("Unauthorized"))
        .mount(&server)
        .await;
    versions("T2").expect(5).mount(&server).await;
    let client = client(&server);
    client.login().await.unwrap();
    let calls = (0..5).map(|_| {
        let c = client.clone();
        tokio::spawn(async move { call(&c).await })
    });
    for r in futures::future::join_all(calls).await {
        r.unwrap().unwrap();
    }
    assert_eq!(client.login_count(), 2, "one login, one shared re-login");
}

#[tokio::test]
async fn a_refused_login_names_the_instance_and_keeps_the_secret_out() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/api/4.0/login"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(
                serde_json::json!({"message": "Not found", "documentation_url": "x"}),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let err = client.login().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication);
    let msg = err.to_string();
    assert!(msg.contains(&server.uri()), "{msg}");
    assert!(msg.contains(CLIENT_ID), "{msg}");
    assert!(
        msg.contains("check the API3 client_id and client_secret"),
        "{msg}"
    );
    assert!(!msg.contains(CLIENT_SECRET) && !format!("{err:?}").contains(CLIENT_SECRET));
    assert!(!format!("{client:?}").contains(CLIENT_SECRET));
}

#[tokio::test]
async fn logout_revokes_and_the_next_call_logs_in_again() {
    let server = server().await;
    login("T1", 3600).expect(2).mount(&server).await;
    Mock::given(method("DELETE"))
        .and(path("/api/4.0/logout"))
        .and(header("authorization", "token T1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    versions("T1").expect(2).mount(&server).await;
    let client = client(&server);
    call(&client).await.unwrap();
    client.logout().await.unwrap();
    client.logout().await.unwrap(); // nothing to revoke: no request
    call(&client).await.unwrap();
    assert_eq!(client.login_count(), 2);
}

#[tokio::test]
async fn redirects_to_another_host_are_not_followed() {
    let server = server().await;
    let other = common::server().await; // fails if anything reaches it
    login("T1", 3600).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/4.0/versions"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/steal", other.uri()).as_str()),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = call(&client(&server)).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("redirects to another host are not followed"),
        "{err}"
    );
}

#[tokio::test]
async fn requests_wait_for_a_pacer_slot() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    versions("T1").expect(1).mount(&server).await;
    let pacer = looker_client::Pacer::new(None, Some(1));
    let client = Client::builder(server.uri())
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .pacer(pacer.clone())
        .build()
        .unwrap();
    client.login().await.unwrap();
    // Hold the only slot: the call must wait for it.
    let held = pacer.acquire().await;
    let call = tokio::spawn({
        let c = client.clone();
        async move { call(&c).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!call.is_finished());
    assert!(
        hits(&server, "GET", "/api/4.0/versions").await.is_empty(),
        "nothing sent while the slot is held"
    );
    drop(held);
    call.await.unwrap().unwrap();
    assert_eq!(hits(&server, "GET", "/api/4.0/versions").await.len(), 1);
    assert_eq!(pacer.available_slots(), Some(1), "the slot is given back");
}
