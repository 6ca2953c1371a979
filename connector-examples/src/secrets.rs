//! Where secrets come from: the environment first, then the encrypted vault.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use crate::exit::CliResult;

/// Looks an environment variable up (the process environment, or a fixed set in tests).
pub type EnvLookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Looks secrets up in the environment, then in the vault file.
pub struct Secrets {
    env: Box<EnvLookup>,
    vault_path: PathBuf,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("vault_path", &self.vault_path)
            .finish_non_exhaustive()
    }
}

impl Secrets {
    /// Secrets from the process environment and the vault at `vault_path`.
    pub fn from_env(vault_path: &Path) -> Self {
        Self::with_env(vault_path, |k| std::env::var(k).ok())
    }

    /// Secrets from `env` (for tests) and the vault at `vault_path`.
    pub fn with_env(
        vault_path: &Path,
        env: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        Secrets {
            env: Box::new(env),
            vault_path: vault_path.to_path_buf(),
        }
    }

    /// The vault file.
    pub fn vault_path(&self) -> &Path {
        &self.vault_path
    }

    /// The secret in environment variable `env_var`, else the vault entry `vault_name`.
    pub async fn get(&self, env_var: &str, vault_name: &str) -> CliResult<Option<SecretString>> {
        if let Some(v) = (self.env)(env_var).filter(|v| !v.is_empty()) {
            return Ok(Some(SecretString::from(v)));
        }
        crate::vault::lookup(&self.vault_path, vault_name, &*self.env).await
    }

    /// An environment variable (not necessarily a secret).
    pub fn env(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|v| !v.is_empty())
    }
}
