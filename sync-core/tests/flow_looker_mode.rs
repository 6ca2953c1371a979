//! How the flows read Looker: an async query task when the query's row limit is above the
//! inline cap (or unlimited) or when `mode = "task"`, one inline request otherwise or when
//! `mode = "inline"`; the task's deadline and polling from `[looker.task]`; failures that name
//! Looker, its URL and the query. Checked against the Looker fake's request log.
#![cfg(feature = "flows")]

mod flow_support;

use std::time::Duration;

use flow_support::{Env, mapping, open_period, stores};
use futures::TryStreamExt;
use sync_core::post::{LookerQueryConfig, LookerQuerySource, PostFlowConfig, PostOptions};
use sync_core::store::RunStatus;
use sync_core::traits::RecordSource;
use testkit::looker::LookerConfig;

const TASKS: &str = "/api/4.0/query_tasks";
const INLINE: &str = "/api/4.0/queries/run/json";

fn query(extra: &str) -> LookerQueryConfig {
    toml::from_str(&format!(
        r#"
model = "finance"
explore = "overhead_allocation"
filters = {{ "overhead_allocation.period" = "{}" }}
sorts = ["overhead_allocation.line_id"]
{extra}
"#,
        open_period()
    ))
    .unwrap()
}

/// Reads every row of `config`'s query through the source; returns the row count.
async fn read(env: &Env, config: &LookerQueryConfig) -> sync_core::Result<usize> {
    let source = LookerQuerySource::new(env.looker.clone(), config, &mapping())?;
    let pages: Vec<_> = source.pages(None).await?.try_collect().await?;
    Ok(pages.iter().map(Vec::len).sum())
}

fn counts(env: &Env) -> (usize, usize) {
    let log = env.looker_server.log();
    (log.count("POST", TASKS), log.count("POST", INLINE))
}

#[tokio::test]
async fn a_post_flow_whose_limit_is_above_the_inline_cap_reads_through_a_task() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(LookerConfig::default()).await;
        let mapping = mapping();
        let config = query("limit = 6000");
        assert!(config.uses_task());
        let source = LookerQuerySource::new(env.looker.clone(), &config, &mapping).unwrap();
        let flow = sync_core::post::PostFlow::builder(mapping)
            .source(source)
            .sink(sync_core::post::AcumaticaJournals::new(
                env.acumatica.clone(),
            ))
            .store(store.clone())
            .options(PostOptions::default())
            .owner("test-owner")
            .build()
            .unwrap();
        let summary = flow.run().await.unwrap();
        assert_eq!(summary.status, RunStatus::Succeeded, "{backend}: {summary}");
        assert!(summary.counts.rows_read > 0, "{backend}");
        assert_eq!(counts(&env), (1, 0), "{backend}: one task, no inline run");
        let log = env.looker_server.log();
        assert_eq!(
            log.count("GET", "/api/4.0/query_tasks/*/results"),
            1,
            "{backend}"
        );
        env.shutdown().await;
    }
}

#[tokio::test]
async fn auto_reads_inline_up_to_the_cap_and_modes_force_either_way() {
    let env = Env::start(LookerConfig::default()).await;
    // Unlimited (the default limit, -1) is above any cap: a task.
    let all = read(&env, &query("")).await.unwrap();
    assert!(all > 0);
    assert_eq!(counts(&env), (1, 0));
    // A limit of 5000 fits in one inline request.
    assert_eq!(read(&env, &query("limit = 5000")).await.unwrap(), all);
    assert_eq!(counts(&env), (1, 1));
    // `inline` forces inline even for an unlimited query.
    assert_eq!(read(&env, &query(r#"mode = "inline""#)).await.unwrap(), all);
    assert_eq!(counts(&env), (1, 2));
    // `task` forces a task even under the cap.
    assert_eq!(
        read(&env, &query("mode = \"task\"\nlimit = 5000"))
            .await
            .unwrap(),
        all
    );
    assert_eq!(counts(&env), (2, 2));
    env.shutdown().await;
}

#[tokio::test]
async fn the_task_settings_come_from_config_and_bad_values_name_their_key() {
    let q =
        query("mode = \"task\"\n[task]\ndeadline_secs = 30\nfirst_poll_ms = 5\nmax_poll_ms = 50");
    assert_eq!(
        (
            q.task.deadline_secs,
            q.task.first_poll_ms,
            q.task.max_poll_ms
        ),
        (30, 5, 50)
    );
    let options = q.task.options();
    assert_eq!(options.deadline_after(), Duration::from_secs(30));
    assert_eq!(
        options.poll_intervals(),
        (Duration::from_millis(5), Duration::from_millis(50))
    );

    let flow = |looker: &str| {
        PostFlowConfig::from_toml_str(
            &format!(
                "mapping_file = \"m.toml\"\n[looker]\nmodel = \"finance\"\nexplore = \"x\"\n{looker}\n"
            ),
            None,
        )
    };
    let e = flow(r#"mode = "fast""#).unwrap_err().to_string();
    assert!(
        e.contains("mode") && e.contains("fast") && e.contains("`auto`, `task`"),
        "{e}"
    );
    let e = flow("[looker.task]\nfirst_poll_ms = 0")
        .unwrap_err()
        .to_string();
    assert!(e.contains("looker.task.first_poll_ms"), "{e}");
    let e = flow("[looker.task]\nfirst_poll_ms = 100\nmax_poll_ms = 10")
        .unwrap_err()
        .to_string();
    assert!(e.contains("looker.task.max_poll_ms"), "{e}");
    let e = flow("[looker.task]\ndeadline = 3").unwrap_err().to_string();
    assert!(e.contains("deadline") && e.contains("deadline_secs"), "{e}");
}

#[tokio::test]
async fn a_failed_task_names_looker_its_url_and_the_query() {
    let env =
        Env::start(LookerConfig::default().with_sql_error("relation \"alloc\" does not exist"))
            .await;
    let e = read(&env, &query("")).await.unwrap_err();
    let text = e.to_string();
    for part in [
        "Looker",
        env.looker_server.url(),
        "async query task",
        "finance::overhead_allocation",
        "overhead_allocation.period=",
        "relation \"alloc\" does not exist",
    ] {
        assert!(text.contains(part), "`{part}` missing from: {text}");
    }
    assert_eq!(counts(&env), (1, 0));
    env.shutdown().await;
}

#[tokio::test]
async fn a_task_past_its_deadline_is_cancelled_and_named() {
    // The task never completes within the deadline.
    let env = Env::start(
        LookerConfig::default().with_task_progress(1_000_000, Duration::from_secs(3600)),
    )
    .await;
    let config = query("[task]\ndeadline_secs = 1\nfirst_poll_ms = 50\nmax_poll_ms = 200");
    let e = read(&env, &config).await.unwrap_err();
    let text = e.to_string();
    for part in [
        "Looker",
        env.looker_server.url(),
        "finance::overhead_allocation",
        "did not finish within 1 s",
    ] {
        assert!(text.contains(part), "`{part}` missing from: {text}");
    }
    let log = env.looker_server.log();
    assert_eq!(
        log.count("DELETE", "/api/4.0/running_queries/*"),
        1,
        "cancelled"
    );
    env.shutdown().await;
}
