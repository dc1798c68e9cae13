//! Waiting for the API server after start: `~/.kube/k3s.yaml` exists and
//! https://127.0.0.1:6443 answers (any HTTP status: 401 means it is up).
//! A progress line is drawn only on a terminal.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

pub(crate) fn wait_for_api(kubeconfig: &Path, timeout: Duration) -> Result<String, String> {
    super::fetch::ensure_tls_provider();
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        // Liveness only: the CA is in the kubeconfig the server has not
        // necessarily written yet; nothing is sent but a GET of /readyz.
        .danger_accept_invalid_certs(true)
        .build()
        .map_err(|e| {
            format!(
                "failed to set up the HTTP client: {}",
                super::fetch::chain(&e)
            )
        })?;
    let tty = std::io::stdout().is_terminal();
    let start = Instant::now();
    let spin = ['|', '/', '-', '\\'];
    let mut last = String::from("not tried yet");
    let mut i = 0;
    while start.elapsed() < timeout {
        if kubeconfig.exists() {
            match client.get("https://127.0.0.1:6443/readyz").send() {
                Ok(r) => {
                    if tty {
                        print!("\r\x1b[K");
                    }
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
        if tty {
            print!(
                "\r  {} waiting for k3s: {}s of {}s ({last})\x1b[K",
                spin[i % 4],
                start.elapsed().as_secs(),
                timeout.as_secs()
            );
            let _ = std::io::stdout().flush();
        }
        i += 1;
        std::thread::sleep(Duration::from_secs(1));
    }
    if tty {
        print!("\r\x1b[K");
    }
    Err(format!(
        "k3s did not come up within {}s: {last}",
        timeout.as_secs()
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn gives_up_after_the_timeout_and_says_what_it_saw() {
        let d = tempfile::tempdir().unwrap();
        let kc = d.path().join("k3s.yaml");
        let e = super::wait_for_api(&kc, std::time::Duration::from_secs(1)).unwrap_err();
        assert!(
            e.contains("did not come up within 1s") && e.contains("does not exist yet"),
            "{e}"
        );
    }
}
