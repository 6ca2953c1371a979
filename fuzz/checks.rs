//! The properties the fuzz targets check, shared with the regression suite.
//!
//! Each `check_*` function takes the raw fuzz input and panics (through
//! `assert!`) when a property fails. The fuzz targets in `fuzz_targets/`
//! call them under libFuzzer; `tests/tests/fuzz_regressions.rs` includes this
//! same file and replays every file of `fuzz/corpus/<target>/` and
//! `fuzz/artifacts/<target>/` through them in the normal (stable) test suite.
//!
//! Only public API of the crates is used.

use std::str::FromStr;

use acumatica_client::entity::{
    Account, Bill, Check, FinancialPeriod, JournalTransaction, JournalTransactionDetail, Ledger,
    NonStockItem, PurchaseOrder, StockItem, Subaccount, Vendor,
};
use acumatica_client::filter::{Filter, Literal};
use acumatica_client::value::Timestamp;
use acumatica_client::{DynamicEntity, ListQuery};
use chrono::{DateTime, FixedOffset, TimeZone};
use rust_decimal::Decimal;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

// ---------------------------------------------------------------------------
// Acumatica entity decoding
// ---------------------------------------------------------------------------

/// Decodes `data` as one typed entity: never panics; a record that decodes
/// serializes, and its serialization decodes to the same record again
/// (what a read-modify-write does).
fn entity_round_trip<T>(data: &[u8])
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let Ok(record) = serde_json::from_slice::<T>(data) else {
        return;
    };
    let _ = format!("{record:?}");
    let wire = serde_json::to_vec(&record).expect("a decoded entity serializes");
    let again: T = serde_json::from_slice(&wire)
        .unwrap_or_else(|e| panic!("re-decoding our own serialization failed: {e}"));
    assert_eq!(again, record, "entity changed through serialize + decode");
    // And the wire form is stable from then on.
    let wire2 = serde_json::to_vec(&again).expect("serializes");
    assert_eq!(
        serde_json::from_slice::<Json>(&wire).unwrap(),
        serde_json::from_slice::<Json>(&wire2).unwrap()
    );
}

/// Fuzz target `acumatica_entity`: arbitrary bytes as every typed entity,
/// a list of them, and a [`DynamicEntity`] with typed field access.
pub fn check_acumatica_entity(data: &[u8]) {
    entity_round_trip::<JournalTransaction>(data);
    entity_round_trip::<JournalTransactionDetail>(data);
    entity_round_trip::<Vec<JournalTransaction>>(data);
    entity_round_trip::<Bill>(data);
    entity_round_trip::<Check>(data);
    entity_round_trip::<Vendor>(data);
    entity_round_trip::<Account>(data);
    entity_round_trip::<Subaccount>(data);
    entity_round_trip::<Ledger>(data);
    entity_round_trip::<FinancialPeriod>(data);
    entity_round_trip::<StockItem>(data);
    entity_round_trip::<NonStockItem>(data);
    entity_round_trip::<PurchaseOrder>(data);

    if let Ok(entity) = serde_json::from_slice::<DynamicEntity>(data) {
        let _ = (entity.id(), entity.error(), format!("{entity:?}"));
        for name in entity.as_map().keys() {
            let _ = entity.get::<String>(name);
            let _ = entity.get::<Decimal>(name);
            let _ = entity.get::<bool>(name);
            let _ = entity.get::<i64>(name);
            let _ = entity.get::<Timestamp>(name);
            let _ = entity.get::<Json>(name);
            let _ = entity.get_str(name);
            for line in entity.details(name) {
                let _ = line.get::<Decimal>("Amount");
            }
            // A decimal that decodes keeps its value when written again.
            if let Ok(Some(d)) = entity.get::<Decimal>(name) {
                let mut copy = DynamicEntity::new();
                copy.set("X", d);
                assert_eq!(copy.get::<Decimal>("X").unwrap(), Some(d));
                let text = serde_json::to_string(&copy).unwrap();
                let back: DynamicEntity = serde_json::from_str(&text).unwrap();
                // Equal in value (the client writes decimals normalized: 12.50 as 12.5).
                let got = back.get::<Decimal>("X").unwrap().unwrap();
                assert_eq!(got, d, "value changed through {text}");
            }
        }
        let text = serde_json::to_string(&entity).expect("serializes");
        let back: DynamicEntity = serde_json::from_str(&text).expect("re-decodes");
        assert_eq!(back, entity);
    }

    // The lenient timestamp parser: never panics; what it reads, it writes
    // in a form it reads back to the same instant.
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(ts) = Timestamp::from_str(text)
    {
        let shown = ts.to_string();
        let again = Timestamp::from_str(&shown).unwrap_or_else(|e| {
            panic!("{text:?} parsed, but its display {shown:?} did not: {e:?}")
        });
        assert_eq!(again.local(), ts.local(), "{text:?} -> {shown:?}");
        assert_eq!(again.offset(), ts.offset(), "{text:?} -> {shown:?}");
    }
}

// ---------------------------------------------------------------------------
// 422 error walking (through the public client, against a local server)
// ---------------------------------------------------------------------------

/// The field errors a 422 body should produce, by an independent reading of
/// FACTS section 5/7: every non-blank `error` string of the record, its
/// fields, detail lines, linked entities and custom fields (never under
/// `_links`), with its path; when there is none, the `modelState` messages.
pub fn expected_field_errors(json: &Json) -> Vec<(String, String)> {
    fn walk(json: &Json, path: &str, out: &mut Vec<(String, String)>) {
        match json {
            Json::Object(map) => {
                if let Some(Json::String(e)) = map.get("error")
                    && !e.trim().is_empty()
                {
                    out.push((path.to_owned(), e.trim().to_owned()));
                }
                for (k, v) in map {
                    if k == "error" || k == "_links" {
                        continue;
                    }
                    let child = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(v, &child, out);
                }
            }
            Json::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(json, "", &mut out);
    if out.is_empty()
        && let Some(Json::Object(state)) = json.get("modelState")
    {
        for (path, messages) in state {
            for m in messages.as_array().into_iter().flatten() {
                if let Some(m) = m.as_str() {
                    out.push((path.clone(), m.to_owned()));
                }
            }
        }
    }
    out
}

/// A minimal HTTP/1.1 server on a local port that answers every request
/// with the status and body currently set (keep-alive, one thread per
/// connection). Fast enough for fuzzing the client's error decoding through
/// its public API, since the walker itself is private.
pub mod reply_server {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};

    /// The reply the server sends next.
    #[derive(Clone, Default)]
    pub struct Reply {
        /// HTTP status.
        pub status: u16,
        /// Body bytes (sent with `Content-Type: application/json`).
        pub body: Vec<u8>,
    }

    /// A running server.
    pub struct ReplyServer {
        /// `http://127.0.0.1:port`
        pub url: String,
        reply: Arc<Mutex<Reply>>,
    }

    impl ReplyServer {
        /// Starts the server on a free port.
        pub fn start() -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let url = format!("http://{}", listener.local_addr().unwrap());
            let reply = Arc::new(Mutex::new(Reply::default()));
            let shared = reply.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let shared = shared.clone();
                    std::thread::spawn(move || serve(stream, &shared));
                }
            });
            Self { url, reply }
        }

        /// Sets what the next requests get.
        pub fn set(&self, status: u16, body: &[u8]) {
            *self.reply.lock().unwrap() = Reply {
                status,
                body: body.to_vec(),
            };
        }
    }

    fn serve(stream: TcpStream, reply: &Mutex<Reply>) {
        let _ = stream.set_nodelay(true);
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut out = stream;
        loop {
            let mut length = 0usize;
            let mut line = String::new();
            // Request line, then headers up to the blank line.
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let trimmed = line.trim_end();
                if trimmed.is_empty() {
                    break;
                }
                if let Some((name, value)) = trimmed.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            let Reply { status, body } = reply.lock().unwrap().clone();
            let head = format!(
                "HTTP/1.1 {status} Fuzz\r\ncontent-type: application/json; charset=utf-8\r\n\
                 content-length: {}\r\n\r\n",
                body.len()
            );
            if out.write_all(head.as_bytes()).is_err() || out.write_all(&body).is_err() {
                return;
            }
        }
    }
}

struct Harness422 {
    runtime: tokio::runtime::Runtime,
    server: reply_server::ReplyServer,
    client: acumatica_client::Client,
}

fn harness_422() -> &'static Harness422 {
    static HARNESS: std::sync::OnceLock<Harness422> = std::sync::OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let server = reply_server::ReplyServer::start();
        let client = acumatica_client::Client::builder(server.url.clone())
            .endpoint_version("24.200.001")
            .retry_policy(acumatica_client::RetryPolicy::never())
            .build()
            .expect("client");
        Harness422 {
            runtime,
            server,
            client,
        }
    })
}

/// Fuzz target `acumatica_422`: arbitrary bytes as the body of a 422 (and a
/// 400) answer to a `PUT`. The client must give a validation error (never
/// panic) whose field errors are exactly the ones the body holds.
pub fn check_acumatica_422(data: &[u8]) {
    let h = harness_422();
    let json: Option<Json> = serde_json::from_slice(data).ok();
    let expected = json.as_ref().map(expected_field_errors).unwrap_or_default();
    for status in [422u16, 400] {
        h.server.set(status, data);
        let body = serde_json::json!({"Description": {"value": "fuzz"}});
        let err = h
            .runtime
            .block_on(h.client.put_json(
                "JournalTransaction",
                &body,
                acumatica_client::PutMode::Upsert,
                &ListQuery::new(),
            ))
            .expect_err("a 4xx answer is an error");
        assert_eq!(err.status(), Some(status), "{err}");
        assert!(
            !err.is_retryable(),
            "a rejected record is not retryable: {err}"
        );
        let got: Vec<(String, String)> = err
            .field_errors()
            .iter()
            .map(|e| (e.path.clone(), e.message.clone()))
            .collect();
        assert_eq!(
            got,
            expected,
            "field errors of {}",
            String::from_utf8_lossy(data)
        );
        let is_validation = matches!(err.kind(), acumatica_client::ErrorKind::Validation(_));
        if status == 422 || !expected.is_empty() {
            assert!(is_validation, "{status} gave {err:?}");
        }
        // Every field message is in the error's text, so a log line has them.
        let text = err.to_string();
        for (_, message) in &expected {
            assert!(
                text.contains(message.as_str()),
                "{message:?} missing from {text:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Looker row streaming
// ---------------------------------------------------------------------------

/// Chunk sizes from a seed (1..=max), deterministic.
fn chunk_sizes(seed: u64, max: usize) -> impl FnMut() -> usize {
    let mut state = seed | 1;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        1 + (state as usize) % max.max(1)
    }
}

/// Splits `data` into chunks with `next` giving each size.
pub fn split(data: &[u8], mut next: impl FnMut() -> usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = next().min(rest.len());
        out.push(rest[..n].to_vec());
        rest = &rest[n..];
    }
    out
}

/// What a stream gave: the rows up to the first error, and that error's
/// kind and message.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    /// Rows decoded before the stream ended.
    pub rows: Vec<looker_client::Row>,
    /// `Some((kind, message))` when it ended with an error.
    pub error: Option<(String, String)>,
}

/// Decodes `chunks` as a streamed result in `format` through the public
/// [`looker_client::RowStream::from_byte_stream`].
pub fn decode_chunks(format: looker_client::ResultFormat, chunks: Vec<Vec<u8>>) -> Outcome {
    use futures::StreamExt;
    let body = futures::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::from(c))),
    );
    let mut stream = looker_client::RowStream::<looker_client::Row>::from_byte_stream(format, body);
    let mut out = Outcome {
        rows: Vec::new(),
        error: None,
    };
    futures::executor::block_on(async {
        let mut guard = 0usize;
        while let Some(item) = stream.next().await {
            guard += 1;
            assert!(guard < 1_000_000, "the row stream does not end");
            match item {
                Ok(row) => out.rows.push(row),
                Err(e) => {
                    // The kind and whether it failed must agree; the message's
                    // preview of the offending bytes shows the current chunk.
                    out.error = Some((format!("{:?}", e.kind()), String::new()));
                    break;
                }
            }
        }
    });
    out
}

/// Fuzz target `looker_rows`: the first byte picks the format (JSON, CSV,
/// TXT) and seeds the chunking of the rest. Decoding the body in one chunk,
/// in arbitrary chunks and one byte at a time must give the same rows and
/// the same error; for JSON, a body `serde_json` reads as an array of
/// objects must stream as exactly those rows, and one it refuses must not
/// stream cleanly.
pub fn check_looker_rows(data: &[u8]) {
    use looker_client::ResultFormat;
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let format = match selector % 3 {
        0 => ResultFormat::Json,
        1 => ResultFormat::Csv,
        _ => ResultFormat::Txt,
    };
    let whole = decode_chunks(format, vec![body.to_vec()]);
    let seed = u64::from(selector) * 0x9E37_79B9 + body.len() as u64;
    let chunked = decode_chunks(
        format,
        split(body, chunk_sizes(seed, 1 + usize::from(selector % 61))),
    );
    assert_eq!(
        chunked, whole,
        "{format:?}: chunked decode differs from whole-buffer decode"
    );
    if body.len() <= 2048 {
        let bytewise = decode_chunks(format, split(body, || 1));
        assert_eq!(bytewise, whole, "{format:?}: byte-at-a-time decode differs");
    }
    if format == ResultFormat::Json {
        match serde_json::from_slice::<Vec<looker_client::Row>>(body) {
            Ok(rows) => {
                assert_eq!(
                    whole.error, None,
                    "serde_json reads it, the stream refused it"
                );
                assert_eq!(whole.rows, rows, "rows differ from serde_json's");
            }
            Err(e) => assert!(
                whole.error.is_some(),
                "serde_json refuses the body ({e}) but the stream gave {} rows and no error",
                whole.rows.len()
            ),
        }
    }
}

// ---------------------------------------------------------------------------
// $filter builder
// ---------------------------------------------------------------------------

/// A token of the OData filter text.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// A name, keyword or bare literal (`Description`, `eq`, `12.5M`, `true`).
    Word(String),
    /// `'...'` with `''` read as one quote.
    Str(String),
    /// `prefix'...'`, e.g. `datetimeoffset'2024-...'`.
    Typed(String, String),
    /// `(`, `)` or `,`.
    Punct(char),
}

/// A tiny reference tokenizer for the filter dialect; `Err` names the
/// position where the text is not well formed (an unterminated quote).
pub fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let read_quoted = |i: &mut usize| -> Result<String, String> {
        // chars[*i] is the opening quote.
        let start = *i;
        *i += 1;
        let mut s = String::new();
        loop {
            match chars.get(*i) {
                None => return Err(format!("unterminated string from {start}")),
                Some('\'') if chars.get(*i + 1) == Some(&'\'') => {
                    s.push('\'');
                    *i += 2;
                }
                Some('\'') => {
                    *i += 1;
                    return Ok(s);
                }
                Some(c) => {
                    s.push(*c);
                    *i += 1;
                }
            }
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c == ' ' {
            i += 1;
        } else if c == '(' || c == ')' || c == ',' {
            out.push(Token::Punct(c));
            i += 1;
        } else if c == '\'' {
            out.push(Token::Str(read_quoted(&mut i)?));
        } else {
            let start = i;
            while i < chars.len() && !" (),'".contains(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if chars.get(i) == Some(&'\'') {
                out.push(Token::Typed(word, read_quoted(&mut i)?));
            } else {
                out.push(Token::Word(word));
            }
        }
    }
    Ok(out)
}

/// Reads the `$filter` value back out of an encoded query string.
pub fn decoded_filter(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "$filter")
        .map(|(_, v)| v.into_owned())
}

/// Checks a built filter through the query-string encoder: only safe bytes
/// on the wire, and the decoded text is the filter's text.
fn check_encoded(filter: &Filter) -> String {
    let text = filter.to_string();
    let query = ListQuery::new().filter(filter.clone()).to_query_string();
    for b in query.bytes() {
        assert!(
            b.is_ascii_alphanumeric() || b"%-._~*=&$,/".contains(&b),
            "byte {:?} unencoded in {query:?}",
            b as char
        );
    }
    assert_eq!(
        decoded_filter(&query).as_deref(),
        Some(text.as_str()),
        "{query}"
    );
    text
}

/// A date-time with millisecond precision in years 1..=9999 and an offset
/// within +-14:00, from fuzz bytes.
pub fn datetime_from(bytes: &[u8]) -> DateTime<FixedOffset> {
    let mut b = [0u8; 12];
    for (dst, src) in b.iter_mut().zip(bytes) {
        *dst = *src;
    }
    let raw = i64::from_le_bytes(b[..8].try_into().unwrap());
    // Seconds from 0001-01-01 to 9999-12-31 (around 3.2e11).
    let min = -62_135_596_800i64;
    let max = 253_402_300_799i64 - 15 * 3600;
    let secs = min + 15 * 3600 + raw.rem_euclid(max - min - 15 * 3600);
    let millis = u32::from(u16::from_le_bytes([b[8], b[9]])) % 1000;
    let offset_min = i32::from(i16::from_le_bytes([b[10], b[11]])) % (14 * 60 + 1);
    let offset = FixedOffset::east_opt(offset_min * 60).unwrap();
    offset.timestamp_opt(secs, millis * 1_000_000).unwrap()
}

/// Fuzz target `filter_literal`: the input (split at NUL) gives string
/// literals; every builder form that takes a string must render them so a
/// reference tokenizer reads back exactly the same literals, and the query
/// string must encode and decode to the same text. The bytes also seed a
/// `datetimeoffset`, `date` and decimal literal that must read back exactly.
pub fn check_filter_literal(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let parts: Vec<&str> = text.split('\0').collect();
    let first = parts[0];

    // Single comparisons and functions.
    let forms: Vec<(Filter, Vec<Token>)> = vec![
        (
            Filter::eq("Description", first),
            vec![
                Token::Word("Description".into()),
                Token::Word("eq".into()),
                Token::Str(first.into()),
            ],
        ),
        (
            Filter::starts_with("VendorName", first),
            vec![
                Token::Word("startswith".into()),
                Token::Punct('('),
                Token::Word("VendorName".into()),
                Token::Punct(','),
                Token::Str(first.into()),
                Token::Punct(')'),
            ],
        ),
        (
            Filter::contains("VendorName", first),
            vec![
                Token::Word("substringof".into()),
                Token::Punct('('),
                Token::Str(first.into()),
                Token::Punct(','),
                Token::Word("VendorName".into()),
                Token::Punct(')'),
            ],
        ),
    ];
    for (filter, expected) in forms {
        let rendered = check_encoded(&filter);
        let tokens = tokenize(&rendered).unwrap_or_else(|e| panic!("{rendered:?}: {e}"));
        assert_eq!(tokens, expected, "{rendered:?}");
    }

    // Several literals combined: any_of, and with or.
    if let Some(any) = Filter::any_of("Description", parts.iter().copied()) {
        let rendered = check_encoded(&any);
        let tokens = tokenize(&rendered).unwrap_or_else(|e| panic!("{rendered:?}: {e}"));
        let strings: Vec<&str> = tokens
            .iter()
            .filter_map(|t| match t {
                Token::Str(s) => Some(s.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(strings, parts, "{rendered:?}");
        let combined = Filter::eq("Status", "Open")
            .and(any)
            .and(Filter::ends_with("X", first));
        let rendered = check_encoded(&combined);
        let tokens = tokenize(&rendered).unwrap_or_else(|e| panic!("{rendered:?}: {e}"));
        let opens = tokens.iter().filter(|t| **t == Token::Punct('(')).count();
        let closes = tokens.iter().filter(|t| **t == Token::Punct(')')).count();
        assert_eq!(
            opens, closes,
            "unbalanced parentheses outside literals: {rendered:?}"
        );
        let strings = tokens.iter().filter(|t| matches!(t, Token::Str(_))).count();
        assert_eq!(strings, parts.len() + 2, "{rendered:?}");
    }

    // datetimeoffset: percent-encoded on the wire, exact to the millisecond.
    let dt = datetime_from(data);
    let rendered = check_encoded(&Filter::gt("LastModifiedDateTime", dt));
    let tokens = tokenize(&rendered).unwrap_or_else(|e| panic!("{rendered:?}: {e}"));
    let [_, _, Token::Typed(prefix, value)] = tokens.as_slice() else {
        panic!("{rendered:?} is not `field gt datetimeoffset'...'`");
    };
    assert_eq!(prefix, "datetimeoffset");
    let back = DateTime::parse_from_rfc3339(value).unwrap_or_else(|e| panic!("{value:?}: {e}"));
    assert_eq!(back, dt, "{value:?}");
    assert_eq!(back.offset(), dt.offset(), "{value:?}");
    let query = ListQuery::new()
        .filter(Filter::gt("LastModifiedDateTime", dt))
        .to_query_string();
    assert!(!query.contains('+') && !query.contains(':'), "{query}");

    // date'...'
    let date = dt.date_naive();
    let rendered = Literal::from(date).to_string();
    let tokens = tokenize(&rendered).unwrap();
    assert_eq!(
        tokens,
        vec![Token::Typed(
            "date".into(),
            date.format("%Y-%m-%d").to_string()
        )]
    );

    // Decimals: `<digits>M`, exact with their scale.
    let mut m = [0u8; 16];
    for (dst, src) in m.iter_mut().zip(data.iter().rev()) {
        *dst = *src;
    }
    let mantissa = i128::from_le_bytes(m) % ((1i128 << 96) - 1);
    let scale = u32::from(data.first().copied().unwrap_or(0)) % 29;
    let d = Decimal::from_i128_with_scale(mantissa, scale);
    let rendered = Literal::from(d).to_string();
    let digits = rendered
        .strip_suffix('M')
        .unwrap_or_else(|| panic!("{rendered:?}"));
    let back = Decimal::from_str(digits).unwrap();
    assert_eq!(back, d);
    assert_eq!(back.scale(), d.scale(), "{rendered:?}");
}
