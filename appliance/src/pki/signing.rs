//! The school signing CA and the signers' certificates behind học bạ số (PAdES signatures).
//!
//! The CA is separate from the TLS CA (`tls.rs`): ECDSA P-256, named for the school and
//! name-constrained to it (directoryName C=VN, O=school), allowed to sign certificates only
//! (basicConstraints CA, keyUsage keyCertSign), its key in
//! `keys/signing-ca.key` (0600, like the device keys, so every backup carries it) beside
//! `keys/signing-ca.crt`. Each signer gets a P-256 certificate (CN = full name, O = school,
//! OU and title = role, keyUsage digitalSignature + nonRepudiation) and keeps the private key
//! sealed under their PIN (`pki::seal`); the record is stored by the gradebook
//! (`gradebook::hocba`, in the database). Boxes signed before that kept it in
//! `keys/hocba-signer-{account}.json`: [`legacy_signer_files`] reads those once.

use std::path::{Path, PathBuf};

use der::asn1::{SetOfVec, Utf8StringRef};
use der::{Decode, Encode, EncodePem};
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use serde::{Deserialize, Serialize};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::certificate::Certificate;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("Mã PIN ký phải có ít nhất 6 ký tự.")]
    WeakPin,
    #[error("Mã PIN ký không đúng.")]
    WrongPin,
    #[error("Khoá ký học bạ đã lưu bị hỏng ({0}); hãy cấp chứng thư mới.")]
    Damaged(String),
    #[error("Chưa có chứng thư ký học bạ cho tài khoản này.")]
    NoSigner,
    #[error("Không tạo được chứng thư: {0}")]
    Certificate(String),
    #[error("Không đọc/ghi được tệp khoá: {0}")]
    Io(#[from] std::io::Error),
}

const MIN_PIN: usize = 6;
/// The CA outlives many school years; a signer's certificate covers a few (a teacher who leaves
/// stops signing, but what she signed stays verifiable: validity is judged at signing time).
const CA_YEARS: i64 = 20;
const SIGNER_YEARS: i64 = 5;

fn ca_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("signing-ca.key")
}

/// The CA certificate (PEM): the trust anchor a district, another school or `tram hocba verify`
/// is given.
pub fn ca_cert_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("signing-ca.crt")
}

/// Signer records an earlier version kept as files in `keys/` (`hocba-signer-{account}.json`),
/// each with what reading it gave: the gradebook moves them into its table once.
pub fn legacy_signer_files(data_dir: &Path) -> Vec<(PathBuf, Result<SignerRecord, SigningError>)> {
    let Ok(dir) = std::fs::read_dir(data_dir.join("keys")) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = dir
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("hocba-signer-") && n.ends_with(".json"))
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .map(|p| {
            let rec = std::fs::read(&p).map_err(SigningError::from).and_then(|b| {
                serde_json::from_slice::<SignerRecord>(&b)
                    .map_err(|e| SigningError::Damaged(e.to_string()))
            });
            (p, rec)
        })
        .collect()
}

/// The school signing CA, unlocked (its key lives on the box like the device keys).
pub struct SigningCa {
    key: SigningKey,
    pub cert: Certificate,
}

impl SigningCa {
    pub fn cert_der(&self) -> Vec<u8> {
        self.cert.to_der().expect("a parsed certificate encodes")
    }
}

/// A name of UTF-8 attributes in the order given (C, O, OU, title, CN).
pub(super) fn name(parts: &[(der::asn1::ObjectIdentifier, &str)]) -> Result<Name, SigningError> {
    let mut rdns = Vec::new();
    for (oid, value) in parts {
        let value = der::Any::from(
            Utf8StringRef::new(value).map_err(|e| SigningError::Certificate(e.to_string()))?,
        );
        let atv = AttributeTypeAndValue { oid: *oid, value };
        let set =
            SetOfVec::try_from(vec![atv]).map_err(|e| SigningError::Certificate(e.to_string()))?;
        rdns.push(RelativeDistinguishedName(set));
    }
    Ok(RdnSequence(rdns))
}

pub(super) fn validity(now: jiff::Timestamp, years: i64) -> Result<Validity, SigningError> {
    let to_time = |t: jiff::Timestamp| {
        let st = std::time::SystemTime::from(t);
        Time::try_from(st).map_err(|e| SigningError::Certificate(e.to_string()))
    };
    // A few minutes back, so a clock a little behind another's still sees the certificate valid.
    let start = now - jiff::SignedDuration::from_mins(5);
    let end = now
        .to_zoned(jiff::tz::TimeZone::UTC)
        .checked_add(jiff::Span::new().years(years))
        .map_err(|e| SigningError::Certificate(e.to_string()))?
        .timestamp();
    Ok(Validity {
        not_before: to_time(start)?,
        not_after: to_time(end)?,
    })
}

pub(super) fn serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f; // positive, as RFC 5280 asks
    bytes[0] |= 0x01; // and never a shorter encoding
    SerialNumber::new(&bytes).expect("16 bytes make a serial number")
}

pub(super) fn spki(key: &SigningKey) -> Result<SubjectPublicKeyInfoOwned, SigningError> {
    let der = key
        .verifying_key()
        .to_public_key_der()
        .map_err(|e| SigningError::Certificate(e.to_string()))?;
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes())
        .map_err(|e| SigningError::Certificate(e.to_string()))
}

use der::oid::db::rfc4519::{C, CN, O, OU, TITLE};

/// Loads the school signing CA, making it on first use (`school` names it).
pub fn load_or_create_ca(
    data_dir: &Path,
    school: &str,
    now: jiff::Timestamp,
) -> Result<SigningCa, SigningError> {
    if let Some(ca) = load_ca(data_dir)? {
        return Ok(ca);
    }
    let key = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let subject = name(&[
        (C, "VN"),
        (O, school),
        (CN, &format!("{school} — CA ký số học bạ")),
    ])?;
    // Name-constrained to the school: whoever gets hold of this key can still only vouch for
    // names under "C=VN, O=<school>", never for another school's or a public CA's subjects.
    let constraints = x509_cert::ext::pkix::constraints::name::NameConstraints {
        permitted_subtrees: Some(vec![
            x509_cert::ext::pkix::constraints::name::GeneralSubtree {
                base: x509_cert::ext::pkix::name::GeneralName::DirectoryName(name(&[
                    (C, "VN"),
                    (O, school),
                ])?),
                minimum: 0,
                maximum: None,
            },
        ]),
        excluded_subtrees: None,
    };
    let mut builder = CertificateBuilder::new(
        Profile::Root,
        serial(),
        validity(now, CA_YEARS)?,
        subject,
        spki(&key)?,
        &key,
    )
    .map_err(|e| SigningError::Certificate(e.to_string()))?;
    builder
        .add_extension(&constraints)
        .map_err(|e| SigningError::Certificate(e.to_string()))?;
    let cert = builder
        .build::<DerSignature>()
        .map_err(|e| SigningError::Certificate(e.to_string()))?;
    let key_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| SigningError::Certificate(e.to_string()))?;
    let cert_pem = cert
        .to_pem(LineEnding::LF)
        .map_err(|e| SigningError::Certificate(e.to_string()))?;
    // The key first: a certificate without its key would be a CA nobody can use.
    crate::config::write_secret(&ca_key_path(data_dir), key_pem.as_bytes())?;
    crate::config::write_atomic(&ca_cert_path(data_dir), cert_pem.as_bytes())?;
    Ok(SigningCa { key, cert })
}

/// The CA if this box has one.
pub fn load_ca(data_dir: &Path) -> Result<Option<SigningCa>, SigningError> {
    let (Ok(key_pem), Ok(cert_pem)) = (
        std::fs::read_to_string(ca_key_path(data_dir)),
        std::fs::read_to_string(ca_cert_path(data_dir)),
    ) else {
        return Ok(None);
    };
    let key = SigningKey::from_pkcs8_pem(&key_pem)
        .map_err(|e| SigningError::Damaged(format!("signing-ca.key: {e}")))?;
    let cert = cert_from_pem(&cert_pem)
        .map_err(|e| SigningError::Damaged(format!("signing-ca.crt: {e}")))?;
    Ok(Some(SigningCa { key, cert }))
}

/// A certificate from PEM text.
pub fn cert_from_pem(pem: &str) -> Result<Certificate, String> {
    use der::DecodePem;
    Certificate::from_pem(pem.trim().as_bytes()).map_err(|e| e.to_string())
}

/// A signer's certificate and sealed key, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignerRecord {
    pub account: String,
    pub full_name: String,
    /// "Giáo viên chủ nhiệm", "Hiệu trưởng", …
    pub role: String,
    /// The certificate, DER as hex.
    pub cert: String,
    /// argon2id salt, hex.
    pub salt: String,
    /// ChaCha20-Poly1305 nonce, hex.
    pub nonce: String,
    /// The PKCS#8 private key sealed under the PIN, hex.
    pub sealed: String,
    pub created_at: String,
    /// The certificates above the signer's, DER as hex, issuer first: empty for a certificate of
    /// the school signing CA; for one imported from a licensed CA's PKCS#12 (`pki::p12`), the
    /// chain that came with it, which every signature then carries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<String>,
}

fn aad(account: &str, cert_hex: &str) -> Vec<u8> {
    let digest = blake3::hash(cert_hex.as_bytes());
    format!("tram hocba signer v1\n{account}\n{digest}").into_bytes()
}

/// A signer's private key: P-256 from the school signing CA, or what a licensed CA issued
/// (Vietnamese public CAs issue RSA 2048 keys, signed PKCS#1 v1.5 with SHA-256).
pub enum SignerKey {
    P256(SigningKey),
    /// Boxed: an RSA key is three times the size of a P-256 one.
    Rsa(Box<rsa::pkcs1v15::SigningKey<sha2::Sha256>>),
}

impl SignerKey {
    /// A PKCS#8 private key of either kind; `None` for any other algorithm or curve.
    pub fn from_pkcs8(der: &[u8]) -> Option<SignerKey> {
        if let Ok(k) = SigningKey::from_pkcs8_der(der) {
            return Some(SignerKey::P256(k));
        }
        rsa::RsaPrivateKey::from_pkcs8_der(der)
            .ok()
            .map(|k| SignerKey::Rsa(Box::new(rsa::pkcs1v15::SigningKey::new(k))))
    }

    /// The public half, as a certificate names it.
    pub fn spki(&self) -> Result<SubjectPublicKeyInfoOwned, SigningError> {
        let der = match self {
            SignerKey::P256(k) => k.verifying_key().to_public_key_der(),
            SignerKey::Rsa(k) => rsa::RsaPublicKey::from((**k).as_ref()).to_public_key_der(),
        }
        .map_err(|e| SigningError::Certificate(e.to_string()))?;
        SubjectPublicKeyInfoOwned::from_der(der.as_bytes())
            .map_err(|e| SigningError::Certificate(e.to_string()))
    }
}

/// A signer, unlocked by the PIN for the length of one signing action.
pub struct Signer {
    pub key: SignerKey,
    pub cert: Certificate,
    pub cert_der: Vec<u8>,
    /// The certificates above `cert` when it is not the school signing CA's (issuer first).
    pub chain: Vec<Certificate>,
}

/// Issues a certificate for `full_name` in `role` and seals its key under `pin`; the caller
/// stores the record (replacing an earlier one: what the old key signed stays valid, its
/// certificate travels in each signature).
pub fn issue_signer(
    ca: &SigningCa,
    account: &str,
    full_name: &str,
    role: &str,
    pin: &str,
    now: jiff::Timestamp,
) -> Result<SignerRecord, SigningError> {
    if pin.chars().count() < MIN_PIN {
        return Err(SigningError::WeakPin);
    }
    let school = ca_organisation(&ca.cert).unwrap_or_default();
    let key = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let subject = name(&[
        (C, "VN"),
        (O, &school),
        (OU, role),
        (TITLE, role),
        (CN, full_name),
    ])?;
    let builder = CertificateBuilder::new(
        Profile::Leaf {
            issuer: ca.cert.tbs_certificate.subject.clone(),
            enable_key_agreement: false,
            enable_key_encipherment: false,
        },
        serial(),
        validity(now, SIGNER_YEARS)?,
        subject,
        spki(&key)?,
        &ca.key,
    )
    .map_err(|e| SigningError::Certificate(e.to_string()))?;
    let cert = builder
        .build::<DerSignature>()
        .map_err(|e| SigningError::Certificate(e.to_string()))?;
    let cert_der = cert
        .to_der()
        .map_err(|e| SigningError::Certificate(e.to_string()))?;
    let pkcs8 = key
        .to_pkcs8_der()
        .map_err(|e| SigningError::Certificate(e.to_string()))?;
    let who = SignerName {
        account,
        full_name,
        role,
    };
    seal_signer(&who, &cert_der, &[], pkcs8.as_bytes(), pin, now)
}

/// Whose a signer record is: the account, the name shown, the role signed as.
pub struct SignerName<'a> {
    pub account: &'a str,
    pub full_name: &'a str,
    pub role: &'a str,
}

/// The record of a certificate (DER), the chain above it and its PKCS#8 private key sealed
/// under `pin` — one path for keys the school CA issued and keys imported from a PKCS#12.
pub fn seal_signer(
    who: &SignerName<'_>,
    cert_der: &[u8],
    chain: &[Vec<u8>],
    pkcs8: &[u8],
    pin: &str,
    now: jiff::Timestamp,
) -> Result<SignerRecord, SigningError> {
    if pin.chars().count() < MIN_PIN {
        return Err(SigningError::WeakPin);
    }
    let cert_hex = hex::encode(cert_der);
    let salt: [u8; 16] = rand::random();
    let (nonce, sealed) = super::seal::seal(
        &super::seal::cipher_for(pin, &salt),
        pkcs8,
        &aad(who.account, &cert_hex),
    );
    Ok(SignerRecord {
        account: who.account.into(),
        full_name: who.full_name.into(),
        role: who.role.into(),
        cert: cert_hex,
        salt: hex::encode(salt),
        nonce: hex::encode(nonce),
        sealed: hex::encode(sealed),
        created_at: now.to_string(),
        chain: chain.iter().map(hex::encode).collect(),
    })
}

/// Opens a signer's key with the PIN (argon2id: ~0.1 s of CPU).
pub fn unlock(rec: &SignerRecord, pin: &str) -> Result<Signer, SigningError> {
    let damaged = |what: &str| SigningError::Damaged(what.to_string());
    let salt = hex::decode(&rec.salt).map_err(|_| damaged("salt"))?;
    let nonce: [u8; 12] = hex::decode(&rec.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| damaged("nonce"))?;
    let sealed = hex::decode(&rec.sealed).map_err(|_| damaged("sealed key"))?;
    let plain = super::seal::open(
        &super::seal::cipher_for(pin, &salt),
        &nonce,
        &sealed,
        &aad(&rec.account, &rec.cert),
    )
    .ok_or(SigningError::WrongPin)?;
    let key = SignerKey::from_pkcs8(&plain).ok_or_else(|| damaged("private key"))?;
    let cert_der = hex::decode(&rec.cert).map_err(|_| damaged("certificate"))?;
    let cert = Certificate::from_der(&cert_der).map_err(|_| damaged("certificate"))?;
    // The key must be the certificate's: a record pieced together from two would sign with a
    // key no reader could tie to the name shown.
    if cert.tbs_certificate.subject_public_key_info != key.spki()? {
        return Err(damaged("key and certificate differ"));
    }
    let chain = rec
        .chain
        .iter()
        .map(|h| {
            hex::decode(h)
                .ok()
                .and_then(|d| Certificate::from_der(&d).ok())
                .ok_or_else(|| damaged("certificate chain"))
        })
        .collect::<Result<_, _>>()?;
    Ok(Signer {
        key,
        cert,
        cert_der,
        chain,
    })
}

/// The first value of `oid` in a name, as text.
pub fn name_part(name: &Name, oid: der::asn1::ObjectIdentifier) -> Option<String> {
    name.0.iter().flat_map(|rdn| rdn.0.iter()).find_map(|atv| {
        (atv.oid == oid).then(|| {
            der::asn1::Utf8StringRef::try_from(&atv.value)
                .map(|s| s.as_str().to_string())
                .or_else(|_| {
                    der::asn1::PrintableStringRef::try_from(&atv.value)
                        .map(|s| s.as_str().to_string())
                })
                .unwrap_or_else(|_| String::from_utf8_lossy(atv.value.value()).into_owned())
        })
    })
}

/// The school a CA certificate names (its O).
pub fn ca_organisation(cert: &Certificate) -> Option<String> {
    name_part(&cert.tbs_certificate.subject, O)
}

/// The common name (CN) and role (title, else OU) of a certificate's subject.
pub fn subject_name_and_role(cert: &Certificate) -> (String, Option<String>) {
    let s = &cert.tbs_certificate.subject;
    (
        name_part(s, CN).unwrap_or_else(|| s.to_string()),
        name_part(s, TITLE).or_else(|| name_part(s, OU)),
    )
}
