//! Suites: which checks run, with what severity and parameters
//! ([`config`]), and the runner that turns them into libtest-mimic trials and
//! records every outcome ([`runner`]).

pub(crate) mod config;
pub(crate) mod prereq;
pub(crate) mod runner;

pub(crate) use config::Suite;
