//! What a live run read, as `krc capture` needs it: every host path the
//! facts layer read, stat'ed or listed, how each answered, and every live
//! probe's answer. Recording happens in the one place all host reads pass
//! ([`super::RootedFs`] and the probes of [`super::Host`]), so a fact a new
//! check reads is captured without anyone adding it to a list.
//!
//! The record holds what root read, secrets included: it lives in memory
//! for one `krc capture` run only, whose writer removes what must not
//! leave the host before anything is written.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};

use super::fixture::ProbeAnswers;
use super::probes::{LiveProbes, Probe, Probes};
use super::{FileStat, TargetUser};
use crate::safefs::Refusal;

/// Why the layer did not hand over a file, as a tree can say it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    /// A link the policy does not follow: where it is and what it says.
    Link { at: String, to: String },
    /// A FIFO, socket or device where a regular file was wanted.
    NotRegular,
    /// Larger than the cap of its kind.
    TooLarge { limit: u64 },
    /// Anything else (a sparse file, an errno): said in words only.
    Other(String),
}

impl Refused {
    fn of(e: &io::Error) -> Refused {
        match Refusal::of(e) {
            Some(Refusal::Link { path, to, .. }) => Refused::Link {
                at: path.clone(),
                to: to.clone(),
            },
            Some(Refusal::NotRegular { .. }) => Refused::NotRegular,
            Some(Refusal::TooLarge { limit, .. }) => Refused::TooLarge { limit: *limit },
            _ => Refused::Other(e.to_string()),
        }
    }
}

/// A read's outcome.
#[derive(Debug, Clone)]
pub(crate) enum Read {
    Bytes(Vec<u8>),
    Missing,
    Refused(Refused),
}

/// A stat's outcome (on disk, before any fixture override).
#[derive(Debug, Clone)]
pub(crate) enum Stat {
    Found(FileStat),
    Missing,
    Refused(Refused),
}

/// Everything one run read.
#[derive(Debug, Default, Clone)]
pub(crate) struct Record {
    pub(crate) reads: BTreeMap<String, Read>,
    pub(crate) stats: BTreeMap<String, Stat>,
    pub(crate) lists: BTreeMap<String, Vec<String>>,
    /// Live probes' answers, in the fixture's terms.
    pub(crate) probes: ProbeAnswers,
    /// Accounts (name, id) the checks looked at beyond `/etc/passwd`
    /// (NSS: `getent passwd`), and groups likewise.
    pub(crate) accounts: Vec<(String, u64)>,
    pub(crate) groups: Vec<(String, u64)>,
}

/// The record being made, shared by the host and its readers.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    record: Mutex<Record>,
}

impl Recorder {
    fn with(&self, f: impl FnOnce(&mut Record)) {
        // A panic elsewhere poisons nothing worth losing: keep recording.
        let mut r = self.record.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut r);
    }

    /// What has been recorded so far.
    pub(crate) fn take(&self) -> Record {
        let r = self.record.lock().unwrap_or_else(|p| p.into_inner());
        r.clone()
    }

    pub(crate) fn read(&self, path: &str, r: &io::Result<Vec<u8>>) {
        let read = match r {
            Ok(b) => Read::Bytes(b.clone()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Read::Missing,
            Err(e) => Read::Refused(Refused::of(e)),
        };
        self.with(|rec| {
            rec.reads.insert(path.to_string(), read);
        });
    }

    /// `missing`: the error meant "absent" to the caller.
    pub(crate) fn stat(&self, path: &str, r: Result<Option<&FileStat>, (&io::Error, bool)>) {
        let stat = match r {
            Ok(Some(st)) => Stat::Found(st.clone()),
            Ok(None) | Err((_, true)) => Stat::Missing,
            Err((e, false)) => Stat::Refused(Refused::of(e)),
        };
        self.with(|rec| {
            rec.stats.insert(path.to_string(), stat);
        });
    }

    pub(crate) fn list(&self, path: &str, names: &[String]) {
        self.with(|rec| {
            rec.lists.insert(path.to_string(), names.to_vec());
        });
    }

    pub(crate) fn accounts(&self, groups: bool, found: &[(String, u64)]) {
        self.with(|rec| {
            let into = if groups {
                &mut rec.groups
            } else {
                &mut rec.accounts
            };
            into.extend(found.iter().cloned());
            into.sort_by_key(|(_, id)| *id);
            into.dedup();
        });
    }

    /// `getsubids [-g]`'s answer (`key`: `uid` or `gid`). A failure is
    /// kept as its text: a tree's answer is the output, and a failure's
    /// words parse as no range, which judges the same.
    pub(crate) fn getsubids(&self, key: &str, answer: &Probe<Result<String, String>>) {
        if let Probe::Answer(a) = answer {
            let text = a.clone().unwrap_or_else(|e| e);
            self.with(|rec| {
                rec.probes.getsubids.insert(key.to_string(), text);
            });
        }
    }
}

/// The live probes, each answer written down as a fixture would give it.
pub(crate) struct RecordingProbes {
    pub(crate) live: LiveProbes,
    pub(crate) rec: Arc<Recorder>,
}

impl Probes for RecordingProbes {
    fn userns(&self, user: &TargetUser) -> Probe<Result<(), String>> {
        let a = self.live.userns(user);
        if let Probe::Answer(r) = &a {
            let text = r.clone().map_or_else(|e| e, |()| "ok".to_string());
            self.rec.with(|rec| rec.probes.userns = Some(text));
        }
        a
    }

    fn user_manager(&self, user: &TargetUser) -> Probe<Result<String, String>> {
        let a = self.live.user_manager(user);
        if let Probe::Answer(r) = &a {
            // A fixture says a state word, or anything else as the error:
            // "offline" and "unknown" judge the same either way.
            let text = r.clone().unwrap_or_else(|e| e);
            self.rec.with(|rec| rec.probes.user_manager = Some(text));
        }
        a
    }

    fn version(&self, program: &str) -> Probe<Result<String, String>> {
        let a = self.live.version(program);
        if let Probe::Answer(r) = &a {
            // A fixture's version line is an answer: a failure's words
            // name no version, which fails the same.
            let text = r.clone().unwrap_or_else(|e| e);
            self.rec.with(|rec| {
                rec.probes.versions.insert(program.to_string(), text);
            });
        }
        a
    }

    fn lock_held(&self, path: &str) -> Probe<bool> {
        let a = self.live.lock_held(path);
        if let Probe::Answer(b) = a {
            self.rec.with(|rec| rec.probes.rootless_lock_held = Some(b));
        }
        a
    }
}
