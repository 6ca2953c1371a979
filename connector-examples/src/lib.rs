//! The `ml-connector` command and the examples of the ml-connector crates.
//!
//! The binary (`src/main.rs`) only parses arguments and calls [`run`]; everything else lives
//! here so the examples and the tests use the same code:
//!
//! - [`cli`]: the command line (`clap`);
//! - [`config`]: the TOML configuration with environment overrides; secrets refused in files;
//! - [`secrets`] and [`vault`]: secrets from the environment or the encrypted vault;
//! - [`connect`]: Looker and Acumatica clients from the configuration;
//! - [`commands`]: one module per subcommand;
//! - [`output`] and [`progress`]: tables, JSON, progress bars and log lines;
//! - [`demo`]: the month-end story the `period_close` example tells;
//! - [`exit`]: exit codes and the command error type;
//! - [`stop`]: stopping on SIGINT/SIGTERM within `--stop-timeout`;
//! - [`monitor`]: the daemon's `/healthz`, `/readyz` and `/metrics` (`run --listen`).

#![warn(missing_docs)]

pub mod cli;
pub mod commands;
pub mod config;
pub mod connect;
pub mod demo;
pub mod exit;
pub mod monitor;
pub mod output;
pub mod progress;
pub mod secrets;
pub mod stop;
pub mod vault;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::exit::{CliError, Exit};

/// Runs a parsed command line to completion and returns the process exit code; errors are
/// printed on stderr (or as JSON on stdout with `--json`).
pub fn run(cli: Cli) -> ExitCode {
    progress::init_logging(&cli.global);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(Exit::Failed.code());
        }
    };
    let json = cli.global.json;
    let result = runtime.block_on(dispatch(cli));
    match result {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(e) => {
            report_error(&e, json);
            ExitCode::from(e.exit.code())
        }
    }
}

/// Parses the command line (`args` with the program name first). Help and version are
/// printed as usual; a usage error is printed as clap does, or, when `--json` is among the
/// arguments, as the JSON error document every command prints (`ok`, `exit_code` 2,
/// `error_kind` `usage`, `error`, `problems`) on stdout. `Err` holds the exit code.
///
/// ```
/// let cli = connector_examples::parse(["ml-connector", "--json", "status"]).unwrap();
/// assert!(cli.global.json);
/// assert!(connector_examples::parse(["ml-connector", "--json", "no-such-command"]).is_err());
/// ```
pub fn parse<I, T>(args: I) -> Result<Cli, ExitCode>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::Parser;
    use clap::error::ErrorKind;
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let e = match Cli::try_parse_from(&args) {
        Ok(cli) => return Ok(cli),
        Err(e) => e,
    };
    let json = args
        .iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json");
    let informational = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if !json || informational {
        let _ = e.print();
        return Err(ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2)));
    }
    // clap's text: the error (first paragraph, `error: ` first), then usage and help lines.
    let text = e.render().to_string();
    let (first, rest) = text.split_once("\n\n").unwrap_or((&text, ""));
    let problems: Vec<&str> = first
        .lines()
        .map(|l| l.trim().trim_start_matches("error: "))
        .filter(|l| !l.is_empty())
        .collect();
    let hint: Vec<&str> = rest
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let err = CliError::usage(problems.join(" ")).with_hint(hint.join(" "));
    report_error(&err, true);
    Err(ExitCode::from(err.exit.code()))
}

/// Prints an error the way the command does: on stderr, or with `--json` as one JSON
/// document on stdout: `ok` (false), `exit_code`, `error_kind` (the exit code's name),
/// `error`, `hint` and `problems` (the error's lines, an array).
pub fn report_error(e: &CliError, json: bool) {
    if json {
        output::print_json(&serde_json::json!({
            "ok": false,
            "exit_code": e.exit.code(),
            "error_kind": e.exit.name(),
            "error": e.message,
            "hint": e.hint,
            "problems": e.message.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>(),
        }));
    } else {
        eprintln!("error: {}", e.message);
        if let Some(h) = &e.hint {
            eprintln!("hint: {h}");
        }
    }
}

async fn dispatch(cli: Cli) -> Result<Exit, CliError> {
    let g = &cli.global;
    match cli.command {
        Command::Sandbox(args) => commands::sandbox::run(g, &args).await,
        Command::Ping(args) => commands::ping::run(g, &args).await,
        Command::Plan(args) => commands::plan::run(g, &args).await,
        Command::Run(args) => commands::run::run(g, &args).await,
        Command::Status(args) => commands::status::run(g, &args).await,
        Command::Audit(args) => commands::audit::run(g, &args).await,
        Command::Keys(args) => commands::keys::run(g, &args).await,
        Command::Replay(args) => commands::replay::run(g, &args).await,
        Command::Deadletters(args) => commands::deadletters::run(g, &args).await,
        Command::Vault(args) => commands::vault::run(g, &args).await,
        Command::Lease(args) => commands::lease::run(g, &args).await,
        Command::Config(args) => commands::config::run(g, &args),
    }
}
