//! `krc install` run as the target user on this machine: the root steps
//! need sudo; when sudo cannot be used without a password krc stops before
//! changing anything and says what to do. Needs root (to switch to the
//! test user) and a user without passwordless sudo.

mod support;

use std::process::Command;

#[test]
fn as_the_user_without_passwordless_sudo_krc_stops_and_says_why() {
    if !support::is_root() {
        lab_skip!("needs root to run krc as an unprivileged test user");
    }
    let user = "krc-dev";
    if let Err(e) = support::ensure_user(user) {
        lab_skip!("test user {user}: {e}");
    }
    let sudo_ok = Command::new("runuser")
        .args(["-u", user, "--", "sudo", "-n", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if sudo_ok {
        // It would really install on this machine: not in a test.
        lab_skip!("{user} has passwordless sudo here; this test needs a user without it");
    }
    // A copy the user can execute wherever the checkout lives.
    let d = tempfile::tempdir().unwrap();
    let exe = d.path().join("krc");
    std::fs::copy(env!("CARGO_BIN_EXE_krc"), &exe).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = Command::new("runuser")
        .args(["-u", user, "--"])
        .arg(&exe)
        .args(["install", "--yes", "--user", user])
        .current_dir("/")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    let out = String::from_utf8_lossy(&o.stdout);
    if out.contains("every step is already satisfied") {
        lab_skip!("this host is already set up for {user}: no root step to ask sudo for");
    }
    assert_eq!(o.status.code(), Some(1), "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains("sudo") && err.contains(&format!("--user {user}")),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}
