//! `ml-connector deadletters list|discard` and `replay --remap` against the sandbox.

mod support;

use predicates::prelude::*;
use support::{Rig, stdout_of};
use testkit::SandboxOptions;
use testkit::faults::{FaultKind, FaultRule};
use testkit::looker::{DataProblem, LookerConfig};

const FLOW: &str = "overhead_allocation";

fn created(rig: &Rig) -> u64 {
    rig.sandbox
        .acumatica()
        .state()
        .created("JournalTransaction")
}

fn letters(rig: &Rig, all: bool) -> Vec<serde_json::Value> {
    let mut args = vec!["--json", "deadletters", "list", "--flow", FLOW];
    if all {
        args.push("--all");
    }
    let a = rig.cmd().args(&args).assert().code(0);
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    v["dead_letters"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_journals_are_listed_and_replayed_remapped_from_their_rows() {
    let rig = Rig::start().await;
    let refuse = rig.sandbox.acumatica().faults().add(
        FaultRule::new(FaultKind::ServerError { status: 422 })
            .method("PUT")
            .path("/entity/Default/*/JournalTransaction"),
    );
    rig.cmd()
        .args(["run", "--once", "--flow", FLOW])
        .assert()
        .code(predicate::ne(0));
    assert_eq!(created(&rig), 0);
    let open = letters(&rig, false);
    assert!(!open.is_empty());
    assert!(
        open.iter().all(|l| l["remappable"] == true),
        "letters keep their source rows: {open:#?}"
    );
    rig.cmd()
        .args(["deadletters", "list", "--flow", FLOW])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("#"))
        .stdout(predicate::str::contains("yes"))
        .stdout(predicate::str::contains("replay --flow NAME"));

    // The period reopens: replay, mapping the rows again.
    rig.sandbox.acumatica().faults().remove(refuse);
    rig.cmd()
        .args(["replay", "--flow", FLOW, "--remap"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("posted as batch"));
    assert_eq!(created(&rig), open.len() as u64);
    assert!(letters(&rig, false).is_empty());
    rig.cmd()
        .args(["deadletters", "list", "--flow", FLOW])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("No unresolved dead letters."));

    // A reference flow re-maps on every run: --remap is refused, naming it.
    rig.cmd()
        .args(["replay", "--flow", "approved_vendors", "--remap"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("reference flow"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_letter_is_discarded_with_a_reason_and_who_did_it() {
    let looker =
        LookerConfig::default().with_data_problem(DataProblem::unbalanced_journal(10, "WEST"));
    let rig = Rig::with(
        SandboxOptions {
            looker,
            ..Default::default()
        },
        |c| {
            c.replacen(
                "[flows.mapping]\n",
                "[flows.post]\nvalidation = \"per_document\"\n\n[flows.mapping]\n",
                1,
            )
        },
    )
    .await;
    rig.cmd()
        .args(["run", "--once", "--flow", FLOW])
        .assert()
        .code(4);
    let open = letters(&rig, false);
    assert_eq!(open.len(), 1, "{open:#?}");
    let id = open[0]["id"].as_i64().unwrap().to_string();

    rig.cmd()
        .args([
            "deadletters",
            "discard",
            "999",
            "--flow",
            FLOW,
            "--reason",
            "x",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no unresolved dead letter #999"))
        .stderr(predicate::str::contains(format!("#{id}")));
    rig.cmd()
        .args([
            "deadletters",
            "discard",
            &id,
            "--flow",
            FLOW,
            "--reason",
            " ",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--reason"));

    // Without --flow: the post flow holding the dead letter is found.
    rig.cmd()
        .env("USER", "jane")
        .args([
            "deadletters",
            "discard",
            &id,
            "--reason",
            "posted by hand as batch 000123",
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("discarded by jane@"))
        .stdout(predicate::str::contains("posted by hand as batch 000123"));
    assert!(letters(&rig, false).is_empty());
    let all = letters(&rig, true);
    let r = all[0]["resolution"].as_str().unwrap();
    assert!(
        r.starts_with("discarded by jane@") && r.ends_with("posted by hand as batch 000123"),
        "{r}"
    );
    // The audit trail keeps who discarded it and why.
    let a = rig
        .cmd()
        .args([
            "--json",
            "audit",
            "--flow",
            FLOW,
            "--key",
            all[0]["natural_key"].as_str().unwrap(),
        ])
        .assert()
        .code(0);
    let audit: serde_json::Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    let discarded = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["outcome"].as_str().unwrap().contains("discarded"))
        .expect("a discard event");
    assert!(
        discarded["summary"]["by"]
            .as_str()
            .unwrap()
            .starts_with("jane@")
    );
    assert_eq!(
        discarded["summary"]["reason"],
        "posted by hand as batch 000123"
    );
    // Nothing to replay any more.
    rig.cmd()
        .args(["replay", "--flow", FLOW])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("no failed documents"));
}

/// The whole story an operator lives through: a journal is refused for its mapping (a line on
/// an inactive account), the dead letter is listed, re-sending the stored journal fails again,
/// the account map is fixed in the config, `replay --remap` posts the journal once, and the
/// audit trail says who did it and which lines were posted.
#[tokio::test(flavor = "multi_thread")]
async fn a_mapping_failure_is_fixed_in_the_config_and_replayed_once() {
    let looker =
        LookerConfig::default().with_data_problem(DataProblem::inactive_account(10, "WEST"));
    let rig = Rig::with(
        SandboxOptions {
            looker,
            ..Default::default()
        },
        |c| {
            c.replacen(
                "[flows.mapping]\n",
                "[flows.post]\nvalidation = \"per_document\"\n\n[flows.mapping]\n",
                1,
            )
        },
    )
    .await;
    rig.cmd()
        .args(["run", "--once", "--flow", FLOW])
        .assert()
        .code(4);
    let first = created(&rig);
    assert!(first > 0, "the other branches' journals are posted");
    let open = letters(&rig, false);
    assert_eq!(open.len(), 1, "{open:#?}");
    assert_eq!(open[0]["remappable"], true);
    assert!(
        open[0]["error"].as_str().unwrap().contains("65000"),
        "{open:#?}"
    );
    let id = open[0]["id"].as_i64().unwrap();

    // Re-sending the stored journal cannot help: it still names the inactive account.
    rig.cmd()
        .args(["replay", "--flow", FLOW])
        .assert()
        .code(predicate::ne(0));
    assert_eq!(created(&rig), first);
    assert_eq!(letters(&rig, false).len(), 1);

    // The fix: the inactive account is mapped onto the allocated-overhead account.
    let text = std::fs::read_to_string(&rig.config).unwrap();
    let fixed = text
        .replacen(
            "lines.account = { column = \"overhead_allocation.account\" }",
            "lines.account = { column = \"overhead_allocation.account\", map = \"account\" }",
            1,
        )
        .replacen(
            "[flows.mapping.maps.subaccount]",
            "[flows.mapping.maps.account]\n\"69000\" = \"69000\"\n\"69100\" = \"69100\"\n\"65000\" = \"69100\"\n\n[flows.mapping.maps.subaccount]",
            1,
        );
    assert_ne!(fixed, text, "the sandbox config has the expected mapping");
    std::fs::write(&rig.config, fixed).unwrap();

    let a = rig
        .cmd()
        .env("USER", "jane")
        .args(["--json", "replay", "--flow", FLOW, "--remap"])
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(created(&rig), first + 1, "posted exactly once");
    assert!(letters(&rig, false).is_empty());
    let all = letters(&rig, true);
    let resolution = all.iter().find(|l| l["id"] == id).unwrap()["resolution"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        resolution.contains("re-mapped from the current configuration by jane@")
            && resolution.contains("posted as batch"),
        "{resolution}"
    );

    // Once: neither a second replay nor the next run posts it again.
    rig.cmd()
        .args(["replay", "--flow", FLOW, "--remap"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("no failed documents"));
    rig.cmd()
        .args(["run", "--once", "--flow", FLOW])
        .assert()
        .code(0);
    assert_eq!(created(&rig), first + 1);

    // The audit trail of the replay: who, and the lines posted (the corrected account).
    let run_id = v["run"]["run_id"].as_str().unwrap();
    let a = rig
        .cmd()
        .args(["--json", "audit", "--run", run_id])
        .assert()
        .code(0);
    let audit: serde_json::Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    let events = audit["events"].as_array().unwrap();
    assert!(
        events.iter().all(|e| e["summary"]["by"]
            .as_str()
            .is_some_and(|b| b.starts_with("jane@"))),
        "{events:#?}"
    );
    let written = events
        .iter()
        .find(|e| e["stage"] == "written" && e["summary"]["journal_lines"].is_array())
        .expect("the posted journal's event");
    let lines = written["summary"]["journal_lines"].as_array().unwrap();
    assert!(lines.iter().all(|l| l["account"] != "65000"), "{lines:#?}");
    assert!(lines.iter().any(|l| l["account"] == "69100"));
    assert!(lines.iter().all(|l| l["branch"] == "WEST"));
}
