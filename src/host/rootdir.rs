//! Opening host files for facts so that neither a `--root` tree nor a file
//! an unprivileged user planted can steer root elsewhere.
//!
//! - A tree is a descriptor, and every path resolves with
//!   `openat2(RESOLVE_IN_ROOT)`: an absolute symlink in the tree points into
//!   the tree and `..` stops at its top, as if the tree were `/`.
//! - The final component is opened with `O_NOFOLLOW`. A final symlink is
//!   followed (by reading it and resolving its target the same way) only
//!   when a user cannot have planted it: inside a tree, where it stays in
//!   the tree anyway, or on the live host when root owns it
//!   (`/etc/os-release`, `/etc/sysctl.d/99-sysctl.conf`).
//! - Files are opened `O_NONBLOCK|O_NOCTTY` and checked with `fstat` to be
//!   regular before a byte is read: a FIFO, socket or device is reported as
//!   not a regular file, never waited on.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// Symlinks followed per lookup before giving up (the kernel's own limit).
const MAX_LINKS: usize = 40;

/// The directory host paths resolve in.
#[derive(Debug)]
pub(crate) struct RootDir {
    fd: OwnedFd,
    /// A `--root` tree rather than the live `/`.
    tree: bool,
}

/// Why a file was not opened, beyond what errno says.
pub(crate) fn not_regular(kind: &str) -> io::Error {
    io::Error::other(format!(
        "not a regular file ({kind}); krc reads facts only from regular files"
    ))
}

impl RootDir {
    /// `dir` as the root: the live host when it is `/`.
    pub(crate) fn open(dir: &Path) -> io::Result<RootDir> {
        use std::os::unix::ffi::OsStrExt;
        let c = CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: c is NUL-terminated; the result is checked before use.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(RootDir {
            fd,
            tree: dir != Path::new("/"),
        })
    }

    /// One `openat2` from the root; `O_CLOEXEC` and `O_NOFOLLOW` always.
    fn openat2(&self, path: &str, flags: libc::c_int) -> io::Result<OwnedFd> {
        let rel = path.trim_start_matches('/');
        let c = CString::new(if rel.is_empty() { "." } else { rel })
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let flags = flags | libc::O_CLOEXEC | libc::O_NOFOLLOW;
        // SAFETY: open_how is plain integers; all-zero is its documented default.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = flags as u64;
        how.resolve = if self.tree { libc::RESOLVE_IN_ROOT } else { 0 };
        for _ in 0..8 {
            // SAFETY: c is NUL-terminated, how lives across the call and its
            // size is passed; the result is checked before use.
            let fd = unsafe {
                libc::syscall(
                    libc::SYS_openat2,
                    self.fd.as_raw_fd(),
                    c.as_ptr(),
                    &how as *const libc::open_how,
                    std::mem::size_of::<libc::open_how>(),
                )
            };
            if fd >= 0 {
                // SAFETY: a fresh descriptor nobody else owns.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) });
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                // A rename somewhere in the tree raced the lookup: retry.
                Some(libc::EAGAIN) => continue,
                // No openat2 (Linux < 5.6, or a seccomp filter that predates it).
                Some(libc::ENOSYS) | Some(libc::EPERM) if !self.tree => {
                    return self.openat(&c, flags);
                }
                Some(libc::ENOSYS) => {
                    return Err(io::Error::other(
                        "--root needs openat2 (Linux 5.6 or later) to keep every path inside the tree; judge the tree on a newer kernel",
                    ));
                }
                _ => return Err(e),
            }
        }
        Err(io::Error::from_raw_os_error(libc::EAGAIN))
    }

    /// The live host on a kernel without openat2: plain `openat` from `/`.
    fn openat(&self, c: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
        // SAFETY: c is NUL-terminated; the result is checked before use.
        let fd = unsafe { libc::openat(self.fd.as_raw_fd(), c.as_ptr(), flags) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor nobody else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Opens a host path with `flags`, following a final symlink only by
    /// the policy in the module comment.
    pub(crate) fn open_path(&self, host_path: &str, flags: libc::c_int) -> io::Result<OwnedFd> {
        let mut path = host_path.to_string();
        for _ in 0..MAX_LINKS {
            match self.openat2(&path, flags) {
                Ok(fd) if flags & libc::O_PATH == 0 => return Ok(fd),
                Ok(fd) => {
                    if fstat(&fd)?.st_mode & libc::S_IFMT != libc::S_IFLNK {
                        return Ok(fd);
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {}
                Err(e) => return Err(e),
            }
            path = self.follow(&path)?;
        }
        Err(io::Error::from_raw_os_error(libc::ELOOP))
    }

    /// The path a final symlink names, if it may be followed.
    fn follow(&self, path: &str) -> io::Result<String> {
        let link = self.openat2(path, libc::O_PATH)?;
        let st = fstat(&link)?;
        if st.st_mode & libc::S_IFMT != libc::S_IFLNK {
            // ELOOP from the lookup itself: too many links in the middle.
            return Err(io::Error::from_raw_os_error(libc::ELOOP));
        }
        // krc's own links are as trusted as krc (a user running krc for
        // themselves); otherwise only root's.
        let me = nix::unistd::geteuid().as_raw();
        if !self.tree && st.st_uid != 0 && st.st_uid != me {
            return Err(io::Error::other(format!(
                "a symlink owned by uid {}, not followed by root",
                st.st_uid
            )));
        }
        let target = readlink_fd(&link)?;
        Ok(if target.starts_with('/') {
            target
        } else {
            let parent = path
                .trim_end_matches('/')
                .rsplit_once('/')
                .map_or("", |p| p.0);
            format!("{parent}/{target}")
        })
    }

    /// The bytes of a regular file.
    pub(crate) fn read(&self, host_path: &str) -> io::Result<Vec<u8>> {
        use std::io::Read;
        let fd = self.open_path(
            host_path,
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY,
        )?;
        let st = fstat(&fd)?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(not_regular(kind_name(st.st_mode)));
        }
        let mut bytes = Vec::new();
        std::fs::File::from(fd).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    /// `fstat` of the file itself (a final symlink followed by the policy),
    /// with an `O_PATH` descriptor for further questions.
    pub(crate) fn stat(&self, host_path: &str) -> io::Result<(libc::stat, OwnedFd)> {
        let fd = self.open_path(host_path, libc::O_PATH)?;
        Ok((fstat(&fd)?, fd))
    }

    /// Names in a directory, unsorted, without `.` and `..`.
    pub(crate) fn list_dir(&self, host_path: &str) -> io::Result<Vec<String>> {
        let (st, at) = self.stat(host_path)?;
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        // SAFETY: "." from an O_PATH directory descriptor reopens that
        // same directory for reading; the result is checked.
        let fd = unsafe {
            libc::openat(
                at.as_raw_fd(),
                c".".as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fdopendir takes ownership of fd (closedir closes it); on
        // failure it does not, so close it ourselves.
        let dir = unsafe { libc::fdopendir(fd) };
        if dir.is_null() {
            let e = io::Error::last_os_error();
            // SAFETY: fd is ours and still open.
            unsafe { libc::close(fd) };
            return Err(e);
        }
        let mut names = Vec::new();
        loop {
            // SAFETY: dir is a valid stream used by this thread only.
            let ent = unsafe { libc::readdir(dir) };
            if ent.is_null() {
                break;
            }
            // SAFETY: d_name is NUL-terminated within the entry readdir returned.
            let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) };
            let name = name.to_string_lossy();
            if name != "." && name != ".." {
                names.push(name.into_owned());
            }
        }
        // SAFETY: dir came from fdopendir and is closed once.
        unsafe { libc::closedir(dir) };
        Ok(names)
    }
}

pub(crate) fn fstat(fd: &OwnedFd) -> io::Result<libc::stat> {
    // SAFETY: stat is plain data, filled in by fstat on success.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open and st is writable.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

fn readlink_fd(fd: &OwnedFd) -> io::Result<String> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: an empty path with an O_PATH symlink descriptor reads that
    // link; buf is writable for its length.
    let n = unsafe {
        libc::readlinkat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    String::from_utf8(buf).map_err(|_| io::Error::other("a symlink whose target is not UTF-8"))
}

/// "a FIFO", "a socket": what `fstat` found instead of a regular file.
pub(crate) fn kind_name(mode: libc::mode_t) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFREG => "a regular file",
        libc::S_IFDIR => "a directory",
        libc::S_IFIFO => "a FIFO",
        libc::S_IFSOCK => "a socket",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        libc::S_IFLNK => "a symlink",
        _ => "an unknown kind of file",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn absolute_symlinks_and_dotdot_stay_in_the_tree() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path();
        std::fs::create_dir_all(t.join("etc")).unwrap();
        std::fs::write(t.join("etc/hostname"), "tree\n").unwrap();
        symlink("/etc/hostname", t.join("etc/abs")).unwrap();
        symlink("../../../../../etc/hostname", t.join("etc/up")).unwrap();
        symlink("/", t.join("etc/rootdir")).unwrap();
        let r = RootDir::open(t).unwrap();
        assert_eq!(r.read("/etc/abs").unwrap(), b"tree\n");
        assert_eq!(r.read("/etc/up").unwrap(), b"tree\n");
        assert_eq!(r.read("/../../../etc/hostname").unwrap(), b"tree\n");
        assert_eq!(r.read("/etc/rootdir/etc/hostname").unwrap(), b"tree\n");
        let mut names = r.list_dir("/etc/rootdir/").unwrap();
        names.sort();
        assert_eq!(names, ["etc"]);
    }

    #[test]
    fn a_fifo_is_refused_without_waiting() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("lock");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let r = RootDir::open(d.path()).unwrap();
        let e = r.read("/lock").unwrap_err();
        assert!(e.to_string().contains("not a regular file (a FIFO)"), "{e}");
    }

    #[test]
    fn live_root_follows_only_root_owned_final_symlinks() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("f"), "x").unwrap();
        let link = d.path().join("l");
        symlink(d.path().join("f"), &link).unwrap();
        let live = RootDir::open(Path::new("/")).unwrap();
        let host_path = link.to_str().unwrap();
        assert_eq!(live.read(host_path).unwrap(), b"x", "krc's own link");
        if nix::unistd::geteuid().is_root() {
            // A link planted by another user.
            std::os::unix::fs::lchown(&link, Some(1234), None).unwrap();
            let e = live.read(host_path).unwrap_err();
            assert!(e.to_string().contains("not followed by root"), "{e}");
        }
    }
}
