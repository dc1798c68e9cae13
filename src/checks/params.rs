//! Check parameters a suite can set: globally in `[params]`, or for one
//! check in its `[[check]]` entry. The rootless settings among them are
//! the install's own ([`RootlessSettings`]): `krc run` and `krc install`
//! set them from their flags, so every phase judges the same install.

use serde::Deserialize;

use crate::host::net::Cidr;
use crate::settings::{self, Mtu, NetworkCidr, PortDriver, RootlessPatch, RootlessSettings};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Params {
    /// TCP ports that must be free before install (`ports.free`).
    pub(crate) ports: Vec<u16>,
    /// `K3S_ROOTLESS_*`: preflight keeps the rootless network clear of
    /// host routes, acceptance judges the unit and the node by them.
    pub(crate) rootless: RootlessSettings,
    /// k3s's pod and service networks, which host routes should not
    /// shadow (`net.cidr`).
    pub(crate) cluster_cidrs: Vec<Cidr>,
    pub(crate) min_memory_mib: u64,
    pub(crate) min_cpus: u32,
    /// Acceptance: what the installed cluster must look like.
    pub(crate) accept: AcceptParams,
}

/// Acceptance parameters beyond the rootless settings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AcceptParams {
    /// The kubeconfig as a host path; None: `~USER/.kube/k3s.yaml`.
    pub(crate) kubeconfig: Option<String>,
    /// The API port k3s listens on (`--https-listen-port`).
    pub(crate) api_port: u16,
    /// Is traefik enabled (k3s without `--disable traefik`)?
    pub(crate) traefik: bool,
    /// Service ports of the active `ports.offset` probe; empty: passive only.
    pub(crate) probe_ports: Vec<u16>,
    /// The pinned k3s release or commit, when known.
    pub(crate) k3s_version: Option<String>,
    /// How long waits (pods Ready, ingress IP) may take.
    pub(crate) timeout_secs: u64,
}

impl Default for AcceptParams {
    fn default() -> Self {
        AcceptParams {
            kubeconfig: None,
            api_port: 6443,
            traefik: true,
            probe_ports: vec![81, 1024, 8080],
            k3s_version: None,
            timeout_secs: 180,
        }
    }
}

impl Default for Params {
    fn default() -> Self {
        Params {
            ports: vec![6443, 10080, 10443],
            rootless: RootlessSettings::default(),
            cluster_cidrs: settings::K3S_NETWORKS.iter().map(|(c, _)| *c).collect(),
            min_memory_mib: 512,
            min_cpus: 1,
            accept: AcceptParams::default(),
        }
    }
}

impl Params {
    /// Every network `net.cidr` keeps clear: the rootless one first (a
    /// host route there fails), then the cluster's (a route there warns).
    pub(crate) fn networks(&self) -> Vec<Cidr> {
        let rootless = self.rootless.cidr.cidr();
        std::iter::once(rootless)
            .chain(
                self.cluster_cidrs
                    .iter()
                    .copied()
                    .filter(|c| *c != rootless),
            )
            .collect()
    }
}

/// A suite parameter krc cannot use: the message names the key and the
/// value; `SuiteError` puts the file and the line before it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum ParamError {
    #[error(
        "cidrs is now two keys: rootless_cidr = \"10.41.0.0/16\" (K3S_ROOTLESS_CIDR, the first of the old list) and cluster_cidrs = [\"10.42.0.0/16\", \"10.43.0.0/16\"] (k3s's pod and service networks)"
    )]
    SplitCidrs,
    /// `cluster_cidrs` holds something that is not a CIDR (why, as the
    /// CIDR parser says it).
    #[error("cluster_cidrs: {0}")]
    ClusterCidr(String),
    #[error("cluster_cidrs: {given} has host bits set (did you mean {network}?)")]
    HostBits { given: String, network: Cidr },
    /// A rootless setting refused as its flag would be. The setting's
    /// error is part of this message, not a cause below it: it says what
    /// is wrong with the value named here.
    #[error("{key} = {value}: {error}")]
    Setting {
        key: &'static str,
        /// The value as written (quoted if it was a string).
        value: String,
        error: settings::SettingError,
    },
    /// `max`: the longest wait krc allows (the suite's `MAX_WAIT_SECS`).
    #[error("timeout_secs = {secs}: give 1 to {max} seconds")]
    Timeout { secs: u64, max: u64 },
}

/// Parameters as written in a suite file; every key optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ParamsPatch {
    pub(crate) user: Option<String>,
    pub(crate) ports: Option<Vec<u16>>,
    /// Before the rootless settings were shared, one list held the rootless
    /// network and the cluster's; kept to say where its values went.
    pub(crate) cidrs: Option<Vec<String>>,
    pub(crate) cluster_cidrs: Option<Vec<String>>,
    pub(crate) min_memory_mib: Option<u64>,
    pub(crate) min_cpus: Option<u32>,
    // The rootless settings (see `RootlessSettings`), in every phase.
    pub(crate) rootless_cidr: Option<String>,
    pub(crate) port_driver: Option<String>,
    pub(crate) mtu: Option<u32>,
    pub(crate) disable_host_loopback: Option<bool>,
    // Acceptance parameters (see `AcceptParams`).
    pub(crate) kubeconfig: Option<String>,
    pub(crate) api_port: Option<u16>,
    pub(crate) traefik: Option<bool>,
    pub(crate) probe_ports: Option<Vec<u16>>,
    pub(crate) k3s_version: Option<String>,
    pub(crate) timeout_secs: Option<u64>,
}

impl ParamsPatch {
    /// Applies the keys this patch sets; a malformed value is an error
    /// naming its key.
    pub(crate) fn apply(&self, p: &mut Params) -> Result<(), ParamError> {
        if self.cidrs.is_some() {
            return Err(ParamError::SplitCidrs);
        }
        if let Some(v) = &self.ports {
            p.ports = v.clone();
        }
        if let Some(v) = &self.cluster_cidrs {
            p.cluster_cidrs = v
                .iter()
                .map(|c| {
                    let cidr: Cidr = c.parse().map_err(ParamError::ClusterCidr)?;
                    if cidr.has_host_bits() {
                        return Err(ParamError::HostBits {
                            given: c.clone(),
                            network: cidr.network(),
                        });
                    }
                    Ok(cidr)
                })
                .collect::<Result<_, ParamError>>()?;
        }
        if let Some(v) = self.min_memory_mib {
            p.min_memory_mib = v;
        }
        if let Some(v) = self.min_cpus {
            p.min_cpus = v;
        }
        p.rootless = self.rootless()?.over(p.rootless);
        self.apply_accept(&mut p.accept);
        Ok(())
    }

    /// The rootless settings this patch names, validated as the flags are.
    fn rootless(&self) -> Result<RootlessPatch, ParamError> {
        fn key<T>(
            name: &'static str,
            v: Option<&str>,
            parse: impl Fn(&str) -> Result<T, settings::SettingError>,
        ) -> Result<Option<T>, ParamError> {
            v.map(|s| {
                parse(s).map_err(|error| ParamError::Setting {
                    key: name,
                    value: format!("{s:?}"),
                    error,
                })
            })
            .transpose()
        }
        Ok(RootlessPatch {
            cidr: key("rootless_cidr", self.rootless_cidr.as_deref(), |s| {
                s.parse::<NetworkCidr>()
            })?,
            port_driver: key("port_driver", self.port_driver.as_deref(), |s| {
                s.parse::<PortDriver>()
            })?,
            mtu: self
                .mtu
                .map(|n| {
                    Mtu::new(n).map_err(|error| ParamError::Setting {
                        key: "mtu",
                        value: n.to_string(),
                        error,
                    })
                })
                .transpose()?,
            disable_host_loopback: self.disable_host_loopback,
        })
    }

    fn apply_accept(&self, a: &mut AcceptParams) {
        if let Some(v) = &self.kubeconfig {
            a.kubeconfig = Some(v.clone());
        }
        if let Some(v) = self.api_port {
            a.api_port = v;
        }
        if let Some(v) = self.traefik {
            a.traefik = v;
        }
        if let Some(v) = &self.probe_ports {
            a.probe_ports = v.clone();
        }
        if let Some(v) = &self.k3s_version {
            a.k3s_version = Some(v.clone());
        }
        if let Some(v) = self.timeout_secs {
            a.timeout_secs = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(toml_text: &str) -> Result<Params, String> {
        let patch: ParamsPatch = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        let mut p = Params::default();
        patch.apply(&mut p).map_err(|e| e.to_string())?;
        Ok(p)
    }

    #[test]
    fn suite_keys_are_validated_as_the_flags_are() {
        for (text, want) in [
            (
                "rootless_cidr = \"10.42.0.0/16\"",
                "rootless_cidr = \"10.42.0.0/16\": overlaps k3s's pod network",
            ),
            (
                "rootless_cidr = \"10.41.0.1/16\"",
                "did you mean 10.41.0.0/16?",
            ),
            (
                "mtu = 70000",
                "mtu = 70000: expected a number from 576 to 65520",
            ),
            (
                "port_driver = \"pasta\"",
                "port_driver = \"pasta\": expected builtin or slirp4netns",
            ),
            (
                "cluster_cidrs = [\"10.42.0.1/16\"]",
                "host bits set (did you mean 10.42.0.0/16?)",
            ),
            (
                "cidrs = [\"10.41.0.0/16\"]",
                "cidrs is now two keys: rootless_cidr",
            ),
        ] {
            let e = patch(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
        let p = patch("rootless_cidr = \"10.141.0.0/16\"\nmtu = 9000").unwrap();
        assert_eq!(p.rootless.cidr.to_string(), "10.141.0.0/16");
        assert_eq!(p.rootless.mtu.to_string(), "9000");
    }

    #[test]
    fn net_cidr_judges_the_rootless_network_first_and_once() {
        let show = |p: &Params| {
            p.networks()
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut p = Params::default();
        assert_eq!(show(&p), "10.41.0.0/16, 10.42.0.0/16, 10.43.0.0/16");
        p.rootless.cidr = "10.141.0.0/16".parse().unwrap();
        assert_eq!(show(&p), "10.141.0.0/16, 10.42.0.0/16, 10.43.0.0/16");
        p.cluster_cidrs.push("10.141.0.0/16".parse().unwrap());
        assert_eq!(show(&p), "10.141.0.0/16, 10.42.0.0/16, 10.43.0.0/16");
    }
}
