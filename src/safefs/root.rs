//! The root every path resolves in: the live `/` or a `--root` tree, opened
//! ONCE as a descriptor and never again by path, so renaming the tree (or
//! swapping it for a link to `/`) after the first read changes nothing.
//!
//! A path resolves one component at a time from that descriptor, each
//! opened with `O_NOFOLLOW`; `..` goes back to the directory it came from
//! and stops at the root. A link on the way is followed only when
//! [`Root::may_follow`] allows it (the one place that policy lives):
//! - never below the target user's home, nor anywhere for a root built
//!   with [`Root::never_follow`] (the installer's writes, offline bundles);
//! - in a tree, any other link (it resolves inside the tree, as if the
//!   tree were `/`);
//! - on the live host, a link root (or krc's own user) owns in a directory
//!   root owns that no group or other can write: `/lib -> usr/lib`,
//!   `/etc/os-release -> ../usr/lib/os-release`, never a user's link.
//!
//! A read first tries one `openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|
//! RESOLVE_NO_MAGICLINKS)` (`RESOLVE_IN_ROOT` for a tree): it succeeds only
//! when no link is on the way, and the walk above handles the rest (and a
//! kernel without openat2).

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::caps::Cap;
use super::read;
use super::refusal::Refusal;
use super::sys;

/// Links followed per lookup before giving up (the kernel's own limit).
const MAX_LINKS: usize = 40;

/// What a walk does with a directory it steps into (the installer's owner
/// rule below the home); its error stops the walk.
pub(crate) type Visit<'a> = &'a mut dyn FnMut(&str, &libc::stat) -> io::Result<()>;

#[derive(Debug, Clone)]
pub(crate) struct Root {
    fd: Arc<OwnedFd>,
    /// Where the root is, for messages and for programs given a path.
    shown: PathBuf,
    tree: bool,
    /// The target user's home: no link below it is ever followed.
    home: Option<String>,
    never: bool,
}

/// `host_path` split into its names (`.` and empty ones dropped).
fn names(host_path: &str) -> impl Iterator<Item = &str> {
    host_path.split('/').filter(|c| !c.is_empty() && *c != ".")
}

/// Is `path` strictly below `dir`?
pub(crate) fn below(path: &str, dir: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    path.strip_prefix(dir)
        .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
}

impl Root {
    /// Opens `dir` as the root (the live host when it is `/`). The one
    /// open by path: the operator named it.
    pub(crate) fn open(dir: &Path) -> io::Result<Root> {
        let shown = dir.to_string_lossy();
        let fd = sys::openat(rustix_cwd(), &shown, libc::O_PATH | libc::O_DIRECTORY, 0)?;
        let tree = !is_slash(fd.as_fd())?;
        Ok(Root {
            fd: Arc::new(fd),
            shown: dir.to_path_buf(),
            tree,
            home: None,
            never: false,
        })
    }

    /// The live host.
    pub(crate) fn live() -> io::Result<Root> {
        Root::open(Path::new("/"))
    }

    /// No link below `home` is followed (the target user's home).
    pub(crate) fn with_home(mut self, home: &str) -> Root {
        let h = home.trim_end_matches('/');
        self.home = (!h.is_empty()).then(|| h.to_string());
        self
    }

    /// No link anywhere is followed.
    pub(crate) fn never_follow(mut self) -> Root {
        self.never = true;
        self
    }

    pub(crate) fn is_tree(&self) -> bool {
        self.tree
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Where `host_path` is on disk, to name it (and only to name it).
    pub(crate) fn path(&self, host_path: &str) -> PathBuf {
        self.shown.join(host_path.trim_start_matches('/'))
    }

    /// The root itself, as the operator named it.
    pub(crate) fn top(&self) -> String {
        self.shown.display().to_string()
    }

    pub(crate) fn shown(&self, host_path: &str) -> String {
        self.path(host_path).display().to_string()
    }

    /// The policy of the module comment for the link at `here` (in the
    /// directory `parent`, at host path `parent_path`).
    fn may_follow(
        &self,
        parent: BorrowedFd<'_>,
        here: &str,
        link: &libc::stat,
        to: &str,
    ) -> Result<(), Refusal> {
        let refuse = |why: String| {
            Err(Refusal::Link {
                path: self.shown(here),
                to: to.to_string(),
                why,
            })
        };
        if self.never {
            return refuse(
                "krc never follows links here; replace the link with the real directory or file"
                    .into(),
            );
        }
        if let Some(h) = &self.home
            && below(here, h)
        {
            return refuse(format!(
                "it is below the user's home {h}, where krc follows no link; replace it with the real directory or file"
            ));
        }
        if self.tree {
            return Ok(());
        }
        let me = nix::unistd::geteuid().as_raw();
        let trusted = |uid: u32| uid == 0 || uid == me;
        if !trusted(link.st_uid) {
            return refuse(format!(
                "it belongs to uid {}; root follows only its own links",
                link.st_uid
            ));
        }
        match sys::fstat(parent) {
            Ok(p) if trusted(p.st_uid) && p.st_mode & 0o022 == 0 => Ok(()),
            Ok(p) => refuse(format!(
                "its directory (uid {}, mode {:o}) is not root's alone",
                p.st_uid,
                p.st_mode & 0o7777
            )),
            Err(e) => refuse(format!("its directory cannot be checked: {e}")),
        }
    }

    /// Resolves `host_path` by the walk of the module comment. The final
    /// name is opened with `flags` (`None`: as a directory to work in).
    /// Returns the descriptor and the path it was found at.
    pub(crate) fn walk(
        &self,
        host_path: &str,
        flags: Option<libc::c_int>,
        visit: Visit<'_>,
    ) -> io::Result<(OwnedFd, String)> {
        let mut stack: Vec<(OwnedFd, String)> = vec![(sys::dup(self.fd())?, String::new())];
        let mut todo: VecDeque<String> = names(host_path).map(str::to_string).collect();
        let mut links = 0;
        while let Some(c) = todo.pop_front() {
            if c == ".." {
                if stack.len() > 1 {
                    stack.pop();
                }
                continue;
            }
            let last = todo.is_empty();
            let (dir, dpath) = stack.last().expect("the root stays on the stack");
            let here = format!("{dpath}/{c}");
            let opened = match flags.filter(|_| last) {
                Some(f) => match sys::openat(dir.as_fd(), &c, f | libc::O_NOFOLLOW, 0) {
                    Ok(fd) if f & libc::O_PATH == 0 => return Ok((fd, here)),
                    Ok(fd) => Ok(fd),
                    Err(e) => {
                        match sys::openat(dir.as_fd(), &c, libc::O_PATH | libc::O_NOFOLLOW, 0) {
                            Ok(l) if sys::is_kind(&sys::fstat(l.as_fd())?, libc::S_IFLNK) => Ok(l),
                            _ => Err(e),
                        }
                    }
                },
                None => sys::openat(dir.as_fd(), &c, libc::O_PATH | libc::O_NOFOLLOW, 0),
            }?;
            let st = sys::fstat(opened.as_fd())?;
            if sys::is_kind(&st, libc::S_IFLNK) {
                let to = sys::readlink_at(opened.as_fd(), "")?;
                self.may_follow(dir.as_fd(), &here, &st, &to)
                    .map_err(Refusal::into_io)?;
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                if to.starts_with('/') {
                    stack.truncate(1);
                }
                for n in names(&to).collect::<Vec<_>>().into_iter().rev() {
                    todo.push_front(n.to_string());
                }
                continue;
            }
            if last && flags.is_some() {
                return Ok((opened, here));
            }
            if !sys::is_kind(&st, libc::S_IFDIR) {
                return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
            }
            visit(&here, &st)?;
            stack.push((opened, here));
        }
        let (fd, p) = stack.pop().expect("the root stays on the stack");
        Ok((fd, p))
    }

    /// Opens `host_path` with `flags` (`O_NOFOLLOW` always added).
    pub(crate) fn open_at(&self, host_path: &str, flags: libc::c_int) -> io::Result<OwnedFd> {
        if !host_path.split('/').any(|c| c == "..") {
            let resolve = libc::RESOLVE_NO_SYMLINKS
                | libc::RESOLVE_NO_MAGICLINKS
                | if self.tree {
                    libc::RESOLVE_IN_ROOT
                } else {
                    libc::RESOLVE_BENEATH
                };
            let rel = host_path.trim_start_matches('/');
            match sys::openat2(self.fd(), rel, flags | libc::O_NOFOLLOW, resolve) {
                sys::Openat2::Opened(fd) => {
                    // O_PATH|O_NOFOLLOW hands back a final link itself,
                    // which the walk judges.
                    let link = flags & libc::O_PATH != 0
                        && sys::is_kind(&sys::fstat(fd.as_fd())?, libc::S_IFLNK);
                    if !link {
                        return Ok(fd);
                    }
                }
                sys::Openat2::Failed(e)
                    if !matches!(e.raw_os_error(), Some(libc::ELOOP | libc::EXDEV)) =>
                {
                    return Err(e);
                }
                _ => {}
            }
        }
        self.walk(host_path, Some(flags), &mut |_, _| Ok(()))
            .map(|r| r.0)
    }

    /// Opens the directory `host_dir` (links on the way by the policy).
    pub(crate) fn open_dir(&self, host_dir: &str) -> io::Result<OwnedFd> {
        self.walk(host_dir, None, &mut |_, _| Ok(())).map(|r| r.0)
    }

    /// The bytes of the regular file `host_path`, at most `cap`.
    pub(crate) fn read(&self, host_path: &str, cap: Cap) -> io::Result<Vec<u8>> {
        let fd = self.open_at(
            host_path,
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY,
        )?;
        read::read_fd(fd, cap)
    }

    /// As [`Root::read`], with the cap where the path is.
    pub(crate) fn read_here(&self, host_path: &str) -> io::Result<Vec<u8>> {
        self.read(host_path, Cap::of_path(host_path, self.home.as_deref()))
    }
}

fn rustix_cwd() -> BorrowedFd<'static> {
    // SAFETY: AT_FDCWD is a valid "descriptor" for the *at calls forever.
    unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) }
}

/// Is `fd` the directory `/` of this process?
fn is_slash(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let st = sys::fstat(fd)?;
    let slash = std::fs::metadata("/")?;
    use std::os::unix::fs::MetadataExt;
    Ok(st.st_dev == slash.dev() && st.st_ino == slash.ino())
}
