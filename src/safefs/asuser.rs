//! Changes below the target user's home made with the user's own
//! credentials: on a thread of its own whose filesystem uid and gid and
//! supplementary groups are the user's. `setfsuid`, `setfsgid` and
//! `setgroups` are per-thread in the kernel; the raw syscalls are used
//! because glibc's wrappers change every thread of the process. While its
//! fsuid is not 0 the thread has none of root's filesystem capabilities,
//! so the kernel itself refuses what the user could not do (write into a
//! directory the user may not write, replace a file that is not theirs).

use std::io;

/// Runs `f` as `ids` (uid, gid) on a thread of its own; `None`: as krc
/// runs, on this thread.
pub(crate) fn run_as<T: Send>(
    ids: Option<(u32, u32)>,
    f: impl FnOnce() -> io::Result<T> + Send,
) -> io::Result<T> {
    let Some((uid, gid)) = ids else {
        return f();
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            become_user(uid, gid)?;
            f()
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the thread acting as the user panicked")))
    })
}

/// This thread only: groups `[gid]`, fsgid `gid`, fsuid `uid`, each
/// checked (setfs*id report the previous value, never an error).
fn become_user(uid: u32, gid: u32) -> io::Result<()> {
    let groups = [gid as libc::gid_t];
    // SAFETY: the raw syscall changes this thread's groups only; the
    // array is valid for one element.
    if unsafe { libc::syscall(libc::SYS_setgroups, 1usize, groups.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: setfsgid/setfsuid take an id and change this thread only;
    // a second call returns the value now in force.
    let (g, u) = unsafe {
        libc::syscall(libc::SYS_setfsgid, gid as libc::c_long);
        let g = libc::syscall(libc::SYS_setfsgid, gid as libc::c_long);
        libc::syscall(libc::SYS_setfsuid, uid as libc::c_long);
        let u = libc::syscall(libc::SYS_setfsuid, uid as libc::c_long);
        (g, u)
    };
    if g != libc::c_long::from(gid) || u != libc::c_long::from(uid) {
        return Err(io::Error::other(format!(
            "could not act as uid {uid} gid {gid} (fsuid {u}, fsgid {g})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_refuses_what_the_user_could_not_do() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let theirs = d.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::os::unix::fs::chown(&theirs, Some(4242), Some(4242)).unwrap();
        // A directory of the user's: creating there works, and as them.
        run_as(Some((4242, 4242)), || {
            std::fs::write(theirs.join("f"), b"x")
        })
        .unwrap();
        let m = std::fs::metadata(theirs.join("f")).unwrap();
        assert_eq!(std::os::unix::fs::MetadataExt::uid(&m), 4242);
        // Root's own directory (0700 tempdir): refused by the kernel.
        let e = run_as(Some((4242, 4242)), || {
            std::fs::write(d.path().join("g"), b"x")
        })
        .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        // This thread is still root.
        std::fs::write(d.path().join("h"), b"x").unwrap();
    }
}
