//! Replays every checked-in fuzz input (`fuzz/corpus/<target>/*` and
//! `fuzz/artifacts/<target>/*`) through the same checks the cargo-fuzz
//! targets run (`fuzz/checks.rs`), so the stable test suite keeps what the
//! fuzzer found.
//!
//! Inputs that reproduce a bug not fixed yet are listed in
//! `fuzz/known-bugs.txt` (`<target>/<file> <owner> <what>`); they are left out
//! of the main replay and run by the ignored test `known_bugs_are_fixed`,
//! which fails until the owner fixes them (then delete the line).

#[allow(dead_code)]
#[path = "../../fuzz/checks.rs"]
mod checks;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// A fuzz check: panics when the input shows a bug.
type Check = fn(&[u8]);

const TARGETS: &[(&str, Check)] = &[
    ("acumatica_entity", checks::check_acumatica_entity),
    ("acumatica_422", checks::check_acumatica_422),
    ("looker_rows", checks::check_looker_rows),
    ("filter_literal", checks::check_filter_literal),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// `target/file` names listed in `fuzz/known-bugs.txt`.
fn known_bugs() -> Vec<String> {
    std::fs::read_to_string(fuzz_dir().join("known-bugs.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Every input file of `target`, as `(name relative to its folder, path)`.
fn inputs(target: &str) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for dir in ["corpus", "artifacts"] {
        let folder = fuzz_dir().join(dir).join(target);
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() {
                let name = format!("{target}/{}", entry.file_name().to_string_lossy());
                out.push((name, path));
            }
        }
    }
    out.sort();
    out
}

/// Runs `check` over the inputs, returning the ones that failed with their
/// panic message.
fn replay(check: fn(&[u8]), files: &[(String, PathBuf)]) -> Vec<String> {
    let mut failures = Vec::new();
    for (name, path) in files {
        let data = std::fs::read(path).unwrap();
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(&data))) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{name}: {message}"));
        }
    }
    failures
}

#[test]
fn every_corpus_and_artifact_input_passes() {
    let known = known_bugs();
    let mut total = 0;
    let mut failures = Vec::new();
    for (target, check) in TARGETS {
        let files: Vec<_> = inputs(target)
            .into_iter()
            .filter(|(name, _)| !known.contains(name))
            .collect();
        assert!(
            !files.is_empty(),
            "no corpus for fuzz target {target}: run it (see fuzz/README.md) and check in the minimized corpus"
        );
        total += files.len();
        failures.extend(replay(*check, &files));
    }
    assert!(
        failures.is_empty(),
        "{} of {total} fuzz inputs fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
#[ignore = "bugs found by fuzzing, listed in fuzz/known-bugs.txt with their owners; passes once fixed"]
fn known_bugs_are_fixed() {
    let known = known_bugs();
    let mut failures = Vec::new();
    for (target, check) in TARGETS {
        let files: Vec<_> = inputs(target)
            .into_iter()
            .filter(|(name, _)| known.contains(name))
            .collect();
        failures.extend(replay(*check, &files));
    }
    assert!(
        failures.is_empty(),
        "still failing:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_checks_can_fail() {
    // The reference tokenizer refuses an unescaped quote, so a filter that
    // forgot to double quotes would fail `check_filter_literal`.
    assert!(checks::tokenize("Name eq 'O'Brien'").is_err());
    assert_eq!(
        checks::tokenize("Name eq 'O''Brien'").unwrap(),
        vec![
            checks::Token::Word("Name".into()),
            checks::Token::Word("eq".into()),
            checks::Token::Str("O'Brien".into()),
        ]
    );
    // The 422 reference walk finds nested errors and skips `_links`.
    let body = serde_json::json!({
        "Details": [{"Account": {"value": "1", "error": " no account "}}],
        "_links": {"error": "x"}
    });
    assert_eq!(
        checks::expected_field_errors(&body),
        vec![("Details[0].Account".to_owned(), "no account".to_owned())]
    );
}
