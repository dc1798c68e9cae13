//! Kubernetes access for acceptance: the k3s kubeconfig, a client with a
//! deadline on every call ([`client`]), the active port probe ([`active`]),
//! and [`live::LiveAccept`], which answers the host layer's
//! [`AcceptProbes`](crate::host::accept::AcceptProbes) with them, so checks
//! stay pure judgments and tests can answer in its place.
//!
//! The tokio runtime lives inside [`client::Kube`] and nowhere else: the
//! rest of krc stays synchronous (reqwest's blocking client panics inside a
//! runtime).

pub(crate) mod active;
mod capped;
pub(crate) mod client;
mod interrupt;
pub(crate) mod kubeconfig;
pub(crate) mod kubefile;
pub(crate) mod live;
mod progress;
