//! The GL inquiries end to end: journals posted and released through
//! `acumatica-client` against the testkit's Acumatica fake, then read back
//! with `AccountSummaryInquiry` and `AccountDetailsForPeriodInquiry`. The
//! balances must move by exactly the released lines of the period: an
//! unreleased batch, a batch of the next period and the ledger parameter
//! all change the answer if the fake (or the client) ignored them.

use acumatica_client::entity::{JournalTransaction, JournalTransactionDetail};
use acumatica_client::inquiry::{
    AccountDetailsForPeriodInquiry, AccountDetailsForPeriodInquiryDetail, AccountSummaryInquiry,
    AccountSummaryRow,
};
use acumatica_client::{Client, ErrorKind};
use ml_connector_tests::harness::{Retries, acumatica_client};
use rust_decimal::Decimal;
use testkit::acumatica::{AcumaticaFake, AcumaticaOptions};
use testkit::seed;

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// A batch of `period` (month of the seeded financial year) with lines
/// `(account, debit, credit)` on subaccount `000000`.
fn batch(month: u32, lines: &[(&str, &str, &str)]) -> JournalTransaction {
    let date = chrono::NaiveDate::from_ymd_opt(seed::FINANCIAL_YEAR, month, 15).unwrap();
    JournalTransaction {
        description: format!("inquiry test {month}").into(),
        hold: false.into(),
        post_period: seed::period_id(month).into(),
        transaction_date: acumatica_client::value::Timestamp::date(date).into(),
        details: Some(
            lines
                .iter()
                .map(|(account, debit, credit)| {
                    if *debit != "0" {
                        JournalTransactionDetail::debit(account, "000000", dec(debit))
                    } else {
                        JournalTransactionDetail::credit(account, "000000", dec(credit))
                    }
                })
                .collect(),
        ),
        ..Default::default()
    }
}

async fn post(client: &Client, b: &JournalTransaction, release: bool) -> String {
    let created = client.create_journal_transaction(b).await.unwrap();
    if release {
        client
            .release_journal_transaction(&created.module, &created.batch_nbr)
            .await
            .unwrap();
    }
    created.batch_nbr
}

/// Sum of `field` over the rows of `account` / subaccount `000000` (one
/// row per branch).
fn total(
    rows: &[AccountSummaryRow],
    account: &str,
    field: fn(&AccountSummaryRow) -> Option<&Decimal>,
) -> Decimal {
    rows.iter()
        .filter(|r| r.account.as_str() == Some(account) && r.subaccount.as_str() == Some("000000"))
        .map(|r| field(r).copied().unwrap_or_default())
        .sum()
}

fn begin(r: &AccountSummaryRow) -> Option<&Decimal> {
    r.beginning_balance.get()
}
fn debit(r: &AccountSummaryRow) -> Option<&Decimal> {
    r.debit_total.get()
}
fn credit(r: &AccountSummaryRow) -> Option<&Decimal> {
    r.credit_total.get()
}
fn ending(r: &AccountSummaryRow) -> Option<&Decimal> {
    r.ending_balance.get()
}

async fn summary(client: &Client, month: u32) -> Vec<AccountSummaryRow> {
    client
        .inquiry_rows(&AccountSummaryInquiry::new(seed::LEDGER, &seed::period_id(month)).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn account_summary_moves_by_exactly_the_released_lines_of_the_period() {
    let fake = AcumaticaFake::start(AcumaticaOptions::default())
        .await
        .unwrap();
    let client = acumatica_client(fake.url(), Retries::Fast);
    let (nov, dec_) = (11, 12);
    let before = summary(&client, nov).await;
    let before_next = summary(&client, dec_).await;

    // Released in November: revenue into checking, then rent out of it.
    post(
        &client,
        &batch(nov, &[("10200", "150.25", "0"), ("40000", "0", "150.25")]),
        true,
    )
    .await;
    post(
        &client,
        &batch(nov, &[("61000", "80.10", "0"), ("10200", "0", "80.10")]),
        true,
    )
    .await;
    // Not released: must not count.
    post(
        &client,
        &batch(nov, &[("10200", "999.99", "0"), ("40000", "0", "999.99")]),
        false,
    )
    .await;
    // Released in December: must not count in November.
    post(
        &client,
        &batch(
            dec_,
            &[("10200", "5000.01", "0"), ("40000", "0", "5000.01")],
        ),
        true,
    )
    .await;

    let after = summary(&client, nov).await;
    let delta = |account: &str, f| total(&after, account, f) - total(&before, account, f);
    // Checking (asset): debit 150.25, credit 80.10.
    assert_eq!(delta("10200", begin), Decimal::ZERO);
    assert_eq!(delta("10200", debit), dec("150.25"));
    assert_eq!(delta("10200", credit), dec("80.10"));
    assert_eq!(delta("10200", ending), dec("70.15"));
    // Revenue (income): a credit raises its balance as the form shows it.
    assert_eq!(delta("40000", debit), Decimal::ZERO);
    assert_eq!(delta("40000", credit), dec("150.25"));
    assert_eq!(delta("40000", ending), dec("150.25"));
    // Rent (expense).
    assert_eq!(delta("61000", debit), dec("80.10"));
    assert_eq!(delta("61000", ending), dec("80.10"));
    for r in &after {
        let (b, p, e) = (begin(r), r.ptd_total.get(), ending(r));
        assert_eq!(
            b.copied().unwrap_or_default() + p.copied().unwrap_or_default(),
            e.copied().unwrap_or_default(),
            "{r:?}"
        );
    }

    // December opens with November's movement and adds its own batch.
    let after_next = summary(&client, dec_).await;
    let delta_next =
        |account: &str, f| total(&after_next, account, f) - total(&before_next, account, f);
    assert_eq!(delta_next("10200", begin), dec("70.15"));
    assert_eq!(delta_next("10200", debit), dec("5000.01"));
    assert_eq!(delta_next("10200", ending), dec("5070.16"));
    assert_eq!(delta_next("40000", begin), dec("150.25"));

    // A ledger the site does not have is refused, naming the field.
    let err = client
        .inquiry(&AccountSummaryInquiry::new("NOSUCH", &seed::period_id(nov)).unwrap())
        .await
        .unwrap_err();
    match err.kind() {
        ErrorKind::Validation(fields) => {
            assert!(
                fields
                    .iter()
                    .any(|f| f.path == "Ledger" && f.message.contains("NOSUCH")),
                "{err}"
            )
        }
        other => panic!("expected a validation error, got {other:?}: {err}"),
    }
}

#[tokio::test]
async fn account_details_list_exactly_the_released_lines_of_the_period() {
    let fake = AcumaticaFake::start(AcumaticaOptions::default())
        .await
        .unwrap();
    let client = acumatica_client(fake.url(), Retries::Fast);
    let nov = seed::period_id(11);
    let a = post(
        &client,
        &batch(11, &[("10200", "150.25", "0"), ("40000", "0", "150.25")]),
        true,
    )
    .await;
    let b = post(
        &client,
        &batch(11, &[("61000", "80.10", "0"), ("10200", "0", "80.10")]),
        true,
    )
    .await;
    let held = post(
        &client,
        &batch(11, &[("10200", "999.99", "0"), ("40000", "0", "999.99")]),
        false,
    )
    .await;
    let next = post(
        &client,
        &batch(12, &[("10200", "5000.01", "0"), ("40000", "0", "5000.01")]),
        true,
    )
    .await;
    let ours = [&a, &b, &held, &next];

    let answer = client
        .inquiry(&AccountDetailsForPeriodInquiry::new(seed::LEDGER, &nov, &nov).unwrap())
        .await
        .unwrap();
    let mine =
        |lines: Vec<&AccountDetailsForPeriodInquiryDetail>| -> Vec<(String, Decimal, Decimal)> {
            let mut v: Vec<_> = lines
                .into_iter()
                .filter(|l| {
                    ours.iter()
                        .any(|n| l.batch_number.as_str() == Some(n.as_str()))
                })
                .map(|l| {
                    assert_eq!(l.module.as_str(), Some("GL"));
                    assert_eq!(l.period_id.as_str(), Some(nov.as_str()));
                    (
                        l.batch_number.as_str().unwrap().to_owned(),
                        l.debit_amount.get().copied().unwrap_or_default(),
                        l.credit_amount.get().copied().unwrap_or_default(),
                    )
                })
                .collect();
            v.sort();
            v
        };
    assert_eq!(
        mine(answer.lines_of("10200")),
        vec![
            (a.clone(), dec("150.25"), Decimal::ZERO),
            (b.clone(), Decimal::ZERO, dec("80.10")),
        ]
    );
    assert_eq!(
        mine(answer.lines_of("61000")),
        vec![(b.clone(), dec("80.10"), Decimal::ZERO)]
    );

    // With unreleased batches, the held one's lines appear too.
    let answer = client
        .inquiry(
            &AccountDetailsForPeriodInquiry::new(seed::LEDGER, &nov, &nov)
                .unwrap()
                .include_unreleased(true),
        )
        .await
        .unwrap();
    let lines = mine(answer.lines_of("10200"));
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines.contains(&(held.clone(), dec("999.99"), Decimal::ZERO)));

    // A period that does not exist is refused, naming the field.
    let err = client
        .inquiry(&AccountDetailsForPeriodInquiry::new(seed::LEDGER, "012031", "012031").unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Validation(f) if f.iter().any(|f| f.path == "FromPeriod")),
        "{err}"
    );
}

#[tokio::test]
async fn a_journal_seeded_in_a_closed_period_opens_the_later_periods() {
    let fake = AcumaticaFake::start(AcumaticaOptions::default())
        .await
        .unwrap();
    let client = acumatica_client(fake.url(), Retries::Fast);
    let before = summary(&client, 11).await;
    let closed = seed::period_id(seed::LAST_CLOSED_MONTH);
    let amount = dec("12345.67");
    let nbr = fake
        .state()
        .post_journal(
            &closed,
            "Opening balance",
            &[
                ("10200", "000000", amount, Decimal::ZERO),
                ("20000", "000000", Decimal::ZERO, amount),
            ],
        )
        .unwrap();
    let after = summary(&client, 11).await;
    let delta = |account: &str, f| total(&after, account, f) - total(&before, account, f);
    assert_eq!(delta("10200", begin), amount);
    assert_eq!(
        delta("20000", begin),
        amount,
        "a liability's credit shows positive"
    );
    assert_eq!(delta("10200", debit), Decimal::ZERO);

    let answer = client
        .inquiry(&AccountDetailsForPeriodInquiry::new(seed::LEDGER, &closed, &closed).unwrap())
        .await
        .unwrap();
    let ours: Vec<_> = answer
        .lines_of("20000")
        .into_iter()
        .filter(|l| l.batch_number.as_str() == Some(nbr.as_str()))
        .collect();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].credit_amount.get(), Some(&amount));
    assert_eq!(ours[0].posted.get(), Some(&true));
}
