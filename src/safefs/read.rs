//! Bounded reads of an opened file: only a regular file, never more than
//! its kind's cap (see [`super::caps`]), whatever `st_size` claims (procfs
//! says 0), and a sparse file is named as such rather than read.

use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};

use super::caps::{Cap, SPARSE_MIN};
use super::refusal::Refusal;
use super::sys;

/// Refuses what is not a regular file of at most `cap`'s size.
pub(crate) fn judge(st: &libc::stat, cap: Cap) -> Result<(), Refusal> {
    if !sys::is_kind(st, libc::S_IFREG) {
        return Err(Refusal::NotRegular {
            kind: sys::kind_name(st.st_mode),
        });
    }
    let size = st.st_size.max(0) as u64;
    if size > cap.limit() {
        return Err(Refusal::TooLarge {
            limit: cap.limit(),
            what: cap.what(),
        });
    }
    let allocated = st.st_blocks.max(0) as u64 * 512;
    // Much less on disk than it says: holes that would read as zeros and
    // cost root memory (and a backup) for nothing on disk of the user's.
    if size > SPARSE_MIN && allocated < size / 8 {
        return Err(Refusal::Sparse {
            size,
            allocated,
            what: cap.what(),
        });
    }
    Ok(())
}

/// The content of `fd`, at most `cap` bytes.
pub(crate) fn read_fd(fd: OwnedFd, cap: Cap) -> io::Result<Vec<u8>> {
    let st = sys::fstat(fd.as_fd())?;
    judge(&st, cap).map_err(Refusal::into_io)?;
    let mut out = Vec::new();
    std::fs::File::from(fd)
        .take(cap.limit() + 1)
        .read_to_end(&mut out)?;
    if out.len() as u64 > cap.limit() {
        return Err(Refusal::TooLarge {
            limit: cap.limit(),
            what: cap.what(),
        }
        .into_io());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(p: &std::path::Path) -> OwnedFd {
        std::fs::File::open(p).unwrap().into()
    }

    #[test]
    fn caps_sparse_files_and_procfs() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sparse");
        std::fs::File::create(&p)
            .unwrap()
            .set_len(64 << 20)
            .unwrap();
        let e = read_fd(open(&p), Cap::UserFile).unwrap_err();
        assert!(e.to_string().contains("larger than 1048576 bytes"), "{e}");
        let e = read_fd(open(&p), Cap::Artifact).unwrap_err();
        assert!(e.to_string().contains("a sparse file"), "{e}");
        // procfs says 0 bytes: the read itself is what is bounded.
        let status = std::path::Path::new("/proc/self/status");
        assert!(!read_fd(open(status), Cap::Kernel).unwrap().is_empty());
        let small = d.path().join("small");
        std::fs::write(&small, vec![b'x'; 100]).unwrap();
        assert_eq!(read_fd(open(&small), Cap::UserFile).unwrap().len(), 100);
    }
}
