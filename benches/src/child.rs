//! A fake served by a child process (this same executable started with other
//! arguments), so the measuring process holds only the client.
//!
//! The child can run at a lower scheduling priority (`nice`, see
//! [`server_nice`]): the fake stands in for a server on another machine, and
//! on a machine with two cores its rendering takes CPU time from the client
//! being measured whenever both want the same core. By default it runs at
//! the same priority (the harder case); the results record the niceness.
//!
//! The child prints `URL <base url>` once it listens, answers `stats` lines
//! with its request counts, serves until its standard input closes, then
//! prints `STATS <json>` and exits.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};

/// The niceness the server child runs at: `$BENCH_SERVER_NICE` (0 to 19),
/// default 0 (the measuring process's own priority).
///
/// # Errors
/// The variable is set to something other than a number from 0 to 19.
pub fn server_nice() -> std::io::Result<u8> {
    match std::env::var("BENCH_SERVER_NICE") {
        Err(_) => Ok(0),
        Ok(v) => match v.trim().parse::<u8>() {
            Ok(n) if n <= 19 => Ok(n),
            _ => Err(std::io::Error::other(format!(
                "BENCH_SERVER_NICE must be a number from 0 to 19, got `{v}`"
            ))),
        },
    }
}

/// The parent's handle on a serving child.
pub struct ServerChild {
    child: Child,
    stdout: BufReader<ChildStdout>,
    url: String,
}

impl ServerChild {
    /// Starts this executable with `args` and waits for its `URL` line.
    ///
    /// # Errors
    /// The child cannot be started, or exits without announcing its URL.
    pub fn spawn(args: &[String]) -> std::io::Result<ServerChild> {
        let exe = std::env::current_exe()?;
        let nice = server_nice()?;
        let mut command = if nice == 0 {
            Command::new(exe)
        } else {
            let mut c = Command::new("nice");
            c.arg("-n").arg(nice.to_string()).arg(exe);
            c
        };
        let mut child = command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("the server child has no standard output"))?;
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            if stdout.read_line(&mut line)? == 0 {
                return Err(std::io::Error::other(format!(
                    "the server child ({args:?}) exited before printing its URL"
                )));
            }
            if let Some(url) = line.trim().strip_prefix("URL ") {
                let url = url.to_owned();
                return Ok(ServerChild { child, stdout, url });
            }
        }
    }

    /// The base URL the child serves.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Asks the child for its statistics so far (the `stats` command).
    ///
    /// # Errors
    /// The child is gone or answered something that is not JSON.
    pub fn stats(&mut self) -> std::io::Result<serde_json::Value> {
        let stdin = self
            .child
            .stdin
            .as_mut()
            .ok_or_else(|| std::io::Error::other("the server child's input is closed"))?;
        writeln!(stdin, "stats")?;
        stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        serde_json::from_str(line.trim()).map_err(|e| {
            std::io::Error::other(format!(
                "the server child answered `{}` to `stats`: {e}",
                line.trim()
            ))
        })
    }

    /// Closes the child's input, reads its `STATS` line and waits for it to exit.
    ///
    /// # Errors
    /// The child exits without statistics or unsuccessfully.
    pub fn finish(mut self) -> std::io::Result<serde_json::Value> {
        drop(self.child.stdin.take());
        let mut stats = None;
        let mut line = String::new();
        while self.stdout.read_line(&mut line)? > 0 {
            if let Some(json) = line.trim().strip_prefix("STATS ") {
                stats = Some(serde_json::from_str(json).map_err(std::io::Error::other)?);
            }
            line.clear();
        }
        let status = self.child.wait()?;
        if !status.success() {
            return Err(std::io::Error::other(format!(
                "the server child failed: {status}"
            )));
        }
        stats.ok_or_else(|| std::io::Error::other("the server child printed no STATS line"))
    }
}

/// The child's side: announce `url`, answer each `stats` line on standard
/// input with one JSON line from `stats`, and when standard input closes print
/// `STATS <json>` and return. Blocking; call it outside the server's runtime.
pub fn serve_until_stdin_closes(url: &str, stats: impl Fn() -> serde_json::Value) {
    println!("URL {url}");
    let stdin = std::io::stdin();
    let mut line = String::new();
    while stdin.lock().read_line(&mut line).unwrap_or(0) > 0 {
        match line.trim() {
            "stats" => println!("{}", stats()),
            other => println!(
                "{}",
                serde_json::json!({ "error": format!("unknown command `{other}`") })
            ),
        }
        line.clear();
    }
    println!("STATS {}", stats());
}
