//! Running as the target user: the root steps need root, so krc runs
//! itself again through `sudo -n` with `--user` set, and that one root
//! process writes every file atomically and keeps the journal (user steps
//! then go through runuser / `systemctl --machine`). If sudo wants a
//! password, krc stops before changing anything.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, ExitStatus};

use crate::host::probes::clean_env;

/// The variables the root run needs from the user's environment: the
/// token for commit pins, and `KRC_REQUIRE_PINS` (it can only make the
/// run stricter). Test hooks (`KRC_FAULT_STEP`, `KRC_COMMAND_LOG`)
/// stay behind: a user must not steer root's run through them.
const KEEP_ENV: &str = "GITHUB_TOKEN,KRC_REQUIRE_PINS";

/// Why krc could not run itself again as root.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SudoError {
    /// `said`: what `sudo -n true` wrote to stderr.
    #[error(
        "the root steps need sudo, and sudo asks for a password ({said}): run `sudo krc install --user {user} ...`, or allow this user NOPASSWD sudo"
    )]
    Password { said: String, user: String },
    /// The OS error is part of the sentence, not a cause after it: the
    /// message ends with what to do.
    #[error(
        "the root steps need sudo, which could not be run ({error}): run krc install as root with --user {user}"
    )]
    NoSudo { error: std::io::Error, user: String },
    #[error("failed to find krc's own path")]
    OwnPath(#[source] std::io::Error),
    #[error("failed to run sudo")]
    Run(#[source] std::io::Error),
}

/// Runs krc again as root for `user`: the root run's exit status (its
/// caller passes it on).
pub(crate) fn reexec(user: &str) -> Result<ExitStatus, SudoError> {
    let mut probe = Command::new("sudo");
    clean_env(&mut probe).args(["-n", "true"]);
    let probe = probe.output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            return Err(SudoError::Password {
                said: String::from_utf8_lossy(&o.stderr).trim().to_string(),
                user: user.to_string(),
            });
        }
        Err(error) => {
            return Err(SudoError::NoSudo {
                error,
                user: user.to_string(),
            });
        }
    }
    let exe = std::env::current_exe().map_err(SudoError::OwnPath)?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let argv = sudo_argv(&exe, &args, user);
    Command::new(&argv[0])
        .args(&argv[1..])
        .status()
        .map_err(SudoError::Run)
}

/// `sudo -n --preserve-env=GITHUB_TOKEN,KRC_REQUIRE_PINS KRC ARGS... [--user USER]`.
fn sudo_argv(exe: &Path, args: &[String], user: &str) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec![
        "sudo".into(),
        "-n".into(),
        format!("--preserve-env={KEEP_ENV}").into(),
        exe.into(),
    ];
    argv.extend(args.iter().map(OsString::from));
    if !args
        .iter()
        .any(|a| a == "--user" || a.starts_with("--user="))
    {
        argv.push("--user".into());
        argv.push(user.into());
    }
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_run_keeps_only_the_token() {
        let argv = sudo_argv(
            Path::new("/usr/local/bin/krc"),
            &["install".into()],
            "alice",
        );
        let argv: Vec<&str> = argv.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            argv,
            [
                "sudo",
                "-n",
                "--preserve-env=GITHUB_TOKEN,KRC_REQUIRE_PINS",
                "/usr/local/bin/krc",
                "install",
                "--user",
                "alice"
            ]
        );
        for hook in ["KRC_FAULT_STEP", "KRC_COMMAND_LOG", "KRC_PROBE_LOG"] {
            assert!(
                !argv.iter().any(|a| a.contains(hook)),
                "{hook} is preserved"
            );
        }
        let given = sudo_argv(
            Path::new("/k"),
            &["run".into(), "--user=bob".into()],
            "alice",
        );
        assert_eq!(given.len(), 6, "an explicit --user is kept as given");
    }
}
