//! Streaming benchmark: a generated result (JSON and CSV) served from a
//! loopback HTTP server in this process, streamed through the client into
//! typed rows, next to two references measured in the same run:
//!
//! - download: the same bytes read with a plain HTTP client and thrown away
//!   (the network floor);
//! - in memory: the same decoder over the same bytes already in memory (the
//!   CPU ceiling).
//!
//! Run with `cargo run --release -p looker-client --example stream_bench -- [ROWS [REPEAT]]`
//! (default 1,000,000 rows, best of 3 runs per phase). Peak resident memory is read from `VmHWM` in
//! `/proc/self/status`, reset before each phase through
//! `/proc/self/clear_refs` (Linux).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use looker_client::{Client, ResultFormat, RowStream, RunOptions, WriteQuery};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The typed row every phase decodes into.
#[derive(Debug, Deserialize)]
struct OrderRow {
    #[serde(rename = "orders.id")]
    id: u64,
    #[serde(rename = "orders.created_date")]
    created: String,
    #[serde(rename = "orders.status")]
    status: String,
    #[serde(rename = "orders.total")]
    total: rust_decimal::Decimal,
    #[serde(rename = "customers.name")]
    customer: String,
}

/// Rows per generated chunk (about 50-60 KiB).
const ROWS_PER_CHUNK: u64 = 600;

/// Appends the decimal digits of `n` (cheaper than `write!`, so the
/// server's share of the two CPUs stays small).
fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn push_2(out: &mut Vec<u8>, n: u64) {
    out.push(b'0' + (n / 10 % 10) as u8);
    out.push(b'0' + (n % 10) as u8);
}

/// Renders rows `from..to` of the result in `format`.
fn render(format: ResultFormat, from: u64, to: u64, total_rows: u64, out: &mut Vec<u8>) {
    for i in from..to {
        let day = i % 28 + 1;
        let cents = (i * 7919) % 100_000;
        let status: &[u8] = [&b"complete"[..], b"pending", b"returned"][(i % 3) as usize];
        match format {
            ResultFormat::Json => {
                out.push(if i == 0 { b'[' } else { b',' });
                out.extend_from_slice(b"{\"orders.id\":");
                push_u64(out, i);
                out.extend_from_slice(b",\"orders.created_date\":\"2024-03-");
                push_2(out, day);
                out.extend_from_slice(b"\",\"orders.status\":\"");
                out.extend_from_slice(status);
                out.extend_from_slice(b"\",\"orders.total\":");
                push_u64(out, cents / 100);
                out.push(b'.');
                push_2(out, cents % 100);
                out.extend_from_slice(b",\"customers.name\":\"Customer ");
                push_u64(out, i % 5000);
                out.extend_from_slice(b" \\\"");
                push_u64(out, i % 17);
                out.extend_from_slice(b"\\\"\"}");
                if i + 1 == total_rows {
                    out.push(b']');
                }
            }
            _ => {
                if i == 0 {
                    out.extend_from_slice(
                        b"orders.id,orders.created_date,orders.status,orders.total,customers.name\r\n",
                    );
                }
                push_u64(out, i);
                out.extend_from_slice(b",2024-03-");
                push_2(out, day);
                out.push(b',');
                out.extend_from_slice(status);
                out.push(b',');
                push_u64(out, cents / 100);
                out.push(b'.');
                push_2(out, cents % 100);
                out.extend_from_slice(b",\"Customer ");
                push_u64(out, i % 5000);
                out.extend_from_slice(b", \"\"");
                push_u64(out, i % 17);
                out.extend_from_slice(b"\"\"\"\r\n");
            }
        }
    }
    if total_rows == 0 && format == ResultFormat::Json {
        out.extend_from_slice(b"[]");
    }
}

/// The whole body in memory, for the in-memory reference.
fn render_all(format: ResultFormat, rows: u64) -> Bytes {
    let mut out = Vec::new();
    render(format, 0, rows, rows, &mut out);
    Bytes::from(out)
}

async fn read_request(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let mut tmp = [0u8; 8192];
                let n = sock.read(&mut tmp).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&tmp[..n]);
            }
            buf.drain(..end + 4 + len);
            return head.lines().next().map(str::to_owned);
        }
        let mut tmp = [0u8; 8192];
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
}

/// A minimal Looker stand-in: `/login` and a streamed result per format,
/// generated chunk by chunk so the server never holds the whole body.
async fn serve(rows: u64) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            sock.set_nodelay(true).ok();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while let Some(line) = read_request(&mut sock, &mut buf).await {
                    if line.starts_with("POST /api/4.0/login") {
                        let json =
                            br#"{"access_token":"bench","token_type":"Bearer","expires_in":3600}"#;
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                            json.len()
                        );
                        if sock.write_all(head.as_bytes()).await.is_err()
                            || sock.write_all(json).await.is_err()
                        {
                            return;
                        }
                        continue;
                    }
                    let format = if line.contains("/run/csv") {
                        ResultFormat::Csv
                    } else {
                        ResultFormat::Json
                    };
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                    if sock.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let mut chunk = Vec::with_capacity(128 * 1024);
                    let mut from = 0;
                    while from < rows || (rows == 0 && from == 0) {
                        let to = (from + ROWS_PER_CHUNK).min(rows);
                        chunk.clear();
                        render(format, from, to, rows, &mut chunk);
                        let framed = format!("{:x}\r\n", chunk.len());
                        if sock.write_all(framed.as_bytes()).await.is_err()
                            || sock.write_all(&chunk).await.is_err()
                            || sock.write_all(b"\r\n").await.is_err()
                        {
                            return;
                        }
                        if rows == 0 {
                            break;
                        }
                        from = to;
                    }
                    if sock.write_all(b"0\r\n\r\n").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// Peak resident set size in bytes (`VmHWM`).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU time used by the whole process so far (all threads: the in-process
/// server too), from `/proc/self/stat`, in seconds.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which is in parentheses); utime and
    // stime are the 14th and 15th fields, in clock ticks (100 per second
    // on Linux).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Resets the peak to the current RSS; false where the kernel does not allow it.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

struct Measure {
    rows: u64,
    bytes: u64,
    elapsed: Duration,
    /// Process CPU seconds during the phase (server included).
    cpu: f64,
    peak: Option<u64>,
    checksum: u64,
}

impl Measure {
    fn line(&self, label: &str) -> String {
        let secs = self.elapsed.as_secs_f64();
        format!(
            "{label:<24} {:>12} {:>14.0} {:>10.1} {:>10} {:>9.3} {:>7.2}",
            self.rows,
            self.rows as f64 / secs,
            self.bytes as f64 / secs / 1e6,
            self.peak
                .map(|p| format!("{:.1}", p as f64 / (1024.0 * 1024.0)))
                .unwrap_or_else(|| "n/a".into()),
            secs,
            self.cpu
        )
    }
}

impl Measure {
    /// Keeps the fastest run's time and the highest peak.
    fn best(self, other: Measure) -> Measure {
        let peak = match (self.peak, other.peak) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let mut out = if other.elapsed < self.elapsed {
            other
        } else {
            self
        };
        out.peak = peak;
        out
    }
}

/// Folds a row into a checksum, so no phase can skip decoding.
fn fold(sum: u64, r: &OrderRow) -> u64 {
    sum.wrapping_mul(31)
        .wrapping_add(r.id)
        .wrapping_add(r.total.mantissa() as u64)
        .wrapping_add((r.created.len() + r.status.len() + r.customer.len()) as u64)
}

async fn download(uri: &str, format: ResultFormat, rows: u64) -> Measure {
    let http = reqwest::Client::new();
    reset_peak_rss();
    let cpu = cpu_seconds();
    let start = Instant::now();
    let resp = http
        .post(format!("{uri}/api/4.0/queries/run/{}", format.as_str()))
        .body("{}")
        .send()
        .await
        .unwrap();
    let mut body = resp.bytes_stream();
    let mut bytes = 0u64;
    while let Some(chunk) = body.next().await {
        bytes += chunk.unwrap().len() as u64;
    }
    Measure {
        rows,
        bytes,
        elapsed: start.elapsed(),
        cpu: cpu_seconds() - cpu,
        peak: peak_rss(),
        checksum: 0,
    }
}

async fn end_to_end(client: &Client, format: ResultFormat, bytes: u64) -> Measure {
    let query = WriteQuery::new("bench", "orders")
        .fields([
            "orders.id",
            "orders.created_date",
            "orders.status",
            "orders.total",
            "customers.name",
        ])
        .with_limit(-1);
    reset_peak_rss();
    let cpu = cpu_seconds();
    let start = Instant::now();
    let mut stream = client
        .run_inline_query_rows::<OrderRow>(&query, format, &RunOptions::new())
        .await
        .unwrap();
    let mut rows = 0u64;
    let mut checksum = 0u64;
    while let Some(r) = stream.try_next().await.unwrap() {
        rows += 1;
        checksum = fold(checksum, &r);
    }
    Measure {
        rows,
        bytes,
        elapsed: start.elapsed(),
        cpu: cpu_seconds() - cpu,
        peak: peak_rss(),
        checksum,
    }
}

async fn in_memory(format: ResultFormat, body: Bytes) -> Measure {
    let bytes = body.len() as u64;
    // The network hands the decoder chunks; give it zero-copy 64 KiB slices
    // of the same bytes.
    let chunks: Vec<Result<Bytes, std::io::Error>> = (0..body.len())
        .step_by(64 * 1024)
        .map(|at| Ok(body.slice(at..(at + 64 * 1024).min(body.len()))))
        .collect();
    let cpu = cpu_seconds();
    let start = Instant::now();
    let mut stream = RowStream::<OrderRow>::from_byte_stream(format, futures::stream::iter(chunks));
    let mut rows = 0u64;
    let mut checksum = 0u64;
    while let Some(r) = stream.try_next().await.unwrap() {
        rows += 1;
        checksum = fold(checksum, &r);
    }
    Measure {
        rows,
        bytes,
        elapsed: start.elapsed(),
        cpu: cpu_seconds() - cpu,
        peak: peak_rss(),
        checksum,
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parse = |i: usize, default: u64| -> u64 {
        match args.get(i) {
            None => default,
            Some(s) => s.replace('_', "").parse().unwrap_or_else(|_| {
                eprintln!("usage: stream_bench [ROWS [REPEAT]]   (defaults 1000000 3)");
                std::process::exit(2);
            }),
        }
    };
    let rows = parse(0, 1_000_000);
    // The machine may be shared: each phase runs REPEAT more times and the
    // fastest run is reported.
    let repeat = parse(1, 3).max(1);
    if cfg!(debug_assertions) {
        eprintln!("note: this is a debug build; run with --release for meaningful figures");
    }
    let uri = serve(rows).await;
    let client = Arc::new(
        Client::builder(uri.clone())
            .credentials("bench", "bench-secret")
            .no_timeout()
            .build()
            .unwrap(),
    );
    client.login().await.unwrap();
    println!(
        "stream_bench: {rows} rows, best of {repeat} runs per phase, peak RSS reset per phase: {}",
        if reset_peak_rss() {
            "yes"
        } else {
            "no (figures are process peaks)"
        }
    );
    println!(
        "{:<24} {:>12} {:>14} {:>10} {:>10} {:>9} {:>7}",
        "phase", "rows", "rows/s", "MB/s", "peak MiB", "secs", "CPU s"
    );
    // 1. Memory: the streaming phases first, while the process is small
    //    (the references below hold whole bodies, and freed memory is not
    //    always given back to the system, which would inflate later peaks).
    let mut first = Vec::new();
    for format in [ResultFormat::Json, ResultFormat::Csv] {
        let dl = download(&uri, format, rows).await;
        let e2e = end_to_end(&client, format, dl.bytes).await;
        assert_eq!(e2e.rows, rows);
        first.push((format, dl, e2e));
    }
    // 2. Throughput: on a shared machine the CPU share changes from second
    //    to second, so each client run is paired with an in-memory run right
    //    after it, the ratio of each pair is kept, and the median ratio is
    //    reported beside the fastest time of each phase.
    for (format, dl0, e2e0) in first {
        let name = format.as_str();
        let body = render_all(format, rows);
        assert_eq!(
            body.len() as u64,
            dl0.bytes,
            "the same bytes in every phase"
        );
        let (mut dl, mut e2e, mut mem, mut whole) = (dl0, e2e0, None::<Measure>, None::<Measure>);
        let stream_peak = e2e.peak;
        let download_peak = dl.peak;
        let mut ratios = Vec::new();
        let mut ratios_cpu = Vec::new();
        for _ in 0..repeat {
            dl = dl.best(download(&uri, format, rows).await);
            let e = end_to_end(&client, format, dl.bytes).await;
            let m = in_memory(format, body.clone()).await;
            assert_eq!(m.checksum, e.checksum, "both phases decoded the same rows");
            ratios.push(m.elapsed.as_secs_f64() / e.elapsed.as_secs_f64());
            if m.cpu > 0.0 {
                ratios_cpu.push(e.cpu / m.cpu);
            }
            e2e = e2e.best(e);
            mem = Some(match mem {
                Some(x) => x.best(m),
                None => m,
            });
            if format == ResultFormat::Json {
                // Not streaming: serde_json over the whole body into a Vec,
                // to show what the incremental splitter costs.
                reset_peak_rss();
                let cpu = cpu_seconds();
                let start = Instant::now();
                let all: Vec<OrderRow> = serde_json::from_slice(&body).unwrap();
                let w = Measure {
                    rows: all.len() as u64,
                    bytes: body.len() as u64,
                    elapsed: start.elapsed(),
                    cpu: cpu_seconds() - cpu,
                    peak: peak_rss(),
                    checksum: all.iter().fold(0, fold),
                };
                whole = Some(match whole {
                    Some(x) => x.best(w),
                    None => w,
                });
            }
        }
        // Peaks of the streaming phases come from step 1 (small process).
        dl.peak = download_peak;
        e2e.peak = stream_peak;
        println!("{}", dl.line(&format!("{name} download")));
        println!("{}", e2e.line(&format!("{name} client stream")));
        if let Some(w) = whole {
            println!("{}", w.line("json serde_json Vec<T>"));
        }
        let mem = mem.expect("at least one run");
        println!("{}", mem.line(&format!("{name} in-memory decode")));
        ratios.sort_by(f64::total_cmp);
        let median = ratios[ratios.len() / 2];
        ratios_cpu.sort_by(f64::total_cmp);
        println!(
            "{name}: end to end = {:.0}% of in-memory decode throughput (median of {} pairs; \
             fastest runs: {:.0}%); CPU per row end to end = {:.2}x in memory (median, server \
             included); body {:.1} MB",
            median * 100.0,
            ratios.len(),
            mem.elapsed.as_secs_f64() / e2e.elapsed.as_secs_f64() * 100.0,
            ratios_cpu
                .get(ratios_cpu.len() / 2)
                .copied()
                .unwrap_or(f64::NAN),
            dl.bytes as f64 / 1e6
        );
    }
}
