//! Forwarding: `sysctl.ip-forward`.

use super::{Ctx, Findings, Status, Verdict};
use crate::host::FactError;
use crate::host::sysctl::{live_int, persisted, proc_path};

const V4: &str = "net.ipv4.ip_forward";
const V6: &str = "net.ipv6.conf.all.forwarding";
/// The file krc's installer writes; the remedy names the same one.
pub(crate) const KRC_SYSCTL_FILE: &str = "/etc/sysctl.d/90-krc-rootless.conf";

pub(super) fn ip_forward(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let mut f = Findings::default();
    let mut to_set = Vec::new();
    for (key, required) in [(V4, true), (V6, false)] {
        let value = live_int(host, key)?;
        let saved = persisted(host, key);
        let saved_text = match &saved {
            Some(p) => format!("persisted by {p}"),
            None => "not persisted in /etc/sysctl.conf or any sysctl.d file".to_string(),
        };
        f.observe(format!(
            "{}: {} ({saved_text})",
            proc_path(key),
            value.as_deref().unwrap_or("does not exist")
        ));
        let on = value.as_deref() == Some("1");
        let level = if required { Status::Fail } else { Status::Warn };
        match value {
            None if !required => {}
            None => f.find(
                Status::Fail,
                format!("{key} does not exist: the kernel has no IPv4 forwarding"),
            ),
            Some(v) if !on => {
                let note = if required {
                    "k3s refuses to start"
                } else {
                    "advisory: IPv6 services will not be forwarded"
                };
                f.find(level, format!("{key} is {v} ({note})"));
                to_set.push(key);
            }
            Some(_) if saved.as_ref().is_none_or(|p| p.value != "1") => {
                f.find(
                    Status::Warn,
                    format!("{key} is 1 now but nothing sets it at boot"),
                );
                to_set.push(key);
            }
            Some(_) => {}
        }
    }
    if !to_set.is_empty() {
        let lines: Vec<String> = to_set.iter().map(|k| format!("{k}=1")).collect();
        f.remedy(format!(
            "printf '{}\\n' | sudo tee {KRC_SYSCTL_FILE}\nsudo sysctl --system",
            lines.join("\\n")
        ));
    }
    Ok(f.finish("IPv4 and IPv6 forwarding are on and persisted"))
}

#[allow(non_upper_case_globals)]
pub(super) mod explain {
    pub(crate) const ip_forward: &str = "\
Verifies that net.ipv4.ip_forward is 1 (required) and net.ipv6.conf.all.forwarding is 1 (advisory), shows the live values, and says whether /etc/sysctl.conf or a file under /etc/sysctl.d (also /run, /usr/lib) sets them again at boot.

Why: k3s checks forwarding at startup and stops with: expected sysctl value \"net.ipv4.ip_forward\" to be \"1\", got \"0\"; try adding \"net.ipv4.ip_forward=1\" to /etc/sysctl.conf and running `sudo sysctl --system`. A rootless user cannot set it. A value set by hand and not persisted is lost at the next reboot.

Fix: `printf 'net.ipv4.ip_forward=1\\nnet.ipv6.conf.all.forwarding=1\\n' | sudo tee /etc/sysctl.d/90-krc-rootless.conf && sudo sysctl --system`. `krc install` writes that file in its sysctl step.";
}
