//! Runs a query against a Looker instance and prints its rows.
//!
//! Settings come from `looker.ini` and/or the official SDKs' environment
//! variables; the query from `LOOKER_MODEL`, `LOOKER_EXPLORE`, `LOOKER_FIELDS`
//! (comma-separated) and optionally `LOOKER_LIMIT`, `LOOKER_FORMAT`
//! (`json`, `csv`, `txt`) and `LOOKER_MODE` (`inline`, `task`).
//!
//! ```text
//! LOOKERSDK_BASE_URL=https://example.cloud.looker.com \
//! LOOKERSDK_CLIENT_ID=... LOOKERSDK_CLIENT_SECRET=... \
//! LOOKER_MODEL=thelook LOOKER_EXPLORE=orders LOOKER_FIELDS=orders.id,orders.created_date \
//! cargo run -p looker-client --example run_query
//! ```

use futures::TryStreamExt;
use looker_client::{ClientBuilder, ResultFormat, Row, RunOptions, TaskOptions, WriteQuery};

const USAGE: &str = "\
usage: run_query (settings from the environment)

  Looker connection (or a looker.ini in the current directory):
    LOOKERSDK_BASE_URL       instance URL without /api/*, e.g. https://example.cloud.looker.com
    LOOKERSDK_CLIENT_ID      API3 client id
    LOOKERSDK_CLIENT_SECRET  API3 client secret
    LOOKERSDK_VERIFY_SSL     true|false (default true)
    LOOKERSDK_TIMEOUT        seconds (default 120)

  Query:
    LOOKER_MODEL             LookML model
    LOOKER_EXPLORE           explore name
    LOOKER_FIELDS            comma-separated fully qualified fields
    LOOKER_LIMIT             row limit (default 5000; -1 = unlimited)
    LOOKER_FORMAT            json | csv | txt (default json)
    LOOKER_MODE              inline | task (default inline)
";

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[tokio::main]
async fn main() {
    let (Some(model), Some(explore), Some(fields)) = (
        var("LOOKER_MODEL"),
        var("LOOKER_EXPLORE"),
        var("LOOKER_FIELDS"),
    ) else {
        eprint!("{USAGE}");
        std::process::exit(2);
    };
    if let Err(e) = run(&model, &explore, &fields).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run(model: &str, explore: &str, fields: &str) -> Result<(), Box<dyn std::error::Error>> {
    let client = ClientBuilder::from_env()?
        .app_tag("run_query-example")
        .build()?;
    let limit: i64 = match var("LOOKER_LIMIT") {
        Some(l) => l
            .parse()
            .map_err(|_| format!("LOOKER_LIMIT `{l}` is not a number"))?,
        None => looker_client::DEFAULT_ROW_LIMIT,
    };
    let format = match var("LOOKER_FORMAT").as_deref().unwrap_or("json") {
        "json" => ResultFormat::Json,
        "csv" => ResultFormat::Csv,
        "txt" => ResultFormat::Txt,
        other => return Err(format!("LOOKER_FORMAT `{other}`: use json, csv or txt").into()),
    };
    let query = WriteQuery::new(model, explore)
        .fields(fields.split(',').map(str::trim).filter(|f| !f.is_empty()))
        .with_limit(limit);
    let options = RunOptions::new().validate(true);
    let mut rows = match var("LOOKER_MODE").as_deref().unwrap_or("inline") {
        "inline" => {
            client
                .run_inline_query_rows::<Row>(&query, format, &options)
                .await?
        }
        "task" => {
            client
                .run_query_task_rows::<Row>(
                    &query,
                    format,
                    &TaskOptions::new().run_options(options),
                )
                .await?
        }
        other => return Err(format!("LOOKER_MODE `{other}`: use inline or task").into()),
    };
    let mut n = 0u64;
    while let Some(row) = rows.try_next().await? {
        println!("{}", serde_json::Value::Object(row));
        n += 1;
    }
    eprintln!("{n} rows");
    client.logout().await?;
    Ok(())
}
