//! The `ml-connector` binary's config checks that stop a command before it does anything: keys
//! of another kind of flow, and the Acumatica branch settings (`branch` for session logins,
//! `request_branch` for every request) against the sandbox's Acumatica fake.
//!
//! Each test starts both fakes in-process, writes the sandbox config (edited) into a temporary
//! directory, and runs the real binary with the demo credentials in its environment.

mod support;

use support::Rig;

/// The exit code of a usage or configuration error.
const CONFIG_ERROR: i32 = 2;

impl Rig {
    fn acumatica_log(&self) -> &testkit::inspect::RequestLog {
        self.sandbox.acumatica().log()
    }

    fn line_of(&self, prefix: &str) -> usize {
        let text = std::fs::read_to_string(&self.config).unwrap();
        text.lines()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix:?}"))
            + 1
    }

    /// Nothing was sent to either fake and nothing was written next to the config.
    fn assert_nothing_happened(&self) {
        assert!(
            self.acumatica_log().is_empty(),
            "no Acumatica request: {:?}",
            self.acumatica_log().entries()
        );
        let looker = self.sandbox.looker_server().log();
        assert!(
            looker.is_empty(),
            "no Looker request: {:?}",
            looker.entries()
        );
        let mut files: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files, ["ml-connector.toml"], "no store, warehouse or vault");
    }
}

fn stderr_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

// ---- keys of another kind of flow ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn plan_and_run_refuse_a_feed_table_on_a_reference_flow_and_write_nothing() {
    // The sandbox config ends with the approved_vendors reference flow: [flows.feed] appended
    // lands in it.
    // (The sandbox's gl_feed has a [flows.feed] of its own; the appended one is marked.)
    let rig = Rig::edited(|c| format!("{c}\n[flows.feed] # appended\nlag_secs = 60\n")).await;
    let line = rig.line_of("[flows.feed] # appended");
    let kind_line = rig.line_of("kind = \"reference\"");
    for args in [
        &["plan"][..],
        &["run", "--once"],
        &["run", "--once", "--flow", "overhead_allocation"],
    ] {
        let a = rig.cmd().args(args).assert().code(CONFIG_ERROR);
        let err = stderr_of(&a);
        assert!(
            err.contains(&format!("error: {}:{line}:", rig.config.display()))
                && err.contains("flow `approved_vendors`")
                && err.contains("key `flows.feed` belongs to feed flows")
                && err.contains(&format!("kind = \"reference\" (line {kind_line})"))
                && err.contains("hint: ")
                && err.contains("remove the [flows.feed] table"),
            "{args:?}: {err}"
        );
        assert!(
            a.get_output().stdout.is_empty(),
            "{args:?}: nothing on stdout"
        );
        rig.assert_nothing_happened();
    }
    // With --json: the one JSON document on stdout says the same.
    let a = rig
        .cmd()
        .args(["--json", "run", "--once"])
        .assert()
        .code(CONFIG_ERROR);
    let v: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert_eq!(v["exit_code"], CONFIG_ERROR);
    let error = v["error"].as_str().unwrap();
    assert!(
        error.contains("key `flows.feed` belongs to feed flows"),
        "{v}"
    );
    assert!(
        v["hint"].as_str().unwrap().contains("kind = \"feed\""),
        "{v}"
    );
    rig.assert_nothing_happened();
}

#[tokio::test(flavor = "multi_thread")]
async fn run_refuses_a_reference_table_on_a_post_flow_and_writes_nothing() {
    // Into overhead_allocation, the first flow of the sandbox config.
    let rig = Rig::edited(|c| {
        c.replacen(
            "[flows.mapping]\n",
            "[flows.reference]\nlookup_page_size = 10\n\n[flows.mapping]\n",
            1,
        )
    })
    .await;
    let line = rig.line_of("[flows.reference]");
    for args in [&["run", "--once"][..], &["plan", "--flow", "gl_feed"]] {
        let a = rig.cmd().args(args).assert().code(CONFIG_ERROR);
        let err = stderr_of(&a);
        assert!(
            err.contains(&format!("ml-connector.toml:{line}:"))
                && err.contains("flow `overhead_allocation`")
                && err.contains("key `flows.reference` belongs to reference flows")
                && err.contains("kind = \"reference\" to upsert Acumatica records"),
            "{args:?}: {err}"
        );
        rig.assert_nothing_happened();
    }
}

// ---- the Acumatica branch --------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_post_run_with_request_branch_sends_it_on_every_entity_request() {
    let rig = Rig::edited(|c| {
        c.replacen(
            "[acumatica]\n",
            "[acumatica]\nrequest_branch = \"East Region\"\n",
            1,
        )
    })
    .await;
    let a = rig
        .cmd()
        .args(["run", "--once", "--flow", "overhead_allocation"])
        .assert();
    let a = a.code(0);
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(out.contains("posted as batch"), "{out}");

    let entries = rig.acumatica_log().entries();
    let entity: Vec<_> = entries
        .iter()
        .filter(|r| r.path.starts_with("/entity/Default/"))
        .collect();
    let puts = rig
        .acumatica_log()
        .matching("PUT", "/entity/Default/*/JournalTransaction");
    assert_eq!(puts.len(), 3, "three journals posted: {entries:?}");
    assert!(
        entity.iter().any(|r| r.method == "GET"),
        "reference data and lookups read: {entries:?}"
    );
    for r in &entity {
        assert_eq!(
            r.branch.as_deref(),
            Some("East Region"),
            "{} {} carries the branch",
            r.method,
            r.path
        );
        assert_eq!(r.business_date, None, "{} {}", r.method, r.path);
    }
    // Signing in is not an endpoint request: no branch there.
    let sign_in: Vec<_> = entries
        .iter()
        .filter(|r| !r.path.starts_with("/entity/"))
        .collect();
    assert!(!sign_in.is_empty(), "the OAuth token request is logged");
    assert!(sign_in.iter().all(|r| r.branch.is_none()), "{sign_in:?}");
    // `ping` says which branch its requests ran in.
    let a = rig.cmd().args(["--wide", "ping"]).assert().code(0);
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(out.contains("requests in branch \"East Region\""), "{out}");

    // Without request_branch, no header.
    let plain = Rig::edited(|c| c).await;
    plain
        .cmd()
        .args(["plan", "--flow", "overhead_allocation"])
        .assert()
        .code(0);
    let entries = plain.acumatica_log().entries();
    assert!(
        !entries.is_empty() && entries.iter().all(|r| r.branch.is_none()),
        "{entries:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_branch_with_oauth_or_a_bad_request_branch_stops_before_any_request() {
    // The sandbox signs in with OAuth.
    let rig =
        Rig::edited(|c| c.replacen("[acumatica]\n", "[acumatica]\nbranch = \"EAST\"\n", 1)).await;
    let line = rig.line_of("branch = ");
    let a = rig.cmd().args(["plan"]).assert().code(CONFIG_ERROR);
    let err = stderr_of(&a);
    assert!(
        err.contains(&format!("ml-connector.toml:{line}:"))
            && err.contains("`[acumatica] branch`")
            && err.contains("request_branch"),
        "{err}"
    );
    rig.assert_nothing_happened();

    // The same from the environment.
    let rig = Rig::edited(|c| c).await;
    let a = rig
        .cmd()
        .env("ACUMATICA_BRANCH", "EAST")
        .args(["run", "--once"])
        .assert()
        .code(CONFIG_ERROR);
    let err = stderr_of(&a);
    assert!(
        err.contains("ACUMATICA_BRANCH") && err.contains("ACUMATICA_REQUEST_BRANCH"),
        "{err}"
    );
    rig.assert_nothing_happened();

    // A branch name a header cannot carry: acumatica-client's reason, with the key.
    let rig = Rig::edited(|c| {
        c.replacen(
            "[acumatica]\n",
            "[acumatica]\nrequest_branch = \"Région Est\"\n",
            1,
        )
    })
    .await;
    let line = rig.line_of("request_branch = ");
    let a = rig
        .cmd()
        .args(["run", "--once"])
        .assert()
        .code(CONFIG_ERROR);
    let err = stderr_of(&a);
    assert!(
        err.contains(&format!("ml-connector.toml:{line}:"))
            && err.contains("key `acumatica.request_branch`")
            && err.contains("not plain ASCII"),
        "{err}"
    );
    rig.assert_nothing_happened();
}
