//! A post flow's empty Looker result: a warning by default (log and run summary), an error
//! naming the flow, the query and the count when `[flows.post] min_rows` is not met.

mod support;

use predicates::prelude::*;
use support::{Rig, stderr_of, stdout_of};
use testkit::sandbox::demo_period;

const FLOW: &str = "overhead_allocation";

/// The sandbox config with the allocation filtered on a period Looker has no rows for, and
/// `post` (if any) as the flow's [flows.post] table.
async fn rig(empty: bool, post: &str) -> Rig {
    let post = post.to_owned();
    Rig::edited(move |c| {
        let c = if empty {
            c.replacen(&format!("= \"{}\"", demo_period()), "= \"012099\"", 1)
        } else {
            c
        };
        if post.is_empty() {
            c
        } else {
            c.replacen(
                "[flows.mapping]\n",
                &format!("[flows.post]\n{post}\n\n[flows.mapping]\n"),
                1,
            )
        }
    })
    .await
}

fn created(rig: &Rig) -> u64 {
    rig.sandbox
        .acumatica()
        .state()
        .created("JournalTransaction")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_result_is_a_warning_by_default() {
    let rig = rig(true, "").await;
    let a = rig
        .cmd()
        .args(["run", "--once", "--flow", FLOW])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "warning: the query looker finance::overhead_allocation returned no rows",
        ));
    assert!(
        stderr_of(&a).contains("the query returned no rows"),
        "logged: {}",
        stderr_of(&a)
    );
    let a = rig
        .cmd()
        .args(["--json", "run", "--once", "--flow", FLOW])
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    let warnings = v["runs"][0]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{v:#}");
    assert!(warnings[0].as_str().unwrap().contains("min_rows"));
    assert_eq!(created(&rig), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn fewer_rows_than_min_rows_is_an_error_naming_flow_query_and_count() {
    let rig = rig(true, "min_rows = 1").await;
    let a = rig
        .cmd()
        .args(["run", "--once", "--flow", FLOW])
        .assert()
        .code(4);
    let err = stderr_of(&a);
    for part in [
        "flow `overhead_allocation`",
        "looker finance::overhead_allocation",
        "returned 0 row(s), fewer than min_rows = 1",
        "nothing was posted",
    ] {
        assert!(err.contains(part), "`{part}` in {err}");
    }
    assert_eq!(created(&rig), 0);
    // A real month has its rows, but not a hundred thousand: the count is named.
    let rig = rig_full("min_rows = 100000").await;
    let a = rig
        .cmd()
        .args(["--json", "run", "--once", "--flow", FLOW])
        .assert()
        .code(4);
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&a)).unwrap();
    let r = &v["runs"][0];
    assert!(r["run_id"].is_string(), "{v:#}");
    let problem = r["problems"][0].as_str().unwrap();
    assert!(
        problem.contains("fewer than min_rows = 100000"),
        "{problem}"
    );
    assert!(!problem.contains("returned 0 row(s)"), "{problem}");
    assert_eq!(created(&rig), 0);
    // Met: the run posts as usual.
    let rig = rig_full("min_rows = 1").await;
    rig.cmd()
        .args(["run", "--once", "--flow", FLOW])
        .assert()
        .code(0);
    assert_eq!(created(&rig), 3);
}

async fn rig_full(post: &str) -> Rig {
    rig(false, post).await
}
