//! Waiting for the API server after start: `~/.kube/k3s.yaml` exists and
//! https://127.0.0.1:6443 answers (any HTTP status: 401 means it is up).
//! Each second of waiting is an [`Event::Waiting`] (the terminal draws a
//! progress line from it).

use std::path::Path;
use std::time::{Duration, Instant};

use super::{Event, Sink};

/// Why k3s's API was not seen up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WaitError {
    #[error("failed to set up the HTTP client")]
    Client(#[source] reqwest::Error),
    /// `last`: what the last attempt saw.
    #[error("k3s did not come up within {secs}s: {last}")]
    TimedOut { secs: u64, last: String },
    /// A signal came while krc waited (`last`: what it had seen).
    #[error("interrupted by {sig} while waiting for k3s's API ({last}): krc undoes this run")]
    Interrupted { sig: &'static str, last: String },
}

/// How often the wait looks for a signal between two attempts.
const TICK: Duration = Duration::from_millis(100);

/// Waits for the API server: what it saw when it answered. `signal` says
/// whether SIGINT, SIGTERM or SIGHUP came (the install's
/// [`super::signal::received`]): the wait then ends within [`TICK`], so
/// Ctrl-C during a long wait starts the rollback at once.
pub(crate) fn wait_for_api(
    kubeconfig: &Path,
    timeout: Duration,
    signal: fn() -> Option<i32>,
    sink: &mut dyn Sink,
) -> Result<String, WaitError> {
    super::fetch::ensure_tls_provider();
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        // Liveness only: the CA is in the kubeconfig the server has not
        // necessarily written yet; nothing is sent but a GET of /readyz.
        .danger_accept_invalid_certs(true)
        .build()
        .map_err(WaitError::Client)?;
    let start = Instant::now();
    let mut last = String::from("not tried yet");
    let mut i = 0;
    while start.elapsed() < timeout {
        if kubeconfig.exists() {
            match client.get("https://127.0.0.1:6443/readyz").send() {
                Ok(r) => {
                    sink.event(&Event::WaitEnded);
                    return Ok(format!(
                        "the API answered HTTP {} after {}s; {} exists",
                        r.status().as_u16(),
                        start.elapsed().as_secs(),
                        kubeconfig.display()
                    ));
                }
                Err(e) => last = format!("https://127.0.0.1:6443: {}", super::fetch::chain(&e)),
            }
        } else {
            last = format!("{} does not exist yet", kubeconfig.display());
        }
        sink.event(&Event::Waiting {
            attempt: i,
            elapsed: start.elapsed(),
            timeout,
            last: last.clone(),
        });
        i += 1;
        let next = Instant::now() + Duration::from_secs(1);
        while Instant::now() < next {
            if let Some(sig) = signal() {
                sink.event(&Event::WaitEnded);
                return Err(WaitError::Interrupted {
                    sig: crate::stop::name(sig),
                    last,
                });
            }
            std::thread::sleep(TICK);
        }
    }
    sink.event(&Event::WaitEnded);
    Err(WaitError::TimedOut {
        secs: timeout.as_secs(),
        last,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn gives_up_after_the_timeout_and_says_what_it_saw() {
        let d = tempfile::tempdir().unwrap();
        let kc = d.path().join("k3s.yaml");
        let mut events: Vec<super::Event> = Vec::new();
        let e = super::wait_for_api(&kc, std::time::Duration::from_secs(1), || None, &mut events)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("did not come up within 1s") && e.contains("does not exist yet"),
            "{e}"
        );
        // One progress event while it waited, with what it saw, then the end.
        assert!(
            matches!(&events[..], [super::Event::Waiting { attempt: 0, last, .. }, super::Event::WaitEnded] if last.contains("does not exist yet")),
            "{events:?}"
        );
    }

    #[test]
    fn a_signal_ends_the_wait_at_once() {
        let d = tempfile::tempdir().unwrap();
        let kc = d.path().join("k3s.yaml");
        let mut events: Vec<super::Event> = Vec::new();
        let started = std::time::Instant::now();
        let e = super::wait_for_api(
            &kc,
            std::time::Duration::from_secs(300),
            || Some(libc::SIGINT),
            &mut events,
        )
        .unwrap_err()
        .to_string();
        // Not the 300 s timeout: the first look for a signal ends it.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{e}"
        );
        assert!(
            e.contains("interrupted by SIGINT") && e.contains("does not exist yet"),
            "{e}"
        );
        assert!(
            matches!(events.last(), Some(super::Event::WaitEnded)),
            "{events:?}"
        );
    }
}
