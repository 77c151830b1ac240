//! The district hub (`tram district serve`): the same binary, collecting what schools relay.
//!
//! District staff issue a one-time enrolment token per school (`tram district token`); the
//! school presents it once with its Ed25519 device key and receives an upload secret. Each
//! batch arrives in chunks (resumable: the school asks how many bytes the hub holds), is
//! verified against that school's key, must be the next in its sequence, and is stored exactly
//! once — records and receipt in one transaction; a batch sent again is answered with the same
//! receipt and changes nothing.
//!
//! Storage is behind [`HubStorage`]: [`RedbHub`], embedded, the default for a district, and
//! [`pg::PgHub`] on PostgreSQL for a province (several hub processes on one database).
//! `routes.rs`: the upload API and the staff pages.

pub mod csdl;
pub mod hold;
pub mod pg;
pub mod reports;
pub mod routes;
mod tally;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::relay::batch::{self, BatchError, Envelope};
pub use crate::relay::wire::{HeldRecord, SharedItem};
use crate::store::{Actor, AuditPolicy, Collection, OutboxEntry, Read, Store, StoreError};
pub use tally::{KindTally, tally};

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(
        "unknown, already used or replaced enrolment token (a newer token for the school cancels the older ones)"
    )]
    BadToken,
    /// Past its validity (`tram district token --valid-days`, 7 by default): a token printed
    /// long ago and left on a desk must not enrol whoever finds it.
    #[error(
        "the enrolment token expired on {0}: ask the district for a new one (tram district token)"
    )]
    TokenExpired(String),
    #[error("school {0} is not enrolled")]
    UnknownSchool(String),
    #[error("wrong upload secret for school {0}")]
    Unauthorized(String),
    #[error("sequence gap: the next batch of this school is {expected}, not {got}")]
    Gap { expected: u64, got: u64 },
    #[error(
        "batch {0} was already stored with different content: a replay, or a second box relaying as this school (a copied disk?)"
    )]
    Conflict(u64),
    #[error("batch larger than the limit ({0} bytes)")]
    TooLarge(u64),
    #[error("batch names school {0} and number {1}, not the upload's")]
    Mismatch(String, u64),
    #[error("the public key is not a valid Ed25519 key")]
    BadKey,
    #[error("rejected: {0}")]
    Batch(#[from] BatchError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The hub's PostgreSQL cannot be reached (or is shutting down): the school retries.
    #[error("the hub's database is unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(String),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct School {
    pub code: String,
    pub name: String,
    /// Ed25519 device key, hex.
    pub public_key: String,
    /// BLAKE3 of the upload secret.
    pub secret_hash: String,
    pub enrolled_at: String,
    /// When a box enrolled again for this school (a new or restored box), the latest time.
    #[serde(default)]
    pub reenrolled_at: Option<String>,
    /// The last batch stored (0: none yet).
    pub last_seq: u64,
    pub last_outbox: u64,
    pub last_contact: Option<String>,
    pub bytes: u64,
    pub batches: u64,
    pub records: u64,
    /// Outbox entries the school still had waiting after its last batch.
    pub backlog: u64,
    /// The latest rejections (newest last, at most 20): (when, why).
    #[serde(default)]
    pub errors: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Token {
    pub school: String,
    pub name: String,
    pub issued_at: String,
    pub used_at: Option<String>,
    /// After this the token enrols nothing (None: a token issued before tokens expired).
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// How long an enrolment token stays good unless `--valid-days` says otherwise.
pub const TOKEN_VALID_DAYS: i64 = 7;

/// Refuses a token whose validity has passed (`expires_at`, RFC 3339).
pub fn check_not_expired(expires_at: Option<&str>, now: jiff::Timestamp) -> Result<(), HubError> {
    if let Some(exp) = expires_at.and_then(|t| t.parse::<jiff::Timestamp>().ok())
        && exp <= now
    {
        let shown = exp
            .to_zoned(crate::school::time_zone())
            .strftime("%H:%M %d/%m/%Y")
            .to_string();
        return Err(HubError::TokenExpired(shown));
    }
    Ok(())
}

/// What the hub gives back for a stored batch (and again, unchanged, for a repeat).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Receipt {
    pub school: String,
    pub seq: u64,
    pub first: u64,
    pub last: u64,
    pub entries: u64,
    pub payload_blake3: String,
    pub bytes: u64,
    pub received_at: String,
}

/// The newest state of one relayed record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordRow {
    pub op: String,
    pub record: Option<serde_json::Value>,
    pub outbox_seq: u64,
    pub at: String,
}

pub const SCHOOLS: Collection<School> =
    Collection::new("district.schools.v1", AuditPolicy::Values, None);
/// By BLAKE3 of the token.
pub const TOKENS: Collection<Token> =
    Collection::new("district.tokens.v1", AuditPolicy::Values, None);
/// "{school}/{seq:012}".
pub const RECEIPTS: Collection<Receipt> =
    Collection::new("district.receipts.v1", AuditPolicy::None, None);
/// "{school}\u{1}{kind}\u{1}{key}".
pub const RECORDS: Collection<RecordRow> =
    Collection::new("district.records.v1", AuditPolicy::None, None);

/// What the hub sends down to every school, by the file's BLAKE3 (its blob id).
pub const DOWNLINK: Collection<Published> =
    Collection::new("district.downlink.v1", AuditPolicy::Values, None);

/// Each school's report part ([`reports::PartCounts`]), by school code: updated with every
/// batch the school's records change in, in the same transaction.
pub const REPORT_PARTS: Collection<reports::PartCounts> =
    Collection::new("district.report_parts.v1", AuditPolicy::None, None);

/// Each school's học bạ signing CA certificate (PEM), by school code: what the hub verifies
/// the school's signed học bạ against.
pub const SIGNING_CAS: Collection<String> =
    Collection::new("district.signing_cas.v1", AuditPolicy::Values, None);

pub const TABLES: &[&str] = &[
    SCHOOLS.name,
    TOKENS.name,
    RECEIPTS.name,
    RECORDS.name,
    DOWNLINK.name,
    SIGNING_CAS.name,
    REPORT_PARTS.name,
];

/// The downlink's kind of a district decision on an item a school shared up (`hold.rs`): for
/// that school only.
pub const LIBRARY_REVIEW: &str = "library-review";

/// A file published for the schools to fetch: update bundles and library items for every
/// school; a key reset and a decision on a shared item for the school it names.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Published {
    /// BLAKE3 of the file: its blob id and its name on the downlink.
    pub id: String,
    pub kind: String,
    pub name: String,
    pub version: String,
    pub arch: String,
    pub len: u64,
    pub published_at: String,
    /// A library item's catalogue entry (title, kind, subject, grade, description, file name).
    #[serde(default)]
    pub meta: Option<serde_json::Value>,
    /// The hub account that published it from the page (None: the command line).
    #[serde(default)]
    pub by: Option<String>,
}

/// Why a file was not published. `Display` is the command line's English; [`PublishError::vi`]
/// is what the hub's page shows. Nothing is listed on the downlink when either is returned.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot read the release key {0}: {1} (name it with --release-key)")]
    ReleaseKey(String, String),
    #[error("not published: the bundle does not verify against the release key {0}: {1}")]
    NotVerified(String, String),
    #[error("a shared item needs a title")]
    NoTitle,
    /// The library's own check of the file (its message is already Vietnamese).
    #[error("{0}")]
    File(String),
    #[error("{0}")]
    Io(String),
}

impl PublishError {
    /// The reason in Vietnamese, for the district's staff.
    pub fn vi(&self) -> String {
        match self {
            PublishError::ReleaseKey(path, why) => format!(
                "Chưa phát hành: Phòng chưa có khoá phát hành để kiểm tra gói ({path}: {why}). Đặt release-key.pub vào thư mục dữ liệu của máy chủ Phòng."
            ),
            PublishError::NotVerified(_, why) => format!(
                "Chưa phát hành: gói cập nhật không đúng chữ ký của khoá phát hành của Phòng ({why}). Gói có thể bị sửa, bị cắt ngắn hoặc do người khác ký."
            ),
            PublishError::NoTitle => "Tài liệu dùng chung cần có tên.".into(),
            PublishError::File(why) => format!("Chưa chia sẻ: {why}"),
            PublishError::Io(why) => format!("Chưa phát hành: lỗi khi lưu tệp ({why})."),
        }
    }
}

fn io_error(e: impl std::fmt::Display) -> PublishError {
    PublishError::Io(e.to_string())
}

/// The release key a hub checks bundles against when none is named: `release-key.pub` in its
/// data directory, else the system's (`/etc/tram/release-key.pub`). The command line and the
/// page use the same one.
pub fn release_key_path(data_dir: &std::path::Path) -> std::path::PathBuf {
    let here = data_dir.join("release-key.pub");
    if here.exists() {
        here
    } else {
        std::path::PathBuf::from(crate::config::DEFAULT_RELEASE_KEY)
    }
}

/// Publishes an update bundle for every school, after checking it against the release key the
/// district names (`release_key`, a public key file): a bundle signed by any other key is
/// refused here, before a school downloads it (each school checks it again with its own key).
/// The command line's form of [`publish_update_as`].
pub fn publish_update(
    store: &Store,
    bundle: &std::path::Path,
    release_key: &std::path::Path,
    now: jiff::Timestamp,
) -> Result<Published, String> {
    publish_update_as(store, bundle, release_key, &Actor::system(now)).map_err(|e| e.to_string())
}

/// [`publish_update`] done by `by` (the page's district admin; audited as theirs).
pub fn publish_update_as(
    store: &Store,
    bundle: &std::path::Path,
    release_key: &std::path::Path,
    by: &Actor,
) -> Result<Published, PublishError> {
    let key = crate::pki::bundle::load_public_key(release_key)
        .map_err(|e| PublishError::ReleaseKey(release_key.display().to_string(), e.to_string()))?;
    let staging = store.dir().join("tmp").join(format!(
        "publish-{}",
        hex::encode(rand::random::<[u8; 6]>())
    ));
    std::fs::create_dir_all(&staging).map_err(io_error)?;
    let checked = crate::pki::bundle::verify(bundle, &key, &staging);
    let _ = std::fs::remove_dir_all(&staging);
    let m = checked
        .map_err(|e| PublishError::NotVerified(release_key.display().to_string(), e.to_string()))?
        .manifest;
    let f = std::fs::File::open(bundle).map_err(io_error)?;
    let (id, len) = store.blobs.put(f).map_err(io_error)?;
    let p = Published {
        id: id.clone(),
        kind: "update".into(),
        name: format!("tram-{}-{}.bundle", m.version, m.arch),
        version: m.version,
        arch: m.arch,
        len,
        published_at: by.now.to_string(),
        meta: None,
        by: Some(by.id.clone()),
    };
    publish(store, p, by).map_err(io_error)
}

/// Lists `p` on the downlink (its file is already in the blob store).
fn publish(store: &Store, p: Published, by: &Actor) -> Result<Published, String> {
    store
        .write(by, |tx| tx.put(&DOWNLINK, &p.id, &p, "downlink.publish"))
        .map_err(|e| e.to_string())?;
    Ok(p)
}

impl Published {
    /// The line the command line prints for it.
    pub fn line(&self) -> String {
        format!(
            "published {} ({} bytes) as {}\n",
            self.name, self.len, self.id
        )
    }

    /// The one school it is for (a key reset, a decision on a shared item); None: every school.
    pub fn school(&self) -> Option<&str> {
        match self.kind.as_str() {
            "key-reset" | LIBRARY_REVIEW => Some(
                self.meta
                    .as_ref()
                    .and_then(|m| m["school"].as_str())
                    .unwrap_or(""),
            ),
            _ => None,
        }
    }

    /// Whom it goes to: one school for a key reset or a decision on its item, every school
    /// otherwise; the school by the name `names` (code → name) gives it, its code when unknown.
    pub fn audience(&self, names: &std::collections::BTreeMap<String, String>) -> String {
        match self.school() {
            Some(school) => match names.get(school) {
                Some(n) if n != school => n.clone(),
                _ => format!("Trường mã {school}"),
            },
            None => "Mọi trường".into(),
        }
    }

    /// Whether `school` is to fetch it.
    pub fn is_for(&self, school: &str) -> bool {
        self.school().is_none_or(|s| s == school)
    }
}

/// Shares a file down to every school's library.
/// The command line's form of [`publish_library_as`].
pub fn publish_library(
    store: &Store,
    file: &std::path::Path,
    item: SharedItem,
    now: jiff::Timestamp,
) -> Result<Published, String> {
    publish_library_as(store, file, item, &Actor::system(now)).map_err(|e| e.to_string())
}

/// [`publish_library`] done by `by`.
pub fn publish_library_as(
    store: &Store,
    file: &std::path::Path,
    item: SharedItem,
    by: &Actor,
) -> Result<Published, PublishError> {
    if item.title.trim().is_empty() {
        return Err(PublishError::NoTitle);
    }
    let name = crate::library::upload::check_name(&item.file_name)
        .map_err(|e| PublishError::File(e.to_string()))?;
    crate::library::upload::check_file(&name, file)
        .map_err(|e| PublishError::File(e.to_string()))?;
    let f = std::fs::File::open(file).map_err(io_error)?;
    let (id, len) = store.blobs.put(f).map_err(io_error)?;
    let p = Published {
        id: id.clone(),
        kind: "library".into(),
        name,
        version: String::new(),
        arch: String::new(),
        len,
        published_at: by.now.to_string(),
        meta: Some(serde_json::to_value(&item).map_err(io_error)?),
        by: Some(by.id.clone()),
    };
    publish(store, p, by).map_err(io_error)
}

/// The district resets a signing key whose PIN is forgotten in a school with a single BGH member
/// in office (nobody there can be the second person). It travels down the relay to that school
/// only; the school applies it only to its sole BGH member in office and records it as the
/// district's doing, shown to the owner like any reset.
pub fn publish_key_reset(
    store: &Store,
    school: &str,
    account: &str,
    reason: &str,
    now: jiff::Timestamp,
) -> Result<Published, String> {
    let (school, account, reason) = (school.trim(), account.trim(), reason.trim());
    if school.is_empty() || account.is_empty() {
        return Err("a key reset names the school (--school) and the account (--account)".into());
    }
    if reason.is_empty() {
        return Err("say why the key is reset (--reason): the school sees it".into());
    }
    let order = serde_json::json!({
        "school": school, "account": account, "reason": reason, "at": now.to_string(),
    });
    let bytes = serde_json::to_vec(&order).map_err(|e| e.to_string())?;
    let (id, len) = store.blobs.put(&bytes[..]).map_err(|e| e.to_string())?;
    let p = Published {
        id,
        kind: "key-reset".into(),
        name: format!("key-reset-{school}-{account}"),
        version: String::new(),
        arch: String::new(),
        len,
        published_at: now.to_string(),
        meta: Some(order),
        by: None,
    };
    publish(store, p, &Actor::system(now))
}

pub fn downlink(store: &Store) -> Result<Vec<Published>, StoreError> {
    let mut v: Vec<Published> = store
        .read()?
        .scan(&DOWNLINK, "")?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    v.sort_by(|a, b| a.published_at.cmp(&b.published_at));
    Ok(v)
}

/// Where relayed data lives. One implementation per storage engine.
pub trait HubStorage: Send + Sync {
    /// A one-time token for a school (printed for district staff), good for the default days.
    fn issue_token(&self, school: &str, name: &str) -> Result<String, HubError> {
        let until =
            jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * TOKEN_VALID_DAYS);
        self.issue_token_until(school, name, until)
    }
    /// A one-time token for a school that enrols nothing after `expires_at`.
    fn issue_token_until(
        &self,
        school: &str,
        name: &str,
        expires_at: jiff::Timestamp,
    ) -> Result<String, HubError>;
    /// Enrols the school holding `token` with its device key; returns it and its upload secret.
    fn enrol(&self, token: &str, public_key: &str) -> Result<(School, String), HubError>;
    fn school(&self, code: &str) -> Result<Option<School>, HubError>;
    fn schools(&self) -> Result<Vec<School>, HubError>;
    fn receipt(&self, school: &str, seq: u64) -> Result<Option<Receipt>, HubError>;
    /// Stores a verified batch exactly once (the next in sequence), or returns the receipt of
    /// the identical batch stored before.
    fn store_batch(
        &self,
        env: &Envelope,
        entries: &[OutboxEntry],
        bytes: u64,
    ) -> Result<Receipt, HubError>;
    fn note_error(&self, school: &str, why: &str) -> Result<(), HubError>;
    /// The school's records stored from outbox entries numbered above `after`, in (kind, key)
    /// order, starting after the record `cursor` names (`kind\u{1}key`), at most `limit`:
    /// what a box restored from a backup asks for, page by page (a bad link drops a long
    /// answer), to tell its staff what the district holds that the box no longer has.
    fn records_after(
        &self,
        school: &str,
        after: u64,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<HeldRecord>, HubError>;
    /// Calls `f` with (school, record) for every live record of `kind`.
    fn each_record(
        &self,
        kind: &str,
        f: &mut dyn FnMut(&str, &serde_json::Value),
    ) -> Result<(), HubError>;
    /// Calls `f` with every live record of `kind` one school holds (a key range on both
    /// storages, not a walk of the province).
    fn each_record_of(
        &self,
        school: &str,
        kind: &str,
        f: &mut dyn FnMut(&serde_json::Value),
    ) -> Result<(), HubError> {
        self.each_keyed_record_of(school, kind, &mut |_, r| f(r))
    }
    /// Every live record of `kind` one school holds, in key order, as JSON text: what the
    /// CSDL export keeps of one school at a time and parses into structs that borrow from it
    /// (PostgreSQL hands over its jsonb text as it is, never built into values).
    fn record_texts_of(&self, school: &str, kind: &str) -> Result<csdl::RecordTexts, HubError> {
        let mut all = csdl::RecordTexts::default();
        self.each_record_of(school, kind, &mut |v| all.push_text(&v.to_string()))?;
        Ok(all)
    }
    /// [`HubStorage::each_record_of`] with each record's key, in key order.
    fn each_keyed_record_of(
        &self,
        school: &str,
        kind: &str,
        f: &mut dyn FnMut(&str, &serde_json::Value),
    ) -> Result<(), HubError>;
    /// The school's stored report part (None: not built yet, a hub upgraded from before parts
    /// were stored). `store_batch` keeps it up to date in the batch's own transaction.
    fn report_part(&self, school: &str) -> Result<Option<reports::PartCounts>, HubError>;
    /// Every stored report part, by school code (a hub's first view after a start).
    fn report_parts(&self) -> Result<Vec<(String, reports::PartCounts)>, HubError>;
    /// The codes of schools that stored batches but have no report part (a hub upgraded from
    /// before parts were stored); a school with no batch yet has nothing to count.
    fn schools_without_report_part(&self) -> Result<Vec<String>, HubError>;
    /// Recounts the school's part from its records and stores it, under the school's lock.
    fn rebuild_report_part(&self, school: &str) -> Result<reports::PartCounts, HubError>;
    /// Keeps `pem` as the school's học bạ signing CA (replacing the one it sent before).
    fn set_signing_ca(&self, school: &str, pem: &str) -> Result<(), HubError>;
    /// Every school's signing CA: (school code, PEM), by code.
    fn signing_cas(&self) -> Result<Vec<(String, String)>, HubError>;
}

/// A fresh enrolment token for `school` ("{school}-{24 hex}"): the school's code first, so the
/// box can check the hub's answer names the same school. Every storage issues these.
pub fn new_token(school: &str) -> String {
    format!(
        "{}-{}",
        crate::school::slug(school),
        hex::encode(rand::random::<[u8; 12]>())
    )
}

/// Checks an enrolling box's Ed25519 public key (hex), for every storage.
pub fn check_public_key(public_key: &str) -> Result<(), HubError> {
    let pk: [u8; 32] = hex::decode(public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(HubError::BadKey)?;
    ed25519_dalek::VerifyingKey::from_bytes(&pk).map_err(|_| HubError::BadKey)?;
    Ok(())
}

pub fn secret_hash(secret: &str) -> String {
    blake3::hash(secret.as_bytes()).to_hex().to_string()
}

/// The embedded store.
pub struct RedbHub {
    pub store: Arc<Store>,
}

fn actor() -> Actor {
    Actor {
        id: "hub".into(),
        now: jiff::Timestamp::now(),
    }
}

fn receipt_key(school: &str, seq: u64) -> String {
    format!("{school}/{seq:012}")
}

impl HubStorage for RedbHub {
    fn issue_token_until(
        &self,
        school: &str,
        name: &str,
        expires_at: jiff::Timestamp,
    ) -> Result<String, HubError> {
        let token = new_token(school);
        let t = Token {
            school: school.trim().into(),
            name: name.trim().into(),
            issued_at: jiff::Timestamp::now().to_string(),
            used_at: None,
            expires_at: Some(expires_at.to_string()),
        };
        let h = secret_hash(&token);
        self.store.write(&actor(), |tx| -> Result<(), HubError> {
            // A new token cancels the school's unused older ones: a token left over from an
            // earlier attempt must not enrol another key over the box that is working.
            let now = tx.now().to_string();
            for (k, mut old) in tx.scan(&TOKENS, "")? {
                if old.school == t.school && old.used_at.is_none() {
                    old.used_at = Some(format!("replaced {now}"));
                    tx.put(&TOKENS, &k, &old, "district.token.replace")?;
                }
            }
            tx.put(&TOKENS, &h, &t, "district.token")?;
            Ok(())
        })?;
        Ok(token)
    }

    fn enrol(&self, token: &str, public_key: &str) -> Result<(School, String), HubError> {
        check_public_key(public_key)?;
        let h = secret_hash(token.trim());
        let secret = hex::encode(rand::random::<[u8; 24]>());
        let sh = secret_hash(&secret);
        let school = self
            .store
            .write(&actor(), |tx| -> Result<School, HubError> {
                let mut t = tx.get(&TOKENS, &h)?.ok_or(HubError::BadToken)?;
                if t.used_at.is_some() {
                    return Err(HubError::BadToken);
                }
                check_not_expired(t.expires_at.as_deref(), tx.now())?;
                let now = tx.now().to_string();
                t.used_at = Some(now.clone());
                tx.put(&TOKENS, &h, &t, "district.token.use")?;
                // Re-enrolling a school (a replaced box) keeps its sequence: the new box restored
                // from backup continues where the old one stopped.
                let s = match tx.get(&SCHOOLS, &t.school)? {
                    Some(mut s) => {
                        s.public_key = public_key.into();
                        s.secret_hash = sh.clone();
                        s.reenrolled_at = Some(now);
                        s
                    }
                    None => School {
                        code: t.school.clone(),
                        name: t.name.clone(),
                        public_key: public_key.into(),
                        secret_hash: sh.clone(),
                        enrolled_at: now,
                        reenrolled_at: None,
                        last_seq: 0,
                        last_outbox: 0,
                        last_contact: None,
                        bytes: 0,
                        batches: 0,
                        records: 0,
                        backlog: 0,
                        errors: vec![],
                    },
                };
                tx.put(&SCHOOLS, &s.code, &s, "district.enrol")?;
                Ok(s)
            })?;
        Ok((school, secret))
    }

    fn school(&self, code: &str) -> Result<Option<School>, HubError> {
        Ok(self.store.read()?.get(&SCHOOLS, code)?)
    }

    fn schools(&self) -> Result<Vec<School>, HubError> {
        Ok(crate::school::list(&self.store.read()?, &SCHOOLS)?)
    }

    fn receipt(&self, school: &str, seq: u64) -> Result<Option<Receipt>, HubError> {
        Ok(self
            .store
            .read()?
            .get(&RECEIPTS, &receipt_key(school, seq))?)
    }

    fn store_batch(
        &self,
        env: &Envelope,
        entries: &[OutboxEntry],
        bytes: u64,
    ) -> Result<Receipt, HubError> {
        self.store
            .write(&actor(), |tx| -> Result<Receipt, HubError> {
                let mut s = tx
                    .get(&SCHOOLS, &env.school)?
                    .ok_or_else(|| HubError::UnknownSchool(env.school.clone()))?;
                if env.seq <= s.last_seq {
                    let r = tx
                        .get(&RECEIPTS, &receipt_key(&env.school, env.seq))?
                        .ok_or(HubError::Conflict(env.seq))?;
                    if r.payload_blake3 != env.payload_blake3 {
                        return Err(HubError::Conflict(env.seq));
                    }
                    return Ok(r);
                }
                if env.seq != s.last_seq + 1 {
                    return Err(HubError::Gap {
                        expected: s.last_seq + 1,
                        got: env.seq,
                    });
                }
                let now = tx.now().to_string();
                // The school's report part changes with its records, in this transaction; a
                // school from before parts were stored gets its part counted first.
                let mut part = match tx.get(&REPORT_PARTS, &env.school)? {
                    Some(p) => p,
                    None => recount_in(tx, &env.school)?,
                };
                for e in entries {
                    let key = format!("{}\u{1}{}\u{1}{}", env.school, e.kind, e.key);
                    let old = tx.get(&RECORDS, &key)?;
                    if let Some(old) = &old
                        && old.outbox_seq >= e.seq
                    {
                        continue;
                    }
                    if reports::REPORT_KINDS.contains(&e.kind.as_str()) {
                        part.apply(
                            &e.kind,
                            &e.key,
                            old.as_ref().and_then(|o| o.record.as_ref()),
                            e.record.as_ref(),
                        );
                    }
                    let row = RecordRow {
                        op: e.op.clone(),
                        record: e.record.clone(),
                        outbox_seq: e.seq,
                        at: e.at.clone(),
                    };
                    tx.put(&RECORDS, &key, &row, "district.record")?;
                }
                let r = Receipt {
                    school: env.school.clone(),
                    seq: env.seq,
                    first: env.first,
                    last: env.last,
                    entries: env.entries,
                    payload_blake3: env.payload_blake3.clone(),
                    bytes,
                    received_at: now.clone(),
                };
                tx.put(
                    &RECEIPTS,
                    &receipt_key(&env.school, env.seq),
                    &r,
                    "district.receipt",
                )?;
                s.last_seq = env.seq;
                s.last_outbox = env.last;
                s.last_contact = Some(now);
                s.bytes += bytes;
                s.batches += 1;
                s.records += env.entries;
                s.backlog = env.backlog;
                tx.put(&SCHOOLS, &s.code.clone(), &s, "district.batch")?;
                tx.put(&REPORT_PARTS, &env.school, &part, "district.report_part")?;
                Ok(r)
            })
    }

    fn note_error(&self, school: &str, why: &str) -> Result<(), HubError> {
        self.store.write(&actor(), |tx| -> Result<(), HubError> {
            if let Some(mut s) = tx.get(&SCHOOLS, school)? {
                s.errors.push((tx.now().to_string(), why.to_string()));
                let n = s.errors.len();
                if n > 20 {
                    s.errors.drain(..n - 20);
                }
                s.last_contact = Some(tx.now().to_string());
                tx.put(&SCHOOLS, school, &s, "district.reject")?;
            }
            Ok(())
        })
    }

    fn records_after(
        &self,
        school: &str,
        after: u64,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<HeldRecord>, HubError> {
        let rx = self.store.read()?;
        let mut out = Vec::new();
        let prefix = format!("{school}\u{1}");
        rx.scan_each(&RECORDS, &prefix, &mut |k, row: RecordRow| {
            let past_cursor = cursor.is_none_or(|c| &k[prefix.len()..] > c);
            if past_cursor && row.outbox_seq > after && out.len() < limit {
                let mut parts = k.splitn(3, '\u{1}').skip(1);
                out.push(HeldRecord {
                    kind: parts.next().unwrap_or_default().to_string(),
                    key: parts.next().unwrap_or_default().to_string(),
                    op: row.op,
                    outbox_seq: row.outbox_seq,
                    at: row.at,
                    record: row.record,
                });
            }
            Ok(())
        })?;
        Ok(out)
    }

    fn each_record(
        &self,
        kind: &str,
        f: &mut dyn FnMut(&str, &serde_json::Value),
    ) -> Result<(), HubError> {
        let rx = self.store.read()?;
        rx.scan_each(&RECORDS, "", &mut |k, row: RecordRow| {
            let mut parts = k.splitn(3, '\u{1}');
            let (Some(school), Some(kd)) = (parts.next(), parts.next()) else {
                return Ok(());
            };
            if kd == kind
                && let Some(r) = &row.record
            {
                f(school, r);
            }
            Ok(())
        })?;
        Ok(())
    }

    fn each_keyed_record_of(
        &self,
        school: &str,
        kind: &str,
        f: &mut dyn FnMut(&str, &serde_json::Value),
    ) -> Result<(), HubError> {
        let rx = self.store.read()?;
        let prefix = format!("{school}\u{1}{kind}\u{1}");
        rx.scan_each(&RECORDS, &prefix, &mut |k, row: RecordRow| {
            if let Some(r) = &row.record {
                f(&k[prefix.len()..], r);
            }
            Ok(())
        })?;
        Ok(())
    }

    fn report_part(&self, school: &str) -> Result<Option<reports::PartCounts>, HubError> {
        Ok(self.store.read()?.get(&REPORT_PARTS, school)?)
    }

    fn report_parts(&self) -> Result<Vec<(String, reports::PartCounts)>, HubError> {
        Ok(self.store.read()?.scan(&REPORT_PARTS, "")?)
    }

    fn schools_without_report_part(&self) -> Result<Vec<String>, HubError> {
        let rx = self.store.read()?;
        let mut out = Vec::new();
        for s in crate::school::list(&rx, &SCHOOLS)? {
            if s.last_seq > 0 && rx.get(&REPORT_PARTS, &s.code)?.is_none() {
                out.push(s.code);
            }
        }
        Ok(out)
    }

    fn rebuild_report_part(&self, school: &str) -> Result<reports::PartCounts, HubError> {
        // redb has one writer at a time: no batch can change the records while they are
        // counted here.
        self.store
            .write(&actor(), |tx| -> Result<reports::PartCounts, HubError> {
                let part = recount_in(tx, school)?;
                tx.put(&REPORT_PARTS, school, &part, "district.report_part")?;
                Ok(part)
            })
    }
    fn set_signing_ca(&self, school: &str, pem: &str) -> Result<(), HubError> {
        self.store.write(&actor(), |tx| {
            if tx.get(&SCHOOLS, school)?.is_none() {
                return Err(HubError::UnknownSchool(school.into()));
            }
            tx.put(
                &SIGNING_CAS,
                school,
                &pem.to_string(),
                "district.signing_ca",
            )?;
            Ok(())
        })
    }

    fn signing_cas(&self) -> Result<Vec<(String, String)>, HubError> {
        Ok(self.store.read()?.scan(&SIGNING_CAS, "")?)
    }
}

/// The school's report part counted from its records as the transaction `tx` sees them.
fn recount_in(tx: &crate::store::Tx<'_>, school: &str) -> Result<reports::PartCounts, HubError> {
    let mut part = reports::PartCounts::default();
    let prefix = format!("{school}\u{1}");
    tx.scan_each(&RECORDS, &prefix, &mut |k, row: RecordRow| {
        if let Some((kind, key)) = k[prefix.len()..].split_once('\u{1}')
            && let Some(r) = &row.record
            && reports::REPORT_KINDS.contains(&kind)
        {
            part.apply(kind, key, None, Some(r));
        }
        Ok(())
    })?;
    Ok(part)
}

/// The name a school goes by on the hub's pages, reports and verify answers: what it calls
/// itself (`relayed`, its relayed details), else what the district typed at enrolment
/// (`typed`), else its code.
pub fn school_display_name(relayed: Option<&str>, typed: &str, code: &str) -> String {
    relayed
        .filter(|n| !n.trim().is_empty())
        .or(Some(typed).filter(|n| !n.trim().is_empty()))
        .unwrap_or(code)
        .to_string()
}

/// The name in a school's relayed details, if it gave one.
pub fn relayed_school_name(hub: &dyn HubStorage, school: &str) -> Result<Option<String>, HubError> {
    let mut name = None;
    hub.each_record_of(school, "school", &mut |r| {
        if let Some(n) = r["name"].as_str().filter(|n| !n.trim().is_empty()) {
            name = Some(n.to_string());
        }
    })?;
    Ok(name)
}

/// Why the hub cannot check a học bạ file.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("Tệp không có chữ ký số nào.")]
    Unsigned,
    #[error(
        "Không rõ trường: chữ ký không thuộc CA ký số của trường nào đã ghi danh và gửi chứng thư CA về Phòng."
    )]
    UnknownSchool,
    #[error("{}", .0.when_verifying())]
    Pdf(#[from] crate::pki::pades::PadesError),
    #[error(transparent)]
    Hub(#[from] HubError),
}

/// The school's signing CAs in what a box sent (`relay::stamp::send_signing_ca`): the first
/// certificate — the current CA —, then every self-issued one of the same organisation (the CAs
/// a renewal replaced, `gradebook::hocba::ca::renew`); the rest of the bundle (the imported
/// signers' chains) only helps build chains, never an anchor.
pub fn school_cas(certs: &[x509_cert::Certificate]) -> Vec<x509_cert::Certificate> {
    use crate::pki::signing::ca_organisation;
    let Some(first) = certs.first() else {
        return Vec::new();
    };
    let org = ca_organisation(first);
    let mut out = vec![first.clone()];
    out.extend(
        certs[1..]
            .iter()
            .filter(|c| {
                c.tbs_certificate.issuer == c.tbs_certificate.subject
                    && org.is_some()
                    && ca_organisation(c) == org
                    && *c != first
            })
            .cloned(),
    );
    out
}

/// The hub's answer on a file: the school whose CA signed it, and the verification in the
/// box's own shape (`hocba::Verification`, its `verdict` from `hocba::verdict::decide`, as on
/// the box), the data not checked (the hub holds no marks).
#[derive(serde::Serialize, Debug)]
pub struct HubVerification {
    pub school: String,
    pub school_name: String,
    /// The school's signature register for this file has not reached the hub yet.
    pub register_pending: bool,
    #[serde(flatten)]
    pub verification: crate::gradebook::hocba::Verification,
}

/// [`verify_hocba_checked`] as the API answers it.
pub fn verify_hocba(
    hub: &dyn HubStorage,
    dir: &std::path::Path,
    pdf: &[u8],
) -> Result<serde_json::Value, VerifyError> {
    let v = verify_hocba_checked(hub, dir, pdf)?;
    serde_json::to_value(&v)
        .map_err(|e| VerifyError::Pdf(crate::pki::pades::PadesError::Pdf(e.to_string())))
}

/// The hub's check of a signed học bạ (`tram district verify-hocba`, the staff's API): the
/// school whose signing CA its signatures chain to, and each signature as the school's own
/// verify reports it (bytes, chain, time, time-stamp), against the registers the school relayed;
/// one verdict, decided as the box decides it. A file no known school's CA signed is refused
/// ("không rõ trường").
pub fn verify_hocba_checked(
    hub: &dyn HubStorage,
    dir: &std::path::Path,
    pdf: &[u8],
) -> Result<HubVerification, VerifyError> {
    use crate::gradebook::hocba::{self, RegisterState, verdict};
    use crate::pki::{pades, roots};
    let licensed = roots::certificates(dir);
    let mut any = false;
    let pdf_err = |e: hocba::HocbaError| match e {
        hocba::HocbaError::Pades(p) => VerifyError::Pdf(p),
        other => VerifyError::Pdf(pades::PadesError::Pdf(other.to_string())),
    };
    for (school, pem) in hub.signing_cas()? {
        // The school's signing CA first, then the chains of its imported signers (what the box
        // sent with it: intermediates, and roots the box lists — never anchors here).
        let certs = roots::pem_certs(&pem);
        let cas = school_cas(&certs);
        if cas.is_empty() {
            continue;
        }
        let chains: Vec<_> = certs.iter().filter(|c| !cas.contains(c)).cloned().collect();
        let chains = &chains[..];
        let reports = pades::verify_anchored(pdf, &cas)?;
        if reports.is_empty() {
            return Err(VerifyError::Unsigned);
        }
        any = true;
        // The school is the one whose CA — the current one or one a renewal replaced — vouches
        // for a signature (the homeroom teacher's); then every signature is judged against the
        // school's CAs and the hub's own licensed roots, as the box judges them.
        if !reports.iter().any(|r| r.chain_ok) {
            continue;
        }
        let mut anchors = cas.clone();
        anchors.extend(licensed.iter().cloned());
        let mut reports = pades::verify_with_intermediates(pdf, &anchors, chains)?;
        // A signature under one of the school's CAs made after a renewal or a recovery had
        // replaced it: dated from the CAs the box relayed, as the box dates it (review r17 #1).
        hocba::flag_retired(&mut reports, &cas);
        // Named as the reports name a school.
        let name = school_display_name(
            relayed_school_name(hub, &school)?.as_deref(),
            &hub.school(&school)?.map(|s| s.name).unwrap_or_default(),
            &school,
        );
        // The register the school relayed, for the student the file names: a signature
        // chaining to the school's CA is the school's only if the school made it (review
        // r10 #5: a certificate minted with a stolen CA key chains too).
        let mut register = Vec::new();
        let named = hocba::file_student(pdf).map_err(pdf_err)?;
        let is_hocba = named.is_some();
        if let Some((class, student)) = named.clone() {
            hub.each_record_of(&school, "hocba_signature", &mut |r| {
                if let Ok(e) = serde_json::from_value::<hocba::RegisterEntry>(r.clone())
                    && e.class == class
                    && e.student == student
                {
                    register.push(e);
                }
            })?;
        }
        // A signed PDF with no học bạ data may be a month's lesson-plan approval: its
        // signatures against the approval register the school relayed, as the box checks
        // its own (review r13 #4, r15 #5).
        let mut approval = None;
        let mut kind_approval = false;
        let mut newer_version = None;
        let mut listed = vec![false; reports.len()];
        // Review r17 #5: the file's data against the student and results the school relayed.
        let data = match &named {
            Some((_, student)) => relayed_data(hub, &school, pdf, student)?,
            None => hocba::DataCheck::NotChecked,
        };
        let (findings, pending) = if is_hocba {
            let version = hocba::data_version(pdf).unwrap_or(None);
            // Review r15 #4: the hub holds the school's lines of every version it signed.
            newer_version = hocba::relayed_newer_version(&reports, &register, version);
            for (l, rep) in listed.iter_mut().zip(&reports) {
                *l = hocba::in_register(&register, rep);
            }
            hocba::check_relayed(&mut reports, &register, version)
        } else {
            let mut lines = Vec::new();
            hub.each_record_of(&school, "approval_signature", &mut |r| {
                if let Ok(l) = serde_json::from_value::<hocba::ApprovalSignature>(r.clone()) {
                    lines.push(l);
                }
            })?;
            let names = hocba::approval_data(pdf).map_err(pdf_err)?;
            kind_approval = names.is_some();
            let (a, findings, pending) =
                hocba::check_relayed_approvals(&mut reports, &lines, names);
            for (l, rep) in listed.iter_mut().zip(&reports) {
                *l = hocba::in_approval_register(&lines, rep);
            }
            approval = a;
            (findings, pending)
        };
        let pending_problems: Vec<String> = findings
            .iter()
            .filter(|f| hocba::is_pending_finding(f))
            .map(|f| f.en.clone())
            .collect();
        let decided: Vec<hocba::Finding> = findings
            .iter()
            .filter(|f| !hocba::is_pending_finding(f))
            .cloned()
            .collect();
        let verdict = verdict::decide(&verdict::Evidence {
            signatures: &reports,
            findings: &decided,
            pending,
            data_differs: matches!(data, hocba::DataCheck::Differs { .. }),
            newer_version,
        });
        // A forged or altered file is never told to fetch a newer version (review r19 #10).
        let newer_version = newer_version.filter(|_| verdict != hocba::Verdict::Invalid);
        let mut findings = findings;
        if let (hocba::Verdict::Outdated, hocba::DataCheck::Differs { fields, .. }) =
            (verdict, &data)
        {
            findings.push(hocba::data_differs_finding(fields));
        }
        // Each signature in the shape of the box's own answer (`SignatureView`): times as
        // the school's people read them, problems in Vietnamese, who vouches, the register.
        let signatures: Vec<hocba::SignatureView> = reports
            .into_iter()
            .zip(listed)
            .map(|(r, listed)| {
                let trusted_by = hocba::trusted_by(&cas, &r);
                let unlisted = r.problems.iter().any(|p| {
                    p == hocba::NOT_IN_RELAYED_REGISTER || p == hocba::NOT_IN_RELAYED_APPROVALS
                });
                let empty = r.signature_sha256.is_empty();
                let mut view = hocba::SignatureView::of(r, trusted_by);
                view.register = if listed {
                    RegisterState::Listed
                } else if unlisted {
                    RegisterState::NotListed
                } else if empty {
                    RegisterState::NotChecked
                } else {
                    RegisterState::NotArrived
                };
                view
            })
            .collect();
        let note = match &approval {
            Some(a) => Some(a.note()),
            None => newer_version.map(|v| format!("Học bạ này đã có phiên bản mới hơn (v{v}).")),
        };
        return Ok(HubVerification {
            school: school.clone(),
            school_name: name,
            register_pending: pending,
            verification: hocba::Verification {
                valid: verdict == hocba::Verdict::Valid,
                signatures,
                data_vi: hocba::data_vi(&data, true),
                data,
                newer_version,
                note,
                problems: findings.iter().map(|f| f.en.clone()).collect(),
                problems_vi: findings.iter().map(|f| f.vi.clone()).collect(),
                approval,
                verdict,
                pending_problems,
                kind_approval,
            },
        });
    }
    if !any && !pdf_has_signature(pdf)? {
        return Err(VerifyError::Unsigned);
    }
    Err(VerifyError::UnknownSchool)
}

/// The hub's data check of a học bạ file naming `student` (review r17 #5): its embedded data
/// against the student record `school` relayed — found by the id the data names, or else by the
/// mã định danh the file prints —, her relayed nơi sinh and dân tộc (review r19 #7), her class's
/// year and her relayed results, under her mã định danh now and the one the file prints (a
/// corrected number leaves the earlier results under the old one, review r19 #9)
/// (`hocba::check_relayed_data`). Before her record has arrived: `UnknownStudent`, said as
/// "not checked" — never a match.
fn relayed_data(
    hub: &dyn HubStorage,
    school: &str,
    pdf: &[u8],
    student: &str,
) -> Result<crate::gradebook::hocba::DataCheck, VerifyError> {
    use crate::gradebook::hocba;
    let pdf_err = |e: hocba::HocbaError| match e {
        hocba::HocbaError::Pades(p) => VerifyError::Pdf(p),
        other => VerifyError::Pdf(crate::pki::pades::PadesError::Pdf(other.to_string())),
    };
    let printed_ma = hocba::file_ma_dinh_danh(pdf).map_err(pdf_err)?;
    let by_ma = printed_ma.as_ref().map(|m| format!("hs-{m}"));
    let (mut held, mut by_number): (Option<crate::school::Student>, _) = (None, None);
    hub.each_keyed_record_of(school, "student", &mut |k, r| {
        if held.is_none() && r["id"].as_str() == Some(student) {
            held = serde_json::from_value(r.clone()).ok();
        } else if by_number.is_none() && by_ma.as_deref() == Some(k) {
            by_number = serde_json::from_value(r.clone()).ok();
        }
    })?;
    let held = held.or(by_number);
    let mut class_year = None;
    let mut profile = None;
    let mut results: std::collections::HashMap<String, serde_json::Value> = Default::default();
    if let Some(st) = &held {
        hub.each_record_of(school, "class", &mut |r| {
            if r["id"].as_str() == Some(st.class_id.as_str()) {
                class_year = r["year"].as_str().map(str::to_string);
            }
        })?;
        hub.each_keyed_record_of(school, crate::school::PROFILE_RELAY_KIND, &mut |k, r| {
            if k == st.id {
                profile = Some(r.clone());
            }
        })?;
        // Results are relayed keyed "{year}/{period}/hs-{mã định danh}".
        let suffixes: Vec<String> = std::iter::once(&st.ma_dinh_danh)
            .chain(printed_ma.as_ref())
            .map(|m| format!("/hs-{m}"))
            .collect();
        hub.each_keyed_record_of(school, "result", &mut |k, r| {
            if suffixes.iter().any(|s| k.ends_with(s.as_str())) {
                results.insert(k.to_string(), r.clone());
            }
        })?;
    }
    let check = hocba::check_relayed_data(
        pdf,
        held.as_ref(),
        profile.as_ref(),
        class_year.as_deref(),
        &|year, period, ma| results.get(&format!("{year}/{period}/hs-{ma}")).cloned(),
    )
    .map_err(pdf_err)?;
    Ok(check.unwrap_or(hocba::DataCheck::NotChecked))
}

/// What `tram district verify-hocba FILE` prints (English): the school, then the box's own
/// report (`hocba::verdict::report_text`) — each signature, the register, the stages, the
/// version — ending in one verdict line; or why none could be checked ("=> INVALID").
pub fn verify_hocba_text(
    hub: &dyn HubStorage,
    dir: &std::path::Path,
    file: &std::path::Path,
) -> String {
    let pdf = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => return format!("{}: {e}\nNOT CHECKED\n", file.display()),
    };
    let name = file.display().to_string();
    match verify_hocba_checked(hub, dir, &pdf) {
        Ok(v) => crate::gradebook::hocba::verdict::report_text(
            &name,
            &v.verification,
            Some((&v.school_name, &v.school)),
        ),
        Err(VerifyError::UnknownSchool) => {
            "unknown school: no enrolled school's signing CA signed this file\n=> INVALID\n".into()
        }
        Err(VerifyError::Unsigned) => "the file carries no signature\n=> INVALID\n".into(),
        Err(e) => format!("{e}\nNOT CHECKED\n"),
    }
}

/// Whether the file carries any signature (checked against a throw-away anchor).
fn pdf_has_signature(pdf: &[u8]) -> Result<bool, VerifyError> {
    let doc = lopdf::Document::load_mem(pdf)
        .map_err(|e| crate::pki::pades::PadesError::Pdf(e.to_string()))?;
    Ok(doc.objects.values().any(|o| {
        o.as_dict()
            .is_ok_and(|d| matches!(d.get(b"FT"), Ok(lopdf::Object::Name(n)) if n == b"Sig"))
    }))
}

/// What `tram district schools` prints: each enrolled school's code, name, when its box
/// enrolled (again) and the fingerprint of its device key — the key that signs the school's
/// records archive, which an officer compares with the one an archive shows.
pub fn schools_text(hub: &dyn HubStorage) -> Result<String, HubError> {
    let mut schools = hub.schools()?;
    schools.sort_by(|a, b| a.code.cmp(&b.code));
    if schools.is_empty() {
        return Ok("no school has enrolled at this hub yet\n".into());
    }
    let mut out = String::new();
    for s in &schools {
        let fp = crate::pki::key_fingerprint_hex(&s.public_key).unwrap_or_default();
        out += &format!(
            "{}  {}\n  enrolled {}{}\n  box key fingerprint: {}\n",
            s.code,
            if s.name.is_empty() {
                "(no name)"
            } else {
                &s.name
            },
            s.enrolled_at,
            s.reenrolled_at
                .as_deref()
                .map(|t| format!(
                    ", enrolled again {t} (archives written before then carry the earlier key)"
                ))
                .unwrap_or_default(),
            crate::pki::fingerprint_groups(&fp)
        );
    }
    Ok(out)
}

/// What `tram district token` prints: the token, and the certificate pin for HTTPS.
pub fn token_text(
    store: &Arc<Store>,
    school: &str,
    name: &str,
    valid_days: i64,
) -> Result<String, HubError> {
    let hub = RedbHub {
        store: store.clone(),
    };
    token_text_for(&hub, store.dir(), school, name, valid_days)
}

/// [`token_text`] for any storage; `dir` is the hub's data directory (its certificate).
pub fn token_text_in(
    hub: &dyn HubStorage,
    dir: &std::path::Path,
    school: &str,
    name: &str,
) -> Result<String, HubError> {
    token_text_for(hub, dir, school, name, TOKEN_VALID_DAYS)
}

/// [`token_text_in`] for a token good for `valid_days` (`--valid-days`).
pub fn token_text_for(
    hub: &dyn HubStorage,
    dir: &std::path::Path,
    school: &str,
    name: &str,
    valid_days: i64,
) -> Result<String, HubError> {
    let school = school.trim();
    if school.is_empty()
        || !school
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(HubError::UnknownSchool(format!(
            "{school:?} (a school code is letters, digits, - or _)"
        )));
    }
    let until = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * valid_days);
    let token = hub.issue_token_until(school, name, until)?;
    let mut out = format!("enrolment token for school {school} (use once): {token}\n");
    out += &format!(
        "valid until {} Vietnam time (UTC+7) ({valid_days} days; --valid-days to change)\n",
        until
            .to_zoned(crate::school::time_zone())
            .strftime("%d/%m/%Y %H:%M")
    );
    match certificate_pin_in(dir) {
        Some(pin) => {
            out += &format!(
                "hub certificate pin (SHA-256): {pin}\non the school: tram relay enroll --hub https://HUB:PORT --token {token} --pin {pin}\n"
            )
        }
        None => {
            out +=
                &format!("on the school: tram relay enroll --hub http://HUB:PORT --token {token}\n")
        }
    }
    Ok(out)
}

/// Verifies a complete upload for `school`/`seq` and stores it exactly once.
pub fn accept(
    hub: &dyn HubStorage,
    school: &str,
    seq: u64,
    bytes: &[u8],
) -> Result<Receipt, HubError> {
    if bytes.len() as u64 > batch::MAX_BATCH {
        return Err(HubError::TooLarge(batch::MAX_BATCH));
    }
    let s = hub
        .school(school)?
        .ok_or_else(|| HubError::UnknownSchool(school.into()))?;
    let pk: [u8; 32] = hex::decode(&s.public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(HubError::BadKey)?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&pk).map_err(|_| HubError::BadKey)?;
    let (env, entries) = batch::open(bytes, &key)?;
    if env.school != school || env.seq != seq {
        return Err(HubError::Mismatch(env.school, env.seq));
    }
    hub.store_batch(&env, &entries, bytes.len() as u64)
}

/// The hub's courier key (age X25519), made on first use: schools encrypt batches they send on
/// a USB stick to it.
pub fn courier_key(data_dir: &std::path::Path) -> std::io::Result<age::x25519::Identity> {
    use age::secrecy::ExposeSecret;
    use std::str::FromStr;
    let path = data_dir.join("keys").join("courier.key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return age::x25519::Identity::from_str(text.trim())
            .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())));
    }
    let id = age::x25519::Identity::generate();
    crate::config::write_secret(&path, id.to_string().expose_secret().as_bytes())?;
    Ok(id)
}

/// Courier mode, hub side: imports every `*.tram-batch` file in `from` (in school and batch
/// order), each decrypted with the courier key, verified and stored exactly once like an upload.
/// Returns a line per file.
pub fn import(store: &Arc<Store>, from: &std::path::Path) -> Result<Vec<String>, HubError> {
    let hub = RedbHub {
        store: store.clone(),
    };
    import_into(&hub, store.dir(), from)
}

/// [`import`] into any storage; `dir` is the hub's data directory (its courier key).
pub fn import_into(
    hub: &dyn HubStorage,
    dir: &std::path::Path,
    from: &std::path::Path,
) -> Result<Vec<String>, HubError> {
    use std::io::Read as _;
    let id = courier_key(dir).map_err(StoreError::from)?;
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(from)
        .map_err(StoreError::from)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tram-batch"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let name = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        // Each stage says what went wrong in words staff can act on.
        let plain = std::fs::File::open(&f)
            .map_err(|e| format!("cannot read the file ({e})"))
            .and_then(|file| {
                age::Decryptor::new(std::io::BufReader::new(file)).map_err(|e| {
                    format!("not a courier batch, or its first bytes are damaged ({e})")
                })
            })
            .and_then(|d| {
                d.decrypt(std::iter::once(&id as &dyn age::Identity))
                    .map_err(|e| {
                        format!("written for another district hub's courier key, not this one ({e})")
                    })
            })
            .and_then(|mut r| {
                let mut v = Vec::new();
                r.read_to_end(&mut v).map_err(|e| {
                    format!("the file is damaged or incomplete (cut short while copying?): copy it from the school again ({e})")
                })?;
                Ok(v)
            });
        let line = match plain {
            Err(e) => format!("{name}: REJECTED: {e}"),
            Ok(b) => match batch::envelope(&b) {
                Err(e) => format!("{name}: REJECTED: {e}"),
                Ok((env, _))
                    if hub
                        .receipt(&env.school, env.seq)?
                        .is_some_and(|r| r.payload_blake3 == env.payload_blake3) =>
                {
                    format!(
                        "{name}: already stored (batch {} of {}): nothing to do",
                        env.seq, env.school
                    )
                }
                Ok((env, _)) => match accept(hub, &env.school, env.seq, &b) {
                    Ok(r) => format!(
                        "{name}: stored as batch {} of {} ({} records, received {})",
                        r.seq, r.school, r.entries, r.received_at
                    ),
                    Err(e) => {
                        let _ =
                            hub.note_error(&env.school, &format!("courier batch {}: {e}", env.seq));
                        format!("{name}: REJECTED: {e}")
                    }
                },
            },
        };
        out.push(line);
    }
    if out.is_empty() {
        out.push(format!(
            "REJECTED: no courier batches (*.tram-batch) in {}",
            from.display()
        ));
    }
    Ok(out)
}

/// `/district/api/stats`: the staff reports' own counts of one school year (review r20 #5) —
/// the filter's, else the year the reports show (`Reports::year`) —, narrowed by the same
/// filter (school, grade, term), so every figure equals its report's.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    /// The school year counted.
    pub year: Option<String>,
    /// school → grade → students still at the school (the *Sĩ số theo khối* report: a student
    /// who transferred out or withdrew is not counted).
    pub enrolment: BTreeMap<String, BTreeMap<u8, u64>>,
    /// "hocluc/{term}" → learning level ("1" Tốt … "4" Chưa đạt, "—" chưa đánh giá: a student
    /// of the year without one, as the *Kết quả học tập, rèn luyện* report counts) → students,
    /// grades 6–12; "{subject}/{term}" → the *Kết quả theo môn* report's column → results.
    pub levels: BTreeMap<String, BTreeMap<String, u64>>,
    /// school → (plans, handed in, approved) of the year's months (the *Kế hoạch bài dạy*
    /// report, by `lessons::MONTH_COUNT_RULE`).
    pub lesson_plans: BTreeMap<String, (u64, u64, u64)>,
    /// Schools left out while the hub builds their report parts (once, after an upgrade).
    pub pending: Vec<String>,
}

/// [`Stats`] under `filter` (checked by the caller), from the reports' sums — kept per filter
/// and school version, as the staff page's are.
pub fn stats(
    hub: &dyn HubStorage,
    parts: &reports::PartCache,
    filter: &reports::Filter,
    subject_names: &BTreeMap<String, String>,
) -> Result<Stats, HubError> {
    let r = reports::reports_for(
        hub,
        parts,
        filter,
        i64::MAX,
        subject_names,
        jiff::Timestamp::now(),
        Some(0),
    )?;
    Ok(r.stats)
}

/// SHA-256 of the hub's certificate authority, which schools pin at enrolment (None until the
/// hub has served HTTPS once).
pub fn certificate_pin(store: &Store) -> Option<String> {
    certificate_pin_in(store.dir())
}

/// [`certificate_pin`] of the hub whose data directory is `dir`.
pub fn certificate_pin_in(dir: &std::path::Path) -> Option<String> {
    let pem = std::fs::read_to_string(dir.join("tls").join("ca.pem")).ok()?;
    let der = crate::pki::tls::pem_der(&pem).ok()?;
    Some(crate::relay::sha256_hex(&der))
}

#[cfg(test)]
mod tests;
