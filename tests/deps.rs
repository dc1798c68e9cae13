//! ring is the one rustls provider: if aws-lc-rs were compiled in too,
//! building a TLS config would panic at run time ("Could not automatically
//! determine the process-level CryptoProvider").

#[test]
fn aws_lc_is_not_in_the_dependency_graph() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap();
    for name in ["aws-lc-sys", "aws-lc-rs"] {
        assert!(
            !lock.contains(&format!("name = \"{name}\"")),
            "{name} is in Cargo.lock: find who pulls it with `cargo tree -i {name}`"
        );
    }
    assert!(lock.contains("name = \"ring\""));
}

/// Every dependency is used: a crate named in `[dependencies]` that no
/// source file mentions is build time and attack surface for nothing.
/// (Crates used only for their features are listed with the reason.)
#[test]
fn every_dependency_is_used() {
    let root = env!("CARGO_MANIFEST_DIR");
    let manifest = std::fs::read_to_string(format!("{root}/Cargo.toml")).unwrap();
    let table: toml::Table = manifest.parse().unwrap();
    let feature_only: &[(&str, &str)] = &[];
    let mut sources = String::new();
    let mut stack = vec![std::path::PathBuf::from(format!("{root}/src"))];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                sources.push_str(&std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let deps = table["dependencies"].as_table().unwrap();
    let mut unused = Vec::new();
    for name in deps.keys() {
        if feature_only.iter().any(|(n, _)| n == name) {
            continue;
        }
        let ident = name.replace('-', "_");
        if !(sources.contains(&format!("{ident}::")) || sources.contains(&format!("use {ident}"))) {
            unused.push(name.clone());
        }
    }
    assert!(
        unused.is_empty(),
        "dependencies no file in src/ uses: {unused:?}; remove them from Cargo.toml (or list why in feature_only)"
    );
}
