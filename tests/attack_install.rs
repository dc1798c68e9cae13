//! The installer against a hostile target user. Each test plants, as a
//! real unprivileged user (`krc-attacker`, with `runuser`), what that user
//! can plant in their own home, then runs `krc install` / `krc uninstall`
//! as root on a `--root` tree whose user `alice` is that real uid, and
//! asserts that nothing outside the user's rights changed, that no
//! root-only byte reached the user or the output, and that krc said why
//! it refused. The attacks are those of issue 8 (journal, links, homes).

#[path = "support/install.rs"]
mod inst;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Output;

use inst::{VERSION, give_alice_to, grep_tree, seed, serve_artifacts, tree, tree_diff, write_pins};

const ATTACKER: &str = "krc-attacker";
/// A root-only file in the tree; its content must never leave it.
const SECRET: &str = "root:$6$KRC-ROOT-ONLY-SECRET$:19000:0:99999:7:::\n";

struct Lab {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    root: PathBuf,
    pins: PathBuf,
    url: String,
    uid: u32,
    gid: u32,
}

impl Lab {
    /// A seed tree whose `alice` is the real uid of `krc-attacker`, with a
    /// root-only `/etc/shadow`; None when this process cannot act as
    /// another user.
    fn new() -> Option<Lab> {
        if !support::is_root() || !support::have("runuser") {
            return None;
        }
        let (uid, gid, _) = support::ensure_user(ATTACKER).unwrap();
        let d = tempfile::tempdir().unwrap();
        // The attacker must reach their home inside the tree.
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let root = seed(d.path());
        give_alice_to(&root, uid, gid);
        let shadow = root.join("etc/shadow");
        std::fs::write(&shadow, SECRET).unwrap();
        std::fs::set_permissions(&shadow, std::fs::Permissions::from_mode(0o600)).unwrap();
        let pins = write_pins(d.path(), None);
        let (url, _) = serve_artifacts();
        Some(Lab {
            dir: d.path().to_path_buf(),
            _dir: d,
            root,
            pins,
            url,
            uid,
            gid,
        })
    }

    fn home(&self) -> PathBuf {
        self.root.join("home/alice")
    }

    /// Runs a command as the attacker; it must succeed.
    fn plant(&self, argv: &[&str]) {
        let o = std::process::Command::new("runuser")
            .args(["-u", ATTACKER, "--"])
            .args(argv)
            .output()
            .unwrap();
        assert!(o.status.success(), "as {ATTACKER}: {argv:?}: {}", text(&o));
    }

    fn install(&self, extra: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = support::krc();
        c.args([
            "install",
            "--user",
            "alice",
            "--yes",
            "--k3s-version",
            VERSION,
            "--mirror",
            &self.url,
        ])
        .arg("--pins")
        .arg(&self.pins)
        .arg("--root")
        .arg(&self.root)
        .args(extra)
        .env_remove("KRC_FAULT_STEP")
        .env_remove("GITHUB_TOKEN");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn uninstall(&self) -> Output {
        support::krc()
            .args(["uninstall", "--user", "alice", "--yes", "--root"])
            .arg(&self.root)
            .output()
            .unwrap()
    }

    /// The root-only file is as it was, and no byte of it is anywhere the
    /// attacker can read or in what krc printed.
    fn assert_secret_kept(&self, outputs: &[&Output]) {
        let shadow = self.root.join("etc/shadow");
        let m = std::fs::symlink_metadata(&shadow).unwrap();
        assert!(m.file_type().is_file());
        assert_eq!(m.permissions().mode() & 0o7777, 0o600);
        assert_eq!(std::fs::read_to_string(&shadow).unwrap(), SECRET);
        for o in outputs {
            assert!(!text(o).contains("KRC-ROOT-ONLY-SECRET"), "{}", text(o));
        }
        let found = grep_tree(&self.home(), "KRC-ROOT-ONLY-SECRET");
        assert!(
            found.is_empty(),
            "root-only bytes reached the user: {found:?}"
        );
    }
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

macro_rules! lab_or_skip {
    () => {
        match Lab::new() {
            Some(l) => l,
            None => lab_skip!("needs root and runuser to act as an unprivileged user"),
        }
    };
}

/// Attack 1: a journal planted where earlier krc kept the user's part,
/// with entries that would run a shell, overwrite /etc/shadow, copy it to
/// the user, and wrap the sequence number. Neither a failed install's
/// rollback nor uninstall may read it.
#[test]
fn a_planted_user_journal_is_never_read() {
    let lab = lab_or_skip!();
    let home = lab.home();
    let pwned = lab.dir.join("pwned");
    let planted = serde_json::json!({
        "version": 1,
        "created_dirs": [],
        "entries": [
            {"seq": 18446744073709551615u64, "step": "packages", "change": {"kind": "ran",
              "cmd": {"who": "root", "argv": ["sh", "-c", format!("touch {}", pwned.display())], "env": []},
              "undo": {"who": "root", "argv": ["sh", "-c", format!("touch {}", pwned.display())], "env": []}}},
            {"seq": 2, "step": "subids", "change": {"kind": "replaced-file", "path": "/etc/shadow",
              "sha256": "x", "backup": "/home/alice/evil", "meta": {"mode": 511, "uid": lab.uid, "gid": lab.gid}}},
            {"seq": 3, "step": "subids", "change": {"kind": "watched", "path": "/home/alice/copy",
              "backup": "/etc/shadow", "meta": {"mode": 420, "uid": lab.uid, "gid": lab.gid}}}
        ]
    });
    std::fs::write(lab.dir.join("planted.json"), planted.to_string()).unwrap();
    std::fs::set_permissions(
        lab.dir.join("planted.json"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let state = home.join(".local/state/krc");
    lab.plant(&["mkdir", "-p", state.to_str().unwrap()]);
    lab.plant(&[
        "cp",
        lab.dir.join("planted.json").to_str().unwrap(),
        state.join("journal.json").to_str().unwrap(),
    ]);
    lab.plant(&["sh", "-c", &format!("echo EVIL > {}/evil", home.display())]);
    let before = tree(&lab.root);
    let log = lab.dir.join("commands.jsonl");
    // A failed install rolls back: only its own changes.
    let failed = lab.install(
        &[],
        &[
            ("KRC_FAULT_STEP", "11"),
            ("KRC_COMMAND_LOG", log.to_str().unwrap()),
        ],
    );
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    assert_eq!(
        tree_diff(&before, &tree(&lab.root)),
        "",
        "rollback left changes"
    );
    // A full install and uninstall.
    let ok = lab.install(&[], &[("KRC_COMMAND_LOG", log.to_str().unwrap())]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    let un = lab.uninstall();
    assert_eq!(un.status.code(), Some(0), "{}", text(&un));
    assert_eq!(
        tree_diff(&before, &tree(&lab.root)),
        "",
        "uninstall left changes"
    );
    assert!(!pwned.exists(), "a planted command ran as root");
    let cmds = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!cmds.contains("touch "), "{cmds}");
    assert!(!home.join("copy").exists());
    lab.assert_secret_kept(&[&failed, &ok, &un]);
}

/// Attack 2: `~/.config`, or the drop-in directory, is a link into a root
/// directory: root would write user-owned units into `/etc/systemd`.
#[test]
fn links_in_the_home_are_refused_not_followed() {
    let lab = lab_or_skip!();
    let home = lab.home();
    let etc_systemd = lab.root.join("etc/systemd");
    for (link, to) in [
        (home.join(".config"), etc_systemd.clone()),
        (
            home.join(".config/systemd/user/k3s-rootless.service.d"),
            etc_systemd.join("system/user@.service.d"),
        ),
    ] {
        // Start clean: only the attacker's planted link differs.
        let _ = std::fs::remove_dir_all(home.join(".config"));
        if let Some(parent) = link.parent()
            && parent != home
        {
            lab.plant(&["mkdir", "-p", parent.to_str().unwrap()]);
        }
        lab.plant(&["ln", "-s", to.to_str().unwrap(), link.to_str().unwrap()]);
        let before = tree(&lab.root);
        let o = lab.install(&[], &[]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let out = text(&o);
        assert!(
            out.contains("symbolic link") && out.contains("refusing"),
            "krc must say why: {out}"
        );
        assert!(out.contains("refusing before any change"), "{out}");
        assert_eq!(
            tree_diff(&before, &tree(&lab.root)),
            "",
            "the refused install left changes (link {})",
            link.display()
        );
        assert!(!etc_systemd.join("user").exists());
        assert!(!etc_systemd.join("k3s-rootless.service").exists());
        lab.assert_secret_kept(&[&o]);
    }
}

/// Attack 3: after an install, the user replaces krc's drop-in with a link
/// to a root-only file and changes a setting: root must neither copy the
/// file (as a backup the user could read) nor write through the link; and
/// uninstall leaves the link alone.
#[test]
fn a_linked_drop_in_is_not_backed_up_or_written_through() {
    let lab = lab_or_skip!();
    let ok = lab.install(&[], &[]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    let conf = lab
        .home()
        .join(".config/systemd/user/k3s-rootless.service.d/krc.conf");
    lab.plant(&["rm", conf.to_str().unwrap()]);
    lab.plant(&[
        "ln",
        "-s",
        lab.root.join("etc/shadow").to_str().unwrap(),
        conf.to_str().unwrap(),
    ]);
    let before = tree(&lab.root);
    let o = lab.install(&["--mtu", "9000"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("symbolic link"), "{}", text(&o));
    assert_eq!(tree_diff(&before, &tree(&lab.root)), "");
    let un = lab.uninstall();
    assert!(
        text(&un).contains("krc.conf changed since krc wrote it: left in place"),
        "{}",
        text(&un)
    );
    assert!(
        std::fs::symlink_metadata(&conf)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    lab.assert_secret_kept(&[&ok, &o, &un]);
}

/// Attack 4: between install and uninstall the user swaps the unit
/// directory for a link to a root directory: uninstall must not remove or
/// restore anything through it.
#[test]
fn a_directory_swapped_before_uninstall_is_not_followed() {
    let lab = lab_or_skip!();
    let ok = lab.install(&[], &[]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    let user_dir = lab.home().join(".config/systemd/user");
    let moved = lab.home().join("moved");
    lab.plant(&["mv", user_dir.to_str().unwrap(), moved.to_str().unwrap()]);
    // A root directory that holds files of the same names.
    let decoy = lab.root.join("etc/systemd/decoy");
    std::fs::create_dir_all(decoy.join("k3s-rootless.service.d")).unwrap();
    for f in ["k3s-rootless.service", "k3s-rootless.service.d/krc.conf"] {
        std::fs::copy(moved.join(f), decoy.join(f)).unwrap();
    }
    lab.plant(&[
        "ln",
        "-s",
        decoy.to_str().unwrap(),
        user_dir.to_str().unwrap(),
    ]);
    let decoy_before = tree(&decoy);
    let un = lab.uninstall();
    // The root side is undone; the user side is refused and named.
    assert_eq!(un.status.code(), Some(1), "{}", text(&un));
    assert!(text(&un).contains("symbolic link"), "{}", text(&un));
    assert_eq!(
        tree_diff(&decoy_before, &tree(&decoy)),
        "",
        "uninstall changed a root directory through the user's link"
    );
    lab.assert_secret_kept(&[&ok, &un]);
}

/// Attack 5: a root file that is a symbolic link (here `/etc/subuid`, as
/// some configuration tools leave it) is refused with the reason, never
/// replaced by a regular file with the link's 0777 mode.
#[test]
fn a_linked_root_file_is_refused_not_flattened() {
    let lab = lab_or_skip!();
    let etc = lab.root.join("etc");
    std::fs::rename(etc.join("subuid"), etc.join("subuid.managed")).unwrap();
    std::os::unix::fs::symlink("subuid.managed", etc.join("subuid")).unwrap();
    let before = tree(&lab.root);
    let o = lab.install(&[], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("/etc/subuid") && text(&o).contains("symbolic link"),
        "{}",
        text(&o)
    );
    assert_eq!(tree_diff(&before, &tree(&lab.root)), "");
    assert!(
        std::fs::symlink_metadata(etc.join("subuid"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

/// Attack 6: a home of `/` (or one that is not the user's) would make
/// every root path "the user's"; krc refuses before changing anything.
#[test]
fn a_home_that_is_not_the_users_is_refused() {
    let lab = lab_or_skip!();
    for home in ["/", "/etc"] {
        let p = lab.root.join("etc/passwd");
        let t = std::fs::read_to_string(&p).unwrap();
        let t: String = t
            .lines()
            .map(|l| {
                if l.starts_with("alice:") {
                    let mut f: Vec<&str> = l.split(':').collect();
                    f[5] = home;
                    f.join(":")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n";
        std::fs::write(&p, t).unwrap();
        let before = tree(&lab.root);
        let o = lab.install(&[], &[]);
        assert_ne!(o.status.code(), Some(0), "{}", text(&o));
        assert!(text(&o).contains("home of alice"), "{}", text(&o));
        assert_eq!(tree_diff(&before, &tree(&lab.root)), "");
    }
}

/// Attack 7: krc's state directory exists but is not root's own (left by
/// a user, or made group-writable): krc refuses to trust it.
#[test]
fn state_that_is_not_krcs_own_is_refused() {
    let lab = lab_or_skip!();
    let state = lab.root.join(format!("var/lib/krc/{}", lab.uid));
    std::fs::create_dir_all(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(lab.uid), Some(lab.gid)).unwrap();
    let before = tree(&lab.root);
    let o = lab.install(&[], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("refusing krc state"), "{}", text(&o));
    assert_eq!(tree_diff(&before, &tree(&lab.root)), "");
    std::os::unix::fs::chown(&state, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    let o = lab.install(&[], &[]);
    assert!(text(&o).contains("others can write it"), "{}", text(&o));
}
