//! The kubeconfig k3s writes: `kubeconfig.present` (the file, its owner,
//! mode and contents) and `kubeconfig.env` (what `KUBECONFIG` points at).
//! No secret value ever reaches the evidence: only whether it is there.

use super::{Check, Ctx, Findings, Phase, Severity, Status, Verdict};
use crate::host::{FactError, FileKind, FileStat, Origin, TargetUser};
use crate::kube::kubeconfig;
use crate::kube::kubefile::{self, Refused};

/// The kubeconfig as a host path: the suite's or `~USER/.kube/k3s.yaml`.
pub(crate) fn kubeconfig_path(user: &TargetUser, configured: Option<&str>) -> String {
    configured.map_or_else(
        || crate::layout::kubeconfig_path(&user.home),
        str::to_string,
    )
}

pub(crate) const PRESENT: Check = Check {
    id: "kubeconfig.present",
    phase: Phase::Acceptance,
    severity: Severity::Required,
    title: "~/.kube/k3s.yaml exists, is the user's, mode 0600, and usable",
    fixed_by: None,
    run: present,
    explain: "\
Verifies ~/.kube/k3s.yaml: it exists as a regular file (not a symbolic link: krc never follows links in the user's home, since as root that would let the user point it at a root-only file), belongs to the user, has mode 0600 (wider warns, world-readable fails), parses as a kubeconfig, names https://127.0.0.1:6443 (or the suite's api_port) and holds a certificate authority and client credentials inline (no file names, no exec or auth-provider commands: krc may run as root). Values are never shown, only whether they are there; a parse error is reported as FILE:LINE:COLUMN and a fixed sentence, never the offending text.

Why: k3s writes this file when the server starts (journal \"Wrote kubeconfig ...\"), mode 0600, because it holds cluster-admin credentials: world-readable, it gives every local user the cluster. A missing file means the server never got that far; a wrong server URL means kubectl talks to another port or cluster.

Beware: `k3s server --write-kubeconfig PATH` (K3S_KUBECONFIG_OUTPUT) can leave ~/.kube/k3s.yaml a symbolic link to PATH; krc refuses that link as it refuses any other. Drop the flag, or give it ~/.kube/k3s.yaml itself, remove the link and restart.

Fix: `chmod 600 ~/.kube/k3s.yaml`, `sudo chown USER: ~/.kube/k3s.yaml`; a link, a missing or a broken file: remove it and let `sudo systemctl --user -M USER@ restart k3s-rootless` rewrite it.",
};

pub(super) fn present(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let u = host.user();
    let path = kubeconfig_path(u, ctx.params.accept.kubeconfig.as_deref());
    let restart = format!(
        "k3s rewrites it on start: sudo systemctl --user -M {}@ restart k3s-rootless",
        u.name
    );
    // Read first, without following links: the metadata below is then the
    // file's own (fstat), never a link target's.
    let file = match kubefile::read_host(host, &path) {
        Ok(file) => file,
        Err(r) => return refused(ctx, &path, r, &restart),
    };
    let mut f = Findings::default();
    let st = file_stat(ctx, &path, &file)?;
    if !owner_and_mode(ctx, &path, &st, &mut f) {
        return Ok(f.finish(""));
    }
    contents(ctx, &path, &file.text, &restart, &mut f);
    Ok(f.finish(format!("{path} belongs to {}, mode 600, names https://127.0.0.1:{} and holds CA and client credentials", u.name, ctx.params.accept.api_port)))
}

/// Why the kubeconfig was not read, and what to do.
fn refused(ctx: &Ctx<'_>, path: &str, r: Refused, restart: &str) -> Result<Verdict, FactError> {
    let (host, u) = (ctx.host, ctx.host.user());
    match r {
        Refused::Missing => Ok(Verdict::fail(format!("{path} does not exist"))
            .evidence(format!("{path}: does not exist"))
            .remedy(format!("k3s writes it when the server starts (journal: \"Wrote kubeconfig ...\"):\nsudo systemctl --user -M {}@ status k3s-rootless\nsudo journalctl --user -M {}@ -u k3s-rootless | grep -i kubeconfig", u.name, u.name))),
        Refused::Io(e) => Err(FactError::Unreadable {
            path: path.to_string(),
            reason: e,
        }),
        r => {
            let why = kubefile::refusal(host, path, &r);
            let remedy = match &r {
                Refused::Owner(_) => format!("sudo chown {}: {path}", u.name),
                Refused::Symlink(_) | Refused::NotRegular(_) => {
                    format!("rm {path}   # then {restart}")
                }
                _ => restart.to_string(),
            };
            Ok(Verdict::fail(why)
                .evidence(format!("{path}: refused, nothing read from it"))
                .remedy(remedy))
        }
    }
}

/// The file's owner and mode: on a live host the descriptor's own (no
/// second lookup to race), in a tree its fixture's.
fn file_stat(ctx: &Ctx<'_>, path: &str, file: &kubefile::KubeFile) -> Result<FileStat, FactError> {
    match ctx.host.origin() {
        Origin::Live => Ok(FileStat {
            kind: FileKind::File,
            mode: file.mode,
            uid: file.uid,
            gid: file.gid,
            rdev: None,
            caps: Vec::new(),
        }),
        Origin::Tree => ctx.host.stat(path)?.ok_or_else(|| FactError::Missing {
            path: path.to_string(),
        }),
    }
}

/// The user's own file, mode 600. False when it is someone else's: its
/// contents are then not judged.
fn owner_and_mode(ctx: &Ctx<'_>, path: &str, st: &FileStat, f: &mut Findings) -> bool {
    let (host, u) = (ctx.host, ctx.host.user());
    f.observe(format!(
        "{path}: {} uid {} ({}) gid {}",
        st.mode_string(),
        st.uid,
        host.owner_name(st.uid),
        st.gid
    ));
    if st.uid != u.uid {
        f.find(
            Status::Fail,
            format!(
                "{path} belongs to {}, not to {}: its contents were not judged",
                host.owner_name(st.uid),
                u.name
            ),
        );
        f.remedy(format!("sudo chown {}: {path}", u.name));
        return false;
    }
    if st.mode & 0o004 != 0 {
        f.find(Status::Fail, format!("{path} is world-readable ({:o}): anyone on this host can take the cluster's admin credentials", st.mode & 0o777));
        f.remedy(format!("chmod 600 {path}"));
    } else if st.mode & 0o077 != 0 {
        f.find(
            Status::Warn,
            format!(
                "{path} has mode {:o}, wider than 600: the group can read admin credentials",
                st.mode & 0o777
            ),
        );
        f.remedy(format!("chmod 600 {path}"));
    }
    true
}

/// The server, the CA and the client credentials, judged by krc's own
/// parser, whose errors name a position and never quote the file.
fn contents(ctx: &Ctx<'_>, path: &str, text: &str, restart: &str, f: &mut Findings) {
    let u = ctx.host.user();
    match kubeconfig::parse(text) {
        Err(e) => {
            // krc's own words and a position: never the parser's text.
            f.observe(e.in_file(path));
            f.find(Status::Fail, format!("{path} is not a valid kubeconfig"));
            f.remedy(restart.to_string());
        }
        Ok((k, _)) => {
            let want = format!("https://127.0.0.1:{}", ctx.params.accept.api_port);
            let server = k.server.clone().unwrap_or_default();
            f.observe(format!(
                "{path}: server: {}",
                if server.is_empty() { "(none)" } else { &server }
            ));
            f.observe(format!(
                "{path}: certificate authority {}, client certificate {}, client key {}, token {}",
                said(k.has_ca),
                said(k.has_client_cert),
                said(k.has_client_key),
                said(k.has_token)
            ));
            if server.trim_end_matches('/') != want {
                f.find(Status::Fail, format!("{path} names {server:?}, not {want}"));
                f.remedy(format!("k3s writes {want} when it runs with --https-listen-port {}: restart it, or give the suite's api_port", ctx.params.accept.api_port));
            }
            if !k.has_ca {
                f.find(
                    Status::Fail,
                    format!("{path} holds no certificate authority: TLS cannot be verified"),
                );
            }
            if !(k.has_token || k.has_client_cert && k.has_client_key) {
                f.find(
                    Status::Fail,
                    format!("{path} holds no client credentials (certificate and key, or token)"),
                );
            }
            if !k.has_ca || !(k.has_token || k.has_client_cert && k.has_client_key) {
                f.remedy(format!(
                    "k3s rewrites it on start: sudo systemctl --user -M {}@ restart k3s-rootless",
                    u.name
                ));
            }
        }
    }
}

fn said(b: bool) -> &'static str {
    if b { "present" } else { "missing" }
}

const PROFILES: &[&str] = &[".profile", ".bashrc", ".bash_profile", ".zshrc"];

pub(crate) const ENV: Check = Check {
    id: "kubeconfig.env",
    phase: Phase::Acceptance,
    severity: Severity::Advisory,
    title: "KUBECONFIG does not point kubectl away from k3s.yaml",
    fixed_by: None,
    run: env,
    explain: "\
Warns when KUBECONFIG (in krc's environment) is set but empty or names another file than ~/.kube/k3s.yaml, and when the user's ~/.profile, ~/.bashrc, ~/.bash_profile or ~/.zshrc sets it empty with `KUBECONFIG= ` (a space after `=`).

Why: the reference procedure's line `export KUBECONFIG= ~/.kube/k3s.yaml` has a space after `=`: the shell sets KUBECONFIG empty and runs ~/.kube/k3s.yaml as a command. What kubectl reads then depends on which kubectl it is. k3s's own (the kubectl symlink to the k3s binary, k3s-io/k3s:pkg/kubectl/main.go) treats an empty KUBECONFIG as unset and reads /etc/rancher/k3s/k3s.yaml when that file exists (a rootful k3s's, root-only: \"Unable to read /etc/rancher/k3s/k3s.yaml\"), else ~/.kube/k3s.yaml (pkg/server: HomeKubeConfig). A standalone kubectl reads ~/.kube/config and answers \"The connection to the server localhost:8080 was refused\", which looks like a broken cluster.

Fix: `export KUBECONFIG=~/.kube/k3s.yaml` (no space), in the profile file the warning names.",
};

pub(super) fn env(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let u = host.user();
    let path = kubeconfig_path(u, ctx.params.accept.kubeconfig.as_deref());
    let fix = format!("export KUBECONFIG={path}   # no space after =");
    let mut f = Findings::default();
    match host.accept_probes().kubeconfig_env() {
        None => f.observe(
            "KUBECONFIG: not set in krc's environment (k3s's kubectl symlink then reads /etc/rancher/k3s/k3s.yaml if it exists, else ~/.kube/k3s.yaml; a standalone kubectl reads ~/.kube/config)"
                .to_string(),
        ),
        Some(v) if v.trim().is_empty() => {
            f.observe("KUBECONFIG: set, empty".to_string());
            f.find(Status::Warn, "KUBECONFIG is set but empty: a standalone kubectl falls back to ~/.kube/config, and k3s's kubectl symlink to /etc/rancher/k3s/k3s.yaml when that exists (`export KUBECONFIG= ~/.kube/k3s.yaml` with a space does this)");
            f.remedy(fix.clone());
        }
        Some(v) => {
            f.observe(format!("KUBECONFIG: {v}"));
            let expanded = v.replace('~', &u.home);
            if !expanded.split(':').any(|p| p == path) {
                f.find(
                    Status::Warn,
                    format!(
                        "KUBECONFIG names {v}, not {path}: kubectl talks to another cluster or none"
                    ),
                );
                f.remedy(fix.clone());
            }
        }
    }
    for name in PROFILES {
        let file = format!("{}/{name}", u.home);
        let Ok(Some(text)) = host.read_opt(&file) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.starts_with('#') {
                continue;
            }
            if let Some(pos) = t.find("KUBECONFIG=") {
                let rest = &t[pos + "KUBECONFIG=".len()..];
                f.observe(super::at(&file, i + 1, t));
                if rest.starts_with(' ') || rest.is_empty() {
                    f.find(
                        Status::Warn,
                        format!("{file}:{} sets KUBECONFIG empty (a space after `=`)", i + 1),
                    );
                    f.remedy(format!("replace that line with: {fix}"));
                }
            }
        }
    }
    Ok(f.finish(format!("KUBECONFIG does not lead kubectl away from {path}")))
}
