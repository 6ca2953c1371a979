//! Where sealed credentials live: the [`CredentialStore`] trait, a JSON file and memory.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::{CredentialKind, SealedCredential, VaultError};

/// Storage for sealed credentials. It only ever sees ciphertext.
#[async_trait]
pub trait CredentialStore: Send + Sync + fmt::Debug {
    /// The record of `connection`/`kind`.
    async fn get(
        &self,
        connection: &str,
        kind: &CredentialKind,
    ) -> Result<Option<SealedCredential>, VaultError>;

    /// Inserts or replaces the record of its connection and kind.
    async fn put(&self, record: SealedCredential) -> Result<(), VaultError>;

    /// Every record, ordered by connection then kind.
    async fn list(&self) -> Result<Vec<SealedCredential>, VaultError>;

    /// Removes a record; returns whether it existed.
    async fn remove(&self, connection: &str, kind: &CredentialKind) -> Result<bool, VaultError>;

    /// Inserts or replaces several records **all at once**: afterwards either every record is
    /// stored or (on an error) none is. [`Vault::rotate`](super::Vault::rotate) relies on it.
    /// The default stores them one by one, which is only atomic for a store that cannot fail
    /// half-way; both stores here override it.
    async fn put_all(&self, records: Vec<SealedCredential>) -> Result<(), VaultError> {
        for r in records {
            self.put(r).await?;
        }
        Ok(())
    }
}

type Records = BTreeMap<(String, String), SealedCredential>;

/// Sealed credentials in memory (for tests and short-lived tools).
#[derive(Debug, Default)]
pub struct MemoryCredentialStore {
    records: Mutex<Records>,
}

impl MemoryCredentialStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl CredentialStore for MemoryCredentialStore {
    async fn get(
        &self,
        connection: &str,
        kind: &CredentialKind,
    ) -> Result<Option<SealedCredential>, VaultError> {
        let records = self.records.lock().await;
        Ok(records
            .get(&(connection.to_owned(), kind.as_str().to_owned()))
            .cloned())
    }

    async fn put(&self, record: SealedCredential) -> Result<(), VaultError> {
        let mut records = self.records.lock().await;
        records.insert(
            (record.connection.clone(), record.kind.as_str().to_owned()),
            record,
        );
        Ok(())
    }

    async fn list(&self) -> Result<Vec<SealedCredential>, VaultError> {
        Ok(self.records.lock().await.values().cloned().collect())
    }

    async fn remove(&self, connection: &str, kind: &CredentialKind) -> Result<bool, VaultError> {
        let mut records = self.records.lock().await;
        Ok(records
            .remove(&(connection.to_owned(), kind.as_str().to_owned()))
            .is_some())
    }

    async fn put_all(&self, new: Vec<SealedCredential>) -> Result<(), VaultError> {
        let mut records = self.records.lock().await;
        for r in new {
            records.insert((r.connection.clone(), r.kind.as_str().to_owned()), r);
        }
        Ok(())
    }
}

/// Sealed credentials in one JSON file.
///
/// Format: `{"format": "ml-connector-vault/1", "records": [{"connection", "kind",
/// "sealed_at", "envelope"}]}` with the envelope in base64. Every change rewrites a temporary
/// file beside it, flushes it to disk and renames it over the old one, so a crash leaves either
/// the old or the new file, never half of one. On Unix the file is created with mode 0600.
/// Writers in one process are serialised; do not share the file between processes that write.
pub struct FileCredentialStore {
    path: PathBuf,
    lock: Mutex<()>,
}

impl fmt::Debug for FileCredentialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileCredentialStore")
            .field("path", &self.path)
            .finish()
    }
}

const FILE_FORMAT: &str = "ml-connector-vault/1";

#[derive(Serialize, Deserialize)]
struct FileBody {
    format: String,
    records: Vec<FileRecord>,
}

#[derive(Serialize, Deserialize)]
struct FileRecord {
    connection: String,
    kind: String,
    sealed_at: DateTime<Utc>,
    envelope: String,
}

impl FileCredentialStore {
    /// A store in the file at `path` (created on first write).
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
            lock: Mutex::new(()),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn load(&self) -> Result<Records, VaultError> {
        let bytes = match tokio::fs::read(&self.path).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Records::new()),
            Err(e) => {
                return Err(VaultError::Io {
                    action: "read",
                    path: self.path.clone(),
                    source: e,
                });
            }
        };
        let corrupt = |reason: String| VaultError::Corrupt {
            path: self.path.clone(),
            reason,
        };
        let body: FileBody =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("not vault JSON: {e}")))?;
        if body.format != FILE_FORMAT {
            return Err(corrupt(format!(
                "format {:?} is not {FILE_FORMAT:?}",
                body.format
            )));
        }
        let mut records = Records::new();
        for r in body.records {
            let kind = CredentialKind::new(&r.kind).map_err(|e| corrupt(e.to_string()))?;
            let envelope = STANDARD.decode(&r.envelope).map_err(|_| {
                corrupt(format!(
                    "the envelope of `{}`/`{}` is not base64",
                    r.connection, r.kind
                ))
            })?;
            records.insert(
                (r.connection.clone(), r.kind.clone()),
                SealedCredential {
                    connection: r.connection,
                    kind,
                    sealed_at: r.sealed_at,
                    envelope,
                },
            );
        }
        Ok(records)
    }

    async fn save(&self, records: &Records) -> Result<(), VaultError> {
        let body = FileBody {
            format: FILE_FORMAT.to_owned(),
            records: records
                .values()
                .map(|r| FileRecord {
                    connection: r.connection.clone(),
                    kind: r.kind.as_str().to_owned(),
                    sealed_at: r.sealed_at,
                    envelope: STANDARD.encode(&r.envelope),
                })
                .collect(),
        };
        let json = serde_json::to_vec_pretty(&body).map_err(|e| VaultError::Corrupt {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let io = |action: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| VaultError::Io {
                action,
                path,
                source,
            }
        };
        // A leftover temporary file (from a crash) may have other permissions: start afresh.
        let _ = tokio::fs::remove_file(&tmp).await;
        {
            use tokio::io::AsyncWriteExt as _;
            let mut options = tokio::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            options.mode(0o600);
            let mut file = options.open(&tmp).await.map_err(io("write", &tmp))?;
            file.write_all(&json).await.map_err(io("write", &tmp))?;
            file.sync_all().await.map_err(io("write", &tmp))?;
        }
        tokio::fs::rename(&tmp, &self.path)
            .await
            .map_err(io("replace", &self.path))?;
        // Make the rename itself durable (Unix: sync the directory entry).
        #[cfg(unix)]
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(dir) = tokio::fs::File::open(dir).await
        {
            let _ = dir.sync_all().await;
        }
        Ok(())
    }
}

#[async_trait]
impl CredentialStore for FileCredentialStore {
    async fn get(
        &self,
        connection: &str,
        kind: &CredentialKind,
    ) -> Result<Option<SealedCredential>, VaultError> {
        let _guard = self.lock.lock().await;
        let mut records = self.load().await?;
        Ok(records.remove(&(connection.to_owned(), kind.as_str().to_owned())))
    }

    async fn put(&self, record: SealedCredential) -> Result<(), VaultError> {
        let _guard = self.lock.lock().await;
        let mut records = self.load().await?;
        records.insert(
            (record.connection.clone(), record.kind.as_str().to_owned()),
            record,
        );
        self.save(&records).await
    }

    async fn list(&self) -> Result<Vec<SealedCredential>, VaultError> {
        let _guard = self.lock.lock().await;
        Ok(self.load().await?.into_values().collect())
    }

    /// One rewrite of the file (temporary file, flush, rename): all records or none.
    async fn put_all(&self, new: Vec<SealedCredential>) -> Result<(), VaultError> {
        let _guard = self.lock.lock().await;
        let mut records = self.load().await?;
        for r in new {
            records.insert((r.connection.clone(), r.kind.as_str().to_owned()), r);
        }
        self.save(&records).await
    }

    async fn remove(&self, connection: &str, kind: &CredentialKind) -> Result<bool, VaultError> {
        let _guard = self.lock.lock().await;
        let mut records = self.load().await?;
        let existed = records
            .remove(&(connection.to_owned(), kind.as_str().to_owned()))
            .is_some();
        if existed {
            self.save(&records).await?;
        }
        Ok(existed)
    }
}
