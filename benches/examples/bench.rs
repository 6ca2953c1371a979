//! The ml-connector benchmarks, one measurement per process (so each peak
//! resident memory figure is that measurement's own). `benches/run.sh` runs
//! them all; each run prints a JSON line and appends it to
//! `benches/results/<bench>.jsonl`.
//!
//! ```text
//! bench looker <json|csv> <rows> <download|client|memory>
//! bench acumatica <transactions> <latency_ms> <concurrency> <download|client|memory>
//! bench post <journals> <latency_ms> [concurrency]
//! ```
//!
//! The fakes run in a child process (`bench serve ...`), so the measuring
//! process holds only the client (or the plain HTTP reader, or the bytes and
//! the decoder). Every phase runs `BENCH_REPEAT` times (default 3): the
//! fastest time is kept (the machine is shared) and the highest peak.

use std::sync::Arc;
use std::time::{Duration, Instant};

use acumatica_client::ListQuery;
use acumatica_client::entity::JournalTransaction;
use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use looker_client::{CellKind, CompactRow, ResultFormat, RowStream, TaskOptions, WriteQuery};
use ml_connector_benches::child::{ServerChild, serve_until_stdin_closes};
use ml_connector_benches::measure::{cpu_time, peak_rss, reset_peak_rss};
use ml_connector_benches::record;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use sync_core::mapping::{JournalMapping, Row};
use sync_core::post::{AcumaticaJournals, PostFlow, PostOptions};
use sync_core::store::SqliteStore;
use sync_core::traits::{PageStream, RecordSource};
use testkit::acumatica::{AcumaticaFake, AcumaticaOptions};
use testkit::faults::{FaultKind, FaultRule};
use testkit::looker::{LookerConfig, LookerFake};
use testkit::seed::{self, credentials as cred};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

const VERSION: &str = "24.200.001";
/// Records per Acumatica page (the client's default page size).
const ACU_PAGE: u32 = 500;
/// Slices the in-memory references hand the decoder (as a network would).
const MEM_CHUNK: usize = 64 * 1024;

const USAGE: &str = "usage:
  bench looker <json|csv> <rows> <download|client|compact|generic|memory>
  bench acumatica <transactions> <latency_ms> <concurrency> <download|client|memory>
  bench post <journals> <latency_ms> [concurrency]
(environment: BENCH_REPEAT runs per phase, default 3; BENCH_RESULTS_DIR)";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(&rt, &args[1..]),
        Some("looker") => rt.block_on(looker(&args[1..])),
        Some("acumatica") => rt.block_on(acumatica(&args[1..])),
        Some("post") => rt.block_on(post(&args[1..])),
        _ => Err(USAGE.into()),
    };
    if let Err(e) = result {
        eprintln!("bench: {e}");
        std::process::exit(2);
    }
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> Res<T> {
    Ok(ml_connector_benches::measure::number_arg(
        args, i, what, USAGE,
    )?)
}

fn repeat() -> u32 {
    std::env::var("BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1)
}

/// One timed run of a phase.
#[derive(Clone, Copy, Debug)]
struct Run {
    elapsed: Duration,
    cpu: Duration,
    items: u64,
    bytes: u64,
    peak: Option<u64>,
    checksum: u64,
}

/// Runs `f` [`repeat`] times, each with the peak reset first; keeps the
/// fastest time and the highest peak, and checks every run saw the same data.
async fn best_of<F, Fut>(mut f: F) -> Res<(Run, Vec<f64>)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Res<(u64, u64, u64)>>,
{
    let mut best: Option<Run> = None;
    let mut times = Vec::new();
    for _ in 0..repeat() {
        reset_peak_rss();
        let cpu0 = cpu_time().unwrap_or_default();
        let start = Instant::now();
        let (items, bytes, checksum) = f().await?;
        let elapsed = start.elapsed();
        let run = Run {
            elapsed,
            cpu: cpu_time().unwrap_or_default().saturating_sub(cpu0),
            items,
            bytes,
            peak: peak_rss(),
            checksum,
        };
        times.push(elapsed.as_secs_f64());
        best = Some(match best {
            None => run,
            Some(b) => {
                if (b.items, b.bytes, b.checksum) != (items, bytes, checksum) {
                    return Err(format!("runs disagree: {b:?} vs {run:?}").into());
                }
                let peak = b.peak.max(run.peak);
                let mut keep = if run.elapsed < b.elapsed { run } else { b };
                keep.peak = peak;
                keep
            }
        });
    }
    Ok((best.expect("at least one run"), times))
}

fn figures(run: &Run, unit: &str) -> Map<String, Value> {
    let secs = run.elapsed.as_secs_f64();
    let mut m = Map::new();
    m.insert("items".into(), json!(run.items));
    m.insert("unit".into(), json!(unit));
    m.insert("bytes".into(), json!(run.bytes));
    m.insert("secs".into(), json!(secs));
    m.insert("cpu_secs".into(), json!(run.cpu.as_secs_f64()));
    m.insert("items_per_sec".into(), json!(run.items as f64 / secs));
    m.insert("mb_per_sec".into(), json!(run.bytes as f64 / 1e6 / secs));
    m.insert(
        "peak_rss_mib".into(),
        json!(run.peak.map(ml_connector_benches::measure::mib)),
    );
    m.insert("checksum".into(), json!(run.checksum));
    m.insert("repeat".into(), json!(repeat()));
    m
}

fn fold(sum: u64, x: u64) -> u64 {
    sum.wrapping_mul(31).wrapping_add(x)
}

// ---------------------------------------------------------------- servers

/// `serve looker <rows> [task polls]` or `serve acumatica <transactions> <latency_ms>`.
fn serve(rt: &tokio::runtime::Runtime, args: &[String]) -> Res<()> {
    match args.first().map(String::as_str) {
        Some("looker") => {
            let rows: u64 = arg(args, 1, "rows")?;
            // Tasks complete at once by default: the benchmark measures the
            // transfer, not a database's run time. An optional third argument
            // is the status checks a task answers `running` to first
            // (benches/looker_e2e.py).
            let polls: u32 = if args.len() > 2 {
                arg(args, 2, "polls")?
            } else {
                0
            };
            let config = LookerConfig::default()
                .with_gl_lines_rows(rows)
                .with_task_progress(polls, Duration::ZERO);
            let fake = LookerFake::new(config)?;
            let server = rt.block_on(fake.serve())?;
            serve_until_stdin_closes(server.url(), || {
                let c = fake.counters();
                json!({
                    "requests": server.log().len(),
                    "by_route": server.log().counts_by_route(),
                    "rows_served": c.rows_served,
                })
            });
            rt.block_on(server.shutdown());
            Ok(())
        }
        Some("acumatica") => {
            let n: usize = arg(args, 1, "transactions")?;
            let latency: u64 = arg(args, 2, "latency_ms")?;
            let fake = rt.block_on(AcumaticaFake::start(
                AcumaticaOptions::default().journal_transactions(n),
            ))?;
            if latency > 0 {
                fake.faults().add(
                    FaultRule::new(FaultKind::Latency(Duration::from_millis(latency)))
                        .path("/entity/**"),
                );
            }
            let log = fake.log().clone();
            serve_until_stdin_closes(fake.url(), || {
                let entries = log.entries();
                let lookups = entries
                    .iter()
                    .filter(|r| {
                        r.method == "GET"
                            && r.query
                                .as_deref()
                                .is_some_and(|q| q.contains("substringof"))
                    })
                    .count();
                json!({
                    "requests": entries.len(),
                    "lookups": lookups,
                    "by_route": log.counts_by_route(),
                    "by_status": log.counts_by_status().into_iter()
                        .map(|(s, n)| (s.map_or("none".to_owned(), |s| s.to_string()), n))
                        .collect::<std::collections::BTreeMap<_, _>>(),
                    "journal_transactions": fake.state().count("JournalTransaction"),
                })
            });
            rt.block_on(fake.shutdown());
            Ok(())
        }
        _ => Err(USAGE.into()),
    }
}

fn spawn(args: &[&str]) -> Res<ServerChild> {
    let args: Vec<String> = std::iter::once("serve")
        .chain(args.iter().copied())
        .map(str::to_owned)
        .collect();
    Ok(ServerChild::spawn(&args)?)
}

// ---------------------------------------------------------------- Looker

/// One row of `finance.gl_lines`, as JSON names it (field names) and as CSV
/// heads it (field labels).
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // every field is decoded; a few are only checksummed by length
struct GlLine {
    #[serde(rename = "gl_lines.id", alias = "GL Lines ID")]
    id: u64,
    #[serde(rename = "gl_lines.journal_id", alias = "GL Lines Journal ID")]
    journal_id: u64,
    #[serde(rename = "gl_lines.period", alias = "GL Lines Period")]
    period: String,
    #[serde(rename = "gl_lines.posting_date", alias = "GL Lines Posting Date")]
    posting_date: String,
    #[serde(rename = "gl_lines.branch", alias = "GL Lines Branch")]
    branch: String,
    #[serde(rename = "gl_lines.account", alias = "GL Lines Account")]
    account: String,
    #[serde(rename = "gl_lines.subaccount", alias = "GL Lines Subaccount")]
    subaccount: String,
    #[serde(rename = "gl_lines.description", alias = "GL Lines Description")]
    description: String,
    #[serde(rename = "gl_lines.debit", alias = "GL Lines Debit")]
    debit: Decimal,
    #[serde(rename = "gl_lines.credit", alias = "GL Lines Credit")]
    credit: Decimal,
    #[serde(rename = "gl_lines.amount", alias = "GL Lines Amount")]
    amount: Decimal,
}

impl GlLine {
    fn fold_into(&self, sum: u64) -> u64 {
        let text = self.period.len()
            + self.posting_date.len()
            + self.branch.len()
            + self.account.len()
            + self.subaccount.len()
            + self.description.len();
        let money = (self.debit - self.credit - self.amount).mantissa() as u64;
        fold(
            fold(sum, self.id ^ (self.journal_id << 32)),
            text as u64 ^ money,
        )
    }
}

const GL_FIELDS: [&str; 11] = [
    "gl_lines.id",
    "gl_lines.journal_id",
    "gl_lines.period",
    "gl_lines.posting_date",
    "gl_lines.branch",
    "gl_lines.account",
    "gl_lines.subaccount",
    "gl_lines.description",
    "gl_lines.debit",
    "gl_lines.credit",
    "gl_lines.amount",
];

fn gl_query() -> WriteQuery {
    WriteQuery::new("finance", "gl_lines")
        .fields(GL_FIELDS)
        .sorts(["gl_lines.id"])
        .with_limit(-1)
}

/// The same task, run with a plain HTTP client: login, create the query and
/// the task, poll, then read the results. Returns the results response.
async fn raw_task_results(
    http: &reqwest::Client,
    url: &str,
    format: &str,
) -> Res<reqwest::Response> {
    let api = format!("{url}/api/4.0");
    let login: Value = http
        .post(format!("{api}/login"))
        .form(&[
            ("client_id", cred::LOOKER_CLIENT_ID),
            ("client_secret", cred::LOOKER_CLIENT_SECRET),
        ])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let auth = format!(
        "token {}",
        login["access_token"].as_str().ok_or("no access_token")?
    );
    let query: Value = http
        .post(format!("{api}/queries"))
        .header("Authorization", &auth)
        .json(
            &json!({"model": "finance", "view": "gl_lines", "fields": GL_FIELDS,
                      "sorts": ["gl_lines.id"], "limit": "-1"}),
        )
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let task: Value = http
        .post(format!("{api}/query_tasks"))
        .header("Authorization", &auth)
        .json(&json!({"query_id": query["id"], "result_format": format}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = task["id"].as_str().ok_or("no task id")?;
    loop {
        let resp = http
            .get(format!("{api}/query_tasks/{id}/results"))
            .header("Authorization", &auth)
            .send()
            .await?
            .error_for_status()?;
        if resp.status() == 200 {
            return Ok(resp);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn looker(args: &[String]) -> Res<()> {
    let format_name: String = args.first().cloned().ok_or(USAGE)?;
    let format = match format_name.as_str() {
        "json" => ResultFormat::Json,
        "csv" => ResultFormat::Csv,
        other => return Err(format!("format must be json or csv, got `{other}`").into()),
    };
    let rows: u64 = arg(args, 1, "rows")?;
    let phase: String = args.get(2).cloned().ok_or(USAGE)?;
    let server = spawn(&["looker", &rows.to_string()])?;
    let url = server.url().to_owned();
    let http = reqwest::Client::new();
    let (run, times, unit) = match phase.as_str() {
        "download" => {
            let (run, times) = best_of(|| async {
                let mut resp = raw_task_results(&http, &url, &format_name).await?;
                let mut bytes = 0u64;
                while let Some(chunk) = resp.chunk().await? {
                    bytes += chunk.len() as u64;
                }
                // Rows are not counted here: that would be decoding.
                Ok((rows, bytes, 0))
            })
            .await?;
            (run, times, "rows")
        }
        "client" => {
            let client = looker_client::Client::builder(url.clone())
                .credentials(cred::LOOKER_CLIENT_ID, cred::LOOKER_CLIENT_SECRET)
                .no_timeout()
                .build()?;
            let options = TaskOptions::new()
                .poll_interval(Duration::from_millis(10), Duration::from_millis(100));
            let (run, times) = best_of(|| async {
                let mut stream = client
                    .run_query_task_rows::<GlLine>(&gl_query(), format, &options)
                    .await?;
                let mut n = 0u64;
                let mut sum = 0u64;
                while let Some(row) = stream.try_next().await? {
                    n += 1;
                    sum = row.fold_into(sum);
                }
                // The client does not expose the body size; the download
                // phase measures it (the same bytes).
                Ok((n, 0, sum))
            })
            .await?;
            (run, times, "rows")
        }
        // The same task read as generic rows: `CompactRow` (one buffer per row, columns
        // shared) and the map `Row` (a `String` per key and value), to set next to the typed
        // `client` phase. Each folds the length of every string cell (1 for other cells).
        "compact" | "generic" => {
            let client = looker_client::Client::builder(url.clone())
                .credentials(cred::LOOKER_CLIENT_ID, cred::LOOKER_CLIENT_SECRET)
                .no_timeout()
                .build()?;
            let options = TaskOptions::new()
                .poll_interval(Duration::from_millis(10), Duration::from_millis(100));
            let compact = phase == "compact";
            let (run, times) = best_of(|| async {
                let mut n = 0u64;
                let mut sum = 0u64;
                if compact {
                    let mut stream = client
                        .run_query_task_rows::<CompactRow>(&gl_query(), format, &options)
                        .await?;
                    while let Some(row) = stream.try_next().await? {
                        n += 1;
                        for (_, cell) in row.iter() {
                            let len = match cell.kind() {
                                CellKind::String => cell.text().len(),
                                _ => 1,
                            };
                            sum = fold(sum, len as u64);
                        }
                    }
                } else {
                    let mut stream = client
                        .run_query_task_rows::<Row>(&gl_query(), format, &options)
                        .await?;
                    while let Some(row) = stream.try_next().await? {
                        n += 1;
                        for value in row.values() {
                            sum = fold(sum, value.as_str().map_or(1, str::len) as u64);
                        }
                    }
                }
                Ok((n, 0, sum))
            })
            .await?;
            (run, times, "rows")
        }
        "memory" => {
            let mut resp = raw_task_results(&http, &url, &format_name).await?;
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await? {
                body.extend_from_slice(&chunk);
            }
            let body = Bytes::from(body);
            let (run, times) = best_of(|| {
                let body = body.clone();
                async move {
                    let bytes = body.len() as u64;
                    let chunks: Vec<Result<Bytes, std::io::Error>> = (0..body.len())
                        .step_by(MEM_CHUNK)
                        .map(|at| Ok(body.slice(at..(at + MEM_CHUNK).min(body.len()))))
                        .collect();
                    let mut stream =
                        RowStream::<GlLine>::from_byte_stream(format, stream::iter(chunks));
                    let mut n = 0u64;
                    let mut sum = 0u64;
                    while let Some(row) = stream.try_next().await? {
                        n += 1;
                        sum = row.fold_into(sum);
                    }
                    Ok((n, bytes, sum))
                }
            })
            .await?;
            (run, times, "rows")
        }
        other => return Err(format!("unknown phase `{other}`\n{USAGE}").into()),
    };
    let stats = server.finish()?;
    if run.items != rows {
        return Err(format!("{phase}: read {} rows, expected {rows}", run.items).into());
    }
    let mut m = figures(&run, unit);
    m.insert("format".into(), json!(format_name));
    m.insert("phase".into(), json!(phase));
    m.insert("size".into(), json!(rows));
    m.insert("times".into(), json!(times));
    m.insert("server".into(), stats);
    record::append("looker_extract", m)?;
    Ok(())
}

// ---------------------------------------------------------------- Acumatica

fn acumatica_client(url: &str, concurrency: usize) -> Res<acumatica_client::Client> {
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
        .page_size(ACU_PAGE)
        .max_concurrent_requests(concurrency.max(1))
        .timeout(Duration::from_secs(300))
        .build()?)
}

async fn raw_acumatica_token(http: &reqwest::Client, url: &str) -> Res<String> {
    let token: Value = http
        .post(format!("{url}/identity/connect/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", cred::ACUMATICA_CLIENT_ID),
            ("client_secret", cred::ACUMATICA_CLIENT_SECRET),
            ("username", cred::ACUMATICA_USERNAME),
            ("password", cred::ACUMATICA_PASSWORD),
            ("scope", "api"),
        ])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(token["access_token"]
        .as_str()
        .ok_or("no access_token")?
        .to_owned())
}

/// Pages `JournalTransaction?$expand=Details` by `$top`/`$skip` with a plain
/// HTTP client, `concurrency` pages in flight, until the first short page;
/// hands each page's bytes to `each`. Returns (records, bytes).
async fn raw_pages(
    http: &reqwest::Client,
    url: &str,
    concurrency: usize,
    mut each: impl FnMut(Bytes),
) -> Res<(u64, u64)> {
    let token = raw_acumatica_token(http, url).await?;
    let base = format!("{url}/entity/Default/{VERSION}/JournalTransaction");
    let mut pages = stream::iter(0u64..)
        .map(|k| {
            let req = http
                .get(&base)
                .bearer_auth(&token)
                .query(&[
                    ("$expand", "Details".to_owned()),
                    ("$top", ACU_PAGE.to_string()),
                    ("$skip", (k * u64::from(ACU_PAGE)).to_string()),
                ])
                .send();
            async move { Ok::<Bytes, BoxError>(req.await?.error_for_status()?.bytes().await?) }
        })
        .buffered(concurrency.max(1));
    let (mut records, mut bytes) = (0u64, 0u64);
    while let Some(page) = pages.next().await {
        let page = page?;
        // Counting records needs a parse; a top-level-object count is the
        // cheapest honest one: the records are the array's elements.
        let n = serde_json::from_slice::<Vec<&RawValue>>(&page)?.len() as u64;
        records += n;
        bytes += page.len() as u64;
        each(page);
        if n < u64::from(ACU_PAGE) {
            break;
        }
    }
    Ok((records, bytes))
}

fn fold_transaction(sum: u64, t: &JournalTransaction) -> u64 {
    let lines = t.details.as_ref().map_or(0, Vec::len) as u64;
    let nbr = t.batch_nbr.get().map_or(0, |s| s.len()) as u64;
    fold(sum, lines * 1000 + nbr)
}

async fn acumatica(args: &[String]) -> Res<()> {
    let n: usize = arg(args, 0, "transactions")?;
    let latency: u64 = arg(args, 1, "latency_ms")?;
    let concurrency: usize = arg(args, 2, "concurrency")?;
    let phase: String = args.get(3).cloned().ok_or(USAGE)?;
    let server = spawn(&["acumatica", &n.to_string(), &latency.to_string()])?;
    let url = server.url().to_owned();
    let http = reqwest::Client::new();
    let (run, times) = match phase.as_str() {
        "download" => {
            best_of(|| async {
                let (records, bytes) = raw_pages(&http, &url, concurrency, |_| {}).await?;
                Ok((records, bytes, 0))
            })
            .await?
        }
        "client" => {
            let client = acumatica_client(&url, concurrency)?;
            best_of(|| async {
                let mut list = client.list::<JournalTransaction>(
                    ListQuery::new()
                        .expand(["Details"])
                        .concurrency(concurrency),
                );
                let (mut records, mut sum) = (0u64, 0u64);
                while let Some(t) = list.try_next().await? {
                    records += 1;
                    sum = fold_transaction(sum, &t);
                }
                Ok((records, 0, sum))
            })
            .await?
        }
        "memory" => {
            let mut pages = Vec::new();
            raw_pages(&http, &url, 4, |p| pages.push(p)).await?;
            let pages = Arc::new(pages);
            best_of(|| {
                let pages = pages.clone();
                async move {
                    // The client's decoding: each page in one pass into the
                    // typed entities.
                    let (mut records, mut bytes, mut sum) = (0u64, 0u64, 0u64);
                    for page in pages.iter() {
                        bytes += page.len() as u64;
                        let page: Vec<JournalTransaction> = serde_json::from_slice(page)?;
                        for t in &page {
                            records += 1;
                            sum = fold_transaction(sum, t);
                        }
                    }
                    Ok((records, bytes, sum))
                }
            })
            .await?
        }
        other => return Err(format!("unknown phase `{other}`\n{USAGE}").into()),
    };
    let stats = server.finish()?;
    if run.items != n as u64 {
        return Err(format!("{phase}: read {} records, expected {n}", run.items).into());
    }
    let mut m = figures(&run, "records");
    m.insert("phase".into(), json!(phase));
    m.insert("size".into(), json!(n));
    m.insert("latency_ms".into(), json!(latency));
    m.insert("concurrency".into(), json!(concurrency));
    m.insert("page_size".into(), json!(ACU_PAGE));
    m.insert("times".into(), json!(times));
    m.insert(
        "requests_per_record".into(),
        json!(stats["requests"].as_u64().unwrap_or(0) as f64 / (n as f64 * f64::from(repeat()))),
    );
    m.insert("server".into(), stats);
    record::append("acumatica_read", m)?;
    Ok(())
}

// ---------------------------------------------------------------- posting

/// Rows for `journals` balanced two-line journals in the first open period,
/// as a Looker query would return them.
struct BenchRows {
    journals: u64,
}

fn bench_row(journal: u64, debit: bool) -> Row {
    let month = seed::LAST_CLOSED_MONTH + 1;
    let branch = seed::BRANCHES[(journal % seed::BRANCHES.len() as u64) as usize].id;
    let expense = ["61000", "62000", "63000", "64000"][(journal % 4) as usize];
    let cents = 1_000 + (journal * 7_919) % 2_500_000;
    let amount = Decimal::new(cents as i64, 2);
    let (account, sub, signed) = if debit {
        let sub = seed::COST_CENTERS[(journal % seed::COST_CENTERS.len() as u64) as usize]
            .subaccount
            .replace('-', "");
        (expense, sub, amount)
    } else {
        ("20000", "000000".to_owned(), -amount)
    };
    let day = 1 + journal % 28;
    let mut row = Map::new();
    row.insert("bench.journal".into(), json!(journal));
    row.insert("bench.branch".into(), json!(branch));
    row.insert("bench.account".into(), json!(account));
    row.insert("bench.subaccount".into(), json!(sub));
    row.insert("bench.amount".into(), json!(signed.to_string()));
    row.insert(
        "bench.date".into(),
        json!(format!("{}-{month:02}-{day:02}", seed::FINANCIAL_YEAR)),
    );
    row.insert(
        "bench.description".into(),
        json!(format!("Bench line {journal}")),
    );
    row
}

#[async_trait]
impl RecordSource for BenchRows {
    type Record = Row;
    type Cursor = ();

    fn describe(&self) -> String {
        format!("bench rows ({} journals)", self.journals)
    }

    async fn pages(&self, _after: Option<&()>) -> sync_core::Result<PageStream<Row>> {
        let journals = self.journals;
        // Pages of 500 journals (1000 rows), as a stream of Looker chunks.
        let pages = (0..journals.div_ceil(500)).map(move |p| {
            let from = p * 500 + 1;
            let to = ((p + 1) * 500).min(journals);
            Ok((from..=to)
                .flat_map(|j| [bench_row(j, true), bench_row(j, false)])
                .collect::<Vec<Row>>())
        });
        Ok(stream::iter(pages).boxed())
    }
}

const BENCH_MAPPING: &str = r#"
flow = "bench_post"
[lines]
account = { column = "bench.account" }
subaccount = { column = "bench.subaccount" }
branch = { column = "bench.branch" }
amount = { signed = "bench.amount" }
description = "{bench.description}"
date = { column = "bench.date" }
[document]
ledger = { constant = "ACTUAL" }
group_by = ["bench.journal"]
description = "Bench journal {bench.journal} {period} {branch}"
date = "period_end"
"#;

async fn post(args: &[String]) -> Res<()> {
    let journals: u64 = arg(args, 0, "journals")?;
    let latency: u64 = arg(args, 1, "latency_ms")?;
    let concurrency: usize = if args.len() > 2 {
        arg(args, 2, "concurrency")?
    } else {
        1
    };
    // Journals are posted once: this benchmark runs once per process.
    let mut server = spawn(&["acumatica", "0", &latency.to_string()])?;
    let url = server.url().to_owned();
    let dir = tempfile::tempdir()?;
    let store = Arc::new(SqliteStore::open(dir.path().join("state.db")).await?);
    let flow = PostFlow::builder(JournalMapping::from_toml_str(BENCH_MAPPING)?)
        .source(BenchRows { journals })
        .sink(AcumaticaJournals::new(acumatica_client(&url, concurrency)?))
        .store(store)
        .options(PostOptions {
            concurrency,
            ..PostOptions::default()
        })
        .owner("bench")
        .build()?;
    reset_peak_rss();
    let cpu0 = cpu_time().unwrap_or_default();
    let start = Instant::now();
    let summary = flow.run().await?;
    let elapsed = start.elapsed();
    let cpu = cpu_time().unwrap_or_default().saturating_sub(cpu0);
    let peak = peak_rss();
    if summary.counts.documents_posted != journals {
        return Err(format!(
            "posted {} of {journals} journals: {summary}",
            summary.counts.documents_posted
        )
        .into());
    }
    // A rerun must post nothing; its requests are counted separately.
    let first = server.stats()?;
    let rerun_start = Instant::now();
    let rerun = flow.run().await?;
    let rerun_elapsed = rerun_start.elapsed();
    if rerun.counts.documents_posted != 0 || rerun.counts.duplicates_skipped != journals {
        return Err(format!("the rerun was not a no-op: {rerun}").into());
    }
    let stats = server.finish()?;
    let first_requests = first["requests"].as_u64().unwrap_or(0);
    let first_lookups = first["lookups"].as_u64().unwrap_or(0);
    let total = stats["requests"].as_u64().unwrap_or(0);
    let run = Run {
        elapsed,
        cpu,
        items: journals,
        bytes: 0,
        peak,
        checksum: 0,
    };
    let mut m = figures(&run, "documents");
    m.insert("size".into(), json!(journals));
    m.insert("latency_ms".into(), json!(latency));
    m.insert("concurrency".into(), json!(concurrency));
    m.insert("requests".into(), json!(first_requests));
    m.insert("lookup_requests".into(), json!(first_lookups));
    m.insert(
        "requests_per_document".into(),
        json!(first_requests as f64 / journals as f64),
    );
    m.insert("rerun_requests".into(), json!(total - first_requests));
    m.insert("rerun_secs".into(), json!(rerun_elapsed.as_secs_f64()));
    m.insert("server".into(), stats);
    m.remove("repeat");
    record::append("post_journals", m)?;
    Ok(())
}
