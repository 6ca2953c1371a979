//! `ml-connector run`.

use crate::cli::GlobalArgs;
use crate::exit::{CliError, Exit};

/// Runs `run`.
pub async fn run<A>(global: &GlobalArgs, args: &A) -> Result<Exit, CliError> {
    let _ = (global, args);
    Err(CliError::failed("`run` is not wired yet"))
}
