//! `ml-connector config check`: the config file validated offline, for the CI of a config
//! repository.
//!
//! It reads the file the way every command does ([`Config::load`]) and nothing else: no
//! system is contacted, no secret is needed, no state store or vault is opened. Every problem
//! the file has (a flow's mapping, a cron cadence that never fires, a secret or a password in
//! a URL, an unknown key) is listed with its `file:line:col`; a TOML syntax error stops the
//! reading at that point, so it is the only one listed then.

use crate::output::outln;
use serde_json::json;

use crate::cli::{ConfigArgs, ConfigCommand, GlobalArgs};
use crate::config::{Config, DEFAULT_CONFIG_FILE};
use crate::exit::{CliError, Exit};
use crate::output::print_json;

/// Runs `config`.
pub fn run(global: &GlobalArgs, args: &ConfigArgs) -> Result<Exit, CliError> {
    match args.command {
        ConfigCommand::Check => check(global),
    }
}

fn check(global: &GlobalArgs) -> Result<Exit, CliError> {
    let path = global.config.clone().or_else(|| {
        let default = std::path::PathBuf::from(DEFAULT_CONFIG_FILE);
        default.is_file().then_some(default)
    });
    let Some(path) = path else {
        return Err(CliError::usage(format!(
            "no config file to check: pass --config PATH (or set ML_CONNECTOR_CONFIG), or run \
             in the directory of {DEFAULT_CONFIG_FILE}"
        )));
    };
    let shown = path.display().to_string();
    match Config::load(Some(&path)) {
        Ok(config) => {
            if global.json {
                print_json(&json!({
                    "ok": true,
                    "exit_code": 0,
                    "config": shown,
                    "flows": config.flows.iter().map(|f| json!({
                        "name": f.name,
                        "kind": f.kind().to_string(),
                        "cron": f.cron,
                        "line": f.line,
                    })).collect::<Vec<_>>(),
                    "problems": [],
                }));
            } else {
                let names: Vec<String> = config
                    .flows
                    .iter()
                    .map(|f| format!("{} ({})", f.name, f.kind()))
                    .collect();
                outln!(
                    "OK: {shown}: {} flow(s){}; no problems found (offline check: nothing was \
                     contacted)",
                    names.len(),
                    if names.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", names.join(", "))
                    }
                );
            }
            Ok(Exit::Ok)
        }
        Err(e) => {
            let problems: Vec<&str> = e
                .message
                .lines()
                .filter(|l| !l.ends_with("problems in the configuration:"))
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            if global.json {
                print_json(&json!({
                    "ok": false,
                    "exit_code": e.exit.code(),
                    "error_kind": e.exit.name(),
                    "config": shown,
                    "problems": problems,
                    "hint": e.hint,
                }));
            } else {
                outln!("PROBLEM: {shown}: {} problem(s)", problems.len());
                for p in &problems {
                    outln!("{p}");
                }
                if let Some(h) = &e.hint {
                    outln!("hint: {h}");
                }
            }
            Ok(e.exit)
        }
    }
}
