//! A small POSIX ustar writer: directories, regular files, symbolic links
//! and FIFOs, owned by root, which is all a capture's tree holds. Written
//! here rather than taken from a crate because it is this little, and so
//! that nothing of the live file system (owner names, times, xattrs)
//! reaches the archive: every field is what the capture decided.

/// One entry of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    Dir,
    File(Vec<u8>),
    /// A link with this text (never followed when written or extracted).
    Symlink(String),
    Fifo,
}

/// Why a name cannot go into a ustar header.
#[derive(Debug, thiserror::Error)]
#[error("{0}: the path is too long for a tar archive (ustar: 100 bytes of name, 155 of prefix)")]
pub(crate) struct TooLong(pub(crate) String);

const BLOCK: usize = 512;

/// `name` (relative, `/`-separated) split into ustar's prefix and name.
fn split(path: &str) -> Option<(&str, &str)> {
    if path.len() <= 100 {
        return Some(("", path));
    }
    // The prefix ends at a `/`; the name after it fits in 100 bytes.
    path.char_indices()
        .filter(|(i, c)| *c == '/' && *i <= 155 && path.len() - i - 1 <= 100)
        .map(|(i, _)| (&path[..i], &path[i + 1..]))
        .next()
}

fn put(h: &mut [u8], at: usize, len: usize, s: &[u8]) {
    let n = s.len().min(len);
    h[at..at + n].copy_from_slice(&s[..n]);
}

fn octal(h: &mut [u8], at: usize, len: usize, v: u64) {
    let s = format!("{v:0width$o}", width = len - 1);
    put(h, at, len - 1, s.as_bytes());
}

/// Appends `path` (relative, no leading `/`) as `entry` with `mode`.
pub(crate) fn append(
    out: &mut Vec<u8>,
    path: &str,
    entry: &Entry,
    mode: u32,
) -> Result<(), TooLong> {
    let shown = if matches!(entry, Entry::Dir) {
        format!("{path}/")
    } else {
        path.to_string()
    };
    let (prefix, name) = split(&shown).ok_or_else(|| TooLong(path.to_string()))?;
    let mut h = [0u8; BLOCK];
    put(&mut h, 0, 100, name.as_bytes());
    octal(&mut h, 100, 8, u64::from(mode & 0o7777));
    octal(&mut h, 108, 8, 0);
    octal(&mut h, 116, 8, 0);
    let (size, kind, link): (usize, u8, &[u8]) = match entry {
        Entry::Dir => (0, b'5', b""),
        Entry::File(b) => (b.len(), b'0', b""),
        Entry::Symlink(t) => (0, b'2', t.as_bytes()),
        Entry::Fifo => (0, b'6', b""),
    };
    if link.len() > 100 {
        return Err(TooLong(format!(
            "{path} -> {}",
            String::from_utf8_lossy(link)
        )));
    }
    octal(&mut h, 124, 12, size as u64);
    octal(&mut h, 136, 12, 0);
    h[148..156].fill(b' ');
    h[156] = kind;
    put(&mut h, 157, 100, link);
    put(&mut h, 257, 6, b"ustar\0");
    put(&mut h, 263, 2, b"00");
    put(&mut h, 265, 32, b"root");
    put(&mut h, 297, 32, b"root");
    put(&mut h, 345, 155, prefix.as_bytes());
    let sum: u64 = h.iter().map(|b| u64::from(*b)).sum();
    let s = format!("{sum:06o}\0 ");
    put(&mut h, 148, 8, s.as_bytes());
    out.extend_from_slice(&h);
    if let Entry::File(b) = entry {
        out.extend_from_slice(b);
        let pad = (BLOCK - b.len() % BLOCK) % BLOCK;
        out.extend(std::iter::repeat_n(0u8, pad));
    }
    Ok(())
}

/// Ends the archive (two zero blocks).
pub(crate) fn finish(out: &mut Vec<u8>) {
    out.extend(std::iter::repeat_n(0u8, 2 * BLOCK));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_extracts_what_was_written() {
        let mut out = Vec::new();
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        append(&mut out, "etc", &Entry::Dir, 0o755).unwrap();
        append(&mut out, "etc/a", &Entry::File(b"hello\n".to_vec()), 0o644).unwrap();
        append(
            &mut out,
            "etc/l",
            &Entry::Symlink("/etc/shadow".into()),
            0o777,
        )
        .unwrap();
        append(&mut out, "etc/p", &Entry::Fifo, 0o600).unwrap();
        append(&mut out, &"d".repeat(120), &Entry::Dir, 0o755).unwrap();
        append(&mut out, &long, &Entry::File(vec![b'x'; 600]), 0o600).unwrap();
        assert!(append(&mut out, &"x".repeat(300), &Entry::Fifo, 0o600).is_err());
        finish(&mut out);
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("t.tar");
        std::fs::write(&file, &out).unwrap();
        let st = std::process::Command::new("tar")
            .arg("xf")
            .arg(&file)
            .arg("-C")
            .arg(d.path())
            .status()
            .unwrap();
        assert!(st.success());
        let t = d.path();
        assert_eq!(std::fs::read(t.join("etc/a")).unwrap(), b"hello\n");
        assert_eq!(
            std::fs::read_link(t.join("etc/l")).unwrap().to_str(),
            Some("/etc/shadow")
        );
        use std::os::unix::fs::FileTypeExt;
        assert!(
            std::fs::symlink_metadata(t.join("etc/p"))
                .unwrap()
                .file_type()
                .is_fifo()
        );
        assert_eq!(std::fs::read(t.join(&long)).unwrap().len(), 600);
    }
}
