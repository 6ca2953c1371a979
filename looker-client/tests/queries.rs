//! Creating and running queries, row caps, validation against the explore.

mod common;

use common::*;
use futures::TryStreamExt;
use looker_client::{ErrorKind, ResultFormat, Row, RunOptions, WriteQuery};
use serde::Deserialize;
use wiremock::matchers::{
    body_json, header, method, path, path_regex, query_param, query_param_is_missing,
};
use wiremock::{Mock, ResponseTemplate};

#[derive(Debug, Deserialize, PartialEq)]
struct Order {
    #[serde(rename = "orders.id")]
    id: u64,
    #[serde(rename = "orders.total")]
    total: rust_decimal::Decimal,
}

fn orders_query() -> WriteQuery {
    WriteQuery::new("shop", "orders").fields(["orders.id", "orders.total"])
}

fn run_json_at() -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path("/api/4.0/queries/run/json"))
        .and(header("authorization", "token T1"))
}

fn run_json(body: serde_json::Value) -> Mock {
    run_json_at().respond_with(ResponseTemplate::new(200).set_body_json(body))
}

#[tokio::test]
async fn create_query_sends_the_spec_body_and_accepts_numeric_ids() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    let q = orders_query()
        .filter("orders.status", "complete")
        .with_limit(500);
    Mock::given(method("POST"))
        .and(path("/api/4.0/queries"))
        .and(body_json(serde_json::json!({
            "model": "shop", "view": "orders",
            "fields": ["orders.id", "orders.total"],
            "filters": {"orders.status": "complete"},
            "limit": "500"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": 1234, "slug": "aBc", "model": "shop", "view": "orders",
            "fields": ["orders.id", "orders.total"], "limit": "500", "pivots": null,
            "has_table_calculations": false, "can": {"run": true}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let stored = client(&server).create_query(&q).await.unwrap();
    assert_eq!(stored.id.as_str(), "1234");
    assert_eq!(stored.to_write_query().row_limit().unwrap(), Some(500));
}

#[tokio::test]
async fn inline_json_rows_decode_into_the_callers_type() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    run_json_at()
        .and(query_param("limit", "10"))
        .and(query_param("cache", "false"))
        .respond_with(ResponseTemplate::new(200).set_body_json(order_rows(3)))
        .expect(1)
        .mount(&server)
        .await;
    let rows: Vec<Order> = client(&server)
        .run_inline_query_rows(
            &orders_query(),
            ResultFormat::Json,
            &RunOptions::new().limit(10).cache(false),
        )
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[2],
        Order {
            id: 3,
            total: "3.03".parse().unwrap()
        }
    );
}

#[tokio::test]
async fn csv_and_txt_results_stream_with_quoting_intact() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    let csv = "Orders ID,Orders Note\r\n1,\"a, \"\"quoted\"\" note\"\r\n2,\"two\nlines\"\r\n3,\r\n";
    Mock::given(method("POST"))
        .and(path("/api/4.0/queries/run/csv"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(csv, "text/csv"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/4.0/queries/run/txt"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw("Orders ID\tOrders Note\n1\t\"raw\"\n", "text/plain"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let q = orders_query().with_limit(-1);
    let rows: Vec<Row> = client
        .run_inline_query_rows(&q, ResultFormat::Csv, &RunOptions::new())
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["Orders Note"], "a, \"quoted\" note");
    assert_eq!(rows[1]["Orders Note"], "two\nlines");
    assert_eq!(rows[2]["Orders Note"], serde_json::Value::Null);
    let rows: Vec<Row> = client
        .run_inline_query_rows(&q, ResultFormat::Txt, &RunOptions::new())
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows[0]["Orders Note"], "\"raw\"");
}

#[tokio::test]
async fn reaching_the_default_5000_row_limit_is_an_error_by_default() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    // No limit in the query or the run: Looker stops at 5000 rows.
    run_json_at()
        .and(query_param_is_missing("limit"))
        .respond_with(ResponseTemplate::new(200).set_body_json(order_rows(5000)))
        .expect(2)
        .mount(&server)
        .await;
    let client = client(&server);
    let mut rows = client
        .run_inline_query_rows::<Order>(&orders_query(), ResultFormat::Json, &RunOptions::new())
        .await
        .unwrap();
    let mut n = 0;
    let err = loop {
        match rows.try_next().await {
            Ok(Some(_)) => n += 1,
            Ok(None) => panic!("a result at the row limit must not end quietly"),
            Err(e) => break e,
        }
    };
    assert_eq!(n, 5000);
    assert_eq!(err.kind(), ErrorKind::Truncated);
    assert_eq!(err.row_limit(), Some(5000));
    let msg = err.to_string();
    assert!(msg.contains("reaches its row limit of 5000"), "{msg}");
    assert!(msg.contains("`shop::orders`"), "{msg}");
    assert!(msg.contains("-1 means unlimited"), "{msg}");

    // Allowed: a flag instead.
    let mut rows = client
        .run_inline_query_rows::<Order>(
            &orders_query(),
            ResultFormat::Json,
            &RunOptions::new().allow_truncation(true),
        )
        .await
        .unwrap();
    let mut n = 0;
    while rows.try_next().await.unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 5000);
    assert!(rows.is_possibly_truncated());
}

#[tokio::test]
async fn results_under_the_limit_are_complete() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    run_json(order_rows(4999)).expect(1).mount(&server).await;
    let mut rows = client(&server)
        .run_inline_query_rows::<Order>(&orders_query(), ResultFormat::Json, &RunOptions::new())
        .await
        .unwrap();
    let mut n = 0;
    while rows.try_next().await.unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 4999);
    assert!(!rows.is_possibly_truncated());
}

#[tokio::test]
async fn json_bi_keeps_metadata_and_checks_the_limit() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    Mock::given(method("POST"))
        .and(path("/api/4.0/queries/run/json_bi"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "metadata": {"fields": {"dimensions": [{"name": "orders.id"}]}, "sql": null},
            "rows": order_rows(2)
        })))
        .expect(2)
        .mount(&server)
        .await;
    let client = client(&server);
    let r = client
        .run_inline_query_json_bi::<Order>(&orders_query().with_limit(5), &RunOptions::new())
        .await
        .unwrap();
    assert_eq!(r.rows.len(), 2);
    assert_eq!(r.metadata["fields"]["dimensions"][0]["name"], "orders.id");
    assert!(!r.possibly_truncated);
    let err = client
        .run_inline_query_json_bi::<Order>(&orders_query().with_limit(2), &RunOptions::new())
        .await
        .unwrap_err();
    assert!(err.is_truncated(), "{err}");
}

fn explore_mock() -> Mock {
    Mock::given(method("GET"))
        .and(path("/api/4.0/lookml_models/shop/explores/orders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": "shop::orders", "name": "orders",
            "fields": {
                "dimensions": [{"name": "orders.id", "category": "dimension"}, {"name": "orders.created_date"}],
                "measures": [{"name": "orders.total"}, {"name": "orders.count"}],
                "filters": [], "parameters": []
            }
        })))
}

#[tokio::test]
async fn validation_runs_before_the_query_and_lists_suggestions() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    explore_mock().expect(1).mount(&server).await;
    run_json(order_rows(1)).expect(1).mount(&server).await;
    let client = client(&server);
    let opts = RunOptions::new().validate(true).limit(10);
    // Valid: runs (explore fetched once and cached).
    let rows: Vec<Row> = client
        .run_inline_query_rows(&orders_query(), ResultFormat::Json, &opts)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    // Typos: an error before anything is run (the catch-all would see a run).
    let bad = WriteQuery::new("shop", "orders")
        .fields(["orders.id", "orders.totl"])
        .sorts(["orders.cuont desc"])
        .filter("order.created_date", "7 days");
    let err = client
        .run_inline_query_rows::<Row>(&bad, ResultFormat::Json, &opts)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownFields);
    let u = err.unknown_fields();
    assert_eq!(u.len(), 3);
    assert_eq!(
        (u[0].name.as_str(), u[0].suggestions[0].as_str()),
        ("orders.totl", "orders.total")
    );
    assert_eq!(u[1].suggestions[0], "orders.created_date");
    assert_eq!(u[2].suggestions[0], "orders.count");
}

#[tokio::test]
async fn an_unknown_explore_is_a_404_that_mentions_permissions() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/4.0/lookml_models/shop/explores/nope"))
        .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!({"message": "Not found", "documentation_url": "https://cloud.google.com/looker/docs/"})))
        .expect(1)
        .mount(&server)
        .await;
    // The models cannot be listed either: the original 404 stands.
    Mock::given(method("GET"))
        .and(path("/api/4.0/lookml_models"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(serde_json::json!({"message": "Not found"})),
        )
        .mount(&server)
        .await;
    let err = client(&server)
        .validate(&WriteQuery::new("shop", "nope"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("lacks the permission"), "{err}");
    assert!(
        err.to_string()
            .contains("GET /api/4.0/lookml_models/shop/explores/nope"),
        "{err}"
    );
}

/// A 404 for a model or explore: which of the two is missing, with the close names the API
/// user can see.
#[tokio::test]
async fn an_unknown_model_or_explore_suggests_the_close_ones() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    Mock::given(method("GET"))
        .and(path_regex("^/api/4.0/lookml_models/[^/]+/explores/[^/]+$"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(serde_json::json!({"message": "Not found"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/4.0/lookml_models"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([
            {"name": "shop", "explores": [{"name": "orders"}, {"name": "users"}]},
            {"name": "finance", "explores": [{"name": "ledger"}]}
        ])))
        .mount(&server)
        .await;
    let c = client(&server);
    let err = c
        .validate(&WriteQuery::new("shopp", "orders"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(
        err.to_string()
            .contains("has no model `shopp` that the API user can see (did you mean `shop`?)"),
        "{err}"
    );
    let err = c
        .validate(&WriteQuery::new("shop", "order"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(
            "model `shop` has no explore `order` that the API user can see (did you mean `orders`?)"
        ),
        "{err}"
    );
    let err = c
        .validate(&WriteQuery::new("finance", "zzz"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("; its explores: ledger"), "{err}");
}

#[tokio::test]
async fn a_422_lists_each_validation_error_and_is_not_retried() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    Mock::given(method("POST"))
        .and(path("/api/4.0/queries"))
        .respond_with(ResponseTemplate::new(422).set_body_json(serde_json::json!({
            "message": "Validation Failed",
            "errors": [{"field": "view", "code": "missing_field", "message": "'view' is required.",
                        "documentation_url": "https://cloud.google.com/looker/docs/r/err/4.0/422/post/queries"}],
            "documentation_url": "https://cloud.google.com/looker/docs/r/err/4.0/422/post/queries"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server)
        .create_query(&orders_query())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert!(!err.is_retryable());
    assert_eq!(err.validation_errors()[0].field.as_deref(), Some("view"));
    assert!(
        err.to_string()
            .contains("view: 'view' is required. (missing_field)"),
        "{err}"
    );
}

#[tokio::test]
async fn run_query_uses_the_stored_limit_and_sql_comes_back_as_text() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/4.0/queries/77/run/json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(order_rows(3)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/4.0/queries/run/sql"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("SELECT 1", "text/plain"))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let stored: looker_client::Query = serde_json::from_value(serde_json::json!({
        "id": "77", "model": "shop", "view": "orders", "limit": "3"
    }))
    .unwrap();
    let mut rows = client
        .run_query_rows::<Order>(&stored, ResultFormat::Json, &RunOptions::new())
        .await
        .unwrap();
    let mut n = 0;
    let err = loop {
        match rows.try_next().await {
            Ok(Some(_)) => n += 1,
            Ok(None) => panic!("3 rows at a limit of 3 must be reported"),
            Err(e) => break e,
        }
    };
    assert_eq!(n, 3);
    assert!(err.to_string().contains("query 77"), "{err}");
    let sql = client
        .run_inline_query_text(&orders_query(), ResultFormat::Sql, &RunOptions::new())
        .await
        .unwrap();
    assert_eq!(sql, "SELECT 1");
}
