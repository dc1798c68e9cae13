//! `krc capture` for real: this machine (as root, for users of its own),
//! extracted with the system's tar and replayed with `krc preflight
//! --root`, must reach the live run's verdict for every check; the
//! capture holds no secret planted for the user (kubeconfig key,
//! certificate and token, tokens in the unit and a profile) and the
//! kubeconfig check judges the replay as it judged the host; a link the
//! user planted where capture reads (their unit -> /etc/shadow) is kept
//! as a link, its target never read. The Debian 12 systemd container
//! (with a user manager running, and a k3s config holding a token) runs
//! the same comparison, and so does the VM lab guest
//! (ci/vm-lab/guest/capture.sh).

#[path = "support/container.rs"]
mod container;
#[path = "support/install.rs"]
mod inst;
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

/// Status per check id of a `--json` report.
fn statuses(json: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(json)
        .unwrap_or_else(|e| panic!("no report at {}: {e}", json.display()));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out = BTreeMap::new();
    for p in v["phases"].as_array().unwrap() {
        for c in p["checks"].as_array().unwrap() {
            out.insert(
                c["id"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            );
        }
    }
    out
}

/// Every check whose status differs, one line each: `id: live X, replay Y`.
fn differences(live: &Path, replay: &Path) -> Vec<String> {
    let (a, b) = (statuses(live), statuses(replay));
    let mut out = Vec::new();
    for id in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
        let (x, y) = (a.get(id), b.get(id));
        if x != y {
            out.push(format!(
                "{id}: live {}, replay {}",
                x.map_or("(absent)", String::as_str),
                y.map_or("(absent)", String::as_str)
            ));
        }
    }
    out
}

fn text(o: &Output) -> String {
    format!(
        "status {}\n{}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn run_as(user: &str, script: &str) {
    let o = Command::new("runuser")
        .args(["-u", user, "--", "sh", "-c", script])
        .output()
        .unwrap();
    assert!(o.status.success(), "as {user}: {script}: {}", text(&o));
}

/// Captures for `user`, extracts with tar into `dir/tree`, runs the live
/// preflight and the replay; returns (tree, differences, live exit, replay exit).
fn capture_and_replay(dir: &Path, user: &str) -> (std::path::PathBuf, Vec<String>, String) {
    let live_json = dir.join("live.json");
    let live = support::krc()
        .args(["preflight", "--user", user, "--color", "never", "--json"])
        .arg(&live_json)
        .output()
        .unwrap();
    let archive = dir.join("host.tar.gz");
    let cap = support::krc()
        .args(["capture", "--user", user, "--output"])
        .arg(&archive)
        .output()
        .unwrap();
    assert!(cap.status.success(), "krc capture: {}", text(&cap));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the capture is root's alone");
    let tree = dir.join("tree");
    std::fs::create_dir(&tree).unwrap();
    let x = Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&tree)
        .output()
        .unwrap();
    assert!(x.status.success(), "tar -xzf: {}", text(&x));
    let replay_json = dir.join("replay.json");
    let replay = support::krc()
        .args(["preflight", "--color", "never", "--root"])
        .arg(&tree)
        .arg("--json")
        .arg(&replay_json)
        .output()
        .unwrap();
    let diffs = differences(&live_json, &replay_json);
    let mut report = format!(
        "capture:\n{}\nlive preflight:\n{}\nreplayed preflight:\n{}",
        text(&cap),
        text(&live),
        text(&replay)
    );
    if live.status.code() != replay.status.code() {
        report.push_str(&format!(
            "\nexit status: live {:?}, replay {:?}",
            live.status.code(),
            replay.status.code()
        ));
    }
    (tree, diffs, report)
}

fn need_root() -> Option<String> {
    if !support::is_root() {
        return Some("krc capture of another user needs root (its probes switch users)".into());
    }
    if !support::have("runuser") || !support::have("tar") {
        return Some("runuser and tar are needed".into());
    }
    None
}

/// (a) This host, as it is: every check's verdict survives the capture.
#[test]
fn the_live_host_replays_to_the_same_verdicts() {
    if let Some(why) = need_root() {
        lab_skip!("{why}");
    }
    let user = "krc-capture";
    support::ensure_user(user).unwrap();
    let d = tempfile::tempdir().unwrap();
    let (tree, diffs, report) = capture_and_replay(d.path(), user);
    assert!(
        diffs.is_empty() && !report.contains("\nexit status:"),
        "live and replayed verdicts differ:\n{}\n\n{report}",
        diffs.join("\n")
    );
    // Nothing beyond what krc needs of the user database.
    assert!(!tree.join("etc/shadow").exists() && !tree.join("etc/gshadow").exists());
    let passwd = std::fs::read_to_string(tree.join("etc/passwd")).unwrap();
    assert!(
        passwd.lines().any(|l| l.starts_with("krc-capture:x:")),
        "{passwd}"
    );
    assert!(
        passwd.lines().any(|l| l.starts_with("root:x:0:")),
        "{passwd}"
    );
    let all = std::fs::read_to_string("/etc/passwd").unwrap();
    assert!(
        passwd.lines().count() < all.lines().count(),
        "passwd was not reduced:\n{passwd}"
    );
    for l in passwd.lines() {
        assert_eq!(l.split(':').nth(4), Some(""), "a GECOS field was kept: {l}");
    }
    eprintln!("{report}");
}

/// (d) Secrets planted for the user never reach the capture, and the
/// kubeconfig is judged the same from it.
#[test]
fn planted_secrets_stay_on_the_host_and_the_kubeconfig_verdict_survives() {
    use base64::Engine;
    if let Some(why) = need_root() {
        lab_skip!("{why}");
    }
    let user = "krc-capture-sec";
    let (uid, gid, home) = support::ensure_user(user).unwrap();
    let (ca, cert, key) = inst::test_pki();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let token = "kcap-token-7f3a9c1e5d";
    let unit_token = "K10unit-secret-41d7::server:9be0";
    let profile_token = "ghp_profileSecret1234567890";
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: default\n  cluster:\n    server: https://127.0.0.1:6443\n    certificate-authority-data: {}\ncontexts:\n- name: default\n  context:\n    cluster: default\n    user: default\ncurrent-context: default\nusers:\n- name: default\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n    token: {token}\n",
        b64(&ca),
        b64(&cert),
        b64(&key)
    );
    let unit = format!(
        "[Unit]\nDescription=k3s (rootless)\n[Service]\nEnvironment=\"K3S_TOKEN={unit_token}\"\nExecStart=/usr/local/bin/k3s server --rootless --token {unit_token}\n[Install]\nWantedBy=default.target\n"
    );
    let files = [
        (".kube/k3s.yaml", kubeconfig.as_str(), 0o600),
        (
            ".config/systemd/user/k3s-rootless.service",
            unit.as_str(),
            0o644,
        ),
    ];
    for (rel, body, mode) in files {
        let p = home.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, body).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    inst::chown_r(&home, uid, gid);
    run_as(
        user,
        &format!(
            "touch ~/.bashrc && sed -i '/GITHUB_TOKEN/d' ~/.bashrc && printf 'export GITHUB_TOKEN={profile_token}\\n' >> ~/.bashrc"
        ),
    );
    let d = tempfile::tempdir().unwrap();
    let (tree, diffs, report) = capture_and_replay(d.path(), user);
    assert!(
        diffs.is_empty(),
        "live and replayed verdicts differ:\n{}\n\n{report}",
        diffs.join("\n")
    );
    let key_body = key.lines().nth(1).unwrap().to_string();
    let cert_body = cert.lines().nth(1).unwrap().to_string();
    for (what, needle) in [
        ("the kubeconfig's token", token.to_string()),
        ("the client key (base64)", b64(&key)),
        ("the client key (PEM body)", key_body),
        ("the client certificate (base64)", b64(&cert)),
        ("the client certificate (PEM body)", cert_body),
        ("the unit's K3S_TOKEN", unit_token.to_string()),
        ("the profile's token", profile_token.to_string()),
    ] {
        let found = inst::grep_tree(&tree, &needle);
        assert!(found.is_empty(), "{what} is in the capture: {found:?}");
    }
    assert!(
        tree.join(format!(
            "{}/.kube/k3s.yaml",
            home.display().to_string().trim_start_matches('/')
        ))
        .is_file(),
        "the kubeconfig is in the capture (as a stand-in)"
    );
    // kubeconfig.present, live and replayed.
    let accept = |root: Option<&Path>, json: &Path| {
        let mut c = support::krc();
        c.args([
            "accept",
            "kubeconfig.present",
            "--exact",
            "--color",
            "never",
        ]);
        match root {
            Some(r) => c.arg("--root").arg(r),
            None => c.args(["--user", user]),
        };
        c.arg("--json").arg(json).output().unwrap()
    };
    let (lj, rj) = (
        d.path().join("acc-live.json"),
        d.path().join("acc-replay.json"),
    );
    let (lo, ro) = (accept(None, &lj), accept(Some(&tree), &rj));
    let (l, r) = (statuses(&lj), statuses(&rj));
    assert_eq!(
        l.get("kubeconfig.present"),
        Some(&"pass".to_string()),
        "live: {}",
        text(&lo)
    );
    assert_eq!(l, r, "live:\n{}\nreplay:\n{}", text(&lo), text(&ro));
}

/// (e) The user links their unit to /etc/shadow: capture keeps the link,
/// never what it points at.
#[test]
fn a_planted_link_is_captured_as_a_link_never_its_target() {
    if let Some(why) = need_root() {
        lab_skip!("{why}");
    }
    let user = "krc-capture-atk";
    support::ensure_user(user).unwrap();
    run_as(
        user,
        "mkdir -p ~/.config/systemd/user ~/.kube && ln -sfn /etc/shadow ~/.config/systemd/user/k3s-rootless.service && ln -sfn /etc/shadow ~/.kube/k3s.yaml && ln -sfn /etc/gshadow ~/.bashrc",
    );
    let d = tempfile::tempdir().unwrap();
    let (tree, diffs, report) = capture_and_replay(d.path(), user);
    assert!(
        diffs.is_empty(),
        "live and replayed verdicts differ:\n{}\n\n{report}",
        diffs.join("\n")
    );
    let shadow = std::fs::read_to_string("/etc/shadow").unwrap();
    for line in shadow.lines().filter(|l| !l.is_empty()) {
        let found = inst::grep_tree(&tree, line);
        assert!(
            found.is_empty(),
            "a line of /etc/shadow is in the capture: {found:?}"
        );
    }
    let home = std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{user}:"))
                .and_then(|r| r.split(':').nth(4).map(str::to_string))
        })
        .unwrap();
    let unit = tree.join(format!(
        "{}/.config/systemd/user/k3s-rootless.service",
        home.trim_start_matches('/')
    ));
    let m = std::fs::symlink_metadata(&unit)
        .unwrap_or_else(|e| panic!("{} is not in the capture: {e}\n{report}", unit.display()));
    assert!(
        m.file_type().is_symlink(),
        "{} is not the user's link",
        unit.display()
    );
    assert_eq!(
        std::fs::read_link(&unit).unwrap(),
        Path::new("/etc/shadow"),
        "the link is kept as the user made it"
    );
    // The replay refuses it as the host did: the tree's own /etc/shadow
    // does not exist, and a link below the home is never followed.
    let replay = support::krc()
        .args([
            "accept",
            "kubeconfig.present",
            "--exact",
            "--color",
            "never",
            "--root",
        ])
        .arg(&tree)
        .output()
        .unwrap();
    let out = text(&replay);
    assert!(out.contains("symbolic link"), "{out}");
}

/// (b) The Debian 12 systemd container: a user with a running manager and
/// lingering, a k3s config with a token; live and replayed verdicts agree
/// and the token is nowhere in the capture.
#[tokio::test(flavor = "multi_thread")]
async fn the_debian12_container_replays_to_the_same_verdicts() {
    if !container::docker_ok() {
        lab_skip!(
            "no Docker engine answers `docker version` (ci/provision/20-docker.sh starts one)"
        );
    }
    let (name, tag) = match container::image() {
        Ok(i) => i,
        Err(e) => lab_skip!("the Debian 12 image is not available: {e}"),
    };
    let c = container::start(name, tag, &[]).await;
    let secret = "K10capture-container-7c1e9a::server:55aa";
    let setup = format!(
        "useradd -m -s /bin/bash bob && mkdir -p /dev/net && mknod -m 666 /dev/net/tun c 10 200 && mknod -m 666 /dev/fuse c 10 229 \
         && mkdir -p /etc/rancher/k3s && printf 'token: {secret}\\ndisable: traefik\\n' > /etc/rancher/k3s/config.yaml \
         && loginctl enable-linger bob && for i in $(seq 60); do systemctl --user -M bob@ is-system-running 2>/dev/null | grep -qE 'running|degraded' && break; sleep 0.5; done"
    );
    let (code, out) = container::sh(&c, &setup).await;
    assert_eq!(code, 0, "{out}");
    let (_, out) = container::sh(
        &c,
        "/krc/krc preflight --user bob --color never --json /tmp/live.json; echo \"live exit $?\"; \
         /krc/krc capture --user bob --output /tmp/cap.tar.gz && mkdir /tmp/r && tar -xzf /tmp/cap.tar.gz -C /tmp/r \
         && /krc/krc preflight --root /tmp/r --color never --json /tmp/replay.json; echo \"replay exit $?\"",
    )
    .await;
    let d = tempfile::tempdir().unwrap();
    for f in ["live", "replay"] {
        let (code, json) = container::sh(&c, &format!("cat /tmp/{f}.json")).await;
        assert_eq!(code, 0, "no {f} report:\n{out}");
        std::fs::write(d.path().join(format!("{f}.json")), json).unwrap();
    }
    let diffs = differences(&d.path().join("live.json"), &d.path().join("replay.json"));
    assert!(
        diffs.is_empty(),
        "live and replayed verdicts differ in the container:\n{}\n\n{out}",
        diffs.join("\n")
    );
    let exits: Vec<&str> = out.lines().filter(|l| l.contains(" exit ")).collect();
    assert_eq!(exits.len(), 2, "{out}");
    assert_eq!(
        exits[0].trim_start_matches("live"),
        exits[1].trim_start_matches("replay"),
        "{out}"
    );
    let (code, found) =
        container::sh(&c, &format!("grep -rl '{secret}' /tmp/r; test $? = 1")).await;
    assert_eq!(code, 0, "the k3s token is in the capture: {found}");
    let (_, toml) = container::sh(&c, "cat /tmp/r/krc-fixture.toml").await;
    assert!(
        toml.contains("user_manager = "),
        "the manager's answer was captured:\n{toml}"
    );
    eprintln!("{out}");
}

/// (c) The VM lab guest's script, run here as the guest runs it (as root,
/// for a user): its one line says the replay agrees; and a replay that
/// lost a check is called a difference, naming it.
#[test]
fn the_vm_lab_guest_script_says_same_and_names_a_difference() {
    if let Some(why) = need_root() {
        lab_skip!("{why}");
    }
    if !support::have("join") || !support::have("awk") {
        lab_skip!("the guest script needs join and awk (coreutils, awk)");
    }
    let user = "krc-capture-vm";
    support::ensure_user(user).unwrap();
    let script = support::repo().join("ci/vm-lab/guest/capture.sh");
    let d = tempfile::tempdir().unwrap();
    let run = |krc: &Path, out: &Path| {
        Command::new("bash")
            .arg(&script)
            .arg(user)
            .arg(out)
            .env("KRC", krc)
            .output()
            .unwrap()
    };
    let o = run(Path::new(env!("CARGO_BIN_EXE_krc")), &d.path().join("good"));
    let line = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(
        o.status.success() && line.starts_with("krc-capture-replay: same "),
        "{}",
        text(&o)
    );
    // A krc whose replay skips ports.free: the script must say so.
    let lossy = d.path().join("krc-lossy");
    std::fs::write(
        &lossy,
        format!(
            "#!/bin/sh\ncase \" $* \" in *\" --root \"*) exec {} \"$@\" --skip ports.free;; esac\nexec {} \"$@\"\n",
            env!("CARGO_BIN_EXE_krc"),
            env!("CARGO_BIN_EXE_krc")
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&lossy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = run(&lossy, &d.path().join("bad"));
    let line = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(
        !o.status.success()
            && line.starts_with("krc-capture-replay: differ ")
            && line.contains("ports.free live=PASS replay=absent"),
        "{}",
        text(&o)
    );
}
