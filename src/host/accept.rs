//! The live facts acceptance needs beyond files: the Kubernetes API, TCP
//! connections to host ports, the user's systemd manager and the
//! environment. What they yield are plain values the checks judge; the
//! [`AcceptProbes`] trait gathers them, so tests and fixture trees can
//! answer in place of `kube::live::LiveAccept`, which talks to the cluster.

use std::time::Duration;

use super::{Probe, TargetUser};

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

/// A failed answer: the error as observed, verbatim.
pub(crate) type Answer<T> = Probe<Result<T, String>>;

pub(crate) trait AcceptProbes: Send + Sync {
    /// The API server URL the client talks to.
    fn server(&self) -> Answer<String>;
    /// The body of `GET /readyz` (TLS verified with the kubeconfig's CA and
    /// client certificate).
    fn readyz(&self) -> Answer<String>;
    fn version(&self) -> Answer<VersionFact>;
    fn nodes(&self) -> Answer<Vec<NodeFact>>;
    /// The pods of kube-system, polled until every workload in `wanted` has
    /// a Ready pod or `timeout` passed: the last list seen.
    fn system_pods(&self, wanted: &[&str], timeout: Duration) -> Answer<Vec<PodFact>>;
    fn services(&self) -> Answer<Vec<ServiceFact>>;
    /// Creates the probe Service (`ports.offset`), waits up to `timeout`
    /// for its ingress IP, calls `visit` with it, and always deletes the
    /// namespace again, on failure and on Ctrl-C too.
    fn with_probe_service(
        &self,
        ports: &[u16],
        timeout: Duration,
        visit: &mut dyn FnMut(&ProbeService),
    ) -> Probe<ProbeRun>;
    /// Connects to `127.0.0.1:port` and says hello in HTTP.
    fn connect(&self, port: u16) -> Probe<PortAnswer>;
    /// The probe namespace's uid as the API server answers it through
    /// `https://127.0.0.1:port` (the kubeconfig's CA and identity).
    fn token_via(&self, port: u16) -> Answer<String>;
    /// `systemctl --user` state of `unit` for `user`.
    fn user_unit(&self, user: &TargetUser, unit: &str) -> Answer<UnitState>;
    /// `KUBECONFIG` as krc's environment has it: None when unset.
    fn kubeconfig_env(&self) -> Option<String>;
}

fn not_run<T>(what: &str) -> Probe<T> {
    Probe::NotRun(format!(
        "live probe not run: {what} is not available in this run"
    ))
}

/// Answers nothing: a run without Kubernetes access (preflight, `--root`
/// trees without a kubeconfig).
pub(crate) struct NoProbes;

impl AcceptProbes for NoProbes {
    fn server(&self) -> Answer<String> {
        not_run("the Kubernetes API")
    }
    fn readyz(&self) -> Answer<String> {
        not_run("the Kubernetes API")
    }
    fn version(&self) -> Answer<VersionFact> {
        not_run("the Kubernetes API")
    }
    fn nodes(&self) -> Answer<Vec<NodeFact>> {
        not_run("the Kubernetes API")
    }
    fn system_pods(&self, _: &[&str], _: Duration) -> Answer<Vec<PodFact>> {
        not_run("the Kubernetes API")
    }
    fn services(&self) -> Answer<Vec<ServiceFact>> {
        not_run("the Kubernetes API")
    }
    fn with_probe_service(
        &self,
        _: &[u16],
        _: Duration,
        _: &mut dyn FnMut(&ProbeService),
    ) -> Probe<ProbeRun> {
        not_run("the Kubernetes API")
    }
    fn connect(&self, _: u16) -> Probe<PortAnswer> {
        not_run("the host's network")
    }
    fn token_via(&self, _: u16) -> Answer<String> {
        not_run("the host's network")
    }
    fn user_unit(&self, _: &TargetUser, _: &str) -> Answer<UnitState> {
        not_run("the user's systemd manager")
    }
    fn kubeconfig_env(&self) -> Option<String> {
        None
    }
}
