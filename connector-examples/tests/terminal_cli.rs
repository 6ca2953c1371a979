//! Text output for people: `ping`, `status` and `audit` fit 80 columns (full width with
//! `--wide`), colour only on a terminal and never with `NO_COLOR`, and a reader that closes
//! the pipe early (`| head -1`) ends the command quietly with exit 0. The terminal cases run
//! under a pseudo-terminal (`script` from util-linux).

#![cfg(unix)]

mod support;

use std::process::{Command, Stdio};

use support::{OUTER_VARS, Rig};

/// The command line of the binary with `args`, quoted for `sh`.
fn shell_line(rig: &Rig, args: &[&str]) -> String {
    let bin = assert_cmd::cargo::cargo_bin("ml-connector");
    let mut words = vec![
        bin.display().to_string(),
        "--no-progress".to_owned(),
        "--config".to_owned(),
        rig.config.display().to_string(),
    ];
    words.extend(args.iter().map(|a| (*a).to_owned()));
    words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', "'\\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The binary run with `args` and `env`, its stdout a pseudo-terminal: what it printed.
fn under_pty(rig: &Rig, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut c = Command::new("script");
    for v in OUTER_VARS {
        c.env_remove(v);
    }
    c.env_remove("NO_COLOR");
    for (k, v) in rig.sandbox.env() {
        c.env(k, v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c
        .current_dir(rig.dir.path())
        .args(["-q", "-e", "-c", &shell_line(rig, args), "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("`script` (util-linux) runs");
    String::from_utf8_lossy(&out.stdout).replace('\r', "")
}

/// Text without ANSI escape sequences.
fn plain(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn widest(text: &str) -> usize {
    plain(text)
        .lines()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_ping_is_coloured_and_fits_80_columns() {
    let rig = Rig::start().await;
    let text = under_pty(&rig, &["ping"], &[]);
    assert!(text.contains("All checks passed"), "{text}");
    assert!(
        text.contains("\x1b[32mPASS\x1b[0m"),
        "PASS in green: {text:?}"
    );
    assert!(widest(&text) <= 80, "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_color_turns_colour_off_on_a_terminal() {
    let rig = Rig::start().await;
    let text = under_pty(&rig, &["ping"], &[("NO_COLOR", "1")]);
    assert!(text.contains("All checks passed"), "{text}");
    assert!(!text.contains('\x1b'), "no escape sequences: {text:?}");
    let rig_status = under_pty(&rig, &["status"], &[("NO_COLOR", "1")]);
    assert!(!rig_status.contains('\x1b'), "{rig_status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn piped_output_has_no_colour_fits_80_columns_and_wide_keeps_full_lines() {
    let rig = Rig::start().await;
    rig.cmd().args(["run", "--once"]).assert().code(0);
    for args in [
        &["ping"][..],
        &["status"][..],
        &["audit", "--flow", "overhead_allocation"][..],
    ] {
        let out = rig.cmd().args(args).assert().code(0);
        let text = support::stdout_of(&out);
        assert!(!text.contains('\x1b'), "{args:?}: {text:?}");
        assert!(
            widest(&text) <= 80,
            "{args:?} wider than 80 columns:\n{text}"
        );
        let wide = rig.cmd().arg("--wide").args(args).assert().code(0);
        let wide = support::stdout_of(&wide);
        assert!(
            widest(&wide) > 80,
            "{args:?} --wide keeps long lines:\n{wide}"
        );
    }
}

/// `ml-connector status | head -1`: the reader is gone before the command writes.
#[tokio::test(flavor = "multi_thread")]
async fn a_closed_pipe_ends_quietly_with_exit_0() {
    let rig = Rig::start().await;
    rig.cmd().args(["run", "--once"]).assert().code(0);
    for args in [
        &["status"][..],
        &["--json", "status"][..],
        &["audit", "--flow", "overhead_allocation"][..],
        &["plan", "--flow", "overhead_allocation"][..],
        &["run", "--once", "--flow", "overhead_allocation"][..],
        &["deadletters", "list"][..],
        &["keys", "--flow", "approved_vendors"][..],
        &["config", "check"][..],
    ] {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("ml-connector"));
        for v in OUTER_VARS {
            c.env_remove(v);
        }
        for (k, v) in rig.sandbox.env() {
            c.env(k, v);
        }
        let mut child = c
            .current_dir(rig.dir.path())
            .arg("--no-progress")
            .arg("--config")
            .arg(&rig.config)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
    }
}
