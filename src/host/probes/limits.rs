//! The caps on what root reads from a peer, stated once. krc runs as root
//! next to a target user assumed hostile: every child it runs as that user,
//! every socket of theirs and the user's own API server (k3s runs as the
//! user) can answer with an endless stream. Each read stops at its cap with
//! an error that names it, so root's memory stays bounded whatever a peer
//! sends; the deadlines bound the time. A peer past its cap is ended (a
//! child killed, a body dropped); only root's own installer commands,
//! which no user controls, run on with their last bytes kept.
//!
//! | peer | cap | why this size |
//! | --- | --- | --- |
//! | the userns probe helper's verdict | [`PROBE_HELPER`] | one line (`ok NONCE`), plus a few debug lines in test builds |
//! | a probe's command (`systemctl`, `--version`, `getsubids`) | [`PROBE_COMMAND`] | a state word, a version, a few id ranges |
//! | an installer command as the user (`runuser`, `systemctl --user`) | [`INSTALL_COMMAND`] | a unit's status or a script's log; only its tail is shown |
//! | root's own installer command (apt, dpkg) | [`INSTALL_COMMAND`], its last bytes kept | apt's output is tens of KiB; it is not killed halfway for talking |
//! | the user manager's socket | `userbus::MAX_MESSAGE` (64 KiB) | one D-Bus reply holding one word |
//! | one API server response body | [`API_BODY`] | a list of a small cluster's pods or services is a few hundred KiB |

/// Bytes of stdout, and of stderr, read from the userns probe helper.
pub(crate) const PROBE_HELPER: usize = 16 * 1024;
/// Bytes of stdout, and of stderr, read from a probe's command.
pub(crate) const PROBE_COMMAND: usize = 1024 * 1024;
/// Bytes of stdout, and of stderr, read from an installer command.
pub(crate) const INSTALL_COMMAND: usize = 16 * 1024 * 1024;
/// Bytes of one response body from the Kubernetes API server.
pub(crate) const API_BODY: usize = 8 * 1024 * 1024;

/// How a cap reads in a message: "8 MiB", "16 KiB".
pub(crate) fn shown(bytes: usize) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn caps_read_as_units() {
        assert_eq!(super::shown(super::API_BODY), "8 MiB");
        assert_eq!(super::shown(super::PROBE_HELPER), "16 KiB");
        assert_eq!(super::shown(1000), "1000 bytes");
    }
}
