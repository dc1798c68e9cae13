//! Which systemd the host runs, from its files: the version number in the
//! name of `libsystemd-shared-NNN.so`. It decides how root reaches a
//! user's manager: `systemctl --user --machine=USER@` needs systemd 248 or
//! newer (Debian 11 has 247, RHEL 8 has 239), where root instead runs
//! `systemctl --user` as the user with the user's runtime directory.

use super::Host;

/// Where distributions put systemd's private shared library.
const LIB_DIRS: &[&str] = &[
    "/usr/lib/systemd",
    "/lib/systemd",
    "/usr/lib64/systemd",
    "/usr/lib/x86_64-linux-gnu/systemd",
    "/usr/lib/aarch64-linux-gnu/systemd",
    "/usr/lib/arm-linux-gnueabihf/systemd",
    "/usr/lib/s390x-linux-gnu/systemd",
];

/// The first systemd release whose `systemctl --machine=USER@` reaches a
/// user's manager.
pub(crate) const MACHINE_USER_TRANSPORT: u32 = 248;

/// systemd's version, when its shared library is found.
pub(crate) fn version(host: &Host) -> Option<u32> {
    version_from(|d| host.list_dir(d))
}

fn version_from(list_dir: impl Fn(&str) -> Vec<String>) -> Option<u32> {
    LIB_DIRS.iter().find_map(|d| {
        list_dir(d).iter().find_map(|f| {
            f.strip_prefix("libsystemd-shared-")?
                .split(['.', '-'])
                .next()?
                .parse()
                .ok()
        })
    })
}

/// Can root use `systemctl --user --machine=USER@`? Unknown counts as yes:
/// every current distribution's systemd can.
pub(crate) fn machine_transport(host: &Host) -> bool {
    version(host).is_none_or(|v| v >= MACHINE_USER_TRANSPORT)
}

/// [`machine_transport`] for the machine krc runs on (the live probes,
/// which have no [`Host`]).
pub(crate) fn live_machine_transport() -> bool {
    version_from(|d| {
        std::fs::read_dir(d)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    })
    .is_none_or(|v| v >= MACHINE_USER_TRANSPORT)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_comes_from_the_library_name() {
        let debian = |d: &str| {
            if d == "/usr/lib/x86_64-linux-gnu/systemd" {
                vec![
                    "libsystemd-core-252.so".into(),
                    "libsystemd-shared-252.so".into(),
                ]
            } else {
                Vec::new()
            }
        };
        assert_eq!(super::version_from(debian), Some(252));
        let rhel8 = |d: &str| {
            if d == "/usr/lib/systemd" {
                vec!["libsystemd-shared-239.so".into(), "systemd".into()]
            } else {
                Vec::new()
            }
        };
        assert_eq!(super::version_from(rhel8), Some(239));
        assert_eq!(super::version_from(|_| Vec::new()), None);
    }
}
