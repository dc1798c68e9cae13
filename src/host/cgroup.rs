//! cgroup facts: the mount layout (unified, hybrid or legacy), controllers
//! bound to v1 hierarchies, and what systemd is configured to delegate.

use super::FactError;

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    pub(crate) mount_point: String,
    pub(crate) fstype: String,
    pub(crate) super_opts: String,
    pub(crate) text: String,
}

pub(crate) fn parse_mountinfo(text: &str, path: &str) -> Result<Vec<Mount>, FactError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (left, right) = line.split_once(" - ").ok_or_else(|| {
            FactError::malformed(path, i + 1, format!("no ' - ' separator in {line:?}"))
        })?;
        let l: Vec<&str> = left.split_whitespace().collect();
        let r: Vec<&str> = right.split_whitespace().collect();
        if l.len() < 6 || r.len() < 2 {
            return Err(FactError::malformed(
                path,
                i + 1,
                format!("too few fields in {line:?}"),
            ));
        }
        out.push(Mount {
            mount_point: unescape_octal(l[4]),
            fstype: r[0].to_string(),
            super_opts: r.get(2).unwrap_or(&"").to_string(),
            text: line.to_string(),
        });
    }
    // Every mount namespace has a root mount: an empty read is a broken
    // file, and judging it would mean "no cgroup filesystem at all".
    if out.is_empty() {
        return Err(FactError::malformed(
            path,
            1,
            "no mounts at all (a mountinfo always lists the root mount)",
        ));
    }
    Ok(out)
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`. Only
/// `\000` to `\377` are bytes: a `\777` (in a tree's file, never from the
/// kernel) stays as written rather than overflowing a byte.
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && (b'0'..=b'3').contains(&b[i + 1])
            && b[i + 2..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The v1 controllers the kernel knows; other super options of a v1 mount
/// (`name=systemd`, `xattr`, `release_agent=`) are not controllers.
const V1_CONTROLLERS: &[&str] = &[
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "freezer",
    "hugetlb",
    "memory",
    "misc",
    "net_cls",
    "net_prio",
    "perf_event",
    "pids",
    "rdma",
];

/// One line of `/proc/cgroups`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ControllerLine {
    pub(crate) name: String,
    pub(crate) hierarchy: u32,
    pub(crate) enabled: bool,
    pub(crate) text: String,
}

pub(crate) fn parse_proc_cgroups(text: &str, path: &str) -> Result<Vec<ControllerLine>, FactError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let bad = || {
            FactError::malformed(
                path,
                i + 1,
                format!("expected 'NAME HIERARCHY NUM ENABLED', got {line:?}"),
            )
        };
        if f.len() != 4 {
            return Err(bad());
        }
        out.push(ControllerLine {
            name: f[0].to_string(),
            hierarchy: f[1].parse().map_err(|_| bad())?,
            enabled: f[3] == "1",
            text: line.to_string(),
        });
    }
    Ok(out)
}

/// Where k3s looks: containerd's `cgroups.Mode()` (which k3s's
/// `pkg/cgroups` uses) decides by the filesystem mounted here alone.
pub(crate) const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The controllers k3s needs in the v2 tree (`validateCgroupsV2` in
/// k3s-io/k3s:pkg/agent/run.go: cpu, cpuset, memory; pids in
/// pkg/daemons/agent/agent_linux.go). One bound to a v1 hierarchy is
/// missing from the v2 tree: a controller lives in one hierarchy at a time.
pub(crate) const K3S_CONTROLLERS: &[&str] = &["cpu", "cpuset", "memory", "pids"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CgroupMode {
    /// cgroup2 at `/sys/fs/cgroup`: unified, as containerd and k3s judge
    /// it, whatever v1 hierarchies (a VPN's `net_cls`, a tool's
    /// `name=...`) are mounted elsewhere.
    Unified,
    /// `/sys/fs/cgroup` is not cgroup2, a cgroup2 mount exists beside v1
    /// hierarchies (usually `/sys/fs/cgroup/unified`).
    Hybrid,
    /// v1 hierarchies only.
    Legacy,
    /// No cgroup filesystem at `/sys/fs/cgroup` and no v1 hierarchy (a
    /// cgroup2 mount elsewhere does not count: k3s does not look there).
    Absent,
}

#[derive(Debug, Clone)]
pub(crate) struct CgroupLayout {
    pub(crate) mode: CgroupMode,
    /// The cgroup2 mount k3s would use: the one at `/sys/fs/cgroup`, else
    /// a hybrid host's (`/sys/fs/cgroup/unified` first).
    pub(crate) v2: Option<Mount>,
    pub(crate) v1_mounts: Vec<Mount>,
    /// Controllers bound to a v1 hierarchy, sorted, from the v1 mounts'
    /// options and `/proc/cgroups` (hierarchy id ≠ 0).
    pub(crate) v1_controllers: Vec<String>,
}

impl CgroupLayout {
    pub(crate) fn from_facts(mounts: &[Mount], controllers: &[ControllerLine]) -> CgroupLayout {
        // The last mount at a path is the one a statfs() sees.
        let root_is_v2 = mounts
            .iter()
            .rev()
            .find(|m| m.mount_point == CGROUP_ROOT)
            .is_some_and(|m| m.fstype == "cgroup2");
        let v2s = || mounts.iter().rev().filter(|m| m.fstype == "cgroup2");
        let v2 = if root_is_v2 {
            v2s().find(|m| m.mount_point == CGROUP_ROOT)
        } else {
            v2s()
                .find(|m| m.mount_point == "/sys/fs/cgroup/unified")
                .or_else(|| v2s().next())
        }
        .cloned();
        let v1_mounts: Vec<Mount> = mounts
            .iter()
            .filter(|m| m.fstype == "cgroup")
            .cloned()
            .collect();
        let mut v1_controllers: Vec<String> = v1_mounts
            .iter()
            .flat_map(|m| m.super_opts.split(','))
            .filter(|o| V1_CONTROLLERS.contains(o))
            .map(str::to_string)
            .collect();
        v1_controllers.extend(
            controllers
                .iter()
                .filter(|c| c.enabled && c.hierarchy != 0)
                .map(|c| c.name.clone()),
        );
        v1_controllers.sort();
        v1_controllers.dedup();
        let mode = match (root_is_v2, v2.is_some(), v1_mounts.is_empty()) {
            (true, _, _) => CgroupMode::Unified,
            (false, true, false) => CgroupMode::Hybrid,
            (false, false, false) => CgroupMode::Legacy,
            (false, _, true) => CgroupMode::Absent,
        };
        CgroupLayout {
            mode,
            v2,
            v1_mounts,
            v1_controllers,
        }
    }

    /// The host path of the cgroup2 root, where `cgroup.controllers` lives.
    pub(crate) fn v2_root(&self) -> Option<&str> {
        self.v2.as_ref().map(|m| m.mount_point.as_str())
    }

    /// Of the controllers k3s needs, those bound to a v1 hierarchy.
    pub(crate) fn needed_on_v1(&self) -> Vec<&'static str> {
        K3S_CONTROLLERS
            .iter()
            .copied()
            .filter(|c| self.v1_controllers.iter().any(|b| b == c))
            .collect()
    }

    /// The v1 mounts that bind any of `controllers`.
    pub(crate) fn v1_mounts_binding<'a>(&'a self, controllers: &[&str]) -> Vec<&'a Mount> {
        self.v1_mounts
            .iter()
            .filter(|m| m.super_opts.split(',').any(|o| controllers.contains(&o)))
            .collect()
    }
}

impl Mount {
    /// A v1 mount as a reader knows it: its path and what it binds
    /// (controllers, or the `name=` of a named hierarchy).
    pub(crate) fn v1_label(&self) -> String {
        let binds: Vec<&str> = self
            .super_opts
            .split(',')
            .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
            .collect();
        if binds.is_empty() {
            format!("{} (no controller)", self.mount_point)
        } else {
            format!("{} ({})", self.mount_point, binds.join(","))
        }
    }
}

/// A `Delegate=` assignment found in a unit file or drop-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DelegateSetting {
    pub(crate) file: String,
    pub(crate) line: usize,
    pub(crate) value: String,
}

/// All `Delegate=` lines of a unit file's `[Service]` section.
pub(crate) fn delegate_settings(text: &str, file: &str) -> Vec<DelegateSetting> {
    let mut section = String::new();
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('[') && line.ends_with(']') {
            section = line.to_string();
        } else if section == "[Service]"
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == "Delegate"
        {
            out.push(DelegateSetting {
                file: file.to_string(),
                line: i + 1,
                value: v.trim().to_string(),
            });
        }
    }
    out
}

/// What a sequence of `Delegate=` assignments delegates, as systemd reads
/// them: `yes` means every controller, `no` or empty resets, a list adds.
pub(crate) fn effective_delegation(settings: &[DelegateSetting]) -> Vec<String> {
    const ALL: &[&str] = &["cpu", "cpuset", "io", "memory", "pids"];
    let mut set: Vec<String> = Vec::new();
    for s in settings {
        match s.value.as_str() {
            "" | "no" | "false" | "0" => set.clear(),
            "yes" | "true" | "1" => set = ALL.iter().map(|c| c.to_string()).collect(),
            list => set.extend(list.split_whitespace().map(str::to_string)),
        }
    }
    set.sort();
    set.dedup();
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:5 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_names_v1_controllers() {
        let m = parse_mountinfo(HYBRID, "/proc/self/mountinfo").unwrap();
        let c = parse_proc_cgroups(
            "#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t4\t46\t1\nnet_cls\t0\t1\t1\n",
            "/proc/cgroups",
        )
        .unwrap();
        let l = CgroupLayout::from_facts(&m, &c);
        assert_eq!(l.mode, CgroupMode::Hybrid);
        assert_eq!(l.v1_controllers, vec!["cpu", "cpuacct", "cpuset", "memory"]);
        assert_eq!(l.v2_root(), Some("/sys/fs/cgroup/unified"));
    }

    #[test]
    fn unified_and_legacy() {
        let v2 = parse_mountinfo(
            "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n",
            "m",
        )
        .unwrap();
        assert_eq!(CgroupLayout::from_facts(&v2, &[]).mode, CgroupMode::Unified);
        let v1: Vec<Mount> = parse_mountinfo(HYBRID, "m")
            .unwrap()
            .into_iter()
            .filter(|m| m.fstype != "cgroup2")
            .collect();
        assert_eq!(CgroupLayout::from_facts(&v1, &[]).mode, CgroupMode::Legacy);
        assert_eq!(CgroupLayout::from_facts(&[], &[]).mode, CgroupMode::Absent);
    }

    /// containerd's rule: /sys/fs/cgroup is cgroup2, so the host is
    /// unified, whatever v1 hierarchy a VPN or container tool mounts.
    #[test]
    fn a_v1_mount_beside_a_v2_root_is_still_unified() {
        let m = parse_mountinfo(
            "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n\
             50 23 0:40 / /run/netcls rw - cgroup cgroup rw,net_cls\n\
             51 23 0:41 / /run/elogind rw - cgroup cgroup rw,name=elogind\n",
            "m",
        )
        .unwrap();
        let c = parse_proc_cgroups("net_cls\t3\t1\t1\ncpu\t0\t90\t1\n", "c").unwrap();
        let l = CgroupLayout::from_facts(&m, &c);
        assert_eq!(l.mode, CgroupMode::Unified);
        assert_eq!(l.v2_root(), Some("/sys/fs/cgroup"));
        assert!(l.needed_on_v1().is_empty());
        assert_eq!(l.v1_controllers, vec!["net_cls"]);
        assert_eq!(l.v1_mounts[0].v1_label(), "/run/netcls (net_cls)");
        assert_eq!(l.v1_mounts[1].v1_label(), "/run/elogind (name=elogind)");
        // A v1 hierarchy that binds cpuset is reported, the mode stays.
        let m = parse_mountinfo(
            "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n\
             50 23 0:40 / /run/cs rw - cgroup cgroup rw,cpuset\n",
            "m",
        )
        .unwrap();
        let l = CgroupLayout::from_facts(&m, &[]);
        assert_eq!(l.mode, CgroupMode::Unified);
        assert_eq!(l.needed_on_v1(), vec!["cpuset"]);
        assert_eq!(l.v1_mounts_binding(&["cpuset"]).len(), 1);
        // A cgroup2 mount elsewhere, nothing at /sys/fs/cgroup: not unified.
        let m = parse_mountinfo("30 23 0:26 / /run/cg2 rw - cgroup2 cgroup2 rw\n", "m").unwrap();
        assert_eq!(CgroupLayout::from_facts(&m, &[]).mode, CgroupMode::Absent);
    }

    /// Found by fuzzing (cgroup_files): `\777` overflowed a byte.
    #[test]
    fn octal_escapes_beyond_a_byte_stay_as_written() {
        assert_eq!(unescape_octal("/a\\040b"), "/a b");
        assert_eq!(unescape_octal("/a\\777b"), "/a\\777b");
        assert_eq!(unescape_octal("\\400\\377"), "\\400\u{FFFD}");
        let m = parse_mountinfo("1 2 0:1 / /x\\777 rw - cgroup2 cgroup2 rw\n", "m").unwrap();
        assert_eq!(m[0].mount_point, "/x\\777");
    }

    #[test]
    fn malformed_mountinfo_names_line() {
        let e = parse_mountinfo(
            "31 23 0:28 / /sys rw - tmpfs tmpfs rw\ngarbage\n",
            "/proc/self/mountinfo",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("/proc/self/mountinfo:2:"), "{e}");
        assert_eq!(unescape_octal("/a\\040b"), "/a b");
    }

    #[test]
    fn delegation_accumulates_and_resets() {
        let base = delegate_settings(
            "[Unit]\nDelegate=cpu\n[Service]\nDelegate=pids memory cpu\n",
            "user@.service",
        );
        assert_eq!(effective_delegation(&base), vec!["cpu", "memory", "pids"]);
        let mut all = base.clone();
        all.extend(delegate_settings(
            "[Service]\nDelegate=cpu cpuset io memory pids\n",
            "delegate.conf",
        ));
        assert_eq!(
            effective_delegation(&all),
            vec!["cpu", "cpuset", "io", "memory", "pids"]
        );
        all.extend(delegate_settings("[Service]\nDelegate=\n", "z.conf"));
        assert!(effective_delegation(&all).is_empty());
    }
}
