//! `ml-connector`: see `ml-connector --help` and `connector-examples/README.md`.

fn main() -> std::process::ExitCode {
    match connector_examples::parse(std::env::args_os()) {
        Ok(cli) => connector_examples::run(cli),
        Err(code) => code,
    }
}
