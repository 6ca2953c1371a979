//! The declarative journal mapping: what a mapping file says, and the checks made on load.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::amount::Rounding;
use super::error::MappingError;
use super::template::Template;

/// A value map: source value (e.g. a cost center name) to target value (e.g. a subaccount
/// segment). Lookups are exact; a value without an entry is an error, never passed through.
pub type ValueMap = BTreeMap<String, String>;

/// Where one target field's value comes from: a column of the row (optionally translated by a
/// value map) or a constant.
///
/// In TOML: `{ column = "view.field" }`, `{ column = "view.field", map = "name" }` or
/// `{ constant = "ACTUAL" }`.
///
/// ```
/// use sync_core::mapping::FieldSource;
/// let s: FieldSource = toml::from_str(r#"column = "v.cc"
/// map = "cost_center""#).unwrap();
/// assert_eq!(s, FieldSource::column("v.cc").via_map("cost_center"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FieldSource {
    /// The column (fully qualified Looker field name, `view.field`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// A constant value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constant: Option<String>,
    /// The name of a value map (under `[maps]`) applied to the column's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<String>,
}

impl FieldSource {
    /// The value of a column.
    pub fn column(name: impl Into<String>) -> Self {
        Self {
            column: Some(name.into()),
            ..Self::default()
        }
    }

    /// A constant.
    pub fn constant(value: impl Into<String>) -> Self {
        Self {
            constant: Some(value.into()),
            ..Self::default()
        }
    }

    /// The same source with a value map applied.
    pub fn via_map(mut self, map: impl Into<String>) -> Self {
        self.map = Some(map.into());
        self
    }

    /// Human description for messages: `view.field`, `view.field (via map m)`, `constant X`.
    pub fn describe(&self) -> String {
        match (&self.column, &self.constant, &self.map) {
            (Some(c), _, Some(m)) => format!("{c} (via map {m})"),
            (Some(c), _, None) => c.clone(),
            (None, Some(k), _) => format!("constant `{k}`"),
            (None, None, _) => "(nothing)".to_owned(),
        }
    }

    pub(crate) fn check(
        &self,
        setting: &str,
        maps: &BTreeMap<String, ValueMap>,
    ) -> Result<(), MappingError> {
        match (&self.column, &self.constant) {
            (Some(_), Some(_)) => {
                return Err(MappingError::config(
                    setting,
                    "give either `column` or `constant`, not both",
                ));
            }
            (None, None) => {
                return Err(MappingError::config(
                    setting,
                    "give a `column` or a `constant`",
                ));
            }
            (Some(c), None) if c.trim().is_empty() => {
                return Err(MappingError::config(setting, "the column name is empty"));
            }
            _ => {}
        }
        if let Some(m) = &self.map {
            if self.column.is_none() {
                return Err(MappingError::config(
                    setting,
                    "`map` applies to a column; write the mapped value as the constant instead",
                ));
            }
            if !maps.contains_key(m) {
                return Err(MappingError::config(
                    setting,
                    format!(
                        "map `{m}` is not defined; add a [maps.{m}] table{}",
                        super::error::closest(&super::suggest::closest_names(
                            m,
                            maps.keys().map(String::as_str)
                        ))
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// One segment of a composed subaccount.
///
/// In TOML: `{ column = "view.department", map = "department", length = 3 }` or
/// `{ constant = "000" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// The column giving the segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// A constant segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constant: Option<String>,
    /// A value map applied to the column's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<String>,
    /// The segment's exact length in characters, checked per row when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<usize>,
}

impl Segment {
    pub(crate) fn source(&self) -> FieldSource {
        FieldSource {
            column: self.column.clone(),
            constant: self.constant.clone(),
            map: self.map.clone(),
        }
    }
}

/// Where the subaccount comes from: a whole column, a constant, or segments joined with a
/// separator.
///
/// In TOML, either `{ column = "view.sub" }` / `{ constant = "000-000" }`, or
/// `{ segments = [ { column = "view.cc", map = "department" }, { constant = "000" } ], separator = "-" }`.
/// The separator goes between segments. It defaults to none, the form Acumatica's own REST
/// examples send (`"Subaccount": {"value": "000000"}`); set it (e.g. `"-"`) when the site's
/// subaccount CDs, as the `Subaccount` entity lists them, carry the display separator, so that
/// mapped values and reference data agree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SubaccountSource {
    /// The column holding the whole subaccount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// A constant subaccount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constant: Option<String>,
    /// A value map applied to the whole column's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<String>,
    /// Segments, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<Segment>,
    /// Text between segments.
    #[serde(default = "default_separator")]
    pub separator: String,
}

fn default_separator() -> String {
    String::new()
}

impl SubaccountSource {
    pub(crate) fn describe(&self) -> String {
        if self.segments.is_empty() {
            return FieldSource {
                column: self.column.clone(),
                constant: self.constant.clone(),
                map: self.map.clone(),
            }
            .describe();
        }
        let parts: Vec<String> = self
            .segments
            .iter()
            .map(|s| s.source().describe())
            .collect();
        format!(
            "segments {} joined by `{}`",
            parts.join(" + "),
            self.separator
        )
    }

    fn check(&self, maps: &BTreeMap<String, ValueMap>) -> Result<(), MappingError> {
        let setting = "lines.subaccount";
        if self.segments.is_empty() {
            return FieldSource {
                column: self.column.clone(),
                constant: self.constant.clone(),
                map: self.map.clone(),
            }
            .check(setting, maps);
        }
        if self.column.is_some() || self.constant.is_some() || self.map.is_some() {
            return Err(MappingError::config(
                setting,
                "give either `segments` or a whole `column`/`constant`, not both",
            ));
        }
        for (i, seg) in self.segments.iter().enumerate() {
            let s = format!("{setting}.segments[{i}]");
            seg.source().check(&s, maps)?;
            if let (Some(len), Some(k)) = (seg.length, &seg.constant)
                && k.chars().count() != len
            {
                return Err(MappingError::config(
                    s,
                    format!("constant `{k}` does not have the segment's length {len}"),
                ));
            }
        }
        Ok(())
    }
}

/// Where the amount comes from.
///
/// Either one signed column (`signed = "view.amount"`: positive is a debit, negative a credit;
/// `invert = true` flips that for sources where credits are positive), or separate columns
/// (`debit = "view.debit"`, `credit = "view.credit"`; an empty cell counts as zero).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AmountSource {
    /// A signed amount column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<String>,
    /// The debit column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debit: Option<String>,
    /// The credit column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit: Option<String>,
    /// With `signed`: treat positive values as credits.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub invert: bool,
}

/// How a period cell is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PeriodFormat {
    /// Any of the forms, told apart by shape (default; see
    /// [`Period::parse_any`](super::Period::parse_any)).
    #[default]
    Auto,
    /// `MMYYYY` or `MM-YYYY`.
    Mmyyyy,
    /// `YYYYMM` or `YYYY-MM` (a Looker `month` timeframe; Acumatica's internal period ID).
    Yyyymm,
}

/// Where the financial period comes from.
///
/// In TOML: `{ column = "view.period", format = "yyyymm" }` or `{ constant = "012025" }`.
/// Without a period source the period is the calendar month of the row's date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PeriodSource {
    /// The period column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// A constant period (`MMYYYY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constant: Option<String>,
    /// How the column's values are written.
    #[serde(default)]
    pub format: PeriodFormat,
}

/// The column giving a row's transaction date (`YYYY-MM-DD`, time ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DateSource {
    /// The date column.
    pub column: String,
}

/// What to do with a line whose amount is zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ZeroAmount {
    /// Keep it and let validation report it (a GL line needs a debit or a credit). Default.
    #[default]
    Report,
    /// Drop the line; the row number is listed in
    /// [`MappedJournals::skipped_rows`](super::MappedJournals::skipped_rows).
    Skip,
}

/// The journal's `TransactionDate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentDate {
    /// The latest row date in the journal (default when `lines.date` is mapped).
    LatestRowDate,
    /// The earliest row date in the journal.
    EarliestRowDate,
    /// The last day of the period taken as a calendar month (periods 1 to 12 only).
    PeriodEnd,
    /// No date: Acumatica applies its default (the business date). Default without `lines.date`.
    None,
    /// A fixed date, written as a quoted string: `{ constant = "2025-01-31" }`.
    Constant(NaiveDate),
}

/// Currency precision and rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoneyRules {
    /// Decimal places the currency allows (default 2).
    #[serde(default = "default_places")]
    pub places: u32,
    /// What to do with more places (default: report an error).
    #[serde(default)]
    pub rounding: Rounding,
}

fn default_places() -> u32 {
    2
}

impl Default for MoneyRules {
    fn default() -> Self {
        Self {
            places: default_places(),
            rounding: Rounding::Error,
        }
    }
}

/// Line-level sources: `[lines]` in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LineMapping {
    /// The GL account (`JournalTransactionDetail.Account`, the account CD).
    pub account: FieldSource,
    /// The subaccount, if the site uses subaccounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subaccount: Option<SubaccountSource>,
    /// The line's branch (`JournalTransactionDetail.BranchID`).
    pub branch: FieldSource,
    /// The project (`Project`); empty cells mean no project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<FieldSource>,
    /// The project task (`ProjectTask`); empty cells mean none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<FieldSource>,
    /// The cost code (`CostCode`); empty cells mean none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_code: Option<FieldSource>,
    /// The line's reference number (`ReferenceNbr`, at most 15 characters in Acumatica).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_nbr: Option<FieldSource>,
    /// The amount.
    pub amount: AmountSource,
    /// The line text (`TransactionDescription`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Template>,
    /// The row's transaction date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<DateSource>,
    /// The row's financial period; defaults to the calendar month of `date`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<PeriodSource>,
    /// Zero-amount lines.
    #[serde(default)]
    pub zero_amount: ZeroAmount,
}

/// Document-level settings: `[document]` in the file.
///
/// Rows are grouped into journals by period, header branch and the `group_by` columns; a
/// journal transaction has exactly one period and one branch, so those two always split
/// journals. Ledger and currency must then be the same for all rows of a journal (a row that
/// disagrees is reported).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentMapping {
    /// The ledger (`LedgerID`), usually a constant such as `ACTUAL`.
    pub ledger: FieldSource,
    /// The header branch; defaults to each row's line branch. Set a constant for inter-branch
    /// journals whose lines post to several branches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<FieldSource>,
    /// The currency (`CurrencyID`); omit to use the ledger's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<FieldSource>,
    /// Further columns that split journals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<String>,
    /// The header description (the natural key is appended to it when posting).
    pub description: Template,
    /// The header date; default `latest_row_date` when `lines.date` is mapped, else `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<DocumentDate>,
    /// Post on hold (`Hold`); default false so the batch is balanced and ready to release.
    #[serde(default)]
    pub hold: bool,
}

/// A mapping of Looker rows to Acumatica journal transactions, as read from a TOML file.
///
/// See `sync-core/tests/data/overhead_allocation.toml` for a complete, commented example.
///
/// ```
/// use sync_core::mapping::JournalMapping;
///
/// let mapping = JournalMapping::from_toml_str(r#"
/// flow = "overhead_allocation"
/// [lines]
/// account = { column = "alloc.account" }
/// branch = { constant = "HQ" }
/// amount = { signed = "alloc.amount" }
/// date = { column = "alloc.date" }
/// [document]
/// ledger = { constant = "ACTUAL" }
/// description = "Overhead allocation {period}"
/// "#).unwrap();
/// assert_eq!(mapping.flow, "overhead_allocation");
/// assert!(mapping.columns().contains("alloc.amount"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalMapping {
    /// The flow's name (its lease, ledger, runs and audit trail).
    pub flow: String,
    /// The name the natural keys' partition hash is computed over (default: `flow`). Set it to
    /// the old name when renaming a flow, so the renamed flow recognises the journals it
    /// posted before instead of posting the period again. Never change it once journals are
    /// posted.
    ///
    /// `group_by` values are part of the partition too: name columns with stable ids (a cost
    /// center's code, not its display name); a renamed value starts a new partition (the
    /// `foreign_journals` check of the post flow reports it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_namespace: Option<String>,
    /// Line sources.
    pub lines: LineMapping,
    /// Document settings.
    pub document: DocumentMapping,
    /// Currency precision.
    #[serde(default)]
    pub money: MoneyRules,
    /// Value maps by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub maps: BTreeMap<String, ValueMap>,
    /// Constants usable in templates as `{name}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub constants: BTreeMap<String, String>,
}

/// Placeholder names (without a dot) that line templates may use besides constants.
pub const LINE_BUILTINS: &[&str] = &[
    "flow",
    "period",
    "branch",
    "account",
    "subaccount",
    "project",
    "task",
    "row",
];

/// Placeholder names (without a dot) that the document template may use besides constants.
pub const DOCUMENT_BUILTINS: &[&str] = &["flow", "period", "branch", "ledger", "currency", "date"];

impl JournalMapping {
    /// The key namespace in force: [`key_namespace`](Self::key_namespace) when set, else the
    /// flow name.
    ///
    /// ```
    /// use sync_core::mapping::JournalMapping;
    /// let text = r#"
    /// flow = "alloc_v2"
    /// key_namespace = "alloc"
    /// [lines]
    /// account = { column = "a.account" }
    /// branch = { constant = "HQ" }
    /// amount = { signed = "a.amount" }
    /// period = { constant = "012025" }
    /// [document]
    /// ledger = { constant = "ACTUAL" }
    /// description = "Allocation {period}"
    /// "#;
    /// let m = JournalMapping::from_toml_str(text).unwrap();
    /// assert_eq!(m.namespace(), "alloc");
    /// ```
    pub fn namespace(&self) -> &str {
        self.key_namespace.as_deref().unwrap_or(&self.flow)
    }

    /// Parses and checks a TOML mapping.
    pub fn from_toml_str(text: &str) -> Result<Self, MappingError> {
        let mapping: Self = toml::from_str(text).map_err(|e| MappingError::Toml {
            message: e.to_string(),
        })?;
        mapping.check()?;
        Ok(mapping)
    }

    /// Reads, parses and checks a TOML mapping file.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, MappingError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| MappingError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_toml_str(&text)
    }

    /// Every column the mapping reads, e.g. to request exactly these fields in the Looker query
    /// or to check them against the explore before running it.
    pub fn columns(&self) -> BTreeSet<&str> {
        let mut out = BTreeSet::new();
        let l = &self.lines;
        let d = &self.document;
        let sources = [
            Some(&l.account),
            Some(&l.branch),
            l.project.as_ref(),
            l.task.as_ref(),
        ]
        .into_iter()
        .chain([
            l.cost_code.as_ref(),
            l.reference_nbr.as_ref(),
            Some(&d.ledger),
        ])
        .chain([d.branch.as_ref(), d.currency.as_ref()])
        .flatten();
        for s in sources {
            if let Some(c) = &s.column {
                out.insert(c.as_str());
            }
        }
        if let Some(sub) = &l.subaccount {
            if let Some(c) = &sub.column {
                out.insert(c.as_str());
            }
            for seg in &sub.segments {
                if let Some(c) = &seg.column {
                    out.insert(c.as_str());
                }
            }
        }
        for c in [&l.amount.signed, &l.amount.debit, &l.amount.credit]
            .into_iter()
            .flatten()
        {
            out.insert(c.as_str());
        }
        if let Some(date) = &l.date {
            out.insert(date.column.as_str());
        }
        if let Some(c) = l.period.as_ref().and_then(|p| p.column.as_ref()) {
            out.insert(c.as_str());
        }
        for c in &d.group_by {
            out.insert(c.as_str());
        }
        for t in l.description.iter().chain([&d.description]) {
            for p in t.placeholders().filter(|p| p.contains('.')) {
                out.insert(p);
            }
        }
        out
    }

    /// The document date rule in force (the default resolved).
    pub fn document_date(&self) -> DocumentDate {
        self.document.date.unwrap_or(if self.lines.date.is_some() {
            DocumentDate::LatestRowDate
        } else {
            DocumentDate::None
        })
    }

    /// Checks the mapping's consistency; [`JournalMapping::from_toml_str`] calls this, and so
    /// does [`JournalMapping::map_rows`](super::JournalMapping::map_rows) for mappings built in
    /// code.
    pub fn check(&self) -> Result<(), MappingError> {
        if self.flow.trim().is_empty() {
            return Err(MappingError::config("flow", "the flow name is empty"));
        }
        if let Some(ns) = &self.key_namespace
            && (ns.trim().is_empty() || ns.trim() != ns || ns.chars().any(char::is_control))
        {
            return Err(MappingError::config(
                "key_namespace",
                "the key namespace is empty or has surrounding spaces or control characters; leave it out to use the flow name",
            ));
        }
        let maps = &self.maps;
        let l = &self.lines;
        l.account.check("lines.account", maps)?;
        l.branch.check("lines.branch", maps)?;
        for (name, src) in [
            ("lines.project", &l.project),
            ("lines.task", &l.task),
            ("lines.cost_code", &l.cost_code),
            ("lines.reference_nbr", &l.reference_nbr),
            ("document.branch", &self.document.branch),
            ("document.currency", &self.document.currency),
        ] {
            if let Some(s) = src {
                s.check(name, maps)?;
            }
        }
        self.document.ledger.check("document.ledger", maps)?;
        if let Some(sub) = &l.subaccount {
            sub.check(maps)?;
        }
        let a = &l.amount;
        match (&a.signed, &a.debit, &a.credit) {
            (Some(_), None, None) => {}
            (Some(_), _, _) => {
                return Err(MappingError::config(
                    "lines.amount",
                    "give either `signed` or `debit`/`credit` columns, not both",
                ));
            }
            (None, None, None) => {
                return Err(MappingError::config(
                    "lines.amount",
                    "give a `signed` column, or `debit` and/or `credit` columns",
                ));
            }
            (None, _, _) if a.invert => {
                return Err(MappingError::config(
                    "lines.amount",
                    "`invert` applies to a `signed` column only",
                ));
            }
            _ => {}
        }
        if let Some(p) = &l.period {
            match (&p.column, &p.constant) {
                (Some(_), None) => {}
                (None, Some(k)) => {
                    k.parse::<super::Period>().map_err(|e| {
                        MappingError::config("lines.period.constant", e.to_string())
                    })?;
                }
                _ => {
                    return Err(MappingError::config(
                        "lines.period",
                        "give either a `column` or a `constant` (MMYYYY)",
                    ));
                }
            }
        } else if l.date.is_none() {
            return Err(MappingError::config(
                "lines",
                "map `date` (the period is then its calendar month) or `period`; a journal needs a period",
            ));
        }
        if matches!(
            self.document_date(),
            DocumentDate::LatestRowDate | DocumentDate::EarliestRowDate
        ) && l.date.is_none()
        {
            return Err(MappingError::config(
                "document.date",
                "a row-date rule needs `lines.date`; map it, or use `period_end`, `none` or a constant",
            ));
        }
        if self.money.places > 28 {
            return Err(MappingError::config(
                "money.places",
                "at most 28 decimal places",
            ));
        }
        for name in self.constants.keys() {
            if name.contains('.') || name.trim().is_empty() {
                return Err(MappingError::config(
                    format!("constants.{name}"),
                    "constant names are non-empty and have no dot (dotted names are columns)",
                ));
            }
            if LINE_BUILTINS.contains(&name.as_str()) || DOCUMENT_BUILTINS.contains(&name.as_str())
            {
                return Err(MappingError::config(
                    format!("constants.{name}"),
                    "this name is a built-in placeholder; rename the constant",
                ));
            }
        }
        let mut seen = BTreeSet::new();
        for g in &self.document.group_by {
            if g.trim().is_empty() || !seen.insert(g) {
                return Err(MappingError::config(
                    "document.group_by",
                    format!("column `{g}` is empty or listed twice"),
                ));
            }
        }
        if let Some(t) = &l.description {
            for p in t.placeholders() {
                if !p.contains('.')
                    && !LINE_BUILTINS.contains(&p)
                    && !self.constants.contains_key(p)
                {
                    return Err(self.unknown_placeholder("lines.description", p, LINE_BUILTINS));
                }
            }
        }
        for p in self.document.description.placeholders() {
            if p.contains('.') {
                if !self.document.group_by.iter().any(|g| g == p) {
                    return Err(MappingError::config(
                        "document.description",
                        format!(
                            "column `{p}` may differ between the rows of a journal; add it to group_by or use it in lines.description"
                        ),
                    ));
                }
            } else if !DOCUMENT_BUILTINS.contains(&p) && !self.constants.contains_key(p) {
                return Err(self.unknown_placeholder("document.description", p, DOCUMENT_BUILTINS));
            }
        }
        Ok(())
    }

    fn unknown_placeholder(&self, setting: &str, name: &str, builtins: &[&str]) -> MappingError {
        let candidates = builtins
            .iter()
            .copied()
            .chain(self.constants.keys().map(String::as_str));
        MappingError::config(
            setting,
            format!(
                "placeholder `{{{name}}}` is neither a column (view.field), a built-in nor a constant{}",
                super::error::closest(&super::suggest::closest_names(name, candidates))
            ),
        )
    }
}
