//! Acumatica reference data (read once per run), in neutral form.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::mapping::Period;

/// A GL account (`Account` entity: `AccountCD`, `Active`, `Description`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    /// The account CD, as journal lines name it.
    pub account_cd: String,
    /// Whether the account is active.
    pub active: bool,
    /// The account's description, if known.
    pub description: Option<String>,
}

impl AccountInfo {
    /// An account without a description.
    pub fn new(account_cd: impl Into<String>, active: bool) -> Self {
        Self {
            account_cd: account_cd.into(),
            active,
            description: None,
        }
    }
}

/// A subaccount (`Subaccount` entity: `SubaccountCD`, `Active`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubaccountInfo {
    /// The subaccount CD, in the form journal lines send it.
    pub subaccount_cd: String,
    /// Whether the subaccount is active.
    pub active: bool,
}

impl SubaccountInfo {
    /// A subaccount.
    pub fn new(subaccount_cd: impl Into<String>, active: bool) -> Self {
        Self {
            subaccount_cd: subaccount_cd.into(),
            active,
        }
    }
}

/// A branch (from `CompaniesStructure` results or `Ledger.Branches`: `BranchID`, status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchInfo {
    /// The branch ID, as `BranchID` fields take it.
    pub branch_id: String,
    /// Whether the branch is active.
    pub active: bool,
}

impl BranchInfo {
    /// A branch.
    pub fn new(branch_id: impl Into<String>, active: bool) -> Self {
        Self {
            branch_id: branch_id.into(),
            active,
        }
    }
}

/// A ledger (`Ledger` entity: `LedgerID`, and the branches of `Ledger.Branches`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerInfo {
    /// The ledger ID.
    pub ledger_id: String,
    /// The branches the ledger is associated with; empty means "not known", and no
    /// branch check is made.
    pub branches: Vec<String>,
}

impl LedgerInfo {
    /// A ledger with its branches (pass an empty list when they are not known).
    pub fn new<S: Into<String>>(
        ledger_id: impl Into<String>,
        branches: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            ledger_id: ledger_id.into(),
            branches: branches.into_iter().map(Into::into).collect(),
        }
    }
}

/// The status of a financial period (`FinancialPeriodDetail.Status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeriodStatus {
    /// Open for posting.
    Open,
    /// Closed.
    Closed,
    /// Locked.
    Locked,
    /// Not yet activated.
    Inactive,
    /// Any other status text, kept as given.
    Other(String),
}

impl PeriodStatus {
    /// Reads Acumatica's status label (`Open`, `Closed`, `Locked`, `Inactive`), ignoring case.
    ///
    /// ```
    /// use sync_core::validate::PeriodStatus;
    /// assert_eq!(PeriodStatus::from_label("open"), PeriodStatus::Open);
    /// assert_eq!(PeriodStatus::from_label("Frozen"), PeriodStatus::Other("Frozen".into()));
    /// ```
    pub fn from_label(label: &str) -> Self {
        match label.trim().to_ascii_lowercase().as_str() {
            "open" => Self::Open,
            "closed" => Self::Closed,
            "locked" => Self::Locked,
            "inactive" => Self::Inactive,
            _ => Self::Other(label.trim().to_owned()),
        }
    }
}

impl fmt::Display for PeriodStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeriodStatus::Open => f.write_str("Open"),
            PeriodStatus::Closed => f.write_str("Closed"),
            PeriodStatus::Locked => f.write_str("Locked"),
            PeriodStatus::Inactive => f.write_str("Inactive"),
            PeriodStatus::Other(s) => f.write_str(s),
        }
    }
}

/// A financial period (`FinancialPeriod.Details`: `FinancialPeriodID`, `Status`,
/// `StartDate`, `EndDate`).
///
/// An adapter reads `FinancialPeriodID` with [`Period::parse_any`] (it accepts the `MMYYYY`
/// display form and the internal `YYYYPP` ID) and `Status` with [`PeriodStatus::from_label`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodInfo {
    /// The period.
    pub period: Period,
    /// Its status.
    pub status: PeriodStatus,
    /// First day, if known.
    pub start: Option<NaiveDate>,
    /// Last day, if known (inclusive).
    pub end: Option<NaiveDate>,
}

impl PeriodInfo {
    /// A period without dates.
    pub fn new(period: Period, status: PeriodStatus) -> Self {
        Self {
            period,
            status,
            start: None,
            end: None,
        }
    }

    /// The same period with its first and last day (`end` inclusive).
    pub fn with_dates(mut self, start: NaiveDate, end: NaiveDate) -> Self {
        self.start = Some(start);
        self.end = Some(end);
        self
    }
}

/// The Acumatica reference data a run validates against, built from plain lists (the flow
/// reads them once per run through the client and converts them).
///
/// Lookups are exact (codes are compared as Acumatica stores them; a value that differs only in
/// letter case is reported with the right code as the first suggestion). Later entries replace
/// earlier ones with the same code.
///
/// ```
/// use sync_core::mapping::Period;
/// use sync_core::validate::{AccountInfo, BranchInfo, LedgerInfo, PeriodInfo, PeriodStatus, ReferenceData};
///
/// let data = ReferenceData::new()
///     .with_accounts([AccountInfo::new("6100", true), AccountInfo::new("1000", true)])
///     .with_branches([BranchInfo::new("HQ", true)])
///     .with_ledgers([LedgerInfo::new("ACTUAL", ["HQ"])])
///     .with_periods([PeriodInfo::new(Period::new(2025, 1).unwrap(), PeriodStatus::Open)]);
/// assert!(data.account("6100").is_some_and(|a| a.active));
/// assert!(data.branch("hq").is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceData {
    accounts: BTreeMap<String, AccountInfo>,
    subaccounts: BTreeMap<String, SubaccountInfo>,
    branches: BTreeMap<String, BranchInfo>,
    ledgers: BTreeMap<String, LedgerInfo>,
    periods: BTreeMap<Period, PeriodInfo>,
}

impl ReferenceData {
    /// Empty reference data.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds accounts.
    pub fn with_accounts(mut self, items: impl IntoIterator<Item = AccountInfo>) -> Self {
        self.accounts
            .extend(items.into_iter().map(|a| (a.account_cd.clone(), a)));
        self
    }

    /// Adds subaccounts.
    pub fn with_subaccounts(mut self, items: impl IntoIterator<Item = SubaccountInfo>) -> Self {
        self.subaccounts
            .extend(items.into_iter().map(|s| (s.subaccount_cd.clone(), s)));
        self
    }

    /// Adds branches.
    pub fn with_branches(mut self, items: impl IntoIterator<Item = BranchInfo>) -> Self {
        self.branches
            .extend(items.into_iter().map(|b| (b.branch_id.clone(), b)));
        self
    }

    /// Adds ledgers.
    pub fn with_ledgers(mut self, items: impl IntoIterator<Item = LedgerInfo>) -> Self {
        self.ledgers
            .extend(items.into_iter().map(|l| (l.ledger_id.clone(), l)));
        self
    }

    /// Adds financial periods.
    pub fn with_periods(mut self, items: impl IntoIterator<Item = PeriodInfo>) -> Self {
        self.periods
            .extend(items.into_iter().map(|p| (p.period, p)));
        self
    }

    /// An account by CD.
    pub fn account(&self, cd: &str) -> Option<&AccountInfo> {
        self.accounts.get(cd)
    }

    /// A subaccount by CD.
    pub fn subaccount(&self, cd: &str) -> Option<&SubaccountInfo> {
        self.subaccounts.get(cd)
    }

    /// A branch by ID.
    pub fn branch(&self, id: &str) -> Option<&BranchInfo> {
        self.branches.get(id)
    }

    /// A ledger by ID.
    pub fn ledger(&self, id: &str) -> Option<&LedgerInfo> {
        self.ledgers.get(id)
    }

    /// A financial period.
    pub fn period(&self, period: Period) -> Option<&PeriodInfo> {
        self.periods.get(&period)
    }

    pub(crate) fn accounts(&self) -> impl Iterator<Item = &AccountInfo> {
        self.accounts.values()
    }

    pub(crate) fn subaccounts(&self) -> impl Iterator<Item = &SubaccountInfo> {
        self.subaccounts.values()
    }

    pub(crate) fn branches(&self) -> impl Iterator<Item = &BranchInfo> {
        self.branches.values()
    }

    pub(crate) fn ledgers(&self) -> impl Iterator<Item = &LedgerInfo> {
        self.ledgers.values()
    }

    pub(crate) fn periods(&self) -> impl Iterator<Item = &PeriodInfo> {
        self.periods.values()
    }
}
