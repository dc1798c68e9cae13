//! End to end against a real k3s: testcontainers-modules' K3s image (a
//! rootful k3s in a privileged container), reached through its kubeconfig,
//! judged by `krc accept`'s API checks. Runs only with KRC_K3S_E2E=1 and a
//! Docker engine that can pull `rancher/k3s` (or has it locally) and run
//! privileged containers: this project's CI reaches no image registry, so
//! it is for users' own CI. KRC_K3S_TAG picks the image tag.
//!
//! The container's k3s is not rootless: the node's InternalIP is on the
//! Docker network, so the suite widens rootless_cidr to 172.16.0.0/12, and
//! the rootless-only checks (unit, userns, port offsets) are skipped.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use testcontainers::ImageExt;
use testcontainers::runners::AsyncRunner;
use testcontainers_modules::k3s::{K3s, KUBE_SECURE_PORT};

#[test]
fn accept_api_checks_pass_against_a_real_k3s() {
    if std::env::var("KRC_K3S_E2E").as_deref() != Ok("1") {
        eprintln!(
            "SKIP k3s_e2e: set KRC_K3S_E2E=1 to run against a real k3s container (needs Docker and the rancher/k3s image; this project's CI reaches no registry)"
        );
        return;
    }
    let conf = tempfile::tempdir().unwrap();
    std::fs::set_permissions(conf.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut image = K3s::default()
        .with_conf_mount(conf.path())
        .with_privileged(true)
        .with_startup_timeout(Duration::from_secs(300));
    if let Ok(tag) = std::env::var("KRC_K3S_TAG") {
        image = image.with_tag(tag);
    }
    let container = rt
        .block_on(image.start())
        .expect("k3s container did not start");
    let port = rt
        .block_on(container.get_host_port_ipv4(KUBE_SECURE_PORT))
        .unwrap();

    // k3s wrote its kubeconfig (mode 644 by the module's request); make the
    // user's copy as k3s's rootless mode would: 0600, server on 127.0.0.1.
    let text = std::fs::read_to_string(conf.path().join("k3s.yaml")).unwrap();
    let text = text.replace(
        "https://127.0.0.1:6443",
        &format!("https://127.0.0.1:{port}"),
    );
    let home = tempfile::tempdir().unwrap();
    let kc = home.path().join("k3s.yaml");
    std::fs::write(&kc, &text).unwrap();
    std::fs::set_permissions(&kc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let suite = home.path().join("e2e.toml");
    std::fs::write(
        &suite,
        format!(
            "phase = \"acceptance\"\n[params]\napi_port = {port}\nrootless_cidr = \"172.16.0.0/12\"\nprobe_ports = []\ntimeout_secs = 300\n\
             [[check]]\nid = \"kubeconfig.present\"\n[[check]]\nid = \"api.ready\"\n[[check]]\nid = \"node.single-ready\"\n\
             [[check]]\nid = \"pods.system\"\n[[check]]\nid = \"cluster.single-node\"\n"
        ),
    )
    .unwrap();
    let junit = home.path().join("e2e.xml");
    let out = support::krc()
        .args(["accept", "--suite"])
        .arg(&suite)
        .arg("--kubeconfig")
        .arg(&kc)
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for id in [
        "kubeconfig.present",
        "api.ready",
        "node.single-ready",
        "pods.system",
        "cluster.single-node",
    ] {
        assert!(text.contains(&format!("PASS   {id}")), "{id}: {text}");
    }
    if support::have("xmllint") {
        support::validate_junit(&junit).unwrap();
    }
}
