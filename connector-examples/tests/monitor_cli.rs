//! The daemon's monitoring endpoint (`run --listen`), scraped while it runs: `/healthz`,
//! `/readyz` and `/metrics` in the Prometheus text format with the runs by flow and outcome,
//! rows read, documents written, feed lag per entity, dead letters, pending documents and the
//! leases this process holds.

#![cfg(unix)]

mod support;

use std::io::{Read as _, Write as _};
use std::time::Duration;

use support::{Rig, finish, process, signal, wait_until};

/// `GET path` on `port`: status code and body.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The value of the sample `name{labels}` (labels as printed, e.g. `flow="gl_feed"`).
fn sample(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_serves_health_readiness_and_prometheus_metrics() {
    let rig = Rig::edited(|c| {
        c.replacen(
            "cron = \"0 6 1 * *\"",
            "cron = \"*/1 * * * * *\"\ncron_seconds = true",
            1,
        )
        .replacen(
            "cron = \"*/15 * * * *\"",
            "cron = \"*/1 * * * * *\"\ncron_seconds = true",
            1,
        )
    })
    .await;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = process(&rig, &["run", "--listen", &listen]);
    assert!(
        wait_until(30, || get(port, "/healthz").is_some_and(|(s, _)| s == 200)).await,
        "/healthz answers"
    );
    let runs_of = |flow: &str| {
        get(port, "/metrics").and_then(|(_, m)| {
            sample(
                &m,
                "ml_connector_runs_total",
                &[&format!("flow=\"{flow}\""), "outcome=\"succeeded\""],
            )
        })
    };
    assert!(
        wait_until(60, || runs_of("overhead_allocation")
            .is_some_and(|n| n >= 1.0)
            && runs_of("gl_feed").is_some_and(|n| n >= 1.0))
        .await,
        "both flows ran: {:?}",
        get(port, "/metrics")
    );
    let (status, ready) = get(port, "/readyz").unwrap();
    assert_eq!((status, ready.as_str()), (200, "ready\n"));
    let (status, m) = get(port, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(m.trim_end().ends_with("# EOF"), "{m}");
    assert!(m.contains("# TYPE ml_connector_runs counter"), "{m}");
    assert!(
        sample(
            &m,
            "ml_connector_rows_read_total",
            &["flow=\"overhead_allocation\""]
        )
        .is_some_and(|n| n >= 18.0),
        "{m}"
    );
    assert!(
        sample(
            &m,
            "ml_connector_documents_written_total",
            &["flow=\"overhead_allocation\""]
        )
        .is_some_and(|n| n >= 3.0),
        "{m}"
    );
    for entity in ["JournalTransaction", "Account"] {
        let lag = sample(
            &m,
            "ml_connector_feed_lag_seconds",
            &["flow=\"gl_feed\"", &format!("entity=\"{entity}\"")],
        );
        assert!(
            lag.is_some_and(|s| (0.0..300.0).contains(&s)),
            "{entity}: {m}"
        );
    }
    assert_eq!(
        sample(
            &m,
            "ml_connector_dead_letters_open",
            &["flow=\"overhead_allocation\""]
        ),
        Some(0.0),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            "ml_connector_documents_pending",
            &["flow=\"overhead_allocation\""]
        ),
        Some(0.0),
        "{m}"
    );
    assert!(
        sample(
            &m,
            "ml_connector_lease_held",
            &["flow=\"approved_vendors\"", "role=\"run\""]
        ) == Some(0.0),
        "{m}"
    );
    assert_eq!(sample(&m, "ml_connector_store_up", &[]), Some(1.0), "{m}");
    if std::env::var_os("SHOW_METRICS").is_some() {
        eprintln!("{m}");
    }
    signal(&child, "TERM");
    let (exit, _, err, _) = finish(child).await;
    assert_eq!(exit.code(), Some(0), "{err}");
}

/// `--listen` is for the daemon; with `--once` it is refused.
#[tokio::test(flavor = "multi_thread")]
async fn listen_with_once_is_a_usage_error() {
    let rig = Rig::start().await;
    rig.cmd()
        .args(["run", "--once", "--listen", "127.0.0.1:9464"])
        .assert()
        .code(2);
}

/// `/readyz` answers 503 naming the flow once its sign-in was refused (here: the licence's
/// API sessions are used up by another client), while `/healthz` still answers 200.
#[tokio::test(flavor = "multi_thread")]
async fn readyz_is_503_while_the_last_sign_in_fails() {
    let options = testkit::SandboxOptions::default();
    let rig = Rig::with(
        testkit::SandboxOptions {
            acumatica: options.acumatica.max_sessions(1),
            ..options
        },
        |c| {
            c.replace(
                "cron = \"0 7 * * *\"",
                "cron = \"*/1 * * * * *\"\ncron_seconds = true",
            )
        },
    )
    .await;
    let other = rig.acumatica();
    other.sign_in().await.unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = process(
        &rig,
        &["run", "--flow", "approved_vendors", "--listen", &listen],
    );
    assert!(
        wait_until(60, || get(port, "/readyz").is_some_and(|(s, _)| s == 503)).await,
        "not ready after a refused sign-in"
    );
    let (_, why) = get(port, "/readyz").unwrap();
    assert!(
        why.contains("sign-in of flow `approved_vendors` failed: exit 7 (login_limit)"),
        "{why}"
    );
    assert_eq!(get(port, "/healthz").unwrap().0, 200);
    signal(&child, "TERM");
    let (exit, _, err, _) = finish(child).await;
    assert_eq!(exit.code(), Some(0), "{err}");
    other.logout().await.unwrap();
}
