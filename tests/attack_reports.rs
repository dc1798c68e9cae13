//! Attacks on krc's reports by the unprivileged k3s user (issue 8, items 4
//! and 5). krc runs as root; each test plants, as a real unprivileged user
//! (`runuser -u USER`), only what that user can plant, runs the real krc and
//! asserts that nothing outside the user's rights changed, that no secret
//! byte reaches a report file or the terminal, and that krc says why it
//! refused. Without root there is no second user to act as: the tests skip
//! (and fail under KRC_REQUIRE_LAB=1, as CI sets).

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;

/// An attacker: a real user with a home, planting with its own rights.
struct Attacker {
    name: String,
    home: PathBuf,
}

impl Attacker {
    /// One user per test, so parallel tests do not share a home.
    fn new(name: &str) -> Attacker {
        let (_, _, home) = support::ensure_user(name).unwrap();
        let a = Attacker {
            name: name.to_string(),
            home,
        };
        // Whatever an earlier run planted goes (as root: this is set-up).
        for p in [".kube", ".profile"] {
            let p = a.home.join(p);
            if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                std::fs::remove_dir_all(&p).unwrap();
            } else {
                let _ = std::fs::remove_file(&p);
            }
        }
        a.sh("mkdir -p ~/.kube && chmod 700 ~/.kube");
        a
    }

    /// Runs `script` as the attacker (with `~` at its home).
    fn sh(&self, script: &str) {
        self.sh_with(script, b"");
    }

    fn sh_with(&self, script: &str, stdin: &[u8]) {
        use std::io::Write;
        let mut child = Command::new("runuser")
            .args(["-u", &self.name, "--", "sh", "-c", script])
            .env("HOME", &self.home)
            .current_dir(&self.home)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let st = child.wait().unwrap();
        assert!(st.success(), "as {}: {script}: {st}", self.name);
    }

    /// The attacker writes its own kubeconfig.
    fn kubeconfig(&self, text: &str) {
        self.sh_with("umask 077 && cat > ~/.kube/k3s.yaml", text.as_bytes());
    }
}

/// What one krc run left: exit status, stdout+stderr, and the three reports.
struct Run {
    code: i32,
    terminal: String,
    terminal_bytes: Vec<u8>,
    reports: Vec<(String, String)>,
}

impl Run {
    /// Everything a person or CI could read after the run.
    fn all(&self) -> Vec<(&str, &str)> {
        let mut v = vec![("terminal", self.terminal.as_str())];
        v.extend(self.reports.iter().map(|(n, t)| (n.as_str(), t.as_str())));
        v
    }

    fn assert_absent(&self, secrets: &[&str]) {
        for (name, text) in self.all() {
            for s in secrets {
                assert!(
                    !text.contains(s),
                    "secret {s:?} reached the {name}:\n{text}"
                );
            }
        }
    }
}

/// `krc accept --user USER ONLY --exact` as root, with all three reports
/// in `dir`, under a deadline (a FIFO must not hang it).
fn accept(user: &str, only: &str, dir: &Path, extra: &[&str]) -> Run {
    let [junit, json, html] = ["r.xml", "r.json", "r.html"].map(|n| dir.join(n));
    let out = Command::new("timeout")
        .arg("120")
        .arg(env!("CARGO_BIN_EXE_krc"))
        .args(["accept", "--user", user, only, "--exact", "--junit"])
        .arg(&junit)
        .arg("--json")
        .arg(&json)
        .arg("--html")
        .arg(&html)
        .args(extra)
        .env_remove("KUBECONFIG")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let mut terminal_bytes = out.stdout.clone();
    terminal_bytes.extend_from_slice(&out.stderr);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    Run {
        code: out.status.code().unwrap_or(-1),
        terminal: String::from_utf8_lossy(&terminal_bytes).into_owned(),
        terminal_bytes,
        reports: vec![
            ("JUnit".into(), read(&junit)),
            ("JSON".into(), read(&json)),
            ("HTML".into(), read(&html)),
        ],
    }
}

macro_rules! need_root {
    () => {
        if !support::is_root() {
            lab_skip!("needs root to act as another user");
        }
    };
}

/// A root-only directory holding a root-only file with `content`.
fn root_secret(content: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let f = dir.path().join("secret");
    std::fs::write(&f, content).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    (dir, f)
}

/// A root-owned report directory every user may write (sticky, like /tmp).
fn shared_report_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    d
}

fn private_report_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A kubeconfig as k3s writes it, with the given key PEM and server.
fn kubeconfig(server: &str, key_pem: &str) -> String {
    let ca = rcgen::CertificateParams::new(vec!["k3s".into()])
        .unwrap()
        .self_signed(&rcgen::KeyPair::generate().unwrap())
        .unwrap()
        .pem();
    format!(
        "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {ca}
    server: {server}
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {{}}
users:
- name: default
  user:
    client-certificate-data: {ca}
    client-key-data: {key}
",
        ca = b64(ca.as_bytes()),
        key = b64(key_pem.as_bytes())
    )
}

#[test]
fn a_planted_link_or_fifo_in_a_shared_report_dir_never_makes_root_write_through_it() {
    need_root!();
    let a = Attacker::new("krc-atk-reports");
    let (_keep, victim) = root_secret("ROOT-ORIGINAL-CONTENT\n");
    let before = std::fs::metadata(&victim).unwrap();
    let dir = shared_report_dir();
    let d = dir.path().display().to_string();
    let v = victim.display().to_string();
    // At the report names, and at every temp name the old writer used
    // (`.NAME.krc-tmp-PID`) for the next few thousand pids.
    let last_pid: u32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .map(|s| s.trim().parse().unwrap_or(1))
        .unwrap_or(1);
    a.sh(&format!(
        "ln -s {v} {d}/r.xml && mkfifo {d}/r.json && ln -s {v} {d}/r.html && \
         for i in $(seq {} {}); do for n in r.xml r.json r.html; do \
         ln -s {v} {d}/.$n.krc-tmp-$i; done; done",
        last_pid + 1,
        last_pid + 1500
    ));
    let run = accept(&a.name, "kubeconfig.present", dir.path(), &[]);
    assert_ne!(run.code, 124, "krc hung on the planted FIFO");
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "ROOT-ORIGINAL-CONTENT\n",
        "root's file was written through a planted link"
    );
    let after = std::fs::metadata(&victim).unwrap();
    assert_eq!(
        (after.mode(), after.uid(), after.ino()),
        (before.mode(), before.uid(), before.ino())
    );
    for n in ["r.xml", "r.json", "r.html"] {
        let m = std::fs::symlink_metadata(dir.path().join(n)).unwrap();
        assert!(m.is_file(), "{n} is not the regular file krc wrote");
        assert_eq!((m.uid(), m.mode() & 0o777), (0, 0o644), "{n}");
    }
    assert!(run.reports[1].1.contains("\"phase\": \"acceptance\""));
    // No stray temp file of krc's own is left behind.
    let stray: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".krc-tmp"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

#[test]
fn a_kubeconfig_linked_to_a_root_only_file_is_refused_unread() {
    need_root!();
    let a = Attacker::new("krc-atk-link");
    let marker = "ROOTONLY-MARKER-7f3a9c";
    let (_keep, secret) = root_secret(&format!(
        "{marker}\ntoken: {marker}\nclusters: [\n  {marker}: x\n"
    ));
    let dir = private_report_dir();
    let s = secret.display().to_string();
    // The file itself a link.
    a.sh(&format!("ln -s {s} ~/.kube/k3s.yaml"));
    for check in ["kubeconfig.present", "api.ready"] {
        let run = accept(&a.name, check, dir.path(), &[]);
        assert_eq!(run.code, 1, "{}", run.terminal);
        run.assert_absent(&[marker]);
        assert!(
            run.terminal.contains("is a symbolic link")
                && run.terminal.contains("krc does not follow links"),
            "{check}: no clear reason:\n{}",
            run.terminal
        );
    }
    // A directory on the way a link, to a root directory holding a
    // kubeconfig-named root file.
    std::fs::copy(&secret, secret.with_file_name("k3s.yaml")).unwrap();
    let parent = secret.parent().unwrap().display().to_string();
    a.sh(&format!("rm -rf ~/.kube && ln -s {parent} ~/.kube"));
    let run = accept(&a.name, "kubeconfig.present", dir.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.terminal);
    run.assert_absent(&[marker]);
    assert!(
        run.terminal.contains("which is a symbolic link"),
        "{}",
        run.terminal
    );
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap().lines().next(),
        Some(marker)
    );
}

#[test]
fn a_pem_key_missing_one_newline_puts_no_key_byte_in_any_output() {
    need_root!();
    let a = Attacker::new("krc-atk-pem");
    let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    // One newline removed: after the BEGIN line (a PEM parser then dumps
    // the whole line as decimal bytes), or before the END line.
    let after_begin = key.replacen("KEY-----\n", "KEY-----", 1);
    let before_end = key.replacen("\n-----END", "-----END", 1);
    for broken in [after_begin, before_end] {
        assert_ne!(broken, key);
        let kc = kubeconfig("https://127.0.0.1:6443", &broken);
        a.kubeconfig(&kc);
        let key_b64 = kc
            .lines()
            .find_map(|l| l.trim().strip_prefix("client-key-data: "))
            .unwrap()
            .to_string();
        let mut secrets: Vec<String> = key
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(|l| l[..l.len().min(24)].to_string())
            .collect();
        for i in (0..key_b64.len().saturating_sub(24)).step_by(24) {
            secrets.push(key_b64[i..i + 24].to_string());
        }
        // The decimal dump of "-----BEGIN" as a PEM parser prints it.
        secrets.push("45, 45, 45".into());
        secrets.push("PRIVATE KEY".into());
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let dir = private_report_dir();
        for check in ["kubeconfig.present", "api.ready"] {
            let run = accept(&a.name, check, dir.path(), &[]);
            assert_eq!(run.code, 1, "{}", run.terminal);
            run.assert_absent(&secrets);
            let line = kc
                .lines()
                .position(|l| l.contains("client-key-data"))
                .unwrap()
                + 1;
            assert!(
                run.terminal.contains(&format!(".kube/k3s.yaml:{line}:"))
                    && run.terminal.contains("PEM is broken"),
                "{check}: no file:line:column reason:\n{}",
                run.terminal
            );
        }
    }
}

#[test]
fn yaml_errors_on_secret_lines_quote_nothing() {
    need_root!();
    let a = Attacker::new("krc-atk-yaml");
    let dir = private_report_dir();
    let cases: &[(&str, &str)] = &[
        (
            "S3CRET-TOKEN-d1",
            "users:\n- name: default\n  user:\n    token: S3CRET-TOKEN-d1: [\n",
        ),
        (
            "S3CRET-KEYDATA-d2",
            "users:\n- name: default\n  user: {client-key-data: \"S3CRET-KEYDATA-d2\n",
        ),
        (
            "S3CRET-IDTOKEN-d3",
            "users:\n- name: default\n  user:\n    auth-provider:\n      config:\n        id-token: S3CRET-IDTOKEN-d3\n       refresh-token: S3CRET-REFRESH-d3\n",
        ),
        (
            "S3CRET-REFRESH-d4",
            "users:\n- name: x\n  user: {refresh-token: S3CRET-REFRESH-d4, ]\n",
        ),
        (
            "S3CRET-PASS-d5",
            "clusters:\n- cluster:\n    server: https://admin:S3CRET-PASS-d5@127.0.0.1:6443\n  name: [default\n",
        ),
        (
            "S3CRET-FOLDED-d6",
            "users:\n- name: default\n  user:\n    token: >\n      S3CRET-FOLDED-d6\n      more\n   bad: [\n",
        ),
    ];
    for (secret, text) in cases {
        a.kubeconfig(text);
        for check in ["kubeconfig.present", "api.ready"] {
            let run = accept(&a.name, check, dir.path(), &[]);
            assert_eq!(run.code, 1, "{secret}: {}", run.terminal);
            // Also the secret's distinctive middle, in case a prefix is cut.
            run.assert_absent(&[secret, &secret[2..12], "admin:"]);
            let has_position = run.terminal.lines().any(|l| {
                l.split(".kube/k3s.yaml:").nth(1).is_some_and(|rest| {
                    let mut p = rest.splitn(3, ':');
                    p.next().is_some_and(|n| n.parse::<u32>().is_ok())
                        && p.next().is_some_and(|n| n.parse::<u32>().is_ok())
                })
            });
            assert!(
                has_position,
                "{check}: no file:line:column for {secret}:\n{}",
                run.terminal
            );
        }
    }
}

#[test]
fn escape_sequences_in_user_files_reach_the_terminal_escaped() {
    need_root!();
    let a = Attacker::new("krc-atk-esc");
    // kubeconfig.env quotes ~/.profile lines that set KUBECONFIG.
    a.sh_with(
        "cat > ~/.profile",
        b"export KUBECONFIG= ~/.kube/k3s.yaml \x1b]0;pwned\x07\x1b[2J\x1b[1A\rFAKE PASS\x9b\n",
    );
    let dir = private_report_dir();
    let run = accept(&a.name, "kubeconfig.env", dir.path(), &[]);
    assert!(
        run.terminal.contains("sets KUBECONFIG empty"),
        "{}",
        run.terminal
    );
    for bad in [0x1bu8, 0x07, b'\r', 0x9b] {
        assert!(
            !run.terminal_bytes.contains(&bad),
            "raw byte {bad:#x} reached the terminal:\n{:?}",
            run.terminal
        );
    }
    assert!(
        run.terminal.contains("\\x1b]0;pwned\\x07\\x1b[2J") && run.terminal.contains("\\r"),
        "{}",
        run.terminal
    );
    // The files stay safe too: JSON escapes, HTML replaces, JUnit strips.
    for (name, text) in &run.reports {
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{name}"
        );
    }
    let json: serde_json::Value = serde_json::from_str(&run.reports[1].1).unwrap();
    assert_eq!(json["schema"], "krc.report/v1");
}
