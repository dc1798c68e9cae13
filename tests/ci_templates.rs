//! The CI templates for users (`ci/templates/`): each parses as YAML into
//! the shape its CI system reads (unknown keys are errors, so a misspelt
//! keyword fails here rather than in a user's pipeline), runs `krc run`
//! as an unprivileged user with the reports where the CI system picks them
//! up, and every shell script in it passes `bash -n`.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use serde::Deserialize;
use support::repo;

// ---- GitHub Actions: the keys a workflow, a job and a step may have ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Workflow {
    name: String,
    on: BTreeMap<String, Option<serde_json::Value>>,
    permissions: BTreeMap<String, String>,
    jobs: BTreeMap<String, GhJob>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct GhJob {
    runs_on: String,
    timeout_minutes: u32,
    #[serde(default)]
    env: BTreeMap<String, String>,
    steps: Vec<GhStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct GhStep {
    name: String,
    #[serde(rename = "if")]
    condition: Option<String>,
    uses: Option<String>,
    run: Option<String>,
    shell: Option<String>,
    #[serde(default)]
    with: BTreeMap<String, serde_json::Value>,
}

// ---- GitLab CI: the keys of the file and of a job ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GitlabCi {
    stages: Vec<String>,
    variables: BTreeMap<String, String>,
    krc: GlJob,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GlJob {
    stage: String,
    tags: Vec<String>,
    timeout: String,
    before_script: Vec<String>,
    script: Vec<String>,
    artifacts: GlArtifacts,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GlArtifacts {
    when: String,
    expire_in: String,
    reports: BTreeMap<String, String>,
    paths: Vec<String>,
}

fn read(name: &str) -> String {
    let path = repo().join("ci/templates").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `bash -n` on a script: syntax only, nothing runs.
fn bash_syntax_ok(what: &str, script: &str) {
    let mut child = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run bash -n");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what}: bash -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What both templates must do in the step that runs krc.
fn runs_krc_as_unprivileged_user(what: &str, script: &str) {
    assert!(
        script.contains("krc run ") && script.contains("--junit krc.xml"),
        "{what}: runs `krc run --junit krc.xml`"
    );
    assert!(
        script.contains("--json krc.json") && script.contains("--html krc.html"),
        "{what}: writes the JSON and HTML reports"
    );
    assert!(
        script.contains("machinectl shell") && script.contains("\"$KRC_USER@\""),
        "{what}: runs krc as $KRC_USER in a login session, not as root"
    );
    assert!(
        script.contains("exit \"$(sudo cat \"$home/krc.rc\")\""),
        "{what}: krc's exit status decides the job"
    );
}

#[test]
fn github_actions_workflow_reports_junit_and_keeps_artifacts() {
    let text = read("github-actions.yml");
    let wf: Workflow = serde_saphyr::from_str(&text).expect("github-actions.yml is a workflow");
    assert_eq!(wf.name, "krc");
    assert!(wf.on.contains_key("push") && wf.on.contains_key("pull_request"));
    assert_eq!(
        wf.permissions.get("checks").map(String::as_str),
        Some("write"),
        "the test-report step publishes a check run"
    );
    let job = &wf.jobs["krc"];
    assert!(
        job.runs_on.starts_with("ubuntu-"),
        "a VM runner, not a container: {}",
        job.runs_on
    );
    assert!(job.timeout_minutes <= 60);
    assert!(job.env.contains_key("KRC_USER"));

    for s in &job.steps {
        assert!(
            s.uses.is_some() != s.run.is_some(),
            "step {:?}: exactly one of uses/run",
            s.name
        );
        if let Some(run) = &s.run {
            assert_eq!(s.shell.as_deref(), Some("bash"), "step {:?}", s.name);
            bash_syntax_ok(&s.name, run);
        }
    }
    let run_step = job
        .steps
        .iter()
        .find(|s| s.run.as_deref().is_some_and(|r| r.contains("krc run ")))
        .expect("a step runs krc");
    runs_krc_as_unprivileged_user("github-actions.yml", run_step.run.as_deref().unwrap());

    let uses = |prefix: &str| {
        job.steps
            .iter()
            .find(|s| s.uses.as_deref().is_some_and(|u| u.starts_with(prefix)))
            .unwrap_or_else(|| panic!("a step uses {prefix}"))
    };
    let report = uses("dorny/test-reporter@");
    assert_eq!(report.with["path"], "krc.xml");
    assert_eq!(report.with["reporter"], "java-junit");
    let artifacts = uses("actions/upload-artifact@");
    let paths = artifacts.with["path"].as_str().unwrap();
    for f in ["krc.xml", "krc.json", "krc.html"] {
        assert!(paths.lines().any(|l| l.trim() == f), "artifact {f}");
    }
    // Reports matter most when krc failed: both steps run after a failure.
    for s in [report, artifacts] {
        assert_eq!(
            s.condition.as_deref(),
            Some("${{ !cancelled() }}"),
            "{}",
            s.name
        );
    }
}

#[test]
fn gitlab_job_reports_junit_and_keeps_artifacts() {
    let text = read("gitlab-ci.yml");
    let ci: GitlabCi = serde_saphyr::from_str(&text).expect("gitlab-ci.yml is a GitLab CI file");
    let job = &ci.krc;
    assert!(
        ci.stages.contains(&job.stage),
        "the job's stage is declared"
    );
    assert!(ci.variables.contains_key("KRC_USER"));
    assert!(!job.tags.is_empty(), "a tag selects a VM runner");
    assert!(job.timeout.ends_with('m') || job.timeout.ends_with('h'));

    for (i, s) in job.before_script.iter().chain(&job.script).enumerate() {
        bash_syntax_ok(&format!("gitlab-ci.yml script block {i}"), s);
    }
    runs_krc_as_unprivileged_user("gitlab-ci.yml", &job.script.join("\n"));

    let a = &job.artifacts;
    assert_eq!(a.when, "always", "reports are kept when krc fails");
    assert_eq!(
        a.reports.get("junit").map(String::as_str),
        Some("krc.xml"),
        "artifacts:reports:junit"
    );
    for f in ["krc.xml", "krc.json", "krc.html"] {
        assert!(a.paths.iter().any(|p| p == f), "artifact {f}");
    }
    assert!(!a.expire_in.is_empty());
}

/// Every `krc run ...` command line in a template, commented ones too
/// (the strict alternative), as argv after `krc`.
fn krc_invocations(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter_map(|l| l.split_once("krc run ").map(|(_, rest)| rest))
        .map(|rest| {
            let cmd = rest.split([';', '\'', '`']).next().unwrap_or("");
            std::iter::once("run".to_string())
                .chain(cmd.split_whitespace().map(str::to_string))
                .collect()
        })
        .collect()
}

/// The real CLI accepts `args`: clap parses every one of them before it
/// reaches the `--help` put last (an unknown flag or a bad value is an
/// error, exit 2, not help).
fn cli_accepts(what: &str, args: &[String]) {
    let o = support::krc().args(args).arg("--help").output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{what}: krc {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("Usage: krc run"));
}

#[test]
fn the_templates_krc_invocations_are_accepted_by_the_cli() {
    for name in ["github-actions.yml", "gitlab-ci.yml"] {
        let runs = krc_invocations(&read(name));
        assert_eq!(
            runs.len(),
            2,
            "{name}: the default and the strict line: {runs:?}"
        );
        let has = |r: &Vec<String>, f: &str| r.iter().any(|a| a == f);
        // The default trusts the release checksums; the strict line pins.
        assert!(
            runs.iter()
                .any(|r| !has(r, "--pins") && !has(r, "--require-pins")),
            "{name}"
        );
        assert!(
            runs.iter()
                .any(|r| has(r, "--pins") && has(r, "--require-pins")),
            "{name}"
        );
        for r in &runs {
            cli_accepts(name, r);
        }
    }
    // Not vacuous: a flag the CLI does not know is refused this way.
    let bad: Vec<String> = ["run", "--yes", "--pinz", "x"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let o = support::krc().args(&bad).arg("--help").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_misspelt_keyword_is_caught() {
    // The structs above reject unknown keys: prove it on a typo a user
    // could make, so the two tests above are not vacuous.
    let text = read("gitlab-ci.yml").replace("expire_in:", "expires_in:");
    assert!(serde_saphyr::from_str::<GitlabCi>(&text).is_err());
    let text = read("github-actions.yml").replace("runs-on:", "run-on:");
    assert!(serde_saphyr::from_str::<Workflow>(&text).is_err());
}

/// The shell that gets krc in a template: the script block that fetches
/// `SHA256SUMS`.
fn get_krc_script(name: &str) -> String {
    let text = read(name);
    let blocks: Vec<String> = if name == "gitlab-ci.yml" {
        let ci: GitlabCi = serde_saphyr::from_str(&text).unwrap();
        ci.krc.before_script
    } else {
        let wf: Workflow = serde_saphyr::from_str(&text).unwrap();
        wf.jobs["krc"]
            .steps
            .iter()
            .filter_map(|s| s.run.clone())
            .collect()
    };
    blocks
        .into_iter()
        .find(|b| b.contains("SHA256SUMS"))
        .unwrap_or_else(|| panic!("{name}: no step downloads SHA256SUMS"))
}

/// A release directory as `ci/release/build.sh` lays one out: the tarball
/// (holding the krc under test) and a SHA256SUMS with other lines too.
fn release_dir(at: &std::path::Path, version: &str) -> std::path::PathBuf {
    let rel = at.join("release");
    let name = format!("krc-{version}-x86_64-unknown-linux-gnu");
    let top = at.join("stage").join(&name);
    std::fs::create_dir_all(&top).unwrap();
    std::fs::create_dir_all(&rel).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_krc"), top.join("krc")).unwrap();
    // gzip -1: the debug binary is large, and the sum is what is tested.
    let st = Command::new("tar")
        .arg("--use-compress-program=gzip -1")
        .arg("-cf")
        .arg(rel.join(format!("{name}.tar.gz")))
        .arg("-C")
        .arg(at.join("stage"))
        .arg(&name)
        .status()
        .unwrap();
    assert!(st.success());
    let sum = |f: &str| {
        let o = Command::new("sha256sum").arg(rel.join(f)).output().unwrap();
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    std::fs::write(
        rel.join(format!("krc_{version}_amd64.deb")),
        b"not this one",
    )
    .unwrap();
    let sums = format!(
        "{}  krc_{version}_amd64.deb\n{}  {name}.tar.gz\n",
        sum(&format!("krc_{version}_amd64.deb")),
        sum(&format!("{name}.tar.gz"))
    );
    std::fs::write(rel.join("SHA256SUMS"), sums).unwrap();
    rel
}

/// Runs a template's get-krc shell with bash, the release at `url`, and a
/// `sudo` that only records what it was asked: (exit code, output, what
/// sudo was asked).
fn run_get_krc(
    script: &str,
    url: &str,
    version: &str,
    work: &std::path::Path,
) -> (i32, String, String) {
    let bin = work.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let sudo = bin.join("sudo");
    std::fs::write(&sudo, "#!/bin/sh\nprintf '%s\\n' \"$*\" >>\"$SUDO_LOG\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&sudo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = work.join("sudo.log");
    let cwd = work.join("job");
    std::fs::create_dir_all(&cwd).unwrap();
    let o = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(&cwd)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("SUDO_LOG", &log)
        .env("KRC_RELEASE_URL", url)
        .env("KRC_VERSION", version)
        .output()
        .unwrap();
    let (code, out) = support::status_and_output(&o);
    (code, out, std::fs::read_to_string(&log).unwrap_or_default())
}

#[test]
fn the_templates_verify_the_release_tarball_before_installing_krc() {
    if !support::have("curl") {
        lab_skip!("curl is not installed");
    }
    let top = tempfile::tempdir().unwrap();
    let version = "9.9.9";
    let rel = release_dir(top.path(), version);
    let url = format!("file://{}", rel.display());
    let tarball = rel.join(format!("krc-{version}-x86_64-unknown-linux-gnu.tar.gz"));
    let sums = std::fs::read_to_string(rel.join("SHA256SUMS")).unwrap();
    for name in ["github-actions.yml", "gitlab-ci.yml"] {
        let script = get_krc_script(name);
        bash_syntax_ok(name, &script);
        let d = tempfile::tempdir().unwrap();

        // As published: verified, run once, installed.
        let (code, out, sudo) = run_get_krc(&script, &url, version, &d.path().join("ok"));
        assert_eq!(code, 0, "{name}: {out}");
        assert!(out.contains(": OK"), "{name}: sha256sum -c said: {out}");
        assert!(out.contains("krc "), "{name}: `krc --version` ran: {out}");
        assert_eq!(
            sudo.trim(),
            format!(
                "install -m 0755 krc-{version}-x86_64-unknown-linux-gnu/krc /usr/local/bin/krc"
            ),
            "{name}"
        );

        // A tarball that is not the one SHA256SUMS names: nothing installed.
        let good = std::fs::read(&tarball).unwrap();
        let mut bad = good.clone();
        let n = bad.len();
        bad[n / 2] ^= 0xff;
        std::fs::write(&tarball, &bad).unwrap();
        let (code, out, sudo) = run_get_krc(&script, &url, version, &d.path().join("tampered"));
        assert_ne!(code, 0, "{name}: a tampered tarball passed: {out}");
        assert!(out.contains("FAILED"), "{name}: {out}");
        assert!(sudo.is_empty(), "{name}: installed anyway: {sudo}");
        std::fs::write(&tarball, &good).unwrap();

        // SHA256SUMS without the tarball's line (only other assets'): refused.
        let other: String = sums
            .lines()
            .filter(|l| !l.ends_with(".tar.gz"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(rel.join("SHA256SUMS"), other).unwrap();
        let (code, out, sudo) = run_get_krc(&script, &url, version, &d.path().join("no-line"));
        assert_ne!(code, 0, "{name}: no line for the tarball, yet: {out}");
        assert!(sudo.is_empty(), "{name}: installed anyway: {sudo}");
        std::fs::write(rel.join("SHA256SUMS"), &sums).unwrap();
    }
}
