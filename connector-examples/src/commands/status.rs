//! `ml-connector status`.

use crate::cli::GlobalArgs;
use crate::exit::{CliError, Exit};

/// Runs `status`.
pub async fn run<A>(global: &GlobalArgs, args: &A) -> Result<Exit, CliError> {
    let _ = (global, args);
    Err(CliError::failed("`status` is not wired yet"))
}
