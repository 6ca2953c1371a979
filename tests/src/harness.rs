//! The flows wired to the testkit fakes, shared by the fault matrix, the crash test and its
//! child process (`crash_child`): client construction, the month-end allocation mapping and
//! query, the approved-vendor reference flow, the warehouse feed, opening stores by target, and
//! the end-state checks ("Acumatica holds exactly the expected journals", "the vendors match
//! Looker, each created once", "the warehouse equals the source").

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use acumatica_client::RetryPolicy;
use serde_json::Value;
use sync_core::feed::{AcumaticaChanges, DeleteScan, FeedFlow, FeedOptions};
use sync_core::key::extract_key;
use sync_core::mapping::{JournalMapping, ReferenceMapping};
use sync_core::post::{
    AcumaticaJournals, LookerQueryConfig, LookerQuerySource, PostFlow, PostOptions, RunSummary,
};
use sync_core::reference::{ReferenceFlow, ReferenceOptions, ReferenceQuerySource};
use sync_core::store::StateStore;
use sync_core::warehouse::{PostgresWarehouse, SqliteWarehouse, TableSpec, WarehouseSink};
use testkit::seed::{self, credentials};

/// The endpoint version the clients use.
pub const VERSION: &str = "24.200.001";

/// The months the month-end flow posts (the seed's open months): three branches each, so
/// nine journals in all.
pub fn months() -> Vec<u32> {
    (seed::LAST_CLOSED_MONTH + 1..=12)
        .filter(|m| seed::period_is_open(*m))
        .collect()
}

/// How hard the clients retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retries {
    /// The clients' defaults (production behaviour).
    Default,
    /// Same attempt counts, millisecond waits, `Retry-After` capped at 50 ms, 2 s request
    /// timeout: fault tests stay fast.
    Fast,
}

fn policy(r: Retries) -> Option<RetryPolicy> {
    match r {
        Retries::Default => None,
        Retries::Fast => Some(
            RetryPolicy::default()
                .with_initial_delay(Duration::from_millis(2))
                .with_max_delay(Duration::from_millis(20))
                .with_retry_after_cap(Duration::from_millis(50))
                .with_max_elapsed(Duration::from_secs(20)),
        ),
    }
}

/// An Acumatica client for the fake at `url` (OAuth password grant, the seed's credentials).
pub fn acumatica_client(url: &str, retries: Retries) -> acumatica_client::Client {
    let mut b = acumatica_client::Client::builder(url)
        .endpoint_version(VERSION)
        .tenant(seed::TENANT)
        .oauth_password(
            credentials::ACUMATICA_CLIENT_ID,
            credentials::ACUMATICA_CLIENT_SECRET,
            credentials::ACUMATICA_USERNAME,
            credentials::ACUMATICA_PASSWORD,
        )
        .allow_insecure_http(true)
        .page_size(25);
    if let Some(p) = policy(retries) {
        b = b.retry_policy(p).timeout(Duration::from_secs(2));
    }
    b.build().expect("acumatica client")
}

/// A Looker client for the fake at `url` (API 3 credentials of the seed).
pub fn looker_client(url: &str, retries: Retries) -> looker_client::Client {
    let mut b = looker_client::Client::builder(url).credentials(
        credentials::LOOKER_CLIENT_ID,
        credentials::LOOKER_CLIENT_SECRET,
    );
    if let Some(p) = policy(retries) {
        b = b.retry_policy(p).timeout(Duration::from_secs(2));
    }
    b.build().expect("looker client")
}

/// The overhead allocation mapping: one journal per period and branch. Looker shows
/// subaccounts with their separator (`100-000`); Acumatica stores them raw (`100000`).
pub fn mapping() -> JournalMapping {
    let mut text = String::from(
        r#"
flow = "overhead_allocation"
[lines]
account = { column = "overhead_allocation.account" }
subaccount = { column = "overhead_allocation.subaccount", map = "subaccount" }
branch = { column = "overhead_allocation.branch" }
amount = { signed = "overhead_allocation.amount" }
description = "{overhead_allocation.description}"
date = { column = "overhead_allocation.posting_date" }
period = { column = "overhead_allocation.period", format = "mmyyyy" }
[document]
ledger = { constant = "ACTUAL" }
description = "Overhead allocation {period} {branch}"
date = "period_end"
[maps.subaccount]
"#,
    );
    for s in seed::SUBACCOUNTS {
        text.push_str(&format!("\"{}\" = \"{}\"\n", s.cd, s.raw));
    }
    JournalMapping::from_toml_str(&text).expect("mapping")
}

/// The Looker query of one period (`MMYYYY`).
pub fn query(period: &str) -> LookerQueryConfig {
    toml::from_str(&format!(
        r#"
model = "finance"
explore = "overhead_allocation"
filters = {{ "overhead_allocation.period" = "{period}" }}
sorts = ["overhead_allocation.line_id"]
"#
    ))
    .expect("query")
}

/// The settle horizon of the post flows here: the [`Retries::Fast`] clients' 2 s request
/// timeout. The fakes never hold a write longer unless a test queues it on purpose
/// (`FaultKind::Queued`, with a longer horizon: [`post_flow_with`]).
pub const SETTLE_HORIZON_SECS: u64 = 2;

/// The month-end post flow of `month` on `store` (lease owner `owner`), with a settle horizon
/// of [`SETTLE_HORIZON_SECS`].
pub fn post_flow(
    looker: &looker_client::Client,
    acumatica: &acumatica_client::Client,
    store: Arc<dyn StateStore>,
    month: u32,
    owner: &str,
) -> sync_core::Result<PostFlow> {
    let options = PostOptions {
        settle_horizon_secs: SETTLE_HORIZON_SECS,
        ..PostOptions::default()
    };
    post_flow_with(looker, acumatica, store, month, owner, options)
}

/// [`post_flow`] with these options.
pub fn post_flow_with(
    looker: &looker_client::Client,
    acumatica: &acumatica_client::Client,
    store: Arc<dyn StateStore>,
    month: u32,
    owner: &str,
    options: PostOptions,
) -> sync_core::Result<PostFlow> {
    let mapping = mapping();
    let source = LookerQuerySource::new(looker.clone(), &query(&seed::period_id(month)), &mapping)?;
    PostFlow::builder(mapping)
        .source(source)
        .sink(AcumaticaJournals::new(acumatica.clone()))
        .store(store)
        .options(options)
        .owner(owner)
        .build()
}

/// Whether a post run's only problems are writes that may still be queued in Acumatica, so a
/// run after [`RunSummary::settles_after`] settles them.
pub fn only_in_flight(summary: &RunSummary) -> bool {
    let c = &summary.counts;
    summary.settles_after().is_some()
        && c.pending == c.in_flight
        && c.failed + c.invalid + c.withheld + c.release_failures == 0
}

/// Runs a post flow the way an operator told "run again after T" would: while the only
/// problems are writes that may still be queued, waits (on the state store's clock) until the
/// settle horizon has passed and runs it again. Returns the last summary and how many runs
/// were deferred.
pub async fn run_post_until_settled(flow: &PostFlow) -> sync_core::Result<(RunSummary, u32)> {
    let mut deferred = 0;
    loop {
        let summary = flow.run().await?;
        if !only_in_flight(&summary) {
            return Ok((summary, deferred));
        }
        deferred += 1;
        let until = summary.settles_after().unwrap_or_default();
        while flow.store().now().await? <= until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The approved-vendor list in Looker (`finance.approved_vendors`) kept in Acumatica's
/// `Vendor` by `VendorID`.
pub const VENDOR_MAPPING: &str = r#"
flow = "approved_vendors"
entity = "Vendor"
key = { field = "VendorID", column = "approved_vendors.vendor_id" }
[fields]
VendorName = { column = "approved_vendors.vendor_name" }
VendorClass = { column = "approved_vendors.vendor_class" }
Terms = { column = "approved_vendors.terms" }
Status = { column = "approved_vendors.status" }
"#;

/// The reference flow of [`VENDOR_MAPPING`] on `store` (lease owner `owner`).
pub fn reference_flow(
    looker: &looker_client::Client,
    acumatica: &acumatica_client::Client,
    store: Arc<dyn StateStore>,
    owner: &str,
) -> sync_core::Result<ReferenceFlow> {
    let mapping = ReferenceMapping::from_toml_str(VENDOR_MAPPING)?;
    let query: LookerQueryConfig = toml::from_str(
        r#"
model = "finance"
explore = "approved_vendors"
sorts = ["approved_vendors.vendor_id"]
"#,
    )
    .expect("query");
    let source = ReferenceQuerySource::new(looker.clone(), &query, &mapping)?;
    ReferenceFlow::builder(mapping)
        .source(source)
        .acumatica(acumatica.clone())
        .store(store)
        // Two keys per lookup: three reads for the six vendors, so faults placed on the
        // second or third read of a run reach this flow too.
        .options(ReferenceOptions {
            lookup_page_size: 2,
            ..ReferenceOptions::default()
        })
        .owner(owner)
        .build()
}

/// Puts Acumatica's vendors out of step with Looker's list, so a reference run has an update
/// and a create to make: `V000001` gets an old name and other terms, `V000002` is deleted.
///
/// # Panics
/// When the fake refuses the changes.
pub async fn drift_vendors(acumatica: &acumatica_client::Client) {
    acumatica
        .put_json(
            "Vendor",
            &serde_json::json!({
                "VendorID": {"value": "V000001"},
                "VendorName": {"value": "Acme (old name)"},
                "Terms": {"value": "15D"}
            }),
            acumatica_client::PutMode::UpdateOnly,
            &acumatica_client::ListQuery::new(),
        )
        .await
        .expect("drift V000001");
    acumatica
        .delete_by_keys("Vendor", &["V000002"])
        .await
        .expect("delete V000002");
}

/// Checks that every vendor of the seed holds Looker's values and that the vendor
/// [`drift_vendors`] deleted was created again exactly once (`created` is the fake's insert
/// count for `Vendor`, which was 0 before). Returns the vendor count or what is wrong.
pub fn check_vendors(acu: &testkit::acumatica::Acumatica) -> Result<usize, String> {
    let mut problems = Vec::new();
    for v in seed::VENDORS {
        let Some(doc) = acu.document("Vendor", &[v.id]) else {
            problems.push(format!("vendor {} is missing", v.id));
            continue;
        };
        for (name, want) in [
            ("VendorName", v.name),
            ("VendorClass", v.class),
            ("Terms", v.terms),
            ("Status", v.status),
        ] {
            let got = field(&doc, name);
            if got != want {
                problems.push(format!(
                    "vendor {} {name} is {got}, expected {want:?}",
                    v.id
                ));
            }
        }
    }
    match acu.created("Vendor") {
        1 => {}
        n => problems.push(format!("vendor V000002 was created {n} times")),
    }
    if problems.is_empty() {
        Ok(seed::VENDORS.len())
    } else {
        Err(problems.join("; "))
    }
}

/// The entities the warehouse feed keeps: journals (with lines), vendors, accounts.
pub fn feed_specs() -> Vec<TableSpec> {
    vec![
        TableSpec::journal_transaction(),
        TableSpec::vendor(),
        TableSpec::account(),
    ]
}

/// The warehouse feed of [`feed_specs`], pages of 20 records, no lag (the fake's clock is the
/// test's clock; with a lag, a change made just before the final run is rightly left to the
/// run after it), a delete scan on every run listing 7 ids per request.
pub fn feed_flow(
    acumatica: &acumatica_client::Client,
    warehouse: Arc<dyn WarehouseSink>,
    store: Arc<dyn StateStore>,
    owner: &str,
) -> sync_core::Result<FeedFlow> {
    let mut b = FeedFlow::builder("warehouse")
        .warehouse(warehouse)
        .store(store)
        .options(FeedOptions {
            page_size: 20,
            lag_secs: 0,
            delete_scan: DeleteScan::EveryRun,
            ..FeedOptions::default()
        })
        .owner(owner);
    for spec in feed_specs() {
        let mut source = AcumaticaChanges::new(acumatica.clone(), spec.entity.clone())
            .page_size(20)
            .id_page_size(7);
        if let Some(d) = &spec.details {
            source = source.expand([d.source.clone()]);
        }
        b = b.entity(spec, source);
    }
    b.build()
}

/// Opens a warehouse: a file path (SQLite) or a `postgres://` URL with `schema`.
pub async fn open_warehouse(
    target: &str,
    schema: Option<&str>,
) -> Result<Arc<dyn WarehouseSink>, sync_core::warehouse::WarehouseError> {
    if target.starts_with("postgres://") || target.starts_with("postgresql://") {
        Ok(Arc::new(PostgresWarehouse::connect(target, schema).await?))
    } else {
        Ok(Arc::new(SqliteWarehouse::open(target).await?))
    }
}

/// Opens a state store: a file path (SQLite) or a `postgres://` URL with `schema`.
pub async fn open_store(
    target: &str,
    schema: Option<&str>,
) -> Result<Arc<dyn StateStore>, sync_core::store::StoreError> {
    if target.starts_with("postgres://") || target.starts_with("postgresql://") {
        let mut b = sync_core::store::PostgresStore::builder(target).max_connections(4);
        if let Some(s) = schema {
            b = b.schema(s);
        }
        Ok(Arc::new(b.build().await?))
    } else {
        sync_core::store::open_store(target).await
    }
}

/// Checks that Acumatica holds exactly one journal per (month, branch) of [`months`], each
/// balanced with the allocation pool of its branch, and no other journal the connector
/// created. Returns a description of what is wrong.
pub fn check_journals(acu: &testkit::acumatica::Acumatica) -> Result<usize, String> {
    let mut seen: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for b in acu.journal_transactions() {
        let Some(desc) = b.description.as_deref() else {
            continue;
        };
        if extract_key(desc).is_none() {
            continue;
        }
        let period = b.post_period.clone().unwrap_or_default();
        let branch = b.branch.clone().unwrap_or_default();
        let debit: rust_decimal::Decimal = b.lines.iter().map(|l| l.debit).sum();
        let credit: rust_decimal::Decimal = b.lines.iter().map(|l| l.credit).sum();
        let month = months().into_iter().find(|m| seed::period_id(*m) == period);
        let bi = seed::BRANCHES.iter().position(|x| x.id == branch);
        match (month, bi) {
            (Some(m), Some(bi)) => {
                let pool = testkit::looker::overhead_pool(m, bi);
                if debit != credit || debit != pool {
                    problems.push(format!(
                        "batch {} ({period} {branch}): debit {debit}, credit {credit}, expected {pool}",
                        b.batch_nbr
                    ));
                }
            }
            _ => problems.push(format!(
                "batch {} has unexpected period {period} / branch {branch}",
                b.batch_nbr
            )),
        }
        seen.entry((period, branch))
            .or_default()
            .push(b.batch_nbr.clone());
    }
    let mut expected = 0;
    for m in months() {
        for br in seed::BRANCHES {
            expected += 1;
            let key = (seed::period_id(m), br.id.to_owned());
            match seen.get(&key).map(Vec::len) {
                Some(1) => {}
                None => problems.push(format!("missing journal {} {}", key.0, key.1)),
                Some(n) => problems.push(format!(
                    "journal {} {} posted {n} times: batches {:?}",
                    key.0, key.1, seen[&key]
                )),
            }
        }
    }
    if problems.is_empty() {
        Ok(expected)
    } else {
        Err(problems.join("; "))
    }
}

fn field(doc: &Value, name: &str) -> Value {
    doc.get(name)
        .and_then(|v| v.get("value"))
        .cloned()
        .unwrap_or(Value::Null)
}

/// Checks that the warehouse holds exactly the fake's records of every [`feed_specs`]
/// entity: same ids, same typed fields and the same detail lines, no other row that is not
/// marked deleted (rows of records deleted from the source must carry `deleted_at`), no
/// duplicate. Returns the record count or a description of the differences.
pub async fn check_warehouse(
    acu: &testkit::acumatica::Acumatica,
    warehouse: &dyn WarehouseSink,
) -> Result<u64, String> {
    let mut problems = Vec::new();
    let mut total = 0;
    for spec in feed_specs() {
        let source = acu.documents(&spec.entity);
        // Rows not marked deleted: those no run has seen "since" a day from now.
        let live: BTreeSet<String> = warehouse
            .unseen_since(&spec, chrono::Utc::now() + chrono::Duration::days(1))
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .collect();
        let wanted: BTreeSet<String> = source
            .iter()
            .map(|d| d["id"].as_str().unwrap_or_default().to_owned())
            .collect();
        for id in live.difference(&wanted) {
            problems.push(format!(
                "{} {id} is gone from the source but not marked deleted",
                spec.entity
            ));
        }
        for id in wanted.difference(&live) {
            problems.push(format!(
                "{} {id} is in the source but missing or marked deleted",
                spec.entity
            ));
        }
        let mut ids = BTreeSet::new();
        for doc in &source {
            let id = doc["id"].as_str().unwrap_or_default().to_owned();
            ids.insert(id.clone());
            let Some(raw) = warehouse
                .raw_record(&spec, &id)
                .await
                .map_err(|e| e.to_string())?
            else {
                problems.push(format!("{} {id} missing from the warehouse", spec.entity));
                continue;
            };
            for c in spec
                .columns
                .iter()
                .map(|c| c.source.as_str())
                .chain(["LastModifiedDateTime"])
            {
                if field(doc, c) != field(&raw, c) {
                    problems.push(format!(
                        "{} {id} field {c}: warehouse {}, source {}",
                        spec.entity,
                        field(&raw, c),
                        field(doc, c)
                    ));
                }
            }
            if let Some(d) = &spec.details {
                let lines = |v: &Value| -> Vec<Vec<Value>> {
                    v.get(&d.source)
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .map(|l| d.columns.iter().map(|c| field(l, &c.source)).collect())
                                .collect()
                        })
                        .unwrap_or_default()
                };
                if lines(doc) != lines(&raw) {
                    problems.push(format!("{} {id}: detail lines differ", spec.entity));
                }
            }
        }
        total += source.len() as u64;
    }
    if problems.is_empty() {
        Ok(total)
    } else {
        problems.truncate(10);
        Err(problems.join("; "))
    }
}
