//! Records what `krc version --verbose` prints for bug reports: the commit
//! (from git when the source is a checkout, else `KRC_COMMIT` or
//! "unknown"), the build date (from `SOURCE_DATE_EPOCH` when set, so that
//! release builds are reproducible), the target, the glibc floor the
//! release script links against, and the enabled features.

use std::process::Command;

fn main() {
    for var in ["KRC_COMMIT", "SOURCE_DATE_EPOCH", "KRC_GLIBC_FLOOR"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let commit = std::env::var("KRC_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=KRC_COMMIT={commit}");

    let date = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) => s
            .trim()
            .parse::<i64>()
            .map(civil_date)
            .unwrap_or_else(|_| panic!("SOURCE_DATE_EPOCH={s:?} is not a number of seconds; unset it or set it to `git log -1 --format=%ct`")),
        Err(_) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            civil_date(now)
        }
    };
    println!("cargo:rustc-env=KRC_BUILD_DATE={date}");

    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=KRC_TARGET={target}");
    // cargo-zigbuild strips the `.2.17` from the target before rustc sees
    // it, so the release script says which floor it asked for.
    let floor = match std::env::var("KRC_GLIBC_FLOOR") {
        Ok(f) if !f.is_empty() => f,
        _ if target.ends_with("-gnu") => "the build host's glibc (not pinned)".into(),
        _ => "none (not a glibc target)".into(),
    };
    println!("cargo:rustc-env=KRC_GLIBC_FLOOR={floor}");

    let mut features: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| {
            k.strip_prefix("CARGO_FEATURE_")
                .map(|f| f.to_lowercase().replace('_', "-"))
        })
        .collect();
    features.sort();
    let features = if features.is_empty() {
        "none".to_string()
    } else {
        features.join(",")
    };
    println!("cargo:rustc-env=KRC_FEATURES={features}");
}

/// The checked-out commit, or None outside a git checkout (a tarball).
/// Re-runs when HEAD moves: HEAD itself and the branch it points at.
fn git_commit() -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    for path in ["HEAD", "packed-refs"] {
        // A path that does not exist (no packed-refs yet) would make
        // cargo re-run this script, and rebuild krc, on every build.
        if let Some(p) = git(&["rev-parse", "--git-path", path])
            && std::path::Path::new(&p).exists()
        {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(p) = git(&["rev-parse", "--git-path", &branch])
    {
        println!("cargo:rerun-if-changed={p}");
    }
    Some(commit)
}

/// Seconds since the epoch as a UTC date, YYYY-MM-DD (Howard Hinnant's
/// days-to-civil algorithm; no date crate for one line of output).
fn civil_date(secs: i64) -> String {
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}
