//! One JSON line per measurement, printed and appended to a results file.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::measure::Machine;

/// The directory results go to: `$BENCH_RESULTS_DIR`, else `benches/results`
/// of this crate.
pub fn results_dir() -> PathBuf {
    match std::env::var_os("BENCH_RESULTS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("results"),
    }
}

/// Adds the time, the machine (with its load now), the server child's
/// niceness and the build profile to
/// `fields`, prints the line and appends it to `<results_dir>/<bench>.jsonl`.
///
/// # Errors
/// The results file cannot be created or written.
pub fn append(bench: &str, mut fields: serde_json::Map<String, Value>) -> std::io::Result<Value> {
    fields.insert("bench".into(), json!(bench));
    fields.insert("at".into(), json!(chrono::Utc::now().to_rfc3339()));
    fields.insert("machine".into(), json!(Machine::now()));
    if let Ok(nice) = crate::child::server_nice() {
        fields.insert("server_nice".into(), json!(nice));
    }
    fields.insert(
        "profile".into(),
        json!(if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }),
    );
    let line = Value::Object(fields);
    let dir = results_dir();
    std::fs::create_dir_all(&dir)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{bench}.jsonl")))?;
    writeln!(file, "{line}")?;
    println!("{line}");
    Ok(line)
}
