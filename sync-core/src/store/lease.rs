//! Flow leases with fencing tokens, and high-water marks.

use chrono::{DateTime, Utc};

use super::holder::{LeaseHolder, ProcessIdentity};

/// Permission for one owner (a replica) to run one flow until `expires_at`.
///
/// The `fence` grows by one each time the lease changes hands (or is re-acquired), and every
/// state write presents it: the store refuses writes whose fence is not the current one, or
/// whose lease has expired. A replica that paused past its TTL therefore cannot overwrite the
/// work of the replica that took over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The flow this lease covers.
    pub flow: String,
    /// Who holds it: the display name (e.g. `hostname:pid`).
    pub owner: String,
    /// The holder's unique instance id (see [`LeaseHolder`]): the same `owner` in a restarted
    /// process is another instance, so it never counts as the holder of this lease.
    pub instance: String,
    /// The holder's process, when recorded: host, pid, boot id and start time, so a replica
    /// on the same machine can prove it dead.
    pub process: Option<ProcessIdentity>,
    /// The fencing token: strictly increasing per flow.
    pub fence: i64,
    /// When the lease ends unless renewed.
    pub expires_at: DateTime<Utc>,
}

impl Lease {
    /// Whether the lease has run out at `now` (the store refuses its writes from then on).
    ///
    /// ```
    /// use chrono::{Duration, Utc};
    /// let now = Utc::now();
    /// let lease = sync_core::store::Lease {
    ///     flow: "allocations".into(),
    ///     owner: "host-a:4242".into(),
    ///     instance: "0b6f7c1e-5d0e-4b8e-9a51-6f9b2b7c0d11".into(),
    ///     process: None,
    ///     fence: 3,
    ///     expires_at: now + Duration::seconds(60),
    /// };
    /// assert!(!lease.is_expired_at(now));
    /// assert!(lease.is_expired_at(now + Duration::seconds(60)));
    /// ```
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }

    /// Who holds it.
    pub fn holder(&self) -> LeaseHolder {
        LeaseHolder {
            owner: self.owner.clone(),
            instance: self.instance.clone(),
            process: self.process.clone(),
        }
    }
}

/// A high-water mark: how far a flow has safely progressed in one partition.
///
/// The value is opaque to the store (an RFC 3339 timestamp, a period such as `202601`, an id);
/// it only ever changes by compare-and-set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watermark {
    /// The flow.
    pub flow: String,
    /// The partition (use `""` when the flow has only one).
    pub partition: String,
    /// The mark.
    pub value: String,
    /// The fence of the lease that last moved it.
    pub fence: i64,
    /// When it last moved.
    pub updated_at: DateTime<Utc>,
}
