//! No input file, however malformed, may panic krc.
//!
//! Each case copies a fixture host (`ready-v2` unless a file is only read on
//! another one) to a temporary directory, replaces one file krc reads with a
//! garbage variant (empty, binary bytes, a line cut short, huge numbers,
//! lines missing their fields, a directory in its place) and runs the real
//! `krc preflight --root`. Always: no panic, exit status 0, 1 or 5 (2 with one
//! line naming the file, for the files krc needs before any check runs),
//! and every check that reports `error` names the file — with its line when
//! it is a parse error. For the variants a case lists as unparseable, the
//! checks reading that file must say `error`, not judge garbage.
//!
//! A malformed `krc-fixture.toml` itself stops krc with exit 2 and one line
//! naming the file and the line.

mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use support::{krc, repo};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Empty,
    /// An ELF header cut short, with an invalid UTF-8 sequence.
    Binary,
    /// The file ends a third of the way into its last line.
    Truncated,
    /// Every run of digits becomes u64::MAX.
    HugeU64,
    /// Every run of digits becomes u32::MAX.
    HugeU32,
    /// Every line keeps only its first field.
    FirstFieldOnly,
    /// A directory where the file should be.
    Directory,
}
use Variant::*;

const ALL: &[Variant] = &[
    Empty,
    Binary,
    Truncated,
    HugeU64,
    HugeU32,
    FirstFieldOnly,
    Directory,
];

struct Case {
    /// The fixture host the broken copy starts from.
    base: &'static str,
    /// The host path replaced.
    file: &'static str,
    /// The checks that read it.
    checks: &'static [&'static str],
    /// Variants these checks cannot parse: they must report `error`.
    unparseable: &'static [Variant],
    /// krc reads this file before any check runs (exit 2 allowed).
    opened_first: bool,
}

const CGROUP: &[&str] = &["cgroup.unified", "cgroup.controllers", "cgroup.delegation"];

const fn case(
    file: &'static str,
    checks: &'static [&'static str],
    unparseable: &'static [Variant],
) -> Case {
    Case {
        base: "ready-v2",
        file,
        checks,
        unparseable,
        opened_first: false,
    }
}

const CASES: &[Case] = &[
    case(
        "/proc/self/mountinfo",
        CGROUP,
        &[Empty, Binary, Truncated, FirstFieldOnly, Directory],
    ),
    case(
        "/proc/cgroups",
        CGROUP,
        &[Binary, Truncated, HugeU64, FirstFieldOnly, Directory],
    ),
    case(
        "/sys/fs/cgroup/cgroup.controllers",
        &["cgroup.controllers"],
        &[Directory],
    ),
    case(
        "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/cgroup.controllers",
        &["cgroup.delegation"],
        &[Directory],
    ),
    case(
        "/usr/lib/systemd/system/user@.service",
        &["cgroup.delegation"],
        &[],
    ),
    case(
        "/etc/systemd/system/user@.service.d/delegate.conf",
        &["cgroup.delegation"],
        &[],
    ),
    case(
        "/proc/sys/user/max_user_namespaces",
        &["userns.enabled"],
        &[Empty, Binary, Directory],
    ),
    case(
        "/proc/sys/kernel/unprivileged_userns_clone",
        &["userns.enabled"],
        &[Empty, Binary, Directory],
    ),
    case(
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
        &["userns.apparmor"],
        &[Empty, Binary, Directory],
    ),
    Case {
        opened_first: true,
        ..case("/etc/passwd", &["user.unprivileged"], &[])
    },
    Case {
        opened_first: true,
        ..case("/etc/group", &["user.unprivileged"], &[])
    },
    case(
        "/etc/subuid",
        &["uidmap.subids"],
        &[
            Binary,
            Truncated,
            HugeU64,
            HugeU32,
            FirstFieldOnly,
            Directory,
        ],
    ),
    case(
        "/etc/subgid",
        &["uidmap.subids"],
        &[
            Binary,
            Truncated,
            HugeU64,
            HugeU32,
            FirstFieldOnly,
            Directory,
        ],
    ),
    case(
        "/proc/sys/net/ipv4/ip_forward",
        &["sysctl.ip-forward"],
        &[Empty, Binary, Directory],
    ),
    case(
        "/proc/sys/net/ipv6/conf/all/forwarding",
        &["sysctl.ip-forward"],
        &[Empty, Binary, Directory],
    ),
    case(
        "/etc/sysctl.d/90-krc-rootless.conf",
        &["sysctl.ip-forward"],
        &[],
    ),
    case("/etc/sysctl.conf", &["sysctl.ip-forward"], &[]),
    case(
        "/proc/net/tcp",
        &["ports.free"],
        &[Binary, Truncated, FirstFieldOnly, Directory],
    ),
    case(
        "/proc/net/tcp6",
        &["ports.free"],
        &[Binary, Truncated, FirstFieldOnly, Directory],
    ),
    // A cut in the padding after the last field leaves a whole route.
    case(
        "/proc/net/route",
        &["net.cidr"],
        &[Binary, HugeU64, FirstFieldOnly, Directory],
    ),
    case("/proc/net/fib_trie", &["net.cidr"], &[Directory]),
    case(
        "/proc/sys/kernel/osrelease",
        &["kernel.version"],
        &[Empty, Binary, HugeU64, Directory],
    ),
    case(
        "/proc/sys/kernel/osrelease",
        &["kernel.modules"],
        &[Empty, Binary, Directory],
    ),
    case(
        "/proc/modules",
        &["kernel.modules"],
        &[Binary, FirstFieldOnly, Directory],
    ),
    case(
        "/boot/config-6.1.0-28-amd64",
        &["kernel.modules"],
        &[Empty, Binary, Directory],
    ),
    case(
        "/lib/modules/6.1.0-28-amd64/modules.builtin",
        &["kernel.modules"],
        &[Binary, Directory],
    ),
    case(
        "/lib/modules/6.1.0-28-amd64/modules.dep",
        &["kernel.modules"],
        &[Binary, Directory],
    ),
    // Read only where the user-namespace restriction is on.
    Case {
        base: "ubuntu2404-apparmor-profile",
        ..case("/etc/apparmor.d/krc-k3s", &["userns.apparmor"], &[])
    },
    Case {
        base: "ubuntu2404-apparmor-profile",
        ..case(
            "/sys/kernel/security/apparmor/profiles",
            &["userns.apparmor"],
            &[Directory],
        )
    },
    // Only the hybrid CI machine's kernel has /proc/config.gz.
    Case {
        base: "hybrid",
        ..case(
            "/proc/config.gz",
            &["kernel.modules"],
            &[Empty, Binary, Truncated, Directory],
        )
    },
    case(
        "/proc/meminfo",
        &["host.resources"],
        &[Empty, Binary, FirstFieldOnly, Directory],
    ),
    case(
        "/sys/devices/system/cpu/online",
        &["host.resources"],
        &[Empty, Binary, HugeU64, Directory],
    ),
    case("/var/lib/systemd/linger/alice", &["session.linger"], &[]),
    case("/usr/bin/newuidmap", &["uidmap.binaries"], &[]),
    case("/proc/598/cmdline", &["k3s.single-instance"], &[]),
    case("/proc/sys/kernel/hostname", &[], &[]),
    case(
        "/proc/1/comm",
        &[
            "session.systemd",
            "session.runtime-dir",
            "session.linger",
            "cgroup.delegation",
        ],
        &[Binary, Directory],
    ),
    // Read only where the host has them.
    Case {
        base: "k3s-config-leftovers",
        ..case(
            "/etc/rancher/k3s/config.yaml",
            &["k3s.config"],
            &[Binary, Directory],
        )
    },
    Case {
        base: "proxied-host-installed",
        ..case("/etc/environment", &["net.proxy"], &[Binary, Directory])
    },
    Case {
        base: "freeipa-subids-sssd",
        ..case(
            "/etc/nsswitch.conf",
            &["uidmap.subids"],
            &[Binary, Directory],
        )
    },
    // Read only where the host is not on cgroup v2.
    Case {
        base: "reboot-pending",
        ..case("/proc/cmdline", &["cgroup.unified"], &[Directory])
    },
    Case {
        base: "reboot-pending",
        ..case("/etc/default/grub", &["cgroup.unified"], &[Directory])
    },
    // Read only for a k3s process.
    Case {
        base: "rootful-k3s-running",
        ..case("/proc/2211/status", &["k3s.single-instance"], &[])
    },
    Case {
        base: "rootful-k3s-running",
        ..case("/proc/2211/cmdline", &["k3s.single-instance"], &[])
    },
];

fn garbage(original: &[u8], v: Variant) -> Vec<u8> {
    let text = String::from_utf8_lossy(original);
    match v {
        Empty | Directory => Vec::new(),
        Binary => b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x03\x00>\x00\xc0\x8f\xff\xfe\n\x00\x00\xe2\x82\n\x01\x02\x03".to_vec(),
        Truncated => {
            // Bytes, not chars: a read cut short may end inside a character.
            let mut end = original.len();
            while end > 0 && original[end - 1] == b'\n' {
                end -= 1;
            }
            let start = original[..end]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            original[..start + (end - start) / 3].to_vec()
        }
        HugeU64 | HugeU32 => {
            let huge = if v == HugeU64 { "18446744073709551615" } else { "4294967295" };
            let mut out = String::new();
            let mut in_digits = false;
            for c in text.chars() {
                if c.is_ascii_digit() {
                    if !in_digits {
                        out.push_str(huge);
                    }
                    in_digits = true;
                } else {
                    in_digits = false;
                    out.push(c);
                }
            }
            out.into_bytes()
        }
        FirstFieldOnly => text
            .lines()
            .map(|l| {
                let sep = if l.contains(char::is_whitespace) { ' ' } else { ':' };
                let first = l.trim_start().split(|c: char| c == sep || c.is_whitespace()).next();
                format!("{}\n", first.unwrap_or(""))
            })
            .collect::<String>()
            .into_bytes(),
    }
}

/// Copies a tree, keeping (relative) symlinks as links.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type().unwrap();
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if ft.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

fn broken_host(base: &str, file: &str, v: Variant, dir: &Path) -> PathBuf {
    let root = dir.join("host");
    copy_tree(&repo().join("fixtures/hosts").join(base), &root);
    let target = root.join(file.trim_start_matches('/'));
    let original = std::fs::read(&target).unwrap_or_default();
    if std::fs::symlink_metadata(&target).is_ok() {
        std::fs::remove_file(&target).unwrap();
    }
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    if v == Directory {
        std::fs::create_dir(&target).unwrap();
    } else {
        std::fs::write(&target, garbage(&original, v)).unwrap();
    }
    root
}

/// `PATH:N:` with N ≥ 1 somewhere in `text`.
fn names_line(text: &str, path: &str) -> bool {
    text.match_indices(&format!("{path}:")).any(|(i, m)| {
        let rest = &text[i + m.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        rest[digits.len()..].starts_with(':') && digits.parse::<u64>().is_ok_and(|n| n >= 1)
    })
}

/// A scratch directory, on tmpfs when there is one: krc fsyncs its report,
/// and on a disk that also flushes the tree just copied, hundreds of times.
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    match tempfile::tempdir_in(shm) {
        Ok(d) if shm.is_dir() => d,
        _ => tempfile::tempdir().unwrap(),
    }
}

fn run_case(c: &Case, v: Variant) -> Vec<String> {
    let tmp = scratch();
    let root = broken_host(c.base, c.file, v, tmp.path());
    let json = tmp.path().join("report.json");
    let out = krc()
        .args(["preflight", "--root"])
        .arg(&root)
        .arg("--json")
        .arg(&json)
        .env_remove("SUDO_USER")
        .output()
        .expect("failed to run krc");
    let tag = format!("{} {} ({v:?})", c.base, c.file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut problems = Vec::new();
    if stderr.contains("panicked") || out.status.code() == Some(101) || out.status.code().is_none()
    {
        return vec![format!(
            "{tag}: krc panicked or died ({:?}): {}",
            out.status,
            stderr.trim()
        )];
    }
    match out.status.code() {
        // 5: a required check could not be judged (a truncated file it
        // needs): inconclusive is a verdict, not a crash.
        Some(0 | 1 | 5) => {}
        Some(2) if c.opened_first => {
            if stderr.trim().lines().count() != 1 || !stderr.contains(c.file) {
                problems.push(format!(
                    "{tag}: exit 2 must come with one line naming {}: {stderr:?}",
                    c.file
                ));
            }
            return problems;
        }
        other => return vec![format!("{tag}: exit status {other:?}: {}", stderr.trim())],
    }
    let report: serde_json::Value =
        match std::fs::read_to_string(&json).map(|t| serde_json::from_str(&t)) {
            Ok(Ok(v)) => v,
            _ => return vec![format!("{tag}: no JSON report")],
        };
    let checks = report["phases"][0]["checks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for chk in &checks {
        let id = chk["id"].as_str().unwrap_or("?");
        let status = chk["status"].as_str().unwrap_or("?");
        let summary = chk["summary"].as_str().unwrap_or("");
        let must_error = c.checks.contains(&id) && c.unparseable.contains(&v);
        if must_error && status != "error" {
            problems.push(format!(
                "{tag}: {id} judged unparseable input: {status}: {summary}"
            ));
        }
        if status != "error" {
            continue;
        }
        // The base hosts have no errors: any error comes from this file.
        if !summary.contains(c.file) {
            problems.push(format!(
                "{tag}: {id} errors without naming {}: {summary}",
                c.file
            ));
        } else if v == Directory {
            if !summary.contains("failed to read") {
                problems.push(format!(
                    "{tag}: {id}: a directory is not a parse error: {summary}"
                ));
            }
        } else if !names_line(summary, c.file) {
            problems.push(format!(
                "{tag}: {id}: parse error without a line number: {summary}"
            ));
        }
    }
    problems
}

#[test]
fn no_malformed_input_file_panics_and_errors_name_file_and_line() {
    let mut problems = Vec::new();
    let mut runs = 0;
    for c in CASES {
        for v in ALL {
            runs += 1;
            problems.extend(run_case(c, *v));
        }
    }
    if !problems.is_empty() {
        let mut msg = format!(
            "{} problem(s) in {runs} runs on broken hosts:\n",
            problems.len()
        );
        for p in &problems {
            let _ = writeln!(msg, "  {p}");
        }
        panic!("{msg}");
    }
    eprintln!("{runs} broken hosts: no panic, every error names its file");
}

#[test]
fn malformed_fixture_metadata_is_exit_2_naming_file_and_line() {
    let cases: &[(&str, &[u8], Option<&str>)] = &[
        (
            "binary",
            b"user = \"alice\"\n\xc0\x8f\xff\n",
            Some("line 2"),
        ),
        (
            "cut short",
            b"user = \"alice\"\n[files.\"/dev/net",
            Some("line 2"),
        ),
        (
            "unknown key",
            b"user = \"alice\"\n\n[probes]\nuserns = \"ok\"\nkernel = 6\n",
            Some("line 5"),
        ),
        (
            "wrong type",
            b"[files.\"/dev/fuse\"]\nkind = \"char\"\nuid = \"root\"\n",
            Some("line 3"),
        ),
        (
            "bad mode",
            b"[files.\"/usr/bin/newuidmap\"]\nmode = \"rwsr-xr-x\"\n",
            Some("line 2"),
        ),
        (
            "bad kind",
            b"[files.\"/dev/fuse\"]\nkind = \"block\"\n",
            Some("line 2"),
        ),
        (
            "huge number",
            b"[files.\"/dev/fuse\"]\nkind = \"char\"\nmajor = 18446744073709551616\n",
            Some("line 3"),
        ),
        ("a directory", b"", None),
    ];
    let mut problems = Vec::new();
    for (what, text, line) in cases {
        let tmp = scratch();
        let root = tmp.path().join("host");
        copy_tree(&repo().join("fixtures/hosts/ready-v2"), &root);
        let meta = root.join("krc-fixture.toml");
        if line.is_none() {
            std::fs::remove_file(&meta).unwrap();
            std::fs::create_dir(&meta).unwrap();
        } else {
            std::fs::write(&meta, text).unwrap();
        }
        let out = krc()
            .args(["preflight", "--root"])
            .arg(&root)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let ok = out.status.code() == Some(2)
            && err.trim().lines().count() == 1
            && err.contains("krc-fixture.toml")
            && line.is_none_or(|l| err.contains(l))
            && !err.contains("panicked");
        if !ok {
            problems.push(format!(
                "{what}: want exit 2 and one line naming krc-fixture.toml{}; got {:?}: {err:?}",
                line.map(|l| format!(" and {l}")).unwrap_or_default(),
                out.status.code()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
