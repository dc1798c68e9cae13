//! The disposable Debian 12 host with systemd as PID 1 that the container
//! tests share (tests/install_container.rs, tests/capture.rs): the image
//! from ci/lab/build-debian12.sh, started with the lab's flags, and a
//! shell in it.
#![allow(dead_code)]

use std::process::Command;
use std::time::Duration;

use testcontainers::core::{CgroupnsMode, CmdWaitFor, ExecCommand, Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

pub async fn sh(c: &ContainerAsync<GenericImage>, script: &str) -> (i64, String) {
    let mut r = c
        .exec(ExecCommand::new(["sh", "-c", script]).with_cmd_ready_condition(CmdWaitFor::exit()))
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&r.stdout_to_vec().await.unwrap()).into_owned();
    let err = String::from_utf8_lossy(&r.stderr_to_vec().await.unwrap()).into_owned();
    (
        r.exit_code().await.unwrap().unwrap_or(-1),
        format!("{out}{err}"),
    )
}

pub fn docker_ok() -> bool {
    Command::new("docker")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The cached image (built once by the recipe; root needed to build).
pub fn image() -> Result<(String, String), String> {
    let o = Command::new("bash")
        .arg(crate::support::repo().join("ci/lab/build-debian12.sh"))
        .output()
        .map_err(|e| format!("failed to run ci/lab/build-debian12.sh: {e}"))?;
    let out = String::from_utf8_lossy(&o.stdout);
    let last = out.lines().last().unwrap_or("").trim().to_string();
    if !o.status.success() || !last.contains(':') {
        return Err(format!(
            "ci/lab/build-debian12.sh failed: {}",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    let (n, t) = last.split_once(':').unwrap();
    Ok((n.to_string(), t.to_string()))
}

/// systemd needs a cgroup2 at /sys/fs/cgroup: the host's own on a pure v2
/// host, its `unified` hierarchy on a hybrid one (like this lab machine).
pub fn cgroup_source() -> &'static str {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if mi
        .lines()
        .any(|l| l.contains(" /sys/fs/cgroup/unified ") && l.contains(" - cgroup2 "))
    {
        "/sys/fs/cgroup/unified"
    } else {
        "/sys/fs/cgroup"
    }
}

/// Starts the image (from [`image`]) with systemd running, krc's build
/// directory at /krc and `mounts` (host dir, container dir) bound.
pub async fn start(
    name: String,
    tag: String,
    mounts: &[(String, &str)],
) -> ContainerAsync<GenericImage> {
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_krc"))
        .parent()
        .unwrap()
        .to_path_buf();
    // The LAB-NOTES flags: --privileged fails on this machine.
    let mut img = GenericImage::new(name, tag)
        .with_wait_for(WaitFor::seconds(1))
        .with_cap_add("SYS_ADMIN")
        .with_security_opt("seccomp=unconfined")
        .with_cgroupns_mode(CgroupnsMode::Host)
        .with_mount(Mount::bind_mount(cgroup_source(), "/sys/fs/cgroup"))
        .with_mount(Mount::tmpfs_mount("/run"))
        .with_mount(Mount::tmpfs_mount("/run/lock"))
        .with_mount(Mount::bind_mount(bin_dir.display().to_string(), "/krc"));
    for (from, to) in mounts {
        img = img.with_mount(Mount::bind_mount(from.clone(), *to));
    }
    let c = img
        .with_startup_timeout(Duration::from_secs(120))
        .start()
        .await
        .unwrap();
    // Under load the manager's bus may not be there yet after a second.
    let (_, state) = sh(
        &c,
        "for i in $(seq 120); do [ -S /run/systemd/private ] && break; sleep 0.5; done; timeout 60 systemctl is-system-running --wait",
    )
    .await;
    assert!(
        state.contains("running") || state.contains("degraded"),
        "systemd in the container: {state}"
    );
    c
}
