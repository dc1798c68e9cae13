//! Entry points for the fuzz targets in `fuzz/` (issue 16): one function per
//! parser of input krc does not control (a host's files, a user's replies,
//! API bodies), each calling the parser krc itself calls, as it calls it.
//!
//! Each takes arbitrary bytes and drops the parser's verdict: the property
//! fuzzed is that no input makes krc panic, hang or allocate without bound.
//! Compiled in every build (not behind a feature) so that `cargo build`
//! keeps these calls in step with the parsers' signatures.
//! `docs/fuzzing.md` says how to run them.

use std::borrow::Cow;

use crate::checks::unit::{
    UnitLine, delegate_covers, environment, exec_binary, exec_flag_values, parse_unit,
};
use crate::host::{boot, cgroup, k3sconfig, kernel, net, procs, subids, sysctl, users};

/// Bytes as the host readers see them: `RootedFs::read` decodes a file
/// as UTF-8 with invalid sequences replaced.
fn text(data: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// Bytes as the strict readers see them (`fs::read_to_string`, the
/// kubeconfig reader): anything but UTF-8 is refused before parsing.
fn utf8(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// A kubeconfig (`~/.kube/config` of the target user, k3s's `k3s.yaml`).
pub fn kubeconfig(data: &[u8]) {
    if let Some(t) = utf8(data) {
        let _ = crate::kube::kubeconfig::parse(t);
    }
}

/// The user's k3s unit or one of its drop-ins, through what the checks
/// take from it: sections and keys, `Environment=`, ExecStart flags,
/// `Delegate=`; and the system drop-ins' `Delegate=` lines.
pub fn unit_file(data: &[u8]) {
    let t = text(data);
    let mut lines: Vec<UnitLine> = Vec::new();
    parse_unit(&t, "/fuzz/k3s-rootless.service", &mut lines);
    let _ = environment(&lines);
    for flag in ["disable", "snapshotter", "data-dir"] {
        let _ = exec_flag_values(&lines, flag);
    }
    for l in &lines {
        let _ = l.at();
        match l.key.as_str() {
            "Delegate" => {
                let _ = delegate_covers(&l.value);
            }
            "ExecStart" => {
                let _ = exec_binary(&l.value);
            }
            _ => {}
        }
    }
    let settings = cgroup::delegate_settings(&t, "/fuzz/user@.service.d/delegate.conf");
    let _ = cgroup::effective_delegation(&settings);
}

/// `/etc/subuid` or `/etc/subgid`, and the overlap test the checks run
/// between its ranges.
pub fn subid_file(data: &[u8]) {
    if let Ok(ranges) = users::parse_subids(&text(data), "/etc/subuid") {
        // The checks compare each range with the user's: a bounded pass.
        for r in ranges.iter().take(64) {
            for s in ranges.iter().take(64) {
                let _ = r.overlaps(s);
            }
            let _ = r.end();
        }
    }
}

/// The output of `getsubids [-g] USER` (an NSS source such as sssd).
pub fn getsubids(data: &[u8]) {
    let _ = subids::parse(&text(data));
}

/// `/etc/passwd` and `/etc/group` (the same bytes through both).
pub fn passwd_group(data: &[u8]) {
    let t = text(data);
    let _ = users::parse_passwd(&t);
    let _ = users::parse_group(&t);
}

/// A `sysctl.d` file: the keys krc reads back and the ones it persists.
pub fn sysctl_d(data: &[u8]) {
    let t = text(data);
    for key in crate::install::journal::SYSCTL_KEYS {
        let _ = sysctl::last_assignment(&t, key);
    }
    let _ = sysctl::last_assignment(&t, "kernel.unprivileged_userns_clone");
}

/// The boot configuration: `/etc/default/grub` (and its `.d` drop-ins), a
/// generated `grub.cfg`, a Boot Loader Specification entry, `/proc/cmdline`.
pub fn grub(data: &[u8]) {
    let t = text(data);
    let _ = boot::defaults_word(&t);
    if let Some((_, line)) = boot::grub_kernel_line(&t) {
        let _ = boot::cmdline_unified(line);
    }
    if let Some(opts) = boot::bls_options(&t) {
        let _ = boot::cmdline_unified(opts);
    }
    let _ = boot::cmdline_unified(&t);
}

/// k3s's `config.yaml` or a `config.yaml.d/*.yaml`, read as `read` does.
pub fn k3s_config(data: &[u8]) {
    let t = text(data);
    let file = k3sconfig::CONFIG;
    if crate::host::plain_text(&t, file).is_ok() {
        for e in k3sconfig::parse(&t, file) {
            let _ = e.name();
            let _ = k3sconfig::split_list(&e.values);
        }
    }
}

/// A suite file (`--suite FILE`, TOML).
pub fn suite_toml(data: &[u8]) {
    if let Some(t) = utf8(data) {
        let _ = crate::suite::config::Suite::parse(t, "/fuzz/suite.toml");
    }
}

/// A pins file (`--pins FILE`, TOML).
pub fn pins(data: &[u8]) {
    if let Some(t) = utf8(data) {
        let from = "/fuzz/pins.toml".to_string();
        let _ = crate::install::trust::Pins::parse_text(t, from, "v1.33.1+k3s1", "v1.33.1+k3s1");
    }
}

/// The install journal (`/var/lib/krc/UID/journal.json`), for uid 1000.
pub fn journal(data: &[u8]) {
    let _ = crate::install::journal::decode(data, 1000, "/var/lib/krc/1000/journal.json");
}

/// `/proc/self/mountinfo` and `/proc/cgroups` (the same bytes through
/// both), and the layout judged from them.
pub fn cgroup_files(data: &[u8]) {
    let t = text(data);
    let mounts = cgroup::parse_mountinfo(&t, "/proc/self/mountinfo").unwrap_or_default();
    let controllers = cgroup::parse_proc_cgroups(&t, "/proc/cgroups").unwrap_or_default();
    let layout = cgroup::CgroupLayout::from_facts(&mounts, &controllers);
    let _ = layout.v2_root();
}

/// `/proc/PID/cmdline` and `/proc/PID/status` of a process (any user's).
pub fn proc_pid(data: &[u8]) {
    let t = text(data);
    let _ = procs::k3s_cmdline(&t);
    let _ = procs::status_uid(&t);
}

/// The kernel's configuration: `/boot/config-RELEASE` as text and
/// `/proc/config.gz` as bytes, for the symbols the checks ask about.
pub fn kernel_config(data: &[u8]) {
    let wanted = crate::checks::kernel::config_symbols();
    let _ = kernel::parse_kconfig(&text(data), "/boot/config-fuzz", &wanted);
    if let Ok(t) = kernel::gunzip(data, kernel::PROC_CONFIG) {
        let _ = kernel::parse_kconfig(&t, kernel::PROC_CONFIG, &wanted);
    }
}

/// `/proc/modules`, `modules.builtin` and `modules.dep` (the same bytes
/// through each).
pub fn kernel_modules(data: &[u8]) {
    let t = text(data);
    let _ = kernel::parse_proc_modules(&t, kernel::PROC_MODULES);
    let _ = kernel::parse_module_list(&t, "/lib/modules/fuzz/modules.dep");
}

/// `/proc/net/tcp{,6}`, `/proc/net/route`, `/proc/net/fib_trie` (the same
/// bytes through each), and the CIDR arithmetic done on routes.
pub fn net_tables(data: &[u8]) {
    let t = text(data);
    let _ = net::parse_tcp_listeners(&t, "/proc/net/tcp");
    if let Ok(routes) = net::parse_routes(&t, "/proc/net/route") {
        for r in routes.iter().take(64) {
            let _ = (r.dest.network(), r.dest.has_host_bits());
            let _ = r.dest.contains(std::net::Ipv4Addr::new(10, 41, 0, 1));
        }
    }
    let _ = net::parse_local_addrs(&t);
    for line in t.lines().take(64) {
        let _ = line.trim().parse::<net::Cidr>();
    }
}

/// One datagram of `sock_diag` netlink messages (seq 1, as the reader asks).
pub fn sock_diag(data: &[u8]) {
    let mut out = Vec::new();
    let _ = net::sockdiag::parse(data, 1, &mut out);
}

/// Kubernetes API bodies krc reads: the node, pod and service lists (the
/// same bytes as each) and `/version`, as `kube` decodes them, through the
/// facts krc takes from them.
pub fn api_bodies(data: &[u8]) {
    use crate::kube::client::{node_fact, pod_fact, service_fact};
    use k8s_openapi::api::core::v1::{Node, Pod, Service};
    use kube::core::ObjectList;
    if let Ok(l) = serde_json::from_slice::<ObjectList<Node>>(data) {
        let _: Vec<_> = l.items.iter().map(node_fact).collect();
    }
    if let Ok(l) = serde_json::from_slice::<ObjectList<Pod>>(data) {
        let _: Vec<_> = l.items.iter().map(pod_fact).collect();
    }
    if let Ok(l) = serde_json::from_slice::<ObjectList<Service>>(data) {
        let _: Vec<_> = l.items.iter().map(service_fact).collect();
    }
    let _ = serde_json::from_slice::<k8s_openapi::apimachinery::pkg::version::Info>(data);
    // The namespace read back through a host port: its metadata.uid.
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = v["metadata"]["uid"].as_str();
    }
}

/// A reply of the user's service manager on the user bus (D-Bus wire
/// format): the user owns that process.
pub fn user_bus(data: &[u8]) {
    let _ = crate::host::probes::userbus::parse_reply(data);
}

/// The user-namespace probe helper's stdout (it runs as the user), judged
/// against a fixed nonce (a real run's is random; the seeds carry this one).
pub fn probe_report(data: &[u8]) {
    const NONCE: &str = "00112233445566778899aabbccddeeff";
    let _ = crate::host::probes::userns_probe::parse_report(&text(data), NONCE);
}

/// The redaction every piece of evidence passes through (a user's file's
/// lines): as one text and as lines of one report.
pub fn redact(data: &[u8]) {
    let t = text(data);
    let _ = crate::report::redact::redact(&t);
    let lines: Vec<String> = t.lines().map(str::to_string).collect();
    let _ = crate::report::redact::redact_all(&lines);
}

/// A tree's `krc-fixture.toml` (`--root DIR`).
pub fn fixture_toml(data: &[u8]) {
    let _ = crate::host::FixtureMeta::parse(data.to_vec(), "/fuzz/krc-fixture.toml");
}

/// A fuzz target: arbitrary bytes in, nothing out.
pub type Target = fn(&[u8]);

/// Every target by name (the name of its `fuzz/fuzz_targets/NAME.rs`).
pub const TARGETS: &[(&str, Target)] = &[
    ("api_bodies", api_bodies),
    ("cgroup_files", cgroup_files),
    ("fixture_toml", fixture_toml),
    ("getsubids", getsubids),
    ("grub", grub),
    ("journal", journal),
    ("k3s_config", k3s_config),
    ("kernel_config", kernel_config),
    ("kernel_modules", kernel_modules),
    ("kubeconfig", kubeconfig),
    ("net_tables", net_tables),
    ("passwd_group", passwd_group),
    ("pins", pins),
    ("probe_report", probe_report),
    ("proc_pid", proc_pid),
    ("redact", redact),
    ("sock_diag", sock_diag),
    ("subid_file", subid_file),
    ("suite_toml", suite_toml),
    ("sysctl_d", sysctl_d),
    ("unit_file", unit_file),
    ("user_bus", user_bus),
];

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every committed seed through its target, and every target with its
    /// `fuzz/fuzz_targets/NAME.rs` and seeds: the seeds (crash inputs
    /// fuzzing found among them) are regression tests on stable too.
    #[test]
    fn every_seed_passes_its_target() {
        let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).unwrap();
        let mut seeds = 0;
        for (name, target) in super::TARGETS {
            let file = fuzz.join(format!("fuzz_targets/{name}.rs"));
            let call = std::fs::read_to_string(&file).unwrap_or_default();
            assert!(
                call.contains(&format!("krc::fuzz::{name}(")),
                "{} does not call krc::fuzz::{name}: add it (see docs/fuzzing.md)",
                file.display()
            );
            assert!(
                manifest.contains(&format!("name = \"{name}\"")),
                "fuzz/Cargo.toml has no [[bin]] {name}"
            );
            let dir = fuzz.join("seeds").join(name);
            let entries = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}: commit seeds for {name}", dir.display()));
            for e in entries {
                let path = e.unwrap().path();
                target(&std::fs::read(&path).unwrap());
                seeds += 1;
            }
        }
        assert!(seeds >= super::TARGETS.len());
    }
}
