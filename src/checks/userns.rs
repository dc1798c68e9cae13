//! User namespaces: `userns.enabled`, `userns.apparmor`.

use super::{Ctx, Findings, Status, Verdict};
use crate::host::sysctl::{live, live_int, proc_path};
use crate::host::{FactError, Probe};

const MAX_USERNS: &str = "user.max_user_namespaces";
const USERNS_CLONE: &str = "kernel.unprivileged_userns_clone";
const APPARMOR_RESTRICT: &str = "kernel.apparmor_restrict_unprivileged_userns";

pub(super) fn enabled(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let u = host.user();
    let mut f = Findings::default();
    match live(host, MAX_USERNS)? {
        None => {
            f.observe(format!("{}: does not exist", proc_path(MAX_USERNS)));
            f.find(
                Status::Fail,
                "the kernel has no user namespaces (CONFIG_USER_NS is off)",
            );
            f.remedy("boot a kernel built with CONFIG_USER_NS=y");
        }
        Some(v) => {
            f.observe(format!("{}: {v}", proc_path(MAX_USERNS)));
            match v.parse::<u64>() {
                Ok(0) => {
                    f.find(
                        Status::Fail,
                        format!("{MAX_USERNS} is 0: user namespaces are disabled"),
                    );
                    f.remedy(format!("echo '{MAX_USERNS}=28633' | sudo tee /etc/sysctl.d/90-userns.conf && sudo sysctl --system"));
                }
                Ok(n) if n < 1024 => {
                    f.find(
                        Status::Warn,
                        format!("{MAX_USERNS} is {n}: k3s and its pods may run out (below 1024)"),
                    );
                    f.remedy(format!("echo '{MAX_USERNS}=28633' | sudo tee /etc/sysctl.d/90-userns.conf && sudo sysctl --system"));
                }
                Ok(_) => {}
                Err(_) => {
                    return Err(FactError::malformed(
                        &proc_path(MAX_USERNS),
                        1,
                        format!("{v:?} is not a number"),
                    ));
                }
            }
        }
    }
    if let Some(v) = live_int(host, USERNS_CLONE)? {
        f.observe(format!("{}: {v}", proc_path(USERNS_CLONE)));
        if v != "1" {
            f.find(
                Status::Fail,
                format!("{USERNS_CLONE} is {v}: unprivileged users cannot create user namespaces"),
            );
            f.remedy(format!("echo '{USERNS_CLONE}=1' | sudo tee /etc/sysctl.d/90-userns.conf && sudo sysctl --system"));
        }
    }
    match host.probes().userns(u) {
        Probe::NotRun(reason) => {
            f.observe(format!("live probe: {reason}"));
            f.find(
                Status::Skip,
                "not verified live: a process of the user was not started (live probe not run)",
            );
        }
        Probe::Answer(Ok(())) => f.observe(format!(
            "live probe as {}: unshare(CLONE_NEWUSER), uid_map, sethostname inside: ok",
            u.name
        )),
        Probe::Answer(Err(e)) => {
            f.observe(format!("live probe as {}: {e}", u.name));
            f.find(
                Status::Fail,
                format!("a process of {} cannot use a user namespace: {e}", u.name),
            );
            f.remedy("check the sysctls above and `krc explain userns.apparmor`; on hardened kernels see kernel.unprivileged_userns_clone and user.max_user_namespaces");
        }
    }
    Ok(f.finish(format!("{} can create and use user namespaces", u.name)))
}

pub(super) fn apparmor(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let path = proc_path(APPARMOR_RESTRICT);
    match live_int(ctx.host, APPARMOR_RESTRICT)? {
        None => Ok(Verdict::pass("AppArmor does not restrict user namespaces here").evidence(format!("{path}: does not exist"))),
        Some(v) if v == "0" => Ok(Verdict::pass(format!("{APPARMOR_RESTRICT} is 0")).evidence(format!("{path}: 0"))),
        Some(v) => Ok(Verdict::fail(format!(
            "{APPARMOR_RESTRICT} is {v}: k3s will fail with \"fork/exec /proc/self/exe: operation not permitted\""
        ))
        .evidence(format!("{path}: {v}"))
        .remedy(format!(
            "allow user namespaces for the k3s binary with an AppArmor profile:\n\
sudo tee /etc/apparmor.d/usr.local.bin.k3s >/dev/null <<'EOF'\n\
abi <abi/4.0>,\n\
include <tunables/global>\n\
profile k3s /usr/local/bin/k3s flags=(unconfined) {{\n\
  userns,\n\
  include if exists <local/usr.local.bin.k3s>\n\
}}\n\
EOF\n\
sudo apparmor_parser -r /etc/apparmor.d/usr.local.bin.k3s\n\
(or, host-wide and weaker: echo '{APPARMOR_RESTRICT}=0' | sudo tee /etc/sysctl.d/90-userns.conf && sudo sysctl --system)"
        ))),
    }
}

#[allow(non_upper_case_globals)]
pub(super) mod explain {
    pub(crate) const enabled: &str = "\
Verifies that user.max_user_namespaces is above 0 (warning below 1024), that kernel.unprivileged_userns_clone is 1 where the kernel has it (Debian's older kernels), and, on a live host, that a child process of the user can create a user namespace, map itself to root inside and use a capability there (sethostname in a new UTS namespace). The probe is a fresh exec of krc's own hidden helper (`krc __userns-probe`), started with an empty environment after dropping to the user's uid, gids and groups, so nothing of root's process or environment is visible to the user; it is single-threaded, as unshare(CLONE_NEWUSER) fails with EINVAL in a multi-threaded process.

Why: rootless k3s runs inside a user namespace created by its embedded RootlessKit. k3s checks kernel.unprivileged_userns_clone at startup and stops when it is not 1; with namespaces disabled RootlessKit fails before anything else starts.

Fix: `echo 'kernel.unprivileged_userns_clone=1' | sudo tee /etc/sysctl.d/90-userns.conf && sudo sysctl --system` (and likewise user.max_user_namespaces=28633 when it is 0 or low). If the probe fails on unshare with EPERM or on sethostname, see `krc explain userns.apparmor`.";

    pub(crate) const apparmor: &str = "\
Verifies that kernel.apparmor_restrict_unprivileged_userns is absent or 0.

Why: Ubuntu 24.04 and later set it to 1: unprivileged processes may create user namespaces only under an AppArmor profile that allows `userns`. The unshare itself succeeds but the process gets no capabilities inside, and rootless k3s fails with \"failed to start the child: fork/exec /proc/self/exe: operation not permitted\".

Fix: give the k3s binary (its real path, /usr/local/bin/k3s by default) a profile: /etc/apparmor.d/usr.local.bin.k3s with `abi <abi/4.0>, include <tunables/global> profile k3s /usr/local/bin/k3s flags=(unconfined) { userns, }`, then `sudo apparmor_parser -r /etc/apparmor.d/usr.local.bin.k3s`. Setting the sysctl to 0 also works but lifts the restriction for every program.";
}
