//! Opening host files for facts through the one file layer
//! ([`crate::safefs`]): the root (`/` or a `--root` tree) is a descriptor
//! opened once; every path resolves from it without following a link the
//! policy there refuses (any link below the target user's home, a user's
//! link anywhere on the live host); a tree's own links resolve inside the
//! tree, as if it were `/`. Files are opened `O_NONBLOCK|O_NOCTTY`, must be
//! regular (a FIFO, socket or device is reported, never waited on) and are
//! read up to their kind's cap only.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use crate::safefs::{Refusal, Root, sys};

/// The directory host paths resolve in.
#[derive(Debug, Clone)]
pub(crate) struct RootDir {
    root: Root,
}

/// Why a file was not opened, beyond what errno says.
pub(crate) fn not_regular(kind: &'static str) -> io::Error {
    Refusal::NotRegular { kind }.into_io()
}

impl RootDir {
    /// `dir` as the root: the live host when it is `/`.
    pub(crate) fn open(dir: &Path) -> io::Result<RootDir> {
        Ok(RootDir {
            root: Root::open(dir)?,
        })
    }

    /// The same descriptor, with no link followed below `home`.
    pub(crate) fn with_home(&self, home: &str) -> RootDir {
        RootDir {
            root: self.root.clone().with_home(home),
        }
    }

    /// The layer's root, for the installer and the kubeconfig reader.
    pub(crate) fn root(&self) -> &Root {
        &self.root
    }

    pub(crate) fn is_tree(&self) -> bool {
        self.root.is_tree()
    }

    /// Opens a host path with `flags`, following links by the layer's policy.
    pub(crate) fn open_path(&self, host_path: &str, flags: libc::c_int) -> io::Result<OwnedFd> {
        self.root.open_at(host_path, flags)
    }

    /// The bytes of a regular file, at most its kind's cap.
    pub(crate) fn read(&self, host_path: &str) -> io::Result<Vec<u8>> {
        self.root.read_here(host_path)
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
        // "." from an O_PATH directory descriptor reopens that same
        // directory for reading.
        let fd = sys::openat(at.as_fd(), ".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        let fd = std::os::fd::IntoRawFd::into_raw_fd(fd);
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
    sys::fstat(fd.as_fd())
}

/// "a FIFO", "a socket": what `fstat` found instead of a regular file.
pub(crate) fn kind_name(mode: libc::mode_t) -> &'static str {
    sys::kind_name(mode)
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
    fn live_root_follows_only_root_owned_symlinks_and_none_below_the_home() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("dir")).unwrap();
        std::fs::write(d.path().join("dir/f"), "x").unwrap();
        let link = d.path().join("l");
        symlink(d.path().join("dir/f"), &link).unwrap();
        let dlink = d.path().join("dl");
        symlink(d.path().join("dir"), &dlink).unwrap();
        let live = RootDir::open(Path::new("/")).unwrap();
        let host_path = link.to_str().unwrap();
        assert_eq!(live.read(host_path).unwrap(), b"x", "krc's own link");
        let through = format!("{}/f", dlink.display());
        assert_eq!(live.read(&through).unwrap(), b"x", "a directory link");
        let home = live.with_home(d.path().to_str().unwrap());
        let e = home.read(&through).unwrap_err();
        assert!(e.to_string().contains("below the user's home"), "{e}");
        assert!(home.read(host_path).is_err());
        if nix::unistd::geteuid().is_root() {
            // A link planted by another user, at the file or on the way.
            std::os::unix::fs::lchown(&link, Some(1234), None).unwrap();
            std::os::unix::fs::lchown(&dlink, Some(1234), None).unwrap();
            let e = live.read(host_path).unwrap_err();
            assert!(e.to_string().contains("not followed by root"), "{e}");
            let e = live.read(&through).unwrap_err();
            assert!(e.to_string().contains("not followed by root"), "{e}");
        }
    }
}
