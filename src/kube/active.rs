//! The active probe of `ports.offset`: a LoadBalancer Service in its own
//! namespace that leads to the API server, so k3s must forward its ports to
//! the host. No image is pulled: the Service has no selector and an
//! EndpointSlice names the API server's endpoint (default/kubernetes).
//! Through each forwarded host port the check then asks the API server for
//! the probe namespace: its uid, new each run, is the token that proves the
//! answer came through this Service. The namespace is always deleted
//! afterwards.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Endpoints, Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

use super::client::{CALL_TIMEOUT, Kube, chain, service_fact};
use super::interrupt::{self, CleanupPending};
use super::progress::Progress;
use crate::host::accept::{ProbeRun, ProbeService};

pub(crate) const NAMESPACE: &str = "krc-acceptance";
const SERVICE: &str = "krc-probe";
const POLL: Duration = Duration::from_millis(500);

pub(crate) fn run(
    kube: &Kube,
    ports: &[u16],
    timeout: Duration,
    visit: &mut dyn FnMut(&ProbeService),
) -> ProbeRun {
    let _pending = CleanupPending::enter();
    let mut steps = Vec::new();
    let setup = kube.runtime().block_on(async {
        tokio::select! {
            r = setup(kube, ports, timeout, &mut steps) => r,
            _ = interrupt::wait() => Err("interrupted (Ctrl-C)".to_string()),
        }
    });
    let error = match setup {
        Ok(svc) if !interrupt::interrupted() => {
            visit(&svc);
            None
        }
        Ok(_) => Some("interrupted (Ctrl-C)".to_string()),
        Err(e) => Some(e),
    };
    let cleanup = kube
        .runtime()
        .block_on(delete_namespace(kube, timeout.min(Duration::from_secs(90))));
    match &cleanup {
        Ok(()) => steps.push(format!("namespace {NAMESPACE} deleted")),
        Err(e) => steps.push(format!("namespace {NAMESPACE} NOT deleted: {e}")),
    }
    ProbeRun {
        steps,
        error,
        cleanup,
    }
}

async fn call<T>(
    what: String,
    fut: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(CALL_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {}", chain(&e))),
        Err(_) => Err(format!(
            "{what}: no answer within {}s",
            CALL_TIMEOUT.as_secs()
        )),
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// The probe, step by step: where it leads, a fresh namespace (its uid is
/// the token), the Service with its EndpointSlice, and the ingress IP.
async fn setup(
    kube: &Kube,
    ports: &[u16],
    timeout: Duration,
    steps: &mut Vec<String>,
) -> Result<ProbeService, String> {
    let deadline = Instant::now() + timeout;
    let (ip, web) = api_endpoint(kube).await?;
    steps.push(format!(
        "target: the API server at {ip}:{web} (endpoints default/kubernetes)"
    ));
    let token = fresh_namespace(kube, timeout, steps).await?;
    let services = create_service(kube, ports, &ip, web).await?;
    let shown: Vec<String> = ports.iter().map(u16::to_string).collect();
    steps.push(format!(
        "service {NAMESPACE}/{SERVICE} (LoadBalancer, ports {}) and its EndpointSlice created",
        shown.join(", ")
    ));
    let progress = Progress::new(format!("an ingress IP for {NAMESPACE}/{SERVICE}"), timeout);
    loop {
        let s = call(
            format!("GET service {NAMESPACE}/{SERVICE}"),
            services.get(SERVICE),
        )
        .await?;
        let fact = service_fact(&s);
        if let Some(ingress) = fact.ingress_ips.first() {
            steps.push(format!(
                "servicelb gave {NAMESPACE}/{SERVICE} the ingress IP {ingress}"
            ));
            return Ok(ProbeService {
                ingress_ip: ingress.clone(),
                ports: fact.ports.iter().map(|p| (p.port, p.node_port)).collect(),
                target: ("the API server".to_string(), ip, web),
                token,
            });
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "service {NAMESPACE}/{SERVICE} got no ingress IP within {}s (status.loadBalancer is empty: is servicelb disabled, or are the ports taken in the rootless namespace?)",
                timeout.as_secs()
            ));
        }
        progress.tick("");
        tokio::time::sleep(POLL).await;
    }
}

/// What the Service leads to: the API server, from the endpoints of
/// default/kubernetes. Through the forward it answers, over TLS verified
/// with the kubeconfig, with this run's namespace uid: proof that the host
/// port leads to this probe Service and nothing else.
async fn api_endpoint(kube: &Kube) -> Result<(String, u16), String> {
    let endpoints: Api<Endpoints> = Api::namespaced(kube.client.clone(), "default");
    let ep = call(
        "GET /api/v1/namespaces/default/endpoints/kubernetes".into(),
        endpoints.get("kubernetes"),
    )
    .await?;
    let subset = ep
        .subsets
        .as_ref()
        .and_then(|s| s.first())
        .ok_or("default/kubernetes has no endpoints: the API server is not registered")?;
    let ip = subset
        .addresses
        .as_ref()
        .and_then(|a| a.first())
        .map(|a| a.ip.clone())
        .ok_or("default/kubernetes has no endpoint address")?;
    let web = subset
        .ports
        .as_ref()
        .and_then(|p| {
            p.iter()
                .find(|p| p.name.as_deref() == Some("https"))
                .or(p.first())
        })
        .map(|p| p.port)
        .and_then(|p| u16::try_from(p).ok())
        .ok_or("default/kubernetes has no endpoint port")?;
    Ok((ip, web))
}

/// Creates the probe namespace (deleting one an earlier, killed run left)
/// and returns its uid: new each run, the token the forwards must return.
async fn fresh_namespace(
    kube: &Kube,
    timeout: Duration,
    steps: &mut Vec<String>,
) -> Result<String, String> {
    let namespaces: Api<Namespace> = Api::all(kube.client.clone());
    match namespaces.get(NAMESPACE).await {
        Ok(_) => {
            steps.push(format!(
                "namespace {NAMESPACE} left over from an earlier run: deleting it first"
            ));
            delete_namespace(kube, timeout).await?;
        }
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(format!("GET namespace {NAMESPACE}: {}", chain(&e))),
    }
    let ns: Namespace = serde_json::from_value(json!({
        "metadata": {"name": NAMESPACE, "labels": {"app.kubernetes.io/managed-by": "krc"}}
    }))
    .map_err(|e| e.to_string())?;
    let created = call(
        format!("create namespace {NAMESPACE}"),
        namespaces.create(&PostParams::default(), &ns),
    )
    .await?;
    let token = created.metadata.uid.clone().unwrap_or_default();
    if token.is_empty() {
        return Err(format!("namespace {NAMESPACE} was created without a uid"));
    }
    steps.push(format!(
        "namespace {NAMESPACE} created (uid {token}: this run's token)"
    ));
    Ok(token)
}

/// The LoadBalancer Service on `ports` and, as it has no selector, the
/// EndpointSlice that sends it to the API server at `ip:web`.
async fn create_service(
    kube: &Kube,
    ports: &[u16],
    ip: &str,
    web: u16,
) -> Result<Api<Service>, String> {
    let names: Vec<String> = ports.iter().map(|p| format!("p{p}")).collect();
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": SERVICE, "namespace": NAMESPACE},
        "spec": {
            "type": "LoadBalancer",
            "ports": ports.iter().zip(&names).map(|(p, n)| json!({
                "name": n, "port": p, "targetPort": web, "protocol": "TCP"
            })).collect::<Vec<_>>()
        }
    }))
    .map_err(|e| e.to_string())?;
    let services: Api<Service> = Api::namespaced(kube.client.clone(), NAMESPACE);
    call(
        format!("create service {NAMESPACE}/{SERVICE}"),
        services.create(&PostParams::default(), &svc),
    )
    .await?;
    let slice: EndpointSlice = serde_json::from_value(json!({
        "metadata": {
            "name": format!("{SERVICE}-1"),
            "namespace": NAMESPACE,
            "labels": {
                "kubernetes.io/service-name": SERVICE,
                "endpointslice.kubernetes.io/managed-by": "krc"
            }
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": true}}],
        "ports": names.iter().map(|n| json!({"name": n, "port": web, "protocol": "TCP"})).collect::<Vec<_>>()
    }))
    .map_err(|e| e.to_string())?;
    let slices: Api<EndpointSlice> = Api::namespaced(kube.client.clone(), NAMESPACE);
    call(
        format!("create endpointslice {NAMESPACE}/{SERVICE}-1"),
        slices.create(&PostParams::default(), &slice),
    )
    .await?;
    Ok(services)
}

/// Deletes the probe namespace and waits until it is gone.
async fn delete_namespace(kube: &Kube, timeout: Duration) -> Result<(), String> {
    let namespaces: Api<Namespace> = Api::all(kube.client.clone());
    let deadline = Instant::now() + timeout;
    match tokio::time::timeout(
        CALL_TIMEOUT,
        namespaces.delete(NAMESPACE, &DeleteParams::background()),
    )
    .await
    {
        Ok(Ok(_)) => {}
        Ok(Err(e)) if is_not_found(&e) => return Ok(()),
        Ok(Err(e)) => return Err(format!("DELETE namespace {NAMESPACE}: {}", chain(&e))),
        Err(_) => return Err(format!("DELETE namespace {NAMESPACE}: no answer")),
    }
    let progress = Progress::new(format!("namespace {NAMESPACE} to go away"), timeout);
    loop {
        match tokio::time::timeout(CALL_TIMEOUT, namespaces.get(NAMESPACE)).await {
            Ok(Err(e)) if is_not_found(&e) => return Ok(()),
            _ if Instant::now() >= deadline => {
                return Err(format!(
                    "deletion requested, still terminating after {}s: kubectl get namespace {NAMESPACE}",
                    timeout.as_secs()
                ));
            }
            _ => {}
        }
        progress.tick("");
        tokio::time::sleep(POLL).await;
    }
}
