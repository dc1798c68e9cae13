//! k3s steps: the binary (through the upstream install script), keeping
//! the rootful unit off, the user unit, starting it, waiting for the API.

use super::{After, Ctx, State, Step};
use crate::host::procs::k3s_processes;
use crate::install::action::{Action, Content};
use crate::install::exec::Cmd;
use crate::install::fetch::{UNIT_ARTIFACT, arch, source};
use crate::install::fsops::Meta;
use crate::install::journal::Undo;
use crate::install::unit::{carries_credentials, drop_in, host_proxy, k3s_bin_dir, recorded};
use crate::layout::{UNIT, drop_in_path, unit_path, wants_path};

/// What upstream's install script may create besides the binary: saved
/// before it runs and restored (or removed) on undo.
fn script_outputs(bin_dir: &str) -> Vec<String> {
    let mut out: Vec<String> = [
        "kubectl",
        "crictl",
        "ctr",
        "k3s-killall.sh",
        "k3s-uninstall.sh",
    ]
    .iter()
    .map(|f| format!("{bin_dir}/{f}"))
    .collect();
    out.push("/etc/systemd/system/k3s.service".into());
    out.push("/etc/systemd/system/k3s.service.env".into());
    out
}

/// The k3s binary this install places and the unit starts (and the path
/// the AppArmor profile attaches to).
pub(super) fn k3s_bin(ctx: &Ctx<'_>) -> String {
    format!("{}/k3s", k3s_bin_dir(ctx.fs))
}

const ROOTFUL_WANTS: &str = "/etc/systemd/system/multi-user.target.wants/k3s.service";

pub(super) const BINARY: Step = Step {
    id: "k3s-binary",
    title: "install the pinned k3s binary (upstream install script, verified artifacts)",
    state: |ctx| {
        let bin = arch().1;
        let Some(pins) = ctx.pins else {
            return State::Needed(format!(
                "k3s {} is not pinned yet (no pins loaded)",
                ctx.opts.pin
            ));
        };
        let Ok(want) = pins.sum(bin) else {
            return State::Needed(format!("no pinned sha256 for {bin}"));
        };
        let k3s = k3s_bin(ctx);
        match ctx.fs.sha256(&k3s) {
            Some(s) if s == want => State::Satisfied(format!(
                "{k3s} is k3s {} (sha256 {})",
                ctx.opts.pin,
                &s[..12]
            )),
            Some(s) => State::Needed(format!(
                "{k3s} has sha256 {}, not the pinned {}",
                &s[..12],
                &want[..12]
            )),
            None => State::Needed(format!("{k3s} does not exist")),
        }
    },
    plan: |ctx| {
        let bin = arch().1;
        let sum = |name: &str| match ctx.pins {
            Some(p) => p.sum(name).map(str::to_string).unwrap_or_else(|_| {
                format!(
                    "(not pinned: {}; the sum is recorded when fetched)",
                    p.trust.label()
                )
            }),
            None => "(pin not loaded)".to_string(),
        };
        let (k, v) = ctx.opts.pin.env();
        // The binary is placed (verified) first and the script told not to
        // download: online and offline installs run the same way, and no
        // byte the script fetched itself is ever used.
        let script = Cmd::root(&["sh", "INSTALL_SH"])
            .env(k, v)
            .env("INSTALL_K3S_SKIP_DOWNLOAD", "true")
            .env("INSTALL_K3S_SKIP_ENABLE", "true")
            .env("INSTALL_K3S_SKIP_START", "true")
            .env("INSTALL_K3S_BIN_DIR", k3s_bin_dir(ctx.fs));
        Ok(vec![
            Action::OnUndo(Undo::DaemonReload),
            Action::Write {
                path: k3s_bin(ctx),
                content: Content::Artifact {
                    name: bin.into(),
                    sha256: sum(bin),
                    source: source(ctx.opts, bin),
                },
                meta: Meta::new(0o755, 0, 0),
            },
            Action::RunScript {
                artifact: "install.sh".into(),
                sha256: sum("install.sh"),
                source: source(ctx.opts, "install.sh"),
                cmd: script,
                watch: script_outputs(k3s_bin_dir(ctx.fs)),
            },
        ])
    },
    after: After::Continue,
};

pub(super) const ROOTFUL_DISABLED: Step = Step {
    id: "rootful-disabled",
    title: "keep the rootful k3s.service the script writes disabled and stopped",
    state: |ctx| {
        if ctx.host.exists(ROOTFUL_WANTS) {
            return State::Needed(format!(
                "{ROOTFUL_WANTS} exists: the rootful k3s.service is enabled"
            ));
        }
        if let Some(p) = k3s_processes(ctx.host).iter().find(|p| p.uid == Some(0)) {
            return State::Needed(format!("a rootful k3s runs as pid {}", p.pid));
        }
        State::Satisfied("the rootful k3s.service is neither enabled nor running".into())
    },
    plan: |_| {
        Ok(vec![Action::Run {
            cmd: Cmd::root(&["systemctl", "disable", "--now", "k3s.service"]),
            undo: Some(Undo::EnableRootfulK3s),
            watch: vec![],
            optional: false,
        }])
    },
    after: After::Continue,
};

fn user_meta(ctx: &Ctx<'_>) -> Meta {
    let u = ctx.host.user();
    Meta::new(0o644, u.uid, u.gid)
}

/// The drop-in for this install's settings and the host's proxy, and its
/// owner and mode: 0600 when a proxy URL in it carries a password (only
/// the user's own manager reads it), else 0644.
fn krc_drop_in(ctx: &Ctx<'_>) -> (String, Meta) {
    let r = &ctx.opts.rootless;
    let proxy = host_proxy(ctx.host, r, &ctx.opts.proxy);
    let mut meta = user_meta(ctx);
    if carries_credentials(&proxy) {
        meta.mode = 0o600;
    }
    (drop_in(r, &proxy), meta)
}

/// Is the installed unit the one krc writes for this pin: built from
/// upstream's unit of the pinned tag (the pinned sha256, when pinned),
/// running the binary krc installs? Ok says which, Err what differs.
fn unit_state(ctx: &Ctx<'_>) -> Result<String, String> {
    let path = unit_path(&ctx.host.user().home);
    let text = ctx
        .fs
        .read(&path)
        .map_err(|_| format!("{path} does not exist"))?;
    let Some((tag, sum, bin)) = recorded(&String::from_utf8_lossy(&text)) else {
        return Err(format!(
            "{path} does not say which k3s tag its directives came from"
        ));
    };
    let want = ctx.opts.pin.reference();
    if tag != want {
        return Err(format!(
            "{path} is k3s-rootless.service of k3s {tag}, not of the pinned {want}"
        ));
    }
    if let Some(p) = ctx.pins.and_then(|p| p.sum(UNIT_ARTIFACT).ok())
        && p != sum
    {
        return Err(format!(
            "{path} was built from a unit with sha256 {}, not the pinned {}",
            sum.get(..12).unwrap_or(&sum),
            &p[..12]
        ));
    }
    let k3s = k3s_bin(ctx);
    if bin != k3s {
        return Err(format!("{path} runs {bin}, not {k3s}"));
    }
    Ok(format!(
        "from k3s {tag}, sha256 {}",
        sum.get(..12).unwrap_or(&sum)
    ))
}

pub(super) const USER_UNIT: Step = Step {
    id: "user-unit",
    title: "write ~/.config/systemd/user/k3s-rootless.service and krc's drop-in",
    state: |ctx| {
        let home = &ctx.host.user().home;
        let same = |p: &str, want: &str| ctx.fs.read(p).ok().as_deref() == Some(want.as_bytes());
        let (text, meta) = krc_drop_in(ctx);
        let drop_in_mode = ctx.fs.meta(&drop_in_path(home)).map(|(_, m)| m.mode);
        let unit = unit_state(ctx);
        match (
            unit.is_ok(),
            same(&drop_in_path(home), &text) && drop_in_mode == Some(meta.mode),
        ) {
            (true, true) => State::Satisfied(format!(
                "{UNIT} ({}) and its krc.conf drop-in are as krc writes them",
                unit.unwrap_or_default()
            )),
            (false, _) => State::Needed(unit.err().unwrap_or_default()),
            (true, false) => State::Needed(format!(
                "{} is missing or has other settings (or another mode)",
                drop_in_path(home)
            )),
        }
    },
    plan: |ctx| {
        let home = &ctx.host.user().home;
        let reload = Cmd::user(&["systemctl", "--user", "daemon-reload"]);
        let mut actions = vec![
            // Only a unit not already built from this tag's is rewritten:
            // a changed setting touches the drop-in alone.
            Action::Write {
                path: unit_path(home),
                content: Content::UserUnit {
                    sha256: ctx
                        .pins
                        .and_then(|p| p.sum(UNIT_ARTIFACT).ok())
                        .map(str::to_string)
                        .unwrap_or_else(|| "recorded when fetched".into()),
                    source: source(ctx.opts, UNIT_ARTIFACT),
                    k3s_bin: k3s_bin(ctx),
                    tag: ctx.opts.pin.reference().to_string(),
                },
                meta: user_meta(ctx),
            },
            {
                let (text, meta) = krc_drop_in(ctx);
                Action::Write {
                    path: drop_in_path(home),
                    content: Content::Bytes(text.into_bytes()),
                    meta,
                }
            },
        ];
        if unit_state(ctx).is_ok() {
            actions.remove(0);
        }
        if ctx.live {
            actions.insert(0, Action::OnUndo(Undo::UserDaemonReload));
            actions.push(Action::Run {
                cmd: reload,
                undo: None,
                watch: vec![],
                optional: false,
            });
            // Changing an existing install: a running k3s picks up the new
            // settings only on a restart (and the old ones again on undo).
            // try-restart leaves a stopped unit stopped.
            if ctx.fs.exists(&unit_path(home)) {
                let restart = Cmd::user(&["systemctl", "--user", "try-restart", UNIT]);
                actions.insert(0, Action::OnUndo(Undo::UserRestartK3s));
                actions.push(Action::Run {
                    cmd: restart,
                    undo: None,
                    watch: vec![],
                    optional: false,
                });
            }
        }
        Ok(actions)
    },
    after: After::Continue,
};

pub(super) const START: Step = Step {
    id: "start",
    title: "enable and start k3s-rootless.service as the user",
    state: |ctx| {
        let wants = wants_path(&ctx.host.user().home);
        if ctx.fs.read_link(&wants).is_some() {
            State::Satisfied(format!("{UNIT} is enabled ({wants})"))
        } else {
            State::Needed(format!("{UNIT} is not enabled"))
        }
    },
    plan: |ctx| {
        let home = &ctx.host.user().home;
        if ctx.live {
            Ok(vec![Action::Run {
                cmd: Cmd::user(&["systemctl", "--user", "enable", "--now", UNIT]),
                undo: Some(Undo::UserDisableK3s),
                watch: vec![wants_path(home)],
                optional: false,
            }])
        } else {
            // In a tree no manager runs: make the link `enable` makes.
            let u = ctx.host.user();
            Ok(vec![Action::Symlink {
                path: wants_path(home),
                target: unit_path(home),
                meta: Meta::new(0o777, u.uid, u.gid),
            }])
        }
    },
    after: After::Continue,
};

pub(super) const WAIT_API: Step = Step {
    id: "wait-api",
    title: "wait for ~/.kube/k3s.yaml and the API server",
    state: |ctx| {
        if let Some(reason) = ctx.pins.and_then(|p| p.stand_in.clone()) {
            return State::Skipped(format!(
                "the k3s binary is a stand-in ({reason}): no API server will answer"
            ));
        }
        if !ctx.live {
            return State::Skipped("--root: no service runs in a directory tree".into());
        }
        State::Needed("the API has not been seen answering yet".into())
    },
    plan: |_| Ok(Vec::new()),
    after: After::WaitApi,
};
