//! The commands: each resolves what the user typed into a plan, runs it,
//! and returns an exit status.

mod accept;
mod capture;
mod catalogue;
mod install;
mod install_show;
pub(crate) mod output;
mod pins;
mod preflight;
mod release;
mod report;
mod run;
mod uninstall_report;

pub(crate) use accept::accept;
pub(crate) use capture::capture;
pub(crate) use catalogue::{explain, list};
pub(crate) use install::{install, uninstall};
pub(crate) use pins::{bundle, pins};
pub(crate) use preflight::preflight;
pub(crate) use release::{generate, version};
pub(crate) use report::merge;
pub(crate) use run::run;

use crate::install::{InstallOutcome, UninstallOutcome};

/// Exit statuses, as `krc --help` documents them.
pub(crate) mod exit {
    pub(crate) const OK: u8 = 0;
    pub(crate) const FAILED: u8 = 1;
    pub(crate) const USAGE: u8 = 2;
    pub(crate) const REBOOT_REQUIRED: u8 = 3;
    /// The filter (FILTER, --exact, --skip) selected no check.
    pub(crate) const NO_MATCH: u8 = 4;
    /// A required check could not be judged (missing facts or probes, not
    /// a failed prerequisite): the host is neither qualified nor failed.
    pub(crate) const INCONCLUSIVE: u8 = 5;
    /// The install finished, but systemd delegation for the user takes
    /// effect only at the user's next login; re-run after it.
    pub(crate) const RELOGIN_REQUIRED: u8 = 6;
}

/// The refusal of root as the target user, in the same words for every
/// command that acts for the user (install, accept, run): a usage error.
pub(crate) const NOT_ROOT: &str =
    "rootless k3s must run as an unprivileged user, not root: pass --user NAME";

/// Opens the host for `user` and refuses root as its user (exit 2), before
/// anything is read or run for it.
pub(crate) fn open_for_user(
    root: &std::path::Path,
    user: Option<&str>,
) -> Result<crate::host::Host, CmdError> {
    let host = crate::host::Host::open(root, user)?;
    if host.user().uid == 0 {
        return Err(CmdError::new(NOT_ROOT));
    }
    Ok(host)
}

/// The status an installer error ends krc with: the user's mistakes (an
/// unknown --user, a bad --root, no --yes and nobody to ask) are usage
/// errors, 2, as on every command; the rest failed, 1.
pub(crate) fn install_error(e: crate::install::apply::InstallError) -> CmdError {
    use crate::install::apply::InstallError;
    let status = match &e {
        InstallError::Host(_) | InstallError::Confirm(_) => exit::USAGE,
        _ => exit::FAILED,
    };
    CmdError::of(e).with_status(status)
}

/// The exit status of an install that ended this way (README "exit
/// status"): a signal's is the shell's, 128 + its number.
pub(crate) fn exit_code(o: InstallOutcome) -> u8 {
    match o {
        InstallOutcome::Completed | InstallOutcome::Planned | InstallOutcome::Declined => exit::OK,
        InstallOutcome::Refused | InstallOutcome::Failed => exit::FAILED,
        InstallOutcome::RebootRequired => exit::REBOOT_REQUIRED,
        InstallOutcome::ReloginRequired => exit::RELOGIN_REQUIRED,
        InstallOutcome::Interrupted(sig) => crate::stop::exit_status(sig),
    }
}

/// The exit status of an uninstall that ended this way.
pub(crate) fn uninstall_exit_code(o: UninstallOutcome) -> u8 {
    match o {
        UninstallOutcome::Incomplete => exit::FAILED,
        UninstallOutcome::NothingRecorded
        | UninstallOutcome::Planned
        | UninstallOutcome::Declined
        | UninstallOutcome::Undone => exit::OK,
    }
}

/// Runs krc again as root through `sudo -n` (see `install::sudo`): the
/// root run's exit status, or 1 if a signal ended it.
pub(crate) fn as_root(user: &str) -> Result<u8, crate::install::sudo::SudoError> {
    let status = crate::install::sudo::reexec(user)?;
    Ok(status.code().map_or(exit::FAILED, |c| c as u8))
}

/// An error that stops a command: one line saying what and where, the
/// error that caused it (if any), and the exit status it ends krc with.
/// `main` prints it with [`error_lines`], the only place a chain of
/// causes is printed.
#[derive(Debug)]
pub(crate) struct CmdError {
    /// None: the error below is itself the message (a typed error
    /// passed up whole, its causes after it).
    msg: Option<String>,
    cause: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    status: u8,
}

impl CmdError {
    /// A usage error (exit status 2) with no cause below it.
    pub(crate) fn new(msg: impl std::fmt::Display) -> Self {
        CmdError {
            msg: Some(msg.to_string()),
            cause: None,
            status: exit::USAGE,
        }
    }

    /// `msg`, caused by `err`: `err` and its own causes are printed
    /// after it, one `caused by:` line each.
    pub(crate) fn caused(
        msg: impl std::fmt::Display,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        CmdError {
            msg: Some(msg.to_string()),
            cause: Some(Box::new(err)),
            status: exit::USAGE,
        }
    }

    /// A typed error as the command's error: its message first, then its
    /// causes.
    pub(crate) fn of(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        CmdError {
            msg: None,
            cause: Some(Box::new(err)),
            status: exit::USAGE,
        }
    }

    /// The same error, ending krc with `status` instead of 2.
    pub(crate) fn with_status(mut self, status: u8) -> Self {
        self.status = status;
        self
    }

    pub(crate) fn status(&self) -> u8 {
        self.status
    }
}

impl std::fmt::Display for CmdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.msg, &self.cause) {
            (Some(m), _) => f.write_str(m),
            (None, Some(e)) => e.fmt(f),
            (None, None) => f.write_str("failed"),
        }
    }
}

impl std::error::Error for CmdError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        let cause = self.cause.as_deref()?;
        if self.msg.is_some() {
            Some(cause)
        } else {
            cause.source()
        }
    }
}

impl From<crate::host::HostError> for CmdError {
    fn from(e: crate::host::HostError) -> Self {
        CmdError::of(e)
    }
}

impl From<crate::suite::config::SuiteError> for CmdError {
    fn from(e: crate::suite::config::SuiteError) -> Self {
        CmdError::of(e)
    }
}

/// An error as `main` prints it: `krc: error: MSG`, then one `  caused
/// by: ...` line per error in its `source()` chain. A cause whose text
/// the line above already holds (a library that writes its source into
/// its own message) is not printed again.
pub(crate) fn error_lines(e: &dyn std::error::Error) -> Vec<String> {
    let mut lines = vec![format!("krc: error: {e}")];
    let mut above = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !above.contains(&text) {
            lines.push(format!("  caused by: {text}"));
        }
        above = text;
        cur = c.source();
    }
    // An error may quote what it choked on (a URL, a line of a file):
    // the same redaction as every record.
    lines
        .iter()
        .map(|l| crate::report::redact::redact(l))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Inner {
        #[error("failed to read suite /x/s.toml")]
        Read(#[source] std::io::Error),
    }

    fn not_found() -> std::io::Error {
        std::io::Error::from_raw_os_error(libc::ENOENT)
    }

    #[test]
    fn a_chain_prints_each_cause_once() {
        // Two levels: the message, then the OS error on its own line.
        let e = CmdError::of(Inner::Read(not_found()));
        assert_eq!(
            error_lines(&e),
            [
                "krc: error: failed to read suite /x/s.toml",
                "  caused by: No such file or directory (os error 2)",
            ]
        );
        assert_eq!(e.status(), exit::USAGE);
        // A message over a typed error: three lines, none repeated.
        let e = CmdError::caused("cannot run the preflight", Inner::Read(not_found()))
            .with_status(exit::FAILED);
        assert_eq!(
            error_lines(&e),
            [
                "krc: error: cannot run the preflight",
                "  caused by: failed to read suite /x/s.toml",
                "  caused by: No such file or directory (os error 2)",
            ]
        );
        assert_eq!(e.status(), exit::FAILED);
        // No cause: one line.
        assert_eq!(error_lines(&CmdError::new("bad")), ["krc: error: bad"]);
    }

    #[test]
    fn a_cause_already_in_its_parents_message_is_not_repeated() {
        #[derive(Debug, thiserror::Error)]
        #[error("request failed: {0}")]
        struct Embeds(#[source] std::io::Error);
        let e = CmdError::of(Embeds(not_found()));
        assert_eq!(
            error_lines(&e),
            ["krc: error: request failed: No such file or directory (os error 2)"]
        );
    }

    #[test]
    fn a_failed_reexec_prints_its_cause_once() {
        use crate::install::sudo::SudoError;
        let enoent = || std::io::Error::from_raw_os_error(libc::ENOENT);
        // `krc run` passes it to main: the message, then the OS error.
        let e = CmdError::of(SudoError::Run(enoent()));
        assert_eq!(
            error_lines(&e),
            [
                "krc: error: failed to run sudo",
                "  caused by: No such file or directory (os error 2)",
            ]
        );
        // `krc install` prints one line: the cause after the message, once.
        assert_eq!(
            crate::install::fetch::chain(&SudoError::OwnPath(enoent())),
            "failed to find krc's own path: No such file or directory (os error 2)"
        );
        // Without sudo the OS error sits inside the sentence, which ends
        // with what to do; nothing follows it.
        let e = CmdError::of(SudoError::NoSudo {
            error: enoent(),
            user: "alice".into(),
        });
        assert_eq!(
            error_lines(&e),
            [
                "krc: error: the root steps need sudo, which could not be run (No such file or directory (os error 2)): run krc install as root with --user alice"
            ]
        );
    }
}
