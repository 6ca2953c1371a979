//! `ml-connector vault`: store and list encrypted credentials.

use std::io::{IsTerminal, Read};

use secrecy::{ExposeSecret, SecretString};
use sync_core::vault::MasterKey;

use crate::cli::{GlobalArgs, VaultArgs, VaultCommand};
use crate::commands::Context;
use crate::exit::{CliError, Exit};
use crate::output::{Table, print_json};
use crate::vault::{VAULT_KEY_ENV, open, split_name};

/// Runs `vault`.
pub async fn run(global: &GlobalArgs, args: &VaultArgs) -> Result<Exit, CliError> {
    if let VaultCommand::NewKey = args.command {
        let (_key, text) = MasterKey::generate()
            .map_err(|e| CliError::failed(format!("cannot make a key: {e}")))?;
        if global.json {
            print_json(&serde_json::json!({ "env": VAULT_KEY_ENV, "key": text.expose_secret() }));
        } else {
            eprintln!("A new vault key. Keep it in your secrets manager, not next to the vault:");
            println!("export {VAULT_KEY_ENV}={}", text.expose_secret());
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
            println!("No secrets: {} does not exist yet.", path.display());
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
                .map_err(|e| CliError::failed(format!("vault {}: {e}", path.display())))?;
            if ctx.json {
                print_json(
                    &serde_json::json!({ "stored": name, "vault": path.display().to_string() }),
                );
            } else {
                println!("Stored {name} in {} (encrypted).", path.display());
            }
        }
        VaultCommand::List => {
            let list = if path.exists() {
                vault
                    .list()
                    .await
                    .map_err(|e| CliError::failed(format!("vault {}: {e}", path.display())))?
            } else {
                Vec::new()
            };
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
                println!("No secrets in {}.", path.display());
            } else {
                let mut t = Table::new(["Name", "Sealed at", "Key id"]);
                for i in &list {
                    t.row([
                        format!("{}.{}", i.connection, i.kind),
                        i.sealed_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                        i.key_id.to_string(),
                    ]);
                }
                println!("Secrets in {} (values are never shown):", path.display());
                print!("{}", t.render());
            }
        }
        VaultCommand::NewKey => {}
    }
    Ok(Exit::Ok)
}
