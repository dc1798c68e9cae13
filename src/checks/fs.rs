//! Devices and the snapshotter: `fs.fuse`, and the device access test that
//! `net.tun` shares.

use super::{Ctx, Findings, Status, Verdict};
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

pub(super) fn fuse(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let mut f = Findings::default();
    device(host, &mut f, "/dev/fuse", (10, 229), "0666")?;
    match host.which("fuse-overlayfs") {
        Some(p) => f.observe(format!("fuse-overlayfs: {p}")),
        None => {
            f.observe(format!(
                "fuse-overlayfs: not found on PATH ({})",
                crate::host::UNIT_PATH
            ));
            f.find(Status::Fail, "fuse-overlayfs is not installed");
            f.remedy("sudo apt-get install -y fuse-overlayfs   # Fedora/RHEL: sudo dnf install -y fuse-overlayfs");
        }
    }
    Ok(f.finish(format!(
        "{} can use /dev/fuse and fuse-overlayfs is installed",
        host.user().name
    )))
}

#[allow(non_upper_case_globals)]
pub(super) mod explain {
    pub(crate) const fuse: &str = "\
Verifies that /dev/fuse is the character device 10:229 and the user may open it read-write, and that fuse-overlayfs is on the unit's PATH.

Why: the upstream k3s-rootless.service starts `k3s server --rootless --snapshotter=fuse-overlayfs`; an unprivileged user cannot mount overlayfs on older kernels, so containerd stacks image layers with fuse-overlayfs. Without it k3s fails with \"fuse-overlayfs not functional, make sure running with kernel >= 4.18\".

Fix: `sudo apt-get install -y fuse-overlayfs` (Fedora/RHEL: `sudo dnf install -y fuse-overlayfs`); if /dev/fuse is not 0666, `sudo chmod 0666 /dev/fuse` and a udev rule to keep it (`KERNEL==\"fuse\", MODE=\"0666\"`).";
}
