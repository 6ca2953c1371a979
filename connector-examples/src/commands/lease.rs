//! `ml-connector lease release`: free a flow's lease by hand, with a confirmation, recorded in
//! the audit trail; and how `status` describes a lease's holder.

use crate::output::outln;
use std::io::{BufRead, IsTerminal, Write};

use chrono::{DateTime, Utc};
use serde_json::json;
use sync_core::store::{Lease, Liveness, operator};

use crate::cli::{GlobalArgs, LeaseArgs, LeaseCommand};
use crate::commands::Context;
use crate::commands::flows::open_store_with;
use crate::commands::run::SCHEDULE_LEASE_PREFIX;
use crate::exit::{CliError, Exit};
use crate::output::print_json;

/// How a lease looks from here: `(state, words)`. The state is one of `expired`, `dead`
/// (held by a process that provably no longer runs), `live` (held by a process running on
/// this host) or `held` (a holder elsewhere, not provably gone).
pub fn describe(lease: &Lease, now: DateTime<Utc>) -> (&'static str, String) {
    let holder = lease.holder();
    let whose = match &lease.process {
        Some(p) => format!("{}, pid {}", p.host, p.pid),
        None => format!("`{}`", lease.owner),
    };
    if lease.is_expired_at(now) {
        return (
            "expired",
            format!(
                "expired at {} (free to take over; held by {whose})",
                lease.expires_at.to_rfc3339()
            ),
        );
    }
    match holder.liveness() {
        Liveness::Dead { reason } => (
            "dead",
            format!(
                "held by a process that is no longer running ({whose}: {reason}); the next run takes it over at once"
            ),
        ),
        Liveness::Alive => (
            "live",
            format!(
                "held by a live replica ({whose}) until {}",
                lease.expires_at.to_rfc3339()
            ),
        ),
        Liveness::Unknown { reason } => (
            "held",
            format!(
                "held by a replica ({whose}) until {}; whether it still runs cannot be told from here ({reason})",
                lease.expires_at.to_rfc3339()
            ),
        ),
    }
}

/// Runs `lease`.
pub async fn run(global: &GlobalArgs, args: &LeaseArgs) -> Result<Exit, CliError> {
    let LeaseCommand::Release {
        flow,
        schedule,
        yes,
        force,
    } = &args.command;
    let ctx = Context::load(global)?;
    // The flow must be configured: a typo must not look like "nothing to release".
    ctx.config.flow(flow)?;
    let name = if *schedule {
        format!("{SCHEDULE_LEASE_PREFIX}{flow}")
    } else {
        flow.clone()
    };
    let store_err = |e: sync_core::store::StoreError| CliError::failed(format!("state store: {e}"));
    let Some(store) = open_store_with(&ctx.config.store, &ctx.config.store_options, false).await?
    else {
        return not_held(&ctx, &name);
    };
    let Some(lease) = store.current_lease(&name).await.map_err(store_err)? else {
        return not_held(&ctx, &name);
    };
    let now = store.now().await.map_err(store_err)?;
    let (state, words) = describe(&lease, now);
    if state == "live" && !force {
        return Err(CliError::usage(format!(
            "the lease of `{name}` is {words}: that process still runs on this host, so releasing its lease would let a second run start beside it; nothing was released"
        ))
        .with_hint(
            "stop that process (it releases its lease when it ends), or pass --force if it is stuck",
        ));
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::usage(format!(
                "releasing the lease of `{name}` needs a confirmation: run it on a terminal, or pass --yes; nothing was released"
            )));
        }
        eprint!(
            "The lease of `{name}` (fence {}) is {words}.\nRelease it? A run of that holder still working would then be refused its next write. Type yes to release: ",
            lease.fence
        );
        std::io::stderr().flush().ok();
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| CliError::usage(format!("cannot read the confirmation: {e}")))?;
        if answer.trim() != "yes" {
            return Err(CliError::usage(format!(
                "not confirmed; the lease of `{name}` was not released"
            )));
        }
    }
    let by = operator();
    let released = store
        .release_lease_by_hand(&name, lease.fence, &by)
        .await
        .map_err(store_err)?;
    if ctx.json {
        print_json(&json!({
            "ok": true,
            "lease": name,
            "released": true,
            "owner": released.owner,
            "fence": released.fence,
            "was": state,
            "released_by": by,
        }));
    } else {
        outln!(
            "Released the lease of `{name}` (fence {}, held by `{}`), as {by}; recorded in the audit trail (`ml-connector audit --flow {flow} --key lease`). Its run, if one was still open, is closed as abandoned.",
            released.fence,
            released.owner
        );
    }
    Ok(Exit::Ok)
}

fn not_held(ctx: &Context, name: &str) -> Result<Exit, CliError> {
    if ctx.json {
        print_json(&json!({"ok": true, "lease": name, "released": false, "held": false}));
    } else {
        outln!("The lease of `{name}` is not held; nothing to release.");
    }
    Ok(Exit::Ok)
}
