//! A renamed post flow against the sandbox: `plan` warns loudly (naming the batches and
//! key_namespace), `run` refuses under `post.foreign_journals = "refuse"`, and with
//! `key_namespace` set to the old name the renamed flow recognises its journals.

mod support;

use predicates::prelude::*;
use support::{Rig, stdout_of};

fn created(rig: &Rig) -> u64 {
    rig.sandbox
        .acumatica()
        .state()
        .created("JournalTransaction")
}

fn rewrite(rig: &Rig, edit: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(&rig.config).unwrap();
    std::fs::write(&rig.config, edit(text)).unwrap();
}

fn renamed(text: String) -> String {
    text.replacen(
        "name = \"overhead_allocation\"",
        "name = \"allocation_v2\"",
        1,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_renamed_flow_is_warned_about_refused_and_recognised_with_key_namespace() {
    let rig = Rig::start().await;
    rig.cmd()
        .args(["run", "--once", "--flow", "overhead_allocation"])
        .assert()
        .code(0);
    let posted = created(&rig);
    assert!(posted > 0);
    let batches: Vec<String> = rig
        .sandbox
        .acumatica()
        .state()
        .journal_transactions()
        .into_iter()
        .filter(|b| {
            b.description
                .as_deref()
                .is_some_and(|d| d.contains("[mlc:"))
        })
        .map(|b| b.batch_nbr)
        .collect();
    assert_eq!(batches.len() as u64, posted);

    // Renamed: the plan warns, naming every batch and key_namespace.
    rewrite(&rig, renamed);
    let a = rig
        .cmd()
        .args(["plan", "--flow", "allocation_v2"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("WARNING"))
        .stdout(predicate::str::contains("key_namespace"));
    let out = stdout_of(&a);
    for b in &batches {
        assert!(out.contains(b.as_str()), "{b} not named: {out}");
    }
    let a = rig
        .cmd()
        .args(["--json", "plan", "--flow", "allocation_v2"])
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    assert_eq!(
        v["plans"][0]["foreign_journals"].as_array().unwrap().len(),
        batches.len(),
        "{v}"
    );

    // `refuse`: the run stops before posting anything.
    rewrite(&rig, |t| {
        t.replacen(
            "[flows.mapping]\n",
            "[flows.post]\nforeign_journals = \"refuse\"\n\n[flows.mapping]\n",
            1,
        )
    });
    rig.cmd()
        .args(["run", "--once", "--flow", "allocation_v2"])
        .assert()
        .code(predicate::ne(0))
        .stderr(predicate::str::contains("key_namespace"));
    assert_eq!(created(&rig), posted, "nothing posted again");

    // key_namespace = the old name: the journals are recognised; no warning, nothing posted.
    rewrite(&rig, |t| {
        t.replacen(
            "[flows.mapping]\n",
            "[flows.mapping]\nkey_namespace = \"overhead_allocation\"\n",
            1,
        )
    });
    rig.cmd()
        .args(["plan", "--flow", "allocation_v2"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("WARNING").not())
        .stdout(predicate::str::contains("already posted"));
    rig.cmd()
        .args(["run", "--once", "--flow", "allocation_v2"])
        .assert()
        .code(0);
    assert_eq!(created(&rig), posted, "nothing posted again");
}
