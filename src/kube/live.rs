//! The live answers: the cluster through [`Kube`], TCP connections to the
//! host's loopback, `systemctl --user` for the user's unit.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use super::client::Kube;
use super::progress::Progress;
use crate::host::accept::{
    AcceptProbes, Answer, NodeFact, PodFact, PortAnswer, ProbeRun, ProbeService, ServiceFact,
    UnitState, VersionFact,
};
use crate::host::probes::run_with_timeout;
use crate::host::{Probe, TargetUser};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const SYSTEMCTL_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct LiveAccept {
    /// The client, or why there is none (the kubeconfig's error).
    kube: Result<Kube, String>,
    /// Is the host the machine krc runs on (not a `--root` tree)?
    live_host: bool,
}

impl LiveAccept {
    pub(crate) fn new(kube: Result<Kube, String>, live_host: bool) -> LiveAccept {
        LiveAccept { kube, live_host }
    }

    fn api<T>(&self, f: impl FnOnce(&Kube) -> Result<T, String>) -> Answer<T> {
        Probe::Answer(match &self.kube {
            Ok(k) => f(k),
            Err(e) => Err(e.clone()),
        })
    }
}

impl AcceptProbes for LiveAccept {
    fn server(&self) -> Answer<String> {
        self.api(|k| Ok(k.server.clone()))
    }

    fn readyz(&self) -> Answer<String> {
        self.api(|k| k.get_text("/readyz"))
    }

    fn version(&self) -> Answer<VersionFact> {
        self.api(Kube::version)
    }

    fn nodes(&self) -> Answer<Vec<NodeFact>> {
        self.api(Kube::nodes)
    }

    fn system_pods(&self, wanted: &[&str], timeout: Duration) -> Answer<Vec<PodFact>> {
        self.api(|k| {
            let deadline = Instant::now() + timeout;
            let progress = Progress::new("kube-system pods to become Ready", timeout);
            loop {
                let pods = k.pods("kube-system")?;
                let missing: Vec<&str> = wanted
                    .iter()
                    .copied()
                    .filter(|w| !pods.iter().any(|p| p.is_of(w) && p.ready))
                    .collect();
                if missing.is_empty() || Instant::now() >= deadline {
                    return Ok(pods);
                }
                progress.tick(&format!("not yet: {}", missing.join(", ")));
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    }

    fn services(&self) -> Answer<Vec<ServiceFact>> {
        self.api(Kube::services)
    }

    fn with_probe_service(
        &self,
        ports: &[u16],
        timeout: Duration,
        visit: &mut dyn FnMut(&ProbeService),
    ) -> Probe<ProbeRun> {
        match &self.kube {
            Ok(k) => Probe::Answer(super::active::run(k, ports, timeout, visit)),
            Err(e) => Probe::Answer(ProbeRun {
                steps: Vec::new(),
                error: Some(e.clone()),
                cleanup: Ok(()),
            }),
        }
    }

    fn connect(&self, port: u16) -> Probe<PortAnswer> {
        if !self.live_host {
            return Probe::NotRun(
                "live probe not run: --root reads a directory tree, not this host's ports".into(),
            );
        }
        Probe::Answer(hello(port))
    }

    fn token_via(&self, port: u16) -> Answer<String> {
        if !self.live_host {
            return Probe::NotRun(
                "live probe not run: --root reads a directory tree, not this host's ports".into(),
            );
        }
        self.api(|k| k.namespace_uid_via(port, super::active::NAMESPACE))
    }

    fn user_unit(&self, user: &TargetUser, unit: &str) -> Answer<UnitState> {
        if !self.live_host {
            return Probe::NotRun(
                "live probe not run: --root reads a directory tree; systemctl answers for this host only".into(),
            );
        }
        let me = nix::unistd::geteuid().as_raw();
        let machine = format!("{}@", user.name);
        // systemd < 248 has no user@ machine transport: root then runs
        // systemctl as the user, through the user's runtime directory.
        let as_user = me == user.uid || !crate::host::systemd::live_machine_transport();
        let base: Vec<&str> = if me == user.uid {
            vec!["--user"]
        } else if me == 0 && !as_user {
            vec!["--user", "-M", &machine]
        } else if me == 0 {
            vec!["-u", &user.name, "--", "systemctl", "--user"]
        } else {
            return Probe::NotRun(format!(
                "krc runs as uid {me}, not as {} (uid {}) or root",
                user.name, user.uid
            ));
        };
        let run = |args: &[&str]| -> Result<String, String> {
            let mut cmd = Command::new(if me != user.uid && as_user {
                "runuser"
            } else {
                "systemctl"
            });
            cmd.args(&base).args(args);
            // Root's environment is not the child's business; the user's
            // own systemctl finds its manager through XDG_RUNTIME_DIR.
            crate::host::probes::clean_env(&mut cmd);
            if as_user {
                crate::host::probes::user_env(&mut cmd, user);
            }
            let out = run_with_timeout(&mut cmd, SYSTEMCTL_TIMEOUT)?;
            let text = out.stdout.trim().to_string();
            // is-enabled/is-active exit non-zero for "disabled"/"inactive":
            // the word on stdout is the answer, stderr the error otherwise.
            if text.is_empty() {
                let err = out.stderr.trim();
                return Err(format!(
                    "systemctl {} {}: {}",
                    base.join(" "),
                    args.join(" "),
                    if err.is_empty() { "no output" } else { err }
                ));
            }
            Ok(text)
        };
        Probe::Answer((|| {
            let enabled = run(&["is-enabled", unit])?;
            let active = run(&["is-active", unit])?;
            let pid = run(&["show", "-p", "MainPID", "--value", unit])?;
            Ok(UnitState {
                enabled,
                active,
                main_pid: pid.parse().ok().filter(|p| *p != 0),
            })
        })())
    }

    fn kubeconfig_env(&self) -> Option<String> {
        std::env::var_os("KUBECONFIG").map(|v| v.to_string_lossy().into_owned())
    }
}

/// Connects to `127.0.0.1:port`, sends an HTTP HEAD and reads the first
/// line of the answer. A forward whose inside is dead accepts and then
/// closes (slirp4netns does), which a bare connect would take for success.
pub(crate) fn hello(port: u16) -> PortAnswer {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
        Ok(s) => s,
        Err(e) => return PortAnswer::Refused(format!("connect 127.0.0.1:{port}: {e}")),
    };
    let _ = s.set_read_timeout(Some(CONNECT_TIMEOUT));
    let _ = s.set_write_timeout(Some(CONNECT_TIMEOUT));
    if let Err(e) = s.write_all(b"HEAD / HTTP/1.0\r\nHost: localhost\r\n\r\n") {
        return PortAnswer::Closed(format!("write: {e}"));
    }
    let mut buf = [0u8; 256];
    match s.read(&mut buf) {
        Ok(0) => PortAnswer::Closed("end of stream".into()),
        Ok(n) => {
            let text = String::from_utf8_lossy(&buf[..n]);
            PortAnswer::Answered(text.lines().next().unwrap_or("").trim().to_string())
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            PortAnswer::Silent
        }
        Err(e) => PortAnswer::Closed(e.to_string()),
    }
}
