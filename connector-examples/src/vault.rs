//! The encrypted credentials file (sync-core's [`Vault`]), as the command uses it.
//!
//! A secret's name is `connection.kind`, e.g. `acumatica.client_secret`: the part before the
//! first dot is the vault's connection, the rest its credential kind. The master key (32
//! bytes, base64) comes from `ML_CONNECTOR_VAULT_KEY`; `ml-connector vault new-key` makes one.

use std::path::Path;

use secrecy::SecretString;
use sync_core::vault::{CredentialKind, FileCredentialStore, MasterKey, Vault, VaultError};

use crate::exit::{CliError, CliResult, Exit};

/// The environment variable holding the vault's master key (base64 of 32 bytes).
pub const VAULT_KEY_ENV: &str = "ML_CONNECTOR_VAULT_KEY";

/// Splits `connection.kind`.
pub fn split_name(name: &str) -> CliResult<(&str, CredentialKind)> {
    let bad = || {
        CliError::usage(format!(
            "secret name `{name}` must be CONNECTION.KIND, e.g. acumatica.client_secret, \
             acumatica.password or looker.client_secret"
        ))
    };
    let (connection, kind) = name.split_once('.').ok_or_else(bad)?;
    if connection.is_empty() {
        return Err(bad());
    }
    let kind =
        CredentialKind::new(kind).map_err(|e| vault_error(&format!("secret name `{name}`"), &e))?;
    Ok((connection, kind))
}

pub(crate) fn vault_error(context: &str, e: &VaultError) -> CliError {
    let exit = match e {
        VaultError::KeyMissing { .. }
        | VaultError::KeyInvalid { .. }
        | VaultError::WrongKey { .. } => Exit::Credentials,
        VaultError::InvalidName { .. } => Exit::Usage,
        _ => Exit::Failed,
    };
    let err = CliError::new(exit, format!("{context}: {e}"));
    match e {
        VaultError::KeyMissing { .. } => err.with_hint(format!(
            "export {VAULT_KEY_ENV}=<base64 key>; `ml-connector vault new-key` makes a new one \
             (keep it in your secrets manager, not next to the vault)"
        )),
        VaultError::WrongKey { .. } => err.with_hint(format!(
            "{VAULT_KEY_ENV} is not the key this vault was sealed with"
        )),
        _ => err,
    }
}

/// Opens the vault at `path` with the key from `env`.
pub fn open(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> CliResult<Vault<FileCredentialStore>> {
    let origin = format!("environment variable {VAULT_KEY_ENV}");
    let key = match env(VAULT_KEY_ENV).filter(|k| !k.is_empty()) {
        Some(text) => MasterKey::from_base64(&SecretString::from(text), &origin),
        None => Err(VaultError::KeyMissing { origin }),
    }
    .map_err(|e| vault_error(&format!("vault {}", path.display()), &e))?;
    Ok(Vault::new(key, FileCredentialStore::new(path)))
}

/// The secret `name` from the vault at `path`, or `None` when there is no vault file or no
/// such entry.
pub async fn lookup(
    path: &Path,
    name: &str,
    env: &(dyn Fn(&str) -> Option<String> + Send + Sync),
) -> CliResult<Option<SecretString>> {
    if !path.exists() {
        return Ok(None);
    }
    let (connection, kind) = split_name(name)?;
    let vault = open(path, env)?;
    match vault.open(connection, &kind).await {
        Ok(s) => Ok(Some(s)),
        Err(VaultError::NotFound { .. }) => Ok(None),
        Err(e) => Err(vault_error(
            &format!("vault {}: `{name}`", path.display()),
            &e,
        )),
    }
}
