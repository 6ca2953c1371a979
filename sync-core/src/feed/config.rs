//! The supporting flow's configuration, readable from TOML.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::warehouse::TableSpec;

/// One entity the feed keeps current.
///
/// ```
/// use sync_core::feed::FeedEntity;
/// let e = FeedEntity::builtin("Bill").unwrap();
/// assert_eq!(e.expand(), vec!["Details".to_string()]);
/// assert!(FeedEntity::builtin("Customer").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedEntity {
    /// The Acumatica entity (`Vendor`, `Bill`, `Check`, `JournalTransaction`, `Account`, or any
    /// other with a `table`).
    pub entity: String,
    /// The warehouse table; built-in for the entities above, required for others.
    #[serde(default)]
    pub table: Option<TableSpec>,
    /// Records per page (default: [`FeedOptions::page_size`]).
    #[serde(default)]
    pub page_size: Option<u32>,
    /// How often this entity's delete scan runs (default: [`FeedOptions::delete_scan`]).
    #[serde(default)]
    pub delete_scan: Option<DeleteScan>,
}

/// How often the feed checks an entity for records deleted in Acumatica (its **delete scan**).
///
/// Acumatica's REST API has no feed of deletes, so a scan lists every id of the entity
/// (`$select` of its key fields only, read by the same time slices as a window) and compares
/// them with the warehouse. A row whose id the listing did not return is marked deleted
/// (`deleted_at`) only after a direct read of that id answers that no such record exists; a
/// listing can miss ids (the API promises no order), a direct read cannot. Entities without a
/// last-modified field (`Subaccount`) are read whole on every run and compared on every run
/// unless this is `never`.
///
/// In TOML: `delete_scan = "every_run" | "hourly" | "daily" | "never"`.
///
/// ```
/// use chrono::{Duration, Utc};
/// use sync_core::feed::DeleteScan;
/// let now = Utc::now();
/// assert!(DeleteScan::Hourly.is_due(None, now));
/// assert!(!DeleteScan::Hourly.is_due(Some(now - Duration::minutes(59)), now));
/// assert!(DeleteScan::Hourly.is_due(Some(now - Duration::minutes(60)), now));
/// assert!(DeleteScan::EveryRun.is_due(Some(now), now));
/// assert!(!DeleteScan::Never.is_due(None, now));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteScan {
    /// After every run's window.
    EveryRun,
    /// At most once an hour (the default): a deleted record is marked within an hour plus
    /// the schedule's interval.
    #[default]
    Hourly,
    /// At most once a day.
    Daily,
    /// Never: deleted records stay in the warehouse unmarked.
    Never,
}

impl DeleteScan {
    /// Whether a scan is due at `now` when the last one started at `last` (`None`: never).
    pub fn is_due(self, last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        let every = match self {
            Self::Never => return false,
            Self::EveryRun => return true,
            Self::Hourly => chrono::Duration::hours(1),
            Self::Daily => chrono::Duration::days(1),
        };
        // A last scan in the future (the clock went back) counts as due: better a scan too
        // many than none for a day.
        last.is_none_or(|l| now - l >= every || l > now)
    }
}

impl FeedEntity {
    /// An entity with its built-in table.
    ///
    /// # Errors
    /// A configuration error for an entity without a built-in table.
    pub fn builtin(entity: &str) -> Result<Self> {
        let me = Self {
            entity: entity.to_owned(),
            table: None,
            page_size: None,
            delete_scan: None,
        };
        me.spec()?;
        Ok(me)
    }

    /// The table spec: the configured one, else the built-in one.
    ///
    /// # Errors
    /// A configuration error when neither exists, or the spec is for another entity or invalid.
    pub fn spec(&self) -> Result<TableSpec> {
        let spec = match &self.table {
            Some(t) => t.clone(),
            None => TableSpec::builtin(&self.entity).ok_or_else(|| {
                Error::config(
                    format!("feed.entities.{}", self.entity),
                    "no built-in warehouse table for this entity (built in: Vendor, Bill, Check, JournalTransaction, Account, Subaccount); describe one under `table`",
                )
            })?,
        };
        if spec.entity != self.entity {
            return Err(Error::config(
                format!("feed.entities.{}.table", self.entity),
                format!(
                    "the table spec is for `{}`; set its entity to `{}`",
                    spec.entity, self.entity
                ),
            ));
        }
        spec.validate()?;
        Ok(spec)
    }

    /// The detail collections to `$expand` (the spec's detail source).
    pub fn expand(&self) -> Vec<String> {
        self.spec()
            .ok()
            .and_then(|s| s.details)
            .map(|d| vec![d.source])
            .unwrap_or_default()
    }
}

/// How the feed reads its windows.
///
/// ```
/// use sync_core::feed::FeedOptions;
/// let o = FeedOptions::default();
/// assert_eq!(o.lag_secs, 60);
/// assert_eq!(o.lookback_secs, 300);
/// assert_eq!(o.delete_scan, sync_core::feed::DeleteScan::Hourly);
/// assert_eq!(o.purge_deleted_after_days, None);
/// assert_eq!((o.batch_records, o.read_concurrency), (2000, 4));
/// let tuned: FeedOptions = toml::from_str("batch_records = 500\nread_concurrency = 8").unwrap();
/// assert_eq!((tuned.batch_records, tuned.read_concurrency), (500, 8));
/// let none = FeedOptions { read_concurrency: 0, ..FeedOptions::default() };
/// assert!(none.check().unwrap_err().to_string().contains("feed.read_concurrency"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedOptions {
    /// The signpost is the run's start minus this lag (default 60 s), so changes whose
    /// timestamps were taken just before the start but committed just after are not passed.
    /// Each window ends at its signpost: a record changed less than `lag_secs` before a run
    /// (or during it) is read by the next run.
    pub lag_secs: u64,
    /// Each window starts this much before the stored mark (default 300 s): a safety overlap
    /// for clock skew between Acumatica's servers. Records read twice are upserted twice, which
    /// changes nothing.
    pub lookback_secs: u64,
    /// Records per page (default 500).
    pub page_size: u32,
    /// The flow's lease TTL in seconds (default 300); renewed as pages are written.
    pub lease_ttl_secs: u64,
    /// How often each entity's delete scan runs (default [`DeleteScan::Hourly`]); an entity's
    /// own `delete_scan` overrides it.
    pub delete_scan: DeleteScan,
    /// Ids per request of a delete scan's listing (default 2000; only the key fields are read,
    /// so a page is small).
    pub delete_scan_page_size: u32,
    /// Remove rows marked deleted this many days ago or longer, after each delete scan
    /// (default: never; rows marked deleted stay, with `deleted_at` set, for Looker to filter).
    pub purge_deleted_after_days: Option<u32>,
    /// Records written per warehouse transaction (default 2000): pages are gathered until
    /// this many records are waiting, then written in one transaction of multi-row
    /// statements. A crash loses at most the batch being written; the mark moves only after
    /// the whole window is committed.
    pub batch_records: u32,
    /// Slices of a window read at once (default 4), while the writer writes: a window larger
    /// than a page is first planned into slices of a page each (see `AcumaticaChanges`).
    pub read_concurrency: u32,
}

impl Default for FeedOptions {
    fn default() -> Self {
        Self {
            lag_secs: 60,
            lookback_secs: 300,
            page_size: 500,
            lease_ttl_secs: 300,
            delete_scan: DeleteScan::Hourly,
            delete_scan_page_size: 2000,
            purge_deleted_after_days: None,
            batch_records: 2000,
            read_concurrency: 4,
        }
    }
}

impl FeedOptions {
    /// The lease TTL.
    pub fn lease_ttl(&self) -> Duration {
        Duration::from_secs(self.lease_ttl_secs)
    }

    /// Checks the values.
    ///
    /// # Errors
    /// A configuration error naming the setting.
    pub fn check(&self) -> Result<()> {
        if self.delete_scan_page_size == 0 {
            return Err(Error::config(
                "feed.delete_scan_page_size",
                "0 ids per request cannot make progress; use 100 to 10000 (2000 is a good default)",
            ));
        }
        if self.page_size == 0 {
            return Err(Error::config(
                "feed.page_size",
                "0 records per page cannot make progress; use 1 to 1000 (500 is a good default)",
            ));
        }
        if !(1..=100_000).contains(&self.batch_records) {
            return Err(Error::config(
                "feed.batch_records",
                format!(
                    "{} records per transaction is out of range; use 1 to 100000 (2000 is a good default)",
                    self.batch_records
                ),
            ));
        }
        if !(1..=32).contains(&self.read_concurrency) {
            return Err(Error::config(
                "feed.read_concurrency",
                format!(
                    "{} slices at once is out of range; use 1 to 32 (4 is a good default)",
                    self.read_concurrency
                ),
            ));
        }
        if !(10..=24 * 3600).contains(&self.lease_ttl_secs) {
            return Err(Error::config(
                "feed.lease_ttl_secs",
                format!(
                    "{} is out of range; use 10 seconds to 86400 (24 hours)",
                    self.lease_ttl_secs
                ),
            ));
        }
        if self.lag_secs > 24 * 3600 || self.lookback_secs > 31 * 24 * 3600 {
            return Err(Error::config(
                "feed.lag_secs",
                "the lag may be at most a day and the lookback at most 31 days",
            ));
        }
        Ok(())
    }
}

/// A feed flow as a file describes it.
///
/// ```
/// use sync_core::feed::FeedConfig;
/// let config = FeedConfig::from_toml_str(r#"
/// name = "warehouse"
/// entities = [{ entity = "Vendor" }, { entity = "Bill", delete_scan = "every_run" },
///             { entity = "JournalTransaction" }, { entity = "Subaccount" }]
/// [options]
/// lookback_secs = 600
/// delete_scan = "daily"
/// purge_deleted_after_days = 90
/// "#).unwrap();
/// assert_eq!(config.entities.len(), 4);
/// assert_eq!(config.options.lookback_secs, 600);
/// assert_eq!(config.delete_scan_of("Bill"), sync_core::feed::DeleteScan::EveryRun);
/// assert_eq!(config.delete_scan_of("Vendor"), sync_core::feed::DeleteScan::Daily);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// The flow's name (its lease, marks, runs and audit trail).
    pub name: String,
    /// The entities, synced in this order.
    pub entities: Vec<FeedEntity>,
    /// Window and paging options.
    #[serde(default)]
    pub options: FeedOptions,
}

impl FeedConfig {
    /// The delete scan cadence of `entity`: its own, else the flow's.
    pub fn delete_scan_of(&self, entity: &str) -> DeleteScan {
        self.entities
            .iter()
            .find(|e| e.entity == entity)
            .and_then(|e| e.delete_scan)
            .unwrap_or(self.options.delete_scan)
    }

    /// Parses and checks a configuration.
    ///
    /// # Errors
    /// A configuration error naming the problem.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let config: Self = toml::from_str(text)
            .map_err(|e| Error::config("feed flow file", format!("not a valid feed flow: {e}")))?;
        config.check()?;
        Ok(config)
    }

    /// Checks the configuration.
    ///
    /// # Errors
    /// A configuration error naming the problem.
    pub fn check(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(Error::config("name", "the feed flow needs a name"));
        }
        if self.entities.is_empty() {
            return Err(Error::config(
                "entities",
                "no entity to sync; list at least one, e.g. entities = [{ entity = \"Vendor\" }]",
            ));
        }
        for (i, e) in self.entities.iter().enumerate() {
            e.spec()?;
            if self.entities[..i].iter().any(|o| o.entity == e.entity) {
                return Err(Error::config(
                    format!("feed.entities.{}", e.entity),
                    "listed twice; list each entity once",
                ));
            }
        }
        self.options.check()
    }
}
