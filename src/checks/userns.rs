//! User namespaces: `userns.enabled`, `userns.apparmor`.

use super::{Check, Ctx, Findings, Phase, Severity, Status, Verdict, at};
use crate::host::sysctl::{live, live_int, proc_path};
use crate::host::{FactError, Probe};

const MAX_USERNS: &str = "user.max_user_namespaces";
const USERNS_CLONE: &str = "kernel.unprivileged_userns_clone";
const APPARMOR_RESTRICT: &str = "kernel.apparmor_restrict_unprivileged_userns";

pub(crate) const ENABLED: Check = Check {
    id: "userns.enabled",
    phase: Phase::Preflight,
    severity: Severity::Required,
    title: "unprivileged user namespaces work",
    fixed_by: None,
    run: enabled,
    explain: "\
Verifies that user.max_user_namespaces is above 0 (warning below 1024), that kernel.unprivileged_userns_clone is 1 where the kernel has it (Debian's older kernels), and, on a live host, that a child process of the user can create a user namespace, map itself to root inside and use a capability there (sethostname in a new UTS namespace). The probe is a fresh exec of krc's own hidden helper (`krc __userns-probe`), started with an empty environment after dropping to the user's uid, gids and groups, so nothing of root's process or environment is visible to the user; it is single-threaded, as unshare(CLONE_NEWUSER) fails with EINVAL in a multi-threaded process.

Why: rootless k3s runs inside a user namespace created by its embedded RootlessKit. k3s checks kernel.unprivileged_userns_clone at startup and stops when it is not 1; with namespaces disabled RootlessKit fails before anything else starts.

Fix: `echo 'kernel.unprivileged_userns_clone=1' | sudo tee /etc/sysctl.d/90-userns.conf && sudo sysctl --system` (and likewise user.max_user_namespaces=28633 when it is 0 or low). If the probe fails on unshare with EPERM or on sethostname, see `krc explain userns.apparmor`.",
};

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
        Probe::Answer(Err(e)) if live_int(host, APPARMOR_RESTRICT)?.is_some_and(|v| v != "0") => {
            // The probe is krc's own helper, which no AppArmor profile
            // names: under the restriction it loses its capabilities in
            // the namespace whatever k3s's profile allows. userns.apparmor
            // judges the k3s binary's profile.
            f.observe(format!("live probe as {}: {e}", u.name));
            f.observe(format!("{}: 1", proc_path(APPARMOR_RESTRICT)));
            f.find(
                Status::Warn,
                format!("the live probe ({e}) ran under AppArmor's user-namespace restriction, which a profile for the k3s binary lifts for k3s only: see userns.apparmor"),
            );
            f.remedy("krc explain userns.apparmor");
        }
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

/// Where krc's `apparmor-profile` installer step writes the profile.
pub(crate) use crate::layout::APPARMOR_PROFILE as K3S_APPARMOR_FILE;
const APPARMOR_DIR: &str = "/etc/apparmor.d";
const LOADED_PROFILES: &str = "/sys/kernel/security/apparmor/profiles";

/// The profile krc installs for the k3s binary at `k3s_path`: it attaches
/// by path, allows everything it does not deny (k3s, its embedded
/// RootlessKit and every process they start keep running as before) and
/// grants `userns`. `default_allow` is the one mode reported working for
/// k3s itself (k3s-io/docs issue 459); Ubuntu ships rootlesskit's profile
/// with `unconfined`, which no report confirms for k3s's re-exec into its
/// data directory, so krc writes the confirmed one.
pub(crate) fn k3s_apparmor_profile(k3s_path: &str) -> String {
    [
        "# Written by krc: lets rootless k3s (its embedded RootlessKit) create user",
        "# namespaces under kernel.apparmor_restrict_unprivileged_userns=1.",
        "abi <abi/4.0>,",
        "include <tunables/global>",
        "",
        &format!("profile k3s {k3s_path} flags=(default_allow) {{"),
        "  userns,",
        "",
        "  # Site-specific additions and overrides. See local/README for details.",
        "  include if exists <local/k3s>",
        "}",
        "",
    ]
    .join("\n")
}

/// Where install.sh puts k3s (k3s-io/k3s:install.sh: BIN_DIR is
/// /usr/local/bin unless root cannot write there and /opt/bin exists).
pub(crate) const K3S_BIN_DIRS: &[&str] = &["/usr/local/bin", "/opt/bin"];

/// The k3s binary's path on this host: the one that exists, else the
/// default install.sh would use.
pub(crate) fn k3s_binary(host: &crate::host::Host) -> String {
    K3S_BIN_DIRS
        .iter()
        .map(|d| format!("{d}/k3s"))
        .find(|p| host.exists(p))
        .unwrap_or_else(|| "/usr/local/bin/k3s".to_string())
}

/// A profile in a policy file: its name, the path it attaches to, whether
/// its body grants `userns`, and the header line.
#[derive(Debug, PartialEq, Eq)]
struct ProfileDecl {
    name: String,
    attach: Option<String>,
    userns: bool,
    line: usize,
}

/// The top-level profiles of an AppArmor policy file (a light parse: the
/// header line of each block and the rules directly in it).
fn parse_profiles(text: &str) -> Vec<ProfileDecl> {
    let mut out: Vec<ProfileDecl> = Vec::new();
    let mut depth = 0usize;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if depth == 0 && line.ends_with('{') {
            let head = line.trim_end_matches('{').trim();
            let head = head.split("flags=").next().unwrap_or(head).trim();
            let words: Vec<&str> = head.split_whitespace().collect();
            let (name, attach) = match words.as_slice() {
                ["profile", name, attach, ..] => (name.to_string(), Some(attach.to_string())),
                ["profile", name] => (name.to_string(), None),
                [path, ..] if path.starts_with('/') => (path.to_string(), Some(path.to_string())),
                _ => (head.to_string(), None),
            };
            let unquote = |s: String| s.trim_matches('"').to_string();
            out.push(ProfileDecl {
                name: unquote(name),
                attach: attach.map(unquote),
                userns: false,
                line: i + 1,
            });
            depth = 1;
            continue;
        }
        if depth == 1
            && (line == "userns," || line == "allow userns,")
            && let Some(p) = out.last_mut()
        {
            p.userns = true;
        }
        depth += line.matches('{').count();
        depth = depth.saturating_sub(line.matches('}').count());
    }
    out
}

/// Names of the loaded profiles: `NAME (MODE)` per line.
fn loaded_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.rsplit_once(" (").map(|(n, _)| n.trim().to_string()))
        .collect()
}

pub(crate) const APPARMOR: Check = Check {
    id: "userns.apparmor",
    phase: Phase::Preflight,
    severity: Severity::Required,
    title: "AppArmor lets the k3s binary use user namespaces",
    fixed_by: Some("apparmor-profile"),
    run: apparmor,
    explain: "\
Verifies that kernel.apparmor_restrict_unprivileged_userns is absent or 0, or else that a loaded AppArmor profile attached to the k3s binary grants `userns`: a profile in /etc/apparmor.d/ whose attachment is the binary's path (/usr/local/bin/k3s, or /opt/bin/k3s where install.sh put it because /usr/local was read-only: k3s-io/k3s:install.sh, setup_env) with a `userns,` rule, and its name listed in /sys/kernel/security/apparmor/profiles.

Why: Ubuntu 24.04 and later set the sysctl to 1: a process may then create a user namespace with capabilities only under a profile that allows `userns`. rootless k3s creates its namespace through the RootlessKit it embeds (the parent clones the child with CLONE_NEWUSER and execs /proc/self/exe), so the profile must attach to the k3s binary itself; without one k3s fails with \"failed to start the child: fork/exec /proc/self/exe: operation not permitted\" (k3s-io/k3s issues 11900 and 12711). A profile written for a separate rootlesskit binary (rootlesscontaine.rs) does not cover k3s (k3s-io/docs issue 459: a profile for the k3s binary's own path is what worked).

Profile shape: krc writes `profile k3s PATH flags=(default_allow) { userns, }` (abi 4.0), the profile reported working for k3s itself (k3s-io/docs issue 459): `default_allow` lets k3s and everything it starts do what they did before and adds the userns permission. Ubuntu's apparmor package ships rootlesskit's profile with `flags=(unconfined)` instead, but no report confirms that mode for k3s, which re-executes itself from its data directory (~/.rancher/k3s/data/*/bin) after the profile attached, so krc writes the confirmed mode. krc accepts a profile of either mode: what decides is the attachment path and a loaded profile, not the flag. `krc install` writes the profile for the path the binary will have (/opt/bin/k3s when /usr/local is read-only), not for where a binary happens to be before it is installed.

Fix: write /etc/apparmor.d/krc-k3s with that profile for the binary's real path and load it with `sudo apparmor_parser -r /etc/apparmor.d/krc-k3s` (krc install's apparmor-profile step). Setting the sysctl to 0 also works but lifts the restriction for every program.",
};

pub(super) fn apparmor(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let path = proc_path(APPARMOR_RESTRICT);
    match live_int(host, APPARMOR_RESTRICT)? {
        None => {
            return Ok(
                Verdict::pass("AppArmor does not restrict user namespaces here")
                    .evidence(format!("{path}: does not exist")),
            );
        }
        Some(v) if v == "0" => {
            return Ok(
                Verdict::pass(format!("{APPARMOR_RESTRICT} is 0")).evidence(format!("{path}: 0"))
            );
        }
        Some(_) => {}
    }
    let k3s = k3s_binary(host);
    let mut f = Findings::default();
    f.observe(format!("{path}: 1"));
    // Profiles in /etc/apparmor.d (top level: abstractions/, tunables/,
    // local/ hold fragments, not profiles) that attach to the k3s binary.
    let mut granting = Vec::new();
    for name in host.list_dir(APPARMOR_DIR) {
        let file = format!("{APPARMOR_DIR}/{name}");
        if !matches!(host.stat(&file)?, Some(st) if st.kind == crate::host::FileKind::File) {
            continue;
        }
        let text = host.read(&file)?;
        for p in parse_profiles(&text) {
            if p.attach.as_deref() == Some(k3s.as_str()) {
                let grants = if p.userns {
                    " and grants userns"
                } else {
                    ", without userns"
                };
                f.observe(at(
                    &file,
                    p.line,
                    &format!("profile {} attaches to {k3s}{grants}", p.name),
                ));
                if p.userns {
                    granting.push((file.clone(), p.name));
                }
            }
        }
    }
    let install = format!(
        "sudo tee {K3S_APPARMOR_FILE} >/dev/null <<'EOF'\n{}EOF\nsudo apparmor_parser -r {K3S_APPARMOR_FILE}\n(krc install does this in its apparmor-profile step; or, host-wide and weaker: echo '{APPARMOR_RESTRICT}=0' | sudo tee /etc/sysctl.d/90-userns.conf && sudo sysctl --system)",
        k3s_apparmor_profile(&k3s)
    );
    if granting.is_empty() {
        f.observe(format!(
            "{APPARMOR_DIR}: no profile attaches to {k3s} with userns"
        ));
        f.find(Status::Fail, format!(
            "{APPARMOR_RESTRICT} is 1 and no AppArmor profile grants {k3s} userns: k3s will fail with \"failed to start the child: fork/exec /proc/self/exe: operation not permitted\""
        ));
        f.remedy(install);
        return Ok(f.finish(""));
    }
    let loaded = match host.read_opt(LOADED_PROFILES)? {
        Some(text) => loaded_names(&text),
        None => {
            f.observe(format!("{LOADED_PROFILES}: does not exist"));
            Vec::new()
        }
    };
    match granting.iter().find(|(_, name)| loaded.contains(name)) {
        Some((file, name)) => {
            f.observe(format!("{LOADED_PROFILES}: {name} is loaded"));
            Ok(f.finish(format!(
                "{APPARMOR_RESTRICT} is 1, and the loaded profile {name} ({file}) grants {k3s} userns"
            )))
        }
        None => {
            let (file, name) = &granting[0];
            f.observe(format!("{LOADED_PROFILES}: no line for {name}"));
            f.find(Status::Fail, format!(
                "the profile {name} in {file} grants {k3s} userns but is not loaded: k3s will fail with \"failed to start the child: fork/exec /proc/self/exe: operation not permitted\""
            ));
            f.remedy(format!("sudo apparmor_parser -r {file}"));
            Ok(f.finish(""))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Params;
    use crate::host::Host;

    #[test]
    fn profiles_parse_by_attachment_and_userns_rule() {
        let text = "abi <abi/4.0>,\ninclude <tunables/global>\n\nprofile k3s /opt/bin/k3s flags=(default_allow) {\n  userns,\n  include if exists <local/k3s>\n}\n/usr/bin/other {\n  # userns,\n  ^hat {\n    userns,\n  }\n}\n";
        let p = parse_profiles(text);
        assert_eq!(p.len(), 2);
        assert_eq!(
            (
                p[0].name.as_str(),
                p[0].attach.as_deref(),
                p[0].userns,
                p[0].line
            ),
            ("k3s", Some("/opt/bin/k3s"), true, 4)
        );
        assert_eq!(
            (p[1].name.as_str(), p[1].userns),
            ("/usr/bin/other", false),
            "a commented rule or a hat's does not count"
        );
        assert_eq!(
            loaded_names("k3s (unconfined)\n/usr/bin/man (enforce)\n"),
            ["k3s", "/usr/bin/man"]
        );
        let profile = k3s_apparmor_profile("/opt/bin/k3s");
        let p = parse_profiles(&profile);
        assert_eq!(
            (p[0].attach.as_deref(), p[0].userns),
            (Some("/opt/bin/k3s"), true),
            "{profile}"
        );
    }

    fn judge(dir: &std::path::Path) -> crate::checks::Verdict {
        let host = Host::open(dir, Some("ubuntu")).unwrap();
        apparmor(&Ctx {
            host: &host,
            params: &Params::default(),
        })
        .unwrap()
    }

    #[test]
    fn a_profile_must_be_loaded_and_name_the_real_binary() {
        let d = tempfile::tempdir().unwrap();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/hosts/ubuntu2404-apparmor-profile");
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", src.display()))
            .arg(d.path())
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(judge(d.path()).status, Status::Pass);
        // Written but never loaded.
        std::fs::write(
            d.path().join("sys/kernel/security/apparmor/profiles"),
            "rootlesskit (unconfined)\n",
        )
        .unwrap();
        let v = judge(d.path());
        assert_eq!(v.status, Status::Fail, "{v:?}");
        assert!(v.summary.contains("is not loaded"), "{v:?}");
        assert_eq!(
            v.remedy.as_deref(),
            Some("sudo apparmor_parser -r /etc/apparmor.d/krc-k3s")
        );
        // install.sh put k3s in /opt/bin (read-only /usr/local): the
        // profile for /usr/local/bin/k3s does not cover it.
        std::fs::remove_file(d.path().join("usr/local/bin/k3s")).unwrap();
        std::fs::create_dir_all(d.path().join("opt/bin")).unwrap();
        std::fs::write(d.path().join("opt/bin/k3s"), "").unwrap();
        let v = judge(d.path());
        assert_eq!(v.status, Status::Fail, "{v:?}");
        assert!(
            v.summary
                .contains("no AppArmor profile grants /opt/bin/k3s userns"),
            "{v:?}"
        );
        assert!(
            v.remedy
                .as_deref()
                .unwrap()
                .contains("profile k3s /opt/bin/k3s flags=(default_allow)"),
            "{v:?}"
        );
    }
}
