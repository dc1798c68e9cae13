//! Where rootless k3s and krc keep things on a host: the paths of the rootless
//! layout the checks read and the installer writes, stated once (grub's
//! live with the boot facts, in `host::boot`). Paths in a home take the
//! home as the user database gives it; the rest are absolute.

/// The user unit, as upstream names it (k3s-io/k3s:k3s-rootless.service).
pub(crate) const UNIT: &str = "k3s-rootless.service";

/// `~/.config/systemd/user/k3s-rootless.service`.
pub(crate) fn unit_path(home: &str) -> String {
    format!("{home}/.config/systemd/user/{UNIT}")
}

/// krc's drop-in with the `K3S_ROOTLESS_*` settings (and the host's proxy).
pub(crate) fn drop_in_path(home: &str) -> String {
    format!("{}.d/krc.conf", unit_path(home))
}

/// The link `systemctl --user enable` makes.
pub(crate) fn wants_path(home: &str) -> String {
    format!("{home}/.config/systemd/user/default.target.wants/{UNIT}")
}

/// Where rootless k3s writes its admin kubeconfig (k3s-io/k3s:pkg/server,
/// HomeKubeConfig) and where krc accept reads it unless told otherwise.
pub(crate) fn kubeconfig_path(home: &str) -> String {
    format!("{home}/.kube/k3s.yaml")
}

/// logind's mark that `user` lingers: its manager runs without a login.
pub(crate) fn linger_path(user: &str) -> String {
    format!("/var/lib/systemd/linger/{user}")
}

/// The controllers systemd delegates to every user manager.
pub(crate) const DELEGATE_DROP_IN: &str = "/etc/systemd/system/user@.service.d/delegate.conf";

/// IPv4 (and, when asked, IPv6) forwarding, which rootless k3s needs.
pub(crate) const SYSCTL_FILE: &str = "/etc/sysctl.d/90-krc-rootless.conf";

/// Kernel modules rootless k3s cannot load from inside its namespace.
pub(crate) const MODULES_LOAD_FILE: &str = "/etc/modules-load.d/krc-rootless.conf";

/// The AppArmor profile that lets k3s create user namespaces where
/// Ubuntu restricts them.
pub(crate) const APPARMOR_PROFILE: &str = "/etc/apparmor.d/krc-k3s";

#[cfg(test)]
mod tests {
    #[test]
    fn paths_in_the_home() {
        let h = "/home/k3s";
        assert_eq!(
            super::drop_in_path(h),
            "/home/k3s/.config/systemd/user/k3s-rootless.service.d/krc.conf"
        );
        assert_eq!(super::kubeconfig_path(h), "/home/k3s/.kube/k3s.yaml");
    }
}
