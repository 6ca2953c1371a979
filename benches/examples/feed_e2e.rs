//! End to end: `ml-connector run --once` of a feed flow copying journal transactions (four
//! lines each) into a SQLite and a PostgreSQL warehouse, next to what a user would run
//! instead: a plain Python `requests` loop that only reads and unwraps the same pages
//! (`benches/py/feed.py`, offset paging). Beside them, in-process: the client's own read of
//! the same records through the feed's time-slice windows (issue 13: requests and time), and
//! through offset paging (`$top`/`$skip`). Same fake, alternating rounds, medians, ratios.
//!
//! ```text
//! feed_e2e <journals> [rounds]
//! ```
//!
//! Each phase gets a fresh Acumatica fake in a child process (`feed_e2e serve <journals>`,
//! pre-seeded), so the measuring side holds only what it measures. The release binary is
//! `$BENCH_ML_CONNECTOR` (default `$CARGO_TARGET_DIR/release/ml-connector`); the Python is
//! `$BENCH_PYTHON` (default: what `benches/pyenv.sh` prints); PostgreSQL is
//! `$BENCH_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`, a fresh schema per
//! round, dropped after; unset it to `none` to skip). `BENCH_FEED_BASELINE=1` leaves out the
//! config keys an older `ml-connector` does not know, to measure it side by side. Peak memory of `ml-connector` comes from
//! `/usr/bin/time`. One JSON line per round and one summary line go to
//! `benches/results/feed_e2e.jsonl`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use acumatica_client::ListQuery;
use futures::TryStreamExt;
use ml_connector_benches::child::{ServerChild, serve_until_stdin_closes};
use ml_connector_benches::record;
use serde_json::{Map, Value, json};
use sync_core::feed::AcumaticaChanges;
use sync_core::traits::RecordSource;
use testkit::acumatica::{AcumaticaFake, AcumaticaOptions};
use testkit::seed::{self, credentials as cred};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

const VERSION: &str = "24.200.001";
const PAGE: u32 = 500;
const READ_CONCURRENCY: usize = 4;
const USAGE: &str = "usage: feed_e2e <journals> [rounds]
(environment: BENCH_ML_CONNECTOR, BENCH_PYTHON, BENCH_POSTGRES_URL, BENCH_RESULTS_DIR)";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some(_) => bench(&args),
        None => Err(USAGE.into()),
    };
    if let Err(e) = result {
        eprintln!("feed_e2e: {e}");
        std::process::exit(2);
    }
}

fn num<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> Res<T> {
    Ok(ml_connector_benches::measure::number_arg(
        args, i, what, USAGE,
    )?)
}

/// `serve <journals>`: the Acumatica fake with that many journal transactions.
fn serve(args: &[String]) -> Res<()> {
    let journals: usize = num(args, 0, "journals")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let acu = rt.block_on(AcumaticaFake::start(
        AcumaticaOptions::default().journal_transactions(journals),
    ))?;
    let log = acu.log().clone();
    let started = cpu_secs();
    serve_until_stdin_closes(acu.url(), || {
        let entries = log.entries();
        json!({
            "requests": entries.len(),
            "list_requests": entries.iter().filter(|r| r.method == "GET" && r.path.ends_with("/JournalTransaction")).count(),
            "server_cpu_secs": cpu_secs() - started,
            "journal_transactions": acu.state().count("JournalTransaction"),
        })
    });
    rt.block_on(acu.shutdown());
    Ok(())
}

fn cpu_secs() -> f64 {
    ml_connector_benches::measure::cpu_time().map_or(0.0, |d| d.as_secs_f64())
}

fn spawn(journals: u64) -> Res<ServerChild> {
    Ok(ServerChild::spawn(&[
        "serve".to_owned(),
        journals.to_string(),
    ])?)
}

fn config(acu: &str, dir: &Path, warehouse: &str) -> String {
    format!(
        r#"[acumatica]
url = "{acu}"
endpoint_version = "{VERSION}"
tenant = "{tenant}"
auth = "oauth"
client_id = "{acu_client}"
username = "{acu_user}"

[store]
url = "sqlite://{dir}/state.db"

[[flows]]
name = "gl_feed"
kind = "feed"
cron = "0 6 1 * *"
time_zone = "UTC"
entities = ["JournalTransaction"]
warehouse = "{warehouse}"

[flows.feed]
lag_secs = 0
page_size = {PAGE}
{read_concurrency}delete_scan = "never"
"#,
        // `BENCH_FEED_BASELINE=1`: leave out the keys an older binary does not know, to
        // measure it side by side (`BENCH_ML_CONNECTOR=old/ml-connector`).
        read_concurrency = if std::env::var_os("BENCH_FEED_BASELINE").is_some() {
            String::new()
        } else {
            format!("read_concurrency = {READ_CONCURRENCY}\n")
        },
        tenant = seed::TENANT,
        acu_client = cred::ACUMATICA_CLIENT_ID,
        acu_user = cred::ACUMATICA_USERNAME,
        dir = dir.display(),
    )
}

fn ml_connector() -> PathBuf {
    if let Ok(p) = std::env::var("BENCH_ML_CONNECTOR") {
        return PathBuf::from(p);
    }
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    Path::new(&target).join("release/ml-connector")
}

fn postgres_url() -> Option<String> {
    match std::env::var("BENCH_POSTGRES_URL") {
        Ok(u) if u == "none" => None,
        Ok(u) => Some(u),
        Err(_) => Some("postgres://postgres@127.0.0.1:5432/test".to_owned()),
    }
}

fn python() -> Res<String> {
    if let Ok(p) = std::env::var("BENCH_PYTHON") {
        return Ok(p);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("pyenv.sh");
    let out = Command::new("bash").arg(script).output()?;
    if !out.status.success() {
        return Err(format!(
            "benches/pyenv.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

/// Runs `command` under `/usr/bin/time` (for its peak memory), timed; its standard output as
/// JSON, and the peak resident size in MiB.
fn timed(command: &mut Command, what: &str) -> Res<(f64, Value, Option<f64>)> {
    let start = Instant::now();
    let out = command.stderr(Stdio::piped()).output()?;
    let secs = start.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let peak = stderr
        .lines()
        .find_map(|l| l.strip_prefix("PEAK_KIB "))
        .and_then(|k| k.trim().parse::<f64>().ok())
        .map(|k| k / 1024.0);
    let value: Value = serde_json::from_str(stdout.trim()).map_err(|e| {
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        format!(
            "{what} ({}) printed no JSON ({e}): {stdout}\n{}",
            out.status,
            tail.join("\n")
        )
    })?;
    if !out.status.success() {
        return Err(format!("{what} failed ({}): {stdout}", out.status).into());
    }
    Ok((secs, value, peak))
}

fn with_peak(program: &Path) -> Command {
    let mut c = Command::new("/usr/bin/time");
    c.arg("-f").arg("PEAK_KIB %M").arg(program);
    c
}

fn psql(url: &str, sql: &str) -> Res<()> {
    let out = Command::new("psql")
        .arg(url)
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()?;
    if !out.status.success() {
        return Err(format!("psql `{sql}`: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(())
}

/// One `ml-connector run --once` of the feed into `backend` on a fresh fake.
fn connector_round(journals: u64, backend: &str, round: u32) -> Res<Map<String, Value>> {
    let mut child = spawn(journals)?;
    let dir = tempfile::tempdir()?;
    let schema = format!("bench_feed_{}_{round}", std::process::id());
    let (warehouse, pg) = match backend {
        "sqlite" => (
            format!("sqlite://{}/warehouse.db", dir.path().display()),
            None,
        ),
        _ => {
            let url = postgres_url().ok_or("no PostgreSQL")?;
            psql(
                &url,
                &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"),
            )?;
            let sep = if url.contains('?') { '&' } else { '?' };
            (
                format!("{url}{sep}options=-csearch_path%3D{schema}"),
                Some(url),
            )
        }
    };
    let cfg = dir.path().join("ml-connector.toml");
    std::fs::write(&cfg, config(child.url(), dir.path(), &warehouse))?;
    let before = child.stats()?;
    let result = timed(
        with_peak(&ml_connector())
            .env("ACUMATICA_CLIENT_SECRET", cred::ACUMATICA_CLIENT_SECRET)
            .env("ACUMATICA_PASSWORD", cred::ACUMATICA_PASSWORD)
            .env_remove("RUST_LOG")
            .args(["--no-progress", "--json", "--config"])
            .arg(&cfg)
            .args(["run", "--once"]),
        "ml-connector run --once",
    );
    let after = child.stats()?;
    child.finish()?;
    if let Some(url) = &pg {
        psql(url, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))?;
    }
    let (secs, run, peak) = result?;
    let window = &run["runs"][0]["entities"][0];
    let written = window["written"].as_u64().unwrap_or(0);
    if written != journals || window["detail_lines"].as_u64() != Some(4 * journals) {
        return Err(
            format!("ml-connector ({backend}) wrote {written} of {journals}: {run}").into(),
        );
    }
    let n = |v: &Value, k: &str| v[k].as_f64().unwrap_or(0.0);
    let mut m = Map::new();
    m.insert(format!("{backend}_secs"), json!(secs));
    m.insert(format!("{backend}_peak_mib"), json!(peak));
    m.insert(
        format!("{backend}_requests"),
        json!(n(&after, "requests") - n(&before, "requests")),
    );
    m.insert(
        format!("{backend}_server_cpu_secs"),
        json!(n(&after, "server_cpu_secs") - n(&before, "server_cpu_secs")),
    );
    Ok(m)
}

/// The Python loop on a fresh fake.
fn python_round(python: &str, journals: u64) -> Res<Map<String, Value>> {
    let mut child = spawn(journals)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("py/feed.py");
    let before = child.stats()?;
    let result = timed(
        with_peak(Path::new(python))
            .arg(script)
            .args(["--acumatica", child.url(), "--version", VERSION])
            .args(["--page-size", &PAGE.to_string()])
            .env("ACUMATICA_CLIENT_ID", cred::ACUMATICA_CLIENT_ID)
            .env("ACUMATICA_CLIENT_SECRET", cred::ACUMATICA_CLIENT_SECRET)
            .env("ACUMATICA_USERNAME", cred::ACUMATICA_USERNAME)
            .env("ACUMATICA_PASSWORD", cred::ACUMATICA_PASSWORD),
        "feed.py",
    );
    let after = child.stats()?;
    child.finish()?;
    let (secs, out, peak) = result?;
    if out["records"].as_u64() != Some(journals) || out["lines"].as_u64() != Some(4 * journals) {
        return Err(format!("python read {out} for {journals} journals").into());
    }
    let n = |v: &Value, k: &str| v[k].as_f64().unwrap_or(0.0);
    let mut m = Map::new();
    m.insert("python_secs".into(), json!(secs));
    m.insert("python_peak_mib".into(), json!(peak));
    m.insert("python_requests".into(), json!(out["requests"]));
    m.insert(
        "python_server_cpu_secs".into(),
        json!(n(&after, "server_cpu_secs") - n(&before, "server_cpu_secs")),
    );
    Ok(m)
}

fn client(url: &str) -> Res<acumatica_client::Client> {
    Ok(acumatica_client::Client::builder(url)
        .endpoint_version(VERSION)
        .tenant(seed::TENANT)
        .oauth_password(
            cred::ACUMATICA_CLIENT_ID,
            cred::ACUMATICA_CLIENT_SECRET,
            cred::ACUMATICA_USERNAME,
            cred::ACUMATICA_PASSWORD,
        )
        .allow_insecure_http(true)
        .page_size(PAGE)
        .timeout(Duration::from_secs(300))
        .build()?)
}

/// The client alone on a fresh fake: the feed's windows (time slices, as `run --once` reads
/// them, no writes), then offset paging of the same records; requests and time of each.
fn client_round(journals: u64) -> Res<Map<String, Value>> {
    let mut child = spawn(journals)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let client = client(child.url())?;
    let mut m = Map::new();
    // Sign in before the clock starts, as both readers below share the session.
    rt.block_on(
        client
            .list_json_pages("JournalTransaction", ListQuery::new().top(1))
            .try_collect::<Vec<_>>(),
    )?;
    let until = chrono::Utc::now();
    for (name, concurrency) in [("windows", READ_CONCURRENCY), ("windows_sequential", 1)] {
        let source = AcumaticaChanges::new(client.clone(), "JournalTransaction")
            .expand(["Details"])
            .page_size(PAGE)
            .read_concurrency(concurrency);
        let before = child.stats()?;
        let start = Instant::now();
        let records: usize = rt.block_on(async {
            let mut pages = source.pages_until(None, &until).await?;
            let mut n = 0;
            while let Some(p) = pages.try_next().await? {
                n += p.len();
            }
            Ok::<_, BoxError>(n)
        })?;
        let secs = start.elapsed().as_secs_f64();
        let after = child.stats()?;
        if records as u64 != journals {
            return Err(format!("{name}: read {records} of {journals}").into());
        }
        m.insert(format!("{name}_secs"), json!(secs));
        m.insert(
            format!("{name}_requests"),
            json!(
                after["requests"].as_u64().unwrap_or(0) - before["requests"].as_u64().unwrap_or(0)
            ),
        );
    }
    for (name, concurrency) in [("offset", 1usize), ("offset_concurrent", READ_CONCURRENCY)] {
        let before = child.stats()?;
        let start = Instant::now();
        let records: usize = rt.block_on(async {
            let mut pages = client.list_json_pages(
                "JournalTransaction",
                ListQuery::new()
                    .expand(["Details"])
                    .page_size(PAGE)
                    .concurrency(concurrency),
            );
            let mut n = 0;
            while let Some(p) = pages.try_next().await? {
                n += p.records.len();
            }
            Ok::<_, BoxError>(n)
        })?;
        let secs = start.elapsed().as_secs_f64();
        let after = child.stats()?;
        if records as u64 != journals {
            return Err(format!("{name}: read {records} of {journals}").into());
        }
        m.insert(format!("{name}_secs"), json!(secs));
        m.insert(
            format!("{name}_requests"),
            json!(
                after["requests"].as_u64().unwrap_or(0) - before["requests"].as_u64().unwrap_or(0)
            ),
        );
    }
    drop(rt);
    child.finish()?;
    Ok(m)
}

fn bench(args: &[String]) -> Res<()> {
    let journals: u64 = num(args, 0, "journals")?;
    let rounds: u32 = if args.len() > 1 {
        num(args, 1, "rounds")?
    } else {
        3
    };
    if !ml_connector().exists() {
        return Err(format!(
            "{} not found: cargo build --release -p connector-examples --bin ml-connector (or set BENCH_ML_CONNECTOR)",
            ml_connector().display()
        )
        .into());
    }
    let python = python()?;
    let mut backends = vec!["sqlite"];
    if postgres_url().is_some() {
        backends.push("postgres");
    }
    let mut rows: Vec<Map<String, Value>> = Vec::new();
    for round in 0..rounds {
        // Rotate which goes first, so drift in the machine's speed hits all alike.
        let mut phases: Vec<&str> = backends.clone();
        phases.extend(["python", "client"]);
        let shift = round as usize % phases.len();
        phases.rotate_left(shift);
        let mut m = Map::new();
        for phase in phases {
            eprintln!(
                "== feed_e2e {journals} round {} {phase} (load: {})",
                round + 1,
                std::fs::read_to_string("/proc/loadavg")
                    .unwrap_or_default()
                    .trim()
            );
            m.extend(match phase {
                "python" => python_round(&python, journals)?,
                "client" => client_round(journals)?,
                backend => connector_round(journals, backend, round)?,
            });
        }
        let f = |k: &str| m.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
        let ratios = [
            ("python_over_sqlite", f("python_secs") / f("sqlite_secs")),
            ("sqlite_over_client", f("sqlite_secs") / f("windows_secs")),
            (
                "postgres_over_sqlite",
                f("postgres_secs") / f("sqlite_secs"),
            ),
            (
                "offset_over_windows",
                f("offset_secs") / f("windows_sequential_secs"),
            ),
        ];
        for (k, v) in ratios {
            m.insert(k.into(), json!(v));
        }
        m.insert("kind".into(), json!("round"));
        m.insert("round".into(), json!(round + 1));
        m.insert("size".into(), json!(journals));
        m.insert("lines_per_journal".into(), json!(4));
        m.insert("page_size".into(), json!(PAGE));
        m.insert("read_concurrency".into(), json!(READ_CONCURRENCY));
        rows.push(m.clone());
        record::append("feed_e2e", m)?;
    }
    let mut m = Map::new();
    m.insert("kind".into(), json!("median"));
    m.insert("size".into(), json!(journals));
    m.insert("rounds".into(), json!(rounds));
    let keys: Vec<String> = rows[0]
        .iter()
        .filter(|(_, v)| v.is_number())
        .map(|(k, _)| k.clone())
        .filter(|k| {
            ![
                "round",
                "size",
                "lines_per_journal",
                "page_size",
                "read_concurrency",
            ]
            .contains(&k.as_str())
        })
        .collect();
    for k in keys {
        let values: Vec<f64> = rows
            .iter()
            .filter_map(|r| r.get(&k).and_then(Value::as_f64))
            .collect();
        m.insert(k, json!(ml_connector_benches::measure::median(values)));
    }
    record::append("feed_e2e", m)?;
    Ok(())
}
