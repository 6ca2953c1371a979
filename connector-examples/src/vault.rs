//! The encrypted credentials file (sync-core's [`Vault`]), as the command uses it.
//!
//! A secret's name is `connection.kind`, e.g. `acumatica.client_secret`: the part before the
//! first dot is the vault's connection, the rest its credential kind. The master key (32
//! bytes, base64) comes from `ML_CONNECTOR_VAULT_KEY`, or from the file named by
//! `ML_CONNECTOR_VAULT_KEY_FILE` (its base64 text or its 32 raw bytes; e.g. a systemd
//! credential or a Kubernetes secret volume), never both; `ml-connector vault new-key` makes
//! one. A wrong key, a record that was altered and a vault split between two keys are
//! credentials errors (exit 3).

use std::path::Path;

use secrecy::SecretString;
use sync_core::vault::{CredentialKind, FileCredentialStore, MasterKey, Vault, VaultError};

use crate::exit::{CliError, CliResult, Exit};

/// The environment variable holding the vault's master key (base64 of 32 bytes).
pub const VAULT_KEY_ENV: &str = "ML_CONNECTOR_VAULT_KEY";

/// The environment variable naming a file that holds the vault's master key.
pub const VAULT_KEY_FILE_ENV: &str = "ML_CONNECTOR_VAULT_KEY_FILE";

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

/// A vault error as the command reports it: wrong key, tampering, a missing or unusable key
/// and a vault split between keys are credentials errors (exit 3).
pub fn vault_error(context: &str, e: &VaultError) -> CliError {
    let exit = match e {
        VaultError::KeyMissing { .. }
        | VaultError::KeyInvalid { .. }
        | VaultError::WrongKey { .. }
        | VaultError::Tampered { .. }
        | VaultError::MixedKeys { .. } => Exit::Credentials,
        VaultError::InvalidName { .. } => Exit::Usage,
        _ => Exit::Failed,
    };
    let err = CliError::new(exit, format!("{context}: {e}"));
    match e {
        VaultError::KeyMissing { .. } => err.with_hint(format!(
            "export {VAULT_KEY_ENV}=<base64 key> (or {VAULT_KEY_FILE_ENV}=<file holding it>); \
             `ml-connector vault new-key` makes a new one (keep it in your secrets manager, not \
             next to the vault)"
        )),
        VaultError::WrongKey { .. } => err.with_hint(format!(
            "the key in {VAULT_KEY_ENV} or {VAULT_KEY_FILE_ENV} is not the key this vault was \
             sealed with"
        )),
        VaultError::MixedKeys { .. } => err.with_hint(format!(
            "set {VAULT_KEY_ENV} (or {VAULT_KEY_FILE_ENV}) to the vault's key; to move the vault \
             to a new key, run `ml-connector vault rotate --new-key-env VAR` with the old key \
             loaded"
        )),
        VaultError::Tampered { .. } => err.with_hint(
            "the vault file was changed outside ml-connector: restore it from a backup, or store \
             the secret again with `ml-connector vault store NAME`",
        ),
        _ => err,
    }
}

/// The vault's master key: from `ML_CONNECTOR_VAULT_KEY`, or from the file named by
/// `ML_CONNECTOR_VAULT_KEY_FILE`; both set is refused (which one is meant cannot be told).
pub fn master_key(env: &dyn Fn(&str) -> Option<String>) -> Result<MasterKey, VaultError> {
    let text = env(VAULT_KEY_ENV).filter(|k| !k.is_empty());
    let file = env(VAULT_KEY_FILE_ENV).filter(|k| !k.is_empty());
    match (text, file) {
        (Some(_), Some(_)) => Err(VaultError::KeyInvalid {
            origin: format!("{VAULT_KEY_ENV} and {VAULT_KEY_FILE_ENV}"),
            reason: "both are set, so which key is meant cannot be told; unset one".to_owned(),
        }),
        (Some(text), None) => MasterKey::from_base64(
            &SecretString::from(text),
            &format!("environment variable {VAULT_KEY_ENV}"),
        ),
        (None, Some(path)) => MasterKey::from_file(path),
        (None, None) => Err(VaultError::KeyMissing {
            origin: format!("{VAULT_KEY_ENV} or {VAULT_KEY_FILE_ENV}"),
        }),
    }
}

/// Opens the vault at `path` with the key from `env` ([`master_key`]).
pub fn open(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> CliResult<Vault<FileCredentialStore>> {
    let key = master_key(env).map_err(|e| vault_error(&format!("vault {}", path.display()), &e))?;
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
