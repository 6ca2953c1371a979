use super::*;
use futures::TryStreamExt;
use serde::Deserialize;

fn chunks_of(data: &[u8], sizes: &[usize]) -> Vec<Result<Bytes>> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < data.len() {
        let n = sizes[i % sizes.len()].max(1).min(data.len() - pos);
        out.push(Ok(Bytes::copy_from_slice(&data[pos..pos + n])));
        pos += n;
        i += 1;
    }
    out
}

async fn decode<T: DeserializeOwned + Send + 'static>(
    format: ResultFormat,
    chunks: Vec<Result<Bytes>>,
    limits: Limits,
) -> (Result<Vec<T>>, RowStream<T>) {
    let mut s = RowStream::<T>::new(format, futures::stream::iter(chunks), limits);
    let mut out = Vec::new();
    loop {
        match s.try_next().await {
            Ok(Some(r)) => out.push(r),
            Ok(None) => return (Ok(out), s),
            Err(e) => return (Err(e), s),
        }
    }
}

async fn rows(format: ResultFormat, data: &[u8], sizes: &[usize]) -> Result<Vec<Row>> {
    decode::<Row>(format, chunks_of(data, sizes), Limits::unlimited())
        .await
        .0
}

const JSON: &str = r#" [ {"a.s": "x,]}\"{[", "a.n": 1.10, "a.o": {"k": [1, {"z": "]"}]}},
    {"a.s": "back\\slash\\", "a.n": -2e3, "a.o": null} ,{"a.s":"ünï\u00e9", "a.n": 12345678901234567890.123, "a.o": []}]
"#;

#[tokio::test]
async fn json_rows_are_identical_for_every_chunking() {
    let whole = rows(ResultFormat::Json, JSON.as_bytes(), &[usize::MAX])
        .await
        .unwrap();
    assert_eq!(whole.len(), 3);
    assert_eq!(whole[0]["a.s"], "x,]}\"{[");
    assert_eq!(whole[1]["a.s"], "back\\slash\\");
    assert_eq!(whole[2]["a.s"], "ünïé");
    // arbitrary precision: every digit kept.
    assert_eq!(whole[2]["a.n"].to_string(), "12345678901234567890.123");
    assert_eq!(whole[0]["a.n"].to_string(), "1.10");
    for size in 1..=JSON.len() {
        let split = rows(ResultFormat::Json, JSON.as_bytes(), &[size])
            .await
            .unwrap();
        assert_eq!(split, whole, "chunk size {size}");
    }
    // Irregular chunk sizes, including a split right after a backslash.
    let split = rows(ResultFormat::Json, JSON.as_bytes(), &[1, 7, 2, 13, 3])
        .await
        .unwrap();
    assert_eq!(split, whole);
}

#[tokio::test]
async fn json_scalars_and_empty_arrays() {
    let r: Vec<serde_json::Value> = decode(
        ResultFormat::Json,
        chunks_of(br#"[1, "two", true, null, [3], -4.5]"#, &[2]),
        Limits::unlimited(),
    )
    .await
    .0
    .unwrap();
    assert_eq!(
        r,
        serde_json::json!([1, "two", true, null, [3], -4.5])
            .as_array()
            .unwrap()
            .clone()
    );
    assert!(
        rows(ResultFormat::Json, b"[]", &[1])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        rows(ResultFormat::Json, b"\xEF\xBB\xBF [ ] \n", &[1])
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn malformed_json_results_are_errors() {
    let e = rows(ResultFormat::Json, br#"{"message": "boom"}"#, &[64])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Decode);
    assert!(
        e.to_string()
            .contains("expected the result to be a JSON array"),
        "{e}"
    );
    assert!(e.to_string().contains(r#"{"message": "boom"}"#), "{e}");

    let e = rows(ResultFormat::Json, br#"[{"a": 1}, {"a": 2"#, &[3])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport);
    assert!(e.to_string().contains("ended early after 1 rows"), "{e}");

    let e = rows(ResultFormat::Json, br#"[{"a": 1},]"#, &[3])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("comma is followed by `]`"), "{e}");

    let e = rows(ResultFormat::Json, br#"[{"a": 1}] x"#, &[3])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("after the end"), "{e}");

    let e = rows(ResultFormat::Json, br#"[{"a": 1} {"a": 2}]"#, &[3])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("expected `,` or `]`"), "{e}");
}

#[derive(Debug, Deserialize, PartialEq)]
struct Order {
    #[serde(rename = "orders.id")]
    id: u64,
    #[serde(rename = "orders.total")]
    total: rust_decimal::Decimal,
    #[serde(rename = "orders.note", default)]
    note: Option<String>,
}

#[tokio::test]
async fn typed_json_rows_and_decode_error_paths() {
    let data = br#"[{"orders.id": 1, "orders.total": 10.25},
                    {"orders.id": 2, "orders.total": 0.10, "orders.note": "x"},
                    {"orders.id": "three", "orders.total": 1}]"#;
    let (out, s) = decode::<Order>(
        ResultFormat::Json,
        chunks_of(data, &[5]),
        Limits::unlimited(),
    )
    .await;
    let e = out.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Decode);
    assert_eq!(e.decode_path(), Some("[2].orders.id"));
    assert!(e.to_string().contains("row 3 of the result"), "{e}");
    assert_eq!(s.rows_read(), 2);

    let (out, _) = decode::<Order>(
        ResultFormat::Json,
        chunks_of(&data[..data.len() - 60], &[5]),
        Limits::unlimited(),
    )
    .await;
    // Cut in the middle: the two complete rows come first, then the error.
    assert!(out.is_err());
    let good =
        br#"[{"orders.id": 1, "orders.total": 10.25}, {"orders.id": 2, "orders.total": 0.10}]"#;
    let (out, _) = decode::<Order>(
        ResultFormat::Json,
        chunks_of(good, &[3]),
        Limits::unlimited(),
    )
    .await;
    let out = out.unwrap();
    assert_eq!(out[1].total.to_string(), "0.10", "decimals stay exact");
}

#[tokio::test]
async fn csv_quoting_edge_cases() {
    let data = "orders.id,Orders Note,orders.total\r\n\
                1,\"comma, inside\",1.50\r\n\
                2,\"quote \"\"inside\"\"\",2\r\n\
                3,\"line\nbreak\r\nand crlf\",\r\n\
                4,,\"\"\r\n\
                5,ünïcödé,  7  \n\
                6,\"last, no newline\",8";
    let whole = rows(ResultFormat::Csv, data.as_bytes(), &[usize::MAX])
        .await
        .unwrap();
    assert_eq!(whole.len(), 6);
    assert_eq!(whole[0]["Orders Note"], "comma, inside");
    assert_eq!(whole[1]["Orders Note"], "quote \"inside\"");
    assert_eq!(whole[2]["Orders Note"], "line\nbreak\r\nand crlf");
    assert_eq!(whole[2]["orders.total"], serde_json::Value::Null);
    assert_eq!(whole[3]["Orders Note"], serde_json::Value::Null);
    assert_eq!(whole[4]["Orders Note"], "ünïcödé");
    assert_eq!(whole[4]["orders.total"], "  7  ");
    assert_eq!(whole[5]["Orders Note"], "last, no newline");
    assert_eq!(whole[5]["orders.id"], "6");
    for size in 1..=data.len() {
        let split = rows(ResultFormat::Csv, data.as_bytes(), &[size])
            .await
            .unwrap();
        assert_eq!(split, whole, "chunk size {size}");
    }
}

#[tokio::test]
async fn typed_csv_rows() {
    #[derive(Debug, Deserialize, PartialEq)]
    struct R {
        #[serde(rename = "Orders ID")]
        id: u64,
        #[serde(rename = "Orders Total")]
        total: Option<rust_decimal::Decimal>,
        #[serde(rename = "Orders Note")]
        note: String,
    }
    let data = b"Orders ID,Orders Total,Orders Note\n1,12.30,\"a, b\"\n2,,\"\"\"q\"\"\"\n";
    let (out, s) = decode::<R>(
        ResultFormat::Csv,
        chunks_of(data, &[4]),
        Limits::unlimited(),
    )
    .await;
    let out = out.unwrap();
    assert_eq!(out[0].total.unwrap().to_string(), "12.30");
    assert_eq!(out[0].note, "a, b");
    assert_eq!(out[1].total, None);
    assert_eq!(out[1].note, "\"q\"");
    assert_eq!(s.rows_read(), 2);

    let bad = b"Orders ID,Orders Total,Orders Note\n1,1,x\nx2,1,y\n";
    let (out, _) = decode::<R>(ResultFormat::Csv, chunks_of(bad, &[4]), Limits::unlimited()).await;
    let e = out.unwrap_err();
    assert_eq!(e.decode_path(), Some("[1].Orders ID"));
    assert!(e.to_string().contains("row 2"), "{e}");

    let ragged = b"a,b\n1,2\n3\n";
    let e = rows(ResultFormat::Csv, ragged, &[2]).await.unwrap_err();
    assert!(
        e.to_string().contains("has 1 fields but the header has 2"),
        "{e}"
    );
}

#[tokio::test]
async fn txt_is_tab_separated_without_quoting() {
    let data = b"a.x\ta.y\n\"quoted\"\tplain, comma\n";
    let r = rows(ResultFormat::Txt, data, &[3]).await.unwrap();
    assert_eq!(r[0]["a.x"], "\"quoted\"");
    assert_eq!(r[0]["a.y"], "plain, comma");
}

fn limits(limit: i64, allow: bool) -> Limits {
    Limits {
        limit: Some(limit),
        allow_truncation: allow,
        what: "the test query".into(),
    }
}

#[tokio::test]
async fn reaching_the_row_limit_is_an_error_or_a_flag() {
    let data = b"[{\"a\":1},{\"a\":2},{\"a\":3}]";
    let (out, s) = decode::<Row>(ResultFormat::Json, chunks_of(data, &[4]), limits(3, false)).await;
    let e = out.unwrap_err();
    assert!(e.is_truncated());
    assert_eq!(e.row_limit(), Some(3));
    assert!(
        e.to_string()
            .contains("returned 3 rows, which reaches its row limit of 3"),
        "{e}"
    );
    assert_eq!(
        s.rows_read(),
        3,
        "all rows were handed out before the error"
    );

    let (out, s) = decode::<Row>(ResultFormat::Json, chunks_of(data, &[4]), limits(3, true)).await;
    assert_eq!(out.unwrap().len(), 3);
    assert!(s.is_possibly_truncated());
    assert!(s.is_finished());

    let (out, s) = decode::<Row>(ResultFormat::Json, chunks_of(data, &[4]), limits(4, false)).await;
    assert_eq!(out.unwrap().len(), 3);
    assert!(!s.is_possibly_truncated());

    let (out, _) =
        decode::<Row>(ResultFormat::Json, chunks_of(data, &[4]), limits(-1, false)).await;
    assert_eq!(out.unwrap().len(), 3, "-1 is unlimited");

    // CSV: the header does not count; a last row without newline does.
    let csv = b"h\n1\n2";
    let (out, _) = decode::<Row>(ResultFormat::Csv, chunks_of(csv, &[1]), limits(2, false)).await;
    assert!(out.unwrap_err().is_truncated());
}

/// A body produced on demand, so the whole result never exists in memory:
/// `rows` JSON rows of ~100 bytes in chunks of `chunk` bytes.
fn generated_json(rows: u64, chunk: usize) -> impl Stream<Item = Result<Bytes>> + Send {
    let mut next = 0u64;
    let mut pending: Vec<u8> = b"[".to_vec();
    let mut ended = false;
    futures::stream::poll_fn(move |_| {
        while pending.len() < chunk && !ended {
            if next == rows {
                pending.push(b']');
                ended = true;
                break;
            }
            if next > 0 {
                pending.push(b',');
            }
            pending.extend_from_slice(
                format!(
                    "{{\"orders.id\":{next},\"orders.total\":{}.{:02},\"orders.note\":\"row \\\"{next}\\\" of many\"}}",
                    next % 1000,
                    next % 100
                )
                .as_bytes(),
            );
            next += 1;
        }
        if pending.is_empty() {
            return std::task::Poll::Ready(None);
        }
        let n = pending.len().min(chunk);
        let out: Vec<u8> = pending.drain(..n).collect();
        std::task::Poll::Ready(Some(Ok(Bytes::from(out))))
    })
}

#[tokio::test]
async fn large_bodies_stream_with_memory_bounded_by_one_row() {
    const ROWS: u64 = 200_000;
    // 4099-byte chunks split rows at every possible offset over the run.
    let mut s = RowStream::<Order>::new(
        ResultFormat::Json,
        generated_json(ROWS, 4099),
        Limits::unlimited(),
    );
    let mut count = 0u64;
    let mut sum = rust_decimal::Decimal::ZERO;
    while let Some(o) = s.try_next().await.unwrap() {
        assert_eq!(o.id, count);
        sum += o.total;
        count += 1;
    }
    assert_eq!(count, ROWS);
    assert!(sum > rust_decimal::Decimal::ZERO);
    // About 20 MB went through; the decoder never held more than a row's
    // worth (rows are ~90 bytes; the carry buffer's capacity grows by
    // doubling, so allow a small multiple).
    assert!(
        s.max_buffered_bytes() <= 512,
        "decoder held {} bytes",
        s.max_buffered_bytes()
    );
}

#[tokio::test]
async fn rows_are_handed_out_before_the_body_ends() {
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Bytes>>();
    let mut s = RowStream::<Row>::new(ResultFormat::Csv, rx, Limits::unlimited());
    tx.unbounded_send(Ok(Bytes::from_static(b"a,b\n1,2\n3,")))
        .unwrap();
    let first = s.try_next().await.unwrap().unwrap();
    assert_eq!(first["a"], "1");
    assert!(!s.is_finished());
    tx.unbounded_send(Ok(Bytes::from_static(b"4\n"))).unwrap();
    drop(tx);
    let second = s.try_next().await.unwrap().unwrap();
    assert_eq!(second["b"], "4");
    assert!(s.try_next().await.unwrap().is_none());
    assert!(s.is_finished());
}

#[tokio::test]
async fn a_body_error_ends_the_stream() {
    let chunks = vec![
        Ok(Bytes::from_static(b"[{\"a\":1},")),
        Err(Error::new(ErrorKind::Transport, "connection reset")),
        Ok(Bytes::from_static(b"{\"a\":2}]")),
    ];
    let mut s = RowStream::<Row>::new(
        ResultFormat::Json,
        futures::stream::iter(chunks),
        Limits::unlimited(),
    );
    assert!(s.try_next().await.unwrap().is_some());
    let e = s.try_next().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport);
    assert!(
        s.try_next().await.unwrap().is_none(),
        "nothing after an error"
    );
}

#[tokio::test]
async fn other_formats_cannot_stream() {
    let mut s = RowStream::<Row>::new(
        ResultFormat::JsonBi,
        futures::stream::empty(),
        Limits::unlimited(),
    );
    let e = s.try_next().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
}

#[tokio::test]
async fn a_cell_that_is_not_utf8_is_named() {
    let e = rows(ResultFormat::Csv, b"a,b\n1,\xff\xfe\n", &[3])
        .await
        .unwrap_err();
    assert_eq!(e.decode_path(), Some("[0].b"));
    assert!(e.to_string().contains("not UTF-8"), "{e}");
}

async fn compact(format: ResultFormat, data: &[u8], sizes: &[usize]) -> Result<Vec<CompactRow>> {
    decode::<CompactRow>(format, chunks_of(data, sizes), Limits::unlimited())
        .await
        .0
}

#[tokio::test]
async fn compact_json_rows_match_the_generic_rows_for_every_chunking() {
    let generic = rows(ResultFormat::Json, JSON.as_bytes(), &[usize::MAX])
        .await
        .unwrap();
    for size in 1..=JSON.len() {
        let split = compact(ResultFormat::Json, JSON.as_bytes(), &[size])
            .await
            .unwrap();
        let as_maps: Vec<Row> = split.iter().map(CompactRow::to_map).collect();
        assert_eq!(as_maps, generic, "chunk size {size}");
        // Rows of one shape share one list of columns.
        assert!(
            split[0].columns().same(split[2].columns()),
            "chunk size {size}"
        );
    }
    let whole = compact(ResultFormat::Json, JSON.as_bytes(), &[usize::MAX])
        .await
        .unwrap();
    // Numbers are their exact text, strings unescaped, objects their JSON text.
    let n = whole[2].get("a.n").unwrap();
    assert_eq!(
        (n.kind(), n.text()),
        (CellKind::Number, "12345678901234567890.123")
    );
    assert_eq!(whole[1].get("a.n").unwrap().text(), "-2e3");
    assert_eq!(whole[0].get("a.s").unwrap().text(), "x,]}\"{[");
    assert_eq!(whole[2].get("a.s").unwrap().text(), "ünïé");
    let o = whole[0].get("a.o").unwrap();
    assert_eq!(
        (o.kind(), o.text()),
        (CellKind::Json, r#"{"k": [1, {"z": "]"}]}"#)
    );
    assert!(whole[1].get("a.o").unwrap().is_null());
    assert_eq!(
        whole[0]
            .try_get::<rust_decimal::Decimal>("a.n")
            .unwrap()
            .to_string(),
        "1.10"
    );
    assert_eq!(
        whole[1]
            .try_get::<rust_decimal::Decimal>("a.n")
            .unwrap()
            .to_string(),
        "-2000"
    );
}

#[tokio::test]
async fn compact_rows_of_another_shape_get_their_own_columns() {
    let data = br#"[{"a": 1, "b": "x"}, {"b": "y", "a": 2}, {"b": "z", "a": 3}, {"a": 4}, {}]"#;
    let got = compact(ResultFormat::Json, data, &[5]).await.unwrap();
    assert_eq!(got.len(), 5);
    assert_eq!(got[1].try_get::<i64>("a").unwrap(), 2);
    assert_eq!(got[1].columns().iter().collect::<Vec<_>>(), ["b", "a"]);
    assert!(got[1].columns().same(got[2].columns()));
    assert!(!got[0].columns().same(got[1].columns()));
    assert_eq!(got[3].len(), 1);
    assert!(got[4].is_empty());
    let escaped = br#"[{"a\u0062": "\ud83d\ude00\n\t\/"}]"#;
    let got = compact(ResultFormat::Json, escaped, &[3]).await.unwrap();
    assert_eq!(got[0].get("ab").unwrap().text(), "\u{1F600}\n\t/");
}

#[tokio::test]
async fn malformed_compact_json_rows_are_errors_naming_the_row_and_field() {
    for (data, says) in [
        (
            &br#"[{"a": 1}, {"a": 01}]"#[..],
            "row 2 of the result cannot be decoded at `[1].a`: an invalid number",
        ),
        (br#"[{"a": 1}, {"a": tru}]"#, "[1].a`: an invalid literal"),
        (br#"[{"a": "\x"}]"#, "[0].a`: an invalid escape"),
        (br#"[{"a" 1}]"#, "expected `:`"),
        (br#"[{"a": 1 "b": 2}]"#, "expected `,` or `}`"),
        (br#"[[1, 2]]"#, "the row is not a JSON object"),
        (br#"["x"]"#, "the row is not a JSON object"),
    ] {
        for size in [1, 4, 64] {
            let e = compact(ResultFormat::Json, data, &[size])
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Decode, "{e}");
            assert!(e.to_string().contains(says), "{size}: {e}");
        }
    }
    let e = compact(ResultFormat::Json, br#"[{"a": 1}, {"a": 2"#, &[3])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("ended early after 1 rows"), "{e}");
}

#[tokio::test]
async fn compact_csv_rows_share_the_header() {
    let data = b"Orders ID,Orders Total,Note\n1,1.10,\"a,b\"\n2,,\n";
    for size in [1, 3, 100] {
        let got = compact(ResultFormat::Csv, data, &[size]).await.unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].get("Note").unwrap().text(), "a,b");
        assert_eq!(
            got[0]
                .try_get::<rust_decimal::Decimal>("Orders Total")
                .unwrap()
                .to_string(),
            "1.10"
        );
        assert!(got[1].get("Orders Total").unwrap().is_null());
        assert_eq!(got[1].try_get::<Option<u64>>("Orders Total").unwrap(), None);
        let e = got[1].try_get::<u64>("Orders Total").unwrap_err();
        assert!(
            e.to_string().contains("column `Orders Total`") && e.to_string().contains("null"),
            "{e}"
        );
        assert!(got[0].columns().same(got[1].columns()));
    }
    let tsv = compact(ResultFormat::Txt, b"a\tb\n1\t\"x\n", &[2])
        .await
        .unwrap();
    assert_eq!(tsv[0].get("b").unwrap().text(), "\"x");
}
