//! `ports.free`: nothing listens where k3s will.

use super::{Ctx, Findings, Status, Verdict, at};
use crate::host::net::{SOCK_DIAG, live_tcp_listeners, parse_tcp_listeners};
use crate::host::{FactError, Origin};

pub(super) fn free(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let mut f = Findings::default();
    // On the live host the kernel is asked for listening sockets only
    // (sock_diag, what `ss -lt` uses); reading /proc/net/tcp walks every
    // socket. A tree has only its files. Both name where they read.
    let listeners = if host.origin() == Origin::Live {
        live_tcp_listeners(|file| host.read_opt(file))?
    } else {
        let mut found = Vec::new();
        let mut any = false;
        for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
            if let Some(text) = host.read_opt(file)? {
                found.extend(parse_tcp_listeners(&text, file)?);
                any = true;
            }
        }
        if !any {
            return Err(FactError::Missing {
                path: "/proc/net/tcp".to_string(),
            });
        }
        found
    };
    for port in &ctx.params.ports {
        for l in listeners.iter().filter(|l| l.port == *port) {
            if l.file == SOCK_DIAG {
                f.observe(format!(
                    "{SOCK_DIAG}: {}:{} LISTEN uid {}",
                    l.addr, l.port, l.uid
                ));
            } else {
                let raw = host
                    .read_opt(&l.file)?
                    .and_then(|t| t.lines().nth(l.line - 1).map(str::to_string))
                    .unwrap_or_default();
                f.observe(at(&l.file, l.line, raw.trim()));
            }
            f.find(
                Status::Fail,
                format!(
                    "TCP {port} is in use: {}:{port} listens (uid {}, {})",
                    l.addr,
                    l.uid,
                    host.owner_name(l.uid)
                ),
            );
            f.remedy(format!("sudo ss -ltnp 'sport = :{port}'   # names the process; stop it, or give k3s another port"));
        }
    }
    let ports: Vec<String> = ctx.params.ports.iter().map(|p| p.to_string()).collect();
    f.observe(format!(
        "{} listening TCP sockets checked for ports {}",
        listeners.len(),
        ports.join(", ")
    ));
    Ok(f.finish(format!("TCP {} are free", ports.join(", "))))
}

#[allow(non_upper_case_globals)]
pub(super) mod explain {
    pub(crate) const free: &str = "\
Verifies that nothing listens on TCP 6443 (the API server), 10080 and 10443 (traefik's 80 and 443 as rootless k3s forwards them: a port up to and including 1024 moves to port + 10000). A suite can name other ports. On the live host the listening sockets come from the kernel's sock_diag netlink interface (what `ss -lt` uses), falling back to /proc/net/tcp and /proc/net/tcp6 where netlink is refused; a --root tree is judged from its /proc/net/tcp files.

Why: rootless k3s forwards the API port and every LoadBalancer port from its namespace to the host, listening on all host addresses. If the host port is taken, the forward fails: the API is unreachable from the host (kubectl gets \"connection refused\" or talks to the wrong server) or traefik's ports never appear.

Fix: find the process with `sudo ss -ltnp 'sport = :PORT'` and stop it, or move k3s (--https-listen-port for the API).";
}
