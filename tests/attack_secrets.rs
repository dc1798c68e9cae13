//! Borrowed secrets, redaction and subordinate ids (issue 16, items 4, 6
//! and 12), with real runs of the krc binary on `--root` trees:
//!
//! - root's own proxy environment never becomes the user's, and a proxy
//!   password from /etc/environment lands only in a 0600 file of the
//!   user's (another local user, a real one via `runuser`, cannot read it);
//! - k3s's secrets (`--token X` on a process's command line or in the
//!   unit's `ExecStart=`, `vpn-auth`'s `joinKey=` in config.yaml, ...)
//!   reach none of the terminal, JSON, JUnit and HTML outputs;
//! - the subids step picks a range that covers no account's uid or gid,
//!   and `uidmap.subids` warns, naming the account, about a range that does.

#[path = "support/install.rs"]
mod inst;
mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use inst::{Lab, give_alice_to, grep_tree, text};

fn memfind(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The hostile target user: the tree's `alice` has its real uid.
const ATTACKER: &str = "krc-attacker";
/// Another local user, who must not read the target user's 0600 files.
const BYSTANDER: &str = "krc-atk-bystander";

/// A seed tree whose `alice` is the real `krc-attacker`, with a home of
/// mode 0755 (common: Debian before 12, many images) that every local
/// user can enter; None without root and runuser.
fn lab_as_attacker(edit: impl FnOnce(&Path)) -> Option<(Lab, u32)> {
    if !support::is_root() || !support::have("runuser") {
        return None;
    }
    let (uid, gid, _) = support::ensure_user(ATTACKER).unwrap();
    support::ensure_user(BYSTANDER).unwrap();
    let lab = Lab::with(|root| {
        give_alice_to(root, uid, gid);
        std::fs::set_permissions(root.join("home/alice"), PermissionsExt::from_mode(0o755))
            .unwrap();
        edit(root);
    });
    std::fs::set_permissions(lab.dir(), PermissionsExt::from_mode(0o755)).unwrap();
    Some((lab, uid))
}

/// The three report files of a run in `dir`, as flags.
fn report_flags(dir: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for (flag, name) in [("--json", "r.json"), ("--junit", "r.xml")] {
        v.push(flag.to_string());
        v.push(dir.join(name).display().to_string());
    }
    v
}

/// Everything a person or CI could read after runs: the terminal of each
/// and every report file in `dir`.
fn everything(outputs: &[&Output], dir: &Path) -> String {
    let mut all: String = outputs.iter().map(|o| text(o)).collect();
    for name in ["r.json", "r.xml", "r.html"] {
        all.push_str(&std::fs::read_to_string(dir.join(name)).unwrap_or_default());
    }
    all
}

fn drop_in(lab: &Lab) -> PathBuf {
    lab.root
        .join("home/alice/.config/systemd/user/k3s-rootless.service.d/krc.conf")
}

/// Item 4: root runs krc with its own proxy settings (a `sudo` that keeps
/// them, a root shell with a corporate proxy). They are root's: no byte
/// of the password reaches the user's files, the tree, or any output.
#[test]
fn roots_own_proxy_never_reaches_the_user() {
    let Some((lab, _)) = lab_as_attacker(|_| {}) else {
        lab_skip!("needs root and runuser to act as real unprivileged users");
    };
    let out = tempfile::tempdir().unwrap();
    let reports = report_flags(out.path());
    let reports: Vec<&str> = reports.iter().map(String::as_str).collect();
    let env = [
        ("https_proxy", "http://rootuser:ROOTPROXYPW@p.corp:3128"),
        ("HTTPS_PROXY", "http://rootuser:ROOTPROXYPW@p.corp:3128"),
        ("http_proxy", "http://rootuser:ROOTPROXYPW@p.corp:3128"),
        ("HTTP_PROXY", "http://rootuser:ROOTPROXYPW@p.corp:3128"),
        // The lab's mirror is on loopback: its downloads go direct.
        ("NO_PROXY", "127.0.0.1,localhost"),
    ];
    let dry = lab.install_env(&["--dry-run"], &env);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    let mut args = vec!["--yes"];
    args.extend(&reports);
    let o = lab.install_env(&args, &env);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let all = everything(&[&dry, &o], out.path());
    assert!(
        !all.contains("ROOTPROXYPW"),
        "root's proxy password shown:\n{all}"
    );
    assert!(
        !all.contains("p.corp"),
        "root's proxy reached the plan or reports:\n{all}"
    );
    let found = grep_tree(&lab.root, "ROOTPROXYPW");
    assert!(
        found.is_empty(),
        "root's proxy password written to {found:?}"
    );
    let d = std::fs::read_to_string(drop_in(&lab)).unwrap();
    assert!(!d.contains("PROXY"), "root's proxy in the drop-in:\n{d}");
    // What the user can see: nothing of it either.
    let st = Command::new("runuser")
        .args(["-u", ATTACKER, "--", "grep", "-r", "-q", "ROOTPROXYPW"])
        .arg(lab.root.join("home/alice"))
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(1), "grep as {ATTACKER} found the password");
}

/// Item 4: a proxy with a password in /etc/environment. k3s needs it, so
/// the user's unit gets it, but only in a file of mode 0600 that another
/// local user cannot read; the plan, the terminal and the reports show
/// it redacted; the drop-in says where it came from; uninstall removes it.
#[test]
fn a_proxy_password_from_etc_environment_is_only_in_a_0600_file() {
    let Some((lab, uid)) = lab_as_attacker(|root| {
        std::fs::write(
            root.join("etc/environment"),
            "PATH=\"/usr/bin\"\nHTTPS_PROXY=\"http://ops:ETCPROXYPW@proxy.corp:3128\"\nno_proxy=corp.local\n",
        )
        .unwrap();
    }) else {
        lab_skip!("needs root and runuser to act as real unprivileged users");
    };
    let before = lab.tree();
    let out = tempfile::tempdir().unwrap();
    let reports = report_flags(out.path());
    let reports: Vec<&str> = reports.iter().map(String::as_str).collect();
    let dry = lab.install(&["--dry-run"]);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    assert!(
        text(&dry).contains("HTTPS_PROXY=http://[redacted]@proxy.corp:3128"),
        "the plan shows the proxy redacted: {}",
        text(&dry)
    );
    let mut args = vec!["--yes"];
    args.extend(&reports);
    let o = lab.install(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let all = everything(&[&dry, &o], out.path());
    assert!(
        !all.contains("ETCPROXYPW"),
        "the password was shown:\n{all}"
    );

    let path = drop_in(&lab);
    let m = std::fs::metadata(&path).unwrap();
    assert_eq!(
        (m.mode() & 0o7777, m.uid()),
        (0o600, uid),
        "the drop-in carrying a password"
    );
    let d = std::fs::read_to_string(&path).unwrap();
    assert!(
        d.contains("# HTTPS_PROXY: /etc/environment (HTTPS_PROXY)\nEnvironment=\"HTTPS_PROXY=http://ops:ETCPROXYPW@proxy.corp:3128\"")
            && d.contains("# NO_PROXY: /etc/environment (no_proxy), plus loopback"),
        "{d}"
    );
    // Only /etc/environment (where the administrator put it) and the
    // user's 0600 drop-in hold it.
    let mut found = grep_tree(&lab.root, "ETCPROXYPW");
    found.sort();
    assert_eq!(found, [lab.root.join("etc/environment"), path.clone()]);
    // Another local user cannot read it.
    let o2 = Command::new("runuser")
        .args(["-u", BYSTANDER, "--", "cat"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        !o2.status.success() && !memfind(&o2.stdout, b"ETCPROXYPW"),
        "{BYSTANDER} read {}: {}",
        path.display(),
        text(&o2)
    );
    let u = lab.uninstall(&["--yes"]);
    assert_eq!(u.status.code(), Some(0), "{}", text(&u));
    assert_eq!(inst::tree_diff(&before, &lab.tree()), "");
}

/// Item 4: the explicit way. `--https-proxy` wins over /etc/environment
/// and the drop-in says so; a URL with a password is refused (a command
/// line is public in /proc) without repeating it.
#[test]
fn proxy_flags_are_explicit_and_refuse_a_password() {
    let lab = Lab::with(|root| {
        std::fs::write(
            root.join("etc/environment"),
            "HTTPS_PROXY=http://file.proxy:3128\n",
        )
        .unwrap();
    });
    let o = lab.install(&[
        "--yes",
        "--https-proxy",
        "http://flag.proxy:8080",
        "--no-proxy",
        ".corp",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let d = std::fs::read_to_string(drop_in(&lab)).unwrap();
    assert!(
        d.contains(
            "# HTTPS_PROXY: krc install --https-proxy\nEnvironment=\"HTTPS_PROXY=http://flag.proxy:8080\""
        ) && d.contains("# NO_PROXY: krc install --no-proxy, plus")
            && d.contains("Environment=\"NO_PROXY=.corp,127.0.0.1,")
            && !d.contains("file.proxy"),
        "{d}"
    );
    let bad = lab.install(&["--dry-run", "--https-proxy", "http://u:FLAGPW@x.proxy:1"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(
        !text(&bad).contains("FLAGPW") && text(&bad).contains("/proc/PID/cmdline"),
        "{}",
        text(&bad)
    );
}

/// Item 6: k3s's secrets wherever krc quotes them: a k3s process's
/// command line (`--token X`, space-separated, a value with spaces), the
/// unit's `ExecStart=` and `Environment=`, and config.yaml's `vpn-auth`
/// (`joinKey=` inside its value), `token`, `datastore-endpoint` and
/// `etcd-s3-secret-key`. None reaches the terminal, JSON, JUnit or HTML.
#[test]
fn k3s_secrets_reach_no_output() {
    const SECRETS: &[&str] = &[
        "CMDLINESECRET1",
        "SPACED SECRET2",
        "AGENTSECRET3",
        "UNITSECRET4",
        "DBPASSWORD5",
        "ENVSECRET6",
        "JOINKEYSECRET7",
        "CFGTOKEN8",
        "S3SECRET9",
        "DSNSECRET10",
    ];
    let lab = Lab::with(|root| {
        let w = |p: &str, t: &str| {
            let f = root.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, t).unwrap();
        };
        w(
            "proc/4242/cmdline",
            "/usr/local/bin/k3s\0server\0--rootless\0--token\0CMDLINESECRET1\0--agent-token\0SPACED SECRET2\0--etcd-s3-secret-key=AGENTSECRET3\0--node-name\0n1\0",
        );
        w(
            "proc/4242/status",
            "Name:\tk3s-server\nUid:\t1000\t1000\t1000\t1000\n",
        );
        w(
            "home/alice/.config/systemd/user/k3s-rootless.service",
            "[Unit]\nDescription=k3s (Rootless)\n[Service]\nEnvironment=\"K3S_TOKEN=ENVSECRET6\"\nExecStart=/usr/local/bin/k3s server --rootless --snapshotter=fuse-overlayfs --token UNITSECRET4 --datastore-endpoint \"postgres://k3s:DBPASSWORD5@db:5432/k3s\"\nDelegate=yes\n[Install]\nWantedBy=default.target\n",
        );
        w(
            "etc/rancher/k3s/config.yaml",
            "node-name: n1\nvpn-auth: \"name=tailscale,joinKey=JOINKEYSECRET7\"\ntoken: CFGTOKEN8\netcd-s3-secret-key: S3SECRET9\ndatastore-endpoint: \"host=db password=DSNSECRET10\"\n",
        );
    });
    let out = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for phase in ["preflight", "accept"] {
        let mut c = support::krc();
        c.args([phase, "--user", "alice", "--root"])
            .arg(&lab.root)
            .args(["--json", "r.json", "--junit", "r.xml", "--html", "r.html"])
            .current_dir(out.path())
            .env("NO_COLOR", "1");
        if phase == "accept" {
            c.args(["--kubeconfig", "/nonexistent/k3s.yaml", "--timeout", "1"]);
        }
        let o = c.output().unwrap();
        assert!(
            matches!(o.status.code(), Some(0) | Some(1)),
            "krc {phase}: a verdict, not an error: {}",
            text(&o)
        );
        let all = everything(&[&o], out.path());
        for s in SECRETS {
            assert!(!all.contains(s), "krc {phase} showed {s:?}:\n{all}");
        }
        runs.push(all);
    }
    // The evidence is there, with the values hidden.
    let all = runs.concat();
    for shown in [
        "/proc/4242/cmdline: /usr/local/bin/k3s server --rootless --token [redacted]",
        "--node-name n1",
        "node-name: n1",
        "vpn-auth",
    ] {
        assert!(all.contains(shown), "{shown:?} missing:\n{all}");
    }
}

/// Item 12: an account whose uid (or a group whose gid) lies where the
/// next free range would start. The step's range covers neither.
#[test]
fn the_subids_step_avoids_every_account() {
    // bob has 100000-165535: the old choice was 165536-231071.
    let lab = Lab::with(|root| {
        let append = |p: &str, line: &str| {
            let mut t = std::fs::read_to_string(root.join(p)).unwrap();
            t.push_str(line);
            std::fs::write(root.join(p), t).unwrap();
        };
        append(
            "etc/passwd",
            "svc-high:x:165546:65534:directory account:/nonexistent:/usr/sbin/nologin\n",
        );
        append("etc/group", "grp-high:x:200000:\n");
    });
    let o = lab.install(&["--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for file in ["etc/subuid", "etc/subgid"] {
        let t = std::fs::read_to_string(lab.root.join(file)).unwrap();
        let line = t.lines().find(|l| l.starts_with("alice:")).unwrap();
        let f: Vec<u64> = line
            .split(':')
            .skip(1)
            .map(|n| n.parse().unwrap())
            .collect();
        let (start, count) = (f[0], f[1]);
        assert!(count >= 65536, "{line}");
        for id in [165546, 200000] {
            assert!(
                !(start..start + count).contains(&id),
                "{file}: {line} covers the account id {id}"
            );
        }
        assert!(start >= 165536, "{file}: {line} overlaps bob's range");
    }
}

/// Item 12: a range the user already has covers an account: a warning
/// that names the account, with the usermod that moves the range.
#[test]
fn uidmap_subids_warns_when_a_range_covers_an_account() {
    let lab = Lab::with(|root| {
        std::fs::write(
            root.join("etc/subuid"),
            "bob:100000:65536\nalice:165536:65536\n",
        )
        .unwrap();
        std::fs::write(
            root.join("etc/subgid"),
            "bob:100000:65536\nalice:165536:65536\n",
        )
        .unwrap();
        let mut t = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
        t.push_str("svc-high:x:165546:65534:directory account:/nonexistent:/usr/sbin/nologin\n");
        std::fs::write(root.join("etc/passwd"), t).unwrap();
    });
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("r.json");
    let o = support::krc()
        .args([
            "preflight",
            "--exact",
            "uidmap.subids",
            "--user",
            "alice",
            "--root",
        ])
        .arg(&lab.root)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&json).unwrap_or_else(|e| panic!("{e}: {}", text(&o))),
    )
    .unwrap();
    let rec = doc
        .pointer("/phases/0/checks")
        .and_then(|c| c.as_array())
        .and_then(|c| c.iter().find(|r| r["id"] == "uidmap.subids"))
        .unwrap_or_else(|| panic!("no uidmap.subids record: {doc}"))
        .clone();
    assert_eq!(rec["status"], "warn", "{rec}");
    let summary = rec["summary"].as_str().unwrap();
    assert!(
        summary.contains("svc-high") && summary.contains("165546"),
        "{rec}"
    );
    let remedy = rec["remedy"].as_str().unwrap_or_default();
    assert!(
        remedy
            .contains("sudo usermod --del-subuids 165536-231071 --add-subuids 165547-231082 alice"),
        "{rec}"
    );
    let evidence = rec["evidence"].to_string();
    assert!(
        evidence.contains(
            "svc-high has uid 165546 in /etc/passwd, inside /etc/subuid:2: alice:165536:65536"
        ),
        "{rec}"
    );
}
