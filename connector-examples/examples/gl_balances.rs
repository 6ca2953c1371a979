//! General-ledger balances for a period, read with the `AccountSummaryInquiry` of the Default
//! endpoint (a `PUT` of the ledger and period with `$expand=Results`), typed by
//! `acumatica_client::inquiry`.
//!
//! ```text
//! cargo run -p connector-examples --example gl_balances                       # sandbox, the demo period
//! cargo run -p connector-examples --example gl_balances -- --period 112026 --ledger ACTUAL
//! cargo run -p connector-examples --example gl_balances -- --lines 10200     # and that account's lines
//! ```
//!
//! With `ACUMATICA_URL` (and `ACUMATICA_ENDPOINT_VERSION`, `ACUMATICA_TENANT`,
//! `ACUMATICA_CLIENT_ID`, `ACUMATICA_CLIENT_SECRET`, `ACUMATICA_USERNAME`,
//! `ACUMATICA_PASSWORD`) set, it asks the real site instead.

use std::process::ExitCode;

use acumatica_client::Client;
use acumatica_client::inquiry::{AccountDetailsForPeriodInquiry, AccountSummaryInquiry};
use connector_examples::config::Config;
use connector_examples::connect::{acumatica_client, acumatica_settings};
use connector_examples::exit::{CliError, CliResult};
use connector_examples::output::{Align, Table};
use connector_examples::secrets::Secrets;
use rust_decimal::Decimal;
use testkit::{Sandbox, SandboxOptions};

fn money(v: Option<&Decimal>) -> String {
    v.map(|d| format!("{:.2}", d.round_dp(2)))
        .unwrap_or_default()
}

async fn balances(
    client: &Client,
    ledger: &str,
    period: &str,
    lines_of: Option<&str>,
) -> CliResult<()> {
    let query =
        AccountSummaryInquiry::new(ledger, period).map_err(|e| CliError::usage(e.to_string()))?;
    let rows = client
        .inquiry_rows(&query)
        .await
        .map_err(|e| CliError::from_acumatica("running AccountSummaryInquiry", &e))?;
    println!("Ledger {ledger}, period {period}:");
    let mut t = Table::new([
        "Branch",
        "Account",
        "Sub",
        "Type",
        "Beginning",
        "Debit",
        "Credit",
        "Ending",
    ]);
    for i in 4..8 {
        t = t.align(i, Align::Right);
    }
    let (mut debit, mut credit) = (Decimal::ZERO, Decimal::ZERO);
    for r in &rows {
        debit += r.debit_total.get().copied().unwrap_or_default();
        credit += r.credit_total.get().copied().unwrap_or_default();
        t.row([
            r.branch.as_str().unwrap_or_default().to_owned(),
            r.account.as_str().unwrap_or_default().to_owned(),
            r.subaccount.as_str().unwrap_or_default().to_owned(),
            r.r#type.as_str().unwrap_or_default().to_owned(),
            money(r.beginning_balance.get()),
            money(r.debit_total.get()),
            money(r.credit_total.get()),
            money(r.ending_balance.get()),
        ]);
    }
    t.rule();
    t.row([
        "Total".to_owned(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        money(Some(&debit)),
        money(Some(&credit)),
        String::new(),
    ]);
    print!("{}", t.render());
    println!(
        "{} row(s); the period's debits and credits {}.",
        rows.len(),
        if debit == credit {
            "balance".to_owned()
        } else {
            format!("differ by {}", debit - credit)
        }
    );

    if let Some(account) = lines_of {
        let query = AccountDetailsForPeriodInquiry::new(ledger, period, period)
            .map_err(|e| CliError::usage(e.to_string()))?;
        let answer = client
            .inquiry(&query)
            .await
            .map_err(|e| CliError::from_acumatica("running AccountDetailsForPeriodInquiry", &e))?;
        println!("\nLines of account {account}:");
        let mut t = Table::new(["Batch", "Module", "Date", "Description", "Debit", "Credit"])
            .align(4, Align::Right)
            .align(5, Align::Right);
        for l in answer.lines_of(account) {
            t.row([
                l.batch_number.as_str().unwrap_or_default().to_owned(),
                l.module.as_str().unwrap_or_default().to_owned(),
                l.transaction_date
                    .get()
                    .map(|d| d.local().date().to_string())
                    .unwrap_or_default(),
                l.transaction_description
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                money(l.debit_amount.get()),
                money(l.credit_amount.get()),
            ]);
        }
        print!("{}", t.render());
    }
    Ok(())
}

async fn run() -> CliResult<()> {
    let mut ledger = testkit::seed::LEDGER.to_owned();
    let mut period = testkit::sandbox::demo_period();
    let mut lines_of = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--ledger", Some(l)) => ledger = l,
            ("--period", Some(p)) => period = p,
            ("--lines", Some(a)) => lines_of = Some(a),
            _ => {
                return Err(CliError::usage(
                    "usage: gl_balances [--ledger ID] [--period MMYYYY] [--lines ACCOUNT]",
                ));
            }
        }
    }
    if std::env::var("ACUMATICA_URL").is_ok_and(|v| !v.is_empty()) {
        let config = Config::load(None)?;
        let secrets = Secrets::from_env(&config.vault_path);
        let client = acumatica_client(acumatica_settings(&config)?, &secrets, false).await?;
        let r = balances(&client, &ledger, &period, lines_of.as_deref()).await;
        let _ = client.close().await;
        return r;
    }
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    println!("Asking the Acumatica fake at {}", sandbox.acumatica_url());
    let dir =
        tempfile::tempdir().map_err(|e| CliError::failed(format!("temporary directory: {e}")))?;
    let ctx = connector_examples::demo::sandbox_context(&sandbox, dir.path(), false)?;
    let client = acumatica_client(acumatica_settings(&ctx.config)?, &ctx.secrets, false).await?;
    let r = balances(&client, &ledger, &period, lines_of.as_deref()).await;
    let _ = client.close().await;
    sandbox.shutdown().await;
    r
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
