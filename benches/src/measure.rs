//! What a benchmark measures besides wall time (Linux `/proc`).

use std::time::Duration;

/// Peak resident set size of this process in bytes (`VmHWM` of
/// `/proc/self/status`); `None` where that file is missing.
///
/// ```
/// if let Some(peak) = ml_connector_benches::measure::peak_rss() {
///     assert!(peak > 0);
/// }
/// ```
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Resets the peak to the current resident size (`/proc/self/clear_refs`,
/// value 5); false where the kernel refuses, and then [`peak_rss`] is the
/// peak since the process started.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// User plus system CPU time this process has used (`/proc/self/stat`,
/// clock ticks of 1/100 s).
pub fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // After the parenthesised command name, utime and stime are fields 12 and 13.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// User plus system CPU time of this process's children that have ended and
/// been waited for (`cutime` + `cstime` of `/proc/self/stat`): the difference
/// across one `Command::output()` is what that command cost in CPU.
///
/// ```
/// let before = ml_connector_benches::measure::children_cpu_time();
/// assert!(before.is_some() || !std::path::Path::new("/proc/self/stat").exists());
/// ```
pub fn children_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let cutime: u64 = fields.get(13)?.parse().ok()?;
    let cstime: u64 = fields.get(14)?.parse().ok()?;
    Some(Duration::from_millis((cutime + cstime) * 10))
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`).
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|s| s.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// The machine a figure was measured on.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Machine {
    /// CPUs available to this process.
    pub cpus: usize,
    /// Total memory in MiB (`MemTotal`).
    pub mem_total_mib: Option<u64>,
    /// The CPU model (`model name` of `/proc/cpuinfo`).
    pub cpu_model: Option<String>,
    /// Load averages when the figure was taken.
    pub load: Option<[f64; 3]>,
}

impl Machine {
    /// Describes this machine now.
    pub fn now() -> Machine {
        let mem_total_mib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib / 1024)
        });
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| {
            let line = c.lines().find(|l| l.starts_with("model name"))?;
            Some(line.split_once(':')?.1.trim().to_owned())
        });
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            mem_total_mib,
            cpu_model,
            load: load_average(),
        }
    }
}

/// Mebibytes, for printing.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The median of `values` (the mean of the middle two for an even count; NaN when empty).
///
/// ```
/// use ml_connector_benches::measure::median;
/// assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
/// assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
/// ```
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The `i`th command-line argument as a number (`_` allowed as a digit separator, e.g.
/// `100_000`); the error names `what` and ends with the benchmark's `usage`.
///
/// ```
/// use ml_connector_benches::measure::number_arg;
/// let args = vec!["100_000".to_owned()];
/// assert_eq!(number_arg::<u64>(&args, 0, "rows", "usage: x").unwrap(), 100_000);
/// assert!(number_arg::<u64>(&args, 1, "latency", "usage: x").is_err());
/// ```
pub fn number_arg<T: std::str::FromStr>(
    args: &[String],
    i: usize,
    what: &str,
    usage: &str,
) -> Result<T, String> {
    let text = args
        .get(i)
        .ok_or_else(|| format!("missing {what}\n{usage}"))?;
    text.replace('_', "")
        .parse()
        .map_err(|_| format!("{what} must be a number, got `{text}`\n{usage}"))
}
