//! PAdES signatures on PDF files (học bạ số): a baseline B-B signature added as an incremental
//! update, and its verification.
//!
//! Signing appends one revision to the file as it is: the signature dictionary (SubFilter
//! `ETSI.CAdES.detached`, /M the signing time), a signature field with an invisible widget on
//! the first page, the catalog's /AcroForm and the page's /Annots, a new cross-reference
//! section with /Prev — written by lopdf's `IncrementalDocument`, in the cross-reference style
//! of the file it extends. /Contents is written as a zero placeholder and /ByteRange as a fixed
//! width one; both are filled in place after the bytes around /Contents are hashed, so the
//! signature covers every byte of its revision but the signature itself. A second signature is
//! a further revision: the first one's /ByteRange still covers exactly the bytes it signed.
//!
//! The CMS (RustCrypto `cms`) is SignedData, detached, SHA-256, ECDSA P-256, with the signed
//! attributes contentType, messageDigest and ESS signingCertificateV2, and the signer's and the
//! CA's certificates. The CMS signing-time attribute is left out on purpose: PAdES baseline
//! (ETSI EN 319 142-1, 5.3) forbids it and puts the claimed time in /M, which lies inside the
//! signed byte range.

use der::asn1::{ObjectIdentifier, OctetString, SetOfVec};
use der::{Decode, Encode, Sequence};
use lopdf::{Dictionary, Object, ObjectId, StringFormat};
use p256::ecdsa::{DerSignature, VerifyingKey, signature::Verifier};
use p256::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256};
use x509_cert::attr::Attribute;
use x509_cert::certificate::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;

use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::ContentInfo;
use cms::signed_data::{EncapsulatedContentInfo, SignedData, SignerIdentifier};

use super::signing::{Signer, SignerKey, subject_name_and_role};

#[derive(Debug, thiserror::Error)]
pub enum PadesError {
    #[error("Không đọc được tệp PDF: {0}")]
    Pdf(String),
    #[error("Không tạo được chữ ký: {0}")]
    Cms(String),
    #[error("Không ký được: {0}.")]
    Certificate(String),
}

impl PadesError {
    /// What went wrong, without the signing error's heading ("Không tạo được chữ ký: …"): a
    /// verification reports it in its own words (review r13 #10).
    pub fn detail(&self) -> &str {
        match self {
            PadesError::Pdf(s) | PadesError::Cms(s) | PadesError::Certificate(s) => s,
        }
    }

    /// The error as a verification says it (the box's verify page, the hub's): a file that
    /// does not parse, or a signature that could not be checked — never "could not sign".
    pub fn when_verifying(&self) -> String {
        match self {
            PadesError::Pdf(_) => self.to_string(),
            _ => format!("Không kiểm tra được chữ ký: {}", self.detail()),
        }
    }
}

/// Room reserved for the CMS in /Contents: two P-256 certificates and a signature need ~1.5 KB;
/// the rest is for a time-stamp token added later (PAdES B-T) or a longer public CA chain.
const CONTENTS_BYTES: usize = 12 * 1024;
/// The /ByteRange placeholder: wide enough for any offset of a file under 10 GB.
const RANGE_PLACEHOLDER: i64 = 9_999_999_999;

const ID_SHA_256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
pub(crate) const ID_MESSAGE_DIGEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// id-aa-signingCertificateV2 (RFC 5035).
const ID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");

/// ESS IssuerSerial (RFC 5035).
#[derive(Clone, Debug, Sequence)]
struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial_number: SerialNumber,
}

/// ESS ESSCertIDv2; hashAlgorithm is left out, which means its DEFAULT, SHA-256.
#[derive(Clone, Debug, Sequence)]
struct EssCertIdV2 {
    cert_hash: OctetString,
    issuer_serial: IssuerSerial,
}

#[derive(Clone, Debug, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

/// Whether the signed attributes `attrs` carry an ESS signingCertificateV2 whose first entry
/// is the SHA-256 of `cert_der`: the signature names this very certificate — a signer's (its
/// damage or replacement is caught) and a time-stamp token's TSA certificate (review r17 #10:
/// a changed byte inside the token's TSA certificate, whose key still verified the token, was
/// VALID here and INVALID to pyHanko).
pub(crate) fn ess_names(attrs: &cms::signed_data::SignedAttributes, cert_der: &[u8]) -> bool {
    attrs
        .iter()
        .find(|a| a.oid == ID_SIGNING_CERTIFICATE_V2)
        .and_then(|a| a.values.iter().next())
        .and_then(|v| v.decode_as::<SigningCertificateV2>().ok())
        .and_then(|s| s.certs.into_iter().next())
        .is_some_and(|id| id.cert_hash.as_bytes() == Sha256::digest(cert_der).as_slice())
}

pub(crate) fn sha256_alg() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: ID_SHA_256,
        parameters: None,
    }
}

fn cms_err(e: impl std::fmt::Display) -> PadesError {
    PadesError::Cms(e.to_string())
}

fn pdf_err(e: impl std::fmt::Display) -> PadesError {
    PadesError::Pdf(e.to_string())
}

/// "D:20261206102400+00'00'", the PDF date form of `at` (UTC).
fn pdf_date(at: jiff::Timestamp) -> String {
    format!("D:{}+00'00'", at.strftime("%Y%m%d%H%M%S"))
}

/// The PDF `pdf` with one more signature, by `signer`, whose certificate chains to `ca`.
pub fn sign(
    pdf: &[u8],
    signer: &Signer,
    ca: &Certificate,
    at: jiff::Timestamp,
) -> Result<Vec<u8>, PadesError> {
    // A signature no reader could accept is refused before anything is written. A certificate
    // imported from a licensed CA brings its own chain; the school's signers chain to `ca`.
    let chain: Vec<&Certificate> = if signer.chain.is_empty() {
        vec![ca]
    } else {
        signer.chain.iter().collect()
    };
    let mut below = &signer.cert;
    for issuer in &chain {
        if !issued_by(below, issuer) {
            return Err(PadesError::Certificate(if signer.chain.is_empty() {
                "chứng thư của người ký không do CA ký số hiện hành của trường cấp (chứng thư của một CA đã thay khi gia hạn hay khôi phục CA, hoặc của nơi khác): xin cấp chứng thư mới ở trang Chứng thư ký học bạ".into()
            } else {
                "chuỗi chứng thư nhập từ tệp PKCS#12 không liền mạch".into()
            }));
        }
        below = issuer;
    }
    if !valid_at(&signer.cert, at) || chain.iter().any(|c| !valid_at(c, at)) {
        return Err(PadesError::Certificate(
            "chứng thư đã hết hạn hoặc chưa có hiệu lực".into(),
        ));
    }
    let (signer_name, _) = subject_name_and_role(&signer.cert);
    let mut sig = Dictionary::new();
    sig.set("Type", Object::Name(b"Sig".to_vec()));
    sig.set("Filter", Object::Name(b"Adobe.PPKLite".to_vec()));
    sig.set("SubFilter", Object::Name(b"ETSI.CAdES.detached".to_vec()));
    sig.set("M", Object::string_literal(pdf_date(at)));
    sig.set(
        "Name",
        Object::String(text_string(&signer_name), StringFormat::Hexadecimal),
    );
    let mut out = append_signature_revision(pdf, sig, CONTENTS_BYTES)?;
    let (contents_start, contents_end, digest) =
        fill_byte_range(&mut out, pdf.len(), CONTENTS_BYTES)?;

    let cms = signed_data(signer, &chain, &digest)?;
    let hex = hex::encode_upper(&cms);
    // The placeholder is "<" + 2 × CONTENTS_BYTES zeros + ">".
    if hex.len() > contents_end - contents_start - 2 {
        return Err(PadesError::Cms(
            "signature larger than its placeholder".into(),
        ));
    }
    out[contents_start + 1..contents_start + 1 + hex.len()].copy_from_slice(hex.as_bytes());
    Ok(out)
}

/// How a SignerInfo names `cert` (DER `cert_der`): issuer and serial, and the ESS
/// signingCertificateV2 attribute with its SHA-256 — in the PAdES signatures and in the hub's
/// time-stamp tokens (`tsa.rs`).
pub(crate) fn signer_id_and_ess(
    cert: &Certificate,
    cert_der: &[u8],
) -> der::Result<(SignerIdentifier, Attribute)> {
    let tbs = &cert.tbs_certificate;
    let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: tbs.issuer.clone(),
        serial_number: tbs.serial_number.clone(),
    });
    let ess = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            cert_hash: OctetString::new(Sha256::digest(cert_der).to_vec())?,
            issuer_serial: IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(tbs.issuer.clone())],
                serial_number: tbs.serial_number.clone(),
            },
        }],
    };
    let mut values = SetOfVec::new();
    values.insert(der::Any::encode_from(&ess)?)?;
    Ok((
        sid,
        Attribute {
            oid: ID_SIGNING_CERTIFICATE_V2,
            values,
        },
    ))
}

/// The CMS SignedData (DER) over a PDF's byte-range digest, carrying the signer's certificate
/// and the `chain` above it.
fn signed_data(
    signer: &Signer,
    chain: &[&Certificate],
    digest: &[u8],
) -> Result<Vec<u8>, PadesError> {
    let eci = EncapsulatedContentInfo {
        econtent_type: ID_DATA,
        econtent: None,
    };
    let (sid, ess_attr) = signer_id_and_ess(&signer.cert, &signer.cert_der).map_err(cms_err)?;
    let mut builder = SignedDataBuilder::new(&eci);
    builder
        .add_digest_algorithm(sha256_alg())
        .map_err(cms_err)?
        .add_certificate(CertificateChoices::Certificate(signer.cert.clone()))
        .map_err(cms_err)?;
    for c in chain {
        builder
            .add_certificate(CertificateChoices::Certificate((*c).clone()))
            .map_err(cms_err)?;
    }
    let content = match &signer.key {
        SignerKey::P256(key) => {
            let mut info = SignerInfoBuilder::new(key, sid, sha256_alg(), &eci, Some(digest))
                .map_err(cms_err)?;
            info.add_signed_attribute(ess_attr).map_err(cms_err)?;
            builder.add_signer_info::<_, DerSignature>(info)
        }
        SignerKey::Rsa(key) => {
            let mut info = SignerInfoBuilder::new(&**key, sid, sha256_alg(), &eci, Some(digest))
                .map_err(cms_err)?;
            info.add_signed_attribute(ess_attr).map_err(cms_err)?;
            builder.add_signer_info::<_, rsa::pkcs1v15::Signature>(info)
        }
    }
    .map_err(cms_err)?
    .build()
    .map_err(cms_err)?;
    content.to_der().map_err(cms_err)
}

/// Fills the /ByteRange placeholder of the revision appended after `prev_len` (the bytes
/// around its /Contents of `contents_bytes`) and returns where /Contents lies (the "<" and one
/// past the ">") and the SHA-256 of the bytes the range covers.
fn fill_byte_range(
    out: &mut [u8],
    prev_len: usize,
    contents_bytes: usize,
) -> Result<(usize, usize, [u8; 32]), PadesError> {
    let (contents_start, contents_end, range_at, range_len) =
        find_placeholders(out, prev_len, contents_bytes)?;
    let byte_range = [0, contents_start, contents_end, out.len() - contents_end];
    let mut range_text = format!(
        "[{} {} {} {}]",
        byte_range[0], byte_range[1], byte_range[2], byte_range[3]
    )
    .into_bytes();
    if range_text.len() > range_len {
        return Err(PadesError::Pdf("file too large to sign".into()));
    }
    // Pad inside the brackets so the array keeps its width and stays a valid array.
    let close = range_text.pop().expect("a closing bracket");
    range_text.resize(range_len - 1, b' ');
    range_text.push(close);
    out[range_at..range_at + range_len].copy_from_slice(&range_text);

    let mut hasher = Sha256::new();
    hasher.update(&out[..contents_start]);
    hasher.update(&out[contents_end..]);
    Ok((contents_start, contents_end, hasher.finalize().into()))
}

/// Writes the new revision with placeholders: the file's bytes, then the update — the
/// signature dictionary `sig` (a signature's or a document time-stamp's, without /ByteRange
/// and /Contents: placeholders for those are added, /Contents of `contents_bytes`), its field
/// and widget.
fn append_signature_revision(
    pdf: &[u8],
    mut sig: Dictionary,
    contents_bytes: usize,
) -> Result<Vec<u8>, PadesError> {
    let doc = lopdf::Document::load_mem(pdf).map_err(pdf_err)?;
    let root_id = doc
        .trailer
        .get(b"Root")
        .and_then(Object::as_reference)
        .map_err(pdf_err)?;
    let page_id = *doc
        .get_pages()
        .values()
        .next()
        .ok_or_else(|| PadesError::Pdf("no page".into()))?;
    let existing = signature_fields(&doc).len();

    let mut inc = lopdf::IncrementalDocument::create_from(pdf.to_vec(), doc);
    let new = &mut inc.new_document;
    sig.set(
        "ByteRange",
        Object::Array(vec![
            Object::Integer(0),
            Object::Integer(RANGE_PLACEHOLDER),
            Object::Integer(RANGE_PLACEHOLDER),
            Object::Integer(RANGE_PLACEHOLDER),
        ]),
    );
    sig.set(
        "Contents",
        Object::String(vec![0; contents_bytes], StringFormat::Hexadecimal),
    );
    let sig_id = new.add_object(sig);

    let mut field = Dictionary::new();
    field.set("Type", Object::Name(b"Annot".to_vec()));
    field.set("Subtype", Object::Name(b"Widget".to_vec()));
    field.set("FT", Object::Name(b"Sig".to_vec()));
    field.set(
        "T",
        Object::string_literal(format!("Signature{}", existing + 1)),
    );
    field.set("V", Object::Reference(sig_id));
    // Invisible (zero rectangle) and printed/locked flags (4 Print + 128 Locked).
    field.set(
        "Rect",
        Object::Array(vec![0.into(), 0.into(), 0.into(), 0.into()]),
    );
    field.set("F", Object::Integer(132));
    field.set("P", Object::Reference(page_id));
    let field_id = new.add_object(field);

    add_to_array_in(&mut inc, root_id, b"AcroForm", Some(b"Fields"), field_id)?;
    add_to_array_in(&mut inc, page_id, b"Annots", None, field_id)?;

    let mut out = Vec::with_capacity(pdf.len() + 2 * contents_bytes + 4096);
    inc.save_to(&mut out).map_err(pdf_err)?;
    Ok(out)
}

/// A PDF text string: UTF-16BE with its byte-order mark (names are Vietnamese).
fn text_string(s: &str) -> Vec<u8> {
    let mut v = vec![0xfe, 0xff];
    for u in s.encode_utf16() {
        v.extend_from_slice(&u.to_be_bytes());
    }
    v
}

/// Adds `item` to an array in object `owner`: `owner[key]` when `inner` is None (a page's
/// /Annots), else `owner[key][inner]` (the catalog's /AcroForm /Fields). Each of them may be
/// inline or a reference; whatever is changed is copied into the new revision first.
fn add_to_array_in(
    inc: &mut lopdf::IncrementalDocument,
    owner: ObjectId,
    key: &[u8],
    inner: Option<&[u8]>,
    item: ObjectId,
) -> Result<(), PadesError> {
    inc.opt_clone_object_to_new_document(owner)
        .map_err(pdf_err)?;
    let owner_dict = inc
        .new_document
        .get_object_mut(owner)
        .and_then(Object::as_dict_mut)
        .map_err(pdf_err)?;
    // Follow a reference in the owner to the object really changed.
    let (target_id, target_key): (ObjectId, Vec<u8>) = match inner {
        None => match owner_dict.get(key) {
            Ok(Object::Reference(id)) => (*id, vec![]),
            _ => (owner, key.to_vec()),
        },
        Some(inner_key) => match owner_dict.get(key) {
            Ok(Object::Reference(id)) => (*id, inner_key.to_vec()),
            Ok(Object::Dictionary(_)) => (owner, vec![]),
            _ => {
                let mut form = Dictionary::new();
                form.set(inner_key.to_vec(), Object::Array(vec![]));
                owner_dict.set(key.to_vec(), Object::Dictionary(form));
                (owner, vec![])
            }
        },
    };
    if target_id != owner {
        inc.opt_clone_object_to_new_document(target_id)
            .map_err(pdf_err)?;
    }
    let obj = inc
        .new_document
        .get_object_mut(target_id)
        .map_err(pdf_err)?;
    // Find the array (or the reference to it) to extend.
    let slot: &mut Object = match (inner, target_id == owner, target_key.is_empty()) {
        // /Annots array object itself.
        (None, false, _) => obj,
        (None, true, _) => {
            let d = obj.as_dict_mut().map_err(pdf_err)?;
            if d.get(key).is_err() {
                d.set(key.to_vec(), Object::Array(vec![]));
            }
            d.get_mut(key).map_err(pdf_err)?
        }
        (Some(inner_key), true, _) => {
            let form = obj
                .as_dict_mut()
                .map_err(pdf_err)?
                .get_mut(key)
                .and_then(Object::as_dict_mut)
                .map_err(pdf_err)?;
            if form.get(inner_key).is_err() {
                form.set(inner_key.to_vec(), Object::Array(vec![]));
            }
            form.set("SigFlags", Object::Integer(3));
            form.get_mut(inner_key).map_err(pdf_err)?
        }
        (Some(inner_key), false, _) => {
            let form = obj.as_dict_mut().map_err(pdf_err)?;
            if form.get(inner_key).is_err() {
                form.set(inner_key.to_vec(), Object::Array(vec![]));
            }
            form.set("SigFlags", Object::Integer(3));
            form.get_mut(inner_key).map_err(pdf_err)?
        }
    };
    if let Object::Reference(array_id) = slot {
        let array_id = *array_id;
        inc.opt_clone_object_to_new_document(array_id)
            .map_err(pdf_err)?;
        let arr = inc
            .new_document
            .get_object_mut(array_id)
            .and_then(Object::as_array_mut)
            .map_err(pdf_err)?;
        arr.push(Object::Reference(item));
        return Ok(());
    }
    slot.as_array_mut()
        .map_err(pdf_err)?
        .push(Object::Reference(item));
    Ok(())
}

/// Where the placeholders landed in the new revision (everything after `prev_len`): the
/// /Contents hex string (start of "<", end after ">") and the /ByteRange array (start, length).
fn find_placeholders(
    out: &[u8],
    prev_len: usize,
    contents_bytes: usize,
) -> Result<(usize, usize, usize, usize), PadesError> {
    let tail = &out[prev_len..];
    let mut zeros = Vec::with_capacity(2 * contents_bytes + 2);
    zeros.push(b'<');
    zeros.resize(2 * contents_bytes + 1, b'0');
    zeros.push(b'>');
    let c = find(tail, &zeros).ok_or_else(|| PadesError::Pdf("no /Contents placeholder".into()))?;
    let p = RANGE_PLACEHOLDER.to_string();
    let needle = format!("{p} {p} {p}");
    let r = find(tail, needle.as_bytes())
        .ok_or_else(|| PadesError::Pdf("no /ByteRange placeholder".into()))?;
    let open = tail[..r]
        .iter()
        .rposition(|&b| b == b'[')
        .ok_or_else(|| PadesError::Pdf("no /ByteRange array".into()))?;
    let close = r + tail[r..]
        .iter()
        .position(|&b| b == b']')
        .ok_or_else(|| PadesError::Pdf("no /ByteRange array".into()))?;
    Ok((
        prev_len + c,
        prev_len + c + zeros.len(),
        prev_len + open,
        close + 1 - open,
    ))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The signature dictionaries of a document: (field name, signature dictionary).
fn signature_fields(doc: &lopdf::Document) -> Vec<(String, Dictionary)> {
    let mut out = Vec::new();
    for obj in doc.objects.values() {
        let Ok(d) = obj.as_dict() else { continue };
        let is_sig_field = matches!(d.get(b"FT"), Ok(Object::Name(n)) if n == b"Sig");
        if !is_sig_field {
            continue;
        }
        let name = match d.get(b"T") {
            Ok(Object::String(s, _)) => String::from_utf8_lossy(s).into_owned(),
            _ => String::new(),
        };
        let v = match d.get(b"V") {
            Ok(Object::Reference(id)) => doc.get_object(*id).ok().and_then(|o| o.as_dict().ok()),
            Ok(Object::Dictionary(d)) => Some(d),
            _ => None,
        };
        if let Some(v) = v {
            out.push((name, v.clone()));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Whether `file` shows what `original` shows (review r23 #6: a print whose visible pages were
/// changed, its data left alone, then signed by hand): its newest revision — what a reader
/// displays — has the same pages with the same content, resources and page boxes, the same
/// catalog (embedded data, metadata, viewer settings; the signatures' /AcroForm aside), and no
/// annotation but invisible signature widgets. `None` when it does; else what differs, in
/// English. Objects are compared by value, references followed, streams decoded (bounded).
pub fn shows_as(original: &[u8], file: &[u8]) -> Result<Option<String>, PadesError> {
    let a = lopdf::Document::load_mem(original).map_err(pdf_err)?;
    let b = lopdf::Document::load_mem(file).map_err(pdf_err)?;
    let catalog = |d: &lopdf::Document| -> Result<Vec<u8>, String> {
        let c = d.catalog().map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        Canon::new(d).dict(c, &[b"AcroForm", b"Pages"], 0, &mut out)?;
        Ok(out)
    };
    let (ca, cb) = (catalog(&a), catalog(&b));
    if ca.is_err() || ca != cb {
        return Ok(Some("its document catalog (embedded data, metadata or viewer settings) differs from the print".into()));
    }
    if !only_signature_form(&b) {
        return Ok(Some(
            "its form (/AcroForm) holds more than invisible signature fields".into(),
        ));
    }
    let (pa, pb) = (a.get_pages(), b.get_pages());
    if pa.len() != pb.len() {
        return Ok(Some(format!(
            "it has {} page(s), the print {}",
            pb.len(),
            pa.len()
        )));
    }
    for ((n, &ia), &ib) in pa.iter().zip(pb.values()) {
        let (va, annots_a) = page_view(&a, ia, false);
        let (vb, annots_b) = page_view(&b, ib, true);
        if va.is_err() || va != vb {
            return Ok(Some(format!("page {n}'s content differs from the print")));
        }
        if annots_a != annots_b {
            return Ok(Some(format!(
                "page {n} carries annotations the print does not (only invisible signature fields may be added)"
            )));
        }
    }
    Ok(None)
}

/// Most bytes a comparison writes out per page or catalog (shared objects are written once per
/// reference): past it, the file is not taken as showing the same.
const CANON_LIMIT: usize = 64 << 20;

/// One page as [`shows_as`] compares it: the page dictionary by value (its /Annots and the
/// tree's links aside) with the attributes it inherits, and its annotations — without the
/// invisible signature widgets when `drop_signatures`.
fn page_view(
    d: &lopdf::Document,
    id: ObjectId,
    drop_signatures: bool,
) -> (Result<Vec<u8>, String>, Result<Vec<u8>, String>) {
    let Ok(page) = d.get_dictionary(id) else {
        return (Err("no page".into()), Err("no page".into()));
    };
    let mut canon = Canon::new(d);
    let mut view = Vec::new();
    let mut shown = canon.dict(page, &[b"Annots"], 0, &mut view);
    // Inherited attributes (ISO 32000 7.7.3.4), from the nearest ancestor that has them.
    for key in [&b"Resources"[..], b"MediaBox", b"CropBox", b"Rotate"] {
        if shown.is_err() || page.has(key) {
            continue;
        }
        let mut at = page.get(b"Parent").ok().and_then(|p| p.as_reference().ok());
        for _ in 0..32 {
            let Some(parent) = at.and_then(|p| d.get_dictionary(p).ok()) else {
                break;
            };
            if let Ok(v) = parent.get(key) {
                view.extend_from_slice(key);
                view.push(b'=');
                shown = canon.object(v, 1, &mut view);
                break;
            }
            at = parent
                .get(b"Parent")
                .ok()
                .and_then(|p| p.as_reference().ok());
        }
    }
    let mut annots = Vec::new();
    let mut listed = Ok(());
    let list = match page.get(b"Annots") {
        Ok(Object::Reference(r)) => d.get_object(*r).and_then(Object::as_array).ok().cloned(),
        Ok(Object::Array(a)) => Some(a.clone()),
        _ => None,
    };
    for a in list.unwrap_or_default() {
        let resolved = match &a {
            Object::Reference(r) => d.get_dictionary(*r).ok(),
            Object::Dictionary(x) => Some(x),
            _ => None,
        };
        if drop_signatures && resolved.is_some_and(invisible_signature) {
            continue;
        }
        if listed.is_ok() {
            listed = canon.object(&a, 0, &mut annots);
        }
    }
    (shown.map(|_| view), listed.map(|_| annots))
}

/// A signature field's widget that shows and does nothing, as [`append_signature_revision`]
/// writes it: /FT /Sig, a zero-area /Rect, and no key beyond those (no appearance, action or
/// additional action).
fn invisible_signature(w: &Dictionary) -> bool {
    const KEYS: [&[u8]; 8] = [b"Type", b"Subtype", b"FT", b"T", b"V", b"Rect", b"F", b"P"];
    let sig = matches!(w.get(b"FT"), Ok(Object::Name(n)) if n == b"Sig");
    let rect: Vec<f32> = w
        .get(b"Rect")
        .and_then(Object::as_array)
        .map(|r| r.iter().filter_map(|x| x.as_float().ok()).collect())
        .unwrap_or_default();
    let empty = rect.len() == 4 && rect[0] == rect[2] && rect[1] == rect[3];
    sig && empty && w.iter().all(|(k, _)| KEYS.contains(&k.as_slice()))
}

/// Whether a file's /AcroForm is only what signing adds: /Fields of invisible signature
/// widgets ([`invisible_signature`]) and /SigFlags — no XFA, default appearance or resources
/// that some readers would draw.
fn only_signature_form(d: &lopdf::Document) -> bool {
    let Ok(catalog) = d.catalog() else {
        return false;
    };
    let form = match catalog.get(b"AcroForm") {
        Err(_) => return true,
        Ok(Object::Reference(r)) => d.get_dictionary(*r).ok(),
        Ok(Object::Dictionary(x)) => Some(x),
        Ok(_) => None,
    };
    let Some(form) = form else { return false };
    if !form
        .iter()
        .all(|(k, _)| matches!(k.as_slice(), b"Fields" | b"SigFlags"))
    {
        return false;
    }
    let fields = match form.get(b"Fields") {
        Err(_) => return true,
        Ok(Object::Reference(r)) => d.get_object(*r).and_then(Object::as_array).ok(),
        Ok(Object::Array(a)) => Some(a),
        Ok(_) => None,
    };
    fields.is_some_and(|fields| {
        fields.iter().all(|f| {
            f.as_reference()
                .ok()
                .and_then(|r| d.get_dictionary(r).ok())
                .is_some_and(invisible_signature)
        })
    })
}

/// Objects written out by value, references followed (the page tree's /Parent and an
/// annotation's /P never: they lead back), streams decoded, so two files that show the same
/// compare equal whatever their object numbers and compression.
struct Canon<'d> {
    d: &'d lopdf::Document,
    written: usize,
}

impl<'d> Canon<'d> {
    fn new(d: &'d lopdf::Document) -> Self {
        Canon { d, written: 0 }
    }

    fn object(&mut self, o: &Object, depth: usize, out: &mut Vec<u8>) -> Result<(), String> {
        if depth > 48 {
            return Err("objects nested too deep".into());
        }
        if out.len() > CANON_LIMIT || self.written > CANON_LIMIT {
            return Err("too large to compare".into());
        }
        match o {
            Object::Reference(id) => {
                let t = self
                    .d
                    .get_object(*id)
                    .map_err(|_| format!("object {} {} missing", id.0, id.1))?;
                self.object(t, depth + 1, out)
            }
            Object::Array(a) => {
                out.push(b'[');
                for x in a {
                    self.object(x, depth + 1, out)?;
                    out.push(b' ');
                }
                out.push(b']');
                Ok(())
            }
            Object::Dictionary(x) => self.dict(x, &[], depth, out),
            Object::Stream(st) => {
                self.dict(
                    &st.dict,
                    &[b"Length", b"Filter", b"DecodeParms"],
                    depth,
                    out,
                )?;
                let content = st
                    .decompressed_content_with_limit(CANON_LIMIT)
                    .map_err(|e| e.to_string())?;
                self.written += content.len();
                out.extend_from_slice(format!("stream {}:", content.len()).as_bytes());
                out.extend_from_slice(&content);
                Ok(())
            }
            other => {
                out.extend_from_slice(format!("{other:?} ").as_bytes());
                Ok(())
            }
        }
    }

    fn dict(
        &mut self,
        x: &Dictionary,
        skip: &[&[u8]],
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        let mut keys: Vec<&Vec<u8>> = x
            .iter()
            .map(|(k, _)| k)
            .filter(|k| !skip.contains(&k.as_slice()) && !matches!(k.as_slice(), b"Parent" | b"P"))
            .collect();
        keys.sort();
        out.push(b'<');
        for k in keys {
            out.extend_from_slice(k);
            out.push(b'=');
            if let Ok(v) = x.get(k) {
                self.object(v, depth + 1, out)?;
            }
            out.push(b';');
        }
        out.push(b'>');
        Ok(())
    }
}

/// What a reader learns about one signature.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SignatureReport {
    pub field: String,
    pub signer: String,
    pub role: Option<String>,
    pub issuer: String,
    /// /M, as written (PDF date).
    pub signing_time: Option<String>,
    /// The signed bytes hash to the signed messageDigest and the CMS signature verifies.
    pub bytes_intact: bool,
    /// The signer's certificate was issued by the trust anchor and valid at the signing time.
    pub chain_ok: bool,
    /// The signature's byte range ends where the file ends (later signatures are revisions
    /// appended after it).
    pub covers_whole_file: bool,
    /// The time of the signature's RFC 3161 time-stamp (PAdES B-T), when it has one whose
    /// token dates this signature's value and verifies with the certificate it carries.
    pub timestamp: Option<jiff::Timestamp>,
    /// `timestamp` is a document time-stamp's (a /DocTimeStamp revision after the signature,
    /// for a signature signed over before it could take a token of its own).
    pub timestamp_document: bool,
    /// SHA-256 of the signer's certificate (DER) and of the CMS signature value, hex: what a
    /// signature register (`gradebook::hocba::REGISTER`) knows a signature by — the value
    /// stays the same when a time-stamp is added to the signature's unsigned part.
    pub cert_sha256: String,
    pub signature_sha256: String,
    /// SHA-256 (hex) of the public key (SubjectPublicKeyInfo DER, [`spki_sha256`]) of the trust
    /// anchor the signer's certificate chains to; empty when it reaches none. Which of the
    /// school's CAs vouches for a signature is known by this key, never by a name another CA
    /// may carry too (review r22 #6).
    #[serde(skip)]
    pub anchor_key: String,
    /// Where the signed revision ends (the second range's end).
    #[serde(skip)]
    signed_until: usize,
    /// Everything found wrong, in English (CLI and logs).
    pub problems: Vec<String>,
}

impl SignatureReport {
    pub fn valid(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks every signature of `pdf` against the trust anchor `anchor` (the school signing CA).
/// The files a PDF carries as associated data (the catalog's /AF, PDF/A-3 style, with
/// AFRelationship /Data): (name, bytes). What a signature covers is checked by [`verify`]; this
/// only reads them.
pub fn embedded_data(pdf: &[u8]) -> Result<Vec<(String, Vec<u8>)>, PadesError> {
    let doc = lopdf::Document::load_mem(pdf).map_err(pdf_err)?;
    let deref = |o: &Object| -> Option<Object> {
        match o {
            Object::Reference(id) => doc.get_object(*id).ok().cloned(),
            other => Some(other.clone()),
        }
    };
    let mut out = Vec::new();
    let Some(af) = doc
        .catalog()
        .ok()
        .and_then(|c| c.get(b"AF").ok())
        .and_then(deref)
    else {
        return Ok(out);
    };
    for spec in af.as_array().map(|a| a.to_vec()).unwrap_or_default() {
        let Some(Object::Dictionary(spec)) = deref(&spec) else {
            continue;
        };
        if spec.get(b"AFRelationship").and_then(|r| r.as_name()).ok() != Some(&b"Data"[..]) {
            continue;
        }
        let name = spec
            .get(b"UF")
            .or_else(|_| spec.get(b"F"))
            .ok()
            .and_then(|n| n.as_str().ok())
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        let stream = spec.get(b"EF").ok().and_then(deref).and_then(|ef| {
            ef.as_dict()
                .ok()
                .and_then(|d| d.get(b"F").ok())
                .and_then(deref)
        });
        if let Some(Object::Stream(st)) = stream {
            let bytes = st
                .decompressed_content()
                .unwrap_or_else(|_| st.content.clone());
            out.push((name, bytes));
        }
    }
    Ok(out)
}

pub fn verify(pdf: &[u8], anchor: &Certificate) -> Result<Vec<SignatureReport>, PadesError> {
    verify_anchored(pdf, std::slice::from_ref(anchor))
}

/// Checks every signature of `pdf` against several trust anchors: the school signing CA and the
/// licensed CAs whose certificates a principal imported (each signature needs to reach one).
pub fn verify_anchored(
    pdf: &[u8],
    anchors: &[Certificate],
) -> Result<Vec<SignatureReport>, PadesError> {
    verify_with_intermediates(pdf, anchors, &[])
}

/// [`verify_anchored`] with further intermediate certificates to build chains through, beside
/// those each CMS carries: the hub holds the chains a school's imported signers came with, for
/// a file whose CMS lacks one. An intermediate is never an anchor: trust still ends at one of
/// `anchors`.
pub fn verify_with_intermediates(
    pdf: &[u8],
    anchors: &[Certificate],
    intermediates: &[Certificate],
) -> Result<Vec<SignatureReport>, PadesError> {
    let doc = lopdf::Document::load_mem(pdf).map_err(pdf_err)?;
    let mut reports = Vec::new();
    let mut stamps = Vec::new();
    for (field, sig) in signature_fields(&doc) {
        if is_doc_timestamp(&sig) {
            stamps.push(verify_doc_timestamp(pdf, &sig));
        } else {
            reports.push(verify_one(pdf, field, &sig, anchors, intermediates));
        }
    }
    // In signing order: the revision each signature covers ends earlier for the first signer.
    reports.sort_by_key(|r| r.signed_until);
    stamps.sort_by_key(|d| d.until);
    // A document time-stamp dates every signature its byte range covers; a signature keeps
    // its own token's time (PAdES B-T) when it has one, else takes the earliest such stamp.
    // One that does not verify is a problem of the newest signature it follows.
    let mut stamped_until = 0;
    // Where the last document time-stamp that does not verify ends: its revision is named as
    // such, not as "bytes added after the last signature" (review r13 #10).
    let mut failed_until = 0;
    for d in &stamps {
        if !d.problems.is_empty() {
            failed_until = failed_until.max(d.until);
        }
        if d.problems.is_empty() {
            stamped_until = stamped_until.max(d.until);
            for r in reports.iter_mut().filter(|r| r.signed_until <= d.until) {
                if r.timestamp.is_none() {
                    r.timestamp = d.at;
                    r.timestamp_document = true;
                }
            }
        } else if let Some(r) = reports.iter_mut().rfind(|r| r.signed_until <= d.until) {
            r.problems.extend(d.problems.iter().cloned());
        }
    }
    // An update appended after the last signature could change what every earlier signature is
    // shown over (a new page content, another field value) while their bytes still match: the
    // newest signature, or a document time-stamp after it, must cover the whole file. (What
    // the revisions *between* signatures change is not analysed here; pyHanko's difference
    // analysis does that.)
    if let Some(last) = reports.last_mut() {
        let covered = last.signed_until.max(stamped_until);
        // A failing document time-stamp's revision ending the file is already a problem of
        // this signature ("the document time-stamp does not verify…").
        if covered < pdf.len() && failed_until < pdf.len() {
            last.problems.push(format!(
                "{} bytes were added after the last signature (an unsigned revision)",
                pdf.len() - covered
            ));
        }
    }
    Ok(reports)
}

fn verify_one(
    pdf: &[u8],
    field: String,
    sig: &Dictionary,
    anchors: &[Certificate],
    intermediates: &[Certificate],
) -> SignatureReport {
    let mut r = SignatureReport {
        field,
        signer: String::new(),
        role: None,
        issuer: String::new(),
        signing_time: match sig.get(b"M") {
            Ok(Object::String(s, _)) => Some(String::from_utf8_lossy(s).into_owned()),
            _ => None,
        },
        bytes_intact: false,
        chain_ok: false,
        covers_whole_file: false,
        timestamp: None,
        timestamp_document: false,
        cert_sha256: String::new(),
        signature_sha256: String::new(),
        anchor_key: String::new(),
        signed_until: 0,
        problems: vec![],
    };
    let sub = match sig.get(b"SubFilter") {
        Ok(Object::Name(n)) => String::from_utf8_lossy(n).into_owned(),
        _ => String::new(),
    };
    if sub != "ETSI.CAdES.detached" {
        r.problems
            .push(format!("SubFilter is {sub:?}, not ETSI.CAdES.detached"));
    }
    let range: Vec<usize> = match sig.get(b"ByteRange").and_then(Object::as_array) {
        Ok(a) => a
            .iter()
            .filter_map(|o| o.as_i64().ok().and_then(|i| usize::try_from(i).ok()))
            .collect(),
        Err(_) => vec![],
    };
    let contents = match sig.get(b"Contents") {
        Ok(Object::String(s, _)) => s.clone(),
        _ => vec![],
    };
    let [start, a, b, c] = range[..] else {
        r.problems.push("no usable /ByteRange".into());
        return r;
    };
    let Some(end) = b.checked_add(c) else {
        r.problems.push("/ByteRange out of the file".into());
        return r;
    };
    if start != 0 || a >= b || end > pdf.len() || pdf.get(a) != Some(&b'<') || pdf[b - 1] != b'>' {
        r.problems
            .push("/ByteRange does not exclude exactly the /Contents string".into());
        return r;
    }
    r.covers_whole_file = end == pdf.len();
    r.signed_until = end;
    // The gap must hold this dictionary's own /Contents, not some other signature's.
    let gap: Vec<u8> = pdf[a + 1..b - 1]
        .iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if hex::decode(&gap).ok().as_deref() != Some(contents.as_slice()) {
        r.problems
            .push("the bytes left out of /ByteRange are not this signature's /Contents".into());
        return r;
    }

    let mut reader = match der::SliceReader::new(&contents) {
        Ok(rd) => rd,
        Err(e) => {
            r.problems.push(format!("unreadable CMS: {e}"));
            return r;
        }
    };
    // The CMS is followed by the placeholder's zero padding: read one value, ignore the rest.
    let signed = ContentInfo::decode(&mut reader)
        .map_err(|e| e.to_string())
        .and_then(|ci| {
            ci.content
                .decode_as::<SignedData>()
                .map_err(|e| e.to_string())
        });
    let signed = match signed {
        Ok(s) => s,
        Err(e) => {
            r.problems.push(format!("unreadable CMS: {e}"));
            return r;
        }
    };
    let Some(info) = signed.signer_infos.0.iter().next() else {
        r.problems.push("CMS without a signer".into());
        return r;
    };
    let certs: Vec<&Certificate> = signed
        .certificates
        .iter()
        .flat_map(|s| s.0.iter())
        .filter_map(|c| match c {
            CertificateChoices::Certificate(c) => Some(c),
            _ => None,
        })
        .collect();
    let SignerIdentifier::IssuerAndSerialNumber(ias) = &info.sid else {
        r.problems
            .push("signer named by key identifier, not supported".into());
        return r;
    };
    let Some(cert) = certs.iter().find(|c| {
        c.tbs_certificate.issuer == ias.issuer
            && c.tbs_certificate.serial_number == ias.serial_number
    }) else {
        r.problems
            .push("the signer's certificate is not in the CMS".into());
        return r;
    };
    let (name, role) = subject_name_and_role(cert);
    r.signer = name;
    r.role = role;
    r.issuer = cert.tbs_certificate.issuer.to_string();

    // The bytes: digest of the two ranges against the signed messageDigest.
    let mut hasher = Sha256::new();
    hasher.update(&pdf[..a]);
    hasher.update(&pdf[b..end]);
    let digest = hasher.finalize();
    let attrs = info.signed_attrs.as_ref();
    let attr_value = |oid: ObjectIdentifier| {
        attrs.and_then(|a| {
            a.iter()
                .find(|x| x.oid == oid)
                .and_then(|x| x.values.iter().next())
        })
    };
    let md = attr_value(ID_MESSAGE_DIGEST).and_then(|v| v.decode_as::<OctetString>().ok());
    let digest_ok = md
        .as_ref()
        .is_some_and(|m| m.as_bytes() == digest.as_slice());
    if !digest_ok {
        r.problems
            .push("the signed bytes changed: their SHA-256 is not the signed messageDigest".into());
    }
    let cert_der = cert.to_der().unwrap_or_default();
    r.cert_sha256 = hex::encode(Sha256::digest(&cert_der));
    r.signature_sha256 = hex::encode(Sha256::digest(info.signature.as_bytes()));
    let ess_ok = attr_value(ID_SIGNING_CERTIFICATE_V2)
        .and_then(|v| v.decode_as::<SigningCertificateV2>().ok())
        .and_then(|s| s.certs.into_iter().next())
        .is_some_and(|id| id.cert_hash.as_bytes() == Sha256::digest(&cert_der).as_slice());
    if !ess_ok {
        r.problems
            .push("signingCertificateV2 is missing or names another certificate".into());
    }
    let sig_ok = attrs
        .and_then(|a| a.to_der().ok())
        .is_some_and(|signed_der| {
            verify_signature(
                cert,
                &info.signature_algorithm.oid,
                &signed_der,
                info.signature.as_bytes(),
            )
        });
    if !sig_ok {
        r.problems.push("the CMS signature does not verify".into());
    }
    r.bytes_intact = digest_ok && sig_ok;
    match signature_timestamp(info) {
        Ok(t) => r.timestamp = t,
        Err(why) => r.problems.push(why),
    }

    // The chain: to an anchor — directly (the school signing CA) or through the intermediate
    // certificates the CMS carries (a licensed CA's) —, every link valid at /M.
    let at = r.signing_time.as_deref().and_then(parse_pdf_date);
    let mut pool = certs.clone();
    pool.extend(intermediates);
    let anchor = anchors.iter().find(|a| chains_to(cert, &pool, a, at));
    r.anchor_key = anchor.map(spki_sha256).unwrap_or_default();
    let issued = anchor.is_some();
    if !issued {
        r.problems
            .push("the signer's certificate was not issued by the trusted CA".into());
    }
    let within = at.is_some_and(|t| valid_at(cert, t));
    if !within {
        r.problems
            .push("the signing time (/M) is missing or outside the certificate's validity".into());
    }
    r.chain_ok = issued && within;
    r
}

/// `cert` reaches `anchor` through `pool` (each link issued by the next, valid at `at` when
/// given); a licensed CA's chain is a few levels deep at most.
pub(crate) fn chains_to(
    cert: &Certificate,
    pool: &[&Certificate],
    anchor: &Certificate,
    at: Option<jiff::Timestamp>,
) -> bool {
    let mut current = cert;
    for _ in 0..6 {
        if issued_by(current, anchor) {
            return true;
        }
        let Some(next) = pool.iter().find(|c| {
            c.tbs_certificate.subject == current.tbs_certificate.issuer
                && **c != current
                && issued_by(current, c)
        }) else {
            return false;
        };
        if at.is_some_and(|t| !valid_at(next, t)) {
            return false;
        }
        current = next;
    }
    false
}

/// SHA-256 (hex) of `cert`'s public key, its SubjectPublicKeyInfo DER: what a CA is known by
/// ([`SignatureReport::anchor_key`]) — a renewed CA has a new key, a stranger's CA of the same
/// name another.
pub fn spki_sha256(cert: &Certificate) -> String {
    hex::encode(Sha256::digest(
        cert.tbs_certificate
            .subject_public_key_info
            .to_der()
            .unwrap_or_default(),
    ))
}

/// `cert` names `issuer` as its issuer and carries its signature.
pub(crate) fn issued_by(cert: &Certificate, issuer: &Certificate) -> bool {
    cert.tbs_certificate.issuer == issuer.tbs_certificate.subject
        && cert
            .tbs_certificate
            .to_der()
            .ok()
            .zip(cert.signature.as_bytes())
            .is_some_and(|(tbs, s)| {
                verify_signature(issuer, &cert.signature_algorithm.oid, &tbs, s)
            })
}

const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");

/// Verifies `signature` over `message` by the key of `cert`: ECDSA P-256/SHA-256 (the school's
/// certificates), or RSA PKCS#1 v1.5 with SHA-2 (`algorithm` names which; a licensed CA's).
fn verify_signature(
    cert: &Certificate,
    algorithm: &ObjectIdentifier,
    message: &[u8],
    signature: &[u8],
) -> bool {
    let spki = &cert.tbs_certificate.subject_public_key_info;
    if spki.algorithm.oid == ID_EC_PUBLIC_KEY {
        return verify_ecdsa(cert, message, signature);
    }
    if spki.algorithm.oid != RSA_ENCRYPTION {
        return false;
    }
    use rsa::pkcs8::DecodePublicKey as _;
    let Some(key) = spki
        .to_der()
        .ok()
        .and_then(|d| rsa::RsaPublicKey::from_public_key_der(&d).ok())
    else {
        return false;
    };
    let Ok(sig) = rsa::pkcs1v15::Signature::try_from(signature) else {
        return false;
    };
    use rsa::pkcs1v15::VerifyingKey;
    // rsaEncryption as a CMS signature algorithm leaves the hash to digestAlgorithm: SHA-256.
    match *algorithm {
        RSA_ENCRYPTION | SHA256_WITH_RSA => VerifyingKey::<Sha256>::new(key)
            .verify(message, &sig)
            .is_ok(),
        SHA384_WITH_RSA => VerifyingKey::<sha2::Sha384>::new(key)
            .verify(message, &sig)
            .is_ok(),
        SHA512_WITH_RSA => VerifyingKey::<sha2::Sha512>::new(key)
            .verify(message, &sig)
            .is_ok(),
        _ => false,
    }
}

/// `at` lies within the certificate's validity (its start and end included).
pub fn valid_at(cert: &Certificate, at: jiff::Timestamp) -> bool {
    let v = &cert.tbs_certificate.validity;
    let t = std::time::SystemTime::from(at);
    v.not_before.to_system_time() <= t && t <= v.not_after.to_system_time()
}

/// Verifies an ECDSA P-256/SHA-256 signature (DER) by the key of `cert`.
pub(crate) fn verify_ecdsa(cert: &Certificate, message: &[u8], signature: &[u8]) -> bool {
    let Ok(spki) = cert.tbs_certificate.subject_public_key_info.to_der() else {
        return false;
    };
    let Ok(key) = VerifyingKey::from_public_key_der(&spki) else {
        return false;
    };
    let Ok(sig) = DerSignature::try_from(signature) else {
        return false;
    };
    key.verify(message, &sig).is_ok()
}

/// "D:20261206102400+00'00'" (or with Z, or another offset) as a timestamp.
pub fn parse_pdf_date(s: &str) -> Option<jiff::Timestamp> {
    let s = s.strip_prefix("D:")?;
    let digits: String = s.chars().take(14).collect();
    if digits.len() != 14 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let rest = &s[14..];
    let offset = match rest.chars().next() {
        None | Some('Z') => "+00:00".to_string(),
        Some(sign @ ('+' | '-')) => {
            let h: String = rest[1..].chars().filter(|c| c.is_ascii_digit()).collect();
            if h.len() < 4 {
                return None;
            }
            format!("{sign}{}:{}", &h[..2], &h[2..4])
        }
        _ => return None,
    };
    let iso = format!(
        "{}-{}-{}T{}:{}:{}{}",
        &digits[..4],
        &digits[4..6],
        &digits[6..8],
        &digits[8..10],
        &digits[10..12],
        &digits[12..14],
        offset
    );
    iso.parse().ok()
}

/// The time of a signer's time-stamp (id-aa-signatureTimeStampToken): `Ok(None)` without one,
/// its time when its token dates the SHA-256 of this signature value and its TSA signature
/// verifies, and an error when a token is there but does not (review r15 #2: a changed byte in
/// the token read as "no time-stamp" and the signature as valid — pyHanko calls it INVALID).
fn signature_timestamp(
    info: &cms::signed_data::SignerInfo,
) -> Result<Option<jiff::Timestamp>, String> {
    let Some(attr) = info.unsigned_attrs.as_ref().and_then(|a| {
        a.iter()
            .find(|a| a.oid == super::tsa::ID_AA_SIGNATURE_TIME_STAMP_TOKEN)
    }) else {
        return Ok(None);
    };
    let bad = |why: String| format!("the signature's time-stamp token does not verify: {why}");
    let token: ContentInfo = attr
        .values
        .iter()
        .next()
        .ok_or_else(|| bad("the attribute is empty".into()))?
        .decode_as()
        .map_err(|_| bad("it is not a readable RFC 3161 token (damaged)".into()))?;
    let (tst, _) = super::tsa::token_info(&token).map_err(|e| bad(e.to_string()))?;
    let imprint = Sha256::digest(info.signature.as_bytes());
    if tst.message_imprint.hashed_message.as_bytes() != imprint.as_slice() {
        return Err(bad("it dates other bytes than this signature".into()));
    }
    super::tsa::gen_time(&tst)
        .map(Some)
        .map_err(|e| bad(e.to_string()))
}

/// A signature dictionary's /ByteRange as offsets: Some((a, b, end)) when it is
/// [0 a b c] with b + c = end inside the file and the gap [a, b) is a hex string ("<"…">").
fn byte_range_of(pdf: &[u8], sig: &Dictionary) -> Option<(usize, usize, usize)> {
    let range: Vec<usize> = sig
        .get(b"ByteRange")
        .and_then(Object::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|o| o.as_i64().ok().and_then(|i| usize::try_from(i).ok()))
                .collect()
        })
        .unwrap_or_default();
    let [0, a, b, c] = range[..] else {
        return None;
    };
    let end = b.checked_add(c)?;
    (a < b && end <= pdf.len() && pdf.get(a) == Some(&b'<') && pdf.get(b - 1) == Some(&b'>'))
        .then_some((a, b, end))
}

/// A signature dictionary is a document time-stamp (PAdES B-LTA's mechanism, ISO 32000-2
/// 12.8.5): /Type /DocTimeStamp, an RFC 3161 token over the bytes of its byte range.
fn is_doc_timestamp(sig: &Dictionary) -> bool {
    matches!(sig.get(b"Type"), Ok(Object::Name(n)) if n == b"DocTimeStamp")
}

/// The CMS ContentInfo written in /Contents' gap [a, b) (the hex string with its padding).
fn contents_cms(pdf: &[u8], a: usize, b: usize) -> Result<ContentInfo, PadesError> {
    let contents = hex::decode(
        pdf[a + 1..b - 1]
            .iter()
            .copied()
            .filter(|c| !c.is_ascii_whitespace())
            .collect::<Vec<u8>>(),
    )
    .map_err(pdf_err)?;
    let mut reader = der::SliceReader::new(&contents).map_err(cms_err)?;
    // The CMS is followed by the placeholder's zero padding: read one value, ignore the rest.
    ContentInfo::decode(&mut reader).map_err(cms_err)
}

/// The newest signature of a file (document time-stamps aside): where its /Contents string
/// lies (the "<" and one past the ">"), whether its byte range ends where the file ends, and
/// its SignedData.
fn last_signature(pdf: &[u8]) -> Result<(usize, usize, bool, SignedData), PadesError> {
    let doc = lopdf::Document::load_mem(pdf).map_err(pdf_err)?;
    let newest = signature_fields(&doc)
        .iter()
        .filter(|(_, sig)| !is_doc_timestamp(sig))
        .filter_map(|(_, sig)| byte_range_of(pdf, sig))
        .max_by_key(|(_, _, end)| *end)
        .ok_or_else(|| PadesError::Pdf("the file has no signature".into()))?;
    let (a, b, end) = newest;
    let sd = contents_cms(pdf, a, b)?
        .content
        .decode_as::<SignedData>()
        .map_err(cms_err)?;
    Ok((a, b, end == pdf.len(), sd))
}

fn ends_without_signature() -> PadesError {
    PadesError::Pdf("the file does not end with a signature (an update was added after it)".into())
}

/// The one signer of a PAdES signature's CMS.
fn first_signer(sd: &SignedData) -> Result<&cms::signed_data::SignerInfo, PadesError> {
    sd.signer_infos
        .0
        .iter()
        .next()
        .ok_or_else(|| PadesError::Cms("CMS without a signer".into()))
}

/// How a register knows the newest signature of a file that ends with it: the SHA-256 of its
/// signer's certificate (DER) and of its signature value, hex (as [`SignatureReport`] names
/// them).
pub fn newest_signature_ids(pdf: &[u8]) -> Result<(String, String), PadesError> {
    let (_, _, _, sd) = last_signature(pdf)?;
    let info = first_signer(&sd)?;
    let SignerIdentifier::IssuerAndSerialNumber(ias) = &info.sid else {
        return Err(PadesError::Cms("signer named by key identifier".into()));
    };
    let cert = sd
        .certificates
        .iter()
        .flat_map(|s| s.0.iter())
        .find_map(|c| match c {
            CertificateChoices::Certificate(c)
                if c.tbs_certificate.issuer == ias.issuer
                    && c.tbs_certificate.serial_number == ias.serial_number =>
            {
                Some(c)
            }
            _ => None,
        })
        .ok_or_else(|| PadesError::Cms("the signer's certificate is not in the CMS".into()))?;
    let der = cert.to_der().map_err(cms_err)?;
    Ok((
        hex::encode(Sha256::digest(&der)),
        hex::encode(Sha256::digest(info.signature.as_bytes())),
    ))
}

/// What a time-stamp of the file's newest signature must date: the SHA-256 of its signature
/// value (PAdES B-T, as ETSI EN 319 122-1 5.3 asks). None when it already has one.
pub fn signature_to_stamp(pdf: &[u8]) -> Result<Option<[u8; 32]>, PadesError> {
    let (_, _, whole, sd) = last_signature(pdf)?;
    if !whole {
        return Err(ends_without_signature());
    }
    let info = first_signer(&sd)?;
    let stamped = info.unsigned_attrs.as_ref().is_some_and(|u| {
        u.iter()
            .any(|a| a.oid == super::tsa::ID_AA_SIGNATURE_TIME_STAMP_TOKEN)
    });
    Ok((!stamped).then(|| Sha256::digest(info.signature.as_bytes()).into()))
}

/// The file with `token` (an RFC 3161 TimeStampToken, DER) added to its newest signature as the
/// unsigned attribute id-aa-signatureTimeStampToken. Unsigned attributes are outside what the
/// signature covers and the CMS lives in the reserved /Contents space, so the CMS is rewritten
/// in place: the file keeps its length, its /ByteRange and every signed byte — the signature
/// is not made again. Refused when the larger CMS does not fit the reserved space.
pub fn add_signature_timestamp(pdf: &[u8], token: &[u8]) -> Result<Vec<u8>, PadesError> {
    let (a, b, whole, mut sd) = last_signature(pdf)?;
    // Only a signature no later revision covers may have its unsigned part rewritten: a later
    // signer's or time-stamp's byte range includes these bytes.
    if !whole {
        return Err(ends_without_signature());
    }
    let value = der::Any::from_der(token).map_err(cms_err)?;
    let mut infos = sd.signer_infos.0.into_vec();
    let info = infos
        .first_mut()
        .ok_or_else(|| PadesError::Cms("CMS without a signer".into()))?;
    let mut values = SetOfVec::new();
    values.insert(value).map_err(cms_err)?;
    let mut unsigned = info.unsigned_attrs.take().unwrap_or_default();
    unsigned
        .insert(Attribute {
            oid: super::tsa::ID_AA_SIGNATURE_TIME_STAMP_TOKEN,
            values,
        })
        .map_err(cms_err)?;
    info.unsigned_attrs = Some(unsigned);
    sd.signer_infos = cms::signed_data::SignerInfos(SetOfVec::try_from(infos).map_err(cms_err)?);
    let ci = ContentInfo {
        content_type: der::oid::db::rfc5911::ID_SIGNED_DATA,
        content: der::Any::encode_from(&sd).map_err(cms_err)?,
    };
    let hex = hex::encode_upper(ci.to_der().map_err(cms_err)?);
    if hex.len() > b - a - 2 {
        return Err(PadesError::Cms(
            "the time-stamp does not fit the space reserved for the signature".into(),
        ));
    }
    let mut out = pdf.to_vec();
    out[a + 1..b - 1].fill(b'0');
    out[a + 1..a + 1 + hex.len()].copy_from_slice(hex.as_bytes());
    Ok(out)
}

/// Room reserved for a document time-stamp's token in /Contents: the hub's token (TSTInfo, the
/// TSA's P-256 signature and certificate) is ~1 KB.
const DOC_TS_BYTES: usize = 6 * 1024;

/// How many signatures `pdf` carries (signature fields with a value), document time-stamps
/// not counted.
pub fn signature_count(pdf: &[u8]) -> Result<usize, PadesError> {
    let doc = lopdf::Document::load_mem(pdf).map_err(pdf_err)?;
    Ok(signature_fields(&doc)
        .iter()
        .filter(|(_, sig)| !is_doc_timestamp(sig))
        .count())
}

/// The signatures of a file (fields, in signing order) that no time-stamp dates: without a
/// token of their own (PAdES B-T) and with no document time-stamp after them.
pub fn unstamped_signatures(pdf: &[u8]) -> Result<Vec<String>, PadesError> {
    let doc = lopdf::Document::load_mem(pdf).map_err(pdf_err)?;
    let fields = signature_fields(&doc);
    let stamped_until = fields
        .iter()
        .filter(|(_, sig)| is_doc_timestamp(sig))
        .filter_map(|(_, sig)| byte_range_of(pdf, sig))
        .map(|(_, _, end)| end)
        .max();
    let mut out = Vec::new();
    for (field, sig) in fields.iter().filter(|(_, sig)| !is_doc_timestamp(sig)) {
        let Some((a, b, end)) = byte_range_of(pdf, sig) else {
            continue;
        };
        if stamped_until.is_some_and(|until| until >= end) {
            continue;
        }
        let sd = contents_cms(pdf, a, b)?
            .content
            .decode_as::<SignedData>()
            .map_err(cms_err)?;
        let own = first_signer(&sd)?.unsigned_attrs.as_ref().is_some_and(|u| {
            u.iter()
                .any(|a| a.oid == super::tsa::ID_AA_SIGNATURE_TIME_STAMP_TOKEN)
        });
        if !own {
            out.push((end, field.clone()));
        }
    }
    out.sort();
    Ok(out.into_iter().map(|(_, f)| f).collect())
}

/// The certificates of the time-stamping authorities whose tokens in `pdf` verify (each
/// signature's own token and each document time-stamp), DER, each once: what a reader of an
/// exported file trusts beside the signing CA to accept its time-stamps (the hub's `tsa.crt`).
pub fn tsa_certificates(pdf: &[u8]) -> Result<Vec<Vec<u8>>, PadesError> {
    let doc = lopdf::Document::load_mem(pdf).map_err(pdf_err)?;
    let mut out: Vec<Vec<u8>> = Vec::new();
    for (_, sig) in signature_fields(&doc) {
        let Some((a, b, _)) = byte_range_of(pdf, &sig) else {
            continue;
        };
        let Ok(ci) = contents_cms(pdf, a, b) else {
            continue;
        };
        let tokens: Vec<ContentInfo> = if is_doc_timestamp(&sig) {
            vec![ci]
        } else {
            let Ok(sd) = ci.content.decode_as::<SignedData>() else {
                continue;
            };
            sd.signer_infos
                .0
                .iter()
                .filter_map(|i| i.unsigned_attrs.as_ref())
                .flat_map(|u| u.iter())
                .filter(|a| a.oid == super::tsa::ID_AA_SIGNATURE_TIME_STAMP_TOKEN)
                .flat_map(|a| a.values.iter())
                .filter_map(|v| v.decode_as::<ContentInfo>().ok())
                .collect()
        };
        for token in tokens {
            // Only a token whose TSA signature verifies names its TSA.
            let Ok((_, sd)) = super::tsa::token_info(&token) else {
                continue;
            };
            for c in sd.certificates.iter().flat_map(|s| s.0.iter()) {
                if let CertificateChoices::Certificate(c) = c
                    && let Ok(der) = c.to_der()
                    && !out.contains(&der)
                {
                    out.push(der);
                }
            }
        }
    }
    Ok(out)
}

/// A document time-stamp revision written with its placeholder, waiting for the token:
/// `digest` is what the token must date (its messageImprint, SHA-256 of the byte range).
pub struct DocTimestampDraft {
    pdf: Vec<u8>,
    contents: (usize, usize),
    pub digest: [u8; 32],
}

/// Appends a document time-stamp revision to `pdf` (ETSI EN 319 142-1 5.4, ISO 32000-2
/// 12.8.5): a signature dictionary /Type /DocTimeStamp, /SubFilter /ETSI.RFC3161, in a field of
/// its own, as an incremental update — every earlier signature keeps its bytes. What the
/// token must date is the draft's `digest`; [`DocTimestampDraft::finish`] writes it in.
pub fn prepare_document_timestamp(pdf: &[u8]) -> Result<DocTimestampDraft, PadesError> {
    let mut sig = Dictionary::new();
    sig.set("Type", Object::Name(b"DocTimeStamp".to_vec()));
    sig.set("Filter", Object::Name(b"Adobe.PPKLite".to_vec()));
    sig.set("SubFilter", Object::Name(b"ETSI.RFC3161".to_vec()));
    let mut out = append_signature_revision(pdf, sig, DOC_TS_BYTES)?;
    let (a, b, digest) = fill_byte_range(&mut out, pdf.len(), DOC_TS_BYTES)?;
    Ok(DocTimestampDraft {
        pdf: out,
        contents: (a, b),
        digest,
    })
}

impl DocTimestampDraft {
    /// The file with `token` (an RFC 3161 TimeStampToken, DER, dating [`Self::digest`]) as the
    /// document time-stamp's /Contents. Refused when the token dates other bytes or does not
    /// fit the reserved space.
    pub fn finish(mut self, token: &[u8]) -> Result<Vec<u8>, PadesError> {
        let ci = ContentInfo::from_der(token).map_err(cms_err)?;
        let (info, _) = super::tsa::token_info(&ci).map_err(cms_err)?;
        if info.message_imprint.hash_algorithm.oid != ID_SHA_256
            || info.message_imprint.hashed_message.as_bytes() != self.digest
        {
            return Err(PadesError::Cms("the time-stamp dates other bytes".into()));
        }
        let (a, b) = self.contents;
        let hex = hex::encode_upper(token);
        if hex.len() > b - a - 2 {
            return Err(PadesError::Cms(
                "the time-stamp does not fit the space reserved for it".into(),
            ));
        }
        self.pdf[a + 1..a + 1 + hex.len()].copy_from_slice(hex.as_bytes());
        Ok(self.pdf)
    }
}

/// What a reader learns about one document time-stamp: where its byte range ends, its time
/// when its token verifies and dates exactly those bytes, else the problems (English).
struct DocStamp {
    until: usize,
    at: Option<jiff::Timestamp>,
    problems: Vec<String>,
}

fn verify_doc_timestamp(pdf: &[u8], sig: &Dictionary) -> DocStamp {
    let mut d = DocStamp {
        until: 0,
        at: None,
        problems: vec![],
    };
    if !matches!(sig.get(b"SubFilter"), Ok(Object::Name(n)) if n == b"ETSI.RFC3161") {
        d.problems
            .push("the document time-stamp's SubFilter is not ETSI.RFC3161".into());
    }
    let Some((a, b, end)) = byte_range_of(pdf, sig) else {
        d.problems.push(
            "the document time-stamp's /ByteRange does not exclude exactly its /Contents".into(),
        );
        return d;
    };
    d.until = end;
    let contents = match sig.get(b"Contents") {
        Ok(Object::String(s, _)) => s.clone(),
        _ => vec![],
    };
    let gap: Vec<u8> = pdf[a + 1..b - 1]
        .iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if hex::decode(&gap).ok().as_deref() != Some(contents.as_slice()) {
        d.problems.push(
            "the document time-stamp's /ByteRange does not exclude exactly its /Contents".into(),
        );
        return d;
    }
    // A verification's own words: never the signing error's "Không tạo được chữ ký" heading.
    let token = match contents_cms(pdf, a, b) {
        Err(e) => Err(format!("its token is unreadable ({})", e.detail())),
        Ok(ci) => super::tsa::token_info(&ci).map_err(|e| e.detail().to_string()),
    };
    let token = match token {
        Ok((info, _)) => info,
        Err(e) => {
            d.problems
                .push(format!("the document time-stamp does not verify: {e}"));
            return d;
        }
    };
    let mut hasher = Sha256::new();
    hasher.update(&pdf[..a]);
    hasher.update(&pdf[b..end]);
    if token.message_imprint.hash_algorithm.oid != ID_SHA_256
        || token.message_imprint.hashed_message.as_bytes() != hasher.finalize().as_slice()
    {
        d.problems.push(
            "the bytes the document time-stamp dates changed: their SHA-256 is not its imprint"
                .into(),
        );
        return d;
    }
    d.at = super::tsa::gen_time(&token).ok();
    if d.at.is_none() {
        d.problems
            .push("the document time-stamp has no readable time".into());
    }
    d
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::pki::signing;

    /// A one-page PDF as lopdf writes it (classic cross-reference table); the học bạ tests sign
    /// it too.
    pub(crate) fn one_page_pdf() -> Vec<u8> {
        use lopdf::dictionary;
        let mut doc = lopdf::Document::with_version("1.7");
        let pages_id = doc.new_object_id();
        let content = doc.add_object(lopdf::Stream::new(
            dictionary! {},
            b"0 0 m 10 10 l S".to_vec(),
        ));
        let page = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(
                dictionary! { "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1 },
            ),
        );
        let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog);
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        out
    }

    fn signer(ca: &signing::SigningCa, id: &str, name: &str, role: &str) -> signing::Signer {
        let rec =
            signing::issue_signer(ca, id, name, role, "58203947", jiff::Timestamp::now()).unwrap();
        signing::unlock(&rec, "58203947").unwrap()
    }

    #[test]
    fn two_signatures_stay_valid_and_one_changed_byte_breaks_both() {
        let now = jiff::Timestamp::now();
        let ca = signing::new_ca("Trường THCS Thử", now).unwrap();
        let gvcn = signer(&ca, "gv-1", "Nguyễn Thị Hoa", "Giáo viên chủ nhiệm");
        let ht = signer(&ca, "ht-1", "Trần Văn Hùng", "Hiệu trưởng");
        let pdf = one_page_pdf();
        let once = sign(&pdf, &gvcn, &ca.cert, now).unwrap();
        let twice = sign(&once, &ht, &ca.cert, now).unwrap();
        assert!(twice.starts_with(&once) && once.starts_with(&pdf));

        let reports = verify(&twice, &ca.cert).unwrap();
        assert_eq!(reports.len(), 2, "{reports:?}");
        assert!(reports.iter().all(SignatureReport::valid), "{reports:?}");
        assert_eq!(reports[0].signer, "Nguyễn Thị Hoa");
        assert_eq!(reports[0].role.as_deref(), Some("Giáo viên chủ nhiệm"));
        assert!(!reports[0].covers_whole_file && reports[1].covers_whole_file);

        // A byte of the original page content, covered by both signatures.
        let at = pdf.windows(4).position(|w| w == b"10 l").unwrap();
        let mut bad = twice.clone();
        bad[at] = b'9';
        let reports = verify(&bad, &ca.cert).unwrap();
        assert!(
            reports.iter().all(|r| !r.bytes_intact && !r.valid()),
            "{reports:?}"
        );

        // An unsigned revision appended after the last signature is reported.
        let mut appended = twice.clone();
        appended.extend_from_slice(b"\n% an unsigned update\n");
        let reports = verify(&appended, &ca.cert).unwrap();
        assert!(reports[0].valid() && !reports[1].valid(), "{reports:?}");
        assert!(reports[1].problems[0].contains("added after the last signature"));

        // Another school's CA is no anchor for these signatures.
        let foreign = signing::new_ca("Trường Khác", now).unwrap();
        let reports = verify(&twice, &foreign.cert).unwrap();
        assert!(
            reports.iter().all(|r| r.bytes_intact && !r.chain_ok),
            "{reports:?}"
        );

        // Nothing is signed with a certificate of another CA, or out of its validity.
        assert!(matches!(
            sign(&pdf, &gvcn, &foreign.cert, now),
            Err(PadesError::Certificate(_))
        ));
        let later = now + jiff::SignedDuration::from_hours(24 * 366 * 6);
        assert!(matches!(
            sign(&pdf, &gvcn, &ca.cert, later),
            Err(PadesError::Certificate(_))
        ));
    }

    /// A token from a throw-away TSA over `digest`.
    fn token_for(tsa: &crate::pki::tsa::Tsa, digest: &[u8; 32]) -> Vec<u8> {
        let (req, nonce) = crate::pki::tsa::request(digest).unwrap();
        let reply = tsa.respond(&req, jiff::Timestamp::now());
        crate::pki::tsa::check_reply(&reply, digest, &nonce)
            .unwrap()
            .0
    }

    /// Review r15 #2: one changed byte inside a signature's own time-stamp token makes the
    /// signature invalid with the reason — not "no time-stamp" and valid.
    #[test]
    fn a_changed_signature_time_stamp_token_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let now = jiff::Timestamp::now();
        let ca = signing::new_ca("Trường THCS Thử", now).unwrap();
        let tsa = crate::pki::tsa::load_or_create(dir.path(), now).unwrap();
        let gvcn = signer(&ca, "gv-1", "Nguyễn Thị Hoa", "Giáo viên chủ nhiệm");
        let signed = sign(&one_page_pdf(), &gvcn, &ca.cert, now).unwrap();
        let d = signature_to_stamp(&signed).unwrap().unwrap();
        let token = token_for(&tsa, &d);
        let bt = add_signature_timestamp(&signed, &token).unwrap();
        let reports = verify(&bt, &ca.cert).unwrap();
        assert!(
            reports[0].valid() && reports[0].timestamp.is_some(),
            "{reports:?}"
        );
        // The token's hex inside /Contents: flip one digit near its end (the TSA's signature).
        let text = String::from_utf8_lossy(&bt).to_string();
        let (hex_lower, hex_upper) = (hex::encode(&token), hex::encode_upper(&token));
        let at = text
            .find(&hex_lower)
            .or_else(|| text.find(&hex_upper))
            .expect("the token is in the file");
        let mut bad = bt.clone();
        let i = at + hex_lower.len() - 40;
        bad[i] = if bad[i] == b'0' { b'1' } else { b'0' };
        let reports = verify(&bad, &ca.cert).unwrap();
        assert!(!reports[0].valid(), "{reports:?}");
        assert!(
            reports[0]
                .problems
                .iter()
                .any(|p| p.contains("time-stamp token does not verify")),
            "{reports:?}"
        );
        // Review r17 #10: one changed byte inside the TSA certificate the token carries, in the
        // certificate's own signature — the key in it still verifies the token — is an altered
        // file: INVALID, as pyHanko says, not VALID.
        let cert_der = der::Encode::to_der(&tsa.cert).unwrap();
        let (lower, upper) = (hex::encode(&cert_der), hex::encode_upper(&cert_der));
        let start = [lower.as_bytes(), upper.as_bytes()]
            .iter()
            .find_map(|h| bt.windows(h.len()).position(|w| w == *h))
            .expect("the TSA certificate is in the file");
        let mut bad = bt.clone();
        let i = start + lower.len() - 6;
        bad[i] = if bad[i] == b'0' { b'1' } else { b'0' };
        let reports = verify(&bad, &ca.cert).unwrap();
        assert!(!reports[0].valid(), "{reports:?}");
        assert!(
            reports[0].problems.iter().any(|p| p
                .contains("the TSA certificate inside the token is not the one the token names")),
            "{reports:?}"
        );
    }

    #[test]
    fn a_document_time_stamp_dates_a_signature_signed_over_before_its_token() {
        let dir = tempfile::tempdir().unwrap();
        let now = jiff::Timestamp::now();
        let ca = signing::new_ca("Trường THCS Thử", now).unwrap();
        let tsa = crate::pki::tsa::load_or_create(dir.path(), now).unwrap();
        let gvcn = signer(&ca, "gv-1", "Nguyễn Thị Hoa", "Giáo viên chủ nhiệm");
        let ht = signer(&ca, "ht-1", "Trần Văn Hùng", "Hiệu trưởng");
        let pdf = one_page_pdf();
        // Both signed offline: neither has a token; only the newest can still take one.
        let twice = sign(
            &sign(&pdf, &gvcn, &ca.cert, now).unwrap(),
            &ht,
            &ca.cert,
            now,
        )
        .unwrap();
        assert_eq!(
            unstamped_signatures(&twice).unwrap(),
            ["Signature1", "Signature2"]
        );
        let d = signature_to_stamp(&twice).unwrap().unwrap();
        let bt = add_signature_timestamp(&twice, &token_for(&tsa, &d)).unwrap();
        assert_eq!(unstamped_signatures(&bt).unwrap(), ["Signature1"]);

        // The document time-stamp: a revision after both, its token over its byte range.
        let draft = prepare_document_timestamp(&bt).unwrap();
        let wrong = token_for(&tsa, &[7; 32]);
        let digest = draft.digest;
        let lta = draft.finish(&token_for(&tsa, &digest)).unwrap();
        assert!(lta.starts_with(&bt), "an incremental update");
        assert!(unstamped_signatures(&lta).unwrap().is_empty());
        let reports = verify(&lta, &ca.cert).unwrap();
        assert_eq!(
            reports.len(),
            2,
            "the time-stamp is no signature: {reports:?}"
        );
        assert!(reports.iter().all(SignatureReport::valid), "{reports:?}");
        assert!(reports[0].timestamp.is_some() && reports[0].timestamp_document);
        assert!(reports[1].timestamp.is_some() && !reports[1].timestamp_document);
        // The register's names of the newest signature stay; nothing can be added in place.
        assert_eq!(
            newest_signature_ids(&lta).unwrap(),
            newest_signature_ids(&twice).unwrap()
        );
        assert!(signature_to_stamp(&lta).is_err());
        assert!(add_signature_timestamp(&lta, &wrong).is_err());
        // A token dating other bytes is refused.
        let draft = prepare_document_timestamp(&bt).unwrap();
        assert!(draft.finish(&wrong).is_err());

        // One changed byte in the time-stamp's own revision: the signatures' bytes are intact,
        // the time-stamp is not — the file is not valid, and dates nothing.
        let mut bad = lta.clone();
        let at = bt.len() + find(&lta[bt.len()..], b"(Signature3)").unwrap() + 10;
        bad[at] = b'4';
        let reports = verify(&bad, &ca.cert).unwrap();
        assert!(reports.iter().all(|r| r.bytes_intact), "{reports:?}");
        assert!(
            !reports[1].valid() && reports[0].timestamp.is_none(),
            "{reports:?}"
        );
        assert!(
            reports[1].problems[0].contains("document time-stamp"),
            "{reports:?}"
        );
        // Its revision is named as the document time-stamp it is, not as bytes added after
        // the last signature (review r13 #10).
        assert!(
            !reports[1]
                .problems
                .iter()
                .any(|p| p.contains("bytes were added")),
            "{reports:?}"
        );
        // A changed byte inside the token: a verification's words, never the signing error's
        // "Không tạo được chữ ký".
        let mut bad = lta.clone();
        let contents = bt.len() + find(&lta[bt.len()..], b"/Contents").unwrap();
        let at = contents + find(&lta[contents..], b"<").unwrap() + 400;
        bad[at] = if bad[at] == b'0' { b'1' } else { b'0' };
        let reports = verify(&bad, &ca.cert).unwrap();
        let said = reports[1].problems.join(" | ");
        assert!(
            said.contains("the document time-stamp does not verify")
                && !said.contains("Không tạo được")
                && !said.contains("bytes were added"),
            "{said}"
        );
        // One changed byte of the page: every signature and the time-stamp fail.
        let mut bad = lta.clone();
        let at = pdf.windows(4).position(|w| w == b"10 l").unwrap();
        bad[at] = b'9';
        let reports = verify(&bad, &ca.cert).unwrap();
        assert!(reports.iter().all(|r| !r.valid()), "{reports:?}");
        // An unsigned update after the time-stamp is still reported.
        let mut appended = lta.clone();
        appended.extend_from_slice(b"\n% an unsigned update\n");
        let reports = verify(&appended, &ca.cert).unwrap();
        assert!(
            reports[1].problems[0].contains("added after the last signature"),
            "{reports:?}"
        );
    }

    #[test]
    fn a_wrong_pin_does_not_open_the_signing_key() {
        let now = jiff::Timestamp::now();
        let ca = signing::new_ca("Trường THCS Thử", now).unwrap();
        let rec = signing::issue_signer(&ca, "gv-1", "A", "B", "58203947", now).unwrap();
        assert!(matches!(
            signing::unlock(&rec, "58203948"),
            Err(signing::SigningError::WrongPin)
        ));
        assert!(matches!(
            signing::issue_signer(&ca, "gv-2", "A", "B", "123", now),
            Err(signing::SigningError::WeakPin(_))
        ));
        // The CA is name-constrained to the school (critical, as RFC 5280 asks).
        let name_constraints = der::asn1::ObjectIdentifier::new_unwrap("2.5.29.30");
        assert!(
            ca.cert
                .tbs_certificate
                .extensions
                .iter()
                .flatten()
                .any(|e| e.extn_id == name_constraints && e.critical)
        );
        // The certificate written is the one read back (the key is never written).
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        signing::write_ca_cert(dir.path(), &ca.cert).unwrap();
        let again = signing::ca_cert(dir.path()).unwrap().unwrap();
        assert_eq!(signing::cert_sha256(&again), ca.cert_sha256());
        assert!(signing::plain_ca_key(dir.path()).unwrap().is_none());
    }
}
