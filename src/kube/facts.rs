//! What acceptance learns from a live cluster and the host's live state, as
//! plain values: the checks judge these, the probes gather them.

/// A node as the checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeFact {
    pub(crate) name: String,
    /// The `Ready` condition: status, reason, message.
    pub(crate) ready: Option<(String, String, String)>,
    pub(crate) internal_ips: Vec<String>,
    pub(crate) kubelet_version: String,
}

/// A pod as the checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PodFact {
    pub(crate) namespace: String,
    pub(crate) name: String,
    /// `Running`, `Pending`, `Succeeded`, ...
    pub(crate) phase: String,
    pub(crate) ready: bool,
    /// Why it is not ready: a waiting container's reason, or the condition's message.
    pub(crate) not_ready_reason: String,
    pub(crate) ip: Option<String>,
    /// The label `app.kubernetes.io/name` or `k8s-app`, if any.
    pub(crate) app: Option<String>,
    /// Named container ports: (name, port).
    pub(crate) ports: Vec<(String, u16)>,
}

impl PodFact {
    /// Does this pod belong to the workload `name` (a Deployment's pods are
    /// `NAME-<hash>-<id>`)?
    pub(crate) fn is_of(&self, name: &str) -> bool {
        self.app.as_deref() == Some(name)
            || self
                .name
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('-') && !rest.starts_with("-install"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServicePortFact {
    pub(crate) name: String,
    pub(crate) protocol: String,
    pub(crate) port: u16,
    pub(crate) node_port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceFact {
    pub(crate) namespace: String,
    pub(crate) name: String,
    /// `ClusterIP`, `LoadBalancer`, ...
    pub(crate) kind: String,
    /// `status.loadBalancer.ingress[].ip`: only these services are forwarded.
    pub(crate) ingress_ips: Vec<String>,
    pub(crate) ports: Vec<ServicePortFact>,
}

/// What `/version` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VersionFact {
    pub(crate) git_version: String,
    pub(crate) platform: String,
}

/// What a TCP connection to a host port found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PortAnswer {
    /// A server answered; its first line.
    Answered(String),
    /// Connected, and the peer kept the connection open without a word.
    Silent,
    /// Connected, then closed with no answer: a forward with nothing behind it.
    Closed(String),
    /// The connection failed (refused, timed out): nothing listens.
    Refused(String),
}

impl PortAnswer {
    pub(crate) fn reached(&self) -> bool {
        matches!(self, PortAnswer::Answered(_) | PortAnswer::Silent)
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            PortAnswer::Answered(line) => format!("answered {line:?}"),
            PortAnswer::Silent => "accepted the connection (no answer to HTTP)".into(),
            PortAnswer::Closed(why) => format!("accepted, then closed without an answer ({why})"),
            PortAnswer::Refused(why) => format!("connection failed: {why}"),
        }
    }
}

/// A systemd unit's state as `systemctl` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnitState {
    /// `is-enabled`: enabled, disabled, static, not-found, ...
    pub(crate) enabled: String,
    /// `is-active`: active, inactive, failed, activating, ...
    pub(crate) active: String,
    /// `MainPID`, when the unit runs.
    pub(crate) main_pid: Option<u32>,
}

/// The probe Service `ports.offset` creates, once servicelb gave it an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProbeService {
    pub(crate) ingress_ip: String,
    /// (service port, nodePort).
    pub(crate) ports: Vec<(u16, Option<u16>)>,
    /// What the Service leads to: (what, ip, port): the API server, from
    /// the endpoints of default/kubernetes.
    pub(crate) target: (String, String, u16),
    /// This run's token: the `metadata.uid` of the probe namespace, which
    /// only this cluster's API server can answer with.
    pub(crate) token: String,
}

/// How the active probe went: what it did (verbatim, for evidence), whether
/// its objects are gone again, and the error that stopped it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProbeRun {
    pub(crate) steps: Vec<String>,
    pub(crate) error: Option<String>,
    pub(crate) cleanup: Result<(), String>,
}
