//! Helpers for the installer tests: the seed tree, a loopback HTTP server
//! serving the stand-in artifacts, pins, and a whole-tree hash that covers
//! contents, modes and owners.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

pub const VERSION: &str = "v1.33.5+k3s1";

pub fn data(rel: &str) -> PathBuf {
    crate::support::repo().join("tests/data").join(rel)
}

pub fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The stand-in artifacts: (install.sh, k3s, sha256sum-amd64.txt).
pub fn artifacts() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let script = std::fs::read(data("standin/install.sh")).unwrap();
    let k3s = std::fs::read(data("standin/k3s")).unwrap();
    let sums = format!("{}  k3s\n{}  k3s-arm64\n", sha(&k3s), "0".repeat(64)).into_bytes();
    (script, k3s, sums)
}

/// The stand-in user unit, served and bundled as upstream's
/// `k3s-rootless.service` of the tag.
pub fn unit_artifact() -> Vec<u8> {
    std::fs::read(data("standin/k3s-rootless.service")).unwrap()
}

/// A pins file for the stand-in artifacts, marked as a stand-in.
pub fn write_pins(dir: &Path, k3s_override: Option<&str>) -> PathBuf {
    let (script, k3s, sums) = artifacts();
    let p = dir.join("pins.toml");
    let text = format!(
        "ref = \"{VERSION}\"\nstand_in = \"no k3s can be downloaded on this machine; the bundle carries krc's stand-in script\"\n[sha256]\n\"install.sh\" = \"{}\"\n\"k3s\" = \"{}\"\n\"sha256sum-amd64.txt\" = \"{}\"\n\"k3s-rootless.service\" = \"{}\"\n",
        sha(&script),
        k3s_override
            .map(str::to_string)
            .unwrap_or_else(|| sha(&k3s)),
        sha(&sums),
        sha(&unit_artifact())
    );
    std::fs::write(&p, text).unwrap();
    p
}

/// The offline bundle layout of docs/install.md.
pub fn write_bundle(dir: &Path) -> PathBuf {
    let (script, k3s, sums) = artifacts();
    let b = dir.join("bundle");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(b.join("install.sh"), script).unwrap();
    std::fs::write(b.join("k3s"), k3s).unwrap();
    std::fs::write(b.join("sha256sum-amd64.txt"), sums).unwrap();
    std::fs::write(b.join("k3s-rootless.service"), unit_artifact()).unwrap();
    b
}

/// A plain HTTP/1.1 server on 127.0.0.1 serving `files` by path; returns
/// its base URL and the list of paths requested.
pub fn serve(files: HashMap<String, Vec<u8>>) -> (String, Arc<Mutex<Vec<String>>>) {
    serve_flaky(files, 0)
}

/// Like [`serve`], but the first `fail_first` requests get a 503.
pub fn serve_flaky(
    files: HashMap<String, Vec<u8>>,
    fail_first: usize,
) -> (String, Arc<Mutex<Vec<String>>>) {
    serve_logging(files, fail_first, Logged::Path)
}

/// What the loopback server keeps of each request.
enum Logged {
    Path,
    /// The request line and headers, as sent.
    Head,
}

fn serve_logging(
    files: HashMap<String, Vec<u8>>,
    fail_first: usize,
    logged: Logged,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut head = String::new();
            if r.read_line(&mut head).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).map(|n| n == 0).unwrap_or(true) || h == "\r\n" {
                    break;
                }
                head.push_str(&h);
            }
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
            let n = {
                let mut l = log.lock().unwrap();
                l.push(match logged {
                    Logged::Path => path.clone(),
                    Logged::Head => head,
                });
                l.len()
            };
            let (status, body) = match files.get(&path) {
                _ if n <= fail_first => ("503 Service Unavailable", b"try again\n".to_vec()),
                Some(b) => ("200 OK", b.clone()),
                None => ("404 Not Found", b"not found\n".to_vec()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
            let _ = s.flush();
            let _ = s.read(&mut [0u8; 1]);
        }
    });
    (url, seen)
}

/// The stand-in artifacts by path, in the mirror layout krc expects.
pub fn artifact_files() -> HashMap<String, Vec<u8>> {
    let (script, k3s, sums) = artifacts();
    let r = VERSION.replace('+', "%2B");
    let mut files = HashMap::new();
    files.insert("/install.sh".to_string(), script);
    files.insert(format!("/{r}/k3s"), k3s);
    files.insert(format!("/{r}/sha256sum-amd64.txt"), sums);
    files.insert("/k3s-rootless.service".to_string(), unit_artifact());
    files
}

/// Serves the stand-in artifacts in the mirror layout krc expects.
pub fn serve_artifacts() -> (String, Arc<Mutex<Vec<String>>>) {
    serve_artifacts_flaky(0)
}

pub fn serve_artifacts_flaky(fail_first: usize) -> (String, Arc<Mutex<Vec<String>>>) {
    serve_flaky(artifact_files(), fail_first)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// The installer's seed: the fixture host `debian12-default-delegation`
/// (a fresh Debian 12 VM with uidmap, slirp4netns and fuse-overlayfs
/// installed, see its krc-fixture.toml), changed so that the installer has
/// work to do: alice has no subordinate ids (bob has the first range), no
/// lingering, and `dbus-user-session`'s `dbus.socket` is present (a tree
/// cannot run apt, so the packages step must be satisfied). Copied into
/// `dir/root` with realistic owners (root; alice's home 1000:1000).
pub fn seed(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    copy_tree(
        &crate::support::repo().join("fixtures/hosts/debian12-default-delegation"),
        &root,
    );
    let w = |p: &str, text: &str| {
        let f = root.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    };
    let append = |p: &str, line: &str| {
        let mut t = std::fs::read_to_string(root.join(p)).unwrap();
        t.push_str(line);
        std::fs::write(root.join(p), t).unwrap();
    };
    std::fs::remove_file(root.join("expected.toml")).unwrap();
    std::fs::remove_file(root.join("var/lib/systemd/linger/alice")).unwrap();
    w("etc/subuid", "bob:100000:65536\n");
    w("etc/subgid", "bob:100000:65536\n");
    append("etc/passwd", "bob:x:1001:1001:Bob,,,:/home/bob:/bin/bash\n");
    append("etc/group", "bob:x:1001:\n");
    w("usr/lib/systemd/user/dbus.socket", DBUS_SOCKET);
    std::fs::create_dir_all(root.join("home/alice")).unwrap();
    std::fs::create_dir_all(root.join("usr/local/bin")).unwrap();
    if nix::unistd::geteuid().is_root() {
        chown_r(&root, 0, 0);
        chown_r(&root.join("home/alice"), 1000, 1000);
    }
    std::fs::set_permissions(
        root.join("home/alice"),
        std::os::unix::fs::PermissionsExt::from_mode(0o750),
    )
    .unwrap();
    root
}

/// Debian 12's dbus-user-session unit, as the package ships it.
const DBUS_SOCKET: &str = "[Unit]
Description=D-Bus User Message Bus Socket

[Socket]
ListenStream=%t/bus
ExecStartPost=-/usr/bin/systemctl --user set-environment DBUS_SESSION_BUS_ADDRESS=unix:path=%t/bus

[Install]
WantedBy=sockets.target
";

/// `chown -R` without following links.
pub fn chown_r(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
    if p.is_dir() && !p.is_symlink() {
        for e in std::fs::read_dir(p).unwrap() {
            chown_r(&e.unwrap().path(), uid, gid);
        }
    }
}

/// Gives the seed tree's `alice` the real `uid`/`gid` of a test user (in
/// `/etc/passwd` and `/etc/group`) and makes her home theirs.
pub fn give_alice_to(root: &Path, uid: u32, gid: u32) {
    for f in ["etc/passwd", "etc/group"] {
        let p = root.join(f);
        let t: String = std::fs::read_to_string(&p)
            .unwrap()
            .lines()
            .map(|l| {
                let l = if l.starts_with("alice:") {
                    l.replacen(":1000:1000:", &format!(":{uid}:{gid}:"), 1)
                        .replacen(":1000:", &format!(":{gid}:"), 1)
                } else {
                    l.to_string()
                };
                l + "\n"
            })
            .collect();
        std::fs::write(&p, t).unwrap();
    }
    chown_r(&root.join("home/alice"), uid, gid);
}

/// Regular files under `dir` (links not followed) that contain `needle`.
pub fn grep_tree(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd {
        let p = e.unwrap().path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            out.extend(grep_tree(&p, needle));
        } else if m.is_file() {
            let bytes = std::fs::read(&p).unwrap();
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                out.push(p);
            }
        }
    }
    out
}

/// Every entry under `root`: kind, mode, owner and content hash (or link
/// target), by relative path.
pub fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, p: &Path, out: &mut BTreeMap<String, String>) {
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        let path = e.path();
        let m = std::fs::symlink_metadata(&path).unwrap();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let what = if m.file_type().is_symlink() {
            format!("link {}", std::fs::read_link(&path).unwrap().display())
        } else if m.is_dir() {
            walk(root, &path, out);
            "dir".to_string()
        } else {
            format!("file {}", sha(&std::fs::read(&path).unwrap()))
        };
        out.insert(
            rel,
            format!("{what} {:o} {}:{}", m.mode() & 0o7777, m.uid(), m.gid()),
        );
    }
}

/// The differences between two tree listings, for assertion messages.
pub fn tree_diff(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> String {
    let mut out = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            None => out.push(format!("- {k}: {v}")),
            Some(w) if w != v => out.push(format!("~ {k}: {v} -> {w}")),
            _ => {}
        }
    }
    for (k, v) in b {
        if !a.contains_key(k) {
            out.push(format!("+ {k}: {v}"));
        }
    }
    out.join("\n")
}

/// A CA and a server certificate for 127.0.0.1 (IP SAN), as PEM: (ca, cert, key).
pub fn test_pki() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "krc test mirror CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// The artifacts over HTTPS on 127.0.0.1 with the given certificate.
pub fn serve_artifacts_tls(cert_pem: &str, key_pem: &str) -> String {
    serve_files_tls(artifact_files(), cert_pem, key_pem)
}

/// `files` by path over HTTPS on 127.0.0.1 with the given certificate.
pub fn serve_files_tls(files: HashMap<String, Vec<u8>>, cert_pem: &str, key_pem: &str) -> String {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs = vec![CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(tcp) = stream else { continue };
            let Ok(conn) = rustls::ServerConnection::new(Arc::clone(&config)) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            // Read until the end of the request head; a failed handshake
            // (an untrusting client) just ends this connection.
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match tls.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&req);
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
            let (status, body) = match files.get(&path) {
                Some(b) => ("200 OK", b.clone()),
                None => ("404 Not Found", b"not found\n".to_vec()),
            };
            let _ = tls.write_all(
                format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            );
            let _ = tls.write_all(&body);
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    url
}

/// Like [`serve_artifacts`], but the log holds each request's whole head
/// (request line and headers), so a test can see what a client sent.
pub fn serve_artifacts_recording_heads() -> (String, Arc<Mutex<Vec<String>>>) {
    serve_logging(artifact_files(), 0, Logged::Head)
}

/// A tree install's set-up: the seed in a tempdir, the stand-in pins and
/// the loopback mirror serving the artifacts.
pub struct Lab {
    dir: tempfile::TempDir,
    pub root: PathBuf,
    pub pins: PathBuf,
    pub url: String,
    /// The paths the mirror was asked for.
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl Lab {
    pub fn new() -> Lab {
        Lab::with(|_| {})
    }

    /// The seed changed by `edit` before the pins are written and the
    /// mirror starts.
    pub fn with(edit: impl FnOnce(&Path)) -> Lab {
        Lab::set_up(edit, None)
    }

    /// Pins whose k3s checksum is `sha` rather than the stand-in's.
    pub fn with_k3s_pin(sha: &str) -> Lab {
        Lab::set_up(|_| {}, Some(sha))
    }

    fn set_up(edit: impl FnOnce(&Path), k3s_pin: Option<&str>) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let root = seed(dir.path());
        edit(&root);
        let pins = write_pins(dir.path(), k3s_pin);
        let (url, seen) = serve_artifacts();
        Lab {
            dir,
            root,
            pins,
            url,
            seen,
        }
    }

    /// The tempdir holding the seed, for reports and logs beside it.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `krc install` against the mirror with `extra` flags.
    pub fn install(&self, extra: &[&str]) -> Output {
        self.install_env(extra, &[])
    }

    /// Like [`Lab::install`], with `env` set for krc.
    pub fn install_env(&self, extra: &[&str], env: &[(&str, &str)]) -> Output {
        install(&self.root, &self.url, &self.pins, extra, env)
    }

    /// The command [`Lab::install`] runs, to spawn or wrap.
    pub fn install_command(&self, extra: &[&str]) -> Command {
        install_command(&self.root, &self.url, &self.pins, extra)
    }

    pub fn uninstall(&self, extra: &[&str]) -> Output {
        uninstall(&self.root, extra)
    }

    /// The tree as it is now (see [`tree`]).
    pub fn tree(&self) -> BTreeMap<String, String> {
        tree(&self.root)
    }
}

/// `krc install --user alice` for the tree `root`, the mirror `url` and the
/// pins, with `env` set for krc.
pub fn install(
    root: &Path,
    url: &str,
    pins: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let mut c = install_command(root, url, pins, extra);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// `krc install --user alice` for the seed tree, the loopback mirror and
/// the stand-in pins.
pub fn install_command(root: &Path, url: &str, pins: &Path, extra: &[&str]) -> Command {
    let mut c = crate::support::krc();
    c.args([
        "install",
        "--user",
        "alice",
        "--k3s-version",
        VERSION,
        "--mirror",
        url,
    ])
    .arg("--pins")
    .arg(pins)
    .arg("--root")
    .arg(root)
    .args(extra)
    .env_remove("KRC_FAULT_STEP")
    .env_remove("GITHUB_TOKEN");
    c
}

/// `krc uninstall --user alice` for the tree `root`.
pub fn uninstall(root: &Path, extra: &[&str]) -> Output {
    crate::support::krc()
        .args(["uninstall", "--user", "alice", "--root"])
        .arg(root)
        .args(extra)
        .output()
        .unwrap()
}

/// A command's exit status and both streams, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
