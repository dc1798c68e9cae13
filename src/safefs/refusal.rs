//! Why the layer refused a file, as a value a caller can match (wrapped in
//! the `io::Error` it returns) and a sentence that says what to do. None
//! carries any of the file's content.

use std::io;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// A link on the way (or the file itself) that the policy does not
    /// let root follow: `path` is the link, `to` what it says.
    #[error("refusing {path}: it is a symbolic link (to {to:?}), not followed by root: {why}")]
    Link {
        path: String,
        to: String,
        why: String,
    },
    #[error(
        "not a regular file ({kind}); krc reads only regular files, never waits on a FIFO or device"
    )]
    NotRegular { kind: &'static str },
    #[error(
        "larger than {limit} bytes, more than {what} can be; krc reads at most that much: shrink or remove it"
    )]
    TooLarge { limit: u64, what: &'static str },
    #[error("a sparse file ({size} bytes of which {allocated} are on disk): not {what}; remove it")]
    Sparse {
        size: u64,
        allocated: u64,
        what: &'static str,
    },
}

impl Refusal {
    pub(crate) fn into_io(self) -> io::Error {
        let kind = match self {
            Refusal::Link { .. } => io::ErrorKind::PermissionDenied,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, self)
    }

    /// The refusal inside an error of the layer, if it is one.
    pub(crate) fn of(e: &io::Error) -> Option<&Refusal> {
        e.get_ref().and_then(|i| i.downcast_ref::<Refusal>())
    }
}
