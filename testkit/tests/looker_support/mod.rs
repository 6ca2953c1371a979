//! Helpers shared by the Looker fake's tests: a served fake, a logged-in
//! HTTP client and small request shorthands. Written from FACTS.md; no
//! client crate of ours is used.
#![allow(dead_code)]

use serde_json::Value;
use testkit::looker::{LookerConfig, LookerFake};
use testkit::seed::credentials::{LOOKER_CLIENT_ID, LOOKER_CLIENT_SECRET};
use testkit::server::FakeServer;

pub struct Looker {
    pub fake: LookerFake,
    pub server: FakeServer,
    pub http: reqwest::Client,
    pub token: String,
}

pub fn client() -> reqwest::Client {
    // No idle pool: no background timers that a paused clock would jump to.
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

/// `POST /api/4.0/login` with the demo credentials in a form body.
pub async fn login(http: &reqwest::Client, base: &str) -> String {
    let resp = http
        .post(format!("{base}/api/4.0/login"))
        .form(&[
            ("client_id", LOOKER_CLIENT_ID),
            ("client_secret", LOOKER_CLIENT_SECRET),
        ])
        .send()
        .await
        .expect("login request");
    assert_eq!(resp.status(), 200, "login failed");
    let body: Value = resp.json().await.expect("login json");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

impl Looker {
    pub async fn start(config: LookerConfig) -> Looker {
        let fake = LookerFake::new(config).expect("valid config");
        let server = fake.serve().await.expect("serve");
        let http = client();
        let token = login(&http, server.url()).await;
        Looker {
            fake,
            server,
            http,
            token,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/4.0{path}", self.server.url())
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .header("Authorization", format!("token {}", self.token))
            .send()
            .await
            .expect("request")
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.http
            .delete(self.url(path))
            .header("Authorization", format!("token {}", self.token))
            .send()
            .await
            .expect("request")
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header("Authorization", format!("Bearer {}", self.token))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Runs an inline query in `json` and returns the rows.
    pub async fn rows(&self, query: &Value) -> Vec<Value> {
        let resp = self.post("/queries/run/json", query).await;
        let status = resp.status();
        let text = resp.text().await.expect("body");
        assert_eq!(status, 200, "{text}");
        serde_json::from_str::<Vec<Value>>(&text).expect("json rows")
    }

    /// `POST /queries` and the new query's id.
    pub async fn create_query(&self, query: &Value) -> String {
        let resp = self.post("/queries", query).await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.expect("query json");
        body["id"].as_str().expect("string id").to_owned()
    }
}
