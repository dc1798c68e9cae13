//! The user manager's state without spawning `systemctl` (≈ 20–30 ms, two
//! execs of systemd's tools under `-M user@`): the same first steps
//! `systemctl` takes, done in-process, with `systemctl` still the fallback
//! for every case these steps do not settle.
//!
//! - Own user, local transport: `systemctl is-system-running` prints
//!   `offline` without asking anyone when the machine was not booted with
//!   systemd (`/run/systemd/system` is not a directory, `sd_booted()`).
//! - Any mode: the manager's private socket (`/run/user/UID/systemd/private`,
//!   the socket `systemctl --user` itself tries first) answers the D-Bus
//!   property `Manager.SystemState`, the very word `is-system-running`
//!   prints. The peer must be a process of the user (`SO_PEERCRED`): the
//!   socket sits in the user's own directory.
//! - Root for another user (`-M user@`): systemd-run needs the system bus;
//!   when its socket does not exist, systemctl fails with
//!   `Failed to connect to bus: No such file or directory`, said here too.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

const SYSTEM_BUS: &str = "/run/dbus/system_bus_socket";
const IO_TIMEOUT: Duration = Duration::from_secs(1);

/// `sd_booted()`: was this machine booted with systemd?
pub(crate) fn sd_booted() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// The error systemd-run reports when the system bus socket is absent, or
/// None when it exists (then systemctl must be asked).
pub(crate) fn system_bus_absent() -> Option<String> {
    match UnixStream::connect(SYSTEM_BUS) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            Some(format!("Failed to connect to bus: {}", strerror(&e)))
        }
        _ => None,
    }
}

/// The C library's wording of an errno, without Rust's " (os error N)".
fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// `SystemState` of the manager listening on `socket`, if it answers as a
/// process of `uid`; None for anything else (then ask systemctl). The
/// socket is in the user's own directory, so the peer may be any process
/// of the user: the whole exchange ends within [`IO_TIMEOUT`], however
/// slowly it answers.
pub(crate) fn system_state(socket: &Path, uid: u32) -> Option<String> {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut s = connect_by(socket, deadline)?;
    s.set_read_timeout(Some(IO_TIMEOUT)).ok()?;
    s.set_write_timeout(Some(IO_TIMEOUT)).ok()?;
    if peer_uid(&s)? != uid {
        return None;
    }
    let me = nix::unistd::geteuid().as_raw().to_string();
    let hex: String = me.bytes().map(|b| format!("{b:02x}")).collect();
    s.write_all(format!("\0AUTH EXTERNAL {hex}\r\n").as_bytes())
        .ok()?;
    let line = read_line(&mut s, deadline)?;
    if !line.starts_with("OK ") {
        return None;
    }
    s.write_all(b"BEGIN\r\n").ok()?;
    // systemd's server (seen with 252, Debian 12) may read BEGIN and the
    // call behind it in one go and then answer only when more bytes
    // arrive: the call is sent again, with a new serial, until an answer
    // comes or the second is up. Any answer to one of them is the state.
    let mut serial = 1;
    loop {
        if serial <= MAX_CALLS {
            s.write_all(&get_system_state_call(serial)).ok()?;
        }
        if readable(&s, NUDGE)? {
            return parse_reply(&read_message(&mut s, deadline)?);
        }
        if Instant::now() >= deadline {
            return None;
        }
        serial += 1;
    }
}

/// Connects without blocking: the socket is the user's, and a listener
/// that never accepts (its backlog full) would hold a blocking `connect`
/// for ever, Ctrl-C or not. A unix socket answers a non-blocking connect
/// at once (EAGAIN when the backlog is full: then the manager is not
/// answering, and systemctl, bounded by its own deadline, is asked); a
/// pending one (EINPROGRESS) gets until `deadline`. A stop request
/// (Ctrl-C) ends the wait too.
fn connect_by(socket: &Path, deadline: Instant) -> Option<UnixStream> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    let path = socket.as_os_str().as_bytes();
    // SAFETY: a zeroed sockaddr_un is valid; the path is copied in only
    // when it fits with its NUL.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if path.len() >= addr.sun_path.len() || path.contains(&0) {
        return None;
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, s) in addr.sun_path.iter_mut().zip(path) {
        *d = *s as libc::c_char;
    }
    // SAFETY: socket(2) returns a new descriptor, owned here at once.
    let fd = unsafe {
        let fd = libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        );
        if fd < 0 {
            return None;
        }
        OwnedFd::from_raw_fd(fd)
    };
    // SAFETY: connect(2) on our socket with an address we own and its size.
    let r = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast(),
            std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        )
    };
    if r != 0 {
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINPROGRESS) {
            return None;
        }
        wait_writable(&fd, deadline)?;
    }
    // Back to blocking: the exchange below uses per-read timeouts, each
    // cut to what is left of the deadline.
    // SAFETY: F_GETFL/F_SETFL on our descriptor.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK) < 0 {
            return None;
        }
    }
    Some(UnixStream::from(fd))
}

/// Waits, in short turns (a stop request is seen within one), until a
/// pending connect completes; None at the deadline, on a stop request or
/// when the connect failed.
fn wait_writable(fd: &std::os::fd::OwnedFd, deadline: Instant) -> Option<()> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    loop {
        if crate::stop::requested().is_some() {
            return None;
        }
        let left = deadline.checked_duration_since(Instant::now())?;
        let turn = left.min(Duration::from_millis(100)).as_millis() as u16;
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLOUT)];
        match poll(&mut fds, PollTimeout::from(turn.max(1))) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => break,
            Err(_) => return None,
        }
    }
    use std::os::fd::AsRawFd;
    let mut err: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: SO_ERROR writes one int into `err`, which we own.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (r == 0 && err == 0).then_some(())
}

/// How long to wait for an answer before sending the call again, and how
/// many calls at most (a manager that is merely slow gets the rest of the
/// second without more).
const NUDGE: u16 = 5;
const MAX_CALLS: u32 = 10;

/// Whether `s` has bytes to read within `ms` milliseconds; None on error.
fn readable(s: &UnixStream, ms: u16) -> Option<bool> {
    use nix::poll::{PollFd, PollFlags, poll};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(s.as_fd(), PollFlags::POLLIN)];
    let n = poll(&mut fds, ms).ok()?;
    Some(n > 0)
}

fn peer_uid(s: &UnixStream) -> Option<u32> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: SO_PEERCRED writes at most `len` bytes into `cred`, a ucred
    // we own, on a socket descriptor we own.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (r == 0 && len as usize == std::mem::size_of::<libc::ucred>()).then_some(cred.uid)
}

/// The authentication reply, up to CRLF (a few dozen bytes).
fn read_line(s: &mut UnixStream, deadline: Instant) -> Option<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        if line.len() > 512 {
            return None;
        }
        read_by(s, &mut b, deadline)?;
        line.push(b[0]);
    }
    String::from_utf8(line).ok()
}

/// Fills `buf` before `deadline`: a peer that sends a byte now and then
/// cannot hold krc past it (a timeout per read would restart each time).
fn read_by(s: &mut UnixStream, buf: &mut [u8], deadline: Instant) -> Option<()> {
    let mut at = 0;
    while at < buf.len() {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())?;
        s.set_read_timeout(Some(left)).ok()?;
        match s.read(&mut buf[at..]) {
            Ok(0) => return None,
            Ok(n) => at += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(())
}

fn pad(buf: &mut Vec<u8>, align: usize) {
    while !buf.len().is_multiple_of(align) {
        buf.push(0);
    }
}

fn put_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// A string ('s' or 'o'): aligned length, bytes, NUL.
fn put_str(buf: &mut Vec<u8>, s: &str) {
    pad(buf, 4);
    put_u32(buf, s.len() as u32);
    buf.extend_from_slice(s.as_bytes());
    buf.push(0);
}

/// A header field: (code, variant of type `sig`).
fn put_field(buf: &mut Vec<u8>, code: u8, sig: u8, value: &str) {
    pad(buf, 8);
    buf.extend_from_slice(&[code, 1, sig, 0]);
    if sig == b'g' {
        buf.push(value.len() as u8);
        buf.extend_from_slice(value.as_bytes());
        buf.push(0);
    } else {
        put_str(buf, value);
    }
}

/// `org.freedesktop.DBus.Properties.Get("org.freedesktop.systemd1.Manager",
/// "SystemState")` on `/org/freedesktop/systemd1`, little-endian.
fn get_system_state_call(serial: u32) -> Vec<u8> {
    let mut body = Vec::new();
    put_str(&mut body, "org.freedesktop.systemd1.Manager");
    put_str(&mut body, "SystemState");
    let mut fields = Vec::new();
    put_field(&mut fields, 1, b'o', "/org/freedesktop/systemd1");
    put_field(&mut fields, 2, b's', "org.freedesktop.DBus.Properties");
    put_field(&mut fields, 3, b's', "Get");
    put_field(&mut fields, 6, b's', "org.freedesktop.systemd1");
    put_field(&mut fields, 8, b'g', "ss");
    let mut msg = vec![b'l', 1, 0, 1];
    put_u32(&mut msg, body.len() as u32);
    put_u32(&mut msg, serial);
    put_u32(&mut msg, fields.len() as u32);
    msg.extend_from_slice(&fields);
    pad(&mut msg, 8);
    msg.extend_from_slice(&body);
    msg
}

/// Largest reply read: the answer is one short string.
const MAX_MESSAGE: usize = 64 * 1024;

fn u32_at(m: &[u8], at: usize, big: bool) -> Option<u32> {
    let b: [u8; 4] = m.get(at..at + 4)?.try_into().ok()?;
    Some(if big {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    })
}

/// One whole message: the fixed header tells its length.
fn read_message(s: &mut UnixStream, deadline: Instant) -> Option<Vec<u8>> {
    let mut m = vec![0u8; 16];
    read_by(s, &mut m, deadline)?;
    let big = m[0] == b'B';
    let body = u32_at(&m, 4, big)? as usize;
    let fields = u32_at(&m, 12, big)? as usize;
    let total = (16 + fields).div_ceil(8) * 8 + body;
    if total > MAX_MESSAGE {
        return None;
    }
    m.resize(total, 0);
    read_by(s, &mut m[16..], deadline)?;
    Some(m)
}

/// The state word of a METHOD_RETURN whose body is a variant holding a
/// string; None for an error reply or anything unexpected.
pub(crate) fn parse_reply(m: &[u8]) -> Option<String> {
    let big = match m.first()? {
        b'l' => false,
        b'B' => true,
        _ => return None,
    };
    if *m.get(1)? != 2 {
        return None;
    }
    let fields = u32_at(m, 12, big)? as usize;
    let mut at = (16 + fields).div_ceil(8) * 8;
    // Variant: signature "s", then the string at 4-byte alignment.
    if m.get(at..at + 3)? != [1, b's', 0] {
        return None;
    }
    at = (at + 3).div_ceil(4) * 4;
    let len = u32_at(m, at, big)? as usize;
    let bytes = m.get(at + 4..at + 4 + len)?;
    let state = std::str::from_utf8(bytes).ok()?;
    // A state is one lower-case word; anything else is not systemd's.
    (!state.is_empty() && state.bytes().all(|b| b.is_ascii_lowercase())).then(|| state.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A manager's reply to the call: METHOD_RETURN, variant "s".
    fn reply(state: &str) -> Vec<u8> {
        let mut fields = Vec::new();
        // REPLY_SERIAL (5, 'u') = 1
        fields.extend_from_slice(&[5, 1, b'u', 0]);
        put_u32(&mut fields, 1);
        put_field(&mut fields, 8, b'g', "v");
        let mut body = vec![1, b's', 0];
        put_str(&mut body, state);
        let mut msg = vec![b'l', 2, 1, 1];
        put_u32(&mut msg, body.len() as u32);
        put_u32(&mut msg, 7);
        put_u32(&mut msg, fields.len() as u32);
        msg.extend_from_slice(&fields);
        pad(&mut msg, 8);
        msg.extend_from_slice(&body);
        msg
    }

    #[test]
    fn call_is_well_formed() {
        let m = get_system_state_call(1);
        assert_eq!(&m[..4], &[b'l', 1, 0, 1]);
        let fields = u32_at(&m, 12, false).unwrap() as usize;
        let body = u32_at(&m, 4, false).unwrap() as usize;
        assert_eq!(m.len(), (16 + fields).div_ceil(8) * 8 + body);
        assert!(m.windows(11).any(|w| w == b"SystemState"));
    }

    #[test]
    fn replies_parse() {
        assert_eq!(parse_reply(&reply("degraded")).as_deref(), Some("degraded"));
        let mut err = reply("running");
        err[1] = 3;
        assert_eq!(parse_reply(&err), None);
        assert_eq!(parse_reply(&reply("a b")), None);
        let short = reply("running");
        assert_eq!(parse_reply(&short[..short.len() - 3]), None);
        assert_eq!(parse_reply(b""), None);
    }

    #[test]
    fn strerror_drops_rust_suffix() {
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(strerror(&e), "No such file or directory");
    }

    /// A deadline for the fake servers' own reads.
    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    /// A peer of the user's (the socket is in the user's directory) that
    /// sends its answer a byte every 300 ms: krc gives up within its one
    /// second, not a second per byte.
    #[test]
    fn a_dripping_peer_cannot_hold_krc() {
        let (_dir, path, listener) = socket();
        let server = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            for b in b"OK 0123456789abcdef0123456789abcdef\r\n" {
                if c.write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        });
        let me = nix::unistd::geteuid().as_raw();
        let started = Instant::now();
        assert_eq!(system_state(&path, me), None);
        let took = started.elapsed();
        assert!(took < IO_TIMEOUT + Duration::from_millis(300), "{took:?}");
        server.join().unwrap();
    }

    /// A listener that never accepts, its backlog full: a blocking
    /// connect would wait for ever. krc gives up within its second.
    #[test]
    fn a_full_backlog_cannot_hold_krc() {
        use std::os::fd::AsRawFd;
        let (_dir, path, listener) = socket();
        // SAFETY: listen(2) on our socket: a backlog of 0 holds one.
        assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
        let mut held = Vec::new();
        for _ in 0..8 {
            let started = Instant::now();
            match connect_by(&path, Instant::now() + Duration::from_millis(50)) {
                Some(s) => held.push(s),
                None => {
                    assert!(started.elapsed() < Duration::from_millis(500));
                    break;
                }
            }
        }
        assert!(held.len() < 8, "the backlog never filled");
        let me = nix::unistd::geteuid().as_raw();
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        std::thread::spawn(move || tx.send(system_state(&p, me)));
        let answer = rx.recv_timeout(IO_TIMEOUT + Duration::from_secs(1));
        assert_eq!(answer, Ok(None), "krc is still connecting");
        drop(listener);
    }

    /// A listening socket in a fresh directory (removed when dropped).
    fn socket() -> (tempfile::TempDir, std::path::PathBuf, UnixListener) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("private");
        let listener = UnixListener::bind(&path).unwrap();
        (dir, path, listener)
    }

    /// The server's side of the authentication: `AUTH EXTERNAL`, `OK`,
    /// `BEGIN`.
    fn authenticate(c: &mut UnixStream) {
        let mut auth = Vec::new();
        let mut b = [0u8; 1];
        while !auth.ends_with(b"\r\n") {
            c.read_exact(&mut b).unwrap();
            auth.push(b[0]);
        }
        assert!(auth.starts_with(b"\0AUTH EXTERNAL "), "{auth:?}");
        c.write_all(b"OK 0123456789abcdef0123456789abcdef\r\n")
            .unwrap();
        let mut begin = [0u8; 7];
        c.read_exact(&mut begin).unwrap();
        assert_eq!(&begin, b"BEGIN\r\n");
    }

    /// systemd 252's server, as seen on Debian 12: a call that arrives
    /// with BEGIN is answered only once more bytes come. The client sends
    /// the call again and gets its answer.
    #[test]
    fn a_manager_that_answers_only_when_nudged() {
        let (_dir, path, listener) = socket();
        let server = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            authenticate(&mut c);
            let first = read_message(&mut c, soon()).unwrap();
            // Silent until the second call: that one wakes it.
            let second = read_message(&mut c, soon()).unwrap();
            assert_ne!(first[8..12], second[8..12], "a new serial each time");
            c.write_all(&reply("degraded")).unwrap();
        });
        let me = nix::unistd::geteuid().as_raw();
        let started = std::time::Instant::now();
        assert_eq!(system_state(&path, me).as_deref(), Some("degraded"));
        assert!(started.elapsed() < IO_TIMEOUT, "{:?}", started.elapsed());
        server.join().unwrap();
    }

    /// A fake manager on a socket: the client authenticates, sends the
    /// call, reads the state; a peer of another uid is not asked.
    #[test]
    fn asks_a_manager_on_its_socket() {
        let (dir, path, listener) = socket();
        let server = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            authenticate(&mut c);
            let call = read_message(&mut c, soon()).unwrap();
            assert_eq!(call, get_system_state_call(1));
            c.write_all(&reply("running")).unwrap();
        });
        let me = nix::unistd::geteuid().as_raw();
        assert_eq!(system_state(&path, me).as_deref(), Some("running"));
        server.join().unwrap();
        // Nobody listens any more, or no socket at all: ask systemctl.
        assert_eq!(system_state(&path, me), None);
        assert_eq!(system_state(&dir.path().join("absent"), me), None);
    }
}
