//! Declarative mappings from Looker rows to Acumatica documents.
//!
//! Two kinds, each read from a TOML file:
//!
//! - [`JournalMapping`]: rows to balanced GL journals ([`JournalDocument`] with
//!   [`JournalLine`]s): which columns give the account, subaccount (whole or composed of
//!   segments), branch, ledger, project and task, the amount (signed, or separate debit and
//!   credit columns; exact decimals), line and header descriptions (templates), the date or
//!   period, how rows group into journals, value maps and constants. A complete, commented
//!   example is `sync-core/tests/data/overhead_allocation.toml`.
//! - [`ReferenceMapping`]: rows to [`ReferenceRecord`]s of one entity (e.g. an approved-vendor
//!   list to `Vendor`), with [`ReferenceRecord::diff`] yielding only the fields that changed.
//!   Example: `sync-core/tests/data/approved_vendors.toml`.
//!
//! Rows are [`Row`]s: JSON objects keyed by fully qualified Looker field names
//! (`view.field`), as Looker's `json` result format returns them (`json_detail` cells of the
//! form `{"value": …}` are unwrapped). The output types are neutral: they name Acumatica's
//! contract fields in their docs but do not depend on the client crate, so a flow turns them
//! into client payloads with a thin adapter.
//!
//! Mapping never stops at the first bad row: every row problem is collected with its row
//! number, column and value. Validation against Acumatica's reference data is the next step,
//! in [`crate::validate`].

mod amount;
mod cell;
mod config;
mod error;
mod journal;
mod payload;
mod period;
mod reference;
mod suggest;
mod template;

pub use amount::{AmountError, Rounding, parse_amount, parse_decimal_text, to_currency_precision};
pub use config::{
    AmountSource, DOCUMENT_BUILTINS, DateSource, DocumentDate, DocumentMapping, FieldSource,
    JournalMapping, LINE_BUILTINS, LineMapping, MoneyRules, PeriodFormat, PeriodSource, Segment,
    SubaccountSource, ValueMap, ZeroAmount,
};
pub use error::MappingError;
pub use journal::{Field, FieldOrigins, JournalDocument, JournalLine, MappedJournals, Partition};
pub use payload::contract_fields;
pub use period::{Period, PeriodParseError, acumatica_date, parse_date_text};
pub use reference::{
    EmptyCells, FieldChange, FieldType, FieldValue, KeyField, MappedRecords, RecordChange,
    ReferenceField, ReferenceMapping, ReferenceRecord,
};
pub use suggest::{MAX_SUGGESTIONS, closest_names};
pub use template::{Template, TemplateError};

/// One row of a Looker query result: fully qualified field name to cell value.
pub type Row = serde_json::Map<String, serde_json::Value>;
