//! What a reference run would do, found without writing anything: see
//! [`ReferenceFlow::plan`](super::ReferenceFlow::plan).

use std::fmt;

use crate::mapping::RecordChange;

/// What a run would do to one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRecord {
    /// The key value, e.g. `V000001`.
    pub key: String,
    /// The 1-based source row.
    pub row: usize,
    /// The difference to the current record: create (with these fields), update (these fields
    /// differ, with their current and wanted values) or unchanged.
    pub change: RecordChange,
    /// The key Acumatica keeps the record under when the flow's key map says it differs from
    /// `key` (a key the site assigned itself); the lookup and the update use it.
    pub saved_key: Option<String>,
}

impl PlannedRecord {
    /// The action word: `create`, `update` or `unchanged`.
    ///
    /// ```
    /// use sync_core::mapping::RecordChange;
    /// use sync_core::reference::PlannedRecord;
    ///
    /// let p = PlannedRecord { key: "V1".into(), row: 1, change: RecordChange::Unchanged, saved_key: None };
    /// assert_eq!(p.action(), "unchanged");
    /// assert!(p.fields().is_empty());
    /// ```
    pub fn action(&self) -> &'static str {
        match self.change {
            RecordChange::Create(_) => "create",
            RecordChange::Update(_) => "update",
            RecordChange::Unchanged => "unchanged",
        }
    }

    /// The names of the fields a run would send besides the key (all non-empty fields of a
    /// create, the changed fields of an update), sorted; none when unchanged.
    pub fn fields(&self) -> Vec<&str> {
        match &self.change {
            RecordChange::Create(f) => f.keys().map(String::as_str).collect(),
            RecordChange::Update(f) => f.keys().map(String::as_str).collect(),
            RecordChange::Unchanged => Vec::new(),
        }
    }
}

/// The result of [`ReferenceFlow::plan`](super::ReferenceFlow::plan): per key, what a run would
/// do now. Nothing was written to Acumatica or to the state store to find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferencePlan {
    /// The flow.
    pub flow: String,
    /// The Acumatica entity, e.g. `Vendor`.
    pub entity: String,
    /// Rows read from the source.
    pub rows_read: u64,
    /// List requests made to read the current records.
    pub lookup_requests: u64,
    /// One entry per record, in source order.
    pub records: Vec<PlannedRecord>,
    /// Records an earlier run created under a key Acumatica assigned itself while the flow
    /// refuses such keys (`server_keys = "refuse"`), as (source key, saved key): while any is
    /// left, a run stops before writing (see [`ServerKeys`](super::ServerKeys)).
    pub refused_keys: Vec<(String, String)>,
}

impl ReferencePlan {
    /// How many records would get this action (`create`, `update`, `unchanged`).
    pub fn count(&self, action: &str) -> usize {
        self.records.iter().filter(|r| r.action() == action).count()
    }

    /// Keys of the records with this action.
    pub fn keys_with(&self, action: &str) -> Vec<&str> {
        self.records
            .iter()
            .filter(|r| r.action() == action)
            .map(|r| r.key.as_str())
            .collect()
    }

    /// The entry of the record with this key.
    pub fn record(&self, key: &str) -> Option<&PlannedRecord> {
        self.records.iter().find(|r| r.key == key)
    }
}

impl fmt::Display for ReferencePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "flow `{}`: {} row(s) read, {} {} record(s): {} to create, {} to update, {} unchanged",
            self.flow,
            self.rows_read,
            self.records.len(),
            self.entity,
            self.count("create"),
            self.count("update"),
            self.count("unchanged"),
        )?;
        if !self.refused_keys.is_empty() {
            write!(
                f,
                "; a run would stop: {} key(s) Acumatica numbered itself are refused",
                self.refused_keys.len()
            )?;
        }
        Ok(())
    }
}
