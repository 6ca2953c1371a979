//! Month-end close, end to end: the overhead allocation query in Looker, mapped to balanced
//! journals, validated against Acumatica, posted exactly once, and a rerun that posts nothing.
//!
//! ```text
//! cargo run -p connector-examples --example period_close
//! ```
//!
//! With no arguments it starts the sandbox (fakes of both APIs with demo data) in-process.
//! With `--config PATH` (or `ML_CONNECTOR_CONFIG`, or `LOOKERSDK_BASE_URL` and `ACUMATICA_URL`
//! with their credentials in the environment) it runs against those systems, and stops after
//! the dry run unless `--post` is given.

use std::path::PathBuf;
use std::process::ExitCode;

use connector_examples::demo::{PeriodCloseOptions, period_close};

#[tokio::main]
async fn main() -> ExitCode {
    let mut options = PeriodCloseOptions {
        bars: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        ..PeriodCloseOptions::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" | "-c" => match args.next() {
                Some(p) => options.config = Some(PathBuf::from(p)),
                None => {
                    eprintln!("error: --config needs a path");
                    return ExitCode::from(2);
                }
            },
            "--post" => options.post = true,
            "-h" | "--help" => {
                println!("usage: period_close [--config PATH] [--post]");
                println!("  no arguments: run against the in-process sandbox");
                println!(
                    "  --config PATH: run against the systems in PATH (dry run unless --post)"
                );
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("error: unknown argument `{other}` (try --help)");
                return ExitCode::from(2);
            }
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut stdout = std::io::stdout();
    match period_close(options, &mut stdout).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            connector_examples::report_error(&e, false);
            ExitCode::from(e.exit.code())
        }
    }
}
