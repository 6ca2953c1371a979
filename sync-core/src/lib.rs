//! Exactly-once sync flows between Looker and Acumatica (work in progress).

#[cfg(feature = "flows")]
pub mod adapt;
pub mod error;
#[cfg(feature = "flows")]
pub mod feed;
pub mod key;
pub mod mapping;
#[cfg(feature = "flows")]
pub mod post;
pub mod schedule;
pub mod store;
pub mod traits;
pub mod validate;
pub mod vault;
pub mod warehouse;

pub use error::{Error, Result};
