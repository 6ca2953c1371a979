//! The lease keeper, stopper and default owner now live in the shared flow runtime
//! ([`crate::runtime`]); re-exported here so the post flow's modules keep their imports.

pub use crate::runtime::default_owner;
pub(crate) use crate::runtime::{LeaseKeeper, Stopper};
