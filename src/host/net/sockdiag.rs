//! Listening TCP sockets from the kernel's `sock_diag` netlink interface
//! (`inet_diag`, what `ss -ltn` uses), asked for the LISTEN state only: the
//! kernel skips every other socket instead of formatting a line of
//! `/proc/net/tcp` for each (≈ 15 ms on a host with many connections).
//! `None` where netlink is refused (a seccomp filter, an old kernel): the
//! caller then reads `/proc/net/tcp{,6}`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const TCP_LISTEN: u32 = 10;
const NLMSG_HDRLEN: usize = 16;
/// `struct inet_diag_req_v2`.
const REQ_LEN: usize = 56;
/// `struct inet_diag_msg`: family, state, timer, retrans, the 48-byte
/// socket id, expires, rqueue, wqueue, uid, inode.
const MSG_LEN: usize = 72;

/// A listening socket as `inet_diag` reports it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct DiagListener {
    pub(crate) addr: IpAddr,
    pub(crate) port: u16,
    pub(crate) uid: u32,
}

/// Every listening TCP socket, IPv4 then IPv6, of this network namespace.
pub(crate) fn tcp_listeners() -> io::Result<Vec<DiagListener>> {
    // SAFETY: socket(2) takes integers; the descriptor is owned at once.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut out = Vec::new();
    for (seq, family) in [(1u32, libc::AF_INET as u8), (2, libc::AF_INET6 as u8)] {
        send(&fd, &request(seq, family))?;
        dump(&fd, seq, &mut out)?;
    }
    Ok(out)
}

/// `nlmsghdr` + `inet_diag_req_v2` asking for TCP sockets in LISTEN.
fn request(seq: u32, family: u8) -> Vec<u8> {
    let mut m = Vec::with_capacity(NLMSG_HDRLEN + REQ_LEN);
    m.extend_from_slice(&((NLMSG_HDRLEN + REQ_LEN) as u32).to_ne_bytes());
    m.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&[family, libc::IPPROTO_TCP as u8, 0, 0]);
    m.extend_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
    m.resize(NLMSG_HDRLEN + REQ_LEN, 0); // the socket id: any
    m
}

fn send(fd: &OwnedFd, msg: &[u8]) -> io::Result<()> {
    // SAFETY: msg is valid for its length; the kernel address is zeroed.
    let r = unsafe {
        let mut kernel: libc::sockaddr_nl = std::mem::zeroed();
        kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        libc::sendto(
            fd.as_raw_fd(),
            msg.as_ptr().cast(),
            msg.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reads the dump answering `seq` until NLMSG_DONE.
fn dump(fd: &OwnedFd, seq: u32, out: &mut Vec<DiagListener>) -> io::Result<()> {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // SAFETY: buf is valid for writes of its length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "netlink closed",
            ));
        }
        if parse(&buf[..n as usize], seq, out)? {
            return Ok(());
        }
    }
}

fn bad(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("sock_diag: {why}"))
}

/// Parses one datagram of netlink messages; true once NLMSG_DONE is seen.
pub(crate) fn parse(mut b: &[u8], seq: u32, out: &mut Vec<DiagListener>) -> io::Result<bool> {
    let u32_at = |b: &[u8], at: usize| -> u32 {
        u32::from_ne_bytes(b[at..at + 4].try_into().unwrap_or_default())
    };
    while b.len() >= NLMSG_HDRLEN {
        let len = u32_at(b, 0) as usize;
        let kind = u16::from_ne_bytes([b[4], b[5]]);
        if len < NLMSG_HDRLEN || len > b.len() {
            return Err(bad("truncated message"));
        }
        let body = &b[NLMSG_HDRLEN..len];
        if u32_at(b, 8) == seq {
            match kind {
                NLMSG_DONE => return Ok(true),
                NLMSG_ERROR => {
                    let errno = body.get(..4).map(|e| u32_at(e, 0) as i32).unwrap_or(0);
                    // The kernel sends -errno; i32::MIN has no negation.
                    return Err(match errno.checked_neg() {
                        Some(e) if errno < 0 => io::Error::from_raw_os_error(e),
                        _ => bad("error message"),
                    });
                }
                SOCK_DIAG_BY_FAMILY => out.push(listener(body)?),
                _ => {}
            }
        }
        b = b.get(len.div_ceil(4) * 4..).unwrap_or_default();
    }
    Ok(false)
}

/// One `inet_diag_msg`.
fn listener(m: &[u8]) -> io::Result<DiagListener> {
    if m.len() < MSG_LEN {
        return Err(bad("short inet_diag_msg"));
    }
    let port = u16::from_be_bytes([m[4], m[5]]);
    let src = &m[8..24];
    let addr = match i32::from(m[0]) {
        libc::AF_INET => IpAddr::V4(Ipv4Addr::new(src[0], src[1], src[2], src[3])),
        libc::AF_INET6 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(src);
            IpAddr::V6(Ipv6Addr::from(a))
        }
        _ => return Err(bad("unknown address family")),
    };
    let uid = u32::from_ne_bytes(m[64..68].try_into().unwrap_or_default());
    Ok(DiagListener { addr, port, uid })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::net::parse_tcp_listeners;

    fn from_proc() -> Vec<DiagListener> {
        let mut v = Vec::new();
        for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
            if let Ok(text) = std::fs::read_to_string(file) {
                for l in parse_tcp_listeners(&text, file).unwrap() {
                    v.push(DiagListener {
                        addr: l.addr,
                        port: l.port,
                        uid: l.uid,
                    });
                }
            }
        }
        v.sort();
        v
    }

    /// Netlink and procfs, read independently, name the same listeners,
    /// among them two of this test's own (IPv4 and IPv6).
    #[test]
    fn netlink_agrees_with_procfs() {
        let v4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let v6 = std::net::TcpListener::bind("[::1]:0").ok();
        let mine: Vec<_> = [Some(&v4), v6.as_ref()]
            .into_iter()
            .flatten()
            .map(|l| l.local_addr().unwrap())
            .collect();
        // Other tests open and close sockets meanwhile: agree within 5 tries.
        let mut last = (Vec::new(), Vec::new());
        for _ in 0..5 {
            let mut nl = tcp_listeners().expect("sock_diag refused");
            nl.sort();
            let procfs = from_proc();
            if nl == procfs {
                for a in &mine {
                    assert!(
                        nl.iter().any(|l| l.addr == a.ip() && l.port == a.port()),
                        "{a} not in {nl:?}"
                    );
                }
                return;
            }
            last = (nl, procfs);
        }
        panic!("netlink {:?} != procfs {:?}", last.0, last.1);
    }

    #[test]
    fn messages_parse_and_errors_are_errors() {
        let mut msg = vec![0u8; NLMSG_HDRLEN + MSG_LEN];
        msg[..4].copy_from_slice(&((NLMSG_HDRLEN + MSG_LEN) as u32).to_ne_bytes());
        msg[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        msg[8..12].copy_from_slice(&7u32.to_ne_bytes());
        let body = NLMSG_HDRLEN;
        msg[body] = libc::AF_INET as u8;
        msg[body + 4..body + 6].copy_from_slice(&6443u16.to_be_bytes());
        msg[body + 8..body + 12].copy_from_slice(&[10, 41, 0, 5]);
        msg[body + 64..body + 68].copy_from_slice(&1000u32.to_ne_bytes());
        let mut done = vec![0u8; NLMSG_HDRLEN + 4];
        done[..4].copy_from_slice(&((NLMSG_HDRLEN + 4) as u32).to_ne_bytes());
        done[4..6].copy_from_slice(&NLMSG_DONE.to_ne_bytes());
        done[8..12].copy_from_slice(&7u32.to_ne_bytes());
        let mut out = Vec::new();
        assert!(!parse(&msg, 7, &mut out).unwrap());
        assert!(parse(&[msg.clone(), done].concat(), 7, &mut out).unwrap());
        assert_eq!(out.len(), 2);
        assert_eq!(
            (out[0].addr.to_string(), out[0].port, out[0].uid),
            ("10.41.0.5".to_string(), 6443, 1000)
        );
        let mut err = vec![0u8; NLMSG_HDRLEN + 4];
        err[..4].copy_from_slice(&((NLMSG_HDRLEN + 4) as u32).to_ne_bytes());
        err[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        err[8..12].copy_from_slice(&7u32.to_ne_bytes());
        err[16..20].copy_from_slice(&(-libc::EPERM).to_ne_bytes());
        let e = parse(&err, 7, &mut out).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPERM));
        assert!(parse(&msg[..20], 7, &mut out).is_err());
    }

    /// Found by fuzzing (sock_diag): an error of i32::MIN had no negation.
    #[test]
    fn an_error_code_without_a_negation_is_malformed() {
        let mut err = vec![0u8; NLMSG_HDRLEN + 4];
        err[..4].copy_from_slice(&((NLMSG_HDRLEN + 4) as u32).to_ne_bytes());
        err[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        err[8..12].copy_from_slice(&7u32.to_ne_bytes());
        err[16..20].copy_from_slice(&i32::MIN.to_ne_bytes());
        let e = parse(&err, 7, &mut Vec::new()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
}
