//! Lists the active vendors of an Acumatica site.
//!
//! Configuration comes from environment variables; run without them to see
//! which ones:
//!
//! ```text
//! cargo run -p acumatica-client --example list_vendors
//! ```

use std::env;
use std::process::ExitCode;

use acumatica_client::entity::Vendor;
use acumatica_client::{Client, Filter, ListQuery};
use futures::TryStreamExt;

const USAGE: &str = "\
list_vendors: prints the active vendors of an Acumatica site.

Set these environment variables:
  ACUMATICA_URL               site URL, e.g. https://erp.example.com/AcumaticaERP
  ACUMATICA_ENDPOINT_VERSION  e.g. 24.200.001 (GET <site>/entity lists what the site offers)
  ACUMATICA_TENANT            tenant (company) login name
  ACUMATICA_USERNAME          API user
  ACUMATICA_PASSWORD          its password
and, for OAuth 2.0 (recommended; otherwise a cookie session is used):
  ACUMATICA_CLIENT_ID         Connected Application client id (<guid> or <guid>@<tenant>)
  ACUMATICA_CLIENT_SECRET     its secret
Optional:
  ACUMATICA_MAX_VENDORS       stop after this many (default 50)
";

fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[tokio::main]
async fn main() -> ExitCode {
    let (Some(url), Some(version), Some(user), Some(password)) = (
        var("ACUMATICA_URL"),
        var("ACUMATICA_ENDPOINT_VERSION"),
        var("ACUMATICA_USERNAME"),
        var("ACUMATICA_PASSWORD"),
    ) else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let max: usize = match var("ACUMATICA_MAX_VENDORS").map(|v| v.parse()) {
        None => 50,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("ACUMATICA_MAX_VENDORS must be a whole number");
            return ExitCode::from(2);
        }
    };

    let mut builder = Client::builder(url).endpoint_version(version);
    if let Some(tenant) = var("ACUMATICA_TENANT") {
        builder = builder.tenant(tenant);
    }
    builder = match (var("ACUMATICA_CLIENT_ID"), var("ACUMATICA_CLIENT_SECRET")) {
        (Some(id), Some(secret)) => builder.oauth_password(id, secret, user, password),
        _ => builder.session_login(user, password),
    };
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };

    let code = match run(&client, max).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    };
    // Free the API-user seat right away instead of after the 10-minute timeout.
    if let Err(e) = client.close().await {
        eprintln!("logout failed: {e}");
    }
    code
}

async fn run(client: &Client, max: usize) -> acumatica_client::Result<()> {
    let query = ListQuery::new()
        .filter(Filter::eq("Status", "Active"))
        .select([
            "VendorID",
            "VendorName",
            "Terms",
            "CurrencyID",
            "LastModifiedDateTime",
        ])
        .page_size(100);
    let mut vendors = client.list::<Vendor>(query);
    let mut shown = 0;
    while let Some(v) = vendors.try_next().await? {
        println!(
            "{:<15} {:<40} {:<8} {:<4} {}",
            v.vendor_id.get().map_or("", String::as_str),
            v.vendor_name.get().map_or("", String::as_str),
            v.terms.get().map_or("", String::as_str),
            v.currency_id.get().map_or("", String::as_str),
            v.last_modified_date_time
                .get()
                .map(ToString::to_string)
                .unwrap_or_default(),
        );
        shown += 1;
        if shown >= max {
            break;
        }
    }
    println!("{shown} vendor(s)");
    Ok(())
}
