//! The credential vault: Acumatica and Looker credentials sealed at rest.
//!
//! Each credential is sealed with XChaCha20-Poly1305 under a 256-bit master key, with a fresh
//! random 24-byte nonce, and associated data binding it to its connection name, credential kind,
//! envelope version and key id. The envelope is
//! `version (1 byte, `[`ENVELOPE_VERSION`]`) ‖ key-id length (1) ‖ key id (8) ‖ nonce (24) ‖
//! ciphertext ‖ tag (16)`; it names the [`KeyId`] that sealed it, so after a rotation old records still open while the old
//! key is loaded, and a record sealed under an unknown key is reported as
//! [`VaultError::WrongKey`], distinct from [`VaultError::Tampered`].
//!
//! The master key comes from an environment variable ([`MasterKey::from_env`], base64) or a
//! key file ([`MasterKey::from_file`]); it is held in a zeroize-on-drop [`secrecy::SecretBox`].
//! Sealed records are kept by a [`CredentialStore`]: [`FileCredentialStore`] (one JSON file,
//! replaced atomically) or [`MemoryCredentialStore`]. Plaintext never reaches the store, the
//! logs, errors or `Debug` output.
//!
//! # Example
//!
//! ```no_run
//! use secrecy::{ExposeSecret, SecretString};
//! use sync_core::vault::{CredentialKind, FileCredentialStore, MasterKey, Vault};
//!
//! # async fn demo() -> Result<(), sync_core::vault::VaultError> {
//! let key = MasterKey::from_env("ML_CONNECTOR_MASTER_KEY")?;
//! let vault = Vault::new(key, FileCredentialStore::new("/etc/ml-connector/credentials.json"));
//! let kind = CredentialKind::new("acumatica-password")?;
//! let secret = SecretString::from(r#"{"name":"api","password":"...","tenant":"Co"}"#);
//! vault.seal("acumatica-prod", &kind, &secret).await?;
//!
//! let opened = vault.open("acumatica-prod", &kind).await?;
//! assert!(opened.expose_secret().contains("tenant"));
//! for info in vault.list().await? {
//!     println!("{} {} sealed with key {}", info.connection, info.kind, info.key_id);
//! }
//! # Ok(())
//! # }
//! ```

use std::fmt;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

mod envelope;
mod error;
mod key;
mod store;

pub use envelope::ENVELOPE_VERSION;
pub use error::VaultError;
pub use key::{KEY_LEN, KeyId, MasterKey};
pub use store::{CredentialStore, FileCredentialStore, MemoryCredentialStore};

/// What a credential is for, e.g. `acumatica-password`, `acumatica-oauth`, `looker-api3`.
///
/// 1 to 64 characters from `a-z`, `0-9`, `-`, `_`, `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CredentialKind(String);

impl CredentialKind {
    /// Validates a kind.
    pub fn new(kind: &str) -> Result<Self, VaultError> {
        let ok = !kind.is_empty()
            && kind.len() <= 64
            && kind
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
        if !ok {
            return Err(VaultError::InvalidName {
                what: "credential kind",
                value: kind.to_owned(),
                reason: "use 1 to 64 characters from a-z, 0-9, `-`, `_` and `.`",
            });
        }
        Ok(Self(kind.to_owned()))
    }

    /// The kind as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A sealed credential as stored: names in clear, the secret only inside `envelope`.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedCredential {
    /// The connection it belongs to.
    pub connection: String,
    /// Its kind.
    pub kind: CredentialKind,
    /// When it was sealed.
    pub sealed_at: DateTime<Utc>,
    /// The envelope bytes.
    pub envelope: Vec<u8>,
}

impl fmt::Debug for SealedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedCredential")
            .field("connection", &self.connection)
            .field("kind", &self.kind)
            .field("sealed_at", &self.sealed_at)
            .field("envelope_len", &self.envelope.len())
            .finish()
    }
}

/// What [`Vault::list`] shows about a credential: never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialInfo {
    /// The connection.
    pub connection: String,
    /// The kind.
    pub kind: CredentialKind,
    /// The master key that sealed it.
    pub key_id: KeyId,
    /// When it was sealed.
    pub sealed_at: DateTime<Utc>,
}

/// Seals, opens, lists and re-keys credentials; see the module docs.
pub struct Vault<S> {
    current: MasterKey,
    previous: Vec<MasterKey>,
    store: S,
}

impl<S: fmt::Debug> fmt::Debug for Vault<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("current_key", &self.current.id())
            .field(
                "previous_keys",
                &self.previous.iter().map(MasterKey::id).collect::<Vec<_>>(),
            )
            .field("store", &self.store)
            .finish()
    }
}

impl<S: CredentialStore> Vault<S> {
    /// A vault sealing with `key`, keeping records in `store`.
    pub fn new(key: MasterKey, store: S) -> Self {
        Self {
            current: key,
            previous: Vec::new(),
            store,
        }
    }

    /// Adds older keys that may still open records (e.g. during a rotation).
    pub fn with_previous_keys(mut self, keys: impl IntoIterator<Item = MasterKey>) -> Self {
        self.previous.extend(keys);
        self
    }

    /// The id of the key new records are sealed with.
    pub fn current_key_id(&self) -> KeyId {
        self.current.id()
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Seals `secret` for `connection`/`kind` (replacing any earlier one).
    #[tracing::instrument(level = "debug", skip(self, secret), fields(kind = %kind), err)]
    pub async fn seal(
        &self,
        connection: &str,
        kind: &CredentialKind,
        secret: &SecretString,
    ) -> Result<CredentialInfo, VaultError> {
        validate_connection(connection)?;
        self.refuse_mixed_keys(connection, kind).await?;
        let envelope = envelope::seal(&self.current, connection, kind.as_str(), secret)?;
        let record = SealedCredential {
            connection: connection.to_owned(),
            kind: kind.clone(),
            sealed_at: Utc::now(),
            envelope,
        };
        let info = CredentialInfo {
            connection: record.connection.clone(),
            kind: record.kind.clone(),
            key_id: self.current.id(),
            sealed_at: record.sealed_at,
        };
        self.store.put(record).await?;
        Ok(info)
    }

    /// Opens the credential of `connection`/`kind`.
    #[tracing::instrument(level = "debug", skip(self), fields(kind = %kind), err)]
    pub async fn open(
        &self,
        connection: &str,
        kind: &CredentialKind,
    ) -> Result<SecretString, VaultError> {
        let record =
            self.store
                .get(connection, kind)
                .await?
                .ok_or_else(|| VaultError::NotFound {
                    connection: connection.to_owned(),
                    kind: kind.to_string(),
                })?;
        self.open_record(&record)
    }

    /// Opens a record read from a store (its names are the binding that is checked).
    pub fn open_record(&self, record: &SealedCredential) -> Result<SecretString, VaultError> {
        let kind = record.kind.as_str();
        let key_id = envelope::key_id(&record.envelope, &record.connection, kind)?;
        let key = self.key(key_id).ok_or_else(|| VaultError::WrongKey {
            connection: record.connection.clone(),
            kind: kind.to_owned(),
            sealed_with: key_id,
            held: self.held(),
        })?;
        envelope::open(key, &record.envelope, &record.connection, kind)
    }

    /// Every credential's connection, kind, key id and seal time (never a secret).
    pub async fn list(&self) -> Result<Vec<CredentialInfo>, VaultError> {
        self.store
            .list()
            .await?
            .into_iter()
            .map(|r| {
                Ok(CredentialInfo {
                    key_id: envelope::key_id(&r.envelope, &r.connection, r.kind.as_str())?,
                    connection: r.connection,
                    kind: r.kind,
                    sealed_at: r.sealed_at,
                })
            })
            .collect()
    }

    /// Removes a credential; returns whether it existed.
    pub async fn remove(
        &self,
        connection: &str,
        kind: &CredentialKind,
    ) -> Result<bool, VaultError> {
        self.store.remove(connection, kind).await
    }

    /// Makes `new_key` the current key and re-seals every record not already sealed with it.
    /// The old current key stays in the ring (as a previous key) so this vault can still open
    /// anything a concurrent writer sealed with it. Returns how many records were re-sealed.
    ///
    /// All or nothing: every record is opened and sealed again in memory first (a record no
    /// loaded key opens, or one that was tampered with, stops the rotation before anything is
    /// written), then all are stored at once ([`CredentialStore::put_all`]). On an error the
    /// store is unchanged and the vault keeps its old current key.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use secrecy::{ExposeSecret, SecretString};
    /// use sync_core::vault::{CredentialKind, MasterKey, MemoryCredentialStore, Vault};
    /// let (old, _) = MasterKey::generate().unwrap();
    /// let (new, _) = MasterKey::generate().unwrap();
    /// let new_id = new.id();
    /// let mut vault = Vault::new(old, MemoryCredentialStore::new());
    /// let kind = CredentialKind::new("password").unwrap();
    /// vault.seal("acumatica", &kind, &SecretString::from("s3cret")).await.unwrap();
    /// assert_eq!(vault.rotate(new).await.unwrap(), 1);
    /// assert_eq!(vault.list().await.unwrap()[0].key_id, new_id);
    /// # });
    /// ```
    #[tracing::instrument(level = "info", skip_all, fields(new_key = %new_key.id()), err)]
    pub async fn rotate(&mut self, new_key: MasterKey) -> Result<usize, VaultError> {
        let new_id = new_key.id();
        let mut resealed = Vec::new();
        for record in self.store.list().await? {
            let kind = record.kind.as_str();
            if envelope::key_id(&record.envelope, &record.connection, kind)? == new_id {
                continue;
            }
            let secret = self.open_record(&record)?;
            let envelope = envelope::seal(&new_key, &record.connection, kind, &secret)?;
            resealed.push(SealedCredential {
                envelope,
                sealed_at: Utc::now(),
                ..record
            });
        }
        let count = resealed.len();
        self.store.put_all(resealed).await?;
        if new_id != self.current.id() {
            let old = std::mem::replace(&mut self.current, new_key);
            self.previous.retain(|k| k.id() != new_id);
            self.previous.push(old);
        }
        tracing::info!(resealed = count, "vault key rotated");
        Ok(count)
    }

    /// Every record opened, to prove the loaded keys open the whole vault and nothing was
    /// altered: [`VaultError::WrongKey`] or [`VaultError::Tampered`] otherwise. Returns the
    /// number of records. The secrets are dropped at once.
    pub async fn verify(&self) -> Result<usize, VaultError> {
        let records = self.store.list().await?;
        for r in &records {
            drop(self.open_record(r)?);
        }
        Ok(records.len())
    }

    /// [`VaultError::MixedKeys`] when other records than `connection`/`kind` were sealed with
    /// a key that is not loaded.
    async fn refuse_mixed_keys(
        &self,
        connection: &str,
        kind: &CredentialKind,
    ) -> Result<(), VaultError> {
        let mut foreign: Vec<String> = Vec::new();
        let mut count = 0;
        for r in self.store.list().await? {
            if r.connection == connection && r.kind == *kind {
                continue;
            }
            let id = envelope::key_id(&r.envelope, &r.connection, r.kind.as_str())?;
            if self.key(id).is_none() {
                count += 1;
                let id = id.to_string();
                if !foreign.contains(&id) {
                    foreign.push(id);
                }
            }
        }
        if count == 0 {
            return Ok(());
        }
        Err(VaultError::MixedKeys {
            connection: connection.to_owned(),
            kind: kind.to_string(),
            current: self.current.id(),
            existing: foreign.join(", "),
            count,
        })
    }

    fn key(&self, id: KeyId) -> Option<&MasterKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id() == id)
    }

    fn held(&self) -> String {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .map(|k| k.id().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn validate_connection(connection: &str) -> Result<(), VaultError> {
    let ok = !connection.trim().is_empty()
        && connection.len() <= 200
        && !connection.chars().any(char::is_control);
    if !ok {
        return Err(VaultError::InvalidName {
            what: "connection name",
            value: connection.to_owned(),
            reason: "use 1 to 200 printable characters",
        });
    }
    Ok(())
}
