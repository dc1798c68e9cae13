//! `ports.free`: nothing listens where k3s will.

use super::{Ctx, Findings, Status, Verdict, at};
use crate::host::FactError;
use crate::host::net::parse_tcp_listeners;

pub(super) fn free(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let mut f = Findings::default();
    let mut listeners = Vec::new();
    let mut texts = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Some(text) = host.read_opt(file)? {
            listeners.extend(parse_tcp_listeners(&text, file)?);
            texts.push((file, text));
        }
    }
    if texts.is_empty() {
        return Err(FactError::Missing {
            path: "/proc/net/tcp".to_string(),
        });
    }
    for port in &ctx.params.ports {
        for l in listeners.iter().filter(|l| l.port == *port) {
            let raw = texts
                .iter()
                .find(|(f, _)| *f == l.file)
                .and_then(|(_, t)| t.lines().nth(l.line - 1))
                .unwrap_or("");
            f.observe(at(&l.file, l.line, raw.trim()));
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
Verifies from /proc/net/tcp and /proc/net/tcp6 that nothing listens on TCP 6443 (the API server), 10080 and 10443 (traefik's 80 and 443 as rootless k3s forwards them: a port up to and including 1024 moves to port + 10000). A suite can name other ports.

Why: rootless k3s forwards the API port and every LoadBalancer port from its namespace to the host, listening on all host addresses. If the host port is taken, the forward fails: the API is unreachable from the host (kubectl gets \"connection refused\" or talks to the wrong server) or traefik's ports never appear.

Fix: find the process with `sudo ss -ltnp 'sport = :PORT'` and stop it, or move k3s (--https-listen-port for the API).";
}
