//! Looker fake: large results stream; the server never holds them whole.

mod looker_support;

use std::time::Duration;

use looker_support::Looker;
use serde_json::json;
use testkit::looker::LookerConfig;

const MILLION: u64 = 1_000_000;

fn everything() -> serde_json::Value {
    json!({"model": "finance", "view": "gl_lines",
           "fields": ["gl_lines.id", "gl_lines.posting_date", "gl_lines.branch", "gl_lines.account",
                      "gl_lines.subaccount", "gl_lines.amount"],
           "sorts": ["gl_lines.id"], "limit": "-1"})
}

#[tokio::test]
async fn a_million_row_result_starts_before_it_is_generated_and_stops_when_dropped() {
    let l = Looker::start(LookerConfig::default().with_gl_lines_rows(MILLION)).await;
    let mut resp = l.post("/queries/run/csv", &everything()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.content_length(),
        None,
        "a streamed body has no Content-Length"
    );
    let first = resp.chunk().await.unwrap().expect("a first chunk");
    assert!(first.starts_with(b"GL Lines ID,GL Lines Posting Date,"));
    // The client has read one chunk and stopped: the server is bounded by
    // socket buffers, far from the whole million rows.
    let c = l.fake.counters();
    assert!(
        c.rows_generated > 0 && c.rows_generated < MILLION / 2,
        "{c:?}"
    );
    assert_eq!(c.active_streams, 1);
    assert_eq!(c.streams_finished, 0);
    drop(resp);
    // The server notices the closed connection and drops the generator.
    for _ in 0..500 {
        if l.fake.counters().streams_aborted == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let c = l.fake.counters();
    assert_eq!(c.streams_aborted, 1, "{c:?}");
    assert_eq!(c.active_streams, 0);
    assert!(c.rows_generated < MILLION / 2, "{c:?}");
}

#[tokio::test]
async fn a_streamed_result_arrives_whole_in_chunks() {
    let rows = 30_001;
    let l = Looker::start(LookerConfig::default().with_gl_lines_rows(rows)).await;
    let mut resp = l.post("/queries/run/json", &everything()).await;
    assert_eq!(resp.status(), 200);
    let mut body = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = resp.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
        chunks += 1;
    }
    assert!(chunks > 10, "{chunks} chunks");
    let parsed: Vec<serde_json::Value> =
        serde_json::from_slice(&body).expect("one valid JSON array");
    assert_eq!(parsed.len() as u64, rows);
    assert_eq!(parsed.last().unwrap()["gl_lines.id"], rows);
    let c = l.fake.counters();
    assert_eq!(c.rows_served, rows);
    assert_eq!(c.rows_generated, rows);
    assert_eq!(c.bytes_served, body.len() as u64);
    assert_eq!(
        (c.streams_finished, c.streams_aborted, c.active_streams),
        (1, 0, 0)
    );
}
