//! The user's systemd session: `session.runtime-dir`, `session.linger`.

use super::{Ctx, Findings, Status, Verdict};
use crate::host::{FactError, FileKind, Probe};

pub(super) fn runtime_dir(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let u = host.user();
    let dir = u.runtime_dir();
    let mut f = Findings::default();
    match host.stat(&dir)? {
        None => {
            f.observe(format!("{dir}: does not exist"));
            f.find(
                Status::Fail,
                format!(
                    "{dir} does not exist: {} has no running systemd user session",
                    u.name
                ),
            );
            f.remedy(format!(
                "sudo loginctl enable-linger {}   # starts user@{}.service, which creates {dir}",
                u.name, u.uid
            ));
        }
        Some(st) if st.kind != FileKind::Dir => {
            f.observe(format!("{dir}: {} (not a directory)", st.mode_string()));
            f.find(Status::Fail, format!("{dir} is not a directory"));
            f.remedy(format!(
                "sudo rm {dir} && sudo loginctl enable-linger {}",
                u.name
            ));
        }
        Some(st) => {
            f.observe(format!(
                "{dir}: {} {}:{}",
                st.mode_string(),
                host.owner_name(st.uid),
                host.group_name(st.gid)
            ));
            if st.uid != u.uid {
                f.find(
                    Status::Fail,
                    format!(
                        "{dir} belongs to uid {}, not to {} (uid {})",
                        st.uid, u.name, u.uid
                    ),
                );
                f.remedy(format!("sudo loginctl terminate-user {0} && sudo loginctl enable-linger {0}   # systemd-logind recreates it", u.name));
            }
        }
    }
    match host.probes().user_manager(u) {
        Probe::NotRun(reason) => {
            f.observe(format!("systemctl --user is-system-running: {reason}"));
            f.find(
                Status::Skip,
                "the user's systemd manager was not asked (live probe not run)",
            );
        }
        Probe::Answer(Ok(state)) => {
            f.observe(format!("systemctl --user is-system-running: {state}"));
            if state == "offline" || state == "unknown" {
                // The word systemctl prints when no manager runs for the user.
                f.find(
                    Status::Fail,
                    format!("the systemd manager of {} is {state}", u.name),
                );
                f.remedy(format!("sudo loginctl enable-linger {}", u.name));
            } else if state != "running" && state != "degraded" {
                f.find(
                    Status::Warn,
                    format!("the user's systemd manager is {state}"),
                );
                f.remedy(format!("systemctl --user -M {}@ list-units --failed   # see what keeps it from running", u.name));
            }
        }
        Probe::Answer(Err(err)) => {
            f.observe(format!("systemctl --user is-system-running: {err}"));
            f.find(
                Status::Fail,
                format!("the systemd manager of {} does not answer", u.name),
            );
            f.remedy(format!(
                "sudo loginctl enable-linger {0}\nsudo apt-get install -y dbus-user-session   # or: sudo dnf install -y dbus-daemon\nthen use a real login for {0} (ssh, or sudo machinectl shell {0}@); `systemctl --user` fails with \"Failed to connect to bus\" under su or sudo -u",
                u.name
            ));
        }
    }
    Ok(f.finish(format!(
        "{dir} belongs to {} and the user's systemd manager answers",
        u.name
    )))
}

pub(super) fn linger(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let u = ctx.host.user();
    let path = format!("/var/lib/systemd/linger/{}", u.name);
    if ctx.host.exists(&path) {
        return Ok(
            Verdict::pass(format!("lingering is enabled for {}", u.name))
                .evidence(format!("{path}: exists")),
        );
    }
    Ok(Verdict::fail(format!(
        "lingering is not enabled for {}: k3s stops when their last session ends",
        u.name
    ))
    .evidence(format!("{path}: does not exist"))
    .remedy(format!("sudo loginctl enable-linger {}", u.name)))
}

#[allow(non_upper_case_globals)]
pub(super) mod explain {
    pub(crate) const runtime_dir: &str = "\
Verifies that /run/user/UID (the user's XDG_RUNTIME_DIR) exists and belongs to the user, and, on a live host, that the user's systemd manager answers `systemctl --user is-system-running`.

Why: rootless k3s runs as the user unit k3s-rootless.service under the user's own systemd manager, keeps its containerd socket under $XDG_RUNTIME_DIR/k3s/, and k3s refuses to run rootless outside a systemd unit (\"Cannot set cgroup2 evacuation, make sure to run k3s as a systemd unit\"). Without a user manager, `systemctl --user` fails with \"Failed to connect to bus: No such file or directory\" — the usual state in CI, under su, or under sudo -u.

Fix: `sudo loginctl enable-linger USER` starts user@UID.service (and with it /run/user/UID) now and at every boot; install dbus-user-session (Debian/Ubuntu) so the user bus exists; then work as the user through a real login (ssh, or `sudo machinectl shell USER@`). Under --root the live probe is not run and the check says skipped.";

    pub(crate) const linger: &str = "\
Verifies that lingering is enabled for the user (/var/lib/systemd/linger/USER exists). Advisory.

Why: without lingering, systemd stops the user's manager — and with it k3s-rootless.service and every pod — when the user's last login session ends, and does not start it at boot. The cluster then disappears when the operator logs out of ssh.

Fix: `sudo loginctl enable-linger USER` (krc install does this in its linger step).";
}
