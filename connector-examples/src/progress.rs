//! Progress for long extracts and syncs: a bar on a terminal, plain log lines otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tracing_subscriber::EnvFilter;

use crate::cli::GlobalArgs;

/// Sets up log output on stderr: `info` by default, `-v` debug, `-vv` trace; `RUST_LOG`
/// overrides. With `--json`, log lines are JSON too.
pub fn init_logging(global: &GlobalArgs) {
    let default = match global.verbose {
        0 => "warn,connector_examples=info,sync_core=info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = if global.json {
        builder.json().try_init()
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
    };
}

/// Whether progress bars may be drawn: stderr is a terminal and neither `--json` nor
/// `--no-progress` was given.
pub fn bars_enabled(global: &GlobalArgs) -> bool {
    !global.json && !global.no_progress && std::io::stderr().is_terminal()
}

/// Progress of one long task, counted in items (rows, records, documents).
#[derive(Debug)]
pub struct Progress {
    what: String,
    bar: Option<ProgressBar>,
    count: u64,
    started: Instant,
    last_log: Instant,
    every: Duration,
}

impl Progress {
    /// Starts reporting progress of `what` (e.g. "rows from Looker"); `total` when known.
    pub fn new(what: impl Into<String>, total: Option<u64>, bars: bool) -> Self {
        let what = what.into();
        let bar = bars.then(|| {
            let bar = match total {
                Some(t) => ProgressBar::new(t).with_style(
                    ProgressStyle::with_template(
                        "{spinner} {msg} [{bar:30}] {human_pos}/{human_len} ({per_sec}, eta {eta})",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                ),
                None => ProgressBar::new_spinner().with_style(
                    ProgressStyle::with_template("{spinner} {msg}: {human_pos} ({per_sec})")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                ),
            };
            bar.set_message(what.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let now = Instant::now();
        Progress {
            what,
            bar,
            count: 0,
            started: now,
            last_log: now,
            every: Duration::from_secs(5),
        }
    }

    /// Counts `n` more items.
    pub fn inc(&mut self, n: u64) {
        self.count += n;
        match &self.bar {
            Some(b) => b.inc(n),
            None => {
                if self.last_log.elapsed() >= self.every {
                    self.last_log = Instant::now();
                    tracing::info!("{}: {} so far", self.what, self.count);
                }
            }
        }
    }

    /// How many items were counted.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Ends the bar (or logs the total).
    pub fn finish(self) -> u64 {
        let secs = self.started.elapsed().as_secs_f64();
        match &self.bar {
            Some(b) => b.finish_and_clear(),
            None => tracing::info!("{}: {} in {secs:.1}s", self.what, self.count),
        }
        self.count
    }
}
