//! Who a host is, for a fleet view: its distribution (`/etc/os-release`'s
//! `ID` and `VERSION_ID`) and a stable id derived from `/etc/machine-id`.
//! Both are read through the rooted, bounded file layer like every fact,
//! so under `--root` they come from the tree.
//!
//! The machine id is never reported as is: systemd documents it as
//! confidential ("should be considered confidential, and must not be
//! exposed in untrusted environments", machine-id(5)), and it is the key
//! to other ids derived from it. The report carries a hash of it under a
//! prefix of krc's own, so the value matches no other program's hash of
//! the same id and cannot be turned back into it.

use sha2::{Digest, Sha256};

use super::Host;

/// The domain-separation prefix of the host id hash.
const HOST_ID_DOMAIN: &[u8] = b"krc host id\0";

/// How many hex digits of the hash the id keeps: 64 bits, plenty to tell
/// a fleet's hosts apart.
const HOST_ID_HEX: usize = 16;

/// The distribution as `/etc/os-release` names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OsRelease {
    /// `ID`, e.g. `debian`.
    pub(crate) id: Option<String>,
    /// `VERSION_ID`, e.g. `12`.
    pub(crate) version_id: Option<String>,
    /// `PRETTY_NAME`, e.g. `Debian GNU/Linux 12 (bookworm)`.
    pub(crate) pretty_name: Option<String>,
}

/// `/etc/os-release`, or `/usr/lib/os-release` where /etc has none (the
/// order os-release(5) gives); None when neither can be read.
pub(crate) fn os_release(host: &Host) -> Option<OsRelease> {
    ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|p| host.read_opt(p).ok().flatten())
        .map(|t| parse_os_release(&t))
}

/// The fields krc reports, from os-release's shell-like `KEY=value` lines.
pub(crate) fn parse_os_release(text: &str) -> OsRelease {
    let mut r = OsRelease::default();
    for line in text.lines() {
        let Some((key, value)) = line.trim().split_once('=') else {
            continue;
        };
        let value = unquote(value.trim());
        // A value krc puts in a report: one short printable line.
        if value.is_empty() || value.len() > 128 || value.chars().any(char::is_control) {
            continue;
        }
        match key.trim() {
            "ID" => r.id = Some(value),
            "VERSION_ID" => r.version_id = Some(value),
            "PRETTY_NAME" => r.pretty_name = Some(value),
            _ => {}
        }
    }
    r
}

/// A value without its quotes and with shell escapes undone
/// (os-release(5): `\"`, `\\`, `\$` and `` \` `` inside double quotes).
fn unquote(v: &str) -> String {
    let inner = if v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
    {
        &v[1..v.len() - 1]
    } else {
        v
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The host's stable id: the hash of its machine id (see the module doc),
/// None when `/etc/machine-id` is missing, empty or not 32 hex digits
/// (`uninitialized` on a first boot, an image's blank file).
pub(crate) fn host_id(host: &Host) -> Option<String> {
    let text = host.read_opt("/etc/machine-id").ok().flatten()?;
    host_id_of(&text)
}

pub(crate) fn host_id_of(machine_id: &str) -> Option<String> {
    let id = machine_id.trim();
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut h = Sha256::new();
    h.update(HOST_ID_DOMAIN);
    h.update(id.to_ascii_lowercase().as_bytes());
    let mut hex = hex::encode(h.finalize());
    hex.truncate(HOST_ID_HEX);
    Some(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_fields_are_unquoted_and_bounded() {
        let r = parse_os_release(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian\"\nVERSION_ID=\"12\"\nID=debian\n# ID=comment\nBAD=\"\x1b[31m\"\n",
        );
        assert_eq!(r.id.as_deref(), Some("debian"));
        assert_eq!(r.version_id.as_deref(), Some("12"));
        assert_eq!(
            r.pretty_name.as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        let r = parse_os_release("ID=\"a\\\"b\"\nVERSION_ID='9.4'\nPRETTY_NAME=\"\x07x\"\n");
        assert_eq!(r.id.as_deref(), Some("a\"b"));
        assert_eq!(r.version_id.as_deref(), Some("9.4"));
        assert_eq!(r.pretty_name, None, "a control character is not reported");
    }

    #[test]
    fn host_id_is_a_prefixed_hash_never_the_id() {
        let mid = "0123456789abcdef0123456789ABCDEF\n";
        let id = host_id_of(mid).unwrap();
        assert_eq!(id.len(), HOST_ID_HEX);
        assert!(!mid.to_lowercase().contains(&id));
        // Not the plain SHA-256 of the id: the prefix separates the domain.
        let plain = hex::encode(Sha256::digest(b"0123456789abcdef0123456789abcdef"));
        assert!(!plain.starts_with(&id));
        // Stable, whatever the case and the newline.
        assert_eq!(
            host_id_of("0123456789ABCDEF0123456789abcdef").as_deref(),
            Some(id.as_str())
        );
        for bad in [
            "",
            "uninitialized\n",
            "0123",
            "g123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(host_id_of(bad), None, "{bad:?}");
        }
    }
}
