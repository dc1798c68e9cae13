//! Shared helpers for the integration tests: the krc binary, the lab
//! switch, bless mode, unprivileged test users and schema validation.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// `KRC_REQUIRE_LAB=1` (set by `.ci/run`): tests that need root, Docker,
/// qemu or the rootless tools must run, not skip.
pub fn lab_required() -> bool {
    std::env::var("KRC_REQUIRE_LAB").is_ok_and(|v| v == "1")
}

/// Skips the current test with a printed reason, or fails it when the lab
/// is required.
#[macro_export]
macro_rules! lab_skip {
    ($($arg:tt)*) => {{
        let reason = format!($($arg)*);
        if $crate::support::lab_required() {
            panic!("KRC_REQUIRE_LAB=1 but this test cannot run: {reason}");
        }
        eprintln!("SKIP {}: {reason}", module_path!());
        return;
    }};
}

/// `KRC_BLESS=1`: a test that compares a checked-in file with what krc
/// does now rewrites the file instead of failing (review with `git diff`).
pub fn bless() -> bool {
    std::env::var("KRC_BLESS").is_ok_and(|v| v == "1")
}

/// Replaces `path` with `text` atomically (a temporary file beside it,
/// renamed into place) and keeps its permissions; an unchanged file is
/// not touched.
pub fn write_blessed(path: &Path, text: &str) {
    let old = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    if old == text.as_bytes() {
        return;
    }
    let dir = path.parent().expect("a file has a directory");
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .unwrap_or_else(|e| panic!("cannot create a file in {}: {e}", dir.display()));
    std::io::Write::write_all(&mut tmp, text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .and_then(|()| std::fs::metadata(path))
        .and_then(|m| std::fs::set_permissions(tmp.path(), m.permissions()))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", tmp.path().display()));
    tmp.persist(path)
        .unwrap_or_else(|e| panic!("cannot replace {}: {e}", path.display()));
    eprintln!("KRC_BLESS=1: rewrote {}", path.display());
}

pub fn krc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_krc"))
}

/// krc's subcommands as `krc --help` lists them (without `help`), so a
/// table over every command cannot miss one added later.
pub fn subcommands() -> Vec<String> {
    let out = krc().arg("--help").output().expect("run krc --help");
    let help = String::from_utf8(out.stdout).expect("help is UTF-8");
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        // A command's line starts with two spaces and its name; a wrapped
        // description continues deeper.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The JUnit schemas: vendored in `tests/data/junit` (see its README), or
/// `KRC_JUNIT_SCHEMAS` to check against another copy.
pub fn schema_dir() -> PathBuf {
    std::env::var_os("KRC_JUNIT_SCHEMAS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("tests/data/junit"))
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

pub fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// A finished command's exit status (-1 when a signal ended it) and its
/// stdout followed by its stderr.
pub fn status_and_output(o: &std::process::Output) -> (i32, String) {
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// Validates a JUnit file against both schemas with xmllint; Err says why.
pub fn validate_junit(file: &Path) -> Result<(), String> {
    for xsd in ["ant-junit.xsd", "jenkins-junit-10.xsd"] {
        let schema = schema_dir().join(xsd);
        if !schema.is_file() {
            return Err(format!("schema {} not found", schema.display()));
        }
        let out = Command::new("xmllint")
            .args(["--noout", "--schema"])
            .arg(&schema)
            .arg(file)
            .output()
            .map_err(|e| format!("failed to run xmllint: {e}"))?;
        if !out.status.success() {
            return Err(format!("{xsd}: {}", String::from_utf8_lossy(&out.stderr)));
        }
    }
    Ok(())
}

/// Creates (as root) an unprivileged user with a home and subordinate ids,
/// or returns the existing one: (uid, gid, home).
pub fn ensure_user(name: &str) -> Result<(u32, u32, PathBuf), String> {
    if let Ok(Some(u)) = nix::unistd::User::from_name(name) {
        return Ok((u.uid.as_raw(), u.gid.as_raw(), u.dir));
    }
    if !is_root() {
        return Err(format!(
            "user {name} does not exist and only root can create it"
        ));
    }
    let st = Command::new("useradd")
        .args(["-m", "-s", "/bin/sh", name])
        .status()
        .map_err(|e| e.to_string())?;
    if !st.success() {
        return Err(format!("useradd {name} failed: {st}"));
    }
    let u = nix::unistd::User::from_name(name)
        .map_err(|e| e.to_string())?
        .ok_or("user vanished")?;
    Ok((u.uid.as_raw(), u.gid.as_raw(), u.dir))
}
