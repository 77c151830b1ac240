//! The per-device local certificate authority and the server certificate it signs.
//! The CA is made once, on first start, and is name-constrained to `.local`, `localhost` and
//! private address ranges, so installing it on a phone can never let it vouch for a public site.
//! The server certificate is re-issued at each start for the addresses the box has now
//! (DHCP moves boxes between addresses).

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    NameConstraints, SanType,
};

pub struct DeviceTls {
    pub ca_pem: String,
    pub ca_der: Vec<u8>,
    pub server_config: Arc<rustls::ServerConfig>,
}

fn ca_params(school_code: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("Trạm CA {school_code}"));
    dn.push(DnType::OrganizationName, "Trạm — máy chủ trường học");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![
            GeneralSubtree::DnsName("local".into()),
            GeneralSubtree::DnsName("localhost".into()),
            GeneralSubtree::IpAddress(CidrSubnet::from_v4_prefix([10, 0, 0, 0], 8)),
            GeneralSubtree::IpAddress(CidrSubnet::from_v4_prefix([172, 16, 0, 0], 12)),
            GeneralSubtree::IpAddress(CidrSubnet::from_v4_prefix([192, 168, 0, 0], 16)),
            GeneralSubtree::IpAddress(CidrSubnet::from_v4_prefix([169, 254, 0, 0], 16)),
            GeneralSubtree::IpAddress(CidrSubnet::from_v4_prefix([127, 0, 0, 0], 8)),
        ],
        excluded_subtrees: vec![],
    });
    p.not_before = rcgen::date_time_ymd(2024, 1, 1);
    p.not_after = rcgen::date_time_ymd(2045, 1, 1);
    p
}

fn is_private(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        IpAddr::V6(_) => false,
    }
}

/// Loads (or makes, on first start) the CA in `tls_dir` and issues a server certificate for
/// `names` and the private addresses in `ips`.
/// The SHA-256 fingerprint of a certificate (DER), as browsers and `openssl x509 -fingerprint
/// -sha256` show it: "AB:CD:…". School IT compares it between the port-80 page and the device
/// page or the provisioning summary, so a CA handed out by someone else on the Wi-Fi is noticed.
pub fn fingerprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn load_or_create(
    tls_dir: &Path,
    school_code: &str,
    names: &[String],
    ips: &[IpAddr],
) -> anyhow::Result<DeviceTls> {
    std::fs::create_dir_all(tls_dir)?;
    let key_path = tls_dir.join("ca.key");
    let cert_path = tls_dir.join("ca.pem");
    let ca_key = if key_path.exists() {
        KeyPair::from_pem(&std::fs::read_to_string(&key_path)?)?
    } else {
        let k = KeyPair::generate()?;
        crate::config::write_secret(&key_path, k.serialize_pem().as_bytes())?;
        k
    };
    let params = ca_params(school_code);
    let ca_pem = if cert_path.exists() {
        std::fs::read_to_string(&cert_path)?
    } else {
        let c = params.self_signed(&ca_key)?;
        crate::config::write_atomic(&cert_path, c.pem().as_bytes())?;
        c.pem()
    };
    let ca_der = pem_der(&ca_pem)?;
    let issuer = Issuer::new(params, &ca_key);

    let mut leaf = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        names
            .first()
            .cloned()
            .unwrap_or_else(|| "tram.local".into()),
    );
    leaf.distinguished_name = dn;
    leaf.subject_alt_names = names
        .iter()
        .filter_map(|n| n.clone().try_into().ok().map(SanType::DnsName))
        .chain(
            ips.iter()
                .filter(|ip| is_private(ip))
                .map(|ip| SanType::IpAddress(*ip)),
        )
        .collect();
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let now = jiff::Timestamp::now();
    let d = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    leaf.not_before = rcgen::date_time_ymd(d.year() as i32, d.month() as u8, 1);
    // Browsers refuse server certificates valid for more than 398 days.
    let end = d.checked_add(jiff::Span::new().days(390))?;
    leaf.not_after = rcgen::date_time_ymd(end.year() as i32, end.month() as u8, 1);
    let leaf_key = KeyPair::generate()?;
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(
            vec![
                leaf_cert.der().clone(),
                rustls::pki_types::CertificateDer::from(ca_der.clone()),
            ],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(DeviceTls {
        ca_pem,
        ca_der,
        server_config: Arc::new(cfg),
    })
}

/// The DER bytes of a PEM certificate.
pub(crate) fn pem_der(pem: &str) -> anyhow::Result<Vec<u8>> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    Ok(base64::engine::general_purpose::STANDARD.decode(body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_is_made_once_and_reused() {
        let d = tempfile::tempdir().unwrap();
        let a = load_or_create(
            d.path(),
            "79000701",
            &["tram.local".into()],
            &["127.0.0.1".parse().unwrap()],
        )
        .unwrap();
        let b = load_or_create(
            d.path(),
            "79000701",
            &["tram.local".into()],
            &["192.168.1.20".parse().unwrap()],
        )
        .unwrap();
        assert_eq!(a.ca_pem, b.ca_pem);
        assert!(a.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(d.path().join("ca.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "CA key must not be readable by others");
        }
    }
}
