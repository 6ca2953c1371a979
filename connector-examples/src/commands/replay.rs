//! `ml-connector replay`.

use crate::cli::GlobalArgs;
use crate::exit::{CliError, Exit};

/// Runs `replay`.
pub async fn run<A>(global: &GlobalArgs, args: &A) -> Result<Exit, CliError> {
    let _ = (global, args);
    Err(CliError::failed("`replay` is not wired yet"))
}
