//! Error messages a user can act on: a refused Acumatica sign-in names Acumatica and its URL,
//! a 404 on the token endpoint is a wrong URL (not refused credentials), an unknown Looker
//! model suggests the close ones, a missing PostgreSQL database names the URL (not a server
//! source line), and the client libraries' wording (`endpoint_version()`, `close()`) never
//! reaches the command's user.

#![cfg(unix)]

mod support;

use support::{Rig, stderr_of};

/// `run --once` of the post flow with the config edited by `edit`: exit code and stderr.
async fn run_edited(edit: impl FnOnce(String) -> String) -> (Option<i32>, String, Rig) {
    let rig = Rig::edited(edit).await;
    let out = rig
        .cmd()
        .args(["run", "--once", "--flow", "overhead_allocation"])
        .assert();
    let code = out.get_output().status.code();
    (code, stderr_of(&out), rig)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_404_on_the_token_endpoint_is_a_wrong_url_not_refused_credentials() {
    let (code, err, rig) = run_edited(|c| {
        let url = c
            .lines()
            .find(|l| l.starts_with("url = \"http"))
            .unwrap()
            .to_owned();
        let wrong = url.trim_end_matches('"').trim_end_matches('/').to_owned() + "/WrongSite\"";
        c.replacen(&url, &wrong, 1)
    })
    .await;
    let token_url = format!(
        "{}/WrongSite/identity/connect/token",
        rig.sandbox.acumatica_url().trim_end_matches('/')
    );
    assert_eq!(code, Some(2), "a configuration error: {err}");
    assert!(
        err.contains(&format!("no identity server at {token_url}")),
        "{err}"
    );
    assert!(err.contains("check the URL and the site path"), "{err}");
    assert!(
        !err.contains("user name/password"),
        "not a password problem: {err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_acumatica_sign_in_names_acumatica_and_its_url() {
    let rig = Rig::start().await;
    let out = rig
        .cmd()
        .env("ACUMATICA_PASSWORD", "wrong-password")
        .args(["run", "--once", "--flow", "overhead_allocation"])
        .assert()
        .code(3);
    let err = stderr_of(&out);
    let site = format!("{}/", rig.sandbox.acumatica_url().trim_end_matches('/'));
    assert!(
        err.contains(&format!("Acumatica at {site} refused the sign-in")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_looker_model_suggests_the_close_ones() {
    let (code, err, _rig) =
        run_edited(|c| c.replacen("model = \"finance\"", "model = \"financ\"", 1)).await;
    assert_ne!(code, Some(0), "{err}");
    assert!(
        err.contains("has no model `financ` that the API user can see (did you mean `finance`?)"),
        "{err}"
    );
    // ping says the same about the explore check.
    let rig = Rig::edited(|c| c.replacen("model = \"finance\"", "model = \"financ\"", 1)).await;
    let out = rig.cmd().arg("ping").assert();
    let text = support::stdout_of(&out);
    assert!(text.contains("did you mean `finance`?"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn library_wording_does_not_reach_the_user() {
    let (code, err, _rig) = run_edited(|c| {
        c.replacen(
            "endpoint_version = \"24.200.001\"",
            "endpoint_version = \"21.200.001\"",
            1,
        )
    })
    .await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("does not offer Default/21.200.001"), "{err}");
    for library in ["endpoint_version()", "close()", "builder", "ClientBuilder"] {
        assert!(!err.contains(library), "`{library}` in: {err}");
    }
}

/// Needs `ML_CONNECTOR_TEST_POSTGRES_URL` (a server this user may connect to); without it the
/// test says so and passes.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_postgres_database_names_the_url_not_a_server_source_line() {
    let Ok(base) = std::env::var("ML_CONNECTOR_TEST_POSTGRES_URL") else {
        eprintln!("skipped: set ML_CONNECTOR_TEST_POSTGRES_URL to run this test");
        return;
    };
    let (server, _) = base.rsplit_once('/').expect("a database URL");
    // A password in the URL is refused (exit 3, as documented): pass it as PGPASSWORD, the way
    // the refusal tells a user to (CI's URL carries one; a trusting local server needs none).
    let (server, password) = without_password(server);
    let url = format!("{server}/ml_connector_no_such_db");
    let rig = Rig::start().await;
    let mut cmd = rig.cmd();
    if let Some(password) = password {
        cmd.env("PGPASSWORD", password);
    }
    let out = cmd
        .env("ML_CONNECTOR_STORE_URL", &url)
        .arg("status")
        .assert()
        .code(2);
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!(
            "state store {url}: the PostgreSQL database `ml_connector_no_such_db` does not exist"
        )),
        "{err}"
    );
    assert!(err.contains("createdb ml_connector_no_such_db"), "{err}");
    assert!(!err.contains(" at line "), "no server source line: {err}");
}

/// `postgres://user:secret@host:port` → (`postgres://user@host:port`, `Some("secret")`).
fn without_password(server: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = server.split_once("://") else {
        return (server.to_owned(), None);
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, password)) => (
                format!("{scheme}://{user}@{host}"),
                Some(password.to_owned()),
            ),
            None => (server.to_owned(), None),
        },
        None => (server.to_owned(), None),
    }
}

/// The same unknown account on every line: one problem with its rows and journals, not one
/// "closest valid" sentence per row.
#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_problem_is_said_once_with_its_rows() {
    let rig = Rig::edited(|c| {
        c.replacen(
            "lines.account = { column = \"overhead_allocation.account\" }",
            "lines.account = { constant = \"69999\" }",
            1,
        )
    })
    .await;
    let out = rig
        .cmd()
        .args(["plan", "--flow", "overhead_allocation"])
        .assert()
        .code(4);
    let text = support::stdout_of(&out);
    let said: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("account `69999` does not exist"))
        .collect();
    assert_eq!(said.len(), 1, "said once: {text}");
    assert!(said[0].contains("closest valid: `69000`"), "{text}");
    assert!(said[0].contains("rows 1, 2, 3"), "{text}");
    assert!(said[0].contains("(in 3 journals: "), "{text}");
    assert!(text.contains("18 problem(s) found"), "{text}");
}
