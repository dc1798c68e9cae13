//! The Ansible role (`ansible/roles/krc/`) for real: ansible-core drives a
//! fleet of Debian 12 systemd containers built from the project's own image
//! (ci/lab/ansible-fleet.sh: the docker connection of community.docker, see
//! ansible/requirements.yml), installs krc on each from a dist directory
//! checked against its SHA256SUMS, runs `krc install` as root for the user
//! bob, fetches the reports and merges them once on the controller. The
//! second host has bob logged in (a real logind session) when the play
//! starts: its install ends with exit 6 (the delegation takes effect at
//! bob's next login), and the role, with krc_relogin, ends bob's sessions
//! and runs krc again to the end. One host is deliberately not qualified (IPv4 forwarding off in its network
//! namespace, which nothing inside the container may change): its install
//! fails and undoes itself, the play marks it failed with the reason, and the
//! fleet report says so per host.
//!
//! A second test runs the role against a directory on this machine (the
//! local connection, every path in a temporary directory) to prove the
//! checksum gate: a tampered artifact is refused and never installed.
//!
//! Both skip with the reason without ansible-playbook (ci/provision/60-ansible.sh)
//! or Docker, and are required under KRC_REQUIRE_LAB=1.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn docker_ok() -> bool {
    Command::new("docker")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// Removes the fleet's containers however the test ends.
struct Fleet(Vec<String>);

impl Drop for Fleet {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f"])
                .args(&self.0)
                .output();
        }
    }
}

fn sh(container: &str, script: &str) -> (i32, String) {
    let o = Command::new("docker")
        .args(["exec", container, "sh", "-c", script])
        .output()
        .expect("docker exec");
    support::status_and_output(&o)
}

#[test]
fn role_installs_a_fleet_of_three_and_the_merged_report_names_the_unqualified_host() {
    if !support::have("ansible-playbook") {
        lab_skip!("ansible-playbook is not on PATH (ci/provision/60-ansible.sh installs it)");
    }
    if !docker_ok() {
        lab_skip!(
            "no Docker engine answers `docker version` (ci/provision/20-docker.sh starts one)"
        );
    }
    if !support::is_root() {
        lab_skip!("the fleet's image is built as root (debootstrap)");
    }
    eprintln!(
        "NOTE: the k3s in the offline bundle is krc's stand-in (tests/data/standin/k3s): no k3s can be downloaded here; the API wait is skipped for that reason"
    );
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("fleet");
    let o = Command::new("bash")
        .arg(support::repo().join("ci/lab/ansible-fleet.sh"))
        .arg("--out")
        .arg(&out)
        .arg("--krc")
        .arg(env!("CARGO_BIN_EXE_krc"))
        .args(["--hosts", "3", "--unfixable", "3", "--session", "2"])
        .args(["--command", "install"])
        .arg("--keep")
        .output()
        .unwrap();
    let containers = std::fs::read_to_string(out.join("containers.txt")).unwrap_or_default();
    let fleet = Fleet(containers.lines().map(str::to_string).collect());
    assert!(
        o.status.success(),
        "ci/lab/ansible-fleet.sh failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let hosts = fleet.0.clone();
    assert_eq!(hosts.len(), 3, "{containers}");
    let log = read(&out.join("ansible.log"));
    let rc = read(&out.join("ansible.rc"));
    // 2: a host failed (the unqualified one, marked failed by the role).
    assert_eq!(rc.trim(), "2", "ansible-playbook exit status:\n{log}");
    let recap = log
        .split("PLAY RECAP")
        .nth(1)
        .unwrap_or_else(|| panic!("{log}"));
    for (i, h) in hosts.iter().enumerate() {
        let line = recap
            .lines()
            .find(|l| l.starts_with(h.as_str()))
            .unwrap_or_else(|| panic!("{h} not in the recap:\n{log}"));
        let failed = if i == 2 { "failed=1" } else { "failed=0" };
        assert!(
            line.contains(failed) && line.contains("unreachable=0"),
            "{line}\n{log}"
        );
    }
    // The role says why the host failed, with krc's own words.
    assert!(
        log.contains(&format!("krc install on {} exited 1", hosts[2])) && log.contains("sysctl"),
        "{log}"
    );

    // Only the host where bob was logged in had its sessions ended, and
    // krc ran there again: exit 6 is the only way into that task.
    let relogin = task_section(&log, "End every login session of the target user");
    assert!(
        relogin.contains(&format!("changed: [{}]", hosts[1]))
            && !relogin.contains(&format!("changed: [{}]", hosts[0]))
            && !relogin.contains(&format!("changed: [{}]", hosts[2])),
        "{relogin}\n{log}"
    );
    // krc ran once on each host, twice where the re-login asked for a
    // second run: never again on a host that was done.
    for (i, h) in hosts.iter().enumerate() {
        let ran = runs_of_krc(&log, h);
        assert_eq!(
            ran,
            if i == 1 { 2 } else { 1 },
            "krc ran {ran} times on {h}:\n{log}"
        );
    }
    let (_, session) = sh(
        &hosts[1],
        "systemctl is-active krc-fleet-login.service; true",
    );
    assert_eq!(session.trim(), "inactive", "bob's login session still runs");

    // Per host: the reports were fetched, and say what happened.
    for (i, h) in hosts.iter().enumerate() {
        let dir = out.join("reports").join(h);
        let json: Value = serde_json::from_str(&read(&dir.join("install.json"))).unwrap();
        assert_eq!(json["meta"]["hostname"], h.as_str(), "{json}");
        assert_eq!(json["passed"], i != 2, "{h}: {json}");
        let xml = read(&dir.join("install.xml"));
        assert!(xml.contains("<testsuite"), "{xml}");
        if let Err(e) = support::validate_junit(&dir.join("install.xml")) {
            panic!("{h}: install.xml: {e}");
        }
    }
    let bad = &json_of(&out, &hosts[2]);
    let sysctl = bad["phases"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "sysctl")
        .unwrap_or_else(|| panic!("{bad}"));
    assert_eq!(sysctl["status"], "fail", "{sysctl}");

    // The hosts themselves: installed where krc succeeded; the failed one
    // is as it was (krc undid its run), not half-installed.
    for h in &hosts[..2] {
        let (code, state) = sh(
            h,
            "/usr/local/bin/krc --version && systemctl --user -M bob@ is-active k3s-rootless.service && cat /etc/sysctl.d/90-krc-rootless.conf",
        );
        assert_eq!(code, 0, "{h}: {state}");
        assert!(state.contains("net.ipv4.ip_forward=1"), "{h}: {state}");
    }
    let (code, state) = sh(
        &hosts[2],
        "dpkg -s uidmap >/dev/null 2>&1 && echo uidmap; ls /etc/systemd/system/user@.service.d/ /etc/sysctl.d/90-krc-rootless.conf /var/lib/systemd/linger/bob 2>&1; true",
    );
    assert_eq!(code, 0, "{state}");
    assert!(
        !state.contains("uidmap\n") && state.matches("No such file").count() == 3,
        "{}: the failed install left changes behind:\n{state}",
        hosts[2]
    );

    // One fleet report, merged once on the controller.
    assert_eq!(
        log.matches("TASK [krc : Run krc report merge]").count(),
        1,
        "{log}"
    );
    let reports = out.join("reports");
    for f in ["fleet.json", "fleet.xml", "fleet.html"] {
        assert!(reports.join(f).is_file(), "{f} missing:\n{log}");
    }
    if let Err(e) = support::validate_junit(&reports.join("fleet.xml")) {
        panic!("fleet.xml: {e}");
    }
    let merged: Value = serde_json::from_str(&read(&reports.join("fleet.json"))).unwrap();
    // krc.fleet/v1: one entry per host with its verdict, worst first.
    assert_eq!(merged["schema"], "krc.fleet/v1", "{merged}");
    assert_eq!(merged["verdict"], "failed", "{merged}");
    let entries = merged["hosts"]
        .as_array()
        .unwrap_or_else(|| panic!("{merged}"));
    let verdicts: BTreeMap<String, String> = entries
        .iter()
        .map(|h| {
            (
                h["hostname"].as_str().unwrap_or("?").to_string(),
                h["verdict"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    let want: BTreeMap<String, String> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.clone(), if i == 2 { "failed" } else { "passed" }.into()))
        .collect();
    assert_eq!(verdicts, want, "the fleet report's verdicts:\n{merged}");
    assert_eq!(
        entries[0]["hostname"],
        hosts[2].as_str(),
        "worst first: {merged}"
    );
    assert!(
        entries[0]["failed"].to_string().contains("sysctl"),
        "{}",
        entries[0]
    );
    assert!(
        log.contains("fleet verdict: a host failed a required check"),
        "{log}"
    );
}

/// How many passes of the role ran krc on `host` (the task's result line
/// for the host is not "skipping").
fn runs_of_krc(log: &str, host: &str) -> usize {
    log.split("TASK [krc : ")
        .filter(|t| t.starts_with("Run krc as root for the target user]"))
        .filter(|t| {
            t.lines().any(|l| {
                l.contains(&format!("[{host}]"))
                    && (l.starts_with("changed:") || l.starts_with("ok:"))
            })
        })
        .count()
}

/// The lines ansible-playbook printed for one task (by a prefix of its
/// name), up to the next task.
fn task_section<'a>(log: &'a str, name: &str) -> &'a str {
    let start = log
        .find(&format!("TASK [krc : {name}"))
        .unwrap_or_else(|| panic!("no task {name:?} in the log:\n{log}"));
    let rest = &log[start..];
    let end = rest[1..].find("TASK [").map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

fn json_of(out: &Path, host: &str) -> Value {
    serde_json::from_str(&read(&out.join("reports").join(host).join("install.json"))).unwrap()
}

/// A dist directory of ci/release/build.sh's layout around the binary
/// under test: (dir, version, tarball name).
fn dist(dir: &Path) -> (String, String) {
    let cargo = read(&support::repo().join("Cargo.toml"));
    let version = cargo
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .unwrap()
        .to_string();
    let name = format!("krc-{version}-x86_64-unknown-linux-gnu");
    let stage = dir.join("stage").join(&name);
    std::fs::create_dir_all(&stage).unwrap();
    let st = Command::new("strip")
        .arg("-o")
        .arg(stage.join("krc"))
        .arg(env!("CARGO_BIN_EXE_krc"))
        .status()
        .unwrap();
    assert!(st.success());
    let tarball = format!("{name}.tar.gz");
    let st = Command::new("tar")
        .arg("-C")
        .arg(dir.join("stage"))
        .arg("-czf")
        .arg(dir.join(&tarball))
        .arg(&name)
        .status()
        .unwrap();
    assert!(st.success());
    let sum = Command::new("sha256sum")
        .arg(&tarball)
        .current_dir(dir)
        .output()
        .unwrap();
    std::fs::write(dir.join("SHA256SUMS"), &sum.stdout).unwrap();
    (version, tarball)
}

/// The role on this machine through the local connection, with every path
/// it writes inside `tmp`; returns (exit status, log).
fn play_locally(tmp: &Path, dist_dir: &Path, version: &str) -> (i32, String) {
    let vars = serde_json::json!({
        "krc_dist_dir": dist_dir,
        "krc_version": version,
        "krc_bin_path": tmp.join("bin/krc"),
        "krc_remote_dir": tmp.join("remote"),
        "krc_fetch_dir": tmp.join("reports"),
        "krc_user": "nobody",
        "krc_command": "preflight",
        "krc_args": ["--exact", "kernel.version"],
        "krc_merge": false,
    });
    std::fs::create_dir_all(tmp.join("bin")).unwrap();
    std::fs::write(tmp.join("vars.json"), vars.to_string()).unwrap();
    std::fs::write(
        tmp.join("inventory.ini"),
        "[krc_hosts]\n# root already, and this machine may have no sudo\nlocalhost ansible_connection=local ansible_become=false\n",
    )
    .unwrap();
    let o = Command::new("ansible-playbook")
        .arg("-i")
        .arg(tmp.join("inventory.ini"))
        .arg("-e")
        .arg(format!("@{}", tmp.join("vars.json").display()))
        .arg(support::repo().join("ansible/example-playbook.yml"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_LOCAL_TEMP", tmp.join("ansible-tmp"))
        // The system's Python: a version manager's shim on PATH (pyenv)
        // may name a version that is not installed.
        .env(
            "ANSIBLE_PYTHON_INTERPRETER",
            if Path::new("/usr/bin/python3").exists() {
                "/usr/bin/python3"
            } else {
                "auto_silent"
            },
        )
        .output()
        .unwrap();
    support::status_and_output(&o)
}

#[test]
fn role_refuses_an_artifact_whose_sha256_is_not_the_one_in_sha256sums() {
    if !support::have("ansible-playbook") {
        lab_skip!("ansible-playbook is not on PATH (ci/provision/60-ansible.sh installs it)");
    }
    if !support::is_root() {
        lab_skip!("the role runs krc as root (become)");
    }
    let d = tempfile::tempdir().unwrap();
    let dist_dir = d.path().join("dist");
    std::fs::create_dir_all(&dist_dir).unwrap();
    let (version, tarball) = dist(&dist_dir);

    // The untampered release installs and runs: the gate lets it through.
    let good = d.path().join("good");
    let (code, log) = play_locally(&good, &dist_dir, &version);
    assert_eq!(code, 0, "{log}");
    assert!(good.join("bin/krc").is_file(), "{log}");
    assert!(
        good.join("reports/localhost/preflight.json").is_file(),
        "{log}"
    );

    // One byte more after the build: refused, removed, not installed.
    let mut bytes = std::fs::read(dist_dir.join(&tarball)).unwrap();
    bytes.push(0);
    std::fs::write(dist_dir.join(&tarball), bytes).unwrap();
    let bad = d.path().join("bad");
    let (code, log) = play_locally(&bad, &dist_dir, &version);
    assert_eq!(code, 2, "{log}");
    assert!(
        log.contains("SHA256SUMS says") && log.contains("sha256sum -c SHA256SUMS"),
        "{log}"
    );
    assert!(!bad.join("bin/krc").exists(), "{log}");
    assert!(!bad.join("remote").join(&tarball).exists(), "{log}");
    assert!(!bad.join("reports/localhost").exists(), "{log}");
}
