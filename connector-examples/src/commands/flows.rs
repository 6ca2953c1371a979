//! What `plan`, `run`, `status`, `audit` and `replay` share: the state store, the flows built
//! from the configuration, and how sync-core's errors become exit codes.
//!
//! The `*_in` builders put the clients they create in the command's [`Sessions`], which signs
//! them out when the command is done.

use std::sync::Arc;

use sync_core::feed::FeedFlow;
use sync_core::post::{AcumaticaJournals, LookerQuerySource, PostFlow};
use sync_core::reference::{ReferenceFlow, ReferenceFlowBuilder, ReferenceQuerySource};
use sync_core::store::{PostgresStore, SqliteStore, StateStore};
use sync_core::warehouse::{PostgresWarehouse, SqliteWarehouse, WarehouseSink};

use crate::commands::Context;
use crate::commands::signout::Sessions;
use crate::config::{FlowConfig, StoreOptions, StoreUrl};
use crate::connect;
use crate::exit::{CliError, CliResult, Exit};

/// Opens the state store. With `create` false, a SQLite file that does not exist yet gives
/// `None` (nothing has run), instead of being created by a read-only command.
pub async fn open_store(url: &StoreUrl, create: bool) -> CliResult<Option<Arc<dyn StateStore>>> {
    open_store_with(url, &StoreOptions::default(), create).await
}

/// [`open_store`] with the `[store]` options of the configuration (PostgreSQL lock and
/// statement timeouts).
pub async fn open_store_with(
    url: &StoreUrl,
    options: &StoreOptions,
    create: bool,
) -> CliResult<Option<Arc<dyn StateStore>>> {
    match url {
        StoreUrl::Sqlite(path) => {
            if !create && !path.exists() {
                return Ok(None);
            }
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    CliError::usage(format!(
                        "cannot create the store directory {}: {e}",
                        dir.display()
                    ))
                })?;
            }
            let store = SqliteStore::open(path)
                .await
                .map_err(|e| CliError::failed(format!("state store {url}: {e}")))?;
            Ok(Some(Arc::new(store)))
        }
        StoreUrl::Postgres(u) => {
            let mut builder = PostgresStore::builder(u.as_str());
            if let Some(t) = options.lock_timeout {
                builder = builder.lock_timeout(t);
            }
            if let Some(t) = options.statement_timeout {
                builder = builder.statement_timeout(t);
            }
            let store = builder
                .build()
                .await
                .map_err(|e| crate::connect::postgres_store_error(&url.to_string(), &e))?;
            Ok(Some(Arc::new(store)))
        }
    }
}

/// Classifies a sync-core error.
pub fn from_sync(context: &str, err: &sync_core::Error) -> CliError {
    use sync_core::Error as E;
    let e = match err {
        E::Looker(l) => return CliError::from_looker(context, l),
        E::Acumatica(a) => return CliError::from_acumatica(context, a),
        E::Validation(_) | E::Mapping(_) => CliError::validation(format!("{context}: {err}")),
        E::Config { .. } => CliError::usage(format!("{context}: {err}")),
        _ if err.is_invalid_data() => CliError::validation(format!("{context}: {err}")),
        _ => CliError::failed(format!("{context}: {err}")),
    };
    if err.is_busy() {
        return e.with_hint("another replica is running this flow; it will be picked up next time");
    }
    e
}

/// Builds sync-core's post flow for a configured post flow, with both clients and the store;
/// the clients are tracked in `sessions`, which signs them out when the command is done
/// ([`Sessions::signing_out`]).
pub async fn post_flow(
    ctx: &Context,
    flow: &FlowConfig,
    store: Arc<dyn StateStore>,
    sessions: &Sessions,
) -> CliResult<PostFlow> {
    let post = flow.post().ok_or_else(|| {
        CliError::usage(format!(
            "flow `{}` is a {} flow, not a post flow",
            flow.name,
            flow.kind()
        ))
    })?;
    let (looker, acumatica) = connect::clients(&ctx.config, &ctx.secrets).await?;
    sessions.track_looker(&looker);
    sessions.track_acumatica(&acumatica);
    let source = LookerQuerySource::new(looker, &post.query, &post.mapping)
        .map_err(|e| from_sync(&format!("flow `{}`", flow.name), &e))?;
    PostFlow::builder(post.mapping.clone())
        .source(source)
        .sink(AcumaticaJournals::new(acumatica))
        .store(store)
        .options(post.options.clone())
        .build()
        .map_err(|e| from_sync(&format!("flow `{}`", flow.name), &e))
}

/// sync-core's reference flow builder for a configured reference flow, with these clients:
/// [`reference_flow`] adds the store and builds, `plan` plans without one.
pub fn reference_builder(
    flow: &FlowConfig,
    looker: looker_client::Client,
    acumatica: acumatica_client::Client,
) -> CliResult<ReferenceFlowBuilder> {
    let reference = flow.reference().ok_or_else(|| {
        CliError::usage(format!(
            "flow `{}` is a {} flow, not a reference flow",
            flow.name,
            flow.kind()
        ))
    })?;
    let source = ReferenceQuerySource::new(looker, &reference.query, &reference.mapping)
        .map_err(|e| from_sync(&format!("flow `{}`", flow.name), &e))?;
    Ok(ReferenceFlow::builder(reference.mapping.clone())
        .source(source)
        .acumatica(acumatica)
        .options(reference.options.clone()))
}

/// Builds sync-core's reference flow for a configured reference flow, with both clients (in
/// `sessions`, to be signed out when the command is done) and the store.
pub async fn reference_flow(
    ctx: &Context,
    flow: &FlowConfig,
    store: Arc<dyn StateStore>,
    sessions: &Sessions,
) -> CliResult<ReferenceFlow> {
    let (looker, acumatica) = connect::clients(&ctx.config, &ctx.secrets).await?;
    sessions.track_looker(&looker);
    sessions.track_acumatica(&acumatica);
    reference_builder(flow, looker, acumatica)?
        .store(store)
        .build()
        .map_err(|e| from_sync(&format!("flow `{}`", flow.name), &e))
}

/// Opens a feed flow's warehouse.
pub async fn open_warehouse(url: &StoreUrl) -> CliResult<Arc<dyn WarehouseSink>> {
    match url {
        StoreUrl::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    CliError::usage(format!(
                        "cannot create the warehouse directory {}: {e}",
                        dir.display()
                    ))
                })?;
            }
            let w = SqliteWarehouse::open(path)
                .await
                .map_err(|e| CliError::failed(format!("warehouse {url}: {e}")))?;
            Ok(Arc::new(w))
        }
        StoreUrl::Postgres(u) => {
            let w = PostgresWarehouse::connect(u, None)
                .await
                .map_err(|e| CliError::new(Exit::Unreachable, format!("warehouse {url}: {e}")))?;
            Ok(Arc::new(w))
        }
    }
}

/// Builds sync-core's feed flow for a configured feed flow; its client is tracked in
/// `sessions`, which signs it out when the command is done ([`Sessions::signing_out`]).
pub async fn feed_flow(
    ctx: &Context,
    flow: &FlowConfig,
    store: Arc<dyn StateStore>,
    sessions: &Sessions,
) -> CliResult<FeedFlow> {
    let feed = flow.feed().ok_or_else(|| {
        CliError::usage(format!(
            "flow `{}` is a {} flow, not a feed flow",
            flow.name,
            flow.kind()
        ))
    })?;
    let acumatica = connect::acumatica_client(
        connect::acumatica_settings(&ctx.config)?,
        &ctx.secrets,
        false,
    )
    .await?;
    sessions.track_acumatica(&acumatica);
    let warehouse = open_warehouse(&feed.warehouse).await?;
    FeedFlow::from_config(
        &feed.to_feed_config(&flow.name),
        acumatica,
        warehouse,
        store,
    )
    .map_err(|e| from_sync(&format!("flow `{}`", flow.name), &e))
}

/// A flow ready to run.
#[derive(Clone)]
pub enum BuiltFlow {
    /// Looker → Acumatica.
    Post(PostFlow),
    /// Acumatica → warehouse.
    Feed(FeedFlow),
    /// Looker → Acumatica reference records.
    Reference(ReferenceFlow),
}

/// Builds a flow of any kind, with its clients in `sessions`.
pub async fn build_flow(
    ctx: &Context,
    flow: &FlowConfig,
    store: Arc<dyn StateStore>,
    sessions: &Sessions,
) -> CliResult<BuiltFlow> {
    Ok(match flow.kind() {
        crate::config::FlowKind::Post => {
            BuiltFlow::Post(post_flow(ctx, flow, store, sessions).await?)
        }
        crate::config::FlowKind::Feed => {
            BuiltFlow::Feed(feed_flow(ctx, flow, store, sessions).await?)
        }
        crate::config::FlowKind::Reference => {
            BuiltFlow::Reference(reference_flow(ctx, flow, store, sessions).await?)
        }
    })
}
