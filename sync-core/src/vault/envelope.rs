//! The sealed envelope: `version ‖ key-id length ‖ key id ‖ nonce ‖ ciphertext+tag`.
//!
//! - version: one byte, [`ENVELOPE_VERSION`];
//! - key id: length byte (8) then the [`KeyId`] of the master key that sealed it;
//! - nonce: 24 random bytes, fresh per seal (XChaCha20's 192-bit nonce makes random nonces
//!   safe for any realistic number of records);
//! - ciphertext with the 16-byte Poly1305 tag.
//!
//! The associated data binds the ciphertext to its context: a domain string, the version, the
//! connection name, the credential kind and the key id, each length-prefixed. A record copied
//! to another connection or kind, or relabelled, fails authentication.

use chacha20poly1305::aead::{Aead, Generate as _, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::{KeyId, MasterKey, VaultError};

/// The envelope (and associated-data schema) version written today.
pub const ENVELOPE_VERSION: u8 = 1;
const DOMAIN: &[u8] = b"ml-connector/vault";
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + 1 + KEY_ID_LEN + NONCE_LEN;

fn aad(version: u8, connection: &str, kind: &str, key_id: &KeyId) -> Vec<u8> {
    let mut out = Vec::with_capacity(DOMAIN.len() + connection.len() + kind.len() + 32);
    for part in [
        DOMAIN,
        &[version][..],
        connection.as_bytes(),
        kind.as_bytes(),
        &key_id.0[..],
    ] {
        // Length prefixes make the encoding unambiguous ("ab"+"c" differs from "a"+"bc").
        let len = u16::try_from(part.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// Seals `secret` for `connection`/`kind` under `key`.
pub(super) fn seal(
    key: &MasterKey,
    connection: &str,
    kind: &str,
    secret: &SecretString,
) -> Result<Vec<u8>, VaultError> {
    let seal_err = |reason: String| VaultError::Seal {
        connection: connection.to_owned(),
        kind: kind.to_owned(),
        reason,
    };
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let nonce = XNonce::try_generate()
        .map_err(|e| seal_err(format!("the operating system's random source failed: {e}")))?;
    let key_id = key.id();
    let aad = aad(ENVELOPE_VERSION, connection, kind, &key_id);
    let ciphertext = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: secret.expose_secret().as_bytes(),
                aad: &aad,
            },
        )
        .map_err(|_| seal_err("the cipher refused the input".to_owned()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len());
    out.push(ENVELOPE_VERSION);
    out.push(KEY_ID_LEN as u8);
    out.extend_from_slice(&key_id.0);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Reads the key id from an envelope's header.
pub(super) fn key_id(envelope: &[u8], connection: &str, kind: &str) -> Result<KeyId, VaultError> {
    let malformed = |reason: String| VaultError::Malformed {
        connection: connection.to_owned(),
        kind: kind.to_owned(),
        reason,
    };
    if envelope.len() < HEADER_LEN + TAG_LEN {
        return Err(malformed(format!(
            "it is {} bytes long, shorter than the {} bytes of an empty envelope",
            envelope.len(),
            HEADER_LEN + TAG_LEN
        )));
    }
    if envelope[0] != ENVELOPE_VERSION {
        return Err(malformed(format!(
            "envelope version {} is not supported (this build reads version {ENVELOPE_VERSION})",
            envelope[0]
        )));
    }
    if usize::from(envelope[1]) != KEY_ID_LEN {
        return Err(malformed(format!(
            "key id length {} is not {KEY_ID_LEN}",
            envelope[1]
        )));
    }
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&envelope[2..2 + KEY_ID_LEN]);
    Ok(KeyId(id))
}

/// Opens an envelope sealed for `connection`/`kind`, with the key whose id it names.
pub(super) fn open(
    key: &MasterKey,
    envelope: &[u8],
    connection: &str,
    kind: &str,
) -> Result<SecretString, VaultError> {
    let key_id = key_id(envelope, connection, kind)?;
    debug_assert_eq!(key_id, key.id());
    let nonce_start = 2 + KEY_ID_LEN;
    let nonce =
        XNonce::try_from(&envelope[nonce_start..nonce_start + NONCE_LEN]).map_err(|_| {
            VaultError::Malformed {
                connection: connection.to_owned(),
                kind: kind.to_owned(),
                reason: "the nonce is not 24 bytes".to_owned(),
            }
        })?;
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let aad = aad(envelope[0], connection, kind, &key_id);
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: &envelope[HEADER_LEN..],
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Tampered {
                connection: connection.to_owned(),
                kind: kind.to_owned(),
            })?,
    );
    let text = std::str::from_utf8(&plain).map_err(|_| VaultError::Malformed {
        connection: connection.to_owned(),
        kind: kind.to_owned(),
        reason: "the opened secret is not UTF-8 text".to_owned(),
    })?;
    Ok(SecretString::from(text))
}
