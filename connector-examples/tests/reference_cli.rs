//! The `ml-connector` binary's reference flows (`kind = "reference"`) against the sandbox: the
//! approved-vendor list in Looker (`finance.approved_vendors`) kept in step with Acumatica's
//! `Vendor` records by `plan`, `run`, `status`, `audit` and `replay`, and bad reference config.
//!
//! Each test starts both fakes in-process, writes the sandbox config (which has the
//! `approved_vendors` flow) into a temporary directory, and runs the real binary with the demo
//! credentials in its environment.

mod support;

use serde_json::{Value, json};
use support::Rig;
use sync_core::store::StateStore as _;
use testkit::seed;

const FLOW: &str = "approved_vendors";
const VENDOR_ROUTE: &str = "/entity/Default/*/Vendor";

impl Rig {
    fn log(&self) -> &testkit::inspect::RequestLog {
        self.sandbox.acumatica().log()
    }

    fn vendor(&self, key: &str) -> Option<Value> {
        self.sandbox.acumatica().state().document("Vendor", &[key])
    }

    fn field(&self, key: &str, name: &str) -> Option<Value> {
        let doc = self.vendor(key)?;
        doc.get(name)
            .map(|v| v.get("value").cloned().unwrap_or(v.clone()))
    }
}

fn stdout_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

fn stderr_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

fn json_of(a: &assert_cmd::assert::Assert) -> Value {
    serde_json::from_str(&stdout_of(a)).unwrap_or_else(|e| panic!("{e}: {}", stdout_of(a)))
}

/// The sandbox config with a receipt limit mapped from the status; the inactive vendor's
/// limit maps to `none`, which the fake refuses with a field error (like a 422), so exactly
/// V000006 is refused and the others get the new field.
fn with_refused_vendor(config: String) -> String {
    let config = config.replace(
        "fields.Status = { column = \"approved_vendors.status\" }\n",
        "fields.Status = { column = \"approved_vendors.status\" }\n\
         fields.MaxReceipt = { column = \"approved_vendors.status\", map = \"receipt\" }\n\n\
         [flows.mapping.maps.receipt]\nActive = \"100\"\n\"On Hold\" = \"50\"\nInactive = \"none\"\n",
    );
    assert!(
        config.contains("maps.receipt"),
        "the sandbox config changed"
    );
    config
}

// ---- run -----------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn run_creates_and_updates_vendors_and_a_rerun_sends_nothing() {
    let rig = Rig::start().await;
    rig.drift_vendors().await;
    let a = rig
        .cmd()
        .args(["run", "--once", "--flow", FLOW])
        .assert()
        .code(0);
    let out = stdout_of(&a);
    assert!(
        out.contains("created: Status, Terms, VendorClass, VendorName"),
        "{out}"
    );
    // The drifted vendor gets only its two changed fields.
    assert!(out.contains("updated: Terms, VendorName"), "{out}");
    assert_eq!(
        out.matches("unchanged").count(),
        5,
        "4 rows and the counts: {out}"
    );
    assert!(
        out.contains(
            "6 row(s) read, 6 record(s): 1 created, 1 updated, 4 unchanged, 0 rejected, 0 failed"
        ),
        "{out}"
    );
    assert_eq!(
        rig.log().count("PUT", VENDOR_ROUTE),
        2,
        "one write per changed vendor"
    );
    assert_eq!(
        rig.field("V000001", "VendorName"),
        Some(json!("Acme Office Supply"))
    );
    assert_eq!(rig.field("V000001", "Terms"), Some(json!("30D")));
    let v2 = &seed::VENDORS[1];
    assert_eq!(rig.field("V000002", "VendorName"), Some(json!(v2.name)));
    assert_eq!(rig.field("V000002", "VendorClass"), Some(json!(v2.class)));
    assert_eq!(rig.sandbox.acumatica().state().created("Vendor"), 1);

    // The rerun finds every vendor in step and sends nothing.
    rig.log().reset();
    let a = rig
        .cmd()
        .args(["--json", "run", "--once", "--flow", FLOW])
        .assert()
        .code(0);
    let v = json_of(&a);
    assert_eq!(v["ok"], true);
    let run = &v["runs"][0];
    assert_eq!(run["kind"], "reference");
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["counts"]["unchanged"], 6, "{run}");
    assert_eq!(run["counts"]["created"], 0);
    assert_eq!(run["counts"]["updated"], 0);
    assert_eq!(run["records"][0]["outcome"], "unchanged");
    assert_eq!(
        rig.log().count("PUT", VENDOR_ROUTE),
        0,
        "the rerun wrote nothing"
    );

    // status and audit show the flow, its runs and the per-vendor trail (names, no values).
    rig.cmd()
        .args(["status", "--flow", FLOW])
        .assert()
        .code(0)
        .stdout(predicates::str::contains(
            "Flow approved_vendors (reference)",
        ))
        .stdout(predicates::str::contains(
            "upserts Vendor records by VendorID",
        ))
        .stdout(predicates::str::contains("succeeded").count(2));
    let first_run = {
        let store = sync_core::store::SqliteStore::open(rig.store())
            .await
            .unwrap();
        let runs = store.recent_runs(FLOW, 5).await.unwrap();
        assert_eq!(runs.len(), 2);
        runs[1].id.to_string()
    };
    let a = rig
        .cmd()
        .args(["--json", "audit", "--run", &first_run])
        .assert()
        .code(0);
    let events = json_of(&a)["events"].as_array().unwrap().clone();
    let v1 = events
        .iter()
        .find(|e| e["natural_key"] == "Vendor/V000001")
        .expect("an audit event for V000001");
    assert_eq!(v1["outcome"], "updated");
    assert_eq!(v1["summary"]["fields"], json!(["Terms", "VendorName"]));
    assert!(!v1.to_string().contains("Acme Office Supply"), "{v1}");
}

#[tokio::test(flavor = "multi_thread")]
async fn run_once_against_the_sandbox_runs_all_three_flows() {
    let rig = Rig::start().await;
    let a = rig.cmd().args(["--json", "run", "--once"]).assert().code(0);
    let v = json_of(&a);
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3, "{v}");
    let vendors = runs
        .iter()
        .find(|r| r["flow"] == FLOW)
        .expect("the reference flow ran");
    assert_eq!(vendors["status"], "succeeded");
    assert_eq!(
        vendors["counts"]["unchanged"],
        seed::VENDORS.len(),
        "the sandbox's Looker list matches its vendors: {vendors}"
    );
    assert_eq!(rig.log().count("PUT", VENDOR_ROUTE), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_vendor_is_dead_lettered_the_run_exits_1_and_the_others_are_written() {
    let rig = Rig::edited(with_refused_vendor).await;
    let a = rig
        .cmd()
        .args(["run", "--once", "--flow", FLOW])
        .assert()
        .code(1);
    let out = stdout_of(&a);
    assert!(out.contains("REJECTED (dead letter #"), "{out}");
    assert!(out.contains("MaxReceipt"), "{out}");
    assert!(out.contains("5 updated, 0 unchanged, 1 rejected"), "{out}");
    assert!(out.contains("completed_with_errors"), "{out}");
    // The other vendors got their limit.
    assert_eq!(rig.field("V000001", "MaxReceipt"), Some(json!(100)));
    assert_eq!(rig.field("V000005", "MaxReceipt"), Some(json!(50)));
    assert_ne!(rig.field("V000006", "MaxReceipt"), Some(json!("none")));

    // status names the refused vendor and how it is retried.
    rig.cmd()
        .args(["status", "--flow", FLOW])
        .assert()
        .code(0)
        .stdout(predicates::str::contains(
            "1 refused record(s), retried by the next run",
        ))
        .stdout(predicates::str::contains("Vendor/V000006"));

    // replay of a reference flow runs it (and says so); only the refused vendor is sent.
    rig.log().reset();
    let a = rig.cmd().args(["replay", "--flow", FLOW]).assert().code(1);
    let out = stdout_of(&a);
    assert!(
        out.contains("is a reference flow: every run retries its failed records"),
        "{out}"
    );
    assert!(out.contains("0 updated, 5 unchanged, 1 rejected"), "{out}");
    assert_eq!(rig.log().count("PUT", VENDOR_ROUTE), 1);
    // --id cannot pick one record of a reference flow.
    let a = rig
        .cmd()
        .args(["replay", "--flow", FLOW, "--id", "1"])
        .assert()
        .code(2);
    let err = stderr_of(&a);
    assert!(
        err.contains("is a reference flow")
            && err.contains("retries its failed records on every run"),
        "{err}"
    );
}

// ---- plan ----------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn plan_shows_creates_and_updates_per_key_and_writes_nothing() {
    let rig = Rig::start().await;
    rig.drift_vendors().await;
    let a = rig.cmd().args(["plan", "--flow", FLOW]).assert().code(0);
    let out = stdout_of(&a);
    assert!(
        out.contains("Flow approved_vendors: 6 row(s) from Looker, 6 Vendor record(s)"),
        "{out}"
    );
    let line = |key: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap_or_else(|| panic!("no line for {key}: {out}"))
            .to_owned()
    };
    assert!(
        line("V000001").contains("would update") && line("V000001").contains("Terms, VendorName")
    );
    assert!(line("V000002").contains("would create"));
    assert!(line("V000003").contains("leave unchanged"));
    assert!(out.contains("V000001 Terms: `15D` -> `30D`"), "{out}");
    assert!(
        out.contains("Plan: 1 to create, 1 to update, 4 unchanged. Nothing was written."),
        "{out}"
    );
    let puts = rig
        .log()
        .entries()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .count();
    assert_eq!(puts, 0, "plan never writes to Acumatica");
    assert_eq!(
        rig.log().count("GET", VENDOR_ROUTE),
        1,
        "one lookup for six keys"
    );
    assert!(
        !rig.store().exists(),
        "plan does not create the state store"
    );

    // JSON: the same, per key.
    let a = rig
        .cmd()
        .args(["--json", "plan", "--flow", FLOW])
        .assert()
        .code(0);
    let plan = &json_of(&a)["plans"][0];
    assert_eq!(plan["kind"], "reference");
    assert_eq!(plan["would_create"], 1);
    assert_eq!(plan["would_update"], 1);
    let v1 = &plan["records"][0];
    assert_eq!(v1["key"], "V000001");
    assert_eq!(v1["action"], "update");
    assert_eq!(v1["fields"], json!(["Terms", "VendorName"]));
    assert_eq!(
        v1["changes"]["Terms"],
        json!({"current": "15D", "new": "30D"})
    );
    assert!(!rig.store().exists());
    assert_eq!(rig.sandbox.acumatica().state().created("Vendor"), 0);

    // After a run has created the store, a plan still adds no run to it.
    rig.cmd()
        .args(["run", "--once", "--flow", FLOW])
        .assert()
        .code(0);
    rig.cmd().args(["plan", "--flow", FLOW]).assert().code(0);
    let store = sync_core::store::SqliteStore::open(rig.store())
        .await
        .unwrap();
    assert_eq!(store.recent_runs(FLOW, 5).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_of_every_flow_includes_the_reference_flow_and_an_unmapped_value_exits_4() {
    let rig = Rig::start().await;
    let a = rig.cmd().args(["--json", "plan"]).assert().code(0);
    let v = json_of(&a);
    let plans = v["plans"].as_array().unwrap();
    assert_eq!(plans.len(), 2, "post and reference, not the feed: {v}");
    assert_eq!(plans[1]["flow"], FLOW);
    assert_eq!(plans[1]["unchanged"], 6);

    // A status the map does not know: every problem listed, exit 4, nothing written.
    let rig = Rig::edited(|c| with_refused_vendor(c).replace("Inactive = \"none\"\n", "")).await;
    let a = rig.cmd().args(["plan", "--flow", FLOW]).assert().code(4);
    let err = stderr_of(&a);
    assert!(
        err.contains("flow `approved_vendors`")
            && err.contains("mapping problem(s)")
            && err.contains("Inactive"),
        "{err}"
    );
    assert_eq!(rig.log().count("PUT", VENDOR_ROUTE), 0);
}

// ---- configuration -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_reference_mapping_names_the_flow_line_and_key() {
    let rig =
        Rig::edited(|c| c.replace("fields.Terms = { column = ", "fields.Terms = { colum = ")).await;
    // The reference flow's [flows.mapping] is the last one in the sandbox config.
    let text = std::fs::read_to_string(&rig.config).unwrap();
    let line = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("[flows.mapping]"))
        .last()
        .unwrap()
        .0
        + 1;
    let a = rig
        .cmd()
        .args(["run", "--once", "--flow", FLOW])
        .assert()
        .code(2);
    let err = stderr_of(&a);
    assert!(
        err.contains(&format!("ml-connector.toml:{line}:"))
            && err.contains("flow `approved_vendors`")
            && err.contains("key `flows.mapping.fields.Terms.colum`")
            && err.contains("expected one of `column`"),
        "line {line}: {err}"
    );
    assert_eq!(rig.log().count("*", VENDOR_ROUTE), 0);

    // Without a key: the key named, and the same exit code for every command.
    let rig = Rig::edited(|c| {
        c.replace(
            "key = { field = \"VendorID\", column = \"approved_vendors.vendor_id\" }\n",
            "",
        )
    })
    .await;
    let a = rig.cmd().args(["plan", "--flow", FLOW]).assert().code(2);
    let err = stderr_of(&a);
    assert!(
        err.contains("flow `approved_vendors`") && err.contains("missing field `key`"),
        "{err}"
    );
}

// ---- keys Acumatica numbers itself (issue 12 item 7) ------------------------------------------

/// The sandbox config with `[flows.reference] server_keys = "<mode>"` on the vendor flow.
fn with_server_keys(config: String, mode: &str) -> String {
    let anchor = "[flows.looker]\nmodel = \"finance\"\nexplore = \"approved_vendors\"\n";
    assert!(config.contains(anchor), "the sandbox config changed");
    config.replace(
        anchor,
        &format!("[flows.reference]\nserver_keys = \"{mode}\"\n\n{anchor}"),
    )
}

fn vendors_named(rig: &Rig, name: &str) -> Vec<String> {
    rig.sandbox
        .acumatica()
        .state()
        .documents("Vendor")
        .iter()
        .filter(|v| v["VendorName"]["value"] == json!(name))
        .map(|v| {
            v["VendorID"]["value"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// V000002 is missing and the site numbers vendors itself: by default the run creates it once
/// (as C1165), stops with exit 1 saying what happened, and the rerun writes nothing; with
/// `server_keys = "map"` the next run keeps C1165, `plan` shows the mapping, and nothing is
/// created again.
#[tokio::test(flavor = "multi_thread")]
async fn a_vendor_the_site_renumbers_is_refused_by_default_and_mapped_on_request() {
    let rig = Rig::start().await;
    rig.drift_vendors().await;
    let v2_name = seed::VENDORS[1].name;
    rig.sandbox
        .acumatica()
        .state()
        .number_keys("Vendor", Some("C1165"))
        .unwrap();
    let a = rig
        .cmd()
        .args(["run", "--once", "--flow", FLOW])
        .assert()
        .code(1);
    let err = stderr_of(&a);
    assert!(err.contains("`V000002` was saved as `C1165`"), "{err}");
    assert!(err.contains("server_keys = \"map\""), "{err}");
    assert_eq!(vendors_named(&rig, v2_name), ["C1165"]);
    rig.log().reset();
    let a = rig
        .cmd()
        .args(["run", "--once", "--flow", FLOW])
        .assert()
        .code(1);
    assert!(stderr_of(&a).contains("`V000002` was saved as `C1165`"));
    assert_eq!(
        rig.log().count("PUT", VENDOR_ROUTE),
        0,
        "the rerun wrote nothing"
    );
    assert_eq!(vendors_named(&rig, v2_name), ["C1165"], "no second copy");
    let a = rig.cmd().args(["plan", "--flow", FLOW]).assert().code(0);
    let out = stdout_of(&a);
    assert!(out.contains("A run would stop before writing"), "{out}");
    assert!(out.contains("V000002 (saved as C1165)"), "{out}");

    // The person chooses map.
    let text = std::fs::read_to_string(&rig.config).unwrap();
    std::fs::write(&rig.config, with_server_keys(text, "map")).unwrap();
    let a = rig.cmd().args(["plan", "--flow", FLOW]).assert().code(0);
    let out = stdout_of(&a);
    assert!(out.contains("V000002 (Acumatica C1165)"), "{out}");
    let a = rig
        .cmd()
        .args(["--json", "run", "--once", "--flow", FLOW])
        .assert()
        .code(0);
    let v = json_of(&a);
    let rec = v["runs"][0]["records"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["key"] == "V000002").cloned())
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(rec["saved_key"], "C1165", "{v}");
    assert_eq!(rec["outcome"], "unchanged", "{v}");
    assert_eq!(vendors_named(&rig, v2_name), ["C1165"]);
    assert!(rig.vendor("V000002").is_none());
    let store = sync_core::store::SqliteStore::open(rig.store())
        .await
        .unwrap();
    let map = store.key_mappings(FLOW).await.unwrap();
    assert_eq!(map.len(), 1);
    assert_eq!(map[0].saved_key.as_deref(), Some("C1165"));
}

/// Under `server_keys = "map"`, the answer to V000002's insert is lost on a site that numbers
/// vendors: the rerun does not insert it again (exit 1, saying what to do), `keys` lists the
/// entry, `keys --map` (confirmed) records the key the person found, and the next run leaves
/// the vendor as it is. One vendor throughout.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_insert_on_a_numbering_site_is_settled_with_keys_map() {
    let rig = Rig::edited(|c| with_server_keys(c, "map")).await;
    rig.drift_vendors().await;
    let v2_name = seed::VENDORS[1].name;
    let acu = rig.sandbox.acumatica();
    acu.state().number_keys("Vendor", Some("C1165")).unwrap();
    acu.faults().add(
        testkit::faults::FaultRule::new(testkit::faults::FaultKind::DropAfterWrite)
            .method("PUT")
            .path(VENDOR_ROUTE)
            .after(1, 1),
    );
    // V000001's update is first; V000002's insert loses its answer.
    rig.cmd()
        .args(["run", "--once", "--flow", FLOW])
        .assert()
        .code(1);
    assert_eq!(vendors_named(&rig, v2_name), ["C1165"]);
    let a = rig
        .cmd()
        .args(["run", "--once", "--flow", FLOW])
        .assert()
        .code(1);
    let out = stdout_of(&a);
    assert!(out.contains("not inserted again"), "{out}");
    assert_eq!(vendors_named(&rig, v2_name), ["C1165"], "no second copy");

    let a = rig.cmd().args(["keys", "--flow", FLOW]).assert().code(0);
    let out = stdout_of(&a);
    assert!(
        out.contains("V000002") && out.contains("inserting"),
        "{out}"
    );
    let a = rig
        .cmd()
        .args(["keys", "--flow", FLOW, "--map", "V000002=C1165"])
        .assert()
        .code(2);
    assert!(stderr_of(&a).contains("add --yes to confirm"));
    rig.cmd()
        .args(["keys", "--flow", FLOW, "--map", "V000002=C1165", "--yes"])
        .assert()
        .code(0);
    let a = rig
        .cmd()
        .args(["--json", "run", "--once", "--flow", FLOW])
        .assert()
        .code(0);
    let v = json_of(&a);
    let rec = v["runs"][0]["records"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["key"] == "V000002").cloned())
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(rec["saved_key"], "C1165", "{v}");
    assert_eq!(vendors_named(&rig, v2_name), ["C1165"]);
    let a = rig
        .cmd()
        .args(["--wide", "audit", "--flow", FLOW, "--key", "Vendor/V000002"])
        .assert()
        .code(0);
    assert!(stdout_of(&a).contains("key_mapped_by_hand"));
}
