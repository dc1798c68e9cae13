//! The acceptance checks that read files and live facts, judged on
//! directory trees with a stand-in for the live probes: pass and fail for
//! each, with evidence and remedy.

use std::time::Duration;

use super::{Ctx, Params, Status, Verdict, find};
use crate::host::accept::{
    AcceptProbes, Answer, NodeFact, PodFact, PortAnswer, ProbeRun, ProbeService, ServiceFact,
    ServicePortFact, UnitState, VersionFact,
};
use crate::host::{Host, Probe, TargetUser};

/// Answers the live probes from fields.
#[derive(Default)]
struct Fake {
    unit: Option<Result<UnitState, String>>,
    nodes: Vec<NodeFact>,
    services: Vec<ServiceFact>,
    open_ports: Vec<u16>,
    /// Ports that answer only while the probe Service exists.
    probe_open: Vec<u16>,
    probing: std::sync::atomic::AtomicBool,
    /// Ports where another cluster's API server answers the token question.
    foreign: Vec<u16>,
    /// Probe ports whose server closes on a plain HEAD (TLS) yet answers
    /// the token question.
    tls_only: Vec<u16>,
    env: Option<String>,
}

impl AcceptProbes for Fake {
    fn server(&self) -> Answer<String> {
        Probe::Answer(Ok("https://127.0.0.1:6443/".into()))
    }
    fn readyz(&self) -> Answer<String> {
        Probe::Answer(Ok("ok".into()))
    }
    fn version(&self) -> Answer<VersionFact> {
        Probe::Answer(Ok(VersionFact {
            git_version: "v1.33.5+k3s1".into(),
            platform: "linux/amd64".into(),
        }))
    }
    fn nodes(&self) -> Answer<Vec<NodeFact>> {
        Probe::Answer(Ok(self.nodes.clone()))
    }
    fn system_pods(&self, _: &[&str], _: Duration) -> Answer<Vec<PodFact>> {
        Probe::Answer(Ok(Vec::new()))
    }
    fn services(&self) -> Answer<Vec<ServiceFact>> {
        Probe::Answer(Ok(self.services.clone()))
    }
    fn with_probe_service(
        &self,
        ports: &[u16],
        _: Duration,
        visit: &mut dyn FnMut(&ProbeService),
    ) -> Probe<ProbeRun> {
        self.probing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        visit(&ProbeService {
            ingress_ip: "127.0.0.1".into(),
            ports: ports.iter().map(|p| (*p, None)).collect(),
            target: ("the API server".into(), "10.41.0.100".into(), 6443),
            token: "7c1e2d3f-run".into(),
        });
        self.probing
            .store(false, std::sync::atomic::Ordering::SeqCst);
        Probe::Answer(ProbeRun {
            steps: vec!["namespace krc-acceptance deleted".into()],
            error: None,
            cleanup: Ok(()),
        })
    }
    fn connect(&self, port: u16) -> Probe<PortAnswer> {
        let probing = self.probing.load(std::sync::atomic::Ordering::SeqCst);
        if probing && self.tls_only.contains(&port) {
            return Probe::Answer(PortAnswer::Closed("end of stream".into()));
        }
        Probe::Answer(
            if self.open_ports.contains(&port) || (probing && self.probe_open.contains(&port)) {
                PortAnswer::Answered("HTTP/1.1 404 Not Found".into())
            } else {
                PortAnswer::Refused(format!(
                    "connect 127.0.0.1:{port}: Connection refused (os error 111)"
                ))
            },
        )
    }
    fn token_via(&self, port: u16) -> Answer<String> {
        Probe::Answer(if self.foreign.contains(&port) {
            Ok("0b9a8c7d-other".into())
        } else if self.probing.load(std::sync::atomic::Ordering::SeqCst)
            && (self.probe_open.contains(&port) || self.tls_only.contains(&port))
        {
            Ok("7c1e2d3f-run".into())
        } else {
            Err(format!(
                "GET https://127.0.0.1:{port}/api/v1/namespaces/krc-acceptance: invalid peer certificate: UnknownIssuer"
            ))
        })
    }
    fn user_unit(&self, _: &TargetUser, _: &str) -> Answer<UnitState> {
        match &self.unit {
            Some(u) => Probe::Answer(u.clone()),
            None => Probe::NotRun("not in this test".into()),
        }
    }
    fn kubeconfig_env(&self) -> Option<String> {
        self.env.clone()
    }
}

struct Tree(tempfile::TempDir);

const UNIT: &str = "/home/k3s/.config/systemd/user/k3s-rootless.service";
const GOOD_UNIT: &str = "[Unit]\nDescription=k3s (Rootless)\n\n[Service]\nEnvironment=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nExecStart=/usr/local/bin/k3s server --rootless --snapshotter=fuse-overlayfs\nExecReload=/bin/kill -s HUP $MAINPID\nTimeoutSec=0\nRestartSec=2\nRestart=always\nDelegate=yes\nType=simple\nKillMode=mixed\n\n[Install]\nWantedBy=default.target\n";
const DROP_IN: &str = "[Service]\nEnvironment=K3S_ROOTLESS_CIDR=10.41.0.0/16\nEnvironment=K3S_ROOTLESS_PORT_DRIVER=slirp4netns\nEnvironment=K3S_ROOTLESS_MTU=1500 K3S_ROOTLESS_DISABLE_HOST_LOOPBACK=true\n";

impl Tree {
    fn new() -> Tree {
        let t = Tree(tempfile::tempdir().unwrap());
        t.file(
            "/etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nk3s:x:1000:1000::/home/k3s:/bin/sh\n",
        );
        t.file("/etc/group", "root:x:0:\nk3s:x:1000:\n");
        t
    }

    fn file(&self, path: &str, text: &str) -> &Tree {
        let p = self.0.path().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
        self
    }

    /// A k3s process: cmdline, uid and uid_map.
    fn process(&self, pid: u32, uid: u32, cmdline: &str, uid_map: &str, cgroup: &str) -> &Tree {
        self.file(&format!("/proc/{pid}/cmdline"), &cmdline.replace(' ', "\0"));
        self.file(
            &format!("/proc/{pid}/status"),
            &format!("Name:\tk3s\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"),
        );
        self.file(&format!("/proc/{pid}/uid_map"), uid_map);
        self.file(&format!("/proc/{pid}/cgroup"), cgroup)
    }

    fn installed(&self) -> &Tree {
        self.file(UNIT, GOOD_UNIT);
        self.file(&format!("{UNIT}.d/krc.conf"), DROP_IN);
        self.file("/usr/local/bin/k3s", "#!/bin/sh\n");
        self.file(
            "krc-fixture.toml",
            "[files.\"/usr/local/bin/k3s\"]\nmode = \"755\"\n[probes.versions]\n\"/usr/local/bin/k3s\" = \"k3s version v1.33.5+k3s1 (2a9c3d4b)\"\n",
        )
    }

    fn judge(&self, id: &str, fake: Fake, params: &Params) -> Verdict {
        let host = Host::open(self.0.path(), Some("k3s"))
            .unwrap()
            .with_accept_probes(Box::new(fake));
        find(id).unwrap().judge(&Ctx {
            host: &host,
            params,
        })
    }
}

fn show(v: &Verdict) -> String {
    format!(
        "{:?} {}\n{}\n{:?}",
        v.status,
        v.summary,
        v.evidence.join("\n"),
        v.remedy
    )
}

#[test]
fn unit_present_passes_on_the_upstream_unit_and_fails_without_delegate() {
    let t = Tree::new();
    t.installed();
    let p = Params::default();
    let v = t.judge("unit.present", Fake::default(), &p);
    assert_eq!(v.status, Status::Pass, "{}", show(&v));
    t.file(UNIT, &GOOD_UNIT.replace("Delegate=yes\n", ""));
    let v = t.judge("unit.present", Fake::default(), &p);
    assert_eq!(v.status, Status::Fail, "{}", show(&v));
    assert!(
        v.summary.contains("Delegate=yes is missing")
            && v.remedy.unwrap().contains("daemon-reload")
    );
    // Without the drop-in, k3s's defaults apply: a warning names them.
    t.file(UNIT, GOOD_UNIT);
    std::fs::remove_file(
        t.0.path()
            .join(format!("{}.d/krc.conf", UNIT.trim_start_matches('/'))),
    )
    .unwrap();
    let v = t.judge("unit.present", Fake::default(), &p);
    assert_eq!(v.status, Status::Warn, "{}", show(&v));
    assert!(
        v.summary
            .contains("K3S_ROOTLESS_MTU is not set (k3s then uses 65520"),
        "{}",
        show(&v)
    );
}

#[test]
fn install_binary_checks_path_mode_and_pin() {
    let t = Tree::new();
    t.installed();
    let mut p = Params::default();
    let v = t.judge("install.binary", Fake::default(), &p);
    assert_eq!(v.status, Status::Pass, "{}", show(&v));
    p.accept.k3s_version = Some("v1.33.5+k3s1".into());
    assert_eq!(
        t.judge("install.binary", Fake::default(), &p).status,
        Status::Pass
    );
    p.accept.k3s_version = Some("2a9c3d4b5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b".into());
    assert_eq!(
        t.judge("install.binary", Fake::default(), &p).status,
        Status::Pass
    );
    p.accept.k3s_version = Some("v1.34.1+k3s1".into());
    let v = t.judge("install.binary", Fake::default(), &p);
    assert_eq!(v.status, Status::Fail, "{}", show(&v));
    assert!(v.summary.contains("not the pinned k3s v1.34.1+k3s1"));
    t.file(UNIT, &GOOD_UNIT.replace("/usr/local/bin/k3s", "/opt/k3s"));
    let v = t.judge("install.binary", Fake::default(), &Params::default());
    assert!(
        v.status == Status::Fail
            && v.summary.contains(
                "the unit starts /opt/k3s, which does not exist; k3s is installed at /usr/local/bin/k3s"
            ),
        "{}",
        show(&v)
    );
}

#[test]
fn unit_active_needs_enabled_and_active() {
    let t = Tree::new();
    let p = Params::default();
    let up = UnitState {
        enabled: "enabled".into(),
        active: "active".into(),
        main_pid: Some(4242),
    };
    let fake = |u: UnitState| Fake {
        unit: Some(Ok(u)),
        ..Fake::default()
    };
    assert_eq!(
        t.judge("unit.active", fake(up.clone()), &p).status,
        Status::Pass
    );
    let v = t.judge(
        "unit.active",
        fake(UnitState {
            enabled: "disabled".into(),
            active: "failed".into(),
            main_pid: None,
        }),
        &p,
    );
    assert_eq!(v.status, Status::Fail);
    assert!(
        v.summary.contains("is disabled") && v.summary.contains("is failed"),
        "{}",
        show(&v)
    );
    assert!(
        v.remedy
            .as_deref()
            .unwrap()
            .contains("journalctl --user -M k3s@"),
        "{}",
        show(&v)
    );
    let v = t.judge(
        "unit.active",
        Fake {
            unit: Some(Err(
                "Failed to connect to bus: No such file or directory".into()
            )),
            ..Fake::default()
        },
        &p,
    );
    assert!(v.status == Status::Fail && v.remedy.unwrap().contains("enable-linger k3s"));
    assert_eq!(
        t.judge("unit.active", Fake::default(), &p).status,
        Status::Skip
    );
}

#[test]
fn delegation_live_reads_the_main_pids_cgroup() {
    let t = Tree::new();
    let cg = "/user.slice/user-1000.slice/user@1000.service/app.slice/k3s-rootless.service";
    t.process(
        4242,
        1000,
        "/usr/local/bin/k3s server --rootless",
        "0 0 4294967295\n",
        &format!("0::{cg}\n"),
    );
    t.file(
        &format!("/sys/fs/cgroup{cg}/cgroup.controllers"),
        "cpuset cpu io memory pids\n",
    );
    let p = Params::default();
    let fake = || Fake {
        unit: Some(Ok(UnitState {
            enabled: "enabled".into(),
            active: "active".into(),
            main_pid: Some(4242),
        })),
        ..Fake::default()
    };
    let v = t.judge("unit.delegation-live", fake(), &p);
    assert_eq!(v.status, Status::Pass, "{}", show(&v));
    t.file(
        &format!("/sys/fs/cgroup{cg}/cgroup.controllers"),
        "memory pids\n",
    );
    let v = t.judge("unit.delegation-live", fake(), &p);
    assert_eq!(v.status, Status::Fail);
    assert!(v.summary.contains("lacks cpu, cpuset"), "{}", show(&v));
    // On a tree without systemctl, the user's k3s process stands in.
    assert_eq!(
        t.judge("unit.delegation-live", Fake::default(), &p).status,
        Status::Fail
    );
}

#[test]
fn rootless_userns_and_rootful_inactive() {
    let t = Tree::new();
    let p = Params::default();
    t.process(
        4242,
        1000,
        "/usr/local/bin/k3s server --rootless",
        "0 0 4294967295\n",
        "0::/\n",
    );
    let v = t.judge("rootless.userns", Fake::default(), &p);
    assert!(
        v.status == Status::Fail && v.summary.contains("not rootless"),
        "{}",
        show(&v)
    );
    t.process(
        4250,
        1000,
        "/usr/local/bin/k3s server --rootless",
        "0 1000 1\n1 231072 65536\n",
        "0::/\n",
    );
    let v = t.judge("rootless.userns", Fake::default(), &p);
    assert_eq!(v.status, Status::Pass, "{}", show(&v));
    assert!(
        v.evidence
            .iter()
            .any(|e| e.contains("0 1000 1 | 1 231072 65536"))
    );

    t.file(
        "/etc/systemd/system/k3s.service",
        "[Service]\nExecStart=/usr/local/bin/k3s server\n",
    );
    assert_eq!(
        t.judge("rootful.inactive", Fake::default(), &p).status,
        Status::Pass
    );
    t.file(
        "/etc/systemd/system/multi-user.target.wants/k3s.service",
        "",
    );
    t.process(
        99,
        0,
        "/usr/local/bin/k3s server",
        "0 0 4294967295\n",
        "0::/system.slice/k3s.service\n",
    );
    let v = t.judge("rootful.inactive", Fake::default(), &p);
    assert_eq!(v.status, Status::Fail);
    assert!(
        v.summary.contains("is enabled") && v.summary.contains("pid 99"),
        "{}",
        show(&v)
    );
    assert!(
        v.remedy
            .unwrap()
            .contains("sudo systemctl disable --now k3s")
    );
}

/// How `cluster.single-node` quotes a token in the unit (the redaction
/// tests in report::redact take the same lines).
const TOKEN_LINES: [&str; 2] = [
    "token.conf:2: Environment=K3S_TOKEN=K10secretsecret::server:abc",
    "token.conf:4: ExecStart=/usr/local/bin/k3s server --rootless --snapshotter=fuse-overlayfs --cluster-init --token=K10othersecret",
];

#[test]
fn cluster_single_node_judges_nodes_not_flags_and_never_shows_tokens() {
    let t = Tree::new();
    t.installed();
    let p = Params::default();
    let node = |n: &str| NodeFact {
        name: n.into(),
        ready: None,
        internal_ips: vec![],
        kubelet_version: String::new(),
    };
    let fake = |names: &[&str]| Fake {
        nodes: names.iter().map(|n| node(n)).collect(),
        ..Fake::default()
    };
    assert_eq!(
        t.judge("cluster.single-node", fake(&["h"]), &p).status,
        Status::Pass
    );
    // A single server with a token and --cluster-init is a single node.
    t.file(
        &format!("{UNIT}.d/token.conf"),
        "[Service]\nEnvironment=K3S_TOKEN=K10secretsecret::server:abc\nExecStart=\nExecStart=/usr/local/bin/k3s server --rootless --snapshotter=fuse-overlayfs --cluster-init --token=K10othersecret\n",
    );
    let v = t.judge("cluster.single-node", fake(&["h"]), &p);
    assert_eq!(v.status, Status::Pass, "{}", show(&v));
    assert!(
        v.evidence
            .iter()
            .any(|e| e.contains("K3S_TOKEN is set: harmless on a single server")),
        "{}",
        show(&v)
    );
    // A second node fails, whatever the flags say.
    let v = t.judge("cluster.single-node", fake(&["h", "w1"]), &p);
    assert_eq!(v.status, Status::Fail, "{}", show(&v));
    assert!(v.summary.contains("2 nodes joined"), "{}", show(&v));
    // The raw verdict names the lines as they are; the record a report
    // gets is redacted by the runner, and report::redact's tests hide the
    // values of exactly these lines.
    for line in TOKEN_LINES {
        assert!(
            v.evidence.iter().any(|e| e.ends_with(line)),
            "{line:?} not in\n{}",
            show(&v)
        );
    }
}

#[test]
fn unit_present_accepts_delegate_lists_and_environment_in_the_unit() {
    let t = Tree::new();
    t.installed();
    let p = Params::default();
    // A list naming what k3s needs is as good as yes.
    t.file(
        UNIT,
        &GOOD_UNIT.replace("Delegate=yes", "Delegate=cpu cpuset io memory pids"),
    );
    let v = t.judge("unit.present", Fake::default(), &p);
    assert_eq!(v.status, Status::Pass, "{}", show(&v));
    // Lists accumulate, as systemd does.
    t.file(
        UNIT,
        &GOOD_UNIT.replace("Delegate=yes", "Delegate=cpu cpuset\nDelegate=memory pids"),
    );
    let v = t.judge("unit.present", Fake::default(), &p);
    assert_eq!(v.status, Status::Pass, "{}", show(&v));
    // A list without cpuset fails, naming it.
    t.file(
        UNIT,
        &GOOD_UNIT.replace("Delegate=yes", "Delegate=cpu memory pids"),
    );
    let v = t.judge("unit.present", Fake::default(), &p);
    assert_eq!(v.status, Status::Fail, "{}", show(&v));
    assert!(
        v.summary
            .contains("Delegate=cpu memory pids does not delegate cpuset"),
        "{}",
        show(&v)
    );
    // K3S_ROOTLESS_* in the unit itself, no drop-in: read from the unit.
    std::fs::remove_file(
        t.0.path()
            .join(format!("{}.d/krc.conf", UNIT.trim_start_matches('/'))),
    )
    .unwrap();
    t.file(
        UNIT,
        &GOOD_UNIT.replace(
            "Delegate=yes\n",
            "Delegate=yes\nEnvironment=K3S_ROOTLESS_CIDR=10.41.0.0/16 K3S_ROOTLESS_PORT_DRIVER=slirp4netns\nEnvironment=K3S_ROOTLESS_MTU=1500 K3S_ROOTLESS_DISABLE_HOST_LOOPBACK=true\n",
        ),
    );
    let v = t.judge("unit.present", Fake::default(), &p);
    assert_eq!(v.status, Status::Pass, "{}", show(&v));
}

#[test]
fn pods_system_skips_what_config_yaml_and_flags_disable() {
    let t = Tree::new();
    t.installed();
    let p = Params::default();
    // The fake lists no pods: every required component fails by name.
    let v = t.judge("pods.system", Fake::default(), &p);
    assert_eq!(v.status, Status::Fail);
    assert!(
        v.summary.contains("metrics-server has no pod"),
        "{}",
        show(&v)
    );
    t.file(
        "/etc/rancher/k3s/config.yaml",
        "write-kubeconfig-mode: \"0644\"\ndisable:\n  - metrics-server\n",
    );
    t.file(
        "/etc/rancher/k3s/config.yaml.d/50-storage.yaml",
        "disable+: local-storage\n",
    );
    t.file(
        UNIT,
        &GOOD_UNIT.replace(
            "--snapshotter=fuse-overlayfs",
            "--snapshotter=fuse-overlayfs --disable traefik --disable=coredns,servicelb",
        ),
    );
    let v = t.judge("pods.system", Fake::default(), &p);
    assert_eq!(v.status, Status::Pass, "{}", show(&v));
    for e in [
        "metrics-server: not required, k3s is told not to deploy it: /etc/rancher/k3s/config.yaml:2: disable:",
        "local-path-provisioner: not required, k3s is told not to deploy it: /etc/rancher/k3s/config.yaml.d/50-storage.yaml:1: disable+: local-storage",
        "traefik: not required, k3s is told not to deploy it: /home/k3s/.config/systemd/user/k3s-rootless.service:6: ExecStart=",
    ] {
        assert!(
            v.evidence.iter().any(|x| x.starts_with(e)),
            "{e}\n{}",
            show(&v)
        );
    }
    // A string value works as a list of one.
    t.file("/etc/rancher/k3s/config.yaml", "disable: traefik\n");
    t.file(UNIT, GOOD_UNIT);
    std::fs::remove_file(
        t.0.path()
            .join("etc/rancher/k3s/config.yaml.d/50-storage.yaml"),
    )
    .unwrap();
    let v = t.judge("pods.system", Fake::default(), &p);
    assert_eq!(v.status, Status::Fail);
    assert!(!v.summary.contains("traefik"), "{}", show(&v));
    assert!(v.summary.contains("coredns has no pod"), "{}", show(&v));
}

#[test]
fn kubeconfig_env_reads_the_profiles() {
    let t = Tree::new();
    let p = Params::default();
    t.file(
        "/home/k3s/.bashrc",
        "alias k=kubectl\nexport KUBECONFIG= ~/.kube/k3s.yaml\n",
    );
    let v = t.judge("kubeconfig.env", Fake::default(), &p);
    assert_eq!(v.status, Status::Warn);
    assert!(
        v.summary
            .contains("/home/k3s/.bashrc:2 sets KUBECONFIG empty"),
        "{}",
        show(&v)
    );
    t.file("/home/k3s/.bashrc", "export KUBECONFIG=~/.kube/k3s.yaml\n");
    let v = t.judge(
        "kubeconfig.env",
        Fake {
            env: Some("~/.kube/k3s.yaml".into()),
            ..Fake::default()
        },
        &p,
    );
    assert_eq!(v.status, Status::Pass, "{}", show(&v));
}

#[test]
fn ports_offset_applies_the_inclusive_1024_rule() {
    assert_eq!(super::ports::host_port(80), 10080);
    assert_eq!(super::ports::host_port(1024), 11024);
    assert_eq!(super::ports::host_port(1025), 1025);
    assert_eq!(super::ports::host_port(8080), 8080);
    let t = Tree::new();
    t.file("/proc/net/tcp", "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n");
    let mut p = Params::default();
    p.accept.probe_ports = vec![81, 1024, 8080];
    p.accept.timeout_secs = 1;
    let svc = ServiceFact {
        namespace: "kube-system".into(),
        name: "traefik".into(),
        kind: "LoadBalancer".into(),
        ingress_ips: vec!["127.0.0.1".into()],
        ports: [80, 443]
            .iter()
            .map(|p| ServicePortFact {
                name: String::new(),
                protocol: "TCP".into(),
                port: *p,
                node_port: None,
            })
            .collect(),
    };
    let fake = |open: Vec<u16>, probe: Vec<u16>| Fake {
        services: vec![svc.clone()],
        open_ports: open,
        probe_open: probe,
        ..Fake::default()
    };
    let v = t.judge(
        "ports.offset",
        fake(vec![10080, 10443], vec![10081, 11024, 8080]),
        &p,
    );
    assert_eq!(v.status, Status::Pass, "{}", show(&v));
    assert!(
        v.evidence
            .iter()
            .any(|e| e.starts_with("before the probe: host 127.0.0.1:11024: connection failed")),
        "{}",
        show(&v)
    );
    assert!(
        v.evidence.iter().any(|e| e.contains(
            "host 127.0.0.1:11024: the API server answered with this run's token (namespace uid 7c1e2d3f-run)"
        )),
        "{}",
        show(&v)
    );
    // 1024 forwarded at 1024 (the docs' "below 1024" reading) is a failure.
    p.accept.probe_ports = vec![1024];
    let v = t.judge("ports.offset", fake(vec![10080, 10443], vec![1024]), &p);
    assert_eq!(v.status, Status::Fail, "{}", show(&v));
    assert!(
        v.summary
            .contains("port 1024 is not reachable on host port 11024"),
        "{}",
        show(&v)
    );
    // A server that closes on a plain HEAD but returns this run's uid over
    // TLS is the probe's forward.
    p.accept.probe_ports = vec![1024];
    let mut tls = fake(vec![10080, 10443], vec![]);
    tls.tls_only = vec![11024];
    let v = t.judge("ports.offset", tls, &p);
    assert_eq!(v.status, Status::Pass, "{}", show(&v));
    // A forward that answers with another token is not the probe's.
    p.accept.probe_ports = vec![81];
    let mut other = fake(vec![10080, 10443], vec![10081]);
    other.foreign = vec![10081];
    let v = t.judge("ports.offset", other, &p);
    assert_eq!(v.status, Status::Fail, "{}", show(&v));
    assert!(
        v.summary
            .contains("host port 10081 answers, but not through this run's probe Service"),
        "{}",
        show(&v)
    );
    // Something else already answers on 8080: the probe cannot claim it.
    p.accept.probe_ports = vec![81, 8080];
    let v = t.judge(
        "ports.offset",
        fake(vec![10080, 10443, 8080], vec![10081]),
        &p,
    );
    assert_eq!(v.status, Status::Fail, "{}", show(&v));
    assert!(
        v.summary
            .contains("host port 8080 already answers before the probe Service exists"),
        "{}",
        show(&v)
    );
    assert!(v.remedy.unwrap().contains("sudo ss -ltnp 'sport = :8080'"));
    // traefik and servicelb disabled in config.yaml: traefik's service is
    // not expected, the active probe does not run, the API port must answer.
    t.file(
        "/etc/rancher/k3s/config.yaml",
        "disable:\n  - traefik\n  - servicelb\n",
    );
    let mut bare = fake(vec![6443], vec![]);
    bare.services.clear();
    let v = t.judge("ports.offset", bare, &p);
    assert_eq!(v.status, Status::Pass, "{}", show(&v));
    assert!(
        v.evidence.iter().any(|e| e.starts_with(
            "servicelb is disabled (/etc/rancher/k3s/config.yaml:1: disable:): k3s forwards only the API port 6443"
        )),
        "{}",
        show(&v)
    );
    // Issue 17: servicelb off, traefik on. Its LoadBalancer service has no
    // ingress IP, as upstream's controller says: that is a working cluster.
    t.file("/etc/rancher/k3s/config.yaml", "disable: servicelb\n");
    let mut no_ingress = fake(vec![6443], vec![10081, 11024, 8080]);
    no_ingress.services[0].ingress_ips.clear();
    let v = t.judge("ports.offset", no_ingress, &p);
    assert_eq!(v.status, Status::Pass, "{}", show(&v));
    assert!(
        v.summary.contains("only the API port 6443 is forwarded"),
        "{}",
        show(&v)
    );
    assert!(
        v.evidence.iter().any(|e| e
            == "service kube-system/traefik: LoadBalancer without ingress IP: expected with servicelb disabled, not forwarded"),
        "{}",
        show(&v)
    );
    assert!(
        !v.evidence.iter().any(|e| e.contains("token")),
        "the active probe ran: {}",
        show(&v)
    );
    // ... and the one port that is forwarded must answer.
    let mut down = fake(vec![], vec![]);
    down.services[0].ingress_ips.clear();
    let v = t.judge("ports.offset", down, &p);
    assert_eq!(v.status, Status::Fail, "{}", show(&v));
    assert!(
        v.summary
            .contains("the API port 6443, the one port k3s forwards"),
        "{}",
        show(&v)
    );
}

#[test]
fn net_proxy_wants_the_cluster_networks_in_no_proxy() {
    let t = Tree::new();
    t.installed();
    let p = Params::default();
    assert_eq!(
        t.judge("net.proxy", Fake::default(), &p).status,
        Status::Pass
    );
    t.file("/etc/environment", "HTTPS_PROXY=http://proxy:3128\n");
    let v = t.judge("net.proxy", Fake::default(), &p);
    assert_eq!(v.status, Status::Warn, "{}", show(&v));
    assert!(
        v.summary.contains("does not carry HTTPS_PROXY"),
        "{}",
        show(&v)
    );
    t.file(
        &format!("{UNIT}.d/proxy.conf"),
        "[Service]\nEnvironment=\"HTTPS_PROXY=http://proxy:3128\"\nEnvironment=\"NO_PROXY=127.0.0.1,10.41.0.0/16,10.42.0.0/16\"\n",
    );
    let v = t.judge("net.proxy", Fake::default(), &p);
    assert_eq!(v.status, Status::Warn, "{}", show(&v));
    assert!(
        v.summary
            .contains("NO_PROXY of k3s's unit lacks 10.43.0.0/16"),
        "{}",
        show(&v)
    );
    assert!(v.remedy.unwrap().contains("sudo krc install --user k3s"));
    t.file(
        &format!("{UNIT}.d/proxy.conf"),
        "[Service]\nEnvironment=\"HTTPS_PROXY=http://proxy:3128\"\nEnvironment=\"NO_PROXY=127.0.0.1,10.41.0.0/16,10.42.0.0/16,10.43.0.0/16\"\n",
    );
    let v = t.judge("net.proxy", Fake::default(), &p);
    assert_eq!(v.status, Status::Pass, "{}", show(&v));
}

#[test]
fn k3s_in_opt_bin_is_found_by_install_binary_and_unit_present() {
    let t = Tree::new();
    t.installed();
    let p = Params::default();
    // install.sh on a read-only /usr/local: the binary went to /opt/bin,
    // the unit still names /usr/local/bin/k3s.
    std::fs::remove_file(t.0.path().join("usr/local/bin/k3s")).unwrap();
    t.file("/opt/bin/k3s", "#!/bin/sh\n");
    t.file(
        "krc-fixture.toml",
        "[files.\"/opt/bin/k3s\"]\nmode = \"755\"\n[probes.versions]\n\"/opt/bin/k3s\" = \"k3s version v1.33.5+k3s1 (2a9c3d4b)\"\n",
    );
    for id in ["install.binary", "unit.present"] {
        let v = t.judge(id, Fake::default(), &p);
        assert_eq!(v.status, Status::Fail, "{id}: {}", show(&v));
        assert!(
            v.summary
                .contains("/usr/local/bin/k3s, which does not exist")
                && v.summary.contains("/opt/bin/k3s"),
            "{id}: {}",
            show(&v)
        );
        assert!(
            v.remedy
                .unwrap()
                .contains("ExecStart=/opt/bin/k3s server --rootless"),
            "{id}"
        );
    }
    // A unit that names /opt/bin/k3s passes both.
    t.file(
        UNIT,
        &GOOD_UNIT.replace("/usr/local/bin/k3s server", "/opt/bin/k3s server"),
    );
    for id in ["install.binary", "unit.present"] {
        let v = t.judge(id, Fake::default(), &p);
        assert_eq!(v.status, Status::Pass, "{id}: {}", show(&v));
    }
}

/// A node outside the network this run judges by is not rootless, unless
/// it sits in the network the unit gives k3s: then the install used other
/// settings, and the remedy says how to judge by them.
#[test]
fn node_single_ready_tells_another_install_network_from_a_rootful_node() {
    let t = Tree::new();
    t.installed();
    let p = Params::default();
    let at = |ip: &str| Fake {
        nodes: vec![NodeFact {
            name: "h".into(),
            ready: Some(("True".into(), "KubeletReady".into(), String::new())),
            internal_ips: vec![ip.into()],
            kubelet_version: "v1.33.5+k3s1".into(),
        }],
        ..Fake::default()
    };
    let v = t.judge("node.single-ready", at("10.41.0.100"), &p);
    assert_eq!(v.status, Status::Pass, "{}", show(&v));
    let v = t.judge("node.single-ready", at("192.168.1.5"), &p);
    assert_eq!(v.status, Status::Fail, "{}", show(&v));
    assert!(v.summary.contains("does not run rootless"), "{}", show(&v));
    // Installed with --cidr 10.141.0.0/16, judged by the default.
    t.file(
        &format!("{UNIT}.d/krc.conf"),
        &DROP_IN.replace("10.41.0.0/16", "10.141.0.0/16"),
    );
    let v = t.judge("node.single-ready", at("10.141.0.100"), &p);
    assert_eq!(v.status, Status::Warn, "{}", show(&v));
    assert!(
        v.remedy
            .as_deref()
            .is_some_and(|r| r.contains("krc accept --cidr 10.141.0.0/16")),
        "{}",
        show(&v)
    );
    assert!(
        v.evidence
            .iter()
            .any(|e| e.contains("K3S_ROOTLESS_CIDR=10.141.0.0/16"))
    );
    // Judged by the install's own network, it passes.
    let mut p = Params::default();
    p.rootless.cidr = "10.141.0.0/16".parse().unwrap();
    let v = t.judge("node.single-ready", at("10.141.0.100"), &p);
    assert_eq!(v.status, Status::Pass, "{}", show(&v));
}
