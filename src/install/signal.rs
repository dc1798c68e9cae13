//! SIGINT, SIGTERM and SIGHUP while the installer changes the host: the
//! signal is noted, not obeyed at once. The action in progress finishes,
//! the run stops before the next one, this run's changes are undone, and
//! the journal and the reports are written; then krc exits with the
//! status a shell expects for that signal (130 for Ctrl-C, 143 for a CI
//! job's SIGTERM). Killing krc halfway would leave a host half-configured,
//! which is the one thing the installer promises never to do.

use crate::stop;

pub(crate) use crate::stop::name;

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn note(sig: libc::c_int) {
    // Only an atomic swap: async-signal-safe.
    stop::request(sig);
}

/// While alive, the signals above are noted instead of ending krc.
pub(crate) struct Deferred {
    old: Vec<(libc::c_int, libc::sigaction)>,
}

impl Deferred {
    pub(crate) fn new() -> Deferred {
        let mut old = Vec::new();
        for sig in SIGNALS {
            // SAFETY: a zeroed sigaction with a handler that only stores an
            // atomic; the previous action is kept and restored on drop.
            unsafe {
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = note as *const () as usize;
                act.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut act.sa_mask);
                let mut prev: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, &act, &mut prev) == 0 {
                    old.push((sig, prev));
                }
            }
        }
        Deferred { old }
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        for (sig, prev) in &self.old {
            // SAFETY: restores the action saved in `new`.
            unsafe { libc::sigaction(*sig, prev, std::ptr::null_mut()) };
        }
    }
}

/// The signal received since the run started, if any.
pub(crate) fn received() -> Option<i32> {
    stop::requested()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_signal_is_noted_not_obeyed() {
        let d = super::Deferred::new();
        // SAFETY: raising a signal at ourselves; the handler only stores.
        unsafe { libc::raise(libc::SIGTERM) };
        assert_eq!(super::received(), Some(libc::SIGTERM));
        assert_eq!(crate::stop::exit_status(libc::SIGTERM), 143);
        drop(d);
        crate::stop::reset();
    }
}
