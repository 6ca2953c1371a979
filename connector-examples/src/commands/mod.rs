//! One module per subcommand.

pub mod audit;
pub mod config;
pub mod deadletters;
pub mod flows;
pub mod keys;
pub mod lease;
pub mod ping;
pub mod plan;
pub mod replay;
pub mod run;
pub mod sandbox;
pub mod signout;
pub mod status;
pub mod vault;

use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::exit::CliResult;
use crate::secrets::Secrets;

/// The configuration and secrets a command works with.
#[derive(Debug)]
pub struct Context {
    /// The resolved configuration.
    pub config: Config,
    /// Secrets from the environment and the vault.
    pub secrets: Secrets,
    /// `--json`.
    pub json: bool,
    /// Whether progress bars may be drawn.
    pub bars: bool,
    /// How text goes to stdout: 80 columns unless `--wide`, colour on a terminal only.
    pub layout: crate::output::Layout,
}

impl Context {
    /// Loads the configuration named by the global options.
    pub fn load(global: &GlobalArgs) -> CliResult<Context> {
        let config = Config::load(global.config.as_deref())?;
        let secrets = Secrets::from_env(&config.vault_path);
        Ok(Context {
            config,
            secrets,
            json: global.json,
            bars: crate::progress::bars_enabled(global),
            layout: crate::output::Layout::stdout(global.wide),
        })
    }
}
