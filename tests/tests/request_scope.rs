//! The branch and business date of an Acumatica client view
//! (`Client::with_branch` / `with_business_date`) against the testkit fake:
//! the headers reach the entity requests only, and a new journal batch that
//! leaves its branch and date out takes them from the request, as a batch
//! entered in that branch on that business date would.

use acumatica_client::entity::{JournalTransaction, JournalTransactionDetail};
use ml_connector_tests::harness::{Retries, acumatica_client};
use rust_decimal::Decimal;
use testkit::acumatica::{AcumaticaFake, AcumaticaOptions};
use testkit::seed;

fn batch(description: &str) -> JournalTransaction {
    JournalTransaction {
        description: description.into(),
        details: Some(vec![
            JournalTransactionDetail::debit("10200", "000000", Decimal::new(10_000, 2)),
            JournalTransactionDetail::credit("40000", "000000", Decimal::new(10_000, 2)),
        ]),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_batch_created_through_a_scoped_view_takes_its_branch_and_date_from_the_request() {
    let fake = AcumaticaFake::start(AcumaticaOptions::default())
        .await
        .unwrap();
    let client = acumatica_client(fake.url(), Retries::Fast);
    let west = &seed::BRANCHES[2];
    let close = chrono::NaiveDate::from_ymd_opt(seed::FINANCIAL_YEAR, 10, 31).unwrap();
    let view = client
        .with_branch(west.name)
        .unwrap()
        .with_business_date(close);

    let scoped = view
        .create_journal_transaction(&batch("scoped"))
        .await
        .unwrap();
    let plain = client
        .create_journal_transaction(&batch("plain"))
        .await
        .unwrap();

    let doc = fake
        .state()
        .document("JournalTransaction", &["GL", &scoped.batch_nbr])
        .expect("the scoped batch exists");
    assert_eq!(doc["BranchID"]["value"], west.id, "{doc}");
    assert!(
        doc["TransactionDate"]["value"]
            .as_str()
            .is_some_and(|d| d.starts_with("2026-10-31")),
        "{doc}"
    );
    assert_eq!(doc["PostPeriod"]["value"], seed::period_id(10), "{doc}");

    let doc = fake
        .state()
        .document("JournalTransaction", &["GL", &plain.batch_nbr])
        .expect("the plain batch exists");
    assert_eq!(doc["BranchID"]["value"], seed::BRANCHES[0].id, "{doc}");

    // The headers went on the scoped PUT only: not on the token request,
    // not on the original client's PUT.
    let log = fake.log().entries();
    let token: Vec<_> = log
        .iter()
        .filter(|r| r.path.ends_with("/identity/connect/token"))
        .collect();
    assert!(!token.is_empty());
    assert!(
        token
            .iter()
            .all(|r| r.branch.is_none() && r.business_date.is_none())
    );
    let puts: Vec<_> = log
        .iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with("/JournalTransaction"))
        .collect();
    assert_eq!(puts.len(), 2);
    assert_eq!(puts[0].branch.as_deref(), Some(west.name));
    assert_eq!(puts[0].business_date.as_deref(), Some("2026-10-31"));
    assert_eq!(puts[1].branch, None);
    assert_eq!(puts[1].business_date, None);
}
