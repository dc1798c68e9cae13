//! Check parameters a suite can set: globally in `[params]`, or for one
//! check in its `[[check]]` entry.

use serde::Deserialize;

use crate::host::net::Cidr;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Params {
    /// TCP ports that must be free before install (`ports.free`).
    pub(crate) ports: Vec<u16>,
    /// Networks k3s will use: rootless, pod and service CIDRs (`net.cidr`).
    pub(crate) cidrs: Vec<Cidr>,
    pub(crate) min_memory_mib: u64,
    pub(crate) min_cpus: u32,
    /// Acceptance: what the installed cluster must look like.
    pub(crate) accept: AcceptParams,
}

/// Acceptance parameters: the install's settings the cluster is judged by.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AcceptParams {
    /// The kubeconfig as a host path; None: `~USER/.kube/k3s.yaml`.
    pub(crate) kubeconfig: Option<String>,
    /// The API port k3s listens on (`--https-listen-port`).
    pub(crate) api_port: u16,
    /// `K3S_ROOTLESS_CIDR`: the node's InternalIP must be inside it.
    pub(crate) rootless_cidr: Cidr,
    /// `K3S_ROOTLESS_PORT_DRIVER`, `K3S_ROOTLESS_MTU`,
    /// `K3S_ROOTLESS_DISABLE_HOST_LOOPBACK` as the install set them.
    pub(crate) port_driver: String,
    pub(crate) mtu: u32,
    pub(crate) disable_host_loopback: bool,
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
            rootless_cidr: Cidr {
                addr: std::net::Ipv4Addr::new(10, 41, 0, 0),
                prefix: 16,
            },
            port_driver: "slirp4netns".into(),
            mtu: 1500,
            disable_host_loopback: true,
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
            cidrs: ["10.41.0.0/16", "10.42.0.0/16", "10.43.0.0/16"]
                .iter()
                .filter_map(|c| c.parse().ok())
                .collect(),
            min_memory_mib: 512,
            min_cpus: 1,
            accept: AcceptParams::default(),
        }
    }
}

/// Parameters as written in a suite file; every key optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ParamsPatch {
    pub(crate) user: Option<String>,
    pub(crate) ports: Option<Vec<u16>>,
    pub(crate) cidrs: Option<Vec<String>>,
    pub(crate) min_memory_mib: Option<u64>,
    pub(crate) min_cpus: Option<u32>,
    // Acceptance parameters (see `AcceptParams`).
    pub(crate) kubeconfig: Option<String>,
    pub(crate) api_port: Option<u16>,
    pub(crate) rootless_cidr: Option<String>,
    pub(crate) port_driver: Option<String>,
    pub(crate) mtu: Option<u32>,
    pub(crate) disable_host_loopback: Option<bool>,
    pub(crate) traefik: Option<bool>,
    pub(crate) probe_ports: Option<Vec<u16>>,
    pub(crate) k3s_version: Option<String>,
    pub(crate) timeout_secs: Option<u64>,
}

impl ParamsPatch {
    /// Applies the keys this patch sets; a malformed CIDR is an error.
    pub(crate) fn apply(&self, p: &mut Params) -> Result<(), String> {
        if let Some(v) = &self.ports {
            p.ports = v.clone();
        }
        if let Some(v) = &self.cidrs {
            p.cidrs = v
                .iter()
                .map(|c| {
                    let cidr: Cidr = c.parse().map_err(|e| format!("cidrs: {e}"))?;
                    if cidr.has_host_bits() {
                        return Err(format!(
                            "cidrs: {c} has host bits set (did you mean {}/{}?)",
                            mask(cidr),
                            cidr.prefix
                        ));
                    }
                    Ok(cidr)
                })
                .collect::<Result<_, String>>()?;
        }
        if let Some(v) = self.min_memory_mib {
            p.min_memory_mib = v;
        }
        if let Some(v) = self.min_cpus {
            p.min_cpus = v;
        }
        self.apply_accept(&mut p.accept)
    }

    fn apply_accept(&self, a: &mut AcceptParams) -> Result<(), String> {
        if let Some(v) = &self.kubeconfig {
            a.kubeconfig = Some(v.clone());
        }
        if let Some(v) = self.api_port {
            a.api_port = v;
        }
        if let Some(c) = &self.rootless_cidr {
            let cidr: Cidr = c.parse().map_err(|e| format!("rootless_cidr: {e}"))?;
            if cidr.has_host_bits() {
                return Err(format!(
                    "rootless_cidr: {c} has host bits set (did you mean {}/{}?)",
                    mask(cidr),
                    cidr.prefix
                ));
            }
            a.rootless_cidr = cidr;
        }
        if let Some(v) = &self.port_driver {
            if v != "builtin" && v != "slirp4netns" {
                return Err(format!(
                    "port_driver: {v:?} is not \"builtin\" or \"slirp4netns\""
                ));
            }
            a.port_driver = v.clone();
        }
        if let Some(v) = self.mtu {
            a.mtu = v;
        }
        if let Some(v) = self.disable_host_loopback {
            a.disable_host_loopback = v;
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
        Ok(())
    }
}

fn mask(c: Cidr) -> std::net::Ipv4Addr {
    let m = if c.prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(c.prefix))
    };
    std::net::Ipv4Addr::from(u32::from(c.addr) & m)
}
