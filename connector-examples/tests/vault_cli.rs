//! `ml-connector vault`: one key per vault (storing under another is refused), `vault rotate`
//! re-seals everything under a new key all at once, the key from a file
//! (`ML_CONNECTOR_VAULT_KEY_FILE`), and a wrong key or a tampered vault exits 3, `vault list`
//! included.

mod support;

use predicates::prelude::*;
use support::{Rig, stderr_of, stdout_of};

fn new_key(rig: &Rig) -> String {
    let a = rig
        .cmd()
        .args(["--json", "vault", "new-key"])
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    v["key"].as_str().unwrap().to_owned()
}

fn vault_file(rig: &Rig) -> std::path::PathBuf {
    rig.dir.path().join("ml-connector.vault")
}

fn store(rig: &Rig, key: &str, name: &str, value: &str) -> assert_cmd::assert::Assert {
    rig.cmd()
        .env("ML_CONNECTOR_VAULT_KEY", key)
        .args(["vault", "store", name])
        .write_stdin(value)
        .assert()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_key_per_vault_and_a_wrong_key_fails_even_for_list() {
    let rig = Rig::start().await;
    let (a, b) = (new_key(&rig), new_key(&rig));
    store(&rig, &a, "acumatica.password", "demo-password").code(0);
    let before = std::fs::read(vault_file(&rig)).unwrap();

    // Another key: refused, explained, nothing written.
    let out = store(&rig, &b, "looker.client_secret", "x").code(3);
    let err = stderr_of(&out);
    assert!(
        err.contains("already holds 1 credential(s) sealed with key")
            && err.contains("vault rotate"),
        "{err}"
    );
    assert_eq!(std::fs::read(vault_file(&rig)).unwrap(), before);

    // A wrong key cannot list.
    rig.cmd()
        .env("ML_CONNECTOR_VAULT_KEY", &b)
        .args(["vault", "list"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("ML_CONNECTOR_VAULT_KEY"));
    // The right key from a file lists; both sources at once are refused.
    let key_file = rig.dir.path().join("vault.key");
    std::fs::write(&key_file, &a).unwrap();
    rig.cmd()
        .env("ML_CONNECTOR_VAULT_KEY_FILE", &key_file)
        .args(["vault", "list"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("acumatica.password"));
    rig.cmd()
        .env("ML_CONNECTOR_VAULT_KEY_FILE", &key_file)
        .env("ML_CONNECTOR_VAULT_KEY", &a)
        .args(["vault", "list"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("both are set"));
    // ... and the key file feeds the clients.
    rig.cmd()
        .env_remove("ACUMATICA_PASSWORD")
        .env("ML_CONNECTOR_VAULT_KEY_FILE", &key_file)
        .arg("ping")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("PASS  Acumatica token"));
}

#[tokio::test(flavor = "multi_thread")]
async fn tampering_exits_3() {
    let rig = Rig::start().await;
    let a = new_key(&rig);
    store(&rig, &a, "acumatica.password", "demo-password").code(0);
    // Move the record to another connection: it no longer authenticates.
    let text = std::fs::read_to_string(vault_file(&rig)).unwrap();
    std::fs::write(
        vault_file(&rig),
        text.replace(
            "\"connection\": \"acumatica\"",
            "\"connection\": \"acumatica2\"",
        ),
    )
    .unwrap();
    assert_ne!(std::fs::read_to_string(vault_file(&rig)).unwrap(), text);
    rig.cmd()
        .env("ML_CONNECTOR_VAULT_KEY", &a)
        .args(["vault", "list"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("failed authentication"));
    // A run that needs it: exit 3 as well.
    std::fs::write(
        vault_file(&rig),
        text.replace(
            "\"connection\": \"acumatica\"",
            "\"connection\": \"looker\"",
        )
        .replace("\"kind\": \"password\"", "\"kind\": \"client_secret\""),
    )
    .unwrap();
    rig.cmd()
        .env_remove("LOOKERSDK_CLIENT_SECRET")
        .env("ML_CONNECTOR_VAULT_KEY", &a)
        .args(["run", "--once", "--flow", "overhead_allocation"])
        .assert()
        .code(3);
}

#[tokio::test(flavor = "multi_thread")]
async fn rotate_reseals_every_secret_under_the_new_key_or_nothing() {
    let rig = Rig::start().await;
    let (old, new) = (new_key(&rig), new_key(&rig));
    store(&rig, &old, "acumatica.password", "demo-password").code(0);
    store(&rig, &old, "looker.client_secret", "lk-secret").code(0);

    let a = rig
        .cmd()
        .env("ML_CONNECTOR_VAULT_KEY", &old)
        .env("NEW_VAULT_KEY", &new)
        .args([
            "--json",
            "vault",
            "rotate",
            "--new-key-env",
            "NEW_VAULT_KEY",
        ])
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(v["resealed"], 2);
    // The old key opens nothing any more; the new one opens everything and feeds the clients.
    rig.cmd()
        .env("ML_CONNECTOR_VAULT_KEY", &old)
        .args(["vault", "list"])
        .assert()
        .code(3);
    let a = rig
        .cmd()
        .env("ML_CONNECTOR_VAULT_KEY", &new)
        .args(["--json", "vault", "list"])
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    let ids: Vec<&str> = v["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.iter().all(|i| *i == ids[0]));
    rig.cmd()
        .env_remove("ACUMATICA_PASSWORD")
        .env("ML_CONNECTOR_VAULT_KEY", &new)
        .arg("ping")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("PASS  Acumatica token"));

    // A record no loaded key opens (copied in from a vault under a third key): the rotation
    // stops before writing anything.
    let third = new_key(&rig);
    let other = tempfile::tempdir().unwrap();
    let other_vault = other.path().join("other.vault");
    rig.cmd()
        .env("ML_CONNECTOR_VAULT", &other_vault)
        .env("ML_CONNECTOR_VAULT_KEY", &third)
        .args(["vault", "store", "extra.token"])
        .write_stdin("t")
        .assert()
        .code(0);
    let mut body: serde_json::Value =
        serde_json::from_slice(&std::fs::read(vault_file(&rig)).unwrap()).unwrap();
    let extra: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&other_vault).unwrap()).unwrap();
    body["records"]
        .as_array_mut()
        .unwrap()
        .push(extra["records"][0].clone());
    std::fs::write(vault_file(&rig), serde_json::to_vec_pretty(&body).unwrap()).unwrap();
    let before = std::fs::read(vault_file(&rig)).unwrap();
    let newest = new_key(&rig);
    rig.cmd()
        .env("ML_CONNECTOR_VAULT_KEY", &new)
        .env("NEWEST", &newest)
        .args(["vault", "rotate", "--new-key-env", "NEWEST"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("nothing was changed"));
    assert_eq!(
        std::fs::read(vault_file(&rig)).unwrap(),
        before,
        "not half-written"
    );
}
