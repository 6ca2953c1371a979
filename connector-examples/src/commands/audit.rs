//! `ml-connector audit`.

use crate::cli::GlobalArgs;
use crate::exit::{CliError, Exit};

/// Runs `audit`.
pub async fn run<A>(global: &GlobalArgs, args: &A) -> Result<Exit, CliError> {
    let _ = (global, args);
    Err(CliError::failed("`audit` is not wired yet"))
}
