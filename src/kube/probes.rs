//! The live facts acceptance needs beyond files: the Kubernetes API, TCP
//! connections to host ports, the user's systemd manager and the
//! environment. Behind a trait so tests and fixture trees can answer.

use std::time::Duration;

use super::facts::{
    NodeFact, PodFact, PortAnswer, ProbeRun, ProbeService, ServiceFact, UnitState, VersionFact,
};
use crate::host::{Probe, TargetUser};

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
