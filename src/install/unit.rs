//! The user unit and krc's drop-in. The unit carries the directives of
//! upstream's `k3s-rootless.service` (k3s-io/k3s, read for K3S-FACTS.md);
//! upstream ships no `K3S_ROOTLESS_*` lines, so krc puts them, and the PATH
//! k3s needs, in a drop-in of its own.

use super::options::Rootless;
use crate::host::UNIT_PATH;

pub(crate) const UNIT_NAME: &str = "k3s-rootless.service";
pub(crate) const K3S_BIN: &str = "/usr/local/bin/k3s";

/// `~/.config/systemd/user/k3s-rootless.service`, as a host path.
pub(crate) fn unit_path(home: &str) -> String {
    format!("{home}/.config/systemd/user/{UNIT_NAME}")
}

pub(crate) fn drop_in_path(home: &str) -> String {
    format!("{home}/.config/systemd/user/{UNIT_NAME}.d/krc.conf")
}

pub(crate) fn wants_path(home: &str) -> String {
    format!("{home}/.config/systemd/user/default.target.wants/{UNIT_NAME}")
}

pub(crate) fn unit() -> String {
    format!(
        "# Rootless k3s, written by krc install (directives of upstream's k3s-rootless.service).
# krc uninstall removes it; settings live in {UNIT_NAME}.d/krc.conf.
[Unit]
Description=k3s (Rootless)

[Service]
Environment=PATH={UNIT_PATH}
ExecStart={K3S_BIN} server --rootless --snapshotter=fuse-overlayfs
ExecReload=/bin/kill -s HUP $MAINPID
TimeoutSec=0
RestartSec=2
Restart=always
StartLimitBurst=3
StartLimitInterval=60s
LimitNOFILE=infinity
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
Delegate=yes
Type=simple
KillMode=mixed

[Install]
WantedBy=default.target
"
    )
}

pub(crate) fn drop_in(r: &Rootless) -> String {
    format!(
        "# Written by krc install; krc uninstall removes it. Change with
# `krc install --port-driver/--cidr/--mtu/--disable-host-loopback`.
[Service]
Environment=PATH={UNIT_PATH}
Environment=K3S_ROOTLESS_PORT_DRIVER={}
Environment=K3S_ROOTLESS_CIDR={}
Environment=K3S_ROOTLESS_MTU={}
Environment=K3S_ROOTLESS_DISABLE_HOST_LOOPBACK={}
",
        r.port_driver, r.cidr, r.mtu, r.disable_host_loopback
    )
}

pub(crate) const DELEGATE_DROP_IN: &str = "/etc/systemd/system/user@.service.d/delegate.conf";

pub(crate) fn delegate_drop_in() -> String {
    "# Written by krc install: rootless k3s needs these controllers delegated.
# krc uninstall removes it.
[Service]
Delegate=cpu cpuset io memory pids
"
    .to_string()
}
