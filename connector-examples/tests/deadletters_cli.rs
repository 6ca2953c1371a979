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

    rig.cmd()
        .env("USER", "jane")
        .args([
            "deadletters",
            "discard",
            &id,
            "--flow",
            FLOW,
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
    // Nothing to replay any more.
    rig.cmd()
        .args(["replay", "--flow", FLOW])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("no failed documents"));
}
