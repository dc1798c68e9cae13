//! The trust model of `krc install` on a directory tree (`--root`) against
//! real local mirrors (HTTPS with a test CA trusted through SSL_CERT_FILE,
//! and plain HTTP): by default the binary is checked against the release's
//! checksum file fetched over verified TLS; `--pins` and an offline
//! bundle's `pins.toml` verify every artifact; `--require-pins` refuses
//! before anything changes; `krc pins` writes a file `--pins` accepts.
//! Every refusal is one line and leaves the tree byte for byte as it was.

#[path = "support/install.rs"]
mod inst;
mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use inst::{VERSION, seed, sha, text, tree, tree_diff};

/// A tempdir with the seed tree, an HTTPS mirror serving `files` and the
/// test CA in a file for SSL_CERT_FILE.
struct Mirror {
    dir: tempfile::TempDir,
    root: PathBuf,
    url: String,
    ca: PathBuf,
}

fn mirror(files: HashMap<String, Vec<u8>>) -> Mirror {
    let dir = tempfile::tempdir().unwrap();
    let root = seed(dir.path());
    let (ca, cert, key) = inst::test_pki();
    let url = inst::serve_files_tls(files, &cert, &key);
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    Mirror {
        dir,
        root,
        url,
        ca: ca_file,
    }
}

/// `krc install --user alice` for `root` with `args`, trusting `ca`.
fn krc_install(root: &Path, ca: Option<&Path>, args: &[&str]) -> Command {
    let mut c = support::krc();
    c.args(["install", "--user", "alice", "--k3s-version", VERSION])
        .arg("--root")
        .arg(root)
        .args(args)
        .env_remove("KRC_FAULT_STEP")
        .env_remove("KRC_REQUIRE_PINS")
        .env_remove("GITHUB_TOKEN");
    if let Some(ca) = ca {
        c.env("SSL_CERT_FILE", ca);
    }
    c
}

/// The sha256 a JSON report records for `name`.
fn doc_sha(json: &Path, name: &str) -> String {
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    doc["meta"]["sha256"][name]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn run(mut c: Command) -> Output {
    c.output().unwrap()
}

fn sums_path() -> String {
    format!("/{}/sha256sum-amd64.txt", VERSION.replace('+', "%2B"))
}

fn k3s_path() -> String {
    format!("/{}/k3s", VERSION.replace('+', "%2B"))
}

/// What a refused run must leave: exit 1, `needle` said on one line, the
/// tree unchanged.
fn assert_refused(
    o: &Output,
    needle: &str,
    root: &Path,
    before: &std::collections::BTreeMap<String, String>,
) {
    assert_eq!(o.status.code(), Some(1), "{}", text(o));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        all.lines().any(|l| l.contains(needle)),
        "no line says {needle:?}:\n{}",
        text(o)
    );
    assert_eq!(tree_diff(before, &tree(root)), "", "{}", text(o));
}

#[test]
fn by_default_the_binary_is_checked_against_the_release_checksums_over_tls() {
    let m = mirror(inst::artifact_files());
    let (script, k3s, sums) = inst::artifacts();
    let json = m.dir.path().join("install.json");
    let junit = m.dir.path().join("install.xml");
    let o = run(krc_install(
        &m.root,
        Some(&m.ca),
        &[
            "--mirror",
            &m.url,
            "--yes",
            "--json",
            json.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
    ));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("artifacts verified (release checksums over TLS)"),
        "{out}"
    );
    let unit = inst::unit_artifact();
    for (name, bytes) in [
        ("install.sh", &script),
        ("k3s", &k3s),
        ("sha256sum-amd64.txt", &sums),
        ("k3s-rootless.service", &unit),
    ] {
        assert!(
            out.contains(&format!("sha256 {}  {name}", sha(bytes))),
            "{out}"
        );
    }
    // The user unit is upstream's of the tag, running the binary krc put.
    let written = std::fs::read_to_string(
        m.root
            .join("home/alice/.config/systemd/user/k3s-rootless.service"),
    )
    .unwrap();
    assert!(
        written.starts_with(&format!(
            "# Rootless k3s, written by krc install from k3s-rootless.service of k3s {VERSION} (sha256 {}).",
            sha(&unit)
        )) && written.contains(
            "\nExecStart=/usr/local/bin/k3s server --rootless --snapshotter=fuse-overlayfs\n"
        ) && !written.contains("stand-in"),
        "{written}"
    );
    assert_eq!(
        doc_sha(&json, "k3s-rootless.service"),
        sha(&unit),
        "{}",
        text(&o)
    );
    assert_eq!(
        std::fs::read(m.root.join("usr/local/bin/k3s")).unwrap(),
        k3s
    );
    // The journal says what was trusted and installed.
    let journal = std::fs::read_to_string(m.root.join("var/lib/krc/1000/journal.json")).unwrap();
    assert!(
        journal.contains("release checksums over TLS")
            && journal.contains(&sha(&script))
            && journal.contains(&sha(&k3s)),
        "{journal}"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["meta"]["trust"], "release checksums over TLS", "{doc}");
    assert_eq!(doc["meta"]["sha256"]["k3s"], sha(&k3s), "{doc}");
    assert_eq!(doc["meta"]["sha256"]["install.sh"], sha(&script), "{doc}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(r#"name="trust" value="release checksums over TLS""#),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(r#"name="sha256.k3s" value="{}""#, sha(&k3s))),
        "{xml}"
    );

    // Run again: the installed binary matches the release's line.
    let o = run(krc_install(
        &m.root,
        Some(&m.ca),
        &["--mirror", &m.url, "--yes"],
    ));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("k3s-binary"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_tampered_binary_is_refused_and_nothing_is_written() {
    let mut files = inst::artifact_files();
    files.insert(k3s_path(), b"#!/bin/sh\necho owned\n".to_vec());
    let m = mirror(files);
    let before = tree(&m.root);
    let o = run(krc_install(
        &m.root,
        Some(&m.ca),
        &["--mirror", &m.url, "--yes"],
    ));
    assert_refused(&o, "does not match", &m.root, &before);
}

#[test]
fn a_checksum_file_without_the_binary_line_is_refused_at_the_gate() {
    let mut files = inst::artifact_files();
    files.insert(
        sums_path(),
        format!("{}  k3s-arm64\n", "0".repeat(64)).into_bytes(),
    );
    let m = mirror(files);
    let before = tree(&m.root);
    let o = run(krc_install(
        &m.root,
        Some(&m.ca),
        &["--mirror", &m.url, "--yes"],
    ));
    assert_refused(
        &o,
        "sha256sum-amd64.txt has no line for k3s",
        &m.root,
        &before,
    );
    // --dry-run says the same and exits non-zero.
    let o = run(krc_install(
        &m.root,
        Some(&m.ca),
        &["--mirror", &m.url, "--dry-run"],
    ));
    assert_refused(
        &o,
        "sha256sum-amd64.txt has no line for k3s",
        &m.root,
        &before,
    );
}

#[test]
fn a_checksum_file_that_does_not_match_its_pin_is_refused() {
    let m = mirror(inst::artifact_files());
    let (script, k3s, _) = inst::artifacts();
    let pins = m.dir.path().join("pins.toml");
    std::fs::write(
        &pins,
        format!(
            "ref = \"{VERSION}\"\n[sha256]\n\"install.sh\" = \"{}\"\n\"k3s\" = \"{}\"\n\"sha256sum-amd64.txt\" = \"{}\"\n",
            sha(&script),
            sha(&k3s),
            "e".repeat(64)
        ),
    )
    .unwrap();
    let before = tree(&m.root);
    let o = run(krc_install(
        &m.root,
        Some(&m.ca),
        &[
            "--mirror",
            &m.url,
            "--pins",
            pins.to_str().unwrap(),
            "--yes",
        ],
    ));
    assert_refused(&o, "sha256sum-amd64.txt from", &m.root, &before);
    assert!(
        text(&o).contains("does not match the pinned"),
        "{}",
        text(&o)
    );
}

#[test]
fn an_http_mirror_needs_pins_or_explicit_consent() {
    let dir = tempfile::tempdir().unwrap();
    let root = seed(dir.path());
    let (url, seen) = inst::serve_artifacts();
    let before = tree(&root);
    let o = run(krc_install(&root, None, &["--mirror", &url, "--yes"]));
    assert_refused(&o, "--insecure-mirror", &root, &before);
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
    // With consent: installed, and the reports say how little was trusted.
    let json = dir.path().join("install.json");
    let o = run(krc_install(
        &root,
        None,
        &[
            "--mirror",
            &url,
            "--insecure-mirror",
            "--yes",
            "--json",
            json.to_str().unwrap(),
        ],
    ));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(
        doc["meta"]["trust"],
        "release checksums over plain HTTP (--insecure-mirror)"
    );
}

#[test]
fn require_pins_without_pins_refuses_before_anything_changes() {
    let m = mirror(inst::artifact_files());
    let before = tree(&m.root);
    for (args, env) in [
        (vec!["--require-pins", "--yes"], None),
        (vec!["--require-pins", "--dry-run"], None),
        (vec!["--yes"], Some("1")),
    ] {
        let mut c = krc_install(&m.root, Some(&m.ca), &["--mirror", &m.url]);
        c.args(&args);
        if let Some(v) = env {
            c.env("KRC_REQUIRE_PINS", v);
        }
        let o = run(c);
        assert_refused(&o, "--require-pins: k3s release", &m.root, &before);
        assert!(
            text(&o).contains(&format!("krc pins {VERSION} --output pins.toml")),
            "{}",
            text(&o)
        );
    }
}

#[test]
fn krc_pins_output_round_trips_into_require_pins() {
    let m = mirror(inst::artifact_files());
    let (script, k3s, sums) = inst::artifacts();
    let pins = m.dir.path().join("pins.toml");
    let o = run({
        let mut c = support::krc();
        c.args(["pins", VERSION, "--mirror", &m.url, "--output"])
            .arg(&pins)
            .env("SSL_CERT_FILE", &m.ca)
            .env_remove("GITHUB_TOKEN");
        c
    });
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let written = std::fs::read_to_string(&pins).unwrap();
    for (name, bytes) in [
        ("install.sh", &script),
        ("k3s", &k3s),
        ("sha256sum-amd64.txt", &sums),
        ("k3s-rootless.service", &inst::unit_artifact()),
    ] {
        assert!(
            written.contains(&format!("\"{name}\" = \"{}\"", sha(bytes))),
            "{written}"
        );
    }
    // To stdout with `-`: the same file.
    let o = run({
        let mut c = support::krc();
        c.args(["pins", VERSION, "--mirror", &m.url, "--output", "-"])
            .env("SSL_CERT_FILE", &m.ca);
        c
    });
    assert_eq!(String::from_utf8_lossy(&o.stdout), written, "{}", text(&o));
    let json = m.dir.path().join("install.json");
    let o = run(krc_install(
        &m.root,
        Some(&m.ca),
        &[
            "--mirror",
            &m.url,
            "--require-pins",
            "--pins",
            pins.to_str().unwrap(),
            "--yes",
            "--json",
            json.to_str().unwrap(),
        ],
    ));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["meta"]["trust"], "pinned", "{doc}");

    // A tampered binary behind the pins: refused.
    let mut files = inst::artifact_files();
    files.insert(k3s_path(), b"#!/bin/sh\necho owned\n".to_vec());
    let bad = mirror(files);
    let before = tree(&bad.root);
    let o = run(krc_install(
        &bad.root,
        Some(&bad.ca),
        &[
            "--mirror",
            &bad.url,
            "--require-pins",
            "--pins",
            pins.to_str().unwrap(),
            "--yes",
        ],
    ));
    assert_refused(&o, "does not match the pinned", &bad.root, &before);
}

#[test]
fn an_offline_bundle_with_its_pins_toml_installs_without_pins() {
    let dir = tempfile::tempdir().unwrap();
    let root = seed(dir.path());
    let bundle = inst::write_bundle(dir.path());
    let before = tree(&root);
    // Without pins.toml: refused, with the command that writes one.
    let o = run(krc_install(
        &root,
        None,
        &["--offline", bundle.to_str().unwrap(), "--yes"],
    ));
    assert_refused(&o, "has no pins.toml", &root, &before);
    assert!(
        text(&o).contains(&format!("krc pins {VERSION} --output")),
        "{}",
        text(&o)
    );
    inst::write_pins(&bundle, None);
    let json = dir.path().join("install.json");
    let o = run(krc_install(
        &root,
        None,
        &[
            "--offline",
            bundle.to_str().unwrap(),
            "--require-pins",
            "--yes",
            "--json",
            json.to_str().unwrap(),
        ],
    ));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["meta"]["trust"], "pinned", "{doc}");
}

#[test]
fn a_tampered_unit_is_refused_with_one_line_and_nothing_is_written() {
    let mut files = inst::artifact_files();
    let mut unit = inst::unit_artifact();
    unit.extend_from_slice(b"ExecStartPre=/bin/sh -c 'echo owned'\n");
    files.insert("/k3s-rootless.service".into(), unit);
    let m = mirror(files);
    let pins = inst::write_pins(m.dir.path(), None);
    let before = tree(&m.root);
    let o = run(krc_install(
        &m.root,
        Some(&m.ca),
        &[
            "--mirror",
            &m.url,
            "--pins",
            pins.to_str().unwrap(),
            "--yes",
        ],
    ));
    assert_refused(&o, "k3s-rootless.service from https://", &m.root, &before);
    assert!(
        text(&o).contains("does not match the pinned"),
        "{}",
        text(&o)
    );
}

/// A pins file written before the unit was an artifact: the stand-in's
/// pins without the unit's line.
fn old_pins(dir: &Path) -> PathBuf {
    let p = inst::write_pins(dir, None);
    let text = std::fs::read_to_string(&p).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| !l.starts_with("\"k3s-rootless.service\""))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&p, kept).unwrap();
    p
}

#[test]
fn an_older_pins_file_without_the_unit_takes_it_over_tls_or_refuses_when_required() {
    let m = mirror(inst::artifact_files());
    let pins = old_pins(m.dir.path());
    let before = tree(&m.root);
    // --require-pins: every artifact pinned, with the command that pins it.
    let o = run(krc_install(
        &m.root,
        Some(&m.ca),
        &[
            "--mirror",
            &m.url,
            "--pins",
            pins.to_str().unwrap(),
            "--require-pins",
            "--yes",
        ],
    ));
    assert_refused(
        &o,
        "has no sha256 for k3s-rootless.service",
        &m.root,
        &before,
    );
    assert!(
        text(&o).contains(&format!("krc pins {VERSION} --output")),
        "{}",
        text(&o)
    );
    // An offline bundle with such pins: nothing can vouch for its unit.
    let bundle = inst::write_bundle(m.dir.path());
    std::fs::copy(&pins, bundle.join("pins.toml")).unwrap();
    let o = run(krc_install(
        &m.root,
        None,
        &["--offline", bundle.to_str().unwrap(), "--yes"],
    ));
    assert_refused(
        &o,
        "pins no sha256 for k3s-rootless.service",
        &m.root,
        &before,
    );
    // Online without --require-pins: the unit is taken from the tag over
    // verified TLS, as without a pins file, and its sum recorded.
    let json = m.dir.path().join("install.json");
    let o = run(krc_install(
        &m.root,
        Some(&m.ca),
        &[
            "--mirror",
            &m.url,
            "--pins",
            pins.to_str().unwrap(),
            "--yes",
            "--json",
            json.to_str().unwrap(),
        ],
    ));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        doc_sha(&json, "k3s-rootless.service"),
        sha(&inst::unit_artifact())
    );
}

#[test]
fn an_unpinned_unit_that_runs_no_rootless_k3s_is_refused_before_anything_changes() {
    let mut files = inst::artifact_files();
    let unit = String::from_utf8(inst::unit_artifact())
        .unwrap()
        .replace(" --rootless", "");
    files.insert("/k3s-rootless.service".into(), unit.into_bytes());
    let m = mirror(files);
    let before = tree(&m.root);
    let o = run(krc_install(
        &m.root,
        Some(&m.ca),
        &["--mirror", &m.url, "--yes"],
    ));
    assert_refused(
        &o,
        "its ExecStart does not run k3s with --rootless",
        &m.root,
        &before,
    );
}

#[test]
fn krc_bundle_writes_an_offline_bundle_that_installs_pinned() {
    let m = mirror(inst::artifact_files());
    let (script, k3s, sums) = inst::artifacts();
    let bundle = m.dir.path().join("bundle");
    let krc_bundle = |dir: &Path, url: &str, ca: &Path| {
        let mut c = support::krc();
        c.args(["bundle", VERSION])
            .arg(dir)
            .args(["--mirror", url])
            .env("SSL_CERT_FILE", ca)
            .env_remove("GITHUB_TOKEN");
        run(c)
    };
    let o = krc_bundle(&bundle, &m.url, &m.ca);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // The bytes krc verified, in docs/install.md's layout, and their pins.
    let pins = std::fs::read_to_string(bundle.join("pins.toml")).unwrap();
    for (name, bytes) in [
        ("install.sh", &script),
        ("k3s", &k3s),
        ("sha256sum-amd64.txt", &sums),
        ("k3s-rootless.service", &inst::unit_artifact()),
    ] {
        assert_eq!(&std::fs::read(bundle.join(name)).unwrap(), bytes, "{name}");
        assert!(
            pins.contains(&format!("\"{name}\" = \"{}\"", sha(bytes))),
            "{pins}"
        );
    }
    let json = m.dir.path().join("install.json");
    let o = run(krc_install(
        &m.root,
        None,
        &[
            "--offline",
            bundle.to_str().unwrap(),
            "--require-pins",
            "--yes",
            "--json",
            json.to_str().unwrap(),
        ],
    ));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["meta"]["trust"], "pinned", "{doc}");

    // A bundle never mixes two downloads: a non-empty DIR is a usage error.
    let o = krc_bundle(&bundle, &m.url, &m.ca);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("is not empty"), "{}", text(&o));

    // A binary that is not the one the release's checksum file names:
    // refused, and no bundle is written.
    let mut files = inst::artifact_files();
    files.insert(k3s_path(), b"#!/bin/sh\necho owned\n".to_vec());
    let bad = mirror(files);
    let target = bad.dir.path().join("bundle");
    let o = krc_bundle(&target, &bad.url, &bad.ca);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("does not match"), "{err}");
    assert!(
        !target.exists(),
        "a refused download left {}",
        target.display()
    );
}
