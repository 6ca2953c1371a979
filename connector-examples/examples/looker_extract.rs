//! A large Looker extract: an async query task whose result is streamed (memory bounded by one
//! chunk) into a CSV file, with a progress bar on a terminal. Rows are read as
//! [`CompactRow`]s (one text buffer per row, the column names shared), so each cell is written
//! as the text Looker sent, numbers exact, without a `String` per value.
//!
//! ```text
//! cargo run -p connector-examples --example looker_extract                       # sandbox, 200 000 GL lines
//! cargo run -p connector-examples --example looker_extract -- --rows 2000000 --out gl.csv
//! ```
//!
//! With `LOOKERSDK_BASE_URL`, `LOOKERSDK_CLIENT_ID` and `LOOKERSDK_CLIENT_SECRET` set, give
//! `--model M --explore E --fields a,b,c` to extract from the real instance.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use connector_examples::config::Config;
use connector_examples::connect::{looker_client, looker_settings};
use connector_examples::exit::{CliError, CliResult};
use connector_examples::progress::Progress;
use connector_examples::secrets::Secrets;
use futures::TryStreamExt;
use looker_client::{Columns, CompactRow, ResultFormat, RunOptions, TaskOptions, WriteQuery};
use testkit::looker::LookerConfig;
use testkit::{Sandbox, SandboxOptions};

struct Args {
    rows: u64,
    out: PathBuf,
    model: Option<String>,
    explore: Option<String>,
    fields: Vec<String>,
}

fn parse_args() -> CliResult<Args> {
    let mut a = Args {
        rows: 200_000,
        out: PathBuf::from("looker_extract.csv"),
        model: None,
        explore: None,
        fields: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| CliError::usage(format!("{flag} needs a value")))?;
        match flag.as_str() {
            "--rows" => {
                a.rows = value
                    .parse()
                    .map_err(|_| CliError::usage(format!("--rows `{value}` is not a number")))?
            }
            "--out" => a.out = PathBuf::from(value),
            "--model" => a.model = Some(value),
            "--explore" => a.explore = Some(value),
            "--fields" => {
                a.fields = value
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            }
            _ => {
                return Err(CliError::usage(
                    "usage: looker_extract [--rows N] [--out FILE] [--model M --explore E --fields a,b]",
                ));
            }
        }
    }
    Ok(a)
}

async fn extract(
    client: &looker_client::Client,
    query: WriteQuery,
    fields: &[String],
    total: Option<u64>,
    out: &PathBuf,
) -> CliResult<u64> {
    let options = TaskOptions::new()
        .run_options(RunOptions::new().validate(true))
        .deadline(Duration::from_secs(3600))
        .source("ml-connector looker_extract");
    let started = Instant::now();
    let mut rows = client
        .run_query_task_rows::<CompactRow>(&query, ResultFormat::Json, &options)
        .await
        .map_err(|e| CliError::from_looker("query task", &e))?;
    let file = std::fs::File::create(out)
        .map_err(|e| CliError::usage(format!("cannot create {}: {e}", out.display())))?;
    let mut csv = csv::Writer::from_writer(std::io::BufWriter::new(file));
    csv.write_record(fields)
        .map_err(|e| CliError::failed(format!("{}: {e}", out.display())))?;
    let mut progress = Progress::new("rows extracted", total, std::io::stderr().is_terminal());
    // Where each output column is in the rows: looked up again only when a row comes with
    // other columns than the one before (rows of one result share them).
    let mut seen: Option<Columns> = None;
    let mut at: Vec<Option<usize>> = Vec::new();
    while let Some(row) = rows
        .try_next()
        .await
        .map_err(|e| CliError::from_looker("reading rows", &e))?
    {
        if !seen.as_ref().is_some_and(|c| c.same(row.columns())) {
            at = fields.iter().map(|f| row.columns().index_of(f)).collect();
            seen = Some(row.columns().clone());
        }
        // A cell's text as Looker sent it: numbers keep every digit, null is empty.
        csv.write_record(
            at.iter()
                .map(|i| i.and_then(|i| row.cell(i)).map_or("", |c| c.text())),
        )
        .map_err(|e| CliError::failed(format!("{}: {e}", out.display())))?;
        progress.inc(1);
    }
    csv.flush()
        .map_err(|e| CliError::failed(format!("{}: {e}", out.display())))?;
    let n = progress.finish();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{n} rows written to {} in {secs:.1} s ({:.0} rows/s), streamed: rows are written as they arrive.",
        out.display(),
        n as f64 / secs.max(0.001)
    );
    Ok(n)
}

async fn run() -> CliResult<()> {
    let args = parse_args()?;
    if std::env::var("LOOKERSDK_BASE_URL").is_ok_and(|v| !v.is_empty()) {
        let (Some(model), Some(explore)) = (&args.model, &args.explore) else {
            return Err(CliError::usage(
                "against a real Looker, give --model, --explore and --fields",
            ));
        };
        if args.fields.is_empty() {
            return Err(CliError::usage("give --fields view.a,view.b"));
        }
        let config = Config::load(None)?;
        let secrets = Secrets::from_env(&config.vault_path);
        let client = looker_client(looker_settings(&config)?, &secrets).await?;
        let query = WriteQuery::new(model, explore)
            .fields(args.fields.clone())
            .with_limit(-1);
        extract(&client, query, &args.fields, None, &args.out).await?;
        return Ok(());
    }
    let looker = LookerConfig::default().with_gl_lines_rows(args.rows);
    let sandbox = Sandbox::start(SandboxOptions {
        looker,
        ..Default::default()
    })
    .await?;
    println!(
        "Extracting {} GL lines from the Looker fake at {} (finance::gl_lines) as an async query task.",
        args.rows,
        sandbox.looker_url()
    );
    let dir =
        tempfile::tempdir().map_err(|e| CliError::failed(format!("temporary directory: {e}")))?;
    let ctx = connector_examples::demo::sandbox_context(&sandbox, dir.path(), false)?;
    let client = looker_client(looker_settings(&ctx.config)?, &ctx.secrets).await?;
    let fields: Vec<String> = [
        "id",
        "journal_id",
        "period",
        "posting_date",
        "branch",
        "account",
        "subaccount",
        "debit",
        "credit",
        "description",
    ]
    .iter()
    .map(|f| format!("gl_lines.{f}"))
    .collect();
    let query = WriteQuery::new("finance", "gl_lines")
        .fields(fields.clone())
        .with_limit(-1);
    let result = extract(&client, query, &fields, Some(args.rows), &args.out).await;
    sandbox.shutdown().await;
    let n = result?;
    if n != args.rows {
        return Err(CliError::failed(format!(
            "expected {} rows, got {n}",
            args.rows
        )));
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            connector_examples::report_error(&e, false);
            ExitCode::from(e.exit.code())
        }
    }
}
