//! Shared set-up of the end-to-end flow tests: both fakes on local ports, clients configured for
//! them, the allocation mapping, and state stores of both backends (PostgreSQL only when
//! `ML_CONNECTOR_TEST_POSTGRES_URL` is set; the tests print that they skipped it otherwise).

#![allow(dead_code)]

use std::sync::Arc;

use sync_core::mapping::JournalMapping;
use sync_core::post::{
    AcumaticaJournals, LookerQueryConfig, LookerQuerySource, PostFlow, PostOptions,
};
use sync_core::store::{PostgresStore, SqliteStore, StateStore};
use testkit::acumatica::{AcumaticaFake, AcumaticaOptions};
use testkit::looker::{LookerConfig, LookerFake};
use testkit::seed::{self, credentials};
use testkit::server::FakeServer;

pub const VERSION: &str = "24.200.001";
pub const URL_VAR: &str = "ML_CONNECTOR_TEST_POSTGRES_URL";

/// Both fakes and a client for each.
pub struct Env {
    pub acu: AcumaticaFake,
    pub looker_fake: LookerFake,
    pub looker_server: FakeServer,
    pub acumatica: acumatica_client::Client,
    pub looker: looker_client::Client,
}

impl Env {
    pub async fn start(looker: LookerConfig) -> Self {
        Self::start_with(AcumaticaOptions::default(), looker).await
    }

    pub async fn start_with(acu_options: AcumaticaOptions, looker: LookerConfig) -> Self {
        let acu = AcumaticaFake::start(acu_options).await.unwrap();
        let looker_fake = LookerFake::new(looker).unwrap();
        let looker_server = looker_fake.serve().await.unwrap();
        let acumatica = acumatica_client(&acu);
        let looker = looker_client::Client::builder(looker_server.url())
            .credentials(
                credentials::LOOKER_CLIENT_ID,
                credentials::LOOKER_CLIENT_SECRET,
            )
            .build()
            .unwrap();
        Self {
            acu,
            looker_fake,
            looker_server,
            acumatica,
            looker,
        }
    }

    /// A post flow for `period` (MMYYYY) with these options on `store`.
    pub fn post_flow(
        &self,
        store: Arc<dyn StateStore>,
        period: &str,
        options: PostOptions,
    ) -> PostFlow {
        self.post_flow_as(store, period, options, "test-owner")
    }

    pub fn post_flow_as(
        &self,
        store: Arc<dyn StateStore>,
        period: &str,
        options: PostOptions,
        owner: &str,
    ) -> PostFlow {
        let mapping = mapping();
        let source = LookerQuerySource::new(self.looker.clone(), &query(period), &mapping).unwrap();
        PostFlow::builder(mapping)
            .source(source)
            .sink(AcumaticaJournals::new(self.acumatica.clone()))
            .store(store)
            .options(options)
            .owner(owner)
            .build()
            .unwrap()
    }

    /// The journal transactions created through the API whose description carries a key.
    pub fn tagged_batches(&self) -> Vec<testkit::acumatica::JournalBatch> {
        self.acu
            .state()
            .journal_transactions()
            .into_iter()
            .filter(|b| {
                b.description
                    .as_deref()
                    .is_some_and(|d| d.contains("[mlc:"))
            })
            .collect()
    }

    pub async fn shutdown(self) {
        self.looker_server.shutdown().await;
        self.acu.shutdown().await;
    }
}

pub fn acumatica_client(acu: &AcumaticaFake) -> acumatica_client::Client {
    acumatica_client::Client::builder(acu.url())
        .endpoint_version(VERSION)
        .tenant(seed::TENANT)
        .oauth_password(
            credentials::ACUMATICA_CLIENT_ID,
            credentials::ACUMATICA_CLIENT_SECRET,
            credentials::ACUMATICA_USERNAME,
            credentials::ACUMATICA_PASSWORD,
        )
        .allow_insecure_http(true)
        .page_size(25)
        .build()
        .unwrap()
}

/// The first open period of the seed (MMYYYY).
pub fn open_period() -> String {
    seed::period_id(seed::LAST_CLOSED_MONTH + 1)
}

/// The allocation mapping: one journal per period and branch. Looker shows subaccounts with
/// their separator (`100-000`); the Acumatica fake serves them raw (`100000`).
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
    JournalMapping::from_toml_str(&text).unwrap()
}

pub fn query(period: &str) -> LookerQueryConfig {
    toml::from_str(&format!(
        r#"
model = "finance"
explore = "overhead_allocation"
filters = {{ "overhead_allocation.period" = "{period}" }}
sorts = ["overhead_allocation.line_id"]
"#
    ))
    .unwrap()
}

/// A state store per backend: SQLite always, PostgreSQL (a fresh schema) when configured.
pub struct Stores {
    pub list: Vec<(&'static str, Arc<dyn StateStore>)>,
    _dir: tempfile::TempDir,
}

pub fn postgres_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            println!("skipped PostgreSQL: {URL_VAR} not set");
            None
        }
    }
}

pub fn fresh_schema() -> String {
    format!("t_{}", uuid::Uuid::new_v4().simple())
}

pub async fn postgres_store(url: &str, schema: &str) -> PostgresStore {
    PostgresStore::builder(url)
        .schema(schema)
        .max_connections(4)
        .build()
        .await
        .unwrap()
}

pub async fn stores() -> Stores {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(dir.path().join("state.db"))
        .await
        .unwrap();
    let mut list: Vec<(&'static str, Arc<dyn StateStore>)> = vec![("sqlite", Arc::new(sqlite))];
    if let Some(url) = postgres_url() {
        list.push((
            "postgres",
            Arc::new(postgres_store(&url, &fresh_schema()).await),
        ));
    }
    Stores { list, _dir: dir }
}
