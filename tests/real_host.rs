//! krc on the machine the tests run on, judged against independent readings.

mod support;

use std::process::Command;

use support::{ensure_user, is_root, krc};

fn run_json(args: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = krc()
        .arg("preflight")
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    // 5: a check that could not be judged (a probe not run in a tree).
    assert!(matches!(out.status.code(), Some(0 | 1 | 5)), "{out:?}");
    serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap()
}

fn check<'a>(doc: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    doc["phases"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in report"))
}

/// The cgroup verdict agrees with a reading of /proc/self/mountinfo made
/// here, without krc's parser: v1 hierarchies mean failure, and every
/// controller they carry is named.
#[test]
fn cgroup_verdict_matches_an_independent_reading_of_mountinfo() {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let known = [
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
    let mut v1: Vec<String> = Vec::new();
    let mut v2_at_root = false;
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = right.split(' ').next().unwrap_or("");
        let mount_point = left.split(' ').nth(4).unwrap_or("");
        if fstype == "cgroup" {
            let opts = right.split(' ').nth(2).unwrap_or("");
            v1.extend(
                opts.split(',')
                    .filter(|o| known.contains(o))
                    .map(str::to_string),
            );
        } else if fstype == "cgroup2" && mount_point == "/sys/fs/cgroup" {
            v2_at_root = true;
        }
    }
    let doc = run_json(&["--exact", "cgroup.unified"]);
    let c = check(&doc, "cgroup.unified");
    let summary = c["summary"].as_str().unwrap();
    if v1.is_empty() && v2_at_root {
        assert_eq!(c["status"], "pass", "{c}");
    } else {
        assert_eq!(c["status"], "fail", "{c}");
        for ctl in &v1 {
            assert!(
                summary.contains(ctl.as_str()),
                "summary names v1 controller {ctl}: {summary}"
            );
        }
        eprintln!("this host is not pure cgroup v2: {summary}");
    }
}

/// The live user-namespace probe, run for real as an unprivileged user
/// (created when the tests run as root), agrees with util-linux's unshare.
#[test]
fn live_userns_probe_runs_as_an_unprivileged_user() {
    let user = "krc-probe";
    if !is_root() {
        // Not root: the invoking user is the unprivileged user.
        let me = nix::unistd::User::from_uid(nix::unistd::getuid())
            .unwrap()
            .unwrap()
            .name;
        let doc = run_json(&["--exact", "userns.enabled", "--user", &me]);
        let status = check(&doc, "userns.enabled")["status"].clone();
        let independent = Command::new("unshare")
            .args(["--user", "--map-root-user", "true"])
            .status()
            .is_ok_and(|s| s.success());
        assert_eq!(
            status == "pass",
            independent,
            "krc says {status}, unshare says {independent}"
        );
        lab_skip!(
            "not root: the probe ran as the invoking user; the root-switching path needs root"
        );
    }
    ensure_user(user).unwrap();
    let independent = Command::new("runuser")
        .args([
            "-u",
            user,
            "--",
            "unshare",
            "--user",
            "--map-root-user",
            "--uts",
            "hostname",
            "krc-probe",
        ])
        .status()
        .is_ok_and(|s| s.success());

    // As root for the user: the probe forks, drops to the user, unshares.
    let doc = run_json(&["--exact", "userns.enabled", "--user", user]);
    let c = check(&doc, "userns.enabled");
    assert_eq!(
        c["status"] == "pass",
        independent,
        "krc (root, --user) vs unshare: {c}"
    );
    assert!(
        c["evidence"]
            .to_string()
            .contains(&format!("live probe as {user}")),
        "{c}"
    );

    // As the user themself: the probe runs without switching.
    let dir = tempfile::Builder::new()
        .prefix("krc-real-host")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let json = dir.path().join("u.json");
    let out = Command::new("runuser")
        .args(["-u", user, "--"])
        .arg(env!("CARGO_BIN_EXE_krc"))
        .args(["preflight", "--exact", "userns.enabled", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    // 5: a check that could not be judged (a probe not run in a tree).
    assert!(matches!(out.status.code(), Some(0 | 1 | 5)), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(doc["meta"]["user"], user);
    assert_eq!(
        check(&doc, "userns.enabled")["status"] == "pass",
        independent,
        "krc as {user} vs unshare"
    );
}

/// Under --root, live probes are reported skipped, never passed.
#[test]
fn live_probes_are_skipped_under_a_tree() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("etc")).unwrap();
    std::fs::write(
        dir.path().join("etc/passwd"),
        "alice:x:1000:1000::/home/alice:/bin/sh\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("proc/sys/user")).unwrap();
    std::fs::write(
        dir.path().join("proc/sys/user/max_user_namespaces"),
        "63000\n",
    )
    .unwrap();
    let root = dir.path().to_str().unwrap().to_string();
    let doc = run_json(&[
        "--root",
        &root,
        "--user",
        "alice",
        "--exact",
        "userns.enabled",
    ]);
    let c = check(&doc, "userns.enabled");
    assert_eq!(c["status"], "skip", "{c}");
}

/// `ports.free` on the live host asks the kernel (sock_diag) for listening
/// sockets: a socket this test opens on 10443 is found and named, and the
/// verdict agrees with the kernel's own /proc/net/tcp.
#[test]
fn ports_free_sees_a_real_listener() {
    let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", 10443)) else {
        eprintln!("SKIP ports_free_sees_a_real_listener: 10443 is in use on this host");
        return;
    };
    let doc = run_json(&["ports.free", "--exact"]);
    let c = check(&doc, "ports.free");
    assert_eq!(c["status"], "fail", "{c}");
    let evidence = c["evidence"].to_string();
    assert!(
        evidence.contains("127.0.0.1:10443 LISTEN"),
        "the listener is named: {evidence}"
    );
    // Independently: the kernel's procfs lists it as listening (0A).
    let procfs = std::fs::read_to_string("/proc/net/tcp").unwrap();
    assert!(
        procfs
            .lines()
            .any(|l| l.contains("0100007F:28CB") && l.split_whitespace().nth(3) == Some("0A")),
        "{procfs}"
    );
    drop(listener);
    // Other work may listen on the other k3s ports of a shared machine:
    // this test asserts only about its own listener, which is now gone.
    let doc = run_json(&["ports.free", "--exact"]);
    let c = check(&doc, "ports.free");
    assert!(
        c["status"] == "pass" || c["status"] == "fail",
        "judged, not skipped: {c}"
    );
    assert!(
        !c["evidence"].to_string().contains("127.0.0.1:10443 LISTEN"),
        "a closed listener is not reported: {c}"
    );
}
