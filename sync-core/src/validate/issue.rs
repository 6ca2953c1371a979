//! One validation problem.

use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::mapping::Field;

/// What kind of problem an issue is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum IssueKind {
    /// The row could not be mapped (the mapping's message says why).
    Mapping {
        /// The mapping's message.
        message: String,
    },
    /// The account does not exist.
    UnknownAccount,
    /// The account exists but is inactive.
    InactiveAccount,
    /// The subaccount does not exist.
    UnknownSubaccount,
    /// The subaccount exists but is inactive.
    InactiveSubaccount,
    /// The branch does not exist.
    UnknownBranch,
    /// The branch exists but is inactive.
    InactiveBranch,
    /// The ledger does not exist.
    UnknownLedger,
    /// The ledger is not associated with the journal's branch.
    LedgerNotForBranch {
        /// The journal's branch.
        branch: String,
    },
    /// The financial period does not exist.
    UnknownPeriod,
    /// The financial period is not open.
    PeriodNotOpen {
        /// Its status.
        status: String,
    },
    /// The journal's date lies outside its period.
    DateOutsidePeriod {
        /// The period's first day.
        start: NaiveDate,
        /// The period's last day.
        end: NaiveDate,
    },
    /// A line has both a debit and a credit.
    DebitAndCredit,
    /// A line has neither a debit nor a credit.
    ZeroAmount,
    /// A debit or credit column holds a negative amount.
    NegativeAmount,
    /// The journal's debits and credits differ.
    Unbalanced {
        /// Sum of debits.
        debit: Decimal,
        /// Sum of credits.
        credit: Decimal,
        /// Rows of the journal that could not be mapped and are not in the sums.
        unmapped_rows: Vec<usize>,
    },
    /// A text is longer than Acumatica's field holds.
    TooLong {
        /// Its length in UTF-16 code units (how `nvarchar` counts).
        actual: usize,
        /// The field's limit.
        max: usize,
    },
}

/// One problem found before any write, naming where it is and what to do.
///
/// `Display` gives a complete sentence: the row(s), the column the value came from, the value,
/// what is wrong, the closest valid choices (up to three), and what to do.
///
/// It serializes (for audit records) with every field plus `message`, the `Display` text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe(self))]
pub struct ValidationIssue {
    /// What is wrong.
    pub kind: IssueKind,
    /// The index of the journal in [`MappedJournals::documents`](crate::mapping::MappedJournals)
    /// it makes unpostable; `None` when it cannot be tied to one journal (then no journal is
    /// postable).
    pub document: Option<usize>,
    /// The journal's partition, for messages (e.g. `period=012025 branch=HQ`).
    pub partition: Option<String>,
    /// The 1-based rows concerned (one for a line problem, all of a journal's rows for a header
    /// problem; empty when no row applies).
    pub rows: Vec<usize>,
    /// The target field.
    pub field: Option<Field>,
    /// Where the value came from (column, map or constant).
    pub column: String,
    /// The offending value.
    pub value: String,
    /// The closest valid choices, nearest first.
    pub suggestions: Vec<String>,
}

fn rows_text(rows: &[usize]) -> String {
    const SHOWN: usize = 8;
    match rows {
        [] => String::new(),
        [one] => format!("row {one}"),
        many => {
            let shown: Vec<String> = many.iter().take(SHOWN).map(usize::to_string).collect();
            let more = many.len().saturating_sub(SHOWN);
            if more > 0 {
                format!("rows {} and {more} more", shown.join(", "))
            } else {
                format!("rows {}", shown.join(", "))
            }
        }
    }
}

fn choices(s: &[String]) -> String {
    if s.is_empty() {
        return String::new();
    }
    let list: Vec<String> = s.iter().map(|c| format!("`{c}`")).collect();
    format!("; closest valid: {}", list.join(", "))
}

fn describe(i: &ValidationIssue) -> String {
    let mut place = Vec::new();
    if let Some(p) = &i.partition {
        place.push(format!("journal {p}"));
    }
    let rows = rows_text(&i.rows);
    if !rows.is_empty() {
        place.push(rows);
    }
    if !i.column.is_empty() {
        place.push(format!("column `{}`", i.column));
    }
    let place = if place.is_empty() {
        String::new()
    } else {
        format!("{}: ", place.join(", "))
    };
    let field = i
        .field
        .map_or_else(|| "value".to_owned(), |f| f.to_string());
    let v = &i.value;
    let c = choices(&i.suggestions);
    let body = match &i.kind {
        IssueKind::Mapping { message } => return message.clone(),
        IssueKind::UnknownAccount => format!(
            "account `{v}` does not exist in Acumatica{c}; correct the account in the source data or the mapping"
        ),
        IssueKind::InactiveAccount => format!(
            "account `{v}` is inactive in Acumatica{c}; post to an active account, or activate it in Acumatica"
        ),
        IssueKind::UnknownSubaccount => format!(
            "subaccount `{v}` does not exist in Acumatica{c}; correct the segments or value map, or create the subaccount"
        ),
        IssueKind::InactiveSubaccount => format!(
            "subaccount `{v}` is inactive in Acumatica{c}; use an active subaccount, or activate it"
        ),
        IssueKind::UnknownBranch => format!(
            "{field} `{v}` does not exist in Acumatica{c}; correct the branch in the source data or the mapping"
        ),
        IssueKind::InactiveBranch => {
            format!("{field} `{v}` is inactive in Acumatica{c}; use an active branch")
        }
        IssueKind::UnknownLedger => format!(
            "ledger `{v}` does not exist in Acumatica{c}; correct the ledger in the mapping"
        ),
        IssueKind::LedgerNotForBranch { branch } => format!(
            "ledger `{v}` is not associated with branch `{branch}`{c}; use a ledger of that branch or associate it in Acumatica"
        ),
        IssueKind::UnknownPeriod => format!(
            "financial period `{v}` does not exist in Acumatica{c}; check the period or date column, or generate the period in Acumatica"
        ),
        IssueKind::PeriodNotOpen { status } => format!(
            "financial period `{v}` is {status}, not Open{c}; reopen it in Acumatica or post to an open period"
        ),
        IssueKind::DateOutsidePeriod { start, end } => format!(
            "transaction date `{v}` lies outside its period ({start} to {end}); map the period explicitly or fix the date rule"
        ),
        IssueKind::DebitAndCredit => format!(
            "the line carries both a debit and a credit ({v}); split it into two lines, or net it in LookML"
        ),
        IssueKind::ZeroAmount => format!(
            "the line has neither a debit nor a credit ({v}); filter zero rows in LookML or set zero_amount = \"skip\" under [lines]"
        ),
        IssueKind::NegativeAmount => format!(
            "{field} {v} is negative; debit and credit columns take positive amounts (use a signed amount column instead)"
        ),
        IssueKind::Unbalanced {
            debit,
            credit,
            unmapped_rows,
        } => {
            let diff = *debit - *credit;
            let note = if unmapped_rows.is_empty() {
                String::new()
            } else {
                format!(
                    " ({} could not be mapped and are not counted)",
                    rows_text(unmapped_rows)
                )
            };
            format!(
                "the journal does not balance: debits {debit}, credits {credit}, difference {diff}{note}; make the allocation sum to zero in LookML"
            )
        }
        IssueKind::TooLong { actual, max } => format!(
            "the {field} is {actual} characters long but Acumatica holds {max}; shorten the template or its values"
        ),
    };
    format!("{place}{body}")
}

impl Serialize for ValidationIssue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("ValidationIssue", 9)?;
        s.serialize_field("kind", &self.kind)?;
        s.serialize_field("document", &self.document)?;
        s.serialize_field("partition", &self.partition)?;
        s.serialize_field("rows", &self.rows)?;
        s.serialize_field("field", &self.field)?;
        s.serialize_field("column", &self.column)?;
        s.serialize_field("value", &self.value)?;
        s.serialize_field("suggestions", &self.suggestions)?;
        s.serialize_field("message", &self.to_string())?;
        s.end()
    }
}

impl ValidationIssue {
    /// Whether the issue is tied to no single journal (then no journal is postable).
    pub fn is_run_level(&self) -> bool {
        self.document.is_none()
    }
}

impl fmt::Display for IssueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            IssueKind::Mapping { .. } => "mapping",
            IssueKind::UnknownAccount => "unknown account",
            IssueKind::InactiveAccount => "inactive account",
            IssueKind::UnknownSubaccount => "unknown subaccount",
            IssueKind::InactiveSubaccount => "inactive subaccount",
            IssueKind::UnknownBranch => "unknown branch",
            IssueKind::InactiveBranch => "inactive branch",
            IssueKind::UnknownLedger => "unknown ledger",
            IssueKind::LedgerNotForBranch { .. } => "ledger not for branch",
            IssueKind::UnknownPeriod => "unknown period",
            IssueKind::PeriodNotOpen { .. } => "period not open",
            IssueKind::DateOutsidePeriod { .. } => "date outside period",
            IssueKind::DebitAndCredit => "debit and credit",
            IssueKind::ZeroAmount => "zero amount",
            IssueKind::NegativeAmount => "negative amount",
            IssueKind::Unbalanced { .. } => "unbalanced",
            IssueKind::TooLong { .. } => "too long",
        };
        f.write_str(s)
    }
}
