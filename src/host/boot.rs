//! What the next boot will tell the kernel about cgroups, as far as files
//! say: the generated boot loader configuration first (what GRUB or a
//! Boot Loader Specification entry will really pass), then the defaults
//! it is generated from (`/etc/default/grub` and `/etc/default/grub.d/`).

use super::{FactError, Host};

pub(crate) const UNIFIED_KEY: &str = "systemd.unified_cgroup_hierarchy";
pub(crate) const UNIFIED_FLAG: &str = "systemd.unified_cgroup_hierarchy=1";
pub(crate) const GRUB_DEFAULTS: &str = "/etc/default/grub";
pub(crate) const GRUB_DROP_IN_DIR: &str = "/etc/default/grub.d";
/// krc's GRUB drop-in: sourced by Debian's and Ubuntu's `update-grub`
/// after `/etc/default/grub`.
pub(crate) const GRUB_DROP_IN: &str = "/etc/default/grub.d/99-krc-cgroup2.cfg";

/// The drop-in's content. Appending to both variables puts the flag last
/// on the kernel line (`GRUB_CMDLINE_LINUX_DEFAULT` comes after
/// `GRUB_CMDLINE_LINUX`), so it wins over a `=0` anywhere before it, and
/// recovery entries (which use only `GRUB_CMDLINE_LINUX`) get it too.
pub(crate) fn grub_drop_in() -> String {
    format!(
        "# Written by krc install: rootless k3s needs pure cgroup v2. krc uninstall removes it.
GRUB_CMDLINE_LINUX=\"${{GRUB_CMDLINE_LINUX}} {UNIFIED_FLAG}\"
GRUB_CMDLINE_LINUX_DEFAULT=\"${{GRUB_CMDLINE_LINUX_DEFAULT}} {UNIFIED_FLAG}\"
"
    )
}

const GRUB_CFGS: &[&str] = &["/boot/grub/grub.cfg", "/boot/grub2/grub.cfg"];
const BLS_DIR: &str = "/boot/loader/entries";

/// The verdict on the next boot, with the line it rests on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NextBoot {
    /// The generated configuration passes the flag (its last occurrence is 1).
    Unified(String),
    /// The generated configuration exists and does not.
    NotUnified(String),
    /// No generated configuration could be read; the defaults ask for it.
    DefaultsAsk(String),
    /// Nothing says so.
    Unknown,
}

/// Does a kernel command line end up asking for cgroup v2? systemd takes
/// the last occurrence of a key, so `...=0 ...=1` is v2 and `=1 =0` is not.
pub(crate) fn cmdline_unified(args: &str) -> Option<bool> {
    args.split_whitespace()
        .filter_map(|a| a.strip_prefix(UNIFIED_KEY)?.strip_prefix('='))
        .next_back()
        .map(|v| matches!(v, "1" | "yes" | "true" | "on" | "y"))
}

/// The generated configuration is optional evidence (it may be root-only):
/// an unreadable one is passed over. The defaults are what krc edits a
/// drop-in beside, so an unreadable default file is an error.
pub(crate) fn next_boot(host: &Host) -> Result<NextBoot, FactError> {
    for cfg in GRUB_CFGS {
        let Ok(Some(text)) = host.read_opt(cfg) else {
            continue;
        };
        if let Some((n, line)) = grub_kernel_line(&text) {
            let shown = format!("{cfg}:{}: {}", n + 1, line.trim());
            return Ok(match cmdline_unified(line) {
                Some(true) => NextBoot::Unified(shown),
                _ => NextBoot::NotUnified(shown),
            });
        }
    }
    let entries = host.list_dir(BLS_DIR);
    let mut verdicts = Vec::new();
    for e in entries.iter().filter(|e| e.ends_with(".conf")) {
        let p = format!("{BLS_DIR}/{e}");
        if let Ok(Some(text)) = host.read_opt(&p)
            && let Some(opts) = bls_options(&text)
        {
            verdicts.push((
                cmdline_unified(opts) == Some(true),
                format!("{p}: {}", opts.trim()),
            ));
        }
    }
    if !verdicts.is_empty() {
        return Ok(match verdicts.iter().find(|(ok, _)| !ok) {
            Some((_, line)) => NextBoot::NotUnified(line.clone()),
            None => NextBoot::Unified(verdicts[0].1.clone()),
        });
    }
    Ok(match defaults_ask(host)? {
        Some(line) => NextBoot::DefaultsAsk(line),
        None => NextBoot::Unknown,
    })
}

/// A line of the GRUB defaults (the main file or a drop-in) that adds the
/// flag, if any: what the next `update-grub` will put on the kernel line.
pub(crate) fn defaults_ask(host: &Host) -> Result<Option<String>, FactError> {
    let mut files = vec![GRUB_DEFAULTS.to_string()];
    files.extend(
        host.list_dir(GRUB_DROP_IN_DIR)
            .into_iter()
            .filter(|f| f.ends_with(".cfg"))
            .map(|f| format!("{GRUB_DROP_IN_DIR}/{f}")),
    );
    let mut found = None;
    for f in files {
        let Some(text) = host.read_opt(&f)? else {
            continue;
        };
        // Files are read in the order the generator sources them: the
        // last word wins.
        if let Some((n, l, v)) = defaults_word(&text) {
            found = v.then(|| format!("{f}:{}: {}", n + 1, l.trim()));
        }
    }
    Ok(found)
}

/// The first kernel line of a generated `grub.cfg` (it belongs to the
/// default entry), with its index.
pub(crate) fn grub_kernel_line(text: &str) -> Option<(usize, &str)> {
    text.lines().enumerate().find(|(_, l)| {
        let t = l.trim_start();
        t.starts_with("linux ") || t.starts_with("linux16 ") || t.starts_with("linuxefi ")
    })
}

/// The `options` line of a Boot Loader Specification entry.
pub(crate) fn bls_options(text: &str) -> Option<&str> {
    text.lines().find(|l| l.trim_start().starts_with("options"))
}

/// The last `GRUB_CMDLINE_LINUX*` line of one defaults file that sets the
/// flag, with its index and whether it asks for cgroup v2.
pub(crate) fn defaults_word(text: &str) -> Option<(usize, &str, bool)> {
    let mut last = None;
    for (n, l) in text.lines().enumerate() {
        let t = l.trim_start().trim_start_matches("export ");
        if t.starts_with("GRUB_CMDLINE_LINUX")
            && let Some(v) = cmdline_unified(&t.replace(['"', '\''], " "))
        {
            last = Some((n, l, v));
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::cmdline_unified;

    #[test]
    fn the_last_occurrence_wins() {
        assert_eq!(cmdline_unified("quiet"), None);
        assert_eq!(
            cmdline_unified("linux /vmlinuz root=/dev/vda systemd.unified_cgroup_hierarchy=1"),
            Some(true)
        );
        assert_eq!(
            cmdline_unified(
                "systemd.unified_cgroup_hierarchy=1 systemd.unified_cgroup_hierarchy=0"
            ),
            Some(false)
        );
        assert_eq!(
            cmdline_unified(
                "systemd.unified_cgroup_hierarchy=0 a systemd.unified_cgroup_hierarchy=1"
            ),
            Some(true)
        );
    }
}
