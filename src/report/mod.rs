//! Reports: the records the suite runner emits and the writers that consume
//! them (terminal, JUnit XML, JSON, HTML). Writers never re-probe the host.

pub(crate) mod html;
pub(crate) mod json;
pub(crate) mod junit;
pub(crate) mod record;
pub(crate) mod redact;
pub(crate) mod remedy;
pub(crate) mod secret_flags;
pub(crate) mod terminal;

pub(crate) use record::{CheckRecord, Counts, PhaseReport, RecordSink, RunMeta, Subject};
