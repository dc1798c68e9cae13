//! Changes relative to a directory descriptor the walk opened: a write is
//! an `O_EXCL|O_NOFOLLOW` temporary file with a random name in that same
//! directory, owner and mode set on its descriptor, flushed, then
//! `renameat` within the directory (which replaces a planted link or FIFO
//! at the name, never follows it). No path is looked up again by name
//! from the top, so nothing renamed meanwhile can redirect a write.

use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;

use super::root::Root;
use super::sys::{self, cstr, cvt};

/// Owner and mode a change leaves on what it creates.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Owner {
    pub(crate) mode: u32,
    /// `None`: whoever krc runs as.
    pub(crate) ids: Option<(u32, u32)>,
    /// A chown this process may not do (a tree written by a non-root
    /// user) is skipped rather than failed.
    pub(crate) lenient: bool,
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

fn chown_fd(fd: BorrowedFd<'_>, owner: Owner) -> io::Result<()> {
    let Some((uid, gid)) = owner.ids else {
        return Ok(());
    };
    // SAFETY: fchown on an open descriptor.
    match cvt(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) }) {
        Err(e) if owner.lenient && e.raw_os_error() == Some(libc::EPERM) => Ok(()),
        r => r.map(drop),
    }
}

fn chmod_fd(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    // SAFETY: fchmod on an open descriptor.
    cvt(unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) }).map(drop)
}

/// Replaces `name` in `dir` with `bytes`, atomically.
pub(crate) fn write_at(
    dir: BorrowedFd<'_>,
    name: &str,
    bytes: &[u8],
    owner: Owner,
) -> io::Result<()> {
    let (tmp, fd) = loop {
        let tmp = format!(".{name}.krc-{}", random_suffix());
        match sys::openat(
            dir,
            &tmp,
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
            0o600,
        ) {
            Ok(fd) => break (tmp, fd),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    };
    let result = (|| {
        let mut f = std::fs::File::from(fd);
        f.write_all(bytes)?;
        chown_fd(f.as_fd(), owner)?;
        chmod_fd(f.as_fd(), owner.mode)?;
        f.sync_all()?;
        let (a, b) = (cstr(&tmp)?, cstr(name)?);
        // SAFETY: both names are valid C strings relative to one directory descriptor.
        cvt(unsafe { libc::renameat(dir.as_raw_fd(), a.as_ptr(), dir.as_raw_fd(), b.as_ptr()) })
            .map(drop)
    })();
    if result.is_err()
        && let Ok(a) = cstr(&tmp)
    {
        // SAFETY: unlinkat never follows links; the name is ours.
        unsafe { libc::unlinkat(dir.as_raw_fd(), a.as_ptr(), 0) };
    }
    result
}

/// Creates the directory `name` in `dir`, private until owner and mode
/// are set on its descriptor.
pub(crate) fn mkdir_at(dir: BorrowedFd<'_>, name: &str, owner: Owner) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: a valid C string relative to a directory descriptor.
    cvt(unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), 0o700) })?;
    let fd = sys::openat(
        dir,
        name,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
    )?;
    chown_fd(fd.as_fd(), owner)?;
    chmod_fd(fd.as_fd(), owner.mode)
}

/// The link `name` -> `target` in `dir`, owned as `owner` says.
pub(crate) fn symlink_at(
    dir: BorrowedFd<'_>,
    name: &str,
    target: &str,
    owner: Owner,
) -> io::Result<()> {
    let (t, n) = (cstr(target)?, cstr(name)?);
    // SAFETY: valid C strings relative to a directory descriptor.
    cvt(unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), n.as_ptr()) })?;
    let Some((uid, gid)) = owner.ids else {
        return Ok(());
    };
    // SAFETY: AT_SYMLINK_NOFOLLOW changes the link itself.
    match cvt(unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            n.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    }) {
        Err(e) if !(owner.lenient && e.raw_os_error() == Some(libc::EPERM)) => Err(e),
        _ => Ok(()),
    }
}

/// `unlinkat(dir, name, flags)`: the name itself, never what it points at.
pub(crate) fn unlink_at(dir: BorrowedFd<'_>, name: &str, flags: libc::c_int) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: unlinkat removes the name itself and never follows a link.
    cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), flags) }).map(drop)
}

/// Writes a report (`--junit`, `--json`, `--html`): its directory resolved
/// once by the walk from `/` (a link there that root does not own, in a
/// directory only root can write, is refused with its name), then the
/// file replaced atomically in that directory, readable by all.
pub(crate) fn write_report(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_top(path, bytes, 0o644)
}

/// As [`write_report`], readable by root alone (a capture of the host).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_top(path, bytes, 0o600)
}

fn write_top(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let fail =
        |e: io::Error| io::Error::new(e.kind(), format!("failed to write {}: {e}", path.display()));
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map_err(fail)?.join(path)
    };
    let name = abs
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            fail(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a file name",
            ))
        })?;
    let dir_path = abs
        .parent()
        .unwrap_or(Path::new("/"))
        .to_string_lossy()
        .into_owned();
    let root = Root::live().map_err(fail)?;
    let dir = root.open_dir(&dir_path).map_err(fail)?;
    let owner = Owner {
        mode,
        ids: None,
        lenient: false,
    };
    write_at(dir.as_fd(), &name, bytes, owner).map_err(fail)
}
