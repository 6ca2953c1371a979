//! The encrypted credentials file (sync-core's vault), as the command uses it.

use std::path::Path;

use secrecy::SecretString;

use crate::exit::{CliError, CliResult};

/// The environment variable holding the vault's key (passphrase).
pub const VAULT_KEY_ENV: &str = "ML_CONNECTOR_VAULT_KEY";

/// The secret `name` from the vault at `path`, or `None` when there is no vault file or no
/// such entry.
pub fn lookup(
    path: &Path,
    name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> CliResult<Option<SecretString>> {
    if !path.exists() {
        return Ok(None);
    }
    let _ = (name, env);
    Err(CliError::failed(format!(
        "the vault {} exists but this build cannot open vaults yet",
        path.display()
    )))
}
