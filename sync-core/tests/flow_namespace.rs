//! Stable partitions end to end, on both state-store backends: a renamed flow with
//! `key_namespace` recognises its journals; a renamed flow without it, or a renamed `group_by`
//! value, is refused (policy `refuse`) or warned about (default) before anything is posted.
#![cfg(feature = "flows")]

mod flow_support;

use std::sync::Arc;

use async_trait::async_trait;
use flow_support::{Env, open_period, stores};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;
use sync_core::mapping::{JournalMapping, Row};
use sync_core::post::{
    AcumaticaJournals, ForeignJournalPolicy, LookerQuerySource, PostFlow, PostOptions,
};
use sync_core::store::{AuditStage, StateStore};
use sync_core::traits::{PageStream, RecordSource};
use testkit::looker::LookerConfig;
use testkit::seed;

const JT_PUT: &str = "/entity/Default/24.200.001/JournalTransaction";
const POOL: &str = "overhead_allocation.pool_name";

fn looker_config() -> LookerConfig {
    LookerConfig::default().with_months(seed::LAST_CLOSED_MONTH + 1, seed::LAST_CLOSED_MONTH + 1)
}

/// The Looker rows with a display column added (`pool_name`), as a cost center's name.
struct Named {
    inner: LookerQuerySource,
    name: Option<&'static str>,
}

#[async_trait]
impl RecordSource for Named {
    type Record = Row;
    type Cursor = ();
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn pages(&self, after: Option<&()>) -> sync_core::Result<PageStream<Row>> {
        let name = self.name;
        let pages = self.inner.pages(after).await?;
        Ok(pages
            .map_ok(move |page| {
                page.into_iter()
                    .map(|mut row| {
                        if let Some(n) = name {
                            row.insert(POOL.into(), Value::String(n.into()));
                        }
                        row
                    })
                    .collect()
            })
            .boxed())
    }
}

/// The allocation mapping under another flow name, optionally with a key namespace and a
/// `group_by` on the display column.
fn mapping(flow: &str, namespace: Option<&str>, group_by_name: bool) -> JournalMapping {
    let mut m = flow_support::mapping();
    m.flow = flow.into();
    m.key_namespace = namespace.map(str::to_owned);
    if group_by_name {
        m.document.group_by = vec![POOL.into()];
    }
    m.check().unwrap();
    m
}

fn flow(
    env: &Env,
    store: &Arc<dyn StateStore>,
    mapping: JournalMapping,
    name: Option<&'static str>,
    policy: ForeignJournalPolicy,
) -> PostFlow {
    // Looker is asked for the base columns; the display column is added by the wrapper.
    let inner = LookerQuerySource::new(
        env.looker.clone(),
        &flow_support::query(&open_period()),
        &flow_support::mapping(),
    )
    .unwrap();
    PostFlow::builder(mapping)
        .source(Named { inner, name })
        .sink(AcumaticaJournals::new(env.acumatica.clone()))
        .store(store.clone())
        .options(PostOptions {
            foreign_journals: policy,
            ..Default::default()
        })
        .owner("test-owner")
        .build()
        .unwrap()
}

fn puts(env: &Env) -> usize {
    env.acu.log().count("PUT", JT_PUT)
}

#[tokio::test]
async fn a_renamed_flow_with_key_namespace_posts_nothing_new() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(looker_config()).await;
        let original = mapping("overhead_allocation", None, false);
        flow(&env, store, original, None, ForeignJournalPolicy::Refuse)
            .run()
            .await
            .unwrap();
        assert_eq!(puts(&env), 3, "{backend}");

        let renamed = mapping("overhead_allocation_v2", Some("overhead_allocation"), false);
        let summary = flow(&env, store, renamed, None, ForeignJournalPolicy::Refuse)
            .run()
            .await
            .unwrap();
        assert_eq!(summary.counts.documents_posted, 0, "{backend}: {summary}");
        assert_eq!(summary.counts.duplicates_skipped, 3, "{backend}: {summary}");
        assert_eq!(puts(&env), 3, "{backend}: nothing posted again");
        env.shutdown().await;
    }
}

#[tokio::test]
async fn a_renamed_flow_without_key_namespace_is_refused_or_warned_before_posting() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(looker_config()).await;
        flow(
            &env,
            store,
            mapping("overhead_allocation", None, false),
            None,
            ForeignJournalPolicy::Refuse,
        )
        .run()
        .await
        .unwrap();
        let batches: Vec<String> = env
            .tagged_batches()
            .into_iter()
            .map(|b| b.batch_nbr)
            .collect();

        let renamed = || mapping("overhead_allocation_v2", None, false);
        let err = flow(&env, store, renamed(), None, ForeignJournalPolicy::Refuse)
            .run()
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("key_namespace"), "{backend}: {text}");
        for b in &batches {
            assert!(
                text.contains(b.as_str()),
                "{backend}: {b} not named: {text}"
            );
        }
        assert_eq!(puts(&env), 3, "{backend}: refused before any PUT");

        // The default warns (audit trail) and posts: it cannot tell a renamed flow from
        // another flow posting to the same period and branch.
        let warned = flow(&env, store, renamed(), None, ForeignJournalPolicy::Warn)
            .run()
            .await
            .unwrap();
        let audit = store.audit_for_run(&warned.run_id).await.unwrap();
        assert!(
            audit.iter().any(|a| a.stage == AuditStage::Skipped
                && a.outcome.contains("partitions this flow does not produce")),
            "{backend}: {audit:#?}"
        );
        env.shutdown().await;
    }
}

#[tokio::test]
async fn a_renamed_group_by_value_is_refused_before_posting() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(looker_config()).await;
        let grouped = || mapping("overhead_allocation", None, true);
        flow(
            &env,
            store,
            grouped(),
            Some("Overhead"),
            ForeignJournalPolicy::Refuse,
        )
        .run()
        .await
        .unwrap();
        assert_eq!(puts(&env), 3, "{backend}");
        // The cost center's display name changed: new partitions for the same period/branch.
        let err = flow(
            &env,
            store,
            grouped(),
            Some("Overhead pool"),
            ForeignJournalPolicy::Refuse,
        )
        .run()
        .await
        .unwrap_err();
        assert!(err.to_string().contains("group_by"), "{backend}: {err}");
        assert_eq!(puts(&env), 3, "{backend}: nothing posted twice");
        // Unchanged names: no complaint, nothing to post.
        let same = flow(
            &env,
            store,
            grouped(),
            Some("Overhead"),
            ForeignJournalPolicy::Refuse,
        )
        .run()
        .await
        .unwrap();
        assert_eq!(same.counts.documents_posted, 0, "{backend}: {same}");
        env.shutdown().await;
    }
}
