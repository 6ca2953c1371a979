//! Keyset paging over query results, offset paging over list endpoints.

mod common;

use common::*;
use futures::TryStreamExt;
use looker_client::{ErrorKind, LookmlModel, Row, RunOptions, WriteQuery};
use serde::Deserialize;
use wiremock::matchers::{body_partial_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn query() -> WriteQuery {
    WriteQuery::new("shop", "orders")
        .fields(["orders.id", "orders.total"])
        .filter("orders.status", "complete")
}

fn rows(ids: &[u64]) -> serde_json::Value {
    serde_json::Value::Array(
        ids.iter()
            .map(|i| serde_json::json!({"orders.id": i, "orders.total": format!("{i}.50")}))
            .collect(),
    )
}

/// A page answered when the body filters on `> after` (or has no key filter).
async fn page(server: &MockServer, after: Option<u64>, ids: &[u64]) {
    let mut m = Mock::given(method("POST"))
        .and(path("/api/4.0/queries/run/json"))
        .and(query_param("limit", "3"));
    let priority = match after {
        Some(a) => {
            m = m.and(body_partial_json(
                serde_json::json!({"filters": {"orders.id": format!(">{a}")}}),
            ));
            1
        }
        None => 2,
    };
    m.respond_with(ResponseTemplate::new(200).set_body_json(rows(ids)))
        .with_priority(priority)
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn keyset_paging_walks_pages_until_a_short_one() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    page(&server, None, &[1, 2, 5]).await;
    page(&server, Some(5), &[6, 9, 10]).await;
    page(&server, Some(10), &[11]).await;
    #[derive(Deserialize)]
    struct Order {
        #[serde(rename = "orders.id")]
        id: u64,
        #[serde(rename = "orders.total")]
        total: rust_decimal::Decimal,
    }
    let out: Vec<Order> = client(&server)
        .keyset_rows_as(&query(), "orders.id", 3, &RunOptions::new())
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<u64> = out.iter().map(|o| o.id).collect();
    assert_eq!(ids, vec![1, 2, 5, 6, 9, 10, 11]);
    assert_eq!(out[6].total.to_string(), "11.50");
    // Every page sorts on the key, keeps the caller's filter and asks for 3 rows.
    for r in hits(&server, "POST", "/api/4.0/queries/run/json").await {
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["sorts"], serde_json::json!(["orders.id"]));
        assert_eq!(body["limit"], "3");
        assert_eq!(body["filters"]["orders.status"], "complete");
    }
}

#[tokio::test]
async fn an_exactly_full_last_page_is_followed_by_an_empty_one() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    page(&server, None, &[1, 2, 3]).await;
    page(&server, Some(3), &[]).await;
    let out: Vec<Row> = client(&server)
        .keyset_rows(&query(), "orders.id", 3, &RunOptions::new())
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(out.len(), 3);
}

#[tokio::test]
async fn a_key_that_does_not_increase_stops_with_an_error() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    page(&server, None, &[1, 2, 2]).await;
    let err = client(&server)
        .keyset_rows(&query(), "orders.id", 3, &RunOptions::new())
        .unwrap()
        .try_collect::<Vec<Row>>()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("unique, ascending keys"), "{err}");
}

#[tokio::test]
async fn keyset_paging_refuses_queries_it_cannot_page() {
    let server = server().await;
    let client = client(&server);
    let opts = RunOptions::new();
    let e = client
        .keyset_rows(&query().sorts(["orders.total desc"]), "orders.id", 3, &opts)
        .err()
        .unwrap();
    assert!(e.to_string().contains("remove the query's sorts"), "{e}");
    let e = client
        .keyset_rows(&query().filter("orders.id", ">5"), "orders.id", 3, &opts)
        .err()
        .unwrap();
    assert!(
        e.to_string().contains("filters on `orders.id` itself"),
        "{e}"
    );
    let e = client
        .keyset_rows(&query(), "orders.created_date", 3, &opts)
        .err()
        .unwrap();
    assert!(e.to_string().contains("among the query's fields"), "{e}");
    assert!(client.keyset_rows(&query(), "orders.id", 0, &opts).is_err());
}

#[tokio::test]
async fn offset_paging_over_lookml_models() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    for (offset, names) in [("0", vec!["a", "b"]), ("2", vec!["c"])] {
        let body: Vec<serde_json::Value> = names
            .iter()
            .map(|n| serde_json::json!({"name": n, "project_name": "p", "explores": [{"name": "e", "hidden": false}]}))
            .collect();
        Mock::given(method("GET"))
            .and(path("/api/4.0/lookml_models"))
            .and(query_param("limit", "2"))
            .and(query_param("offset", offset))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .mount(&server)
            .await;
    }
    let models: Vec<LookmlModel> = client(&server)
        .lookml_models(2)
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let names: Vec<&str> = models.iter().map(|m| m.name.as_deref().unwrap()).collect();
    assert_eq!(names, vec!["a", "b", "c"]);
    assert_eq!(
        models[0].explores.as_ref().unwrap()[0].name.as_deref(),
        Some("e")
    );
}

#[tokio::test]
async fn offset_paging_stops_at_an_empty_page_and_passes_parameters() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/4.0/users"))
        .and(query_param("fields", "id"))
        .and(query_param("offset", "0"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!([{"id": "1"}, {"id": 2}])),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/4.0/users"))
        .and(query_param("offset", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([])))
        .expect(1)
        .mount(&server)
        .await;
    let users: Vec<serde_json::Value> = client(&server)
        .offset_pages("users", &[("fields", "id")], 2)
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(users.len(), 2);
}
