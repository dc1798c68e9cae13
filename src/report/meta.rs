//! The parts of a report's `meta` that a fleet view groups and compares
//! hosts by: the distribution, and the settings the run used. Plain data,
//! filled by the command from the host facts and the parsed flags.

use serde::{Deserialize, Serialize};

use crate::settings::RootlessSettings;

/// `/etc/os-release`'s `ID` and `VERSION_ID` (and its `PRETTY_NAME` for
/// people), each null when the host does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Distribution {
    pub(crate) id: Option<String>,
    pub(crate) version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pretty_name: Option<String>,
}

impl Distribution {
    /// `debian 12`, `debian`, or `unknown`.
    pub(crate) fn label(&self) -> String {
        match (&self.id, &self.version_id) {
            (Some(id), Some(v)) => format!("{id} {v}"),
            (Some(id), None) => id.clone(),
            _ => "unknown".to_string(),
        }
    }
}

/// The settings a run judged or installed by. Trust and the k3s pin are
/// `meta.trust` and `meta.k3s`; the pins file and offline bundle are named
/// here when the install was given them. A mirror URL is not recorded: it
/// may carry credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RunSettings {
    /// `K3S_ROOTLESS_CIDR`.
    pub(crate) cidr: String,
    /// `K3S_ROOTLESS_PORT_DRIVER`.
    pub(crate) port_driver: String,
    /// `K3S_ROOTLESS_MTU`.
    pub(crate) mtu: u32,
    /// `K3S_ROOTLESS_DISABLE_HOST_LOOPBACK`.
    pub(crate) disable_host_loopback: bool,
    /// The packaged components the host's k3s is told not to deploy
    /// (`--disable` in the unit, `disable:` in config.yaml), sorted.
    #[serde(default)]
    pub(crate) disabled: Vec<String>,
    /// `--pins FILE` of an install.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pins: Option<String>,
    /// `--require-pins` of an install.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) require_pins: bool,
    /// `--offline DIR` of an install.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) offline: Option<String>,
}

impl RunSettings {
    /// The rootless settings, and the components disabled on the host
    /// (deduplicated and sorted, so equal hosts compare equal).
    pub(crate) fn of(rootless: &RootlessSettings, mut disabled: Vec<String>) -> RunSettings {
        disabled.sort();
        disabled.dedup();
        RunSettings {
            cidr: rootless.cidr.to_string(),
            port_driver: rootless.port_driver.to_string(),
            mtu: rootless.mtu.to_string().parse().unwrap_or(0),
            disable_host_loopback: rootless.disable_host_loopback,
            disabled,
            ..RunSettings::default()
        }
    }

    /// One line for JUnit properties and the fleet page:
    /// `cidr=10.41.0.0/16 port-driver=slirp4netns mtu=1500 ...`.
    pub(crate) fn line(&self) -> String {
        let mut s = format!(
            "cidr={} port-driver={} mtu={} disable-host-loopback={}",
            self.cidr, self.port_driver, self.mtu, self.disable_host_loopback
        );
        if !self.disabled.is_empty() {
            s.push_str(&format!(" disable={}", self.disabled.join(",")));
        }
        if let Some(p) = &self.pins {
            s.push_str(&format!(" pins={p}"));
        }
        if self.require_pins {
            s.push_str(" require-pins");
        }
        if let Some(o) = &self.offline {
            s.push_str(&format!(" offline={o}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_of_the_defaults_read_as_the_unit_writes_them() {
        let s = RunSettings::of(
            &RootlessSettings::default(),
            vec!["traefik".into(), "servicelb".into(), "traefik".into()],
        );
        assert_eq!(
            s.line(),
            "cidr=10.41.0.0/16 port-driver=slirp4netns mtu=1500 disable-host-loopback=true disable=servicelb,traefik"
        );
    }
}
