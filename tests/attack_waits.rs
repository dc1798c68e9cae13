//! Every wait has a deadline and every peer's output a cap (issue 16,
//! items 2, 8, 9, 11 and Ctrl-C). krc runs as root; the target user owns
//! the user manager's socket, runs the probe helper and runs k3s (the API
//! server). Each test plays that user for real (runuser, a real unix
//! socket, a real TLS server) and asserts that root finishes in time, with
//! bounded memory, holding nothing of root's out to the user.

mod apiserver;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apiserver::pki::{Ca, kubeconfig};
use apiserver::{ApiServer, State};

/// Not `krc-attacker`: other test files plant in that user's home, and
/// this one plants in its runtime directory.
const ATTACKER: &str = "krc-attacker-waits";
const PYTHON: &str = "/usr/bin/python3";

fn attacker() -> (u32, u32, PathBuf) {
    static ONCE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONCE.lock().unwrap_or_else(|e| e.into_inner());
    support::ensure_user(ATTACKER).expect("create the attacker user")
}

/// A program of the attacker's, as the attacker, in the background; it
/// ends when its stdin closes (see [`Killed`]).
fn as_attacker_bg(script: &str) -> Child {
    Command::new("runuser")
        .args(["-u", ATTACKER, "--", PYTHON, "-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Waits for the attacker's "ready" line.
fn ready(c: &mut Child) {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(c.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "the attacker did not get ready");
}

struct Killed(Child);

/// Python ends when its stdin closes: the script runs `STOP_ON_EOF`.
/// Closing it reaches the attacker's process behind runuser.
impl Drop for Killed {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The attacker's scripts end when the test closes their stdin.
const STOP_ON_EOF: &str = r#"
import os as _os, sys as _sys, threading as _th
def _eof():
    _sys.stdin.read()
    _os._exit(0)
_th.Thread(target=_eof, daemon=True).start()
"#;

/// What a finished krc did: its exit code, all it printed, its peak RSS
/// (KiB) and how long it took.
struct Ran {
    code: Option<i32>,
    text: String,
    max_rss_kib: i64,
    took: Duration,
}

/// Runs `cmd` to its end or kills it after `limit` (Err: it hung), with
/// its own peak memory from wait4(2).
// wait4 reaps the child (std's wait cannot return its rusage).
#[allow(clippy::zombie_processes)]
fn run_measured(cmd: &mut Command, limit: Duration) -> Result<Ran, String> {
    let out = tempfile::NamedTempFile::new().unwrap();
    let started = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out.reopen().unwrap())
        .stderr(out.reopen().unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 fills it for this child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waits for our own child, without blocking.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        if started.elapsed() > limit {
            // SAFETY: our own child, not yet reaped.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::wait4(pid, &mut status, 0, &mut usage);
            }
            let text = std::fs::read_to_string(out.path()).unwrap_or_default();
            return Err(format!(
                "still running after {}s: killed; it printed:\n{text}",
                limit.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::mem::forget(child);
    Ok(Ran {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        text: std::fs::read_to_string(out.path()).unwrap_or_default(),
        max_rss_kib: usage.ru_maxrss,
        took: started.elapsed(),
    })
}

/// Item 2. The user's manager socket, `/run/user/UID/systemd/private`,
/// is the user's: a listener there that never accepts, its backlog full,
/// held root's blocking `connect` for ever (preflight, install, accept;
/// Ctrl-C did not help). Now root's preflight finishes within seconds.
///
/// The probe is asked only on a systemd host with a system bus; the test
/// makes krc see one in a private mount and PID namespace (PID 1 named
/// `systemd`, /run/systemd/system, a system bus socket file), so the real
/// check reaches the real socket on any machine.
#[test]
fn a_full_backlog_on_the_users_manager_socket_does_not_hang_preflight() {
    if !support::is_root() {
        lab_skip!("needs root to act as another user");
    }
    if !Path::new(PYTHON).exists() || !support::have("unshare") {
        lab_skip!("needs {PYTHON} and unshare");
    }
    let (uid, gid, _) = attacker();
    let run_dir = PathBuf::from(format!("/run/user/{uid}"));
    std::fs::create_dir_all(&run_dir).unwrap();
    std::os::unix::fs::chown(&run_dir, Some(uid), Some(gid)).unwrap();
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let socket = run_dir.join("systemd/private");
    let script = format!(
        r#"{STOP_ON_EOF}
import os, socket, sys, time
os.makedirs("{dir}", exist_ok=True)
try: os.unlink("{sock}")
except FileNotFoundError: pass
l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
l.bind("{sock}")
l.listen(0)
held = []
while True:
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.setblocking(False)
    try: c.connect("{sock}")
    except BlockingIOError: break
    held.append(c)
print("ready", flush=True)
time.sleep(120)
"#,
        dir = run_dir.join("systemd").display(),
        sock = socket.display()
    );
    let mut planted = Killed(as_attacker_bg(&script));
    ready(&mut planted.0);

    // Mount points for the private mounts below; removed again if this
    // test made them (the host's own stay).
    let made: Vec<&str> = ["/run/systemd", "/run/dbus"]
        .into_iter()
        .filter(|d| std::fs::create_dir(d).is_ok())
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let pid1 = tmp.path().join("systemd");
    std::fs::copy("/bin/sh", &pid1).unwrap();
    let krc = env!("CARGO_BIN_EXE_krc");
    let inner = format!(
        "mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/system && \
         mount -t tmpfs tmpfs /run/dbus && \
         {PYTHON} -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"/run/dbus/system_bus_socket\")' && \
         exec {pid1} -c '{krc} preflight --exact session.runtime-dir --user {ATTACKER}; exit $?'",
        pid1 = pid1.display()
    );
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--pid",
        "--fork",
        "--mount-proc",
        "sh",
        "-c",
        &inner,
    ]);
    let ran = run_measured(&mut cmd, Duration::from_secs(40));
    drop(planted);
    for d in made {
        let _ = std::fs::remove_dir(d);
    }
    let ran = ran.unwrap_or_else(|e| {
        panic!(
            "root's preflight hung on {ATTACKER}'s socket {}: {e}",
            socket.display()
        )
    });
    assert!(
        ran.text.contains("session.runtime-dir"),
        "the check did not run:\n{}",
        ran.text
    );
    // The live probe ran (not a skip): it asked the socket, then
    // systemctl, and says what systemctl said.
    assert!(
        ran.text.contains("systemctl --user is-system-running:"),
        "the probe never ran:\n{}",
        ran.text
    );
    assert!(
        ran.took < Duration::from_secs(20),
        "took {:?}:\n{}",
        ran.took,
        ran.text
    );
}

/// A TLS API stand-in with `state` and a kubeconfig for it; the suite
/// with its port.
struct Cluster {
    api: ApiServer,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    suite: PathBuf,
}

fn cluster(state: State) -> Cluster {
    let ca = Ca::new("k3s-server-ca@1764150000");
    let client_ca = Ca::new("k3s-client-ca@1764150000");
    let client = client_ca.client();
    let api = ApiServer::start(&ca.server(), &[], &client_ca.cert_der, state);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig_path = dir.path().join("k3s.yaml");
    std::fs::write(
        &kubeconfig_path,
        kubeconfig(&api.url(), &ca.cert_pem, &client),
    )
    .unwrap();
    std::fs::set_permissions(&kubeconfig_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = std::fs::read_to_string(support::repo().join("suites/acceptance.toml")).unwrap();
    let suite = dir.path().join("suite.toml");
    std::fs::write(
        &suite,
        text.replace("api_port = 6443", &format!("api_port = {}", api.port)),
    )
    .unwrap();
    Cluster {
        api,
        dir,
        kubeconfig: kubeconfig_path,
        suite,
    }
}

impl Cluster {
    fn accept(&self, check: &str) -> Command {
        let mut c = support::krc();
        c.args(["accept", check, "--exact", "--suite"])
            .arg(&self.suite)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--junit")
            .arg(self.dir.path().join("accept.xml"))
            .env_remove("KUBECONFIG");
        c
    }
}

/// Item 11. k3s runs as the user: the API server answering root's
/// `krc accept` is the user's process. An endless body (here up to 1 GiB)
/// was kept whole (GBs of root's memory from one call); now the read stops
/// at 8 MiB, the check says so, and krc's peak memory stays small.
#[test]
fn an_endless_api_body_is_cut_at_the_cap() {
    let mut state = State::k3s((30080, 30443));
    state.flood = vec!["/api/v1/nodes".into()];
    let c = cluster(state);
    let ran = run_measured(&mut c.accept("node.single-ready"), Duration::from_secs(90))
        .unwrap_or_else(|e| panic!("krc accept: {e}"));
    assert!(
        ran.text
            .contains("the API server's answer was larger than 8 MiB"),
        "{}",
        ran.text
    );
    assert_eq!(ran.code, Some(1), "the check fails:\n{}", ran.text);
    // 8 MiB of body, kube's decoding of nothing, TLS buffers and the
    // binary itself: well under 160 MiB. Keeping the body took GBs.
    assert!(
        ran.max_rss_kib < 160 * 1024,
        "krc's peak RSS was {} MiB:\n{}",
        ran.max_rss_kib / 1024,
        ran.text
    );
}

/// Ctrl-C while root waits on the user's API server, which reads the
/// request and never answers: krc stops waiting at once, says it was
/// interrupted, writes its report and exits 130, instead of sitting out
/// the call's deadline.
#[test]
fn ctrl_c_ends_a_wait_on_a_silent_api_server() {
    let mut state = State::k3s((30080, 30443));
    state.stall = vec!["/api/v1/nodes".into()];
    let c = cluster(state);
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut child = c
        .accept("node.single-ready")
        .stdin(Stdio::null())
        .stdout(out.reopen().unwrap())
        .stderr(out.reopen().unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !c.api.requests().iter().any(|r| r == "GET /api/v1/nodes") {
        assert!(Instant::now() < deadline, "krc never asked for the nodes");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if signalled.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("krc did not stop within 20s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = signalled.elapsed();
    let text = std::fs::read_to_string(out.path()).unwrap();
    assert!(
        took < Duration::from_secs(3),
        "krc took {took:?} after SIGINT:\n{text}"
    );
    assert_eq!(status.code(), Some(130), "{text}");
    assert!(
        text.contains("interrupted by SIGINT: krc stopped waiting for the API server"),
        "{text}"
    );
}

/// Item 9. Root's descriptors without close-on-exec (a cron job's, a CI
/// runner's, a root shell's) reached the probe helper, which runs as the
/// user: the user read a root-only file through one. Here the parent of
/// krc holds a root-only file on descriptor 7 without close-on-exec; the
/// helper's own list of its descriptors (test-build hook KRC_PROBE_LOG)
/// must not show it.
#[test]
fn a_descriptor_root_inherited_does_not_reach_the_probe_helper() {
    if !support::is_root() {
        lab_skip!("needs root to act as another user");
    }
    attacker();
    let d = tempfile::tempdir().unwrap();
    let secret = d.path().join("root-only-secret");
    std::fs::write(&secret, "KRC-ROOT-ONLY-9d2e").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let log = d.path().join("probe.log");
    let file = std::fs::File::open(&secret).unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&file);
    let mut cmd = support::krc();
    cmd.args(["preflight", "--exact", "userns.enabled", "--user", ATTACKER])
        .env("KRC_PROBE_LOG", &log);
    // SAFETY: dup2 in the forked child, onto 7, which dup2 leaves without
    // close-on-exec: what a careless parent hands down.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 7) != 7 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let ran = run_measured(&mut cmd, Duration::from_secs(60)).unwrap();
    drop(file);
    let seen = std::fs::read_to_string(&log).unwrap_or_default();
    let fds: Vec<&str> = seen
        .lines()
        .filter_map(|l| l.strip_prefix("debug fd "))
        .collect();
    assert!(
        !fds.is_empty(),
        "the helper listed no descriptors:\n{}\n{seen}",
        ran.text
    );
    assert!(
        !seen.contains(secret.to_str().unwrap()),
        "the user's helper held root's file: {fds:?}"
    );
}

/// Item 8. The probe helper runs as the user, who may copy its stdout
/// (`pidfd_getfd`) while it is dumpable and write into root's pipe: 6.6 GB
/// of root's memory and a forged `ok` taken. Here the user watches for the
/// helper and, if it can reach it, floods its stdout. Root's memory must
/// stay bounded, the run end in time, and no forged report be taken as
/// the verdict (the flood's lines carry no nonce).
#[test]
fn a_user_flooding_the_probe_helpers_pipe_cannot_fill_root() {
    if !support::is_root() {
        lab_skip!("needs root to act as another user");
    }
    if !Path::new(PYTHON).exists() {
        lab_skip!("needs {PYTHON}");
    }
    attacker();
    let script = STOP_ON_EOF.to_string()
        + r#"
import ctypes, os, sys, time, threading
libc = ctypes.CDLL(None, use_errno=True)
me = os.getuid()
print("ready", flush=True)
got = 0
def flood(fd):
    line = b"ok forged\n" * 6554
    end = time.time() + 8
    try:
        while time.time() < end:
            os.write(fd, line)
    except OSError:
        pass
end = time.time() + 110
seen = set()
while time.time() < end:
    for p in os.listdir("/proc"):
        if not p.isdigit() or p in seen:
            continue
        try:
            if os.stat("/proc/" + p).st_uid != me:
                continue
            if b"__userns-probe" not in open("/proc/%s/cmdline" % p, "rb").read():
                continue
        except OSError:
            continue
        seen.add(p)
        pidfd = libc.syscall(434, int(p), 0)
        if pidfd < 0:
            continue
        fd = libc.syscall(438, pidfd, 1, 0)
        if fd >= 0:
            threading.Thread(target=flood, args=(fd,), daemon=True).start()
"#;
    let mut watcher = Killed(as_attacker_bg(&script));
    ready(&mut watcher.0);
    for _ in 0..5 {
        let mut cmd = support::krc();
        cmd.args(["preflight", "--exact", "userns.enabled", "--user", ATTACKER]);
        let ran = run_measured(&mut cmd, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("krc preflight: {e}"));
        assert!(
            ran.max_rss_kib < 100 * 1024,
            "krc's peak RSS was {} MiB:\n{}",
            ran.max_rss_kib / 1024,
            ran.text
        );
        assert!(ran.took < Duration::from_secs(20), "took {:?}", ran.took);
        assert!(!ran.text.contains("forged"), "{}", ran.text);
    }
}
