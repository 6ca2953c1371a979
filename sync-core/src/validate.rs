//! Validation of mapped journals against Acumatica's reference data, before any write.
//!
//! The flow reads the reference data once per run (accounts, subaccounts, branches, ledgers,
//! financial periods), converts it into a [`ReferenceData`], and calls [`validate`] on the
//! [`MappedJournals`](crate::mapping::MappedJournals). The [`ValidationReport`] lists every
//! problem at once — each naming its row(s), column, value and the closest valid choices — and
//! a verdict per journal: a journal with any problem is never postable, and the
//! [`ValidationPolicy`] decides whether the others may go ahead.

mod issue;
mod reference;
mod report;

pub use issue::{IssueKind, ValidationIssue};
pub use reference::{
    AccountInfo, BranchInfo, LedgerInfo, PeriodInfo, PeriodStatus, ReferenceData, SubaccountInfo,
};
pub use report::{
    DocumentStatus, DocumentVerdict, MAX_DESCRIPTION_CHARS, MAX_REFERENCE_NBR_CHARS,
    ValidationPolicy, ValidationReport, validate,
};
