//! Writes still in flight: Acumatica's licence queue may apply a create up to ten minutes after
//! it was sent, even when the client has given up (FACTS §4). The fake holds an insert past the
//! client's timeout ([`FaultKind::Queued`]) and applies it when the test releases it, after the
//! rerun's lookup. Nothing may then be created twice: not the same journal, and not another
//! version of its partition (figures changed meanwhile). On both state stores, with
//! `concurrency` 1 and 4.
#![cfg(feature = "flows")]

mod flow_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use flow_support::{Env, open_period, stores};
use futures::{StreamExt, TryStreamExt};
use rust_decimal::Decimal;
use serde_json::Value;
use sync_core::key::ChangedContentPolicy;
use sync_core::mapping::Row;
use sync_core::post::{
    AcumaticaJournals, DocumentState, LookerQuerySource, PostFlow, PostOptions, RunSummary,
};
use sync_core::store::{LedgerFilter, LedgerState, RunStatus, StateStore};
use sync_core::traits::{PageStream, RecordSource};
use testkit::faults::{FaultKind, FaultRule};
use testkit::looker::{LookerConfig, overhead_pool};
use testkit::seed::{self, credentials};

const JT_PUT: &str = "/entity/Default/24.200.001/JournalTransaction";

/// The client gives up on a request after this long; the fake keeps queued ones far longer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(1);

fn month() -> u32 {
    seed::LAST_CLOSED_MONTH + 1
}

fn looker_config() -> LookerConfig {
    LookerConfig::default().with_months(month(), month())
}

/// An Acumatica client for the fake that gives up on a request after [`CLIENT_TIMEOUT`].
fn impatient_client(env: &Env) -> acumatica_client::Client {
    acumatica_client::Client::builder(env.acu.url())
        .endpoint_version(flow_support::VERSION)
        .tenant(seed::TENANT)
        .oauth_password(
            credentials::ACUMATICA_CLIENT_ID,
            credentials::ACUMATICA_CLIENT_SECRET,
            credentials::ACUMATICA_USERNAME,
            credentials::ACUMATICA_PASSWORD,
        )
        .allow_insecure_http(true)
        .page_size(25)
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap()
}

/// The next insert waits in the fake's licence queue until the test releases it, then lands.
fn queue_next_insert(env: &Env) {
    env.acu.faults().add(
        FaultRule::new(FaultKind::Queued(Duration::from_secs(600)))
            .method("PUT")
            .path(JT_PUT)
            .times(1),
    );
}

/// The Looker rows, with one cent moved between two cost centers of `branch` (still balanced:
/// other figures for the same partition), or unchanged for `None`.
struct Figures {
    inner: LookerQuerySource,
    changed_branch: Option<String>,
}

#[async_trait]
impl RecordSource for Figures {
    type Record = Row;
    type Cursor = ();
    fn describe(&self) -> String {
        format!(
            "figures {:?} {}",
            self.changed_branch,
            self.inner.describe()
        )
    }
    async fn pages(&self, after: Option<&()>) -> sync_core::Result<PageStream<Row>> {
        let pages = self.inner.pages(after).await?;
        let branch = self.changed_branch.clone();
        Ok(pages
            .map_ok(move |page| {
                page.into_iter()
                    .map(|mut row| {
                        let hit = branch
                            .as_deref()
                            .is_some_and(|b| row["overhead_allocation.branch"] == b);
                        let sub = row["overhead_allocation.subaccount"]
                            .as_str()
                            .map(str::to_owned);
                        if hit && matches!(sub.as_deref(), Some("100-000" | "200-000")) {
                            let amount: Decimal = match &row["overhead_allocation.amount"] {
                                Value::String(s) => s.parse().unwrap(),
                                other => other.to_string().parse().unwrap(),
                            };
                            let delta = Decimal::new(
                                if sub.as_deref() == Some("100-000") {
                                    1
                                } else {
                                    -1
                                },
                                2,
                            );
                            row.insert(
                                "overhead_allocation.amount".into(),
                                Value::String((amount + delta).to_string()),
                            );
                        }
                        row
                    })
                    .collect()
            })
            .boxed())
    }
}

fn figures(env: &Env, changed_branch: Option<&str>) -> Figures {
    let mapping = flow_support::mapping();
    Figures {
        inner: LookerQuerySource::new(
            env.looker.clone(),
            &flow_support::query(&open_period()),
            &mapping,
        )
        .unwrap(),
        changed_branch: changed_branch.map(str::to_owned),
    }
}

fn flow(
    env: &Env,
    store: Arc<dyn StateStore>,
    options: PostOptions,
    changed_branch: Option<&str>,
) -> PostFlow {
    PostFlow::builder(flow_support::mapping())
        .source(figures(env, changed_branch))
        .sink(AcumaticaJournals::new(impatient_client(env)))
        .store(store)
        .options(options)
        .owner("test-owner")
        .build()
        .unwrap()
}

fn options(concurrency: usize, settle_horizon_secs: u64) -> PostOptions {
    PostOptions {
        concurrency,
        settle_horizon_secs,
        changed_content: ChangedContentPolicy::ReverseAndRepost,
        ..PostOptions::default()
    }
}

/// The pending documents of a run and their texts.
fn pending(summary: &RunSummary) -> Vec<(&str, &str)> {
    summary
        .documents
        .iter()
        .filter_map(|d| match &d.state {
            DocumentState::Pending { error } => Some((d.partition.as_str(), error.as_str())),
            _ => None,
        })
        .collect()
}

/// The branch of a readable partition (`period=… branch=HQ`).
fn branch_of(partition: &str) -> String {
    partition
        .split_whitespace()
        .find_map(|p| p.strip_prefix("branch="))
        .unwrap_or_else(|| panic!("no branch in {partition}"))
        .to_owned()
}

/// The end state: for every branch, the journals the connector created add up, line by line
/// (branch, account, subaccount), to the journal the current figures map to, and each distinct
/// content was created once (a posted version and its reversal cancel out). Returns the
/// number of journals the connector created.
async fn assert_current_figures_once(env: &Env, changed_branch: Option<&str>) -> usize {
    let mapping = flow_support::mapping();
    let mut rows = Vec::new();
    let mut pages = figures(env, changed_branch).pages(None).await.unwrap();
    while let Some(page) = pages.try_next().await.unwrap() {
        rows.extend(page);
    }
    let mapped = mapping.map_rows(&rows).unwrap();
    type Net = BTreeMap<(String, String, String), Decimal>;
    let mut expected: Net = BTreeMap::new();
    for doc in &mapped.documents {
        for l in &doc.lines {
            *expected
                .entry((
                    l.branch.clone(),
                    l.account.clone(),
                    l.subaccount.clone().unwrap_or_default(),
                ))
                .or_default() += l.debit - l.credit;
        }
    }
    // Postings (`[mlc:`) and the reversals that cancel them (`[mlc-rev:`, in the same partition).
    let batches: Vec<_> = env
        .acu
        .state()
        .journal_transactions()
        .into_iter()
        .filter(|b| b.description.as_deref().is_some_and(|d| d.contains("[mlc")))
        .collect();
    let mut actual: Net = BTreeMap::new();
    let mut descriptions: BTreeMap<String, usize> = BTreeMap::new();
    for b in &batches {
        *descriptions
            .entry(b.description.clone().unwrap_or_default())
            .or_default() += 1;
        for l in &b.lines {
            *actual
                .entry((
                    l.branch.clone().unwrap_or_default(),
                    l.account.clone().unwrap_or_default(),
                    l.subaccount.clone().unwrap_or_default(),
                ))
                .or_default() += l.debit - l.credit;
        }
    }
    actual.retain(|_, v| !v.is_zero());
    expected.retain(|_, v| !v.is_zero());
    assert_eq!(
        actual, expected,
        "Acumatica's net lines differ from the current figures; batches: {batches:#?}"
    );
    for (description, n) in &descriptions {
        assert_eq!(*n, 1, "created {n} times: {description}");
    }
    for (bi, br) in seed::BRANCHES.iter().enumerate() {
        let debit: Decimal = mapped
            .documents
            .iter()
            .filter(|d| d.lines.iter().any(|l| l.branch == br.id))
            .map(|d| d.total_debit())
            .sum();
        assert_eq!(debit, overhead_pool(month(), bi), "branch {}", br.id);
    }
    batches.len()
}

/// The licence queue holds the first insert past the client's timeout; a rerun at once must
/// neither conclude "never created" nor create it again; once the queued write has landed
/// (after the rerun's lookup), the next run settles it as posted. Before the settle horizon the
/// old protocol reconciled it as never created and posted it again: two journals.
#[tokio::test]
async fn a_write_applied_late_is_never_created_again() {
    let stores = stores().await;
    let dir = tempfile::tempdir().unwrap();
    for (backend, _) in &stores.list {
        for concurrency in [1, 4] {
            // A fresh store per case: the ledger must start empty.
            let (store, _guard) = fresh_store(backend, &dir).await;
            let env = Env::start(looker_config()).await;
            queue_next_insert(&env);
            let flow = flow(&env, store.clone(), options(concurrency, 3600), None);
            let case = format!("{backend}, concurrency {concurrency}");

            let first = flow.run().await.unwrap();
            assert_eq!(
                first.status,
                RunStatus::CompletedWithErrors,
                "{case}: {first}"
            );
            assert_eq!(first.counts.documents_posted, 2, "{case}: {first}");
            assert_eq!(first.counts.pending, 1, "{case}: {first}");
            assert_eq!(first.counts.in_flight, 1, "{case}: {first}");
            let until = first.settles_after().expect("a time to rerun after");
            let text = format!("{first}");
            assert!(text.contains("possibly still queued"), "{case}: {text}");
            assert_eq!(
                env.acu.faults().queued_held(),
                1,
                "{case}: held in the queue"
            );
            let entry = store
                .ledger_entries("overhead_allocation", &LedgerFilter::default())
                .await
                .unwrap()
                .into_iter()
                .find(|e| e.state == LedgerState::Intended)
                .expect("the queued journal stays intended");
            let attempted = entry.attempted_at.expect("its send was recorded");
            assert_eq!(until, attempted + chrono::Duration::seconds(3600), "{case}");

            // Rerun at once, while the write is still queued: nothing is sent for it.
            let second = flow.run().await.unwrap();
            assert_eq!(
                second.status,
                RunStatus::CompletedWithErrors,
                "{case}: {second}"
            );
            assert_eq!(second.counts.documents_posted, 0, "{case}: {second}");
            assert_eq!(second.counts.reconciled_absent, 0, "{case}: {second}");
            assert_eq!(second.counts.in_flight, 1, "{case}: {second}");
            let held = pending(&second);
            assert_eq!(held.len(), 1, "{case}: reported once: {second:#?}");
            assert!(
                held[0]
                    .1
                    .contains("may still be applied by Acumatica until"),
                "{case}: {}",
                held[0].1
            );
            assert_eq!(env.acu.state().created("JournalTransaction"), 2, "{case}");
            assert_eq!(env.acu.log().count("PUT", JT_PUT), 2, "{case}: not resent");

            // The queue lets it through after the rerun's lookup: it lands now.
            env.acu.faults().release_queued();
            env.acu.faults().wait_queued_applied(1).await;
            assert_eq!(env.acu.state().created("JournalTransaction"), 3, "{case}");

            let third = flow.run().await.unwrap();
            assert_eq!(third.status, RunStatus::Succeeded, "{case}: {third}");
            assert_eq!(third.counts.reconciled_found, 1, "{case}: {third}");
            assert_eq!(third.counts.documents_posted, 0, "{case}: {third}");
            assert_eq!(third.settles_after(), None, "{case}");
            assert_eq!(assert_current_figures_once(&env, None).await, 3, "{case}");
            let ledger = flow.ledger(&LedgerFilter::default()).await.unwrap();
            assert!(
                ledger.iter().all(|e| e.state == LedgerState::Posted),
                "{case}: {ledger:#?}"
            );
            env.shutdown().await;
        }
    }
}

/// Figures change while the first version's insert is queued: the rerun maps other content for
/// the same partition (a new natural key whose lookup finds nothing yet). It must not be
/// created while the first may still land; once it has landed, `reverse_and_repost` reverses it
/// and posts the current figures. Before: the new version was created at once and the queued
/// one landed after it, two journals in one partition.
#[tokio::test]
async fn figures_changed_while_a_write_is_queued_never_give_a_partition_two_journals() {
    let stores = stores().await;
    let dir = tempfile::tempdir().unwrap();
    for (backend, _) in &stores.list {
        for concurrency in [1, 4] {
            let (store, _guard) = fresh_store(backend, &dir).await;
            let env = Env::start(looker_config()).await;
            queue_next_insert(&env);
            let case = format!("{backend}, concurrency {concurrency}");
            let first = flow(&env, store.clone(), options(concurrency, 3600), None)
                .run()
                .await
                .unwrap();
            assert_eq!(first.counts.in_flight, 1, "{case}: {first}");
            let queued_partition = pending(&first)[0].0.to_owned();
            let branch = branch_of(&queued_partition);

            // Content B for the queued partition, A still in the licence queue.
            let changed = flow(
                &env,
                store.clone(),
                options(concurrency, 3600),
                Some(&branch),
            );
            let second = changed.run().await.unwrap();
            assert_eq!(
                second.status,
                RunStatus::CompletedWithErrors,
                "{case}: {second}"
            );
            assert_eq!(second.counts.documents_posted, 0, "{case}: {second}");
            assert_eq!(second.counts.reversed, 0, "{case}: {second}");
            let held = pending(&second);
            assert_eq!(held.len(), 2, "{case}: A in flight, B held: {second:#?}");
            assert!(
                held.iter().all(|(p, _)| *p == queued_partition),
                "{case}: {held:?}"
            );
            assert!(
                held.iter()
                    .any(|(_, t)| t.contains("an earlier version of this journal")),
                "{case}: {held:?}"
            );
            assert_eq!(env.acu.state().created("JournalTransaction"), 2, "{case}");

            env.acu.faults().release_queued();
            env.acu.faults().wait_queued_applied(1).await;

            let third = changed.run().await.unwrap();
            assert_eq!(third.status, RunStatus::Succeeded, "{case}: {third}");
            assert_eq!(third.counts.reconciled_found, 1, "{case}: {third}");
            assert_eq!(third.counts.reversed, 1, "{case}: {third}");
            assert_eq!(
                third.counts.documents_posted, 2,
                "{case}: reversal and B: {third}"
            );
            // A, its reversal and B in the changed partition; the two others once.
            assert_eq!(
                assert_current_figures_once(&env, Some(&branch)).await,
                5,
                "{case}"
            );
            env.shutdown().await;
        }
    }
}

/// A create whose outcome is unknown and that never landed (the connection dropped before the
/// server ran it) stays pending for the settle horizon, then the next run concludes "never
/// created" and posts it once. The horizon here is the 1 s client timeout; the test waits on
/// the store's clock for it, not for a guessed time.
#[tokio::test]
async fn after_the_horizon_a_write_that_never_landed_is_posted_once() {
    let stores = stores().await;
    let dir = tempfile::tempdir().unwrap();
    for (backend, _) in &stores.list {
        for concurrency in [1, 4] {
            let (store, _guard) = fresh_store(backend, &dir).await;
            let env = Env::start(looker_config()).await;
            env.acu.faults().add(
                FaultRule::new(FaultKind::DropBeforeHandler)
                    .method("PUT")
                    .path(JT_PUT)
                    .times(1),
            );
            let case = format!("{backend}, concurrency {concurrency}");
            let horizon = CLIENT_TIMEOUT.as_secs();
            let flow = flow(&env, store.clone(), options(concurrency, horizon), None);
            let first = flow.run().await.unwrap();
            assert_eq!(first.counts.in_flight, 1, "{case}: {first}");
            let until = first.settles_after().unwrap();
            while store.now().await.unwrap() <= until {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let second = flow.run().await.unwrap();
            assert_eq!(second.status, RunStatus::Succeeded, "{case}: {second}");
            assert_eq!(second.counts.reconciled_absent, 1, "{case}: {second}");
            assert_eq!(second.counts.documents_posted, 1, "{case}: {second}");
            assert_eq!(assert_current_figures_once(&env, None).await, 3, "{case}");
            assert_eq!(env.acu.state().created("JournalTransaction"), 3, "{case}");
            env.shutdown().await;
        }
    }
}

/// A settle horizon shorter than the client's request timeout is refused when the flow is
/// built from its configuration, naming the key and why.
#[test]
fn a_horizon_shorter_than_the_request_timeout_is_refused() {
    let o = PostOptions {
        settle_horizon_secs: 300,
        ..PostOptions::default()
    };
    let err = o
        .check_settle_horizon(acumatica_client::DEFAULT_TIMEOUT)
        .unwrap_err()
        .to_string();
    assert!(err.contains("post.settle_horizon_secs"), "{err}");
    assert!(err.contains("660"), "{err}");
    assert!(err.contains("twice"), "{err}");
    assert!(
        PostOptions::default()
            .check_settle_horizon(acumatica_client::DEFAULT_TIMEOUT)
            .is_ok()
    );
}

/// An empty store of `backend` (a fresh file or schema), with what keeps it alive.
async fn fresh_store(
    backend: &str,
    dir: &tempfile::TempDir,
) -> (Arc<dyn StateStore>, tempfile::TempDir) {
    let guard = tempfile::tempdir_in(dir.path()).unwrap();
    let store: Arc<dyn StateStore> = match backend {
        "postgres" => {
            let url = flow_support::postgres_url().unwrap();
            Arc::new(flow_support::postgres_store(&url, &flow_support::fresh_schema()).await)
        }
        _ => Arc::new(
            sync_core::store::SqliteStore::open(guard.path().join("state.db"))
                .await
                .unwrap(),
        ),
    };
    (store, guard)
}
