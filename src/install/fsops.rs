//! File operations on the target tree (`/` or `--root DIR`), safe to run as
//! root next to a hostile target user.
//!
//! Every path is walked from a descriptor of the root, one component at a
//! time, with `O_NOFOLLOW`: a symbolic link anywhere in a path krc writes,
//! reads back or removes is refused with its name, never followed, so a
//! link planted in the user's home cannot steer root into `/etc`, and `..`
//! cannot leave a `--root` tree. Writes are atomic (an `O_EXCL|O_NOFOLLOW`
//! temporary file with a random name in the same directory, owner and mode
//! set on the descriptor, then `renameat`). Below the target user's home,
//! krc only touches directories and files that belong to the user, with a
//! single link: root never copies or replaces a file the user pointed at
//! something else.

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
}

#[derive(Debug, Clone)]
pub(crate) struct TreeFs {
    root: PathBuf,
    /// Owners are set for real; only a tree written by a non-root user may
    /// skip the chown it is not allowed to do (and the owner rules below
    /// the home, which it could not satisfy).
    lenient_owner: bool,
    home: Option<HomeRule>,
}

/// `Ok(v)` for a non-negative return value, the errno otherwise.
fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in a path"))
}

fn openat(dir: RawFd, name: &str, flags: libc::c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
    let c = cstr(name)?;
    // SAFETY: a valid C string and descriptor; the result is a new descriptor we own.
    let fd = cvt(unsafe { libc::openat(dir, c.as_ptr(), flags | libc::O_CLOEXEC, mode) })?;
    // SAFETY: `fd` was just returned by openat and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    // SAFETY: fstat fills the zeroed struct for a valid descriptor.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    cvt(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st)
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`: None when absent.
fn lstat_at(dir: RawFd, name: &str) -> io::Result<Option<libc::stat>> {
    let c = cstr(name)?;
    // SAFETY: as in fstat, with a valid C string.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    match cvt(unsafe { libc::fstatat(dir, c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) }) {
        Ok(_) => Ok(Some(st)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
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

fn readlink_at(dir: RawFd, name: &str) -> io::Result<String> {
    let c = cstr(name)?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: the buffer is valid for its length; readlinkat does not NUL-terminate.
    let n = unsafe { libc::readlinkat(dir, c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// A name for a temporary file no one can guess (so no one can plant it
/// first; `O_EXCL` refuses it anyway).
pub(crate) fn random_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    format!("{:016x}", h.finish())
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
    pub(crate) fn new(root: &Path, live: bool) -> TreeFs {
        let lenient_owner = !live && !nix::unistd::geteuid().is_root();
        TreeFs {
            root: root.to_path_buf(),
            lenient_owner,
            home: None,
        }
    }

    /// Applies the user rules below `home`: every directory krc walks into
    /// and every file it reads back or replaces there must be the user's.
    pub(crate) fn with_home(mut self, home: &str, uid: u32) -> TreeFs {
        self.home = Some(HomeRule {
            home: home.trim_end_matches('/').to_string(),
            uid,
        });
        self
    }

    /// How a host path is named in messages (and where it is on disk).
    pub(crate) fn path(&self, host_path: &str) -> PathBuf {
        self.root.join(host_path.trim_start_matches('/'))
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
    fn explain(&self, dir: RawFd, name: &str, host_path: &str, err: io::Error) -> io::Error {
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

    fn open_root(&self) -> io::Result<OwnedFd> {
        let root = self.root.to_string_lossy();
        openat(libc::AT_FDCWD, &root, libc::O_RDONLY | libc::O_DIRECTORY, 0)
            .map_err(|e| io::Error::new(e.kind(), format!("failed to open {root}: {e}")))
    }

    /// Opens the directory `name` in `dir` (whose host path is `walked`)
    /// without following a link, applying the user rules below the home.
    fn step_into(&self, dir: RawFd, name: &str, walked: &str) -> io::Result<OwnedFd> {
        let next = openat(
            dir,
            name,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )
        .map_err(|e| self.explain(dir, name, walked, e))?;
        if let Some(uid) = self.home_owner(walked) {
            let st = fstat(next.as_raw_fd())?;
            if st.st_uid != uid {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "refusing {}: it belongs to uid {}, not the target user (uid {uid}); krc works in the user's home only inside the user's own directories",
                        self.shown(walked),
                        st.st_uid
                    ),
                ));
            }
        }
        Ok(next)
    }

    /// Opens the directory `host_dir` without following any link.
    fn open_dir(&self, host_dir: &str) -> io::Result<OwnedFd> {
        let mut fd = self.open_root()?;
        let mut walked = String::new();
        for c in components(host_dir)? {
            walked.push('/');
            walked.push_str(c);
            fd = self.step_into(fd.as_raw_fd(), c, &walked)?;
        }
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
        let mut fd = self.open_root()?;
        let mut walked = String::new();
        for (i, c) in comps.iter().enumerate() {
            walked.push('/');
            walked.push_str(c);
            let Some(st) = lstat_at(fd.as_raw_fd(), c)? else {
                return Ok(());
            };
            if i + 1 == comps.len() {
                return if replaced {
                    self.judge_existing(&walked, &st)
                } else {
                    Ok(())
                };
            }
            fd = self.step_into(fd.as_raw_fd(), c, &walked)?;
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
        let st = lstat_at(dir.as_raw_fd(), name).ok()??;
        Some((kind_of(&st), meta_of(&st)))
    }

    pub(crate) fn exists(&self, host_path: &str) -> bool {
        self.meta(host_path).is_some()
    }

    /// Opens a regular file for reading: never through a link, never a
    /// FIFO or device (which could block or lie), and below the home only
    /// the user's own file with one link.
    fn open_file(&self, host_path: &str) -> io::Result<std::fs::File> {
        let (dir, name) = self.parent(host_path)?;
        let fd = openat(
            dir.as_raw_fd(),
            name,
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK,
            0,
        )
        .map_err(|e| self.explain(dir.as_raw_fd(), name, host_path, e))?;
        let st = fstat(fd.as_raw_fd())?;
        self.judge_existing(host_path, &st)?;
        Ok(std::fs::File::from(fd))
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

    pub(crate) fn read(&self, host_path: &str) -> io::Result<Vec<u8>> {
        let mut f = self.open_file(host_path)?;
        let mut out = Vec::new();
        f.read_to_end(&mut out)?;
        Ok(out)
    }

    /// sha256 of a regular file's content; None when absent or not a file.
    pub(crate) fn sha256(&self, host_path: &str) -> Option<String> {
        match self.meta(host_path) {
            Some((Kind::File, _)) => self.read(host_path).ok().map(|b| sha256_hex(&b)),
            _ => None,
        }
    }

    fn chown_fd(&self, fd: RawFd, meta: Meta) -> io::Result<()> {
        // SAFETY: fchown on a descriptor we own.
        match cvt(unsafe { libc::fchown(fd, meta.uid, meta.gid) }) {
            Err(e) if self.lenient_owner && e.raw_os_error() == Some(libc::EPERM) => Ok(()),
            r => r.map(|_| ()),
        }
    }

    fn chmod_fd(fd: RawFd, mode: u32) -> io::Result<()> {
        // SAFETY: fchmod on a descriptor we own.
        cvt(unsafe { libc::fchmod(fd, mode as libc::mode_t) }).map(|_| ())
    }

    /// Writes `bytes` atomically with `meta` set before the rename. An
    /// existing link, directory or special file at the path is refused.
    pub(crate) fn write(&self, host_path: &str, bytes: &[u8], meta: Meta) -> io::Result<()> {
        let (dir, name) = self.parent(host_path)?;
        let d = dir.as_raw_fd();
        if let Some(st) = lstat_at(d, name)? {
            self.judge_existing(host_path, &st)?;
        }
        let (tmp, fd) = loop {
            let tmp = format!(".{name}.krc-{}", random_suffix());
            match openat(
                d,
                &tmp,
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                0o600,
            ) {
                Ok(fd) => break (tmp, fd),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("failed to write {}: {e}", self.shown(host_path)),
                    ));
                }
            }
        };
        let result = (|| {
            let mut f = std::fs::File::from(fd);
            f.write_all(bytes)?;
            self.chown_fd(f.as_raw_fd(), meta)?;
            Self::chmod_fd(f.as_raw_fd(), meta.mode)?;
            f.sync_all()?;
            let (a, b) = (cstr(&tmp)?, cstr(name)?);
            // SAFETY: both names are valid C strings relative to one directory descriptor.
            cvt(unsafe { libc::renameat(d, a.as_ptr(), d, b.as_ptr()) })?;
            Ok(())
        })();
        if result.is_err()
            && let Ok(a) = cstr(&tmp)
        {
            // SAFETY: unlinkat never follows links; the name is ours.
            unsafe { libc::unlinkat(d, a.as_ptr(), 0) };
        }
        result.map_err(|e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("failed to write {}: {e}", self.shown(host_path)),
            )
        })
    }

    pub(crate) fn mkdir(&self, host_path: &str, meta: Meta) -> io::Result<()> {
        let (dir, name) = self.parent(host_path)?;
        let d = dir.as_raw_fd();
        let c = cstr(name)?;
        let fail = |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("failed to create {}: {e}", self.shown(host_path)),
            )
        };
        // Private until its owner and mode are set.
        // SAFETY: a valid C string relative to a directory descriptor.
        cvt(unsafe { libc::mkdirat(d, c.as_ptr(), 0o700) }).map_err(fail)?;
        let fd = openat(
            d,
            name,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )
        .map_err(|e| self.explain(d, name, host_path, e))?;
        self.chown_fd(fd.as_raw_fd(), meta).map_err(fail)?;
        Self::chmod_fd(fd.as_raw_fd(), meta.mode).map_err(fail)
    }

    pub(crate) fn symlink(&self, host_path: &str, target: &str, meta: Meta) -> io::Result<()> {
        let (dir, name) = self.parent(host_path)?;
        let (t, n) = (cstr(target)?, cstr(name)?);
        // SAFETY: valid C strings relative to a directory descriptor.
        cvt(unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), n.as_ptr()) })?;
        // SAFETY: AT_SYMLINK_NOFOLLOW changes the link itself.
        match cvt(unsafe {
            libc::fchownat(
                dir.as_raw_fd(),
                n.as_ptr(),
                meta.uid,
                meta.gid,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        }) {
            Err(e) if !(self.lenient_owner && e.raw_os_error() == Some(libc::EPERM)) => Err(e),
            _ => Ok(()),
        }
    }

    pub(crate) fn read_link(&self, host_path: &str) -> Option<String> {
        let (dir, name) = self.parent(host_path).ok()?;
        readlink_at(dir.as_raw_fd(), name).ok()
    }

    fn unlink(&self, host_path: &str, flags: libc::c_int) -> io::Result<()> {
        let (dir, name) = self.parent(host_path)?;
        let c = cstr(name)?;
        // SAFETY: unlinkat removes the name itself and never follows a link.
        cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), flags) }).map(|_| ())
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
        Ok(lstat_at(dir.as_raw_fd(), name)?.map(|st| (kind_of(&st), meta_of(&st))))
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
        let fs = TreeFs::new(d.path(), false);
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
        let fs = TreeFs::new(&tree, false);
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
