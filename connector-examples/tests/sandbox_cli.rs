//! The README's reference run can be reproduced: against a fresh `ml-connector sandbox`, the
//! `approved_vendors` flow creates one vendor and updates another (Acumatica's vendors start
//! out of step with Looker's approved list), and a rerun changes nothing.

#![cfg(unix)]

mod support;

use std::process::{Command, Stdio};

use support::{OUTER_VARS, wait_until};
use testkit::seed::credentials;

fn bin() -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("ml-connector"));
    for v in OUTER_VARS {
        c.env_remove(v);
    }
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reference_run_against_a_fresh_sandbox_creates_one_vendor_and_updates_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ml-connector.toml");
    let mut sandbox = bin()
        .current_dir(dir.path())
        .args(["sandbox", "--duration", "120", "--write-config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_until(30, || config.exists()).await,
        "the sandbox wrote its config"
    );
    let run = || {
        let out = bin()
            .current_dir(dir.path())
            .env(
                "ACUMATICA_CLIENT_SECRET",
                credentials::ACUMATICA_CLIENT_SECRET,
            )
            .env("ACUMATICA_PASSWORD", credentials::ACUMATICA_PASSWORD)
            .env("LOOKERSDK_CLIENT_SECRET", credentials::LOOKER_CLIENT_SECRET)
            .args(["--no-progress", "--config"])
            .arg(&config)
            .args(["run", "--once", "--flow", "approved_vendors"])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = run();
    assert!(
        first.contains("1 created, 1 updated, 4 unchanged"),
        "the README's reference run: {first}"
    );
    assert!(first.contains("updated: Terms, VendorName"), "{first}");
    let again = run();
    assert!(
        again.contains("0 created, 0 updated, 6 unchanged"),
        "{again}"
    );
    sandbox.kill().unwrap();
    sandbox.wait().unwrap();
}
