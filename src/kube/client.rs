//! The Kubernetes client: built from the [`Credentials`] krc read and
//! checked itself (never from kube's own kubeconfig loader, which follows
//! file names, runs `exec` commands and quotes broken PEM as bytes), TLS
//! against the kubeconfig's CA with its client certificate (rustls with
//! ring), and a tokio runtime that lives only in this module.
//! Every call has a deadline; nothing here prints.

use base64::Engine;
use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::api::{Api, ListParams};
use kube::config::AuthInfo;
use kube::{Client, Config};

use super::kubeconfig::Credentials;
use crate::host::accept::{NodeFact, PodFact, ServiceFact, ServicePortFact, VersionFact};
use crate::host::probes::limits;

/// One API call may take this long (connect, TLS, request, response).
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A client bound to its runtime: calls block the calling thread.
pub(crate) struct Kube {
    rt: tokio::runtime::Runtime,
    pub(crate) client: Client,
    pub(crate) server: String,
    /// The configuration the client was made from: the active probe makes a
    /// second client to a forwarded host port with the same CA and identity.
    cfg: Config,
}

/// Why a client could not be made: the kubeconfig or the runtime.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KubeError {
    #[error("failed to start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// `reason` is krc's own sentence: never a parser's or TLS library's
    /// text, which can quote key material.
    #[error("failed to load kubeconfig {path}: {reason}")]
    Kubeconfig { path: String, reason: &'static str },
}

impl Kube {
    /// `path` only names the file in errors; the credentials were read
    /// from it by [`super::kubefile`] and checked by [`super::kubeconfig`].
    pub(crate) fn open(path: &str, creds: &Credentials) -> Result<Kube, KubeError> {
        let bad = |reason: &'static str| KubeError::Kubeconfig {
            path: path.to_string(),
            reason,
        };
        let server = creds
            .server
            .as_deref()
            .ok_or(bad("it names no server for the current context"))?;
        let url: http::Uri = server
            .parse()
            .map_err(|_| bad("its server is not a valid URL"))?;
        if creds.ca.is_empty() {
            return Err(bad(
                "it holds no certificate authority: TLS cannot be verified",
            ));
        }
        let mut auth = serde_json::Map::new();
        let b64 = |v: &[u8]| base64::engine::general_purpose::STANDARD.encode(v);
        if let (Some(c), Some(k)) = (&creds.cert_pem, &creds.key_pem) {
            auth.insert("client-certificate-data".into(), b64(c).into());
            auth.insert("client-key-data".into(), b64(k).into());
        }
        if let Some(t) = &creds.token {
            auth.insert("token".into(), t.clone().into());
        }
        let auth: AuthInfo = serde_json::from_value(auth.into())
            .map_err(|_| bad("its credentials could not be used"))?;
        let mut cfg = Config::new(url);
        cfg.root_cert = Some(creds.ca.clone());
        cfg.auth_info = auth;
        cfg.connect_timeout = Some(CALL_TIMEOUT);
        cfg.read_timeout = Some(CALL_TIMEOUT);
        cfg.write_timeout = Some(CALL_TIMEOUT);
        let server = cfg.cluster_url.to_string();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("krc-kube")
            .enable_all()
            .build()
            .map_err(KubeError::Runtime)?;
        // The client must be made inside the runtime it will run on.
        let kept = cfg.clone();
        let client = rt.block_on(async {
            super::capped::client(cfg, limits::API_BODY).map_err(|_| {
                bad("its client certificate and key do not form a usable TLS identity (a key that does not match the certificate, or a key type rustls does not support)")
            })
        })?;
        super::interrupt::install(&rt);
        Ok(Kube {
            rt,
            client,
            server,
            cfg: kept,
        })
    }

    /// `GET /api/v1/namespaces/NS` through `https://127.0.0.1:PORT`, TLS
    /// verified against the kubeconfig's CA with its client certificate:
    /// the namespace's `metadata.uid`. Only this cluster's API server can
    /// answer it, and only with this run's namespace uid.
    pub(crate) fn namespace_uid_via(&self, port: u16, ns: &str) -> Result<String, String> {
        let mut cfg = self.cfg.clone();
        cfg.cluster_url = format!("https://127.0.0.1:{port}/")
            .parse()
            .map_err(|_| format!("https://127.0.0.1:{port}/ is not a URL"))?;
        let client = self
            .rt
            .block_on(async { super::capped::client(cfg, limits::API_BODY) })
            .map_err(|e| format!("client for 127.0.0.1:{port}: {}", chain(&e)))?;
        let path = format!("/api/v1/namespaces/{ns}");
        let req = http::Request::get(&path)
            .body(Vec::new())
            .map_err(|e| e.to_string())?;
        let text = self.block(CALL_TIMEOUT, async move {
            client
                .request_text(req)
                .await
                .map_err(|e| format!("GET https://127.0.0.1:{port}{path}: {}", chain(&e)))
        })?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|_| format!("127.0.0.1:{port}: the answer is not a Kubernetes object"))?;
        v["metadata"]["uid"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("127.0.0.1:{port}: the namespace has no metadata.uid"))
    }

    /// Runs `fut` to completion with a deadline; a stop request (Ctrl-C,
    /// SIGTERM) ends the wait at once: the API server is the user's.
    pub(crate) fn block<T>(
        &self,
        timeout: Duration,
        fut: impl Future<Output = Result<T, String>>,
    ) -> Result<T, String> {
        self.rt.block_on(async {
            tokio::select! {
                r = tokio::time::timeout(timeout, fut) => {
                    r.unwrap_or_else(|_| Err(format!("no answer within {}s", timeout.as_secs())))
                }
                sig = super::interrupt::stop_requested() => Err(format!(
                    "interrupted by {}: krc stopped waiting for the API server",
                    crate::stop::name(sig)
                )),
            }
        })
    }

    pub(crate) fn get_text(&self, path: &str) -> Result<String, String> {
        let client = self.client.clone();
        let req = http::Request::get(path)
            .body(Vec::new())
            .map_err(|e| e.to_string())?;
        self.block(CALL_TIMEOUT, async move {
            client
                .request_text(req)
                .await
                .map_err(|e| format!("GET {path}: {}", chain(&e)))
        })
    }

    pub(crate) fn version(&self) -> Result<VersionFact, String> {
        let client = self.client.clone();
        self.block(CALL_TIMEOUT, async move {
            let v = client
                .apiserver_version()
                .await
                .map_err(|e| format!("GET /version: {}", chain(&e)))?;
            Ok(VersionFact {
                git_version: v.git_version,
                platform: v.platform,
            })
        })
    }

    pub(crate) fn nodes(&self) -> Result<Vec<NodeFact>, String> {
        let api: Api<Node> = Api::all(self.client.clone());
        self.block(CALL_TIMEOUT, async move {
            let list = api
                .list(&ListParams::default())
                .await
                .map_err(|e| format!("GET /api/v1/nodes: {}", chain(&e)))?;
            Ok(list.items.iter().map(node_fact).collect())
        })
    }

    pub(crate) fn pods(&self, namespace: &str) -> Result<Vec<PodFact>, String> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let ns = namespace.to_string();
        self.block(CALL_TIMEOUT, async move {
            let list = api
                .list(&ListParams::default())
                .await
                .map_err(|e| format!("GET /api/v1/namespaces/{ns}/pods: {}", chain(&e)))?;
            Ok(list.items.iter().map(pod_fact).collect())
        })
    }

    pub(crate) fn services(&self) -> Result<Vec<ServiceFact>, String> {
        let api: Api<Service> = Api::all(self.client.clone());
        self.block(CALL_TIMEOUT, async move {
            let list = api
                .list(&ListParams::default())
                .await
                .map_err(|e| format!("GET /api/v1/services: {}", chain(&e)))?;
            Ok(list.items.iter().map(service_fact).collect())
        })
    }

    pub(crate) fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }
}

/// An error with its causes: TLS failures hide in the sources
/// ("client error (Connect)" → "invalid peer certificate: UnknownIssuer").
/// A body past its cap is said as such, not as hyper's wording.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    if let Some(said) = super::capped::over_cap(e) {
        return said;
    }
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        src = cause.source();
    }
    s
}

pub(crate) fn node_fact(n: &Node) -> NodeFact {
    let status = n.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .map(|c| {
            (
                c.status.clone(),
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        });
    let internal_ips = status
        .and_then(|s| s.addresses.as_ref())
        .map(|a| {
            a.iter()
                .filter(|a| a.type_ == "InternalIP")
                .map(|a| a.address.clone())
                .collect()
        })
        .unwrap_or_default();
    NodeFact {
        name: n.metadata.name.clone().unwrap_or_default(),
        ready,
        internal_ips,
        kubelet_version: status
            .and_then(|s| s.node_info.as_ref())
            .map(|i| i.kubelet_version.clone())
            .unwrap_or_default(),
    }
}

pub(crate) fn pod_fact(p: &Pod) -> PodFact {
    let status = p.status.as_ref();
    let ready_cond = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
    let waiting = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.waiting.as_ref())
        .map(|w| {
            let mut r = w.reason.clone().unwrap_or_default();
            if let Some(m) = &w.message {
                r.push_str(": ");
                r.push_str(m);
            }
            r
        })
        .next();
    let labels = p.metadata.labels.as_ref();
    let app = labels.and_then(|l| {
        l.get("app.kubernetes.io/name")
            .or_else(|| l.get("k8s-app"))
            .or_else(|| l.get("app"))
            .cloned()
    });
    let ports = p
        .spec
        .as_ref()
        .into_iter()
        .flat_map(|s| &s.containers)
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|cp| Some((cp.name.clone()?, u16::try_from(cp.container_port).ok()?)))
        .collect();
    PodFact {
        namespace: p.metadata.namespace.clone().unwrap_or_default(),
        name: p.metadata.name.clone().unwrap_or_default(),
        phase: status.and_then(|s| s.phase.clone()).unwrap_or_default(),
        ready: ready_cond.is_some_and(|c| c.status == "True"),
        not_ready_reason: waiting
            .or_else(|| ready_cond.and_then(|c| c.message.clone()))
            .unwrap_or_default(),
        ip: status.and_then(|s| s.pod_ip.clone()),
        app,
        ports,
    }
}

pub(crate) fn service_fact(s: &Service) -> ServiceFact {
    let spec = s.spec.as_ref();
    ServiceFact {
        namespace: s.metadata.namespace.clone().unwrap_or_default(),
        name: s.metadata.name.clone().unwrap_or_default(),
        kind: spec
            .and_then(|sp| sp.type_.clone())
            .unwrap_or_else(|| "ClusterIP".into()),
        ingress_ips: s
            .status
            .as_ref()
            .and_then(|st| st.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|i| i.ip.clone())
            .collect(),
        ports: spec
            .and_then(|sp| sp.ports.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some(ServicePortFact {
                    name: p.name.clone().unwrap_or_default(),
                    protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                    port: u16::try_from(p.port).ok()?,
                    node_port: p.node_port.and_then(|n| u16::try_from(n).ok()),
                })
            })
            .collect(),
    }
}
