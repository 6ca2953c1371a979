//! Settings of a reference flow.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How a [`ReferenceFlow`](super::ReferenceFlow) runs.
///
/// ```
/// use sync_core::reference::ReferenceOptions;
/// let options = ReferenceOptions { lookup_page_size: 20, ..Default::default() };
/// assert!(options.check().is_ok());
/// assert!(ReferenceOptions { lookup_page_size: 0, ..Default::default() }.check().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReferenceOptions {
    /// Keys read per list request (an or-ed `Key eq '…'` filter); default 50. Long filters make
    /// long URLs, so keep it under a few hundred.
    pub lookup_page_size: usize,
    /// The flow lease's time to live in seconds (renewed at half of it); default 300.
    pub lease_ttl_secs: u64,
    /// What to do when Acumatica saves an inserted record under a key of its own (a numbering
    /// sequence covers the entity: a PUT asking for `123` created `C1165`); default
    /// [`ServerKeys::Refuse`]. See [`ServerKeys`].
    pub server_keys: ServerKeys,
    /// With [`ServerKeys::Map`]: a field of the entity (e.g. `AccountRef` of a Vendor) that
    /// every insert fills with the source key, so that a record whose insert got no answer is
    /// found again by it when the site numbered it; default none (such a record is then not
    /// inserted again until a person settles it). The mapping must not set this field itself.
    pub source_key_field: Option<String>,
}

/// What a reference flow does when Acumatica saves an inserted record under another key than
/// the one asked for (FACTS: a PUT with `"123"` created `"C1165"` because a numbering sequence
/// covers the entity). Without either, the next run would look `123` up, find nothing and
/// create another copy, every run.
///
/// ```
/// use sync_core::reference::{ReferenceOptions, ServerKeys};
/// let o: ReferenceOptions = toml::from_str("server_keys = \"map\"").unwrap();
/// assert_eq!(o.server_keys, ServerKeys::Map);
/// assert_eq!(ReferenceOptions::default().server_keys, ServerKeys::Refuse);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerKeys {
    /// Stop the run after the first such insert with an error saying what happened and what
    /// to do, keep the created record in the audit trail and the key map, and write nothing
    /// on later runs until it is settled (the record given the requested key or deleted in
    /// Acumatica, or this option set to `map`). The default: mapping changes what the key
    /// column means (Acumatica's documents refer to `C1165`, the source says `123`), so a
    /// person should choose it knowingly; refusing leaves one copy and says so.
    #[default]
    Refuse,
    /// Keep source key -> saved key in the state store's key map and use it for lookups and
    /// updates on later runs, so the record is updated, never created again.
    Map,
}

impl ServerKeys {
    /// The config spelling: `refuse` or `map`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refuse => "refuse",
            Self::Map => "map",
        }
    }
}

impl Default for ReferenceOptions {
    fn default() -> Self {
        Self {
            lookup_page_size: 50,
            lease_ttl_secs: 300,
            server_keys: ServerKeys::Refuse,
            source_key_field: None,
        }
    }
}

impl ReferenceOptions {
    /// The lease's time to live.
    pub fn lease_ttl(&self) -> Duration {
        Duration::from_secs(self.lease_ttl_secs)
    }

    /// Checks the values, naming the setting that is wrong.
    ///
    /// # Errors
    /// A configuration error naming the setting and its valid range.
    pub fn check(&self) -> Result<()> {
        if !(1..=500).contains(&self.lookup_page_size) {
            return Err(Error::config(
                "reference.lookup_page_size",
                format!(
                    "{} is out of range; use 1 to 500 keys per lookup request",
                    self.lookup_page_size
                ),
            ));
        }
        if !(10..=24 * 3600).contains(&self.lease_ttl_secs) {
            return Err(Error::config(
                "reference.lease_ttl_secs",
                format!(
                    "{} is out of range; use 10 seconds to 86400 (24 hours)",
                    self.lease_ttl_secs
                ),
            ));
        }
        if let Some(field) = &self.source_key_field {
            if field.trim().is_empty() || field.contains('/') {
                return Err(Error::config(
                    "reference.source_key_field",
                    format!(
                        "{field:?} is not a top-level field name; name a text field of the entity, e.g. AccountRef"
                    ),
                ));
            }
            if self.server_keys != ServerKeys::Map {
                return Err(Error::config(
                    "reference.source_key_field",
                    "it is used only with server_keys = \"map\"; set that too, or remove it",
                ));
            }
        }
        Ok(())
    }
}
