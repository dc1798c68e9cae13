//! Kernel steps (root): load the modules rootless k3s needs (it cannot load
//! them itself from inside its user namespace) and, where AppArmor
//! restricts unprivileged user namespaces, a profile that lets k3s create
//! them. Both write a file the system reads at boot and apply it now; a
//! tree gets the file only, so "the file says so" counts as done there.

use super::{After, State, Step, verdict};
use crate::checks::Status;
use crate::checks::kernel::{MODULES_LOAD_FILE, modules_to_load};
use crate::checks::userns::{K3S_APPARMOR_FILE, k3s_apparmor_profile};
use crate::install::action::{Action, Content};
use crate::install::exec::Cmd;
use crate::install::fsops::Meta;
use crate::install::journal::Undo;

fn modules_file(modules: &[String]) -> String {
    let mut text = String::from(
        "# Written by krc install: kernel modules rootless k3s needs and cannot load\n# itself from inside its user namespace. krc uninstall removes it.\n",
    );
    for m in modules {
        text.push_str(m);
        text.push('\n');
    }
    text
}

pub(super) const KERNEL_MODULES: Step = Step {
    id: "kernel-modules",
    title: "load the kernel modules rootless k3s needs, now and at boot",
    state: |ctx| {
        let v = verdict(ctx, "kernel.modules");
        match v.status {
            Status::Pass => return State::Satisfied(v.summary),
            Status::Skip => return State::Skipped(v.summary),
            _ => {}
        }
        // Nothing to load: what is missing is not a module, so this step
        // cannot help and the check blocks the install (unless --force).
        let modules = match modules_to_load(ctx.host) {
            Ok(m) if !m.is_empty() => m,
            _ => {
                return State::Skipped(format!(
                    "{}; no module krc could load fixes that",
                    v.summary
                ));
            }
        };
        if ctx.fs.read(MODULES_LOAD_FILE).ok().as_deref() == Some(modules_file(&modules).as_bytes())
        {
            return State::Satisfied(format!(
                "{MODULES_LOAD_FILE} lists {} (loaded at boot)",
                modules.join(" ")
            ));
        }
        State::Needed(v.summary)
    },
    plan: |ctx| {
        let modules = modules_to_load(ctx.host).map_err(|e| e.to_string())?;
        if modules.is_empty() {
            return Err(
                "the kernel lacks features that no module provides (see `krc preflight kernel.modules`): boot a kernel built with them"
                    .into(),
            );
        }
        let mut modprobe = vec!["modprobe", "-a"];
        modprobe.extend(modules.iter().map(String::as_str));
        Ok(vec![
            Action::Write {
                path: MODULES_LOAD_FILE.into(),
                content: Content::Bytes(modules_file(&modules).into_bytes()),
                meta: Meta::new(0o644, 0, 0),
            },
            // Loaded now too; advisory, since a container cannot load
            // modules (the file still loads them at the host's next boot).
            // Modules are not unloaded on undo: something else may use them.
            Action::Run {
                cmd: Cmd::root(&modprobe),
                undo: None,
                watch: vec![],
                optional: true,
            },
        ])
    },
    after: After::Continue,
};

pub(super) const APPARMOR_PROFILE: Step = Step {
    id: "apparmor-profile",
    title: "let k3s create user namespaces under AppArmor's restriction (a profile for its binary)",
    state: |ctx| {
        let v = verdict(ctx, "userns.apparmor");
        match v.status {
            Status::Pass => return State::Satisfied(v.summary),
            Status::Skip => return State::Skipped(v.summary),
            _ => {}
        }
        // The path the binary will have (/opt/bin when /usr/local is
        // read-only), not where a binary happens to be before the
        // k3s-binary step ran: the profile attaches by path.
        let want = k3s_apparmor_profile(&super::k3s::k3s_bin(ctx));
        if !ctx.live && ctx.fs.read(K3S_APPARMOR_FILE).ok().as_deref() == Some(want.as_bytes()) {
            return State::Satisfied(format!(
                "{K3S_APPARMOR_FILE} is krc's profile (loaded at boot)"
            ));
        }
        State::Needed(v.summary)
    },
    plan: |ctx| {
        Ok(vec![
            Action::Write {
                path: K3S_APPARMOR_FILE.into(),
                content: Content::Bytes(
                    k3s_apparmor_profile(&super::k3s::k3s_bin(ctx)).into_bytes(),
                ),
                meta: Meta::new(0o644, 0, 0),
            },
            // Undone (newest first) while the file still exists.
            Action::Run {
                cmd: Cmd::root(&["apparmor_parser", "-r", K3S_APPARMOR_FILE]),
                undo: Some(Undo::AppArmorUnload),
                watch: vec![],
                optional: false,
            },
        ])
    },
    after: After::Continue,
};
