//! File operations on the target tree (`/` or `--root DIR`), safe to run as
//! root next to a hostile target user.
//!
//! Through the one file layer ([`crate::safefs`]): every path is walked
//! from the descriptor of the root the host's facts were read from (opened
//! once by `Host::open`, never again by path, so swapping a `--root` tree
//! for a link to `/` after the first read redirects nothing), one
//! component at a time, with `O_NOFOLLOW`: a symbolic link anywhere in a
//! path krc writes, reads back or removes is refused with its name, never
//! followed, so a link planted in the user's home cannot steer root into
//! `/etc`, and `..` is refused. Reads are bounded by the layer's caps
//! (backups too). Writes are atomic (an `O_EXCL|O_NOFOLLOW` temporary file
//! with a random name in the same directory, owner and mode set on the
//! descriptor, then `renameat`). Below the home, changes are made with
//! the user's own filesystem uid, gid and groups (see
//! [`crate::safefs::asuser`]), so the kernel refuses what the user could
//! not do. Below the target user's home,
//! krc only touches directories and files that belong to the user, with a
//! single link: root never copies or replaces a file the user pointed at
//! something else.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::safefs::asuser::run_as;
use crate::safefs::sys::{fstat, lstat_at, openat, readlink_at};
use crate::safefs::write::{self as w, Owner};
use crate::safefs::{Cap, Root, read as bounded};

pub(crate) use crate::safefs::write::random_suffix;

/// Mode and owner of a file, as recorded in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Meta {
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

impl Meta {
    pub(crate) fn new(mode: u32, uid: u32, gid: u32) -> Meta {
        Meta { mode, uid, gid }
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What `lstat` says of a path: its kind and metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

impl Kind {
    pub(crate) fn is_file(self) -> bool {
        self == Kind::File
    }
    pub(crate) fn is_dir(self) -> bool {
        self == Kind::Dir
    }
}

/// The target user, whose home gets the stricter rules.
#[derive(Debug, Clone)]
struct HomeRule {
    home: String,
    uid: u32,
    gid: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct TreeFs {
    /// The host's root descriptor, with no link followed anywhere.
    root: Root,
    /// Owners are set for real; only a tree written by a non-root user may
    /// skip the chown it is not allowed to do (and the owner rules below
    /// the home, which it could not satisfy).
    lenient_owner: bool,
    home: Option<HomeRule>,
}

fn kind_of(st: &libc::stat) -> Kind {
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => Kind::File,
        libc::S_IFDIR => Kind::Dir,
        libc::S_IFLNK => Kind::Symlink,
        _ => Kind::Other,
    }
}

fn meta_of(st: &libc::stat) -> Meta {
    Meta::new(st.st_mode & 0o7777, st.st_uid, st.st_gid)
}

/// The components of an absolute host path; `..` is refused.
fn components(host_path: &str) -> io::Result<Vec<&str>> {
    let mut out = Vec::new();
    for c in host_path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("refusing {host_path}: `..` in a path krc writes"),
                ));
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

impl TreeFs {
    /// `root`: the descriptor the host's facts come from.
    pub(crate) fn new(root: &Root, live: bool) -> TreeFs {
        let lenient_owner = !live && !nix::unistd::geteuid().is_root();
        TreeFs {
            root: root.clone().never_follow(),
            lenient_owner,
            home: None,
        }
    }

    /// Applies the user rules below `home`: every directory krc walks into
    /// and every file it reads back or replaces there must be the user's.
    pub(crate) fn with_home(mut self, home: &str, uid: u32, gid: u32) -> TreeFs {
        self.home = Some(HomeRule {
            home: home.trim_end_matches('/').to_string(),
            uid,
            gid,
        });
        self
    }

    /// How a host path is named in messages (and where it is on disk).
    pub(crate) fn path(&self, host_path: &str) -> PathBuf {
        self.root.path(host_path)
    }

    fn shown(&self, host_path: &str) -> String {
        self.path(host_path).display().to_string()
    }

    /// The uid that must own things at `host_path`, when it is below the
    /// target user's home.
    fn home_owner(&self, host_path: &str) -> Option<u32> {
        let rule = self.home.as_ref()?;
        if self.lenient_owner {
            return None;
        }
        host_path
            .strip_prefix(&rule.home)
            .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
            .then_some(rule.uid)
    }

    /// Why opening `name` in `dir` failed, in words: a symbolic link is
    /// named as such, with where it points.
    fn explain(
        &self,
        dir: BorrowedFd<'_>,
        name: &str,
        host_path: &str,
        err: io::Error,
    ) -> io::Error {
        if let Ok(Some(st)) = lstat_at(dir, name)
            && kind_of(&st) == Kind::Symlink
        {
            let to = readlink_at(dir, name).unwrap_or_default();
            return io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "refusing to follow {} (a symbolic link to {to:?}): krc never follows links in paths it writes as root; replace the link with the real directory or file",
                    self.shown(host_path)
                ),
            );
        }
        io::Error::new(
            err.kind(),
            format!("failed to open {}: {err}", self.shown(host_path)),
        )
    }

    /// The owner rule below the home, for a directory the walk steps into.
    fn judge_dir(&self, walked: &str, st: &libc::stat) -> io::Result<()> {
        if let Some(uid) = self.home_owner(walked)
            && st.st_uid != uid
        {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "refusing {}: it belongs to uid {}, not the target user (uid {uid}); krc works in the user's home only inside the user's own directories",
                    self.shown(walked),
                    st.st_uid
                ),
            ));
        }
        Ok(())
    }

    /// Opens the directory `host_dir` from the root descriptor without
    /// following any link, applying the user rules below the home.
    fn open_dir(&self, host_dir: &str) -> io::Result<OwnedFd> {
        components(host_dir)?;
        let (fd, _) = self
            .root
            .walk(host_dir, None, &mut |walked, st| self.judge_dir(walked, st))
            .map_err(|e| {
                if crate::safefs::Refusal::of(&e).is_some() || e.to_string().starts_with("refusing")
                {
                    e
                } else {
                    io::Error::new(
                        e.kind(),
                        format!("failed to open {}: {e}", self.shown(host_dir)),
                    )
                }
            })?;
        Ok(fd)
    }

    /// Would krc be allowed to write `host_path`? Walks what exists of its
    /// directories under the same rules as a write (no link, the user's own
    /// directories below the home) and judges an existing final file, so
    /// that an install can refuse before it changes anything. With
    /// `replaced` false only the directories are judged (a command, not
    /// krc, may replace the file, and krc skips a link it finds there).
    pub(crate) fn check_writable(&self, host_path: &str, replaced: bool) -> io::Result<()> {
        let comps = components(host_path)?;
        let mut fd = self.root.open_dir("/")?;
        let mut walked = String::new();
        for (i, c) in comps.iter().enumerate() {
            walked.push('/');
            walked.push_str(c);
            let Some(st) = lstat_at(fd.as_fd(), c)? else {
                return Ok(());
            };
            if i + 1 == comps.len() {
                return if replaced {
                    self.judge_existing(&walked, &st)
                } else {
                    Ok(())
                };
            }
            let next = openat(
                fd.as_fd(),
                c,
                libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                0,
            )
            .map_err(|e| self.explain(fd.as_fd(), c, &walked, e))?;
            self.judge_dir(&walked, &fstat(next.as_fd())?)?;
            fd = next;
        }
        Ok(())
    }

    /// The directory holding `host_path` (opened) and the final name.
    fn parent<'a>(&self, host_path: &'a str) -> io::Result<(OwnedFd, &'a str)> {
        let (dir, name) = host_path.rsplit_once('/').ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("not an absolute path: {host_path}"),
            )
        })?;
        if matches!(name, "" | "." | "..") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("refusing {host_path}: not a file name"),
            ));
        }
        Ok((self.open_dir(dir)?, name))
    }

    /// `lstat`: None when absent, or when a directory on the way is a link
    /// (a write there is refused with the reason).
    pub(crate) fn meta(&self, host_path: &str) -> Option<(Kind, Meta)> {
        let (dir, name) = self.parent(host_path).ok()?;
        let st = lstat_at(dir.as_fd(), name).ok()??;
        Some((kind_of(&st), meta_of(&st)))
    }

    pub(crate) fn exists(&self, host_path: &str) -> bool {
        self.meta(host_path).is_some()
    }

    /// Opens a regular file for reading: never through a link, never a
    /// FIFO or device (which could block or lie), and below the home only
    /// the user's own file with one link.
    fn open_file(&self, host_path: &str) -> io::Result<OwnedFd> {
        let (dir, name) = self.parent(host_path)?;
        let fd = openat(
            dir.as_fd(),
            name,
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY,
            0,
        )
        .map_err(|e| self.explain(dir.as_fd(), name, host_path, e))?;
        let st = fstat(fd.as_fd())?;
        self.judge_existing(host_path, &st)?;
        Ok(fd)
    }

    /// The cap on what krc reads (or backs up) at `host_path`.
    fn cap(&self, host_path: &str) -> Cap {
        Cap::of_path(host_path, self.home.as_ref().map(|h| h.home.as_str()))
    }

    /// Refuses what root must not read, back up or replace.
    fn judge_existing(&self, host_path: &str, st: &libc::stat) -> io::Result<()> {
        let refuse = |why: String| {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("refusing {}: {why}", self.shown(host_path)),
            ))
        };
        match kind_of(st) {
            Kind::File => {}
            Kind::Symlink => {
                return refuse(
                    "it is a symbolic link; krc edits only regular files: replace the link with the file it points to".into(),
                );
            }
            Kind::Dir => return refuse("it is a directory".into()),
            Kind::Other => {
                return refuse("it is not a regular file (a FIFO, socket or device)".into());
            }
        }
        if let Some(uid) = self.home_owner(host_path) {
            if st.st_uid != uid {
                return refuse(format!(
                    "it belongs to uid {}, not the target user (uid {uid})",
                    st.st_uid
                ));
            }
            if st.st_nlink != 1 {
                return refuse(format!(
                    "it has {} hard links; krc does not copy or replace a file of the user's that is also elsewhere",
                    st.st_nlink
                ));
            }
        }
        Ok(())
    }

    /// The content of a regular file, at most its kind's cap (a backup
    /// is made of this, so it is bounded the same way).
    pub(crate) fn read(&self, host_path: &str) -> io::Result<Vec<u8>> {
        let fd = self.open_file(host_path)?;
        bounded::read_fd(fd, self.cap(host_path)).map_err(|e| {
            io::Error::new(e.kind(), format!("refusing {}: {e}", self.shown(host_path)))
        })
    }

    /// sha256 of a regular file's content; None when absent or not a file.
    pub(crate) fn sha256(&self, host_path: &str) -> Option<String> {
        match self.meta(host_path) {
            Some((Kind::File, _)) => self.read(host_path).ok().map(|b| sha256_hex(&b)),
            _ => None,
        }
    }

    /// Whose credentials a change at `host_path` is made with: the
    /// user's below their home (when krc is root and can take them), so
    /// the kernel refuses what the user could not do; krc's elsewhere.
    fn as_user(&self, host_path: &str) -> Option<(u32, u32)> {
        let rule = self.home.as_ref()?;
        (self.home_owner(host_path).is_some() && nix::unistd::geteuid().is_root())
            .then_some((rule.uid, rule.gid))
    }

    fn owner(&self, meta: Meta) -> Owner {
        Owner {
            mode: meta.mode,
            ids: Some((meta.uid, meta.gid)),
            lenient: self.lenient_owner,
        }
    }

    /// Writes `bytes` atomically with `meta` set before the rename. An
    /// existing link, directory or special file at the path is refused.
    pub(crate) fn write(&self, host_path: &str, bytes: &[u8], meta: Meta) -> io::Result<()> {
        let (dir, name) = self.parent(host_path)?;
        if let Some(st) = lstat_at(dir.as_fd(), name)? {
            self.judge_existing(host_path, &st)?;
        }
        let owner = self.owner(meta);
        run_as(self.as_user(host_path), || {
            w::write_at(dir.as_fd(), name, bytes, owner)
        })
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("failed to write {}: {e}", self.shown(host_path)),
            )
        })
    }

    pub(crate) fn mkdir(&self, host_path: &str, meta: Meta) -> io::Result<()> {
        let (dir, name) = self.parent(host_path)?;
        let owner = self.owner(meta);
        run_as(self.as_user(host_path), || {
            w::mkdir_at(dir.as_fd(), name, owner)
        })
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                return self.explain(dir.as_fd(), name, host_path, e);
            }
            io::Error::new(
                e.kind(),
                format!("failed to create {}: {e}", self.shown(host_path)),
            )
        })
    }

    pub(crate) fn symlink(&self, host_path: &str, target: &str, meta: Meta) -> io::Result<()> {
        let (dir, name) = self.parent(host_path)?;
        let owner = self.owner(meta);
        run_as(self.as_user(host_path), || {
            w::symlink_at(dir.as_fd(), name, target, owner)
        })
    }

    pub(crate) fn read_link(&self, host_path: &str) -> Option<String> {
        let (dir, name) = self.parent(host_path).ok()?;
        readlink_at(dir.as_fd(), name).ok()
    }

    fn unlink(&self, host_path: &str, flags: libc::c_int) -> io::Result<()> {
        let (dir, name) = self.parent(host_path)?;
        run_as(self.as_user(host_path), || {
            w::unlink_at(dir.as_fd(), name, flags)
        })
    }

    /// Removes a file or link (never a directory); absent is fine.
    pub(crate) fn remove_file(&self, host_path: &str) -> io::Result<()> {
        match self.unlink(host_path, 0) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            r => r,
        }
    }

    /// Removes an empty directory; a non-empty one is left (Ok(false)).
    pub(crate) fn remove_dir(&self, host_path: &str) -> io::Result<bool> {
        match self.unlink(host_path, libc::AT_REMOVEDIR) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `lstat` of a path of root's state, no link followed on the way:
    /// None when it or a directory above it is absent. The journal judges
    /// whether what is there is krc's own.
    pub(crate) fn private_meta(&self, host_path: &str) -> io::Result<Option<(Kind, Meta)>> {
        let (dir, name) = match self.parent(host_path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            r => r?,
        };
        Ok(lstat_at(dir.as_fd(), name)?.map(|st| (kind_of(&st), meta_of(&st))))
    }

    /// The ancestors of `host_path` that do not exist, outermost first.
    pub(crate) fn missing_parents(&self, host_path: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = Path::new(host_path).parent();
        while let Some(p) = cur {
            let s = p.to_string_lossy().into_owned();
            if s == "/" || s.is_empty() || self.exists(&s) {
                break;
            }
            out.push(s);
            cur = p.parent();
        }
        out.reverse();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me(mode: u32) -> Meta {
        Meta::new(
            mode,
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    }

    #[test]
    fn writes_are_atomic_with_mode() {
        let d = tempfile::tempdir().unwrap();
        let fs = TreeFs::new(&Root::open(d.path()).unwrap(), false);
        fs.write("/x.conf", b"a", me(0o640)).unwrap();
        fs.write("/x.conf", b"b", me(0o640)).unwrap();
        assert_eq!(fs.read("/x.conf").unwrap(), b"b");
        assert_eq!(fs.meta("/x.conf").unwrap().1.mode, 0o640);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
        assert_eq!(fs.missing_parents("/a/b/c.txt"), ["/a", "/a/b"]);
    }

    #[test]
    fn links_are_refused_never_followed() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let tree = d.path().join("t");
        std::fs::create_dir_all(tree.join("etc")).unwrap();
        std::fs::write(outside.path().join("secret"), b"root only").unwrap();
        std::os::unix::fs::symlink(outside.path(), tree.join("etc/dir")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), tree.join("etc/file")).unwrap();
        let fs = TreeFs::new(&Root::open(&tree).unwrap(), false);
        let e = fs.write("/etc/dir/new", b"x", me(0o644)).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let e = fs.write("/etc/file", b"x", me(0o644)).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(fs.read("/etc/file").is_err());
        assert!(fs.read("/etc/dir/secret").is_err());
        assert!(fs.write("/etc/../../x", b"x", me(0o644)).is_err());
        assert_eq!(
            std::fs::read(outside.path().join("secret")).unwrap(),
            b"root only"
        );
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1);
        // A FIFO is not read (which would block), nor replaced.
        nix::unistd::mkfifo(&tree.join("etc/fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let e = fs.read("/etc/fifo").unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }
}
