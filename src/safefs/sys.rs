//! The raw descriptor calls the file layer is made of, each returning an
//! `io::Result` so the rest of the layer has no `unsafe` of its own.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `Ok(v)` for a non-negative return value, the errno otherwise.
pub(crate) fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

pub(crate) fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in a path"))
}

/// `openat(dir, name, flags | O_CLOEXEC, mode)`.
pub(crate) fn openat(
    dir: BorrowedFd<'_>,
    name: &str,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    let c = cstr(name)?;
    // SAFETY: a valid C string and descriptor; the result is checked.
    let fd = cvt(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c.as_ptr(),
            flags | libc::O_CLOEXEC,
            libc::c_uint::from(mode),
        )
    })?;
    // SAFETY: a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Outcome of one `openat2` that the kernel may not offer.
pub(crate) enum Openat2 {
    Opened(OwnedFd),
    /// Linux < 5.6, or a seccomp filter that predates the call.
    Missing,
    Failed(io::Error),
}

/// `openat2(dir, rel, flags | O_CLOEXEC, resolve)`, retried on EAGAIN
/// (a rename elsewhere raced the lookup).
pub(crate) fn openat2(dir: BorrowedFd<'_>, rel: &str, flags: libc::c_int, resolve: u64) -> Openat2 {
    let c = match cstr(if rel.is_empty() { "." } else { rel }) {
        Ok(c) => c,
        Err(e) => return Openat2::Failed(e),
    };
    // SAFETY: open_how is plain integers; all-zero is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = resolve;
    for _ in 0..8 {
        // SAFETY: c is NUL-terminated, how lives across the call and its
        // size is passed; the result is checked before use.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd >= 0 {
            // SAFETY: a fresh descriptor nobody else owns.
            return Openat2::Opened(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) });
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) => continue,
            Some(libc::ENOSYS) | Some(libc::EPERM) => return Openat2::Missing,
            _ => return Openat2::Failed(e),
        }
    }
    Openat2::Failed(io::Error::from_raw_os_error(libc::EAGAIN))
}

pub(crate) fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    // SAFETY: stat is plain data, filled in by fstat on success.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open and st is writable.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`: None when absent.
pub(crate) fn lstat_at(dir: BorrowedFd<'_>, name: &str) -> io::Result<Option<libc::stat>> {
    let c = cstr(name)?;
    // SAFETY: as in fstat, with a valid C string.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    match cvt(unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            c.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    }) {
        Ok(_) => Ok(Some(st)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// What the link `name` in `dir` says ("" with an `O_PATH` link
/// descriptor reads that link); only its text, the target is never opened.
pub(crate) fn readlink_at(dir: BorrowedFd<'_>, name: &str) -> io::Result<String> {
    let c = cstr(name)?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: the buffer is valid for its length; readlinkat does not NUL-terminate.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            c.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// A second descriptor of the same open directory.
pub(crate) fn dup(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    fd.try_clone_to_owned()
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
        libc::S_IFLNK => "a symbolic link",
        _ => "an unknown kind of file",
    }
}

pub(crate) fn is_kind(st: &libc::stat, kind: libc::mode_t) -> bool {
    st.st_mode & libc::S_IFMT == kind
}
