//! The checks, the policy, and the report.

use std::collections::HashMap;
use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::issue::{IssueKind, ValidationIssue};
use super::reference::{PeriodStatus, ReferenceData};
use crate::mapping::{Field, JournalDocument, MappedJournals, Partition, closest_names};

/// Longest header or line description Acumatica holds in every version we know of: GL
/// `Batch.Description` and `GLTran.TranDesc` were `nvarchar(255)`/`(256)` in older releases and
/// `nvarchar(512)` in 2025 R2 (public DAC sources), so 255 is safe everywhere.
pub const MAX_DESCRIPTION_CHARS: usize = crate::key::DESCRIPTION_MAX;

/// Longest line `ReferenceNbr` (`GLTran.RefNbr` is `nvarchar(15)`).
pub const MAX_REFERENCE_NBR_CHARS: usize = 15;

/// Which journals may be posted when some have problems.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidationPolicy {
    /// Any problem anywhere stops the whole run (default): a month-end allocation posts
    /// completely or not at all.
    #[default]
    AllOrNothing,
    /// Journals without problems may be posted; journals with problems are not. A problem
    /// that cannot be tied to one journal (e.g. a missing column, or a row whose period
    /// cannot be read) still stops the whole run, because the journal it belongs to is unknown.
    PerDocument,
}

/// Whether one journal may be posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentStatus {
    /// No problems, and the policy allows posting.
    Postable,
    /// The journal has problems of its own.
    Invalid {
        /// How many.
        issues: usize,
    },
    /// The journal has no problems but is held back by the policy because of others.
    Withheld,
}

/// The verdict for one journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentVerdict {
    /// Index in [`MappedJournals::documents`].
    pub index: usize,
    /// The journal's partition.
    pub partition: Partition,
    /// Whether it may be posted.
    pub status: DocumentStatus,
}

/// Every problem found, and which journals may be posted.
///
/// `Display` lists a summary line and then every issue, one per line; the report is also an
/// error type so a flow can return it as the reason nothing was posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}", summary(self))]
pub struct ValidationReport {
    /// The policy applied.
    pub policy: ValidationPolicy,
    /// Every issue, in row order within each journal.
    pub issues: Vec<ValidationIssue>,
    /// One verdict per journal, in the order of [`MappedJournals::documents`].
    pub documents: Vec<DocumentVerdict>,
}

fn summary(r: &ValidationReport) -> String {
    let postable = r.postable_indices().len();
    let mut out = format!(
        "{} problem(s); {postable} of {} journal(s) postable under policy {:?}",
        r.issues.len(),
        r.documents.len(),
        r.policy
    );
    for issue in &r.issues {
        out.push_str("\n- ");
        out.push_str(&issue.to_string());
    }
    out
}

impl ValidationReport {
    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.issues.is_empty()
    }

    /// Indices of the journals that may be posted.
    pub fn postable_indices(&self) -> Vec<usize> {
        self.documents
            .iter()
            .filter(|d| d.status == DocumentStatus::Postable)
            .map(|d| d.index)
            .collect()
    }

    /// The journals that may be posted.
    pub fn postable<'a>(
        &'a self,
        mapped: &'a MappedJournals,
    ) -> impl Iterator<Item = &'a JournalDocument> + 'a {
        self.postable_indices()
            .into_iter()
            .filter_map(|i| mapped.documents.get(i))
    }

    /// The issues of one journal.
    pub fn issues_for(&self, document: usize) -> impl Iterator<Item = &ValidationIssue> {
        self.issues
            .iter()
            .filter(move |i| i.document == Some(document))
    }

    /// The issues tied to no single journal.
    pub fn run_issues(&self) -> impl Iterator<Item = &ValidationIssue> {
        self.issues.iter().filter(|i| i.document.is_none())
    }
}

/// Checks mapped journals against Acumatica's reference data before anything is written.
///
/// Reports every problem at once: mapping problems carried over from
/// [`JournalMapping::map_rows`](crate::mapping::JournalMapping::map_rows), and for each
/// journal: branch exists and is active, ledger exists (and belongs to the branch when known),
/// period exists and is open (and contains the date when its dates are known); for each line:
/// account and subaccount exist and are active, line branch exists, exactly one of debit and
/// credit is set and not negative, texts fit their fields; and each journal balances exactly.
///
/// ```
/// use serde_json::json;
/// use sync_core::mapping::{JournalMapping, Period, Row};
/// use sync_core::validate::*;
///
/// let mapping = JournalMapping::from_toml_str(r#"
/// flow = "alloc"
/// [lines]
/// account = { column = "a.account" }
/// branch = { constant = "HQ" }
/// amount = { signed = "a.amount" }
/// period = { constant = "012025" }
/// [document]
/// ledger = { constant = "ACTUAL" }
/// description = "Allocation {period}"
/// "#).unwrap();
/// let rows: Vec<Row> = [json!({"a.account": "6110", "a.amount": "10.00"}),
///                       json!({"a.account": "1000", "a.amount": "-9.00"})]
///     .into_iter().map(|v| v.as_object().unwrap().clone()).collect();
/// let mapped = mapping.map_rows(&rows).unwrap();
/// let data = ReferenceData::new()
///     .with_accounts([AccountInfo::new("6100", true), AccountInfo::new("1000", true)])
///     .with_branches([BranchInfo::new("HQ", true)])
///     .with_ledgers([LedgerInfo::new("ACTUAL", ["HQ"])])
///     .with_periods([PeriodInfo::new(Period::new(2025, 1).unwrap(), PeriodStatus::Open)]);
/// let report = validate(&mapped, &data, ValidationPolicy::AllOrNothing);
/// assert_eq!(report.issues.len(), 2); // unknown account 6110, and 10.00 vs 9.00
/// assert!(report.issues[0].to_string().contains("row 1"));
/// assert_eq!(report.issues[0].suggestions[0], "6100");
/// assert!(report.postable(&mapped).next().is_none());
/// ```
pub fn validate(
    mapped: &MappedJournals,
    reference: &ReferenceData,
    policy: ValidationPolicy,
) -> ValidationReport {
    let mut v = Checker {
        mapped,
        reference,
        issues: Vec::new(),
        cache: HashMap::new(),
    };
    let row_to_document: HashMap<usize, usize> = mapped
        .documents
        .iter()
        .enumerate()
        .flat_map(|(i, d)| d.rows().into_iter().map(move |r| (r, i)))
        .collect();
    for error in &mapped.errors {
        let document = error.row().and_then(|r| row_to_document.get(&r).copied());
        v.issues.push(ValidationIssue {
            kind: IssueKind::Mapping {
                message: error.to_string(),
            },
            document,
            partition: document.map(|d| mapped.documents[d].partition.to_string()),
            rows: error.row().into_iter().collect(),
            field: None,
            column: error.column().unwrap_or_default().to_owned(),
            value: error.value().unwrap_or_default().to_owned(),
            suggestions: error.suggestions().to_vec(),
        });
    }
    for (index, doc) in mapped.documents.iter().enumerate() {
        v.document(index, doc);
    }
    // Stable order: run-level first, then by journal, then by first row.
    v.issues.sort_by_key(|i| {
        (
            i.document.map_or(0, |d| d + 1),
            i.rows.first().copied().unwrap_or(0),
        )
    });

    let run_blocked = v.issues.iter().any(ValidationIssue::is_run_level);
    let any = !v.issues.is_empty();
    let mut per_document: HashMap<usize, usize> = HashMap::new();
    for d in v.issues.iter().filter_map(|i| i.document) {
        *per_document.entry(d).or_default() += 1;
    }
    let documents = mapped
        .documents
        .iter()
        .enumerate()
        .map(|(index, doc)| {
            let own = per_document.get(&index).copied().unwrap_or(0);
            let status = if own > 0 {
                DocumentStatus::Invalid { issues: own }
            } else if run_blocked || (policy == ValidationPolicy::AllOrNothing && any) {
                DocumentStatus::Withheld
            } else {
                DocumentStatus::Postable
            };
            DocumentVerdict {
                index,
                partition: doc.partition.clone(),
                status,
            }
        })
        .collect();
    ValidationReport {
        policy,
        issues: v.issues,
        documents,
    }
}

struct Checker<'a> {
    mapped: &'a MappedJournals,
    reference: &'a ReferenceData,
    issues: Vec<ValidationIssue>,
    cache: HashMap<(u8, String), Vec<String>>,
}

impl Checker<'_> {
    fn suggestions(&mut self, what: u8, value: &str) -> Vec<String> {
        if let Some(s) = self.cache.get(&(what, value.to_owned())) {
            return s.clone();
        }
        let r = self.reference;
        let s = match what {
            0 => closest_names(
                value,
                r.accounts()
                    .filter(|a| a.active)
                    .map(|a| a.account_cd.as_str()),
            ),
            1 => closest_names(
                value,
                r.subaccounts()
                    .filter(|s| s.active)
                    .map(|s| s.subaccount_cd.as_str()),
            ),
            2 => closest_names(
                value,
                r.branches()
                    .filter(|b| b.active)
                    .map(|b| b.branch_id.as_str()),
            ),
            _ => closest_names(value, r.ledgers().map(|l| l.ledger_id.as_str())),
        };
        self.cache.insert((what, value.to_owned()), s.clone());
        s
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        kind: IssueKind,
        index: usize,
        doc: &JournalDocument,
        rows: Vec<usize>,
        field: Field,
        value: impl Into<String>,
        suggestions: Vec<String>,
    ) {
        self.issues.push(ValidationIssue {
            kind,
            document: Some(index),
            partition: Some(doc.partition.to_string()),
            rows,
            field: Some(field),
            column: self.mapped.origins.get(field).to_owned(),
            value: value.into(),
            suggestions,
        });
    }

    /// The amount column(s): one signed column, or `debit / credit`.
    fn amount_columns(&self) -> String {
        let (d, c) = (
            self.mapped.origins.get(Field::Debit),
            self.mapped.origins.get(Field::Credit),
        );
        if d == c {
            d.to_owned()
        } else {
            format!("{d} / {c}")
        }
    }

    /// Sets the column of the issue just pushed to the amount column(s).
    fn on_amount_columns(&mut self) {
        let columns = self.amount_columns();
        if let Some(last) = self.issues.last_mut() {
            last.column = columns;
        }
    }

    fn branch(
        &mut self,
        index: usize,
        doc: &JournalDocument,
        rows: Vec<usize>,
        field: Field,
        id: &str,
    ) {
        match self.reference.branch(id) {
            Some(b) if b.active => {}
            Some(_) => {
                let s = self.suggestions(2, id);
                self.push(IssueKind::InactiveBranch, index, doc, rows, field, id, s);
            }
            None => {
                let s = self.suggestions(2, id);
                self.push(IssueKind::UnknownBranch, index, doc, rows, field, id, s);
            }
        }
    }

    fn document(&mut self, index: usize, doc: &JournalDocument) {
        let all_rows = doc.rows();
        let r = self.reference;

        // Header.
        self.branch(
            index,
            doc,
            all_rows.clone(),
            Field::DocumentBranch,
            &doc.branch,
        );
        match r.ledger(&doc.ledger) {
            None => {
                let s = self.suggestions(3, &doc.ledger);
                self.push(
                    IssueKind::UnknownLedger,
                    index,
                    doc,
                    all_rows.clone(),
                    Field::Ledger,
                    &doc.ledger,
                    s,
                );
            }
            // (An unknown branch is reported once, above; no ledger can fit it.)
            Some(l)
                if r.branch(&doc.branch).is_some()
                    && !l.branches.is_empty()
                    && !l.branches.contains(&doc.branch) =>
            {
                let fitting: Vec<&str> = r
                    .ledgers()
                    .filter(|l| l.branches.contains(&doc.branch))
                    .map(|l| l.ledger_id.as_str())
                    .collect();
                let s = closest_names(&doc.ledger, fitting);
                self.push(
                    IssueKind::LedgerNotForBranch {
                        branch: doc.branch.clone(),
                    },
                    index,
                    doc,
                    all_rows.clone(),
                    Field::Ledger,
                    &doc.ledger,
                    s,
                );
            }
            Some(_) => {}
        }
        let open_near = || {
            let mut open: Vec<_> = r
                .periods()
                .filter(|p| p.status == PeriodStatus::Open)
                .map(|p| p.period)
                .collect();
            let key = |p: &crate::mapping::Period| {
                (i32::from(p.year()) * 100 + i32::from(p.number()))
                    .abs_diff(i32::from(doc.period.year()) * 100 + i32::from(doc.period.number()))
            };
            open.sort_by_key(|p| (key(p), *p));
            open.into_iter()
                .take(3)
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
        };
        match r.period(doc.period) {
            None => {
                let s = open_near();
                self.push(
                    IssueKind::UnknownPeriod,
                    index,
                    doc,
                    all_rows.clone(),
                    Field::Period,
                    doc.period.to_string(),
                    s,
                );
            }
            Some(p) => {
                if p.status != PeriodStatus::Open {
                    let s = open_near();
                    self.push(
                        IssueKind::PeriodNotOpen {
                            status: p.status.to_string(),
                        },
                        index,
                        doc,
                        all_rows.clone(),
                        Field::Period,
                        doc.period.to_string(),
                        s,
                    );
                }
                if let (Some(date), Some(start), Some(end)) = (doc.transaction_date, p.start, p.end)
                    && (date < start || date > end)
                {
                    self.push(
                        IssueKind::DateOutsidePeriod { start, end },
                        index,
                        doc,
                        all_rows.clone(),
                        Field::Date,
                        date.to_string(),
                        Vec::new(),
                    );
                }
            }
        }

        // Lines.
        for line in &doc.lines {
            let row = vec![line.row];
            match r.account(&line.account) {
                Some(a) if a.active => {}
                found => {
                    let kind = if found.is_some() {
                        IssueKind::InactiveAccount
                    } else {
                        IssueKind::UnknownAccount
                    };
                    let s = self.suggestions(0, &line.account);
                    self.push(
                        kind,
                        index,
                        doc,
                        row.clone(),
                        Field::Account,
                        &line.account,
                        s,
                    );
                }
            }
            if let Some(sub) = &line.subaccount {
                match r.subaccount(sub) {
                    Some(s) if s.active => {}
                    found => {
                        let kind = if found.is_some() {
                            IssueKind::InactiveSubaccount
                        } else {
                            IssueKind::UnknownSubaccount
                        };
                        let s = self.suggestions(1, sub);
                        self.push(kind, index, doc, row.clone(), Field::Subaccount, sub, s);
                    }
                }
            }
            if line.branch != doc.branch {
                self.branch(index, doc, row.clone(), Field::Branch, &line.branch);
            }
            let amounts = format!("debit {}, credit {}", line.debit, line.credit);
            for (field, amount) in [(Field::Debit, line.debit), (Field::Credit, line.credit)] {
                if amount < Decimal::ZERO {
                    self.push(
                        IssueKind::NegativeAmount,
                        index,
                        doc,
                        row.clone(),
                        field,
                        amount.to_string(),
                        Vec::new(),
                    );
                }
            }
            if !line.debit.is_zero() && !line.credit.is_zero() {
                self.push(
                    IssueKind::DebitAndCredit,
                    index,
                    doc,
                    row.clone(),
                    Field::Debit,
                    &amounts,
                    Vec::new(),
                );
                self.on_amount_columns();
            } else if line.debit.is_zero() && line.credit.is_zero() {
                self.push(
                    IssueKind::ZeroAmount,
                    index,
                    doc,
                    row.clone(),
                    Field::Debit,
                    &amounts,
                    Vec::new(),
                );
                self.on_amount_columns();
            }
            let texts = [
                (
                    Field::LineDescription,
                    line.description.as_deref(),
                    MAX_DESCRIPTION_CHARS,
                ),
                (
                    Field::ReferenceNbr,
                    line.reference_nbr.as_deref(),
                    MAX_REFERENCE_NBR_CHARS,
                ),
            ];
            for (field, text, max) in texts {
                let Some(text) = text else { continue };
                let actual = text.encode_utf16().count();
                if actual > max {
                    self.push(
                        IssueKind::TooLong { actual, max },
                        index,
                        doc,
                        row.clone(),
                        field,
                        text,
                        Vec::new(),
                    );
                }
            }
        }

        // Balance.
        let (debit, credit) = (doc.total_debit(), doc.total_credit());
        if debit != credit {
            self.push(
                IssueKind::Unbalanced {
                    debit,
                    credit,
                    unmapped_rows: doc.unmapped_rows.clone(),
                },
                index,
                doc,
                all_rows,
                Field::Debit,
                format!("{debit} vs {credit}"),
                Vec::new(),
            );
            self.on_amount_columns();
        }
    }
}

impl fmt::Display for DocumentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocumentStatus::Postable => f.write_str("postable"),
            DocumentStatus::Invalid { issues } => write!(f, "invalid ({issues} problem(s))"),
            DocumentStatus::Withheld => f.write_str("withheld by policy"),
        }
    }
}
