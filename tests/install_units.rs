//! The unit files `krc install` writes pass the real `systemd-analyze
//! verify` with nothing on stderr (it exits 0 on a bad value and only
//! warns, see LAB-NOTES). The unit is verified where its ExecStart exists:
//! in a private mount namespace whose /usr/local/bin holds the stand-in k3s.

#[path = "support/install.rs"]
mod inst;
mod support;

use std::path::Path;
use std::process::Command;

/// Writes the units with a tree-rooted install from the offline bundle.
fn generated(dir: &Path) -> std::path::PathBuf {
    let root = inst::seed(dir);
    let pins = inst::write_pins(dir, None);
    let bundle = inst::write_bundle(dir);
    let o = support::krc()
        .args([
            "install",
            "--yes",
            "--user",
            "alice",
            "--k3s-version",
            inst::VERSION,
            "--port-driver",
            "builtin",
            "--mtu",
            "65520",
        ])
        .arg("--offline")
        .arg(&bundle)
        .arg("--pins")
        .arg(&pins)
        .arg("--root")
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    root
}

/// `systemd-analyze verify UNIT` with the stand-in k3s at /usr/local/bin/k3s.
fn verify(unit: &Path) -> (bool, String) {
    let script = format!(
        "mount -t tmpfs tmpfs /usr/local/bin && cp {} /usr/local/bin/k3s && exec systemd-analyze verify {}",
        inst::data("standin/k3s").display(),
        unit.display()
    );
    let flags = if support::is_root() { "--mount" } else { "-rm" };
    let o = Command::new("unshare")
        .args([flags, "sh", "-c", &script])
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn generated_units_pass_systemd_analyze_verify() {
    if !support::have("systemd-analyze") || !support::have("unshare") {
        lab_skip!(
            "systemd-analyze or unshare is not installed (apt-get install systemd util-linux)"
        );
    }
    let probe = Command::new("unshare")
        .args([if support::is_root() { "--mount" } else { "-rm" }, "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        lab_skip!("cannot create a private mount namespace here (not root, no user namespaces)");
    }
    let d = tempfile::tempdir().unwrap();
    let root = generated(d.path());
    let v = d.path().join("verify");
    std::fs::create_dir_all(v.join("k3s-rootless.service.d")).unwrap();
    let user_dir = root.join("home/alice/.config/systemd/user");
    std::fs::copy(
        user_dir.join("k3s-rootless.service"),
        v.join("k3s-rootless.service"),
    )
    .unwrap();
    std::fs::copy(
        user_dir.join("k3s-rootless.service.d/krc.conf"),
        v.join("k3s-rootless.service.d/krc.conf"),
    )
    .unwrap();
    let dropin = std::fs::read_to_string(v.join("k3s-rootless.service.d/krc.conf")).unwrap();
    assert!(
        dropin.contains("K3S_ROOTLESS_PORT_DRIVER=builtin")
            && dropin.contains("K3S_ROOTLESS_MTU=65520"),
        "{dropin}"
    );
    let (ok, stderr) = verify(&v.join("k3s-rootless.service"));
    assert!(
        ok && stderr.is_empty(),
        "k3s-rootless.service + krc.conf: {stderr}"
    );

    // delegate.conf is a drop-in of user@.service, which cannot be loaded
    // outside a real system; it is verified as the drop-in of a probe unit.
    std::fs::create_dir_all(v.join("krc-delegate-probe.service.d")).unwrap();
    std::fs::write(
        v.join("krc-delegate-probe.service"),
        "[Unit]\nDescription=probe\n[Service]\nExecStart=/bin/true\n",
    )
    .unwrap();
    std::fs::copy(
        root.join("etc/systemd/system/user@.service.d/delegate.conf"),
        v.join("krc-delegate-probe.service.d/delegate.conf"),
    )
    .unwrap();
    let (ok, stderr) = verify(&v.join("krc-delegate-probe.service"));
    assert!(ok && stderr.is_empty(), "delegate.conf: {stderr}");

    // The check can fail: a bad value in the drop-in is caught on stderr.
    std::fs::write(
        v.join("k3s-rootless.service.d/krc.conf"),
        format!("{dropin}Restart=sometimes\n"),
    )
    .unwrap();
    let (_, stderr) = verify(&v.join("k3s-rootless.service"));
    assert!(
        stderr.contains("sometimes"),
        "a broken drop-in was not reported: {stderr:?}"
    );
}
