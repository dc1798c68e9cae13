//! The rootless port lab, for real: as an unprivileged user, rootlesskit
//! with slirp4netns (the network k3s's rootless mode sets up) and each port
//! driver k3s can use, HTTP servers inside the namespace on 80, 1024 and
//! 8080, and the forwards added in k3s's layout through rootlesskit's REST
//! API on api.sock (80 → 10080, 1024 → 11024, 8080 → 8080). `krc accept
//! ports.offset` must pass; with one forward removed it must fail naming
//! the port. Needs root (to create the user), rootlesskit, slirp4netns,
//! newuidmap and a /dev/net/tun the user can open (ci/provision/30-rootless.sh).

mod apiserver;
mod support;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apiserver::pki::{Ca, kubeconfig};
use apiserver::{ApiServer, State};
use serde_json::{Value, json};
use support::krc;

const LAB_USER: &str = "krc-lab";

/// rootlesskit and everything inside it, in one process group that is
/// killed when this value goes away (the test failing included).
struct Rootless {
    child: Child,
    state_dir: PathBuf,
}

impl Drop for Rootless {
    fn drop(&mut self) {
        let pgid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

impl Rootless {
    fn start(driver: &str, home: &Path, log: &Path) -> Rootless {
        let state_dir = home.join(".rancher/k3s/rootless");
        let _ = std::fs::remove_dir_all(&state_dir);
        let run = home.join(".krc-lab-run");
        std::fs::create_dir_all(&run).unwrap();
        nix::unistd::chown(
            &run,
            nix::unistd::User::from_name(LAB_USER)
                .unwrap()
                .map(|u| u.uid),
            None,
        )
        .unwrap();
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
        let inside = "cd /tmp; for p in 80 1024 8080; do /usr/bin/python3 -m http.server $p --bind 0.0.0.0 >/dev/null 2>&1 & done; wait";
        let child = Command::new("runuser")
            .args(["-u", LAB_USER, "--", "env", "-i"])
            .arg(format!("HOME={}", home.display()))
            .arg("PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .arg(format!("XDG_RUNTIME_DIR={}", run.display()))
            .args([
                "rootlesskit",
                "--net=slirp4netns",
                &format!("--port-driver={driver}"),
                "--cidr=10.41.0.0/16",
                "--mtu=1500",
                "--disable-host-loopback",
                "--copy-up=/etc",
                "--pidns",
            ])
            .arg(format!("--state-dir={}", state_dir.display()))
            .args(["sh", "-c", inside])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(log).unwrap())
            .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
            .process_group(0)
            .spawn()
            .expect("failed to run runuser");
        Rootless { child, state_dir }
    }

    fn sock(&self) -> PathBuf {
        self.state_dir.join("api.sock")
    }
}

/// One HTTP/1.1 request over rootlesskit's unix socket: (status, body).
fn rk_api(
    sock: &Path,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, String), String> {
    let mut s =
        UnixStream::connect(sock).map_err(|e| format!("connect {}: {e}", sock.display()))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: rootlesskit\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).map_err(|e| e.to_string())?;
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or(format!("no status in {resp:?}"))?;
    let body = resp
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + limit;
    loop {
        match f() {
            Ok(()) => return,
            Err(e) if Instant::now() >= deadline => panic!("{what}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn http_ok(port: u16) -> Result<(), String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(b"HEAD / HTTP/1.0\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).map_err(|e| e.to_string())?;
    let line = String::from_utf8_lossy(&buf[..n]).to_string();
    if line.starts_with("HTTP/1.0 200") {
        Ok(())
    } else {
        Err(format!("answered {line:?}"))
    }
}

/// A stand-in cluster whose one LoadBalancer Service has ports 80, 1024
/// and 8080 and servicelb's ingress IP: what the lab forwards.
fn cluster(dir: &Path) -> (ApiServer, PathBuf, PathBuf) {
    let ca = Ca::new("k3s-server-ca@lab");
    let client_ca = Ca::new("k3s-client-ca@lab");
    let client = client_ca.client();
    let mut state = State::k3s((30080, 30443));
    state
        .services
        .retain(|s| s["metadata"]["name"] != "traefik");
    state.services.push(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "lab-web", "namespace": "default"},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.43.9.9", "ports": [
            {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 80},
            {"name": "low", "port": 1024, "protocol": "TCP", "targetPort": 1024},
            {"name": "alt", "port": 8080, "protocol": "TCP", "targetPort": 8080}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1", "ipMode": "VIP"}]}}
    }));
    let api = ApiServer::start(&ca.server(), &[], &client_ca.cert_der, state);
    let kc = dir.join("k3s.yaml");
    std::fs::write(&kc, kubeconfig(&api.url(), &ca.cert_pem, &client)).unwrap();
    std::fs::set_permissions(&kc, std::fs::Permissions::from_mode(0o600)).unwrap();
    // The forwards are the lab's; the active probe needs k3s's own controller.
    let suite = dir.join("lab.toml");
    std::fs::write(
        &suite,
        format!("phase = \"acceptance\"\n[params]\napi_port = {}\ntraefik = false\nprobe_ports = []\n[[check]]\nid = \"ports.offset\"\n", api.port),
    )
    .unwrap();
    (api, kc, suite)
}

fn accept(kc: &Path, suite: &Path, json_out: &Path) -> (i32, String, Value) {
    let out = krc()
        .args(["accept", "ports.offset", "--exact", "--suite"])
        .arg(suite)
        .arg("--kubeconfig")
        .arg(kc)
        .arg("--json")
        .arg(json_out)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(json_out).unwrap()).unwrap();
    (out.status.code().unwrap_or(-1), text, report)
}

#[test]
fn ports_offset_against_real_rootlesskit_forwards() {
    if !support::is_root() {
        lab_skip!("needs root to create the unprivileged lab user {LAB_USER}");
    }
    for tool in ["rootlesskit", "slirp4netns", "newuidmap", "runuser"] {
        if !support::have(tool) {
            lab_skip!("{tool} is not installed (ci/provision/30-rootless.sh installs it)");
        }
    }
    if !Path::new("/usr/bin/python3").exists() {
        lab_skip!("/usr/bin/python3 is needed for the HTTP servers inside the namespace");
    }
    match std::fs::metadata("/dev/net/tun") {
        Ok(m) if m.permissions().mode() & 0o006 == 0o006 => {}
        Ok(m) => lab_skip!(
            "/dev/net/tun has mode {:o}: an unprivileged user cannot open it (ci/provision/30-rootless.sh: chmod 0666 /dev/net/tun)",
            m.permissions().mode() & 0o777
        ),
        Err(e) => lab_skip!("/dev/net/tun: {e}"),
    }
    let (_, _, home) = support::ensure_user(LAB_USER).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_api, kc, suite) = cluster(dir.path());
    for driver in ["slirp4netns", "builtin"] {
        let log = dir.path().join(format!("rootlesskit-{driver}.log"));
        let rk = Rootless::start(driver, &home, &log);
        let logs = || {
            format!(
                "{}{}",
                std::fs::read_to_string(&log).unwrap_or_default(),
                std::fs::read_to_string(log.with_extension("err")).unwrap_or_default()
            )
        };
        wait_for("rootlesskit's api.sock", Duration::from_secs(30), || {
            rk_api(&rk.sock(), "GET", "/v1/info", None)
                .map(|_| ())
                .map_err(|e| format!("{e}\n{}", logs()))
        });
        let (_, info) = rk_api(&rk.sock(), "GET", "/v1/info", None).unwrap();
        let info: Value = serde_json::from_str(&info).unwrap();
        assert_eq!(info["networkDriver"]["childIP"], "10.41.0.100", "{info}");
        assert_eq!(info["portDriver"]["driver"], driver, "{info}");
        // k3s's layout: port ≤ 1024 → port + 10000, else the same number.
        let mut ids = Vec::new();
        for (child, parent) in [(80, 10080), (1024, 11024), (8080, 8080)] {
            let (code, body) = rk_api(
                &rk.sock(),
                "POST",
                "/v1/ports",
                Some(&json!({"proto": "tcp", "parentPort": parent, "childPort": child})),
            )
            .unwrap();
            assert!(
                code == 200 || code == 201,
                "POST /v1/ports {parent}:{child}: {code} {body}"
            );
            let v: Value = serde_json::from_str(&body).unwrap();
            ids.push((child, v["id"].as_i64().unwrap()));
        }
        for port in [10080, 11024, 8080] {
            wait_for(
                &format!("the server behind host port {port} ({driver})"),
                Duration::from_secs(20),
                || http_ok(port),
            );
        }

        let json_out = dir.path().join(format!("{driver}.json"));
        let (code, out, report) = accept(&kc, &suite, &json_out);
        assert_eq!(
            code,
            0,
            "{driver}: ports.offset must pass:\n{out}\n{}",
            logs()
        );
        let check = &report["phases"][0]["checks"][0];
        assert_eq!(check["status"], "pass", "{check}");
        let evidence = check["evidence"].to_string();
        for (p, hp) in [(80, 10080), (1024, 11024), (8080, 8080)] {
            assert!(
                evidence.contains(&format!(
                    "port {p} → host 127.0.0.1:{hp}: answered \\\"HTTP/1.0 200 OK\\\""
                )),
                "{driver}: {evidence}"
            );
        }

        // Remove 1024 → 11024: the check must fail and name the port.
        let id = ids.iter().find(|(c, _)| *c == 1024).unwrap().1;
        let (code, body) = rk_api(&rk.sock(), "DELETE", &format!("/v1/ports/{id}"), None).unwrap();
        assert!(code < 300, "DELETE /v1/ports/{id}: {code} {body}");
        wait_for(
            "the 11024 forward to go away",
            Duration::from_secs(10),
            || match http_ok(11024) {
                Ok(()) => Err("still answers".into()),
                Err(_) => Ok(()),
            },
        );
        let (code, out, _) = accept(&kc, &suite, &json_out);
        assert_eq!(
            code, 1,
            "{driver}: ports.offset must fail without the 11024 forward:\n{out}"
        );
        assert!(out.contains("FAIL   ports.offset"), "{out}");
        assert!(
            out.contains(
                "port 1024 is not reachable on host port 11024 (1024 ≤ 1024, so 1024 + 10000)"
            ),
            "{driver}: {out}"
        );
        assert!(out.contains("remedy:"), "{out}");
        drop(rk);
        // Everything the lab started is gone.
        let left = Command::new("pgrep")
            .args(["-u", LAB_USER])
            .output()
            .unwrap();
        let mut left = String::from_utf8_lossy(&left.stdout).to_string();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !left.trim().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            left = String::from_utf8_lossy(
                &Command::new("pgrep")
                    .args(["-u", LAB_USER])
                    .output()
                    .unwrap()
                    .stdout,
            )
            .to_string();
        }
        assert!(
            left.trim().is_empty(),
            "processes of {LAB_USER} left behind: {left}"
        );
    }
}
