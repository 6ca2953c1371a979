//! Looker fake: async query tasks (FACTS section 6).

mod looker_support;

use std::time::Duration;

use looker_support::Looker;
use serde_json::{Value, json};
use testkit::looker::{LookerConfig, PendingResults, TaskStatus};

async fn start_task(l: &Looker, format: &str, limit: Option<&str>) -> (String, Value) {
    let query_id = l
        .create_query(&json!({"model": "finance", "view": "gl_lines",
                              "fields": ["gl_lines.id", "gl_lines.amount"], "sorts": ["gl_lines.id"]}))
        .await;
    let path = match limit {
        Some(n) => format!("/query_tasks?limit={n}"),
        None => "/query_tasks".to_owned(),
    };
    let resp = l
        .post(
            &path,
            &json!({"query_id": query_id, "result_format": format, "source": "test"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let task: Value = resp.json().await.unwrap();
    (task["id"].as_str().unwrap().to_owned(), task)
}

async fn status(l: &Looker, id: &str) -> String {
    let t: Value = l
        .get(&format!("/query_tasks/{id}"))
        .await
        .json()
        .await
        .unwrap();
    t["status"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn status_goes_added_running_complete_and_results_answer_202_until_then() {
    let l = Looker::start(
        LookerConfig::default()
            .with_gl_lines_rows(100)
            .with_task_progress(3, Duration::ZERO),
    )
    .await;
    let (id, created) = start_task(&l, "json", Some("-1")).await;
    assert_eq!(created["status"], "added");
    assert_eq!(created["result_format"], "json");
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(status(&l, &id).await, "running");
    let pending = l.get(&format!("/query_tasks/{id}/results")).await;
    assert_eq!(pending.status(), 202);
    assert_eq!(status(&l, &id).await, "running");
    assert_eq!(status(&l, &id).await, "complete");
    let done = l.get(&format!("/query_tasks/{id}/results")).await;
    assert_eq!(done.status(), 200);
    let rows: Vec<Value> = done.json().await.unwrap();
    assert_eq!(rows.len(), 100);
    assert_eq!(rows[0]["gl_lines.id"], 1);
    let record = &l.fake.tasks()[0];
    assert_eq!(record.status, TaskStatus::Complete);
    assert_eq!(record.observations, 4);
    assert_eq!(record.source.as_deref(), Some("test"));
}

#[tokio::test]
async fn the_task_limit_parameter_and_default_cap_apply() {
    let l = Looker::start(
        LookerConfig::default()
            .with_gl_lines_rows(6000)
            .with_task_progress(0, Duration::ZERO),
    )
    .await;
    let (capped, _) = start_task(&l, "csv", None).await;
    let body = l
        .get(&format!("/query_tasks/{capped}/results"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(body.lines().count(), 5001);
    let (limited, _) = start_task(&l, "csv", Some("10")).await;
    let body = l
        .get(&format!("/query_tasks/{limited}/results"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(body.lines().count(), 11);
}

#[tokio::test]
async fn older_servers_answer_204_while_running() {
    let config = LookerConfig::default()
        .with_pending_results(PendingResults::NoContent)
        .with_task_progress(1, Duration::ZERO);
    let l = Looker::start(config).await;
    let (id, _) = start_task(&l, "json", None).await;
    assert_eq!(
        l.get(&format!("/query_tasks/{id}/results")).await.status(),
        204
    );
    assert_eq!(
        l.get(&format!("/query_tasks/{id}/results")).await.status(),
        200
    );
}

#[tokio::test(start_paused = true)]
async fn a_task_completes_no_sooner_than_its_run_time() {
    let l =
        Looker::start(LookerConfig::default().with_task_progress(0, Duration::from_secs(30))).await;
    let (id, _) = start_task(&l, "json", None).await;
    assert_eq!(status(&l, &id).await, "running");
    tokio::time::advance(Duration::from_secs(31)).await;
    assert_eq!(status(&l, &id).await, "complete");
}

#[tokio::test]
async fn unknown_and_expired_tasks_are_not_found() {
    let l = Looker::start(LookerConfig::default().with_task_progress(0, Duration::ZERO)).await;
    let resp = l
        .get("/query_tasks/0123456789abcdef0123456789abcdef/results")
        .await;
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("not found"));
    assert_eq!(
        l.get("/query_tasks/0123456789abcdef0123456789abcdef")
            .await
            .status(),
        404
    );
    let (id, _) = start_task(&l, "json", None).await;
    assert_eq!(
        l.get(&format!("/query_tasks/{id}/results")).await.status(),
        200
    );
    assert!(l.fake.expire_task(&id));
    assert_eq!(
        l.get(&format!("/query_tasks/{id}/results")).await.status(),
        404
    );
    assert_eq!(status(&l, &id).await, "expired");
}

#[tokio::test(start_paused = true)]
async fn results_expire_after_their_ttl() {
    let config = LookerConfig::default()
        .with_task_progress(0, Duration::ZERO)
        .with_task_result_ttl(Duration::from_secs(600));
    let l = Looker::start(config).await;
    let (id, _) = start_task(&l, "json", None).await;
    assert_eq!(status(&l, &id).await, "complete");
    tokio::time::advance(Duration::from_secs(601)).await;
    assert_eq!(
        l.get(&format!("/query_tasks/{id}/results")).await.status(),
        404
    );
}

#[tokio::test]
async fn a_running_task_can_be_killed_once() {
    let l = Looker::start(LookerConfig::default().with_task_progress(100, Duration::ZERO)).await;
    let (id, _) = start_task(&l, "json", None).await;
    let running: Vec<Value> = l.get("/running_queries").await.json().await.unwrap();
    assert_eq!(running.len(), 1);
    assert_eq!(running[0]["query_task_id"], id.as_str());
    assert_eq!(
        l.delete(&format!("/running_queries/{id}")).await.status(),
        204
    );
    assert_eq!(status(&l, &id).await, "killed");
    assert_eq!(
        l.get(&format!("/query_tasks/{id}/results")).await.status(),
        404
    );
    assert_eq!(
        l.delete(&format!("/running_queries/{id}")).await.status(),
        404
    );
    assert_eq!(
        l.delete("/running_queries/ffffffffffffffffffffffffffffffff")
            .await
            .status(),
        404
    );
    assert_eq!(l.fake.counters().tasks_killed, 1);
    let running: Vec<Value> = l.get("/running_queries").await.json().await.unwrap();
    assert!(running.is_empty());
}

#[tokio::test]
async fn a_database_error_ends_the_task_in_error_and_results_answer_400() {
    let l = Looker::start(LookerConfig::default().with_task_progress(1, Duration::ZERO)).await;
    let (ok, _) = start_task(&l, "json", None).await;
    assert_eq!(status(&l, &ok).await, "running");
    l.fake
        .update_config(|c| {
            c.sql_error = Some("ERROR: relation \"analytics.gl_lines\" does not exist".into())
        })
        .unwrap();
    let (bad, _) = start_task(&l, "json_bi", None).await;
    assert_eq!(status(&l, &bad).await, "running");
    assert_eq!(status(&l, &bad).await, "error");
    let resp = l.get(&format!("/query_tasks/{bad}/results")).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("does not exist"),
        "{body}"
    );
    let multi: Value = l
        .get(&format!("/query_tasks/multi_results?query_task_ids={bad}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(multi[&bad]["status"], "error");
    assert!(
        multi[&bad]["data"]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );
    // Synchronous runs fail the same way.
    let inline = l
        .post(
            "/queries/run/json",
            &json!({"model": "finance", "view": "gl_lines", "fields": ["gl_lines.id"]}),
        )
        .await;
    assert_eq!(inline.status(), 400);
    // Clearing the knob heals new runs.
    l.fake.update_config(|c| c.sql_error = None).unwrap();
    assert_eq!(status(&l, &ok).await, "complete");
    assert_eq!(
        l.fake.tasks().iter().find(|t| t.id == bad).unwrap().status,
        TaskStatus::Error
    );
}

#[tokio::test]
async fn a_finished_task_cannot_be_killed() {
    let l = Looker::start(LookerConfig::default().with_task_progress(0, Duration::ZERO)).await;
    let (id, _) = start_task(&l, "json", None).await;
    assert_eq!(status(&l, &id).await, "complete");
    assert_eq!(
        l.delete(&format!("/running_queries/{id}")).await.status(),
        404
    );
}

#[tokio::test]
async fn bad_task_bodies_are_refused() {
    let l = Looker::start(LookerConfig::default()).await;
    let resp = l
        .post("/query_tasks", &json!({"result_format": "json"}))
        .await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "query_id");
    let resp = l
        .post(
            "/query_tasks",
            &json!({"query_id": "1", "result_format": "pdf"}),
        )
        .await;
    assert_eq!(resp.status(), 422);
    let resp = l
        .post(
            "/query_tasks",
            &json!({"query_id": "424242", "result_format": "json"}),
        )
        .await;
    assert_eq!(resp.status(), 404);
    assert!(l.fake.tasks().is_empty());
}

#[tokio::test]
async fn multi_results_report_each_task() {
    let l = Looker::start(
        LookerConfig::default()
            .with_gl_lines_rows(10)
            .with_task_progress(1, Duration::ZERO),
    )
    .await;
    let (a, _) = start_task(&l, "json", None).await;
    let (b, _) = start_task(&l, "csv", Some("2")).await;
    let path = format!("/query_tasks/multi_results?query_task_ids={a},{b},cafe");
    let first: Value = l.get(&path).await.json().await.unwrap();
    assert_eq!(first[&a]["status"], "running");
    assert!(first[&a].get("data").is_none());
    assert_eq!(first["cafe"]["status"], "missing");
    let second: Value = l.get(&path).await.json().await.unwrap();
    assert_eq!(second[&a]["status"], "complete");
    assert_eq!(second[&a]["data"].as_array().unwrap().len(), 10);
    assert_eq!(second[&b]["data"].as_str().unwrap().lines().count(), 3);
    assert_eq!(l.get("/query_tasks/multi_results").await.status(), 422);
}
