//! A Kubernetes API stand-in for the acceptance tests: real TLS (rustls,
//! client certificates verified against the cluster CA) on 127.0.0.1, and
//! the endpoints krc uses, answering with objects shaped like real k3s's
//! (one node at 10.41.0.100, kube-system's pods, traefik's LoadBalancer
//! service with ingress IP 127.0.0.1, servicelb giving new LoadBalancer
//! services that address).
#![allow(dead_code)]

pub mod objects;
pub mod pki;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};
use serde_json::{Value, json};

pub use objects::State;

pub struct ApiServer {
    pub port: u16,
    pub state: Arc<Mutex<State>>,
    /// "METHOD /path" of every request served, in order.
    pub requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl ApiServer {
    /// Serves with `server` identity; clients must present a certificate
    /// signed by `client_ca`.
    pub fn start(
        server: &pki::Identity,
        chain: &[Vec<u8>],
        client_ca: &[u8],
        state: State,
    ) -> ApiServer {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from(client_ca.to_vec())).unwrap();
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .unwrap();
        let mut certs = vec![CertificateDer::from(server.cert_der.clone())];
        certs.extend(chain.iter().map(|c| CertificateDer::from(c.clone())));
        let cfg = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                certs,
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server.key_pkcs8_der.clone())),
            )
            .unwrap();
        let cfg = Arc::new(cfg);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(state));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (state, requests, stop) = (state.clone(), requests.clone(), stop.clone());
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(conn) = conn else { continue };
                    let (cfg, state, requests) = (cfg.clone(), state.clone(), requests.clone());
                    thread::spawn(move || serve(conn, cfg, state, requests));
                }
            });
        }
        ApiServer {
            port,
            state,
            requests,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Sends what TLS still has queued (a rejected handshake's alert), then
/// closes without a reset: the client has usually sent its request already,
/// and closing a socket with unread data makes the kernel answer with RST,
/// which the client may see before the alert that says why.
fn close_gracefully(mut s: StreamOwned<ServerConnection, TcpStream>) {
    while s.conn.wants_write() {
        if s.conn.write_tls(&mut s.sock).is_err() {
            break;
        }
    }
    let _ = s.sock.shutdown(std::net::Shutdown::Write);
    let _ = s
        .sock
        .set_read_timeout(Some(std::time::Duration::from_millis(500)));
    let mut buf = [0u8; 4096];
    while matches!(s.sock.read(&mut buf), Ok(n) if n > 0) {}
}

fn serve(
    conn: TcpStream,
    cfg: Arc<ServerConfig>,
    state: Arc<Mutex<State>>,
    requests: Arc<Mutex<Vec<String>>>,
) {
    let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(30)));
    let Ok(tls) = ServerConnection::new(cfg) else {
        return;
    };
    let mut r = BufReader::new(StreamOwned::new(tls, conn));
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            close_gracefully(r.into_inner());
            return;
        }
        let mut parts = line.split_whitespace();
        let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
            return;
        };
        let (method, target) = (method.to_string(), target.to_string());
        let mut len = 0usize;
        let mut close = false;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    "connection" => close = v.trim().eq_ignore_ascii_case("close"),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let path = target.split('?').next().unwrap_or("").to_string();
        requests.lock().unwrap().push(format!("{method} {path}"));
        if state.lock().unwrap().stall.contains(&path) {
            std::thread::sleep(std::time::Duration::from_secs(60));
            return;
        }
        if state.lock().unwrap().flood.contains(&path) {
            flood(r.get_mut());
            return;
        }
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let (code, ctype, text) = {
            let mut st = state.lock().unwrap();
            route(&mut st, &method, &path, body)
        };
        let reason = match code {
            200 => "OK",
            201 => "Created",
            404 => "Not Found",
            409 => "Conflict",
            _ => "Other",
        };
        let resp = format!(
            "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        if r.get_mut()
            .write_all(resp.as_bytes())
            .and_then(|_| r.get_mut().flush())
            .is_err()
            || close
        {
            return;
        }
    }
}

/// How much an endless answer sends at most, and for how long: enough
/// to show a client that keeps it all, bounded so the test machine is not.
pub const FLOOD_BYTES: usize = 1024 * 1024 * 1024;
const FLOOD_SECS: u64 = 60;

/// A JSON list that never ends: chunked, a chunk at a time, until the
/// client stops reading or the bounds above.
fn flood(w: &mut impl Write) {
    let start = std::time::Instant::now();
    let head =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    let open = "{\"kind\":\"NodeList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":[";
    if w.write_all(head.as_bytes()).is_err() {
        return;
    }
    let mut chunk = |data: &[u8]| {
        w.write_all(format!("{:x}\r\n", data.len()).as_bytes())
            .and_then(|_| w.write_all(data))
            .and_then(|_| w.write_all(b"\r\n"))
            .and_then(|_| w.flush())
            .is_ok()
    };
    if !chunk(open.as_bytes()) {
        return;
    }
    let item = "{\"metadata\":{\"name\":\"n\"}},".repeat(4096);
    let mut sent = 0;
    while sent < FLOOD_BYTES && start.elapsed().as_secs() < FLOOD_SECS {
        if !chunk(item.as_bytes()) {
            return;
        }
        sent += item.len();
    }
}

fn json_resp(code: u16, v: Value) -> (u16, &'static str, String) {
    (code, "application/json", v.to_string())
}

fn not_found(kind: &str, name: &str) -> (u16, &'static str, String) {
    json_resp(
        404,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("{kind} \"{name}\" not found"), "reason": "NotFound",
            "details": {"name": name, "kind": kind}, "code": 404
        }),
    )
}

fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": "1000"}, "items": items})
}

fn route(st: &mut State, method: &str, path: &str, body: Value) -> (u16, &'static str, String) {
    let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, seg.as_slice()) {
        ("GET", ["readyz"]) => (200, "text/plain", st.readyz.clone()),
        ("GET", ["version"]) => json_resp(
            200,
            json!({
                "major": "1", "minor": "33", "gitVersion": st.git_version, "gitCommit": "0123456789abcdef0123456789abcdef01234567",
                "gitTreeState": "clean", "buildDate": "2025-10-01T00:00:00Z", "goVersion": "go1.24.6",
                "compiler": "gc", "platform": "linux/amd64"
            }),
        ),
        ("GET", ["api", "v1", "nodes"]) => json_resp(200, list("NodeList", st.nodes.clone())),
        ("GET", ["api", "v1", "namespaces", ns, "pods"]) => {
            let items = st
                .pods
                .iter()
                .filter(|p| p["metadata"]["namespace"] == *ns)
                .cloned()
                .collect();
            json_resp(200, list("PodList", items))
        }
        ("GET", ["api", "v1", "services"]) => {
            json_resp(200, list("ServiceList", st.services.clone()))
        }
        ("GET", ["api", "v1", "namespaces", ns]) => {
            match st.namespaces.iter().find(|n| n["metadata"]["name"] == *ns) {
                Some(n) => json_resp(200, n.clone()),
                None => not_found("namespaces", ns),
            }
        }
        (
            "GET",
            [
                "api",
                "v1",
                "namespaces",
                "default",
                "endpoints",
                "kubernetes",
            ],
        ) => {
            // k3s registers its API server at the node's address.
            json_resp(
                200,
                json!({
                    "apiVersion": "v1", "kind": "Endpoints",
                    "metadata": {"name": "kubernetes", "namespace": "default"},
                    "subsets": [{
                        "addresses": [{"ip": "10.41.0.100"}],
                        "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]
                    }]
                }),
            )
        }
        ("POST", ["api", "v1", "namespaces"]) => {
            let mut n = body;
            // A new uid per namespace, as the API server gives.
            st.uid_seq += 1;
            n["metadata"]["uid"] = json!(format!("5f0c6a1e-0000-4000-8000-{:012}", st.uid_seq));
            n["apiVersion"] = json!("v1");
            n["kind"] = json!("Namespace");
            n["status"] = json!({"phase": "Active"});
            st.namespaces.push(n.clone());
            json_resp(201, n)
        }
        ("DELETE", ["api", "v1", "namespaces", ns]) => {
            let Some(i) = st
                .namespaces
                .iter()
                .position(|n| n["metadata"]["name"] == *ns)
            else {
                return not_found("namespaces", ns);
            };
            let mut n = st.namespaces.remove(i);
            st.services.retain(|s| s["metadata"]["namespace"] != *ns);
            st.endpoint_slices
                .retain(|s| s["metadata"]["namespace"] != *ns);
            n["status"] = json!({"phase": "Terminating"});
            json_resp(200, n)
        }
        ("POST", ["api", "v1", "namespaces", ns, "services"]) => {
            if !st.namespaces.iter().any(|n| n["metadata"]["name"] == *ns) {
                return not_found("namespaces", ns);
            }
            let mut s = body;
            s["apiVersion"] = json!("v1");
            s["kind"] = json!("Service");
            s["metadata"]["namespace"] = json!(ns);
            s["spec"]["clusterIP"] = json!("10.43.77.7");
            if let Some(ports) = s["spec"]["ports"].as_array_mut() {
                for p in ports {
                    if let Some(np) = st.node_port_pool.pop() {
                        p["nodePort"] = json!(np);
                    }
                }
            }
            // servicelb: in rootless mode it reports 127.0.0.1.
            s["status"] = if st.servicelb {
                json!({"loadBalancer": {"ingress": [{"ip": "127.0.0.1", "ipMode": "VIP"}]}})
            } else {
                json!({"loadBalancer": {}})
            };
            st.services.push(s.clone());
            json_resp(201, s)
        }
        ("GET", ["api", "v1", "namespaces", ns, "services", name]) => {
            match st
                .services
                .iter()
                .find(|s| s["metadata"]["namespace"] == *ns && s["metadata"]["name"] == *name)
            {
                Some(s) => json_resp(200, s.clone()),
                None => not_found("services", name),
            }
        }
        (
            "POST",
            [
                "apis",
                "discovery.k8s.io",
                "v1",
                "namespaces",
                ns,
                "endpointslices",
            ],
        ) => {
            let mut s = body;
            s["apiVersion"] = json!("discovery.k8s.io/v1");
            s["kind"] = json!("EndpointSlice");
            s["metadata"]["namespace"] = json!(ns);
            st.endpoint_slices.push(s.clone());
            json_resp(201, s)
        }
        _ => not_found("path", path),
    }
}
