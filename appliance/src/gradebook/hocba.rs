//! Học bạ số on the box: the signers (each a certificate from the school signing CA with its
//! private key sealed under the signer's PIN, `pki::signing`) kept in the database, so the one
//! write path audits every change and every backup carries them; the whole-class signing
//! (homeroom teacher, then principal) and the signed versions it stores.

use std::path::Path;

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::{GradeError, TermId};
use crate::auth::{Principal, Role};
use crate::pki::pades::{self, PadesError};
use crate::pki::signing::{self, SignerRecord, SigningError};
use crate::store::{Actor, AuditPolicy, Collection, Read, Store, StoreError};

/// One signer per account, keyed by account id. The sealed key is a secret even sealed (a
/// PIN is short): the audit log keeps digests of it, never the value.
pub const SIGNERS: Collection<SignerRecord> =
    Collection::new("gradebook.hocba_signers.v1", AuditPolicy::Digest, None);

/// Every signed học bạ, one row per signature: "{class}/{student}/{version:04}/{1|2}" (1 the
/// homeroom teacher's, 2 the principal's over it). Rows are never rewritten: a correction
/// after signing makes the next version. The PDF is in the row, so backups carry it; the
/// audit log keeps its digest, not megabytes of it.
pub const SIGNED: Collection<SignedHocba> =
    Collection::new("gradebook.hocba_signed.v1", AuditPolicy::Digest, None);

pub const TABLES: [&str; 2] = [SIGNERS.name, SIGNED.name];

/// The signatures still waiting for the district's time-stamp (PAdES B-T), by the key of their
/// row in [`SIGNED`]: only the newest signature of a version, since a time-stamp rewrites the
/// signature's unsigned part and the next signer's byte range covers it. The relay's stamper
/// (`relay::stamp`) works through it while the link is up; listed in `app/schema.rs`.
pub const STAMP_WAITING: Collection<String> =
    Collection::new("gradebook.hocba_unstamped.v1", AuditPolicy::Values, None);

/// The chains of licensed-CA certificates that were replaced (`store_signer` with replace),
/// keyed by the account and the replaced certificate's SHA-256: the signatures already made
/// with them must still chain to a CA the box trusts (`trust_anchors`), as the certificate no
/// longer is in [`SIGNERS`]. Only certificates, no key; listed in `app/schema.rs`.
pub const REPLACED_CHAINS: Collection<Vec<String>> = Collection::new(
    "gradebook.hocba_replaced_chains.v1",
    AuditPolicy::Values,
    None,
);

/// Wakes the stamper when a class was signed, so a box online stamps at once.
pub static STAMP_WAKE: std::sync::LazyLock<tokio::sync::Notify> =
    std::sync::LazyLock::new(tokio::sync::Notify::new);

/// Classes whose học bạ a background task is signing now (the demo's 9A1 after the server
/// listens, `demo::spawn_signing`): the class page says "đang ký…" and `/healthz` lists them,
/// so whoever waits for the signed files has a signal to poll rather than a guess.
static SIGNING_NOW: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Marks `class` as being signed in the background (`on`), or done.
pub fn set_signing_now(class: &str, on: bool) {
    let mut set = SIGNING_NOW.lock().unwrap_or_else(|e| e.into_inner());
    if on {
        set.insert(class.to_string());
    } else {
        set.remove(class);
    }
}

/// The classes being signed in the background now.
pub fn signing_now() -> Vec<String> {
    let set = SIGNING_NOW.lock().unwrap_or_else(|e| e.into_inner());
    set.iter().cloned().collect()
}

/// Who signs at which step: the homeroom teacher (GVCN) first, then the principal or a vice
/// principal (BGH) over her signature.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Gvcn,
    Principal,
}

impl Stage {
    fn key_part(self) -> &'static str {
        match self {
            Stage::Gvcn => "1",
            Stage::Principal => "2",
        }
    }
}

/// One signature of one student's học bạ, with the file as it stood after it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SignedHocba {
    pub class: String,
    pub student: String,
    pub version: u32,
    pub stage: Stage,
    pub at: jiff::Timestamp,
    /// The signer's account id and the name and role of the certificate.
    pub signer: String,
    pub signer_name: String,
    pub signer_role: String,
    /// The year lock (its time) the version was printed under: a lock made again after an
    /// unlock is another record, so it gets another version.
    pub lock_at: jiff::Timestamp,
    /// SHA-256 of the PDF, hex.
    pub sha256: String,
    /// The signed PDF, base64.
    pub pdf: String,
    /// The time the district's time-stamp (PAdES B-T) gives this signature, once it has one;
    /// the row's PDF and SHA-256 are then the time-stamped file (same signed bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<jiff::Timestamp>,
}

impl SignedHocba {
    pub fn pdf_bytes(&self) -> Result<Vec<u8>, HocbaError> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.pdf)
            .map_err(|e| HocbaError::Damaged(e.to_string()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HocbaError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Signing(#[from] SigningError),
    #[error(transparent)]
    Grade(#[from] GradeError),
    #[error("Không ký được tệp PDF: {0}")]
    Pades(#[from] PadesError),
    #[error("Không in được học bạ: {0}")]
    Print(String),
    #[error("Bản học bạ đã lưu bị hỏng ({0}).")]
    Damaged(String),
    #[error("Tài khoản này đã có chứng thư ký học bạ; muốn cấp lại phải chọn thay thế.")]
    SignerExists,
    #[error(
        "Năm học {0} chưa khoá sổ cả hai học kì: chỉ ký học bạ sau khi khoá sổ học kì I và học kì II."
    )]
    YearNotLocked(String),
    #[error("Chỉ giáo viên chủ nhiệm của lớp mới ký học bạ ở bước này.")]
    NotHomeroom,
    #[error(
        "Lớp đã đổi giáo viên chủ nhiệm sau khi khoá sổ: chỉ giáo viên chủ nhiệm lúc khoá sổ ký học bạ của năm học này. Muốn người mới ký, Ban giám hiệu mở khoá sổ học kì II của lớp rồi khoá lại."
    )]
    NotHomeroomAtLock,
    #[error(
        "Học bạ của lớp in tên {0} ở phần xác nhận của Hiệu trưởng (người khoá sổ học kì II): chỉ người đó ký ở bước này. Muốn người khác ký, người ấy mở khoá rồi khoá sổ lại để học bạ in tên mình."
    )]
    NotLocker(String),
    #[error(
        "Chưa ký được: kết quả học tập của {count} học sinh chưa đủ — {list}. Nhập đủ rồi Ban giám hiệu khoá sổ lại."
    )]
    ResultsIncomplete { count: usize, list: String },
    #[error("Chỉ Hiệu trưởng hoặc Phó hiệu trưởng mới ký học bạ ở bước này.")]
    NotPrincipal,
    #[error("Giáo viên chủ nhiệm chưa ký học bạ của lớp (bản mới nhất); Ban giám hiệu ký sau.")]
    HomeroomFirst,
    #[error("Học bạ của lớp đã được ký ở bước này; không có gì để ký thêm.")]
    AlreadySigned,
    #[error("Chứng thư ký của bạn ghi vai trò \"{0}\", không dùng được cho bước ký này.")]
    WrongRole(String),
    #[error("Trường chưa có CA ký số học bạ (tram hocba signer tạo khi cấp chứng thư đầu tiên).")]
    NoCa,
    #[error("{}", crate::auth::AuthError::Quarantined)]
    Quarantined,
    #[error("Khoá sổ năm học vừa thay đổi trong lúc ký; hãy ký lại.")]
    LockChanged,
    #[error("Lớp {0} chưa có học bạ nào được ký.")]
    NothingSigned(String),
    #[error(transparent)]
    P12(#[from] crate::pki::p12::P12Error),
    #[error("Chỉ Hiệu trưởng hoặc Phó hiệu trưởng mới nhập chứng thư số công cộng để ký học bạ.")]
    NotHead,
    #[error(
        "{0} vẫn đang học lớp {1}: học bạ của học sinh đang học được ký cùng cả lớp sau khi khoá sổ cả năm. Ký riêng chỉ dành cho học sinh đã chuyển trường hoặc thôi học."
    )]
    StillOnRoll(String, String),
    #[error("{0} chưa có học kì nào đủ kết quả hoặc đã khoá sổ: học bạ chưa có gì để ký.")]
    NoTermToSign(String),
    #[error("Học bạ in tên Hiệu trưởng {0} ở phần xác nhận: chỉ người đó ký ở bước này.")]
    NotNamedPrincipal(String),
    #[error("Kết quả của học sinh vừa thay đổi trong lúc ký; hãy ký lại.")]
    RecordChanged,
}

impl HocbaError {
    /// A stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            HocbaError::Store(_) => "store",
            HocbaError::Signing(SigningError::WrongPin) => "wrong_pin",
            HocbaError::Signing(SigningError::WeakPin) => "weak_pin",
            HocbaError::Signing(SigningError::NoSigner) => "no_signer",
            HocbaError::Signing(_) => "signer_damaged",
            HocbaError::Grade(e) => e.code(),
            HocbaError::Pades(_) => "signature_refused",
            HocbaError::Print(_) => "print_failed",
            HocbaError::Damaged(_) => "damaged",
            HocbaError::SignerExists => "signer_exists",
            HocbaError::YearNotLocked(_) => "year_not_locked",
            HocbaError::NotHomeroom => "not_homeroom",
            HocbaError::NotPrincipal => "not_principal",
            HocbaError::NotHomeroomAtLock => "not_homeroom_at_lock",
            HocbaError::NotLocker(_) => "not_the_locker",
            HocbaError::ResultsIncomplete { .. } => "results_incomplete",
            HocbaError::HomeroomFirst => "homeroom_first",
            HocbaError::AlreadySigned => "already_signed",
            HocbaError::WrongRole(_) => "wrong_role",
            HocbaError::NoCa => "no_signing_ca",
            HocbaError::Quarantined => "quarantined",
            HocbaError::LockChanged => "lock_changed",
            HocbaError::NothingSigned(_) => "nothing_signed",
            HocbaError::P12(crate::pki::p12::P12Error::Signing(SigningError::WeakPin)) => {
                "weak_pin"
            }
            HocbaError::P12(e) => e.code(),
            HocbaError::NotHead => "not_principal",
            HocbaError::StillOnRoll(..) => "still_on_roll",
            HocbaError::NoTermToSign(_) => "nothing_to_sign",
            HocbaError::NotNamedPrincipal(_) => "not_the_locker",
            HocbaError::RecordChanged => "record_changed",
        }
    }
}

/// The signer record of `account`, if it has one.
pub fn signer(r: &impl Read, account: &str) -> Result<Option<SignerRecord>, StoreError> {
    r.get(&SIGNERS, account)
}

/// Stores a newly issued signer; an existing one is replaced only when `replace` says so
/// (checked in the same transaction, so two issuers cannot both think they were first).
pub fn store_signer(
    store: &Store,
    actor: &Actor,
    rec: &SignerRecord,
    replace: bool,
) -> Result<bool, HocbaError> {
    store.write(actor, |tx| {
        let old = tx.get(&SIGNERS, &rec.account)?;
        let existed = old.is_some();
        if existed && !replace {
            return Err(HocbaError::SignerExists);
        }
        // Dropping the old chain with the record left every học bạ it signed untrusted here.
        if let Some(old) = old.filter(|o| !o.chain.is_empty()) {
            let key = format!(
                "{}/{}",
                rec.account,
                hex::encode(sha2::Sha256::digest(old.cert.as_bytes()))
            );
            tx.put(&REPLACED_CHAINS, &key, &old.chain, "hocba.chain_kept")?;
        }
        let action = if existed {
            "hocba.signer_replaced"
        } else {
            "hocba.signer_issued"
        };
        tx.put(&SIGNERS, &rec.account, rec, action)?;
        Ok(existed)
    })
}

/// A licensed CA's PKCS#12 and what its import needs besides the account.
pub struct P12Import<'a> {
    pub p12: &'a [u8],
    /// The file's password.
    pub password: &'a str,
    /// The new signing PIN the key is sealed under.
    pub pin: &'a str,
    /// The holder named in the certificate is this account's person though the names differ.
    pub confirm_name: bool,
    /// Replace the account's existing signing certificate.
    pub replace: bool,
}

/// The role a public CA's certificate signs as: the school's head, the principal or a vice
/// principal; none for anyone else.
pub fn head_role(roles: &[Role]) -> Option<&'static str> {
    if roles.contains(&Role::Principal) {
        Some("Hiệu trưởng")
    } else if roles.contains(&Role::VicePrincipal) {
        Some("Phó hiệu trưởng")
    } else {
        None
    }
}

/// Imports a licensed CA's PKCS#12 as `account`'s signing certificate (`tram hocba signer
/// import` and the web form of the principal or vice principal herself): every check
/// (`pki::p12::import`) comes before the one write, which goes through `Store::write` like any
/// change — audited as the signer issued or replaced, and safe while the server runs. Nothing
/// is stored on any refusal.
pub fn import_p12(
    store: &Store,
    actor: &Actor,
    account: &crate::auth::Account,
    req: &P12Import<'_>,
    now: jiff::Timestamp,
) -> Result<SignerRecord, HocbaError> {
    let role = head_role(&account.roles).ok_or(HocbaError::NotHead)?;
    if !req.replace && signer(&store.read()?, &account.id)?.is_some() {
        return Err(HocbaError::SignerExists);
    }
    let who = signing::SignerName {
        account: &account.id,
        full_name: &account.full_name,
        role,
    };
    let rec = crate::pki::p12::import(req.p12, req.password, &who, req.pin, req.confirm_name, now)?;
    store_signer(store, actor, &rec, req.replace)?;
    Ok(rec)
}

/// Moves the signer files of an earlier version (`keys/hocba-signer-*.json`) into the table,
/// once: a file is removed after its record committed. A record already in the table wins
/// (it was issued later, or moved before a crash left the file behind). A file that cannot be
/// read is left where it is and named in the log, so nobody's signer silently disappears.
pub fn adopt_signer_files(
    store: &Store,
    data_dir: &Path,
    now: jiff::Timestamp,
) -> Result<usize, HocbaError> {
    let mut found = Vec::new();
    for (path, rec) in signing::legacy_signer_files(data_dir) {
        match rec {
            Ok(rec) => found.push((path, rec)),
            Err(e) => tracing::warn!("signer file {} not moved: {e}", path.display()),
        }
    }
    if found.is_empty() {
        return Ok(0);
    }
    let moved = store.write(&Actor::system(now), |tx| {
        let mut moved = 0;
        for (_, rec) in &found {
            if tx.get(&SIGNERS, &rec.account)?.is_none() {
                tx.put(&SIGNERS, &rec.account, rec, "hocba.signer_moved")?;
                moved += 1;
            }
        }
        Ok::<_, HocbaError>(moved)
    })?;
    for (path, _) in &found {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!("moved signer file {} not removed: {e}", path.display());
        }
    }
    Ok(moved)
}

/// Who may sign `class` at `stage`, and the year lock it would sign under: refused before a
/// PIN is asked for or a page printed.
pub fn check_may_sign(
    r: &impl Read,
    p: &Principal,
    class_id: &str,
    stage: Stage,
) -> Result<(SignerRecord, jiff::Timestamp), HocbaError> {
    let class = super::class_of(r, class_id)?;
    check_stage(&class, p, stage)?;
    let lock = super::class_term_lock(r, &class, TermId::Hk2)?
        .filter(|l| l.locked)
        .ok_or_else(|| HocbaError::YearNotLocked(class.year.clone()))?;
    // Both terms: a học bạ printed with term I never locked has no term I results (review r8
    // signed 39 empty ones).
    super::class_term_lock(r, &class, TermId::Hk1)?
        .filter(|l| l.locked)
        .ok_or_else(|| HocbaError::YearNotLocked(class.year.clone()))?;
    // The homeroom teacher of the lock, not of today: a class handed to another teacher after
    // the lock cannot be signed again by her without BGH reopening the year (review r8 #1).
    if stage == Stage::Gvcn
        && let Some(then) = lock.homerooms.get(&class.id)
        && *then != p.account.id
    {
        return Err(HocbaError::NotHomeroomAtLock);
    }
    // The học bạ print names the BGH member who locked the year in the principal's blocks
    // (`forms::context`), so only they sign over it (review r8 #8: a vice principal signed
    // under the principal's printed name).
    if stage == Stage::Principal
        && lock.by != p.account.id
        && let Some(locker) = r.get(&crate::auth::ACCOUNTS, &lock.by)?
        && !locker.disabled
        && (locker.roles.contains(&Role::Principal) || locker.roles.contains(&Role::VicePrincipal))
    {
        return Err(HocbaError::NotLocker(locker.full_name));
    }
    let missing = missing_results(&super::class_book(r, class_id, &super::settings(r)?)?);
    if !missing.is_empty() {
        return Err(HocbaError::ResultsIncomplete {
            count: missing.len(),
            list: name_some(&missing),
        });
    }
    Ok((fitting_signer(r, p, stage)?, lock.at))
}

/// The signer record of `p`, when its certificate's role fits `stage`.
fn fitting_signer(r: &impl Read, p: &Principal, stage: Stage) -> Result<SignerRecord, HocbaError> {
    let rec = signer(r, &p.account.id)?.ok_or(SigningError::NoSigner)?;
    // The certificate's role is what a reader sees beside the signature: a GVCN certificate
    // does not sign as the school's head, nor the other way round.
    let fits = match stage {
        Stage::Gvcn => rec.role == "Giáo viên chủ nhiệm",
        Stage::Principal => rec.role == "Hiệu trưởng" || rec.role == "Phó hiệu trưởng",
    };
    if !fits {
        return Err(HocbaError::WrongRole(rec.role.clone()));
    }
    Ok(rec)
}

/// Whether `p` may sign at `stage` for `class` at all: its homeroom teacher first, a BGH member
/// over her, nobody in quarantine.
fn check_stage(
    class: &crate::school::Class,
    p: &Principal,
    stage: Stage,
) -> Result<(), HocbaError> {
    match stage {
        Stage::Gvcn if class.homeroom.as_deref() != Some(p.account.id.as_str()) => {
            return Err(HocbaError::NotHomeroom);
        }
        Stage::Principal
            if !p.account.roles.contains(&Role::Principal)
                && !p.account.roles.contains(&Role::VicePrincipal) =>
        {
            return Err(HocbaError::NotPrincipal);
        }
        _ => {}
    }
    if p.quarantined {
        return Err(HocbaError::Quarantined);
    }
    Ok(())
}

/// What each student of the book still lacks for a học bạ worth signing: "name (Học kì I:
/// Toán, Ngữ văn; kết quả cả năm)". A signed học bạ with empty tables is a record of nothing
/// (review r8 #2), and a forced lock lets a term close with gaps.
fn missing_results(book: &super::ClassBook) -> Vec<String> {
    let mut out = Vec::new();
    for (i, st) in book.students.iter().enumerate() {
        let mut lacks = Vec::new();
        for term in TermId::BOTH {
            if book.is_complete(term, i) {
                continue;
            }
            let subjects: Vec<&str> = super::missing_subjects(book, term, i)
                .into_iter()
                .map(|j| book.subjects[j].name.as_str())
                .collect();
            lacks.push(if subjects.is_empty() {
                format!("{}: đánh giá rèn luyện", term.label())
            } else if subjects.len() == book.subjects.len() {
                // Nothing entered: naming all twelve subjects would bury the other students.
                format!("{}: chưa có kết quả môn nào", term.label())
            } else {
                format!("{}: {}", term.label(), subjects.join(", "))
            });
        }
        let year = &book.year[i];
        if year.final_outcome().is_none() && year.primary.is_none() {
            lacks.push("kết quả cả năm".into());
        }
        if !lacks.is_empty() {
            out.push(format!("{} ({})", st.full_name, lacks.join("; ")));
        }
    }
    out
}

/// The first few of a long list, and how many more: an error message stays readable.
fn name_some(all: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = all
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if all.len() > SHOWN {
        s.push_str(&format!(" và {} học sinh khác", all.len() - SHOWN));
    }
    s
}

/// What one student's học bạ needs at `stage` under the lock of `lock_at`: `None` when it is
/// already signed at that stage, else (the version, the file to sign over — `None` for a fresh
/// print).
fn plan_student(
    rows: &[(String, SignedHocba)],
    stage: Stage,
    lock_at: jiff::Timestamp,
) -> Result<Option<(u32, Option<&SignedHocba>)>, HocbaError> {
    let latest = rows
        .iter()
        .map(|(_, r)| r)
        .max_by_key(|r| (r.version, r.stage as u8));
    match (stage, latest) {
        (Stage::Gvcn, Some(l)) if l.lock_at == lock_at => Ok(None),
        (Stage::Gvcn, l) => Ok(Some((l.map_or(1, |l| l.version + 1), None))),
        (Stage::Principal, Some(l)) if l.lock_at == lock_at => match l.stage {
            Stage::Principal => Ok(None),
            Stage::Gvcn => Ok(Some((l.version, Some(l)))),
        },
        (Stage::Principal, _) => Err(HocbaError::HomeroomFirst),
    }
}

/// What a class signing did.
#[derive(Serialize, Debug)]
pub struct ClassSigned {
    pub class: String,
    pub stage: Stage,
    pub signed: usize,
    pub already: usize,
}

/// Signs the học bạ of every student of `class` at `stage`, all or nothing: the PIN opens the
/// signer's key once, every file is printed and signed in memory, and one transaction stores
/// them all (after checking the year lock is still the one they were printed under).
pub fn sign_class(
    store: &Store,
    data_dir: &Path,
    p: &Principal,
    class_id: &str,
    stage: Stage,
    pin: &str,
    now: jiff::Timestamp,
) -> Result<ClassSigned, HocbaError> {
    adopt_signer_files(store, data_dir, now)?;
    let rx = store.read()?;
    let (rec, lock_at) = check_may_sign(&rx, p, class_id, stage)?;
    let book = super::class_book_for(&rx, p, class_id)?;
    let mut plans = Vec::new();
    let mut already = 0;
    for (i, st) in book.students.iter().enumerate() {
        let rows = rx.scan(&SIGNED, &format!("{class_id}/{}/", st.id))?;
        match plan_student(&rows, stage, lock_at)? {
            None => already += 1,
            Some((version, over)) => plans.push((i, version, over.cloned())),
        }
    }
    if plans.is_empty() {
        return Err(HocbaError::AlreadySigned);
    }
    let ca = signing::load_ca(data_dir)?.ok_or(HocbaError::NoCa)?;
    let key = signing::unlock(&rec, pin)?;
    let mut rows = Vec::with_capacity(plans.len());
    for (i, version, over) in plans {
        let st = &book.students[i];
        let unsigned = match &over {
            Some(prev) => prev.pdf_bytes()?,
            None => print(&rx, &book, i)?,
        };
        let signed = pades::sign(&unsigned, &key, &ca.cert, now)?;
        rows.push(SignedHocba {
            class: class_id.to_string(),
            student: st.id.clone(),
            version,
            stage,
            at: now,
            signer: p.account.id.clone(),
            signer_name: rec.full_name.clone(),
            signer_role: rec.role.clone(),
            lock_at,
            sha256: hex::encode(sha2::Sha256::digest(&signed)),
            pdf: base64::engine::general_purpose::STANDARD.encode(&signed),
            timestamp: None,
        });
    }
    drop(rx);
    let class = book.class.clone();
    let signed = rows.len();
    store.write(
        &Actor {
            id: p.account.id.clone(),
            now,
        },
        |tx| {
            let lock = super::class_term_lock(tx, &class, TermId::Hk2)?;
            if !lock.is_some_and(|l| l.locked && l.at == lock_at) {
                return Err(HocbaError::LockChanged);
            }
            for r in &rows {
                put_signature(tx, r)?;
            }
            tx.event(
                "hocba.class_signed",
                &class.id,
                Some(serde_json::json!({ "stage": stage, "files": rows.len() })),
            );
            Ok(())
        },
    )?;
    STAMP_WAKE.notify_one();
    Ok(ClassSigned {
        class: class_id.to_string(),
        stage,
        signed,
        already,
    })
}

/// The results one student's học bạ carries when signed alone: for term I, term II and the
/// year, the stored result when the class's lock stored one (the student was on the roll at
/// it), else the one the book gives when the student completed the term; none for a term
/// neither locked nor completed. The second list is what must be stored with the signature.
type StudentResults = (
    [Option<super::StoredResult>; 3],
    Vec<(String, super::StoredResult)>,
);

fn student_results(
    r: &impl Read,
    book: &super::ClassBook,
    i: usize,
) -> Result<StudentResults, HocbaError> {
    let (year, sid) = (&book.class.year, &book.students[i].id);
    let matruong = crate::school::school_info(r)?
        .map(|x| x.code)
        .unwrap_or_default();
    let mut out: [Option<super::StoredResult>; 3] = [None, None, None];
    let mut fresh = Vec::new();
    for term in TermId::BOTH {
        let stored = |period: &str| r.get(&super::RESULTS, &format!("{year}/{period}/{sid}"));
        let periods: &[(&str, usize)] = match term {
            TermId::Hk1 => &[("hk1", 0)],
            _ => &[("hk2", 1), ("cn", 2)],
        };
        if !book.is_complete(term, i) {
            // A term the student did not finish: only what a lock stored while on the roll.
            for (period, at) in periods {
                out[*at] = stored(period)?;
            }
            continue;
        }
        let rule = super::class_term_lock(r, &book.class, term)?
            .filter(|l| l.locked)
            .map_or_else(
                || super::RuleVersion::current_for_primary(book.is_primary()),
                |l| l.rule_version,
            );
        let computed = super::results_of(book, term, &matruong, rule);
        for (period, at) in periods {
            let key = format!("{year}/{period}/{sid}");
            if let Some(old) = stored(period)? {
                // Stored by a lock: it stands (a recompute does not reach it either).
                out[*at] = Some(old);
            } else if let Some((_, res)) = computed.iter().find(|(k, _)| *k == key) {
                out[*at] = Some(res.clone());
                fresh.push((key, res.clone()));
            }
        }
    }
    Ok((out, fresh))
}

/// Signs the học bạ of one student who transferred out or withdrew during the year (the hồ sơ
/// chuyển trường), at `stage`: the same steps as the class — the class's homeroom teacher
/// first, then the BGH member the print names — over the terms locked for the class while the
/// student was on it or completed by the student (`student_results`); the print says "Chuyển
/// trường ngày …" / "Thôi học ngày …". A student still on the roll is signed with the class.
/// A version is tied to the departure (a student who left is refused any change), so its
/// record stands in the `lock_at` of the row. The results the file carries that no lock stored
/// are stored in the same transaction, so the box's check of the file's data agrees.
pub fn sign_student(
    store: &Store,
    data_dir: &Path,
    p: &Principal,
    student_id: &str,
    stage: Stage,
    pin: &str,
    now: jiff::Timestamp,
) -> Result<ClassSigned, HocbaError> {
    adopt_signer_files(store, data_dir, now)?;
    let rx = store.read()?;
    let (rec, lock_at, book, i) = check_may_sign_student(&rx, p, student_id, stage)?;
    let class_id = book.class.id.clone();
    let rows = rx.scan(&SIGNED, &format!("{class_id}/{student_id}/"))?;
    let Some((version, over)) = plan_student(&rows, stage, lock_at)? else {
        return Err(HocbaError::AlreadySigned);
    };
    let (unsigned, fresh) = match over {
        Some(prev) => (prev.pdf_bytes()?, Vec::new()),
        None => {
            let (results, fresh) = student_results(&rx, &book, i)?;
            if results.iter().all(Option::is_none) {
                return Err(HocbaError::NoTermToSign(book.students[i].full_name.clone()));
            }
            let data = record_doc(&book.class.year, &class_id, student_id, results);
            (print_with(&rx, &book, i, data)?, fresh)
        }
    };
    let ca = signing::load_ca(data_dir)?.ok_or(HocbaError::NoCa)?;
    let key = signing::unlock(&rec, pin)?;
    let signed = pades::sign(&unsigned, &key, &ca.cert, now)?;
    let row = SignedHocba {
        class: class_id.clone(),
        student: student_id.to_string(),
        version,
        stage,
        at: now,
        signer: p.account.id.clone(),
        signer_name: rec.full_name.clone(),
        signer_role: rec.role.clone(),
        lock_at,
        sha256: hex::encode(sha2::Sha256::digest(&signed)),
        pdf: base64::engine::general_purpose::STANDARD.encode(&signed),
        timestamp: None,
    };
    drop(rx);
    let actor = Actor {
        id: p.account.id.clone(),
        now,
    };
    store.write(&actor, |tx| {
        put_signature(tx, &row)?;
        for (k, res) in &fresh {
            // A lock or another signing stored a result meanwhile: the print is stale.
            if tx.get(&super::RESULTS, k)?.is_some() {
                return Err(HocbaError::RecordChanged);
            }
            tx.put(&super::RESULTS, k, res, "grades.result")?;
        }
        tx.event(
            "hocba.student_signed",
            student_id,
            Some(serde_json::json!({ "class": class_id, "stage": stage, "version": version })),
        );
        Ok(())
    })?;
    STAMP_WAKE.notify_one();
    Ok(ClassSigned {
        class: class_id,
        stage,
        signed: 1,
        already: 0,
    })
}

/// Who may sign the học bạ of `student_id`, who left the school, at `stage`; refused before a
/// PIN is asked for. Returns the signer, the departure's time standing for the lock, and the
/// student's class book (with those who left) and index in it.
pub fn check_may_sign_student(
    r: &impl Read,
    p: &Principal,
    student_id: &str,
    stage: Stage,
) -> Result<(SignerRecord, jiff::Timestamp, super::ClassBook, usize), HocbaError> {
    let st = r
        .get(&crate::school::STUDENTS, student_id)?
        .ok_or_else(|| GradeError::UnknownStudent(student_id.to_string()))?;
    let class = super::class_of(r, &st.class_id)?;
    let Some(left) = &st.left else {
        return Err(HocbaError::StillOnRoll(st.full_name, class.name));
    };
    check_stage(&class, p, stage)?;
    if stage == Stage::Principal {
        // The print names the BGH member who locked the year, else the principal
        // (`forms::context`): only they sign over it.
        let accounts: Vec<crate::auth::Account> = crate::school::list(r, &crate::auth::ACCOUNTS)?;
        let bgh = |a: &&crate::auth::Account| {
            !a.disabled
                && (a.roles.contains(&Role::Principal) || a.roles.contains(&Role::VicePrincipal))
        };
        let year_lock = super::class_term_lock(r, &class, TermId::Hk2)?.filter(|l| l.locked);
        let named = match year_lock {
            Some(l) => accounts.iter().filter(bgh).find(|a| a.id == l.by),
            None => None,
        }
        .or_else(|| {
            accounts
                .iter()
                .find(|a| !a.disabled && a.roles.contains(&Role::Principal))
        });
        if let Some(named) = named
            && named.id != p.account.id
        {
            return Err(HocbaError::NotNamedPrincipal(named.full_name.clone()));
        }
    }
    let departed = left
        .date
        .parse::<jiff::civil::Date>()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC))
        .map_err(|e| HocbaError::Damaged(format!("ngày rời trường {}: {e}", left.date)))?
        .timestamp();
    let book = super::class_book_for_student(r, p, &st)?;
    let i = book
        .students
        .iter()
        .position(|x| x.id == st.id)
        .ok_or_else(|| GradeError::UnknownStudent(student_id.to_string()))?;
    Ok((fitting_signer(r, p, stage)?, departed, book, i))
}

/// Stores one signature's row, refused when it is there already (signed meanwhile by a second
/// click). The new signature waits for its time-stamp; the one it was signed over can no
/// longer get one (see STAMP_WAITING).
fn put_signature(tx: &mut crate::store::Tx<'_>, r: &SignedHocba) -> Result<(), HocbaError> {
    let key = format!(
        "{}/{}/{:04}/{}",
        r.class,
        r.student,
        r.version,
        r.stage.key_part()
    );
    if tx.get(&SIGNED, &key)?.is_some() {
        return Err(HocbaError::AlreadySigned);
    }
    tx.put(&SIGNED, &key, r, "hocba.signed")?;
    tx.put(&STAMP_WAITING, &key, &String::new(), "hocba.stamp_waiting")?;
    if r.stage == Stage::Principal {
        let under = format!("{}/{}/{:04}/1", r.class, r.student, r.version);
        tx.delete(&STAMP_WAITING, &under, "hocba.stamp_waiting")?;
    }
    Ok(())
}

/// The name of the structured data inside a signed học bạ.
pub const DATA_FILE: &str = "hoc-ba.json";

/// The học bạ's structured data: the student's stored results for term I, term II and the
/// year in the sector database's fields (DOMAIN.md §5.3, `StoredResult`), as this box holds
/// them now. Embedded before the first signature, so the signatures cover it.
pub fn record_json(
    r: &impl Read,
    year: &str,
    class: &str,
    student: &str,
) -> Result<Vec<u8>, StoreError> {
    let get = |period: &str| r.get(&super::RESULTS, &format!("{year}/{period}/{student}"));
    Ok(record_doc(
        year,
        class,
        student,
        [get("hk1")?, get("hk2")?, get("cn")?],
    ))
}

/// The document of [`record_json`] from the results of term I, term II and the year.
fn record_doc(
    year: &str,
    class: &str,
    student: &str,
    [hk1, hk2, cn]: [Option<super::StoredResult>; 3],
) -> Vec<u8> {
    let doc = serde_json::json!({
        "format": "tram.hocba.v1",
        "namhoc": year,
        "lop": class,
        "hocsinh": student,
        "hk1": hk1,
        "hk2": hk2,
        "cn": cn,
    });
    serde_json::to_vec_pretty(&doc).expect("JSON values serialize")
}

/// Whether a PDF's embedded học bạ data is still what this box holds.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DataCheck {
    /// No structured data inside (a file printed, not signed, by Trạm, or another's).
    Absent,
    /// The data names a student this box does not have.
    UnknownStudent,
    Matches {
        student: String,
    },
    /// The box's records changed after the file was made (a correction): a new version is due.
    Differs {
        student: String,
    },
}

/// Compares the embedded data of `pdf` with this box's records.
pub fn check_data(r: &impl Read, pdf: &[u8]) -> Result<DataCheck, HocbaError> {
    let data = pades::embedded_data(pdf)?;
    let Some((_, bytes)) = data.iter().find(|(n, _)| n == DATA_FILE) else {
        return Ok(DataCheck::Absent);
    };
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(DataCheck::Absent);
    };
    let field = |k: &str| doc[k].as_str().unwrap_or_default().to_string();
    let (year, class, student) = (field("namhoc"), field("lop"), field("hocsinh"));
    if student.is_empty() || r.get(&crate::school::STUDENTS, &student)?.is_none() {
        return Ok(DataCheck::UnknownStudent);
    }
    let ours: serde_json::Value = serde_json::from_slice(&record_json(r, &year, &class, &student)?)
        .map_err(|e| HocbaError::Damaged(e.to_string()))?;
    Ok(if ours == doc {
        DataCheck::Matches { student }
    } else {
        DataCheck::Differs { student }
    })
}

/// The unsigned học bạ of student `i` of the book, as its page prints it, with its structured
/// data embedded.
pub(super) fn print(
    r: &impl Read,
    book: &super::ClassBook,
    i: usize,
) -> Result<Vec<u8>, HocbaError> {
    let st = &book.students[i];
    print_with(
        r,
        book,
        i,
        record_json(r, &book.class.year, &book.class.id, &st.id)?,
    )
}

/// [`print`] with the structured data `data` embedded.
fn print_with(
    r: &impl Read,
    book: &super::ClassBook,
    i: usize,
    data: Vec<u8>,
) -> Result<Vec<u8>, HocbaError> {
    let ctx = super::forms::context(r, book, i)?;
    let mut layout = if book.is_primary() {
        super::forms::hocba_primary(book, i, &ctx)
    } else {
        super::forms::hocba_secondary(book, i, &ctx)
    };
    layout.attach_json(
        DATA_FILE,
        "Dữ liệu học bạ (trường thông tin CSDL ngành): học kì I, học kì II, cả năm",
        data,
    );
    layout
        .finish()
        .map_err(|e| HocbaError::Print(e.to_string()))
}

/// One signed version as a list shows it (no bytes).
#[derive(Serialize, Debug, Clone)]
pub struct VersionInfo {
    pub student: String,
    pub version: u32,
    pub stage: Stage,
    pub at: jiff::Timestamp,
    pub signer_name: String,
    pub signer_role: String,
    pub sha256: String,
    /// The district's time-stamp of this signature, once it has one.
    pub timestamp: Option<jiff::Timestamp>,
}

/// Every signature stored for `class`, in key order (student, version, stage).
pub fn class_versions(r: &impl Read, class_id: &str) -> Result<Vec<VersionInfo>, StoreError> {
    Ok(r.scan(&SIGNED, &format!("{class_id}/"))?
        .into_iter()
        .map(|(_, s)| VersionInfo {
            student: s.student,
            version: s.version,
            stage: s.stage,
            at: s.at,
            signer_name: s.signer_name,
            signer_role: s.signer_role,
            sha256: s.sha256,
            timestamp: s.timestamp,
        })
        .collect())
}

/// The newest signed file of one student (the last signature of the newest version).
pub fn latest(
    r: &impl Read,
    class_id: &str,
    student: &str,
) -> Result<Option<SignedHocba>, StoreError> {
    Ok(r.scan(&SIGNED, &format!("{class_id}/{student}/"))?
        .pop()
        .map(|(_, s)| s))
}

/// The export of a class: one signed PDF per student (the newest version, with every signature
/// it has) and `manifest.json` naming each file's student, version, SHA-256 and signers.
pub fn export_files(r: &impl Read, class_id: &str) -> Result<Vec<(String, Vec<u8>)>, HocbaError> {
    let class = super::class_of(r, class_id)?;
    let rows = r.scan(&SIGNED, &format!("{class_id}/"))?;
    // Keys sort student, version, stage: the last row of a student is the newest file, and the
    // rows of its version before it are the signatures it carries.
    let mut newest: Vec<(SignedHocba, Vec<&SignedHocba>)> = Vec::new();
    for (_, row) in &rows {
        match newest.last_mut() {
            Some((last, signers)) if last.student == row.student => {
                if row.version != last.version {
                    signers.clear();
                }
                *last = row.clone();
                signers.push(row);
            }
            _ => newest.push((row.clone(), vec![row])),
        }
    }
    if newest.is_empty() {
        return Err(HocbaError::NothingSigned(class.name));
    }
    let mut files = Vec::new();
    let mut manifest = Vec::new();
    for (row, signers) in &newest {
        let st = r.get(&crate::school::STUDENTS, &row.student)?;
        let name = st.as_ref().map(|s| s.full_name.clone()).unwrap_or_default();
        // Named as the office files them: class, student (ASCII, any system reads it) and
        // mã định danh — the internal id says nothing to a receiving school (review r8 #10).
        let file = format!(
            "hoc-ba-{}-{}-{}-v{}.pdf",
            crate::school::slug(&class.name),
            crate::school::slug(&name),
            st.as_ref()
                .map_or(row.student.as_str(), |s| s.ma_dinh_danh.as_str()),
            row.version
        );
        let bytes = row.pdf_bytes()?;
        manifest.push(serde_json::json!({
            "file": file,
            "student": row.student,
            "student_name": name,
            "version": row.version,
            "sha256": hex::encode(sha2::Sha256::digest(&bytes)),
            "signers": signers.iter().map(|s| serde_json::json!({
                "stage": s.stage, "name": s.signer_name, "role": s.signer_role, "at": s.at,
            })).collect::<Vec<_>>(),
        }));
        files.push((file, bytes));
    }
    let manifest = serde_json::json!({
        "format": "tram.hocba.export.v1",
        "class": class.id,
        "class_name": class.name,
        "year": class.year,
        "files": manifest,
    });
    files.push((
        "manifest.json".into(),
        serde_json::to_vec_pretty(&manifest).expect("JSON values serialize"),
    ));
    Ok(files)
}

/// Writes the export of `class` into the folder `to` (made if missing); the summary line.
pub fn export_to(store: &Store, class_id: &str, to: &Path) -> Result<String, HocbaError> {
    let files = export_files(&store.read()?, class_id)?;
    std::fs::create_dir_all(to).map_err(SigningError::from)?;
    for (name, bytes) in &files {
        crate::config::write_atomic(&to.join(name), bytes).map_err(SigningError::from)?;
    }
    Ok(format!(
        "exported {} signed học bạ of {class_id} and manifest.json to {}",
        files.len() - 1,
        to.display()
    ))
}

/// The export of `class` as one ZIP (the class page's download).
pub fn export_zip(r: &impl Read, class_id: &str) -> Result<Vec<u8>, HocbaError> {
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    let files = export_files(r, class_id)?;
    let ze = |e: zip::result::ZipError| HocbaError::Damaged(e.to_string());
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    // Signed PDFs are compressed already; the manifest is text.
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in &files {
        z.start_file(name.as_str(), stored).map_err(ze)?;
        z.write_all(bytes)
            .map_err(|e| HocbaError::Damaged(e.to_string()))?;
    }
    Ok(z.finish().map_err(ze)?.into_inner())
}

/// What the verify page shows of an uploaded file: each signature (signer, role, chain to the
/// school signing CA, time, bytes intact) and whether its học bạ data matches this box.
#[derive(Serialize, Debug)]
pub struct Verification {
    pub valid: bool,
    pub signatures: Vec<SignatureView>,
    pub data: DataCheck,
    /// The newest version this box holds of the same học bạ, when the file is an older one
    /// (still validly signed, but replaced by a correction).
    pub newer_version: Option<u32>,
    /// "… đã có phiên bản mới hơn (vN)" for the page.
    pub note: Option<String>,
}

/// One signature as the page shows it: the report, its problems in Vietnamese and its time
/// as the school reads a clock.
#[derive(Serialize, Debug)]
pub struct SignatureView {
    #[serde(flatten)]
    pub report: pades::SignatureReport,
    /// The problems, in Vietnamese (`problems` stays in English for the CLI and logs).
    pub problems_vi: Vec<String>,
    /// dd/mm/yyyy HH:MM in the school's time zone.
    pub time: Option<String>,
    /// Which trusted CA issued the signer's certificate: "CA của trường" (the school signing
    /// CA) or "CA công cộng: <name>" (a licensed CA whose chain came with an imported
    /// signer); none when no trusted CA did.
    pub trusted_by: Option<String>,
}

/// A verifier's finding (`pades::verify`, English) in the page's words.
fn problem_vi(en: &str) -> String {
    const KNOWN: &[(&str, &str)] = &[
        (
            "SubFilter is",
            "Chữ ký không theo chuẩn PAdES (ETSI.CAdES.detached).",
        ),
        (
            "no usable /ByteRange",
            "Chữ ký không chỉ rõ phần nội dung được ký.",
        ),
        ("/ByteRange", "Phần nội dung được ký không khớp với tệp."),
        (
            "the bytes left out",
            "Phần nội dung được ký không khớp với tệp.",
        ),
        ("unreadable CMS", "Không đọc được dữ liệu chữ ký."),
        ("CMS without a signer", "Dữ liệu chữ ký không có người ký."),
        (
            "signer named by key identifier",
            "Không nhận ra người ký (kiểu chữ ký không hỗ trợ).",
        ),
        (
            "the signer's certificate is not in the CMS",
            "Chữ ký không kèm chứng thư của người ký.",
        ),
        (
            "the signed bytes changed",
            "Nội dung tệp đã bị thay đổi sau khi ký.",
        ),
        (
            "signingCertificateV2",
            "Chữ ký không gắn đúng chứng thư của người ký.",
        ),
        (
            "the CMS signature does not verify",
            "Chữ ký không đúng (không khớp khoá của người ký).",
        ),
        (
            "the signer's certificate was not issued by the trusted CA",
            "Chứng thư của người ký không do CA của trường hay CA công cộng mà trường đã nhập cấp.",
        ),
        (
            "the signing time",
            "Thời gian ký không có hoặc nằm ngoài thời hạn của chứng thư.",
        ),
    ];
    if en.contains("bytes were added after the last signature") {
        return "Tệp có phần được thêm vào sau chữ ký cuối cùng (chưa được ký).".into();
    }
    KNOWN
        .iter()
        .find(|(prefix, _)| en.starts_with(prefix))
        .map_or_else(|| format!("Lỗi chữ ký: {en}"), |(_, vi)| (*vi).to_string())
}

/// A PDF date (/M) as dd/mm/yyyy HH:MM in the school's time zone.
fn local_time(pdf_date: &str) -> Option<String> {
    let t = pades::parse_pdf_date(pdf_date)?;
    Some(
        t.to_zoned(crate::school::time_zone())
            .strftime("%d/%m/%Y %H:%M")
            .to_string(),
    )
}

/// The newest version stored of the học bạ `pdf` is a signed copy of, when it is newer than
/// the copy: found by the file's SHA-256 among the rows of its student.
fn newer_version(r: &impl Read, pdf: &[u8]) -> Result<Option<u32>, HocbaError> {
    let sha = hex::encode(sha2::Sha256::digest(pdf));
    let data = pades::embedded_data(pdf)?;
    let Some((_, bytes)) = data.iter().find(|(n, _)| n == DATA_FILE) else {
        return Ok(None);
    };
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(None);
    };
    let (Some(class), Some(student)) = (doc["lop"].as_str(), doc["hocsinh"].as_str()) else {
        return Ok(None);
    };
    let rows = r.scan(&SIGNED, &format!("{class}/{student}/"))?;
    let Some(this) = rows.iter().find(|(_, s)| s.sha256 == sha) else {
        return Ok(None);
    };
    let newest = rows.iter().map(|(_, s)| s.version).max().unwrap_or(0);
    Ok((newest > this.1.version).then_some(newest))
}

/// The CAs this box trusts for học bạ signatures, with how the page names them: the school
/// signing CA, then the top of each chain recorded with a signer imported from a licensed CA's
/// PKCS#12 (the principal chose that CA; its certificates came with her file).
fn trust_anchors(
    r: &impl Read,
    school: x509_cert::Certificate,
) -> Result<Vec<(x509_cert::Certificate, String)>, HocbaError> {
    use der::Decode;
    let mut out = vec![(school, "CA của trường".to_string())];
    let chains = r
        .scan(&SIGNERS, "")?
        .into_iter()
        .map(|(_, rec)| rec.chain)
        .chain(r.scan(&REPLACED_CHAINS, "")?.into_iter().map(|(_, c)| c));
    for chain in chains {
        // Issuer first: the first certificate names the licensed CA, the last is the top.
        let chain: Vec<x509_cert::Certificate> = chain
            .iter()
            .filter_map(|h| hex::decode(h).ok())
            .filter_map(|d| x509_cert::Certificate::from_der(&d).ok())
            .collect();
        let (Some(issuer), Some(top)) = (chain.first(), chain.last()) else {
            continue;
        };
        if out.iter().any(|(c, _)| c == top) {
            continue;
        }
        let name = signing::subject_name_and_role(issuer).0;
        out.push((top.clone(), format!("CA công cộng: {name}")));
    }
    Ok(out)
}

/// Verifies an uploaded PDF against the CAs this box trusts ([`trust_anchors`]) and its records.
pub fn verify_upload(
    r: &impl Read,
    data_dir: &Path,
    pdf: &[u8],
) -> Result<Verification, HocbaError> {
    let ca = signing::load_ca(data_dir)?.ok_or(HocbaError::NoCa)?;
    let anchors = trust_anchors(r, ca.cert)?;
    let certs: Vec<_> = anchors.iter().map(|(c, _)| c.clone()).collect();
    let reports = pades::verify_anchored(pdf, &certs)?;
    // Which anchor vouches for each signature: each checked alone (a few anchors, one small
    // file), since the report says only that some anchor did. The order of the signatures is
    // the file's, the same in every pass.
    let mut trusted_by: Vec<Option<String>> = vec![None; reports.len()];
    for (cert, label) in &anchors {
        for (i, alone) in pades::verify(pdf, cert)?.iter().enumerate() {
            let issued = !alone.signer.is_empty()
                && !alone
                    .problems
                    .iter()
                    .any(|p| p.starts_with("the signer's certificate was not issued"));
            if let Some(slot) = trusted_by.get_mut(i)
                && slot.is_none()
                && issued
            {
                *slot = Some(label.clone());
            }
        }
    }
    let data = check_data(r, pdf)?;
    let valid = !reports.is_empty()
        && reports.iter().all(|s| s.valid())
        && !matches!(data, DataCheck::Differs { .. });
    let newer_version = newer_version(r, pdf)?;
    let signatures = reports
        .into_iter()
        .zip(trusted_by)
        .map(|(report, trusted_by)| SignatureView {
            problems_vi: report.problems.iter().map(|p| problem_vi(p)).collect(),
            time: report.signing_time.as_deref().and_then(local_time),
            report,
            trusted_by,
        })
        .collect();
    Ok(Verification {
        valid,
        signatures,
        data,
        newer_version,
        note: newer_version.map(|v| format!("Học bạ này đã có phiên bản mới hơn (v{v}).")),
    })
}

/// The signatures waiting for a time-stamp (keys of [`SIGNED`]), oldest first.
pub fn stamp_waiting(r: &impl Read) -> Result<Vec<String>, StoreError> {
    Ok(r.scan(&STAMP_WAITING, "")?
        .into_iter()
        .map(|(k, _)| k)
        .collect())
}

/// Stores the time-stamped file of signature `key` in place of `was` (its SHA-256): the same
/// signed bytes with the token in the signature's unsigned part. Nothing is stored when the row
/// changed meanwhile or another signer signed over it (then it can no longer be stamped).
/// Returns whether the file was stored.
pub fn store_stamp(
    store: &Store,
    key: &str,
    was: &str,
    pdf: &[u8],
    at: jiff::Timestamp,
) -> Result<bool, StoreError> {
    let actor = Actor {
        id: "relay".into(),
        now: jiff::Timestamp::now(),
    };
    store.write(&actor, |tx| {
        let Some(mut row) = tx.get(&SIGNED, key)? else {
            tx.delete(&STAMP_WAITING, key, "hocba.stamp_waiting")?;
            return Ok(false);
        };
        let over = row.stage == Stage::Gvcn
            && tx
                .get(
                    &SIGNED,
                    &format!("{}/{}/{:04}/2", row.class, row.student, row.version),
                )?
                .is_some();
        if row.sha256 != was || over {
            if over {
                tx.delete(&STAMP_WAITING, key, "hocba.stamp_waiting")?;
            }
            return Ok(false);
        }
        row.sha256 = hex::encode(sha2::Sha256::digest(pdf));
        row.pdf = base64::engine::general_purpose::STANDARD.encode(pdf);
        row.timestamp = Some(at);
        tx.put(&SIGNED, key, &row, "hocba.timestamped")?;
        tx.delete(&STAMP_WAITING, key, "hocba.stamp_waiting")?;
        Ok(true)
    })
}

/// Drops a signature from the waiting list when its file cannot be time-stamped (logged by
/// the caller): retrying would fail the same way.
pub fn drop_stamp_waiting(store: &Store, key: &str) -> Result<(), StoreError> {
    let actor = Actor {
        id: "relay".into(),
        now: jiff::Timestamp::now(),
    };
    store.write(&actor, |tx| {
        tx.delete(&STAMP_WAITING, key, "hocba.stamp_waiting")?;
        Ok::<_, StoreError>(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A box whose signers were files under `keys/` keeps them: each is moved into the table
    /// once, still opens with its PIN, and the file is gone; a record already in the table is
    /// not overwritten by a stale file.
    #[test]
    fn signer_files_move_into_the_table_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &crate::app::schema::schema()).unwrap();
        let now: jiff::Timestamp = "2026-06-01T02:00:00Z".parse().unwrap();
        let ca = signing::load_or_create_ca(dir.path(), "THCS Thử", now).unwrap();
        let old =
            signing::issue_signer(&ca, "gv-1", "Cô Lan", "Giáo viên chủ nhiệm", "135792", now)
                .unwrap();
        let file = dir.path().join("keys/hocba-signer-gv-1.json");
        std::fs::write(&file, serde_json::to_vec(&old).unwrap()).unwrap();
        // A later signer already in the table, and a stale file for the same account.
        let newer =
            signing::issue_signer(&ca, "ht-1", "Thầy Nam", "Hiệu trưởng", "246810", now).unwrap();
        store_signer(&store, &Actor::system(now), &newer, false).unwrap();
        let stale =
            signing::issue_signer(&ca, "ht-1", "Thầy Nam", "Hiệu trưởng", "000000", now).unwrap();
        let stale_file = dir.path().join("keys/hocba-signer-ht-1.json");
        std::fs::write(&stale_file, serde_json::to_vec(&stale).unwrap()).unwrap();

        assert_eq!(adopt_signer_files(&store, dir.path(), now).unwrap(), 1);
        assert!(!file.exists() && !stale_file.exists());
        let rx = store.read().unwrap();
        let moved = signer(&rx, "gv-1").unwrap().expect("moved");
        assert_eq!(moved, old);
        assert!(signing::unlock(&moved, "135792").is_ok());
        assert_eq!(signer(&rx, "ht-1").unwrap(), Some(newer));
        drop(rx);
        // Nothing left to move: nothing written.
        assert_eq!(adopt_signer_files(&store, dir.path(), now).unwrap(), 0);
        // Replacing needs to be asked for.
        let again =
            signing::issue_signer(&ca, "gv-1", "Cô Lan", "Giáo viên chủ nhiệm", "135792", now)
                .unwrap();
        assert!(matches!(
            store_signer(&store, &Actor::system(now), &again, false),
            Err(HocbaError::SignerExists)
        ));
        assert!(store_signer(&store, &Actor::system(now), &again, true).unwrap());
    }

    /// The data embedded before signing is read back out of the signed file and compared with
    /// the box's stored results: equal → matches; the stored result changed afterwards (a
    /// correction) → differs; a file without data → absent.
    #[test]
    fn embedded_data_is_compared_with_the_stored_results() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &crate::app::schema::schema()).unwrap();
        let now: jiff::Timestamp = "2026-06-01T02:00:00Z".parse().unwrap();
        let student: crate::school::Student = serde_json::from_value(serde_json::json!({
            "id": "hs-a", "full_name": "Lê An", "dob": "2012-01-01", "gender": "Nữ",
            "ma_dinh_danh": "079212000001", "class_id": "2026-9a1"
        }))
        .unwrap();
        let mut result: super::super::StoredResult = serde_json::from_value(serde_json::json!({
            "rule_version": "tt22-2021.1", "matruong": "1", "makhoi": 9, "malop": "2026-9a1",
            "mahocsinh": "hs-a", "sodinhdanh": "079212000001", "hocky": "CN",
            "diemmon": {"toan": "7.5"}, "mahocluc": 2, "mahanhkiem": 1, "songaynghi": 0,
            "danhhieu": null, "ketqua": "Lên lớp", "colenlop": true, "corenluyenlai": false,
            "nhanxet": "", "phienban": 1
        }))
        .unwrap();
        let put = |r: &super::super::StoredResult| {
            store
                .write(&Actor::system(now), |tx| {
                    tx.put(&crate::school::STUDENTS, "hs-a", &student, "t")?;
                    tx.put(&super::super::RESULTS, "2026/cn/hs-a", r, "t")
                })
                .unwrap()
        };
        put(&result);
        let mut layout = super::super::pdf::Layout::new(false);
        layout.line(10.0, false, "Học bạ");
        let plain = layout.finish().unwrap();
        let mut layout = super::super::pdf::Layout::new(false);
        layout.line(10.0, false, "Học bạ");
        let json = record_json(&store.read().unwrap(), "2026", "2026-9a1", "hs-a").unwrap();
        layout.attach_json(DATA_FILE, "test", json);
        let pdf = layout.finish().unwrap();

        let ca = signing::load_or_create_ca(dir.path(), "THCS Thử", now).unwrap();
        let rec =
            signing::issue_signer(&ca, "gv-1", "Cô Lan", "Giáo viên chủ nhiệm", "135792", now)
                .unwrap();
        let key = signing::unlock(&rec, "135792").unwrap();
        let signed = pades::sign(&pdf, &key, &ca.cert, now).unwrap();

        let rx = store.read().unwrap();
        assert_eq!(check_data(&rx, &plain).unwrap(), DataCheck::Absent);
        assert_eq!(
            check_data(&rx, &signed).unwrap(),
            DataCheck::Matches {
                student: "hs-a".into()
            }
        );
        drop(rx);
        result.mahocluc = Some(1);
        result.phienban = 2;
        put(&result);
        assert_eq!(
            check_data(&store.read().unwrap(), &signed).unwrap(),
            DataCheck::Differs {
                student: "hs-a".into()
            }
        );
    }
}
