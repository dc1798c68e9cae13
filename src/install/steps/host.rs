//! Host steps (root): packages, subordinate ids, cgroup v2, forwarding
//! sysctls, lingering (delegation has its own module).

use super::{After, Ctx, State, Step, check, verdict};
use crate::checks::KRC_SYSCTL_FILE;
use crate::checks::Status;
use crate::checks::boot_change_cannot_help;
use crate::host::boot::{
    GRUB_DEFAULTS, GRUB_DROP_IN, NextBoot, UNIFIED_FLAG, grub_drop_in, next_boot,
};
use crate::host::sysctl::{live, persisted};
use crate::host::users::{free_subid_start, known_accounts, parse_subids};
use crate::install::action::{Action, Content};
use crate::install::exec::Cmd;
use crate::install::fsops::Meta;
use crate::install::journal::{SYSCTL_KEYS, Undo};

pub(super) fn root_file(ctx: &Ctx<'_>, path: &str, mode: u32) -> Meta {
    // An edited file keeps its mode and owner; a new one is root's.
    ctx.fs
        .meta(path)
        .map(|(_, m)| m)
        .unwrap_or(Meta::new(mode, 0, 0))
}

pub(super) const PACKAGES: Step = Step {
    id: "packages",
    title: "install uidmap, slirp4netns, fuse3, dbus-user-session",
    state: |ctx| {
        let missing = missing_packages(ctx);
        if missing.is_empty() {
            State::Satisfied(
                "newuidmap, newgidmap, slirp4netns, mount.fuse3 and the user bus are installed"
                    .into(),
            )
        } else {
            State::Needed(format!(
                "missing: {}",
                missing
                    .iter()
                    .map(|(_, what)| *what)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    },
    plan: |ctx| {
        let missing = missing_packages(ctx);
        if ctx.host.which("apt-get").is_some() {
            let pkgs: Vec<&str> = missing.iter().map(|(p, _)| *p).collect();
            let apt = |args: &[&str]| {
                let mut a = vec!["apt-get"];
                a.extend_from_slice(args);
                Cmd::root(&a).env("DEBIAN_FRONTEND", "noninteractive")
            };
            let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
            install.extend(&pkgs);
            Ok(vec![
                Action::Run {
                    cmd: apt(&["update", "-q"]),
                    undo: None,
                    watch: vec![],
                    optional: false,
                },
                Action::AptInstall { cmd: apt(&install) },
            ])
        } else if ctx.host.which("dnf").is_some() {
            let pkgs: Vec<&str> = missing.iter().map(|(p, _)| dnf_name(p)).collect();
            let mut install = vec!["dnf", "install", "-y"];
            install.extend(&pkgs);
            Ok(vec![Action::Run {
                cmd: Cmd::root(&install),
                undo: Some(Undo::DnfRemove {
                    packages: pkgs.iter().map(|p| p.to_string()).collect(),
                }),
                watch: vec![],
                optional: false,
            }])
        } else {
            Err(format!(
                "neither apt-get nor dnf is on this host: install {} with its package manager, then run krc install again",
                missing
                    .iter()
                    .map(|(_, what)| *what)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    },
    after: After::Continue,
};

/// (Debian package, what is missing) for each absent piece.
fn missing_packages(ctx: &Ctx<'_>) -> Vec<(&'static str, &'static str)> {
    let h = ctx.host;
    let mut out = Vec::new();
    if h.which("newuidmap").is_none() || h.which("newgidmap").is_none() {
        out.push(("uidmap", "newuidmap/newgidmap (uidmap)"));
    }
    if h.which("slirp4netns").is_none() {
        out.push(("slirp4netns", "slirp4netns"));
    }
    // No fuse-overlayfs: k3s runs the copy it bundles (k3s-root's bin comes
    // first on its PATH; fs.fuse), so the host's would go unused. What
    // the snapshotter needs from the host is mount.fuse3, below.
    if h.which("mount.fuse3").is_none() {
        // containerd mounts the fuse-overlayfs snapshotter through the
        // host's mount.fuse3, which k3s does not bundle.
        out.push((
            "fuse3",
            "mount.fuse3 (fuse3), the snapshotter's mount helper",
        ));
    }
    if h.which("sysctl").is_none() {
        // Minimal images (debootstrap minbase, containers) lack procps;
        // the sysctl step applies the forwarding settings with it.
        out.push((
            "procps",
            "sysctl (procps), which applies the forwarding settings",
        ));
    }
    if !h.exists("/usr/lib/systemd/user/dbus.socket") && !h.exists("/lib/systemd/user/dbus.socket")
    {
        out.push(("dbus-user-session", "the user's D-Bus (dbus-user-session)"));
    }
    out
}

fn dnf_name(deb: &str) -> &str {
    match deb {
        "uidmap" => "shadow-utils",
        "dbus-user-session" => "dbus-daemon",
        "procps" => "procps-ng",
        p => p,
    }
}

const SUBID_COUNT: u64 = 65536;

pub(super) const SUBIDS: Step = Step {
    id: "subids",
    title: "give the user 65536 subordinate uids and gids",
    // A warning (a range of theirs covers an account's id) is the
    // check's to report with its remedy: moving a range that containers
    // already use is the administrator's call, not an install's.
    state: |ctx| {
        let v = verdict(ctx, "uidmap.subids");
        match v.status {
            Status::Pass | Status::Warn => State::Satisfied(v.summary),
            _ => State::Needed(v.summary),
        }
    },
    plan: |ctx| {
        let u = ctx.host.user();
        let mut texts = Vec::new();
        let mut in_use = Vec::new();
        for file in ["/etc/subuid", "/etc/subgid"] {
            let text = ctx
                .host
                .read_opt(file)
                .map_err(|e| e.to_string())?
                .unwrap_or_default();
            let ranges = parse_subids(&text, file).map_err(|e| e.to_string())?;
            let mine: u64 = ranges
                .iter()
                .filter(|r| r.belongs_to(u))
                .map(|r| r.count)
                .sum();
            in_use.extend(ranges);
            texts.push((file, text, mine));
        }
        // The same free range in both files, after every range in use and
        // clear of every uid and gid of passwd and group (and NSS): what
        // `usermod --add-subuids/--add-subgids` would be told.
        let accounts: Vec<u64> = [false, true]
            .into_iter()
            .flat_map(|g| known_accounts(ctx.host, g))
            .map(|(_, id)| id)
            .collect();
        let start = free_subid_start(&in_use, &accounts, SUBID_COUNT).ok_or_else(|| {
            format!(
                "no free range of {SUBID_COUNT} ids is left below 2^32 after the ranges of /etc/subuid and /etc/subgid and the ids of /etc/passwd and /etc/group (and NSS): free one, then give it with sudo usermod --add-subuids START-END --add-subgids START-END {}",
                u.name
            )
        })?;
        let mut actions = Vec::new();
        for (file, mut text, mine) in texts {
            if mine >= SUBID_COUNT {
                continue;
            }
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&format!("{}:{start}:{SUBID_COUNT}\n", u.name));
            actions.push(Action::Write {
                path: file.into(),
                content: Content::Bytes(text.into_bytes()),
                meta: root_file(ctx, file, 0o644),
            });
        }
        Ok(actions)
    },
    after: After::Continue,
};

pub(super) const CGROUP_V2: Step = Step {
    id: "cgroup-v2",
    title: "boot with pure cgroup v2 (systemd.unified_cgroup_hierarchy=1)",
    state: |ctx| {
        let (ok, summary) = check(ctx, "cgroup.unified");
        if ok {
            return State::Satisfied(summary);
        }
        // The host already runs cgroup v2, or the running kernel already
        // has the flag: a boot-loader change and reboot would change
        // nothing and the next run would ask again. The check then blocks
        // the install with its own remedy (what still binds v1).
        if let Ok(Some(why)) = boot_change_cannot_help(ctx.host) {
            return State::Skipped(format!("a boot-loader change cannot help: {why}"));
        }
        match next_boot(ctx.host).unwrap_or(NextBoot::Unknown) {
            NextBoot::Unified(line) => State::RebootPending(format!(
                "the next boot asks for {UNIFIED_FLAG} ({line}); the running kernel was booted without it"
            )),
            // Defaults that ask for it with no generated configuration to
            // read (a tree, or a host that has not run update-grub): the
            // plan writes nothing new and regenerates.
            NextBoot::DefaultsAsk(line) if !ctx.live => State::RebootPending(format!(
                "the boot defaults ask for {UNIFIED_FLAG} ({line}); the running kernel was booted without it"
            )),
            _ => State::Needed(summary),
        }
    },
    plan: |ctx| match boot_loader(ctx) {
        _ if !matches!(boot_change_cannot_help(ctx.host), Ok(None)) => Err(
            "a boot-loader change cannot help this host (see `krc preflight cgroup.unified`)"
                .into(),
        ),
        BootLoader::GrubDropIn => Ok(vec![
            // Undo regenerates from the defaults once the drop-in is gone,
            // rather than copying back a grub.cfg that a kernel update may
            // have made stale.
            Action::OnUndo(Undo::UpdateGrub),
            Action::Write {
                path: GRUB_DROP_IN.into(),
                content: Content::Bytes(grub_drop_in().into_bytes()),
                meta: Meta::new(0o644, 0, 0),
            },
            Action::Run {
                cmd: Cmd::root(&["update-grub"]),
                undo: None,
                watch: vec![],
                optional: false,
            },
        ]),
        BootLoader::Grubby => Ok(vec![Action::Run {
            cmd: Cmd::root(&[
                "grubby",
                "--update-kernel=ALL",
                &format!("--args={UNIFIED_FLAG}"),
            ]),
            undo: Some(Undo::GrubbyRemoveFlag),
            watch: vec![],
            optional: false,
        }]),
        BootLoader::Unknown => Err(format!(
            "this host has neither update-grub nor grubby: add {UNIFIED_FLAG} to its boot loader's kernel command line by hand, reboot, then run krc install again"
        )),
    },
    after: After::Reboot,
};

enum BootLoader {
    /// Debian and Ubuntu: `update-grub` sources `/etc/default/grub.d/*.cfg`.
    GrubDropIn,
    /// Fedora, RHEL and friends (Boot Loader Specification entries).
    Grubby,
    Unknown,
}

fn boot_loader(ctx: &Ctx<'_>) -> BootLoader {
    if ctx.host.which("update-grub").is_some() || (!ctx.live && ctx.host.exists(GRUB_DEFAULTS)) {
        BootLoader::GrubDropIn
    } else if ctx.host.which("grubby").is_some() {
        BootLoader::Grubby
    } else {
        BootLoader::Unknown
    }
}

const IPV4: &str = SYSCTL_KEYS[0];
const IPV6: &str = SYSCTL_KEYS[1];

/// The forwarding keys this install sets: IPv4 always; IPv6 only with
/// `--ipv6-forwarding` (k3s does not need it, the rootless namespace does
/// not inherit it, and host-wide it stops router-advertisement
/// autoconfiguration on interfaces with accept_ra=1).
fn forwarding_keys(ctx: &Ctx<'_>) -> Vec<&'static str> {
    if ctx.opts.ipv6_forwarding {
        vec![IPV4, IPV6]
    } else {
        vec![IPV4]
    }
}

/// krc's sysctl file, as this install writes it.
fn sysctl_file(ctx: &Ctx<'_>) -> String {
    let mut text = String::from(
        "# Written by krc install: rootless k3s needs IPv4 forwarding. krc uninstall removes it.\n",
    );
    if ctx.opts.ipv6_forwarding {
        text.push_str(
            "# IPv6 forwarding: asked for with --ipv6-forwarding (k3s itself does not need it).\n",
        );
    }
    for key in forwarding_keys(ctx) {
        text.push_str(&format!("{key}=1\n"));
    }
    text
}

pub(super) const SYSCTL: Step = Step {
    id: "sysctl",
    title: "enable IPv4 forwarding now and at boot (IPv6 only with --ipv6-forwarding)",
    state: |ctx| {
        let mut wrong = Vec::new();
        for key in forwarding_keys(ctx) {
            let now = live_value(ctx, key);
            if key == IPV6 && now.is_none() && ctx.live {
                continue; // no IPv6 in this kernel
            }
            if persisted(ctx.host, key).is_none_or(|p| p.value != "1") {
                wrong.push(format!("{key} is not persisted as 1"));
            } else if key == IPV4 && now.as_deref().is_some_and(|v| v != "1") {
                // IPv6 forwarding is asked for, not required: its live
                // value is tried, never judged.
                wrong.push(format!("{key} is {} now", now.unwrap_or_default()));
            }
        }
        // krc's own file must say what this install asks (turning the IPv6
        // opt-in off rewrites it).
        if let Ok(text) = ctx.fs.read(KRC_SYSCTL_FILE)
            && text != sysctl_file(ctx).as_bytes()
        {
            wrong.push(format!("{KRC_SYSCTL_FILE} has other settings"));
        }
        if wrong.is_empty() {
            State::Satisfied("forwarding is on and persisted".into())
        } else {
            State::Needed(wrong.join("; "))
        }
    },
    plan: |ctx| {
        let mut actions = vec![Action::Write {
            path: KRC_SYSCTL_FILE.into(),
            content: Content::Bytes(sysctl_file(ctx).into_bytes()),
            meta: root_file(ctx, KRC_SYSCTL_FILE, 0o644),
        }];
        for key in forwarding_keys(ctx) {
            if let Some(v) = live_value(ctx, key).filter(|v| v != "1") {
                // Only a value that differs is written: /proc/sys may be
                // read-only (containers) where it is already right.
                actions.push(Action::Run {
                    cmd: Cmd::root(&["sysctl", "-w", &format!("{key}=1")]),
                    undo: Some(Undo::Sysctl {
                        key: key.to_string(),
                        value: v,
                    }),
                    watch: vec![],
                    optional: key == IPV6,
                });
            }
        }
        Ok(actions)
    },
    after: After::Continue,
};

/// The running kernel's value; a `--root` tree has no running kernel, so
/// there only the persisted files are judged.
fn live_value(ctx: &Ctx<'_>, key: &str) -> Option<String> {
    if ctx.live {
        live(ctx.host, key).ok().flatten()
    } else {
        None
    }
}

pub(super) const LINGER: Step = Step {
    id: "linger",
    title: "enable lingering so the user's manager runs without a login",
    state: |ctx| match check(ctx, "session.linger") {
        (true, s) => State::Satisfied(s),
        (false, s) => State::Needed(s),
    },
    plan: |ctx| {
        let u = ctx.host.user();
        if ctx.live {
            Ok(vec![Action::Run {
                cmd: Cmd::root(&["loginctl", "enable-linger", &u.name]),
                undo: Some(Undo::DisableLinger {
                    user: u.name.clone(),
                }),
                watch: vec![],
                optional: false,
            }])
        } else {
            // In a tree there is no logind: write the file it would.
            let p = crate::layout::linger_path(&u.name);
            Ok(vec![Action::Write {
                path: p,
                content: Content::Bytes(Vec::new()),
                meta: Meta::new(0o644, 0, 0),
            }])
        }
    },
    after: After::Continue,
};
