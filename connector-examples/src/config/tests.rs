use super::*;

fn parse(text: &str) -> CliResult<Config> {
    Config::from_str_with_env(text, Path::new("/etc/ml/ml-connector.toml"), |_| None)
}
