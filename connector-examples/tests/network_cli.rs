//! The command against systems that do not answer or throttle: a closed port fails within
//! seconds with a message naming the system and its URL and one retry summary instead of a
//! warning per attempt; 429s are retried and counted per system on `/metrics`.

#![cfg(unix)]

mod support;

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use support::{Rig, finish, process, signal, stderr_of, wait_until};
use testkit::faults::{FaultKind, FaultRule};

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The config with the URL after `key = "` in `section` replaced by `url`.
fn with_url(config: String, section: &str, key: &str, url: &str) -> String {
    let at = config.find(section).expect("section") + section.len();
    let start = at + config[at..].find(&format!("{key} = \"")).expect("key") + key.len() + 4;
    let end = start + config[start..].find('"').unwrap();
    format!("{}{url}{}", &config[..start], &config[end..])
}

/// `run --once` with `system`'s URL on a closed port: time, exit code and stderr.
async fn run_against_closed(section: &str, key: &str) -> (Duration, Option<i32>, String, String) {
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let rig = Rig::edited(|c| with_url(c, section, key, &url)).await;
    let started = Instant::now();
    let out = rig
        .cmd()
        .args(["run", "--once", "--flow", "overhead_allocation"])
        .timeout(Duration::from_secs(120))
        .assert();
    let took = started.elapsed();
    (took, out.get_output().status.code(), stderr_of(&out), url)
}

fn warnings(stderr: &str) -> usize {
    stderr.lines().filter(|l| l.contains("WARN")).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_acumatica_port_fails_fast_naming_acumatica_and_its_url() {
    let (took, code, err, url) = run_against_closed("[acumatica]", "url").await;
    assert_eq!(code, Some(5), "exit 5 (unreachable): {err}");
    assert!(took < Duration::from_secs(15), "took {took:?}: {err}");
    assert!(
        err.contains(&format!("cannot reach Acumatica at {url}")),
        "names the system and URL: {err}"
    );
    assert!(err.contains("connection was refused"), "{err}");
    assert!(
        warnings(&err) <= 2,
        "retries summarized, not one warning each: {err}"
    );
    assert!(err.contains("gave up after 2 retries"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_looker_port_fails_fast_naming_looker_and_its_url() {
    let (took, code, err, url) = run_against_closed("[looker]", "base_url").await;
    assert_eq!(code, Some(5), "exit 5 (unreachable): {err}");
    assert!(took < Duration::from_secs(15), "took {took:?}: {err}");
    assert!(
        err.contains(&format!(
            "cannot reach Looker at {}",
            url.trim_end_matches('/')
        )),
        "names the system and URL: {err}"
    );
    assert!(
        warnings(&err) <= 2,
        "retries summarized, not one warning each: {err}"
    );
}

/// `GET path` on `port`: the body.
fn get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())
}

/// The value of the first sample of `name` whose line holds every one of `labels`.
fn sample(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The sum of every sample of `name` whose line holds every one of `labels`.
fn total(metrics: &str, name: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Two 429s from each system during a daemon's run: `/metrics` counts the requests per
/// system, method and status (the 429s among them), their latency, the 429s and the retries.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_requests_429s_and_retries_per_system() {
    let rig = Rig::edited(|c| {
        c.replacen(
            "cron = \"0 6 1 * *\"",
            "cron = \"*/1 * * * * *\"\ncron_seconds = true",
            1,
        )
    })
    .await;
    let acu_429 = rig.sandbox.acumatica().faults().add(
        FaultRule::new(FaultKind::TooManyRequests {
            retry_after: Some(0),
        })
        .method("PUT")
        .path("/entity/Default/*/JournalTransaction")
        .times(2),
    );
    let looker_429 = rig.sandbox.looker().faults().add(
        FaultRule::new(FaultKind::TooManyRequests {
            retry_after: Some(0),
        })
        .method("POST")
        .times(2),
    );
    let port = closed_port();
    let listen = format!("127.0.0.1:{port}");
    let child = process(
        &rig,
        &["run", "--flow", "overhead_allocation", "--listen", &listen],
    );
    let runs = || {
        get(port, "/metrics").and_then(|m| {
            sample(
                &m,
                "ml_connector_runs_total",
                &["flow=\"overhead_allocation\"", "outcome=\"succeeded\""],
            )
        })
    };
    assert!(
        wait_until(60, || runs().is_some_and(|n| n >= 1.0)).await,
        "the flow ran: {:?}",
        get(port, "/metrics")
    );
    let m = get(port, "/metrics").unwrap();
    signal(&child, "TERM");
    let (exit, _, err, _) = finish(child).await;
    assert_eq!(exit.code(), Some(0), "{err}");
    assert_eq!(rig.sandbox.acumatica().faults().fired(acu_429), 2, "{m}");
    assert_eq!(rig.sandbox.looker().faults().fired(looker_429), 2, "{m}");
    for system in ["acumatica", "looker"] {
        let sys = format!("system=\"{system}\"");
        assert_eq!(
            sample(&m, "ml_connector_http_throttled_total", &[&sys]),
            Some(2.0),
            "{system}: {m}"
        );
        assert!(
            total(&m, "ml_connector_http_retries_total", &[&sys]) >= 2.0,
            "{system}: {m}"
        );
        assert!(
            total(
                &m,
                "ml_connector_http_request_duration_seconds_count",
                &[&sys]
            ) >= 3.0,
            "{system}: {m}"
        );
    }
    assert_eq!(
        sample(
            &m,
            "ml_connector_http_requests_total",
            &["system=\"acumatica\"", "method=\"PUT\"", "status=\"429\""]
        ),
        Some(2.0),
        "{m}"
    );
    assert!(
        sample(
            &m,
            "ml_connector_http_requests_total",
            &["system=\"acumatica\"", "method=\"PUT\"", "status=\"200\""]
        )
        .is_some_and(|n| n >= 3.0),
        "the three journals: {m}"
    );
    assert_eq!(
        sample(
            &m,
            "ml_connector_http_requests_total",
            &["system=\"looker\"", "method=\"POST\"", "status=\"429\""]
        ),
        Some(2.0),
        "{m}"
    );
}
