//! The rootless settings of an install, one model for every phase: the
//! installer writes them into the unit (`K3S_ROOTLESS_*`), preflight judges
//! the host against them, acceptance judges the cluster by them. Each
//! value is validated once, in its `FromStr`, whether it comes from a flag
//! or from a suite file; each default is stated once, in
//! [`RootlessSettings::default`].

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::host::net::Cidr;

/// Why a setting was refused: one line, without the value or the flag
/// (the caller names both, as `--cidr X: ...` or `rootless_cidr = "X": ...`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct SettingError(pub(crate) String);

fn bad(msg: impl Into<String>) -> SettingError {
    SettingError(msg.into())
}

/// k3s's own pod and service networks (its defaults), which the rootless
/// network must not overlap and which preflight keeps clear of host routes.
pub(crate) const K3S_NETWORKS: [(Cidr, &str); 2] = [
    (
        Cidr {
            addr: Ipv4Addr::new(10, 42, 0, 0),
            prefix: 16,
        },
        "pod",
    ),
    (
        Cidr {
            addr: Ipv4Addr::new(10, 43, 0, 0),
            prefix: 16,
        },
        "service",
    ),
];

/// `K3S_ROOTLESS_CIDR`: a private-range network slirp4netns can own, with
/// room for the addresses k3s puts at .2 (gateway), .3 (DNS) and .100 (the
/// node), clear of k3s's pod and service networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NetworkCidr(Cidr);

impl NetworkCidr {
    pub(crate) fn cidr(self) -> Cidr {
        self.0
    }
}

impl FromStr for NetworkCidr {
    type Err = SettingError;

    fn from_str(s: &str) -> Result<Self, SettingError> {
        let c: Cidr = s.parse().map_err(SettingError)?;
        if !(1..=25).contains(&c.prefix) {
            return Err(bad(
                "the prefix must be 1 to 25, so the network holds k3s's gateway (.2), DNS (.3) and node address (.100); for example 10.41.0.0/16",
            ));
        }
        let first = c.addr.octets()[0];
        if c.addr.is_loopback() || first == 0 || first >= 224 || c.addr.is_link_local() {
            return Err(bad(
                "not a usable network (loopback, link-local, multicast or reserved); use a private range such as 10.41.0.0/16",
            ));
        }
        for (net, what) in K3S_NETWORKS {
            if overlaps(c, net) {
                return Err(bad(format!(
                    "overlaps k3s's {what} network {net}; pick another range, such as 10.41.0.0/16"
                )));
            }
        }
        if c.has_host_bits() {
            return Err(bad(format!(
                "host bits are set; k3s needs a network address (did you mean {}?)",
                c.network()
            )));
        }
        Ok(NetworkCidr(c))
    }
}

fn overlaps(a: Cidr, b: Cidr) -> bool {
    let shorter = Cidr {
        addr: a.addr,
        prefix: a.prefix.min(b.prefix),
    };
    shorter.contains(b.addr)
}

impl fmt::Display for NetworkCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// `K3S_ROOTLESS_PORT_DRIVER`: how rootlesskit forwards host ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PortDriver {
    Slirp4netns,
    Builtin,
}

impl PortDriver {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PortDriver::Slirp4netns => "slirp4netns",
            PortDriver::Builtin => "builtin",
        }
    }
}

impl FromStr for PortDriver {
    type Err = SettingError;

    fn from_str(s: &str) -> Result<Self, SettingError> {
        match s {
            "slirp4netns" => Ok(PortDriver::Slirp4netns),
            "builtin" => Ok(PortDriver::Builtin),
            _ => Err(bad(
                "expected builtin or slirp4netns (k3s would silently fall back to builtin)",
            )),
        }
    }
}

impl fmt::Display for PortDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `K3S_ROOTLESS_MTU`: 576 (the IPv4 minimum) to 65520 (slirp4netns's most).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mtu(u32);

impl Mtu {
    pub(crate) const RANGE: std::ops::RangeInclusive<u32> = 576..=65520;

    pub(crate) fn new(n: u32) -> Result<Mtu, SettingError> {
        if Self::RANGE.contains(&n) {
            Ok(Mtu(n))
        } else {
            Err(Self::out_of_range())
        }
    }

    fn out_of_range() -> SettingError {
        bad(format!(
            "expected a number from {} to {}",
            Self::RANGE.start(),
            Self::RANGE.end()
        ))
    }
}

impl FromStr for Mtu {
    type Err = SettingError;

    fn from_str(s: &str) -> Result<Self, SettingError> {
        s.parse::<u32>()
            .map_err(|_| Self::out_of_range())
            .and_then(Mtu::new)
    }
}

impl fmt::Display for Mtu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A `true`/`false` flag value (`--disable-host-loopback false`).
pub(crate) fn parse_bool(s: &str) -> Result<bool, SettingError> {
    match s {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad("expected true or false")),
    }
}

/// The `K3S_ROOTLESS_*` settings of one install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RootlessSettings {
    pub(crate) port_driver: PortDriver,
    pub(crate) cidr: NetworkCidr,
    pub(crate) mtu: Mtu,
    pub(crate) disable_host_loopback: bool,
}

impl Default for RootlessSettings {
    /// The reference procedure's values (DESIGN.md), stated once: the
    /// flags' help, the built-in suites and the unit all follow them.
    fn default() -> Self {
        RootlessSettings {
            port_driver: PortDriver::Slirp4netns,
            cidr: NetworkCidr(Cidr {
                addr: Ipv4Addr::new(10, 41, 0, 0),
                prefix: 16,
            }),
            mtu: Mtu(1500),
            disable_host_loopback: true,
        }
    }
}

/// Settings as given by flags or a suite file: each one optional, each
/// already valid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RootlessPatch {
    pub(crate) port_driver: Option<PortDriver>,
    pub(crate) cidr: Option<NetworkCidr>,
    pub(crate) mtu: Option<Mtu>,
    pub(crate) disable_host_loopback: Option<bool>,
}

impl RootlessPatch {
    /// The values this patch sets, over `base`.
    pub(crate) fn over(&self, base: RootlessSettings) -> RootlessSettings {
        RootlessSettings {
            port_driver: self.port_driver.unwrap_or(base.port_driver),
            cidr: self.cidr.unwrap_or(base.cidr),
            mtu: self.mtu.unwrap_or(base.mtu),
            disable_host_loopback: self
                .disable_host_loopback
                .unwrap_or(base.disable_host_loopback),
        }
    }

    /// Every setting, as a patch (what an install was run with).
    pub(crate) fn all(s: RootlessSettings) -> RootlessPatch {
        RootlessPatch {
            port_driver: Some(s.port_driver),
            cidr: Some(s.cidr),
            mtu: Some(s.mtu),
            disable_host_loopback: Some(s.disable_host_loopback),
        }
    }
}

/// The settings as typed on a command line, so that a bad value is one
/// line naming the flag (clap's own messages run over several).
#[derive(Debug, Clone, Default)]
pub(crate) struct RootlessFlags {
    pub(crate) port_driver: Option<String>,
    pub(crate) cidr: Option<String>,
    pub(crate) mtu: Option<String>,
    pub(crate) disable_host_loopback: Option<String>,
}

impl RootlessFlags {
    pub(crate) fn parse(&self) -> Result<RootlessPatch, SettingError> {
        fn one<T>(
            flag: &str,
            v: &Option<String>,
            parse: impl Fn(&str) -> Result<T, SettingError>,
        ) -> Result<Option<T>, SettingError> {
            v.as_deref()
                .map(|s| parse(s).map_err(|e| bad(format!("--{flag} {s:?}: {e}"))))
                .transpose()
        }
        Ok(RootlessPatch {
            port_driver: one("port-driver", &self.port_driver, str::parse)?,
            cidr: one("cidr", &self.cidr, str::parse)?,
            mtu: one("mtu", &self.mtu, str::parse)?,
            disable_host_loopback: one(
                "disable-host-loopback",
                &self.disable_host_loopback,
                parse_bool,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Result<NetworkCidr, SettingError> {
        s.parse()
    }

    #[test]
    fn network_cidrs_k3s_can_use() {
        for ok in [
            "10.41.0.0/16",
            "10.141.0.0/16",
            "192.168.100.0/24",
            "172.16.0.0/25",
            "172.16.0.0/12",
        ] {
            assert_eq!(cidr(ok).unwrap().to_string(), ok);
        }
        for (no, why) in [
            ("0.0.0.0/0", "prefix"),
            ("10.41.0.0/26", "prefix"),
            ("127.0.0.0/8", "not a usable network"),
            ("169.254.0.0/16", "not a usable network"),
            ("224.0.0.0/4", "not a usable network"),
            ("10.42.0.0/16", "pod network 10.42.0.0/16"),
            ("10.43.5.0/24", "service network"),
            ("10.0.0.0/8", "overlaps"),
            ("10.41.0.1/16", "did you mean 10.41.0.0/16?"),
            ("10.41.0.0", "ADDRESS/PREFIX"),
        ] {
            let e = cidr(no).unwrap_err().0;
            assert!(e.contains(why) && !e.contains('\n'), "{no}: {e}");
        }
    }

    #[test]
    fn flags_name_themselves_in_one_line() {
        let f = |set: fn(&mut RootlessFlags)| {
            let mut flags = RootlessFlags::default();
            set(&mut flags);
            flags.parse()
        };
        assert_eq!(
            f(|r| r.mtu = Some("576".into())).unwrap().mtu,
            Some(Mtu(576))
        );
        for (set, want) in [
            (
                (|r: &mut RootlessFlags| r.mtu = Some("575".into())) as fn(&mut RootlessFlags),
                "--mtu \"575\": expected a number from 576 to 65520",
            ),
            (
                |r| r.mtu = Some("x".into()),
                "--mtu \"x\": expected a number",
            ),
            (
                |r| r.port_driver = Some("pasta".into()),
                "--port-driver \"pasta\": expected builtin or slirp4netns",
            ),
            (
                |r| r.disable_host_loopback = Some("yes".into()),
                "--disable-host-loopback \"yes\": expected true or false",
            ),
            (
                |r| r.cidr = Some("10.41.0.1/16".into()),
                "--cidr \"10.41.0.1/16\": host bits are set",
            ),
        ] {
            let e = f(set).unwrap_err().0;
            assert!(e.starts_with(want), "{e}");
        }
        assert_eq!(f(|_| {}).unwrap(), RootlessPatch::default());
    }

    #[test]
    fn a_patch_sets_only_what_it_names() {
        let base = RootlessSettings::default();
        let p = RootlessPatch {
            mtu: Some(Mtu::new(9000).unwrap()),
            ..Default::default()
        };
        let s = p.over(base);
        assert_eq!(s.mtu.to_string(), "9000");
        assert_eq!(s.cidr, base.cidr);
        assert_eq!(RootlessPatch::all(s).over(base), s);
    }
}
