//! The one door every installer command goes through. A [`Cmd`] says what
//! to run and as whom; a [`CommandRunner`] runs it (live host) or only
//! records it (a `--root` tree, where host commands would act on the wrong
//! machine). In test builds only, `KRC_COMMAND_LOG=FILE` appends every
//! command as a JSON line, so tests can see exactly what ran.
//!
//! Every child starts from an empty environment plus PATH (the k3s unit's),
//! `LANG=C.UTF-8` and the command's own variables; a user command also gets
//! the user's HOME, USER, LOGNAME and XDG_RUNTIME_DIR. Nothing of root's
//! environment (a `GITHUB_TOKEN`, proxies, test hooks) reaches apt, dpkg's
//! scripts or install.sh, and no descriptor root inherited reaches any of
//! them (see [`crate::host::probes::spawn_piped`]). Output is read up to
//! [`limits::INSTALL_COMMAND`]: a user command past it, or running when
//! the run is interrupted, is ended; root's own keep their last bytes and
//! run to their end.

use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::host::probes::{Wait, clean_env, limits, run};

/// Whose privileges a command needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Who {
    Root,
    /// The target user (never root): their `systemctl --user`, their files.
    User,
}

/// A command: argv and extra environment, never through a shell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Cmd {
    pub(crate) who: Who,
    pub(crate) argv: Vec<String>,
    #[serde(default)]
    pub(crate) env: Vec<(String, String)>,
}

impl Cmd {
    pub(crate) fn root<S: AsRef<str>>(argv: &[S]) -> Cmd {
        Cmd {
            who: Who::Root,
            argv: argv.iter().map(|s| s.as_ref().to_string()).collect(),
            env: Vec::new(),
        }
    }

    pub(crate) fn user<S: AsRef<str>>(argv: &[S]) -> Cmd {
        Cmd {
            who: Who::User,
            ..Cmd::root(argv)
        }
    }

    pub(crate) fn env(mut self, k: &str, v: impl Into<String>) -> Cmd {
        self.env.push((k.to_string(), v.into()));
        self
    }

    /// `K=V ... argv`, shell-quoted where needed: what the plan prints.
    pub(crate) fn shown(&self) -> String {
        let mut parts: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .collect();
        parts.extend(self.argv.iter().map(|a| quote(a)));
        parts.join(" ")
    }

    /// The argv that runs this command from a process of uid `me` for the
    /// target `user`: root steps through `sudo -n` when krc is the user,
    /// user steps through `runuser` (or `systemctl --machine=USER@`) when
    /// krc is root.
    /// `machine`: the host's systemd can reach a user's manager through
    /// `--machine=USER@` (systemd >= 248); otherwise `systemctl --user`
    /// runs as the user through runuser, with the user's runtime directory.
    pub(crate) fn wrapped(&self, me: u32, user: &str, machine: bool) -> Vec<String> {
        let mut env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        match (self.who, me == 0) {
            (Who::Root, true) | (Who::User, false) => {
                if env.is_empty() {
                    self.argv.clone()
                } else {
                    let mut v = vec!["env".to_string()];
                    v.append(&mut env);
                    v.extend(self.argv.iter().cloned());
                    v
                }
            }
            (Who::Root, false) => {
                let mut v = vec!["sudo".to_string(), "-n".to_string(), "env".to_string()];
                v.append(&mut env);
                v.extend(self.argv.iter().cloned());
                v
            }
            (Who::User, true) => {
                if machine
                    && self.argv.first().map(String::as_str) == Some("systemctl")
                    && self.argv.get(1).map(String::as_str) == Some("--user")
                {
                    // runuser gives no user bus; systemd's own machine
                    // transport reaches the user's manager.
                    let mut v = vec![
                        "systemctl".to_string(),
                        "--user".to_string(),
                        format!("--machine={user}@"),
                    ];
                    v.extend(self.argv[2..].iter().cloned());
                    v
                } else {
                    let mut v = vec![
                        "runuser".to_string(),
                        "-u".to_string(),
                        user.to_string(),
                        "--".to_string(),
                        "env".to_string(),
                    ];
                    v.append(&mut env);
                    v.extend(self.argv.iter().cloned());
                    v
                }
            }
        }
    }
}

fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:+,@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ran {
    Ok(String),
    /// Not run: a `--root` tree, with the reason.
    NotRun(String),
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    #[error("`{cmd}` failed ({status}): {output}")]
    Failed {
        cmd: String,
        status: String,
        output: String,
    },
    #[error("`{cmd}`: {reason}")]
    Spawn { cmd: String, reason: String },
}

/// Runs installer commands. One implementation per kind of target.
pub(crate) trait CommandRunner {
    fn run(&self, cmd: &Cmd) -> Result<Ran, RunError>;
}

const COMMAND_TIMEOUT: Duration = Duration::from_secs(900);

/// Runs commands on this machine, as root or as the target user.
pub(crate) struct LiveRunner {
    pub(crate) user: String,
    /// `systemctl --machine=USER@` works here (systemd >= 248).
    pub(crate) machine: bool,
}

impl CommandRunner for LiveRunner {
    fn run(&self, cmd: &Cmd) -> Result<Ran, RunError> {
        let me = nix::unistd::geteuid().as_raw();
        let argv = cmd.wrapped(me, &self.user, self.machine);
        log(cmd, &argv, true);
        let shown = cmd.shown();
        let mut child = Command::new(&argv[0]);
        clean_env(&mut child).args(&argv[1..]);
        if needs_user_vars(cmd.who, &argv) {
            child.envs(user_vars(&self.user));
        }
        // A user command (runuser, systemctl --user) is the user's to
        // stall: a stop request ends it. Root's own (apt, dpkg) finish, as
        // the installer's deferred signals promise.
        let wait = Wait {
            timeout: COMMAND_TIMEOUT,
            cap: limits::INSTALL_COMMAND,
            interruptible: cmd.who == Who::User,
        };
        let out = run(&mut child, wait).map_err(|reason| RunError::Spawn {
            cmd: shown.clone(),
            reason,
        })?;
        if out.status.success() {
            return Ok(Ran::Ok(out.stdout));
        }
        let text = format!(
            "{}{}",
            out.stderr.trim(),
            if out.stderr.trim().is_empty() {
                out.stdout.trim()
            } else {
                ""
            }
        );
        let tail: Vec<&str> = text
            .lines()
            .rev()
            .take(6)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Err(RunError::Failed {
            cmd: shown,
            status: out.status.to_string(),
            output: crate::report::redact::redact(&tail.join(" | ")),
        })
    }
}

/// Does this command need the user's variables beyond the clean
/// environment: who it runs as and where its runtime directory is
/// (`systemctl --user` finds the user's manager there)? Root commands do
/// not; nor does the `systemctl --machine=USER@` form, which reaches the
/// manager through systemd itself from root's process.
fn needs_user_vars(who: Who, argv: &[String]) -> bool {
    who == Who::User && !argv.iter().any(|a| a.starts_with("--machine="))
}

/// HOME, USER, LOGNAME and XDG_RUNTIME_DIR of `user` (runuser sets the
/// first three itself; these say the same).
fn user_vars(user: &str) -> Vec<(&'static str, String)> {
    let Ok(Some(u)) = nix::unistd::User::from_name(user) else {
        return Vec::new();
    };
    vec![
        ("HOME", u.dir.display().to_string()),
        ("USER", u.name.clone()),
        ("LOGNAME", u.name),
        ("XDG_RUNTIME_DIR", format!("/run/user/{}", u.uid)),
    ]
}

/// Records commands without running them: under `--root DIR` the files
/// are the tree's, but a command would act on the machine krc runs on.
pub(crate) struct TreeRunner;

impl CommandRunner for TreeRunner {
    fn run(&self, cmd: &Cmd) -> Result<Ran, RunError> {
        log(cmd, &cmd.argv, false);
        Ok(Ran::NotRun(
            "--root: host commands are not run on a directory tree".into(),
        ))
    }
}

/// Appends the command to `KRC_COMMAND_LOG` (a test aid). Release builds
/// ignore the variable: an environment variable must not make root append
/// to a file of someone else's choosing.
#[cfg(not(debug_assertions))]
fn log(_cmd: &Cmd, _argv: &[String], _ran: bool) {}

#[cfg(debug_assertions)]
fn log(cmd: &Cmd, argv: &[String], ran: bool) {
    use std::io::Write;
    let Some(path) = std::env::var_os("KRC_COMMAND_LOG") else {
        return;
    };
    let line = serde_json::json!({ "who": cmd.who, "argv": argv, "env": cmd.env, "ran": ran });
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileges_are_switched_the_documented_way() {
        let c = Cmd::root(&["systemctl", "daemon-reload"]);
        assert_eq!(
            c.wrapped(1000, "alice", true),
            ["sudo", "-n", "env", "systemctl", "daemon-reload"]
        );
        assert_eq!(c.wrapped(0, "alice", true), ["systemctl", "daemon-reload"]);
        let u = Cmd::user(&["systemctl", "--user", "daemon-reload"]);
        assert_eq!(
            u.wrapped(0, "alice", true),
            ["systemctl", "--user", "--machine=alice@", "daemon-reload"]
        );
        assert_eq!(
            u.wrapped(1000, "alice", true),
            ["systemctl", "--user", "daemon-reload"]
        );
        // systemd < 248 (Debian 11, RHEL 8): no --machine=USER@ transport.
        assert_eq!(
            u.wrapped(0, "alice", false),
            [
                "runuser",
                "-u",
                "alice",
                "--",
                "env",
                "systemctl",
                "--user",
                "daemon-reload"
            ]
        );
        let e = Cmd::user(&["true"]).env("A", "b c");
        assert_eq!(
            e.wrapped(0, "alice", true),
            ["runuser", "-u", "alice", "--", "env", "A=b c", "true"]
        );
        assert_eq!(e.shown(), "A='b c' true");
    }

    #[test]
    fn only_user_commands_run_by_the_user_get_user_variables() {
        let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let machine = argv(&["systemctl", "--user", "--machine=alice@", "daemon-reload"]);
        assert!(!needs_user_vars(Who::User, &machine));
        assert!(needs_user_vars(
            Who::User,
            &argv(&["runuser", "-u", "alice", "--", "env", "true"])
        ));
        assert!(needs_user_vars(
            Who::User,
            &argv(&["systemctl", "--user", "daemon-reload"])
        ));
        assert!(!needs_user_vars(Who::Root, &argv(&["apt-get", "install"])));
    }
}
