//! Conversions between `acumatica-client` types and the crate's neutral types: reference data
//! read once per run into a [`ReferenceData`], a [`JournalDocument`] into a
//! `JournalTransaction` with its natural key embedded, and a saved `JournalTransaction` back.
//!
//! Kept apart from the mapping so that [`crate::mapping`] and [`crate::validate`] never depend
//! on the client crate.

use acumatica_client::Client;
use acumatica_client::entity::{
    Account, FinancialPeriod, FinancialPeriodDetail, JournalTransaction, JournalTransactionDetail,
    Ledger, Subaccount,
};
use acumatica_client::value::{Timestamp, Value};
use rust_decimal::Decimal;

use crate::error::{Error, Result};
use crate::key::{NaturalKey, embed_key};
use crate::mapping::{JournalDocument, JournalLine, Partition, Period};
use crate::traits::ExistingDocument;
use crate::validate::{
    AccountInfo, BranchInfo, LedgerInfo, PeriodInfo, PeriodStatus, ReferenceData, SubaccountInfo,
};

/// Reads the reference data validation needs (accounts, subaccounts, ledgers with their
/// branches, financial periods) with four list reads, and converts it.
///
/// Accounts are read whole, inactive ones included, so a line on an inactive account is
/// reported as inactive rather than unknown. Branches come from the ledgers' `Branches`
/// (the Default endpoint has no branch entity).
///
/// ```no_run
/// # async fn demo(client: acumatica_client::Client) -> sync_core::Result<()> {
/// let reference = sync_core::adapt::read_reference_data(&client).await?;
/// assert!(reference.account("69100").is_some());
/// # Ok(()) }
/// ```
///
/// # Errors
/// Any error of the list reads.
#[tracing::instrument(level = "info", skip_all)]
pub async fn read_reference_data(client: &Client) -> Result<ReferenceData> {
    let (accounts, subaccounts, ledgers, periods) = futures::try_join!(
        client.accounts(false),
        client.subaccounts(),
        client.ledgers(),
        client.financial_periods(None),
    )?;
    let data = reference_data(&accounts, &subaccounts, &ledgers, &periods);
    tracing::info!(
        accounts = accounts.len(),
        subaccounts = subaccounts.len(),
        ledgers = ledgers.len(),
        years = periods.len(),
        "reference data read"
    );
    Ok(data)
}

fn text(v: &Value<String>) -> Option<String> {
    v.get()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Converts Acumatica's reference records into [`ReferenceData`]. Records without their code
/// are ignored; a missing `Active` counts as active (the field is absent when not selected).
///
/// ```
/// use acumatica_client::entity::{Account, Ledger, LedgerBranches};
/// use sync_core::adapt::reference_data;
///
/// let account = Account { account_cd: "69100".into(), active: true.into(), ..Default::default() };
/// let ledger = Ledger {
///     ledger_id: "ACTUAL".into(),
///     branches: Some(vec![LedgerBranches { branch_id: "HQ".into(), active: true.into(), ..Default::default() }]),
///     ..Default::default()
/// };
/// let data = reference_data(&[account], &[], &[ledger], &[]);
/// assert!(data.account("69100").unwrap().active);
/// assert!(data.branch("HQ").is_some());
/// assert_eq!(data.ledger("ACTUAL").unwrap().branches, vec!["HQ".to_string()]);
/// ```
pub fn reference_data(
    accounts: &[Account],
    subaccounts: &[Subaccount],
    ledgers: &[Ledger],
    periods: &[FinancialPeriod],
) -> ReferenceData {
    let accounts = accounts.iter().filter_map(|a| {
        let cd = text(&a.account_cd)?;
        Some(AccountInfo {
            account_cd: cd,
            active: a.active.get().copied().unwrap_or(true),
            description: text(&a.description),
        })
    });
    let subaccounts = subaccounts.iter().filter_map(|s| {
        let cd = text(&s.subaccount_cd)?;
        Some(SubaccountInfo::new(
            cd,
            s.active.get().copied().unwrap_or(true),
        ))
    });
    let mut branches: Vec<BranchInfo> = Vec::new();
    let mut ledger_infos = Vec::new();
    for l in ledgers {
        let Some(id) = text(&l.ledger_id) else {
            continue;
        };
        let mut ids = Vec::new();
        for b in l.branches.iter().flatten() {
            let Some(bid) = text(&b.branch_id) else {
                continue;
            };
            let active = b.active.get().copied().unwrap_or(true);
            match branches.iter_mut().find(|x| x.branch_id == bid) {
                // A branch active in any ledger is an active branch.
                Some(known) => known.active |= active,
                None => branches.push(BranchInfo::new(bid.clone(), active)),
            }
            ids.push(bid);
        }
        ledger_infos.push(LedgerInfo::new(id, ids));
    }
    let periods = periods.iter().flat_map(|year| {
        let fin_year = text(&year.financial_year);
        year.details
            .iter()
            .flatten()
            .filter_map(move |d| period_info(fin_year.as_deref(), d))
    });
    ReferenceData::new()
        .with_accounts(accounts)
        .with_subaccounts(subaccounts)
        .with_branches(branches)
        .with_ledgers(ledger_infos)
        .with_periods(periods.collect::<Vec<_>>())
}

/// The period of a `FinancialPeriodDetail`: from its year and `PeriodNbr` when both are known
/// (unambiguous), else from `FinancialPeriodID` (`MMYYYY`, or `YYYYPP` when it starts with the
/// year).
fn period_info(year: Option<&str>, d: &FinancialPeriodDetail) -> Option<PeriodInfo> {
    let nbr = text(&d.period_nbr).and_then(|n| n.parse::<u8>().ok());
    let year_num = year.and_then(|y| y.parse::<u16>().ok());
    let period = match (year_num, nbr) {
        (Some(y), Some(n)) => Period::new(y, n)?,
        _ => {
            let id = text(&d.financial_period_id)?;
            match year {
                Some(y) if id.starts_with(y) => Period::parse_yyyymm(&id).ok()?,
                _ => Period::parse_mmyyyy(&id).ok()?,
            }
        }
    };
    let status = PeriodStatus::from_label(d.status.get().map_or("", String::as_str));
    let mut info = PeriodInfo::new(period, status);
    if let (Some(s), Some(e)) = (d.start_date.get(), d.end_date.get()) {
        info = info.with_dates(s.local().date(), e.local().date());
    }
    Some(info)
}

/// The `JournalTransaction` to create for a document (module `GL`), with `key` embedded at the
/// end of the header description (see [`crate::key`] for why there).
///
/// ```
/// use sync_core::adapt::journal_transaction;
/// use sync_core::key::NaturalKey;
/// use sync_core::mapping::{JournalDocument, JournalLine, Partition, Period};
/// use rust_decimal::Decimal;
///
/// let line = |account: &str, debit: i64, credit: i64| JournalLine {
///     row: 1, account: account.into(), subaccount: Some("000-000".into()), branch: "HQ".into(),
///     project: None, task: None, cost_code: None, reference_nbr: None,
///     debit: Decimal::new(debit, 2), credit: Decimal::new(credit, 2), description: None, date: None,
/// };
/// let doc = JournalDocument {
///     flow: "alloc".into(), partition: Partition::new([("period", "102026")]),
///     branch: "HQ".into(), ledger: "ACTUAL".into(), currency: None,
///     period: Period::new(2026, 10).unwrap(), transaction_date: None,
///     description: "Allocation 102026".into(), hold: false,
///     lines: vec![line("69100", 1000, 0), line("69000", 0, 1000)], unmapped_rows: vec![],
/// };
/// let key = NaturalKey::for_document(&doc);
/// let jt = journal_transaction(&doc, &key);
/// let json = serde_json::to_value(&jt).unwrap();
/// assert_eq!(json["Module"]["value"], "GL");
/// assert_eq!(json["PostPeriod"]["value"], "102026");
/// assert!(json["Description"]["value"].as_str().unwrap().ends_with(&key.tag()));
/// let debit: Decimal = json["Details"][0]["DebitAmount"]["value"].to_string().parse().unwrap();
/// assert_eq!(debit, Decimal::new(1000, 2));
/// assert!(json["Details"][0].get("CreditAmount").is_none());
/// ```
pub fn journal_transaction(doc: &JournalDocument, key: &NaturalKey) -> JournalTransaction {
    let details = doc
        .lines
        .iter()
        .map(|l| JournalTransactionDetail {
            account: l.account.as_str().into(),
            subaccount: opt(l.subaccount.clone()),
            branch_id: l.branch.as_str().into(),
            project: opt(l.project.clone()),
            project_task: opt(l.task.clone()),
            cost_code: opt(l.cost_code.clone()),
            reference_nbr: opt(l.reference_nbr.clone()),
            debit_amount: nonzero(l.debit),
            credit_amount: nonzero(l.credit),
            transaction_description: opt(l.description.clone()),
            ..Default::default()
        })
        .collect();
    JournalTransaction {
        module: "GL".into(),
        branch_id: doc.branch.as_str().into(),
        ledger_id: doc.ledger.as_str().into(),
        currency_id: opt(doc.currency.clone()),
        post_period: doc.period.mmyyyy().into(),
        transaction_date: opt(doc.transaction_date.map(Timestamp::date)),
        description: embed_key(&doc.description, key).into(),
        hold: doc.hold.into(),
        details: Some(details),
        ..Default::default()
    }
}

/// An optional value: set when present, absent (not sent) otherwise; `None` never clears a
/// field on a create.
fn opt<T>(v: Option<T>) -> Value<T> {
    v.map_or_else(Value::absent, Value::set)
}

/// Only the side of a line that carries the amount is sent (the other stays absent).
fn nonzero(d: Decimal) -> Value<Decimal> {
    if d.is_zero() {
        Value::absent()
    } else {
        Value::set(d)
    }
}

/// What a lookup or a create learned about a saved batch.
///
/// # Errors
/// A data error when the batch has no `BatchNbr`.
pub fn existing_document(jt: &JournalTransaction) -> Result<ExistingDocument> {
    let number = text(&jt.batch_nbr).ok_or_else(|| {
        Error::data(
            "JournalTransaction",
            "a batch without BatchNbr was returned; add BatchNbr to $select",
        )
    })?;
    Ok(ExistingDocument {
        module: text(&jt.module).unwrap_or_else(|| "GL".to_owned()),
        number,
        id: jt.system.id.clone(),
        description: jt.description.get().cloned().unwrap_or_default(),
        status: text(&jt.status),
    })
}

/// A saved batch in neutral form (header and lines), e.g. to build its reversal. `flow` and
/// `partition` are left empty.
///
/// # Errors
/// A data error when the batch has no lines (read it with `$expand=Details`), no readable
/// `PostPeriod`, or a line without an account.
pub fn journal_document(jt: &JournalTransaction) -> Result<JournalDocument> {
    let what = || {
        format!(
            "JournalTransaction {}",
            jt.batch_nbr.get().map_or("?", String::as_str)
        )
    };
    let details = jt.details.as_ref().ok_or_else(|| {
        Error::data(
            what(),
            "the batch was read without its lines; read it with $expand=Details",
        )
    })?;
    let period_text =
        text(&jt.post_period).ok_or_else(|| Error::data(what(), "the batch has no PostPeriod"))?;
    let period = Period::parse_mmyyyy(&period_text)
        .map_err(|e| Error::data(what(), format!("PostPeriod: {e}")))?;
    let branch = text(&jt.branch_id).unwrap_or_default();
    let mut lines = Vec::with_capacity(details.len());
    for (i, d) in details.iter().enumerate() {
        let account = text(&d.account)
            .ok_or_else(|| Error::data(what(), format!("line {} has no Account", i + 1)))?;
        lines.push(JournalLine {
            row: i + 1,
            account,
            subaccount: text(&d.subaccount),
            branch: text(&d.branch_id).unwrap_or_else(|| branch.clone()),
            project: text(&d.project),
            task: text(&d.project_task),
            cost_code: text(&d.cost_code),
            reference_nbr: text(&d.reference_nbr),
            debit: d.debit_amount.get().copied().unwrap_or_default(),
            credit: d.credit_amount.get().copied().unwrap_or_default(),
            description: text(&d.transaction_description),
            date: None,
        });
    }
    Ok(JournalDocument {
        flow: String::new(),
        partition: Partition::new(Vec::<(String, String)>::new()),
        branch,
        ledger: text(&jt.ledger_id).unwrap_or_default(),
        currency: text(&jt.currency_id),
        period,
        transaction_date: jt.transaction_date.get().map(|t| t.local().date()),
        description: jt.description.get().cloned().unwrap_or_default(),
        hold: false,
        lines,
        unmapped_rows: Vec::new(),
    })
}

/// The reversal of a posted journal: the same lines with debit and credit swapped, in the same
/// period and the **same partition** (it is tagged `[mlc-rev:<the reversed key>]`, see
/// [`ReversalKey`](crate::key::ReversalKey), so a lookup of the partition counts it against the
/// posting it reverses), described `Reversal of batch <batch>: <the original's text>`.
///
/// ```
/// use sync_core::adapt::reversal_of;
/// use sync_core::mapping::{JournalDocument, JournalLine, Partition, Period};
/// use rust_decimal::Decimal;
///
/// let posted = JournalDocument {
///     flow: String::new(), partition: Partition::new(Vec::<(String, String)>::new()),
///     branch: "HQ".into(), ledger: "ACTUAL".into(), currency: None,
///     period: Period::new(2026, 10).unwrap(), transaction_date: None,
///     description: "Allocation [mlc:0123456789abcdef-fedcba9876543210]".into(), hold: false,
///     unmapped_rows: vec![],
///     lines: vec![JournalLine {
///         row: 1, account: "69100".into(), subaccount: None, branch: "HQ".into(), project: None,
///         task: None, cost_code: None, reference_nbr: None, debit: Decimal::new(5, 0),
///         credit: Decimal::ZERO, description: None, date: None,
///     }],
/// };
/// let p = Partition::new([("period", "102026")]);
/// let r = reversal_of(posted, "alloc", &p, "000042");
/// assert_eq!(r.lines[0].credit, Decimal::new(5, 0));
/// assert!(r.lines[0].debit.is_zero());
/// assert_eq!(r.partition, p);
/// assert_eq!(r.description, "Reversal of batch 000042: Allocation");
/// ```
pub fn reversal_of(
    mut posted: JournalDocument,
    flow: &str,
    partition: &Partition,
    batch_nbr: &str,
) -> JournalDocument {
    posted.flow = flow.to_owned();
    posted.partition = partition.clone();
    let human = crate::key::strip_tags_text(&posted.description);
    posted.description = format!("Reversal of batch {batch_nbr}: {human}")
        .trim()
        .to_owned();
    posted.hold = false;
    for l in &mut posted.lines {
        std::mem::swap(&mut l.debit, &mut l.credit);
    }
    posted
}

/// The `JournalTransaction` that reverses a posted journal: [`journal_transaction`] of the
/// reversal document ([`reversal_of`]), its description tagged `[mlc-rev:<reversed key>]`
/// ([`ReversalKey::description`](crate::key::ReversalKey::description)) instead of a posting tag.
pub fn reversal_transaction(
    reversal: &JournalDocument,
    key: &crate::key::ReversalKey,
) -> JournalTransaction {
    let mut jt = journal_transaction(reversal, key.reversed());
    jt.description = key.description(&reversal.description).into();
    jt
}

#[cfg(test)]
mod tests {
    use super::*;
    use acumatica_client::entity::LedgerBranches;

    #[test]
    fn periods_come_from_year_and_number_else_from_the_id() {
        let detail = |id: &str, nbr: &str, status: &str| FinancialPeriodDetail {
            financial_period_id: id.into(),
            period_nbr: if nbr.is_empty() {
                Value::absent()
            } else {
                nbr.into()
            },
            status: status.into(),
            ..Default::default()
        };
        let year = FinancialPeriod {
            financial_year: "2026".into(),
            details: Some(vec![
                detail("102026", "10", "Open"),
                detail("202611", "", "Closed"),
                detail("122026", "", "Locked"),
            ]),
            ..Default::default()
        };
        let data = reference_data(&[], &[], &[], &[year]);
        let p = |n| {
            data.period(Period::new(2026, n).unwrap())
                .map(|p| p.status.clone())
        };
        assert_eq!(p(10), Some(PeriodStatus::Open));
        assert_eq!(p(11), Some(PeriodStatus::Closed));
        assert_eq!(p(12), Some(PeriodStatus::Locked));
    }

    #[test]
    fn branches_are_merged_across_ledgers() {
        let ledger = |id: &str, active: bool| Ledger {
            ledger_id: id.into(),
            branches: Some(vec![LedgerBranches {
                branch_id: "HQ".into(),
                active: active.into(),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let data = reference_data(&[], &[], &[ledger("A", false), ledger("B", true)], &[]);
        assert!(data.branch("HQ").unwrap().active);
        assert_eq!(data.ledger("A").unwrap().branches, vec!["HQ".to_string()]);
    }

    #[test]
    fn saved_batch_reads_back_into_lines() {
        let jt: JournalTransaction = serde_json::from_value(serde_json::json!({
            "id": "5f9c0000-0000-0000-0000-000000000001",
            "BatchNbr": {"value": "000042"}, "Module": {"value": "GL"},
            "PostPeriod": {"value": "102026"}, "BranchID": {"value": "HQ"},
            "LedgerID": {"value": "ACTUAL"}, "Status": {"value": "Balanced"},
            "Description": {"value": "x [mlc:0123456789abcdef-fedcba9876543210]"},
            "Details": [
                {"Account": {"value": "69100"}, "DebitAmount": {"value": 12.5}, "CreditAmount": {"value": 0}},
                {"Account": {"value": "69000"}, "DebitAmount": {"value": 0}, "CreditAmount": {"value": 12.5}}
            ]
        }))
        .unwrap();
        let doc = journal_document(&jt).unwrap();
        assert_eq!(doc.lines.len(), 2);
        assert_eq!(doc.lines[0].debit, Decimal::new(125, 1));
        assert_eq!(doc.lines[1].branch, "HQ");
        assert!(doc.is_balanced());
        let existing = existing_document(&jt).unwrap();
        assert_eq!(existing.number, "000042");
        assert!(!existing.is_released());
        assert_eq!(
            existing.natural_key().unwrap().to_string(),
            "0123456789abcdef-fedcba9876543210"
        );
        let mut no_lines = jt.clone();
        no_lines.details = None;
        assert!(
            journal_document(&no_lines)
                .unwrap_err()
                .to_string()
                .contains("$expand=Details")
        );
    }
}
