//! File operations on the target tree (`/` or `--root DIR`): every write is
//! atomic (temp file in the same directory, mode and owner set, then
//! rename), and every path is a host path joined under the root.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Mode and owner of a file, as recorded in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Meta {
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

impl Meta {
    pub(crate) fn new(mode: u32, uid: u32, gid: u32) -> Meta {
        Meta { mode, uid, gid }
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[derive(Debug, Clone)]
pub(crate) struct TreeFs {
    root: PathBuf,
    /// Owners are set for real; only a tree written by a non-root user may
    /// skip the chown it is not allowed to do.
    lenient_owner: bool,
}

impl TreeFs {
    pub(crate) fn new(root: &Path, live: bool) -> TreeFs {
        let lenient_owner = !live && !nix::unistd::geteuid().is_root();
        TreeFs {
            root: root.to_path_buf(),
            lenient_owner,
        }
    }

    pub(crate) fn path(&self, host_path: &str) -> PathBuf {
        self.root.join(host_path.trim_start_matches('/'))
    }

    /// `lstat`: None when absent.
    pub(crate) fn meta(&self, host_path: &str) -> Option<(std::fs::FileType, Meta)> {
        let m = std::fs::symlink_metadata(self.path(host_path)).ok()?;
        Some((
            m.file_type(),
            Meta::new(m.mode() & 0o7777, m.uid(), m.gid()),
        ))
    }

    pub(crate) fn exists(&self, host_path: &str) -> bool {
        self.meta(host_path).is_some()
    }

    pub(crate) fn read(&self, host_path: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.path(host_path))
    }

    /// sha256 of a regular file's content; None when absent or not a file.
    pub(crate) fn sha256(&self, host_path: &str) -> Option<String> {
        match self.meta(host_path) {
            Some((t, _)) if t.is_file() => self.read(host_path).ok().map(|b| sha256_hex(&b)),
            _ => None,
        }
    }

    fn chown(&self, p: &Path, meta: Meta) -> std::io::Result<()> {
        match std::os::unix::fs::lchown(p, Some(meta.uid), Some(meta.gid)) {
            Err(e) if self.lenient_owner && e.raw_os_error() == Some(libc::EPERM) => Ok(()),
            r => r,
        }
    }

    /// Writes `bytes` atomically with `meta` set before the rename.
    pub(crate) fn write(&self, host_path: &str, bytes: &[u8], meta: Meta) -> std::io::Result<()> {
        let path = self.path(host_path);
        let dir = path.parent().unwrap_or(Path::new("/"));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.krc-tmp-{}", std::process::id()));
        let result = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            self.chown(&tmp, meta)?;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(meta.mode))?;
            std::fs::rename(&tmp, &path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(|e| {
            std::io::Error::new(e.kind(), format!("failed to write {}: {e}", path.display()))
        })
    }

    pub(crate) fn mkdir(&self, host_path: &str, meta: Meta) -> std::io::Result<()> {
        let p = self.path(host_path);
        std::fs::create_dir(&p).map_err(|e| {
            std::io::Error::new(e.kind(), format!("failed to create {}: {e}", p.display()))
        })?;
        self.chown(&p, meta)?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(meta.mode))
    }

    pub(crate) fn symlink(&self, host_path: &str, target: &str, meta: Meta) -> std::io::Result<()> {
        let p = self.path(host_path);
        std::os::unix::fs::symlink(target, &p)?;
        self.chown(&p, meta)
    }

    pub(crate) fn read_link(&self, host_path: &str) -> Option<String> {
        std::fs::read_link(self.path(host_path))
            .ok()
            .map(|t| t.to_string_lossy().into_owned())
    }

    pub(crate) fn remove_file(&self, host_path: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(host_path)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            r => r,
        }
    }

    /// Removes an empty directory; a non-empty one is left (Ok(false)).
    pub(crate) fn remove_dir(&self, host_path: &str) -> std::io::Result<bool> {
        match std::fs::remove_dir(self.path(host_path)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The ancestors of `host_path` that do not exist, outermost first.
    pub(crate) fn missing_parents(&self, host_path: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = Path::new(host_path).parent();
        while let Some(p) = cur {
            let s = p.to_string_lossy().into_owned();
            if s == "/" || s.is_empty() || self.exists(&s) {
                break;
            }
            out.push(s);
            cur = p.parent();
        }
        out.reverse();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_atomic_with_mode() {
        let d = tempfile::tempdir().unwrap();
        let fs = TreeFs::new(d.path(), false);
        let me = Meta::new(
            0o640,
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
        fs.write("/x.conf", b"a", me).unwrap();
        fs.write("/x.conf", b"b", me).unwrap();
        assert_eq!(fs.read("/x.conf").unwrap(), b"b");
        assert_eq!(fs.meta("/x.conf").unwrap().1.mode, 0o640);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
        assert_eq!(fs.missing_parents("/a/b/c.txt"), ["/a", "/a/b"]);
    }
}
