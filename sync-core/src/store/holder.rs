//! Who holds a lease: a unique instance, and the process it runs in (to prove it dead).
//!
//! A lease is held by a [`LeaseHolder`]: a display name (the lease's `owner`, `host:pid` by
//! default), an **instance id** that is unique per process (a UUID made when the process first
//! takes a lease), and, where the platform tells, the [`ProcessIdentity`] of that process: host
//! name, pid, the kernel's boot id and the process's start time. A container restarted with
//! the same hostname and pid 1 is therefore a *new* holder, and a replica on the same machine
//! can prove the old one dead (its pid is gone, or now belongs to a process that started at
//! another time) and take its lease over at once instead of waiting for it to expire.
//!
//! Limits: a holder is only judged from the same host name and kernel boot; anything else
//! ([`Liveness::Unknown`]) waits for the lease to expire (or an operator's release). Pid
//! namespaces are not compared, so two *live* containers on one machine must not share a host
//! name (Docker and Kubernetes give each its own by default).

use std::sync::OnceLock;

/// The process a lease holder runs in, as far as the operating system tells (Linux `/proc`).
///
/// Two identities name the same live process when host, boot id, pid and start time agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessIdentity {
    /// The host name (`/proc/sys/kernel/hostname`, else `HOSTNAME`, else `localhost`).
    pub host: String,
    /// The process id.
    pub pid: u32,
    /// The kernel's boot id (`/proc/sys/kernel/random/boot_id`): pids and start times only
    /// compare within one boot of one machine.
    pub boot_id: Option<String>,
    /// When the process started, in clock ticks after boot (`/proc/<pid>/stat`, field 22).
    pub start_ticks: Option<u64>,
}

/// What can be said, from here, about whether a lease holder's process still runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// It runs (same machine, same boot, the pid exists and started at the recorded time).
    Alive,
    /// It provably does not run any more.
    Dead {
        /// Why, in words (e.g. "no process 4242 on this host").
        reason: String,
    },
    /// It cannot be told from here (another host, another boot, no `/proc`, unknown process).
    Unknown {
        /// Why not.
        reason: String,
    },
}

impl Liveness {
    /// True when the holder provably no longer runs.
    pub fn is_dead(&self) -> bool {
        matches!(self, Self::Dead { .. })
    }
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// This machine's host name (the UTS namespace's, so a container's own).
pub(crate) fn host_name() -> String {
    read_trimmed("/proc/sys/kernel/hostname")
        .or_else(|| {
            std::env::var("HOSTNAME")
                .ok()
                .filter(|h| !h.trim().is_empty())
        })
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Who runs this process, for the audit trail: `<user>@<host>`.
///
/// The user is `$USER` (else `$LOGNAME`), as a shell, cron or a systemd unit with `User=`
/// sets it, else the operating system's name for the process's user (`whoami`); the host the
/// kernel's (`/proc/sys/kernel/hostname`, else `$HOSTNAME`). Every action an operator takes
/// by hand (replay, discard, lease release) and every audit event of a post run carry it.
///
/// ```
/// let who = sync_core::store::operator();
/// let (user, host) = who.split_once('@').unwrap();
/// assert!(!user.is_empty() && !host.is_empty());
/// ```
pub fn operator() -> String {
    static OPERATOR: OnceLock<String> = OnceLock::new();
    OPERATOR.get_or_init(find_operator).clone()
}

fn find_operator() -> String {
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let user = env("USER")
        .or_else(|| env("LOGNAME"))
        .or_else(|| whoami::username().ok().filter(|u| !u.trim().is_empty()))
        .unwrap_or_else(|| "unknown-user".to_owned());
    format!("{user}@{}", host_name())
}

fn boot_id() -> Option<String> {
    read_trimmed("/proc/sys/kernel/random/boot_id")
}

/// The state and start time of `pid` from `/proc/<pid>/stat`, `None` when there is no such
/// process. The command name (field 2) may hold spaces and parentheses: fields are counted
/// after its last `)`.
fn stat(pid: u32) -> Option<(char, Option<u64>)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // `rest` starts at field 3 (state); the start time is field 22.
    let start = fields.nth(18).and_then(|s| s.parse().ok());
    Some((state, start))
}

impl ProcessIdentity {
    /// This process.
    ///
    /// ```
    /// let me = sync_core::store::ProcessIdentity::current();
    /// assert_eq!(me.pid, std::process::id());
    /// assert!(me.liveness() == sync_core::store::Liveness::Alive || cfg!(not(target_os = "linux")));
    /// ```
    pub fn current() -> Self {
        static CURRENT: OnceLock<ProcessIdentity> = OnceLock::new();
        CURRENT
            .get_or_init(|| {
                let pid = std::process::id();
                Self {
                    host: host_name(),
                    pid,
                    boot_id: boot_id(),
                    start_ticks: stat(pid).and_then(|(_, start)| start),
                }
            })
            .clone()
    }

    /// Another process of this machine, read now (`None` when it does not exist or `/proc`
    /// is not available).
    pub fn of_pid(pid: u32) -> Option<Self> {
        let (_, start) = stat(pid)?;
        Some(Self {
            host: host_name(),
            pid,
            boot_id: boot_id(),
            start_ticks: start,
        })
    }

    /// Whether the process still runs, judged from this machine: only a holder on this host
    /// and boot can be proved dead (its pid is gone or a zombie, or the pid now belongs to a
    /// process started at another time). Anything else is [`Liveness::Unknown`].
    pub fn liveness(&self) -> Liveness {
        let here = Self::current();
        if self.host != here.host {
            return Liveness::Unknown {
                reason: format!("it runs on host `{}`, not this one", self.host),
            };
        }
        match (&self.boot_id, &here.boot_id) {
            (Some(theirs), Some(ours)) if theirs == ours => {}
            (Some(_), Some(_)) => {
                // Another boot, or another machine with the same name: nothing can be proved.
                return Liveness::Unknown {
                    reason: format!(
                        "process {} ran under another boot of host `{}` (or on another machine of that name)",
                        self.pid, self.host
                    ),
                };
            }
            _ => {
                return Liveness::Unknown {
                    reason: "the boot id of this machine is not known".to_owned(),
                };
            }
        }
        match stat(self.pid) {
            None => Liveness::Dead {
                reason: format!("there is no process {} on host `{}`", self.pid, self.host),
            },
            Some(('Z' | 'X', _)) => Liveness::Dead {
                reason: format!("process {} on host `{}` has exited", self.pid, self.host),
            },
            Some((_, Some(start))) if self.start_ticks.is_some_and(|s| s != start) => {
                Liveness::Dead {
                    reason: format!(
                        "pid {} on host `{}` now belongs to another process (started at another time)",
                        self.pid, self.host
                    ),
                }
            }
            Some((_, _)) if self.start_ticks.is_none() => Liveness::Unknown {
                reason: format!(
                    "process {} exists and its start time was not recorded",
                    self.pid
                ),
            },
            Some(_) => Liveness::Alive,
        }
    }
}

/// The instance id of this process: a UUID made once per process, so a restarted process
/// (even with the same host name and pid) is a new lease holder.
///
/// ```
/// assert_eq!(sync_core::store::instance_id(), sync_core::store::instance_id());
/// assert_eq!(sync_core::store::instance_id().len(), 36);
/// ```
pub fn instance_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| uuid::Uuid::new_v4().to_string())
}

/// Who asks for a lease: a display name, a unique instance and (when known) its process.
///
/// Two holders are the same when name and instance agree: the same name in a restarted
/// process is a new holder (a new instance), and two names in one process are two holders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    /// The display name (the lease's `owner`), e.g. `host:pid` or a replica's name.
    pub owner: String,
    /// The unique instance id.
    pub instance: String,
    /// The process, for liveness checks and display (`None`: never provably dead).
    pub process: Option<ProcessIdentity>,
}

impl LeaseHolder {
    /// `owner` in this process: this process's [`instance_id`] and [`ProcessIdentity`].
    ///
    /// ```
    /// use sync_core::store::LeaseHolder;
    /// let holder = LeaseHolder::this_process("replica-a");
    /// assert_eq!(holder.instance, sync_core::store::instance_id());
    /// assert_eq!(holder.process.unwrap().pid, std::process::id());
    /// ```
    pub fn this_process(owner: impl Into<String>) -> Self {
        Self {
            owner: owner.into(),
            instance: instance_id().to_owned(),
            process: Some(ProcessIdentity::current()),
        }
    }

    /// Whether this holder's process still runs (see [`ProcessIdentity::liveness`]).
    pub fn liveness(&self) -> Liveness {
        match &self.process {
            Some(p) => p.liveness(),
            None => Liveness::Unknown {
                reason: "its process is not recorded".to_owned(),
            },
        }
    }

    /// `owner (host, pid N)` for messages.
    pub fn describe(&self) -> String {
        match &self.process {
            Some(p) => format!("`{}` (host {}, pid {})", self.owner, p.host, p.pid),
            None => format!("`{}`", self.owner),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_changed_start_time_is_dead() {
        let me = ProcessIdentity::current();
        if me.boot_id.is_none() || me.start_ticks.is_none() {
            return; // no /proc here
        }
        assert_eq!(me.liveness(), Liveness::Alive);
        let reused = ProcessIdentity {
            start_ticks: me.start_ticks.map(|s| s + 1),
            ..me.clone()
        };
        assert!(reused.liveness().is_dead(), "{:?}", reused.liveness());
        let elsewhere = ProcessIdentity {
            host: "another-host".into(),
            ..me.clone()
        };
        assert!(matches!(elsewhere.liveness(), Liveness::Unknown { .. }));
        let rebooted = ProcessIdentity {
            boot_id: Some("0000".into()),
            ..me
        };
        assert!(matches!(rebooted.liveness(), Liveness::Unknown { .. }));
    }

    #[test]
    fn an_exited_child_is_dead() {
        let Ok(mut child) = std::process::Command::new("true").spawn() else {
            return;
        };
        let pid = child.id();
        let seen = ProcessIdentity::of_pid(pid);
        child.wait().unwrap();
        if let Some(seen) = seen {
            assert!(seen.liveness().is_dead(), "{:?}", seen.liveness());
        }
    }
}
