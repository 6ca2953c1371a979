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
}

impl Default for ReferenceOptions {
    fn default() -> Self {
        Self {
            lookup_page_size: 50,
            lease_ttl_secs: 300,
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
        Ok(())
    }
}
