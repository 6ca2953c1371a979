//! `ml-connector vault`: store, list and re-key encrypted credentials.

use crate::output::{out, outln};
use std::io::{IsTerminal, Read};

use secrecy::{ExposeSecret, SecretString};
use sync_core::vault::MasterKey;

use crate::cli::{GlobalArgs, VaultArgs, VaultCommand};
use crate::commands::Context;
use crate::exit::{CliError, Exit};
use crate::output::{Table, print_json};
use crate::vault::{VAULT_KEY_ENV, open, split_name, vault_error};

/// Runs `vault`.
pub async fn run(global: &GlobalArgs, args: &VaultArgs) -> Result<Exit, CliError> {
    if let VaultCommand::NewKey = args.command {
        let (_key, text) = MasterKey::generate()
            .map_err(|e| CliError::failed(format!("cannot make a key: {e}")))?;
        if global.json {
            print_json(&serde_json::json!({ "env": VAULT_KEY_ENV, "key": text.expose_secret() }));
        } else {
            eprintln!("A new vault key. Keep it in your secrets manager, not next to the vault:");
            outln!("export {VAULT_KEY_ENV}={}", text.expose_secret());
        }
        return Ok(Exit::Ok);
    }
    let ctx = Context::load(global)?;
    let path = ctx.config.vault_path.clone();
    let env = |k: &str| std::env::var(k).ok();
    if matches!(args.command, VaultCommand::List) && !path.exists() {
        if ctx.json {
            print_json(&serde_json::json!({ "vault": path.display().to_string(), "secrets": [] }));
        } else {
            outln!("No secrets: {} does not exist yet.", path.display());
        }
        return Ok(Exit::Ok);
    }
    let vault = open(&path, &env)?;
    match &args.command {
        VaultCommand::Store { name, from_env } => {
            let (connection, kind) = split_name(name)?;
            let secret = match from_env {
                Some(var) => std::env::var(var)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| {
                        CliError::usage(format!("environment variable {var} is not set or empty"))
                    })?,
                None => {
                    if std::io::stdin().is_terminal() {
                        eprintln!("Enter the secret for {name}, then press Enter and Ctrl-D:");
                    }
                    let mut text = String::new();
                    std::io::stdin().read_to_string(&mut text).map_err(|e| {
                        CliError::usage(format!("cannot read the secret from stdin: {e}"))
                    })?;
                    let trimmed = text.trim_end_matches(['\r', '\n']).to_owned();
                    if trimmed.is_empty() {
                        return Err(CliError::usage("no secret on stdin").with_hint(format!(
                            "echo -n \"$SECRET\" | ml-connector vault store {name}"
                        )));
                    }
                    trimmed
                }
            };
            vault
                .seal(connection, &kind, &SecretString::from(secret))
                .await
                .map_err(|e| vault_error(&format!("vault {}", path.display()), &e))?;
            if ctx.json {
                print_json(
                    &serde_json::json!({ "stored": name, "vault": path.display().to_string() }),
                );
            } else {
                outln!("Stored {name} in {} (encrypted).", path.display());
            }
        }
        VaultCommand::List => {
            let failed = |e: sync_core::vault::VaultError| {
                vault_error(&format!("vault {}", path.display()), &e)
            };
            // Listing opens nothing by itself: prove the key and the records first.
            vault.verify().await.map_err(failed)?;
            let list = vault.list().await.map_err(failed)?;
            if ctx.json {
                let items: Vec<_> = list
                    .iter()
                    .map(|i| {
                        serde_json::json!({
                            "name": format!("{}.{}", i.connection, i.kind),
                            "key_id": i.key_id.to_string(),
                            "sealed_at": i.sealed_at.to_rfc3339(),
                        })
                    })
                    .collect();
                print_json(
                    &serde_json::json!({ "vault": path.display().to_string(), "secrets": items }),
                );
            } else if list.is_empty() {
                outln!("No secrets in {}.", path.display());
            } else {
                let mut t = Table::new(["Name", "Sealed at", "Key id"]);
                for i in &list {
                    t.row([
                        format!("{}.{}", i.connection, i.kind),
                        i.sealed_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                        i.key_id.to_string(),
                    ]);
                }
                outln!("Secrets in {} (values are never shown):", path.display());
                out!("{}", t.render());
            }
        }
        VaultCommand::Rotate {
            new_key_env,
            new_key_file,
        } => {
            let new_key = match (new_key_env, new_key_file) {
                (Some(var), _) => MasterKey::from_env(var),
                (None, Some(file)) => MasterKey::from_file(file),
                (None, None) => {
                    return Err(CliError::usage(
                        "give the new key: --new-key-env VAR or --new-key-file PATH",
                    ));
                }
            }
            .map_err(|e| vault_error("the new vault key", &e))?;
            let new_id = new_key.id();
            if !path.exists() {
                return Err(CliError::usage(format!(
                    "no vault to rotate: {} does not exist",
                    path.display()
                )));
            }
            let mut vault = vault;
            let resealed = vault.rotate(new_key).await.map_err(|e| {
                vault_error(
                    &format!("vault {}: rotation (nothing was changed)", path.display()),
                    &e,
                )
            })?;
            if ctx.json {
                print_json(&serde_json::json!({
                    "ok": true,
                    "vault": path.display().to_string(),
                    "resealed": resealed,
                    "key_id": new_id.to_string(),
                }));
            } else {
                outln!(
                    "Re-sealed {resealed} secret(s) of {} under key {new_id}. Use the new key from \
                     now on ({VAULT_KEY_ENV} or ML_CONNECTOR_VAULT_KEY_FILE); the old one no longer \
                     opens the vault.",
                    path.display()
                );
            }
        }
        VaultCommand::NewKey => {}
    }
    Ok(Exit::Ok)
}
