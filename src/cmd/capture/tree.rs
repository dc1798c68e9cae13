//! A run's record as a fixture tree: each file read as a file of the tree
//! (cleaned, see [`super::clean`]), each stat as a `[files."PATH"]`
//! override of `krc-fixture.toml` (owner, mode, kind, device numbers and
//! capabilities, which a tar extracted by anyone cannot keep), each listed
//! directory with its names, each refusal as a thing the tree refuses the
//! same way, and the probes' answers as `[probes]`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::clean;
use super::ustar::{self, Entry};
use crate::host::record::{Read, Record, Refused, Stat};
use crate::host::{FileKind, FileStat, TargetUser};

/// The tree, ready to archive.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    /// By path relative to the tree's top: the entry and its mode.
    nodes: BTreeMap<String, (Entry, u32)>,
    overrides: BTreeMap<String, FileStat>,
    /// What the capture changed or left out, as comments in krc-fixture.toml.
    pub(crate) notes: Vec<String>,
}

/// Larger refused files are not written out (a tree keeps the refusal as
/// a link to itself instead): a capture stays small.
const FILLER_MAX: u64 = 16 << 20;

/// `/a/./b//c` → `a/b/c`; None for a path with `..` or the root itself.
fn rel(host_path: &str) -> Option<String> {
    let parts: Vec<&str> = host_path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    (!parts.is_empty() && !parts.contains(&"..")).then(|| parts.join("/"))
}

fn below(path: &str, dir: &str) -> bool {
    crate::safefs::root::below(path, dir)
}

impl Tree {
    fn put(&mut self, host_path: &str, entry: Entry, mode: u32) {
        if let Some(r) = rel(host_path) {
            self.nodes.insert(r, (entry, mode));
        }
    }

    fn has(&self, host_path: &str) -> bool {
        rel(host_path).is_some_and(|r| self.nodes.contains_key(&r))
    }

    /// A refusal the tree gives again: a link below the home as it was
    /// (the tree follows none there either), any other link or error as
    /// a link to itself (refused for looping), a FIFO as a FIFO, a file
    /// too large as one just over the cap.
    fn refused(&mut self, host_path: &str, r: &Refused, home: &str) {
        let self_loop = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
        match r {
            Refused::Link { at, to } if below(at, home) && to.len() <= 100 => {
                self.put(at, Entry::Symlink(to.clone()), 0o777);
            }
            Refused::Link { at, to } => {
                self.notes.push(format!(
                    "{at}: a link root does not follow (to {to:?}); here a link to itself"
                ));
                self.put(at, Entry::Symlink(self_loop(at)), 0o777);
            }
            Refused::NotRegular => self.put(host_path, Entry::Fifo, 0o600),
            Refused::TooLarge { limit } if *limit <= FILLER_MAX => {
                self.notes.push(format!(
                    "{host_path}: larger than krc reads ({limit} bytes); here filler of that size"
                ));
                let filler = vec![b'#'; *limit as usize + 1];
                self.put(host_path, Entry::File(filler), 0o644);
            }
            Refused::TooLarge { .. } | Refused::Other(_) => {
                let why = match r {
                    Refused::Other(w) => w.clone(),
                    _ => "too large".to_string(),
                };
                self.notes.push(format!(
                    "{host_path}: not read ({why}); here a link to itself"
                ));
                self.put(host_path, Entry::Symlink(self_loop(host_path)), 0o777);
            }
        }
    }

    /// The tree of `rec`, a run for `user` whose kubeconfig is `kubeconfig`.
    pub(crate) fn build(rec: &Record, user: &TargetUser, kubeconfig: &str) -> Tree {
        let mut t = Tree::default();
        for (path, read) in &rec.reads {
            if let Some(why) = clean::denied(path) {
                t.notes.push(format!("{path}: {why}, never captured"));
                continue;
            }
            match read {
                Read::Bytes(b) => {
                    t.put(path, Entry::File(clean::clean(path, b, kubeconfig)), 0o644)
                }
                Read::Missing => {}
                Read::Refused(r) => t.refused(path, r, &user.home),
            }
        }
        for (path, stat) in &rec.stats {
            match stat {
                Stat::Found(st) => {
                    t.overrides.insert(path.clone(), st.clone());
                    if t.has(path) {
                        continue;
                    }
                    match st.kind {
                        FileKind::Dir => t.put(path, Entry::Dir, 0o755),
                        FileKind::File => t.put(path, Entry::File(Vec::new()), 0o644),
                        // A tar extracted by anyone cannot make a device:
                        // the override says what it is.
                        FileKind::CharDevice => {}
                        FileKind::Other => t.put(path, Entry::Fifo, 0o600),
                    }
                }
                Stat::Missing => {}
                Stat::Refused(r) => {
                    if !t.has(path) {
                        t.refused(path, r, &user.home)
                    }
                }
            }
        }
        // Paths krc asked for, found or not: a name below one of them
        // must stay a directory for the question to get its answer.
        let asked: Vec<&String> = rec.reads.keys().chain(rec.stats.keys()).collect();
        for (dir, names) in &rec.lists {
            if !t.has(dir) {
                t.put(dir, Entry::Dir, 0o755);
            }
            for n in names {
                let child = format!("{}/{n}", dir.trim_end_matches('/'));
                if t.has(&child) || clean::denied(&child).is_some() {
                    continue;
                }
                // Only the name was read: an empty file says it (and
                // survives git, which keeps no empty directory).
                if asked.iter().any(|p| below(p, &child)) {
                    t.put(&child, Entry::Dir, 0o755);
                } else {
                    t.put(&child, Entry::File(Vec::new()), 0o644);
                }
            }
        }
        t.accounts(rec, user);
        t
    }

    /// `/etc/passwd` and `/etc/group` as [`super::accounts`] cuts them down.
    fn accounts(&mut self, rec: &Record, user: &TargetUser) {
        let (passwd, group) = super::accounts::cut_down(rec, user);
        if let Some(text) = passwd {
            self.put("/etc/passwd", Entry::File(text.into_bytes()), 0o644);
        }
        if let Some(text) = group {
            self.put("/etc/group", Entry::File(text.into_bytes()), 0o644);
        }
    }

    /// `krc-fixture.toml`: the user, a description, the probes' answers
    /// and an override for every file krc stat'ed.
    pub(crate) fn fixture_toml(&self, rec: &Record, user: &str, description: &str) -> String {
        let s = |v: &str| toml::Value::String(clean_text(v)).to_string();
        let mut out = String::from(
            "# Written by `krc capture`: the facts krc read on this host, as a fixture tree.\n\
             # Replay: krc preflight --root DIR   (docs/fixtures.md: from a capture to a fixture)\n",
        );
        for n in &self.notes {
            let _ = writeln!(out, "# {}", clean_text(n).replace('\n', " "));
        }
        let _ = writeln!(
            out,
            "user = {}\ndescription = {}\n",
            s(user),
            s(description)
        );
        let p = &rec.probes;
        out.push_str("[probes]\n");
        if let Some(v) = &p.userns {
            let _ = writeln!(out, "userns = {}", s(v));
        }
        if let Some(v) = &p.user_manager {
            let _ = writeln!(out, "user_manager = {}", s(v));
        }
        if let Some(v) = p.rootless_lock_held {
            let _ = writeln!(out, "rootless_lock_held = {v}");
        }
        if !p.versions.is_empty() {
            out.push_str("\n[probes.versions]\n");
            for (k, v) in &p.versions {
                let _ = writeln!(out, "{} = {}", s(k), s(v));
            }
        }
        if !p.getsubids.is_empty() {
            out.push_str("\n[probes.getsubids]\n");
            for (k, v) in &p.getsubids {
                let _ = writeln!(out, "{} = {}", s(k), s(v));
            }
        }
        for (path, st) in &self.overrides {
            let _ = writeln!(out, "\n[files.{}]", s(path));
            let kind = match st.kind {
                FileKind::File => Some("file"),
                FileKind::Dir => Some("dir"),
                FileKind::CharDevice => Some("char"),
                FileKind::Other => None,
            };
            if let Some(k) = kind {
                let _ = writeln!(out, "kind = \"{k}\"");
            }
            if let Some((a, b)) = st.rdev {
                let _ = writeln!(out, "major = {a}\nminor = {b}");
            }
            let _ = writeln!(
                out,
                "mode = \"{:04o}\"\nuid = {}\ngid = {}",
                st.mode, st.uid, st.gid
            );
            if !st.caps.is_empty() {
                let _ = writeln!(out, "caps = \"{}=ep\"", st.caps.join(","));
            }
        }
        out
    }

    /// The tree and its `krc-fixture.toml` as an uncompressed tar.
    pub(crate) fn tar(&self, fixture_toml: &str) -> Result<Vec<u8>, ustar::TooLong> {
        let mut out = Vec::new();
        let mut nodes = self.nodes.clone();
        nodes.insert(
            crate::host::fixture::FILE_NAME.to_string(),
            (Entry::File(fixture_toml.as_bytes().to_vec()), 0o644),
        );
        let mut written: BTreeMap<String, bool> = BTreeMap::new();
        for (path, (entry, mode)) in &nodes {
            // Every parent first, as a directory; a child of something
            // that is not one (a refused link) cannot be in the tree.
            let parts: Vec<&str> = path.split('/').collect();
            let mut blocked = false;
            for i in 1..parts.len() {
                let parent = parts[..i].join("/");
                match written.get(&parent) {
                    Some(true) => {}
                    Some(false) => blocked = true,
                    None => match nodes.get(&parent) {
                        Some((e, _)) if *e != Entry::Dir => blocked = true,
                        _ => {
                            ustar::append(&mut out, &parent, &Entry::Dir, 0o755)?;
                            written.insert(parent, true);
                        }
                    },
                }
                if blocked {
                    break;
                }
            }
            if blocked || written.contains_key(path) {
                continue;
            }
            ustar::append(&mut out, path, entry, *mode)?;
            written.insert(path.clone(), *entry == Entry::Dir);
        }
        ustar::finish(&mut out);
        Ok(out)
    }

    /// How many files (with contents) and overrides the tree holds.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let files = self
            .nodes
            .values()
            .filter(|(e, _)| matches!(e, Entry::File(b) if !b.is_empty()))
            .count();
        (files, self.overrides.len())
    }
}

/// A probe's words or a note, without anything that looks like a secret.
fn clean_text(s: &str) -> String {
    crate::report::redact::redact(s).replace("[redacted]", clean::MARK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::record::Read;

    fn user() -> TargetUser {
        TargetUser {
            name: "alice".into(),
            uid: 1000,
            gid: 1000,
            home: "/home/alice".into(),
            groups: vec![1000, 108],
        }
    }

    fn node<'a>(t: &'a Tree, p: &str) -> Option<&'a Entry> {
        t.nodes.get(p).map(|(e, _)| e)
    }

    #[test]
    fn refusals_are_given_again_and_accounts_cut_down() {
        let mut rec = Record::default();
        let bytes = |s: &str| Read::Bytes(s.as_bytes().to_vec());
        rec.reads.insert(
            "/etc/passwd".into(),
            bytes("root:x:0:0:Root,,,:/root:/bin/bash\nbob:x:1001:1001:Bob Smith:/home/bob:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\nsvc:x:165600:165600::/:/bin/false\n"),
        );
        rec.reads.insert(
            "/etc/group".into(),
            bytes("root:x:0:\nalice:x:1000:\nkvm:x:108:alice,bob\nbob:x:1001:\n"),
        );
        rec.reads
            .insert("/etc/subuid".into(), bytes("alice:165536:65536\n"));
        rec.accounts = vec![("svc".into(), 165600), ("ldapuser".into(), 170000)];
        let unit = "/home/alice/.config/systemd/user/k3s-rootless.service";
        rec.reads.insert(
            unit.into(),
            Read::Refused(Refused::Link {
                at: unit.into(),
                to: "/etc/shadow".into(),
            }),
        );
        rec.reads.insert(
            "/etc/x.conf".into(),
            Read::Refused(Refused::Link {
                at: "/etc/x.conf".into(),
                to: "/etc/shadow".into(),
            }),
        );
        rec.reads
            .insert("/run/lock".into(), Read::Refused(Refused::NotRegular));
        rec.reads
            .insert("/etc/shadow".into(), bytes("root:$6$x:1:"));
        rec.lists
            .insert("/proc".into(), vec!["1".into(), "42".into(), "self".into()]);
        rec.stats.insert("/proc/42/cmdline".into(), Stat::Missing);
        let t = Tree::build(&rec, &user(), "/home/alice/.kube/k3s.yaml");
        assert_eq!(
            node(&t, unit.trim_start_matches('/')),
            Some(&Entry::Symlink("/etc/shadow".into()))
        );
        assert_eq!(
            node(&t, "etc/x.conf"),
            Some(&Entry::Symlink("x.conf".into())),
            "outside the home a tree would follow it: a link to itself"
        );
        assert_eq!(node(&t, "run/lock"), Some(&Entry::Fifo));
        assert_eq!(node(&t, "etc/shadow"), None);
        assert_eq!(node(&t, "proc/1"), Some(&Entry::File(Vec::new())));
        assert_eq!(node(&t, "proc/42"), Some(&Entry::Dir));
        let text = |p: &str| match node(&t, p) {
            Some(Entry::File(b)) => String::from_utf8(b.clone()).unwrap(),
            e => panic!("{p}: {e:?}"),
        };
        assert_eq!(
            text("etc/passwd"),
            "root:x:0:0::/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\nsvc:x:165600:165600::/:/bin/false\nldapuser:x:170000:170000::/nonexistent:/usr/sbin/nologin\n"
        );
        assert_eq!(
            text("etc/group"),
            "root:x:0:\nalice:x:1000:alice\nkvm:x:108:alice\n"
        );
    }
}
