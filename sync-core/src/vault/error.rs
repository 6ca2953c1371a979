//! [`VaultError`]: what went wrong sealing or opening a credential, and what to do.
//!
//! No variant ever carries key material or plaintext; messages name the connection, the kind
//! and key ids only.

use std::path::PathBuf;

use super::KeyId;

/// An error from the credential [`Vault`](super::Vault).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// No master key where one was expected.
    #[error(
        "no master key found in {origin}; set it to a base64-encoded 32-byte key (create one with `MasterKey::generate`) or point the key file setting at a file holding one"
    )]
    KeyMissing {
        /// The environment variable or file looked at.
        origin: String,
    },

    /// A master key was found but is not usable.
    #[error("the master key from {origin} is not usable: {reason}")]
    KeyInvalid {
        /// The environment variable or file it came from.
        origin: String,
        /// Why (e.g. its length); never the key itself.
        reason: String,
    },

    /// A sealed credential names a key id this vault does not hold.
    #[error(
        "credential `{connection}`/`{kind}` was sealed with key {sealed_with}, but this vault holds only {held}; load that master key (keep old keys in the ring after a rotation until every record was re-sealed)"
    )]
    WrongKey {
        /// The connection.
        connection: String,
        /// The credential kind.
        kind: String,
        /// The key id in the record.
        sealed_with: KeyId,
        /// The key ids this vault holds, comma-separated.
        held: String,
    },

    /// A credential would be sealed with a key other than the one the vault's existing
    /// credentials were sealed with: the vault would then need two keys to open, and whoever
    /// holds one of them could not read the rest.
    #[error(
        "the vault already holds {count} credential(s) sealed with key {existing}, and the key loaded now is {current}; sealing `{connection}`/`{kind}` with it would split the vault between two keys. Load the key the vault was sealed with, or re-seal the vault under the new key first (a rotation)"
    )]
    MixedKeys {
        /// The connection being sealed.
        connection: String,
        /// The credential kind being sealed.
        kind: String,
        /// The key loaded now.
        current: KeyId,
        /// The key ids the existing credentials were sealed with, comma-separated.
        existing: String,
        /// How many existing credentials use a key that is not loaded.
        count: usize,
    },

    /// Authentication failed with the right key: the record was altered or moved.
    #[error(
        "credential `{connection}`/`{kind}` failed authentication: its sealed bytes, or their binding to this connection and kind, were altered, or the record was copied from another connection; restore it from a backup or seal the credential again"
    )]
    Tampered {
        /// The connection.
        connection: String,
        /// The credential kind.
        kind: String,
    },

    /// The sealed bytes are not an envelope this version understands.
    #[error(
        "credential `{connection}`/`{kind}` is not a readable envelope: {reason}; it may be truncated or written by a newer ml-connector"
    )]
    Malformed {
        /// The connection.
        connection: String,
        /// The credential kind.
        kind: String,
        /// What was wrong.
        reason: String,
    },

    /// No credential of that connection and kind.
    #[error("no credential `{kind}` is stored for connection `{connection}`; seal one first")]
    NotFound {
        /// The connection.
        connection: String,
        /// The credential kind.
        kind: String,
    },

    /// A connection name or credential kind is not acceptable.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidName {
        /// `connection name` or `credential kind`.
        what: &'static str,
        /// The rejected value (names are not secret).
        value: String,
        /// What is accepted.
        reason: &'static str,
    },

    /// The vault file could not be read or written.
    #[error(
        "could not {action} the vault file {path}: {source}; check that the directory exists and this user may write it"
    )]
    Io {
        /// `read`, `write` or `replace`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The vault file is not valid.
    #[error("the vault file {path} is not valid: {reason}; restore it from a backup")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },

    /// The secret could not be sealed (no system randomness, or a cipher failure).
    #[error("could not seal credential `{connection}`/`{kind}`: {reason}")]
    Seal {
        /// The connection.
        connection: String,
        /// The credential kind.
        kind: String,
        /// Why.
        reason: String,
    },
}

impl VaultError {
    /// True when the record was altered or moved (authentication failed with the right key).
    pub fn is_tampered(&self) -> bool {
        matches!(self, Self::Tampered { .. })
    }

    /// True when the record needs a master key this vault does not hold.
    pub fn is_wrong_key(&self) -> bool {
        matches!(self, Self::WrongKey { .. })
    }
}
