//! Integration tests of the client against wiremock, with real payloads
//! from `tests/fixtures` (copied from shared/reference/acumatica; each file
//! names its public source in `_source`).

mod support;

mod auth;
mod errors;
mod read;
mod scope;
mod write;
