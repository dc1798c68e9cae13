//! The installer core: the reference procedure of DESIGN.md as a plan of
//! steps ([`steps`]), each knowing whether the host satisfies it, how to
//! apply itself (as [`action`]s) and, through the [`journal`], how to undo
//! itself. `krc install` is [`apply`], `krc uninstall` is [`uninstall`].

pub(crate) mod action;
pub(crate) mod apply;
pub(crate) mod dpkg;
pub(crate) mod exec;
pub(crate) mod fetch;
pub(crate) mod fsops;
pub(crate) mod gate;
pub(crate) mod journal;
pub(crate) mod options;
pub(crate) mod render;
pub(crate) mod report;
pub(crate) mod show;
pub(crate) mod signal;
pub(crate) mod steps;
pub(crate) mod sudo;
pub(crate) mod undo;
pub(crate) mod uninstall;
pub(crate) mod unit;
pub(crate) mod wait;
