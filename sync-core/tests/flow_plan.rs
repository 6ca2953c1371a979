//! `PostFlow::plan` is the run's lookup phase without the writes: it makes the lookup requests
//! a run makes (none for journals the ledger knows), says the states the run then reports, and
//! writes nothing, on both state-store backends.
#![cfg(feature = "flows")]

mod flow_support;

use std::collections::BTreeMap;
use std::sync::Arc;

use flow_support::{Env, open_period, stores};
use sync_core::post::{DocumentState, PlannedState, PostFlow, PostOptions, PostPlan, RunSummary};
use sync_core::store::{LedgerFilter, SqliteStore, StateStore};
use testkit::looker::LookerConfig;
use testkit::seed;

const JT: &str = "/entity/Default/24.200.001/JournalTransaction";

fn looker_config() -> LookerConfig {
    let month = seed::LAST_CLOSED_MONTH + 1;
    LookerConfig::default().with_months(month, month)
}

/// Lookup requests by natural key the Acumatica fake has served so far (the foreign-journal
/// check's list of a period is not one).
fn lookups(env: &Env) -> usize {
    env.acu
        .log()
        .matching("GET", JT)
        .into_iter()
        .filter(|r| {
            r.query
                .as_deref()
                .is_some_and(|q| q.contains("substringof") && !q.contains("PostPeriod"))
        })
        .count()
}

/// Two pages of keys for the three journals.
fn options() -> PostOptions {
    PostOptions {
        lookup_page_size: 2,
        ..PostOptions::default()
    }
}

async fn planned(env: &Env, flow: &PostFlow) -> (PostPlan, usize) {
    let before = lookups(env);
    let plan = flow.plan().await.unwrap();
    (plan, lookups(env) - before)
}

async fn ran(env: &Env, flow: &PostFlow) -> (RunSummary, usize) {
    let before = lookups(env);
    let summary = flow.run().await.unwrap();
    (summary, lookups(env) - before)
}

/// The plan's states by natural key.
fn plan_states(plan: &PostPlan) -> BTreeMap<String, PlannedState> {
    plan.journals
        .iter()
        .map(|j| (j.key.to_string(), j.state.clone()))
        .collect()
}

/// The run's states by natural key, in the plan's words: posted now is what "would post"
/// announced.
fn run_states(summary: &RunSummary) -> BTreeMap<String, PlannedState> {
    summary
        .documents
        .iter()
        .map(|d| {
            let state = match &d.state {
                DocumentState::Posted { .. } => PlannedState::WouldPost,
                DocumentState::AlreadyPosted { batch } => PlannedState::AlreadyPosted {
                    batch: batch.clone(),
                },
                other => panic!("unexpected state in this test: {other:?}"),
            };
            (d.natural_key.clone(), state)
        })
        .collect()
}

async fn store_contents(store: &Arc<dyn StateStore>, flow: &str) -> (usize, usize) {
    (
        store
            .ledger_entries(flow, &LedgerFilter::default())
            .await
            .unwrap()
            .len(),
        store.recent_runs(flow, 1000).await.unwrap().len(),
    )
}

#[tokio::test]
async fn a_plan_makes_the_runs_lookups_and_says_its_states() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(looker_config()).await;
        let flow = env.post_flow(store.clone(), &open_period(), options());

        // Nothing posted yet: the plan looks every key up, page by page, as the run does.
        let (plan, plan_lookups) = planned(&env, &flow).await;
        assert_eq!(plan.journals.len(), 3, "{backend}: {plan}");
        assert_eq!(plan.would_post(), 3, "{backend}: {plan}");
        assert_eq!(
            store_contents(store, flow.name()).await,
            (0, 0),
            "{backend}: a plan writes nothing"
        );
        let (first, run_lookups) = ran(&env, &flow).await;
        assert_eq!(first.counts.documents_posted, 3, "{backend}: {first}");
        assert_eq!(plan_lookups, 2, "{backend}: two pages of keys");
        assert_eq!(plan_lookups, run_lookups, "{backend}");
        assert_eq!(plan_states(&plan), run_states(&first), "{backend}");

        // Posted: the ledger knows every journal, so neither looks anything up.
        let stored = store_contents(store, flow.name()).await;
        let (plan, plan_lookups) = planned(&env, &flow).await;
        assert_eq!(
            store_contents(store, flow.name()).await,
            stored,
            "{backend}: a plan writes nothing"
        );
        let (second, run_lookups) = ran(&env, &flow).await;
        assert_eq!(second.counts.documents_posted, 0, "{backend}: {second}");
        assert_eq!((plan_lookups, run_lookups), (0, 0), "{backend}");
        assert_eq!(plan_states(&plan), run_states(&second), "{backend}");
        for (key, state) in plan_states(&plan) {
            assert!(
                matches!(&state, PlannedState::AlreadyPosted { batch: Some(_) }),
                "{backend}: {key}: {state:?}"
            );
        }
        assert_eq!(plan.would_post(), 0);
        env.shutdown().await;
    }
}

#[tokio::test]
async fn without_a_ledger_a_plan_finds_the_posted_journals_with_the_runs_lookups() {
    let env = Env::start(looker_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let first: Arc<dyn StateStore> = Arc::new(
        SqliteStore::open(dir.path().join("first.db"))
            .await
            .unwrap(),
    );
    let flow = env.post_flow(first, &open_period(), options());
    let posted = flow.run().await.unwrap();
    assert_eq!(posted.counts.documents_posted, 3, "{posted}");

    // The ledger is lost (a new store): Acumatica's lookup is what both go by.
    let fresh: Arc<dyn StateStore> = Arc::new(
        SqliteStore::open(dir.path().join("fresh.db"))
            .await
            .unwrap(),
    );
    let flow = env.post_flow(fresh.clone(), &open_period(), options());
    let (plan, plan_lookups) = planned(&env, &flow).await;
    assert_eq!(store_contents(&fresh, flow.name()).await, (0, 0));
    // And a plan without any store says the same, with the same requests.
    let before = lookups(&env);
    let storeless = PostFlow::builder(flow_support::mapping())
        .source(
            sync_core::post::LookerQuerySource::new(
                env.looker.clone(),
                &flow_support::query(&open_period()),
                &flow_support::mapping(),
            )
            .unwrap(),
        )
        .sink(sync_core::post::AcumaticaJournals::new(
            env.acumatica.clone(),
        ))
        .options(options())
        .plan()
        .await
        .unwrap();
    assert_eq!(lookups(&env) - before, plan_lookups);
    assert_eq!(plan_states(&storeless), plan_states(&plan));

    let (rerun, run_lookups) = ran(&env, &flow).await;
    assert_eq!(rerun.counts.documents_posted, 0, "{rerun}");
    assert_eq!((plan_lookups, run_lookups), (2, 2));
    assert_eq!(plan_states(&plan), run_states(&rerun));
    for j in &plan.journals {
        let batch = posted
            .documents
            .iter()
            .find(|d| d.natural_key == j.key.to_string())
            .map(|d| d.state.clone());
        let Some(DocumentState::Posted { batch }) = batch else {
            panic!("{}: not posted by the first run", j.key);
        };
        assert_eq!(j.state, PlannedState::AlreadyPosted { batch: Some(batch) });
    }
    env.shutdown().await;
}
