//! Reading the kubeconfig without following anything the user planted.
//! krc often runs as root next to a user who may be hostile, and the
//! kubeconfig lives in that user's home: a symlink there (at the file or at
//! a directory on the way) could point at a root-only file. So the walk from
//! the home directory opens each component with `O_NOFOLLOW`, the file with
//! `O_NOFOLLOW|O_NONBLOCK` (a FIFO cannot hang the run), and `fstat` on the
//! descriptor decides: a regular file owned by the target user, or nothing
//! is read. One rule whoever runs krc: links are refused, not followed.

use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use crate::host::{Host, Origin};

/// More than any kubeconfig k3s writes; a bigger file is not one.
const MAX_BYTES: u64 = 1 << 20;

pub(crate) struct KubeFile {
    pub(crate) text: String,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) mode: u32,
}

/// Why the file was not read. None of these carries any of its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    Missing,
    /// The file itself is a symlink (its target, as the link says).
    Symlink(String),
    /// A directory between the home and the file is a symlink.
    LinkOnTheWay(String),
    NotRegular(&'static str),
    Owner(u32),
    TooLarge,
    NotText,
    Io(String),
}

impl Refused {
    /// A sentence after the path: `PATH is a symbolic link ...`.
    pub(crate) fn reason(&self, owner_name: &dyn Fn(u32) -> String, user: &str) -> String {
        const RESTART: &str = "remove it, k3s rewrites it on start";
        match self {
            Refused::Missing => "does not exist".into(),
            Refused::Symlink(to) => format!(
                "is a symbolic link (to {to}): krc does not follow links in the user's home when running as root; {RESTART} (do not start k3s with --write-kubeconfig pointing through a link)"
            ),
            Refused::LinkOnTheWay(dir) => format!(
                "lies under {dir}, which is a symbolic link: krc does not follow links in the user's home when running as root; replace the link with a directory owned by {user}"
            ),
            Refused::NotRegular(kind) => {
                format!("is a {kind}, not a regular file: {RESTART}")
            }
            Refused::Owner(uid) => format!(
                "belongs to {}, not to {user}: krc reads only the user's own kubeconfig; sudo chown {user}: on it, or {RESTART}",
                owner_name(*uid)
            ),
            Refused::TooLarge => format!("is larger than {MAX_BYTES} bytes: not a kubeconfig"),
            Refused::NotText => "is not UTF-8 text: not a kubeconfig".into(),
            Refused::Io(e) => format!("could not be read: {e}"),
        }
    }
}

/// Reads `path` (a real path: a `--root` tree already joined). Under
/// `home`, every directory on the way is opened without following links;
/// elsewhere (a `--kubeconfig` the operator named) only the file itself.
/// `owner`: the uid the file must belong to (None: the caller judged the
/// owner already, as fixture trees record owners outside the tree).
pub(crate) fn read(path: &Path, home: &Path, owner: Option<u32>) -> Result<KubeFile, Refused> {
    let Some(name) = path.file_name() else {
        return Err(Refused::NotRegular("directory"));
    };
    let dir = match path.parent().and_then(|p| p.strip_prefix(home).ok()) {
        Some(rel) => walk(home, rel)?,
        None => open_dir(path.parent().unwrap_or(Path::new("/")))?,
    };
    let fd = openat(
        &dir,
        name.as_bytes(),
        libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY,
    )
    .map_err(|e| match e.raw_os_error() {
        Some(libc::ELOOP) => Refused::Symlink(link_target(&dir, name.as_bytes())),
        Some(libc::ENOENT) => Refused::Missing,
        _ => Refused::Io(e.to_string()),
    })?;
    let mut file = File::from(fd);
    let st = nix::sys::stat::fstat(&file).map_err(|e| Refused::Io(e.desc().into()))?;
    let kind = st.st_mode & libc::S_IFMT;
    if kind != libc::S_IFREG {
        return Err(Refused::NotRegular(kind_name(kind)));
    }
    if let Some(uid) = owner
        && st.st_uid != uid
    {
        return Err(Refused::Owner(st.st_uid));
    }
    let mut bytes = Vec::new();
    (&mut file)
        .take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Refused::Io(e.kind().to_string()))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(Refused::TooLarge);
    }
    let text = String::from_utf8(bytes).map_err(|_| Refused::NotText)?;
    Ok(KubeFile {
        text,
        uid: st.st_uid,
        gid: st.st_gid,
        mode: st.st_mode & 0o7777,
    })
}

/// The kubeconfig at host path `kc` on `host` (a `--root` tree or `/`).
/// On the live host the file must belong to the target user; in a tree the
/// owner is the fixture's to say, so the caller judges it from `host.stat`.
pub(crate) fn read_host(host: &Host, kc: &str) -> Result<KubeFile, Refused> {
    let fs = host.fs();
    let u = host.user();
    let owner = (host.origin() == Origin::Live).then_some(u.uid);
    read(&fs.path(kc), &fs.path(&u.home), owner)
}

/// `PATH is a symbolic link ...`: why `host`'s kubeconfig was not read.
pub(crate) fn refusal(host: &Host, kc: &str, r: &Refused) -> String {
    format!(
        "{kc} {}",
        r.reason(&|uid| host.owner_name(uid), &host.user().name)
    )
}

/// The home itself comes from the password database (root's choice), so it
/// is opened normally; below it nothing is followed and `..` is refused.
fn walk(home: &Path, rel: &Path) -> Result<OwnedFd, Refused> {
    let mut dir = open_dir(home)?;
    let mut seen = home.to_path_buf();
    for c in rel.components() {
        let Component::Normal(part) = c else {
            return Err(Refused::LinkOnTheWay(format!(
                "{} (a `..`)",
                seen.display()
            )));
        };
        seen.push(part);
        let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        dir = openat(&dir, part.as_bytes(), flags).map_err(|e| {
            if is_link(&dir, part.as_bytes()) {
                Refused::LinkOnTheWay(seen.display().to_string())
            } else if e.raw_os_error() == Some(libc::ENOENT) {
                Refused::Missing
            } else {
                Refused::Io(format!("{}: {e}", seen.display()))
            }
        })?;
    }
    Ok(dir)
}

fn open_dir(p: &Path) -> Result<OwnedFd, Refused> {
    let c = CString::new(p.as_os_str().as_bytes()).map_err(|_| Refused::Missing)?;
    // SAFETY: a valid C string; the returned descriptor is checked below.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::ENOENT) => Refused::Missing,
            _ => Refused::Io(format!("{}: {e}", p.display())),
        });
    }
    // SAFETY: fd is a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn openat(dir: &OwnedFd, name: &[u8], flags: i32) -> std::io::Result<OwnedFd> {
    let c = CString::new(name).map_err(|_| std::io::Error::from_raw_os_error(libc::ENOENT))?;
    // SAFETY: a valid directory descriptor and C string.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn is_link(dir: &OwnedFd, name: &[u8]) -> bool {
    nix::sys::stat::fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
        .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK)
}

/// What the link says (only its text: the target is never opened).
fn link_target(dir: &OwnedFd, name: &[u8]) -> String {
    nix::fcntl::readlinkat(dir, name)
        .map(|t| t.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "?".into())
}

fn kind_name(kind: u32) -> &'static str {
    match kind {
        libc::S_IFIFO => "FIFO",
        libc::S_IFSOCK => "socket",
        libc::S_IFCHR => "character device",
        libc::S_IFBLK => "block device",
        libc::S_IFDIR => "directory",
        _ => "special file",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> u32 {
        nix::unistd::geteuid().as_raw()
    }

    #[test]
    fn reads_a_regular_file_and_refuses_links_fifos_and_strangers() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        std::fs::create_dir(h.join(".kube")).unwrap();
        let kc = h.join(".kube/k3s.yaml");
        std::fs::write(&kc, "apiVersion: v1\n").unwrap();
        let f = read(&kc, h, Some(me())).unwrap();
        assert_eq!(f.text, "apiVersion: v1\n");
        assert_eq!(
            read(&kc, h, Some(me() + 1)).err(),
            Some(Refused::Owner(me()))
        );

        let secret = h.join("secret");
        std::fs::write(&secret, "MARKER").unwrap();
        std::fs::remove_file(&kc).unwrap();
        std::os::unix::fs::symlink(&secret, &kc).unwrap();
        assert!(
            matches!(read(&kc, h, Some(me())), Err(Refused::Symlink(t)) if t.ends_with("secret"))
        );

        std::fs::remove_file(&kc).unwrap();
        nix::unistd::mkfifo(&kc, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert_eq!(
            read(&kc, h, Some(me())).err(),
            Some(Refused::NotRegular("FIFO"))
        );

        // A directory on the way that is a link.
        std::fs::remove_file(&kc).unwrap();
        std::fs::remove_dir(h.join(".kube")).unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(elsewhere.path().join("k3s.yaml"), "MARKER").unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), h.join(".kube")).unwrap();
        assert!(matches!(
            read(&kc, h, Some(me())),
            Err(Refused::LinkOnTheWay(_))
        ));
        assert_eq!(
            read(&h.join("nope/k3s.yaml"), h, None).err(),
            Some(Refused::Missing)
        );
    }
}
