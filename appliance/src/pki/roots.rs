//! The licensed roots: the root certificates of Vietnam's public digital-signature
//! infrastructure (chữ ký số công cộng) a học bạ signature from an imported PKCS#12 must chain
//! to. Without a list the box trusted whatever root a BGH member's file carried, so a
//! self-made "VNPT … TEST" CA passed as "CA công cộng".
//!
//! The list is the built-in national root ([`BUILT_IN`]) plus the roots school IT or the
//! district added with `tram hocba roots add FILE` — on a box and on the hub alike, each into
//! its own data directory — kept as one PEM bundle, `keys/hocba-roots.pem` (in `keys/`, so
//! every backup carries it). Read on each use: an added root counts at once, also while the
//! server runs.
//!
//! The built-in root is the "Vietnam National Root CA" (SHA-256 generation, 2014–2039) of the
//! Ministry of Information and Communications' National Centre of Digital Signature
//! Authentication (NEAC, rootca.gov.vn), under which the licensed providers (VNPT-CA,
//! Viettel-CA, BKAV-CA, FPT-CA, MISA-CA, …) are issued. SHA-256 fingerprint
//! `bac8bf609ab420a8ee1780d74f4de5c7f7184959d2a7375b0a75e4c29f0908e7`; taken from
//! rootca.gov.vn's `crt/vnrca256.p7b` as vendored by the public repository
//! `nguyentvtk/eSign.Files` (`server/trust/national/vnrca256.crt`, which pins the same
//! fingerprint). The newer G3 root (2024–2049) is not built in: the district adds it, after
//! checking its fingerprint against rootca.gov.vn, with `tram hocba roots add`.

use der::{Decode, DecodePem, Encode, EncodePem};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::ext::pkix::BasicConstraints;

/// The roots every box and hub trusts without being told: (name, PEM).
pub const BUILT_IN: &[(&str, &str)] = &[(
    "Vietnam National Root CA",
    include_str!("vietnam-national-root-ca.pem"),
)];

/// The SHA-256 of the built-in root, checked by a unit test so a changed file cannot slip in.
pub const NATIONAL_ROOT_SHA256: &str =
    "bac8bf609ab420a8ee1780d74f4de5c7f7184959d2a7375b0a75e4c29f0908e7";

/// Why a root was not added (English: the CLI's).
#[derive(Debug, thiserror::Error)]
pub enum RootsError {
    #[error("not a certificate (PEM or DER): {0}")]
    Unreadable(String),
    #[error(
        "{0} is not a root: a root names itself as its issuer and carries its own signature (add the root above it)"
    )]
    NotRoot(String),
    #[error("{0} is not a CA certificate (basicConstraints cA is not set)")]
    NotCa(String),
    #[error("the list of licensed roots could not be written: {0}")]
    Io(#[from] std::io::Error),
}

/// One licensed root.
#[derive(Debug, Clone)]
pub struct Root {
    pub cert: Certificate,
    /// The subject's common name (else the whole subject).
    pub name: String,
    /// SHA-256 of the DER, hex.
    pub sha256: String,
    pub built_in: bool,
}

/// The bundle of roots added to this data directory.
pub fn added_path(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("keys").join("hocba-roots.pem")
}

fn root(cert: Certificate, built_in: bool) -> Root {
    let sha256 = hex::encode(Sha256::digest(cert.to_der().unwrap_or_default()));
    Root {
        name: super::signing::subject_name_and_role(&cert).0,
        cert,
        sha256,
        built_in,
    }
}

/// Every certificate of a PEM bundle (unreadable blocks skipped).
pub fn pem_certs(text: &str) -> Vec<Certificate> {
    const END: &str = "-----END CERTIFICATE-----";
    text.split_inclusive(END)
        .filter(|b| b.contains("-----BEGIN CERTIFICATE-----"))
        .filter_map(|b| Certificate::from_pem(b.trim().as_bytes()).ok())
        .collect()
}

/// The licensed roots of this data directory: the built-in ones, then those added.
pub fn load(data_dir: &std::path::Path) -> Vec<Root> {
    let mut out: Vec<Root> = BUILT_IN
        .iter()
        .flat_map(|(_, pem)| pem_certs(pem))
        .map(|c| root(c, true))
        .collect();
    let added = std::fs::read_to_string(added_path(data_dir)).unwrap_or_default();
    for cert in pem_certs(&added) {
        let r = root(cert, false);
        if !out.iter().any(|o| o.sha256 == r.sha256) {
            out.push(r);
        }
    }
    out
}

/// The certificates of [`load`].
pub fn certificates(data_dir: &std::path::Path) -> Vec<Certificate> {
    load(data_dir).into_iter().map(|r| r.cert).collect()
}

/// Adds the root in `bytes` (PEM or DER) to this data directory's list. A certificate that is
/// not a self-signed CA is refused: an intermediate's trust rests on the root above it, which
/// is what the list must name. Adding a root already listed changes nothing. Returns the root.
pub fn add(data_dir: &std::path::Path, bytes: &[u8]) -> Result<Root, RootsError> {
    let cert = match std::str::from_utf8(bytes) {
        Ok(text) if text.contains("-----BEGIN") => pem_certs(text)
            .into_iter()
            .next()
            .ok_or_else(|| RootsError::Unreadable("no CERTIFICATE block".into()))?,
        _ => Certificate::from_der(bytes).map_err(|e| RootsError::Unreadable(e.to_string()))?,
    };
    let r = root(cert, false);
    if !super::pades::issued_by(&r.cert, &r.cert) {
        return Err(RootsError::NotRoot(r.name));
    }
    let is_ca = r
        .cert
        .tbs_certificate
        .get::<BasicConstraints>()
        .ok()
        .flatten()
        .is_some_and(|(_, bc)| bc.ca);
    if !is_ca {
        return Err(RootsError::NotCa(r.name));
    }
    if load(data_dir).iter().any(|o| o.sha256 == r.sha256) {
        return Ok(r);
    }
    let path = added_path(data_dir);
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text += &r
        .cert
        .to_pem(der::pem::LineEnding::LF)
        .map_err(|e| RootsError::Unreadable(e.to_string()))?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    crate::config::write_atomic(&path, text.as_bytes())?;
    Ok(r)
}

/// The listed root `cert` reaches through `chain` (the certificates that came with it, issuer
/// first), each link's signature checked; none when it reaches no listed root.
pub fn reached<'a>(
    cert: &Certificate,
    chain: &[Certificate],
    roots: &'a [Root],
) -> Option<&'a Root> {
    let pool: Vec<&Certificate> = chain.iter().collect();
    roots
        .iter()
        .find(|r| super::pades::chains_to(cert, &pool, &r.cert, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_national_root_is_the_pinned_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let roots = load(dir.path());
        assert_eq!(roots.len(), 1);
        assert_eq!(roots[0].sha256, NATIONAL_ROOT_SHA256);
        assert_eq!(roots[0].name, "Vietnam National Root CA");
        assert!(roots[0].built_in);
    }

    #[test]
    fn a_root_is_added_once_and_a_non_root_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        // The built-in root again: already listed, nothing written.
        add(dir.path(), BUILT_IN[0].1.as_bytes()).unwrap();
        assert!(!added_path(dir.path()).exists());
        assert!(matches!(
            add(dir.path(), b"not a certificate"),
            Err(RootsError::Unreadable(_))
        ));
    }
}
