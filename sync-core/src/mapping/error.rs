//! The mapping's error type.

use super::amount::AmountError;

/// A problem with a mapping file or with one row of the data it maps.
///
/// Row problems name the 1-based row number of the query result, the column (the fully
/// qualified Looker field name), the value, and what to do about it. They are collected, not
/// returned one at a time: [`JournalMapping::map_rows`](super::JournalMapping::map_rows) and
/// [`ReferenceMapping::map_rows`](super::ReferenceMapping::map_rows) report every row problem
/// of a run at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MappingError {
    /// The mapping file could not be read.
    #[error("cannot read mapping file {path}: {message}")]
    Io {
        /// The file's path.
        path: String,
        /// The operating system's message.
        message: String,
    },
    /// The mapping file is not valid TOML for this kind of mapping (the message names the line).
    #[error("mapping file is not a valid mapping: {message}")]
    Toml {
        /// The parser's message, with line and column.
        message: String,
    },
    /// The mapping parses but is inconsistent (checked before any row is read).
    #[error("mapping `{setting}`: {problem}")]
    Config {
        /// The setting, as a TOML path (e.g. `lines.amount`).
        setting: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A column the mapping uses is in no row of the query result.
    #[error(
        "column `{column}` is not in the query result{}; check the field name in the mapping, or add the field to the Looker query",
        closest(.suggestions)
    )]
    ColumnNotFound {
        /// The column the mapping names.
        column: String,
        /// The closest column names that the rows do have.
        suggestions: Vec<String>,
    },
    /// A required cell is empty (null, missing or blank).
    #[error(
        "row {row}, column `{column}`: no value for the {field}; fill it in the Looker query or map a constant"
    )]
    MissingValue {
        /// 1-based row number.
        row: usize,
        /// The column.
        column: String,
        /// Which target field needed it.
        field: &'static str,
    },
    /// A cell holds a JSON array or object where text was expected.
    #[error(
        "row {row}, column `{column}`: value {value} is not text or a number; map a scalar field"
    )]
    NotScalar {
        /// 1-based row number.
        row: usize,
        /// The column.
        column: String,
        /// The value as JSON.
        value: String,
    },
    /// An amount cell is not an exact decimal with the currency's precision.
    #[error("row {row}, column `{column}`: value {value} {source}")]
    Amount {
        /// 1-based row number.
        row: usize,
        /// The column.
        column: String,
        /// The value as JSON.
        value: String,
        /// What is wrong with it.
        source: AmountError,
    },
    /// A value has no entry in the value map that the mapping applies to its column.
    #[error(
        "row {row}, column `{column}`: value `{value}` is not in map `{map}`{}; add it under [maps.{map}] in the mapping file",
        closest(.suggestions)
    )]
    Unmapped {
        /// 1-based row number.
        row: usize,
        /// The column.
        column: String,
        /// The value that has no entry.
        value: String,
        /// The map's name.
        map: String,
        /// The closest keys the map has.
        suggestions: Vec<String>,
    },
    /// A date or period cell cannot be read.
    #[error(
        "row {row}, column `{column}`: value `{value}` is not a {expected}; fix the field's format in LookML or set the mapping's format"
    )]
    DateOrPeriod {
        /// 1-based row number.
        row: usize,
        /// The column.
        column: String,
        /// The value.
        value: String,
        /// What was expected, e.g. "period in MMYYYY form".
        expected: String,
    },
    /// A subaccount segment has the wrong length.
    #[error(
        "row {row}, column `{column}`: subaccount segment `{value}` has {actual} characters but the segment takes {expected}; fix the value or its map entry"
    )]
    SegmentLength {
        /// 1-based row number.
        row: usize,
        /// The column (or `constant`).
        column: String,
        /// The segment value after mapping.
        value: String,
        /// Its length in characters.
        actual: usize,
        /// The segment's length.
        expected: usize,
    },
    /// Rows of one journal disagree on a header field that a journal holds once.
    #[error(
        "row {row}, column `{column}`: the {field} is `{value}` but `{first_value}` in row {first_row} of the same journal; a journal has one {field}: add the column to [document] group_by, or make it the same for the whole journal"
    )]
    NotUniform {
        /// The header field.
        field: &'static str,
        /// The column it comes from.
        column: String,
        /// Row that set the journal's value.
        first_row: usize,
        /// The journal's value.
        first_value: String,
        /// The disagreeing row.
        row: usize,
        /// The disagreeing value.
        value: String,
    },
    /// Two rows give the same key but different field values for a reference record.
    #[error(
        "rows {first_row} and {row}: both give {entity} `{key}` (column `{column}`) with different fields; keep one row per key in the Looker query"
    )]
    DuplicateKey {
        /// The entity, e.g. `Vendor`.
        entity: String,
        /// The key column.
        column: String,
        /// The key value.
        key: String,
        /// The first row with this key.
        first_row: usize,
        /// The later row with this key.
        row: usize,
    },
    /// A cell cannot be converted to the type the target field takes.
    #[error(
        "row {row}, column `{column}`: value {value} is not a {expected}; fix the value or the field's `type` in the mapping"
    )]
    WrongType {
        /// 1-based row number.
        row: usize,
        /// The column.
        column: String,
        /// The value as JSON.
        value: String,
        /// The expected type.
        expected: &'static str,
    },
}

impl MappingError {
    pub(crate) fn config(setting: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Config {
            setting: setting.into(),
            problem: problem.into(),
        }
    }

    /// The 1-based row the problem is in, when it concerns one row.
    pub fn row(&self) -> Option<usize> {
        match self {
            Self::MissingValue { row, .. }
            | Self::NotScalar { row, .. }
            | Self::Amount { row, .. }
            | Self::Unmapped { row, .. }
            | Self::DateOrPeriod { row, .. }
            | Self::SegmentLength { row, .. }
            | Self::NotUniform { row, .. }
            | Self::DuplicateKey { row, .. }
            | Self::WrongType { row, .. } => Some(*row),
            Self::Io { .. }
            | Self::Toml { .. }
            | Self::Config { .. }
            | Self::ColumnNotFound { .. } => None,
        }
    }

    /// The column the problem is in, when there is one.
    pub fn column(&self) -> Option<&str> {
        match self {
            Self::ColumnNotFound { column, .. }
            | Self::MissingValue { column, .. }
            | Self::NotScalar { column, .. }
            | Self::Amount { column, .. }
            | Self::Unmapped { column, .. }
            | Self::DateOrPeriod { column, .. }
            | Self::SegmentLength { column, .. }
            | Self::NotUniform { column, .. }
            | Self::DuplicateKey { column, .. }
            | Self::WrongType { column, .. } => Some(column),
            Self::Io { .. } | Self::Toml { .. } | Self::Config { .. } => None,
        }
    }

    /// The offending value, when there is one.
    pub fn value(&self) -> Option<&str> {
        match self {
            Self::NotScalar { value, .. }
            | Self::Amount { value, .. }
            | Self::Unmapped { value, .. }
            | Self::DateOrPeriod { value, .. }
            | Self::SegmentLength { value, .. }
            | Self::NotUniform { value, .. }
            | Self::WrongType { value, .. } => Some(value),
            Self::DuplicateKey { key, .. } => Some(key),
            _ => None,
        }
    }

    /// Suggested valid choices (closest names), when the problem has any.
    pub fn suggestions(&self) -> &[String] {
        match self {
            Self::ColumnNotFound { suggestions, .. } | Self::Unmapped { suggestions, .. } => {
                suggestions
            }
            _ => &[],
        }
    }
}

/// Formats suggestions as `" (closest: `a`, `b`)"`, or nothing when there are none.
pub(crate) fn closest(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        return String::new();
    }
    let list: Vec<String> = suggestions.iter().map(|s| format!("`{s}`")).collect();
    format!(" (closest: {})", list.join(", "))
}
