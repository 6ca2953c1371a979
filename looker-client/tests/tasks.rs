//! Async query tasks: polling through 202, 204, 200, 400 and 404, failure
//! states, the deadline and cancelling.

mod common;

use std::time::Duration;

use common::*;
use futures::TryStreamExt;
use looker_client::{Client, ErrorKind, ResultFormat, Row, RunOptions, TaskOptions, WriteQuery};
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TASK: &str = "a607517addb9d3159300ee61d314e40e";

fn query() -> WriteQuery {
    WriteQuery::new("shop", "orders")
        .fields(["orders.id", "orders.total"])
        .with_limit(-1)
}

/// Login, `POST /queries` (numeric id) and `POST /query_tasks`.
async fn start(server: &MockServer) {
    login("T1", 3600).mount(server).await;
    Mock::given(method("POST"))
        .and(path("/api/4.0/queries"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": 42, "model": "shop", "view": "orders", "limit": "-1"
        })))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/4.0/query_tasks"))
        .and(body_json(
            serde_json::json!({"query_id": "42", "result_format": "csv", "source": "test"}),
        ))
        .and(query_param("cache", "false"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": TASK, "query_id": "42", "status": "added", "result_format": "csv"
        })))
        .expect(1)
        .mount(server)
        .await;
}

fn status(s: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(serde_json::json!({"id": TASK, "query_id": "42", "status": s}))
}

fn task_path() -> String {
    format!("/api/4.0/query_tasks/{TASK}")
}

fn results_path() -> String {
    format!("/api/4.0/query_tasks/{TASK}/results")
}

async fn status_sequence(server: &MockServer, seq: &[&str]) {
    // Earlier statuses answer once each (higher priority), the last forever.
    for (i, s) in seq.iter().enumerate() {
        let m = Mock::given(method("GET"))
            .and(path(task_path().as_str()))
            .respond_with(status(s));
        if i + 1 < seq.len() {
            m.up_to_n_times(1)
                .with_priority(1 + i as u8)
                .mount(server)
                .await;
        } else {
            m.with_priority(100).mount(server).await;
        }
    }
}

fn opts() -> TaskOptions {
    TaskOptions::new()
        .run_options(RunOptions::new().cache(false))
        .source("test")
        .deadline(Duration::from_secs(120))
        .poll_interval(Duration::from_millis(500), Duration::from_secs(4))
}

fn client_for(server: &MockServer) -> Client {
    paused_client(server, fast_retry())
}

#[tokio::test(start_paused = true)]
async fn polls_through_202_and_204_until_200_and_streams_the_rows() {
    let server = server().await;
    start(&server).await;
    status_sequence(&server, &["running", "running", "complete"]).await;
    Mock::given(method("GET"))
        .and(path(results_path().as_str()))
        .respond_with(ResponseTemplate::new(202))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(results_path().as_str()))
        .respond_with(ResponseTemplate::new(204))
        .up_to_n_times(1)
        .with_priority(2)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(results_path().as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw("Orders ID,Orders Total\n1,1.10\n2,2.20\n", "text/csv"),
        )
        .with_priority(3)
        .expect(1)
        .mount(&server)
        .await;
    let client = client_for(&server);
    let rows: Vec<Row> = client
        .run_query_task_rows(&query(), ResultFormat::Csv, &opts())
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["Orders Total"], "2.20");
    assert_eq!(
        hits(&server, "GET", &task_path()).await.len(),
        3,
        "status polled until complete"
    );
}

#[tokio::test(start_paused = true)]
async fn a_task_complete_at_the_first_check_costs_no_wait() {
    let server = server().await;
    start(&server).await;
    status_sequence(&server, &["complete"]).await;
    Mock::given(method("GET"))
        .and(path(results_path().as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw("Orders ID,Orders Total\n1,1.10\n", "text/csv"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = client_for(&server);
    let started = tokio::time::Instant::now();
    let rows: Vec<Row> = client
        .run_query_task_rows(&query(), ResultFormat::Csv, &opts())
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    // The paused clock only moves for sleeps: no 500 ms poll interval passed.
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "waited {:?} before the first status check",
        started.elapsed()
    );
    assert_eq!(hits(&server, "GET", &task_path()).await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn default_polling_starts_within_tens_of_milliseconds_and_backs_off() {
    let server = server().await;
    start(&server).await;
    // Running at creation, at the check at once and at the first poll.
    status_sequence(&server, &["running", "running", "complete"]).await;
    Mock::given(method("GET"))
        .and(path(results_path().as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw("Orders ID,Orders Total\n1,1.10\n", "text/csv"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = client_for(&server);
    let defaults = TaskOptions::new();
    assert_eq!(
        defaults.poll_intervals(),
        (
            looker_client::DEFAULT_FIRST_POLL,
            looker_client::DEFAULT_MAX_POLL
        )
    );
    let options = defaults
        .run_options(RunOptions::new().cache(false))
        .source("test");
    let started = tokio::time::Instant::now();
    let rows: Vec<Row> = client
        .run_query_task_rows(&query(), ResultFormat::Csv, &options)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    // The paused clock moves only for the waits: 20 ms, then 40 ms (it was 500 ms, then 1 s).
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(60) && waited < Duration::from_millis(200),
        "waited {waited:?}"
    );
    assert_eq!(hits(&server, "GET", &task_path()).await.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_400_from_the_results_is_an_sql_error_with_its_message() {
    let server = server().await;
    start(&server).await;
    status_sequence(&server, &["running", "error"]).await;
    Mock::given(method("GET"))
        .and(path(results_path().as_str()))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "message": "ERROR: column \"orders.totl\" does not exist", "documentation_url": "x"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let err = client_for(&server)
        .run_query_task_rows::<Row>(&query(), ResultFormat::Csv, &opts())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Sql);
    assert!(
        err.to_string()
            .contains("column \"orders.totl\" does not exist"),
        "{err}"
    );
    assert!(err.to_string().contains(TASK), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_404_from_the_results_means_they_expired() {
    let server = server().await;
    start(&server).await;
    status_sequence(&server, &["complete"]).await;
    Mock::given(method("GET"))
        .and(path(results_path().as_str()))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(
                serde_json::json!({"message": "Not found", "documentation_url": "x"}),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = client_for(&server)
        .run_query_task_rows::<Row>(&query(), ResultFormat::Csv, &opts())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TaskFailed);
    assert!(err.to_string().contains("results expired (404)"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn killed_and_expired_tasks_fail_clearly() {
    for end in ["killed", "expired"] {
        let server = server().await;
        start(&server).await;
        status_sequence(&server, &["running", end]).await;
        let err = client_for(&server)
            .run_query_task_rows::<Row>(&query(), ResultFormat::Csv, &opts())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TaskFailed);
        assert!(
            err.to_string().contains(&format!("status `{end}`")),
            "{err}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_deadline_cancels_the_running_query() {
    let server = server().await;
    start(&server).await;
    status_sequence(&server, &["running"]).await;
    Mock::given(method("DELETE"))
        .and(path(format!("/api/4.0/running_queries/{TASK}").as_str()))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let started = tokio::time::Instant::now();
    let err = client_for(&server)
        .run_query_task_rows::<Row>(
            &query(),
            ResultFormat::Csv,
            &opts().deadline(Duration::from_secs(30)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(
        err.to_string()
            .contains("did not finish within 30 s and was cancelled"),
        "{err}"
    );
    assert!(started.elapsed() <= Duration::from_secs(30));
    // A check at once, then backoff: 0.5, 1, 2, 4, 4, ... s, so far fewer
    // polls than 30 s / 0.5 s.
    let polls = hits(&server, "GET", &task_path()).await.len();
    assert!((8..=12).contains(&polls), "{polls} polls");
}

#[tokio::test]
async fn cancelling_a_finished_task_is_not_an_error() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    Mock::given(method("DELETE"))
        .and(path("/api/4.0/running_queries/done"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(serde_json::json!({"message": "Not found"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    client(&server).cancel_query_task("done").await.unwrap();
}

#[tokio::test]
async fn results_can_be_fetched_by_hand() {
    let server = server().await;
    login("T1", 3600).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/4.0/query_tasks/t1/results"))
        .respond_with(ResponseTemplate::new(204))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/4.0/query_tasks/t1/results"))
        .respond_with(ResponseTemplate::new(200).set_body_json(order_rows(2)))
        .mount(&server)
        .await;
    let client = client(&server);
    let opts = RunOptions::new().limit(-1);
    assert!(
        client
            .query_task_results_rows::<Row>("t1", ResultFormat::Json, &opts)
            .await
            .unwrap()
            .is_none()
    );
    let rows: Vec<Row> = client
        .query_task_results_rows("t1", ResultFormat::Json, &opts)
        .await
        .unwrap()
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
}
