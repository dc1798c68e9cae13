//! The commands: each resolves what the user typed into a plan, runs it,
//! and returns an exit status.

mod accept;
mod catalogue;
mod install;
mod install_show;
pub(crate) mod output;
mod preflight;
mod run;

pub(crate) use accept::accept;
pub(crate) use catalogue::{explain, list};
pub(crate) use install::{install, uninstall};
pub(crate) use preflight::preflight;
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
}

/// The exit status of an install that ended this way (README "exit
/// status"): a signal's is the shell's, 128 + its number.
pub(crate) fn exit_code(o: InstallOutcome) -> u8 {
    match o {
        InstallOutcome::Completed | InstallOutcome::Planned | InstallOutcome::Declined => exit::OK,
        InstallOutcome::Refused | InstallOutcome::Failed => exit::FAILED,
        InstallOutcome::RebootRequired => exit::REBOOT_REQUIRED,
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
pub(crate) fn as_root(user: &str) -> Result<u8, String> {
    let status = crate::install::sudo::reexec(user)?;
    Ok(status.code().map_or(exit::FAILED, |c| c as u8))
}

/// An error that stops a command: one line saying what and where.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct CmdError(pub(crate) String);

impl CmdError {
    pub(crate) fn new(msg: impl std::fmt::Display) -> Self {
        CmdError(msg.to_string())
    }
}
