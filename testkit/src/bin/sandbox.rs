//! Serves the Acumatica and Looker fakes on local ports with the demo
//! company, and prints their URLs and demo credentials.
//!
//! ```text
//! ml-connector-sandbox [--acumatica-port N] [--looker-port N] [--host ADDR]
//!                      [--journal-transactions N] [--gl-lines-rows N]
//! ```
//!
//! Ports default to 0 (any free port); the environment variables
//! `SANDBOX_ACUMATICA_PORT`, `SANDBOX_LOOKER_PORT` and `SANDBOX_HOST` set
//! the same. Stop with Ctrl-C.

use std::net::IpAddr;
use std::process::ExitCode;

use testkit::{Sandbox, SandboxOptions};

const USAGE: &str =
    "usage: ml-connector-sandbox [--acumatica-port N] [--looker-port N] [--host ADDR] \
[--journal-transactions N] [--gl-lines-rows N]

Serves fakes of Acumatica and Looker with demo data. Ports default to 0 (any free port);
SANDBOX_ACUMATICA_PORT, SANDBOX_LOOKER_PORT and SANDBOX_HOST set the same. Ctrl-C stops.";

struct Args {
    host: IpAddr,
    acumatica_port: u16,
    looker_port: u16,
    journal_transactions: Option<usize>,
    gl_lines_rows: Option<u64>,
}

fn parse_number<T: std::str::FromStr>(flag: &str, value: Option<String>) -> Result<T, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
    value
        .parse()
        .map_err(|_| format!("{flag}: '{value}' is not a valid number"))
}

fn parse_args() -> Result<Args, String> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut args = Args {
        host: match env("SANDBOX_HOST") {
            Some(h) => h
                .parse()
                .map_err(|_| format!("SANDBOX_HOST: '{h}' is not an IP address"))?,
            None => IpAddr::from([127, 0, 0, 1]),
        },
        acumatica_port: match env("SANDBOX_ACUMATICA_PORT") {
            Some(p) => parse_number("SANDBOX_ACUMATICA_PORT", Some(p))?,
            None => 0,
        },
        looker_port: match env("SANDBOX_LOOKER_PORT") {
            Some(p) => parse_number("SANDBOX_LOOKER_PORT", Some(p))?,
            None => 0,
        },
        journal_transactions: None,
        gl_lines_rows: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--acumatica-port" => args.acumatica_port = parse_number(&flag, it.next())?,
            "--looker-port" => args.looker_port = parse_number(&flag, it.next())?,
            "--host" => {
                let v = it.next().ok_or("--host needs a value")?;
                args.host = v
                    .parse()
                    .map_err(|_| format!("--host: '{v}' is not an IP address"))?;
            }
            "--journal-transactions" => {
                args.journal_transactions = Some(parse_number(&flag, it.next())?)
            }
            "--gl-lines-rows" => args.gl_lines_rows = Some(parse_number(&flag, it.next())?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut options = SandboxOptions::listening(args.host, args.acumatica_port, args.looker_port);
    if let Some(n) = args.journal_transactions {
        options.acumatica = options.acumatica.journal_transactions(n);
    }
    if let Some(n) = args.gl_lines_rows {
        options.looker = options.looker.with_gl_lines_rows(n);
    }
    let sandbox = match Sandbox::start(options).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", sandbox.banner());
    println!("Serving; press Ctrl-C to stop.");
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("error: cannot wait for Ctrl-C: {e}");
    }
    sandbox.shutdown().await;
    ExitCode::SUCCESS
}
