//! Changed figures end to end (Looker fake → post flow → Acumatica fake), on both state-store
//! backends: figures that go A → B → A (→ B) under each changed-content policy, a policy changed
//! between runs, and a reversal whose answer is lost (with and without a crash).
//!
//! Every scenario ends by checking Acumatica itself: for each partition, the net of every
//! journal tagged for it (postings and reversals) equals the current Looker figures, and
//! exactly one posting is in effect.
#![cfg(feature = "flows")]

mod flow_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use flow_support::{Env, open_period, stores};
use futures::{StreamExt, TryStreamExt};
use rust_decimal::Decimal;
use serde_json::Value;
use sync_core::Error;
use sync_core::key::{
    ChangedContentPolicy, KeyMatch, NaturalKey, PartitionKey, ReversalKey, match_existing,
};
use sync_core::mapping::{JournalDocument, Row};
use sync_core::post::{AcumaticaJournals, LookerQuerySource, PostFlow, PostOptions};
use sync_core::store::{LedgerFilter, LedgerState, StateStore};
use sync_core::traits::{DocumentSink, ExistingDocument, PageStream, RecordSource};
use sync_core::validate::ReferenceData;
use testkit::faults::{FaultKind, FaultRule};
use testkit::looker::LookerConfig;
use testkit::seed;

const JT_PUT: &str = "/entity/Default/24.200.001/JournalTransaction";
const FLOW: &str = "overhead_allocation";

fn looker_config() -> LookerConfig {
    LookerConfig::default().with_months(seed::LAST_CLOSED_MONTH + 1, seed::LAST_CLOSED_MONTH + 1)
}

/// The Looker rows, with `cents` moved between two cost centers of the HQ journal: `0` gives
/// figures A, anything else other figures (still balanced) for the same partition.
struct Figures {
    inner: LookerQuerySource,
    cents: i64,
}

fn tweak(mut row: Row, cents: i64) -> Row {
    if cents == 0 || row["overhead_allocation.branch"] != "HQ" {
        return row;
    }
    let sub = row["overhead_allocation.subaccount"]
        .as_str()
        .map(str::to_owned);
    let sign = match sub.as_deref() {
        Some("100-000") => 1,
        Some("200-000") => -1,
        _ => return row,
    };
    let amount: Decimal = match &row["overhead_allocation.amount"] {
        Value::String(s) => s.parse().unwrap(),
        other => other.to_string().parse().unwrap(),
    };
    row.insert(
        "overhead_allocation.amount".into(),
        Value::String((amount + Decimal::new(sign * cents, 2)).to_string()),
    );
    row
}

#[async_trait]
impl RecordSource for Figures {
    type Record = Row;
    type Cursor = ();
    fn describe(&self) -> String {
        format!("{} moved {} cent(s)", self.inner.describe(), self.cents)
    }
    async fn pages(&self, after: Option<&()>) -> sync_core::Result<PageStream<Row>> {
        let cents = self.cents;
        let pages = self.inner.pages(after).await?;
        Ok(pages
            .map_ok(move |page| page.into_iter().map(|r| tweak(r, cents)).collect())
            .boxed())
    }
}

fn source(env: &Env, cents: i64) -> Figures {
    let mapping = flow_support::mapping();
    let inner = LookerQuerySource::new(
        env.looker.clone(),
        &flow_support::query(&open_period()),
        &mapping,
    )
    .unwrap();
    Figures { inner, cents }
}

fn options(policy: ChangedContentPolicy) -> PostOptions {
    PostOptions {
        changed_content: policy,
        ..Default::default()
    }
}

/// Creates in flight at once, per scenario (the properties hold with 1 and 4).
const CONCURRENCY: [usize; 2] = [1, 4];

/// The allocation flow reading figures `cents` under `policy`.
fn flow(
    env: &Env,
    store: &Arc<dyn StateStore>,
    cents: i64,
    policy: ChangedContentPolicy,
) -> PostFlow {
    flow_n(env, store, cents, policy, 1)
}

fn flow_n(
    env: &Env,
    store: &Arc<dyn StateStore>,
    cents: i64,
    policy: ChangedContentPolicy,
    concurrency: usize,
) -> PostFlow {
    PostFlow::builder(flow_support::mapping())
        .source(source(env, cents))
        .sink(AcumaticaJournals::new(env.acumatica.clone()))
        .store(store.clone())
        .options(PostOptions {
            concurrency,
            ..options(policy)
        })
        .owner("test-owner")
        .build()
        .unwrap()
}

/// The journals the figures `cents` map to.
async fn current(env: &Env, cents: i64) -> Vec<JournalDocument> {
    let rows: Vec<Row> = source(env, cents)
        .pages(None)
        .await
        .unwrap()
        .try_concat()
        .await
        .unwrap();
    let mapped = flow_support::mapping().map_rows(&rows).unwrap();
    assert!(mapped.errors.is_empty(), "{:?}", mapped.errors);
    mapped.documents
}

fn net(
    lines: impl IntoIterator<Item = (String, Option<String>, Decimal)>,
) -> BTreeMap<(String, Option<String>), Decimal> {
    let mut out = BTreeMap::new();
    for (account, sub, amount) in lines {
        *out.entry((account, sub)).or_insert(Decimal::ZERO) += amount;
    }
    out.retain(|_, v| !v.is_zero());
    out
}

/// Acumatica's in-effect lines of each partition equal the figures `cents`, with exactly one
/// posting in effect (of the current content).
async fn assert_in_effect(env: &Env, cents: i64, what: &str) {
    let batches = env.acu.state().journal_transactions();
    for doc in current(env, cents).await {
        let key = NaturalKey::for_document(&doc);
        let needle = key.partition().description_needle();
        let tagged: Vec<_> = batches
            .iter()
            .filter(|b| {
                b.description
                    .as_deref()
                    .is_some_and(|d| d.contains(&needle))
            })
            .collect();
        let found = match_existing(
            &key,
            tagged
                .iter()
                .map(|b| (b.description.as_deref().unwrap(), b.batch_nbr.clone())),
        );
        assert!(
            matches!(found, KeyMatch::Posted(_)),
            "{what}: {} not in effect: {found:?}; {tagged:#?}",
            doc.partition
        );
        // Postings minus reversals, content by content: exactly one posting left.
        let postings = tagged
            .iter()
            .filter(|b| b.description.as_deref().unwrap().contains("[mlc:"))
            .count();
        let reversals = tagged
            .iter()
            .filter(|b| b.description.as_deref().unwrap().contains("[mlc-rev:"))
            .count();
        assert_eq!(postings, reversals + 1, "{what}: {}", doc.partition);
        let in_acumatica = net(tagged.iter().flat_map(|b| {
            b.lines.iter().map(|l| {
                (
                    l.account.clone().unwrap(),
                    l.subaccount.clone(),
                    l.debit - l.credit,
                )
            })
        }));
        let wanted = net(doc
            .lines
            .iter()
            .map(|l| (l.account.clone(), l.subaccount.clone(), l.debit - l.credit)));
        assert_eq!(in_acumatica, wanted, "{what}: {}", doc.partition);
    }
}

fn puts(env: &Env) -> usize {
    env.acu.log().count("PUT", JT_PUT)
}

#[tokio::test]
async fn figures_a_b_a_b_under_reverse_and_repost_end_at_the_current_figures_each_time() {
    for n in CONCURRENCY {
        a_b_a_b(n).await;
    }
}

async fn a_b_a_b(n: usize) {
    use ChangedContentPolicy::ReverseAndRepost as R;
    let flow = |env: &Env, store: &Arc<dyn StateStore>, cents: i64, policy| {
        flow_n(env, store, cents, policy, n)
    };
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let backend = format!("{backend}, concurrency {n}");
        let env = Env::start(looker_config()).await;
        flow(&env, store, 0, R).run().await.unwrap();
        assert_eq!(puts(&env), 3, "{backend}");
        assert_in_effect(&env, 0, &format!("{backend}: A")).await;

        let b = flow(&env, store, 1, R).run().await.unwrap();
        assert_eq!(b.counts.reversed, 1, "{backend}: {b}");
        assert_eq!(puts(&env), 5, "{backend}: one reversal, one posting");
        assert_in_effect(&env, 1, &format!("{backend}: A -> B")).await;

        // Back to A: B is reversed and A posted again (it was reversed before).
        let a = flow(&env, store, 0, R).run().await.unwrap();
        assert_eq!(a.counts.reversed, 1, "{backend}: {a}");
        assert_eq!(puts(&env), 7, "{backend}: {a}");
        assert_in_effect(&env, 0, &format!("{backend}: A -> B -> A")).await;

        // And B again: a second reversal of content A (of another batch), once.
        let b2 = flow(&env, store, 1, R).run().await.unwrap();
        assert_eq!(b2.counts.reversed, 1, "{backend}: {b2}");
        assert_eq!(puts(&env), 9, "{backend}: {b2}");
        assert_in_effect(&env, 1, &format!("{backend}: A -> B -> A -> B")).await;

        // Settled: a rerun sends nothing.
        let again = flow(&env, store, 1, R).run().await.unwrap();
        assert_eq!(again.counts.documents_posted, 0, "{backend}: {again}");
        assert_eq!(puts(&env), 9, "{backend}");

        // The ledger agrees: three reversals, each under its own key; the two contents of HQ
        // posted twice each, A re-opened (reversed), B settled.
        let ledger = store
            .ledger_entries(FLOW, &LedgerFilter::default())
            .await
            .unwrap();
        let reversals: Vec<ReversalKey> = ledger
            .iter()
            .filter_map(|e| e.natural_key.parse::<ReversalKey>().ok())
            .collect();
        assert_eq!(reversals.len(), 3, "{backend}: {ledger:#?}");
        assert!(
            ledger.iter().all(|e| e.state == LedgerState::Posted),
            "{backend}: {ledger:#?}"
        );
        let hq: Vec<_> = ledger
            .iter()
            .filter(|e| e.partition.contains("HQ") && e.natural_key.parse::<NaturalKey>().is_ok())
            .collect();
        assert_eq!(hq.len(), 2, "{backend}: {hq:#?}");
        assert_eq!(
            hq.iter().filter(|e| e.is_settled()).count(),
            1,
            "{backend}: the reversed content is re-opened: {hq:#?}"
        );
        // Reversals are tagged in the original partition and name the reversed posting.
        let hq_partition: PartitionKey = hq[0]
            .natural_key
            .parse::<NaturalKey>()
            .unwrap()
            .partition()
            .clone();
        assert!(
            reversals
                .iter()
                .all(|r| *r.reversed().partition() == hq_partition)
        );
        env.shutdown().await;
    }
}

#[tokio::test]
async fn figures_a_b_a_under_fail_stop_with_a_clear_error_and_send_nothing() {
    use ChangedContentPolicy::Fail as F;
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(looker_config()).await;
        flow(&env, store, 0, F).run().await.unwrap();
        let err = flow(&env, store, 1, F).run().await.unwrap_err();
        match &err {
            Error::ChangedContent(docs) => {
                assert_eq!(docs.len(), 1, "{backend}: {err}");
                assert!(docs[0].partition.contains("HQ"), "{err}");
            }
            other => panic!("{backend}: {other}"),
        }
        assert!(err.to_string().contains("changed"), "{backend}: {err}");
        assert_eq!(puts(&env), 3, "{backend}: fail sends nothing");
        assert_in_effect(&env, 0, &format!("{backend}: A -> B(fail)")).await;
        // Back to A: nothing to do, A is in effect.
        let a = flow(&env, store, 0, F).run().await.unwrap();
        assert_eq!(a.counts.documents_posted, 0, "{backend}: {a}");
        assert_eq!(puts(&env), 3, "{backend}");
        assert_in_effect(&env, 0, &format!("{backend}: A -> B(fail) -> A")).await;
        env.shutdown().await;
    }
}

#[tokio::test]
async fn figures_a_b_a_under_skip_leave_a_in_effect() {
    use ChangedContentPolicy::Skip as S;
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(looker_config()).await;
        flow(&env, store, 0, S).run().await.unwrap();
        let b = flow(&env, store, 1, S).run().await.unwrap();
        assert_eq!(b.counts.changed_skipped, 1, "{backend}: {b}");
        assert_eq!(puts(&env), 3, "{backend}");
        let a = flow(&env, store, 0, S).run().await.unwrap();
        assert_eq!(a.counts.documents_posted, 0, "{backend}: {a}");
        assert_eq!(puts(&env), 3, "{backend}");
        assert_in_effect(&env, 0, &format!("{backend}: A -> B(skip) -> A")).await;
        env.shutdown().await;
    }
}

#[tokio::test]
async fn a_skip_recorded_earlier_does_not_stop_a_later_run_under_reverse_and_repost() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(looker_config()).await;
        flow(&env, store, 0, ChangedContentPolicy::Skip)
            .run()
            .await
            .unwrap();
        let skipped = flow(&env, store, 1, ChangedContentPolicy::Skip)
            .run()
            .await
            .unwrap();
        assert_eq!(skipped.counts.changed_skipped, 1, "{backend}: {skipped}");
        // Skip stands while it is the policy.
        let still = flow(&env, store, 1, ChangedContentPolicy::Skip)
            .run()
            .await
            .unwrap();
        assert_eq!(still.counts.documents_posted, 0, "{backend}: {still}");
        assert_eq!(puts(&env), 3, "{backend}");

        // The policy changed: the skipped journal is decided again and acted on.
        let acted = flow(&env, store, 1, ChangedContentPolicy::ReverseAndRepost)
            .run()
            .await
            .unwrap();
        assert_eq!(acted.counts.reversed, 1, "{backend}: {acted}");
        assert_eq!(puts(&env), 5, "{backend}: {acted}");
        assert_in_effect(&env, 1, &format!("{backend}: skip then reverse_and_repost")).await;

        // A skip then `fail`: decided again too, and refused.
        let env2 = Env::start(looker_config()).await;
        let (_, store2) = &stores_for(backend).await;
        flow(&env2, store2, 0, ChangedContentPolicy::Skip)
            .run()
            .await
            .unwrap();
        flow(&env2, store2, 1, ChangedContentPolicy::Skip)
            .run()
            .await
            .unwrap();
        let err = flow(&env2, store2, 1, ChangedContentPolicy::Fail)
            .run()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::ChangedContent(_)), "{backend}: {err}");
        assert_eq!(puts(&env2), 3, "{backend}");
        env2.shutdown().await;
        env.shutdown().await;
    }
}

/// A fresh store of the same backend.
async fn stores_for(backend: &str) -> (tempfile::TempDir, Arc<dyn StateStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = match backend {
        "postgres" => Arc::new(
            flow_support::postgres_store(
                &flow_support::postgres_url().unwrap(),
                &flow_support::fresh_schema(),
            )
            .await,
        ),
        _ => Arc::new(
            sync_core::store::SqliteStore::open(dir.path().join("state.db"))
                .await
                .unwrap(),
        ),
    };
    (dir, store)
}

/// The Acumatica sink, dying (panic) right after its first reversal request, as a process
/// killed between the reversal's PUT and recording its outcome.
struct CrashAfterReversal {
    inner: AcumaticaJournals,
    armed: AtomicBool,
}

#[async_trait]
impl DocumentSink for CrashAfterReversal {
    async fn find(&self, p: &[PartitionKey]) -> sync_core::Result<Vec<ExistingDocument>> {
        self.inner.find(p).await
    }
    async fn create(
        &self,
        d: &JournalDocument,
        k: &NaturalKey,
    ) -> sync_core::Result<ExistingDocument> {
        self.inner.create(d, k).await
    }
    async fn create_reversal(
        &self,
        d: &JournalDocument,
        k: &ReversalKey,
    ) -> sync_core::Result<ExistingDocument> {
        let result = self.inner.create_reversal(d, k).await;
        if self.armed.swap(false, Ordering::SeqCst) {
            panic!(
                "simulated crash after the reversal was sent ({:?})",
                result.map(|r| r.number)
            );
        }
        result
    }
    async fn release(&self, d: &ExistingDocument) -> sync_core::Result<()> {
        self.inner.release(d).await
    }
    async fn fetch(&self, d: &ExistingDocument) -> sync_core::Result<JournalDocument> {
        self.inner.fetch(d).await
    }
    async fn reference_data(&self) -> sync_core::Result<ReferenceData> {
        self.inner.reference_data().await
    }
}

#[tokio::test]
async fn a_reversal_whose_answer_is_lost_is_confirmed_by_lookup_not_sent_again() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(looker_config()).await;
        flow(&env, store, 0, ChangedContentPolicy::ReverseAndRepost)
            .run()
            .await
            .unwrap();
        // The next PUT is the reversal (it comes before the new version).
        let rule = env.acu.faults().add(
            FaultRule::new(FaultKind::DropAfterWrite)
                .method("PUT")
                .path(JT_PUT)
                .times(1),
        );
        let b = flow(&env, store, 1, ChangedContentPolicy::ReverseAndRepost)
            .run()
            .await
            .unwrap();
        assert_eq!(env.acu.faults().fired(rule), 1, "{backend}");
        assert_eq!(b.counts.reversed, 1, "{backend}: {b}");
        assert_eq!(puts(&env), 5, "{backend}: the reversal was sent once");
        assert_in_effect(&env, 1, &format!("{backend}: dropped reversal")).await;
        env.shutdown().await;
    }
}

#[tokio::test]
async fn a_crash_between_the_reversal_put_and_its_outcome_settles_without_a_second_reversal() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(looker_config()).await;
        flow(&env, store, 0, ChangedContentPolicy::ReverseAndRepost)
            .run()
            .await
            .unwrap();
        env.acu.faults().add(
            FaultRule::new(FaultKind::DropAfterWrite)
                .method("PUT")
                .path(JT_PUT)
                .times(1),
        );
        let crashing = PostFlow::builder(flow_support::mapping())
            .source(source(&env, 1))
            .sink(CrashAfterReversal {
                inner: AcumaticaJournals::new(env.acumatica.clone()),
                armed: AtomicBool::new(true),
            })
            .store(store.clone())
            .options(options(ChangedContentPolicy::ReverseAndRepost))
            .owner("test-owner")
            .build()
            .unwrap();
        let died = tokio::spawn(async move { crashing.run().await }).await;
        assert!(died.unwrap_err().is_panic(), "{backend}");
        assert_eq!(puts(&env), 4, "{backend}: the reversal reached Acumatica");
        let pending = store.pending_intents(FLOW).await.unwrap();
        assert!(
            pending
                .iter()
                .any(|e| e.natural_key.parse::<ReversalKey>().is_ok()),
            "{backend}: the reversal's intent was recorded before its PUT: {pending:#?}"
        );

        let restarted = flow(&env, store, 1, ChangedContentPolicy::ReverseAndRepost);
        let summary = restarted.run().await.unwrap();
        assert!(summary.counts.reconciled_found >= 1, "{backend}: {summary}");
        assert_eq!(summary.counts.reversed, 0, "{backend}: {summary}");
        assert_eq!(
            puts(&env),
            5,
            "{backend}: no second reversal, the new version once"
        );
        assert_in_effect(&env, 1, &format!("{backend}: crash in reversal")).await;
        let again = restarted.run().await.unwrap();
        assert_eq!(again.counts.documents_posted, 0, "{backend}: {again}");
        assert_eq!(puts(&env), 5, "{backend}");
        env.shutdown().await;
    }
}
