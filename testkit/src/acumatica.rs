//! A stateful fake of the Acumatica contract-based REST API (Default
//! endpoint), written from `reference/acumatica/FACTS.md` and the official
//! endpoint definitions, independent of our client crate.
//!
//! What it serves:
//! - `GET /entity` (endpoint list, several Default versions);
//! - OAuth 2.0 at `/identity/connect/token` (password and refresh grants
//!   with rotation) and cookie sessions at `/entity/auth/login|logout`;
//! - `GET|PUT|DELETE /entity/Default/{version}/{Entity}[/{keys}|/{id}]`
//!   with `$filter`, `$select`, `$expand`, `$top`, `$skip`, `$custom`, for
//!   Account, Subaccount, Ledger, FinancialPeriod, Vendor, Bill, Check,
//!   PurchaseOrder, StockItem, NonStockItem and JournalTransaction;
//! - actions (`POST .../JournalTransaction/ReleaseJournalTransaction`) with
//!   `202` + `Location`, then `204` when polled.
//! - `GET /entity/Default/{version}/swagger.json` (Swagger 2.0 for 22/23,
//!   OpenAPI 3.0.1 for 24) and `.../{Entity}/$adHocSchema`, built from the
//!   catalogue the entities above are served from.
//! - the GL inquiries `AccountSummaryInquiry` and
//!   `AccountDetailsForPeriodInquiry`, run by `PUT` with their parameters
//!   and computed from the journal transactions (see `inquiry.rs`);
//! - the generic-inquiry OData service (`/t/{tenant}/api/odata/gi` and its
//!   `$metadata`, Basic auth), which exposes no inquiry.
//!
//! Subaccount codes are served raw, without the segment separator of
//! [`crate::seed::SUBACCOUNTS`] (`"100000"` for `"100-000"`), as the official
//! examples send them; writes accept either form.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use testkit::acumatica::{AcumaticaFake, AcumaticaOptions};
//!
//! let fake = AcumaticaFake::start(AcumaticaOptions::default().journal_transactions(500)).await?;
//! let base = format!("{}/entity/Default/24.200.001/", fake.url());
//! // ... run the code under test against `base` ...
//! assert_eq!(fake.state().created("JournalTransaction"), 0);
//! # Ok(()) }
//! ```

mod auth;
mod catalog;
mod filter;
mod generate;
mod input;
mod inquiry;
mod odata;
mod render;
mod reply;
mod routes;
mod schema;
mod store;
mod swagger;
mod value;
mod write;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use rust_decimal::Decimal;

pub use auth::AuthCounters;
pub use generate::DataSize;
pub use inquiry::PostedLine;
pub use routes::EndpointListShape;
pub use store::{ListOrder, MidListingMutation};

use crate::faults::Faults;
use crate::inspect::RequestLog;
use crate::seed;
use crate::server::{ErrorStyle, FakeServer};
use render::Shape;
use routes::{Inner, Settings};
use store::{PendingMutation, Store, key_of};
use value::{Row, Val, format_datetime};

/// How to build a fake Acumatica site.
#[derive(Clone, Debug)]
pub struct AcumaticaOptions {
    versions: Vec<String>,
    data: DataSize,
    token_lifetime: Duration,
    session_idle_timeout: Duration,
    max_sessions: usize,
    release_running_polls: u32,
    endpoint_list: EndpointListShape,
    addr: Option<SocketAddr>,
    key_numbering: Vec<(String, String)>,
    list_order: ListOrder,
}

impl Default for AcumaticaOptions {
    /// The versions of [`seed::ENDPOINT_VERSIONS`], [`DataSize::default`],
    /// one-hour tokens, ten-minute cookie sessions, five concurrent API
    /// sessions, and a release that answers 202 to its first poll.
    fn default() -> Self {
        AcumaticaOptions {
            versions: seed::ENDPOINT_VERSIONS
                .iter()
                .map(|v| v.to_string())
                .collect(),
            data: DataSize::default(),
            token_lifetime: Duration::from_secs(3600),
            session_idle_timeout: Duration::from_secs(600),
            max_sessions: 5,
            release_running_polls: 1,
            endpoint_list: EndpointListShape::Object,
            addr: None,
            key_numbering: Vec::new(),
            list_order: ListOrder::Key,
        }
    }
}

impl AcumaticaOptions {
    /// The Default endpoint versions served (e.g. `["23.200.001",
    /// "24.200.001"]`); any other version is a 404 when authenticated.
    pub fn versions<I, V>(mut self, versions: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        self.versions = versions.into_iter().map(Into::into).collect();
        self
    }

    /// How much generated data to seed.
    pub fn data(mut self, data: DataSize) -> Self {
        self.data = data;
        self
    }

    /// The order list requests answer in (default [`ListOrder::Key`]); see
    /// also [`Acumatica::set_list_order`].
    ///
    /// ```
    /// use testkit::acumatica::{AcumaticaOptions, ListOrder};
    /// let options = AcumaticaOptions::default().list_order(ListOrder::Shuffled { seed: 7 });
    /// # let _ = options;
    /// ```
    pub fn list_order(mut self, order: ListOrder) -> Self {
        self.list_order = order;
        self
    }

    /// Number of seeded journal transactions (four lines each); up to
    /// 100 000 for benchmarks.
    pub fn journal_transactions(mut self, n: usize) -> Self {
        self.data.journal_transactions = n;
        self
    }

    /// Lifetime of OAuth access tokens (`expires_in`).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// Idle timeout of cookie sessions (10 minutes on a real site).
    pub fn session_idle_timeout(mut self, timeout: Duration) -> Self {
        self.session_idle_timeout = timeout;
        self
    }

    /// Concurrent API sessions the license allows; further sign-ins get
    /// "API Login Limit".
    pub fn max_sessions(mut self, n: usize) -> Self {
        self.max_sessions = n;
        self
    }

    /// How many polls of an action's `Location` answer 202 before 204 (0:
    /// the action itself answers 204).
    pub fn release_running_polls(mut self, polls: u32) -> Self {
        self.release_running_polls = polls;
        self
    }

    /// Shape of the `GET /entity` answer.
    pub fn endpoint_list(mut self, shape: EndpointListShape) -> Self {
        self.endpoint_list = shape;
        self
    }

    /// Listen on this address instead of a free port on 127.0.0.1.
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = Some(addr);
        self
    }

    /// Give `entity` (one whose key the client normally chooses, e.g.
    /// `Vendor`) a numbering sequence starting at `first` (e.g. `C1165`):
    /// every record inserted through the API is saved under the next number
    /// whatever key the PUT asked for, as on a site whose numbering sequence
    /// covers the entity (FACTS section 7: a PUT with `"123"` created
    /// `"C1165"`). Off by default. See [`Acumatica::number_keys`] for the
    /// entities accepted; the fake panics at start on a bad one.
    pub fn auto_number_keys(mut self, entity: &str, first: &str) -> Self {
        self.key_numbering
            .push((entity.to_owned(), first.to_owned()));
        self
    }
}

/// One journal transaction as stored, for assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalBatch {
    /// `id` (NoteID).
    pub id: String,
    /// `Module`.
    pub module: String,
    /// `BatchNbr`.
    pub batch_nbr: String,
    /// `Status` (`On Hold`, `Balanced`, `Posted`).
    pub status: String,
    /// `Hold`.
    pub hold: bool,
    /// `BranchID`.
    pub branch: Option<String>,
    /// `LedgerID`.
    pub ledger: Option<String>,
    /// `PostPeriod` (`MMYYYY`).
    pub post_period: Option<String>,
    /// `TransactionDate` as served.
    pub transaction_date: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// `LastModifiedDateTime` as served.
    pub last_modified: Option<String>,
    /// The lines.
    pub lines: Vec<JournalLine>,
}

/// One line of a [`JournalBatch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalLine {
    /// `LineNbr`.
    pub line_nbr: i64,
    /// `Account`.
    pub account: Option<String>,
    /// `Subaccount`.
    pub subaccount: Option<String>,
    /// `BranchID`.
    pub branch: Option<String>,
    /// `DebitAmount`.
    pub debit: Decimal,
    /// `CreditAmount`.
    pub credit: Decimal,
    /// `TransactionDescription` (the line text).
    pub transaction_description: Option<String>,
    /// `ReferenceNbr`.
    pub reference_nbr: Option<String>,
}

/// The state of one fake site: data, sessions and knobs. Cheap to clone;
/// clones share the site.
#[derive(Clone, Debug)]
pub struct Acumatica {
    inner: Arc<Inner>,
}

/// A mid-listing mutation that cannot be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MutationError(String);

impl Acumatica {
    /// Build and seed a site (deterministic for the same options).
    pub fn new(options: &AcumaticaOptions) -> Self {
        let mut store = Store::new();
        generate::seed_all(&mut store, &options.data);
        store.list_order = options.list_order;
        let auth = auth::AuthState::new(
            auth::Credentials::default(),
            auth::AuthSettings {
                token_lifetime: options.token_lifetime,
                session_idle_timeout: options.session_idle_timeout,
                max_sessions: options.max_sessions,
            },
        );
        let site = Acumatica {
            inner: Arc::new(Inner {
                settings: Settings {
                    versions: options.versions.clone(),
                    endpoint_list: options.endpoint_list,
                    release_running_polls: options.release_running_polls,
                },
                store: RwLock::new(store),
                auth: Mutex::new(auth),
                faults: Faults::new(),
            }),
        };
        for (entity, first) in &options.key_numbering {
            if let Err(e) = site.number_keys(entity, Some(first)) {
                panic!("AcumaticaOptions::auto_number_keys: {e}");
            }
        }
        site
    }

    /// Turn the key numbering sequence of `entity` on (from `first`, e.g.
    /// `Some("C1165")`) or off (`None`) from now on; see
    /// [`AcumaticaOptions::auto_number_keys`]. Records already stored keep
    /// their keys.
    ///
    /// ```
    /// use testkit::acumatica::{Acumatica, AcumaticaOptions};
    /// let site = Acumatica::new(&AcumaticaOptions::default());
    /// site.number_keys("Vendor", Some("C1165")).unwrap();
    /// assert!(site.number_keys("Vendor", Some("C")).is_err()); // no number
    /// assert!(site.number_keys("Bill", Some("B1")).is_err()); // numbered already
    /// site.number_keys("Vendor", None).unwrap();
    /// ```
    ///
    /// # Errors
    /// When the entity is not served, has more than one key field or a
    /// document numbering of its own, or `first` does not end in digits.
    pub fn number_keys(&self, entity: &str, first: Option<&str>) -> Result<(), MutationError> {
        let Some(def) = schema::entity(entity) else {
            return Err(MutationError(format!(
                "'{entity}' is not an entity this fake serves"
            )));
        };
        if def.keys.len() != 1 || def.numbering.is_some() {
            return Err(MutationError(format!(
                "'{entity}' has a compound key or a document numbering of its own; key numbering applies to entities keyed by one client-given field such as Vendor"
            )));
        }
        let mut store = self.inner.write();
        match first {
            None => {
                store.key_numbering.remove(def.name);
            }
            Some(first) => {
                let Some(seq) = store::KeyNumbering::parse(first) else {
                    return Err(MutationError(format!(
                        "'{first}' does not end in digits; give the first number, e.g. C1165"
                    )));
                };
                store.key_numbering.insert(def.name, seq);
            }
        }
        Ok(())
    }

    /// The axum router of the site (serve it with [`FakeServer`]).
    pub fn router(&self) -> Router {
        routes::router(self.inner.clone())
    }

    /// The fault handle the site's auth consults for token expiry; pass it
    /// to [`FakeServer`] so route faults and token expiry share one handle.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// Records of a top-level entity currently stored (0 for an unknown
    /// entity).
    pub fn count(&self, entity: &str) -> usize {
        match schema::entity(entity) {
            Some(_) => self.inner.read().table(entity).len(),
            None => 0,
        }
    }

    /// Records of `entity` inserted through the API (PUT) so far.
    pub fn created(&self, entity: &str) -> u64 {
        self.inner.read().created.get(entity).copied().unwrap_or(0)
    }

    /// Every record of `entity` in key order, rendered as the newest served
    /// version would with every detail and linked entity expanded.
    pub fn documents(&self, entity: &str) -> Vec<serde_json::Value> {
        let Some(def) = schema::entity(entity) else {
            return Vec::new();
        };
        let version = self.newest_version();
        let s = schema::schema(def.name).expect("catalogue");
        let shape = Shape::full(s, &version);
        self.inner
            .read()
            .table(entity)
            .all()
            .map(|r| render::to_value(&shape, r, None))
            .collect()
    }

    /// One record by its keys in URL order (e.g. `["GL", "000042"]`).
    pub fn document(&self, entity: &str, keys: &[&str]) -> Option<serde_json::Value> {
        let def = schema::entity(entity)?;
        let version = self.newest_version();
        let s = schema::schema(def.name).expect("catalogue");
        let row = self.inner.read().table(entity).by_key(&key_of(keys))?;
        Some(render::to_value(&Shape::full(s, &version), &row, None))
    }

    fn newest_version(&self) -> String {
        self.inner
            .settings
            .versions
            .iter()
            .max_by_key(|v| schema::version_key(v))
            .cloned()
            .unwrap_or_else(|| "24.200.001".to_owned())
    }

    /// Every journal transaction, typed, in key order.
    pub fn journal_transactions(&self) -> Vec<JournalBatch> {
        let s = schema::schema("JournalTransaction").expect("catalogue");
        let l = schema::schema("JournalTransactionDetail").expect("catalogue");
        let text = |r: &value::Row, sc: &schema::Schema, f: &str| -> Option<String> {
            match r.get(sc.idx(f))? {
                Val::Dt(ms) => Some(format_datetime(*ms)),
                v => v.as_str().map(str::to_owned),
            }
        };
        let store = self.inner.read();
        store
            .table("JournalTransaction")
            .all()
            .map(|r| JournalBatch {
                id: r.id.to_string(),
                module: text(r, s, "Module").unwrap_or_default(),
                batch_nbr: text(r, s, "BatchNbr").unwrap_or_default(),
                status: text(r, s, "Status").unwrap_or_default(),
                hold: r.get(s.idx("Hold")).and_then(Val::as_bool).unwrap_or(false),
                branch: text(r, s, "BranchID"),
                ledger: text(r, s, "LedgerID"),
                post_period: text(r, s, "PostPeriod"),
                transaction_date: text(r, s, "TransactionDate"),
                description: text(r, s, "Description"),
                last_modified: text(r, s, "LastModifiedDateTime"),
                lines: r
                    .kids(s.idx("Details"))
                    .iter()
                    .map(|d| JournalLine {
                        line_nbr: match d.get(l.idx("LineNbr")) {
                            Some(Val::Int(i)) => *i,
                            _ => 0,
                        },
                        account: text(d, l, "Account"),
                        subaccount: text(d, l, "Subaccount"),
                        branch: text(d, l, "BranchID"),
                        debit: d
                            .get(l.idx("DebitAmount"))
                            .and_then(Val::as_dec)
                            .unwrap_or_default(),
                        credit: d
                            .get(l.idx("CreditAmount"))
                            .and_then(Val::as_dec)
                            .unwrap_or_default(),
                        transaction_description: text(d, l, "TransactionDescription"),
                        reference_nbr: text(d, l, "ReferenceNbr"),
                    })
                    .collect(),
            })
            .collect()
    }

    /// Schedule a change of the data while a client pages through a list:
    /// after the `after_list_requests`th list request of `entity`, insert
    /// and touch records. Fires once.
    pub fn mutate_mid_listing(&self, plan: MidListingMutation) -> Result<(), MutationError> {
        if schema::entity(&plan.entity).is_none() {
            return Err(MutationError(format!(
                "'{}' is not an entity this fake serves",
                plan.entity
            )));
        }
        if plan.insert > 0 && !generate::can_generate(&plan.entity) {
            return Err(MutationError(format!(
                "'{}' is reference data: the fake can touch but not insert it; use touch only",
                plan.entity
            )));
        }
        if plan.after_list_requests == 0 {
            return Err(MutationError(
                "after_list_requests must be at least 1".to_owned(),
            ));
        }
        self.inner
            .write()
            .mutations
            .push(PendingMutation { plan, seen: 0 });
        Ok(())
    }

    /// Apply a mutation right now (insert and touch), without waiting for
    /// list requests.
    pub fn mutate_now(&self, plan: &MidListingMutation) -> Result<(), MutationError> {
        if schema::entity(&plan.entity).is_none() {
            return Err(MutationError(format!(
                "'{}' is not an entity this fake serves",
                plan.entity
            )));
        }
        routes::apply_mutation(&mut self.inner.write(), plan);
        Ok(())
    }

    /// Mid-listing mutations set and not fired yet.
    pub fn pending_mutations(&self) -> usize {
        self.inner.read().mutations.len()
    }

    /// Change the order list requests answer in from now on.
    pub fn set_list_order(&self, order: ListOrder) {
        self.inner.write().list_order = order;
    }

    /// Touch the first `n` records of `entity` in key order with **one**
    /// `LastModifiedDateTime` (as a mass update or an import does) and an
    /// " (edited)" suffix on their `Description`; returns that time in UTC
    /// milliseconds.
    pub fn touch_together(&self, entity: &str, n: usize) -> Result<i64, MutationError> {
        if schema::entity(entity).is_none() {
            return Err(MutationError(format!(
                "'{entity}' is not an entity this fake serves"
            )));
        }
        let mut store = self.inner.write();
        let now = store.now_ms();
        let schema = store.table(entity).schema;
        let rows: Vec<Row> = store
            .table(entity)
            .all()
            .take(n)
            .map(|r| (**r).clone())
            .collect();
        for mut row in rows {
            if let Some((idx, _)) = schema.field("Description") {
                let old = row.get(idx).and_then(Val::as_str).unwrap_or("").to_owned();
                row.set(idx, Some(Val::Str(format!("{old} (edited)").into())));
            }
            Store::touch(schema, &mut row, now);
            store.table_mut(entity).put(row);
        }
        Ok(now)
    }

    /// API sessions currently counted against the license.
    pub fn active_sessions(&self) -> usize {
        self.inner.auth().live_sessions()
    }

    /// Sign-in counters.
    pub fn auth_counters(&self) -> AuthCounters {
        self.inner.auth().counters
    }

    /// The Default endpoint versions served.
    pub fn versions(&self) -> &[String] {
        &self.inner.settings.versions
    }
}

/// The error body shape of the real site for errors the harness makes up
/// (an injected 5xx or 429): the `HttpError` of FACTS section 9.
pub fn error_style() -> ErrorStyle {
    ErrorStyle::json(|status, message| {
        if status == 429 {
            serde_json::json!({ "message": "The number of requests has exceeded the limit imposed by the license." })
        } else {
            serde_json::json!({
                "message": "An error has occurred.",
                "exceptionMessage": message,
                "exceptionType": "System.Exception",
            })
        }
    })
}

/// A fake Acumatica site served on a local port.
#[derive(Debug)]
pub struct AcumaticaFake {
    server: FakeServer,
    state: Acumatica,
}

impl AcumaticaFake {
    /// Seed a site and serve it on `127.0.0.1` (a free port unless
    /// [`AcumaticaOptions::addr`] says otherwise).
    pub async fn start(options: AcumaticaOptions) -> std::io::Result<Self> {
        let state = Acumatica::new(&options);
        let mut builder = FakeServer::builder(state.router())
            .faults(state.faults().clone())
            .error_style(error_style());
        if let Some(addr) = options.addr {
            builder = builder.addr(addr);
        }
        let server = builder.start().await?;
        Ok(AcumaticaFake { server, state })
    }

    /// Base URL of the site (the instance root), e.g.
    /// `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        self.server.url()
    }

    /// `<url>/entity/Default/<version>/`.
    pub fn endpoint_url(&self, version: &str) -> String {
        format!("{}/entity/Default/{version}/", self.server.url())
    }

    /// The data, sessions and knobs of the site.
    pub fn state(&self) -> &Acumatica {
        &self.state
    }

    /// Fault rules (shared with the token-expiry hook).
    pub fn faults(&self) -> &Faults {
        self.server.faults()
    }

    /// The request log.
    pub fn log(&self) -> &RequestLog {
        self.server.log()
    }

    /// The underlying server.
    pub fn server(&self) -> &FakeServer {
        &self.server
    }

    /// Stop serving.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}
