//! Kubernetes access for acceptance: the k3s kubeconfig, a client with a
//! deadline on every call ([`client`]), the active port probe ([`active`]),
//! and the facts they yield ([`facts`]) behind the [`AcceptProbes`] trait,
//! so checks stay pure judgments and tests can answer in their place.
//!
//! The tokio runtime lives inside [`client::Kube`] and nowhere else: the
//! rest of krc stays synchronous (reqwest's blocking client panics inside a
//! runtime).

pub(crate) mod active;
pub(crate) mod client;
pub(crate) mod facts;
mod interrupt;
pub(crate) mod kubeconfig;
pub(crate) mod kubefile;
pub(crate) mod live;
pub(crate) mod probes;
mod progress;

pub(crate) use probes::{AcceptProbes, NoProbes};
