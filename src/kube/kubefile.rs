//! Reading the kubeconfig without following anything the user planted.
//! krc often runs as root next to a user who may be hostile, and the
//! kubeconfig lives in that user's home: a symlink there (at the file or at
//! a directory on the way) could point at a root-only file. So it is read
//! through the one file layer ([`crate::safefs`]) from the host's root
//! descriptor: no link below the home is followed, the file is opened
//! `O_NOFOLLOW|O_NONBLOCK` (a FIFO cannot hang the run), `fstat` on the
//! descriptor decides (a regular file owned by the target user), and at
//! most the kubeconfig cap is read. One rule whoever runs krc.

use std::os::fd::AsFd;

use crate::host::{Host, Origin};
use crate::safefs::{Cap, Refusal, Root, read as bounded, sys};

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

/// Reads host path `kc` from `root` (the host's root descriptor, with the
/// user's home set: no link below it is followed). `owner`: the uid the
/// file must belong to (None: the caller judged the owner already, as
/// fixture trees record owners outside the tree).
pub(crate) fn read(root: &Root, kc: &str, owner: Option<u32>) -> Result<KubeFile, Refused> {
    if kc.ends_with('/') || kc.is_empty() {
        return Err(Refused::NotRegular("directory"));
    }
    let fd = root
        .open_at(kc, libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY)
        .map_err(|e| refused(root, kc, &e))?;
    let st = sys::fstat(fd.as_fd()).map_err(|e| Refused::Io(e.kind().to_string()))?;
    let kind = st.st_mode & libc::S_IFMT;
    if kind != libc::S_IFREG {
        return Err(Refused::NotRegular(kind_name(kind)));
    }
    if let Some(uid) = owner
        && st.st_uid != uid
    {
        return Err(Refused::Owner(st.st_uid));
    }
    let bytes = bounded::read_fd(fd, Cap::Kubeconfig).map_err(|e| refused(root, kc, &e))?;
    let text = String::from_utf8(bytes).map_err(|_| Refused::NotText)?;
    Ok(KubeFile {
        text,
        uid: st.st_uid,
        gid: st.st_gid,
        mode: st.st_mode & 0o7777,
    })
}

/// The layer's error as a refusal of the kubeconfig (never its content).
fn refused(root: &Root, kc: &str, e: &std::io::Error) -> Refused {
    match Refusal::of(e) {
        Some(Refusal::Link { path, to, .. }) if *path == root.shown(kc) => {
            Refused::Symlink(to.clone())
        }
        Some(Refusal::Link { path, .. }) => Refused::LinkOnTheWay(path.clone()),
        Some(Refusal::NotRegular { .. }) => Refused::NotRegular("special file"),
        Some(Refusal::TooLarge { .. }) => Refused::TooLarge,
        Some(r @ Refusal::Sparse { .. }) => Refused::Io(r.to_string()),
        None => match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => Refused::Missing,
            _ => Refused::Io(e.kind().to_string()),
        },
    }
}

/// The kubeconfig at host path `kc` on `host` (a `--root` tree or `/`).
/// On the live host the file must belong to the target user; in a tree the
/// owner is the fixture's to say, so the caller judges it from `host.stat`.
pub(crate) fn read_host(host: &Host, kc: &str) -> Result<KubeFile, Refused> {
    // A capture keeps the file as a tree reads it: its bytes and its stat.
    host.note_files(&[kc]);
    let owner = (host.origin() == Origin::Live).then_some(host.user().uid);
    read(host.safe_root(), kc, owner)
}

/// `PATH is a symbolic link ...`: why `host`'s kubeconfig was not read.
pub(crate) fn refusal(host: &Host, kc: &str, r: &Refused) -> String {
    format!(
        "{kc} {}",
        r.reason(&|uid| host.owner_name(uid), &host.user().name)
    )
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

    fn read(
        kc: &std::path::Path,
        home: &std::path::Path,
        owner: Option<u32>,
    ) -> Result<KubeFile, Refused> {
        let root = Root::live().unwrap().with_home(home.to_str().unwrap());
        super::read(&root, kc.to_str().unwrap(), owner)
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
