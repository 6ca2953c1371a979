//! The command line, as `clap` parses it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::exit::EXIT_CODES_HELP;

/// `ml-connector`: post Looker numbers to Acumatica exactly once, and feed Acumatica
/// changes to a warehouse.
#[derive(Debug, Parser)]
#[command(
    name = "ml-connector",
    version,
    about = "Post Looker numbers to Acumatica exactly once, and feed Acumatica changes to a warehouse",
    long_about = "Post Looker numbers to Acumatica exactly once, and feed Acumatica changes to a \
                  warehouse.\n\nStart with `ml-connector sandbox` (local fakes of both APIs), then \
                  `ml-connector ping` against your real systems.",
    after_help = EXIT_CODES_HELP,
    after_long_help = EXIT_CODES_HELP
)]
pub struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Config file (default: ./ml-connector.toml if it exists, else the environment alone).
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "ML_CONNECTOR_CONFIG",
        value_name = "PATH"
    )]
    pub config: Option<PathBuf>,
    /// Print machine-readable JSON on stdout instead of tables (logs stay on stderr).
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Never draw progress bars (they are drawn only on a terminal anyway).
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Log records on stderr: `text` (one line each) or `json` (one JSON object per line, for
    /// journald, Loki or a log shipper). Default: json with --json, else text.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "ML_CONNECTOR_LOG_FORMAT",
        value_name = "FORMAT"
    )]
    pub log_format: Option<LogFormat>,
    /// Full-width text output: `ping`, `status` and `audit` otherwise wrap to 80 columns.
    #[arg(long, global = true)]
    pub wide: bool,
}

/// How log records are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per record.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `fields` (with `message`), `span`.
    Json,
}

impl GlobalArgs {
    /// The log format in effect: `--log-format`, else json with `--json`, else text.
    pub fn log_format(&self) -> LogFormat {
        self.log_format.unwrap_or(if self.json {
            LogFormat::Json
        } else {
            LogFormat::Text
        })
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve local fakes of Acumatica and Looker with demo data; prints their URLs, demo
    /// credentials and a ready-to-use config.
    Sandbox(SandboxArgs),
    /// Check the configured systems: Looker login, version, models and explores; Acumatica
    /// token, endpoint version, accounts. Prints a pass/fail table.
    Ping(FlowArg),
    /// Dry run: run the Looker queries, map and validate, and print the journals that would
    /// be posted and the reference records that would be created or updated. Writes nothing
    /// anywhere.
    Plan(FlowArg),
    /// Run the flows: once with --once, else as a daemon on their cron cadences.
    Run(RunArgs),
    /// Flows, their last runs, high-water marks, pending documents and dead letters. With
    /// --check, exits 1 when something needs a person (for cron and Nagios-style monitors).
    Status(StatusArgs),
    /// The audit trail of a run (--run) or of one document (--flow and --key).
    Audit(AuditArgs),
    /// Send a flow's failed documents (dead letters) again, each at most once: the journal as
    /// it was stored, or with --remap its source rows mapped again with the current
    /// configuration (after a fixed mapping). A reference flow retries its failed records on
    /// every run, so for one this runs the flow once.
    Replay(ReplayArgs),
    /// The key map of a reference flow: records Acumatica saved under a key it numbered
    /// itself, and inserts whose answer was lost. Lists it; --map or --forget settles one entry
    /// (with --yes).
    Keys(KeysArgs),
    /// The failed documents (dead letters) of the flows: list them, or discard one with a
    /// reason (recorded in the audit trail with who discarded it).
    Deadletters(DeadlettersArgs),
    /// Store and list encrypted credentials (key in ML_CONNECTOR_VAULT_KEY).
    Vault(VaultArgs),
    /// A flow's lease by hand: `lease release --flow NAME` frees a lease whose holder is gone
    /// but cannot be proved dead from here (e.g. it ran on another host).
    Lease(LeaseArgs),
    /// The config file itself: `config check` validates it offline (no network, no secrets
    /// needed) and lists every problem with its file:line:col; exit 0 or 2 (3 for a secret or
    /// a password in a database URL), for the CI of a config repository.
    Config(ConfigArgs),
}

/// Arguments of `config`.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// What to do with the config file.
    #[command(subcommand)]
    pub command: ConfigCommand,
}

/// `config check`.
#[derive(Debug, Clone, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config file (--config, ML_CONNECTOR_CONFIG or ./ml-connector.toml) without
    /// contacting any system: syntax, keys, flows, mappings, cron cadences, URLs.
    Check,
}

/// Arguments of `lease`.
#[derive(Debug, Clone, Args)]
pub struct LeaseArgs {
    /// What to do with the lease.
    #[command(subcommand)]
    pub command: LeaseCommand,
}

/// `lease release`.
#[derive(Debug, Clone, Subcommand)]
pub enum LeaseCommand {
    /// Release a flow's lease by hand, after a confirmation; recorded in the audit trail
    /// (`ml-connector audit --flow NAME --key lease`). The holder's run is closed as
    /// abandoned and its further writes are refused.
    Release {
        /// The flow whose lease to release.
        #[arg(long, value_name = "NAME")]
        flow: String,
        /// The lease of the flow's schedule (held by a `run` daemon) instead of its run lease.
        #[arg(long)]
        schedule: bool,
        /// Do not ask for confirmation (needed when not on a terminal).
        #[arg(long)]
        yes: bool,
        /// Release even when the holder is a process still running on this host.
        #[arg(long)]
        force: bool,
    },
}

/// `--flow NAME`.
#[derive(Debug, Clone, Args)]
pub struct FlowArg {
    /// Only this flow (default: every configured flow).
    #[arg(long, value_name = "NAME")]
    pub flow: Option<String>,
}

/// Arguments of `status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Only this flow (default: every configured flow).
    #[arg(long, value_name = "NAME")]
    pub flow: Option<String>,
    /// Check instead of describe: print each problem that needs a person (an open dead
    /// letter; a last run that failed, was abandoned or interrupted; a document whose outcome
    /// is still unknown past its settle horizon; a feed high-water mark older than
    /// --max-feed-lag) and exit 1 when there is one, 0 when there is none.
    #[arg(long)]
    pub check: bool,
    /// With --check: how far a feed's high-water mark may lag behind now before it is a
    /// problem: seconds, or a number with s, m, h or d (e.g. 90m, 6h).
    #[arg(long, value_name = "DURATION", default_value = "6h", value_parser = parse_duration)]
    pub max_feed_lag: std::time::Duration,
}

/// Parses `90`, `90s`, `15m`, `6h` or `2d`.
///
/// ```
/// use connector_examples::cli::parse_duration;
/// assert_eq!(parse_duration("90m").unwrap().as_secs(), 5400);
/// assert_eq!(parse_duration("45").unwrap().as_secs(), 45);
/// assert!(parse_duration("6 hours").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration: use e.g. 3600, 90m, 6h or 2d"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "`{text}`: unknown unit `{unit}`; use s, m, h or d (e.g. 90m, 6h)"
            ));
        }
    };
    Ok(std::time::Duration::from_secs(n.saturating_mul(secs)))
}

/// Arguments of `sandbox`.
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Port of the Acumatica fake (default: any free port).
    #[arg(long, default_value_t = 0)]
    pub acumatica_port: u16,
    /// Port of the Looker fake (default: any free port).
    #[arg(long, default_value_t = 0)]
    pub looker_port: u16,
    /// Also write the config snippet to this file (an existing file is kept unless `--force`).
    #[arg(long, value_name = "PATH")]
    pub write_config: Option<PathBuf>,
    /// Replace the file given to `--write-config` when it already exists.
    #[arg(long, requires = "write_config")]
    pub force: bool,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<u64>,
}

/// Arguments of `run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Run each selected flow once and exit (default: daemon on the cron cadences).
    #[arg(long)]
    pub once: bool,
    /// Only this flow.
    #[arg(long, value_name = "NAME")]
    pub flow: Option<String>,
    /// After SIGINT or SIGTERM, the most seconds until the process exits: the documents in
    /// flight are finished, the runs recorded as interrupted, the leases released and both
    /// systems signed out within it (work still going at two thirds of it is cut short, its
    /// run recorded from its audit trail). A second signal exits at once. Keep it below the
    /// service manager's stop timeout (systemd: TimeoutStopSec).
    #[arg(long, value_name = "SECONDS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub stop_timeout: u64,
    /// The daemon serves /healthz, /readyz and /metrics (Prometheus text format) on this
    /// address, e.g. 127.0.0.1:9464 (not with --once).
    #[arg(long, value_name = "ADDR", conflicts_with = "once")]
    pub listen: Option<std::net::SocketAddr>,
}

impl RunArgs {
    /// `--stop-timeout` as a duration.
    pub fn stop_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.stop_timeout)
    }
}

/// Arguments of `audit`.
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// A run id (from `status`).
    #[arg(long, value_name = "RUN_ID", conflicts_with = "key")]
    pub run: Option<String>,
    /// The flow of --key (and of the latest run when neither --run nor --key is given).
    #[arg(long, value_name = "NAME")]
    pub flow: Option<String>,
    /// A document's natural key (from `plan` or `status`).
    #[arg(long, value_name = "KEY", requires = "flow")]
    pub key: Option<String>,
    /// `table` (default), `json` (as --json) or `csv`: one row per event, and per journal line
    /// of a posted journal, with who ran it, for a spreadsheet or an auditor.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<AuditFormat>,
}

/// How `audit` prints the trail (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditFormat {
    /// A table for people.
    Table,
    /// One JSON document.
    Json,
    /// CSV with a header row.
    Csv,
}

/// Arguments of `keys`.
#[derive(Debug, Clone, Args)]
pub struct KeysArgs {
    /// The reference flow.
    #[arg(long, value_name = "NAME")]
    pub flow: String,
    /// Record that the source key's record is kept in Acumatica under SAVED (e.g. 123=C1165):
    /// later runs look it up and update it there.
    #[arg(long, value_name = "KEY=SAVED", conflicts_with = "forget")]
    pub map: Option<String>,
    /// Remove the source key's entry: the next run looks the record up by the source key again
    /// and creates it when absent. Only when Acumatica holds no copy of it.
    #[arg(long, value_name = "KEY")]
    pub forget: Option<String>,
    /// Confirm --map or --forget (without it, the change is only described).
    #[arg(long)]
    pub yes: bool,
}

/// Arguments of `replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// The flow whose failed documents to retry.
    #[arg(long, value_name = "NAME")]
    pub flow: String,
    /// Only this dead letter (id from `status`); default: all unresolved ones.
    #[arg(long, value_name = "ID")]
    pub id: Option<i64>,
    /// Map each failed document's source rows again with the current configuration (e.g. a
    /// corrected mapping) instead of re-sending the stored journal (post flows).
    #[arg(long)]
    pub remap: bool,
}

/// Arguments of `deadletters`.
#[derive(Debug, Clone, Args)]
pub struct DeadlettersArgs {
    /// What to do with the dead letters.
    #[command(subcommand)]
    pub command: DeadlettersCommand,
}

/// `deadletters list` and `deadletters discard`.
#[derive(Debug, Clone, Subcommand)]
pub enum DeadlettersCommand {
    /// List the unresolved dead letters (with --all also the resolved ones and how).
    List {
        /// Only this flow (default: every configured flow).
        #[arg(long, value_name = "NAME")]
        flow: Option<String>,
        /// Also list resolved dead letters, with their resolution.
        #[arg(long)]
        all: bool,
    },
    /// Discard one dead letter of a post flow: it is never replayed; the reason and who
    /// discarded it ($USER@host) go to the audit trail.
    Discard {
        /// The dead letter's id (from `deadletters list` or `status`).
        id: i64,
        /// Its post flow (default: the post flow that has dead letter ID).
        #[arg(long, value_name = "NAME")]
        flow: Option<String>,
        /// Why it is discarded (e.g. "posted by hand as batch 000123").
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
}

/// Arguments of `vault`.
#[derive(Debug, Clone, Args)]
pub struct VaultArgs {
    /// What to do with the vault.
    #[command(subcommand)]
    pub command: VaultCommand,
}

/// `vault store` and `vault list`.
#[derive(Debug, Clone, Subcommand)]
pub enum VaultCommand {
    /// Store a secret, read from stdin (or from an environment variable with --from-env).
    /// A name is CONNECTION.KIND: acumatica.client_secret, acumatica.password or
    /// looker.client_secret; any other name is refused (exit 2).
    Store {
        /// The secret's name.
        name: String,
        /// Read the value from this environment variable instead of stdin.
        #[arg(long, value_name = "VAR")]
        from_env: Option<String>,
    },
    /// List the stored names (never the values). Every secret is opened to check the key and
    /// that nothing was altered: a wrong key or a tampered vault fails (exit 3).
    List,
    /// Make a new random master key and print it once (base64), for ML_CONNECTOR_VAULT_KEY.
    NewKey,
    /// Re-seal every secret under a new key, all at once (the vault file is replaced whole:
    /// on any error nothing changes). The current key comes from ML_CONNECTOR_VAULT_KEY or
    /// ML_CONNECTOR_VAULT_KEY_FILE as always; use the new key from then on.
    Rotate {
        /// The environment variable holding the new key (base64; `vault new-key` makes one).
        #[arg(
            long,
            value_name = "VAR",
            required_unless_present = "new_key_file",
            conflicts_with = "new_key_file"
        )]
        new_key_env: Option<String>,
        /// A file holding the new key (base64 text or 32 raw bytes).
        #[arg(long, value_name = "PATH")]
        new_key_file: Option<std::path::PathBuf>,
    },
}
