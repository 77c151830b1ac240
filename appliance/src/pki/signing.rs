//! The school signing CA and the signers' certificates behind học bạ số (PAdES signatures).
//!
//! The CA is separate from the TLS CA (`tls.rs`): ECDSA P-256, named for the school and
//! name-constrained to it (directoryName C=VN, O=school), allowed to sign certificates only
//! (basicConstraints CA, keyUsage keyCertSign). Its certificate is public, `keys/signing-ca.crt`
//! ([`ca_cert`], what every verification anchors to). Its private key is never on disk in the
//! clear: [`seal_ca`] encrypts it (ChaCha20-Poly1305) under a random 32-byte data key, and the
//! data key is wrapped ([`wrap_data_key`]) to the public key of each member of the Ban giám hiệu
//! holding a signing certificate — ECIES (ephemeral P-256 ECDH, HKDF-SHA256, ChaCha20-Poly1305)
//! for a P-256 key, RSA-OAEP-SHA256 for an RSA key imported from a licensed CA — each wrap
//! bound to its account and the CA certificate's digest. So opening the CA takes a holder's
//! signing PIN: it opens her key ([`unlock`]), which opens her wrap ([`unwrap_data_key`]), which
//! opens the CA ([`open_ca`]). The sealed key and the wraps are stored by the gradebook
//! (`gradebook::hocba`, in the database, so backups carry them); this module is the pure crypto.
//! Boxes of earlier versions kept the key as plain PKCS#8 in `keys/signing-ca.key`:
//! [`plain_ca_key`] reads it once so it can be sealed, [`remove_plain_ca_key`] destroys it.
//!
//! Each signer gets a P-256 certificate (CN = full name, O = school, OU and title = role,
//! keyUsage digitalSignature + nonRepudiation) and keeps the private key sealed under their PIN
//! (`pki::seal`). The key pair is made first ([`request_key`], sealed at once — binding v2, to
//! the public key), the certificate issued for it later ([`issue_for_request`]); records of
//! binding v1 (sealed with their certificate) keep opening. Boxes signed before the database
//! kept records in `keys/hocba-signer-{account}.json`: [`legacy_signer_files`] reads those once.

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
    #[error("{0}")]
    WeakPin(super::seal::WeakPin),
    #[error("Mã PIN ký không đúng.")]
    WrongPin,
    #[error("Khoá ký học bạ đã lưu bị hỏng ({0}); hãy cấp chứng thư mới.")]
    Damaged(String),
    #[error(
        "Bạn chưa có chứng thư ký học bạ — xin cấp ở trang Chứng thư ký học bạ (/grades/hocba-signer)."
    )]
    NoSigner,
    #[error("Không tạo được chứng thư: {0}")]
    Certificate(String),
    #[error("Không đọc/ghi được tệp khoá: {0}")]
    Io(#[from] std::io::Error),
}

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

/// The school signing CA, opened in memory for one issuing.
pub struct SigningCa {
    key: SigningKey,
    pub cert: Certificate,
}

impl SigningCa {
    pub fn cert_der(&self) -> Vec<u8> {
        self.cert.to_der().expect("a parsed certificate encodes")
    }

    /// SHA-256 of the certificate (DER), hex: which CA a sealed key or a wrap belongs to.
    pub fn cert_sha256(&self) -> String {
        cert_sha256(&self.cert)
    }
}

/// SHA-256 of a certificate's DER, hex.
pub fn cert_sha256(cert: &Certificate) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(
        cert.to_der().expect("a parsed certificate encodes"),
    ))
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

/// How far a new certificate's start is set back from the moment it is made ([`validity`]):
/// a renewal's moment is its new CA's start plus this ([`retirements`]).
pub const START_BACK: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

pub(super) fn validity(now: jiff::Timestamp, years: i64) -> Result<Validity, SigningError> {
    let to_time = |t: jiff::Timestamp| {
        let st = std::time::SystemTime::from(t);
        Time::try_from(st).map_err(|e| SigningError::Certificate(e.to_string()))
    };
    // A few minutes back, so a clock a little behind another's still sees the certificate valid.
    let start = now - START_BACK;
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

/// A new school signing CA (`school` names it), in memory: the caller writes its certificate
/// ([`write_ca_cert`]) and stores its key sealed ([`seal_ca`]) — never in a file.
pub fn new_ca(school: &str, now: jiff::Timestamp) -> Result<SigningCa, SigningError> {
    new_ca_generation(school, 1, now)
}

/// The school's `generation`-th signing CA (a renewal or a recovery makes the next one): the
/// same name constraints, its own key and validity, and a name of its own — "… — CA ký số học
/// bạ (2)" — so every checker (pdfsig, pyHanko, the hub) tells it from the CAs before it, which
/// stay trusted for what was signed under them.
pub fn new_ca_generation(
    school: &str,
    generation: usize,
    now: jiff::Timestamp,
) -> Result<SigningCa, SigningError> {
    let key = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let cn = if generation > 1 {
        format!("{school} — CA ký số học bạ ({generation})")
    } else {
        format!("{school} — CA ký số học bạ")
    };
    let subject = name(&[(C, "VN"), (O, school), (CN, &cn)])?;
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
    Ok(SigningCa { key, cert })
}

/// Which of the school's signing CAs `cert` is: the N its name ends in ("… (N)",
/// [`new_ca_generation`]), 1 for the first (no number). A number never changes meaning: a later
/// renewal makes the next one.
pub fn ca_generation(cert: &Certificate) -> usize {
    name_part(&cert.tbs_certificate.subject, CN)
        .and_then(|cn| {
            let inner = cn.strip_suffix(')')?;
            let (_, n) = inner.rsplit_once('(')?;
            n.parse().ok()
        })
        .unwrap_or(1)
}

/// The file name every export gives the school's `cert` (`ca-ky-so-cua-truong-N.crt`, N its
/// [`ca_generation`]): the records archive's `chung-thu/`, the học bạ class export, the
/// README's `--trust`/`--ca` examples — a name that keeps its meaning after later renewals
/// (review r17 #9). The current CA is also exported under the stable [`CURRENT_CA_FILE`].
pub fn ca_file_name(cert: &Certificate) -> String {
    format!("ca-ky-so-cua-truong-{}.crt", ca_generation(cert))
}

/// The name the current CA is also exported under: whichever CA is current when exported.
pub const CURRENT_CA_FILE: &str = "ca-ky-so-cua-truong.crt";

/// Writes the CA certificate, the public trust anchor, to `keys/signing-ca.crt`.
pub fn write_ca_cert(data_dir: &Path, cert: &Certificate) -> Result<(), SigningError> {
    let cert_pem = cert
        .to_pem(LineEnding::LF)
        .map_err(|e| SigningError::Certificate(e.to_string()))?;
    crate::config::write_atomic(&ca_cert_path(data_dir), cert_pem.as_bytes())?;
    Ok(())
}

/// The CA certificate if this box has one: what verification anchors to. Opening the CA's key
/// is another matter ([`open_ca`], through a holder's PIN).
pub fn ca_cert(data_dir: &Path) -> Result<Option<Certificate>, SigningError> {
    match std::fs::read_to_string(ca_cert_path(data_dir)) {
        Ok(pem) => cert_from_pem(&pem)
            .map(Some)
            .map_err(|e| SigningError::Damaged(format!("signing-ca.crt: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Where the school's earlier signing CA certificates are kept (a PEM bundle, newest first):
/// each one replaced by a renewal or a recovery (`gradebook::hocba::ca::renew`), still trusted
/// for verifying what was signed under it, never used to issue. Public, like `signing-ca.crt`,
/// and carried by backups with `keys/`.
pub fn previous_ca_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("signing-ca-previous.pem")
}

/// The school's earlier signing CA certificates, newest first (none before a first renewal).
pub fn previous_ca_certs(data_dir: &Path) -> Result<Vec<Certificate>, SigningError> {
    match std::fs::read_to_string(previous_ca_path(data_dir)) {
        Ok(pem) => Ok(super::roots::pem_certs(&pem)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// Every signing CA certificate of the school: the current one first, then the earlier ones,
/// newest first, each once — what verification anchors to, what the exports and the hub get.
pub fn ca_certs(data_dir: &Path) -> Result<Vec<Certificate>, SigningError> {
    let mut out: Vec<Certificate> = ca_cert(data_dir)?.into_iter().collect();
    for c in previous_ca_certs(data_dir)? {
        if !out.iter().any(|o| cert_sha256(o) == cert_sha256(&c)) {
            out.push(c);
        }
    }
    Ok(out)
}

/// Every signing CA certificate of the school as one PEM bundle, current first.
pub fn ca_certs_pem(data_dir: &Path) -> Result<String, SigningError> {
    let mut pem = String::new();
    for c in ca_certs(data_dir)? {
        pem += &c
            .to_pem(LineEnding::LF)
            .map_err(|e| SigningError::Certificate(e.to_string()))?;
    }
    Ok(pem)
}

/// Keeps `cert` among the earlier CAs (first, the newest), once: written before a renewal is
/// committed, so a power cut leaves it trusted either way.
pub fn retire_ca_cert(data_dir: &Path, cert: &Certificate) -> Result<(), SigningError> {
    let mut certs = previous_ca_certs(data_dir)?;
    if certs.iter().any(|c| cert_sha256(c) == cert_sha256(cert)) {
        return Ok(());
    }
    certs.insert(0, cert.clone());
    let mut pem = String::new();
    for c in &certs {
        pem += &c
            .to_pem(LineEnding::LF)
            .map_err(|e| SigningError::Certificate(e.to_string()))?;
    }
    crate::config::write_atomic(&previous_ca_path(data_dir), pem.as_bytes())?;
    Ok(())
}

/// When a certificate stops being valid.
pub fn not_after(cert: &Certificate) -> Option<jiff::Timestamp> {
    jiff::Timestamp::try_from(cert.tbs_certificate.validity.not_after.to_system_time()).ok()
}

/// How long before the CA certificate's end the signer page, the admin page and `tram hocba ca
/// status` warn that it needs renewing.
pub const CA_WARN_DAYS: i64 = 90;

/// How long before a signer certificate's end (five years after it was issued) its holder's
/// pages, the BGH's signer page, the log and `tram hocba ca status` warn: as for the CA.
pub const SIGNER_WARN_DAYS: i64 = CA_WARN_DAYS;

/// When each of the school's signing CAs `cas` was retired — replaced by a renewal or a
/// recovery — or `None` for the one still in use (and any the list cannot date): the moment the
/// next CA of the same school was made, its start plus [`START_BACK`], which is the moment the
/// renewal row (`gradebook::hocba::ca::RENEWALS`) records. Read from the certificates alone, so
/// the box, `tram hocba verify` and the hub (which holds every CA the box relayed) date a
/// retirement the same way with nothing more sent (review r17 #1).
pub fn retirements(cas: &[Certificate]) -> Vec<Option<jiff::Timestamp>> {
    let start = |c: &Certificate| {
        jiff::Timestamp::try_from(c.tbs_certificate.validity.not_before.to_system_time()).ok()
    };
    cas.iter()
        .map(|c| {
            let (org, from) = (ca_organisation(c), start(c)?);
            // The CA that replaced it is the next generation; a later one's start is no bound
            // when that one is not in the list (`missing_successors`; review r22 #7: `--ca 1
            // --ca 3` dated CA 1's retirement by CA 3's start).
            let next = ca_generation(c) + 1;
            cas.iter()
                .filter(|n| *n != c && ca_organisation(n) == org && ca_generation(n) == next)
                .filter_map(start)
                .filter(|t| *t > from)
                .min()
                .map(|t| t + START_BACK)
        })
        .collect()
}

/// For each of `cas`, the generation of the school's CA that replaced it when that one is not
/// among `cas` although a later one of the same school is: its cut-off ([`retirements`]) is
/// then unknown — the later CA's start is no bound (review r19 #10: `--ca 1 --ca 3` without 2).
/// None when the successor is there, or nothing later is.
pub fn missing_successors(cas: &[Certificate]) -> Vec<Option<usize>> {
    cas.iter()
        .map(|c| {
            let (org, n) = (ca_organisation(c), ca_generation(c));
            let same: Vec<usize> = cas
                .iter()
                .filter(|o| ca_organisation(o) == org)
                .map(ca_generation)
                .collect();
            (same.iter().any(|g| *g > n + 1) && !same.contains(&(n + 1))).then_some(n + 1)
        })
        .collect()
}

/// Days left before `cert` ends (negative once it has), when its end is readable.
pub fn days_left(cert: &Certificate, now: jiff::Timestamp) -> Option<i64> {
    not_after(cert).map(|end| (end.as_second() - now.as_second()).div_euclid(86_400))
}

/// A certificate for `rec`'s own key pair from `ca`: a renewal re-issues every signer of the
/// school CA whose key is bound to its public key (binding v2) at once, so no PIN is needed —
/// same key, same sealed form, a new certificate. `None` for a record whose key is bound to its
/// certificate (binding v1, sealed before requests existed) or imported from a licensed CA: the
/// first must ask for a new certificate, the second is not the school CA's to renew.
pub fn reissue(
    ca: &SigningCa,
    rec: &SignerRecord,
    now: jiff::Timestamp,
) -> Result<Option<SignerRecord>, SigningError> {
    if rec.binding != 2 || !rec.chain.is_empty() {
        return Ok(None);
    }
    let der = hex::decode(&rec.cert)
        .map_err(|_| SigningError::Damaged(format!("certificate of {}", rec.account)))?;
    let cert = Certificate::from_der(&der)
        .map_err(|_| SigningError::Damaged(format!("certificate of {}", rec.account)))?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| SigningError::Certificate(e.to_string()))?;
    let req = SignerRequest {
        account: rec.account.clone(),
        full_name: rec.full_name.clone(),
        role: rec.role.clone(),
        public_key: hex::encode(spki),
        salt: rec.salt.clone(),
        nonce: rec.nonce.clone(),
        sealed: rec.sealed.clone(),
        requested_at: now.to_string(),
        kdf: rec.kdf,
        ca_pin: rec.ca_pin,
    };
    issue_for_request(ca, &req, now).map(Some)
}

/// The CA as an earlier version kept it, its key plain in `keys/signing-ca.key`, if that file
/// is still there: read only to seal it (`gradebook::hocba::seal_plain_ca`) or to issue the
/// very first certificate of the Ban giám hiệu.
pub fn plain_ca_key(data_dir: &Path) -> Result<Option<SigningCa>, SigningError> {
    let key_pem = match std::fs::read_to_string(ca_key_path(data_dir)) {
        Ok(k) => k,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let cert = ca_cert(data_dir)?
        .ok_or_else(|| SigningError::Damaged("signing-ca.key without signing-ca.crt".into()))?;
    let key = SigningKey::from_pkcs8_pem(&key_pem)
        .map_err(|e| SigningError::Damaged(format!("signing-ca.key: {e}")))?;
    if cert.tbs_certificate.subject_public_key_info != spki(&key)? {
        return Err(SigningError::Damaged(
            "signing-ca.key is not the key of signing-ca.crt".into(),
        ));
    }
    Ok(Some(SigningCa { key, cert }))
}

/// Whether the plain key file of an earlier version is still there.
pub fn plain_ca_key_present(data_dir: &Path) -> bool {
    ca_key_path(data_dir).exists()
}

/// Destroys the plain CA key file once its sealed form is committed: overwritten with zeros and
/// flushed, removed, and the directory flushed, so a power cut leaves either the file (removed
/// at the next start) or nothing. `false` when there was none.
pub fn remove_plain_ca_key(data_dir: &Path) -> std::io::Result<bool> {
    use std::io::Write;
    let path = ca_key_path(data_dir);
    let len = match std::fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    {
        let mut f = std::fs::OpenOptions::new().write(true).open(&path)?;
        f.write_all(&vec![0u8; len as usize])?;
        f.sync_all()?;
    }
    std::fs::remove_file(&path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(true)
}

/// The CA's private key (PKCS#8) encrypted under a data key, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SealedCa {
    /// SHA-256 of the CA certificate (DER), hex.
    pub cert_sha256: String,
    /// ChaCha20-Poly1305 nonce, hex.
    pub nonce: String,
    /// The PKCS#8 key encrypted under the data key, hex.
    pub sealed: String,
    pub sealed_at: String,
}

/// The data key a sealed CA opens with: 32 random bytes, only ever in memory.
pub struct DataKey([u8; 32]);

impl DataKey {
    fn cipher(&self) -> chacha20poly1305::ChaCha20Poly1305 {
        use chacha20poly1305::aead::KeyInit;
        chacha20poly1305::ChaCha20Poly1305::new((&self.0).into())
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        self.0 = [0; 32];
    }
}

fn ca_aad(cert_sha256: &str) -> Vec<u8> {
    format!("tram signing ca v1\n{cert_sha256}").into_bytes()
}

/// Seals the CA's key under a new random data key; the caller wraps the data key to each
/// holder and stores all of it in one transaction.
pub fn seal_ca(ca: &SigningCa, now: jiff::Timestamp) -> Result<(SealedCa, DataKey), SigningError> {
    let data_key = DataKey(rand::random());
    let pkcs8 = ca
        .key
        .to_pkcs8_der()
        .map_err(|e| SigningError::Certificate(e.to_string()))?;
    let digest = ca.cert_sha256();
    let (nonce, sealed) = super::seal::seal(&data_key.cipher(), pkcs8.as_bytes(), &ca_aad(&digest));
    Ok((
        SealedCa {
            cert_sha256: digest,
            nonce: hex::encode(nonce),
            sealed: hex::encode(sealed),
            sealed_at: now.to_string(),
        },
        data_key,
    ))
}

/// Opens the sealed CA with its data key; the key must be `cert`'s.
pub fn open_ca(
    cert: &Certificate,
    sealed: &SealedCa,
    data_key: &DataKey,
) -> Result<SigningCa, SigningError> {
    let damaged = |what: &str| SigningError::Damaged(format!("sealed signing CA: {what}"));
    let digest = cert_sha256(cert);
    if sealed.cert_sha256 != digest {
        return Err(damaged("sealed for another CA certificate"));
    }
    let nonce: [u8; 12] = hex::decode(&sealed.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| damaged("nonce"))?;
    let ct = hex::decode(&sealed.sealed).map_err(|_| damaged("key"))?;
    let plain = super::seal::open(&data_key.cipher(), &nonce, &ct, &ca_aad(&digest))
        .ok_or_else(|| damaged("does not open with this data key"))?;
    let key = SigningKey::from_pkcs8_der(&plain).map_err(|_| damaged("key"))?;
    if cert.tbs_certificate.subject_public_key_info != spki(&key)? {
        return Err(damaged("not the certificate's key"));
    }
    Ok(SigningCa {
        key,
        cert: cert.clone(),
    })
}

/// The data key wrapped to one holder's public key, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaWrap {
    /// SHA-256 of the CA certificate this wrap opens, hex.
    pub ca_sha256: String,
    /// SHA-256 of the holder's public key (SubjectPublicKeyInfo DER), hex: a new certificate
    /// with a new key needs a new wrap.
    pub holder_key: String,
    /// "p256-ecies" or "rsa-oaep-sha256".
    pub scheme: String,
    /// ECIES: the ephemeral public key (SEC1, uncompressed), hex; empty for RSA.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ephemeral: String,
    /// ECIES: the ChaCha20-Poly1305 nonce, hex; empty for RSA.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub nonce: String,
    /// The wrapped data key, hex.
    pub wrapped: String,
    pub wrapped_at: String,
}

const ECIES: &str = "p256-ecies";
const RSA_OAEP: &str = "rsa-oaep-sha256";

/// What a wrap is bound to: the account it belongs to and the CA it opens, so a wrap copied to
/// another account's row, or kept across a new CA, does not open.
fn wrap_aad(account: &str, ca_sha256: &str) -> String {
    format!("tram signing ca wrap v1\n{account}\n{ca_sha256}")
}

/// SHA-256 of a public key (SubjectPublicKeyInfo DER), hex.
pub fn spki_sha256(spki: &SubjectPublicKeyInfoOwned) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(
        spki.to_der().expect("a parsed public key encodes"),
    ))
}

fn ecies_key(
    shared: &[u8],
    ephemeral: &[u8],
    recipient: &[u8],
) -> chacha20poly1305::ChaCha20Poly1305 {
    use chacha20poly1305::aead::KeyInit;
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, shared);
    let mut info = b"tram signing ca wrap ecies v1".to_vec();
    info.extend_from_slice(ephemeral);
    info.extend_from_slice(recipient);
    let mut key = [0u8; 32];
    hk.expand(&info, &mut key)
        .expect("32 bytes is a valid HKDF-SHA256 length");
    chacha20poly1305::ChaCha20Poly1305::new((&key).into())
}

/// Wraps the data key to `account`'s public key (from her signer certificate) — no PIN needed.
pub fn wrap_data_key(
    data_key: &DataKey,
    holder: &SubjectPublicKeyInfoOwned,
    account: &str,
    ca_sha256: &str,
    now: jiff::Timestamp,
) -> Result<CaWrap, SigningError> {
    use p256::pkcs8::DecodePublicKey;
    let der = holder
        .to_der()
        .map_err(|e| SigningError::Certificate(e.to_string()))?;
    let aad = wrap_aad(account, ca_sha256);
    let mut wrap = CaWrap {
        ca_sha256: ca_sha256.into(),
        holder_key: spki_sha256(holder),
        scheme: String::new(),
        ephemeral: String::new(),
        nonce: String::new(),
        wrapped: String::new(),
        wrapped_at: now.to_string(),
    };
    if let Ok(pk) = p256::PublicKey::from_public_key_der(&der) {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let eph = p256::ecdh::EphemeralSecret::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let eph_pub = eph.public_key().to_encoded_point(false);
        let shared = eph.diffie_hellman(&pk);
        let recipient = pk.to_encoded_point(false);
        let cipher = ecies_key(
            shared.raw_secret_bytes(),
            eph_pub.as_bytes(),
            recipient.as_bytes(),
        );
        let (nonce, ct) = super::seal::seal(&cipher, &data_key.0, aad.as_bytes());
        wrap.scheme = ECIES.into();
        wrap.ephemeral = hex::encode(eph_pub.as_bytes());
        wrap.nonce = hex::encode(nonce);
        wrap.wrapped = hex::encode(ct);
    } else if let Ok(pk) = rsa::RsaPublicKey::from_public_key_der(&der) {
        let ct = pk
            .encrypt(
                &mut rand_core_06(),
                rsa::Oaep::new_with_label::<sha2::Sha256, _>(aad),
                &data_key.0,
            )
            .map_err(|e| SigningError::Certificate(e.to_string()))?;
        wrap.scheme = RSA_OAEP.into();
        wrap.wrapped = hex::encode(ct);
    } else {
        return Err(SigningError::Certificate(
            "the holder's key is neither P-256 nor RSA".into(),
        ));
    }
    Ok(wrap)
}

fn rand_core_06() -> p256::elliptic_curve::rand_core::OsRng {
    p256::elliptic_curve::rand_core::OsRng
}

/// Opens a wrap with the holder's private key (opened by her PIN). `account` and `ca_sha256`
/// are where the wrap was found and which CA it should open, never what the wrap says: a wrap
/// moved to another row or kept from another CA does not open.
pub fn unwrap_data_key(
    key: &SignerKey,
    wrap: &CaWrap,
    account: &str,
    ca_sha256: &str,
) -> Result<DataKey, SigningError> {
    let refused = || SigningError::Damaged("the signing CA's wrap does not open".into());
    let aad = wrap_aad(account, ca_sha256);
    let wrapped = hex::decode(&wrap.wrapped).map_err(|_| refused())?;
    let plain = match (wrap.scheme.as_str(), key) {
        (ECIES, SignerKey::P256(k)) => {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            let eph_bytes = hex::decode(&wrap.ephemeral).map_err(|_| refused())?;
            let eph = p256::PublicKey::from_sec1_bytes(&eph_bytes).map_err(|_| refused())?;
            let secret = p256::SecretKey::from_bytes(&k.to_bytes()).map_err(|_| refused())?;
            let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), eph.as_affine());
            let recipient = secret.public_key().to_encoded_point(false);
            let cipher = ecies_key(shared.raw_secret_bytes(), &eph_bytes, recipient.as_bytes());
            let nonce: [u8; 12] = hex::decode(&wrap.nonce)
                .ok()
                .and_then(|n| n.try_into().ok())
                .ok_or_else(refused)?;
            super::seal::open(&cipher, &nonce, &wrapped, aad.as_bytes()).ok_or_else(refused)?
        }
        (RSA_OAEP, SignerKey::Rsa(k)) => {
            let private: &rsa::RsaPrivateKey = (**k).as_ref();
            private
                .decrypt(rsa::Oaep::new_with_label::<sha2::Sha256, _>(aad), &wrapped)
                .map_err(|_| refused())?
        }
        _ => return Err(refused()),
    };
    let bytes: [u8; 32] = plain.try_into().map_err(|_| refused())?;
    Ok(DataKey(bytes))
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
    /// What the sealed key is bound to: 1 (absent) its certificate — records sealed with the
    /// certificate at hand —, 2 its public key (the key pair made before the certificate, by a
    /// request [`request_key`]).
    #[serde(default = "binding_v1", skip_serializing_if = "is_binding_v1")]
    pub binding: u8,
    /// The stretch the key was sealed with; absent: argon2's defaults (`pki::seal::LEGACY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kdf: Option<super::seal::Kdf>,
    /// Whether the PIN the key is sealed under has [`super::seal::MIN_CA_PIN`] digits or more:
    /// only such a key is given a new wrap of the school signing CA (`hocba::ca::sync_wraps`,
    /// review r17 #2). Absent: sealed before this was recorded — set at the next right PIN
    /// ([`reseal`]). Only whether, never the length itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pin: Option<bool>,
}

fn binding_v1() -> u8 {
    1
}

fn is_binding_v1(b: &u8) -> bool {
    *b == 1
}

fn aad(account: &str, cert_hex: &str) -> Vec<u8> {
    let digest = blake3::hash(cert_hex.as_bytes());
    format!("tram hocba signer v1\n{account}\n{digest}").into_bytes()
}

/// Binding v2: the sealed key bound to its account and its public key (SPKI DER, hex).
fn aad_v2(account: &str, spki_hex: &str) -> Vec<u8> {
    let digest = blake3::hash(spki_hex.as_bytes());
    format!("tram hocba signer v2\n{account}\n{digest}").into_bytes()
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

/// A certificate request: a key pair made on the box, its private key sealed under the
/// requester's PIN at once (binding v2), waiting for a holder of the CA to issue its certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignerRequest {
    pub account: String,
    pub full_name: String,
    /// The role the certificate will name — what the account is, never what a form claimed.
    pub role: String,
    /// The public key (SubjectPublicKeyInfo DER), hex.
    pub public_key: String,
    pub salt: String,
    pub nonce: String,
    pub sealed: String,
    pub requested_at: String,
    /// The stretch the key was sealed with; absent: argon2's defaults (`pki::seal::LEGACY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kdf: Option<super::seal::Kdf>,
    /// As [`SignerRecord::ca_pin`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pin: Option<bool>,
}

/// Whether `role` (a certificate's) is the principal's or a vice principal's: their key may
/// hold a wrap of the school signing CA, so its PIN follows [`super::seal::check_ca_pin`].
pub fn is_head_role(role: &str) -> bool {
    matches!(role, "Hiệu trưởng" | "Phó hiệu trưởng")
}

/// The rule of a new PIN for a key of `role`: the Ban giám hiệu's [`super::seal::MIN_CA_PIN`]
/// digits too (review r17 #2) — checked by every path that seals a key, so no form or command
/// can give the CA to a short PIN.
pub fn check_pin_for(role: &str, pin: &str) -> Result<(), SigningError> {
    if is_head_role(role) {
        super::seal::check_ca_pin(pin)
    } else {
        super::seal::check_new_pin(pin)
    }
    .map_err(SigningError::WeakPin)
}

/// Makes a P-256 key pair for `who` and seals its private key under `pin` (binding v2).
pub fn request_key(
    who: &SignerName<'_>,
    pin: &str,
    now: jiff::Timestamp,
) -> Result<SignerRequest, SigningError> {
    check_pin_for(who.role, pin)?;
    let key = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let spki_hex = hex::encode(
        spki(&key)?
            .to_der()
            .map_err(|e| SigningError::Certificate(e.to_string()))?,
    );
    let pkcs8 = key
        .to_pkcs8_der()
        .map_err(|e| SigningError::Certificate(e.to_string()))?;
    let salt: [u8; 16] = rand::random();
    let (nonce, sealed) = super::seal::seal(
        &super::seal::cipher_for(pin, &salt),
        pkcs8.as_bytes(),
        &aad_v2(who.account, &spki_hex),
    );
    Ok(SignerRequest {
        account: who.account.into(),
        full_name: who.full_name.into(),
        role: who.role.into(),
        public_key: spki_hex,
        salt: hex::encode(salt),
        nonce: hex::encode(nonce),
        sealed: hex::encode(sealed),
        requested_at: now.to_string(),
        kdf: Some(super::seal::KDF),
        ca_pin: Some(super::seal::ca_pin_ok(pin)),
    })
}

/// Issues the certificate a request asked for, for its public key, by the opened CA: the
/// signer record the gradebook stores (replacing an earlier one: what the old key signed stays
/// valid, its certificate travels in each signature).
pub fn issue_for_request(
    ca: &SigningCa,
    req: &SignerRequest,
    now: jiff::Timestamp,
) -> Result<SignerRecord, SigningError> {
    let damaged = |what: &str| SigningError::Damaged(format!("certificate request: {what}"));
    let spki_der = hex::decode(&req.public_key).map_err(|_| damaged("public key"))?;
    let public =
        SubjectPublicKeyInfoOwned::from_der(&spki_der).map_err(|_| damaged("public key"))?;
    let school = ca_organisation(&ca.cert).unwrap_or_default();
    let subject = name(&[
        (C, "VN"),
        (O, &school),
        (OU, &req.role),
        (TITLE, &req.role),
        (CN, &req.full_name),
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
        public,
        &ca.key,
    )
    .map_err(|e| SigningError::Certificate(e.to_string()))?;
    let cert = builder
        .build::<DerSignature>()
        .map_err(|e| SigningError::Certificate(e.to_string()))?;
    let cert_der = cert
        .to_der()
        .map_err(|e| SigningError::Certificate(e.to_string()))?;
    Ok(SignerRecord {
        account: req.account.clone(),
        full_name: req.full_name.clone(),
        role: req.role.clone(),
        cert: hex::encode(cert_der),
        salt: req.salt.clone(),
        nonce: req.nonce.clone(),
        sealed: req.sealed.clone(),
        created_at: now.to_string(),
        chain: Vec::new(),
        binding: 2,
        kdf: req.kdf,
        ca_pin: req.ca_pin,
    })
}

/// Issues a certificate for `full_name` in `role` with a new key sealed under `pin`, at once
/// (the caller opened the CA): [`request_key`] then [`issue_for_request`].
pub fn issue_signer(
    ca: &SigningCa,
    account: &str,
    full_name: &str,
    role: &str,
    pin: &str,
    now: jiff::Timestamp,
) -> Result<SignerRecord, SigningError> {
    let who = SignerName {
        account,
        full_name,
        role,
    };
    issue_for_request(ca, &request_key(&who, pin, now)?, now)
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
    check_pin_for(who.role, pin)?;
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
        binding: 1,
        kdf: Some(super::seal::KDF),
        ca_pin: Some(super::seal::ca_pin_ok(pin)),
    })
}

/// What a record's sealed key is bound to (its AAD).
fn binding_of(rec: &SignerRecord, cert: &Certificate) -> Result<Vec<u8>, SigningError> {
    let damaged = |what: &str| SigningError::Damaged(what.to_string());
    Ok(match rec.binding {
        1 => aad(&rec.account, &rec.cert),
        2 => aad_v2(
            &rec.account,
            &hex::encode(
                cert.tbs_certificate
                    .subject_public_key_info
                    .to_der()
                    .map_err(|_| damaged("public key"))?,
            ),
        ),
        _ => return Err(damaged("unknown key binding")),
    })
}

/// The sealed PKCS#8 opened with the PIN, with the stretch the record was sealed with.
fn open_sealed(
    rec: &SignerRecord,
    pin: &str,
) -> Result<(Vec<u8>, Certificate, Vec<u8>), SigningError> {
    let damaged = |what: &str| SigningError::Damaged(what.to_string());
    let salt = hex::decode(&rec.salt).map_err(|_| damaged("salt"))?;
    let nonce: [u8; 12] = hex::decode(&rec.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| damaged("nonce"))?;
    let sealed = hex::decode(&rec.sealed).map_err(|_| damaged("sealed key"))?;
    let cert_der = hex::decode(&rec.cert).map_err(|_| damaged("certificate"))?;
    let cert = Certificate::from_der(&cert_der).map_err(|_| damaged("certificate"))?;
    let binding = binding_of(rec, &cert)?;
    let plain = super::seal::open(
        &super::seal::cipher_with(pin, &salt, super::seal::kdf_of(rec.kdf)),
        &nonce,
        &sealed,
        &binding,
    )
    .ok_or(SigningError::WrongPin)?;
    Ok((plain, cert, cert_der))
}

/// The record sealed again under today's stretch ([`super::seal::KDF`]) — same key, binding and
/// certificate, a new salt and nonce —, or only with [`SignerRecord::ca_pin`] learnt from the
/// PIN when it was not recorded yet, or `None` when nothing changes. A wrong PIN is
/// [`SigningError::WrongPin`]; the caller stores the new record after a right one.
pub fn reseal(rec: &SignerRecord, pin: &str) -> Result<Option<SignerRecord>, SigningError> {
    let ca_pin = Some(super::seal::ca_pin_ok(pin));
    if rec.kdf == Some(super::seal::KDF) && rec.ca_pin == ca_pin {
        return Ok(None);
    }
    let (plain, cert, _) = open_sealed(rec, pin)?;
    if rec.kdf == Some(super::seal::KDF) {
        return Ok(Some(SignerRecord {
            ca_pin,
            ..rec.clone()
        }));
    }
    let salt: [u8; 16] = rand::random();
    let (nonce, sealed) = super::seal::seal(
        &super::seal::cipher_for(pin, &salt),
        &plain,
        &binding_of(rec, &cert)?,
    );
    Ok(Some(SignerRecord {
        salt: hex::encode(salt),
        nonce: hex::encode(nonce),
        sealed: hex::encode(sealed),
        kdf: Some(super::seal::KDF),
        ca_pin,
        ..rec.clone()
    }))
}

/// The same key sealed under a new PIN (`new`, held to the rule of its role,
/// [`check_pin_for`]) after the current one opened it: same certificate and binding, so a
/// wrap of the school signing CA to its public key keeps opening. A wrong current PIN is
/// [`SigningError::WrongPin`].
pub fn change_pin(
    rec: &SignerRecord,
    current: &str,
    new: &str,
) -> Result<SignerRecord, SigningError> {
    check_pin_for(&rec.role, new)?;
    let (plain, cert, _) = open_sealed(rec, current)?;
    let salt: [u8; 16] = rand::random();
    let (nonce, sealed) = super::seal::seal(
        &super::seal::cipher_for(new, &salt),
        &plain,
        &binding_of(rec, &cert)?,
    );
    Ok(SignerRecord {
        salt: hex::encode(salt),
        nonce: hex::encode(nonce),
        sealed: hex::encode(sealed),
        kdf: Some(super::seal::KDF),
        ca_pin: Some(super::seal::ca_pin_ok(new)),
        ..rec.clone()
    })
}

/// Opens a signer's key with the PIN (argon2id with the record's parameters: ~0.35 s of CPU for
/// today's).
pub fn unlock(rec: &SignerRecord, pin: &str) -> Result<Signer, SigningError> {
    let damaged = |what: &str| SigningError::Damaged(what.to_string());
    let (plain, cert, cert_der) = open_sealed(rec, pin)?;
    let key = SignerKey::from_pkcs8(&plain).ok_or_else(|| damaged("private key"))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn holder_p256() -> SignerKey {
        SignerKey::P256(SigningKey::random(
            &mut p256::elliptic_curve::rand_core::OsRng,
        ))
    }

    fn holder_rsa() -> SignerKey {
        // 1024 bits keeps a debug-build test quick; the scheme is the same at 2048.
        let k = rsa::RsaPrivateKey::new(&mut p256::elliptic_curve::rand_core::OsRng, 1024).unwrap();
        SignerKey::Rsa(Box::new(rsa::pkcs1v15::SigningKey::new(k)))
    }

    /// Review r19 #10: CA 1 and CA 3 without CA 2 — CA 1's cut-off is unknown (CA 3's start is
    /// no bound); with CA 2 given, or CA 1 alone, nothing is missing.
    #[test]
    fn a_missing_middle_ca_leaves_the_earlier_ones_cut_off_unknown() {
        let now = jiff::Timestamp::now();
        let ca = |n| new_ca_generation("THCS Thử", n, now).unwrap().cert;
        let (one, two, three) = (ca(1), ca(2), ca(3));
        assert_eq!(
            missing_successors(&[three.clone(), one.clone()]),
            [None, Some(2)]
        );
        assert_eq!(
            missing_successors(&[three, two, one.clone()]),
            [None, None, None]
        );
        assert_eq!(missing_successors(&[one]), [None]);
    }

    #[test]
    fn a_wrap_opens_only_with_its_holders_key_account_and_ca() {
        let now = jiff::Timestamp::now();
        let ca = new_ca("THCS Thử", now).unwrap();
        let (sealed, data_key) = seal_ca(&ca, now).unwrap();
        let digest = ca.cert_sha256();
        for (holder, other) in [
            (holder_p256(), holder_p256()),
            (holder_rsa(), holder_rsa()),
            (holder_p256(), holder_rsa()),
        ] {
            let wrap =
                wrap_data_key(&data_key, &holder.spki().unwrap(), "ht", &digest, now).unwrap();
            assert_eq!(wrap.holder_key, spki_sha256(&holder.spki().unwrap()));
            let opened = unwrap_data_key(&holder, &wrap, "ht", &digest).unwrap();
            let reopened = open_ca(&ca.cert, &sealed, &opened).unwrap();
            assert_eq!(reopened.cert_der(), ca.cert_der());
            // Another person's key, the wrap moved to another account's row, another CA.
            assert!(unwrap_data_key(&other, &wrap, "ht", &digest).is_err());
            assert!(unwrap_data_key(&holder, &wrap, "pht", &digest).is_err());
            assert!(unwrap_data_key(&holder, &wrap, "ht", &"0".repeat(64)).is_err());
        }
        // The sealed key does not open under another data key, nor for another certificate.
        let (_, other_key) = seal_ca(&ca, now).unwrap();
        assert!(open_ca(&ca.cert, &sealed, &other_key).is_err());
        let other_ca = new_ca("THCS Khác", now).unwrap();
        assert!(open_ca(&other_ca.cert, &sealed, &data_key).is_err());
    }

    #[test]
    fn a_record_sealed_with_the_old_stretch_opens_and_is_sealed_again() {
        use super::super::seal::{KDF, LEGACY, cipher_with};
        let now = jiff::Timestamp::now();
        let ca = new_ca("THCS Thử", now).unwrap();
        let who = SignerName {
            account: "gv-1",
            full_name: "Cô Lan",
            role: "Giáo viên chủ nhiệm",
        };
        let rec =
            issue_for_request(&ca, &request_key(&who, "58203947", now).unwrap(), now).unwrap();
        assert_eq!(rec.kdf, Some(KDF));
        // The same key as an earlier version stored it: argon2's defaults, no parameters.
        let (plain, cert, _) = open_sealed(&rec, "58203947").unwrap();
        let salt = [3u8; 16];
        let (nonce, sealed) = super::super::seal::seal(
            &cipher_with("58203947", &salt, LEGACY),
            &plain,
            &binding_of(&rec, &cert).unwrap(),
        );
        let old = SignerRecord {
            salt: hex::encode(salt),
            nonce: hex::encode(nonce),
            sealed: hex::encode(sealed),
            kdf: None,
            ..rec.clone()
        };
        let json = serde_json::to_value(&old).unwrap();
        assert!(json.get("kdf").is_none(), "an old record's format");
        let old: SignerRecord = serde_json::from_value(json).unwrap();
        assert!(unlock(&old, "58203947").is_ok());
        assert!(matches!(
            reseal(&old, "58203948"),
            Err(SigningError::WrongPin)
        ));
        let new = reseal(&old, "58203947").unwrap().unwrap();
        assert_eq!(new.kdf, Some(KDF));
        assert_eq!(
            (&new.cert, &new.account, new.binding),
            (&old.cert, &old.account, 2)
        );
        assert_ne!(new.sealed, old.sealed);
        assert!(unlock(&new, "58203947").is_ok());
        assert!(unlock(&new, "58203948").is_err());
        assert!(reseal(&new, "58203947").unwrap().is_none(), "once");
    }

    #[test]
    fn a_requested_key_is_bound_to_its_public_key_and_old_records_still_open() {
        let now = jiff::Timestamp::now();
        let ca = new_ca("THCS Thử", now).unwrap();
        let who = SignerName {
            account: "gv-1",
            full_name: "Cô Lan",
            role: "Giáo viên chủ nhiệm",
        };
        assert!(matches!(
            request_key(&who, "123", now),
            Err(SigningError::WeakPin(_))
        ));
        assert!(matches!(
            request_key(&who, "123456", now),
            Err(SigningError::WeakPin(super::super::seal::WeakPin::Trivial))
        ));
        let req = request_key(&who, "58203947", now).unwrap();
        let rec = issue_for_request(&ca, &req, now).unwrap();
        assert_eq!(rec.binding, 2);
        let signer = unlock(&rec, "58203947").unwrap();
        assert_eq!(
            hex::encode(
                signer
                    .cert
                    .tbs_certificate
                    .subject_public_key_info
                    .to_der()
                    .unwrap()
            ),
            req.public_key
        );
        assert_eq!(
            signer.cert.tbs_certificate.issuer,
            ca.cert.tbs_certificate.subject
        );
        assert!(matches!(
            unlock(&rec, "58203948"),
            Err(SigningError::WrongPin)
        ));
        // The sealed key moved onto another account's record does not open.
        let moved = SignerRecord {
            account: "gv-2".into(),
            ..rec.clone()
        };
        assert!(matches!(
            unlock(&moved, "58203947"),
            Err(SigningError::WrongPin)
        ));
        // A record of binding v1 (sealed with its certificate) still opens.
        let key = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let v1 = seal_signer(
            &who,
            &hex::decode(&rec.cert).unwrap(),
            &[],
            key.to_pkcs8_der().unwrap().as_bytes(),
            "73016428",
            now,
        )
        .unwrap();
        assert_eq!(v1.binding, 1);
        let json = serde_json::to_value(&v1).unwrap();
        assert!(
            json.get("binding").is_none(),
            "v1 records keep their format"
        );
        let back: SignerRecord = serde_json::from_value(json).unwrap();
        // Opens (the key is not the certificate's here, which unlock then refuses as such).
        assert!(matches!(
            unlock(&back, "73016428"),
            Err(SigningError::Damaged(m)) if m.contains("differ")
        ));
        assert!(matches!(
            unlock(&back, "73016429"),
            Err(SigningError::WrongPin)
        ));
    }
}
