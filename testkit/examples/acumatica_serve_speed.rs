//! How fast the Acumatica fake seeds and serves a large listing.
//!
//! `cargo run --release -p ml-connector-testkit --example acumatica_serve_speed [-- N]`
//! (N journal transactions of four lines, default 100 000).
//!
//! Measured on the shared 2-core development machine under load (see the
//! crate README): seeding 100 000 batches 2.8 s; the full listing with
//! `$expand=Details` (296 MB) at about 300 MB/s; headers only at about
//! 70 MB/s.

use std::time::Instant;

use futures::StreamExt;
use testkit::acumatica::{AcumaticaFake, AcumaticaOptions};
use testkit::seed::credentials as c;

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let t = Instant::now();
    let fake = AcumaticaFake::start(AcumaticaOptions::default().journal_transactions(n))
        .await
        .expect("start");
    println!("seeded {n} journal transactions in {:.2?}", t.elapsed());

    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{}/identity/connect/token", fake.url()))
        .form(&[
            ("grant_type", "password"),
            ("client_id", c::ACUMATICA_CLIENT_ID),
            ("client_secret", c::ACUMATICA_CLIENT_SECRET),
            ("username", c::ACUMATICA_USERNAME),
            ("password", c::ACUMATICA_PASSWORD),
            ("scope", "api"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token body");
    let token = token["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();

    for (label, query) in [
        ("headers only", "JournalTransaction"),
        ("with $expand=Details", "JournalTransaction?$expand=Details"),
        (
            "filtered on LastModifiedDateTime",
            "JournalTransaction?$expand=Details&$filter=LastModifiedDateTime%20gt%20datetimeoffset'2026-05-01T00%3A00%3A00%2B00%3A00'",
        ),
    ] {
        let t = Instant::now();
        let resp = http
            .get(format!("{}{query}", fake.endpoint_url("24.200.001")))
            .bearer_auth(&token)
            .send()
            .await
            .expect("list");
        let mut bytes = 0usize;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            bytes += chunk.expect("chunk").len();
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{label:>34}: {:>8.1} MB in {secs:>6.2} s = {:>7.1} MB/s",
            bytes as f64 / 1e6,
            bytes as f64 / 1e6 / secs
        );
    }

    let t = Instant::now();
    let mut rows = 0usize;
    for page in 0.. {
        let v: serde_json::Value = http
            .get(format!(
                "{}JournalTransaction?$top=1000&$skip={}",
                fake.endpoint_url("24.200.001"),
                page * 1000
            ))
            .bearer_auth(&token)
            .send()
            .await
            .expect("page")
            .json()
            .await
            .expect("page body");
        let got = v.as_array().map_or(0, Vec::len);
        rows += got;
        if got < 1000 {
            break;
        }
    }
    println!(
        "paged {rows} records by $top=1000/$skip in {:.2?}",
        t.elapsed()
    );
}
