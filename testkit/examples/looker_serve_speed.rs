//! How fast the Looker fake serves a large result over HTTP.
//!
//! Run with `cargo run --release -p ml-connector-testkit --example looker_serve_speed [rows]`.
//! Streams `limit: -1` results of `finance.gl_lines` (default 1,000,000 rows)
//! in csv, json and json_bi through a local socket, reading every byte, and
//! prints MB/s and rows/s per format: by wall clock, and per CPU second of
//! this process (server and client together, read from `/proc/self/stat` on
//! Linux), which stays meaningful on a busy machine.

use std::time::Instant;

use serde_json::json;
use testkit::looker::{LookerConfig, LookerFake};
use testkit::seed::credentials::{LOOKER_CLIENT_ID, LOOKER_CLIENT_SECRET};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rows: u64 = match std::env::args().nth(1) {
        Some(n) => n
            .parse()
            .map_err(|_| format!("rows must be a whole number, got `{n}`"))?,
        None => 1_000_000,
    };
    let fake = LookerFake::new(LookerConfig::default().with_gl_lines_rows(rows))?;
    let server = fake.serve().await?;
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{}/api/4.0/login", server.url()))
        .form(&[
            ("client_id", LOOKER_CLIENT_ID),
            ("client_secret", LOOKER_CLIENT_SECRET),
        ])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = login["access_token"]
        .as_str()
        .ok_or("no access_token in the login answer")?;
    let query = json!({
        "model": "finance", "view": "gl_lines",
        "fields": ["gl_lines.id", "gl_lines.journal_id", "gl_lines.period", "gl_lines.posting_date",
                   "gl_lines.branch", "gl_lines.account", "gl_lines.subaccount", "gl_lines.description",
                   "gl_lines.debit", "gl_lines.credit", "gl_lines.amount"],
        "sorts": ["gl_lines.id"],
        "limit": "-1",
    });
    println!("finance.gl_lines, {rows} rows, 11 columns, limit -1, over http://127.0.0.1");
    for format in ["csv", "json", "json_bi"] {
        let started = Instant::now();
        let cpu_before = cpu_seconds();
        let mut resp = http
            .post(format!("{}/api/4.0/queries/run/{format}", server.url()))
            .header("Authorization", format!("token {token}"))
            .json(&query)
            .send()
            .await?
            .error_for_status()?;
        let mut bytes = 0u64;
        while let Some(chunk) = resp.chunk().await? {
            bytes += chunk.len() as u64;
        }
        let secs = started.elapsed().as_secs_f64();
        let mb = bytes as f64 / 1e6;
        print!(
            "{format:>8}: {mb:>7.1} MB in {secs:.2} s = {:>6.0} MB/s, {:>5.2} M rows/s",
            mb / secs,
            rows as f64 / 1e6 / secs,
        );
        match (cpu_before, cpu_seconds()) {
            (Some(a), Some(b)) if b > a => println!(
                "; {:.2} CPU s = {:>6.0} MB per CPU second",
                b - a,
                mb / (b - a)
            ),
            _ => println!(),
        }
    }
    if let Some(kib) = peak_rss_kib() {
        println!(
            "peak resident memory of this process (server and client): {:.1} MiB",
            kib as f64 / 1024.0
        );
    }
    let c = fake.counters();
    println!(
        "server: {} rows generated, {} served, {} streams finished",
        c.rows_generated, c.rows_served, c.streams_finished
    );
    server.shutdown().await;
    Ok(())
}

/// User + system CPU time of this process, from `/proc/self/stat` (Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Peak resident set size (`VmHWM` of `/proc/self/status`, Linux), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
