//! Certificates shaped like k3s's, made at test time: a CA, a serving
//! certificate with the IP SAN 127.0.0.1, and an ECDSA P-256 client
//! certificate whose key is written as SEC1 ("EC PRIVATE KEY"), as k3s does.

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, SanType,
};

pub struct Identity {
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    pub key_pkcs8_der: Vec<u8>,
    /// The key as k3s writes it: `-----BEGIN EC PRIVATE KEY-----`.
    pub key_sec1_pem: String,
}

pub struct Ca {
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    pub fn new(cn: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        p.distinguished_name = dn;
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = p.self_signed(&key).unwrap();
        Ca {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            issuer: Issuer::new(p, key),
        }
    }

    fn issue(&self, cn: &str, org: Option<&str>, server: bool) -> Identity {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        if let Some(o) = org {
            dn.push(DnType::OrganizationName, o);
        }
        p.distinguished_name = dn;
        if server {
            p.subject_alt_names = vec![
                SanType::DnsName("localhost".try_into().unwrap()),
                SanType::DnsName("kubernetes.default".try_into().unwrap()),
                SanType::IpAddress("127.0.0.1".parse().unwrap()),
                SanType::IpAddress("10.43.0.1".parse().unwrap()),
            ];
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        } else {
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        let pkcs8 = key.serialize_der();
        Identity {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_sec1_pem: pem("EC PRIVATE KEY", &sec1_from_pkcs8(&pkcs8)),
            key_pkcs8_der: pkcs8,
        }
    }

    pub fn server(&self) -> Identity {
        self.issue("k3s", Some("k3s"), true)
    }

    /// k3s's admin: CN system:admin, O system:masters.
    pub fn client(&self) -> Identity {
        self.issue("system:admin", Some("system:masters"), false)
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(chunk).unwrap());
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

/// ring's PKCS#8 P-256 key → the SEC1 ECPrivateKey Go's
/// x509.MarshalECPrivateKey writes (with the named-curve parameters).
fn sec1_from_pkcs8(p8: &[u8]) -> Vec<u8> {
    const PREFIX: [u8; 36] = [
        0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
        0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x6d, 0x30,
        0x6b, 0x02, 0x01, 0x01, 0x04, 0x20,
    ];
    assert_eq!(&p8[..36], &PREFIX, "unexpected PKCS#8 layout from ring");
    assert_eq!(p8.len(), 138);
    let private = &p8[36..68];
    assert_eq!(&p8[68..73], &[0xa1, 0x44, 0x03, 0x42, 0x00]);
    let public = &p8[73..138];
    let mut out = vec![0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20];
    out.extend_from_slice(private);
    out.extend_from_slice(&[
        0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
    ]);
    out.extend_from_slice(&[0xa1, 0x44, 0x03, 0x42, 0x00]);
    out.extend_from_slice(public);
    out
}

/// A kubeconfig as k3s writes it to ~/.kube/k3s.yaml.
pub fn kubeconfig(server: &str, ca_pem: &str, client: &Identity) -> String {
    let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    format!(
        "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {}
    server: {server}
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {{}}
users:
- name: default
  user:
    client-certificate-data: {}
    client-key-data: {}
",
        b(ca_pem),
        b(&client.cert_pem),
        b(&client.key_sec1_pem)
    )
}
