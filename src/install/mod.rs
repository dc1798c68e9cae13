//! The installer core: the reference procedure of DESIGN.md as a plan of
//! steps ([`steps`]), each knowing whether the host satisfies it, how to
//! apply itself (as [`action`]s) and, through the [`journal`], how to undo
//! itself. `krc install` is [`apply`], `krc uninstall` is [`uninstall`];
//! both report through [`event`]s to a [`Sink`] the caller passes in, and
//! end with an outcome the caller maps to an exit status.

pub(crate) mod action;
pub(crate) mod apply;
pub(crate) mod dpkg;
pub(crate) mod event;
pub(crate) mod exec;
pub(crate) mod fetch;
mod fetch_error;
pub(crate) mod fsops;
pub(crate) mod gate;
pub(crate) mod journal;
pub(crate) mod manager;
pub(crate) mod options;
pub(crate) mod refusal;
pub(crate) mod render;
pub(crate) mod report;
pub(crate) mod sequence;
pub(crate) mod signal;
pub(crate) mod steps;
pub(crate) mod sudo;
pub(crate) mod trust;
pub(crate) mod undo;
pub(crate) mod uninstall;
pub(crate) mod unit;
pub(crate) mod wait;

pub(crate) use event::{Event, InstallOutcome, Question, Sink, UninstallOutcome};
