//! Devices and the snapshotter: `fs.fuse`, and the device access test that
//! `net.tun` shares.

use super::{Check, Ctx, Findings, Phase, Severity, Status, Verdict};
use crate::host::{FactError, FileKind, Host};

/// Judges whether the target user can open a character device read-write.
pub(super) fn device(
    host: &Host,
    f: &mut Findings,
    path: &str,
    dev: (u32, u32),
    fix_mode: &str,
) -> Result<(), FactError> {
    let u = host.user();
    let Some(st) = host.stat(path)? else {
        f.observe(format!("{path}: does not exist"));
        f.find(Status::Fail, format!("{path} does not exist"));
        let module = if dev.1 == 200 { "tun" } else { "fuse" };
        f.remedy(format!(
            "sudo modprobe {module} && echo {module} | sudo tee /etc/modules-load.d/{module}.conf"
        ));
        return Ok(());
    };
    let rdev = st
        .rdev
        .map(|(a, b)| format!(" {a}:{b}"))
        .unwrap_or_default();
    f.observe(format!(
        "{path}: {} {}:{}{rdev}",
        st.mode_string(),
        host.owner_name(st.uid),
        host.group_name(st.gid)
    ));
    if st.kind != FileKind::CharDevice || st.rdev != Some(dev) {
        f.find(
            Status::Fail,
            format!("{path} is not the character device {}:{}", dev.0, dev.1),
        );
        f.remedy(format!(
            "sudo rm {path} && sudo mknod -m {fix_mode} {path} c {} {}",
            dev.0, dev.1
        ));
    } else if !st.allows_rw(u.uid, &u.groups) {
        f.find(
            Status::Fail,
            format!("{} (uid {}) cannot open {path} read-write", u.name, u.uid),
        );
        let name = path.rsplit('/').next().unwrap_or(path);
        f.remedy(format!(
            "sudo chmod {fix_mode} {path}\nand to keep it after reboot: echo 'KERNEL==\"{name}\", MODE=\"{fix_mode}\"' | sudo tee /etc/udev/rules.d/60-krc-{name}.rules"
        ));
    }
    Ok(())
}

/// containerd's mount helper for `fuse3.fuse-overlayfs` mounts.
const MOUNT_HELPER: &str = "mount.fuse3";

pub(crate) const FUSE: Check = Check {
    id: "fs.fuse",
    phase: Phase::Preflight,
    severity: Severity::Required,
    title: "/dev/fuse and the mount.fuse3 helper are usable",
    fixed_by: Some("packages"),
    run: fuse,
    explain: "\
Verifies that /dev/fuse is the character device 10:229 and the user may open it read-write, and that the FUSE mount helper mount.fuse3 (package fuse3) is on the unit's PATH. fuse-overlayfs itself is not required on the host: k3s bundles it.

Why: the upstream k3s-rootless.service (k3s-io/k3s:k3s-rootless.service) starts `k3s server --rootless --snapshotter=fuse-overlayfs`. k3s runs the fuse-overlayfs binary from its own bundle (k3s-root's bin directory comes first on its PATH), but containerd's fuse-overlayfs snapshotter mounts `fuse3.fuse-overlayfs` through the host's mount helper, and containerd only execs the helpers mount.fuse and mount.fuse3, which k3s does not bundle. Without it, or without a usable /dev/fuse, k3s fails with \"fuse-overlayfs not functional, make sure running with kernel >= 4.18\", the wrapped error naming `exec: \"mount.fuse3\": executable file not found in $PATH`.

Fix: `sudo apt-get install -y fuse3` (Fedora/RHEL: `sudo dnf install -y fuse3`); if /dev/fuse is not 0666, `sudo chmod 0666 /dev/fuse` and a udev rule to keep it (`KERNEL==\"fuse\", MODE=\"0666\"`).",
};

pub(super) fn fuse(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let mut f = Findings::default();
    device(host, &mut f, "/dev/fuse", (10, 229), "0666")?;
    match host.which(MOUNT_HELPER) {
        Some(p) => f.observe(format!("{MOUNT_HELPER}: {p}")),
        None => {
            f.observe(format!(
                "{MOUNT_HELPER}: not found on PATH ({})",
                crate::host::UNIT_PATH
            ));
            f.find(
                Status::Fail,
                format!("{MOUNT_HELPER} is not installed: k3s fails with \"fuse-overlayfs not functional\" (exec: \"{MOUNT_HELPER}\": executable file not found in $PATH)"),
            );
            f.remedy("sudo apt-get install -y fuse3   # Fedora/RHEL: sudo dnf install -y fuse3");
        }
    }
    // Evidence only: k3s finds the fuse-overlayfs it bundles first.
    match host.which("fuse-overlayfs") {
        Some(p) => f.observe(format!(
            "fuse-overlayfs: {p} (k3s uses the copy it bundles; the host's is not needed)"
        )),
        None => f.observe("fuse-overlayfs: not on the host's PATH (not needed: k3s bundles it)"),
    }
    Ok(f.finish(format!(
        "{} can use /dev/fuse and the {MOUNT_HELPER} mount helper is installed",
        host.user().name
    )))
}
