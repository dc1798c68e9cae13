//! The layers of DESIGN.md, enforced: a module may use modules below it,
//! never above. Data flows one way (CLI → suite → checks → facts), so a
//! `crate::` path that points up a layer is a cycle waiting to happen.
//! An edge that still points up must be listed with why; a new one fails.

use std::collections::BTreeSet;
use std::path::Path;

/// Lowest first. A module's rank is its position here.
const LAYERS: &[&[&str]] = &[
    &["fsutil", "safefs", "stop", "layout"],
    &["host"],
    // The install's rootless settings, which every phase reads.
    &["settings"],
    &["kube"],
    &["checks"],
    &["report"],
    &["suite"],
    &["install"],
    // The flags as parsed (clap types), which the commands take.
    &["cli"],
    &["cmd"],
    &["main", "lib", "fuzz"],
];

/// Upward edges that remain, each with the reason it is still there
/// (none today: pass the item in, or move it down, rather than add one).
const KNOWN: &[(&str, &str, &str)] = &[];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_module_uses_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut up: BTreeSet<(String, String, String)> = BTreeSet::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let from = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let Some(from_rank) = rank(&from) else {
            panic!("{} is in no layer: add its module to LAYERS", rel.display());
        };
        let text = std::fs::read_to_string(f).unwrap();
        for line in text.lines() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for (i, _) in code.match_indices("crate::") {
                let to: String = code[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if let Some(to_rank) = rank(&to)
                    && to_rank > from_rank
                {
                    up.insert((from.clone(), to.clone(), rel.display().to_string()));
                }
            }
        }
    }
    let unknown: Vec<String> = up
        .iter()
        .filter(|(from, to, _)| !KNOWN.iter().any(|(f, t, _)| f == from && t == to))
        .map(|(from, to, file)| format!("{file}: {from} uses {to}, a layer above it"))
        .collect();
    assert!(
        unknown.is_empty(),
        "upward dependencies (move the item down, or pass it in):\n{}",
        unknown.join("\n")
    );
    // A known exception that no longer exists must leave the list.
    for (f, t, why) in KNOWN {
        assert!(
            up.iter().any(|(from, to, _)| from == f && to == t),
            "{f} no longer uses {t}: remove the exception ({why})"
        );
    }
}
