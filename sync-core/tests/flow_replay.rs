//! Replay of dead letters end to end, on both state-store backends: two letters of one
//! partition post one journal; a letter re-mapped from a corrected mapping; a letter without
//! source rows refused for re-mapping; a letter discarded with a reason.
#![cfg(feature = "flows")]

mod flow_support;

use std::sync::Arc;

use async_trait::async_trait;
use flow_support::{Env, open_period, stores};
use futures::{StreamExt, TryStreamExt};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sync_core::key::{KeyMatch, NaturalKey, match_existing};
use sync_core::mapping::{JournalDocument, JournalMapping, Row};
use sync_core::post::{AcumaticaJournals, LookerQuerySource, PostFlow, PostOptions, ReplayOptions};
use sync_core::store::{AuditStage, NewDeadLetter, RunStatus, StateStore};
use sync_core::traits::{PageStream, RecordSource};
use testkit::faults::{FaultKind, FaultRule};
use testkit::looker::LookerConfig;
use testkit::seed;

const JT_PUT: &str = "/entity/Default/24.200.001/JournalTransaction";
const FLOW: &str = "overhead_allocation";

fn looker_config() -> LookerConfig {
    LookerConfig::default().with_months(seed::LAST_CLOSED_MONTH + 1, seed::LAST_CLOSED_MONTH + 1)
}

/// The Looker rows with `cents` moved between two cost centers of the HQ journal.
struct Figures {
    inner: LookerQuerySource,
    cents: i64,
}

#[async_trait]
impl RecordSource for Figures {
    type Record = Row;
    type Cursor = ();
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn pages(&self, after: Option<&()>) -> sync_core::Result<PageStream<Row>> {
        let cents = self.cents;
        let pages = self.inner.pages(after).await?;
        Ok(pages
            .map_ok(move |page| {
                page.into_iter()
                    .map(|mut row| {
                        let sign = match row["overhead_allocation.subaccount"].as_str() {
                            Some("100-000") => 1,
                            Some("200-000") => -1,
                            _ => 0,
                        };
                        if cents != 0 && sign != 0 && row["overhead_allocation.branch"] == "HQ" {
                            let amount: Decimal = match &row["overhead_allocation.amount"] {
                                Value::String(s) => s.parse().unwrap(),
                                other => other.to_string().parse().unwrap(),
                            };
                            row.insert(
                                "overhead_allocation.amount".into(),
                                Value::String((amount + Decimal::new(sign * cents, 2)).to_string()),
                            );
                        }
                        row
                    })
                    .collect()
            })
            .boxed())
    }
}

fn flow_with(
    env: &Env,
    store: &Arc<dyn StateStore>,
    mapping: JournalMapping,
    cents: i64,
) -> PostFlow {
    let inner = LookerQuerySource::new(
        env.looker.clone(),
        &flow_support::query(&open_period()),
        &mapping,
    )
    .unwrap();
    PostFlow::builder(mapping)
        .source(Figures { inner, cents })
        .sink(AcumaticaJournals::new(env.acumatica.clone()))
        .store(store.clone())
        .options(PostOptions::default())
        .owner("test-owner")
        .build()
        .unwrap()
}

fn flow(env: &Env, store: &Arc<dyn StateStore>, cents: i64) -> PostFlow {
    flow_with(env, store, flow_support::mapping(), cents)
}

/// Journals tagged with a posting or reversal key of `partition_of`'s partition.
fn tagged_for(env: &Env, key: &NaturalKey) -> Vec<(String, String)> {
    let needle = key.partition().description_needle();
    env.acu
        .state()
        .journal_transactions()
        .into_iter()
        .filter_map(|b| {
            let d = b.description?;
            d.contains(&needle).then_some((d, b.batch_nbr))
        })
        .collect()
}

/// Refuses every journal PUT (as a closed period does) until the rule is removed.
fn refuse_puts(env: &Env) -> testkit::faults::FaultId {
    env.acu.faults().add(
        FaultRule::new(FaultKind::ServerError { status: 422 })
            .method("PUT")
            .path(JT_PUT),
    )
}

async fn current_docs(env: &Env, mapping: &JournalMapping, cents: i64) -> Vec<JournalDocument> {
    let inner = LookerQuerySource::new(
        env.looker.clone(),
        &flow_support::query(&open_period()),
        mapping,
    )
    .unwrap();
    let rows: Vec<Row> = Figures { inner, cents }
        .pages(None)
        .await
        .unwrap()
        .try_concat()
        .await
        .unwrap();
    mapping.map_rows(&rows).unwrap().documents
}

#[tokio::test]
async fn replaying_two_letters_of_one_partition_posts_only_the_newest() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(looker_config()).await;
        // Content A refused (period closed), the figures change, content B refused.
        let refuse = refuse_puts(&env);
        let a = flow(&env, store, 0).run().await.unwrap();
        assert_eq!(a.counts.failed, 3, "{backend}: {a}");
        let b = flow(&env, store, 1).run().await.unwrap();
        assert_eq!(b.counts.failed, 3, "{backend}: {b}");
        let letters = store.dead_letters(FLOW, false).await.unwrap();
        assert_eq!(
            letters.len(),
            4,
            "{backend}: A and B of HQ, one of each other branch"
        );
        for l in &letters {
            assert!(
                l.payload["rows"].as_array().is_some_and(|r| !r.is_empty()),
                "{backend}: letters keep their source rows: {l:?}"
            );
        }
        // The period reopens; replay everything.
        env.acu.faults().remove(refuse);
        let puts_before = env.acu.log().count("PUT", JT_PUT);
        let replay = flow(&env, store, 1).replay(None).await.unwrap();
        assert_eq!(replay.status, RunStatus::Succeeded, "{backend}: {replay}");
        assert_eq!(replay.counts.documents_posted, 3, "{backend}: {replay}");
        assert_eq!(
            env.acu.log().count("PUT", JT_PUT) - puts_before,
            3,
            "{backend}: one journal per partition"
        );
        assert!(store.dead_letters(FLOW, false).await.unwrap().is_empty());
        // Acumatica holds exactly one journal per partition: the current figures (B).
        for doc in current_docs(&env, &flow_support::mapping(), 1).await {
            let key = NaturalKey::for_document(&doc);
            let tagged = tagged_for(&env, &key);
            assert_eq!(tagged.len(), 1, "{backend}: {tagged:?}");
            assert!(matches!(
                match_existing(&key, tagged.iter().map(|(d, n)| (d.as_str(), n))),
                KeyMatch::Posted(_)
            ));
        }
        // The superseded letter is resolved and audited.
        let resolved = store.dead_letters(FLOW, true).await.unwrap();
        let superseded: Vec<_> = resolved
            .iter()
            .filter(|l| {
                l.resolution
                    .as_deref()
                    .is_some_and(|r| r.starts_with("superseded by dead letter"))
            })
            .collect();
        assert_eq!(superseded.len(), 1, "{backend}: {resolved:#?}");
        let audit = store.audit_for_run(&replay.run_id).await.unwrap();
        assert!(
            audit
                .iter()
                .any(|a| a.stage == AuditStage::Skipped && a.outcome.contains("superseded")),
            "{backend}: {audit:#?}"
        );
        env.shutdown().await;
    }
}

/// The allocation mapping with a corrected line text (content: a new natural key).
fn corrected_mapping() -> JournalMapping {
    let mut m = flow_support::mapping();
    m.lines.description = Some(
        "{overhead_allocation.description} (corrected)"
            .parse()
            .unwrap(),
    );
    m.check().unwrap();
    m
}

#[tokio::test]
async fn replay_can_remap_a_letter_from_the_current_mapping_and_refuses_letters_without_rows() {
    let stores = stores().await;
    for (backend, store) in &stores.list {
        let env = Env::start(looker_config()).await;
        let refuse = refuse_puts(&env);
        flow(&env, store, 0).run().await.unwrap();
        env.acu.faults().remove(refuse);
        let letters = store.dead_letters(FLOW, false).await.unwrap();
        assert_eq!(letters.len(), 3, "{backend}");

        // A letter written by an older version: the document only, no rows.
        let lease = store
            .acquire_lease(FLOW, "old-version", std::time::Duration::from_secs(30))
            .await
            .unwrap()
            .unwrap();
        let mut old = letters[0].payload.clone();
        old.as_object_mut().unwrap().remove("rows");
        let mut old_doc: JournalDocument = serde_json::from_value(old["document"].clone()).unwrap();
        old_doc.period = sync_core::mapping::Period::new(2020, 1).unwrap();
        old_doc.partition =
            sync_core::mapping::Partition::new([("period", "012020"), ("branch", "HQ")]);
        let old_key = NaturalKey::for_document(&old_doc).to_string();
        let old_letter = store
            .add_dead_letter(
                &lease,
                &NewDeadLetter {
                    run_id: None,
                    natural_key: old_key.clone(),
                    payload: json!({ "document": old_doc }),
                    error: "refused".into(),
                },
            )
            .await
            .unwrap();
        store.release_lease(&lease).await.unwrap();

        let corrected = flow_with(&env, store, corrected_mapping(), 0);
        let summary = corrected
            .replay_with(&ReplayOptions {
                remap: true,
                by: "jane@ops-1".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(summary.counts.documents_posted, 3, "{backend}: {summary}");
        assert_eq!(
            summary.counts.failed, 1,
            "{backend}: the old letter: {summary}"
        );
        // The posted journals carry the corrected line text.
        let corrected_docs = current_docs(&env, &corrected_mapping(), 0).await;
        for doc in &corrected_docs {
            let key = NaturalKey::for_document(doc);
            let tagged = tagged_for(&env, &key);
            assert_eq!(tagged.len(), 1, "{backend}: {tagged:?}");
            assert!(tagged[0].0.contains(&key.tag()), "{backend}: {tagged:?}");
        }
        let open = store.dead_letters(FLOW, false).await.unwrap();
        assert_eq!(open.len(), 1, "{backend}: {open:#?}");
        assert_eq!(open[0].id, old_letter.id);
        let resolved = store.dead_letters(FLOW, true).await.unwrap();
        for l in resolved.iter().filter(|l| l.resolved_at.is_some()) {
            let r = l.resolution.as_deref().unwrap();
            assert!(
                r.contains("re-mapped") && r.contains("jane@ops-1"),
                "{backend}: {r}"
            );
        }
        let audit = store.audit_for_run(&summary.run_id).await.unwrap();
        let refused = audit
            .iter()
            .find(|a| a.outcome == "cannot be re-mapped")
            .unwrap_or_else(|| panic!("{backend}: {audit:#?}"));
        assert!(
            refused.summary["reason"]
                .as_str()
                .unwrap()
                .contains("without its source rows"),
            "{backend}: {refused:?}"
        );
        assert_eq!(
            audit
                .iter()
                .filter(|a| a.stage == AuditStage::Mapped && a.summary["by"] == "jane@ops-1")
                .count(),
            3,
            "{backend}"
        );

        // Discarded with a reason: resolved, audited with who and why.
        let discard = corrected
            .discard_dead_letter(
                old_letter.id,
                "period 012020 is closed for good",
                "jane@ops-1",
            )
            .await
            .unwrap();
        assert!(store.dead_letters(FLOW, false).await.unwrap().is_empty());
        let audit = store.audit_for_run(&discard.run_id).await.unwrap();
        assert!(
            audit.iter().any(|a| a.outcome.contains("discarded")
                && a.summary["reason"] == "period 012020 is closed for good"
                && a.summary["by"] == "jane@ops-1"),
            "{backend}: {audit:#?}"
        );
        let again = corrected
            .discard_dead_letter(old_letter.id, "again", "")
            .await
            .unwrap_err();
        assert!(
            again.to_string().contains(&old_letter.id.to_string()),
            "{again}"
        );
        let empty = corrected
            .discard_dead_letter(1, "  ", "")
            .await
            .unwrap_err();
        assert!(empty.to_string().contains("reason"), "{empty}");
        env.shutdown().await;
    }
}
