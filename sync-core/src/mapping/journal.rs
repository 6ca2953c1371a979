//! Rows to journal documents: the neutral output types and the mapping itself.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::Row;
use super::amount::{parse_amount, to_currency_precision};
use super::cell::{cell, cell_text};
use super::config::{DocumentDate, FieldSource, JournalMapping, PeriodFormat, ZeroAmount};
use super::error::MappingError;
use super::period::{Period, parse_date_text};
use super::suggest::closest_names;

/// The values that identify one journal within a flow: period, header branch and any
/// `group_by` columns, in that order.
///
/// ```
/// use sync_core::mapping::Partition;
/// let p = Partition::new([("period", "012025"), ("branch", "HQ")]);
/// assert_eq!(p.get("branch"), Some("HQ"));
/// assert_eq!(p.to_string(), "period=012025 branch=HQ");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Partition(Vec<(String, String)>);

impl Partition {
    /// A partition from ordered name/value pairs.
    pub fn new<N: Into<String>, V: Into<String>>(
        entries: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        Self(
            entries
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        )
    }

    /// The name/value pairs in order.
    pub fn entries(&self) -> &[(String, String)] {
        &self.0
    }

    /// The value for a name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (n, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{n}={v}")?;
        }
        Ok(())
    }
}

/// One line of a journal, in neutral form (maps 1:1 onto `JournalTransactionDetail`).
///
/// Exactly one of `debit` and `credit` is non-zero on a valid line; both carry the currency's
/// number of decimal places.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalLine {
    /// The 1-based row of the query result this line came from.
    pub row: usize,
    /// Account CD (`Account`).
    pub account: String,
    /// Subaccount CD (`Subaccount`).
    pub subaccount: Option<String>,
    /// Branch (`BranchID`).
    pub branch: String,
    /// Project (`Project`).
    pub project: Option<String>,
    /// Project task (`ProjectTask`).
    pub task: Option<String>,
    /// Cost code (`CostCode`).
    pub cost_code: Option<String>,
    /// Reference number (`ReferenceNbr`).
    pub reference_nbr: Option<String>,
    /// Debit amount (`DebitAmount`).
    pub debit: Decimal,
    /// Credit amount (`CreditAmount`).
    pub credit: Decimal,
    /// Line text (`TransactionDescription`).
    pub description: Option<String>,
    /// The row's transaction date, when mapped (not sent per line; used for the header date
    /// and the period check).
    pub date: Option<NaiveDate>,
}

/// A journal transaction in neutral form (maps onto Acumatica's `JournalTransaction` with
/// `Module = GL`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalDocument {
    /// The key namespace of the flow that produced it (its name, unless the mapping sets
    /// `key_namespace`): with the partition, it makes the natural key's partition hash.
    pub flow: String,
    /// What identifies it within the flow.
    pub partition: Partition,
    /// Header branch (`BranchID`).
    pub branch: String,
    /// Ledger (`LedgerID`).
    pub ledger: String,
    /// Currency (`CurrencyID`); `None` leaves the ledger's.
    pub currency: Option<String>,
    /// Financial period (`PostPeriod`, sent as `MMYYYY`).
    pub period: Period,
    /// `TransactionDate` (send with [`acumatica_date`](super::acumatica_date)).
    pub transaction_date: Option<NaiveDate>,
    /// Header text without the natural key (see [`crate::key::embed_key`]).
    pub description: String,
    /// `Hold`.
    pub hold: bool,
    /// The lines, in row order.
    pub lines: Vec<JournalLine>,
    /// Rows of this journal that could not be mapped (their errors are in
    /// [`MappedJournals::errors`]); a journal with any is never postable.
    pub unmapped_rows: Vec<usize>,
}

impl JournalDocument {
    /// Sum of the debit amounts.
    pub fn total_debit(&self) -> Decimal {
        self.lines.iter().map(|l| l.debit).sum()
    }

    /// Sum of the credit amounts.
    pub fn total_credit(&self) -> Decimal {
        self.lines.iter().map(|l| l.credit).sum()
    }

    /// Whether debits equal credits exactly.
    pub fn is_balanced(&self) -> bool {
        self.total_debit() == self.total_credit()
    }

    /// Every row that belongs to this journal (mapped or not), ascending.
    pub fn rows(&self) -> Vec<usize> {
        let mut rows: Vec<usize> = self
            .lines
            .iter()
            .map(|l| l.row)
            .chain(self.unmapped_rows.iter().copied())
            .collect();
        rows.sort_unstable();
        rows
    }
}

/// A target field of a journal, used to say where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Field {
    /// Line account.
    Account,
    /// Line subaccount.
    Subaccount,
    /// Line branch.
    Branch,
    /// Header branch.
    DocumentBranch,
    /// Ledger.
    Ledger,
    /// Currency.
    Currency,
    /// Period.
    Period,
    /// Transaction date.
    Date,
    /// Debit amount.
    Debit,
    /// Credit amount.
    Credit,
    /// Project.
    Project,
    /// Project task.
    Task,
    /// Cost code.
    CostCode,
    /// Line reference number.
    ReferenceNbr,
    /// Line description.
    LineDescription,
    /// Header description.
    DocumentDescription,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Account => "account",
            Field::Subaccount => "subaccount",
            Field::Branch => "branch",
            Field::DocumentBranch => "journal branch",
            Field::Ledger => "ledger",
            Field::Currency => "currency",
            Field::Period => "period",
            Field::Date => "transaction date",
            Field::Debit => "debit amount",
            Field::Credit => "credit amount",
            Field::Project => "project",
            Field::Task => "project task",
            Field::CostCode => "cost code",
            Field::ReferenceNbr => "reference number",
            Field::LineDescription => "line description",
            Field::DocumentDescription => "journal description",
        })
    }
}

/// Where each target field's value comes from (column names, maps, constants), for messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldOrigins(BTreeMap<Field, String>);

impl FieldOrigins {
    /// The origin of a field, e.g. `overhead_allocation.account` or `constant `ACTUAL``.
    pub fn get(&self, field: Field) -> &str {
        self.0.get(&field).map_or("(not mapped)", String::as_str)
    }
}

/// The result of mapping rows: the journals, and every row problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedJournals {
    /// The flow.
    pub flow: String,
    /// Journals in order of their first row.
    pub documents: Vec<JournalDocument>,
    /// Every row problem (all rows are mapped, not just up to the first problem).
    pub errors: Vec<MappingError>,
    /// Rows dropped by `zero_amount = "skip"`.
    pub skipped_rows: Vec<usize>,
    /// How many rows were read.
    pub rows_read: usize,
    /// Where each field came from.
    pub origins: FieldOrigins,
}

impl MappedJournals {
    /// The index of the journal a row belongs to, if it could be assigned to one.
    pub fn document_of_row(&self, row: usize) -> Option<usize> {
        self.documents
            .iter()
            .position(|d| d.lines.iter().any(|l| l.row == row) || d.unmapped_rows.contains(&row))
    }
}

/// Marker: the problem has been recorded in the error list.
struct Failed;

struct RowReader<'a> {
    mapping: &'a JournalMapping,
    row: &'a Row,
    number: usize,
    errors: Vec<MappingError>,
}

impl<'a> RowReader<'a> {
    fn optional(&mut self, src: &FieldSource) -> Result<Option<String>, Failed> {
        if let Some(k) = &src.constant {
            return Ok(Some(k.clone()));
        }
        let column = src.column.as_deref().unwrap_or_default();
        let text = match cell_text(self.row, column) {
            Ok(t) => t,
            Err(json) => {
                self.errors.push(MappingError::NotScalar {
                    row: self.number,
                    column: column.to_owned(),
                    value: json,
                });
                return Err(Failed);
            }
        };
        let Some(text) = text else { return Ok(None) };
        let Some(map_name) = &src.map else {
            return Ok(Some(text));
        };
        let map = &self.mapping.maps[map_name];
        match map.get(&text) {
            Some(v) => Ok(Some(v.clone())),
            None => {
                self.errors.push(MappingError::Unmapped {
                    row: self.number,
                    column: column.to_owned(),
                    value: text.clone(),
                    map: map_name.clone(),
                    suggestions: closest_names(&text, map.keys().map(String::as_str)),
                });
                Err(Failed)
            }
        }
    }

    fn required(&mut self, src: &FieldSource, field: &'static str) -> Result<String, Failed> {
        match self.optional(src)? {
            Some(v) => Ok(v),
            None => {
                self.errors.push(MappingError::MissingValue {
                    row: self.number,
                    column: src.column.clone().unwrap_or_default(),
                    field,
                });
                Err(Failed)
            }
        }
    }

    fn subaccount(&mut self) -> Result<Option<String>, Failed> {
        let Some(sub) = &self.mapping.lines.subaccount else {
            return Ok(None);
        };
        if sub.segments.is_empty() {
            let src = FieldSource {
                column: sub.column.clone(),
                constant: sub.constant.clone(),
                map: sub.map.clone(),
            };
            return self.required(&src, "subaccount").map(Some);
        }
        let mut parts = Vec::with_capacity(sub.segments.len());
        let mut failed = false;
        for seg in &sub.segments {
            match self.required(&seg.source(), "subaccount segment") {
                Ok(v) => {
                    let actual = v.chars().count();
                    match seg.length {
                        Some(expected) if expected != actual => {
                            self.errors.push(MappingError::SegmentLength {
                                row: self.number,
                                column: seg.column.clone().unwrap_or_else(|| "constant".into()),
                                value: v,
                                actual,
                                expected,
                            });
                            failed = true;
                        }
                        _ => parts.push(v),
                    }
                }
                Err(Failed) => failed = true,
            }
        }
        if failed {
            return Err(Failed);
        }
        Ok(Some(parts.join(&sub.separator)))
    }

    /// Reads an amount column. `blank_is_zero` for separate debit/credit columns.
    fn amount(&mut self, column: &str, blank_is_zero: bool) -> Result<Decimal, Failed> {
        let value = cell(self.row, column);
        let blank = match value {
            None => true,
            Some(serde_json::Value::String(s)) => s.trim().is_empty(),
            Some(_) => false,
        };
        if blank {
            if blank_is_zero {
                return Ok(Decimal::ZERO);
            }
            self.errors.push(MappingError::MissingValue {
                row: self.number,
                column: column.to_owned(),
                field: "amount",
            });
            return Err(Failed);
        }
        let value = value.unwrap_or(&serde_json::Value::Null);
        let money = self.mapping.money;
        parse_amount(value)
            .and_then(|d| to_currency_precision(d, money.places, money.rounding))
            .map_err(|source| {
                self.errors.push(MappingError::Amount {
                    row: self.number,
                    column: column.to_owned(),
                    value: value.to_string(),
                    source,
                });
                Failed
            })
    }

    fn date(&mut self) -> Result<Option<NaiveDate>, Failed> {
        let Some(src) = &self.mapping.lines.date else {
            return Ok(None);
        };
        let column = src.column.as_str();
        match cell_text(self.row, column) {
            Err(json) => {
                self.errors.push(MappingError::NotScalar {
                    row: self.number,
                    column: column.to_owned(),
                    value: json,
                });
                Err(Failed)
            }
            Ok(None) if self.mapping.lines.period.is_none() => {
                self.errors.push(MappingError::MissingValue {
                    row: self.number,
                    column: column.to_owned(),
                    field: "transaction date (the period comes from it)",
                });
                Err(Failed)
            }
            Ok(None) => Ok(None),
            Ok(Some(text)) => parse_date_text(&text).map(Some).map_err(|_| {
                self.errors.push(MappingError::DateOrPeriod {
                    row: self.number,
                    column: column.to_owned(),
                    value: text,
                    expected: "date in YYYY-MM-DD form".into(),
                });
                Failed
            }),
        }
    }

    fn period(&mut self, date: Result<Option<NaiveDate>, &Failed>) -> Result<Period, Failed> {
        let Some(src) = &self.mapping.lines.period else {
            // Checked on load: without a period source the date is mapped and required.
            return match date {
                Ok(Some(d)) => Ok(Period::calendar_month_of(d)),
                _ => Err(Failed),
            };
        };
        if let Some(k) = &src.constant {
            return k.parse().map_err(|_| Failed);
        }
        let column = src.column.as_deref().unwrap_or_default();
        let text = match cell_text(self.row, column) {
            Ok(Some(t)) => t,
            Ok(None) => {
                self.errors.push(MappingError::MissingValue {
                    row: self.number,
                    column: column.to_owned(),
                    field: "period",
                });
                return Err(Failed);
            }
            Err(json) => {
                self.errors.push(MappingError::NotScalar {
                    row: self.number,
                    column: column.to_owned(),
                    value: json,
                });
                return Err(Failed);
            }
        };
        let parsed = match src.format {
            PeriodFormat::Mmyyyy => Period::parse_mmyyyy(&text),
            PeriodFormat::Yyyymm => Period::parse_yyyymm(&text),
            PeriodFormat::Auto => Period::parse_any(&text),
        };
        parsed.map_err(|_| {
            let expected = match src.format {
                PeriodFormat::Yyyymm => "period in YYYYMM or YYYY-MM form",
                PeriodFormat::Mmyyyy => "period in MMYYYY or MM-YYYY form",
                PeriodFormat::Auto => "period in MMYYYY, MM-YYYY, YYYYMM or YYYY-MM form",
            };
            self.errors.push(MappingError::DateOrPeriod {
                row: self.number,
                column: column.to_owned(),
                value: text,
                expected: expected.into(),
            });
            Failed
        })
    }

    fn text_or_empty(&self, column: &str) -> String {
        cell_text(self.row, column)
            .ok()
            .flatten()
            .unwrap_or_default()
    }
}

/// Per-journal state while rows are read.
struct Group {
    partition: Partition,
    period: Period,
    branch: String,
    group_values: Vec<(String, String)>,
    ledger: Option<(usize, String)>,
    currency: Option<(usize, Option<String>)>,
    lines: Vec<JournalLine>,
    unmapped_rows: Vec<usize>,
}

impl JournalMapping {
    /// Maps rows (as returned by a Looker query, keyed by fully qualified field names) to
    /// journals.
    ///
    /// Every row is read; each problem goes into [`MappedJournals::errors`] naming its row,
    /// column and value, and the row is left out of its journal (recorded in
    /// [`JournalDocument::unmapped_rows`] so the journal is not posted incomplete). Only an
    /// inconsistent mapping returns `Err`.
    ///
    /// ```
    /// use serde_json::json;
    /// use sync_core::mapping::{JournalMapping, Row};
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
    /// let rows: Vec<Row> = [json!({"a.account": "6100", "a.amount": 10.5}),
    ///                       json!({"a.account": "1000", "a.amount": "-10.50"})]
    ///     .into_iter().map(|v| v.as_object().unwrap().clone()).collect();
    /// let mapped = mapping.map_rows(&rows).unwrap();
    /// assert!(mapped.errors.is_empty());
    /// let doc = &mapped.documents[0];
    /// assert_eq!(doc.lines[0].debit.to_string(), "10.50");
    /// assert_eq!(doc.lines[1].credit.to_string(), "10.50");
    /// assert!(doc.is_balanced());
    /// ```
    pub fn map_rows(&self, rows: &[Row]) -> Result<MappedJournals, MappingError> {
        self.check()?;
        let mut out = MappedJournals {
            flow: self.flow.clone(),
            documents: Vec::new(),
            errors: Vec::new(),
            skipped_rows: Vec::new(),
            rows_read: rows.len(),
            origins: self.origins(),
        };
        // A column that no row has is one problem, not one per row.
        if !rows.is_empty() {
            let mut present: Vec<&str> = rows
                .iter()
                .flat_map(|r| r.keys().map(String::as_str))
                .collect();
            present.sort_unstable();
            present.dedup();
            for column in self.columns() {
                if present.binary_search(&column).is_err() {
                    out.errors.push(MappingError::ColumnNotFound {
                        column: column.to_owned(),
                        suggestions: closest_names(column, present.iter().copied()),
                    });
                }
            }
            if !out.errors.is_empty() {
                return Ok(out);
            }
        }

        let mut groups: Vec<Group> = Vec::new();
        let mut index: HashMap<Partition, usize> = HashMap::new();
        for (i, row) in rows.iter().enumerate() {
            let number = i + 1;
            let mut r = RowReader {
                mapping: self,
                row,
                number,
                errors: Vec::new(),
            };
            let (group, line) = self.map_row(&mut r);
            let errors = std::mem::take(&mut r.errors);
            let Some((partition, period, branch, group_values)) = group else {
                out.errors.extend(errors);
                continue;
            };
            let gi = *index.entry(partition.clone()).or_insert_with(|| {
                groups.push(Group {
                    partition,
                    period,
                    branch,
                    group_values,
                    ledger: None,
                    currency: None,
                    lines: Vec::new(),
                    unmapped_rows: Vec::new(),
                });
                groups.len() - 1
            });
            let g = &mut groups[gi];
            let mut row_ok = errors.is_empty();
            out.errors.extend(errors);
            // Header fields a journal holds once.
            match (&line.ledger, &g.ledger) {
                (Some(l), None) => g.ledger = Some((number, l.clone())),
                (Some(l), Some((first_row, first))) if l != first => {
                    out.errors.push(MappingError::NotUniform {
                        field: "ledger",
                        column: self.document.ledger.describe(),
                        first_row: *first_row,
                        first_value: first.clone(),
                        row: number,
                        value: l.clone(),
                    });
                    row_ok = false;
                }
                _ => {}
            }
            if let Some(cur) = &line.currency {
                match &g.currency {
                    None => g.currency = Some((number, cur.clone())),
                    Some((first_row, first)) if first != cur => {
                        let show =
                            |c: &Option<String>| c.clone().unwrap_or_else(|| "(empty)".into());
                        out.errors.push(MappingError::NotUniform {
                            field: "currency",
                            column: self
                                .document
                                .currency
                                .as_ref()
                                .map(FieldSource::describe)
                                .unwrap_or_default(),
                            first_row: *first_row,
                            first_value: show(first),
                            row: number,
                            value: show(cur),
                        });
                        row_ok = false;
                    }
                    _ => {}
                }
            }
            match (row_ok, line.line) {
                (true, Some(l)) => {
                    if l.debit.is_zero()
                        && l.credit.is_zero()
                        && self.lines.zero_amount == ZeroAmount::Skip
                    {
                        out.skipped_rows.push(number);
                    } else {
                        g.lines.push(l);
                    }
                }
                _ => g.unmapped_rows.push(number),
            }
        }

        // A journal whose every row was skipped as zero has nothing to post.
        for g in groups {
            if !(g.lines.is_empty() && g.unmapped_rows.is_empty()) {
                out.documents.push(self.finish(g));
            }
        }
        Ok(out)
    }

    /// Reads one row: its partition (if readable) and its line (if readable).
    #[allow(clippy::type_complexity)]
    fn map_row(
        &self,
        r: &mut RowReader<'_>,
    ) -> (
        Option<(Partition, Period, String, Vec<(String, String)>)>,
        RowLine,
    ) {
        let l = &self.lines;
        // Partition: period, header branch, group columns.
        let date = r.date();
        let period = r.period(date.as_ref().map(|d| *d));
        let line_branch = r.required(&l.branch, "branch");
        let header_branch = match &self.document.branch {
            Some(src) => r.required(src, "journal branch"),
            None => match &line_branch {
                Ok(b) => Ok(b.clone()),
                Err(Failed) => Err(Failed),
            },
        };
        let mut group_values = Vec::with_capacity(self.document.group_by.len());
        let mut group_ok = true;
        for column in &self.document.group_by {
            match cell_text(r.row, column) {
                Ok(v) => group_values.push((column.clone(), v.unwrap_or_default())),
                Err(json) => {
                    r.errors.push(MappingError::NotScalar {
                        row: r.number,
                        column: column.clone(),
                        value: json,
                    });
                    group_ok = false;
                }
            }
        }
        let group = match (&period, &header_branch, group_ok) {
            (Ok(p), Ok(b), true) => {
                let mut entries = vec![
                    ("period".to_owned(), p.to_string()),
                    ("branch".to_owned(), b.clone()),
                ];
                entries.extend(group_values.iter().cloned());
                Some((Partition(entries), *p, b.clone(), group_values))
            }
            _ => None,
        };

        // Header fields checked for uniformity.
        let ledger = r.required(&self.document.ledger, "ledger").ok();
        let currency = match &self.document.currency {
            Some(src) => r.optional(src).ok(),
            None => None,
        };

        // Line fields.
        let account = r.required(&l.account, "account");
        let subaccount = r.subaccount();
        let project = l.project.as_ref().map(|s| r.optional(s)).transpose();
        let task = l.task.as_ref().map(|s| r.optional(s)).transpose();
        let cost_code = l.cost_code.as_ref().map(|s| r.optional(s)).transpose();
        let reference_nbr = l.reference_nbr.as_ref().map(|s| r.optional(s)).transpose();
        let amounts = match (&l.amount.signed, &l.amount.debit, &l.amount.credit) {
            (Some(col), _, _) => r.amount(col, false).map(|mut v| {
                if l.amount.invert {
                    v = -v;
                }
                if v.is_sign_negative() && !v.is_zero() {
                    (Decimal::ZERO, -v)
                } else {
                    (v, Decimal::ZERO)
                }
            }),
            (None, d, c) => {
                let debit = d
                    .as_deref()
                    .map_or(Ok(Decimal::ZERO), |col| r.amount(col, true));
                let credit = c
                    .as_deref()
                    .map_or(Ok(Decimal::ZERO), |col| r.amount(col, true));
                match (debit, credit) {
                    (Ok(d), Ok(c)) => Ok((d, c)),
                    _ => Err(Failed),
                }
            }
        };

        let line = match (
            account,
            subaccount,
            line_branch,
            project,
            task,
            cost_code,
            reference_nbr,
            amounts,
            &period,
            &date,
        ) {
            (
                Ok(account),
                Ok(subaccount),
                Ok(branch),
                Ok(project),
                Ok(task),
                Ok(cost_code),
                Ok(reference_nbr),
                Ok((debit, credit)),
                Ok(period),
                Ok(date),
            ) => {
                let (debit, credit) = (
                    scaled(debit, self.money.places),
                    scaled(credit, self.money.places),
                );
                let mut line = JournalLine {
                    row: r.number,
                    account,
                    subaccount,
                    branch,
                    project: project.flatten(),
                    task: task.flatten(),
                    cost_code: cost_code.flatten(),
                    reference_nbr: reference_nbr.flatten(),
                    debit,
                    credit,
                    description: None,
                    date: *date,
                };
                line.description = l
                    .description
                    .as_ref()
                    .map(|t| self.render_line(t, r, &line, *period));
                Some(line)
            }
            _ => None,
        };
        (
            group,
            RowLine {
                line,
                ledger,
                currency,
            },
        )
    }

    fn render_line(
        &self,
        template: &super::Template,
        r: &RowReader<'_>,
        line: &JournalLine,
        period: Period,
    ) -> String {
        template.render(|name| {
            if name.contains('.') {
                return Some(r.text_or_empty(name));
            }
            match name {
                "flow" => Some(self.flow.clone()),
                "period" => Some(period.to_string()),
                "branch" => Some(line.branch.clone()),
                "account" => Some(line.account.clone()),
                "subaccount" => line.subaccount.clone(),
                "project" => line.project.clone(),
                "task" => line.task.clone(),
                "row" => Some(line.row.to_string()),
                other => self.constants.get(other).cloned(),
            }
        })
    }

    fn finish(&self, g: Group) -> JournalDocument {
        let ledger = g.ledger.map(|(_, l)| l).unwrap_or_default();
        let currency = g.currency.and_then(|(_, c)| c);
        let dates = g.lines.iter().filter_map(|l| l.date);
        let transaction_date = match self.document_date() {
            DocumentDate::LatestRowDate => dates.max(),
            DocumentDate::EarliestRowDate => dates.min(),
            DocumentDate::PeriodEnd => g.period.calendar_month_end(),
            DocumentDate::None => None,
            DocumentDate::Constant(d) => Some(d),
        };
        let description = self.document.description.render(|name| {
            if name.contains('.') {
                return g
                    .group_values
                    .iter()
                    .find(|(c, _)| c == name)
                    .map(|(_, v)| v.clone());
            }
            match name {
                "flow" => Some(self.flow.clone()),
                "period" => Some(g.period.to_string()),
                "branch" => Some(g.branch.clone()),
                "ledger" => Some(ledger.clone()),
                "currency" => currency.clone(),
                "date" => transaction_date.map(|d| d.format("%Y-%m-%d").to_string()),
                other => self.constants.get(other).cloned(),
            }
        });
        JournalDocument {
            flow: self.namespace().to_owned(),
            partition: g.partition,
            branch: g.branch,
            ledger,
            currency,
            period: g.period,
            transaction_date,
            description,
            hold: self.document.hold,
            lines: g.lines,
            unmapped_rows: g.unmapped_rows,
        }
    }

    /// Where each target field comes from, for messages.
    pub fn origins(&self) -> FieldOrigins {
        let l = &self.lines;
        let d = &self.document;
        let mut m = BTreeMap::new();
        m.insert(Field::Account, l.account.describe());
        m.insert(Field::Branch, l.branch.describe());
        m.insert(
            Field::DocumentBranch,
            d.branch.as_ref().unwrap_or(&l.branch).describe(),
        );
        m.insert(Field::Ledger, d.ledger.describe());
        if let Some(s) = &l.subaccount {
            m.insert(Field::Subaccount, s.describe());
        }
        for (f, s) in [
            (Field::Project, &l.project),
            (Field::Task, &l.task),
            (Field::CostCode, &l.cost_code),
            (Field::ReferenceNbr, &l.reference_nbr),
            (Field::Currency, &d.currency),
        ] {
            if let Some(s) = s {
                m.insert(f, s.describe());
            }
        }
        match (&l.amount.signed, &l.amount.debit, &l.amount.credit) {
            (Some(s), _, _) => {
                m.insert(Field::Debit, s.clone());
                m.insert(Field::Credit, s.clone());
            }
            (None, debit, credit) => {
                if let Some(c) = debit {
                    m.insert(Field::Debit, c.clone());
                }
                if let Some(c) = credit {
                    m.insert(Field::Credit, c.clone());
                }
            }
        }
        if let Some(date) = &l.date {
            m.insert(Field::Date, date.column.clone());
        }
        let period = match &l.period {
            Some(p) => FieldSource {
                column: p.column.clone(),
                constant: p.constant.clone(),
                map: None,
            }
            .describe(),
            None => format!(
                "{} (calendar month)",
                l.date
                    .as_ref()
                    .map(|d| d.column.as_str())
                    .unwrap_or_default()
            ),
        };
        m.insert(Field::Period, period);
        if let Some(t) = &l.description {
            m.insert(Field::LineDescription, format!("template `{t}`"));
        }
        m.insert(
            Field::DocumentDescription,
            format!("template `{}`", d.description),
        );
        FieldOrigins(m)
    }
}

/// The mapped line of a row plus the header values it carries.
struct RowLine {
    line: Option<JournalLine>,
    ledger: Option<String>,
    currency: Option<Option<String>>,
}

/// An amount at exactly `places` decimal places (already checked not to lose digits).
fn scaled(mut d: Decimal, places: u32) -> Decimal {
    d.rescale(places);
    if d.is_zero() {
        d.set_sign_positive(true);
    }
    d
}
