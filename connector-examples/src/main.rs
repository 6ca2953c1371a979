//! `ml-connector`: see `ml-connector --help` and `connector-examples/README.md`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    connector_examples::run(connector_examples::cli::Cli::parse())
}
