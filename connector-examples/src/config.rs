//! The `ml-connector` configuration: a TOML file for connections and flows, with environment
//! variables on top.
//!
//! Precedence, highest first: environment variables, the config file, defaults. The
//! environment uses the official Looker SDK names (`LOOKERSDK_BASE_URL`,
//! `LOOKERSDK_CLIENT_ID`, `LOOKERSDK_CLIENT_SECRET`, `LOOKERSDK_VERIFY_SSL`,
//! `LOOKERSDK_TIMEOUT`) and their Acumatica equivalents (`ACUMATICA_URL`,
//! `ACUMATICA_ENDPOINT_VERSION`, `ACUMATICA_TENANT`, `ACUMATICA_BRANCH`,
//! `ACUMATICA_REQUEST_BRANCH`, `ACUMATICA_CLIENT_ID`,
//! `ACUMATICA_CLIENT_SECRET`, `ACUMATICA_USERNAME`, `ACUMATICA_PASSWORD`), plus
//! `ML_CONNECTOR_STORE_URL`, `ML_CONNECTOR_VAULT` and `ML_CONNECTOR_VAULT_KEY`.
//!
//! Secrets (client secrets, passwords, a password inside a store URL) are never read from the
//! file: a file that contains one is refused, naming the line, because config files get
//! committed, copied and attached to tickets. Secrets come from the environment or the
//! encrypted vault ([`crate::secrets`]).
//!
//! A complete example is in `connector-examples/README.md`; [`Config::load`] reads one.
//!
//! ```
//! use connector_examples::config::{Config, FlowKind};
//!
//! let text = r#"
//! [looker]
//! base_url = "https://example.cloud.looker.com"
//!
//! [[flows]]
//! name = "gl_feed"
//! kind = "feed"
//! cron = "*/15 * * * *"
//! entities = ["JournalTransaction"]
//! "#;
//! let config = Config::from_str_with_env(text, "ml-connector.toml".as_ref(), |_| None).unwrap();
//! assert_eq!(config.flow("gl_feed").unwrap().kind(), FlowKind::Feed);
//! ```
//!
//! The three kinds of flow: `post` (Looker rows → journals posted exactly once), `reference`
//! (Looker rows → records of an Acumatica entity upserted by key, e.g. approved vendors into
//! `Vendor`) and `feed` (Acumatica changes → warehouse tables).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sync_core::feed::{FeedConfig, FeedEntity, FeedOptions};
use sync_core::mapping::{JournalMapping, MappingError, ReferenceMapping};
use sync_core::post::{LookerQueryConfig, PostOptions};
use sync_core::reference::ReferenceOptions;
use toml::Spanned;

use crate::exit::{CliError, CliResult};

/// The file read when `--config` and `ML_CONNECTOR_CONFIG` are not given (if it exists).
pub const DEFAULT_CONFIG_FILE: &str = "ml-connector.toml";

/// The state store used when none is configured: a SQLite file next to the config.
pub const DEFAULT_STORE_FILE: &str = "ml-connector.db";

/// The warehouse of feed flows when none is configured: a SQLite file next to the config.
pub const DEFAULT_WAREHOUSE_FILE: &str = "warehouse.db";

/// The vault file used when none is configured.
pub const DEFAULT_VAULT_FILE: &str = "ml-connector.vault";

/// The whole configuration, resolved: file values, environment overrides and defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from (`None`: environment only).
    pub source: Option<PathBuf>,
    /// The Acumatica connection, if configured (file or `ACUMATICA_URL`).
    pub acumatica: Option<AcumaticaSettings>,
    /// The Looker connection, if configured (file or `LOOKERSDK_BASE_URL`).
    pub looker: Option<LookerSettings>,
    /// Where flow state (leases, ledger, runs, audit) lives.
    pub store: StoreUrl,
    /// Options of the state store beyond its URL (`[store]` section).
    pub store_options: StoreOptions,
    /// The encrypted credentials file.
    pub vault_path: PathBuf,
    /// The flows, in file order.
    pub flows: Vec<FlowConfig>,
}

/// How the command signs in to Acumatica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AcumaticaAuth {
    /// OAuth 2.0 password grant of a Connected Application (client id and secret, user
    /// name and password). The default.
    Oauth,
    /// The legacy cookie session (`/entity/auth/login`, user name and password).
    Session,
}

impl fmt::Display for AcumaticaAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AcumaticaAuth::Oauth => "oauth",
            AcumaticaAuth::Session => "session",
        })
    }
}

/// The Acumatica connection (`[acumatica]`), without secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcumaticaSettings {
    /// Site URL, e.g. `https://erp.example.com/AcumaticaERP` (`ACUMATICA_URL`).
    pub url: String,
    /// Endpoint name (default `Default`).
    pub endpoint: String,
    /// Pinned endpoint version, e.g. `24.200.001` (`ACUMATICA_ENDPOINT_VERSION`).
    pub endpoint_version: Option<String>,
    /// Tenant (company login name) (`ACUMATICA_TENANT`).
    pub tenant: Option<String>,
    /// Branch **ID** a cookie-session login picks (`ACUMATICA_BRANCH`); refused with OAuth.
    pub branch: Option<String>,
    /// Branch **name** every Acumatica request runs in (`request_branch`,
    /// `ACUMATICA_REQUEST_BRANCH`): sent as the `PX-CbApiBranch` header through
    /// [`acumatica_client::Client::with_branch`], with either kind of sign-in.
    pub request_branch: Option<String>,
    /// How to sign in.
    pub auth: AcumaticaAuth,
    /// OAuth client id, if given in the file or `ACUMATICA_CLIENT_ID`.
    pub client_id: Option<String>,
    /// User name, if given in the file or `ACUMATICA_USERNAME`.
    pub username: Option<String>,
    /// Whole-request timeout.
    pub timeout: Option<Duration>,
    /// Client-side pacing: requests per minute.
    pub requests_per_minute: Option<u32>,
    /// Client-side pacing: requests in flight.
    pub max_concurrent_requests: Option<usize>,
    /// Records per page when listing.
    pub page_size: Option<u32>,
    /// Allow plain http to a remote host (test rigs only).
    pub allow_insecure_http: bool,
}

/// The Looker connection (`[looker]`), without secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookerSettings {
    /// Instance URL without `/api/*` (`LOOKERSDK_BASE_URL`).
    pub base_url: String,
    /// API3 client id, if given in the file or `LOOKERSDK_CLIENT_ID`.
    pub client_id: Option<String>,
    /// Verify TLS certificates (`LOOKERSDK_VERIFY_SSL`, default true).
    pub verify_ssl: bool,
    /// Request timeout (`LOOKERSDK_TIMEOUT`, seconds; default 120).
    pub timeout: Duration,
}

/// State store options beyond its URL: the PostgreSQL session timeouts
/// (`store.lock_timeout_secs`, `store.statement_timeout_secs`; ignored for SQLite, whose
/// writers wait up to their busy timeout). `None`: the store's default (10 s and 60 s).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// How long a statement waits for a row lock held by another session.
    pub lock_timeout: Option<std::time::Duration>,
    /// The longest a statement may run.
    pub statement_timeout: Option<std::time::Duration>,
}

/// Where the state store lives.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// A SQLite file (created when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL URL (its password comes from `PGPASSWORD` or `~/.pgpass`, never the file).
    Postgres(String),
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Sqlite(p) => write!(f, "sqlite://{}", p.display()),
            StoreUrl::Postgres(u) => f.write_str(&redact_url(u)),
        }
    }
}

impl StoreUrl {
    /// Parses `sqlite://path`, `sqlite:path`, a bare path, or `postgres://…`; relative SQLite
    /// paths are taken relative to `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Self, String> {
        let text = text.trim();
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            let url = url::Url::parse(text).map_err(|e| format!("not a valid URL: {e}"))?;
            if url.password().is_some() {
                return Err("the PostgreSQL URL contains a password; remove it and set \
                            PGPASSWORD (or use ~/.pgpass) instead, so the secret is not \
                            written in a file"
                    .into());
            }
            return Ok(StoreUrl::Postgres(text.to_owned()));
        }
        let path = text
            .strip_prefix("sqlite://")
            .or_else(|| text.strip_prefix("sqlite:"))
            .unwrap_or(text);
        if path.is_empty() {
            return Err("empty store path; use e.g. sqlite://ml-connector.db".into());
        }
        if text.contains("://") && !text.starts_with("sqlite://") {
            return Err(format!(
                "unsupported store URL `{text}`: use sqlite://FILE or postgres://USER@HOST/DB"
            ));
        }
        let path = Path::new(path);
        Ok(StoreUrl::Sqlite(if path.is_absolute() {
            path.to_path_buf()
        } else {
            base.join(path)
        }))
    }
}

fn redact_url(u: &str) -> String {
    match url::Url::parse(u) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => u.to_owned(),
    }
}

/// Whether a flow posts journals or reference records to Acumatica, or feeds a warehouse from
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowKind {
    /// Looker query → mapping → validation → journals posted exactly once.
    Post,
    /// Acumatica changes since the high-water mark → warehouse tables.
    Feed,
    /// Looker query → mapping → records of an Acumatica entity upserted by key, sending only
    /// the fields that changed (e.g. an approved-vendor list into `Vendor`).
    Reference,
}

impl fmt::Display for FlowKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FlowKind::Post => "post",
            FlowKind::Feed => "feed",
            FlowKind::Reference => "reference",
        })
    }
}

/// The fields a flow's query selects: the configured ones, else every column the mapping reads.
fn query_fields<'a>(
    query: &LookerQueryConfig,
    columns: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    if query.fields.is_empty() {
        columns.into_iter().map(str::to_owned).collect()
    } else {
        query.fields.clone()
    }
}

/// A flow's Looker query, its settings checked (`[flows.looker.task]`); an error names the
/// file, line and key.
fn check_looker(
    src: &Source<'_>,
    q: Spanned<LookerQueryConfig>,
    ctx: &dyn Fn(&str) -> String,
) -> CliResult<LookerQueryConfig> {
    let span = q.span();
    let q = q.into_inner();
    q.check()
        .map_err(|e| src.error(span, ctx(&format!("[flows.looker]: {e}"))))?;
    Ok(q)
}

/// A flow's query as the Looker client takes it.
fn write_query(query: &LookerQueryConfig, fields: Vec<String>) -> looker_client::WriteQuery {
    let mut w = looker_client::WriteQuery::new(&query.model, &query.explore)
        .fields(fields)
        .with_limit(query.limit);
    for (f, e) in &query.filters {
        w = w.filter(f, e);
    }
    if !query.sorts.is_empty() {
        w = w.sorts(query.sorts.iter().cloned());
    }
    w
}

/// What a post flow does (`kind = "post"`).
#[derive(Debug, Clone, PartialEq)]
pub struct PostFlow {
    /// The Looker query (`[flows.looker]`, sync-core's [`LookerQueryConfig`]).
    pub query: LookerQueryConfig,
    /// Rows to journals (`[flows.mapping]` or `mapping_file`).
    pub mapping: JournalMapping,
    /// How to post (`[flows.post]`, sync-core's [`PostOptions`]).
    pub options: PostOptions,
}

impl PostFlow {
    /// The fields the query selects: the configured ones, else every column the mapping reads.
    pub fn fields(&self) -> Vec<String> {
        query_fields(&self.query, self.mapping.columns())
    }

    /// The query as the Looker client takes it.
    pub fn write_query(&self) -> looker_client::WriteQuery {
        write_query(&self.query, self.fields())
    }
}

/// What a reference flow does (`kind = "reference"`): Looker rows mapped to records of one
/// Acumatica entity, upserted by key with only the changed fields sent.
///
/// ```
/// use connector_examples::config::{Config, FlowKind};
///
/// let text = r#"
/// [[flows]]
/// name = "approved_vendors"
/// kind = "reference"
/// [flows.looker]
/// model = "finance"
/// explore = "approved_vendors"
/// [flows.mapping]
/// entity = "Vendor"
/// key = { field = "VendorID", column = "approved_vendors.vendor_id" }
/// fields.VendorName = { column = "approved_vendors.vendor_name" }
/// "#;
/// let config = Config::from_str_with_env(text, "ml-connector.toml".as_ref(), |_| None).unwrap();
/// let flow = config.flow("approved_vendors").unwrap();
/// assert_eq!(flow.kind(), FlowKind::Reference);
/// let reference = flow.reference().unwrap();
/// assert_eq!(reference.mapping.flow, "approved_vendors");
/// assert_eq!(reference.fields(), ["approved_vendors.vendor_id", "approved_vendors.vendor_name"]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceFlow {
    /// The Looker query (`[flows.looker]`, sync-core's [`LookerQueryConfig`]).
    pub query: LookerQueryConfig,
    /// Rows to records (`[flows.mapping]` or `mapping_file`, sync-core's [`ReferenceMapping`]).
    pub mapping: ReferenceMapping,
    /// Lookup batch size and lease (`[flows.reference]`, sync-core's [`ReferenceOptions`]).
    pub options: ReferenceOptions,
}

impl ReferenceFlow {
    /// The fields the query selects: the configured ones, else every column the mapping reads.
    pub fn fields(&self) -> Vec<String> {
        query_fields(&self.query, self.mapping.columns())
    }

    /// The query as the Looker client takes it.
    pub fn write_query(&self) -> looker_client::WriteQuery {
        write_query(&self.query, self.fields())
    }
}

/// What a feed flow does (`kind = "feed"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedFlow {
    /// The Acumatica entities to copy, with their warehouse tables (sync-core's [`FeedEntity`]).
    pub entities: Vec<FeedEntity>,
    /// Where the warehouse tables live (default: `warehouse.db` next to the config).
    pub warehouse: StoreUrl,
    /// Windows, lag, lookback, page size (`[flows.feed]`, sync-core's [`FeedOptions`]).
    pub options: FeedOptions,
}

impl FeedFlow {
    /// The flow as sync-core's feed configuration.
    pub fn to_feed_config(&self, name: &str) -> FeedConfig {
        FeedConfig {
            name: name.to_owned(),
            entities: self.entities.clone(),
            options: self.options.clone(),
        }
    }
}

/// What a flow does.
#[derive(Debug, Clone, PartialEq)]
pub enum FlowSpec {
    /// Looker → Acumatica.
    Post(Box<PostFlow>),
    /// Acumatica → warehouse.
    Feed(FeedFlow),
    /// Looker → Acumatica reference records.
    Reference(Box<ReferenceFlow>),
}

/// One flow (`[[flows]]`).
#[derive(Debug, Clone, PartialEq)]
pub struct FlowConfig {
    /// Unique name; part of every natural key and the state store's key.
    pub name: String,
    /// Cron cadence for `run` without `--once`: five fields, or six with seconds first when
    /// `cron_seconds = true`; a pattern that never fires is refused.
    pub cron: Option<String>,
    /// `cron_seconds = true`: the cron pattern has six fields, seconds first.
    pub cron_seconds: bool,
    /// Time zone the cadence is read in (IANA name; default UTC).
    pub time_zone: chrono_tz::Tz,
    /// What the flow does.
    pub spec: FlowSpec,
    /// The line of `[[flows]]` in the file (for messages).
    pub line: Option<usize>,
}

impl FlowConfig {
    /// Post, feed or reference.
    pub fn kind(&self) -> FlowKind {
        match self.spec {
            FlowSpec::Post(_) => FlowKind::Post,
            FlowSpec::Feed(_) => FlowKind::Feed,
            FlowSpec::Reference(_) => FlowKind::Reference,
        }
    }

    /// The post settings, if this is a post flow.
    pub fn post(&self) -> Option<&PostFlow> {
        match &self.spec {
            FlowSpec::Post(p) => Some(p),
            _ => None,
        }
    }

    /// The feed settings, if this is a feed flow.
    pub fn feed(&self) -> Option<&FeedFlow> {
        match &self.spec {
            FlowSpec::Feed(f) => Some(f),
            _ => None,
        }
    }

    /// The reference settings, if this is a reference flow.
    pub fn reference(&self) -> Option<&ReferenceFlow> {
        match &self.spec {
            FlowSpec::Reference(r) => Some(r),
            _ => None,
        }
    }

    /// The Looker query and the fields it selects, for the flows that read Looker (post and
    /// reference); `None` for a feed.
    pub fn looker_query(&self) -> Option<(&LookerQueryConfig, looker_client::WriteQuery, usize)> {
        match &self.spec {
            FlowSpec::Post(p) => Some((&p.query, p.write_query(), p.fields().len())),
            FlowSpec::Reference(r) => Some((&r.query, r.write_query(), r.fields().len())),
            FlowSpec::Feed(_) => None,
        }
    }
}

// ---- the file as written ------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    acumatica: Option<Spanned<RawAcumatica>>,
    looker: Option<Spanned<RawLooker>>,
    store: Option<RawStore>,
    vault: Option<RawVault>,
    #[serde(default)]
    flows: Vec<Spanned<RawFlow>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAcumatica {
    url: Option<String>,
    endpoint: Option<String>,
    endpoint_version: Option<String>,
    tenant: Option<String>,
    branch: Option<Spanned<String>>,
    request_branch: Option<Spanned<String>>,
    auth: Option<AcumaticaAuth>,
    client_id: Option<String>,
    username: Option<String>,
    // Accepted only to refuse them with a clear message.
    client_secret: Option<Spanned<toml::Value>>,
    password: Option<Spanned<toml::Value>>,
    timeout: Option<u64>,
    requests_per_minute: Option<u32>,
    max_concurrent_requests: Option<usize>,
    page_size: Option<u32>,
    #[serde(default)]
    allow_insecure_http: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLooker {
    base_url: Option<String>,
    client_id: Option<String>,
    client_secret: Option<Spanned<toml::Value>>,
    verify_ssl: Option<bool>,
    timeout: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    url: Spanned<String>,
    #[serde(default)]
    lock_timeout_secs: Option<Spanned<u64>>,
    #[serde(default)]
    statement_timeout_secs: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVault {
    path: String,
    // Refused: the vault key must not sit next to the vault.
    key: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    name: Spanned<String>,
    kind: Spanned<FlowKind>,
    cron: Option<Spanned<String>>,
    cron_seconds: Option<Spanned<bool>>,
    time_zone: Option<Spanned<String>>,
    // The keys below belong to one or two kinds of flow; [`wrong_kind_keys`] refuses those of
    // another kind, so spans are kept to name their lines.
    looker: Option<Spanned<LookerQueryConfig>>,
    mapping: Option<Spanned<toml::Table>>,
    mapping_file: Option<Spanned<String>>,
    post: Option<Spanned<PostOptions>>,
    reference: Option<Spanned<ReferenceOptions>>,
    entities: Option<Spanned<Vec<RawEntity>>>,
    warehouse: Option<Spanned<String>>,
    feed: Option<Spanned<FeedOptions>>,
}

/// `"Vendor"` or `{ entity = "Vendor", page_size = 200 }` (with an optional `table`).
#[derive(Deserialize)]
#[serde(untagged)]
enum RawEntity {
    Name(String),
    Full(FeedEntity),
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn at(&self, span: std::ops::Range<usize>) -> String {
        let (line, col) = line_col(self.text, span.start);
        format!("{}:{line}:{col}", self.path.display())
    }

    fn error(&self, span: std::ops::Range<usize>, msg: impl fmt::Display) -> CliError {
        CliError::usage(format!("{}: {msg}", self.at(span)))
    }

    fn secret(&self, span: std::ops::Range<usize>, key: &str, env: &str, vault: &str) -> CliError {
        CliError::credentials(format!(
            "{}: `{key}` is a secret and is refused in the config file: config files get \
             committed, copied and attached to tickets, and a secret there leaks with them",
            self.at(span)
        ))
        .with_hint(format!(
            "delete the line, then set {env} in the environment or store it encrypted with \
             `ml-connector vault store {vault}`"
        ))
    }
}

/// `[acumatica] branch` (`ACUMATICA_BRANCH`): the branch ID of a cookie-session login. An OAuth
/// client has no login of its own, so acumatica-client refuses it there; this says so when the
/// file is read, before any request, and points to `request_branch`.
fn login_branch(
    src: &Source<'_>,
    env: &impl Fn(&str) -> Option<String>,
    a: Option<&RawAcumatica>,
    auth: AcumaticaAuth,
) -> CliResult<Option<String>> {
    let file = a.and_then(|a| a.branch.as_ref());
    let value = env("ACUMATICA_BRANCH").or_else(|| file.map(|b| b.get_ref().clone()));
    if value.is_none() || auth == AcumaticaAuth::Session {
        return Ok(value);
    }
    let what = "the branch ID a session login picks (auth = \"session\"), and this connection \
                signs in with OAuth (auth = \"oauth\", the default), which has no login branch";
    let err = match env("ACUMATICA_BRANCH") {
        Some(_) => CliError::usage(format!(
            "ACUMATICA_BRANCH (the environment's `[acumatica] branch`) is {what}"
        )),
        None => src.error(
            file.map(Spanned::span).unwrap_or_default(),
            format!("key `acumatica.branch`: `[acumatica] branch` is {what}"),
        ),
    };
    Err(err.with_hint(
        "to run every Acumatica request in a branch, replace `branch` with request_branch = \
         \"<branch name>\" (or ACUMATICA_REQUEST_BRANCH): it takes the branch's name as \
         Acumatica shows it (e.g. \"East Region\"), not its ID; or set auth = \"session\" to \
         sign in with a cookie session in that branch",
    ))
}

/// `[acumatica] request_branch` (`ACUMATICA_REQUEST_BRANCH`): the branch name every request
/// runs in, checked here by acumatica-client's own rules so a name a header cannot carry is a
/// config error naming the key, not a failure halfway through a run.
fn request_branch(
    src: &Source<'_>,
    env: &impl Fn(&str) -> Option<String>,
    a: Option<&RawAcumatica>,
) -> CliResult<Option<String>> {
    let file = a.and_then(|a| a.request_branch.as_ref());
    let (value, from_env) = match env("ACUMATICA_REQUEST_BRANCH") {
        Some(v) => (v, true),
        None => match file {
            Some(f) => (f.get_ref().clone(), false),
            None => return Ok(None),
        },
    };
    match check_request_branch(&value) {
        Ok(()) => Ok(Some(value)),
        Err(reason) => Err(if from_env {
            CliError::usage(format!("ACUMATICA_REQUEST_BRANCH: {reason}"))
        } else {
            src.error(
                file.map(Spanned::span).unwrap_or_default(),
                format!("key `acumatica.request_branch`: {reason}"),
            )
        }
        .with_hint(
            "request_branch takes the branch's name as Acumatica shows it (e.g. \"East \
             Region\"), sent in the PX-CbApiBranch header",
        )),
    }
}

/// acumatica-client's reason a branch name cannot be sent
/// ([`acumatica_client::Client::check_branch_name`]), if any.
fn check_request_branch(name: &str) -> Result<(), String> {
    acumatica_client::Client::check_branch_name(name).map_err(|e| e.message().to_owned())
}

fn env_bool(var: &str, v: &str) -> CliResult<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(CliError::usage(format!(
            "{var} must be true or false, not `{v}`"
        ))),
    }
}

fn env_secs(var: &str, v: &str) -> CliResult<Duration> {
    v.trim()
        .parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| {
            CliError::usage(format!(
                "{var} must be a whole number of seconds, not `{v}`"
            ))
        })
}

impl Config {
    /// Reads the configuration: `path` if given (it must exist), else `ml-connector.toml` in
    /// the current directory if it exists, else the environment alone.
    pub fn load(path: Option<&Path>) -> CliResult<Config> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        match path {
            Some(p) => Self::from_file(p, env),
            None if Path::new(DEFAULT_CONFIG_FILE).is_file() => {
                Self::from_file(Path::new(DEFAULT_CONFIG_FILE), env)
            }
            None => Self::from_str_with_env("", Path::new(""), env).map(|mut c| {
                c.source = None;
                c
            }),
        }
    }

    /// Reads a config file, with `env` looking up environment variables.
    pub fn from_file(path: &Path, env: impl Fn(&str) -> Option<String>) -> CliResult<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            let what = if e.kind() == std::io::ErrorKind::NotFound {
                "does not exist".to_owned()
            } else {
                format!("cannot be read: {e}")
            };
            CliError::usage(format!("config file {} {what}", path.display())).with_hint(
                "pass --config PATH (or set ML_CONNECTOR_CONFIG); `ml-connector sandbox` \
                 prints a ready-to-use config",
            )
        })?;
        Self::from_str_with_env(&text, path, env)
    }

    /// Parses config text that came from `path` (used in messages and to resolve relative
    /// paths), with `env` looking up environment variables.
    pub fn from_str_with_env(
        text: &str,
        path: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> CliResult<Config> {
        let src = Source { path, text };
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let raw: RawConfig = parse_toml(&src)?;

        // ---- Acumatica
        let acumatica = match (&raw.acumatica, env("ACUMATICA_URL")) {
            (None, None) => None,
            (file, env_url) => {
                let a = file.as_ref().map(|s| s.get_ref());
                if let Some(s) = a.and_then(|a| a.client_secret.as_ref()) {
                    return Err(src.secret(
                        s.span(),
                        "acumatica.client_secret",
                        "ACUMATICA_CLIENT_SECRET",
                        "acumatica.client_secret",
                    ));
                }
                if let Some(s) = a.and_then(|a| a.password.as_ref()) {
                    return Err(src.secret(
                        s.span(),
                        "acumatica.password",
                        "ACUMATICA_PASSWORD",
                        "acumatica.password",
                    ));
                }
                let pick = |var: &str, f: Option<&String>| env(var).or_else(|| f.cloned());
                let auth = a.and_then(|a| a.auth).unwrap_or(AcumaticaAuth::Oauth);
                let url = env_url
                    .or_else(|| a.and_then(|a| a.url.clone()))
                    .ok_or_else(|| {
                        let at = file.as_ref().map(|s| src.at(s.span())).unwrap_or_default();
                        CliError::usage(format!(
                            "{at}: [acumatica] has no `url`: set the site URL (e.g. \
                         https://erp.example.com/AcumaticaERP) or ACUMATICA_URL"
                        ))
                    })?;
                Some(AcumaticaSettings {
                    url,
                    endpoint: a
                        .and_then(|a| a.endpoint.clone())
                        .unwrap_or_else(|| "Default".into()),
                    endpoint_version: pick(
                        "ACUMATICA_ENDPOINT_VERSION",
                        a.and_then(|a| a.endpoint_version.as_ref()),
                    ),
                    tenant: pick("ACUMATICA_TENANT", a.and_then(|a| a.tenant.as_ref())),
                    branch: login_branch(&src, &env, a, auth)?,
                    request_branch: request_branch(&src, &env, a)?,
                    auth,
                    client_id: pick("ACUMATICA_CLIENT_ID", a.and_then(|a| a.client_id.as_ref())),
                    username: pick("ACUMATICA_USERNAME", a.and_then(|a| a.username.as_ref())),
                    timeout: a.and_then(|a| a.timeout).map(Duration::from_secs),
                    requests_per_minute: a.and_then(|a| a.requests_per_minute),
                    max_concurrent_requests: a.and_then(|a| a.max_concurrent_requests),
                    page_size: a.and_then(|a| a.page_size),
                    allow_insecure_http: a.is_some_and(|a| a.allow_insecure_http),
                })
            }
        };

        // ---- Looker
        let looker = match (&raw.looker, env("LOOKERSDK_BASE_URL")) {
            (None, None) => None,
            (file, env_url) => {
                let l = file.as_ref().map(|s| s.get_ref());
                if let Some(s) = l.and_then(|l| l.client_secret.as_ref()) {
                    return Err(src.secret(
                        s.span(),
                        "looker.client_secret",
                        "LOOKERSDK_CLIENT_SECRET",
                        "looker.client_secret",
                    ));
                }
                let base_url = env_url
                    .or_else(|| l.and_then(|l| l.base_url.clone()))
                    .ok_or_else(|| {
                        let at = file.as_ref().map(|s| src.at(s.span())).unwrap_or_default();
                        CliError::usage(format!(
                            "{at}: [looker] has no `base_url`: set the instance URL (e.g. \
                             https://example.cloud.looker.com) or LOOKERSDK_BASE_URL"
                        ))
                    })?;
                let verify_ssl = match env("LOOKERSDK_VERIFY_SSL") {
                    Some(v) => env_bool("LOOKERSDK_VERIFY_SSL", &v)?,
                    None => l.and_then(|l| l.verify_ssl).unwrap_or(true),
                };
                let timeout = match env("LOOKERSDK_TIMEOUT") {
                    Some(v) => env_secs("LOOKERSDK_TIMEOUT", &v)?,
                    None => l
                        .and_then(|l| l.timeout)
                        .map_or(looker_client::DEFAULT_TIMEOUT, Duration::from_secs),
                };
                Some(LookerSettings {
                    base_url,
                    client_id: env("LOOKERSDK_CLIENT_ID")
                        .or_else(|| l.and_then(|l| l.client_id.clone())),
                    verify_ssl,
                    timeout,
                })
            }
        };

        // ---- store and vault; from here on every problem is collected, so a check lists
        // them all at once
        let mut problems: Vec<CliError> = Vec::new();
        let store = match env("ML_CONNECTOR_STORE_URL") {
            Some(u) => StoreUrl::parse(&u, &base).map_err(|e| {
                url_problem(CliError::usage(format!("ML_CONNECTOR_STORE_URL: {e}")), &e)
            }),
            None => match &raw.store {
                Some(s) => StoreUrl::parse(s.url.get_ref(), &base).map_err(|e| {
                    url_problem(src.error(s.url.span(), format!("store.url: {e}")), &e)
                }),
                None => Ok(StoreUrl::Sqlite(base.join(DEFAULT_STORE_FILE))),
            },
        }
        .unwrap_or_else(|e| {
            problems.push(e);
            StoreUrl::Sqlite(base.join(DEFAULT_STORE_FILE))
        });
        let mut store_options = StoreOptions::default();
        if let Some(s) = &raw.store {
            for (key, value, slot) in [
                (
                    "store.lock_timeout_secs",
                    &s.lock_timeout_secs,
                    &mut store_options.lock_timeout,
                ),
                (
                    "store.statement_timeout_secs",
                    &s.statement_timeout_secs,
                    &mut store_options.statement_timeout,
                ),
            ] {
                if let Some(v) = value {
                    if !(1..=3600).contains(v.get_ref()) {
                        problems.push(src.error(
                            v.span(),
                            format!(
                                "{key}: {} is out of range; use 1 to 3600 seconds",
                                v.get_ref()
                            ),
                        ));
                        continue;
                    }
                    *slot = Some(std::time::Duration::from_secs(*v.get_ref()));
                }
            }
        }
        if let Some(k) = raw.vault.as_ref().and_then(|v| v.key.as_ref()) {
            problems.push(src.secret(k.span(), "vault.key", "ML_CONNECTOR_VAULT_KEY", "-"));
        }
        let vault_path = env("ML_CONNECTOR_VAULT")
            .map(PathBuf::from)
            .or_else(|| raw.vault.as_ref().map(|v| base.join(&v.path)))
            .unwrap_or_else(|| base.join(DEFAULT_VAULT_FILE));

        // ---- flows
        let mut flows: Vec<FlowConfig> = Vec::new();
        for f in raw.flows {
            let span = f.span();
            let flow = match resolve_flow(&src, &base, f.into_inner(), span.clone()) {
                Ok(flow) => flow,
                Err(e) => {
                    problems.push(e);
                    continue;
                }
            };
            if let Some(post) = flow.post() {
                // A write the client gave up on may still be queued in Acumatica: the settle
                // horizon must cover at least the request timeout.
                let timeout = acumatica
                    .as_ref()
                    .and_then(|a| a.timeout)
                    .unwrap_or(acumatica_client::DEFAULT_TIMEOUT);
                if let Err(e) = post.options.check_settle_horizon(timeout) {
                    problems.push(src.error(
                        span,
                        format!(
                            "flow `{}`: [flows.post] {e} ([acumatica] timeout is {} s)",
                            flow.name,
                            timeout.as_secs()
                        ),
                    ));
                    continue;
                }
            }
            if let Some(other) = flows.iter().find(|o| o.name == flow.name) {
                problems.push(CliError::usage(format!(
                    "{}: flow name `{}` is used twice (first on line {}); names must be unique",
                    src.at(span),
                    flow.name,
                    other.line.unwrap_or(0)
                )));
                continue;
            }
            flows.push(flow);
        }
        if !problems.is_empty() {
            return Err(all_problems(problems));
        }

        Ok(Config {
            source: Some(path.to_path_buf()),
            acumatica,
            looker,
            store,
            store_options,
            vault_path,
            flows,
        })
    }

    /// The flow called `name`, or an error listing the flows that exist.
    pub fn flow(&self, name: &str) -> CliResult<&FlowConfig> {
        self.flows.iter().find(|f| f.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.flows.iter().map(|f| f.name.as_str()).collect();
            let known = if names.is_empty() {
                "no flows are configured".to_owned()
            } else {
                format!("the configured flows are: {}", names.join(", "))
            };
            let mut e = CliError::usage(format!("unknown flow `{name}`: {known}"));
            if let Some(close) = sync_core::mapping::closest_names(name, names.iter().copied())
                .into_iter()
                .next()
            {
                e = e.with_hint(format!("did you mean `{close}`?"));
            }
            e
        })
    }

    /// The flows selected by `--flow` (all when `None`).
    pub fn select(&self, name: Option<&str>) -> CliResult<Vec<&FlowConfig>> {
        match name {
            Some(n) => Ok(vec![self.flow(n)?]),
            None => Ok(self.flows.iter().collect()),
        }
    }

    /// A short description of where the configuration came from.
    pub fn describe_source(&self) -> String {
        match &self.source {
            Some(p) => p.display().to_string(),
            None => "environment only (no config file)".into(),
        }
    }
}

/// A database URL's problem as an error: a password written into the URL is a credentials
/// error (exit 3), like any other secret in the config or its environment; anything else stays
/// a usage error.
fn url_problem(err: CliError, reason: &str) -> CliError {
    if reason.contains("password") {
        CliError {
            exit: crate::exit::Exit::Credentials,
            ..err
        }
    } else {
        err
    }
}

/// Several problems of one file as one error: each on its own line (each names its
/// file:line:col), the most serious exit code, the hints of all.
fn all_problems(mut problems: Vec<CliError>) -> CliError {
    if problems.len() == 1 {
        return problems.remove(0);
    }
    let exit = problems
        .iter()
        .map(|p| p.exit)
        .fold(crate::exit::Exit::Ok, crate::exit::Exit::worst);
    let mut hints: Vec<&str> = Vec::new();
    for h in problems.iter().filter_map(|p| p.hint.as_deref()) {
        if !hints.contains(&h) {
            hints.push(h);
        }
    }
    let message = format!(
        "{} problems in the configuration:\n{}",
        problems.len(),
        problems
            .iter()
            .map(|p| p.message.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let err = CliError::new(exit, message);
    if hints.is_empty() {
        err
    } else {
        err.with_hint(hints.join("; "))
    }
}

fn parse_toml<T: serde::de::DeserializeOwned>(src: &Source<'_>) -> CliResult<T> {
    let de = toml::Deserializer::parse(src.text).map_err(|e| toml_error(src, "", &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        // `Spanned` wrappers show up as a private segment of the path; drop it.
        let key = e
            .path()
            .to_string()
            .split('.')
            .filter(|s| !s.starts_with("$__serde_spanned"))
            .collect::<Vec<_>>()
            .join(".");
        toml_error(src, &key, e.inner())
    })
}

fn toml_error(src: &Source<'_>, key: &str, e: &toml::de::Error) -> CliError {
    let at = match e.span() {
        Some(s) => src.at(s),
        None => src.path.display().to_string(),
    };
    let key = if key.is_empty() || key == "." {
        String::new()
    } else {
        format!("key `{key}`: ")
    };
    let reference = "see the config reference in connector-examples/README.md";
    let hint = match did_you_mean(e.message()) {
        Some(close) => format!("did you mean `{close}`? ({reference})"),
        None => reference.to_owned(),
    };
    CliError::usage(format!("{at}: {key}{}", e.message().trim_end())).with_hint(hint)
}

/// The closest accepted name for serde's "unknown field `x`, expected one of `a`, `b`" (or
/// "unknown variant ..."), when it is close enough to be a typo; ranked by sync-core's
/// [`closest_names`](sync_core::mapping::closest_names), the helper every other suggestion of
/// the command uses.
fn did_you_mean(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))?;
    let (wanted, expected) = rest.split_once('`')?;
    // The accepted names are the backquoted words after "expected".
    let expected = expected.split_once("expected")?.1;
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let close = sync_core::mapping::closest_names(wanted, candidates.iter().copied())
        .into_iter()
        .next()?;
    // Far-off names are not typos: `foo` should not suggest `timeout`.
    let limit = (wanted.chars().count() / 3).max(2);
    (edit_distance(&wanted.to_lowercase(), &close.to_lowercase()) <= limit).then_some(close)
}

/// Levenshtein distance, for the typo threshold of [`did_you_mean`].
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

fn resolve_flow(
    src: &Source<'_>,
    base: &Path,
    f: RawFlow,
    span: std::ops::Range<usize>,
) -> CliResult<FlowConfig> {
    let name = f.name.get_ref().trim().to_owned();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(src.error(
            f.name.span(),
            format!(
                "flows.name `{name}` must be letters, digits, '_', '-' or '.' (it is part of \
                 every natural key)"
            ),
        ));
    }
    let ctx = |what: &str| format!("flow `{name}`: {what}");
    let kind = *f.kind.get_ref();
    if let Some(e) = wrong_kind_keys(src, &name, &f) {
        return Err(e);
    }
    let cron_seconds = f.cron_seconds.as_ref().is_some_and(|s| *s.get_ref());
    if let Some(c) = &f.cron {
        sync_core::schedule::parse_cron(c.get_ref(), cron_seconds).map_err(|e| {
            src.error(
                c.span(),
                ctx(&format!(
                    "cron `{}` is not a valid cadence: {e}; e.g. \"0 6 1 * *\" = 06:00 on the 1st",
                    c.get_ref()
                )),
            )
        })?;
    }
    let time_zone = match &f.time_zone {
        Some(tz) => tz.get_ref().parse::<chrono_tz::Tz>().map_err(|_| {
            src.error(
                tz.span(),
                ctx(&format!(
                    "time_zone `{}` is not an IANA time zone name (e.g. Europe/Berlin, \
                     America/New_York, UTC)",
                    tz.get_ref()
                )),
            )
        })?,
        None => chrono_tz::UTC,
    };
    let spec = match kind {
        FlowKind::Post => {
            let Some(q) = f.looker.map(|q| check_looker(src, q, &ctx)).transpose()? else {
                return Err(src.error(
                    span,
                    ctx(
                        "a post flow needs [flows.looker] with model, explore (and fields/filters)",
                    ),
                ));
            };
            let mapping: JournalMapping =
                resolve_mapping(src, base, &name, kind, f.mapping, f.mapping_file, &span)?;
            let options = f.post.map(Spanned::into_inner).unwrap_or_default();
            options
                .check()
                .map_err(|e| src.error(span.clone(), ctx(&format!("[flows.post]: {e}"))))?;
            FlowSpec::Post(Box::new(PostFlow {
                query: q,
                mapping,
                options,
            }))
        }
        FlowKind::Feed => {
            let entities = f.entities.map(Spanned::into_inner).unwrap_or_default();
            if entities.is_empty() {
                return Err(src.error(
                    span,
                    ctx("a feed flow needs entities = [\"JournalTransaction\", ...]"),
                ));
            }
            let warehouse = match &f.warehouse {
                Some(w) => StoreUrl::parse(w.get_ref(), base).map_err(|e| {
                    url_problem(src.error(w.span(), ctx(&format!("warehouse: {e}"))), &e)
                })?,
                None => StoreUrl::Sqlite(base.join(DEFAULT_WAREHOUSE_FILE)),
            };
            let entities: Vec<FeedEntity> = entities
                .into_iter()
                .map(|e| match e {
                    RawEntity::Name(n) => FeedEntity {
                        entity: n,
                        table: None,
                        page_size: None,
                        delete_scan: None,
                    },
                    RawEntity::Full(full) => full,
                })
                .collect();
            let feed = FeedFlow {
                entities,
                warehouse,
                options: f.feed.map(Spanned::into_inner).unwrap_or_default(),
            };
            feed.to_feed_config(&name)
                .check()
                .map_err(|e| src.error(span.clone(), ctx(&e.to_string())))?;
            FlowSpec::Feed(feed)
        }
        FlowKind::Reference => {
            let Some(q) = f.looker.map(|q| check_looker(src, q, &ctx)).transpose()? else {
                return Err(src.error(
                    span,
                    ctx(
                        "a reference flow needs [flows.looker] with model and explore (and \
                         fields/filters)",
                    ),
                ));
            };
            let mapping: ReferenceMapping =
                resolve_mapping(src, base, &name, kind, f.mapping, f.mapping_file, &span)?;
            let options = f.reference.map(Spanned::into_inner).unwrap_or_default();
            options
                .check()
                .map_err(|e| src.error(span.clone(), ctx(&format!("[flows.reference]: {e}"))))?;
            FlowSpec::Reference(Box::new(ReferenceFlow {
                query: q,
                mapping,
                options,
            }))
        }
    };
    Ok(FlowConfig {
        name,
        cron: f.cron.map(Spanned::into_inner),
        cron_seconds,
        time_zone,
        spec,
        line: Some(line_col(src.text, span.start).0),
    })
}

/// What each kind of flow is for, as the hints put it.
fn kind_purpose(kind: FlowKind) -> &'static str {
    match kind {
        FlowKind::Post => "post journals from a Looker query",
        FlowKind::Feed => "copy Acumatica changes into the warehouse",
        FlowKind::Reference => "upsert Acumatica records from a Looker query",
    }
}

/// A `[[flows]]` key (or table) that belongs to other kinds of flow than the flow's own, with
/// where it was written.
struct WrongKindKey {
    key: &'static str,
    table: bool,
    span: std::ops::Range<usize>,
    kinds: &'static [FlowKind],
}

/// The error for the keys of `f` that belong to another kind of flow (e.g. `entities` or
/// `[flows.feed]` on a reference flow), or `None` when every key is the flow's own.
///
/// Such keys used to be ignored, so a mistyped `kind` or a block pasted into the wrong flow ran
/// something other than what was written. The error names the first such key and its line, the
/// kinds it belongs to, the flow's `kind` line, and lists the others.
fn wrong_kind_keys(src: &Source<'_>, name: &str, f: &RawFlow) -> Option<CliError> {
    use FlowKind::{Feed, Post, Reference};
    const LOOKER_KINDS: &[FlowKind] = &[Post, Reference];
    const POST: &[FlowKind] = &[Post];
    const REFERENCE: &[FlowKind] = &[Reference];
    const FEED: &[FlowKind] = &[Feed];
    let kind = *f.kind.get_ref();
    let present = [
        (
            "flows.looker",
            true,
            f.looker.as_ref().map(Spanned::span),
            LOOKER_KINDS,
        ),
        (
            "flows.mapping",
            true,
            f.mapping.as_ref().map(Spanned::span),
            LOOKER_KINDS,
        ),
        (
            "flows.mapping_file",
            false,
            f.mapping_file.as_ref().map(Spanned::span),
            LOOKER_KINDS,
        ),
        ("flows.post", true, f.post.as_ref().map(Spanned::span), POST),
        (
            "flows.reference",
            true,
            f.reference.as_ref().map(Spanned::span),
            REFERENCE,
        ),
        (
            "flows.entities",
            false,
            f.entities.as_ref().map(Spanned::span),
            FEED,
        ),
        (
            "flows.warehouse",
            false,
            f.warehouse.as_ref().map(Spanned::span),
            FEED,
        ),
        ("flows.feed", true, f.feed.as_ref().map(Spanned::span), FEED),
    ];
    let mut wrong: Vec<WrongKindKey> = present
        .into_iter()
        .filter_map(|(key, table, span, kinds)| {
            let span = span?;
            (!kinds.contains(&kind)).then_some(WrongKindKey {
                key,
                table,
                span,
                kinds,
            })
        })
        .collect();
    wrong.sort_by_key(|w| w.span.start);
    let first = wrong.first()?;
    let kinds_text = |kinds: &[FlowKind]| {
        kinds
            .iter()
            .map(|k| format!("{k}"))
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let kind_line = line_col(src.text, f.kind.span().start).0;
    let mut msg = format!(
        "flow `{name}`: key `{}` belongs to {} flows, but this flow has kind = \"{kind}\" \
         (line {kind_line}), which does not read it",
        first.key,
        kinds_text(first.kinds),
    );
    if wrong.len() > 1 {
        let others: Vec<String> = wrong[1..]
            .iter()
            .map(|w| {
                format!(
                    "`{}` (line {}, {} flows)",
                    w.key,
                    line_col(src.text, w.span.start).0,
                    kinds_text(w.kinds)
                )
            })
            .collect();
        msg.push_str(&format!(
            "; also not a {kind} flow's: {}",
            others.join(", ")
        ));
    }
    let remove = |w: &WrongKindKey| {
        if w.table {
            format!("the [{}] table", w.key)
        } else {
            format!("the `{}` line", w.key.trim_start_matches("flows."))
        }
    };
    let change = first
        .kinds
        .iter()
        .map(|k| format!("kind = \"{k}\" to {}", kind_purpose(*k)))
        .collect::<Vec<_>>()
        .join(", or ");
    let mut removals: Vec<String> = wrong.iter().map(remove).collect();
    let last = removals.pop().unwrap_or_default();
    let removals = if removals.is_empty() {
        last
    } else {
        format!("{} and {last}", removals.join(", "))
    };
    Some(src.error(first.span.clone(), msg).with_hint(format!(
        "if this flow is meant to {}, keep kind = \"{kind}\" and remove {removals}; if its \
         kind is wrong, set it on line {kind_line}: {change}",
        kind_purpose(kind),
    )))
}

/// What the post and reference flows' mappings share, so both are read (inline or from a file)
/// and checked by the same code, with the same messages.
trait FlowMapping: serde::de::DeserializeOwned {
    /// The sync-core type, for hints.
    const TYPE: &'static str;
    /// The mapping's own `flow` name.
    fn flow_name(&self) -> &str;
    /// Checks the mapping's consistency.
    fn check_mapping(&self) -> Result<(), MappingError>;
    /// Reads, parses and checks a mapping file.
    fn from_file(path: &Path) -> Result<Self, MappingError>;
}

impl FlowMapping for JournalMapping {
    const TYPE: &'static str = "JournalMapping";
    fn flow_name(&self) -> &str {
        &self.flow
    }
    fn check_mapping(&self) -> Result<(), MappingError> {
        self.check()
    }
    fn from_file(path: &Path) -> Result<Self, MappingError> {
        Self::from_toml_file(path)
    }
}

impl FlowMapping for ReferenceMapping {
    const TYPE: &'static str = "ReferenceMapping";
    fn flow_name(&self) -> &str {
        &self.flow
    }
    fn check_mapping(&self) -> Result<(), MappingError> {
        self.check()
    }
    fn from_file(path: &Path) -> Result<Self, MappingError> {
        Self::from_toml_file(path)
    }
}

/// A flow's mapping: `[flows.mapping]` inline or `mapping_file` (exactly one), whose `flow`
/// name must be the flow's (inline, it may be left out and is taken from the flow).
fn resolve_mapping<M: FlowMapping>(
    src: &Source<'_>,
    base: &Path,
    name: &str,
    kind: FlowKind,
    inline: Option<Spanned<toml::Table>>,
    file: Option<Spanned<String>>,
    span: &std::ops::Range<usize>,
) -> CliResult<M> {
    let ctx = |what: &str| format!("flow `{name}`: {what}");
    match (inline, file) {
        (Some(_), Some(file)) => Err(src.error(
            file.span(),
            ctx("give either [flows.mapping] or mapping_file, not both"),
        )),
        (None, None) => Err(src.error(
            span.clone(),
            ctx(&format!(
                "a {kind} flow needs a mapping: [flows.mapping] or mapping_file = \"FILE\""
            )),
        )),
        (Some(table), None) => inline_mapping(src, name, table),
        (None, Some(file)) => {
            let p = base.join(file.get_ref());
            let m = M::from_file(&p).map_err(|e| {
                src.error(
                    file.span(),
                    ctx(&format!("mapping_file {}: {e}", p.display())),
                )
            })?;
            if m.flow_name() != name {
                return Err(src.error(
                    file.span(),
                    ctx(&format!(
                        "mapping_file says flow = \"{}\"; it must match the flow name",
                        m.flow_name()
                    )),
                ));
            }
            Ok(m)
        }
    }
}

fn inline_mapping<M: FlowMapping>(
    src: &Source<'_>,
    name: &str,
    table: Spanned<toml::Table>,
) -> CliResult<M> {
    let span = table.span();
    let mut t = table.into_inner();
    match t.get("flow") {
        Some(toml::Value::String(f)) if f != name => {
            return Err(src.error(
                span,
                format!(
                    "flow `{name}`: [flows.mapping] says flow = \"{f}\"; leave it out or make \
                     it match the flow name"
                ),
            ));
        }
        _ => {
            t.insert("flow".into(), toml::Value::String(name.to_owned()));
        }
    }
    let mapping: M = serde_path_to_error::deserialize(toml::Value::Table(t)).map_err(|e| {
        // A missing top-level key has the empty path `.`: name the table itself then.
        let key = match e.path().to_string().as_str() {
            "" | "." => "flows.mapping".to_owned(),
            path => format!("flows.mapping.{path}"),
        };
        src.error(
            span.clone(),
            format!(
                "flow `{name}`: key `{key}`: {}",
                e.inner().message().trim_end()
            ),
        )
        .with_hint(format!(
            "[flows.mapping] takes the keys of sync-core's {}; see the config reference in \
             connector-examples/README.md",
            M::TYPE
        ))
    })?;
    mapping
        .check_mapping()
        .map_err(|e| src.error(span, format!("flow `{name}`: mapping: {e}")))?;
    Ok(mapping)
}

#[cfg(test)]
mod tests;
