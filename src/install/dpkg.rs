//! What dpkg lists as installed: the packages step records exactly what
//! its `apt-get install` added, so that undo purges those and no others.

use std::collections::BTreeSet;

use super::fsops::TreeFs;

/// Packages dpkg lists as installed, from `/var/lib/dpkg/status`.
pub(crate) fn installed_packages(fs: &TreeFs) -> BTreeSet<String> {
    let text = fs.read("/var/lib/dpkg/status").unwrap_or_default();
    let mut out = BTreeSet::new();
    for para in String::from_utf8_lossy(&text).split("\n\n") {
        let field = |name: &str| {
            para.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
        };
        if let (Some(name), Some(status)) = (field("Package:"), field("Status:"))
            && status == "install ok installed"
        {
            let arch = field("Architecture:").filter(|a| a != "all");
            // Multi-arch libraries are named with their architecture.
            out.insert(match (arch, field("Multi-Arch:").as_deref()) {
                (Some(a), Some("same")) => format!("{name}:{a}"),
                _ => name,
            });
        }
    }
    out
}
