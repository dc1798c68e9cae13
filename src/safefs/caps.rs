//! How much root reads of each kind of file, stated once. Every read of the
//! layer is bounded by one of these: a file the user can write could
//! otherwise cost root its memory (a sparse 1 GiB unit file) or leave a
//! huge root-owned backup outside the user's quota.

const MIB: u64 = 1 << 20;

/// A kind of file root reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cap {
    /// Files below the target user's home: unit files, drop-ins, k3s
    /// config, the rootless lock.
    UserFile,
    /// The kubeconfig k3s writes (a few KiB).
    Kubeconfig,
    /// `/proc` and `/sys` (mountinfo on a busy host is the largest).
    Kernel,
    /// A kernel build configuration (`/boot/config-*`, about 300 KiB).
    KernelConfig,
    /// System configuration and databases: `/etc`, `/var/lib/dpkg/status`.
    System,
    /// krc's own journal and its backups.
    Journal,
    /// Offline-bundle artifacts and installed binaries (k3s is ~70 MB).
    Artifact,
    /// Anything else a fact reads.
    Other,
}

/// The table: (kind, limit in bytes, what it is, as messages name it).
const TABLE: &[(Cap, u64, &str)] = &[
    (Cap::UserFile, MIB, "a file in the user's home"),
    (Cap::Kubeconfig, MIB, "a kubeconfig"),
    (Cap::Kernel, 16 * MIB, "a /proc or /sys file"),
    (Cap::KernelConfig, 4 * MIB, "a kernel configuration"),
    (Cap::System, 64 * MIB, "a system file"),
    (Cap::Journal, 16 * MIB, "krc's journal"),
    (Cap::Artifact, 384 * MIB, "an install artifact"),
    (Cap::Other, 16 * MIB, "a host file"),
];

/// Below this size a file is never judged sparse: small files on some
/// filesystems (inline data, /sys) report no blocks at all, and a
/// compressing filesystem may report a small file's blocks compressed.
pub(crate) const SPARSE_MIN: u64 = MIB;

impl Cap {
    pub(crate) fn limit(self) -> u64 {
        TABLE
            .iter()
            .find(|(c, _, _)| *c == self)
            .map_or(MIB, |r| r.1)
    }

    pub(crate) fn what(self) -> &'static str {
        TABLE
            .iter()
            .find(|(c, _, _)| *c == self)
            .map_or("a file", |r| r.2)
    }

    /// The cap of a host path, from where it is (`home`: the target
    /// user's home, if known).
    pub(crate) fn of_path(host_path: &str, home: Option<&str>) -> Cap {
        let below = |dir: &str| {
            let dir = dir.trim_end_matches('/');
            host_path
                .strip_prefix(dir)
                .is_some_and(|rest| rest.starts_with('/'))
        };
        if home.is_some_and(|h| !h.trim_end_matches('/').is_empty() && below(h)) {
            Cap::UserFile
        } else if below("/proc") || below("/sys") {
            Cap::Kernel
        } else if below("/boot") || below("/lib/modules") || below("/usr/lib/modules") {
            Cap::KernelConfig
        } else if below("/var/lib/krc") {
            Cap::Journal
        } else if below("/usr/local/bin") || below("/usr/bin") {
            Cap::Artifact
        } else if below("/etc") || below("/var/lib") || below("/usr") {
            Cap::System
        } else {
            Cap::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_row_and_paths_pick_theirs() {
        for c in [
            Cap::UserFile,
            Cap::Kubeconfig,
            Cap::Kernel,
            Cap::KernelConfig,
            Cap::System,
            Cap::Journal,
            Cap::Artifact,
            Cap::Other,
        ] {
            assert!(TABLE.iter().any(|r| r.0 == c), "{c:?}");
        }
        let home = Some("/home/u");
        assert_eq!(Cap::of_path("/home/u/.config/x", home), Cap::UserFile);
        assert_eq!(Cap::of_path("/home/uu/x", home), Cap::Other);
        assert_eq!(Cap::of_path("/proc/self/mountinfo", home), Cap::Kernel);
        assert_eq!(Cap::of_path("/etc/subuid", home), Cap::System);
        assert_eq!(Cap::of_path("/usr/local/bin/k3s", home), Cap::Artifact);
        assert_eq!(Cap::UserFile.limit(), 1 << 20);
    }
}
