//! Exit codes of the `ml-connector` command and the one error type its commands return.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | a run, check or document failed (see the output); the configuration was fine |
//! | 2 | usage or configuration error: bad arguments, a missing or malformed config file, an unknown flow, a wrong endpoint version |
//! | 3 | credentials: missing, refused, or stored in plaintext (a secret in the config file, a password in a store or warehouse URL from the file or the environment) |
//! | 4 | validation: the data does not pass (unknown Looker field, unmapped value, unbalanced journal, unknown account, closed period, fewer rows than a post flow's `min_rows`) |
//! | 5 | a system could not be reached (network, timeout, 5xx after retries), or a journal's create may still be queued in Acumatica: run again after the time shown |
//! | 6 | interrupted: `run --once` stopped on SIGINT/SIGTERM before its work was done (runs recorded as `interrupted`, leases released, signed out); run it again to continue. The daemon exits 6 only when it had to cut a run short at `--stop-timeout` (0 after a clean stop) |
//! | 7 | Acumatica refused the sign-in because the licence's limit of concurrent API sessions is reached: free sessions (sign out other API clients) or wait for idle ones to time out, then run again |
//! | 130, 143 | a second SIGINT (130) or SIGTERM (143) made the command exit at once, recording what it could |

use std::fmt;

/// What the process exit code says. The numbers are part of the command's interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exit {
    /// 0: everything worked.
    Ok,
    /// 1: a run, check or document failed; the configuration was fine.
    Failed,
    /// 2: bad arguments or configuration (including an unknown flow or endpoint version).
    Usage,
    /// 3: credentials missing, refused or stored in plaintext.
    Credentials,
    /// 4: data that does not pass validation.
    Validation,
    /// 5: a system could not be reached, or a write's outcome is not known yet (a create may
    /// still be queued in Acumatica): run again later.
    Unreachable,
    /// 6: stopped by a signal before the work was done; state saved, run again to continue.
    Interrupted,
    /// 7: Acumatica's licence allows no more concurrent API sessions.
    LoginLimit,
    /// 128 + the signal's number: a second signal made the command exit at once.
    Signal(u8),
}

impl Exit {
    /// The numeric process exit code.
    ///
    /// ```
    /// use connector_examples::exit::Exit;
    /// assert_eq!(Exit::Credentials.code(), 3);
    /// ```
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Credentials => 3,
            Exit::Validation => 4,
            Exit::Unreachable => 5,
            Exit::Interrupted => 6,
            Exit::LoginLimit => 7,
            Exit::Signal(n) => 128u8.saturating_add(n),
        }
    }

    /// A short name used in `--json` output.
    pub fn name(self) -> &'static str {
        match self {
            Exit::Ok => "ok",
            Exit::Failed => "failed",
            Exit::Usage => "usage",
            Exit::Credentials => "credentials",
            Exit::Validation => "validation",
            Exit::Unreachable => "unreachable",
            Exit::Interrupted => "interrupted",
            Exit::LoginLimit => "login_limit",
            Exit::Signal(_) => "signal",
        }
    }

    /// The more serious of two outcomes (used to combine check results): configuration and
    /// credential problems outrank validation, which outranks a plain failure.
    pub fn worst(self, other: Exit) -> Exit {
        fn rank(e: Exit) -> u8 {
            match e {
                Exit::Ok => 0,
                Exit::Failed => 1,
                Exit::Unreachable => 2,
                Exit::LoginLimit => 3,
                Exit::Validation => 4,
                Exit::Credentials => 5,
                Exit::Usage => 6,
                Exit::Interrupted => 7,
                Exit::Signal(_) => 8,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// The text printed by `--help` about exit codes.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  a run, check or document failed (the configuration was fine)
  2  usage or configuration error (bad arguments, missing or malformed config,
     unknown flow, wrong Acumatica endpoint version)
  3  credentials missing, refused, or written in plaintext in the config
  4  validation problems (unknown Looker field, unmapped value, unbalanced
     journal, unknown account, closed period)
  5  a system could not be reached (network, timeout, server errors), or a
     journal's create may still be queued in Acumatica: run again after the
     time shown
  6  interrupted by SIGINT/SIGTERM before the work was done (runs recorded as
     interrupted, leases released, signed out): run again to continue
  7  Acumatica's licence allows no more concurrent API sessions: sign out
     other API clients or wait ~10 minutes for idle sessions to close
  130/143  a second SIGINT/SIGTERM: exited at once, recording what it could";

/// An error of a command: what went wrong, what to do, and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// The exit code this error ends the process with.
    pub exit: Exit,
    /// What went wrong (one or more lines).
    pub message: String,
    /// What to do about it, if we know.
    pub hint: Option<String>,
}

impl CliError {
    /// An error with an exit code and message.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        CliError {
            exit,
            message: message.into(),
            hint: None,
        }
    }

    /// A usage or configuration error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    /// A credentials error (exit 3).
    pub fn credentials(message: impl Into<String>) -> Self {
        Self::new(Exit::Credentials, message)
    }

    /// A validation error (exit 4).
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(Exit::Validation, message)
    }

    /// A failed run (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(Exit::Failed, message)
    }

    /// Adds what to do about it.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Classifies an Acumatica client error.
    pub fn from_acumatica(context: &str, err: &acumatica_client::Error) -> Self {
        use acumatica_client::ErrorKind;
        let exit = match err.kind() {
            ErrorKind::Authentication => Exit::Credentials,
            ErrorKind::LoginLimit => Exit::LoginLimit,
            ErrorKind::Config | ErrorKind::EndpointVersionNotFound { .. } => Exit::Usage,
            ErrorKind::Validation(_) => Exit::Validation,
            ErrorKind::Transport | ErrorKind::Server { .. } | ErrorKind::Throttled => {
                Exit::Unreachable
            }
            _ => Exit::Failed,
        };
        let mut e = CliError::new(exit, format!("{context}: {err}"));
        if matches!(err.kind(), ErrorKind::LoginLimit) {
            e.message = format!(
                "{context}: Acumatica refused the sign-in because the licence's limit of concurrent API sessions is reached (this is not about the password)"
            );
            e = e.with_hint(
                "free a session: stop other API clients signed in as any API user, or wait for idle sessions to close by themselves (10 minutes after their last request); an administrator can see the sessions on the License Monitoring Console (SM604000). ml-connector signs out after every run, also when stopped with Ctrl-C or SIGTERM",
            );
        }
        if let ErrorKind::EndpointVersionNotFound { available, .. } = err.kind() {
            e = e.with_hint(if available.is_empty() {
                "the site offers no version of this endpoint; check the endpoint name".to_owned()
            } else {
                format!(
                    "the site offers {}; set acumatica.endpoint_version or ACUMATICA_ENDPOINT_VERSION",
                    available.join(", ")
                )
            });
        }
        e
    }

    /// Classifies a Looker client error.
    pub fn from_looker(context: &str, err: &looker_client::Error) -> Self {
        use looker_client::ErrorKind;
        let exit = match err.kind() {
            ErrorKind::Authentication => Exit::Credentials,
            ErrorKind::Config => Exit::Usage,
            ErrorKind::Validation | ErrorKind::UnknownFields => Exit::Validation,
            ErrorKind::Transport | ErrorKind::Server | ErrorKind::Throttled => Exit::Unreachable,
            _ => Exit::Failed,
        };
        CliError::new(exit, format!("{context}: {err}"))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

impl From<testkit::sandbox::SandboxError> for CliError {
    /// A sandbox that cannot start (a port in use, inconsistent fake settings) is a usage
    /// error (exit 2); the message says what to change.
    fn from(e: testkit::sandbox::SandboxError) -> Self {
        CliError::usage(e.to_string())
    }
}

/// The result of a command.
pub type CliResult<T> = Result<T, CliError>;
