//! Master keys: loading, generating and identifying them.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::VaultError;

/// Length of a master key in bytes (XChaCha20-Poly1305 takes 256-bit keys).
pub const KEY_LEN: usize = 32;

/// Identifies a master key without revealing it: the first 8 bytes of
/// SHA-256(`"ml-connector vault key id v1"` ‖ key), shown as 16 hex digits.
///
/// Records carry the id of the key that sealed them, so opening with a different key is
/// reported as a wrong key (not as tampering), and rotation knows which records to re-seal.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub(super) [u8; 8]);

impl KeyId {
    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A 256-bit master key, held in a zeroize-on-drop secret box.
///
/// # Example
///
/// ```
/// use secrecy::ExposeSecret;
/// use sync_core::vault::MasterKey;
///
/// // Once, at setup: generate a key and store its base64 text in a secret manager.
/// let (key, base64_text) = MasterKey::generate().unwrap();
/// // At start-up: load it again (here from the text; usually `from_env` or `from_file`).
/// let again = MasterKey::from_base64(&base64_text, "setup").unwrap();
/// assert_eq!(key.id(), again.id());
/// assert_eq!(base64_text.expose_secret().len(), 44);
/// ```
pub struct MasterKey {
    id: KeyId,
    key: SecretBox<[u8; KEY_LEN]>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl MasterKey {
    /// A new random key, and its base64 text for safekeeping.
    pub fn generate() -> Result<(Self, SecretString), VaultError> {
        use chacha20poly1305::aead::Generate as _;
        // The AEAD crate's `Generate` draws from the operating system's CSPRNG.
        let bytes = Zeroizing::new(<[u8; KEY_LEN]>::try_generate().map_err(|e| {
            VaultError::KeyInvalid {
                origin: "the operating system's random source".to_owned(),
                reason: format!("it failed: {e}"),
            }
        })?);
        let key = Self::from_bytes(&bytes);
        let text = SecretString::from(STANDARD.encode(&bytes[..]));
        Ok((key, text))
    }

    /// Loads a key from base64 text (standard alphabet, padding optional, surrounding
    /// whitespace ignored). `origin` names where it came from, for error messages.
    pub fn from_base64(text: &SecretString, origin: &str) -> Result<Self, VaultError> {
        let trimmed = text.expose_secret().trim();
        if trimmed.is_empty() {
            return Err(VaultError::KeyMissing {
                origin: origin.to_owned(),
            });
        }
        let decoded = Zeroizing::new(
            STANDARD
                .decode(trimmed)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
                .map_err(|_| VaultError::KeyInvalid {
                    origin: origin.to_owned(),
                    reason: "it is not valid base64".to_owned(),
                })?,
        );
        if decoded.len() != KEY_LEN {
            return Err(VaultError::KeyInvalid {
                origin: origin.to_owned(),
                reason: format!(
                    "it decodes to {} bytes, but a master key has exactly {KEY_LEN}",
                    decoded.len()
                ),
            });
        }
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        bytes.copy_from_slice(&decoded);
        Ok(Self::from_bytes(&bytes))
    }

    /// Loads a key from the environment variable `var` (base64 text).
    pub fn from_env(var: &str) -> Result<Self, VaultError> {
        let origin = format!("environment variable {var}");
        match std::env::var(var) {
            Ok(text) => Self::from_base64(&SecretString::from(text), &origin),
            Err(std::env::VarError::NotPresent) => Err(VaultError::KeyMissing { origin }),
            Err(std::env::VarError::NotUnicode(_)) => Err(VaultError::KeyInvalid {
                origin,
                reason: "it is not valid UTF-8 base64 text".to_owned(),
            }),
        }
    }

    /// Loads a key from a file holding either its base64 text or its 32 raw bytes.
    ///
    /// On Unix a file readable by group or others is accepted with a warning in the log.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, VaultError> {
        let path = path.as_ref();
        let origin = format!("key file {}", path.display());
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                VaultError::KeyMissing {
                    origin: origin.clone(),
                }
            } else {
                VaultError::Io {
                    action: "read",
                    path: path.to_path_buf(),
                    source: e,
                }
            }
        })?);
        warn_if_shared(path);
        if bytes.len() == KEY_LEN {
            let mut raw = Zeroizing::new([0u8; KEY_LEN]);
            raw.copy_from_slice(&bytes);
            return Ok(Self::from_bytes(&raw));
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| VaultError::KeyInvalid {
            origin: origin.clone(),
            reason: format!(
                "it holds {} bytes that are neither a 32-byte raw key nor base64 text",
                bytes.len()
            ),
        })?;
        Self::from_base64(&SecretString::from(text), &origin)
    }

    fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"ml-connector vault key id v1");
        hasher.update(bytes);
        let digest = hasher.finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        Self {
            id: KeyId(id),
            key: SecretBox::init_with_mut(|k: &mut [u8; KEY_LEN]| k.copy_from_slice(bytes)),
        }
    }

    /// The key's id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    pub(super) fn bytes(&self) -> &[u8; KEY_LEN] {
        self.key.expose_secret()
    }
}

#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "master key file is readable by group or others; restrict it with chmod 600");
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_path: &Path) {}
