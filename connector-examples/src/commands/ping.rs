//! `ml-connector ping`: does the configured setup fit the real systems?

use serde::Serialize;

use crate::cli::{FlowArg, GlobalArgs};
use crate::commands::Context;
use crate::commands::flows::open_store_with;
use crate::commands::signout::Sessions;
use crate::config::{AcumaticaSettings, FlowConfig, FlowSpec, LookerSettings, StoreUrl};
use crate::connect;
use crate::exit::{CliError, Exit};
use crate::output::{Paint, Table, print_json};
use crate::secrets::Secrets;

/// The result of one check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `looker` or `acumatica`.
    pub system: &'static str,
    /// What was checked.
    pub check: String,
    /// `pass`, `fail` or `skip`.
    pub status: &'static str,
    /// What was found, or what went wrong and what to do.
    pub detail: String,
    /// The exit code a failure stands for.
    #[serde(skip)]
    pub exit: Exit,
}

impl Check {
    fn pass(system: &'static str, check: impl Into<String>, detail: impl Into<String>) -> Self {
        Check {
            system,
            check: check.into(),
            status: "pass",
            detail: detail.into(),
            exit: Exit::Ok,
        }
    }

    fn fail(system: &'static str, check: impl Into<String>, err: &CliError) -> Self {
        let mut detail = err.message.clone();
        if let Some(h) = &err.hint {
            detail.push_str(&format!(" ({h})"));
        }
        Check {
            system,
            check: check.into(),
            status: "fail",
            detail,
            exit: err.exit,
        }
    }

    fn skip(system: &'static str, check: impl Into<String>, why: impl Into<String>) -> Self {
        Check {
            system,
            check: check.into(),
            status: "skip",
            detail: why.into(),
            exit: Exit::Ok,
        }
    }
}

/// Runs every Looker check; later checks are skipped when login fails.
pub async fn looker_checks(
    settings: &LookerSettings,
    secrets: &Secrets,
    flows: &[&FlowConfig],
) -> Vec<Check> {
    const S: &str = "looker";
    let mut out = Vec::new();
    let client = match connect::looker_client(settings, secrets).await {
        Ok(c) => c,
        Err(e) => {
            out.push(Check::fail(S, "Looker login", &e));
            return out;
        }
    };
    match client.login().await {
        Ok(()) => out.push(Check::pass(
            S,
            "Looker login",
            format!("{} accepted the API3 credentials", settings.base_url),
        )),
        Err(e) => {
            out.push(Check::fail(
                S,
                "Looker login",
                &CliError::from_looker("login", &e),
            ));
            return out;
        }
    }
    match client.get_json::<serde_json::Value>("versions", &[]).await {
        Ok(v) => {
            let release = v["looker_release_version"].as_str().unwrap_or("?");
            let api = v["current_version"]["version"].as_str().unwrap_or("?");
            out.push(Check::pass(
                S,
                "Looker version",
                format!("release {release}, API {api}"),
            ));
        }
        Err(e) => out.push(Check::fail(
            S,
            "Looker version",
            &CliError::from_looker("GET /versions", &e),
        )),
    }
    for flow in flows {
        // Post and reference flows read Looker; feeds do not.
        let Some((q, query, fields)) = flow.looker_query() else {
            continue;
        };
        let name = format!("explore {}::{} ({})", q.model, q.explore, flow.name);
        match client.lookml_model_explore(&q.model, &q.explore).await {
            Ok(explore) => {
                let f = &explore.fields;
                let count = f.dimensions.len() + f.measures.len();
                match explore.check(&query) {
                    Ok(()) => out.push(Check::pass(
                        S,
                        name,
                        format!(
                            "{count} fields ({} dimensions, {} measures); the flow's {} fields exist",
                            f.dimensions.len(),
                            f.measures.len(),
                            fields
                        ),
                    )),
                    Err(e) => out.push(Check::fail(
                        S,
                        name,
                        &CliError::from_looker(&format!("flow `{}`", flow.name), &e),
                    )),
                }
            }
            Err(e) => {
                let err =
                    CliError::from_looker(&format!("model {} explore {}", q.model, q.explore), &e);
                let err = if e.is_not_found() {
                    CliError { exit: Exit::Usage, ..err }.with_hint(
                        "check [flows.looker] model and explore, and that the API user may see them",
                    )
                } else {
                    err
                };
                out.push(Check::fail(S, name, &err));
            }
        }
    }
    // Signed out as every command signs out: a failure is a warning, not a failed check.
    let sessions = Sessions::new();
    sessions.track_looker(&client);
    sessions.sign_out().await;
    out
}

/// Runs every Acumatica check; later checks are skipped when sign-in fails.
pub async fn acumatica_checks(
    settings: &AcumaticaSettings,
    secrets: &Secrets,
    flows: &[&FlowConfig],
) -> Vec<Check> {
    const S: &str = "acumatica";
    let mut out = Vec::new();
    let client = match connect::acumatica_client(settings, secrets, true).await {
        Ok(c) => c,
        Err(e) => {
            out.push(Check::fail(S, "Acumatica token", &e));
            return out;
        }
    };
    let what = match settings.auth {
        crate::config::AcumaticaAuth::Oauth => "OAuth token",
        crate::config::AcumaticaAuth::Session => "session login",
    };
    match client.sign_in().await {
        Ok(()) => out.push(Check::pass(
            S,
            "Acumatica token",
            format!(
                "{what} for {} accepted",
                settings.username.as_deref().unwrap_or("?")
            ),
        )),
        Err(e) => {
            out.push(Check::fail(
                S,
                "Acumatica token",
                &CliError::from_acumatica(what, &e),
            ));
            return out;
        }
    }
    let pinned_ok = match client.site_info().await {
        Ok(info) => {
            out.push(Check::pass(
                S,
                "GET /entity",
                format!(
                    "build {}, {} endpoints",
                    info.build_version.as_deref().unwrap_or("?"),
                    info.endpoints.len()
                ),
            ));
            let offered: Vec<String> = info
                .versions_of(&settings.endpoint)
                .iter()
                .map(ToString::to_string)
                .collect();
            let check = format!(
                "endpoint {}/{}",
                settings.endpoint,
                settings.endpoint_version.as_deref().unwrap_or("(not set)")
            );
            match &settings.endpoint_version {
                Some(v) if offered.iter().any(|o| o == v) => {
                    out.push(Check::pass(S, check, "offered by the site"));
                    true
                }
                pinned => {
                    let msg = match pinned {
                        Some(v) => format!("the site does not offer {}/{v}", settings.endpoint),
                        None => "no endpoint version is pinned".to_owned(),
                    };
                    let offered_text = if offered.is_empty() {
                        format!(
                            "the site offers no version of endpoint `{}`",
                            settings.endpoint
                        )
                    } else {
                        format!("the site offers {}", offered.join(", "))
                    };
                    out.push(Check::fail(
                        S,
                        check,
                        &CliError::usage(format!("{msg}; {offered_text}")).with_hint(
                            "set acumatica.endpoint_version (or ACUMATICA_ENDPOINT_VERSION) to the \
                             version your mappings were written against",
                        ),
                    ));
                    false
                }
            }
        }
        Err(e) => {
            out.push(Check::fail(
                S,
                "GET /entity",
                &CliError::from_acumatica("GET /entity", &e),
            ));
            false
        }
    };
    if pinned_ok {
        match client.accounts(false).await {
            Ok(a) => {
                let active = a.iter().filter(|x| x.active.get() == Some(&true)).count();
                // With [acumatica] request_branch, every request ran in that branch.
                let branch = client
                    .branch_override()
                    .map(|b| format!(", requests in branch \"{b}\""))
                    .unwrap_or_default();
                out.push(Check::pass(
                    S,
                    "accounts readable",
                    format!("{} accounts ({active} active){branch}", a.len()),
                ))
            }
            Err(e) => out.push(Check::fail(
                S,
                "accounts readable",
                &CliError::from_acumatica("GET Account", &e),
            )),
        }
        // Each entity a feed copies: one record read ($top=1), as the run reads them.
        for flow in flows {
            for entity in flow.feed().into_iter().flat_map(|f| &f.entities) {
                let name = format!("{} readable ({})", entity.entity, flow.name);
                let query = acumatica_client::ListQuery::new().top(1);
                match client.get_json(&entity.entity, &query).await {
                    Ok(v) => {
                        let n = v.as_array().map_or(0, Vec::len);
                        out.push(Check::pass(
                            S,
                            name,
                            if n == 0 {
                                "readable (no records yet)".to_owned()
                            } else {
                                "readable".to_owned()
                            },
                        ));
                    }
                    Err(e) => out.push(Check::fail(
                        S,
                        name,
                        &CliError::from_acumatica(&format!("GET {}?$top=1", entity.entity), &e)
                            .with_hint(
                                "the feed reads this entity: check its name in [[flows.entities]] \
                                 and that the API user may see it (its access rights)",
                            ),
                    )),
                }
            }
        }
    } else {
        out.push(Check::skip(
            S,
            "accounts readable",
            "needs a valid endpoint version",
        ));
    }
    let sessions = Sessions::new();
    sessions.track_acumatica(&client);
    sessions.sign_out().await;
    out
}

/// Offline: the columns each Looker flow's mapping reads are among the fields its query
/// selects (with `fields` given, a column left out would be missing from every row).
pub fn mapping_checks(flows: &[&FlowConfig]) -> Vec<Check> {
    const S: &str = "config";
    let mut out = Vec::new();
    for flow in flows {
        let (columns, fields): (Vec<&str>, Vec<String>) = match &flow.spec {
            FlowSpec::Post(p) => (p.mapping.columns().into_iter().collect(), p.fields()),
            FlowSpec::Reference(r) => (r.mapping.columns(), r.fields()),
            FlowSpec::Feed(_) => continue,
        };
        let name = format!("mapping columns ({})", flow.name);
        let missing: Vec<&str> = columns
            .iter()
            .copied()
            .filter(|c| !fields.iter().any(|f| f == c))
            .collect();
        if missing.is_empty() {
            out.push(Check::pass(
                S,
                name,
                format!(
                    "the {} column(s) the mapping reads are among the query's {} field(s)",
                    columns.len(),
                    fields.len()
                ),
            ));
        } else {
            let list: Vec<String> = missing.iter().map(|m| format!("`{m}`")).collect();
            out.push(Check::fail(
                S,
                name,
                &CliError::usage(format!(
                    "the mapping reads {} which the query's `fields` does not select",
                    list.join(", ")
                ))
                .with_hint(
                    "add them to [flows.looker] fields, or leave `fields` out to select what the \
                     mapping reads",
                ),
            ));
        }
    }
    out
}

/// The state store, the feeds' warehouses (writable) and the vault (opens with the key).
pub async fn local_checks(ctx: &Context, flows: &[&FlowConfig]) -> Vec<Check> {
    const S: &str = "local";
    let mut out = Vec::new();
    let store = &ctx.config.store;
    match open_store_with(store, &ctx.config.store_options, false).await {
        Ok(None) => match writable_dir_for(store) {
            Ok(()) => out.push(Check::pass(
                S,
                "state store",
                format!("{store} does not exist yet; the first run creates it"),
            )),
            Err(e) => out.push(Check::fail(S, "state store", &e)),
        },
        Ok(Some(s)) => match s.now().await {
            Ok(_) => out.push(Check::pass(S, "state store", format!("{store} answers"))),
            Err(e) => out.push(Check::fail(
                S,
                "state store",
                &CliError::new(Exit::Unreachable, format!("state store {store}: {e}")),
            )),
        },
        Err(e) => out.push(Check::fail(S, "state store", &e)),
    }
    for flow in flows {
        let Some(feed) = flow.feed() else {
            continue;
        };
        let name = format!("warehouse ({})", flow.name);
        match warehouse_writable(&feed.warehouse).await {
            Ok(detail) => out.push(Check::pass(S, name, detail)),
            Err(e) => out.push(Check::fail(S, name, &e)),
        }
    }
    let vault = ctx.secrets.vault_path();
    if vault.exists() {
        match vault_opens(vault, &ctx.secrets).await {
            Ok(n) => out.push(Check::pass(
                S,
                "vault",
                format!("{}: {n} secret(s) open with the key", vault.display()),
            )),
            Err(e) => out.push(Check::fail(S, "vault", &e)),
        }
    } else {
        out.push(Check::skip(
            S,
            "vault",
            format!(
                "no vault at {} (secrets come from the environment)",
                vault.display()
            ),
        ));
    }
    out
}

/// For a SQLite file that does not exist yet: its directory takes a new file.
fn writable_dir_for(url: &StoreUrl) -> Result<(), CliError> {
    let StoreUrl::Sqlite(path) = url else {
        return Ok(());
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut probe = dir;
    // The first run creates missing directories: the nearest existing one must take them.
    while !probe.exists() {
        probe = probe.parent().unwrap_or(std::path::Path::new("."));
    }
    tempfile::NamedTempFile::new_in(probe)
        .map(drop)
        .map_err(|e| {
            CliError::failed(format!(
                "{} cannot be created: {} is not writable ({e})",
                path.display(),
                probe.display()
            ))
            .with_hint(
                "choose a writable location in the config, or fix the directory's permissions",
            )
        })
}

/// Creates and drops a table in a transaction that is rolled back: the warehouse takes
/// writes, and nothing is left behind.
async fn warehouse_writable(url: &StoreUrl) -> Result<String, CliError> {
    use sqlx::Connection as _;
    const PROBE: &str = "CREATE TABLE ml_connector_ping_probe (id INTEGER)";
    let failed = |e: sqlx::Error| {
        CliError::new(
            Exit::Unreachable,
            format!("warehouse {url}: cannot create a table: {e}"),
        )
        .with_hint("the feed creates and writes its tables: give this user that right, or choose another warehouse")
    };
    match url {
        StoreUrl::Sqlite(path) => {
            if !path.exists() {
                writable_dir_for(url)?;
                return Ok(format!(
                    "{url} does not exist yet; the first run creates it"
                ));
            }
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
            let mut conn = sqlx::SqliteConnection::connect_with(&options)
                .await
                .map_err(failed)?;
            let mut tx = conn.begin().await.map_err(failed)?;
            sqlx::query(PROBE).execute(&mut *tx).await.map_err(failed)?;
            tx.rollback().await.map_err(failed)?;
        }
        StoreUrl::Postgres(u) => {
            let mut conn = sqlx::PgConnection::connect(u).await.map_err(failed)?;
            let mut tx = conn.begin().await.map_err(failed)?;
            sqlx::query(PROBE).execute(&mut *tx).await.map_err(failed)?;
            tx.rollback().await.map_err(failed)?;
        }
    }
    Ok(format!("{url} takes new tables"))
}

/// Opens every secret of the vault at `path` with the configured key; how many.
async fn vault_opens(path: &std::path::Path, secrets: &Secrets) -> Result<usize, CliError> {
    let vault = crate::vault::open(path, &|n| secrets.env(n))?;
    let listed = vault
        .list()
        .await
        .map_err(|e| crate::vault::vault_error(&format!("vault {}", path.display()), &e))?;
    for info in &listed {
        vault
            .open(&info.connection, &info.kind)
            .await
            .map_err(|e| {
                crate::vault::vault_error(
                    &format!("vault {}: `{}`", path.display(), info.connection),
                    &e,
                )
            })?;
    }
    Ok(listed.len())
}

/// Runs `ping`.
pub async fn run(global: &GlobalArgs, args: &FlowArg) -> Result<Exit, CliError> {
    let ctx = Context::load(global)?;
    let flows = ctx.config.select(args.flow.as_deref())?;
    if ctx.config.looker.is_none() && ctx.config.acumatica.is_none() {
        return Err(CliError::usage(format!(
            "nothing to ping: neither Looker nor Acumatica is configured ({})",
            ctx.config.describe_source()
        ))
        .with_hint(
            "pass --config PATH, or set LOOKERSDK_BASE_URL and ACUMATICA_URL (with their \
             credentials); `ml-connector sandbox` prints a complete example",
        ));
    }
    let mut checks = mapping_checks(&flows);
    checks.extend(local_checks(&ctx, &flows).await);
    match &ctx.config.looker {
        Some(l) => checks.extend(looker_checks(l, &ctx.secrets, &flows).await),
        None => checks.push(Check::skip("looker", "Looker", "not configured")),
    }
    match &ctx.config.acumatica {
        Some(a) => checks.extend(acumatica_checks(a, &ctx.secrets, &flows).await),
        None => checks.push(Check::skip("acumatica", "Acumatica", "not configured")),
    }
    let exit = checks.iter().fold(Exit::Ok, |acc, c| acc.worst(c.exit));
    if ctx.json {
        print_json(&serde_json::json!({
            "ok": exit == Exit::Ok,
            "exit_code": exit.code(),
            "checks": checks,
        }));
    } else {
        let mut t = Table::new(["", "Check", "Result"]).paint(0, |mark| match mark {
            "PASS" => Some(Paint::Good),
            "FAIL" => Some(Paint::Bad),
            "SKIP" => Some(Paint::Warn),
            _ => None,
        });
        for c in &checks {
            let mark = match c.status {
                "pass" => "PASS",
                "fail" => "FAIL",
                _ => "SKIP",
            };
            t.row([mark.to_owned(), c.check.clone(), c.detail.clone()]);
        }
        ctx.layout.table(&t, "");
        let failed = checks.iter().filter(|c| c.status == "fail").count();
        if failed == 0 {
            ctx.layout
                .line("\nAll checks passed: the configuration fits these systems.");
        } else {
            ctx.layout.line(&format!("\n{failed} check(s) failed."));
        }
    }
    Ok(exit)
}
