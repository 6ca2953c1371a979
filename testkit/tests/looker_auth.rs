//! Looker fake: login, token schemes, expiry and logout (FACTS section 2).

mod looker_support;

use std::time::Duration;

use looker_support::{Looker, client, login};
use serde_json::Value;
use testkit::looker::{LookerConfig, LookerFake};
use testkit::seed::credentials::{LOOKER_CLIENT_ID, LOOKER_CLIENT_SECRET};

async fn requires_authentication(resp: reqwest::Response) {
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["message"], "Requires authentication.");
    assert!(body["documentation_url"].is_string());
}

#[tokio::test]
async fn login_with_a_form_body_returns_a_bearer_token() {
    let fake =
        LookerFake::new(LookerConfig::default().with_token_lifetime(Duration::from_secs(600)))
            .unwrap();
    let server = fake.serve().await.unwrap();
    let resp = client()
        .post(format!("{}/api/4.0/login", server.url()))
        .form(&[
            ("client_id", LOOKER_CLIENT_ID),
            ("client_secret", LOOKER_CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["access_token"].as_str().unwrap().len(), 40);
    assert_eq!(fake.counters().logins, 1);
    assert_eq!(fake.live_tokens(), 1);
}

#[tokio::test]
async fn credentials_in_the_query_string_are_refused() {
    let fake = LookerFake::default();
    let server = fake.serve().await.unwrap();
    let resp = client()
        .post(format!("{}/api/4.0/login", server.url()))
        .query(&[
            ("client_id", LOOKER_CLIENT_ID),
            ("client_secret", LOOKER_CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("form-encoded request body"),
        "{body}"
    );
    assert_eq!(fake.counters().logins, 0);
    assert_eq!(fake.counters().login_failures, 1);
    assert_eq!(fake.live_tokens(), 0);
}

#[tokio::test]
async fn wrong_secret_is_not_found() {
    let fake = LookerFake::default();
    let server = fake.serve().await.unwrap();
    let resp = client()
        .post(format!("{}/api/4.0/login", server.url()))
        .form(&[("client_id", LOOKER_CLIENT_ID), ("client_secret", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["message"], "Not found");
}

#[tokio::test]
async fn token_and_bearer_schemes_are_both_accepted() {
    let l = Looker::start(LookerConfig::default()).await;
    for scheme in ["token", "Bearer"] {
        let resp = l
            .http
            .get(l.url("/lookml_models"))
            .header("Authorization", format!("{scheme} {}", l.token))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{scheme}");
    }
    let resp = l
        .http
        .get(l.url("/lookml_models"))
        .header("Authorization", format!("Basic {}", l.token))
        .send()
        .await
        .unwrap();
    requires_authentication(resp).await;
    let log = l.server.log().entries();
    assert!(log.len() >= 4, "{log:?}");
}

#[tokio::test]
async fn missing_and_unknown_tokens_require_authentication() {
    let l = Looker::start(LookerConfig::default()).await;
    requires_authentication(l.http.get(l.url("/lookml_models")).send().await.unwrap()).await;
    let resp = l
        .http
        .get(l.url("/lookml_models"))
        .header("Authorization", "token not-a-token")
        .send()
        .await
        .unwrap();
    requires_authentication(resp).await;
    assert_eq!(l.fake.counters().unauthorized, 2);
}

#[tokio::test(start_paused = true)]
async fn an_expired_token_gets_401_and_a_new_login_works() {
    let l =
        Looker::start(LookerConfig::default().with_token_lifetime(Duration::from_secs(3600))).await;
    assert_eq!(l.get("/lookml_models").await.status(), 200);
    tokio::time::advance(Duration::from_secs(3601)).await;
    requires_authentication(l.get("/lookml_models").await).await;
    assert_eq!(l.fake.live_tokens(), 0);
    let fresh = login(&l.http, l.server.url()).await;
    assert_ne!(fresh, l.token);
    let resp = l
        .http
        .get(l.url("/lookml_models"))
        .header("Authorization", format!("token {fresh}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn harness_token_faults_expire_looker_tokens() {
    let l = Looker::start(LookerConfig::default()).await;
    l.fake.faults().expire_tokens_after_requests(2);
    assert_eq!(l.get("/lookml_models").await.status(), 200);
    assert_eq!(l.get("/lookml_models").await.status(), 200);
    requires_authentication(l.get("/lookml_models").await).await;
}

#[tokio::test]
async fn expire_tokens_knob_expires_every_live_token() {
    let l = Looker::start(LookerConfig::default()).await;
    l.fake.expire_tokens();
    requires_authentication(l.get("/user").await).await;
}

#[tokio::test]
async fn logout_revokes_the_token_and_a_second_logout_is_not_found() {
    let l = Looker::start(LookerConfig::default()).await;
    assert_eq!(l.delete("/logout").await.status(), 204);
    requires_authentication(l.get("/lookml_models").await).await;
    let again = l.delete("/logout").await;
    assert_eq!(again.status(), 404);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["message"], "Not found");
    assert_eq!(l.fake.counters().logouts, 1);
}
