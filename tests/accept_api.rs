//! `krc accept` against a TLS Kubernetes API stand-in (tests/apiserver):
//! every API-based check passes on a k3s-shaped cluster and fails, with
//! evidence and remedy, when the cluster or the kubeconfig is wrong.

mod apiserver;
mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use apiserver::pki::{Ca, Identity, kubeconfig};
use apiserver::{ApiServer, State, objects};
use support::krc;

/// Tests that bind fixed host ports (10080, 10443, ...), or need them
/// free, run one at a time.
static PORTS: Mutex<()> = Mutex::new(());

fn ports_lock() -> MutexGuard<'static, ()> {
    PORTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// An HTTP server on 127.0.0.1:port answering every request with 200.
struct HttpStub {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl HttpStub {
    fn bind(port: u16) -> HttpStub {
        let l = TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("this test needs host port {port} free: {e}"));
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(mut c) = c {
                    let mut buf = [0u8; 512];
                    let _ = c.read(&mut buf);
                    let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                }
            }
        });
        HttpStub { port, stop }
    }
}

impl Drop for HttpStub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Relays one connection to `127.0.0.1:target` both ways.
fn relay(c: std::net::TcpStream, target: u16) {
    let Ok(up) = std::net::TcpStream::connect(("127.0.0.1", target)) else {
        return;
    };
    let (mut a, mut b) = (c.try_clone().unwrap(), up.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut a, &mut b);
        let _ = b.shutdown(std::net::Shutdown::Write);
    });
    let (mut a, mut b) = (up, c);
    let _ = std::io::copy(&mut a, &mut b);
    let _ = b.shutdown(std::net::Shutdown::Write);
}

/// The probe's forwards as k3s adds them: the host ports start answering
/// only once the probe Service exists (krc checks them free before), and
/// lead to what its EndpointSlice names: the API server.
struct ProbeForwards {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProbeForwards {
    fn after_probe_service(api: &ApiServer, ports: &[u16]) -> ProbeForwards {
        let requests = api.requests.clone();
        let target = api.port;
        let ports = ports.to_vec();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let want = "POST /api/v1/namespaces/krc-acceptance/services";
            while !s.load(Ordering::SeqCst) {
                if requests.lock().unwrap().iter().any(|r| r == want) {
                    let listeners: Vec<TcpListener> = ports
                        .iter()
                        .map(|p| {
                            let l = TcpListener::bind(("127.0.0.1", *p)).unwrap_or_else(|e| {
                                panic!("this test needs host port {p} free: {e}")
                            });
                            l.set_nonblocking(true).unwrap();
                            l
                        })
                        .collect();
                    while !s.load(Ordering::SeqCst) {
                        for l in &listeners {
                            if let Ok((c, _)) = l.accept() {
                                c.set_nonblocking(false).unwrap();
                                std::thread::spawn(move || relay(c, target));
                            }
                        }
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        });
        ProbeForwards {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for ProbeForwards {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Cluster {
    ca: Ca,
    client: Identity,
    api: ApiServer,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Cluster {
    fn start(state: State) -> Cluster {
        let ca = Ca::new("k3s-server-ca@1764150000");
        let client_ca = Ca::new("k3s-client-ca@1764150000");
        let server = ca.server();
        let client = client_ca.client();
        let api = ApiServer::start(&server, &[], &client_ca.cert_der, state);
        let dir = tempfile::tempdir().unwrap();
        let kc_dir = dir.path().join("home/.kube");
        std::fs::create_dir_all(&kc_dir).unwrap();
        let kubeconfig = kc_dir.join("k3s.yaml");
        let c = Cluster {
            ca,
            client,
            api,
            dir,
            kubeconfig,
        };
        c.write_kubeconfig(&c.ca.cert_pem.clone(), &c.client);
        c
    }

    fn write_kubeconfig(&self, ca_pem: &str, client: &Identity) {
        std::fs::write(
            &self.kubeconfig,
            kubeconfig(&self.api.url(), ca_pem, client),
        )
        .unwrap();
        std::fs::set_permissions(&self.kubeconfig, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    /// The built-in acceptance suite with this stand-in's port.
    fn suite(&self, probe_ports: &[u16], timeout: u64) -> PathBuf {
        let text = std::fs::read_to_string(support::repo().join("suites/acceptance.toml")).unwrap();
        let ports: Vec<String> = probe_ports.iter().map(u16::to_string).collect();
        let text = text
            .replace("api_port = 6443", &format!("api_port = {}", self.api.port))
            .replace(
                "probe_ports = [81, 1024, 8080]",
                &format!("probe_ports = [{}]", ports.join(", ")),
            )
            .replace("timeout_secs = 180", &format!("timeout_secs = {timeout}"));
        let p = self.dir.path().join("suite.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn accept(&self, suite: &PathBuf, args: &[&str]) -> (i32, String) {
        let out: Output = krc()
            .arg("accept")
            .arg("--suite")
            .arg(suite)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .env_remove("KUBECONFIG")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }
}

/// The block of output under one check id (its line up to the next check).
fn block(out: &str, id: &str) -> String {
    let lines: Vec<&str> = out.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.split_whitespace().nth(1) == Some(id))
        .unwrap_or_else(|| panic!("{id} not in output:\n{out}"));
    let len = lines[start + 1..]
        .iter()
        .position(|l| !l.starts_with(' '))
        .unwrap_or(lines.len() - start - 1);
    lines[start..=start + len].join("\n")
}

fn status_of(out: &str, id: &str) -> String {
    block(out, id)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Skip the checks that read the unit and processes of this host.
const API_ONLY: &[&str] = &[
    "--skip",
    "install.",
    "--skip",
    "unit.",
    "--skip",
    "rootful.",
    "--skip",
    "rootless.",
];

#[test]
fn every_api_check_passes_on_a_k3s_shaped_cluster() {
    let _g = ports_lock();
    let np = (HttpStub::bind(0), HttpStub::bind(0));
    let mut state = State::k3s((np.0.port, np.1.port));
    let pool: Vec<u16> = (0..3).map(|_| free_port()).collect();
    state.node_port_pool = pool.clone();
    let c = Cluster::start(state);
    // traefik's 80/443 as rootless k3s forwards them; the probe's 81, 1024,
    // 8080 and its nodePorts once its Service exists.
    let _fwd: Vec<HttpStub> = [10080, 10443].into_iter().map(HttpStub::bind).collect();
    let mut probe_ports = vec![10081, 11024, 8080];
    probe_ports.extend(&pool);
    let _probe = ProbeForwards::after_probe_service(&c.api, &probe_ports);
    let suite = c.suite(&[81, 1024, 8080], 30);
    let json = c.dir.path().join("report.json");
    let mut args: Vec<&str> = API_ONLY.to_vec();
    args.extend(["--json", json.to_str().unwrap()]);
    let (code, out) = c.accept(&suite, &args);
    for id in [
        "kubeconfig.present",
        "kubeconfig.env",
        "api.ready",
        "node.single-ready",
        "pods.system",
        "ports.api",
        "ports.offset",
        "cluster.single-node",
    ] {
        assert_eq!(status_of(&out, id), "PASS", "{id}:\n{out}");
    }
    assert_eq!(code, 0, "{out}");
    // The active probe made its objects and deleted the namespace.
    let reqs = c.api.requests();
    // Every probe port answered through the probe Service: with the uid
    // of the namespace this run created.
    let report = std::fs::read_to_string(&json).unwrap();
    for hp in [10081, 11024, 8080] {
        let want = format!(
            "host 127.0.0.1:{hp}: the API server answered with this run's token (namespace uid 5f0c6a1e-0000-4000-8000-000000000001)"
        );
        assert!(report.contains(&want), "{want}\n{report}");
    }
    for want in [
        "POST /api/v1/namespaces",
        "POST /api/v1/namespaces/krc-acceptance/services",
        "POST /apis/discovery.k8s.io/v1/namespaces/krc-acceptance/endpointslices",
        "DELETE /api/v1/namespaces/krc-acceptance",
    ] {
        assert!(reqs.iter().any(|r| r == want), "{want} not in {reqs:?}");
    }
    let st = c.api.state.lock().unwrap();
    assert!(
        !st.namespaces
            .iter()
            .any(|n| n["metadata"]["name"] == "krc-acceptance")
    );
}

#[test]
fn untrusted_ca_fails_api_ready_with_the_tls_error() {
    let c = Cluster::start(State::k3s((30080, 30443)));
    let stranger = Ca::new("some-other-ca");
    c.write_kubeconfig(&stranger.cert_pem, &c.client);
    let suite = c.suite(&[], 5);
    let (code, out) = c.accept(&suite, &["api.ready", "--exact"]);
    let b = block(&out, "api.ready");
    assert_eq!(code, 1, "{out}");
    assert!(b.starts_with("FAIL"), "{out}");
    assert!(b.contains("UnknownIssuer"), "the TLS error verbatim: {b}");
    assert!(
        b.contains("remedy:") && b.contains("not signed by the kubeconfig's CA"),
        "{b}"
    );
}

#[test]
fn wrong_client_certificate_fails_api_ready() {
    let c = Cluster::start(State::k3s((30080, 30443)));
    let impostor = Ca::new("k3s-client-ca@other").client();
    c.write_kubeconfig(&c.ca.cert_pem.clone(), &impostor);
    let suite = c.suite(&[], 5);
    let (code, out) = c.accept(&suite, &["api.ready", "--exact"]);
    let b = block(&out, "api.ready");
    assert_eq!(code, 1, "{out}");
    assert!(b.starts_with("FAIL"), "{out}");
    assert!(
        b.to_lowercase().contains("certificate"),
        "the rejection verbatim: {b}"
    );
    assert!(
        b.contains("rejected the kubeconfig's client certificate"),
        "{b}"
    );
}

#[test]
fn kubeconfig_mode_owner_and_server_are_judged() {
    let c = Cluster::start(State::k3s((30080, 30443)));
    let suite = c.suite(&[], 5);
    std::fs::set_permissions(&c.kubeconfig, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, out) = c.accept(&suite, &["kubeconfig.present", "--exact"]);
    let b = block(&out, "kubeconfig.present");
    assert!(
        b.starts_with("FAIL") && b.contains("world-readable") && b.contains("chmod 600"),
        "{out}"
    );
    assert_eq!(code, 1);
    std::fs::set_permissions(&c.kubeconfig, std::fs::Permissions::from_mode(0o640)).unwrap();
    let (code, out) = c.accept(&suite, &["kubeconfig.present", "--exact"]);
    assert!(
        block(&out, "kubeconfig.present").starts_with("WARN"),
        "{out}"
    );
    assert_eq!(code, 0, "a warning does not fail the run: {out}");
    // A kubeconfig that names another port.
    std::fs::set_permissions(&c.kubeconfig, std::fs::Permissions::from_mode(0o600)).unwrap();
    let other = c.suite(&[], 5);
    let text = std::fs::read_to_string(&other)
        .unwrap()
        .replace(&format!("api_port = {}", c.api.port), "api_port = 6443");
    std::fs::write(&other, text).unwrap();
    let (_, out) = c.accept(&other, &["kubeconfig.present", "--exact"]);
    let b = block(&out, "kubeconfig.present");
    assert!(
        b.starts_with("FAIL") && b.contains("not https://127.0.0.1:6443"),
        "{out}"
    );
    // Missing entirely.
    std::fs::remove_file(&c.kubeconfig).unwrap();
    let (_, out) = c.accept(&suite, &["kubeconfig.present", "--exact"]);
    assert!(
        block(&out, "kubeconfig.present").contains("does not exist"),
        "{out}"
    );
}

#[test]
fn kubeconfig_env_warns_when_empty_or_elsewhere() {
    let c = Cluster::start(State::k3s((30080, 30443)));
    let suite = c.suite(&[], 5);
    for (value, want) in [
        ("", "set but empty"),
        ("/etc/other.yaml", "names /etc/other.yaml"),
    ] {
        let out = krc()
            .args(["accept", "kubeconfig.env", "--exact", "--suite"])
            .arg(&suite)
            .arg("--kubeconfig")
            .arg(&c.kubeconfig)
            .env("KUBECONFIG", value)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let b = block(&text, "kubeconfig.env");
        assert!(
            b.starts_with("WARN") && b.contains(want) && b.contains("export KUBECONFIG="),
            "{text}"
        );
        assert_eq!(out.status.code(), Some(0));
    }
    let out = krc()
        .args(["accept", "kubeconfig.env", "--exact", "--suite"])
        .arg(&suite)
        .arg("--kubeconfig")
        .arg(&c.kubeconfig)
        .env("KUBECONFIG", &c.kubeconfig)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("PASS   kubeconfig.env"));
}

#[test]
fn a_second_node_fails_node_and_cluster_checks() {
    let mut state = State::k3s((30080, 30443));
    state
        .nodes
        .push(objects::node("agent-1", "192.168.1.20", true));
    let c = Cluster::start(state);
    let suite = c.suite(&[], 5);
    let (code, out) = c.accept(&suite, &["node", "--skip", "unit"]);
    assert_eq!(code, 1);
    let b = block(&out, "node.single-ready");
    assert!(
        b.starts_with("FAIL")
            && b.contains("2 nodes (krc-host, agent-1)")
            && b.contains("192.168.1.20"),
        "{out}"
    );
    let (_, out) = c.accept(&suite, &["cluster.single-node", "--exact"]);
    let b = block(&out, "cluster.single-node");
    assert!(
        b.starts_with("FAIL") && b.contains("2 nodes joined") && b.contains("delete node"),
        "{out}"
    );
}

#[test]
fn a_node_not_ready_or_outside_the_rootless_network_fails() {
    let mut state = State::k3s((30080, 30443));
    state.nodes = vec![objects::node("krc-host", "192.168.1.10", false)];
    let c = Cluster::start(state);
    let suite = c.suite(&[], 5);
    let (code, out) = c.accept(&suite, &["node.single-ready", "--exact"]);
    assert_eq!(code, 1);
    let b = block(&out, "node.single-ready");
    assert!(
        b.contains("node krc-host is not Ready") && b.contains("cni plugin not initialized"),
        "{b}"
    );
    assert!(
        b.contains("outside the rootless network 10.41.0.0/16"),
        "{b}"
    );
}

#[test]
fn pods_that_do_not_become_ready_fail_by_name() {
    let mut state = State::k3s((30080, 30443));
    state.pods[0] = objects::pod(
        "coredns-64fd4b4794-7xk2p",
        "coredns",
        "kube-dns",
        "10.42.0.3",
        false,
        &[],
    );
    state.pods.retain(|p| {
        !p["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("metrics-server")
    });
    let c = Cluster::start(state);
    let suite = c.suite(&[], 2);
    let (code, out) = c.accept(&suite, &["pods.system", "--exact"]);
    assert_eq!(code, 1);
    let b = block(&out, "pods.system");
    assert!(
        b.contains("coredns is not Ready after 2s") && b.contains("CrashLoopBackOff"),
        "{b}"
    );
    assert!(b.contains("metrics-server has no pod"), "{b}");
    assert!(b.contains("describe pod coredns-64fd4b4794-7xk2p"), "{b}");
}

#[test]
fn readyz_and_version_are_judged() {
    let mut state = State::k3s((30080, 30443));
    state.readyz = "[-]etcd failed: reason withheld\nreadyz check failed".into();
    state.git_version = "v1.33.5".into();
    let c = Cluster::start(state);
    let suite = c.suite(&[], 5);
    let (code, out) = c.accept(&suite, &["api.ready", "--exact"]);
    assert_eq!(code, 1);
    let b = block(&out, "api.ready");
    assert!(
        b.contains("readyz check failed") && b.contains("not a k3s build"),
        "{b}"
    );
}

#[test]
fn ports_offset_fails_naming_the_missing_host_port_and_still_cleans_up() {
    let _g = ports_lock();
    let np = (HttpStub::bind(0), HttpStub::bind(0));
    let mut state = State::k3s((np.0.port, np.1.port));
    state.servicelb = false; // the probe Service never gets an ingress IP
    let c = Cluster::start(state);
    let _web = HttpStub::bind(10080); // 443 → 10443 is not forwarded
    let suite = c.suite(&[81, 1024, 8080], 2);
    let (code, out) = c.accept(&suite, &["ports.offset", "--exact"]);
    assert_eq!(code, 1, "{out}");
    let b = block(&out, "ports.offset");
    assert!(b.starts_with("FAIL"), "{b}");
    assert!(
        b.contains("port 443 is not reachable on host port 10443 (443 ≤ 1024, so 443 + 10000)"),
        "{b}"
    );
    assert!(b.contains("got no ingress IP within 2s"), "{b}");
    assert!(b.contains("namespace krc-acceptance deleted"), "{b}");
    assert!(
        b.contains("remedy:") && b.contains("ss -ltnp 'sport = :10443'"),
        "{b}"
    );
    assert!(
        c.api
            .requests()
            .iter()
            .any(|r| r == "DELETE /api/v1/namespaces/krc-acceptance")
    );
}

#[test]
fn ports_offset_refuses_a_host_port_that_answers_before_the_probe() {
    let _g = ports_lock();
    let np = (HttpStub::bind(0), HttpStub::bind(0));
    let c = Cluster::start(State::k3s((np.0.port, np.1.port)));
    // Something unrelated already serves 8080: it would answer for the probe.
    let _fwd: Vec<HttpStub> = [10080, 10443, 8080]
        .into_iter()
        .map(HttpStub::bind)
        .collect();
    let suite = c.suite(&[8080], 5);
    let (code, out) = c.accept(&suite, &["ports.offset", "--exact"]);
    assert_eq!(code, 1, "{out}");
    let b = block(&out, "ports.offset");
    assert!(
        b.starts_with("FAIL")
            && b.contains("host port 8080 already answers before the probe Service exists")
            && b.contains("before the probe: host 127.0.0.1:8080: answered \"HTTP/1.1 200 OK\"")
            && b.contains("ss -ltnp 'sport = :8080'"),
        "{b}"
    );
    // The probe did not run: nothing was created.
    assert!(
        !c.api
            .requests()
            .iter()
            .any(|r| r == "POST /api/v1/namespaces/krc-acceptance/services"),
        "{:?}",
        c.api.requests()
    );
}

#[test]
fn ports_api_fails_when_nothing_listens() {
    let c = Cluster::start(State::k3s((30080, 30443)));
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let suite = c.suite(&[], 5);
    let text = std::fs::read_to_string(&suite).unwrap().replace(
        &format!("api_port = {}", c.api.port),
        &format!("api_port = {closed}"),
    );
    std::fs::write(&suite, text).unwrap();
    let (code, out) = c.accept(&suite, &["ports.api", "--exact"]);
    assert_eq!(code, 1);
    let b = block(&out, "ports.api");
    assert!(
        b.contains(&format!("nothing answers on host port {closed}"))
            && b.contains("Connection refused"),
        "{b}"
    );
}

#[test]
fn ctrl_c_during_the_probe_still_deletes_the_namespace() {
    // krc first checks that host port 10081 (the probe's 81) is free, which
    // a sibling's forwards there would answer.
    let _g = ports_lock();
    let mut state = State::k3s((30080, 30443));
    state.servicelb = false;
    let c = Cluster::start(state);
    let suite = c.suite(&[81], 60);
    let junit = c.dir.path().join("interrupted.xml");
    // One thread, so the checks after ports.offset have not started when
    // the signal arrives.
    let child = krc()
        .args(["accept", "--test-threads", "1"])
        .args(API_ONLY)
        .arg("--suite")
        .arg(&suite)
        .arg("--kubeconfig")
        .arg(&c.kubeconfig)
        .arg("--junit")
        .arg(&junit)
        .env_remove("KUBECONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the probe Service exists, then interrupt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !c
        .api
        .requests()
        .iter()
        .any(|r| r.starts_with("GET /api/v1/namespaces/krc-acceptance/services/"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the probe never started: {:?}",
            c.api.requests()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        c.api
            .requests()
            .iter()
            .any(|r| r == "DELETE /api/v1/namespaces/krc-acceptance"),
        "{text}"
    );
    assert!(text.contains("interrupted"), "{text}");
    assert_eq!(
        out.status.code(),
        Some(130),
        "as a shell reports SIGINT: {text}"
    );
    // The report is still written: what ran, and the check after the
    // probe skipped as interrupted.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("name=\"api.ready\""), "{xml}");
    assert!(
        xml.contains("not run: interrupted by SIGINT"),
        "the checks not yet started are skipped: {xml}"
    );
    if support::have("xmllint") {
        support::validate_junit(&junit).unwrap();
    }
}

#[test]
fn no_report_or_output_contains_key_material_and_junit_is_valid() {
    let mut state = State::k3s((30080, 30443));
    state.readyz = "not ok".into();
    let c = Cluster::start(state);
    let suite = c.suite(&[], 2);
    let junit = c.dir.path().join("acc.xml");
    let json = c.dir.path().join("acc.json");
    // A kubeconfig that fails to parse must not leak its text either.
    let (_, out) = c.accept(
        &suite,
        &[
            "--skip",
            "ports.offset",
            "--junit",
            junit.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
    );
    let reports = [
        out,
        std::fs::read_to_string(&junit).unwrap(),
        std::fs::read_to_string(&json).unwrap(),
    ];
    let kc = std::fs::read_to_string(&c.kubeconfig).unwrap();
    let mut secrets: Vec<String> = Vec::new();
    for key in ["client-key-data:", "client-certificate-data:"] {
        let v = kc
            .lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .unwrap()
            .trim()
            .to_string();
        secrets.push(v[..40].to_string());
    }
    for pem in [&c.client.key_sec1_pem, &c.client.cert_pem] {
        secrets.extend(
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .map(|l| l[..l.len().min(40)].to_string()),
        );
    }
    for r in &reports {
        for s in &secrets {
            assert!(
                !r.contains(s.as_str()),
                "key material {s:?} leaked into a report:\n{r}"
            );
        }
        assert!(!r.contains("PRIVATE KEY"), "{r}");
    }
    assert!(reports[2].contains("\"phase\": \"acceptance\""));
    if support::have("xmllint") {
        support::validate_junit(&junit).unwrap();
    } else {
        lab_skip!("xmllint is not installed (apt-get install libxml2-utils)");
    }
}

#[test]
fn one_failing_check_among_passes_shows_evidence_and_remedy() {
    let _g = ports_lock();
    let np = (HttpStub::bind(0), HttpStub::bind(0));
    let mut state = State::k3s((np.0.port, np.1.port));
    let pool: Vec<HttpStub> = (0..3).map(|_| HttpStub::bind(0)).collect();
    state.node_port_pool = pool.iter().map(|s| s.port).collect();
    let i = state
        .pods
        .iter()
        .position(|p| {
            p["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("metrics-server")
        })
        .unwrap();
    state.pods[i] = objects::pod(
        "metrics-server-7bfffcd44-h5w4n",
        "metrics-server",
        "",
        "10.42.0.4",
        false,
        &[("https", 10250)],
    );
    let pool: Vec<u16> = (0..3).map(|_| free_port()).collect();
    state.node_port_pool = pool.clone();
    let c = Cluster::start(state);
    let _fwd: Vec<HttpStub> = [10080, 10443].into_iter().map(HttpStub::bind).collect();
    let mut probe_ports = vec![10081, 11024, 8080];
    probe_ports.extend(&pool);
    let _probe = ProbeForwards::after_probe_service(&c.api, &probe_ports);
    let suite = c.suite(&[81, 1024, 8080], 3);
    let (code, out) = c.accept(&suite, API_ONLY);
    eprintln!("{out}");
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("FAIL")).count(),
        1,
        "{out}"
    );
    let b = block(&out, "pods.system");
    assert!(
        b.contains("metrics-server is not Ready after 3s")
            && b.contains("CrashLoopBackOff")
            && b.contains("remedy:"),
        "{b}"
    );
    assert!(
        out.contains("7 passed, 1 failed, 0 warned, 0 skipped"),
        "{out}"
    );
}
