//! The redaction's own tests: what goes, what stays, and the bounds.

mod bound {
    #[test]
    fn huge_evidence_is_cut_and_says_so() {
        let items = vec!["x".repeat(5_000_000); 3];
        let out = super::super::redact_all(&items);
        assert_eq!(out.len(), 3);
        assert!(out[0].len() < 2200 && out[0].ends_with("(5000000 bytes in all; cut)"));
        let many: Vec<String> = (0..1000).map(|i| format!("line {i}")).collect();
        let out = super::super::redact_all(&many);
        assert_eq!(out.len(), 201);
        assert_eq!(out[200], "… 800 more line(s) not shown");
    }
}

mod lines {
    use super::super::{redact, redact_all};

    /// Found by fuzzing (redact): the `Bearer `/`Basic ` test sliced the
    /// value at a byte that was inside a character.
    #[test]
    fn a_value_with_a_multibyte_character_near_its_start_is_hidden() {
        for v in ["xxxxxxé", "bearerébasic", "basiéé secret", "ééééé"] {
            let r = redact(&format!("token: {v}"));
            assert!(!r.contains(v) && r.starts_with("token: "), "{v}: {r}");
        }
        assert_eq!(redact("token: Bearer abc"), redact("token: Bearer xyz"));
    }

    #[test]
    fn hides_pem_blocks_and_secret_values() {
        let pem = "key:\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIabc\n-----END EC PRIVATE KEY-----\nafter";
        let r = redact(pem);
        assert!(
            !r.contains("MHcCAQEEIabc")
                && r.contains("after")
                && !r.contains("PRIVATE KEY-----\nMH"),
            "{r}"
        );
        assert_eq!(
            redact("    client-key-data: LS0tLS1CRUdJTg=="),
            "    client-key-data: [redacted]"
        );
        assert_eq!(
            redact("Environment=K3S_TOKEN=s3cr3t other"),
            "Environment=K3S_TOKEN=[redacted] other"
        );
        assert_eq!(
            redact("\"token\":\"abc\",\"x\":1"),
            "\"token\":\"[redacted]\",\"x\":1"
        );
        assert_eq!(redact("tokens_total 5; token"), "tokens_total 5; token");
        assert_eq!(redact("tokens_total: 5"), "tokens_total: 5");
    }

    /// The lines `cluster.single-node` quotes from a unit drop-in that
    /// carries a token (checks::accept_tests asserts it quotes them so).
    #[test]
    fn tokens_in_quoted_unit_lines_go() {
        let unit = "/home/k3s/.config/systemd/user/k3s-rootless.service.d/";
        let lines = [
            format!("{unit}token.conf:2: Environment=K3S_TOKEN=K10secretsecret::server:abc"),
            format!(
                "{unit}token.conf:4: ExecStart=/usr/local/bin/k3s server --rootless --snapshotter=fuse-overlayfs --cluster-init --token=K10othersecret"
            ),
        ];
        let shown = redact_all(&lines).join("\n");
        assert!(
            !shown.contains("K10secretsecret") && !shown.contains("K10othersecret"),
            "{shown}"
        );
        assert!(shown.contains("K3S_TOKEN=[redacted]"), "{shown}");
    }

    #[test]
    fn every_occurrence_on_a_line_goes() {
        assert_eq!(
            redact("token: a1 password=b2 K3S_TOKEN=c3 x=1"),
            "token: [redacted] password=[redacted] K3S_TOKEN=[redacted] x=1"
        );
        assert_eq!(
            redact("{\"id-token\": \"A\", \"refresh-token\": \"B\", \"name\": \"n\"}"),
            "{\"id-token\": \"[redacted]\", \"refresh-token\": \"[redacted]\", \"name\": \"n\"}"
        );
    }

    #[test]
    fn key_classes_match_in_any_case() {
        for k in [
            "TOKEN",
            "Token",
            "id-token",
            "refresh-token",
            "GITHUB_TOKEN",
            "K3S_AGENT_TOKEN",
            "bearerToken",
            "client_secret",
            "Secret",
            "PASSWORD",
            "db_password",
            "client-key-data",
            "Client-Certificate-Data",
            "private_key",
            "apiKey",
        ] {
            assert_eq!(
                redact(&format!("{k}: v4lue")),
                format!("{k}: [redacted]"),
                "{k}"
            );
        }
        assert_eq!(redact("name: v4lue"), "name: v4lue");
        assert_eq!(redact("token_count == 3"), "token_count == 3");
    }

    #[test]
    fn quoted_values_even_unclosed_or_multi_line() {
        assert_eq!(
            redact("password: 'it''s s3cret' next"),
            "password: '[redacted]' next"
        );
        assert_eq!(
            redact("token: \"a\\\"b\" x: 1"),
            "token: \"[redacted]\" x: 1"
        );
        let r = redact("token: \"abc\n  def\"\nname: n");
        assert_eq!(r, "token: \"[redacted]\n[redacted]\"\nname: n");
    }

    #[test]
    fn yaml_block_scalars_and_values_below_the_key() {
        let r = redact("users:\n- token: |\n    s3cret1\n    s3cret2\n\n  name: n\nother: o");
        assert!(!r.contains("s3cret"), "{r}");
        assert!(r.contains("name: n") && r.contains("other: o"), "{r}");
        let r = redact("client-key-data: >-\n  AAAA\n  BBBB\nserver: s");
        assert_eq!(
            r,
            "client-key-data: [redacted]\n  [redacted]\n  [redacted]\nserver: s"
        );
        let r = redact("password:\n  multi\n  line\nx: 1");
        assert_eq!(r, "password:\n  [redacted]\n  [redacted]\nx: 1");
        let items = [
            "k3s.yaml:3: token: |",
            "k3s.yaml:4:   s3cret",
            "k3s.yaml:5: x: 1",
        ];
        let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            redact_all(&items),
            [
                "k3s.yaml:3: token: [redacted]",
                "k3s.yaml:4:   [redacted]",
                "k3s.yaml:5: x: 1"
            ]
        );
    }

    #[test]
    fn broken_pem_blocks_stay_hidden() {
        let r = redact(
            "a\n-----BEGIN RSA PRIVATE KEY-----\nAAAA\nBBBB-----END RSA PRIVATE KEY-----tail\nz",
        );
        assert_eq!(r, "a\n[redacted]\n[redacted]\n[redacted]tail\nz");
        // BEGIN without END: everything after it.
        let r = redact("x -----BEGIN EC PRIVATE KEY-----MHcC\nMHcD\nmore");
        assert!(!r.contains("MHc") && !r.contains("more"), "{r}");
        // One line with both markers, and base64 of PEM under any key.
        let r = redact("k: -----BEGIN X-----QUJD-----END X----- ok");
        assert_eq!(r, "k: [redacted] ok");
        assert_eq!(redact("data LS0tLS1CRUdJTiBFQw== ok"), "data [redacted] ok");
    }

    #[test]
    fn url_userinfo_and_byte_dumps_go() {
        assert_eq!(
            redact("server: https://admin:PASS@host:6443/x and http://u@h"),
            "server: https://[redacted]@host:6443/x and http://[redacted]@h"
        );
        assert_eq!(
            redact("see https://example.com/a@b"),
            "see https://example.com/a@b"
        );
        assert_eq!(
            redact("illegal section start: [45, 45, 45, 45, 45, 66, 69, 71, 73, 78, 32]"),
            "illegal section start: [[redacted]]"
        );
        assert_eq!(redact("ports 80, 443, 6443"), "ports 80, 443, 6443");
        assert_eq!(
            redact("Authorization: Bearer abc.def"),
            "Authorization: Bearer [redacted]"
        );
    }
}
