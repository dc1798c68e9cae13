//! The installer on a directory tree (`--root`): a Debian 12 seed tree,
//! real reqwest against a loopback HTTP server serving krc's stand-in
//! install script and artifacts. Dry-run, apply, idempotent re-apply,
//! checksum mismatch, reboot-required, uninstall, the lock, and fault
//! injection at every step: the tree is compared byte for byte (contents,
//! modes, owners) every time.

#[path = "support/install.rs"]
mod inst;
mod support;

use std::path::Path;
use std::process::Output;

use inst::{Lab, install, seed, serve_artifacts, text, tree, tree_diff, uninstall, write_pins};

const STEPS: usize = 13;

/// `krc install --yes` with `dir` (inside the tree) bind-mounted read-only
/// in a private mount namespace of its own, so the host's mounts are
/// untouched.
fn install_with_read_only(lab: &Lab, dir: &Path) -> Output {
    let script = format!(
        "mount --bind '{0}' '{0}' && mount -o remount,bind,ro '{0}' && exec \"$@\"",
        dir.display()
    );
    let krc = lab.install_command(&["--yes"]);
    std::process::Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
            "sh",
        ])
        .arg(krc.get_program())
        .args(krc.get_args())
        .output()
        .unwrap()
}

#[test]
fn dry_run_changes_nothing_and_shows_files_and_commands() {
    let lab = Lab::new();
    let seen = &lab.seen;
    let before = lab.tree();
    let o = lab.install(&["--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        tree_diff(&before, &lab.tree()),
        "",
        "dry-run changed the tree"
    );
    let out = String::from_utf8_lossy(&o.stdout);
    for want in [
        "[2/13] subids",
        "edit file /etc/subuid",
        "+alice:165536:65536",
        "create file /etc/systemd/system/user@.service.d/delegate.conf",
        "| Delegate=cpu cpuset io memory pids",
        "create file /etc/sysctl.d/90-krc-rootless.conf",
        "run (as root): systemctl daemon-reload",
        "INSTALL_K3S_SKIP_DOWNLOAD=true",
        "| Environment=K3S_ROOTLESS_CIDR=10.41.0.0/16",
        "skipped: the k3s binary is a stand-in",
    ] {
        assert!(out.contains(want), "dry-run lacks {want:?}:\n{out}");
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "dry-run downloaded something"
    );
}

#[test]
fn apply_reapply_uninstall_restore_the_tree() {
    let lab = Lab::new();
    let seen = &lab.seen;
    let log = lab.dir().join("commands.jsonl");
    let junit = lab.dir().join("install.xml");
    let json = lab.dir().join("install.json");
    let before = lab.tree();
    let logs = log.to_str().unwrap();
    let o = lab.install_env(
        &[
            "--yes",
            "--junit",
            junit.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
        &[("KRC_COMMAND_LOG", logs)],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("export KUBECONFIG=~/.kube/k3s.yaml"), "{out}");
    // One lock: a message that locked again would hang a failing test.
    let fetched = seen.lock().unwrap().clone();
    assert_eq!(fetched.len(), 4, "four artifacts fetched: {fetched:?}");

    // What the install wrote, with modes and owners.
    let read = |p: &str| std::fs::read_to_string(lab.root.join(p)).unwrap();
    assert_eq!(read("etc/subuid"), "bob:100000:65536\nalice:165536:65536\n");
    assert_eq!(read("etc/subgid"), "bob:100000:65536\nalice:165536:65536\n");
    assert!(
        read("etc/systemd/system/user@.service.d/delegate.conf")
            .contains("Delegate=cpu cpuset io memory pids")
    );
    assert!(read("etc/sysctl.d/90-krc-rootless.conf").contains("net.ipv4.ip_forward=1"));
    assert!(lab.root.join("var/lib/systemd/linger/alice").is_file());
    // The seed's kernel has the netfilter modules but has not loaded them.
    // Only what the kernel would not load by itself from inside the
    // namespace is listed: overlay loads on first use (observed, issue 17).
    let modules = read("etc/modules-load.d/krc-rootless.conf");
    assert!(
        modules.contains("\nbr_netfilter\n")
            && modules.contains("\nip_tables\n")
            && !modules.contains("\noverlay\n"),
        "{modules}"
    );
    assert_eq!(
        std::fs::read(lab.root.join("usr/local/bin/k3s")).unwrap(),
        std::fs::read(inst::data("standin/k3s")).unwrap()
    );
    let after = lab.tree();
    assert!(
        after["usr/local/bin/k3s"].ends_with(" 755 0:0"),
        "{}",
        after["usr/local/bin/k3s"]
    );
    if support::is_root() {
        let unit = &after["home/alice/.config/systemd/user/k3s-rootless.service"];
        assert!(unit.ends_with(" 644 1000:1000"), "{unit}");
        assert!(after["home/alice/.config"].ends_with(" 1000:1000"));
    }
    assert_eq!(
        std::fs::read_link(
            lab.root
                .join("home/alice/.config/systemd/user/default.target.wants/k3s-rootless.service")
        )
        .unwrap(),
        Path::new("/home/alice/.config/systemd/user/k3s-rootless.service")
    );
    // One journal, root's own: nothing of krc's state in the user's home.
    let journal = lab.root.join("var/lib/krc/1000/journal.json");
    assert!(journal.is_file());
    assert!(after["var/lib/krc/1000/journal.json"].contains(" 600 "));
    assert!(after["var/lib/krc/1000"].contains(" 700 "));
    assert!(!lab.root.join("home/alice/.local/state/krc").exists());
    // Host commands are recorded, not run, under --root.
    let cmds = std::fs::read_to_string(&log).unwrap();
    assert!(
        cmds.contains(r#""argv":["systemctl","daemon-reload"]"#) && cmds.contains(r#""ran":false"#),
        "{cmds}"
    );
    assert!(cmds.contains("INSTALL_K3S_SKIP_ENABLE"), "{cmds}");
    // The install testsuite: one testcase per step, valid for both schemas.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), STEPS, "{xml}");
    assert!(xml.contains("<testsuite name=\"install\""), "{xml}");
    if support::have("xmllint") {
        support::validate_junit(&junit).unwrap();
    } else if support::lab_required() {
        panic!("xmllint is needed to validate the JUnit report");
    }
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(j.to_string().contains("\"k3s-binary\""), "{j}");

    // Second run: every step satisfied, nothing changed.
    let o2 = lab.install(&["--yes"]);
    assert_eq!(o2.status.code(), Some(0), "{}", text(&o2));
    let out2 = String::from_utf8_lossy(&o2.stdout);
    assert!(
        out2.contains("every step is already satisfied; nothing was changed"),
        "{out2}"
    );
    assert_eq!(
        out2.matches(" satisfied ").count(),
        STEPS - 1,
        "all but the skipped wait: {out2}"
    );
    assert_eq!(
        tree_diff(&after, &lab.tree()),
        "",
        "re-apply changed the tree"
    );

    // Uninstall: dry-run first, then for real: byte-identical to the seed.
    let u = lab.uninstall(&["--dry-run"]);
    assert_eq!(u.status.code(), Some(0), "{}", text(&u));
    assert!(
        String::from_utf8_lossy(&u.stdout)
            .contains("restore /etc/subuid from /var/lib/krc/1000/backups/"),
        "{}",
        text(&u)
    );
    assert_eq!(tree_diff(&after, &lab.tree()), "");
    let u = lab.uninstall(&["--yes"]);
    assert_eq!(u.status.code(), Some(0), "{}", text(&u));
    assert_eq!(
        tree_diff(&before, &lab.tree()),
        "",
        "uninstall did not restore the seed"
    );
    let again = lab.uninstall(&["--yes"]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("nothing to undo"),
        "{}",
        text(&again)
    );
}

/// The seed with files krc will replace rather than create: an older k3s
/// (other mode), a sysctl file of the same name, a ~/.config of alice's.
fn seed_with_existing(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let root = seed(dir);
    let k3s = root.join("usr/local/bin/k3s");
    std::fs::write(&k3s, "#!/bin/sh\necho older k3s\n").unwrap();
    std::fs::set_permissions(&k3s, std::fs::Permissions::from_mode(0o700)).unwrap();
    let sysctl = root.join("etc/sysctl.d/90-krc-rootless.conf");
    std::fs::write(&sysctl, "net.ipv4.ip_forward=0\n").unwrap();
    std::fs::set_permissions(&sysctl, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::create_dir_all(root.join("home/alice/.config/systemd")).unwrap();
    if support::is_root() {
        for p in ["home/alice/.config", "home/alice/.config/systemd"] {
            std::os::unix::fs::chown(root.join(p), Some(1000), Some(1000)).unwrap();
        }
    }
    root
}

#[test]
fn fault_at_every_step_restores_the_tree() {
    let d = tempfile::tempdir().unwrap();
    let mut runs = 0;
    for (variant, root) in [
        ("seed", seed(&d.path().join("a"))),
        (
            "seed with files to replace",
            seed_with_existing(&d.path().join("b")),
        ),
    ] {
        runs += fault_at_every_step(d.path(), &root, variant);
    }
    eprintln!(
        "fault injection: {STEPS} steps x 2 trees = {runs} runs, every one restored byte-identical (contents, modes, owners)"
    );
    assert_eq!(runs, 2 * STEPS);
}

fn fault_at_every_step(d: &Path, root: &Path, variant: &str) -> usize {
    let root = root.to_path_buf();
    let pins = write_pins(d, None);
    let (url, _) = serve_artifacts();
    let before = tree(&root);
    let mut restored = 0;
    let junit = d.join(format!("fault-{}.xml", variant.len()));
    for k in 1..=STEPS {
        let ks = k.to_string();
        let o = install(
            &root,
            &url,
            &pins,
            &["--yes", "--junit", junit.to_str().unwrap()],
            &[("KRC_FAULT_STEP", &ks)],
        );
        assert_eq!(o.status.code(), Some(1), "fault at {k}: {}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains(&format!("injected fault at step {k}")),
            "{out}"
        );
        assert!(
            out.contains("every change this run made was undone"),
            "{out}"
        );
        assert_eq!(
            tree_diff(&before, &tree(&root)),
            "",
            "{variant}: fault at step {k} left the tree changed:\n{out}"
        );
        restored += 1;
        // The report names the failed step and the undone ones.
        let xml = std::fs::read_to_string(&junit).unwrap();
        assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
        if k == STEPS {
            assert!(
                xml.contains(&format!("undone: step {STEPS} failed")),
                "{xml}"
            );
            if support::have("xmllint") {
                support::validate_junit(&junit).unwrap();
            }
        }
    }
    // And without a fault the same tree installs and uninstalls cleanly.
    let o = install(&root, &url, &pins, &["--yes"], &[]);
    assert_eq!(o.status.code(), Some(0), "{variant}: {}", text(&o));
    let u = uninstall(&root, &["--yes"]);
    assert_eq!(u.status.code(), Some(0), "{variant}: {}", text(&u));
    assert_eq!(tree_diff(&before, &tree(&root)), "", "{variant}: uninstall");
    restored
}

/// A journal krc cannot parse stops the uninstall (exit status 1) with
/// one line naming it and the parser's error as its cause.
#[test]
fn a_malformed_journal_is_named_with_its_cause() {
    let d = tempfile::tempdir().unwrap();
    let root = seed(d.path());
    let dir = root.join("var/lib/krc/1000");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("journal.json"), "{").unwrap();
    let before = tree(&root);
    let o = uninstall(&root, &["--yes"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err.lines().collect::<Vec<_>>(),
        [
            format!(
                "krc: error: {}: not a krc journal; move it away only if you know krc did not write it",
                std::fs::canonicalize(&dir)
                    .unwrap()
                    .join("journal.json")
                    .display()
            ),
            "  caused by: EOF while parsing an object at line 1 column 1".to_string(),
        ],
        "{}",
        text(&o)
    );
    assert_eq!(tree_diff(&before, &tree(&root)), "");
}

#[test]
fn checksum_mismatch_writes_nothing() {
    let lab = Lab::with_k3s_pin(&"ab".repeat(32));
    let before = lab.tree();
    let o = lab.install(&["--yes"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("does not match the pinned") && err.contains("nothing was written"),
        "{}",
        text(&o)
    );
    assert_eq!(tree_diff(&before, &lab.tree()), "");
}

#[test]
fn reboot_required_then_continue() {
    let lab = Lab::new();
    let unified = make_hybrid(&lab.root);
    let before = lab.tree();
    let o = lab.install(&["--yes"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("reboot required") && out.contains("krc install"),
        "{out}"
    );
    // /etc/default/grub is never edited: a drop-in of krc's own is.
    assert_eq!(
        lab.tree()["etc/default/grub"],
        before["etc/default/grub"],
        "krc edited /etc/default/grub"
    );
    let drop_in =
        std::fs::read_to_string(lab.root.join("etc/default/grub.d/99-krc-cgroup2.cfg")).unwrap();
    assert!(
        drop_in.contains("systemd.unified_cgroup_hierarchy=1"),
        "{drop_in}"
    );
    // Without the reboot: still exit 3, nothing more changed.
    let mid = lab.tree();
    let o = lab.install(&["--yes"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert_eq!(tree_diff(&mid, &lab.tree()), "");
    // "Reboot": the kernel now runs pure cgroup v2 with the flag.
    std::fs::write(lab.root.join("proc/self/mountinfo"), &unified).unwrap();
    let cmdline = std::fs::read_to_string(lab.root.join("proc/cmdline")).unwrap();
    std::fs::write(
        lab.root.join("proc/cmdline"),
        format!("{} systemd.unified_cgroup_hierarchy=1\n", cmdline.trim()),
    )
    .unwrap();
    let o = lab.install(&["--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("subids            satisfied") && out.contains("delegation        applied"),
        "{out}"
    );
    // Uninstall restores grub as well; the "rebooted" kernel facts stay.
    let u = lab.uninstall(&["--yes"]);
    assert_eq!(u.status.code(), Some(0), "{}", text(&u));
    let mut expect = before.clone();
    for f in ["proc/self/mountinfo", "proc/cmdline"] {
        expect.insert(f.into(), lab.tree()[f].clone());
    }
    assert_eq!(tree_diff(&expect, &lab.tree()), "");
}

#[test]
fn bad_flags_are_one_line_usage_errors_before_anything() {
    let d = tempfile::tempdir().unwrap();
    let root = seed(d.path());
    let pins = write_pins(d.path(), None);
    let before = tree(&root);
    for (flags, want) in [
        (vec!["--cidr", "10.41.0.1/16"], "host bits"),
        (vec!["--mtu", "70000"], "576 to 65520"),
        (vec!["--mtu", "500"], "576 to 65520"),
        (vec!["--port-driver", "pasta"], "builtin or slirp4netns"),
        (vec!["--disable-host-loopback", "maybe"], "true or false"),
    ] {
        let o = install(&root, "http://127.0.0.1:9", &pins, &flags, &[]);
        assert_eq!(o.status.code(), Some(2), "{flags:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{flags:?}: {err}");
        assert!(err.contains(want), "{flags:?}: {err}");
    }
    let o = support::krc()
        .args([
            "install",
            "--yes",
            "--user",
            "alice",
            "--k3s-commit",
            &"a".repeat(40),
            "--root",
        ])
        .arg(&root)
        .env_remove("GITHUB_TOKEN")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("GITHUB_TOKEN"),
        "{}",
        text(&o)
    );
    assert_eq!(tree_diff(&before, &tree(&root)), "");
}

#[test]
fn a_second_install_does_not_interleave() {
    use std::os::fd::AsRawFd;
    let lab = Lab::new();
    let before = lab.tree();
    let held = std::fs::File::open(&lab.root).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(
        unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    let o = lab.install(&["--yes"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("another krc install or uninstall is running"),
        "{}",
        text(&o)
    );
    assert_eq!(tree_diff(&before, &lab.tree()), "");
    drop(held);
}

#[test]
fn preflight_failure_no_step_fixes_refuses_unless_forced() {
    let lab = Lab::new();
    std::fs::write(
        lab.root.join("proc/sys/kernel/osrelease"),
        "3.10.0-1160.el7.x86_64\n",
    )
    .unwrap();
    let before = lab.tree();
    // The dry run says first that the real run would refuse, and fails.
    let o = lab.install(&["--dry-run"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.lines()
            .next()
            .is_some_and(|l| l.contains("the real run would refuse")),
        "{out}"
    );
    let junit = lab.dir().join("refused.xml");
    let o = lab.install(&["--yes", "--junit", junit.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("refusing") && out.contains("kernel.version"),
        "{out}"
    );
    assert_eq!(tree_diff(&before, &lab.tree()), "");
    // The refusal is in the install testsuite: the blocking check failed,
    // every step not run with the reason.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("name=\"kernel.version\"") && xml.contains("blocks the install"),
        "{xml}"
    );
    assert_eq!(xml.matches("<testcase ").count(), STEPS + 1, "{xml}");
    assert!(xml.contains("the install refused"), "{xml}");
    if support::have("xmllint") {
        support::validate_junit(&junit).unwrap();
    }
    let o = lab.install(&["--yes", "--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// A real SIGTERM while the install runs (a CI job timeout): krc finishes
/// the action in progress, stops, undoes this run, writes its report and
/// exits 143. `KRC_PAUSE_AT_STEP` (a debug-build test hook) holds the run
/// after step k so the signal lands mid-install.
#[test]
fn a_signal_mid_install_rolls_back_and_still_reports() {
    let lab = Lab::new();
    let before = lab.tree();
    let junit = lab.dir().join("interrupted.xml");
    let mut c = lab.install_command(&["--yes", "--junit", junit.to_str().unwrap()]);
    c.env("KRC_PAUSE_AT_STEP", "5")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert!(n > 0, "krc ended before the pause: {seen}");
        seen.push_str(&line);
        if line.contains("paused after step 5") {
            break;
        }
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = child.wait().unwrap();
    let all = format!("{seen}{rest}");
    assert_eq!(status.code(), Some(143), "{all}");
    assert!(all.contains("interrupted by SIGTERM"), "{all}");
    assert!(
        all.contains("every change this run made was undone"),
        "{all}"
    );
    assert_eq!(tree_diff(&before, &lab.tree()), "", "{all}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("interrupted by SIGTERM"), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), STEPS, "{xml}");
}

#[test]
fn downloads_are_retried() {
    let d = tempfile::tempdir().unwrap();
    let root = seed(d.path());
    let pins = write_pins(d.path(), None);
    let (url, seen) = inst::serve_artifacts_flaky(2);
    let o = install(&root, &url, &pins, &["--yes"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let fetched = seen.lock().unwrap().clone();
    assert_eq!(
        fetched.len(),
        6,
        "two 503s, then four artifacts: {fetched:?}"
    );
}

#[test]
fn the_user_unit_is_never_for_root() {
    let d = tempfile::tempdir().unwrap();
    let root = seed(d.path());
    let pins = write_pins(d.path(), None);
    let before = tree(&root);
    let o = support::krc()
        .args(["install", "--yes", "--user", "root", "--pins"])
        .arg(&pins)
        .arg("--root")
        .arg(&root)
        .output()
        .unwrap();
    // A usage error (exit 2), as on every command (tests/exit_codes.rs).
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not root"),
        "{}",
        text(&o)
    );
    assert_eq!(tree_diff(&before, &tree(&root)), "");
}

#[test]
fn downloads_over_tls_trust_only_what_the_system_trusts() {
    let d = tempfile::tempdir().unwrap();
    let root = seed(d.path());
    let pins = write_pins(d.path(), None);
    let (ca, cert, key) = inst::test_pki();
    let url = inst::serve_artifacts_tls(&cert, &key);
    let before = tree(&root);
    // Trusting another CA only: the handshake fails, nothing is written.
    let other = d.path().join("other-ca.pem");
    std::fs::write(&other, inst::test_pki().0).unwrap();
    let o = install(
        &root,
        &url,
        &pins,
        &["--yes"],
        &[("SSL_CERT_FILE", other.to_str().unwrap())],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("failed to download") && err.contains("certificate"),
        "{}",
        text(&o)
    );
    assert_eq!(tree_diff(&before, &tree(&root)), "");
    // The test CA as the trust store (SSL_CERT_FILE, as OpenSSL reads it).
    let ca_file = d.path().join("ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    let o = install(
        &root,
        &url,
        &pins,
        &["--yes"],
        &[("SSL_CERT_FILE", ca_file.to_str().unwrap())],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(root.join("usr/local/bin/k3s").is_file());
}

#[test]
fn changed_settings_touch_only_the_drop_in_and_uninstall_undoes_both_runs() {
    let lab = Lab::new();
    let before = lab.tree();
    let o = lab.install(&["--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = lab.install(&["--yes", "--mtu", "9000", "--port-driver", "builtin"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.matches(" applied ").count(), 1, "only user-unit: {out}");
    assert!(out.contains("user-unit         applied"), "{out}");
    let dropin = std::fs::read_to_string(
        lab.root
            .join("home/alice/.config/systemd/user/k3s-rootless.service.d/krc.conf"),
    )
    .unwrap();
    assert!(
        dropin.contains("K3S_ROOTLESS_MTU=9000")
            && dropin.contains("K3S_ROOTLESS_PORT_DRIVER=builtin"),
        "{dropin}"
    );
    let u = lab.uninstall(&["--yes"]);
    assert_eq!(u.status.code(), Some(0), "{}", text(&u));
    assert_eq!(tree_diff(&before, &lab.tree()), "");
}

/// A link the install script made earlier (`kubectl -> k3s`) sits where
/// the script may write: krc skips it rather than refusing the install,
/// and uninstall leaves it as it was.
#[test]
fn links_the_install_script_made_do_not_block_a_reinstall() {
    let lab = Lab::with(|root| {
        std::os::unix::fs::symlink("k3s", root.join("usr/local/bin/kubectl")).unwrap();
    });
    let before = lab.tree();
    let o = lab.install(&["--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let u = lab.uninstall(&["--yes"]);
    assert_eq!(u.status.code(), Some(0), "{}", text(&u));
    assert_eq!(tree_diff(&before, &lab.tree()), "");
}

/// What GRUB's generator will put on the kernel line: `/etc/default/grub`
/// and then the drop-ins, sourced by a real shell as update-grub does.
fn generated_cmdline(root: &Path) -> String {
    let script = format!(
        ". '{0}/etc/default/grub'; for f in '{0}'/etc/default/grub.d/*.cfg; do if [ -e \"$f\" ]; then . \"$f\"; fi; done; printf '%s %s' \"$GRUB_CMDLINE_LINUX\" \"$GRUB_CMDLINE_LINUX_DEFAULT\"",
        root.display()
    );
    let o = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The grub defaults real hosts have: a trailing comment, two
/// `GRUB_CMDLINE_LINUX=` lines, `export`, `=0` in `_DEFAULT`, inner quotes,
/// a line continuation, `$` in single quotes, a non-UTF-8 byte, CRLF. krc
/// keeps the file byte for byte, and the generated kernel line still ends
/// with the flag (systemd takes the last occurrence).
#[test]
fn awkward_grub_defaults_are_kept_byte_for_byte_and_the_flag_wins() {
    let lab = Lab::new();
    make_hybrid(&lab.root);
    let mut grub: Vec<u8> = Vec::new();
    grub.extend_from_slice(b"GRUB_DEFAULT=0 # the first entry\r\n");
    grub.extend_from_slice(b"GRUB_CMDLINE_LINUX=\"console=ttyS0\"   # serial\n");
    grub.extend_from_slice(
        b"export GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX net.ifnames=0 \\\n  acpi=\\\"on\\\"\"\n",
    );
    grub.extend_from_slice(
        b"GRUB_CMDLINE_LINUX_DEFAULT='quiet systemd.unified_cgroup_hierarchy=0 x=$notavar'\n",
    );
    grub.extend_from_slice(b"GRUB_DISTRIBUTOR=\"D\xe9bian\"\n");
    std::fs::write(lab.root.join("etc/default/grub"), &grub).unwrap();
    let before = generated_cmdline(&lab.root);
    assert!(before.contains("unified_cgroup_hierarchy=0"), "{before}");
    let o = lab.install(&["--yes"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert_eq!(
        std::fs::read(lab.root.join("etc/default/grub")).unwrap(),
        grub
    );
    let after = generated_cmdline(&lab.root);
    let last = after
        .split_whitespace()
        .rfind(|a| a.starts_with("systemd.unified_cgroup_hierarchy="));
    assert_eq!(last, Some("systemd.unified_cgroup_hierarchy=1"), "{after}");
    assert!(
        after.contains("console=ttyS0") && after.contains("acpi=\"on\""),
        "{after}"
    );
    // Uninstall removes the drop-in; the defaults are as they were.
    let u = lab.uninstall(&["--yes"]);
    assert_eq!(u.status.code(), Some(0), "{}", text(&u));
    assert_eq!(generated_cmdline(&lab.root), before);
    assert!(!lab.root.join("etc/default/grub.d").exists());
}

/// IPv6 forwarding is an explicit opt-in: by default krc's sysctl file
/// sets IPv4 forwarding only; `--ipv6-forwarding` adds the IPv6 key (the
/// sysctl step alone changes), and uninstall undoes both runs.
#[test]
fn ipv6_forwarding_is_opt_in() {
    let lab = Lab::new();
    let before = lab.tree();
    let o = lab.install(&["--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let file = lab.root.join("etc/sysctl.d/90-krc-rootless.conf");
    let t = std::fs::read_to_string(&file).unwrap();
    assert!(
        t.contains("net.ipv4.ip_forward=1") && !t.contains("net.ipv6"),
        "{t}"
    );
    let o = lab.install(&["--yes", "--ipv6-forwarding"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("sysctl            applied") && out.matches(" applied ").count() == 1,
        "{out}"
    );
    let t = std::fs::read_to_string(&file).unwrap();
    assert!(t.contains("net.ipv6.conf.all.forwarding=1"), "{t}");
    let u = lab.uninstall(&["--yes"]);
    assert_eq!(u.status.code(), Some(0), "{}", text(&u));
    assert_eq!(tree_diff(&before, &lab.tree()), "");
}

/// A proxied host: the drop-in carries the proxy from /etc/environment,
/// with the rootless, pod and service networks in NO_PROXY; the plan
/// shows it without the proxy's password.
#[test]
fn the_hosts_proxy_reaches_the_drop_in_without_showing_its_password() {
    let lab = Lab::with(|root| {
        std::fs::write(
            root.join("etc/environment"),
            "PATH=\"/usr/bin\"\nhttps_proxy=\"http://ops:Pr0xyPass@proxy.corp:3128\"\nexport NO_PROXY=corp.local\n",
        )
        .unwrap();
    });
    let dry = lab.install(&["--dry-run"]);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    assert!(
        !text(&dry).contains("Pr0xyPass") && text(&dry).contains("HTTPS_PROXY="),
        "{}",
        text(&dry)
    );
    let o = lab.install(&["--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("Pr0xyPass"), "{}", text(&o));
    let drop_in = std::fs::read_to_string(
        lab.root
            .join("home/alice/.config/systemd/user/k3s-rootless.service.d/krc.conf"),
    )
    .unwrap();
    assert!(
        drop_in.contains("Environment=\"HTTPS_PROXY=http://ops:Pr0xyPass@proxy.corp:3128\"")
            && drop_in.contains(
                "Environment=\"NO_PROXY=corp.local,127.0.0.1,localhost,::1,10.41.0.0/16,10.42.0.0/16,10.43.0.0/16,.svc,.cluster.local\""
            ),
        "{drop_in}"
    );
}

/// A hybrid host whose boot loader krc cannot configure (no grub defaults,
/// no grubby): the cgroup-v2 step cannot apply, so `cgroup.unified` blocks
/// the install up front (with the manual fix), in the dry run too.
#[test]
fn a_step_that_cannot_apply_blocks_up_front() {
    let lab = Lab::new();
    make_hybrid(&lab.root);
    std::fs::remove_file(lab.root.join("etc/default/grub")).unwrap();
    let before = lab.tree();
    let dry = lab.install(&["--dry-run"]);
    assert_eq!(dry.status.code(), Some(1), "{}", text(&dry));
    assert!(text(&dry).contains("cgroup.unified"), "{}", text(&dry));
    let o = lab.install(&["--yes"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("refusing before any change") && out.contains("cgroup.unified"),
        "{out}"
    );
    assert!(!out.contains("[ 1/"), "no step ran: {out}");
    assert_eq!(tree_diff(&before, &lab.tree()), "");
}

/// Turns the seed's pure cgroup v2 mounts into a hybrid layout (the v2
/// tree at /sys/fs/cgroup/unified, cpuset bound to v1); returns the
/// original mountinfo, for a "reboot".
fn make_hybrid(root: &Path) -> String {
    let unified = std::fs::read_to_string(root.join("proc/self/mountinfo")).unwrap();
    let hybrid: String = unified
        .lines()
        .map(|l| {
            if l.contains(" - cgroup2 ") {
                l.replace("/sys/fs/cgroup", "/sys/fs/cgroup/unified")
            } else {
                l.to_string()
            }
        })
        .chain([
            "40 25 0:37 / /sys/fs/cgroup rw,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755".to_string(),
            "41 40 0:38 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpuset".to_string(),
        ])
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    std::fs::write(root.join("proc/self/mountinfo"), hybrid).unwrap();
    unified
}

/// A write that fails (a read-only /etc here, in a private mount
/// namespace) changed nothing: the rollback says so, names no file as
/// "changed since krc edited it", and leaves no backup or journal behind.
#[test]
fn a_failed_write_leaves_no_entry_and_no_backup() {
    if !support::is_root() || !support::have("unshare") {
        lab_skip!("needs root and unshare(1) for a read-only bind mount");
    }
    let lab = Lab::new();
    let before = lab.tree();
    let etc = lab.root.join("etc");
    let o = install_with_read_only(&lab, &etc);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(!out.contains("changed since"), "{out}");
    assert!(
        out.contains("every change this run made was undone"),
        "{out}"
    );
    assert!(!lab.root.join("var/lib/krc").exists(), "state left behind");
    assert_eq!(tree_diff(&before, &lab.tree()), "");
}

/// Ubuntu 24.04's AppArmor restriction: krc writes a profile for the k3s
/// binary that grants `userns` (and would load it with apparmor_parser),
/// a second run finds it, and uninstall removes it.
#[test]
fn an_apparmor_profile_for_k3s_where_userns_is_restricted() {
    let lab = Lab::with(|root| {
        std::fs::write(
            root.join("proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
            "1\n",
        )
        .unwrap();
    });
    let before = lab.tree();
    let log = lab.dir().join("commands.jsonl");
    let o = lab.install_env(&["--yes"], &[("KRC_COMMAND_LOG", log.to_str().unwrap())]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("apparmor-profile  applied"),
        "{}",
        text(&o)
    );
    let profile = std::fs::read_to_string(lab.root.join("etc/apparmor.d/krc-k3s")).unwrap();
    assert!(
        profile.contains("profile k3s /usr/local/bin/k3s flags=(default_allow)")
            && profile.contains("  userns,"),
        "{profile}"
    );
    let cmds = std::fs::read_to_string(&log).unwrap();
    assert!(
        cmds.contains(r#"["apparmor_parser","-r","/etc/apparmor.d/krc-k3s"]"#),
        "{cmds}"
    );
    let again = lab.install(&["--yes"]);
    assert!(
        text(&again).contains("apparmor-profile  satisfied"),
        "{}",
        text(&again)
    );
    let u = lab.uninstall(&["--yes"]);
    assert_eq!(u.status.code(), Some(0), "{}", text(&u));
    assert_eq!(tree_diff(&before, &lab.tree()), "");
}

/// Report paths are checked before anything runs: a missing directory or
/// `-` (which would mix with the progress lines) is a one-line exit 2,
/// and the tree is untouched.
#[test]
fn install_report_paths_are_checked_first() {
    let lab = Lab::new();
    let seen = &lab.seen;
    let before = lab.tree();
    for bad in [
        vec!["--junit", "/nonexistent/dir/r.xml"],
        vec!["--json", "-"],
    ] {
        let mut args = vec!["--yes"];
        args.extend(bad.iter().copied());
        let o = lab.install(&args);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", text(&o));
        assert_eq!(
            String::from_utf8_lossy(&o.stderr).trim().lines().count(),
            1,
            "{}",
            text(&o)
        );
        assert!(o.stdout.is_empty(), "{}", text(&o));
    }
    assert_eq!(tree_diff(&before, &lab.tree()), "");
    assert!(seen.lock().unwrap().is_empty(), "nothing was downloaded");
}

/// A read-only /usr/local with an /opt/bin (Flatcar, some immutable
/// images): k3s goes to /opt/bin, as upstream's install.sh does there, and
/// the unit starts it from there.
#[test]
fn a_read_only_usr_local_puts_k3s_in_opt_bin() {
    if !support::is_root() || !support::have("unshare") {
        lab_skip!("needs root and unshare(1) for a read-only bind mount");
    }
    let lab = Lab::with(|root| {
        std::fs::create_dir_all(root.join("opt/bin")).unwrap();
        // Issue 17: with AppArmor's restriction on, the profile must name
        // the binary's final place, not /usr/local/bin/k3s.
        std::fs::write(
            root.join("proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
            "1\n",
        )
        .unwrap();
    });
    let local = lab.root.join("usr/local");
    let o = install_with_read_only(&lab, &local);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(lab.root.join("opt/bin/k3s").is_file());
    let profile = std::fs::read_to_string(lab.root.join("etc/apparmor.d/krc-k3s")).unwrap();
    assert!(
        profile.contains("profile k3s /opt/bin/k3s flags=(default_allow)"),
        "{profile}"
    );
    assert!(!lab.root.join("usr/local/bin/k3s").exists());
    let unit = std::fs::read_to_string(
        lab.root
            .join("home/alice/.config/systemd/user/k3s-rootless.service"),
    )
    .unwrap();
    assert!(
        unit.contains("ExecStart=/opt/bin/k3s server --rootless"),
        "{unit}"
    );
}

/// A VPN on 10.41.0.0/16, the default rootless network. k3s runs there
/// (upstream rejects a CIDR only for host bits; pods just cannot reach the
/// VPN), so `net.cidr` warns and does not block the install; its remedy
/// names a network this host does not route, and with that `--cidr` the
/// install and preflight judge the network the install will use.
#[test]
fn the_gate_judges_the_network_the_install_will_use() {
    let lab = Lab::new();
    let route = |dest_hex: &str| {
        let f = lab.root.join("proc/net/route");
        let mut t = std::fs::read_to_string(&f).unwrap();
        t.push_str(&format!(
            "wg0\t{dest_hex}\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
        ));
        std::fs::write(f, t).unwrap();
    };
    route("0000290A"); // 10.41.0.0/16
    // A dry run with these flags: its exit status and stdout.
    let dry_run = |extra: &[&str]| {
        let o = lab.install(&[&["--dry-run"], extra].concat());
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    let (code, out) = dry_run(&[]);
    assert_eq!(
        code,
        Some(0),
        "a route in the rootless network blocked: {out}"
    );
    assert!(!out.contains("net.cidr"), "{out}");
    let (code, out) = dry_run(&["--cidr", "10.141.0.0/16"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("K3S_ROOTLESS_CIDR=10.141.0.0/16"), "{out}");

    // The same flag, the same verdict, in preflight.
    let json = lab.dir().join("pre.json");
    let preflight = |extra: &[&str]| {
        let o = support::krc()
            .args(["preflight", "-q", "--user", "alice", "--root"])
            .arg(&lab.root)
            .arg("--json")
            .arg(&json)
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.code().is_some(), "{}", text(&o));
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        v["phases"][0]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "net.cidr")
            .unwrap()
            .clone()
    };
    let c = preflight(&[]);
    assert_eq!(c["status"], "warn", "{c}");
    assert!(
        c.to_string().contains("krc install --cidr 10.141.0.0/16"),
        "{c}"
    );
    assert_eq!(preflight(&["--cidr", "10.141.0.0/16"])["status"], "pass");

    // When the usual alternative is taken too, the remedy names a free one.
    route("00008D0A"); // 10.141.0.0/16
    let c = preflight(&["--cidr", "10.141.0.0/16"]);
    assert_eq!(c["status"], "warn", "{c}");
    assert!(
        c.to_string().contains("krc install --cidr 10.241.0.0/16"),
        "{c}"
    );
    assert_eq!(preflight(&["--cidr", "10.241.0.0/16"])["status"], "pass");
    let (code, out) = dry_run(&["--cidr", "10.241.0.0/16"]);
    assert_eq!(code, Some(0), "{out}");
}

/// A pure cgroup v2 host with a v1 hierarchy beside it (a VPN client's
/// net_cls): k3s calls it unified, so the install plans no grub change
/// and finishes; before, it asked for the flag and a reboot on every run.
#[test]
fn a_v1_hierarchy_beside_cgroup_v2_plans_no_boot_change() {
    let lab = Lab::new();
    let mountinfo = lab.root.join("proc/self/mountinfo");
    let mut m = std::fs::read_to_string(&mountinfo).unwrap();
    m.push_str("88 30 0:52 / /sys/fs/cgroup/net_cls rw,relatime - cgroup net_cls rw,net_cls\n");
    std::fs::write(&mountinfo, m).unwrap();
    let o = lab.install(&["--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("cgroup-v2         satisfied"), "{out}");
    assert!(
        !lab.root
            .join("etc/default/grub.d/99-krc-cgroup2.cfg")
            .exists(),
        "a grub drop-in was written on a cgroup v2 host"
    );
}

/// The running kernel already has the flag and v1 is still mounted (or
/// /sys/fs/cgroup is cgroup2 but a v1 hierarchy holds cpuset): another
/// grub change and reboot would change nothing. The run refuses up front
/// naming what still binds v1, in the dry run too, and writes nothing.
#[test]
fn no_boot_change_when_it_cannot_help() {
    // Hybrid although the running kernel was booted with the flag.
    let lab = Lab::new();
    make_hybrid(&lab.root);
    let cmdline = std::fs::read_to_string(lab.root.join("proc/cmdline")).unwrap();
    std::fs::write(
        lab.root.join("proc/cmdline"),
        format!("{} systemd.unified_cgroup_hierarchy=1\n", cmdline.trim()),
    )
    .unwrap();
    let before = lab.tree();
    let dry = lab.install(&["--dry-run"]);
    assert_eq!(dry.status.code(), Some(1), "{}", text(&dry));
    let out = text(&dry);
    assert!(
        out.contains("cgroup.unified") && out.contains("/sys/fs/cgroup/cpuset (cpuset)"),
        "{out}"
    );
    assert!(!out.contains("update-grub"), "planned a grub change: {out}");
    let o = lab.install(&["--yes"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("refusing before any change"),
        "{}",
        text(&o)
    );
    assert_eq!(tree_diff(&before, &lab.tree()), "");

    // cgroup v2 at /sys/fs/cgroup, cpuset held by a v1 hierarchy beside it.
    let lab = Lab::new();
    let mountinfo = lab.root.join("proc/self/mountinfo");
    let mut m = std::fs::read_to_string(&mountinfo).unwrap();
    m.push_str("88 30 0:52 / /run/cs rw,relatime - cgroup cgroup rw,cpuset\n");
    std::fs::write(&mountinfo, m).unwrap();
    let before = lab.tree();
    let dry = lab.install(&["--dry-run"]);
    assert_eq!(dry.status.code(), Some(1), "{}", text(&dry));
    let out = text(&dry);
    assert!(
        out.contains("cgroup.unified") && out.contains("sudo umount /run/cs"),
        "{out}"
    );
    assert!(!out.contains("update-grub"), "planned a grub change: {out}");
    assert_eq!(tree_diff(&before, &lab.tree()), "");
}

/// Issue 17: a needed step that cannot apply here (the packages step on a
/// host with neither apt-get nor dnf) made the dry run say "N of 13 steps
/// would change this host" and exit 0, while the real run failed at the
/// first step. Now the dry run says the run would fail at that step and
/// exits 1, and the real run refuses before any change, `--force` or not.
#[test]
fn a_dry_run_predicts_a_step_that_cannot_apply() {
    let lab = Lab::new();
    std::fs::remove_file(lab.root.join("usr/lib/systemd/user/dbus.socket")).unwrap();
    for pm in ["usr/bin/apt-get", "usr/bin/dnf"] {
        assert!(!lab.root.join(pm).exists(), "the seed has {pm}");
    }
    let before = lab.tree();
    let dry = lab.install(&["--dry-run"]);
    assert_eq!(dry.status.code(), Some(1), "{}", text(&dry));
    let out = text(&dry);
    assert!(
        out.contains("step 1/13 packages cannot apply on this host: neither apt-get nor dnf")
            && out.contains("dbus-user-session"),
        "{out}"
    );
    for extra in [&["--yes"][..], &["--yes", "--force"][..]] {
        let o = lab.install(extra);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let out = text(&o);
        assert!(
            out.contains("refusing before any change") && out.contains("packages cannot apply"),
            "{out}"
        );
        assert!(!out.contains("[ 1/"), "a step ran: {out}");
    }
    assert_eq!(tree_diff(&before, &lab.tree()), "");
}
