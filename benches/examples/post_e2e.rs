//! End to end: `ml-connector run --once` of a post flow, and `ml-connector plan` over the same
//! journals once posted, next to what a user would run instead: a Python script that reads the
//! Looker rows with the official `looker_sdk` and PUTs each journal with `requests`
//! (`benches/py/post_journals.py`, no exactly-once). Same fakes, alternating rounds, medians,
//! ratios.
//!
//! ```text
//! post_e2e <journals> <latency_ms> <concurrency> [rounds]
//! ```
//!
//! Each phase gets a fresh pair of fakes in a child process (`post_e2e serve ...`: the Looker
//! fake's generated `finance.gl_lines`, two lines per journal, and the Acumatica fake with
//! `latency_ms` on `/entity/**`), so every run posts into an empty site. The Looker query
//! selects the journals of the open periods (the last quarter of the generated year).
//! The release binary is `$BENCH_ML_CONNECTOR` (default
//! `$CARGO_TARGET_DIR/release/ml-connector`); the Python is `$BENCH_PYTHON` (default: what
//! `benches/pyenv.sh` prints). One JSON line per round and one summary line go to
//! `benches/results/post_e2e.jsonl`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ml_connector_benches::child::{ServerChild, serve_until_stdin_closes};
use ml_connector_benches::{measure, record};
use serde_json::{Map, Value, json};
use testkit::acumatica::{AcumaticaFake, AcumaticaOptions};
use testkit::faults::{FaultKind, FaultRule};
use testkit::looker::{LookerConfig, LookerFake};
use testkit::seed::{self, credentials as cred};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

const VERSION: &str = "24.200.001";
const USAGE: &str = "usage: post_e2e <journals> <latency_ms> <concurrency> [rounds]
(environment: BENCH_ML_CONNECTOR, BENCH_PYTHON, BENCH_RESULTS_DIR)";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some(_) => bench(&args),
        None => Err(USAGE.into()),
    };
    if let Err(e) = result {
        eprintln!("post_e2e: {e}");
        std::process::exit(2);
    }
}

fn num<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> Res<T> {
    Ok(ml_connector_benches::measure::number_arg(
        args, i, what, USAGE,
    )?)
}

/// The generated lines put journal `p` (from 0) of `4n` in month `1 + 12p/4n`: journals
/// `3n+1 ..= 4n` (by `journal_id`) are the last quarter, the open periods.
fn journal_filter(journals: u64) -> String {
    format!(">{}", 3 * journals)
}

/// `serve <journals> <latency_ms>`: both fakes; prints `URL <acumatica> <looker>`.
fn serve(args: &[String]) -> Res<()> {
    let journals: u64 = num(args, 0, "journals")?;
    let latency: u64 = num(args, 1, "latency_ms")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let looker = LookerFake::new(LookerConfig::default().with_gl_lines_rows(8 * journals))?;
    let looker_server = rt.block_on(looker.serve())?;
    let acu = rt.block_on(AcumaticaFake::start(AcumaticaOptions::default()))?;
    if latency > 0 {
        acu.faults().add(
            FaultRule::new(FaultKind::Latency(Duration::from_millis(latency))).path("/entity/**"),
        );
    }
    let log = acu.log().clone();
    let url = format!("{} {}", acu.url(), looker_server.url());
    serve_until_stdin_closes(&url, || {
        let entries = log.entries();
        let lookups = entries
            .iter()
            .filter(|r| {
                r.method == "GET"
                    && r.query
                        .as_deref()
                        .is_some_and(|q| q.contains("substringof") && !q.contains("PostPeriod"))
            })
            .count();
        json!({
            "requests": entries.len(),
            "lookups": lookups,
            "puts": entries.iter().filter(|r| r.method == "PUT").count(),
            "created": acu.state().created("JournalTransaction"),
            "looker_requests": looker_server.log().len(),
            // Both fakes' CPU so far: what serving cost, next to the client's.
            "cpu_secs": measure::cpu_time().map(|d| d.as_secs_f64()),
        })
    });
    rt.block_on(looker_server.shutdown());
    rt.block_on(acu.shutdown());
    Ok(())
}

fn spawn(journals: u64, latency: u64) -> Res<(ServerChild, String, String)> {
    let child = ServerChild::spawn(&[
        "serve".to_owned(),
        journals.to_string(),
        latency.to_string(),
    ])?;
    let mut urls = child.url().split(' ');
    let acu = urls.next().ok_or("no Acumatica URL")?.to_owned();
    let looker = urls.next().ok_or("no Looker URL")?.to_owned();
    Ok((child, acu, looker))
}

fn config(acu: &str, looker: &str, dir: &Path, journals: u64, concurrency: usize) -> String {
    let mut maps = String::from("[flows.mapping.maps.subaccount]\n");
    for s in seed::SUBACCOUNTS {
        maps.push_str(&format!("\"{}\" = \"{}\"\n", s.cd, s.raw));
    }
    format!(
        r#"[acumatica]
url = "{acu}"
endpoint_version = "{VERSION}"
tenant = "{tenant}"
auth = "oauth"
client_id = "{acu_client}"
username = "{acu_user}"
max_concurrent_requests = {concurrency}

[looker]
base_url = "{looker}"
client_id = "{looker_client}"
verify_ssl = false
timeout = 600

[store]
url = "sqlite://{dir}/state.db"

[[flows]]
name = "gl_journals"
kind = "post"
cron = "0 6 1 * *"
time_zone = "UTC"

[flows.looker]
model = "finance"
explore = "gl_lines"
filters = {{ "gl_lines.journal_id" = "{filter}" }}
sorts = ["gl_lines.id"]

[flows.post]
concurrency = {concurrency}

[flows.mapping]
lines.account = {{ column = "gl_lines.account" }}
lines.subaccount = {{ column = "gl_lines.subaccount", map = "subaccount" }}
lines.branch = {{ column = "gl_lines.branch" }}
lines.amount = {{ signed = "gl_lines.amount" }}
lines.description = "{{gl_lines.description}}"
lines.date = {{ column = "gl_lines.posting_date" }}
lines.period = {{ column = "gl_lines.period", format = "mmyyyy" }}
document.ledger = {{ constant = "{ledger}" }}
document.group_by = ["gl_lines.journal_id"]
document.description = "GL journal {{gl_lines.journal_id}} {{period}} {{branch}}"
document.date = "period_end"
{maps}"#,
        tenant = seed::TENANT,
        acu_client = cred::ACUMATICA_CLIENT_ID,
        acu_user = cred::ACUMATICA_USERNAME,
        looker_client = cred::LOOKER_CLIENT_ID,
        dir = dir.display(),
        filter = journal_filter(journals),
        ledger = seed::LEDGER,
    )
}

fn ml_connector() -> PathBuf {
    if let Ok(p) = std::env::var("BENCH_ML_CONNECTOR") {
        return PathBuf::from(p);
    }
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    Path::new(&target).join("release/ml-connector")
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

/// Runs `command`, timed (wall and CPU seconds); its standard output as JSON.
fn timed(command: &mut Command, what: &str) -> Res<(f64, f64, Value)> {
    let cpu_before = measure::children_cpu_time().unwrap_or_default();
    let start = Instant::now();
    // Progress lines go to a pipe (collected, shown only on failure), not a terminal.
    let out = command.stderr(Stdio::piped()).output()?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = measure::children_cpu_time()
        .unwrap_or_default()
        .saturating_sub(cpu_before)
        .as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let value: Value = serde_json::from_str(stdout.trim()).map_err(|e| {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        format!(
            "{what} ({}) printed no JSON ({e}): {stdout}\n{}",
            out.status,
            tail.join("\n")
        )
    })?;
    Ok((secs, cpu, value))
}

/// One `ml-connector run --once` and one `plan` over the journals it posted, on fresh fakes.
fn connector_round(journals: u64, latency: u64, concurrency: usize) -> Res<Map<String, Value>> {
    let (mut child, acu, looker) = spawn(journals, latency)?;
    let dir = tempfile::tempdir()?;
    let cfg = dir.path().join("ml-connector.toml");
    std::fs::write(
        &cfg,
        config(&acu, &looker, dir.path(), journals, concurrency),
    )?;
    let base = || {
        let mut c = Command::new(ml_connector());
        c.env("ACUMATICA_CLIENT_SECRET", cred::ACUMATICA_CLIENT_SECRET)
            .env("ACUMATICA_PASSWORD", cred::ACUMATICA_PASSWORD)
            .env("LOOKERSDK_CLIENT_SECRET", cred::LOOKER_CLIENT_SECRET)
            .env_remove("RUST_LOG")
            .arg("--no-progress")
            .arg("--json")
            .arg("--config")
            .arg(&cfg);
        c
    };
    let (run_secs, run_cpu, run) =
        timed(base().args(["run", "--once"]), "ml-connector run --once")?;
    let posted = run["runs"][0]["counts"]["documents_posted"]
        .as_u64()
        .unwrap_or(0);
    if posted != journals {
        return Err(format!("ml-connector posted {posted} of {journals}: {run}").into());
    }
    let after_run = child.stats()?;
    let (plan_secs, plan_cpu, plan) = timed(base().arg("plan"), "ml-connector plan")?;
    let planned = plan["plans"][0]["journals"].as_array().map_or(0, Vec::len) as u64;
    if planned != journals || plan["plans"][0]["would_post"] != 0 {
        return Err(format!(
            "the plan saw {planned} journals, would post {}",
            plan["plans"][0]["would_post"]
        )
        .into());
    }
    let stats = child.finish()?;
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
    let mut m = Map::new();
    m.insert("run_secs".into(), json!(run_secs));
    m.insert("run_cpu_secs".into(), json!(run_cpu));
    m.insert("run_docs_per_sec".into(), json!(journals as f64 / run_secs));
    m.insert("fake_cpu_secs_run".into(), after_run["cpu_secs"].clone());
    m.insert("run_requests".into(), json!(n(&after_run, "requests")));
    m.insert("run_lookups".into(), json!(n(&after_run, "lookups")));
    m.insert("plan_secs".into(), json!(plan_secs));
    m.insert("plan_cpu_secs".into(), json!(plan_cpu));
    m.insert(
        "plan_requests".into(),
        json!(n(&stats, "requests") - n(&after_run, "requests")),
    );
    m.insert(
        "plan_lookups".into(),
        json!(n(&stats, "lookups") - n(&after_run, "lookups")),
    );
    m.insert("created".into(), json!(n(&stats, "created")));
    Ok(m)
}

/// The Python script on fresh fakes.
fn python_round(
    python: &str,
    journals: u64,
    latency: u64,
    concurrency: usize,
) -> Res<Map<String, Value>> {
    let (child, acu, looker) = spawn(journals, latency)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("py/post_journals.py");
    let (secs, cpu, out) = timed(
        Command::new(python)
            .arg(script)
            .args(["--acumatica", &acu, "--version", VERSION])
            .args(["--journal-filter", &journal_filter(journals)])
            .args(["--concurrency", &concurrency.to_string()])
            .env("LOOKERSDK_BASE_URL", &looker)
            .env("LOOKERSDK_CLIENT_ID", cred::LOOKER_CLIENT_ID)
            .env("LOOKERSDK_CLIENT_SECRET", cred::LOOKER_CLIENT_SECRET)
            .env("LOOKERSDK_VERIFY_SSL", "false")
            .env("LOOKERSDK_TIMEOUT", "600")
            .env("ACUMATICA_TENANT", seed::TENANT)
            .env("ACUMATICA_CLIENT_ID", cred::ACUMATICA_CLIENT_ID)
            .env("ACUMATICA_CLIENT_SECRET", cred::ACUMATICA_CLIENT_SECRET)
            .env("ACUMATICA_USERNAME", cred::ACUMATICA_USERNAME)
            .env("ACUMATICA_PASSWORD", cred::ACUMATICA_PASSWORD),
        "post_journals.py",
    )?;
    let stats = child.finish()?;
    let created = stats["created"].as_u64().unwrap_or(0);
    if created != journals || out["posted"].as_u64() != Some(journals) {
        return Err(format!("python posted {out}, the fake holds {created} of {journals}").into());
    }
    let mut m = Map::new();
    m.insert("python_secs".into(), json!(secs));
    m.insert("python_cpu_secs".into(), json!(cpu));
    m.insert("fake_cpu_secs_python".into(), stats["cpu_secs"].clone());
    m.insert("python_docs_per_sec".into(), json!(journals as f64 / secs));
    m.insert(
        "python_requests".into(),
        json!(stats["requests"].as_u64().unwrap_or(0)),
    );
    Ok(m)
}

fn bench(args: &[String]) -> Res<()> {
    let journals: u64 = num(args, 0, "journals")?;
    let latency: u64 = num(args, 1, "latency_ms")?;
    let concurrency: usize = num(args, 2, "concurrency")?;
    let rounds: u32 = if args.len() > 3 {
        num(args, 3, "rounds")?
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
    let (mut run, mut plan, mut py, mut ratios) = (vec![], vec![], vec![], vec![]);
    let (mut run_cpu, mut py_cpu) = (vec![], vec![]);
    for round in 0..rounds {
        // Alternate which goes first, so drift in the machine's speed hits both alike.
        let (c, p) = if round % 2 == 0 {
            let c = connector_round(journals, latency, concurrency)?;
            (c, python_round(&python, journals, latency, concurrency)?)
        } else {
            let p = python_round(&python, journals, latency, concurrency)?;
            (connector_round(journals, latency, concurrency)?, p)
        };
        let mut m = c;
        m.extend(p);
        let r = m["run_secs"].as_f64().unwrap_or(f64::NAN);
        let y = m["python_secs"].as_f64().unwrap_or(f64::NAN);
        run.push(r);
        plan.push(m["plan_secs"].as_f64().unwrap_or(f64::NAN));
        py.push(y);
        ratios.push(y / r);
        run_cpu.push(m["run_cpu_secs"].as_f64().unwrap_or(f64::NAN));
        py_cpu.push(m["python_cpu_secs"].as_f64().unwrap_or(f64::NAN));
        m.insert("kind".into(), json!("round"));
        m.insert("round".into(), json!(round + 1));
        m.insert("size".into(), json!(journals));
        m.insert("latency_ms".into(), json!(latency));
        m.insert("concurrency".into(), json!(concurrency));
        m.insert("python_over_run".into(), json!(y / r));
        record::append("post_e2e", m)?;
    }
    let mut m = Map::new();
    m.insert("kind".into(), json!("median"));
    m.insert("size".into(), json!(journals));
    m.insert("latency_ms".into(), json!(latency));
    m.insert("concurrency".into(), json!(concurrency));
    m.insert("rounds".into(), json!(rounds));
    let (r, p, y) = (
        ml_connector_benches::measure::median(run.clone()),
        ml_connector_benches::measure::median(plan.clone()),
        ml_connector_benches::measure::median(py.clone()),
    );
    m.insert("run_secs".into(), json!(r));
    m.insert("run_docs_per_sec".into(), json!(journals as f64 / r));
    m.insert("plan_secs".into(), json!(p));
    m.insert("python_secs".into(), json!(y));
    m.insert("python_docs_per_sec".into(), json!(journals as f64 / y));
    m.insert(
        "python_over_run_median".into(),
        json!(ml_connector_benches::measure::median(ratios.clone())),
    );
    m.insert("run_over_plan".into(), json!(r / p));
    m.insert(
        "run_cpu_secs".into(),
        json!(ml_connector_benches::measure::median(run_cpu)),
    );
    m.insert(
        "python_cpu_secs".into(),
        json!(ml_connector_benches::measure::median(py_cpu)),
    );
    m.insert("run_rounds".into(), json!(run));
    m.insert("plan_rounds".into(), json!(plan));
    m.insert("python_rounds".into(), json!(py));
    record::append("post_e2e", m)?;
    Ok(())
}
