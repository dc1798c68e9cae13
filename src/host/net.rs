//! Network facts: listening TCP sockets, IPv4 routes and local addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::FactError;

pub(crate) mod sockdiag;

/// Listening TCP sockets of the live host for `ports.free`: from netlink
/// `sock_diag` with a LISTEN filter (IPv4 and IPv6), else, where netlink is
/// refused, from `/proc/net/tcp{,6}` through `read`. A netlink listener
/// names `sock_diag` as its file and its position as its line.
pub(crate) fn live_tcp_listeners(
    read: impl Fn(&str) -> Result<Option<String>, FactError>,
) -> Result<Vec<Listener>, FactError> {
    if let Ok(found) = sockdiag::tcp_listeners() {
        return Ok(found
            .into_iter()
            .enumerate()
            .map(|(i, l)| Listener {
                addr: l.addr,
                port: l.port,
                uid: l.uid,
                file: SOCK_DIAG.to_string(),
                line: i + 1,
            })
            .collect());
    }
    let mut out = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Some(text) = read(file)? {
            out.extend(parse_tcp_listeners(&text, file)?);
        }
    }
    Ok(out)
}

/// The `file` of a listener that netlink reported.
pub(crate) const SOCK_DIAG: &str = "netlink sock_diag";

/// A listening socket from `/proc/net/tcp` or `/proc/net/tcp6`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listener {
    pub(crate) addr: IpAddr,
    pub(crate) port: u16,
    pub(crate) uid: u32,
    pub(crate) file: String,
    pub(crate) line: usize,
}

const TCP_LISTEN: &str = "0A";

pub(crate) fn parse_tcp_listeners(text: &str, path: &str) -> Result<Vec<Listener>, FactError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let bad =
            |why: &str| FactError::malformed(path, i + 1, format!("{why} in {:?}", line.trim()));
        if f.len() < 8 {
            return Err(bad("too few fields"));
        }
        if f[3] != TCP_LISTEN {
            continue;
        }
        let (addr, port) = f[1].split_once(':').ok_or_else(|| bad("no ADDR:PORT"))?;
        let port = u16::from_str_radix(port, 16).map_err(|_| bad("bad port"))?;
        let addr = parse_hex_addr(addr).ok_or_else(|| bad("bad address"))?;
        let uid = f[7].parse().map_err(|_| bad("bad uid"))?;
        out.push(Listener {
            addr,
            port,
            uid,
            file: path.to_string(),
            line: i + 1,
        });
    }
    Ok(out)
}

/// Addresses in /proc/net are the kernel's bytes in host (little-endian)
/// order, 32 bits at a time.
fn parse_hex_addr(hex: &str) -> Option<IpAddr> {
    // The slices below are byte ranges: a stray multi-byte character (a
    // corrupted read) would split inside it and panic.
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let words: Option<Vec<u32>> = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16).ok())
        .collect();
    let words = words?;
    match words.len() {
        1 => Some(IpAddr::V4(Ipv4Addr::from(words[0].to_le_bytes()))),
        4 => {
            let mut b = [0u8; 16];
            for (i, w) in words.iter().enumerate() {
                b[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
            }
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

/// An IPv4 network, `10.41.0.0/16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    pub(crate) addr: Ipv4Addr,
    pub(crate) prefix: u8,
}

impl Cidr {
    fn mask(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix))
        }
    }

    pub(crate) fn contains(&self, ip: Ipv4Addr) -> bool {
        let m = Self::mask(self.prefix);
        u32::from(ip) & m == u32::from(self.addr) & m
    }

    pub(crate) fn has_host_bits(&self) -> bool {
        u32::from(self.addr) & !Self::mask(self.prefix) != 0
    }

    /// The network address: this CIDR with its host bits cleared.
    pub(crate) fn network(&self) -> Cidr {
        Cidr {
            addr: Ipv4Addr::from(u32::from(self.addr) & Self::mask(self.prefix)),
            prefix: self.prefix,
        }
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not ADDRESS/PREFIX"))?;
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| format!("{a:?} is not an IPv4 address"))?;
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("{p:?} is not a prefix length 0-32"))?;
        Ok(Cidr { addr, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An IPv4 route from `/proc/net/route`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) iface: String,
    pub(crate) dest: Cidr,
    pub(crate) line: usize,
}

pub(crate) fn parse_routes(text: &str, path: &str) -> Result<Vec<Route>, FactError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        let bad = || FactError::malformed(path, i + 1, format!("unexpected route line {line:?}"));
        if f.len() < 8 {
            return Err(bad());
        }
        let hex = |s: &str| u32::from_str_radix(s, 16).map(|v| Ipv4Addr::from(v.to_le_bytes()));
        let dest = hex(f[1]).map_err(|_| bad())?;
        let mask = hex(f[7]).map_err(|_| bad())?;
        let prefix = u32::from(mask).leading_ones() as u8;
        out.push(Route {
            iface: f[0].to_string(),
            dest: Cidr { addr: dest, prefix },
            line: i + 1,
        });
    }
    Ok(out)
}

/// The host's own IPv4 addresses, from the `/32 host LOCAL` leaves of
/// `/proc/net/fib_trie`.
pub(crate) fn parse_local_addrs(fib_trie: &str) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in fib_trie.lines() {
        let t = line.trim_start_matches([' ', '|', '+', '-', '`']);
        if let Ok(ip) = t.trim().parse::<Ipv4Addr>() {
            last = Some(ip);
        } else if t.contains("/32 host LOCAL")
            && let Some(ip) = last
            && !out.contains(&ip)
        {
            out.push(ip);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_listeners_parse_v4_and_v6() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:192B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n   1: 0100007F:0277 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 2\n";
        let l = parse_tcp_listeners(v4, "/proc/net/tcp").unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(
            (l[0].port, l[0].addr.to_string()),
            (6443, "0.0.0.0".to_string())
        );
        let v6 = "header\n   0: 00000000000000000000000001000000:2760 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 3\n";
        let l = parse_tcp_listeners(v6, "/proc/net/tcp6").unwrap();
        assert_eq!(
            (l[0].port, l[0].addr.to_string(), l[0].uid),
            (10080, "::1".to_string(), 1000)
        );
        let garbled = "h\n   0: 0000000\u{e9}:192B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0 0 1\n";
        assert!(
            parse_tcp_listeners(garbled, "/proc/net/tcp")
                .unwrap_err()
                .to_string()
                .contains("/proc/net/tcp:2: malformed: bad address")
        );
        assert!(
            parse_tcp_listeners("h\n 0: zz\n", "/proc/net/tcp")
                .unwrap_err()
                .to_string()
                .contains(":2:")
        );
    }

    #[test]
    fn live_listeners_include_our_own() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let read = |f: &str| Ok(std::fs::read_to_string(f).ok());
        let found = live_tcp_listeners(read).unwrap();
        let mine = found.iter().find(|x| x.port == port).expect("listener");
        assert_eq!(mine.addr.to_string(), "127.0.0.1");
        assert_eq!(mine.uid, nix::unistd::geteuid().as_raw());
        assert_eq!(mine.file, SOCK_DIAG);
    }

    #[test]
    fn cidr_math() {
        let c: Cidr = "10.41.0.0/16".parse().unwrap();
        assert!(c.contains("10.41.0.100".parse().unwrap()));
        assert!(!c.contains("10.42.0.1".parse().unwrap()));
        assert!("10.41.0.1/16".parse::<Cidr>().unwrap().has_host_bits());
        assert!("10.41.0.0/33".parse::<Cidr>().is_err());
    }

    #[test]
    fn routes_and_local_addrs() {
        let r = parse_routes("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t0000290A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n", "/proc/net/route").unwrap();
        assert_eq!(r[0].dest.to_string(), "10.41.0.0/16");
        let fib = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 10.41.0.5\n        /32 host LOCAL\n     |-- 10.41.255.255\n        /32 link BROADCAST\n";
        assert_eq!(
            parse_local_addrs(fib),
            vec!["10.41.0.5".parse::<Ipv4Addr>().unwrap()]
        );
    }
}
