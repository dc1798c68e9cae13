//! The user unit of rootless k3s: `unit.present` (the file and its
//! drop-in), `unit.active` (enabled and running) and `unit.delegation-live`
//! (the running service got the cgroup controllers k3s needs).

use super::{Check, Ctx, Findings, Phase, Severity, Status, Verdict, at};
use crate::host::procs::k3s_processes;
use crate::host::{FactError, Host, Probe, TargetUser};

pub(crate) use crate::layout::UNIT;

/// One `Key=value` line of the unit or a drop-in.
#[derive(Debug, Clone)]
pub(crate) struct UnitLine {
    pub(crate) file: String,
    pub(crate) line: usize,
    pub(crate) section: String,
    pub(crate) key: String,
    pub(crate) value: String,
    pub(crate) raw: String,
}

impl UnitLine {
    pub(crate) fn at(&self) -> String {
        at(&self.file, self.line, &self.raw)
    }
}

/// The program an `ExecStart=` runs: its first word without systemd's
/// prefixes (-, @, +, !, :), which are not part of the path.
pub(crate) fn exec_binary(exec_start: &str) -> &str {
    exec_start
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_start_matches(['-', '@', '+', '!', ':'])
}

pub(crate) fn unit_path(u: &TargetUser) -> String {
    crate::layout::unit_path(&u.home)
}

pub(crate) fn parse_unit(text: &str, file: &str, out: &mut Vec<UnitLine>) {
    let mut section = String::new();
    for (i, raw) in text.lines().enumerate() {
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if t.starts_with('[') && t.ends_with(']') {
            section = t[1..t.len() - 1].to_string();
            continue;
        }
        if let Some((k, v)) = t.split_once('=') {
            out.push(UnitLine {
                file: file.to_string(),
                line: i + 1,
                section: section.clone(),
                key: k.trim().to_string(),
                value: v.trim().to_string(),
                raw: t.to_string(),
            });
        }
    }
}

/// The unit and its drop-ins (in name order), or None when the unit file
/// does not exist. Drop-ins only: `(unit lines, drop-in lines)`.
/// The unit's own lines and its drop-ins' lines.
pub(crate) type UnitFiles = (Vec<UnitLine>, Vec<UnitLine>);

pub(crate) fn read_unit(host: &Host) -> Result<Option<UnitFiles>, FactError> {
    let path = unit_path(host.user());
    let Some(text) = host.read_opt(&path)? else {
        return Ok(None);
    };
    let mut main = Vec::new();
    parse_unit(&text, &path, &mut main);
    let dir = format!("{path}.d");
    let mut drop = Vec::new();
    for name in host.list_dir(&dir) {
        if name.ends_with(".conf") {
            let f = format!("{dir}/{name}");
            if let Some(t) = host.read_opt(&f)? {
                parse_unit(&t, &f, &mut drop);
            }
        }
    }
    Ok(Some((main, drop)))
}

/// `Environment=` assignments of these lines: (name, value, line).
pub(crate) fn environment(lines: &[UnitLine]) -> Vec<(String, String, &UnitLine)> {
    let mut out = Vec::new();
    for l in lines.iter().filter(|l| l.key == "Environment") {
        for word in split_words(&l.value) {
            if let Some((k, v)) = word.split_once('=') {
                out.push((k.to_string(), v.to_string(), l));
            }
        }
    }
    out
}

/// Values of a flag on the ExecStart lines (`--flag v`, `--flag=v`), each
/// with its evidence line.
pub(crate) fn exec_flag_values(lines: &[UnitLine], flag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let long = format!("--{flag}");
    let eq = format!("--{flag}=");
    for l in lines.iter().filter(|l| l.key == "ExecStart") {
        let words: Vec<String> = split_words(&l.value.replace("\\", " "));
        let mut i = 0;
        while i < words.len() {
            let w = &words[i];
            if let Some(v) = w.strip_prefix(&eq) {
                out.push((v.to_string(), l.at()));
            } else if *w == long
                && let Some(v) = words.get(i + 1)
            {
                out.push((v.clone(), l.at()));
                i += 1;
            }
            i += 1;
        }
    }
    out
}

/// Splits on blanks, keeping double-quoted words whole (quotes removed).
fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The controllers k3s needs delegated to its service: cpu, cpuset and
/// memory (validateCgroupsV2 in k3s-io/k3s:pkg/agent/run.go) and pids
/// (pkg/daemons/agent/agent_linux.go, which also checks cpu and a
/// writable cgroup).
pub(crate) const NEEDED_CONTROLLERS: [&str; 4] = ["cpu", "cpuset", "memory", "pids"];

/// Does a `Delegate=` value delegate what k3s needs? systemd takes a
/// boolean (`yes`, `true`, `on`, `1`: every controller) or a list of
/// controller names. Err: the missing ones, or "any controller".
pub(crate) fn delegate_covers(value: &str) -> Result<(), String> {
    let v = value.trim().to_ascii_lowercase();
    match v.as_str() {
        "yes" | "true" | "on" | "1" => return Ok(()),
        "no" | "false" | "off" | "0" | "" => return Err("any controller".into()),
        _ => {}
    }
    let have: Vec<&str> = v.split_whitespace().collect();
    let missing: Vec<&str> = NEEDED_CONTROLLERS
        .into_iter()
        .filter(|c| !have.contains(c))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing.join(", "))
    }
}

fn is_bool(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "yes" | "true" | "on" | "1" | "no" | "false" | "off" | "0" | ""
    )
}

/// `systemctl --user daemon-reload` for the user, as it can run here.
fn daemon_reload(ctx: &Ctx<'_>) -> String {
    format!(
        "sudo systemctl --user -M {}@ daemon-reload",
        ctx.host.user().name
    )
}

fn install_remedy(u: &TargetUser) -> String {
    format!(
        "sudo krc install --user {}   # writes the unit and its drop-in",
        u.name
    )
}

pub(crate) const PRESENT: Check = Check {
    id: "unit.present",
    phase: Phase::Acceptance,
    severity: Severity::Required,
    title: "the k3s-rootless user unit and its drop-in are as upstream and krc wrote them",
    fixed_by: Some("user-unit"),
    run: present,
    explain: "\
Verifies ~/.config/systemd/user/k3s-rootless.service: [Service] has a Delegate= that covers cpu, cpuset, memory and pids (`yes`, as the upstream k3s-io/k3s:k3s-rootless.service has, or a list naming at least those four), KillMode=mixed, Type=simple and an ExecStart that runs `k3s server --rootless`, and that the unit or its drop-ins k3s-rootless.service.d/*.conf (a later line wins, as in systemd) set K3S_ROOTLESS_CIDR, K3S_ROOTLESS_PORT_DRIVER, K3S_ROOTLESS_MTU and K3S_ROOTLESS_DISABLE_HOST_LOOPBACK to the values the suite names (a missing or different value warns). `krc install` builds this unit from upstream's k3s-rootless.service of the pinned k3s tag, fetched and verified like the binary (upstream: use the same version of k3s-rootless.service and k3s); the unit's first line names that tag and the upstream file's sha256.

Why: without those controllers delegated k3s stops: pkg/daemons/agent/agent_linux.go (k3s-io/k3s) checks cpu, pids and a writable cgroup (\"delegated cgroup v2 controllers are required for rootless\", \"pids cgroup controller not found\"), and validateCgroupsV2 in pkg/agent/run.go checks cpu, cpuset and memory (\"failed to find cpuset cgroup (v2)\"); without KillMode=mixed a stop leaves containers behind; and a unit not started by systemd gives \"Cannot set cgroup2 evacuation, make sure to run k3s as a systemd unit\". The upstream unit ships no K3S_ROOTLESS_* lines, and k3s's code defaults (MTU 65520, the builtin port driver) differ from the reference procedure's, so an install that forgot the drop-in runs differently than it was qualified.

Fix: `sudo krc install --user USER` writes both files; after a hand edit, `sudo systemctl --user -M USER@ daemon-reload`.",
};

pub(super) fn present(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let u = ctx.host.user();
    let path = unit_path(u);
    let Some((main, drop)) = read_unit(ctx.host)? else {
        return Ok(Verdict::fail(format!("{path} does not exist"))
            .evidence(format!("{path}: does not exist"))
            .remedy(install_remedy(u)));
    };
    let mut f = Findings::default();
    let all: Vec<UnitLine> = main.iter().chain(&drop).cloned().collect();
    let unit = Unit {
        ctx,
        path: &path,
        lines: &all,
    };
    unit.delegate(&mut f);
    unit.service_keys(&mut f);
    unit.exec_start(&mut f);
    if drop.is_empty() {
        f.observe(format!("{path}.d/: no drop-in"));
    }
    unit.rootless_env(&mut f);
    Ok(f.finish(format!("{path} carries a Delegate= covering cpu, cpuset, memory, pids, KillMode=mixed, Type=simple, `server --rootless`, and the drop-in's K3S_ROOTLESS_* values")))
}

/// The unit and its drop-ins as `unit.present` judges them, in order (a
/// later line wins, as in systemd).
struct Unit<'a> {
    ctx: &'a Ctx<'a>,
    path: &'a str,
    lines: &'a [UnitLine],
}

impl Unit<'_> {
    /// The effective `key=` of [Service].
    fn service(&self, key: &str) -> Option<&UnitLine> {
        self.lines
            .iter()
            .rfind(|l| l.section == "Service" && l.key == key)
    }

    /// Delegate= must cover the controllers k3s needs.
    fn delegate(&self, f: &mut Findings) {
        let (ctx, path) = (self.ctx, self.path);
        let delegate: Vec<&UnitLine> = self
            .lines
            .iter()
            .filter(|l| l.section == "Service" && l.key == "Delegate")
            .collect();
        // systemd accumulates Delegate= lists; a boolean or an empty value resets.
        let mut effective = String::new();
        for l in &delegate {
            let v = l.value.trim();
            if is_bool(v) || is_bool(&effective) {
                effective = v.to_string();
            } else {
                effective = format!("{effective} {v}");
            }
        }
        match delegate.last() {
            Some(l) => {
                for l in &delegate {
                    f.observe(l.at());
                }
                if let Err(missing) = delegate_covers(&effective) {
                    f.find(
                        Status::Fail,
                        format!(
                            "Delegate={effective} does not delegate {missing} (k3s needs cpu, cpuset, memory, pids: \"delegated cgroup v2 controllers are required for rootless\")"
                        ),
                    );
                    f.remedy(format!(
                        "set Delegate=yes in [Service] of {} (line {}), then: {}",
                        l.file,
                        l.line,
                        daemon_reload(ctx)
                    ));
                }
            }
            None => {
                f.observe(format!("{path}: no Delegate= in [Service]"));
                f.find(Status::Fail, "Delegate=yes is missing");
                f.remedy(format!(
                    "add Delegate=yes to [Service] of {path}, then: {}",
                    daemon_reload(ctx)
                ));
            }
        }
    }

    /// KillMode=mixed and Type=simple, as upstream's unit has them.
    fn service_keys(&self, f: &mut Findings) {
        let (ctx, path) = (self.ctx, self.path);
        for (key, want) in [("KillMode", "mixed"), ("Type", "simple")] {
            match self.service(key) {
                Some(l) if l.value == want => f.observe(l.at()),
                Some(l) => {
                    f.observe(l.at());
                    f.find(
                        Status::Fail,
                        format!("{key}={} (upstream: {key}={want})", l.value),
                    );
                    f.remedy(format!(
                        "set {key}={want} in [Service] of {path}, then: {}",
                        daemon_reload(ctx)
                    ));
                }
                None => {
                    f.observe(format!("{path}: no {key}= in [Service]"));
                    f.find(Status::Fail, format!("{key}={want} is missing"));
                    f.remedy(format!(
                        "add {key}={want} to [Service] of {path}, then: {}",
                        daemon_reload(ctx)
                    ));
                }
            }
        }
    }

    /// ExecStart runs `k3s server --rootless`, from a k3s that exists.
    fn exec_start(&self, f: &mut Findings) {
        let (ctx, path) = (self.ctx, self.path);
        let u = ctx.host.user();
        match self.service("ExecStart") {
            Some(l)
                if l.value.split_whitespace().any(|w| w == "server")
                    && l.value.contains("--rootless") =>
            {
                f.observe(l.at());
                let bin = exec_binary(&l.value);
                if let Some(other) = super::rootless::k3s_elsewhere(ctx.host, bin) {
                    f.observe(format!("{bin}: does not exist; {other}: exists"));
                    f.find(
                        Status::Fail,
                        format!("ExecStart starts {bin}, which does not exist; k3s is at {other}"),
                    );
                    f.remedy(format!(
                        "set ExecStart={other} server --rootless --snapshotter=fuse-overlayfs in [Service] of {path}, then: {}",
                        daemon_reload(ctx)
                    ));
                }
            }
            Some(l) => {
                f.observe(l.at());
                f.find(
                    Status::Fail,
                    "ExecStart does not run `k3s server --rootless`",
                );
                f.remedy(install_remedy(u));
            }
            None => {
                f.observe(format!("{path}: no ExecStart="));
                f.find(Status::Fail, "ExecStart is missing");
                f.remedy(install_remedy(u));
            }
        }
    }

    /// The `K3S_ROOTLESS_*` values are the ones this run judges by (the
    /// install's flags, or the suite's); the unit's own Environment= lines
    /// count as much as the drop-in's.
    fn rootless_env(&self, f: &mut Findings) {
        let ctx = self.ctx;
        let u = ctx.host.user();
        let env = environment(self.lines);
        let a = &ctx.params.rootless;
        // (variable, the flag that sets it, the value judged by, k3s's default)
        let wanted = [
            (
                "K3S_ROOTLESS_CIDR",
                "cidr",
                a.cidr.to_string(),
                "10.41.0.0/16",
            ),
            (
                "K3S_ROOTLESS_PORT_DRIVER",
                "port-driver",
                a.port_driver.to_string(),
                "builtin",
            ),
            ("K3S_ROOTLESS_MTU", "mtu", a.mtu.to_string(), "65520"),
            (
                "K3S_ROOTLESS_DISABLE_HOST_LOOPBACK",
                "disable-host-loopback",
                a.disable_host_loopback.to_string(),
                "true",
            ),
        ];
        let path_d = crate::layout::drop_in_path(&u.home);
        for (name, flag, want, k3s_default) in wanted {
            match env.iter().rfind(|(k, _, _)| k == name) {
                Some((_, v, l)) if *v == want => f.observe(l.at()),
                Some((_, v, l)) => {
                    f.observe(l.at());
                    f.find(
                        Status::Warn,
                        format!("{name}={v}, the suite expects {want}"),
                    );
                    f.remedy(format!(
                        "if {v} is what was installed, judge by it: krc accept --{flag} {v} (or the suite's parameter); else reinstall with {want}: sudo krc install --user {} --{flag} {want}",
                        u.name
                    ));
                }
                None => {
                    f.find(
                        Status::Warn,
                        format!(
                            "{name} is not set (k3s then uses {k3s_default}; the suite expects {want})"
                        ),
                    );
                    f.remedy(format!(
                        "add Environment={name}={want} to {path_d}, then: {}",
                        daemon_reload(ctx)
                    ));
                }
            }
        }
    }
}

pub(crate) const ACTIVE: Check = Check {
    id: "unit.active",
    phase: Phase::Acceptance,
    severity: Severity::Required,
    title: "k3s-rootless.service is enabled and active for the user",
    fixed_by: Some("start"),
    run: active,
    explain: "\
Verifies with `systemctl --user is-enabled` and `is-active` (for the user, through `-M USER@` when krc runs as root) that k3s-rootless.service is enabled and running.

Why: a unit that is only started does not survive a reboot, and one that crash-loops (Restart=always, StartLimitBurst=3) shows as activating or failed: the journal then holds k3s's own error (e.g. \"failed to setup UID/GID map\", \"expected sysctl value \\\"net.ipv4.ip_forward\\\" to be \\\"1\\\"\"). Without a user manager, systemctl says \"Failed to connect to bus: No such file or directory\".

Fix: `sudo systemctl --user -M USER@ enable --now k3s-rootless`; read `sudo journalctl --user -M USER@ -u k3s-rootless -n 50`; for the bus error `sudo loginctl enable-linger USER` and a real login.",
};

pub(super) fn active(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let u = ctx.host.user();
    let state = match ctx.host.accept_probes().user_unit(u, UNIT) {
        Probe::NotRun(why) => {
            return Ok(Verdict::skip(format!(
                "whether {UNIT} runs was not verified: {why}"
            )));
        }
        Probe::Answer(Err(e)) => {
            let mut v = Verdict::fail(format!("the systemd manager of {} did not answer", u.name))
                .evidence(e.clone());
            v = v.remedy(if e.contains("Failed to connect to bus") {
                format!("the user has no systemd manager: sudo loginctl enable-linger {}   # and use a real login (ssh, machinectl shell {}@), not su/sudo -u", u.name, u.name)
            } else {
                format!("sudo systemctl --user -M {}@ status {UNIT}", u.name)
            });
            return Ok(v);
        }
        Probe::Answer(Ok(s)) => s,
    };
    let mut f = Findings::default();
    f.observe(format!(
        "systemctl --user is-enabled {UNIT}: {}",
        state.enabled
    ));
    f.observe(format!(
        "systemctl --user is-active {UNIT}: {}",
        state.active
    ));
    if state.enabled != "enabled" {
        f.find(
            Status::Fail,
            format!(
                "{UNIT} is {} (not enabled): it will not start at boot",
                state.enabled
            ),
        );
        f.remedy(format!(
            "sudo systemctl --user -M {}@ enable {UNIT}",
            u.name
        ));
    }
    if state.active != "active" {
        f.find(Status::Fail, format!("{UNIT} is {}", state.active));
        f.remedy(format!("sudo systemctl --user -M {}@ start {UNIT}\nsudo journalctl --user -M {}@ -u {UNIT} -n 50 --no-pager   # why it stopped", u.name, u.name));
    }
    Ok(f.finish(format!("{UNIT} is enabled and active for {}", u.name)))
}

/// The pid of the running k3s of the user: the unit's MainPID, or (on a
/// tree, where systemctl does not answer) the first k3s process of the user.
pub(crate) fn main_pid(host: &Host) -> Result<(u32, String), String> {
    let u = host.user();
    match host.accept_probes().user_unit(u, UNIT) {
        Probe::Answer(Ok(s)) => match s.main_pid {
            Some(pid) => Ok((
                pid,
                format!("systemctl --user show -p MainPID {UNIT}: {pid}"),
            )),
            None => Err(format!("{UNIT} has no MainPID (it is {})", s.active)),
        },
        other => {
            let why = match other {
                Probe::Answer(Err(e)) => e,
                Probe::NotRun(w) => w,
                Probe::Answer(Ok(_)) => String::new(),
            };
            k3s_processes(host)
                .into_iter()
                .find(|p| p.uid == Some(u.uid))
                .map(|p| {
                    (
                        p.pid,
                        format!("/proc/{}/cmdline: {} (systemctl: {why})", p.pid, p.cmdline),
                    )
                })
                .ok_or_else(|| format!("no k3s process of {} runs (systemctl: {why})", u.name))
        }
    }
}

pub(crate) const DELEGATION_LIVE: Check = Check {
    id: "unit.delegation-live",
    phase: Phase::Acceptance,
    severity: Severity::Required,
    title: "the running k3s service has cpu, cpuset, memory, pids delegated",
    fixed_by: Some("delegation"),
    run: delegation_live,
    explain: "\
Verifies that the running k3s service (its MainPID's cgroup from /proc/PID/cgroup) offers cpu, cpuset, memory and pids in its cgroup.controllers: the delegation preflight checked in the configuration, observed on the live process.

Why: k3s needs these controllers delegated to run pods rootless; without them it fails with \"delegated cgroup v2 controllers are required for rootless\", \"pids cgroup controller not found\" or \"failed to find cpuset cgroup (v2)\". A delegate.conf written after the user manager started takes effect only after that manager restarts, which this check catches.

Fix: `sudo krc install --user USER` (step delegation), then restart the user manager or reboot, and `sudo systemctl --user -M USER@ restart k3s-rootless`.",
};

pub(super) fn delegation_live(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let u = host.user();
    let (pid, how) = match main_pid(host) {
        Ok(p) => p,
        Err(e) => {
            return Ok(Verdict::fail(format!(
                "k3s of {} is not running: its cgroup cannot be read",
                u.name
            ))
            .evidence(e)
            .remedy(format!("sudo systemctl --user -M {}@ start {UNIT}", u.name)));
        }
    };
    let cg_file = format!("/proc/{pid}/cgroup");
    let text = host.read(&cg_file)?;
    let Some(path) = text.lines().find_map(|l| l.strip_prefix("0::")) else {
        let mut v =
            Verdict::fail(format!("pid {pid} is not in a cgroup v2 hierarchy")).evidence(how);
        for l in text.lines() {
            v = v.evidence(format!("{cg_file}: {l}"));
        }
        return Ok(v.remedy(
            "sudo krc install   # step cgroup-v2: boot with systemd.unified_cgroup_hierarchy=1",
        ));
    };
    let controllers_file = format!(
        "/sys/fs/cgroup{}/cgroup.controllers",
        path.trim_end_matches('/')
    );
    let have = host.read(&controllers_file)?;
    let mut f = Findings::default();
    f.observe(how);
    f.observe(format!("{cg_file}: 0::{path}"));
    f.observe(format!("{controllers_file}: {}", have.trim()));
    let missing: Vec<&str> = ["cpu", "cpuset", "memory", "pids"]
        .into_iter()
        .filter(|c| !have.split_whitespace().any(|h| h == *c))
        .collect();
    if !missing.is_empty() {
        f.find(Status::Fail, format!("the k3s service's cgroup lacks {} (k3s: \"delegated cgroup v2 controllers are required for rootless\")", missing.join(", ")));
        f.remedy(format!("sudo krc install --user {}   # step delegation: Delegate=cpu cpuset io memory pids for user@.service\nthen: sudo systemctl --user -M {}@ restart {UNIT}", u.name, u.name));
    }
    Ok(f.finish("the running k3s service has cpu, cpuset, memory and pids delegated"))
}
