//! `ml-connector plan`.

use crate::cli::GlobalArgs;
use crate::exit::{CliError, Exit};

/// Runs `plan`.
pub async fn run<A>(global: &GlobalArgs, args: &A) -> Result<Exit, CliError> {
    let _ = (global, args);
    Err(CliError::failed("`plan` is not wired yet"))
}
