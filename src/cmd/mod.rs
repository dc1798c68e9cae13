//! The commands: each resolves what the user typed into a plan, runs it,
//! and returns an exit status.

mod accept;
mod catalogue;
mod install;
pub(crate) mod output;
mod preflight;
mod run;

pub(crate) use accept::accept;
pub(crate) use catalogue::{explain, list};
pub(crate) use install::{install, uninstall};
pub(crate) use preflight::preflight;
pub(crate) use run::run;

/// Exit statuses, as `krc --help` documents them.
pub(crate) mod exit {
    pub(crate) const OK: u8 = 0;
    pub(crate) const FAILED: u8 = 1;
    pub(crate) const USAGE: u8 = 2;
    pub(crate) const REBOOT_REQUIRED: u8 = 3;
    /// The filter (FILTER, --exact, --skip) selected no check.
    pub(crate) const NO_MATCH: u8 = 4;
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
