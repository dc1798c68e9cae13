//! What a check concludes: a status, a one-line summary, the evidence it
//! observed (verbatim) and, on anything but a pass, the remedy.

use serde::Serialize;

use crate::host::FactError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Pass,
    Skip,
    Warn,
    Fail,
    /// The check could not read or parse what it needs.
    Error,
}

impl Status {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Skip => "SKIP",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Error => "ERROR",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) status: Status,
    pub(crate) summary: String,
    pub(crate) evidence: Vec<String>,
    pub(crate) remedy: Option<String>,
    /// A skip for a prerequisite: the check that did not pass and without
    /// which this one cannot be judged. A skip without one is unjudged
    /// (missing facts or probes), which makes a run inconclusive.
    pub(crate) after: Option<String>,
}

impl Verdict {
    fn new(status: Status, summary: impl Into<String>) -> Self {
        Verdict {
            status,
            summary: summary.into(),
            evidence: Vec::new(),
            remedy: None,
            after: None,
        }
    }

    pub(crate) fn pass(summary: impl Into<String>) -> Self {
        Self::new(Status::Pass, summary)
    }

    pub(crate) fn fail(summary: impl Into<String>) -> Self {
        Self::new(Status::Fail, summary)
    }

    pub(crate) fn warn(summary: impl Into<String>) -> Self {
        Self::new(Status::Warn, summary)
    }

    pub(crate) fn skip(summary: impl Into<String>) -> Self {
        Self::new(Status::Skip, summary)
    }

    /// A skip because the check `prerequisite` did not pass: judged by it,
    /// not unjudged.
    pub(crate) fn skip_after(prerequisite: &str, summary: impl Into<String>) -> Self {
        let mut v = Self::new(Status::Skip, summary);
        v.after = Some(prerequisite.to_string());
        v
    }

    pub(crate) fn error(err: &FactError) -> Self {
        let mut v = Self::new(
            Status::Error,
            format!("could not read the facts this check needs: {err}"),
        );
        v.remedy = Some(match err {
            FactError::Malformed { .. } => {
                "fix or restore the named file, then run krc again".to_string()
            }
            _ => "run krc as a user that can read the named file (or with sudo), then run it again"
                .to_string(),
        });
        v
    }

    pub(crate) fn evidence(mut self, line: impl Into<String>) -> Self {
        self.evidence.push(line.into());
        self
    }

    pub(crate) fn remedy(mut self, remedy: impl Into<String>) -> Self {
        self.remedy = Some(remedy.into());
        self
    }
}

/// Findings gathered one by one; the worst status wins.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    worst: Option<(Status, String)>,
    evidence: Vec<String>,
    remedies: Vec<String>,
}

impl Findings {
    pub(crate) fn observe(&mut self, line: impl Into<String>) {
        self.evidence.push(line.into());
    }

    /// Records a finding of `status`; the summary of the worst one is kept.
    pub(crate) fn find(&mut self, status: Status, summary: impl Into<String>) {
        let summary = summary.into();
        match &mut self.worst {
            Some((s, text)) if *s == status && status != Status::Pass => {
                text.push_str("; ");
                text.push_str(&summary);
            }
            Some((s, _)) if *s >= status => {}
            _ => self.worst = Some((status, summary)),
        }
    }

    /// Adds remedy lines; a line already given (by command) is not repeated.
    pub(crate) fn remedy(&mut self, remedy: impl Into<String>) {
        for line in remedy.into().lines() {
            let cmd = line.split("   #").next().unwrap_or(line).trim_end();
            if !self
                .remedies
                .iter()
                .any(|r| r.split("   #").next().unwrap_or(r).trim_end() == cmd)
            {
                self.remedies.push(line.to_string());
            }
        }
    }

    pub(crate) fn status(&self) -> Status {
        self.worst.as_ref().map_or(Status::Pass, |(s, _)| *s)
    }

    pub(crate) fn finish(self, pass_summary: impl Into<String>) -> Verdict {
        let (status, summary) = match self.worst {
            Some((s, text)) if s != Status::Pass => (s, text),
            _ => (Status::Pass, pass_summary.into()),
        };
        Verdict {
            status,
            summary,
            evidence: self.evidence,
            remedy: (status != Status::Pass && !self.remedies.is_empty())
                .then(|| self.remedies.join("\n")),
            after: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_keep_the_worst() {
        let mut f = Findings::default();
        f.find(Status::Warn, "low");
        f.find(Status::Fail, "bad");
        f.find(Status::Fail, "worse");
        f.find(Status::Skip, "unknown");
        f.remedy("do it");
        let v = f.finish("fine");
        assert_eq!((v.status, v.summary.as_str()), (Status::Fail, "bad; worse"));
        assert_eq!(v.remedy.as_deref(), Some("do it"));
        let mut ok = Findings::default();
        ok.remedy("unused");
        let v = ok.finish("fine");
        assert_eq!((v.status, v.remedy), (Status::Pass, None));
    }
}
