//! Inquiries of the Default endpoint: forms that compute rows from
//! parameters instead of storing records. The contract API runs one as a
//! `PUT` of the inquiry entity holding the parameters, with
//! `$expand=Results`; the answer is the parameters plus the `Results`
//! rows. Nothing is saved, so [`Client::inquiry`] repeats the request after
//! a timeout or a gateway error like a read.
//!
//! The general-ledger inquiries are typed here, with the field names and
//! types of the Default 22.200.001, 23.200.001 and 24.200.001 contract
//! files (identical in the three):
//!
//! - [`AccountSummaryInquiry`] (form GL401000, Account Summary): per
//!   account, subaccount and branch of a ledger, the balance at the start
//!   of a period, the period's debit and credit turnover and the ending
//!   balance ([`AccountSummaryRow`]).
//! - [`AccountDetailsForPeriodInquiry`] (form GL404001): the journal lines
//!   of a ledger in a range of periods ([`AccountDetailsForPeriodInquiryDetail`]).
//!   The contract has no account parameter; pick the account from the rows
//!   ([`AccountDetailsForPeriodInquiry::lines_of`]).
//!
//! Implement [`Inquiry`] for your own struct to run another inquiry (such
//! as `InventorySummaryInquiry`) the same way.
//!
//! ```no_run
//! # async fn run(client: acumatica_client::Client) -> acumatica_client::Result<()> {
//! use acumatica_client::inquiry::AccountSummaryInquiry;
//!
//! let balances = client
//!     .inquiry_rows(&AccountSummaryInquiry::new("ACTUAL", "072026")?)
//!     .await?;
//! for row in &balances {
//!     println!(
//!         "{} {}: {:?} -> {:?}",
//!         row.account.as_str().unwrap_or(""),
//!         row.subaccount.as_str().unwrap_or(""),
//!         row.beginning_balance.get(),
//!         row.ending_balance.get()
//!     );
//! }
//! # Ok(()) }
//! ```

use reqwest::Method;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::client::Client;
use crate::entity::{EntityVisitor, ReadField, SystemFields, compact_debug};
use crate::error::{Error, Result};
use crate::query::{self, ListQuery};
use crate::read::decode;
use crate::transport::{Request, Safety};
use crate::value::{Timestamp, Value};

/// An inquiry entity: its parameters, and the rows it answers in
/// [`RESULTS`](Self::RESULTS).
pub trait Inquiry:
    Serialize + DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static
{
    /// The entity name in the URL (`AccountSummaryInquiry`).
    const NAME: &'static str;
    /// The detail collection holding the rows (`Results` for the GL
    /// inquiries), sent as `$expand`.
    const RESULTS: &'static str = "Results";
    /// One result row.
    type Row: DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static;

    /// The rows of an answered inquiry (empty when the server sent none).
    fn into_rows(self) -> Vec<Self::Row>;
}

impl Client {
    /// Runs an inquiry: `PUT <Inquiry>?$expand=Results` with the
    /// parameters; returns the parameters as the server applied them and
    /// the rows in `results`.
    ///
    /// ```no_run
    /// # async fn run(client: acumatica_client::Client) -> acumatica_client::Result<()> {
    /// use acumatica_client::inquiry::AccountDetailsForPeriodInquiry;
    /// let answer = client
    ///     .inquiry(&AccountDetailsForPeriodInquiry::new("ACTUAL", "012026", "032026")?)
    ///     .await?;
    /// let lines = answer.lines_of("10200");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Validation`](crate::ErrorKind::Validation) with the
    /// server's field errors when a parameter is refused (unknown ledger,
    /// a period that does not exist), and the usual authentication,
    /// server and transport errors.
    pub async fn inquiry<I: Inquiry>(&self, parameters: &I) -> Result<I> {
        let body = serde_json::to_value(parameters).map_err(|e| {
            Error::config(format!("cannot serialize the {} parameters: {e}", I::NAME))
        })?;
        let mut url = self.entity_url(I::NAME)?;
        query::apply(
            &mut url,
            &ListQuery::new().expand([I::RESULTS]).pairs(false),
        );
        let mut req = Request::new(Method::PUT, url, I::NAME).json(body);
        // An inquiry saves nothing: repeating it is as safe as a read.
        req.safety = Safety::Safe;
        let resp = self.execute(req).await?;
        decode(&resp.body, &format!("PUT {} (inquiry)", I::NAME))
    }

    /// Runs an inquiry and returns only its rows.
    ///
    /// # Errors
    /// As [`inquiry`](Self::inquiry).
    pub async fn inquiry_rows<I: Inquiry>(&self, parameters: &I) -> Result<Vec<I::Row>> {
        Ok(self.inquiry(parameters).await?.into_rows())
    }
}

/// A financial period id as the API takes it, `MMYYYY` (`MM-YYYY` is
/// accepted and sent without the dash); periods 01..13 (13: an adjustment
/// period).
fn period(field: &str, text: &str) -> Result<String> {
    let p = text.trim().replace('-', "");
    let ok = p.len() == 6
        && p.bytes().all(|b| b.is_ascii_digit())
        && matches!(p[..2].parse::<u32>(), Ok(1..=13));
    if ok {
        Ok(p)
    } else {
        Err(Error::config(format!(
            "{field} '{text}' is not a financial period: give it as MMYYYY (e.g. 072026 for \
             period 07 of 2026)"
        )))
    }
}

fn required(field: &str, text: &str) -> Result<String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(Error::config(format!(
            "{field} is empty: name the ledger (its LedgerID, e.g. ACTUAL)"
        )));
    }
    Ok(t.to_owned())
}

/// Defines an inquiry record: a struct of `Value` fields (plus optional
/// `Results`), its deserializer through [`EntityVisitor`] (exact numbers,
/// unknown fields kept in `extra`) and a compact `Debug`.
macro_rules! record {
    (
        $(#[$meta:meta])*
        $t:ident = $name:literal {
            $($field:ident : $ty:ty = $json:literal,)*
        }
        $(results: $row:ty,)?
    ) => {
        $(#[$meta])*
        ///
        /// Unset fields are [`Value::absent`] and are not sent; fields this
        /// struct does not model are kept in `extra`.
        #[derive(Clone, Default, PartialEq, Serialize)]
        pub struct $t {
            /// `id`, `rowNumber`, `note`, `custom`, `files`, `_links`, `error`, `delete`.
            #[serde(flatten)]
            pub system: SystemFields,
            $(
                #[doc = concat!("`", $json, "`.")]
                #[serde(rename = $json, default, skip_serializing_if = "Value::is_absent")]
                pub $field: Value<$ty>,
            )*
            $(
                /// `Results`: the rows (only in an answer).
                #[serde(rename = "Results", default, skip_serializing_if = "Option::is_none")]
                pub results: Option<Vec<$row>>,
            )?
            /// Fields not modelled above, kept verbatim.
            #[serde(flatten)]
            pub extra: Map<String, Json>,
        }
        compact_debug!($t);

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                d.deserialize_map(EntityVisitor::<$t>::new($name))
            }
        }

        impl ReadField for $t {
            fn system_mut(&mut self) -> &mut SystemFields {
                &mut self.system
            }
            fn extra_mut(&mut self) -> &mut Map<String, Json> {
                &mut self.extra
            }
            fn read_field<'de, A: serde::de::MapAccess<'de>>(
                &mut self,
                key: &str,
                map: &mut A,
            ) -> std::result::Result<bool, A::Error> {
                match key {
                    $($json => self.$field = map.next_value()?,)*
                    $("Results" => self.results = map.next_value::<Option<Vec<$row>>>()?,)?
                    _ => return Ok(false),
                }
                Ok(true)
            }
        }
    };
}

record! {
    /// `AccountSummaryInquiry` (GL401000): the balances of a ledger's
    /// accounts for one period. Build it with [`AccountSummaryInquiry::new`].
    AccountSummaryInquiry = "AccountSummaryInquiry" {
        account_class: String = "AccountClass",
        branch: String = "Branch",
        ledger: String = "Ledger",
        period: String = "Period",
        subaccount: String = "Subaccount",
    }
    results: AccountSummaryRow,
}

impl AccountSummaryInquiry {
    /// The balances of `ledger` (its `LedgerID`, e.g. `ACTUAL`) for
    /// `period` (`MMYYYY` or `MM-YYYY`).
    ///
    /// ```
    /// use acumatica_client::inquiry::AccountSummaryInquiry;
    /// let q = AccountSummaryInquiry::new("ACTUAL", "07-2026").unwrap().branch("HQ");
    /// assert_eq!(q.period.as_str(), Some("072026"));
    /// let err = AccountSummaryInquiry::new("ACTUAL", "2026-07").unwrap_err();
    /// assert!(err.to_string().contains("MMYYYY"));
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for an empty ledger
    /// or a period not of the form `MMYYYY`.
    pub fn new(ledger: &str, period_id: &str) -> Result<Self> {
        Ok(Self {
            ledger: required("Ledger", ledger)?.into(),
            period: period("Period", period_id)?.into(),
            ..Self::default()
        })
    }

    /// Only this branch (its `BranchID`).
    #[must_use]
    pub fn branch(mut self, branch: &str) -> Self {
        self.branch = branch.into();
        self
    }

    /// Only this subaccount.
    #[must_use]
    pub fn subaccount(mut self, subaccount: &str) -> Self {
        self.subaccount = subaccount.into();
        self
    }

    /// Only accounts of this account class.
    #[must_use]
    pub fn account_class(mut self, class: &str) -> Self {
        self.account_class = class.into();
        self
    }
}

impl Inquiry for AccountSummaryInquiry {
    const NAME: &'static str = "AccountSummaryInquiry";
    type Row = AccountSummaryRow;
    fn into_rows(self) -> Vec<AccountSummaryRow> {
        self.results.unwrap_or_default()
    }
}

record! {
    /// One row of [`AccountSummaryInquiry`]: an account (with subaccount
    /// and branch) for the period. Balances carry the sign the form shows
    /// (credit balances of liability and income accounts are positive);
    /// `PtdTotal` is the period's change, so ending = beginning + PTD.
    AccountSummaryRow = "AccountSummaryRow" {
        account: String = "Account",
        account_class: String = "AccountClass",
        beginning_balance: Decimal = "BeginningBalance",
        branch: String = "Branch",
        consolidation_account: String = "ConsolidationAccount",
        credit_total: Decimal = "CreditTotal",
        currency_beginning_balance: Decimal = "CurrencyBeginningBalance",
        currency_credit_total: Decimal = "CurrencyCreditTotal",
        currency_debit_total: Decimal = "CurrencyDebitTotal",
        currency_ending_balance: Decimal = "CurrencyEndingBalance",
        currency_id: String = "CurrencyID",
        currency_ptd_total: Decimal = "CurrencyPtdTotal",
        debit_total: Decimal = "DebitTotal",
        description: String = "Description",
        ending_balance: Decimal = "EndingBalance",
        last_activity: String = "LastActivity",
        ledger_id: i32 = "LedgerID",
        ptd_total: Decimal = "PtdTotal",
        subaccount: String = "Subaccount",
        r#type: String = "Type",
    }
}

record! {
    /// `AccountDetailsForPeriodInquiry` (GL404001): the journal lines of a
    /// ledger in a range of periods. Build it with
    /// [`AccountDetailsForPeriodInquiry::new`].
    AccountDetailsForPeriodInquiry = "AccountDetailsForPeriodInquiry" {
        from_period: String = "FromPeriod",
        ledger: String = "Ledger",
        to_period: String = "ToPeriod",
        include_unposted: bool = "IncludeUnposted",
        include_unreleased: bool = "IncludeUnreleased",
    }
    results: AccountDetailsForPeriodInquiryDetail,
}

impl AccountDetailsForPeriodInquiry {
    /// The lines of `ledger` from period `from` to period `to` (both
    /// `MMYYYY` or `MM-YYYY`, inclusive).
    ///
    /// ```
    /// use acumatica_client::inquiry::AccountDetailsForPeriodInquiry;
    /// let q = AccountDetailsForPeriodInquiry::new("ACTUAL", "012026", "03-2026")
    ///     .unwrap()
    ///     .include_unposted(true);
    /// assert_eq!(q.to_period.as_str(), Some("032026"));
    /// assert!(AccountDetailsForPeriodInquiry::new("", "012026", "032026").is_err());
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for an empty ledger
    /// or a period not of the form `MMYYYY`.
    pub fn new(ledger: &str, from: &str, to: &str) -> Result<Self> {
        Ok(Self {
            ledger: required("Ledger", ledger)?.into(),
            from_period: period("FromPeriod", from)?.into(),
            to_period: period("ToPeriod", to)?.into(),
            ..Self::default()
        })
    }

    /// Also lines of released batches not yet posted.
    #[must_use]
    pub fn include_unposted(mut self, yes: bool) -> Self {
        self.include_unposted = yes.into();
        self
    }

    /// Also lines of batches not yet released.
    #[must_use]
    pub fn include_unreleased(mut self, yes: bool) -> Self {
        self.include_unreleased = yes.into();
        self
    }

    /// The answered lines of one account (compared without regard to case
    /// or surrounding spaces, as account codes are).
    pub fn lines_of(&self, account: &str) -> Vec<&AccountDetailsForPeriodInquiryDetail> {
        let want = account.trim();
        self.results
            .iter()
            .flatten()
            .filter(|l| {
                l.account
                    .as_str()
                    .is_some_and(|a| a.trim().eq_ignore_ascii_case(want))
            })
            .collect()
    }
}

impl Inquiry for AccountDetailsForPeriodInquiry {
    const NAME: &'static str = "AccountDetailsForPeriodInquiry";
    type Row = AccountDetailsForPeriodInquiryDetail;
    fn into_rows(self) -> Vec<AccountDetailsForPeriodInquiryDetail> {
        self.results.unwrap_or_default()
    }
}

record! {
    /// One journal line of [`AccountDetailsForPeriodInquiry`].
    AccountDetailsForPeriodInquiryDetail = "AccountDetailsForPeriodInquiryDetail" {
        account: String = "Account",
        batch_number: String = "BatchNumber",
        branch: String = "Branch",
        credit_amount: Decimal = "CreditAmount",
        credit_amount_in_base_currency: Decimal = "CreditAmountInBaseCurrency",
        currency: String = "Currency",
        customer_vendor: String = "CustomerVendor",
        debit_amount: Decimal = "DebitAmount",
        debit_amount_in_base_currency: Decimal = "DebitAmountInBaseCurrency",
        last_modified_date_time: Timestamp = "LastModifiedDateTime",
        ledger: String = "Ledger",
        module: String = "Module",
        period_id: String = "PeriodID",
        project: String = "Project",
        project_task: String = "ProjectTask",
        ref_number: String = "RefNumber",
        subaccount: String = "Subaccount",
        transaction_date: Timestamp = "TransactionDate",
        transaction_description: String = "TransactionDescription",
        transaction_type: String = "TransactionType",
        posted: bool = "Posted",
        released: bool = "Released",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_serialize_wrapped_and_answers_keep_exact_numbers() {
        let q = AccountSummaryInquiry::new(" ACTUAL ", "072026")
            .unwrap()
            .branch("HQ");
        assert_eq!(
            serde_json::to_value(&q).unwrap(),
            serde_json::json!({"Branch": {"value": "HQ"}, "Ledger": {"value": "ACTUAL"}, "Period": {"value": "072026"}})
        );
        let answer: AccountSummaryInquiry = serde_json::from_str(
            r#"{"id":"x","rowNumber":1,"Ledger":{"value":"ACTUAL"},"Period":{"value":"072026"},
                "Results":[{"id":"r","rowNumber":1,"Account":{"value":"10200"},
                "EndingBalance":{"value":12345678901234.123456},"LedgerID":{},"UsrNew":{"value":1}}]}"#,
        )
        .unwrap();
        let rows = answer.into_rows();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0].ending_balance.get().unwrap().to_string(),
            "12345678901234.123456"
        );
        assert!(rows[0].ledger_id.is_null() || rows[0].ledger_id.is_absent());
        assert!(rows[0].extra.contains_key("UsrNew"));
    }

    #[test]
    fn bad_periods_and_ledgers_are_refused_before_sending() {
        for p in ["2026-07", "0726", "142026", "07/2026", ""] {
            let e = AccountSummaryInquiry::new("ACTUAL", p).unwrap_err();
            assert!(e.to_string().contains("MMYYYY"), "{p}: {e}");
        }
        assert!(AccountSummaryInquiry::new("  ", "072026").is_err());
        assert!(AccountDetailsForPeriodInquiry::new("ACTUAL", "012026", "13x026").is_err());
    }
}
