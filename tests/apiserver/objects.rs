//! The cluster the stand-in serves, as k3s's objects look (trimmed to the
//! fields a client reads, but with k3s's names, labels and addresses).

use serde_json::{Value, json};

pub struct State {
    pub readyz: String,
    pub git_version: String,
    pub nodes: Vec<Value>,
    pub pods: Vec<Value>,
    pub services: Vec<Value>,
    pub namespaces: Vec<Value>,
    pub endpoint_slices: Vec<Value>,
    /// servicelb: give new LoadBalancer services the ingress IP 127.0.0.1.
    pub servicelb: bool,
    /// nodePorts handed to new service ports (taken from the end).
    pub node_port_pool: Vec<u16>,
    /// The last namespace uid handed out.
    pub uid_seq: u64,
    /// Paths answered with an endless body (a hostile API server: k3s
    /// runs as the target user), up to [`super::FLOOD_BYTES`].
    pub flood: Vec<String>,
    /// Paths whose requests are read and never answered (for a minute).
    pub stall: Vec<String>,
}

impl State {
    /// A freshly started rootless k3s: one node, kube-system Ready, traefik's
    /// service on 80/443 with the given nodePorts.
    pub fn k3s(traefik_node_ports: (u16, u16)) -> State {
        State {
            readyz: "ok".into(),
            git_version: "v1.33.5+k3s1".into(),
            nodes: vec![node("krc-host", "10.41.0.100", true)],
            pods: vec![
                pod("coredns-64fd4b4794-7xk2p", "coredns", "kube-dns", "10.42.0.3", true, &[("dns", 53), ("dns-tcp", 53), ("metrics", 9153)]),
                pod("local-path-provisioner-774c6665dc-9kqzv", "local-path-provisioner", "", "10.42.0.2", true, &[]),
                pod("metrics-server-7bfffcd44-h5w4n", "metrics-server", "", "10.42.0.4", true, &[("https", 10250)]),
                pod("traefik-c98fdf6fb-5x8lz", "traefik", "", "10.42.0.8", true, &[("metrics", 9100), ("traefik", 9000), ("web", 8000), ("websecure", 8443)]),
                job_pod("helm-install-traefik-crd-pw8nc"),
                job_pod("helm-install-traefik-vz2lq"),
            ],
            services: vec![
                json!({
                    "apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "kubernetes", "namespace": "default"},
                    "spec": {"type": "ClusterIP", "clusterIP": "10.43.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]},
                    "status": {"loadBalancer": {}}
                }),
                json!({
                    "apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
                    "spec": {"type": "ClusterIP", "clusterIP": "10.43.0.10", "ports": [
                        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                        {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]},
                    "status": {"loadBalancer": {}}
                }),
                json!({
                    "apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "traefik", "namespace": "kube-system", "labels": {"app.kubernetes.io/name": "traefik"}},
                    "spec": {"type": "LoadBalancer", "clusterIP": "10.43.145.211", "ports": [
                        {"name": "web", "port": 80, "protocol": "TCP", "targetPort": "web", "nodePort": traefik_node_ports.0},
                        {"name": "websecure", "port": 443, "protocol": "TCP", "targetPort": "websecure", "nodePort": traefik_node_ports.1}]},
                    "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1", "ipMode": "VIP"}]}}
                }),
            ],
            namespaces: ["default", "kube-system", "kube-public", "kube-node-lease"]
                .iter()
                .map(|n| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}, "status": {"phase": "Active"}}))
                .collect(),
            endpoint_slices: Vec::new(),
            servicelb: true,
            uid_seq: 0,
            flood: Vec::new(),
            stall: Vec::new(),
            node_port_pool: Vec::new(),
        }
    }
}

pub fn node(name: &str, ip: &str, ready: bool) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "node-role.kubernetes.io/control-plane": "true",
            "node.kubernetes.io/instance-type": "k3s", "kubernetes.io/os": "linux"}},
        "spec": {"podCIDR": "10.42.0.0/24", "providerID": format!("k3s://{name}")},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
                {"type": "Ready", "status": if ready { "True" } else { "False" },
                 "reason": if ready { "KubeletReady" } else { "KubeletNotReady" },
                 "message": if ready { "kubelet is posting ready status" } else { "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized" }}
            ],
            "nodeInfo": {"kubeletVersion": "v1.33.5+k3s1", "containerRuntimeVersion": "containerd://2.1.4-k3s1", "osImage": "Debian GNU/Linux 12 (bookworm)"}
        }
    })
}

pub fn pod(
    name: &str,
    app_name: &str,
    k8s_app: &str,
    ip: &str,
    ready: bool,
    ports: &[(&str, u16)],
) -> Value {
    let mut labels = json!({"pod-template-hash": name.rsplit('-').nth(1).unwrap_or("")});
    if !k8s_app.is_empty() {
        labels["k8s-app"] = json!(k8s_app);
    } else if app_name == "traefik" {
        labels["app.kubernetes.io/name"] = json!("traefik");
        labels["app.kubernetes.io/instance"] = json!("traefik-kube-system");
    } else {
        labels["app"] = json!(app_name);
    }
    let state = if ready {
        json!({"running": {"startedAt": "2026-11-26T10:00:00Z"}})
    } else {
        json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}})
    };
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "kube-system", "labels": labels},
        "spec": {"nodeName": "krc-host", "containers": [{
            "name": app_name, "image": format!("rancher/mirrored-{app_name}:latest"),
            "ports": ports.iter().map(|(n, p)| json!({"name": n, "containerPort": p, "protocol": "TCP"})).collect::<Vec<_>>()
        }]},
        "status": {
            "phase": "Running", "podIP": ip, "hostIP": "10.41.0.100",
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                "message": if ready { Value::Null } else { json!(format!("containers with unready status: [{app_name}]")) }}],
            "containerStatuses": [{"name": app_name, "ready": ready, "restartCount": if ready { 0 } else { 7 }, "image": "", "imageID": "", "state": state}]
        }
    })
}

fn job_pod(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "kube-system", "labels": {"job-name": name.rsplit_once('-').map_or(name, |x| x.0)}},
        "spec": {"containers": [{"name": "helm", "image": "rancher/klipper-helm"}]},
        "status": {"phase": "Succeeded", "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted"}]}
    })
}
