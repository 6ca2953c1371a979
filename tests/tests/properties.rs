//! Properties across the crates (proptest, bounded cases): the `{"value": x}`
//! wrapping, exact decimal amounts through both clients' JSON paths, filter
//! literal escaping and encoding, balance kept from Looker rows to Acumatica
//! journals, and streamed Looker rows equal to whole-buffer decoding.

#[allow(dead_code)]
#[path = "../../fuzz/checks.rs"]
mod checks;

use std::str::FromStr;

use acumatica_client::entity::{JournalTransaction, JournalTransactionDetail};
use acumatica_client::filter::{Filter, Literal};
use acumatica_client::value::{Timestamp, Value};
use acumatica_client::{DynamicEntity, ListQuery};
use chrono::{FixedOffset, NaiveDate, NaiveDateTime, TimeZone};
use looker_client::{ResultFormat, Row};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value as Json, json};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 128,
        ..ProptestConfig::default()
    }
}

/// Every decimal rust_decimal holds: any 96-bit mantissa at scales 0..=28.
fn any_decimal() -> impl Strategy<Value = Decimal> {
    (any::<i128>(), 0u32..=28)
        .prop_map(|(m, scale)| Decimal::from_i128_with_scale(m % ((1i128 << 96) - 1), scale))
}

fn any_date() -> impl Strategy<Value = NaiveDate> {
    // 0001-01-01 ..= 9999-12-31
    (1i32..=3_652_059).prop_map(|d| NaiveDate::from_num_days_from_ce_opt(d).unwrap())
}

/// Date-times with 0 to 7 fraction digits (.NET's precision), as Acumatica sends them.
fn any_local() -> impl Strategy<Value = NaiveDateTime> {
    (any_date(), 0u32..86_400, 0u32..=7, any::<u32>()).prop_map(|(d, secs, digits, frac)| {
        let unit = 10u32.pow(9 - digits);
        let nanos = if digits == 0 {
            0
        } else {
            (frac % 1_000_000_000) / unit * unit
        };
        d.and_hms_nano_opt(secs / 3600, secs / 60 % 60, secs % 60, nanos)
            .unwrap()
    })
}

fn any_offset() -> impl Strategy<Value = FixedOffset> {
    (-14 * 60i32..=14 * 60).prop_map(|m| FixedOffset::east_opt(m * 60).unwrap())
}

/// Serializes a wrapper to text and reads it back.
fn through_json<T>(v: &Value<T>) -> Value<T>
where
    T: acumatica_client::value::WireType,
{
    let text = serde_json::to_string(v).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

proptest! {
    #![proptest_config(config())]

    // ---- value wrapping ------------------------------------------------

    #[test]
    fn wrapped_strings_round_trip(s in any::<String>()) {
        let v = Value::set(s.clone());
        prop_assert_eq!(serde_json::to_value(&v).unwrap(), json!({"value": s}));
        prop_assert_eq!(through_json(&v), v);
        let mut e = DynamicEntity::new();
        e.set("VendorName", s.clone());
        let e2: DynamicEntity = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        prop_assert_eq!(e2.get::<String>("VendorName").unwrap(), Some(s));
    }

    #[test]
    fn wrapped_decimals_bools_and_none_round_trip(d in any_decimal(), b in any::<bool>()) {
        let v = Value::set(d);
        let back = through_json(&v);
        prop_assert_eq!(back.get().copied(), Some(d));
        prop_assert_eq!(through_json(&Value::set(b)), Value::set(b));
        // None: written as {"value":null}, read back as null; absent is {}.
        let none: Value<Decimal> = Value::from(None::<Decimal>);
        prop_assert_eq!(serde_json::to_string(&none).unwrap(), r#"{"value":null}"#);
        prop_assert!(through_json(&none).is_null());
        prop_assert_eq!(serde_json::to_string(&Value::<bool>::absent()).unwrap(), "{}");
        let absent_read: Value<bool> = serde_json::from_str("{}").unwrap();
        prop_assert!(absent_read.get().is_none());
    }

    #[test]
    fn wrapped_dates_and_timestamps_round_trip(
        local in any_local(),
        offset in any_offset(),
        with_offset in any::<bool>(),
        date in any_date(),
    ) {
        let ts = if with_offset {
            Timestamp::from(offset.from_local_datetime(&local).single().unwrap())
        } else {
            Timestamp::naive(local)
        };
        let back = through_json(&Value::set(ts));
        let got = *back.get().unwrap();
        prop_assert_eq!(got.local(), ts.local());
        prop_assert_eq!(got.offset(), ts.offset());
        prop_assert_eq!(Timestamp::from_str(&ts.to_string()).unwrap(), ts);
        let d = through_json(&Value::set(Timestamp::date(date)));
        prop_assert_eq!(d.get().unwrap().local().date(), date);
    }

    // ---- exact amounts through the clients' JSON paths ------------------

    #[test]
    fn journal_amounts_round_trip_exactly_through_acumatica_entities(
        amounts in proptest::collection::vec(any_decimal(), 1..6),
    ) {
        let batch = JournalTransaction {
            module: "GL".into(),
            details: Some(
                amounts
                    .iter()
                    .map(|a| JournalTransactionDetail::debit("10200", "000000", *a))
                    .collect(),
            ),
            ..Default::default()
        };
        let text = serde_json::to_string(&batch).unwrap();
        let back: JournalTransaction = serde_json::from_str(&text).unwrap();
        let got: Vec<Decimal> = back
            .details
            .unwrap()
            .iter()
            .map(|l| *l.debit_amount.get().unwrap())
            .collect();
        prop_assert_eq!(&got, &amounts);
        // On the wire a JSON number with every significant digit (normalized:
        // 12.50 is written 12.5), never through f64.
        for a in &amounts {
            let needle = format!("{{\"value\":{}}}", a.normalize());
            prop_assert!(text.contains(&needle), "{} not in {}", needle, text);
        }
    }

    #[test]
    fn looker_amounts_decode_exactly_from_json_and_csv(
        amounts in proptest::collection::vec(any_decimal(), 1..6),
        chunk in 1usize..40,
    ) {
        #[derive(serde::Deserialize)]
        struct Line {
            #[serde(rename = "gl.amount")]
            amount: Decimal,
        }
        let json_body = format!(
            "[{}]",
            amounts.iter().map(|a| format!("{{\"gl.amount\": {a}}}")).collect::<Vec<_>>().join(",")
        );
        let csv_body = format!(
            "gl.amount\n{}\n",
            amounts.iter().map(|a| a.to_string()).collect::<Vec<_>>().join("\n")
        );
        for (format, body) in [(ResultFormat::Json, json_body), (ResultFormat::Csv, csv_body)] {
            let chunks = checks::split(body.as_bytes(), || chunk);
            let rows: Vec<Line> = decode_typed(format, chunks);
            let got: Vec<Decimal> = rows.iter().map(|r| r.amount).collect();
            prop_assert_eq!(&got, &amounts, "{:?}", format);
            for (g, a) in got.iter().zip(&amounts) {
                prop_assert_eq!(g.scale(), a.scale(), "{:?}", format);
            }
        }
    }

    // ---- filter literals ------------------------------------------------

    #[test]
    fn string_literals_double_quotes_and_read_back(parts in proptest::collection::vec(any::<String>(), 1..4)) {
        for p in &parts {
            let lit = Literal::from(p.as_str()).to_string();
            prop_assert_eq!(&lit, &format!("'{}'", p.replace('\'', "''")));
        }
        // The fuzz target's full check, on generated text.
        checks::check_filter_literal(parts.join("\0").as_bytes());
    }

    #[test]
    fn datetimeoffset_literals_are_percent_encoded(local in any_local(), offset in any_offset()) {
        let dt = offset.from_local_datetime(&local).single().unwrap();
        let query = ListQuery::new().filter(Filter::gt("LastModifiedDateTime", dt)).to_query_string();
        // `+` would read as a space, `:` and `'` are encoded too.
        prop_assert!(!query.contains('+') && !query.contains(':') && !query.contains('\''), "{}", query);
        prop_assert!(query.contains("datetimeoffset%27"), "{}", query);
        if offset.local_minus_utc() >= 0 {
            prop_assert!(query.contains("%2B"), "{}", query);
        }
        let text = checks::decoded_filter(&query).unwrap();
        let value = text
            .strip_prefix("LastModifiedDateTime gt datetimeoffset'")
            .and_then(|t| t.strip_suffix('\''))
            .unwrap();
        let back = chrono::DateTime::parse_from_rfc3339(value).unwrap();
        // Milliseconds are what the literal carries.
        let millis = dt.timestamp_subsec_millis();
        let expected = offset
            .from_local_datetime(&local.with_nanosecond(millis * 1_000_000).unwrap())
            .single()
            .unwrap();
        prop_assert_eq!(back, expected);
        prop_assert_eq!(back.offset(), &offset);
    }

    // ---- mapping balance ------------------------------------------------

    #[test]
    fn balanced_rows_map_to_balanced_journals_and_exact_acumatica_bodies(
        groups in proptest::collection::vec(
            proptest::collection::vec((-1_000_000_000_000i64..1_000_000_000_000).prop_filter("non-zero", |c| *c != 0), 1..6),
            1..4,
        ),
        as_strings in any::<bool>(),
    ) {
        use sync_core::mapping::JournalMapping;
        let mapping = JournalMapping::from_toml_str(r#"
flow = "prop"
[lines]
account = { column = "a.account" }
branch = { constant = "HQ" }
amount = { signed = "a.amount" }
period = { constant = "012025" }
[document]
ledger = { constant = "ACTUAL" }
description = "Prop {period} {a.group}"
group_by = ["a.group"]
"#).unwrap();
        let mut rows: Vec<Row> = Vec::new();
        let mut expected_debits = Vec::new();
        for (g, cents) in groups.iter().enumerate() {
            // Close each group with the line that balances it.
            let mut amounts: Vec<Decimal> = cents.iter().map(|c| Decimal::new(*c, 2)).collect();
            let sum: Decimal = amounts.iter().sum();
            amounts.push(-sum);
            let amounts: Vec<Decimal> = amounts.into_iter().filter(|a| !a.is_zero()).collect();
            let debit: Decimal = amounts.iter().filter(|a| a.is_sign_positive()).sum();
            expected_debits.push(debit);
            for (i, a) in amounts.iter().enumerate() {
                let amount = if as_strings {
                    json!(a.to_string())
                } else {
                    serde_json::from_str::<Json>(&a.to_string()).unwrap()
                };
                let account = if i % 2 == 0 { "6100" } else { "1000" };
                let row = json!({"a.account": account, "a.amount": amount, "a.group": format!("g{g}")});
                rows.push(row.as_object().unwrap().clone());
            }
        }
        let mapped = mapping.map_rows(&rows).unwrap();
        prop_assert!(mapped.errors.is_empty(), "{:?}", mapped.errors);
        prop_assert_eq!(mapped.documents.len(), groups.len());
        for (doc, debit) in mapped.documents.iter().zip(&expected_debits) {
            prop_assert!(doc.is_balanced(), "{:?}", doc);
            prop_assert_eq!(doc.total_debit(), *debit);
            // The contract body, read as the client's typed entity, still balances exactly.
            let key = sync_core::key::NaturalKey::for_document(doc);
            let body = doc.contract_body(&key);
            let jt: JournalTransaction = serde_json::from_value(body).unwrap();
            let lines = jt.details.unwrap_or_default();
            let dr: Decimal = lines.iter().filter_map(|l| l.debit_amount.get().copied()).sum();
            let cr: Decimal = lines.iter().filter_map(|l| l.credit_amount.get().copied()).sum();
            prop_assert_eq!(dr, *debit);
            prop_assert_eq!(cr, *debit);
        }
        let total: usize = mapped.documents.iter().map(|d| d.lines.len()).sum();
        prop_assert_eq!(total, rows.len(), "every row is a line");
    }

    // ---- Looker streaming equals whole-buffer decoding -------------------

    #[test]
    fn looker_json_streams_like_whole_buffer(
        rows in proptest::collection::vec(any_looker_row(), 0..8),
        seed in any::<u64>(),
        max_chunk in 1usize..64,
    ) {
        let body = serde_json::to_vec(&rows).unwrap();
        let whole = checks::decode_chunks(ResultFormat::Json, vec![body.clone()]);
        prop_assert_eq!(&whole.error, &None);
        prop_assert_eq!(&whole.rows, &rows);
        let chunked = checks::decode_chunks(ResultFormat::Json, checks::split(&body, sizes(seed, max_chunk)));
        prop_assert_eq!(chunked, whole);
    }

    #[test]
    fn looker_csv_streams_like_whole_buffer(
        header in proptest::collection::btree_set("[a-z]{1,6}\\.[a-z_]{1,8}", 1..5),
        cells in proptest::collection::vec(proptest::collection::vec(any_cell(), 5), 0..8),
        seed in any::<u64>(),
        max_chunk in 1usize..64,
    ) {
        let header: Vec<String> = header.into_iter().collect();
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(&header).unwrap();
        for row in &cells {
            writer.write_record(&row[..header.len()]).unwrap();
        }
        let body = writer.into_inner().unwrap();
        // Reference: the csv crate's reading of the same bytes.
        let mut reader = csv::Reader::from_reader(body.as_slice());
        let expected: Vec<Row> = reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                header
                    .iter()
                    .zip(r.iter())
                    .map(|(h, c)| (h.clone(), if c.is_empty() { Json::Null } else { json!(c) }))
                    .collect()
            })
            .collect();
        let whole = checks::decode_chunks(ResultFormat::Csv, vec![body.clone()]);
        prop_assert_eq!(&whole.error, &None);
        prop_assert_eq!(&whole.rows, &expected);
        let chunked = checks::decode_chunks(ResultFormat::Csv, checks::split(&body, sizes(seed, max_chunk)));
        prop_assert_eq!(chunked, whole);
    }
}

fn sizes(seed: u64, max: usize) -> impl FnMut() -> usize {
    let mut state = seed | 1;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        1 + (state as usize) % max
    }
}

fn any_cell() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-zA-Z0-9 ]{0,12}",
        any::<String>(),
        // What CSV must quote.
        "[\",\\n\\r a]{1,8}",
        any_decimal().prop_map(|d| d.to_string()),
    ]
}

fn any_looker_row() -> impl Strategy<Value = Row> {
    let cell = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<String>().prop_map(Json::String),
        any_decimal().prop_map(|d| serde_json::from_str(&d.to_string()).unwrap()),
        any::<i64>().prop_map(|i| json!(i)),
        "[\\[\\]{}\",\\\\]{0,6}".prop_map(Json::String),
    ];
    proptest::collection::btree_map("[a-z_]{1,5}\\.[a-z_\\[\\]{}\"]{1,8}", cell, 0..5)
        .prop_map(|m| m.into_iter().collect())
}

/// Decodes chunks into a typed row, failing the test on any error.
fn decode_typed<T>(format: ResultFormat, chunks: Vec<Vec<u8>>) -> Vec<T>
where
    T: serde::de::DeserializeOwned + Send + 'static,
{
    use futures::TryStreamExt;
    let body = futures::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::from(c))),
    );
    futures::executor::block_on(
        looker_client::RowStream::<T>::from_byte_stream(format, body).try_collect::<Vec<T>>(),
    )
    .unwrap()
}

use chrono::Timelike as _;
