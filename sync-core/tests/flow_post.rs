//! End to end: the allocation flow (Looker fake → mapping → validation → Acumatica fake), on
//! both state-store backends.
#![cfg(feature = "flows")]

mod flow_support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use flow_support::{Env, open_period, stores};
use futures::{StreamExt, TryStreamExt};
use rust_decimal::Decimal;
use serde_json::Value;
use sync_core::Error;
use sync_core::key::{ChangedContentPolicy, NaturalKey, PartitionKey, extract_key};
use sync_core::mapping::{JournalDocument, Row};
use sync_core::post::{AcumaticaJournals, DocumentState, LookerQuerySource, PostFlow, PostOptions};
use sync_core::store::{AuditStage, LedgerFilter, LedgerState, RunStatus, StateStore};
use sync_core::traits::{DocumentSink, ExistingDocument, PageStream, RecordSource};
use sync_core::validate::{IssueKind, ReferenceData, ValidationPolicy};
use testkit::faults::{FaultKind, FaultRule};
use testkit::looker::{DataProblem, LookerConfig, overhead_pool};
use testkit::seed;

const JT_PUT: &str = "/entity/Default/24.200.001/JournalTransaction";

fn month() -> u32 {
    seed::LAST_CLOSED_MONTH + 1
}

fn looker_config() -> LookerConfig {
    LookerConfig::default().with_months(month(), month())
}

/// Every created batch is balanced, on active accounts, in the period, one per branch, with the
/// pool of its branch; returns the batch numbers.
fn assert_expected_journals(env: &Env) -> Vec<String> {
    let batches = env.tagged_batches();
    assert_eq!(batches.len(), seed::BRANCHES.len(), "{batches:#?}");
    let active: BTreeSet<&str> = seed::ACCOUNTS
        .iter()
        .filter(|a| a.active)
        .map(|a| a.cd)
        .collect();
    let mut branches = BTreeSet::new();
    for b in &batches {
        assert_eq!(b.module, "GL");
        assert_eq!(b.post_period.as_deref(), Some(open_period().as_str()));
        assert_eq!(b.ledger.as_deref(), Some(seed::LEDGER));
        let branch = b.branch.clone().unwrap();
        let bi = seed::BRANCHES.iter().position(|x| x.id == branch).unwrap();
        let debit: Decimal = b.lines.iter().map(|l| l.debit).sum();
        let credit: Decimal = b.lines.iter().map(|l| l.credit).sum();
        assert_eq!(debit, credit, "batch {} is not balanced", b.batch_nbr);
        assert_eq!(debit, overhead_pool(month(), bi), "batch {}", b.batch_nbr);
        assert_eq!(b.lines.len(), seed::COST_CENTERS.len() + 1);
        for l in &b.lines {
            let account = l.account.as_deref().unwrap();
            assert!(
                active.contains(account),
                "inactive or unknown account {account}"
            );
            assert!(l.debit.is_zero() ^ l.credit.is_zero(), "{l:?}");
        }
        assert!(extract_key(b.description.as_deref().unwrap()).is_some());
        branches.insert(branch);
    }
    assert_eq!(branches.len(), seed::BRANCHES.len());
    batches.into_iter().map(|b| b.batch_nbr).collect()
}

#[tokio::test]
async fn allocation_posts_balanced_journals_once_and_a_rerun_posts_nothing() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(looker_config()).await;
        let flow = env.post_flow(store.clone(), &open_period(), PostOptions::default());

        let first = flow.run().await.unwrap();
        assert_eq!(first.status, RunStatus::Succeeded, "{backend}: {first}");
        assert_eq!(first.counts.documents_posted, 3, "{backend}: {first}");
        assert_eq!(
            first.counts.rows_read,
            3 * (seed::COST_CENTERS.len() as u64 + 1)
        );
        assert_eq!(first.counts.duplicates_skipped, 0);
        let batches = assert_expected_journals(&env);
        let mut posted: Vec<String> = first
            .posted_batches()
            .iter()
            .map(|s| s.to_string())
            .collect();
        posted.sort();
        let mut expected = batches.clone();
        expected.sort();
        assert_eq!(posted, expected, "{backend}");
        // One lookup request for the page of three keys, one list of the period's tagged
        // journals (the foreign-journal check), one insert-only PUT per journal.
        let (periods, lookups): (Vec<_>, Vec<_>) = env
            .acu
            .log()
            .matching("GET", JT_PUT)
            .into_iter()
            .filter(|r| {
                r.query
                    .as_deref()
                    .is_some_and(|q| q.contains("substringof"))
            })
            .partition(|r| r.query.as_deref().is_some_and(|q| q.contains("PostPeriod")));
        assert_eq!(lookups.len(), 1, "{backend}");
        assert_eq!(periods.len(), 1, "{backend}");
        assert_eq!(env.acu.log().count("PUT", JT_PUT), 3, "{backend}");

        let second = flow.run().await.unwrap();
        assert_eq!(second.counts.documents_posted, 0, "{backend}: {second}");
        assert_eq!(second.counts.duplicates_skipped, 3, "{backend}: {second}");
        assert!(
            second
                .documents
                .iter()
                .all(|d| matches!(d.state, DocumentState::AlreadyPosted { .. }))
        );
        assert_eq!(
            env.acu.state().created("JournalTransaction"),
            3,
            "{backend}"
        );
        assert_eq!(env.acu.log().count("PUT", JT_PUT), 3, "{backend}");

        // Ledger, run history and audit agree.
        let ledger = flow.ledger(&LedgerFilter::default()).await.unwrap();
        assert_eq!(ledger.len(), 3);
        assert!(ledger.iter().all(|e| e.state == LedgerState::Posted));
        let runs = flow.recent_runs(5).await.unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[1].counts.written, 3);
        assert_eq!(runs[0].counts.written, 0);
        assert_eq!(runs[0].counts.skipped, 3);
        let key = &ledger[0].natural_key;
        let history = flow.audit_for_document(key).await.unwrap();
        let stages: Vec<AuditStage> = history.iter().map(|a| a.stage).collect();
        assert!(stages.contains(&AuditStage::Mapped), "{stages:?}");
        assert!(stages.contains(&AuditStage::Written), "{stages:?}");
        assert!(stages.contains(&AuditStage::Skipped), "{stages:?}");
        let written = history
            .iter()
            .find(|a| a.stage == AuditStage::Written)
            .unwrap();
        assert_eq!(
            written.summary["batch"],
            Value::String(ledger[0].batch_number.clone().unwrap())
        );
        env.shutdown().await;
    }
}

#[tokio::test]
async fn a_dropped_connection_after_the_save_is_confirmed_by_lookup_not_resent() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(looker_config()).await;
        let rule = env.acu.faults().add(
            FaultRule::new(FaultKind::DropAfterWrite)
                .method("PUT")
                .path(JT_PUT)
                .times(1),
        );
        let flow = env.post_flow(store.clone(), &open_period(), PostOptions::default());
        let summary = flow.run().await.unwrap();
        assert_eq!(env.acu.faults().fired(rule), 1);
        assert_eq!(summary.counts.documents_posted, 3, "{backend}: {summary}");
        assert_eq!(
            summary.counts.failed + summary.counts.pending,
            0,
            "{backend}: {summary}"
        );
        // The dropped PUT was applied once and never sent again.
        assert_eq!(env.acu.log().count("PUT", JT_PUT), 3, "{backend}");
        assert_expected_journals(&env);
        let confirmed = flow
            .audit_for_run(&summary.run_id)
            .await
            .unwrap()
            .into_iter()
            .filter(|a| a.outcome.starts_with("created (confirmed by lookup"))
            .count();
        assert_eq!(confirmed, 1, "{backend}");
        env.shutdown().await;
    }
}

/// The Acumatica sink, watched: it can die (panic) right after its first create request, as a
/// process killed between the PUT and recording its outcome, and it counts the creates in flight
/// at once (each held a moment when `hold` is set, so that creates sent together overlap).
#[derive(Default)]
struct Watch {
    crash_after_first_create: AtomicBool,
    hold: Option<std::time::Duration>,
    in_flight: std::sync::atomic::AtomicUsize,
    most_in_flight: std::sync::atomic::AtomicUsize,
}

struct WatchedSink {
    inner: AcumaticaJournals,
    watch: Arc<Watch>,
}

#[async_trait]
impl DocumentSink for WatchedSink {
    async fn find(&self, p: &[PartitionKey]) -> sync_core::Result<Vec<ExistingDocument>> {
        self.inner.find(p).await
    }
    async fn create(
        &self,
        d: &JournalDocument,
        k: &NaturalKey,
    ) -> sync_core::Result<ExistingDocument> {
        let w = &self.watch;
        let now = w.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        w.most_in_flight.fetch_max(now, Ordering::SeqCst);
        if let Some(hold) = w.hold {
            tokio::time::sleep(hold).await;
        }
        let result = self.inner.create(d, k).await;
        w.in_flight.fetch_sub(1, Ordering::SeqCst);
        if w.crash_after_first_create.swap(false, Ordering::SeqCst) {
            panic!(
                "simulated crash after the create was sent ({:?})",
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

/// The allocation flow posting through a [`WatchedSink`].
fn watched_flow(
    env: &Env,
    store: Arc<dyn StateStore>,
    watch: &Arc<Watch>,
    options: PostOptions,
) -> PostFlow {
    let mapping = flow_support::mapping();
    let source = LookerQuerySource::new(
        env.looker.clone(),
        &flow_support::query(&open_period()),
        &mapping,
    )
    .unwrap();
    PostFlow::builder(mapping)
        .source(source)
        .sink(WatchedSink {
            inner: AcumaticaJournals::new(env.acumatica.clone()),
            watch: watch.clone(),
        })
        .store(store)
        .options(options)
        .owner("test-owner")
        .build()
        .unwrap()
}

fn crash_after_first_create() -> Arc<Watch> {
    Arc::new(Watch {
        crash_after_first_create: AtomicBool::new(true),
        ..Watch::default()
    })
}

#[tokio::test]
async fn a_crash_after_a_dropped_create_then_a_restart_leaves_exactly_one_batch_per_journal() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(looker_config()).await;
        env.acu.faults().add(
            FaultRule::new(FaultKind::DropAfterWrite)
                .method("PUT")
                .path(JT_PUT)
                .times(1),
        );
        let crashing = watched_flow(
            &env,
            store.clone(),
            &crash_after_first_create(),
            PostOptions::default(),
        );
        let died = tokio::spawn(async move { crashing.run().await }).await;
        assert!(died.unwrap_err().is_panic(), "{backend}");
        assert_eq!(
            env.acu.state().created("JournalTransaction"),
            1,
            "{backend}"
        );
        let pending = store.pending_intents("overhead_allocation").await.unwrap();
        assert_eq!(
            pending.len(),
            3,
            "{backend}: every intent of the page was recorded first"
        );

        // The restarted process (same owner) reconciles before anything else.
        let flow = env.post_flow(store.clone(), &open_period(), PostOptions::default());
        let summary = flow.run().await.unwrap();
        assert_eq!(summary.counts.reconciled_found, 1, "{backend}: {summary}");
        assert_eq!(summary.counts.reconciled_absent, 2, "{backend}: {summary}");
        assert_eq!(summary.counts.documents_posted, 2, "{backend}: {summary}");
        assert_eq!(summary.counts.duplicates_skipped, 1, "{backend}: {summary}");
        assert_eq!(summary.counts.retries, 2, "{backend}: {summary}");
        assert_expected_journals(&env);
        assert_eq!(
            env.acu.state().created("JournalTransaction"),
            3,
            "{backend}"
        );
        assert!(
            store
                .pending_intents("overhead_allocation")
                .await
                .unwrap()
                .is_empty()
        );
        let again = flow.run().await.unwrap();
        assert_eq!(again.counts.documents_posted, 0, "{backend}");
        assert_eq!(
            env.acu.state().created("JournalTransaction"),
            3,
            "{backend}"
        );
        env.shutdown().await;
    }
}

#[tokio::test]
async fn an_inactive_account_or_unbalanced_journal_posts_nothing_and_reports_every_error() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let config = looker_config()
            .with_data_problem(DataProblem::inactive_account(month(), "EAST"))
            .with_data_problem(DataProblem::unbalanced_journal(month(), "WEST"));
        let env = Env::start(config).await;
        let flow = env.post_flow(store.clone(), &open_period(), PostOptions::default());
        let err = flow.run().await.unwrap_err();
        let report = err.validation_report().expect("a validation error").clone();
        assert!(err.is_invalid_data());
        let inactive = report
            .issues
            .iter()
            .find(|i| matches!(i.kind, IssueKind::InactiveAccount))
            .unwrap_or_else(|| panic!("{backend}: no inactive-account issue in {report}"));
        assert_eq!(inactive.value, "65000");
        assert!(!inactive.rows.is_empty());
        assert!(!inactive.suggestions.is_empty(), "{inactive}");
        assert!(
            report
                .issues
                .iter()
                .any(|i| matches!(i.kind, IssueKind::Unbalanced { .. })),
            "{backend}: {report}"
        );
        let text = err.to_string();
        assert!(text.contains("65000"), "{text}");
        // Nothing was written to Acumatica, not even a lookup.
        assert_eq!(env.acu.log().count("PUT", JT_PUT), 0, "{backend}");
        assert_eq!(env.acu.state().created("JournalTransaction"), 0);
        let runs = flow.recent_runs(1).await.unwrap();
        assert_eq!(runs[0].status, RunStatus::Failed);
        assert_eq!(runs[0].counts.failed, 2);
        let letters = flow.dead_letters().await.unwrap();
        assert_eq!(
            letters.len(),
            2,
            "{backend}: the two invalid journals are parked"
        );
        assert!(letters.iter().any(|l| l.error.contains("65000")));

        // Per document, the valid journal (HQ) goes ahead; the invalid ones still do not.
        let per_doc = env.post_flow(
            store.clone(),
            &open_period(),
            PostOptions {
                validation: ValidationPolicy::PerDocument,
                ..Default::default()
            },
        );
        let summary = per_doc.run().await.unwrap();
        assert_eq!(summary.status, RunStatus::CompletedWithErrors, "{summary}");
        assert_eq!(summary.counts.documents_posted, 1);
        assert_eq!(summary.counts.invalid, 2);
        assert!(summary.validation.is_some());
        let batches = env.tagged_batches();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].branch.as_deref(), Some("HQ"));
        env.shutdown().await;
    }
}

#[tokio::test]
async fn a_rejected_journal_is_dead_lettered_and_replayed_through_the_same_protocol() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(looker_config()).await;
        let rule = env.acu.faults().add(
            FaultRule::new(FaultKind::ServerError { status: 422 })
                .method("PUT")
                .path(JT_PUT)
                .times(1),
        );
        let flow = env.post_flow(store.clone(), &open_period(), PostOptions::default());
        let summary = flow.run().await.unwrap();
        assert_eq!(env.acu.faults().fired(rule), 1);
        assert_eq!(
            summary.status,
            RunStatus::CompletedWithErrors,
            "{backend}: {summary}"
        );
        assert_eq!(summary.counts.documents_posted, 2, "{backend}: {summary}");
        assert_eq!(summary.counts.failed, 1, "{backend}: {summary}");
        let letters = flow.dead_letters().await.unwrap();
        assert_eq!(letters.len(), 1, "{backend}");
        assert_eq!(
            letters[0].payload["document"]["flow"],
            "overhead_allocation"
        );

        let replay = flow.replay(Some(&[letters[0].id])).await.unwrap();
        assert_eq!(replay.counts.documents_posted, 1, "{backend}: {replay}");
        assert_eq!(
            replay.counts.retries, 2,
            "{backend}: one replayed letter, one re-armed intent"
        );
        assert!(
            flow.dead_letters().await.unwrap().is_empty(),
            "{backend}: resolved"
        );
        assert_expected_journals(&env);
        let rerun = flow.run().await.unwrap();
        assert_eq!(rerun.counts.documents_posted, 0);
        assert_eq!(env.acu.state().created("JournalTransaction"), 3);
        let bad = flow.replay(Some(&[424242])).await.unwrap_err();
        assert!(bad.to_string().contains("424242"), "{bad}");
        env.shutdown().await;
    }
}

/// The Looker rows with one cent moved between two cost centers of the HQ journal: still balanced,
/// but different content for an already posted partition.
struct Tweaked(LookerQuerySource);

#[async_trait]
impl RecordSource for Tweaked {
    type Record = Row;
    type Cursor = ();
    fn describe(&self) -> String {
        format!("tweaked {}", self.0.describe())
    }
    async fn pages(&self, after: Option<&()>) -> sync_core::Result<PageStream<Row>> {
        let pages = self.0.pages(after).await?;
        Ok(pages
            .map_ok(|page| {
                page.into_iter()
                    .map(|mut row| {
                        let hq = row["overhead_allocation.branch"] == "HQ";
                        let sub = row["overhead_allocation.subaccount"]
                            .as_str()
                            .map(str::to_owned);
                        if hq && matches!(sub.as_deref(), Some("100-000" | "200-000")) {
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

fn tweaked_flow(env: &Env, store: Arc<dyn StateStore>, policy: ChangedContentPolicy) -> PostFlow {
    let mapping = flow_support::mapping();
    let source = LookerQuerySource::new(
        env.looker.clone(),
        &flow_support::query(&open_period()),
        &mapping,
    )
    .unwrap();
    PostFlow::builder(mapping)
        .source(Tweaked(source))
        .sink(AcumaticaJournals::new(env.acumatica.clone()))
        .store(store)
        .options(PostOptions {
            changed_content: policy,
            ..Default::default()
        })
        .owner("test-owner")
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_changed_amount_for_a_posted_journal_is_never_posted_twice() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(looker_config()).await;
        env.post_flow(store.clone(), &open_period(), PostOptions::default())
            .run()
            .await
            .unwrap();
        assert_eq!(env.acu.state().created("JournalTransaction"), 3);

        // fail (the default): reported, nothing posted.
        let err = tweaked_flow(&env, store.clone(), ChangedContentPolicy::Fail)
            .run()
            .await
            .unwrap_err();
        match &err {
            Error::ChangedContent(docs) => {
                assert_eq!(docs.len(), 1, "{backend}: {err}");
                assert!(docs[0].partition.contains("HQ"), "{err}");
                assert_eq!(docs[0].posted_batches.len(), 1);
            }
            other => panic!("{backend}: {other}"),
        }
        assert_eq!(
            env.acu.state().created("JournalTransaction"),
            3,
            "{backend}"
        );

        // skip: reported, the posted batch left as it is.
        let skipped = tweaked_flow(&env, store.clone(), ChangedContentPolicy::Skip)
            .run()
            .await
            .unwrap();
        assert_eq!(skipped.counts.changed_skipped, 1, "{backend}: {skipped}");
        assert_eq!(skipped.counts.duplicates_skipped, 2, "{backend}: {skipped}");
        assert_eq!(skipped.counts.documents_posted, 0);
        assert_eq!(
            env.acu.state().created("JournalTransaction"),
            3,
            "{backend}"
        );
        env.shutdown().await;
    }
}

#[tokio::test]
async fn reverse_and_repost_reverses_the_posted_version_once_and_posts_the_new_one_once() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(looker_config()).await;
        env.post_flow(store.clone(), &open_period(), PostOptions::default())
            .run()
            .await
            .unwrap();
        let hq_before = env
            .tagged_batches()
            .into_iter()
            .find(|b| b.branch.as_deref() == Some("HQ"))
            .unwrap();

        let flow = tweaked_flow(&env, store.clone(), ChangedContentPolicy::ReverseAndRepost);
        let summary = flow.run().await.unwrap();
        assert_eq!(summary.counts.reversed, 1, "{backend}: {summary}");
        assert_eq!(
            summary.counts.documents_posted, 2,
            "{backend}: reversal and new version"
        );
        assert_eq!(
            env.acu.state().created("JournalTransaction"),
            5,
            "{backend}"
        );
        let reversal = env
            .acu
            .state()
            .journal_transactions()
            .into_iter()
            .find(|b| {
                b.description.as_deref().is_some_and(|d| {
                    d.starts_with(&format!("Reversal of batch {}", hq_before.batch_nbr))
                })
            })
            .unwrap_or_else(|| panic!("{backend}: no reversal"));
        let debit: Decimal = reversal.lines.iter().map(|l| l.debit).sum();
        let credit_before: Decimal = hq_before.lines.iter().map(|l| l.credit).sum();
        assert_eq!(debit, credit_before);
        for (r, o) in reversal.lines.iter().zip(&hq_before.lines) {
            assert_eq!((r.debit, r.credit), (o.credit, o.debit));
            assert_eq!(r.account, o.account);
        }

        let again = flow.run().await.unwrap();
        assert_eq!(again.counts.documents_posted, 0, "{backend}: {again}");
        assert_eq!(again.counts.reversed, 0);
        assert_eq!(
            env.acu.state().created("JournalTransaction"),
            5,
            "{backend}"
        );
        env.shutdown().await;
    }
}

#[tokio::test]
async fn two_replicas_running_at_once_post_each_journal_once() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(looker_config()).await;
        let a = env.post_flow_as(
            store.clone(),
            &open_period(),
            PostOptions::default(),
            "replica-a",
        );
        let b = env.post_flow_as(
            store.clone(),
            &open_period(),
            PostOptions::default(),
            "replica-b",
        );
        let (ra, rb) = tokio::join!(a.run(), b.run());
        let outcomes = [&ra, &rb];
        let ran: Vec<_> = outcomes.iter().filter_map(|r| r.as_ref().ok()).collect();
        for r in &outcomes {
            if let Err(e) = r {
                assert!(e.is_busy(), "{backend}: {e}");
            }
        }
        assert!(!ran.is_empty(), "{backend}");
        let posted: u64 = ran.iter().map(|s| s.counts.documents_posted).sum();
        assert_eq!(posted, 3, "{backend}");
        assert_eq!(
            env.acu.state().created("JournalTransaction"),
            3,
            "{backend}"
        );
        env.shutdown().await;
    }
}

// ------------------------------------------------------------------ concurrent creates

fn concurrent(n: usize) -> PostOptions {
    PostOptions {
        concurrency: n,
        ..PostOptions::default()
    }
}

#[tokio::test]
async fn concurrency_sends_creates_together_and_reports_them_in_plan_order() {
    for (n, expected_most) in [(1, 1), (2, 2), (3, 3)] {
        let stores = stores().await;
        for (backend, store) in &stores.list {
            let env = Env::start(looker_config()).await;
            let watch = Arc::new(Watch {
                hold: Some(std::time::Duration::from_millis(50)),
                ..Watch::default()
            });
            let flow = watched_flow(&env, store.clone(), &watch, concurrent(n));
            let summary = flow.run().await.unwrap();
            assert_eq!(
                summary.counts.documents_posted, 3,
                "{backend} c{n}: {summary}"
            );
            assert_eq!(
                watch.most_in_flight.load(Ordering::SeqCst),
                expected_most,
                "{backend}: creates in flight with concurrency {n}"
            );
            assert_eq!(env.acu.log().count("PUT", JT_PUT), 3, "{backend} c{n}");
            let batches = assert_expected_journals(&env);
            // Reported in plan order, whatever order the creates finished in.
            let keys: Vec<String> = summary
                .documents
                .iter()
                .map(|d| d.natural_key.clone())
                .collect();
            assert_eq!(keys.len(), 3);
            let again = flow.run().await.unwrap();
            assert_eq!(again.counts.documents_posted, 0, "{backend} c{n}");
            assert_eq!(again.counts.duplicates_skipped, 3, "{backend} c{n}");
            let rerun_keys: Vec<String> = again
                .documents
                .iter()
                .map(|d| d.natural_key.clone())
                .collect();
            assert_eq!(rerun_keys, keys, "{backend} c{n}: same order on every run");
            assert_eq!(env.tagged_batches().len(), batches.len());
            env.shutdown().await;
        }
    }
}

#[tokio::test]
async fn concurrent_creates_confirm_a_dropped_answer_by_lookup_and_dead_letter_a_rejection() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        // A create whose answer is lost: applied once, confirmed by lookup, never resent.
        let env = Env::start(looker_config()).await;
        let rule = env.acu.faults().add(
            FaultRule::new(FaultKind::DropAfterWrite)
                .method("PUT")
                .path(JT_PUT)
                .times(1),
        );
        let flow = env.post_flow(store.clone(), &open_period(), concurrent(3));
        let summary = flow.run().await.unwrap();
        assert_eq!(env.acu.faults().fired(rule), 1);
        assert_eq!(summary.counts.documents_posted, 3, "{backend}: {summary}");
        assert_eq!(env.acu.log().count("PUT", JT_PUT), 3, "{backend}");
        assert_expected_journals(&env);
        let confirmed = flow
            .audit_for_run(&summary.run_id)
            .await
            .unwrap()
            .into_iter()
            .filter(|a| a.outcome.starts_with("created (confirmed by lookup"))
            .count();
        assert_eq!(confirmed, 1, "{backend}");
        env.shutdown().await;
    }
    let stores = flow_support::stores().await;
    for (backend, store) in &stores.list {
        // A rejected create: the others of its window are posted, it is dead-lettered.
        let env = Env::start(looker_config()).await;
        env.acu.faults().add(
            FaultRule::new(FaultKind::ServerError { status: 422 })
                .method("PUT")
                .path(JT_PUT)
                .times(1),
        );
        let flow = env.post_flow(store.clone(), &open_period(), concurrent(3));
        let summary = flow.run().await.unwrap();
        assert_eq!(
            summary.status,
            RunStatus::CompletedWithErrors,
            "{backend}: {summary}"
        );
        assert_eq!(summary.counts.documents_posted, 2, "{backend}: {summary}");
        assert_eq!(summary.counts.failed, 1, "{backend}: {summary}");
        assert_eq!(flow.dead_letters().await.unwrap().len(), 1, "{backend}");
        let replay = flow.replay(None).await.unwrap();
        assert_eq!(replay.counts.documents_posted, 1, "{backend}: {replay}");
        assert_expected_journals(&env);
        assert_eq!(
            env.acu.state().created("JournalTransaction"),
            3,
            "{backend}"
        );
        env.shutdown().await;
    }
}

#[tokio::test]
async fn a_crash_in_a_window_of_concurrent_creates_then_a_restart_leaves_one_batch_per_journal() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(looker_config()).await;
        let crashing = watched_flow(
            &env,
            store.clone(),
            &crash_after_first_create(),
            concurrent(3),
        );
        let died = tokio::spawn(async move { crashing.run().await }).await;
        assert!(died.unwrap_err().is_panic(), "{backend}");
        // Some of the window's creates reached Acumatica, none has an outcome recorded.
        let created = env.acu.state().created("JournalTransaction");
        assert!((1..=3).contains(&created), "{backend}: {created}");
        let pending = store.pending_intents("overhead_allocation").await.unwrap();
        assert_eq!(pending.len(), 3, "{backend}");

        let flow = env.post_flow(store.clone(), &open_period(), concurrent(3));
        let summary = flow.run().await.unwrap();
        assert_eq!(
            summary.counts.reconciled_found, created as u64,
            "{backend}: {summary}"
        );
        assert_eq!(
            summary.counts.documents_posted,
            3 - created as u64,
            "{backend}: {summary}"
        );
        assert_expected_journals(&env);
        assert_eq!(
            env.acu.state().created("JournalTransaction"),
            3,
            "{backend}"
        );
        assert!(
            store
                .pending_intents("overhead_allocation")
                .await
                .unwrap()
                .is_empty()
        );
        env.shutdown().await;
    }
}
