//! Security checks across the crates (issue 7):
//!
//! - secrets (both credential sets, OAuth access and refresh tokens, the
//!   Looker access token, the vault key) never appear in `Debug` output, in
//!   `tracing` events captured at TRACE, in error messages or in the testkit
//!   request log;
//! - the `Authorization` header is not forwarded on a redirect to another host;
//! - vault tampering is detected;
//! - TLS certificates are verified by default.
//!
//! Secret values are distinctive strings, searched for verbatim and in their
//! percent-encoded and base64 forms.

use std::io::Write;
use std::sync::{Arc, Mutex};

use acumatica_client::{ListQuery, PutMode};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const ACU_CLIENT_ID: &str = "3F2504E0-4F89-11D3-9A0C-0305E82C3301@MLDemo";
const ACU_CLIENT_SECRET: &str = "acu-client-secret-Zq81!x";
const ACU_USER: &str = "api-user";
const ACU_PASSWORD: &str = "acu-password-Hv27#k";
const ACU_ACCESS_TOKEN: &str = "acu-access-token-Wm5r9T";
const ACU_REFRESH_TOKEN: &str = "acu-refresh-token-Pk3s8Q";
const LK_CLIENT_ID: &str = "looker-id-public";
const LK_CLIENT_SECRET: &str = "looker-secret-Nd4w2L";
const LK_ACCESS_TOKEN: &str = "looker-access-token-Jx6c1V";

const SECRETS: &[&str] = &[
    ACU_CLIENT_SECRET,
    ACU_PASSWORD,
    ACU_ACCESS_TOKEN,
    ACU_REFRESH_TOKEN,
    LK_CLIENT_SECRET,
    LK_ACCESS_TOKEN,
];

/// Fails naming the secret and where it leaked (the haystack is not printed).
fn assert_no_secret(haystack: &str, what: &str, secrets: &[&str]) {
    for s in secrets {
        let encoded: String = url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
        for form in [s.to_string(), encoded] {
            assert!(
                !haystack.contains(&form),
                "secret {s:?} leaked into {what} (as {form:?})"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Log capture
// ---------------------------------------------------------------------------

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// A subscriber that writes every event and span field at TRACE, from every
/// crate (reqwest and hyper included), into the buffer.
fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let buf = Captured::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .finish();
    (buf, tracing::subscriber::set_default(subscriber))
}

/// A local URL where nothing listens (wiremock keeps pooled servers alive).
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

// ---------------------------------------------------------------------------
// Acumatica
// ---------------------------------------------------------------------------

fn acu_token_body() -> serde_json::Value {
    json!({
        "access_token": ACU_ACCESS_TOKEN,
        "expires_in": 3600,
        "token_type": "Bearer",
        "refresh_token": ACU_REFRESH_TOKEN,
        "scope": "api offline_access"
    })
}

fn acu_client(url: &str) -> acumatica_client::Client {
    acumatica_client::Client::builder(url)
        .endpoint_version("24.200.001")
        .oauth_password(ACU_CLIENT_ID, ACU_CLIENT_SECRET, ACU_USER, ACU_PASSWORD)
        .retry_policy(acumatica_client::RetryPolicy::never())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn acumatica_secrets_stay_out_of_debug_logs_and_errors() {
    let (logs, _guard) = capture();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/identity/connect/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(acu_token_body()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/entity/Default/24.200.001/JournalTransaction"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    // A 422 that echoes what a careless server might: the request's headers.
    Mock::given(method("PUT"))
        .and(path("/entity/Default/24.200.001/JournalTransaction"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "Description": {"value": "x", "error": "Description is invalid"}
        })))
        .mount(&server)
        .await;

    let builder = acumatica_client::Client::builder(server.uri())
        .endpoint_version("24.200.001")
        .oauth_password(ACU_CLIENT_ID, ACU_CLIENT_SECRET, ACU_USER, ACU_PASSWORD);
    let mut seen = format!("{builder:?}");
    let client = builder
        .retry_policy(acumatica_client::RetryPolicy::never())
        .build()
        .unwrap();
    seen.push_str(&format!("{client:?}"));

    client.sign_in().await.unwrap();
    let list = client
        .get_json("JournalTransaction", &ListQuery::new())
        .await
        .unwrap();
    assert_eq!(list, json!([]));
    let refresh = client.refresh_token().await.expect("a refresh token");
    seen.push_str(&format!("{refresh:?}{client:?}"));

    // A 422.
    let err = client
        .put_json(
            "JournalTransaction",
            &json!({"Description": {"value": "x"}}),
            PutMode::Upsert,
            &ListQuery::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.field_errors().len(), 1, "{err}");
    seen.push_str(&format!("{err} {err:?}"));

    // An authentication failure: the token endpoint refuses the password.
    let refusing = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/identity/connect/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant", "error_description": "invalid_username_or_password"
        })))
        .mount(&refusing)
        .await;
    let err = acu_client(&refusing.uri()).sign_in().await.unwrap_err();
    assert!(err.is_authentication(), "{err:?}");
    seen.push_str(&format!("{err} {err:?}"));

    // A transport error: nothing listens there any more.
    let gone_url = closed_port_url();
    let err = acu_client(&gone_url).sign_in().await.unwrap_err();
    assert!(
        matches!(err.kind(), acumatica_client::ErrorKind::Transport),
        "{err:?}"
    );
    seen.push_str(&format!("{err} {err:?}"));

    // The request really carried the secrets (so the test can fail).
    let token_request = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.url.path() == "/identity/connect/token")
        .unwrap();
    let form = String::from_utf8_lossy(&token_request.body).into_owned();
    assert!(form.contains("acu-password-Hv27%23k"), "{form}");

    assert_no_secret(&seen, "Debug output and error messages", SECRETS);
    let log_text = logs.text();
    assert!(!log_text.is_empty(), "the subscriber captured nothing");
    assert_no_secret(&log_text, "tracing logs", SECRETS);
}

// ---------------------------------------------------------------------------
// Looker
// ---------------------------------------------------------------------------

fn looker_token_body() -> serde_json::Value {
    json!({"access_token": LK_ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600})
}

#[tokio::test(flavor = "current_thread")]
async fn looker_secrets_stay_out_of_debug_logs_and_errors() {
    let (logs, _guard) = capture();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/4.0/login"))
        .respond_with(ResponseTemplate::new(200).set_body_json(looker_token_body()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/4.0/user"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "7"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/4.0/queries/99"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"message": "Not found", "documentation_url": "x"})),
        )
        .mount(&server)
        .await;

    let builder =
        looker_client::Client::builder(server.uri()).credentials(LK_CLIENT_ID, LK_CLIENT_SECRET);
    let mut seen = format!("{builder:?}");
    let client = builder
        .retry_policy(looker_client::RetryPolicy::never())
        .build()
        .unwrap();
    client.login().await.unwrap();
    let me: serde_json::Value = client.get_json("user", &[]).await.unwrap();
    assert_eq!(me["id"], "7");
    seen.push_str(&format!("{client:?}"));
    let err = client
        .get_json::<serde_json::Value>("queries/99", &[])
        .await
        .unwrap_err();
    seen.push_str(&format!("{err} {err:?}"));

    // The call carried the token (so the test can fail).
    let authorized = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.url.path() == "/api/4.0/user")
        .unwrap();
    let auth = authorized
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(auth.contains(LK_ACCESS_TOKEN));

    // Refused credentials.
    let refusing = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/4.0/login"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"message": "Not found", "documentation_url": "x"})),
        )
        .mount(&refusing)
        .await;
    let bad = looker_client::Client::builder(refusing.uri())
        .credentials(LK_CLIENT_ID, LK_CLIENT_SECRET)
        .retry_policy(looker_client::RetryPolicy::never())
        .build()
        .unwrap();
    let err = bad.login().await.unwrap_err();
    seen.push_str(&format!("{err} {err:?}"));

    // Transport failure.
    let gone_url = closed_port_url();
    let unreachable = looker_client::Client::builder(gone_url)
        .credentials(LK_CLIENT_ID, LK_CLIENT_SECRET)
        .retry_policy(looker_client::RetryPolicy::never())
        .build()
        .unwrap();
    let err = unreachable.login().await.unwrap_err();
    seen.push_str(&format!("{err} {err:?}"));

    assert_no_secret(&seen, "Debug output and error messages", SECRETS);
    let log_text = logs.text();
    assert!(!log_text.is_empty(), "the subscriber captured nothing");
    assert_no_secret(&log_text, "tracing logs", SECRETS);
}

// ---------------------------------------------------------------------------
// The testkit fakes: a full login + requests + failure, request log checked
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn testkit_request_logs_and_client_output_hold_no_secrets() {
    use testkit::acumatica::{AcumaticaFake, AcumaticaOptions};
    use testkit::seed::credentials as demo;

    let (logs, _guard) = capture();
    let fake = AcumaticaFake::start(AcumaticaOptions::default().journal_transactions(3))
        .await
        .unwrap();
    let client = acumatica_client::Client::builder(fake.url())
        .endpoint_version("24.200.001")
        .oauth_password(
            demo::ACUMATICA_CLIENT_ID,
            demo::ACUMATICA_CLIENT_SECRET,
            demo::ACUMATICA_USERNAME,
            demo::ACUMATICA_PASSWORD,
        )
        .build()
        .unwrap();
    let accounts = client.accounts(true).await.unwrap();
    assert!(!accounts.is_empty());
    let refresh = client.refresh_token().await;
    let wrong = acumatica_client::Client::builder(fake.url())
        .endpoint_version("24.200.001")
        .oauth_password(
            demo::ACUMATICA_CLIENT_ID,
            demo::ACUMATICA_CLIENT_SECRET,
            demo::ACUMATICA_USERNAME,
            "not-the-password-Qa9",
        )
        .retry_policy(acumatica_client::RetryPolicy::never())
        .build()
        .unwrap();
    let err = wrong.sign_in().await.unwrap_err();

    let looker = testkit::looker::LookerFake::default();
    let lserver = looker.serve().await.unwrap();
    let lclient = looker_client::Client::builder(lserver.url())
        .credentials(demo::LOOKER_CLIENT_ID, demo::LOOKER_CLIENT_SECRET)
        .build()
        .unwrap();
    lclient.login().await.unwrap();
    let _: serde_json::Value = lclient.get_json("lookml_models", &[]).await.unwrap();

    let mut secrets = vec![
        demo::ACUMATICA_CLIENT_SECRET,
        demo::ACUMATICA_PASSWORD,
        "not-the-password-Qa9",
        demo::LOOKER_CLIENT_SECRET,
    ];
    let refresh_text = refresh.map(|r| secrecy::ExposeSecret::expose_secret(&r).to_owned());
    if let Some(r) = &refresh_text {
        secrets.push(r);
    }
    let request_log = format!("{:?}{:?}", fake.log().entries(), lserver.log().entries());
    assert!(request_log.contains("identity/connect/token"));
    assert_no_secret(&request_log, "the testkit request log", &secrets);
    let output = format!("{err} {err:?} {client:?} {lclient:?}");
    assert_no_secret(&output, "errors and Debug", &secrets);
    assert_no_secret(&logs.text(), "tracing logs", &secrets);
}

// ---------------------------------------------------------------------------
// Redirects to another host
// ---------------------------------------------------------------------------

/// Records whether any request reached it, and with which Authorization.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Option<String>>>>);

impl Respond for Recorder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let auth = request
            .headers
            .get("authorization")
            .map(|v| v.to_str().unwrap_or("").to_owned());
        self.0.lock().unwrap().push(auth);
        ResponseTemplate::new(200).set_body_json(json!([]))
    }
}

/// A second server on another port (another origin) that records requests.
async fn elsewhere() -> (MockServer, Recorder) {
    let other = MockServer::start().await;
    let recorder = Recorder::default();
    Mock::given(path_regex(".*"))
        .respond_with(recorder.clone())
        .mount(&other)
        .await;
    (other, recorder)
}

#[tokio::test]
async fn acumatica_does_not_send_credentials_to_a_redirect_target() {
    let (other, recorder) = elsewhere().await;
    let site = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/identity/connect/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(acu_token_body()))
        .mount(&site)
        .await;
    Mock::given(method("GET"))
        .and(path("/entity/Default/24.200.001/JournalTransaction"))
        .respond_with(ResponseTemplate::new(302).insert_header(
            "location",
            format!(
                "{}/entity/Default/24.200.001/JournalTransaction",
                other.uri()
            ),
        ))
        .mount(&site)
        .await;
    let client = acu_client(&site.uri());
    let err = client
        .get_json("JournalTransaction", &ListQuery::new())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(302), "{err:?}");
    let got = recorder.0.lock().unwrap().clone();
    assert!(
        got.iter().all(Option::is_none),
        "the bearer token went to the other host: {got:?}"
    );
}

#[tokio::test]
async fn looker_does_not_send_the_token_to_a_redirect_target() {
    let (other, recorder) = elsewhere().await;
    let site = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/4.0/login"))
        .respond_with(ResponseTemplate::new(200).set_body_json(looker_token_body()))
        .mount(&site)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/4.0/user"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/api/4.0/user", other.uri())),
        )
        .mount(&site)
        .await;
    let client = looker_client::Client::builder(site.uri())
        .credentials(LK_CLIENT_ID, LK_CLIENT_SECRET)
        .retry_policy(looker_client::RetryPolicy::never())
        .build()
        .unwrap();
    let result = client.get_json::<serde_json::Value>("user", &[]).await;
    let got = recorder.0.lock().unwrap().clone();
    assert!(
        got.iter().all(Option::is_none),
        "the Looker token went to the other host: {got:?}"
    );
    let err = result.expect_err("a cross-host redirect is an error, not followed");
    assert!(err.to_string().contains("redirect"), "{err}");
}

// ---------------------------------------------------------------------------
// Vault tampering
// ---------------------------------------------------------------------------

#[tokio::test]
async fn vault_detects_flipped_bytes_and_swapped_records() {
    use sync_core::vault::{
        CredentialKind, CredentialStore, MasterKey, MemoryCredentialStore, Vault,
    };
    let (key, key_text) = MasterKey::generate().unwrap();
    let vault = Vault::new(key, MemoryCredentialStore::new());
    let kind = CredentialKind::new("acumatica-oauth").unwrap();
    let secret_a = SecretString::from(format!("{{\"password\":\"{ACU_PASSWORD}\"}}"));
    let secret_b = SecretString::from(format!("{{\"secret\":\"{LK_CLIENT_SECRET}\"}}"));
    vault.seal("prod", &kind, &secret_a).await.unwrap();
    vault.seal("test", &kind, &secret_b).await.unwrap();

    let store = vault.store();
    let a = store.get("prod", &kind).await.unwrap().unwrap();
    let b = store.get("test", &kind).await.unwrap().unwrap();

    // Debug of the vault, the key and the sealed record hold no secret.
    let key_string = secrecy::ExposeSecret::expose_secret(&key_text).to_owned();
    let debug = format!("{vault:?}{a:?}{b:?}");
    assert_no_secret(
        &debug,
        "vault Debug",
        &[ACU_PASSWORD, LK_CLIENT_SECRET, &key_string],
    );

    // Every byte of the envelope, flipped, is refused.
    assert!(!String::from_utf8_lossy(&a.envelope).contains(ACU_PASSWORD));
    for i in 0..a.envelope.len() {
        let mut tampered = a.clone();
        tampered.envelope[i] ^= 0x5a;
        let err = vault
            .open_record(&tampered)
            .expect_err(&format!("envelope byte {i} flipped still opened"));
        assert_no_secret(&format!("{err} {err:?}"), "vault error", &[ACU_PASSWORD]);
    }
    // A record renamed to another kind is refused.
    let mut rekinded = a.clone();
    rekinded.kind = CredentialKind::new("looker-api3").unwrap();
    assert!(vault.open_record(&rekinded).unwrap_err().is_tampered());

    // A record moved to another connection is refused as tampered.
    let swapped = sync_core::vault::SealedCredential {
        connection: "prod".into(),
        ..b.clone()
    };
    store.put(swapped).await.unwrap();
    let err = vault.open("prod", &kind).await.unwrap_err();
    assert!(err.is_tampered(), "{err:?}");
    assert_no_secret(
        &format!("{err} {err:?}"),
        "vault error",
        &[ACU_PASSWORD, LK_CLIENT_SECRET, &key_string],
    );
}

// ---------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------

/// An HTTPS server with a self-signed certificate (tests/fixtures/tls) that
/// answers every request with a Looker login token.
async fn self_signed_https() -> (String, Arc<Mutex<usize>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tls");
    let certs = vec![CertificateDer::from_pem_file(dir.join("cert.pem")).unwrap()];
    let key = PrivateKeyDer::from_pem_file(dir.join("key.pem")).unwrap();
    let config = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let served = Arc::new(Mutex::new(0usize));
    let count = served.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let count = count.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 16 * 1024];
                let _ = tls.read(&mut buf).await;
                *count.lock().unwrap() += 1;
                let body = looker_token_body().to_string();
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (url, served)
}

#[tokio::test]
async fn tls_certificates_are_verified_by_default() {
    let (url, served) = self_signed_https().await;

    let acu = acu_client(&url);
    let err = acu.sign_in().await.unwrap_err();
    assert!(
        matches!(err.kind(), acumatica_client::ErrorKind::Transport),
        "{err:?}"
    );

    let looker = looker_client::Client::builder(url.clone())
        .credentials(LK_CLIENT_ID, LK_CLIENT_SECRET)
        .retry_policy(looker_client::RetryPolicy::never())
        .build()
        .unwrap();
    let err = looker.login().await.unwrap_err();
    assert!(!err.to_string().is_empty());
    assert_eq!(
        *served.lock().unwrap(),
        0,
        "a request got through an unverified TLS session"
    );

    // Looker's explicit opt-out works (and so the server above is a real one).
    let insecure = looker_client::Client::builder(url)
        .credentials(LK_CLIENT_ID, LK_CLIENT_SECRET)
        .verify_ssl(false)
        .retry_policy(looker_client::RetryPolicy::never())
        .build()
        .unwrap();
    insecure.login().await.unwrap();
    assert_eq!(*served.lock().unwrap(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn turning_tls_verification_off_logs_a_warning() {
    let (logs, _guard) = capture();
    let _client = looker_client::Client::builder("https://example.cloud.looker.com")
        .credentials(LK_CLIENT_ID, LK_CLIENT_SECRET)
        .verify_ssl(false)
        .build()
        .unwrap();
    let text = logs.text();
    assert!(
        text.contains("WARN") && text.to_lowercase().contains("verif"),
        "no warning logged when TLS verification was turned off: {text:?}"
    );
}
