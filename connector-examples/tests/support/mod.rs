//! The sandbox rig the binary's tests share: both fakes in-process, the sandbox config in a
//! temporary directory, and the real binary with the demo credentials and nothing from the
//! developer's shell.

#![allow(dead_code)]

use std::path::PathBuf;

use assert_cmd::Command;
use testkit::seed::{self, credentials};
use testkit::{Sandbox, SandboxOptions};

/// Every variable that could leak in from the developer's shell and change the outcome.
pub const OUTER_VARS: &[&str] = &[
    "ML_CONNECTOR_CONFIG",
    "ML_CONNECTOR_STORE_URL",
    "ML_CONNECTOR_VAULT",
    "ML_CONNECTOR_VAULT_KEY",
    "ML_CONNECTOR_VAULT_KEY_FILE",
    "LOOKERSDK_BASE_URL",
    "LOOKERSDK_CLIENT_ID",
    "LOOKERSDK_CLIENT_SECRET",
    "LOOKERSDK_VERIFY_SSL",
    "LOOKERSDK_TIMEOUT",
    "ACUMATICA_URL",
    "ACUMATICA_ENDPOINT_VERSION",
    "ACUMATICA_TENANT",
    "ACUMATICA_BRANCH",
    "ACUMATICA_REQUEST_BRANCH",
    "ACUMATICA_CLIENT_ID",
    "ACUMATICA_CLIENT_SECRET",
    "ACUMATICA_USERNAME",
    "ACUMATICA_PASSWORD",
    "RUST_LOG",
];

pub struct Rig {
    pub sandbox: Sandbox,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Rig {
    /// The sandbox with these options, its config text rewritten by `edit`.
    pub async fn with(options: SandboxOptions, edit: impl FnOnce(String) -> String) -> Rig {
        let sandbox = Sandbox::start(options).await.expect("sandbox starts");
        let dir = tempfile::tempdir().unwrap();
        let text = edit(sandbox.config_toml(&dir.path().display().to_string()));
        let config = dir.path().join("ml-connector.toml");
        std::fs::write(&config, text).unwrap();
        Rig {
            sandbox,
            dir,
            config,
        }
    }

    pub async fn start() -> Rig {
        Self::with(SandboxOptions::default(), |c| c).await
    }

    /// The default sandbox, its config text rewritten by `edit`.
    pub async fn edited(edit: impl FnOnce(String) -> String) -> Rig {
        Self::with(SandboxOptions::default(), edit).await
    }

    /// The binary with the demo secrets and `--config`, without progress bars.
    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("ml-connector").unwrap();
        for v in OUTER_VARS {
            c.env_remove(v);
        }
        c.current_dir(self.dir.path()).arg("--no-progress");
        for (k, v) in self.sandbox.env() {
            c.env(k, v);
        }
        c.arg("--config").arg(&self.config);
        c
    }

    /// The binary as a plain process, for a daemon the test stops itself: the same
    /// environment, `--config` and `--no-progress` as [`cmd`](Self::cmd), then `run --flow
    /// <flow>`, output discarded.
    pub fn daemon(&self, flow: &str) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("ml-connector"));
        for v in OUTER_VARS {
            c.env_remove(v);
        }
        for (k, v) in self.sandbox.env() {
            c.env(k, v);
        }
        c.current_dir(self.dir.path())
            .arg("--no-progress")
            .arg("--config")
            .arg(&self.config)
            .args(["run", "--flow", flow])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    }

    /// The state store the sandbox config names.
    pub fn store(&self) -> PathBuf {
        self.dir.path().join("ml-connector.db")
    }

    /// A client of the Acumatica fake with the demo credentials, to change its data behind
    /// the connector's back.
    pub fn acumatica(&self) -> acumatica_client::Client {
        acumatica_client::Client::builder(self.sandbox.acumatica_url())
            .endpoint_version(testkit::sandbox::DEMO_ENDPOINT_VERSION)
            .tenant(seed::TENANT)
            .oauth_password(
                credentials::ACUMATICA_CLIENT_ID,
                credentials::ACUMATICA_CLIENT_SECRET,
                credentials::ACUMATICA_USERNAME,
                credentials::ACUMATICA_PASSWORD,
            )
            .allow_insecure_http(true)
            .build()
            .unwrap()
    }

    /// Acumatica's vendors out of step with Looker's list: V000001 drifts (name and terms),
    /// V000002 is deleted; the other four still match. The helper client signs out, and the
    /// Acumatica request log starts empty afterwards.
    pub async fn drift_vendors(&self) {
        let acu = self.acumatica();
        acu.put_json(
            "Vendor",
            &serde_json::json!({"VendorID": {"value": "V000001"}, "VendorName": {"value": "Acme (old name)"}, "Terms": {"value": "15D"}}),
            acumatica_client::PutMode::UpdateOnly,
            &acumatica_client::ListQuery::new(),
        )
        .await
        .unwrap();
        acu.delete_by_keys("Vendor", &["V000002"]).await.unwrap();
        acu.logout().await.unwrap();
        assert!(
            self.sandbox
                .acumatica()
                .state()
                .document("Vendor", &["V000002"])
                .is_none()
        );
        self.sandbox.acumatica().log().reset();
    }

    /// `POST /entity/auth/logout` requests the Acumatica fake has seen.
    pub fn acumatica_logouts(&self) -> usize {
        self.sandbox
            .acumatica()
            .log()
            .count("POST", "/entity/auth/logout")
    }

    /// `DELETE /api/4.0/logout` requests the Looker fake has seen.
    pub fn looker_logouts(&self) -> usize {
        self.sandbox
            .looker_server()
            .log()
            .count("DELETE", "/api/4.0/logout")
    }

    /// Acumatica API sessions still counted against the licence.
    pub fn live_sessions(&self) -> usize {
        self.sandbox.acumatica().state().active_sessions()
    }
}

pub fn stdout_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

pub fn stderr_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

/// The binary as a plain process the test signals itself: the same environment, `--config`
/// and `--no-progress` as [`Rig::cmd`], then `args`; stdout and stderr piped.
pub fn process(rig: &Rig, args: &[&str]) -> std::process::Child {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("ml-connector"));
    for v in OUTER_VARS {
        c.env_remove(v);
    }
    for (k, v) in rig.sandbox.env() {
        c.env(k, v);
    }
    c.current_dir(rig.dir.path())
        .arg("--no-progress")
        .arg("--config")
        .arg(&rig.config)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts")
}

/// Sends `signal` (`"TERM"`, `"INT"`) to a child process.
pub fn signal(child: &std::process::Child, signal: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill -{signal} {}", child.id());
}

/// Waits (bounded) until `cond` holds; false when it never did within `secs`.
pub async fn wait_until(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    cond()
}

/// Waits for a child to exit, off the async runtime (the fakes keep serving meanwhile);
/// returns its exit status, stdout, stderr and how long the wait took.
pub async fn finish(
    child: std::process::Child,
) -> (
    std::process::ExitStatus,
    String,
    String,
    std::time::Duration,
) {
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}
