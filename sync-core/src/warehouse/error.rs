//! [`WarehouseError`]: what went wrong writing the warehouse, and what to do.

/// An error from a [`WarehouseSink`](super::WarehouseSink) or a [`TableSpec`](super::TableSpec).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WarehouseError {
    /// A table spec is unusable.
    #[error("warehouse table spec for `{entity}` is invalid: {reason}")]
    InvalidSpec {
        /// The entity.
        entity: String,
        /// What is wrong and what is accepted.
        reason: String,
    },

    /// A record does not fit its table spec.
    #[error("{entity} record `{id}` does not fit its warehouse table: {reason}")]
    InvalidRecord {
        /// The entity.
        entity: String,
        /// The record's id (empty when missing).
        id: String,
        /// What is wrong (column, value, expected type).
        reason: String,
    },

    /// The database could not be opened or prepared.
    #[error(
        "could not open the {backend} warehouse ({target}): {source}; check the path or URL and that this user may create tables"
    )]
    Connect {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// Path or host/database (never a password).
        target: String,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A statement failed; nothing of the call was written (the transaction was rolled back).
    #[error(
        "warehouse operation `{operation}` on table `{table}` failed and was rolled back: {source}"
    )]
    Database {
        /// The operation.
        operation: &'static str,
        /// The table.
        table: String,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
