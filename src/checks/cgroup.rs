//! cgroup v2: `cgroup.unified`, `cgroup.controllers`, `cgroup.delegation`.

use super::{Check, Ctx, Findings, Phase, Severity, Status, Verdict, at};
use crate::host::boot::{
    GRUB_DEFAULTS, NextBoot, UNIFIED_FLAG, cmdline_unified, grub_drop_in, next_boot,
};
use crate::host::cgroup::{
    CGROUP_ROOT, CgroupLayout, CgroupMode, DelegateSetting, delegate_settings,
    effective_delegation, parse_mountinfo, parse_proc_cgroups,
};
use crate::host::{FactError, Host, TargetUser};

/// The fix for a GRUB host: a drop-in of krc's own, which `update-grub`
/// sources after `/etc/default/grub` (that file is never edited).
fn drop_in_remedy() -> String {
    format!(
        "printf '%s\\n' '{}' | sudo tee {}\nsudo update-grub   # Fedora/RHEL: sudo grubby --update-kernel=ALL --args={UNIFIED_FLAG}\nsudo reboot\n(krc install writes this drop-in, runs update-grub and stops with exit 3 until the reboot)",
        grub_drop_in()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("' '"),
        crate::host::boot::GRUB_DROP_IN
    )
}

const MOUNTINFO: &str = "/proc/self/mountinfo";
const PROC_CGROUPS: &str = "/proc/cgroups";
/// What the v2 root must offer: what k3s requires delegated
/// (validateCgroupsV2 in k3s-io/k3s:pkg/agent/run.go: cpu, cpuset,
/// memory; pkg/daemons/agent/agent_linux.go: cpu, pids). io is not
/// required upstream.
const ROOT_CONTROLLERS: &[&str] = &["cpu", "cpuset", "memory", "pids"];
const DELEGATED_REQUIRED: &[&str] = &["cpu", "cpuset", "memory", "pids"];
use crate::layout::DELEGATE_DROP_IN as DROP_IN;

fn layout(host: &Host) -> Result<CgroupLayout, FactError> {
    let mounts = parse_mountinfo(&host.read(MOUNTINFO)?, MOUNTINFO)?;
    let controllers = match host.read_opt(PROC_CGROUPS)? {
        Some(text) => parse_proc_cgroups(&text, PROC_CGROUPS)?,
        None => Vec::new(),
    };
    Ok(CgroupLayout::from_facts(&mounts, &controllers))
}

pub(crate) const UNIFIED: Check = Check {
    id: "cgroup.unified",
    phase: Phase::Preflight,
    severity: Severity::Required,
    title: "the host runs pure cgroup v2",
    fixed_by: Some("cgroup-v2"),
    run: unified,
    explain: "\
Verifies that /sys/fs/cgroup is a cgroup2 filesystem (the last mount at that path in /proc/self/mountinfo), the way k3s decides: it uses containerd's cgroups.Mode() (k3s-io/k3s:pkg/cgroups, containerd/cgroups:utils.go), which calls a host unified when statfs(\"/sys/fs/cgroup\") is cgroup2, hybrid when only /sys/fs/cgroup/unified is, legacy otherwise. A v1 hierarchy mounted elsewhere (a VPN client's net_cls, a container tool's name=... hierarchy) does not make the host hybrid: on such a host the check passes and lists it, unless it binds a controller k3s needs (cpu, cpuset, memory, pids), which then is missing from the v2 tree: it fails naming that hierarchy, and the fix is to unmount it, not the boot loader. On a hybrid or v1 host it names the controllers still bound to v1 (from the cgroup mounts in /proc/self/mountinfo and the hierarchy ids in /proc/cgroups). If the next boot already asks for systemd.unified_cgroup_hierarchy=1 (the first kernel line of /boot/grub/grub.cfg, Boot Loader Specification entries, or else the GRUB defaults: /etc/default/grub and /etc/default/grub.d/*.cfg, where the last occurrence wins) but the running kernel was booted without it, it says a reboot is pending. If the running kernel's command line (/proc/cmdline) already has the flag and v1 is still mounted, it says what still binds v1 (and which PID 1 should have read the flag) instead of asking for the flag again.

Why: rootless k3s supports cgroup v2 only; v1 and hybrid v1/v2 are not supported. A controller bound to a v1 hierarchy cannot appear in the v2 tree, so it cannot be delegated to the user. On a hybrid host k3s warns \"Enabling cgroup2 is highly recommended\" (k3s-io/k3s:pkg/rootless/rootless.go), logs \"Cannot set cgroup2 evacuation\" and then fails with \"delegated cgroup v2 controllers are required for rootless\" (k3s-io/k3s:pkg/daemons/agent/agent_linux.go); the per-controller messages such as \"failed to find cpuset cgroup (v2)\" (validateCgroupsV2, k3s-io/k3s:pkg/agent/run.go) belong to a pure v2 host without delegation (see cgroup.delegation), not to this one.

Fix: add systemd.unified_cgroup_hierarchy=1 to the kernel command line: on Debian and Ubuntu a drop-in /etc/default/grub.d/99-krc-cgroup2.cfg that appends it to GRUB_CMDLINE_LINUX and GRUB_CMDLINE_LINUX_DEFAULT (so it comes last and wins over a =0), then `sudo update-grub`; on Fedora/RHEL `sudo grubby --update-kernel=ALL --args=systemd.unified_cgroup_hierarchy=1`; then reboot. `krc install` writes that drop-in (it never edits /etc/default/grub) or runs grubby, and stops with exit status 3, \"reboot required\"; run it again after the reboot. It plans no boot-loader change when the running kernel already has the flag or /sys/fs/cgroup is already cgroup2 (another reboot would change nothing): the install then stops on this check, whose remedy names the v1 mount to remove. Uninstall removes the drop-in and regenerates the boot configuration rather than restoring an old copy.",
};

pub(super) fn unified(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let l = layout(host)?;
    let mut f = Findings::default();
    if l.mode == CgroupMode::Unified {
        let line = l.v2.as_ref().map(|m| m.text.clone()).unwrap_or_default();
        f.observe(format!("{MOUNTINFO}: {line}"));
        for m in &l.v1_mounts {
            f.observe(format!("{MOUNTINFO}: {}", m.text));
        }
        if let Some(why) = v1_binds_needed(&l) {
            f.find(Status::Fail, why);
            f.remedy(unbind_remedy(&l));
            return Ok(f.finish(""));
        }
        let beside: Vec<String> = l.v1_mounts.iter().map(|m| m.v1_label()).collect();
        return Ok(f.finish(if beside.is_empty() {
            "pure cgroup v2 (unified hierarchy)".to_string()
        } else {
            format!(
                "cgroup v2 at {CGROUP_ROOT} (unified, as k3s judges it); the v1 hierarchies beside it bind no controller k3s needs: {}",
                beside.join(", ")
            )
        }));
    }
    let what = match l.mode {
        CgroupMode::Hybrid => "hybrid cgroup v1/v2",
        CgroupMode::Legacy => "legacy cgroup v1",
        _ => "no cgroup filesystem at /sys/fs/cgroup",
    };
    if l.v1_controllers.is_empty() {
        f.find(Status::Fail, what.to_string());
    } else {
        f.find(
            Status::Fail,
            format!(
                "{what}: controllers still bound to v1: {}",
                l.v1_controllers.join(", ")
            ),
        );
    }
    for m in l.v1_mounts.iter().chain(l.v2.iter()) {
        f.observe(format!("{MOUNTINFO}: {}", m.text));
    }
    if let Some(text) = host.read_opt(PROC_CGROUPS)? {
        for c in parse_proc_cgroups(&text, PROC_CGROUPS)?
            .iter()
            .filter(|c| c.enabled && c.hierarchy != 0)
        {
            f.observe(format!("{PROC_CGROUPS}: {}", c.text));
        }
    }
    let cmdline = host.read_opt("/proc/cmdline")?.unwrap_or_default();
    if let Some(flag) = cmdline
        .split_whitespace()
        .find(|a| a.starts_with("systemd.unified_cgroup_hierarchy="))
    {
        f.observe(format!("/proc/cmdline: ... {flag} ..."));
    }
    if cmdline_unified(&cmdline) == Some(true) {
        // The flag is on the running kernel's line and v1 is still
        // mounted: another boot-loader change would loop (add, reboot,
        // same mounts, add again). Say what still holds v1 instead.
        let (finding, remedy) = flag_present_but_v1(host, &l)?;
        f.find(Status::Fail, finding);
        f.remedy(remedy);
        return Ok(f.finish(""));
    }
    match next_boot(host)? {
        NextBoot::Unified(line) => {
            f.observe(line);
            f.find(Status::Fail, "a reboot is pending: the boot configuration sets cgroup v2 but the running kernel was booted without it");
            f.remedy("sudo reboot");
        }
        NextBoot::DefaultsAsk(line) => {
            f.observe(line);
            f.find(Status::Fail, "a reboot is pending: the boot configuration sets cgroup v2 but the running kernel was booted without it");
            f.remedy("sudo update-grub   # Fedora/RHEL: sudo grub2-mkconfig -o /boot/grub2/grub.cfg\nsudo reboot");
        }
        NextBoot::NotUnified(line) => {
            f.observe(line);
            f.remedy(drop_in_remedy());
        }
        _ if host.exists(GRUB_DEFAULTS) => f.remedy(drop_in_remedy()),
        _ => {
            f.observe(format!("{GRUB_DEFAULTS}: does not exist"));
            f.remedy(format!(
                "add {UNIFIED_FLAG} to the kernel command line of this host's boot loader (it has no {GRUB_DEFAULTS}; Fedora/RHEL: sudo grubby --update-kernel=ALL --args={UNIFIED_FLAG}), then reboot"
            ));
        }
    }
    Ok(f.finish(""))
}

/// On a unified host, the finding when a v1 hierarchy holds a controller
/// k3s needs (it is then missing from the v2 tree).
fn v1_binds_needed(l: &CgroupLayout) -> Option<String> {
    let needed = l.needed_on_v1();
    if needed.is_empty() {
        return None;
    }
    let mounts: Vec<String> = l
        .v1_mounts_binding(&needed)
        .iter()
        .map(|m| m.v1_label())
        .collect();
    Some(format!(
        "{CGROUP_ROOT} is cgroup v2, but {} {} bound to a v1 hierarchy ({}): k3s cannot use {} in the v2 tree",
        needed.join(", "),
        if needed.len() == 1 { "is" } else { "are" },
        if mounts.is_empty() {
            "mounted in another mount namespace; see /proc/cgroups".to_string()
        } else {
            mounts.join(", ")
        },
        if needed.len() == 1 { "it" } else { "them" },
    ))
}

/// What gives a controller back to v2: the v1 hierarchy must go, not the
/// kernel command line.
fn unbind_remedy(l: &CgroupLayout) -> String {
    let needed = l.needed_on_v1();
    let mut out = String::new();
    for m in l.v1_mounts_binding(&needed) {
        out.push_str(&format!(
            "sudo umount {}   # no boot-loader change helps: {CGROUP_ROOT} is already cgroup v2\n",
            m.mount_point
        ));
    }
    out.push_str("findmnt -t cgroup   # every v1 hierarchy still mounted\n");
    out.push_str("then stop the tool that mounts it (a VPN client or container tool) from doing so: the controller returns to v2 once the v1 hierarchy is unmounted and has no cgroups left, at the latest after a reboot without that tool");
    out
}

/// The running kernel already has the flag, yet v1 is mounted: what
/// still holds it. systemd reads the flag only as PID 1.
fn flag_present_but_v1(host: &Host, l: &CgroupLayout) -> Result<(String, String), FactError> {
    let pid1 = host
        .read_opt("/proc/1/comm")?
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let holders: Vec<String> = l
        .v1_mounts
        .iter()
        .filter(|m| m.super_opts.split(',').any(|o| !o.starts_with("name=")))
        .map(|m| m.v1_label())
        .collect();
    let finding = format!(
        "the running kernel was booted with {UNIFIED_FLAG}, yet {CGROUP_ROOT} is not cgroup v2; still bound to v1: {}",
        if holders.is_empty() {
            "(no v1 mount in this namespace)".to_string()
        } else {
            holders.join(", ")
        }
    );
    let why = if !pid1.is_empty() && pid1 != "systemd" {
        format!(
            "the flag is read by systemd as PID 1, and PID 1 here is {pid1}: whatever starts this system mounts the v1 hierarchies; switch it to cgroup v2 there (for a container: its runtime's cgroup settings)"
        )
    } else {
        "systemd got the flag and still mounted v1: check for cgroup_no_v1= or another cgroup option on the kernel line, a systemd too old for cgroup v2 (before 226), or a unit that mounts these hierarchies (findmnt -t cgroup)".to_string()
    };
    Ok((
        finding,
        format!(
            "no boot-loader change helps: {UNIFIED_FLAG} is already on the running kernel's line (cat /proc/cmdline)\n{why}"
        ),
    ))
}

/// Why a boot-loader change cannot fix `cgroup.unified` on this host, if
/// it cannot: the host already runs cgroup v2 (a v1 hierarchy holds a
/// controller), or the running kernel already has the flag. The
/// `cgroup-v2` step plans nothing then, so an install never loops on
/// reboots that change nothing.
pub(crate) fn boot_change_cannot_help(host: &Host) -> Result<Option<String>, FactError> {
    let l = layout(host)?;
    if l.mode == CgroupMode::Unified {
        return Ok(v1_binds_needed(&l));
    }
    let cmdline = host.read_opt("/proc/cmdline")?.unwrap_or_default();
    if cmdline_unified(&cmdline) == Some(true) {
        return Ok(Some(flag_present_but_v1(host, &l)?.0));
    }
    Ok(None)
}

pub(crate) const CONTROLLERS: Check = Check {
    id: "cgroup.controllers",
    phase: Phase::Preflight,
    severity: Severity::Required,
    title: "the cgroup v2 root offers cpu, cpuset, memory, pids",
    fixed_by: Some("cgroup-v2"),
    run: controllers,
    explain: "\
Verifies that the root of the cgroup v2 hierarchy offers the cpu, cpuset, memory and pids controllers (its cgroup.controllers file). io is shown but not required: nothing upstream requires it.

Why: systemd can only delegate to the user what the root offers. k3s needs cpu, cpuset and memory in the user's delegated subtree (validateCgroupsV2 in k3s-io/k3s:pkg/agent/run.go: \"failed to find cpuset cgroup (v2)\" and the like) and pids and cpu (k3s-io/k3s:pkg/daemons/agent/agent_linux.go: \"pids cgroup controller not found\"); neither checks io, which only lets pods' I/O be limited. On a hybrid host the v2 root is typically empty because every controller is bound to v1; on a v2 host a v1 hierarchy that binds one of them (see cgroup.unified) takes it out of the v2 root too.

Fix: on a hybrid or v1 host, move to pure cgroup v2 (`krc explain cgroup.unified`). On a pure v2 host a missing controller means a kernel built without it, disabled with cgroup_disable= on the command line, or held by a v1 hierarchy mounted beside (cgroup.unified names it): boot a kernel that has it, or unmount that hierarchy.",
};

pub(super) fn controllers(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let l = layout(host)?;
    let Some(root) = l.v2_root() else {
        return Ok(Verdict::fail("no cgroup v2 hierarchy is mounted")
            .evidence(format!("{MOUNTINFO}: no cgroup2 mount"))
            .remedy("switch the host to cgroup v2 first: see `krc explain cgroup.unified`"));
    };
    let path = format!("{root}/cgroup.controllers");
    let text = host.read(&path)?;
    let offered: Vec<&str> = text.split_whitespace().collect();
    let missing: Vec<&str> = ROOT_CONTROLLERS
        .iter()
        .copied()
        .filter(|c| !offered.contains(c))
        .collect();
    let seen = format!(
        "{path}: {}",
        if text.trim().is_empty() {
            "(empty)"
        } else {
            text.trim()
        }
    );
    if missing.is_empty() {
        return Ok(Verdict::pass(format!(
            "the v2 root offers {}",
            ROOT_CONTROLLERS.join(", ")
        ))
        .evidence(seen));
    }
    let mut v = Verdict::fail(format!(
        "the cgroup v2 root does not offer {}",
        missing.join(", ")
    ))
    .evidence(seen);
    let held = l.needed_on_v1();
    v = if l.mode == CgroupMode::Unified && missing.iter().any(|c| held.contains(c)) {
        v.remedy(unbind_remedy(&l))
    } else if l.mode == CgroupMode::Unified {
        // Raspberry Pi kernels ship with memory disabled unless enabled on
        // the command line: the one case most users meet, so name it.
        let pi = if missing.contains(&"memory") {
            "\nRaspberry Pi OS: append cgroup_memory=1 cgroup_enable=memory to the single line of /boot/firmware/cmdline.txt (/boot/cmdline.txt before bookworm), then reboot"
        } else {
            ""
        };
        v.remedy(format!(
            "boot a kernel built with the missing controllers (CONFIG_CGROUPS and the matching CONFIG_CGROUP_*/CONFIG_CPUSETS/CONFIG_MEMCG options) and without cgroup_disable= for them on its command line: {}{pi}",
            missing.join(", ")
        ))
    } else {
        v.remedy("these controllers are bound to cgroup v1 on this host: switch to pure cgroup v2 (see `krc explain cgroup.unified`) and they move to the v2 root")
    };
    Ok(v)
}

/// `Delegate=` settings of `user@.service` and its drop-ins, in the order
/// systemd applies them.
pub(crate) fn delegation_config(host: &Host, uid: u32) -> Vec<DelegateSetting> {
    let mut out = Vec::new();
    for unit in [
        "/etc/systemd/system/user@.service",
        "/usr/lib/systemd/system/user@.service",
        "/lib/systemd/system/user@.service",
    ] {
        if let Ok(text) = host.read(unit) {
            out.extend(delegate_settings(&text, unit));
            break;
        }
    }
    for unit in [
        "user@.service.d".to_string(),
        format!("user@{uid}.service.d"),
    ] {
        let mut by_name = std::collections::BTreeMap::new();
        for dir in [
            "/etc/systemd/system",
            "/run/systemd/system",
            "/usr/lib/systemd/system",
            "/lib/systemd/system",
        ] {
            let d = format!("{dir}/{unit}");
            for name in host
                .list_dir(&d)
                .into_iter()
                .filter(|n| n.ends_with(".conf"))
            {
                by_name
                    .entry(name.clone())
                    .or_insert_with(|| format!("{d}/{name}"));
            }
        }
        for file in by_name.into_values() {
            if let Ok(text) = host.read(&file) {
                out.extend(delegate_settings(&text, &file));
            }
        }
    }
    out
}

pub(crate) const DELEGATION: Check = Check {
    id: "cgroup.delegation",
    phase: Phase::Preflight,
    severity: Severity::Required,
    title: "systemd delegates cpu, cpuset, memory, pids to the user",
    fixed_by: Some("delegation"),
    run: delegation,
    explain: "\
Verifies that systemd delegates cpu, cpuset, memory and pids (required) and io (advisory) to the user's manager: /sys/fs/cgroup/user.slice/user-UID.slice/user@UID.service/cgroup.controllers. It also reads the Delegate= settings of user@.service and its drop-ins: when they delegate the controllers but the live set lacks them, a daemon-reload and re-login (or reboot) is pending; when no user manager runs, it judges from those files and says the live state was not readable.

Why: since v1.22 rootless k3s requires delegated controllers (k3s-io/k3s:pkg/daemons/agent/agent_linux.go, cpu, pids and a writable cgroup: \"delegated cgroup v2 controllers are required for rootless\"); without cpuset, cpu or memory it fails with \"failed to find cpuset cgroup (v2)\" and the like (validateCgroupsV2, k3s-io/k3s:pkg/agent/run.go). systemd delegates only part of the set by default (memory pids, or cpu memory pids on Debian 12's systemd 252), and cpuset needs systemd >= 244.

Fix: create /etc/systemd/system/user@.service.d/delegate.conf with\n  [Service]\n  Delegate=cpu cpuset io memory pids\nrun `sudo systemctl daemon-reload`, then log out and back in as the user (or reboot) so user@UID.service restarts. `krc install` writes this drop-in in its delegation step.",
};

pub(super) fn delegation(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    // Delegation is systemd's (user@.service): without systemd as PID 1
    // there is nothing to judge, and its remedies could not run.
    if let Some(v) = super::session::skip_without_systemd(ctx.host)? {
        return Ok(v);
    }
    let host = ctx.host;
    let u = host.user();
    let l = layout(host)?;
    let settings = delegation_config(host, u.uid);
    let d = Delegation {
        host,
        user: u,
        root: l.v2_root().unwrap_or("/sys/fs/cgroup").to_string(),
        // On a hybrid or v1 host the controllers sit in v1 hierarchies: no
        // Delegate= setting, daemon-reload or re-login can hand them to the
        // user until the host boots into pure cgroup v2. Say so, instead of
        // promising that a re-login (or the unit files alone) will do.
        on_v1: l.mode != CgroupMode::Unified,
        configured: effective_delegation(&settings),
    };
    let mut f = Findings::default();
    for s in &settings {
        f.observe(at(&s.file, s.line, &format!("Delegate={}", s.value)));
    }
    let root = &d.root;
    let path = format!(
        "{root}/user.slice/user-{0}.slice/user@{0}.service/cgroup.controllers",
        u.uid
    );
    Ok(match host.read_opt(&path)? {
        Some(live_text) => d.judge_live(f, &path, &live_text),
        None => d.judge_unit_files(f, &path),
    })
}

/// What `cgroup.delegation` judges the user's manager against.
struct Delegation<'a> {
    host: &'a Host,
    user: &'a TargetUser,
    /// The cgroup v2 root (where the host mounts it).
    root: String,
    /// The controllers are bound to cgroup v1 on this host.
    on_v1: bool,
    /// What `user@.service` and its drop-ins delegate.
    configured: Vec<String>,
}

impl Delegation<'_> {
    fn configures(&self, controller: &str) -> bool {
        self.configured.iter().any(|x| x == controller)
    }

    fn configured_ok(&self) -> bool {
        DELEGATED_REQUIRED.iter().all(|c| self.configures(c))
    }

    fn drop_in_remedy(&self) -> String {
        format!(
            "sudo mkdir -p /etc/systemd/system/user@.service.d\nprintf '[Service]\\nDelegate=cpu cpuset io memory pids\\n' | sudo tee {DROP_IN}\nsudo systemctl daemon-reload\nthen log out and back in as {} (or reboot) so user@{}.service starts with the new set",
            self.user.name, self.user.uid
        )
    }

    /// No user manager runs: judged from the unit files alone.
    fn judge_unit_files(&self, mut f: Findings, path: &str) -> Verdict {
        let u = self.user;
        f.observe(format!("{path}: does not exist (no systemd user manager runs for uid {}): live state not readable", u.uid));
        let missing: Vec<&str> = DELEGATED_REQUIRED
            .iter()
            .copied()
            .filter(|c| !self.configures(c))
            .collect();
        if missing.is_empty() {
            if self.on_v1 {
                v1_finding(&mut f);
            }
            if !self.configures("io") {
                f.find(
                    Status::Warn,
                    "io is not delegated (advisory); live state not readable",
                );
            }
            return f.finish(format!(
                "systemd is configured to delegate {} (judged from the unit files: live state not readable)",
                self.configured.join(" ")
            ));
        }
        f.find(
            Status::Fail,
            format!(
                "systemd is not configured to delegate {} (live state not readable)",
                missing.join(", ")
            ),
        );
        if self.on_v1 {
            v1_finding(&mut f);
        }
        f.remedy(self.drop_in_remedy());
        f.finish("")
    }

    /// The running user manager's controllers, read from its cgroup.
    fn judge_live(&self, mut f: Findings, path: &str, live_text: &str) -> Verdict {
        let live: Vec<&str> = live_text.split_whitespace().collect();
        f.observe(format!(
            "{path}: {}",
            if live.is_empty() {
                "(empty)"
            } else {
                live_text.trim()
            }
        ));
        let missing: Vec<&str> = DELEGATED_REQUIRED
            .iter()
            .copied()
            .filter(|c| !live.contains(c))
            .collect();
        if !missing.is_empty() {
            self.not_delegated(&mut f, &missing);
        } else if !live.contains(&"io") {
            f.find(
                Status::Warn,
                "io is not delegated (advisory: k3s runs without it, but cannot limit pod I/O)",
            );
            f.remedy(self.drop_in_remedy());
        }
        f.finish(format!(
            "user@{}.service is delegated {}",
            self.user.uid,
            live.join(" ")
        ))
    }

    /// Required controllers the running manager lacks: why, and what
    /// would give them to it.
    fn not_delegated(&self, f: &mut Findings, missing: &[&str]) {
        let u = self.user;
        f.find(
            Status::Fail,
            format!(
                "user@{}.service is not delegated {}",
                u.uid,
                missing.join(", ")
            ),
        );
        let unoffered = self.unoffered(missing);
        if !self.on_v1 && !unoffered.is_empty() {
            f.find(
                Status::Fail,
                format!(
                    "the cgroup v2 root does not offer {}, so systemd cannot delegate it",
                    unoffered.join(", ")
                ),
            );
            f.remedy("make the kernel offer it first: see `krc explain cgroup.controllers`");
        }
        if self.on_v1 {
            v1_finding(f);
            if !self.configured_ok() {
                f.remedy(self.drop_in_remedy());
            }
        } else if unoffered.len() == missing.len() {
            // Nothing more a unit file or a re-login could change.
        } else if self.configured_ok() {
            f.find(Status::Fail, "a daemon-reload and re-login (or reboot) is pending: the configuration delegates them but the running user manager does not have them");
            f.remedy(format!(
                "sudo systemctl daemon-reload\nthen log out every session of {0} and log in again (or: sudo systemctl restart user@{1}.service, which stops the user's processes; or reboot)",
                u.name, u.uid
            ));
        } else {
            f.remedy(self.drop_in_remedy());
        }
    }

    /// Of `missing`, the controllers the v2 root does not offer at all.
    /// systemd can only delegate what the v2 root offers: a controller
    /// the kernel keeps disabled (Raspberry Pi's memory without
    /// cgroup_enable=memory) is not a pending re-login. An unreadable
    /// root list is cgroup.controllers' to report.
    fn unoffered<'m>(&self, missing: &[&'m str]) -> Vec<&'m str> {
        let root_list = self
            .host
            .read_opt(&format!("{}/cgroup.controllers", self.root))
            .ok()
            .flatten()
            .unwrap_or_default();
        let offered: Vec<&str> = root_list.split_whitespace().collect();
        missing
            .iter()
            .copied()
            .filter(|c| !offered.is_empty() && !offered.contains(c))
            .collect()
    }
}

/// The controllers sit in v1 hierarchies: nothing but a boot into pure
/// cgroup v2 can delegate them.
fn v1_finding(f: &mut Findings) {
    f.find(
        Status::Fail,
        "the controllers are bound to cgroup v1 on this host and cannot be delegated before it boots into pure cgroup v2",
    );
    f.remedy("switch the host to pure cgroup v2 first (see `krc explain cgroup.unified`); delegation takes effect after that reboot");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Params;

    fn delegation_on(fixture: &str) -> Verdict {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/hosts")
            .join(fixture);
        let host = Host::open(&root, None).unwrap();
        delegation(&Ctx {
            host: &host,
            params: &Params::default(),
        })
        .unwrap()
    }

    #[test]
    fn delegation_on_a_hybrid_host_waits_for_cgroup_v2_not_a_relogin() {
        // Drop-in written, host still hybrid: only the reboot into v2 helps.
        let v = delegation_on("reboot-pending");
        assert_eq!(v.status, Status::Fail);
        assert!(v.summary.contains("bound to cgroup v1"), "{}", v.summary);
        assert!(!v.summary.contains("re-login"), "{}", v.summary);
        let remedy = v.remedy.unwrap_or_default();
        assert!(remedy.contains("krc explain cgroup.unified"), "{remedy}");
        assert!(!remedy.contains("log out"), "{remedy}");
        // The same state on pure v2 is a pending re-login.
        let v = delegation_on("debian12-relogin-pending");
        assert!(v.summary.contains("re-login"), "{}", v.summary);
        assert!(!v.summary.contains("cgroup v1"), "{}", v.summary);
    }

    #[test]
    fn delegation_of_a_controller_the_root_lacks_is_not_a_relogin() {
        // Raspberry Pi OS without cgroup_enable=memory: the drop-in asks for
        // memory, the v2 root has none to give.
        let v = delegation_on("raspberrypi-memory-cgroup-off");
        assert_eq!(v.status, Status::Fail);
        assert!(v.summary.contains("does not offer memory"), "{}", v.summary);
        assert!(!v.summary.contains("re-login"), "{}", v.summary);
        let remedy = v.remedy.unwrap_or_default();
        assert!(remedy.contains("cgroup.controllers"), "{remedy}");
        assert!(!remedy.contains("log out"), "{remedy}");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/hosts/raspberrypi-memory-cgroup-off");
        let host = Host::open(&root, None).unwrap();
        let v = controllers(&Ctx {
            host: &host,
            params: &Params::default(),
        })
        .unwrap();
        let remedy = v.remedy.unwrap_or_default();
        assert!(remedy.contains("cgroup_enable=memory"), "{remedy}");
    }
}
