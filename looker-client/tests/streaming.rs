//! Streaming over real HTTP: rows arrive before the body ends, and a large
//! body generated on the fly passes through with memory bounded by a row.
//!
//! wiremock sends whole bodies, so these tests use a minimal HTTP/1.1 server
//! on a loopback socket that writes a chunked body piece by piece.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::TryStreamExt;
use looker_client::{Client, ResultFormat, Row, RunOptions, WriteQuery};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// Reads one request head and body; returns the request line.
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
                let mut tmp = [0u8; 4096];
                let n = sock.read(&mut tmp).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&tmp[..n]);
            }
            buf.drain(..end + 4 + len);
            return head.lines().next().map(str::to_owned);
        }
        let mut tmp = [0u8; 4096];
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
}

async fn write_chunk(sock: &mut TcpStream, data: &[u8]) -> std::io::Result<()> {
    sock.write_all(format!("{:x}\r\n", data.len()).as_bytes())
        .await?;
    sock.write_all(data).await?;
    sock.write_all(b"\r\n").await
}

/// Serves login and one streamed result: `body` produces the chunks.
async fn serve<F, Fut>(body: F) -> String
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = Arc::new(body);
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while let Some(line) = read_request(&mut sock, &mut buf).await {
                    if line.starts_with("POST /api/4.0/login") {
                        let json =
                            br#"{"access_token":"T1","token_type":"Bearer","expires_in":3600}"#;
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                            json.len()
                        );
                        sock.write_all(head.as_bytes()).await.unwrap();
                        sock.write_all(json).await.unwrap();
                    } else {
                        sock.write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
                        )
                        .await
                        .unwrap();
                        body(sock).await;
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

fn client(uri: &str) -> Client {
    Client::builder(uri)
        .credentials(common::CLIENT_ID, common::CLIENT_SECRET)
        .build()
        .unwrap()
}

fn query() -> WriteQuery {
    WriteQuery::new("shop", "orders")
        .fields(["orders.id"])
        .with_limit(-1)
}

#[tokio::test]
async fn the_first_row_arrives_before_the_body_ends() {
    let go = Arc::new(Notify::new());
    let rest_sent = Arc::new(AtomicBool::new(false));
    let (g, r) = (go.clone(), rest_sent.clone());
    let uri = serve(move |mut sock| {
        let (go, rest_sent) = (g.clone(), r.clone());
        async move {
            write_chunk(&mut sock, br#"[{"orders.id": 1}, {"orders.id""#)
                .await
                .unwrap();
            sock.flush().await.unwrap();
            go.notified().await;
            rest_sent.store(true, Ordering::SeqCst);
            write_chunk(&mut sock, br#": 2}]"#).await.unwrap();
            sock.write_all(b"0\r\n\r\n").await.unwrap();
        }
    })
    .await;
    let mut rows = client(&uri)
        .run_inline_query_rows::<Row>(&query(), ResultFormat::Json, &RunOptions::new())
        .await
        .unwrap();
    let first = rows.try_next().await.unwrap().unwrap();
    assert_eq!(first["orders.id"], 1);
    assert!(
        !rest_sent.load(Ordering::SeqCst),
        "the row came while the server held the rest back"
    );
    go.notify_one();
    let second = rows.try_next().await.unwrap().unwrap();
    assert_eq!(second["orders.id"], 2);
    assert!(rows.try_next().await.unwrap().is_none());
}

#[tokio::test]
async fn a_large_body_streams_in_bounded_memory() {
    const ROWS: u64 = 200_000;
    let uri = serve(|mut sock| async move {
        // Generated piece by piece: the whole body never exists anywhere.
        let mut piece = Vec::with_capacity(64 * 1024);
        piece.push(b'[');
        for i in 0..ROWS {
            if i > 0 {
                piece.push(b',');
            }
            piece.extend_from_slice(
                format!(
                    r#"{{"orders.id":{i},"orders.note":"row {i}, with \"quotes\" and, commas"}}"#
                )
                .as_bytes(),
            );
            if piece.len() > 60_000 {
                write_chunk(&mut sock, &piece).await.unwrap();
                piece.clear();
            }
        }
        piece.push(b']');
        write_chunk(&mut sock, &piece).await.unwrap();
        sock.write_all(b"0\r\n\r\n").await.unwrap();
    })
    .await;
    #[derive(serde::Deserialize)]
    struct R {
        #[serde(rename = "orders.id")]
        id: u64,
        #[serde(rename = "orders.note")]
        note: String,
    }
    let mut rows = client(&uri)
        .run_inline_query_rows::<R>(&query(), ResultFormat::Json, &RunOptions::new())
        .await
        .unwrap();
    let mut n = 0;
    while let Some(r) = rows.try_next().await.unwrap() {
        assert_eq!(r.id, n);
        n += 1;
        if n == 1 {
            assert!(r.note.contains("\"quotes\""));
        }
    }
    assert_eq!(n, ROWS);
    // ~20 MB passed through; between chunks the decoder held at most a
    // row's worth (rows are ~70 bytes; allow for buffer growth by doubling).
    assert!(
        rows.max_buffered_bytes() <= 512,
        "held {} bytes",
        rows.max_buffered_bytes()
    );
}
