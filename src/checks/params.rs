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
