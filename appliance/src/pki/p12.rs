//! A signing certificate from a licensed Vietnamese CA (chữ ký số công cộng), imported from the
//! PKCS#12 (.p12/.pfx) it came in: read with `p12-keystore` (MAC, PBES2/AES and the legacy
//! 3DES/RC2 schemes Windows and older tools write), checked — a key to sign with, validity,
//! key usage, the chain, the holder's name — and sealed under the signer's PIN like a school
//! certificate (`signing::seal_signer`). Nothing is returned, so nothing is stored, on failure.

use der::Decode;
use x509_cert::certificate::Certificate;
use x509_cert::ext::pkix::{KeyUsage, KeyUsages};

use super::signing::{self, SignerKey, SignerName, SignerRecord, SigningError};

#[derive(Debug, thiserror::Error)]
pub enum P12Error {
    #[error("Sai mật khẩu tệp PKCS#12 (hoặc tệp bị hỏng).")]
    WrongPassword,
    /// The parser's detail (ASN.1 tags and the like) is logged, never shown: it tells the
    /// principal nothing she can act on (review r10 #6).
    #[error("Tệp .p12/.pfx không đọc được — có thể không phải tệp chứng thư số hoặc bị hỏng.")]
    Unreadable(String),
    #[error(
        "Tệp PKCS#12 không có khoá bí mật đi kèm chứng thư: chỉ có chứng thư thì không ký được."
    )]
    NoPrivateKey,
    #[error("Chứng thư hết hạn ngày {0}; hãy gia hạn với nhà cung cấp chữ ký số.")]
    Expired(String),
    #[error("Chứng thư chỉ có hiệu lực từ ngày {0}.")]
    NotYetValid(String),
    #[error(
        "Chứng thư không được phép dùng để ký (thiếu digitalSignature/nonRepudiation trong keyUsage)."
    )]
    NoSigningUsage,
    #[error(
        "Khoá trong tệp không phải RSA hoặc ECDSA P-256: Trạm chưa ký được bằng loại khoá này."
    )]
    UnsupportedKey,
    #[error("Khoá bí mật trong tệp không khớp với chứng thư.")]
    KeyMismatch,
    #[error(
        "Tệp PKCS#12 không kèm chứng thư của CA đã cấp (chuỗi chứng thư); hãy xuất lại tệp kèm cả chuỗi."
    )]
    NoChain,
    /// The chain that came with the certificate reaches none of the licensed roots
    /// (`pki::roots`): a self-made or foreign CA, whatever it calls itself.
    #[error(
        "Chứng thư không do tổ chức cung cấp dịch vụ chứng thực chữ ký số công cộng được cấp phép phát hành (chuỗi chứng thư không dẫn tới CA gốc quốc gia hay CA gốc mà trường đã khai báo)."
    )]
    NotLicensed,
    #[error(
        "Chứng thư đứng tên \"{cert}\", khác tên tài khoản \"{account}\". Nếu đúng là chứng thư của bạn, hãy xác nhận để nhập."
    )]
    NameDiffers { cert: String, account: String },
    #[error(transparent)]
    Signing(#[from] SigningError),
}

impl P12Error {
    /// A stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            P12Error::WrongPassword => "wrong_p12_password",
            P12Error::Unreadable(_) => "p12_unreadable",
            P12Error::NoPrivateKey => "p12_no_key",
            P12Error::Expired(_) => "certificate_expired",
            P12Error::NotYetValid(_) => "certificate_not_yet_valid",
            P12Error::NoSigningUsage => "certificate_not_for_signing",
            P12Error::UnsupportedKey => "unsupported_key",
            P12Error::KeyMismatch => "key_mismatch",
            P12Error::NoChain => "p12_no_chain",
            P12Error::NotLicensed => "not_licensed",
            P12Error::NameDiffers { .. } => "name_differs",
            P12Error::Signing(SigningError::WeakPin(_)) => "weak_pin",
            P12Error::Signing(_) => "signer_damaged",
        }
    }
}

impl P12Error {
    /// The refusal in English, for `tram hocba signer import` (the `Display` text is the web
    /// page's Vietnamese); no parser internals either.
    pub fn english(&self) -> String {
        match self {
            P12Error::WrongPassword => "wrong PKCS#12 password (or a damaged file)".into(),
            P12Error::Unreadable(_) => {
                "the .p12/.pfx file cannot be read: it may not be a certificate file, or it is damaged".into()
            }
            P12Error::NoPrivateKey => {
                "the PKCS#12 holds no private key with the certificate: it cannot sign".into()
            }
            P12Error::Expired(d) => format!("the certificate expired on {d}; renew it with the CA"),
            P12Error::NotYetValid(d) => format!("the certificate is valid only from {d}"),
            P12Error::NoSigningUsage => {
                "the certificate may not sign (keyUsage lacks digitalSignature/nonRepudiation)".into()
            }
            P12Error::UnsupportedKey => {
                "the key is neither RSA nor ECDSA P-256: Trạm cannot sign with it".into()
            }
            P12Error::KeyMismatch => "the private key does not match the certificate".into(),
            P12Error::NoChain => {
                "the PKCS#12 lacks the issuing CA's certificate (the chain); export it again with the chain".into()
            }
            P12Error::NotLicensed => {
                "the certificate's chain reaches no licensed root (the Vietnam National Root CA or one added with `tram hocba roots add`)".into()
            }
            P12Error::NameDiffers { cert, account } => format!(
                "the certificate names {cert:?}, not the account's {account:?}; confirm it is yours to import"
            ),
            P12Error::Signing(SigningError::WeakPin(w)) => w.english(),
            P12Error::Signing(e) => e.to_string(),
        }
    }
}

/// Logs why a file could not be read (for whoever looks into it) and says so plainly.
fn unreadable(detail: impl std::fmt::Display) -> P12Error {
    tracing::warn!(detail = %detail, "unreadable PKCS#12 file");
    P12Error::Unreadable(detail.to_string())
}

/// What the file holds: the holder's certificate, the chain above it, the PKCS#8 key.
struct Contents {
    cert: Certificate,
    cert_der: Vec<u8>,
    chain: Vec<Vec<u8>>,
    pkcs8: Vec<u8>,
}

fn read(p12: &[u8], password: &str) -> Result<Contents, P12Error> {
    let store = p12_keystore::KeyStore::from_pkcs12(p12, password).map_err(|e| match e {
        // The MAC is keyed by the password: a wrong one fails it, or the decryption's padding.
        p12_keystore::error::Error::MacError(_) | p12_keystore::error::Error::UnpadError => {
            P12Error::WrongPassword
        }
        other => unreadable(other),
    })?;
    let (_, chain) = store.private_key_chain().ok_or(P12Error::NoPrivateKey)?;
    let mut certs = chain.chain().iter().map(|c| c.as_der().to_vec());
    let cert_der = certs.next().ok_or(P12Error::NoPrivateKey)?;
    let cert = Certificate::from_der(&cert_der).map_err(unreadable)?;
    Ok(Contents {
        cert,
        cert_der,
        chain: certs.collect(),
        pkcs8: chain.key().to_vec(),
    })
}

fn date_vi(t: &x509_cert::time::Time) -> String {
    jiff::Timestamp::try_from(t.to_system_time())
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::UTC)
                .strftime("%d/%m/%Y")
                .to_string()
        })
        .unwrap_or_default()
}

/// Whether the certificate's holder is the account's person: the name compared without
/// diacritics and case (public CAs often write "NGUYEN VAN A"), and either containing the other
/// (a CN may add a title or the organisation).
fn same_person(cert_name: &str, full_name: &str) -> bool {
    let (a, b) = (crate::text::fold(cert_name), crate::text::fold(full_name));
    !b.is_empty() && (a == b || a.contains(&b) || (!a.is_empty() && b.contains(&a)))
}

/// Reads and checks a PKCS#12 for `who` and seals its key under `pin`. A subject name unlike the
/// account's full name is refused with [`P12Error::NameDiffers`] unless `name_confirmed`; a
/// chain that reaches none of `roots` (the licensed roots, `pki::roots::load`) with
/// [`P12Error::NotLicensed`].
pub fn import(
    p12: &[u8],
    password: &str,
    who: &SignerName<'_>,
    pin: &str,
    name_confirmed: bool,
    roots: &[super::roots::Root],
    now: jiff::Timestamp,
) -> Result<SignerRecord, P12Error> {
    let c = read(p12, password)?;
    let tbs = &c.cert.tbs_certificate;
    let t = std::time::SystemTime::from(now);
    if t > tbs.validity.not_after.to_system_time() {
        return Err(P12Error::Expired(date_vi(&tbs.validity.not_after)));
    }
    if t < tbs.validity.not_before.to_system_time() {
        return Err(P12Error::NotYetValid(date_vi(&tbs.validity.not_before)));
    }
    // keyUsage, when present, must allow signing (RFC 5280: absent means unrestricted).
    let usage = tbs.get::<KeyUsage>().map_err(unreadable)?;
    if let Some((_, KeyUsage(flags))) = usage
        && !flags.contains(KeyUsages::DigitalSignature)
        && !flags.contains(KeyUsages::NonRepudiation)
    {
        return Err(P12Error::NoSigningUsage);
    }
    let key = SignerKey::from_pkcs8(&c.pkcs8).ok_or(P12Error::UnsupportedKey)?;
    if key.spki()? != tbs.subject_public_key_info {
        return Err(P12Error::KeyMismatch);
    }
    // The issuer's certificate must come along: each signature carries it, and `pades::sign`
    // checks the chain link by link before it signs.
    if c.chain.is_empty() {
        return Err(P12Error::NoChain);
    }
    let chain: Vec<Certificate> = c
        .chain
        .iter()
        .filter_map(|d| Certificate::from_der(d).ok())
        .collect();
    if super::roots::reached(&c.cert, &chain, roots).is_none() {
        return Err(P12Error::NotLicensed);
    }
    let (cert_name, _) = signing::subject_name_and_role(&c.cert);
    if !name_confirmed && !same_person(&cert_name, who.full_name) {
        return Err(P12Error::NameDiffers {
            cert: cert_name,
            account: who.full_name.to_string(),
        });
    }
    Ok(signing::seal_signer(
        who,
        &c.cert_der,
        &c.chain,
        &c.pkcs8,
        pin,
        now,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_without_diacritics_or_case_but_not_another_person() {
        assert!(same_person("TRẦN VĂN HÙNG", "Trần Văn Hùng"));
        assert!(same_person("TRAN VAN HUNG", "Trần Văn Hùng"));
        assert!(same_person("Trần Văn Hùng - Hiệu trưởng", "Trần Văn Hùng"));
        assert!(!same_person("Nguyễn Thị Hoa", "Trần Văn Hùng"));
        assert!(!same_person("", "Trần Văn Hùng"));
    }

    #[test]
    fn a_file_that_is_not_pkcs12_is_refused_as_unreadable() {
        let who = SignerName {
            account: "ht",
            full_name: "A",
            role: "Hiệu trưởng",
        };
        let e = import(
            b"not a pfx",
            "x",
            &who,
            "58203947",
            false,
            &[],
            jiff::Timestamp::now(),
        );
        assert!(matches!(e, Err(P12Error::Unreadable(_))), "{e:?}");
        // Said plainly on the page and in the CLI, without the parser's ASN.1 detail (review
        // r10 #6: "…(.p12/.pfx): unknown/unsupported ASN.1 DER tag: 0x00").
        let e = e.unwrap_err();
        assert_eq!(
            e.to_string(),
            "Tệp .p12/.pfx không đọc được — có thể không phải tệp chứng thư số hoặc bị hỏng."
        );
        assert!(!e.english().contains("ASN.1"), "{}", e.english());
        assert!(e.english().starts_with("the .p12/.pfx file cannot be read"));
    }
}
