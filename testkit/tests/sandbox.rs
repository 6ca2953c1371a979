//! Both fakes together: the sandbox starts, serves the demo credentials,
//! and the Looker allocation posts cleanly into the Acumatica fake.

use rust_decimal::Decimal;
use serde_json::{Value, json};
use testkit::seed::{self, credentials as c};
use testkit::{Sandbox, SandboxOptions};

async fn acumatica_token(url: &str) -> String {
    let r: Value = reqwest::Client::new()
        .post(format!("{url}/identity/connect/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", c::ACUMATICA_CLIENT_ID),
            ("client_secret", c::ACUMATICA_CLIENT_SECRET),
            ("username", c::ACUMATICA_USERNAME),
            ("password", c::ACUMATICA_PASSWORD),
            ("scope", "api"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().expect("a token").to_owned()
}

#[tokio::test]
async fn both_fakes_serve_the_demo_credentials() {
    let sandbox = Sandbox::start(SandboxOptions::default()).await.unwrap();
    let token = acumatica_token(sandbox.acumatica_url()).await;
    assert!(!token.is_empty());
    let login = reqwest::Client::new()
        .post(format!("{}/api/4.0/login", sandbox.looker_url()))
        .form(&[
            ("client_id", c::LOOKER_CLIENT_ID),
            ("client_secret", c::LOOKER_CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let banner = sandbox.banner();
    assert!(banner.contains(sandbox.acumatica_url()) && banner.contains(sandbox.looker_url()));
    assert!(banner.contains(c::ACUMATICA_CLIENT_ID) && banner.contains(c::LOOKER_CLIENT_ID));
    assert_eq!(
        sandbox
            .looker_server()
            .log()
            .count("POST", "/api/4.0/login"),
        1
    );
    assert_eq!(
        sandbox
            .acumatica()
            .log()
            .count("POST", "/identity/connect/token"),
        1
    );
    sandbox.shutdown().await;
}

/// The Looker allocation of an open month posts as one balanced batch per
/// branch; a closed month is refused with the closed-period 422.
#[tokio::test]
async fn looker_allocations_post_cleanly_into_acumatica() {
    let sandbox = Sandbox::start(SandboxOptions::default()).await.unwrap();
    let token = acumatica_token(sandbox.acumatica_url()).await;
    let url = format!(
        "{}/entity/Default/24.200.001/JournalTransaction?$expand=Details",
        sandbox.acumatica_url()
    );
    let lines = sandbox.looker().allocation_lines();
    let mut keys: Vec<(u32, &str)> = lines.iter().map(|l| (l.month, l.branch)).collect();
    keys.dedup();
    let open = keys
        .iter()
        .find(|(m, _)| seed::period_is_open(*m))
        .copied()
        .unwrap();
    let closed = keys
        .iter()
        .find(|(m, _)| !seed::period_is_open(*m))
        .copied()
        .unwrap();
    for (month, branch) in [open, closed] {
        let batch: Vec<_> = lines
            .iter()
            .filter(|l| l.month == month && l.branch == branch)
            .collect();
        let total: Decimal = batch.iter().map(|l| l.amount).sum();
        assert_eq!(total, Decimal::ZERO, "Looker's allocation balances");
        let details: Vec<Value> = batch
            .iter()
            .map(|l| {
                let (debit, credit) = if l.amount >= Decimal::ZERO {
                    (l.amount, Decimal::ZERO)
                } else {
                    (Decimal::ZERO, -l.amount)
                };
                json!({
                    "BranchID": {"value": l.branch},
                    "Account": {"value": l.account},
                    "Subaccount": {"value": l.subaccount.unwrap_or("000-000")},
                    "DebitAmount": {"value": debit},
                    "CreditAmount": {"value": credit},
                    "TransactionDescription": {"value": l.description},
                    "ReferenceNbr": {"value": l.journal_key},
                })
            })
            .collect();
        let body = json!({
            "TransactionDate": {"value": format!("{}T00:00:00", batch[0].posting_date)},
            "BranchID": {"value": branch},
            "Hold": {"value": false},
            "Description": {"value": batch[0].journal_key},
            "Details": details,
        });
        let r = reqwest::Client::new()
            .put(&url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        if (month, branch) == open {
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        } else {
            assert_eq!(r.status(), 422);
            let body: Value = r.json().await.unwrap();
            assert!(
                body["PostPeriod"]["error"]
                    .as_str()
                    .unwrap()
                    .contains("closed")
            );
        }
    }
    let stored = sandbox.acumatica().state().journal_transactions();
    let posted = stored.last().unwrap();
    assert_eq!(posted.status, "Balanced");
    assert_eq!(
        posted.lines.iter().map(|l| l.debit).sum::<Decimal>(),
        posted.lines.iter().map(|l| l.credit).sum::<Decimal>()
    );
    assert_eq!(sandbox.acumatica().state().created("JournalTransaction"), 1);
}

#[test]
fn the_binary_explains_its_flags_and_refuses_bad_ones() {
    let bin = env!("CARGO_BIN_EXE_ml-connector-sandbox");
    let help = std::process::Command::new(bin)
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--acumatica-port"));
    let bad = std::process::Command::new(bin)
        .args(["--looker-port", "seventy"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("'seventy' is not a valid number"));
}
