//! What runs: `install.binary` (the k3s the unit starts), `rootful.inactive`
//! (the rootful unit install.sh writes stays off) and `rootless.userns`
//! (k3s really runs as the user inside a user namespace).

use super::unit::{UNIT, read_unit, unit_path};
use super::{Check, Ctx, Findings, Phase, Severity, Status, Verdict};
use crate::host::procs::k3s_processes;
use crate::host::{FactError, FileKind, Probe};

/// When the unit's binary does not exist but k3s is installed in the other
/// directory install.sh uses (/usr/local/bin, or /opt/bin when /usr/local
/// is read-only): that path.
pub(crate) fn k3s_elsewhere(host: &crate::host::Host, bin: &str) -> Option<String> {
    let found = super::userns::k3s_binary(host);
    (found != bin && !host.exists(bin) && host.exists(&found)).then_some(found)
}

/// `k3s-killall.sh`, which install.sh writes next to the binary.
pub(crate) fn killall(host: &crate::host::Host) -> String {
    let bin = super::userns::k3s_binary(host);
    let dir = bin.rsplit_once('/').map_or("/usr/local/bin", |(d, _)| d);
    format!("{dir}/k3s-killall.sh")
}

pub(crate) const INSTALL_BINARY: Check = Check {
    id: "install.binary",
    phase: Phase::Acceptance,
    severity: Severity::Required,
    title: "the k3s binary the unit starts is executable and the pinned release",
    fixed_by: Some("k3s-binary"),
    run: binary,
    explain: "\
Verifies that the program in the unit's ExecStart exists, is an executable file, and that its `--version` says `k3s version ...`; when the suite pins a release (v1.33.5+k3s1) or a commit, the version line must name it. A missing program is looked for in both directories install.sh installs to: /usr/local/bin, or /opt/bin when /usr/local is read-only (k3s-io/k3s:install.sh, setup_env: BIN_DIR, and KILLALL_K3S_SH next to it).

Why: the unit starts whatever ExecStart names; a missing binary makes systemd fail with status 203/EXEC, and a binary from another release than the unit is not what was qualified (the unit should come from the same k3s version as the binary). install.sh with INSTALL_K3S_COMMIT may have failed to download (since February 2026 commit builds need a GITHUB_TOKEN) and left an older k3s in place.

Fix: `sudo krc install --user USER` reinstalls the pinned binary; check with `/usr/local/bin/k3s --version` (or `/opt/bin/k3s --version`); a unit that names the wrong directory needs `ExecStart=/opt/bin/k3s server --rootless --snapshotter=fuse-overlayfs` and a daemon-reload.",
};

pub(super) fn binary(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let u = host.user();
    let path = unit_path(u);
    let Some((main, drop)) = read_unit(host)? else {
        return Ok(Verdict::fail(format!(
            "{path} does not exist: no ExecStart names a k3s binary"
        ))
        .evidence(format!("{path}: does not exist"))
        .remedy(format!("sudo krc install --user {}", u.name)));
    };
    let Some(exec) = main
        .iter()
        .chain(&drop)
        .rfind(|l| l.key == "ExecStart" && !l.value.is_empty())
    else {
        return Ok(Verdict::fail(format!("{path} has no ExecStart"))
            .evidence(format!("{path}: no ExecStart="))
            .remedy(format!("sudo krc install --user {}", u.name)));
    };
    let bin = super::unit::exec_binary(&exec.value);
    let mut f = Findings::default();
    f.observe(exec.at());
    if !executable(ctx, bin, &path, &mut f)? {
        return Ok(f.finish(""));
    }
    version(ctx, bin, &mut f);
    let pinned = ctx
        .params
        .accept
        .k3s_version
        .as_deref()
        .map_or(String::new(), |p| format!(", pinned {p}"));
    Ok(f.finish(format!("{bin} is an executable k3s{pinned}")))
}

/// The unit's binary exists and is an executable file; false (with the
/// finding) when it is not.
fn executable(ctx: &Ctx<'_>, bin: &str, path: &str, f: &mut Findings) -> Result<bool, FactError> {
    let (host, u) = (ctx.host, ctx.host.user());
    match host.stat(bin)? {
        None => {
            f.observe(format!("{bin}: does not exist"));
            if let Some(other) = k3s_elsewhere(host, bin) {
                f.observe(format!("{other}: exists"));
                f.find(Status::Fail, format!("the unit starts {bin}, which does not exist; k3s is installed at {other} (install.sh uses /opt/bin when /usr/local is read-only)"));
                f.remedy(format!(
                    "sudo krc install --user {}   # writes ExecStart with the binary's real path
or set ExecStart={other} server --rootless --snapshotter=fuse-overlayfs in [Service] of {path}, then: sudo systemctl --user -M {}@ daemon-reload",
                    u.name, u.name
                ));
                return Ok(false);
            }
            f.find(Status::Fail, format!("{bin} does not exist"));
            f.remedy(format!(
                "sudo krc install --user {}   # step k3s-binary",
                u.name
            ));
            return Ok(false);
        }
        Some(st) if st.kind != FileKind::File || st.mode & 0o111 == 0 => {
            f.observe(format!(
                "{bin}: {} uid {} gid {}",
                st.mode_string(),
                st.uid,
                st.gid
            ));
            f.find(Status::Fail, format!("{bin} is not an executable file"));
            f.remedy(format!("sudo chmod 755 {bin}"));
            return Ok(false);
        }
        Some(st) => f.observe(format!(
            "{bin}: {} uid {} gid {}",
            st.mode_string(),
            st.uid,
            st.gid
        )),
    }
    Ok(true)
}

/// `k3s --version` says k3s, and the pinned one when a pin is known.
fn version(ctx: &Ctx<'_>, bin: &str, f: &mut Findings) {
    let (host, u) = (ctx.host, ctx.host.user());
    match host.probes().version(bin) {
        Probe::NotRun(why) => {
            f.observe(format!("{bin} --version: {why}"));
            if ctx.params.accept.k3s_version.is_some() {
                f.find(
                    Status::Skip,
                    "the pinned version was not verified (live probe not run)",
                );
            }
        }
        Probe::Answer(Err(e)) => {
            f.observe(format!("{bin} --version: {e}"));
            f.find(Status::Fail, format!("{bin} --version failed"));
            f.remedy(format!(
                "sudo krc install --user {}   # reinstalls the binary",
                u.name
            ));
        }
        Probe::Answer(Ok(line)) => {
            f.observe(format!("{bin} --version: {line}"));
            if !line.starts_with("k3s version") {
                f.find(
                    Status::Fail,
                    format!("{bin} is not k3s: --version says {line:?}"),
                );
                f.remedy(format!("sudo krc install --user {}", u.name));
            } else if let Some(pin) = &ctx.params.accept.k3s_version
                && !version_matches(&line, pin)
            {
                f.find(Status::Fail, format!("{bin} is not the pinned k3s {pin}"));
                f.remedy(format!(
                    "sudo krc install --user {}   # installs the pinned k3s",
                    u.name
                ));
            }
        }
    }
}

/// `k3s version v1.33.5+k3s1 (2a9c3d4b)`: a release tag matches as a
/// word, a commit by its first 8 hex digits.
pub(crate) fn version_matches(line: &str, pin: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.contains(&pin) {
        return true;
    }
    let is_commit = pin.len() >= 7 && pin.chars().all(|c| c.is_ascii_hexdigit());
    is_commit
        && words.iter().any(|w| {
            let w = w.trim_matches(['(', ')']);
            w.len() >= 7
                && w.chars().all(|c| c.is_ascii_hexdigit())
                && (pin.starts_with(w) || w.starts_with(pin))
        })
}

const ROOTFUL_UNIT: &str = "/etc/systemd/system/k3s.service";
const ROOTFUL_WANTS: &str = "/etc/systemd/system/multi-user.target.wants/k3s.service";

pub(crate) const ROOTFUL_INACTIVE: Check = Check {
    id: "rootful.inactive",
    phase: Phase::Acceptance,
    severity: Severity::Required,
    title: "the rootful k3s.service is neither enabled nor active",
    fixed_by: Some("rootful-disabled"),
    run: rootful_inactive,
    explain: "\
Verifies that the rootful /etc/systemd/system/k3s.service is not enabled (no multi-user.target.wants link) and that no k3s runs as root (from /proc).

Why: the upstream install.sh has no rootless mode: even with INSTALL_K3S_SKIP_ENABLE=true it writes the rootful k3s.service. Enabled by mistake, a rootful k3s starts at boot beside the rootless one, takes port 6443 and iptables, and the rootless server fails or kubectl talks to the wrong cluster.

Fix: `sudo systemctl disable --now k3s` (and `sudo /usr/local/bin/k3s-killall.sh` for a k3s started by hand).",
};

pub(super) fn rootful_inactive(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let mut f = Findings::default();
    if host.exists(ROOTFUL_UNIT) {
        f.observe(format!(
            "{ROOTFUL_UNIT}: exists (install.sh writes it even for a rootless install)"
        ));
    } else {
        f.observe(format!("{ROOTFUL_UNIT}: does not exist"));
    }
    if host.exists(ROOTFUL_WANTS) {
        f.observe(format!("{ROOTFUL_WANTS}: exists"));
        f.find(Status::Fail, "the rootful k3s.service is enabled");
        f.remedy("sudo systemctl disable --now k3s");
    } else {
        f.observe(format!("{ROOTFUL_WANTS}: does not exist (not enabled)"));
    }
    for p in k3s_processes(host).into_iter().filter(|p| p.uid == Some(0)) {
        f.observe(format!("/proc/{}/cmdline: {} — uid 0", p.pid, p.cmdline));
        f.find(Status::Fail, format!("a rootful k3s runs as pid {}", p.pid));
        f.remedy(format!(
            "sudo systemctl disable --now k3s\nsudo {}   # if it was started by hand",
            killall(ctx.host)
        ));
    }
    Ok(f.finish("the rootful k3s.service is neither enabled nor running"))
}

pub(crate) const USERNS: Check = Check {
    id: "rootless.userns",
    phase: Phase::Acceptance,
    severity: Severity::Required,
    title: "k3s runs as the user inside a user namespace",
    fixed_by: None,
    run: userns,
    explain: "\
Verifies that a k3s process runs as the target user and that at least one of them (the server RootlessKit started) is inside a user namespace: its /proc/PID/uid_map is not the identity map `0 0 4294967295`.

Why: rootless means the server runs as the user, with root only inside its own user namespace. A k3s of the user in the host namespace was started without --rootless and fails on the first privileged step (\"modprobe: ERROR: could not insert 'ip_tables': Operation not permitted\"); a missing map is what \"failed to setup UID/GID map\" leaves.

Fix: start k3s only through the unit: `sudo systemctl --user -M USER@ restart k3s-rootless`; check subordinate ids with `krc preflight uidmap`.",
};

pub(super) fn userns(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let u = host.user();
    let mine: Vec<_> = k3s_processes(host)
        .into_iter()
        .filter(|p| p.uid == Some(u.uid))
        .collect();
    if mine.is_empty() {
        return Ok(Verdict::fail(format!("no k3s process of {} runs", u.name))
            .evidence(format!("/proc/*/cmdline: no k3s server of uid {}", u.uid))
            .remedy(format!("sudo systemctl --user -M {}@ start {UNIT}", u.name)));
    }
    let mut f = Findings::default();
    let mut inside = false;
    for p in &mine {
        let map_file = format!("/proc/{}/uid_map", p.pid);
        let map = host.read(&map_file)?;
        let lines: Vec<&str> = map
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let identity = lines.len() == 1
            && lines[0].split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"];
        f.observe(format!(
            "/proc/{}/cmdline: {} — uid {}",
            p.pid, p.cmdline, u.uid
        ));
        f.observe(format!("{map_file}: {}", lines.join(" | ")));
        inside |= !identity;
    }
    if !inside {
        f.find(
            Status::Fail,
            format!(
                "k3s of {} runs in the host's user namespace: it is not rootless",
                u.name
            ),
        );
        f.remedy(format!("run k3s from {UNIT} (ExecStart=k3s server --rootless): sudo systemctl --user -M {}@ restart {UNIT}", u.name));
    }
    Ok(f.finish(format!(
        "k3s runs as {} (uid {}) inside a user namespace",
        u.name, u.uid
    )))
}
