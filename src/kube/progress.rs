//! Progress on long waits: one self-overwriting line on stderr when it is a
//! terminal, nothing at all in CI logs.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub(crate) struct Progress {
    what: String,
    started: Instant,
    limit: Duration,
    on: bool,
}

impl Progress {
    pub(crate) fn new(what: impl Into<String>, limit: Duration) -> Progress {
        Progress {
            what: what.into(),
            started: Instant::now(),
            limit,
            on: std::io::stderr().is_terminal(),
        }
    }

    pub(crate) fn tick(&self, detail: &str) {
        if self.on {
            let mut e = std::io::stderr().lock();
            let _ = write!(
                e,
                "\r\x1b[2K  waiting for {} ({}s of {}s) {detail}",
                self.what,
                self.started.elapsed().as_secs(),
                self.limit.as_secs()
            );
            let _ = e.flush();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.on {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}
