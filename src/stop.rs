//! A run asked to stop (Ctrl-C, or a CI job's SIGTERM): the check that is
//! running finishes, every check not yet started is reported as skipped
//! "interrupted", and the reports are still written. Whoever catches the
//! signal calls [`request`]; the runner asks [`requested`] before each
//! check; the command exits with 128 + the signal's number at the end.

use std::sync::atomic::{AtomicI32, Ordering};

static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// Notes that the run must stop; true if it was asked already (a second
/// interrupt, on which the caller may exit at once).
pub(crate) fn request(sig: i32) -> bool {
    SIGNAL.swap(sig, Ordering::SeqCst) != 0
}

pub(crate) fn requested() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

pub(crate) fn name(sig: i32) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// The exit status a shell reports for a process ended by `sig`.
pub(crate) fn exit_status(sig: i32) -> u8 {
    (128 + sig).clamp(0, 255) as u8
}

#[cfg(test)]
pub(crate) fn reset() {
    SIGNAL.store(0, Ordering::SeqCst);
}
