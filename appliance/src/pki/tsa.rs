//! RFC 3161 time-stamps: the district hub's time-stamping authority (its key and certificate,
//! the answer to a TimeStampReq) and the school's side (the request, the checks on the reply).
//!
//! No maintained crate for the TSP types was at hand (RustCrypto has no `x509-tsp` release in
//! this workspace's registry), so the few RFC 3161 structures are declared below with `der`'s
//! derive; the token itself is CMS SignedData built by RustCrypto `cms`, as the PAdES signatures
//! are. The TSA's certificate is its own (self-issued at hub init, ECDSA P-256, extendedKeyUsage
//! id-kp-timeStamping, critical — RFC 3161 2.3): a verifier takes it as the trust anchor of the
//! time-stamps, as it takes a school's signing CA for the signatures.

use std::path::{Path, PathBuf};

use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{EncapsulatedContentInfo, SignedData};
use der::asn1::{GeneralizedTime, Int, ObjectIdentifier, OctetString};
use der::{Decode, Encode, EncodePem, Sequence};
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use sha2::{Digest, Sha256};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::certificate::Certificate;
use x509_cert::ext::Extensions;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::spki::AlgorithmIdentifierOwned;

use super::pades::sha256_alg;
use super::signing::{name, serial, spki, validity};

#[derive(Debug, thiserror::Error)]
pub enum TsaError {
    #[error("time-stamp request unreadable: {0}")]
    BadRequest(String),
    #[error("time-stamp reply unusable: {0}")]
    BadReply(String),
    #[error("time-stamping key or certificate: {0}")]
    Key(String),
    #[error("time-stamping key files: {0}")]
    Io(#[from] std::io::Error),
}

impl TsaError {
    /// What is wrong with a token, without the heading of a request or reply ("time-stamp reply
    /// unusable: …"): a PDF's verification names the token in its own words.
    pub fn detail(&self) -> String {
        match self {
            TsaError::BadRequest(s) | TsaError::BadReply(s) | TsaError::Key(s) => s.clone(),
            TsaError::Io(e) => e.to_string(),
        }
    }
}

/// id-ct-TSTInfo (RFC 3161).
pub const ID_CT_TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// id-aa-signatureTimeStampToken (RFC 3161 appendix A), the unsigned attribute of PAdES B-T.
pub const ID_AA_SIGNATURE_TIME_STAMP_TOKEN: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.14");
const ID_KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
const ID_SHA_256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// The policy the hub's time-stamps are issued under when the district sets none: Trạm's own,
/// under ITU-T X.667's 2.25 arc (an integer any project may take without registering; this one
/// is fixed for Trạm, so every Trạm hub's tokens name the same policy: "time of receipt at the
/// district hub, clock as the hub's system clock"). A district with an arc of its own (an IANA
/// Private Enterprise Number 1.3.6.1.4.1.N, or one its Sở/Bộ assigns) sets [`POLICY_VAR`].
pub const DEFAULT_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.25.31612026");
/// The environment variable naming the hub's TSA policy OID (dotted), read at the hub's start.
pub const POLICY_VAR: &str = "TRAM_TSA_POLICY";

/// The TSA policy `value` names (dotted decimal), or [`DEFAULT_POLICY`] when none is set.
pub fn policy_from(value: Option<&str>) -> Result<ObjectIdentifier, TsaError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(DEFAULT_POLICY),
        Some(v) => ObjectIdentifier::new(v)
            .map_err(|e| TsaError::Key(format!("{POLICY_VAR}={v:?} is not an OID: {e}"))),
    }
}
/// The TSA's certificate outlives every signature it dates for a school's records.
const TSA_YEARS: i64 = 20;

/// MessageImprint (RFC 3161 2.4.1).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct MessageImprint {
    pub hash_algorithm: AlgorithmIdentifierOwned,
    pub hashed_message: OctetString,
}

/// TimeStampReq (RFC 3161 2.4.1).
#[derive(Clone, Debug, Sequence)]
pub struct TimeStampReq {
    pub version: u8,
    pub message_imprint: MessageImprint,
    #[asn1(optional = "true")]
    pub req_policy: Option<ObjectIdentifier>,
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
    #[asn1(default = "Default::default")]
    pub cert_req: bool,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Extensions>,
}

/// PKIStatusInfo (RFC 3161 2.4.2); statusString and failInfo are read back as raw values.
#[derive(Clone, Debug, Sequence)]
pub struct PkiStatusInfo {
    pub status: u8,
    #[asn1(optional = "true")]
    pub status_string: Option<Vec<String>>,
    #[asn1(optional = "true")]
    pub fail_info: Option<der::asn1::BitString>,
}

/// TimeStampResp (RFC 3161 2.4.2).
#[derive(Clone, Debug, Sequence)]
pub struct TimeStampResp {
    pub status: PkiStatusInfo,
    #[asn1(optional = "true")]
    pub time_stamp_token: Option<ContentInfo>,
}

/// TSTInfo (RFC 3161 2.4.2); the hub states no accuracy, ordering or name of its own.
#[derive(Clone, Debug, Sequence)]
pub struct TstInfo {
    pub version: u8,
    pub policy: ObjectIdentifier,
    pub message_imprint: MessageImprint,
    pub serial_number: Int,
    pub gen_time: GeneralizedTime,
    #[asn1(optional = "true")]
    pub accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    pub ordering: bool,
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Extensions>,
}

/// Accuracy (RFC 3161 2.4.2).
#[derive(Clone, Debug, Sequence)]
pub struct Accuracy {
    #[asn1(optional = "true")]
    pub seconds: Option<u32>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub millis: Option<u16>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub micros: Option<u16>,
}

/// PKIStatus granted / rejection, PKIFailureInfo bits (RFC 3161 2.4.2).
const GRANTED: u8 = 0;
const REJECTION: u8 = 2;
const BAD_ALG: usize = 0;
const BAD_DATA_FORMAT: usize = 5;

fn key_err(e: impl std::fmt::Display) -> TsaError {
    TsaError::Key(e.to_string())
}

fn reply_err(e: impl std::fmt::Display) -> TsaError {
    TsaError::BadReply(e.to_string())
}

/// The hub's time-stamping authority, unlocked.
pub struct Tsa {
    key: SigningKey,
    pub cert: Certificate,
    /// The policy its tokens name ([`policy_from`]).
    pub policy: ObjectIdentifier,
}

fn key_path(dir: &Path) -> PathBuf {
    dir.join("keys").join("tsa.key")
}

/// `keys/tsa.crt` in the hub's data directory (PEM): the trust anchor of its time-stamps.
pub fn cert_path(dir: &Path) -> PathBuf {
    dir.join("keys").join("tsa.crt")
}

/// Loads the hub's TSA, issuing its key and certificate on first use (hub start); its policy
/// is [`POLICY_VAR`]'s, else [`DEFAULT_POLICY`] (a malformed one stops the hub's start).
pub fn load_or_create(dir: &Path, now: jiff::Timestamp) -> Result<Tsa, TsaError> {
    let policy = policy_from(std::env::var(POLICY_VAR).ok().as_deref())?;
    if let (Ok(key_pem), Ok(cert_pem)) = (
        std::fs::read_to_string(key_path(dir)),
        std::fs::read_to_string(cert_path(dir)),
    ) {
        let key = SigningKey::from_pkcs8_pem(&key_pem).map_err(key_err)?;
        let cert = super::signing::cert_from_pem(&cert_pem).map_err(TsaError::Key)?;
        return Ok(Tsa { key, cert, policy });
    }
    use der::oid::db::rfc4519::{C, CN, O};
    let key = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let subject = name(&[
        (C, "VN"),
        (O, "Phòng GD&ĐT"),
        (CN, "Trạm hub — dấu thời gian (TSA)"),
    ])
    .map_err(key_err)?;
    // A leaf, issued by itself: a TSA certificate must not be a CA, and it must say it is for
    // time-stamping only (critical EKU, the one purpose RFC 3161 allows it).
    let mut builder = CertificateBuilder::new(
        Profile::Leaf {
            issuer: subject.clone(),
            enable_key_agreement: false,
            enable_key_encipherment: false,
        },
        serial(),
        validity(now, TSA_YEARS).map_err(key_err)?,
        subject,
        spki(&key).map_err(key_err)?,
        &key,
    )
    .map_err(key_err)?;
    builder
        .add_extension(&x509_cert::ext::pkix::ExtendedKeyUsage(vec![
            ID_KP_TIME_STAMPING,
        ]))
        .map_err(key_err)?;
    let cert = builder.build::<DerSignature>().map_err(key_err)?;
    let key_pem = key.to_pkcs8_pem(LineEnding::LF).map_err(key_err)?;
    let cert_pem = cert.to_pem(LineEnding::LF).map_err(key_err)?;
    crate::config::write_secret(&key_path(dir), key_pem.as_bytes())?;
    crate::config::write_atomic(&cert_path(dir), cert_pem.as_bytes())?;
    Ok(Tsa { key, cert, policy })
}

/// A TimeStampResp carrying only a refusal.
fn refusal(why: &str, fail_bit: usize) -> Vec<u8> {
    let mut bits = vec![0u8; 1 + fail_bit / 8];
    bits[fail_bit / 8] |= 0x80 >> (fail_bit % 8);
    let resp = TimeStampResp {
        status: PkiStatusInfo {
            status: REJECTION,
            status_string: Some(vec![why.to_string()]),
            fail_info: der::asn1::BitString::new((7 - fail_bit % 8) as u8, bits).ok(),
        },
        time_stamp_token: None,
    };
    resp.to_der().unwrap_or_default()
}

impl Tsa {
    /// The TimeStampResp (DER) to a TimeStampReq (DER): a token over the request's imprint at
    /// `now`, or a rejection a client can read (bad request, a hash other than SHA-256).
    pub fn respond(&self, req: &[u8], now: jiff::Timestamp) -> Vec<u8> {
        let req = match TimeStampReq::from_der(req) {
            Ok(r) if r.version == 1 => r,
            _ => return refusal("not an RFC 3161 TimeStampReq v1", BAD_DATA_FORMAT),
        };
        let imprint = &req.message_imprint;
        if imprint.hash_algorithm.oid != ID_SHA_256 || imprint.hashed_message.as_bytes().len() != 32
        {
            return refusal("only SHA-256 imprints are time-stamped", BAD_ALG);
        }
        match self.token(&req, now) {
            Ok(token) => TimeStampResp {
                status: PkiStatusInfo {
                    status: GRANTED,
                    status_string: None,
                    fail_info: None,
                },
                time_stamp_token: Some(token),
            }
            .to_der()
            .unwrap_or_else(|e| refusal(&e.to_string(), BAD_DATA_FORMAT)),
            Err(e) => refusal(&e.to_string(), BAD_DATA_FORMAT),
        }
    }

    fn token(&self, req: &TimeStampReq, now: jiff::Timestamp) -> Result<ContentInfo, TsaError> {
        let gen_time =
            GeneralizedTime::from_system_time(std::time::SystemTime::from(now)).map_err(key_err)?;
        let info = TstInfo {
            version: 1,
            policy: self.policy,
            message_imprint: req.message_imprint.clone(),
            serial_number: Int::new(serial().as_bytes()).map_err(key_err)?,
            gen_time,
            accuracy: None,
            ordering: false,
            nonce: req.nonce.clone(),
            tsa: None,
            extensions: None,
        };
        let eci = EncapsulatedContentInfo {
            econtent_type: ID_CT_TST_INFO,
            econtent: Some(
                der::Any::new(der::Tag::OctetString, info.to_der().map_err(key_err)?)
                    .map_err(key_err)?,
            ),
        };
        // RFC 3161 2.4.1 / RFC 5816: the token names the TSA's certificate (ESS v2, SHA-256).
        let cert_der = self.cert.to_der().map_err(key_err)?;
        let (sid, ess_attr) =
            super::pades::signer_id_and_ess(&self.cert, &cert_der).map_err(key_err)?;
        let mut info =
            SignerInfoBuilder::new(&self.key, sid, sha256_alg(), &eci, None).map_err(key_err)?;
        info.add_signed_attribute(ess_attr).map_err(key_err)?;
        let mut b = SignedDataBuilder::new(&eci);
        b.add_digest_algorithm(sha256_alg()).map_err(key_err)?;
        // Always sent, asked for or not: a school's file then carries what a reader needs.
        b.add_certificate(CertificateChoices::Certificate(self.cert.clone()))
            .map_err(key_err)?;
        b.add_signer_info::<_, DerSignature>(info)
            .map_err(key_err)?;
        b.build().map_err(key_err)
    }
}

/// A TimeStampReq (DER) for the SHA-256 `digest`, with a random nonce and the TSA's
/// certificate asked for; returns the request and the nonce to check the reply against.
pub fn request(digest: &[u8; 32]) -> Result<(Vec<u8>, Int), TsaError> {
    let mut n: [u8; 16] = rand::random();
    n[0] &= 0x7f;
    n[0] |= 0x01;
    let nonce = Int::new(&n).map_err(key_err)?;
    let req = TimeStampReq {
        version: 1,
        message_imprint: MessageImprint {
            hash_algorithm: sha256_alg(),
            hashed_message: OctetString::new(digest.to_vec()).map_err(key_err)?,
        },
        req_policy: None,
        nonce: Some(nonce.clone()),
        cert_req: true,
        extensions: None,
    };
    Ok((req.to_der().map_err(key_err)?, nonce))
}

/// The token of a reply (ContentInfo, DER) and its time, after checking it answers this
/// request: granted, the same imprint and nonce, and signed by the certificate it carries.
pub fn check_reply(
    reply: &[u8],
    digest: &[u8; 32],
    nonce: &Int,
) -> Result<(Vec<u8>, jiff::Timestamp), TsaError> {
    let resp = TimeStampResp::from_der(reply).map_err(reply_err)?;
    if resp.status.status > 1 {
        return Err(TsaError::BadReply(format!(
            "refused ({})",
            resp.status.status_string.unwrap_or_default().join("; ")
        )));
    }
    let token = resp
        .time_stamp_token
        .ok_or_else(|| TsaError::BadReply("granted without a token".into()))?;
    let (info, _) = token_info(&token)?;
    if info.message_imprint.hash_algorithm.oid != ID_SHA_256
        || info.message_imprint.hashed_message.as_bytes() != digest
    {
        return Err(TsaError::BadReply("the token dates another imprint".into()));
    }
    if info.nonce.as_ref() != Some(nonce) {
        return Err(TsaError::BadReply("the token's nonce is not ours".into()));
    }
    let at = gen_time(&info)?;
    Ok((token.to_der().map_err(reply_err)?, at))
}

/// The TSTInfo of a token and the token's SignedData, after checking the TSA's signature with
/// the certificate inside (its trust is the reader's business: the hub's `tsa.crt`).
pub fn token_info(token: &ContentInfo) -> Result<(TstInfo, SignedData), TsaError> {
    let sd: SignedData = token.content.decode_as().map_err(reply_err)?;
    if sd.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(TsaError::BadReply("not a TSTInfo".into()));
    }
    let content = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| TsaError::BadReply("no TSTInfo".into()))?;
    let info = TstInfo::from_der(content.value()).map_err(reply_err)?;
    let si = sd
        .signer_infos
        .0
        .get(0)
        .ok_or_else(|| TsaError::BadReply("no signer".into()))?;
    let cert = sd
        .certificates
        .as_ref()
        .and_then(|cs| {
            cs.0.iter().find_map(|c| match c {
                CertificateChoices::Certificate(c) => Some(c),
                _ => None,
            })
        })
        .ok_or_else(|| TsaError::BadReply("no TSA certificate".into()))?;
    let signed = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| TsaError::BadReply("no signed attributes".into()))?;
    let digest_ok = signed.iter().any(|a| {
        a.oid == super::pades::ID_MESSAGE_DIGEST
            && a.values.iter().any(|v| {
                v.decode_as::<OctetString>()
                    .is_ok_and(|d| d.as_bytes() == Sha256::digest(content.value()).as_slice())
            })
    });
    let signed_der = signed.to_der().map_err(reply_err)?;
    if !digest_ok || !super::pades::verify_ecdsa(cert, &signed_der, si.signature.as_bytes()) {
        return Err(TsaError::BadReply(
            "the TSA's signature does not verify".into(),
        ));
    }
    // RFC 3161 2.4.1 / RFC 5816: the token names its TSA's certificate by hash (ESS v2). A
    // certificate changed inside the token no longer is the one named — the file was altered,
    // even where the key in it still verifies the token: INVALID, as pyHanko says (review r17
    // #10).
    let cert_der = cert.to_der().map_err(reply_err)?;
    if !super::pades::ess_names(signed, &cert_der) {
        return Err(TsaError::BadReply(
            "the TSA certificate inside the token is not the one the token names (damaged or replaced)"
                .into(),
        ));
    }
    Ok((info, sd))
}

/// The time a TSTInfo states.
pub fn gen_time(info: &TstInfo) -> Result<jiff::Timestamp, TsaError> {
    jiff::Timestamp::try_from(info.gen_time.to_system_time()).map_err(reply_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The policy is the district's when it sets one, Trạm's otherwise, and the tokens name it.
    #[test]
    fn tokens_name_the_configured_policy() {
        assert_eq!(policy_from(None).unwrap(), DEFAULT_POLICY);
        assert_eq!(policy_from(Some(" ")).unwrap(), DEFAULT_POLICY);
        assert!(policy_from(Some("not an oid")).is_err());
        let own = policy_from(Some("1.3.6.1.4.1.99999.1.1")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut tsa = load_or_create(dir.path(), jiff::Timestamp::now()).unwrap();
        tsa.policy = own;
        let digest = [7u8; 32];
        let (req, nonce) = request(&digest).unwrap();
        let reply = tsa.respond(&req, jiff::Timestamp::now());
        let (token, _) = check_reply(&reply, &digest, &nonce).unwrap();
        let token = ContentInfo::from_der(&token).unwrap();
        assert_eq!(token_info(&token).unwrap().0.policy, own);
    }
}
