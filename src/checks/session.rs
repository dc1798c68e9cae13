//! systemd and the user's session: `session.systemd` (systemd is PID 1),
//! `session.runtime-dir`, `session.linger`.

use super::{Check, Ctx, Findings, Phase, Severity, Status, Verdict};
use crate::host::{FactError, FileKind, Host, Probe};

/// What PID 1 is: its name (from /proc/1/comm) and whether /run/systemd/system exists (the directory
/// systemd creates when it boots the host, which `sd_booted()` and
/// systemctl test). `name` None: the tree holds neither file.
pub(crate) struct Pid1 {
    pub(crate) name: Option<String>,
    pub(crate) run_dir: bool,
    pub(crate) evidence: Vec<String>,
}

impl Pid1 {
    /// Known not to be systemd.
    pub(crate) fn not_systemd(&self) -> bool {
        self.name.is_some() && !self.is_systemd()
    }
    pub(crate) fn is_systemd(&self) -> bool {
        self.name.as_deref() == Some("systemd") && self.run_dir
    }
}

pub(crate) fn pid1(host: &Host) -> Result<Pid1, FactError> {
    let mut evidence = Vec::new();
    let mut name = None;
    // /proc/1/comm is the kernel's name of PID 1's program: `systemd` even
    // when it was started as /sbin/init (a link to systemd on most
    // distributions), so /proc/1/cmdline cannot stand in for it.
    if let Some(comm) = host.read_opt("/proc/1/comm")? {
        let c = comm.trim_end_matches('\n').to_string();
        // The kernel writes at most 15 bytes of a program name and a newline.
        if c.is_empty() || c.len() > 15 || c.chars().any(|ch| ch == '\u{FFFD}' || ch.is_control()) {
            return Err(FactError::malformed(
                "/proc/1/comm",
                1,
                "not a process name (1 to 15 printable bytes)",
            ));
        }
        evidence.push(format!("/proc/1/comm: {c}"));
        name = Some(c);
    } else {
        evidence.push("/proc/1/comm: does not exist".to_string());
    }
    let run_dir = matches!(host.stat("/run/systemd/system")?, Some(st) if st.kind == FileKind::Dir);
    evidence.push(if run_dir {
        "/run/systemd/system: directory".to_string()
    } else {
        "/run/systemd/system: does not exist".to_string()
    });
    Ok(Pid1 {
        name,
        run_dir,
        evidence,
    })
}

/// For checks whose remedies are loginctl/systemctl commands: the skip
/// verdict to give when systemd is not PID 1.
pub(crate) fn skip_without_systemd(host: &Host) -> Result<Option<Verdict>, FactError> {
    let p = pid1(host)?;
    if !p.not_systemd() {
        return Ok(None);
    }
    let mut v = Verdict::skip_after(
        "session.systemd",
        format!(
            "skip: no systemd as PID 1 (PID 1 is {}): see session.systemd",
            p.name.as_deref().unwrap_or("?")
        ),
    );
    for e in p.evidence {
        v = v.evidence(e);
    }
    Ok(Some(v))
}

/// A line to add to remedies that run systemctl, when systemd is not PID 1.
pub(crate) fn systemd_note(host: &Host) -> Result<Option<String>, FactError> {
    let p = pid1(host)?;
    Ok(p.not_systemd().then(|| {
        format!(
            "note: PID 1 here is {}, not systemd: the systemctl/loginctl commands above cannot work until the host boots with systemd (see session.systemd)",
            p.name.as_deref().unwrap_or("?")
        )
    }))
}

pub(crate) const SYSTEMD: Check = Check {
    id: "session.systemd",
    phase: Phase::Preflight,
    severity: Severity::Required,
    title: "systemd is PID 1 and booted the host",
    fixed_by: None,
    run: systemd,
    explain: "\
Verifies that systemd is PID 1 and booted the host: /proc/1/comm says `systemd` and /run/systemd/system exists (the directory systemd creates at boot, which sd_booted() and systemctl test). Checked first: without it, the other checks' loginctl/systemctl remedies cannot work, and session.runtime-dir and session.linger say \"skip: no systemd as PID 1\".

Why: rootless k3s is a systemd user unit (k3s-io/k3s:k3s-rootless.service, installed under ~/.config/systemd/user) run by the user's systemd manager, which gives it a delegated cgroup; k3s itself warns \"Cannot set cgroup2 evacuation, make sure to run k3s as a systemd unit\" when its cgroup is not writable (k3s-io/k3s:pkg/rootless/rootless.go) and then fails on delegation (pkg/daemons/agent/agent_linux.go). Containers and WSL without systemd have no user manager: systemctl says \"System has not been booted with systemd as init system (PID 1). Can't operate.\"

Fix: boot with systemd as init. WSL: add `[boot]` `systemd=true` to /etc/wsl.conf and run `wsl --shutdown`; in a container, run k3s rootless on the host or a VM instead.",
};

pub(super) fn systemd(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let p = pid1(ctx.host)?;
    let mut f = Findings::default();
    for e in &p.evidence {
        f.observe(e.clone());
    }
    match p.name.as_deref() {
        None => {
            f.find(
                Status::Skip,
                "what runs as PID 1 is not known: /proc/1/comm does not exist in this tree",
            );
        }
        Some(_) if p.is_systemd() => {}
        Some(name) => {
            let what = if name == "systemd" {
                "PID 1 is called systemd, but /run/systemd/system does not exist: systemd did not boot this host".to_string()
            } else {
                format!(
                    "PID 1 is {name}, not systemd: there is no user manager to run k3s-rootless.service, and systemctl says \"System has not been booted with systemd as init system (PID 1). Can't operate.\""
                )
            };
            f.find(Status::Fail, what);
            f.remedy("rootless k3s runs as a systemd user unit: boot the machine with systemd as init.\nWSL, inside the distribution: printf '[boot]\\nsystemd=true\\n' | sudo tee -a /etc/wsl.conf\nthen, in Windows: wsl --shutdown\na container: run k3s rootless on the host or a VM instead (or start the container with /sbin/init as its entrypoint)");
        }
    }
    Ok(f.finish("systemd is PID 1 and booted the host (/run/systemd/system exists)"))
}

pub(crate) const RUNTIME_DIR: Check = Check {
    id: "session.runtime-dir",
    phase: Phase::Preflight,
    severity: Severity::Required,
    title: "the user's runtime directory and systemd manager exist",
    fixed_by: Some("linger"),
    run: runtime_dir,
    explain: "\
Verifies that /run/user/UID (the user's XDG_RUNTIME_DIR) exists and belongs to the user, and, on a live host, that the user's systemd manager answers `systemctl --user is-system-running`. Run as root for another user, krc first asks the system manager (`systemctl is-active user@UID.service`): asking a manager that is not running would start it, and a preflight changes nothing.

Why: rootless k3s runs as the user unit k3s-rootless.service under the user's own systemd manager, keeps its containerd socket under $XDG_RUNTIME_DIR/k3s/, and k3s refuses to run rootless outside a systemd unit (\"Cannot set cgroup2 evacuation, make sure to run k3s as a systemd unit\"). Without a user manager, `systemctl --user` fails with \"Failed to connect to bus: No such file or directory\" — the usual state in CI, under su, or under sudo -u.

Fix: `sudo loginctl enable-linger USER` starts user@UID.service (and with it /run/user/UID) now and at every boot; install dbus-user-session (Debian/Ubuntu) so the user bus exists; then work as the user through a real login (ssh, or `sudo machinectl shell USER@`). Under --root the live probe is not run and the check says skipped.",
};

pub(super) fn runtime_dir(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    if let Some(v) = skip_without_systemd(ctx.host)? {
        return Ok(v);
    }

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
        Probe::Answer(Ok(answer)) => {
            f.observe(format!("systemctl --user is-system-running: {answer}"));
            // The state word, before any note on how it was learned.
            let state = answer.split_whitespace().next().unwrap_or("");
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

pub(crate) const LINGER: Check = Check {
    id: "session.linger",
    phase: Phase::Preflight,
    severity: Severity::Advisory,
    title: "lingering is enabled for the user",
    fixed_by: Some("linger"),
    run: linger,
    explain: "\
Verifies that lingering is enabled for the user (/var/lib/systemd/linger/USER exists). Advisory.

Why: without lingering, systemd stops the user's manager — and with it k3s-rootless.service and every pod — when the user's last login session ends, and does not start it at boot. The cluster then disappears when the operator logs out of ssh.

Fix: `sudo loginctl enable-linger USER` (krc install does this in its linger step).",
};

pub(super) fn linger(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    if let Some(v) = skip_without_systemd(ctx.host)? {
        return Ok(v);
    }
    let u = ctx.host.user();
    let path = crate::layout::linger_path(&u.name);
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
