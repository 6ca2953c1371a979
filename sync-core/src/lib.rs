//! Exactly-once sync flows between Looker and Acumatica (work in progress).

pub mod key;
pub mod mapping;
pub mod schedule;
pub mod store;
pub mod validate;
pub mod vault;
pub mod warehouse;
