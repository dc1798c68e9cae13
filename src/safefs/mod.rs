//! The one file layer for everything root touches on the target user's
//! behalf: facts, the installer, the kubeconfig, offline bundles, reports.
//!
//! - [`root`]: the tree (or `/`) opened once as a descriptor and the walk
//!   every path resolves by, with the one policy on links.
//! - [`caps`]: how much of each kind of file may be read.
//! - [`read`]: bounded reads of regular files only.
//! - [`write`]: atomic writes, mkdir, symlink and remove relative to a
//!   directory descriptor, and report files.
//! - [`asuser`]: changes below the user's home made with the user's own
//!   filesystem credentials (a thread of their own).
//! - [`refusal`]: why a file was refused, as a value.

pub(crate) mod asuser;
pub(crate) mod caps;
#[cfg(test)]
mod proptest;
pub(crate) mod read;
pub(crate) mod refusal;
pub(crate) mod root;
pub(crate) mod sys;
pub(crate) mod write;

pub(crate) use caps::Cap;
pub(crate) use refusal::Refusal;
pub(crate) use root::Root;
