//! File metadata as checks need it: kind, device numbers, permission bits,
//! owner and file capabilities, from the real file or a fixture override.

use std::os::fd::{AsRawFd, OwnedFd};

use super::fixture::{FixtureMeta, OverrideKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    File,
    Dir,
    CharDevice,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileStat {
    pub(crate) kind: FileKind,
    /// Permission bits including setuid/setgid/sticky (`0o7777`).
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// (major, minor) for device nodes.
    pub(crate) rdev: Option<(u32, u32)>,
    /// Capabilities in the file's `security.capability`, as names.
    pub(crate) caps: Vec<String>,
}

impl FileStat {
    /// `crw-rw-rw-`, as `ls -l` shows it.
    pub(crate) fn mode_string(&self) -> String {
        let t = match self.kind {
            FileKind::Dir => 'd',
            FileKind::CharDevice => 'c',
            _ => '-',
        };
        let m = self.mode;
        let bit = |mask: u32, c: char| if m & mask != 0 { c } else { '-' };
        let exec =
            |x: u32, special: u32, set: char, unset: char| match (m & x != 0, m & special != 0) {
                (true, true) => set,
                (false, true) => unset,
                (true, false) => 'x',
                (false, false) => '-',
            };
        format!(
            "{t}{}{}{}{}{}{}{}{}{}",
            bit(0o400, 'r'),
            bit(0o200, 'w'),
            exec(0o100, 0o4000, 's', 'S'),
            bit(0o040, 'r'),
            bit(0o020, 'w'),
            exec(0o010, 0o2000, 's', 'S'),
            bit(0o004, 'r'),
            bit(0o002, 'w'),
            exec(0o001, 0o1000, 't', 'T'),
        )
    }

    /// Can a process with `uid` and the groups `gids` open this for reading
    /// and writing, by the permission bits (root always can)?
    pub(crate) fn allows_rw(&self, uid: u32, gids: &[u32]) -> bool {
        if uid == 0 {
            return true;
        }
        let bits = if self.uid == uid {
            (self.mode >> 6) & 0o7
        } else if gids.contains(&self.gid) {
            (self.mode >> 3) & 0o7
        } else {
            self.mode & 0o7
        };
        bits & 0o6 == 0o6
    }
}

/// Applies the fixture's override for `host_path` to what is on disk.
/// `tree`: the root is a directory tree, not the live `/`; its files belong
/// to root unless the fixture says otherwise, because git keeps no owners.
pub(crate) fn overlay(
    on_disk: Option<FileStat>,
    host_path: &str,
    fixture: &FixtureMeta,
    tree: bool,
) -> Option<FileStat> {
    let Some(ov) = fixture.files.get(host_path) else {
        return on_disk.map(|mut st| {
            if tree {
                st.uid = 0;
                st.gid = 0;
            }
            st
        });
    };
    let mut st = match (on_disk, ov.kind) {
        (Some(st), None) => st,
        (_, Some(kind)) => FileStat {
            kind: match kind {
                OverrideKind::File => FileKind::File,
                OverrideKind::Dir => FileKind::Dir,
                OverrideKind::Char => FileKind::CharDevice,
            },
            mode: 0o644,
            uid: 0,
            gid: 0,
            rdev: None,
            caps: Vec::new(),
        },
        (None, None) => return None,
    };
    if let Some(m) = ov.mode {
        st.mode = m;
    }
    // A tree's files belong to root unless the override names an owner;
    // the on-disk owner is whoever checked the tree out, which must not
    // decide a verdict (a setuid-root binary would stop being one).
    if tree {
        st.uid = ov.uid.unwrap_or(0);
        st.gid = ov.gid.unwrap_or(0);
    } else {
        st.uid = ov.uid.unwrap_or(st.uid);
        st.gid = ov.gid.unwrap_or(st.gid);
    }
    if let (Some(a), Some(b)) = (ov.major, ov.minor) {
        st.rdev = Some((a, b));
    }
    if let Some(c) = &ov.caps {
        st.caps = parse_caps_text(c);
    }
    Some(st)
}

/// What `fstat` says, with the capabilities of a regular file read from
/// the same descriptor (never by path, which could lead elsewhere).
pub(crate) fn from_stat(md: &libc::stat, fd: &OwnedFd) -> FileStat {
    let kind = match md.st_mode & libc::S_IFMT {
        libc::S_IFREG => FileKind::File,
        libc::S_IFDIR => FileKind::Dir,
        libc::S_IFCHR => FileKind::CharDevice,
        _ => FileKind::Other,
    };
    let rdev =
        (kind == FileKind::CharDevice).then(|| (libc::major(md.st_rdev), libc::minor(md.st_rdev)));
    let caps = if kind == FileKind::File {
        read_caps(fd)
    } else {
        Vec::new()
    };
    FileStat {
        kind,
        mode: md.st_mode & 0o7777,
        uid: md.st_uid,
        gid: md.st_gid,
        rdev,
        caps,
    }
}

/// `cap_setuid,cap_setgid=ep` → `["cap_setgid", "cap_setuid"]`.
fn parse_caps_text(text: &str) -> Vec<String> {
    let names = text.split(['=', '+']).next().unwrap_or("");
    let mut caps: Vec<String> = names
        .split(',')
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    caps.sort();
    caps
}

/// Reads the permitted set of `security.capability` (VFS cap data, v2/v3).
/// `fd` is an `O_PATH` descriptor, which `fgetxattr` does not take; its
/// `/proc/self/fd` link names exactly that file.
fn read_caps(fd: &OwnedFd) -> Vec<String> {
    let Ok(cpath) = std::ffi::CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())) else {
        return Vec::new();
    };
    let mut buf = [0u8; 32];
    // SAFETY: the name and path are NUL-terminated and buf is writable for its length.
    let n = unsafe {
        libc::getxattr(
            cpath.as_ptr(),
            c"security.capability".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 12 {
        return Vec::new();
    }
    let word = |i: usize| u32::from_le_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
    let permitted_lo = word(4);
    let mut caps = Vec::new();
    for (bit, name) in [(6, "cap_setgid"), (7, "cap_setuid"), (21, "cap_sys_admin")] {
        if permitted_lo & (1 << bit) != 0 {
            caps.push(name.to_string());
        }
    }
    caps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(mode: u32, uid: u32, gid: u32) -> FileStat {
        FileStat {
            kind: FileKind::CharDevice,
            mode,
            uid,
            gid,
            rdev: Some((10, 200)),
            caps: vec![],
        }
    }

    #[test]
    fn access_follows_owner_group_other_bits() {
        assert!(!st(0o600, 0, 0).allows_rw(1000, &[1000]));
        assert!(st(0o666, 0, 0).allows_rw(1000, &[1000]));
        assert!(st(0o660, 0, 108).allows_rw(1000, &[1000, 108]));
        assert!(st(0o600, 1000, 0).allows_rw(1000, &[]));
        assert!(
            !st(0o066, 1000, 0).allows_rw(1000, &[0]),
            "owner bits decide for the owner"
        );
    }

    #[test]
    fn mode_string_matches_ls() {
        assert_eq!(st(0o600, 0, 0).mode_string(), "crw-------");
        let mut f = st(0o4755, 0, 0);
        f.kind = FileKind::File;
        assert_eq!(f.mode_string(), "-rwsr-xr-x");
    }

    #[test]
    fn tree_overrides_own_files_as_root_whoever_checked_them_out() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("newuidmap");
        std::fs::write(&file, "").unwrap();
        if nix::unistd::geteuid().is_root() {
            // Stand in for a checkout by an ordinary user.
            std::os::unix::fs::chown(&file, Some(1234), Some(1234)).unwrap();
        }
        let meta: FixtureMeta = toml::from_str(
            "[files.\"/usr/bin/newuidmap\"]\nmode = \"4755\"\n[files.\"/usr/bin/newgidmap\"]\ngid = 108\n",
        )
        .unwrap();
        let root = crate::host::rootdir::RootDir::open(dir.path()).unwrap();
        let (md, fd) = root.stat("/newuidmap").unwrap();
        let on_disk = from_stat(&md, &fd);
        let st = overlay(Some(on_disk.clone()), "/usr/bin/newuidmap", &meta, true).unwrap();
        assert_eq!((st.mode, st.uid, st.gid), (0o4755, 0, 0));
        let st = overlay(Some(on_disk), "/usr/bin/newgidmap", &meta, true).unwrap();
        assert_eq!((st.uid, st.gid), (0, 108), "gid alone is honoured");
    }

    #[test]
    fn caps_text_parses_getcap_form() {
        assert_eq!(
            parse_caps_text("cap_setuid,cap_setgid=ep"),
            vec!["cap_setgid", "cap_setuid"]
        );
        assert_eq!(parse_caps_text("CAP_SETUID+ep"), vec!["cap_setuid"]);
    }
}
