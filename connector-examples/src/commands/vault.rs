//! `ml-connector vault`.

use crate::cli::GlobalArgs;
use crate::exit::{CliError, Exit};

/// Runs `vault`.
pub async fn run<A>(global: &GlobalArgs, args: &A) -> Result<Exit, CliError> {
    let _ = (global, args);
    Err(CliError::failed("`vault` is not wired yet"))
}
