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
