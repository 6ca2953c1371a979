//! Building the Looker and Acumatica clients from the configuration and the secrets.

use std::time::Duration;

use secrecy::SecretString;

use crate::config::{AcumaticaAuth, AcumaticaSettings, Config, LookerSettings};
use crate::exit::{CliError, CliResult};
use crate::secrets::Secrets;

/// The error for a PostgreSQL state store that cannot be opened at `url` (shown without a
/// password): the database's own message without the server's source line, and for a
/// database that does not exist, how to create it. Exit 5 (unreachable) otherwise.
///
/// ```
/// use connector_examples::connect::postgres_store_error;
/// let err = sync_core::store::StoreError::Connect {
///     backend: "postgres",
///     target: "db.example.com/ledger".into(),
///     source: "connection refused".into(),
/// };
/// let e = postgres_store_error("postgres://app@db.example.com/ledger", &err);
/// assert!(e.message.starts_with("state store postgres://app@db.example.com/ledger: "));
/// ```
pub fn postgres_store_error(url: &str, err: &sync_core::store::StoreError) -> CliError {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(sqlx::Error::Database(db)) = e.downcast_ref::<sqlx::Error>() {
            // 3D000 invalid_catalog_name: the database named in the URL does not exist.
            if db.code().as_deref() == Some("3D000") {
                let name = url.rsplit('/').next().unwrap_or_default();
                let name = name.split('?').next().unwrap_or(name);
                return CliError::usage(format!(
                    "state store {url}: the PostgreSQL database `{name}` does not exist on that server"
                ))
                .with_hint(format!(
                    "create it (`createdb {name}`, or CREATE DATABASE {name}), or correct the \
                     database name in [store] url / ML_CONNECTOR_STORE_URL"
                ));
            }
            return CliError::new(
                crate::exit::Exit::Unreachable,
                format!("state store {url}: PostgreSQL refused: {}", db.message()),
            )
            .with_hint(
                "check the URL, that the database is running and that this user may create tables",
            );
        }
        next = e.source();
    }
    CliError::new(
        crate::exit::Exit::Unreachable,
        format!("state store {url}: {err}"),
    )
}

/// Vault names of the secrets the command uses.
pub mod names {
    /// Acumatica OAuth client secret.
    pub const ACUMATICA_CLIENT_SECRET: &str = "acumatica.client_secret";
    /// Acumatica password.
    pub const ACUMATICA_PASSWORD: &str = "acumatica.password";
    /// Looker API3 client secret.
    pub const LOOKER_CLIENT_SECRET: &str = "looker.client_secret";
}

/// The endpoint version used only to reach `GET /entity` when none is configured, so `ping`
/// can list the versions the site offers. Never used for entity requests.
const DISCOVERY_VERSION: &str = "20.200.001";

fn missing(what: &str, file_key: &str, env: &str) -> CliError {
    CliError::credentials(format!("no {what} configured")).with_hint(format!(
        "set {env} in the environment{}",
        if file_key.is_empty() {
            String::new()
        } else {
            format!(" or `{file_key}` in the config file")
        }
    ))
}

fn missing_secret(what: &str, env: &str, vault: &str) -> CliError {
    CliError::credentials(format!("no {what}")).with_hint(format!(
        "set {env} in the environment, or store it encrypted with `ml-connector vault store {vault}`"
    ))
}

/// The Looker settings, or an error saying how to configure them.
pub fn looker_settings(config: &Config) -> CliResult<&LookerSettings> {
    config.looker.as_ref().ok_or_else(|| {
        CliError::usage("Looker is not configured").with_hint(
            "add [looker] base_url = \"https://<instance>.cloud.looker.com\" to the config, or set \
             LOOKERSDK_BASE_URL",
        )
    })
}

/// The Acumatica settings, or an error saying how to configure them.
pub fn acumatica_settings(config: &Config) -> CliResult<&AcumaticaSettings> {
    config.acumatica.as_ref().ok_or_else(|| {
        CliError::usage("Acumatica is not configured").with_hint(
            "add [acumatica] url = \"https://<site>/AcumaticaERP\" (and endpoint_version, tenant) \
             to the config, or set ACUMATICA_URL",
        )
    })
}

/// A Looker client with credentials from the environment or the vault.
pub async fn looker_client(
    settings: &LookerSettings,
    secrets: &Secrets,
) -> CliResult<looker_client::Client> {
    let client_id = settings.client_id.clone().ok_or_else(|| {
        missing(
            "Looker client id",
            "looker.client_id",
            "LOOKERSDK_CLIENT_ID",
        )
    })?;
    let secret: SecretString = secrets
        .get("LOOKERSDK_CLIENT_SECRET", names::LOOKER_CLIENT_SECRET)
        .await?
        .ok_or_else(|| {
            missing_secret(
                "Looker client secret",
                "LOOKERSDK_CLIENT_SECRET",
                names::LOOKER_CLIENT_SECRET,
            )
        })?;
    looker_client::Client::builder(&settings.base_url)
        .credentials(client_id, secret)
        .verify_ssl(settings.verify_ssl)
        .timeout(settings.timeout)
        .build()
        .map_err(|e| CliError::from_looker("Looker settings", &e))
}

/// An Acumatica client with credentials from the environment or the vault; with
/// `request_branch` configured, a view of it whose requests run in that branch.
///
/// With `discovery_only`, a missing endpoint version is tolerated so `GET /entity` can list
/// the offered versions; such a client must not be used for entity requests.
pub async fn acumatica_client(
    settings: &AcumaticaSettings,
    secrets: &Secrets,
    discovery_only: bool,
) -> CliResult<acumatica_client::Client> {
    let version = match (&settings.endpoint_version, discovery_only) {
        (Some(v), _) => v.clone(),
        (None, true) => DISCOVERY_VERSION.to_owned(),
        (None, false) => {
            return Err(CliError::usage("no Acumatica endpoint version configured").with_hint(
                "pin the version your mappings were written against: acumatica.endpoint_version \
                 = \"24.200.001\" or ACUMATICA_ENDPOINT_VERSION; `ml-connector ping` lists the \
                 versions the site offers",
            ));
        }
    };
    let mut b = acumatica_client::Client::builder(&settings.url)
        .endpoint_name(&settings.endpoint)
        .endpoint_version(version)
        .allow_insecure_http(settings.allow_insecure_http);
    if let Some(t) = &settings.tenant {
        b = b.tenant(t);
    }
    if let Some(br) = &settings.branch {
        b = b.branch(br);
    }
    let username = settings.username.clone().ok_or_else(|| {
        missing(
            "Acumatica user name",
            "acumatica.username",
            "ACUMATICA_USERNAME",
        )
    })?;
    let password = secrets
        .get("ACUMATICA_PASSWORD", names::ACUMATICA_PASSWORD)
        .await?
        .ok_or_else(|| {
            missing_secret(
                "Acumatica password",
                "ACUMATICA_PASSWORD",
                names::ACUMATICA_PASSWORD,
            )
        })?;
    b = match settings.auth {
        AcumaticaAuth::Oauth => {
            let client_id = settings.client_id.clone().ok_or_else(|| {
                missing(
                    "Acumatica OAuth client id",
                    "acumatica.client_id",
                    "ACUMATICA_CLIENT_ID",
                )
            })?;
            let secret = secrets
                .get("ACUMATICA_CLIENT_SECRET", names::ACUMATICA_CLIENT_SECRET)
                .await?
                .ok_or_else(|| {
                    missing_secret(
                        "Acumatica OAuth client secret",
                        "ACUMATICA_CLIENT_SECRET",
                        names::ACUMATICA_CLIENT_SECRET,
                    )
                })?;
            b.oauth_password(client_id, secret, username, password)
        }
        AcumaticaAuth::Session => b.session_login(username, password),
    };
    if let Some(t) = settings.timeout {
        b = b.timeout(t);
    }
    if let Some(n) = settings.requests_per_minute {
        b = b.requests_per_minute(n);
    }
    if let Some(n) = settings.max_concurrent_requests {
        b = b.max_concurrent_requests(n);
    }
    if let Some(n) = settings.page_size {
        b = b.page_size(n);
    }
    let client = b
        .build()
        .map_err(|e| CliError::from_acumatica("Acumatica settings", &e))?;
    // Every request of the command runs in the configured branch (PX-CbApiBranch), whichever
    // way it signs in; the name was checked when the config was read.
    match &settings.request_branch {
        Some(name) => client.with_branch(name).map_err(|e| {
            CliError::usage(format!("acumatica.request_branch: {}", e.message())).with_hint(
                "request_branch takes the branch's name as Acumatica shows it (e.g. \"East \
                 Region\")",
            )
        }),
        None => Ok(client),
    }
}

/// Both clients a post flow works with: Looker, then Acumatica for entity requests (so its
/// endpoint version must be configured), with credentials from the environment or the vault.
/// What `plan`, the post flows and the `period_close` story connect with.
///
/// ```no_run
/// # async fn demo(ctx: &connector_examples::commands::Context) -> connector_examples::exit::CliResult<()> {
/// use connector_examples::connect;
///
/// let (looker, acumatica) = connect::clients(&ctx.config, &ctx.secrets).await?;
/// # Ok(()) }
/// ```
pub async fn clients(
    config: &Config,
    secrets: &Secrets,
) -> CliResult<(looker_client::Client, acumatica_client::Client)> {
    let looker = looker_client(looker_settings(config)?, secrets).await?;
    let acumatica = acumatica_client(acumatica_settings(config)?, secrets, false).await?;
    Ok((looker, acumatica))
}

/// A short timeout for checks, so `ping` against an unreachable host does not hang for the
/// ten minutes a throttled Acumatica request may legitimately take.
pub const PING_TIMEOUT: Duration = Duration::from_secs(30);
