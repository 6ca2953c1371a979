//! Vault: round trip, tampering, wrong keys, rotation, and no plaintext anywhere.

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use sync_core::vault::{
    CredentialKind, CredentialStore, FileCredentialStore, MasterKey, MemoryCredentialStore,
    SealedCredential, Vault, VaultError,
};

const SECRET: &str = r#"{"username":"api-user","password":"Tr0ub4dor&3-very-secret"}"#;
const NEEDLES: &[&str] = &["Tr0ub4dor", "api-user", "very-secret"];

fn kind(k: &str) -> CredentialKind {
    CredentialKind::new(k).unwrap()
}

fn key() -> MasterKey {
    MasterKey::generate().unwrap().0
}

fn assert_no_plaintext(haystack: &[u8], what: &str) {
    for needle in NEEDLES {
        assert!(
            !haystack
                .windows(needle.len())
                .any(|w| w == needle.as_bytes()),
            "{what} contains plaintext {needle:?}"
        );
    }
}

#[tokio::test]
async fn round_trip_in_a_file_leaves_no_plaintext_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.json");
    let vault = Vault::new(key(), FileCredentialStore::new(&path));
    let info = vault
        .seal(
            "acumatica-prod",
            &kind("acumatica-password"),
            &SecretString::from(SECRET),
        )
        .await
        .unwrap();
    assert_eq!(info.key_id, vault.current_key_id());
    vault
        .seal(
            "looker-prod",
            &kind("looker-api3"),
            &SecretString::from("client-secret-xyz"),
        )
        .await
        .unwrap();

    let opened = vault
        .open("acumatica-prod", &kind("acumatica-password"))
        .await
        .unwrap();
    assert_eq!(opened.expose_secret(), SECRET);
    assert_eq!(
        vault
            .open("looker-prod", &kind("looker-api3"))
            .await
            .unwrap()
            .expose_secret(),
        "client-secret-xyz"
    );

    let bytes = std::fs::read(&path).unwrap();
    assert_no_plaintext(&bytes, "vault file");
    assert!(!String::from_utf8_lossy(&bytes).contains("client-secret-xyz"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    // A second vault over the same file and key opens it (the file is the whole state).
    let listed = vault.list().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].connection, "acumatica-prod");
    assert_eq!(listed[1].kind.as_str(), "looker-api3");
    assert_no_plaintext(format!("{listed:?}").as_bytes(), "list output");
    assert_no_plaintext(format!("{vault:?} {opened:?}").as_bytes(), "Debug output");
}

#[tokio::test]
async fn each_seal_uses_a_fresh_nonce() {
    let vault = Vault::new(key(), MemoryCredentialStore::new());
    let k = kind("acumatica-password");
    vault
        .seal("c", &k, &SecretString::from(SECRET))
        .await
        .unwrap();
    let first = vault.store().get("c", &k).await.unwrap().unwrap();
    vault
        .seal("c", &k, &SecretString::from(SECRET))
        .await
        .unwrap();
    let second = vault.store().get("c", &k).await.unwrap().unwrap();
    assert_eq!(first.envelope.len(), second.envelope.len());
    assert_ne!(
        first.envelope[10..34],
        second.envelope[10..34],
        "nonce reused"
    );
    assert_ne!(first.envelope, second.envelope);
    assert_eq!(first.envelope[0], sync_core::vault::ENVELOPE_VERSION);
}

async fn sealed_pair() -> (
    Vault<MemoryCredentialStore>,
    SealedCredential,
    SealedCredential,
) {
    let vault = Vault::new(key(), MemoryCredentialStore::new());
    let k = kind("acumatica-password");
    vault
        .seal("prod", &k, &SecretString::from(SECRET))
        .await
        .unwrap();
    vault
        .seal("test", &k, &SecretString::from("the-test-password"))
        .await
        .unwrap();
    let prod = vault.store().get("prod", &k).await.unwrap().unwrap();
    let test = vault.store().get("test", &k).await.unwrap().unwrap();
    (vault, prod, test)
}

#[tokio::test]
async fn a_flipped_ciphertext_byte_is_tampering() {
    let (vault, prod, _) = sealed_pair().await;
    for index in [34, prod.envelope.len() / 2, prod.envelope.len() - 1] {
        let mut bad = prod.clone();
        bad.envelope[index] ^= 0x01;
        let err = vault.open_record(&bad).unwrap_err();
        assert!(err.is_tampered(), "byte {index}: {err:?}");
        assert!(err.to_string().contains("failed authentication"), "{err}");
        assert!(
            err.to_string().contains("`prod`/`acumatica-password`"),
            "{err}"
        );
        assert_no_plaintext(format!("{err} {err:?}").as_bytes(), "error");
    }
    // A flipped nonce byte too.
    let mut bad = prod.clone();
    bad.envelope[12] ^= 0x80;
    assert!(vault.open_record(&bad).unwrap_err().is_tampered());
}

#[tokio::test]
async fn a_changed_binding_is_tampering() {
    let (vault, prod, test) = sealed_pair().await;
    // Relabel the record for another connection, or another kind.
    let moved = SealedCredential {
        connection: "staging".into(),
        ..prod.clone()
    };
    assert!(vault.open_record(&moved).unwrap_err().is_tampered());
    let rekinded = SealedCredential {
        kind: kind("looker-api3"),
        ..prod.clone()
    };
    assert!(vault.open_record(&rekinded).unwrap_err().is_tampered());
    // Swap the sealed bytes of two connections in the store.
    let k = kind("acumatica-password");
    vault
        .store()
        .put(SealedCredential {
            envelope: test.envelope.clone(),
            ..prod.clone()
        })
        .await
        .unwrap();
    vault
        .store()
        .put(SealedCredential {
            envelope: prod.envelope.clone(),
            ..test.clone()
        })
        .await
        .unwrap();
    let err = vault.open("prod", &k).await.unwrap_err();
    assert!(err.is_tampered(), "{err:?}");
    assert!(vault.open("test", &k).await.unwrap_err().is_tampered());
}

#[tokio::test]
async fn another_key_is_a_wrong_key_not_tampering() {
    let (vault, prod, _) = sealed_pair().await;
    let other = Vault::new(key(), MemoryCredentialStore::new());
    let err = other.open_record(&prod).unwrap_err();
    assert!(err.is_wrong_key(), "{err:?}");
    assert!(!err.is_tampered());
    let text = err.to_string();
    assert!(text.contains(&vault.current_key_id().to_string()), "{text}");
    assert!(text.contains(&other.current_key_id().to_string()), "{text}");
    assert_no_plaintext(format!("{err:?}").as_bytes(), "error");
}

#[tokio::test]
async fn malformed_envelopes_are_named() {
    let (vault, prod, _) = sealed_pair().await;
    let short = SealedCredential {
        envelope: prod.envelope[..20].to_vec(),
        ..prod.clone()
    };
    assert!(matches!(
        vault.open_record(&short).unwrap_err(),
        VaultError::Malformed { .. }
    ));
    let mut future = prod.clone();
    future.envelope[0] = 9;
    let err = vault.open_record(&future).unwrap_err();
    assert!(err.to_string().contains("envelope version 9"), "{err}");
}

#[tokio::test]
async fn rotation_reseals_under_the_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.json");
    let (old, old_text) = MasterKey::generate().unwrap();
    let old_id = old.id();
    let mut vault = Vault::new(old, FileCredentialStore::new(&path));
    let k = kind("acumatica-password");
    vault
        .seal("prod", &k, &SecretString::from(SECRET))
        .await
        .unwrap();
    vault
        .seal("test", &k, &SecretString::from("pw-2"))
        .await
        .unwrap();

    let (new, new_text) = MasterKey::generate().unwrap();
    let new_id = new.id();
    assert_eq!(vault.rotate(new).await.unwrap(), 2);
    assert_eq!(vault.current_key_id(), new_id);
    assert!(
        vault
            .list()
            .await
            .unwrap()
            .iter()
            .all(|i| i.key_id == new_id)
    );
    assert_eq!(
        vault.open("prod", &k).await.unwrap().expose_secret(),
        SECRET
    );
    // Running it again with the same key has nothing left to do.
    let same = MasterKey::from_base64(&new_text, "new").unwrap();
    assert_eq!(vault.rotate(same).await.unwrap(), 0);
    assert_eq!(vault.current_key_id(), new_id);

    // A vault holding only the old key can no longer open the records: wrong key.
    let stale = Vault::new(
        MasterKey::from_base64(&old_text, "old").unwrap(),
        FileCredentialStore::new(&path),
    );
    assert_eq!(stale.current_key_id(), old_id);
    assert!(stale.open("prod", &k).await.unwrap_err().is_wrong_key());
    assert_no_plaintext(&std::fs::read(&path).unwrap(), "vault file after rotation");
}

#[tokio::test]
async fn an_interrupted_rotation_still_opens_with_both_keys() {
    let old_text = MasterKey::generate().unwrap().1;
    let load = |t: &SecretString| MasterKey::from_base64(t, "test").unwrap();
    let store = MemoryCredentialStore::new();
    let k = kind("looker-api3");
    let vault = Vault::new(load(&old_text), store);
    vault
        .seal("a", &k, &SecretString::from("secret-a"))
        .await
        .unwrap();
    // A store holding records under two keys (a rotation is all-or-nothing and sealing under
    // another key is refused, so only a hand-made store is like this): a record under the old
    // key and one sealed elsewhere under the new key.
    let (new, new_text) = MasterKey::generate().unwrap();
    let elsewhere = Vault::new(new, MemoryCredentialStore::new());
    elsewhere
        .seal("b", &k, &SecretString::from("secret-b"))
        .await
        .unwrap();
    let store = MemoryCredentialStore::new();
    store
        .put(vault.store().get("a", &k).await.unwrap().unwrap())
        .await
        .unwrap();
    store
        .put(elsewhere.store().get("b", &k).await.unwrap().unwrap())
        .await
        .unwrap();
    let newer = Vault::new(load(&new_text), store);
    // New key current, old key kept: both open.
    let ring = Vault::new(load(&new_text), MemoryCredentialStore::new())
        .with_previous_keys([load(&old_text)]);
    for (conn, want) in [("a", "secret-a"), ("b", "secret-b")] {
        let record = newer.store().get(conn, &k).await.unwrap().unwrap();
        assert_eq!(ring.open_record(&record).unwrap().expose_secret(), want);
    }
}

#[test]
fn master_keys_load_from_env_and_files_with_clear_errors() {
    let (key, text) = MasterKey::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();

    // Base64 text in a file (with a trailing newline, as editors write it).
    let b64 = dir.path().join("key.b64");
    std::fs::write(&b64, format!("{}\n", text.expose_secret())).unwrap();
    assert_eq!(MasterKey::from_file(&b64).unwrap().id(), key.id());
    // Raw 32 bytes.
    let raw = dir.path().join("key.bin");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.expose_secret())
        .unwrap();
    std::fs::write(&raw, &bytes).unwrap();
    assert_eq!(MasterKey::from_file(&raw).unwrap().id(), key.id());

    let err = MasterKey::from_file(dir.path().join("missing")).unwrap_err();
    assert!(matches!(err, VaultError::KeyMissing { .. }), "{err:?}");
    let short = dir.path().join("short");
    std::fs::write(&short, "c2hvcnQ=").unwrap();
    let err = MasterKey::from_file(&short).unwrap_err();
    assert!(err.to_string().contains("decodes to 5 bytes"), "{err}");
    let err = MasterKey::from_base64(&SecretString::from("not base64 !!"), "ML_KEY").unwrap_err();
    assert!(err.to_string().contains("not valid base64"), "{err}");
    assert!(
        !err.to_string().contains("not base64 !!"),
        "the key text must not be echoed: {err}"
    );

    // Environment variable (a name unique to this test).
    let var = "ML_CONNECTOR_TEST_VAULT_KEY_7F3A";
    let err = MasterKey::from_env(var).unwrap_err();
    assert!(err.to_string().contains(var), "{err}");
    // SAFETY: this test alone uses this variable name; no other thread reads it.
    unsafe { std::env::set_var(var, text.expose_secret()) };
    assert_eq!(MasterKey::from_env(var).unwrap().id(), key.id());
    unsafe { std::env::remove_var(var) };

    // Debug never shows the key.
    let debug = format!("{key:?}");
    assert!(debug.contains("[redacted]"));
    assert!(!debug.contains(text.expose_secret()));
}

#[test]
fn names_are_validated() {
    assert!(CredentialKind::new("Acumatica Password").is_err());
    assert!(CredentialKind::new("").is_err());
    assert!(CredentialKind::new("acumatica-oauth").is_ok());
}

#[tokio::test]
async fn open_of_a_missing_credential_says_so() {
    let vault = Vault::new(key(), MemoryCredentialStore::new());
    let err = vault.open("prod", &kind("looker-api3")).await.unwrap_err();
    assert!(matches!(err, VaultError::NotFound { .. }));
    assert!(err.to_string().contains("seal one first"), "{err}");
    let err = vault
        .seal("", &kind("looker-api3"), &SecretString::from("x"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("connection name"), "{err}");
}

#[tokio::test]
async fn sealing_under_another_key_is_refused_and_a_failed_rotation_changes_nothing() {
    let k = kind("password");
    let (a, a_text) = MasterKey::generate().unwrap();
    let a_id = a.id();
    let load = |t: &SecretString| MasterKey::from_base64(t, "test").unwrap();
    let vault = Vault::new(a, MemoryCredentialStore::new());
    vault
        .seal("acumatica", &k, &SecretString::from("one"))
        .await
        .unwrap();
    // The same store, another key: refused, naming both keys; nothing stored.
    let record = vault.store().get("acumatica", &k).await.unwrap().unwrap();
    let store = MemoryCredentialStore::new();
    store.put(record.clone()).await.unwrap();
    let (b, _) = MasterKey::generate().unwrap();
    let b_id = b.id();
    let other = Vault::new(b, store);
    let e = other
        .seal("looker", &k, &SecretString::from("two"))
        .await
        .unwrap_err();
    assert!(matches!(e, VaultError::MixedKeys { count: 1, .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains(&a_id.to_string()) && text.contains(&b_id.to_string()),
        "{text}"
    );
    assert_eq!(other.store().list().await.unwrap().len(), 1);
    // Replacing the one record it would split is allowed (the vault stays on one key).
    other
        .seal("acumatica", &k, &SecretString::from("three"))
        .await
        .unwrap();

    // A rotation that meets a record no loaded key opens writes nothing.
    let store = MemoryCredentialStore::new();
    store.put(record).await.unwrap();
    let foreign = other.store().get("acumatica", &k).await.unwrap().unwrap();
    store
        .put(SealedCredential {
            connection: "looker".into(),
            ..foreign
        })
        .await
        .unwrap();
    let before = store.list().await.unwrap();
    let mut ring = Vault::new(load(&a_text), store);
    let (c, _) = MasterKey::generate().unwrap();
    assert!(ring.rotate(c).await.is_err());
    assert_eq!(
        ring.store().list().await.unwrap(),
        before,
        "nothing re-sealed"
    );
    assert_eq!(ring.current_key_id(), a_id, "the old key stays current");
}
