//! The VM lab: real Debian 11, 12 and 13 VMs (qemu), each with krc
//! installed from the release .deb (target/dist, ci/release/build.sh), run
//! krc as an unprivileged user with sudo rights (ci/vm-lab/run.sh).
//! Needs root, qemu, debootstrap, mkfs.ext4 and xmllint; skips with the
//! reason otherwise, and is required under `KRC_REQUIRE_LAB=1`.
//!
//! run.sh judges the guest's reports itself; this test reads them again on
//! its own (the JSON report, not the JUnit run.sh parsed) so that a bug in
//! the script's judging cannot pass the lab.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::{have, is_root, repo, validate_junit};

/// The lab's own caps add up to less (image build, at most five boots);
/// this one only keeps a wedged script from holding `cargo test` forever.
const LAB_CAP: Duration = Duration::from_secs(25 * 60);

/// One VM at a time: the machine has 2 cores, and a cold start builds the
/// image once rather than twice in parallel.
static ONE_VM: Mutex<()> = Mutex::new(());

/// Check ids that `ci/vm-lab/expected/fresh-debianNN.txt` marks with
/// `kind` (`fail` or `warn`), comments stripped.
fn expected_fresh(release: u32, kind: &str) -> BTreeSet<String> {
    let path = format!("ci/vm-lab/expected/fresh-debian{release}.txt");
    let text = std::fs::read_to_string(repo().join(&path)).expect(&path);
    text.lines()
        .filter_map(|l| {
            let mut words = l.split('#').next()?.split_whitespace();
            (words.next()? == kind).then(|| words.next().map(str::to_string))?
        })
        .collect()
}

/// Ids of the checks a krc JSON report (`krc.report/v1`) gives one of
/// `statuses`; with `required_only`, only the checks that decide the exit
/// status.
fn checks_in(path: &Path, statuses: &[&str], required_only: bool) -> BTreeSet<String> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let doc: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    assert_eq!(doc["schema"], "krc.report/v1", "{}", path.display());
    doc["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .flat_map(|p| p["checks"].as_array().expect("checks"))
        .filter(|c| statuses.iter().any(|s| c["status"] == *s))
        .filter(|c| !required_only || c["severity"] == "required")
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect()
}

/// Failed, or could not be judged (an error is never a pass).
const FAILING: &[&str] = &["fail", "error"];

fn run_lab(out: &Path, extra: &[&str]) -> (Option<i32>, String, Duration) {
    let _one = ONE_VM.lock().unwrap_or_else(|e| e.into_inner());
    let log = out.with_extension("log");
    // On a clean clone target/vm-lab/ does not exist yet.
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).expect("create the lab's output directory");
    }
    let log_file = std::fs::File::create(&log).expect("create lab log");
    let started = Instant::now();
    let mut child = Command::new("bash")
        .arg(repo().join("ci/vm-lab/run.sh"))
        .arg("--out")
        .arg(out)
        .args(extra)
        .env("KRC_JUNIT_SCHEMAS", support::schema_dir())
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("clone log handle"))
        .stderr(log_file)
        .spawn()
        .expect("start ci/vm-lab/run.sh");
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for run.sh") {
            break st.code();
        }
        if started.elapsed() > LAB_CAP {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    (status, text, started.elapsed())
}

/// Why the lab cannot run here, if it cannot.
fn lab_missing() -> Option<String> {
    if !is_root() {
        return Some("the VM lab builds its guest image with debootstrap, which needs root".into());
    }
    ["qemu-system-x86_64", "debootstrap", "mkfs.ext4", "xmllint"]
        .into_iter()
        .find(|t| !have(t))
        .map(|t| format!("{t} is not installed (ci/provision/40-vm-lab.sh installs it)"))
}

#[test]
fn debian11_vm_runs_krc_from_its_deb() {
    vm_lab(11);
}

#[test]
fn debian12_vm_runs_krc_from_its_deb() {
    vm_lab(12);
}

/// Debian 13 (trixie) is run by `.ci/run` too; see the README's VM lab
/// paragraph for the times.
#[test]
fn debian13_vm_runs_krc_from_its_deb() {
    vm_lab(13);
}

fn vm_lab(release: u32) {
    if let Some(reason) = lab_missing() {
        lab_skip!("{reason}");
    }
    let out: PathBuf = repo().join(format!("target/vm-lab/debian{release}"));
    let r = release.to_string();
    let (status, log, took) = run_lab(&out, &["--release", &r]);
    eprintln!("---- ci/vm-lab/run.sh ({}s) ----\n{log}", took.as_secs());
    assert_eq!(
        status,
        Some(0),
        "the VM lab failed (artifacts in {}; summary.txt, lab.xml, serial-boot*.log)",
        out.display()
    );

    // Every JUnit file that came back, and the lab's own, is valid.
    let guest = out.join("guest");
    let mut xml: Vec<PathBuf> = std::fs::read_dir(&guest)
        .expect("guest results")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    xml.push(out.join("lab.xml"));
    assert!(
        xml.iter().any(|p| p.ends_with("pre.xml")),
        "no pre.xml in {}",
        guest.display()
    );
    for f in &xml {
        validate_junit(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }

    // Step 0: the packaged krc ran in the guest, from /usr/bin.
    let steps = guest.join("steps");
    let version = std::fs::read_to_string(guest.join("version.txt")).unwrap_or_default();
    assert!(
        version.starts_with("krc "),
        "`krc --version` in the Debian {release} guest: {version}"
    );

    // The fresh Debian 12 guest captured with `krc capture` and replayed
    // with `krc preflight --root`: the same verdict for every check
    // (ci/vm-lab/guest/capture.sh, run by guest-run.sh on Debian 12 only).
    if release == 12 {
        let said = std::fs::read_to_string(guest.join("capture/result.txt")).unwrap_or_default();
        assert!(
            said.starts_with("krc-capture-replay: same "),
            "krc capture of the Debian 12 guest, replayed: {said:?} (guest/capture/ has the runs)"
        );
    }

    // Step 1, read from the JSON report: the fresh guest fails and warns
    // exactly as expected, as the user "lab".
    let pre = checks_in(&guest.join("pre.json"), FAILING, false);
    assert_eq!(
        pre,
        expected_fresh(release, "fail"),
        "checks failing in krc preflight on the fresh Debian {release} guest"
    );
    assert_eq!(
        checks_in(&guest.join("pre.json"), &["warn"], false),
        expected_fresh(release, "warn"),
        "checks warning in krc preflight on the fresh Debian {release} guest"
    );
    let pre_doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(guest.join("pre.json")).unwrap()).unwrap();
    assert_eq!(pre_doc["meta"]["user"], "lab");
    assert_eq!(pre_doc["passed"], false);

    // Steps 2-4 ran, with krc's own installer.
    if let Ok(reason) = std::fs::read_to_string(steps.join("install.not-run")) {
        panic!("steps 2-4 (install, post-install preflight, uninstall) did not run: {reason}");
    }
    let rc = |s: &str| std::fs::read_to_string(steps.join(format!("{s}.rc"))).unwrap_or_default();
    assert_eq!(rc("install").trim(), "0", "krc install in the guest");
    assert_eq!(rc("post").trim(), "0", "krc preflight after install");
    assert!(
        checks_in(&guest.join("post.json"), FAILING, true).is_empty(),
        "a required check fails after install"
    );
    assert_eq!(rc("uninstall").trim(), "0", "krc uninstall in the guest");
    // The modules krc loaded stay loaded until the guest reboots: uninstall
    // removes the modules-load file but unloads nothing something may use.
    let mut fresh = pre.clone();
    fresh.remove("kernel.modules");
    let mut after = checks_in(&guest.join("final.json"), FAILING, false);
    after.remove("kernel.modules");
    assert_eq!(
        after, fresh,
        "after uninstall the guest fails what it failed when fresh (kernel.modules aside)"
    );
}
