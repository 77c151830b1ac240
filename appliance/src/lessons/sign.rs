//! Signatures on lesson plans.
//!
//! Every user who signs gets an Ed25519 key made on the device. The private half is kept only
//! sealed: ChaCha20-Poly1305 under a key stretched by argon2id from a signing secret (mã PIN ký)
//! that only the user knows, so neither the administrator nor a copy of the database can sign
//! in their name. A signature covers a *statement* that names what was done (submit or
//! approve), the plan and version, who, when, and the BLAKE3 digest of the exact version
//! (fields and files). Signing goes through the [`Signer`] trait so that a USB token (PKCS#11)
//! can stand in for the device key later without touching the workflow.

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::store::{AuditPolicy, Collection};

/// Anything that can sign for one person: the device key today, a USB token later.
pub trait Signer {
    /// The Ed25519 public key the signatures verify against.
    fn public_key(&self) -> [u8; 32];
    fn sign(&self, message: &[u8]) -> [u8; 64];
}

/// A device key, unlocked for the length of one request.
pub struct DeviceKey(SigningKey);

impl Signer for DeviceKey {
    fn public_key(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }
    fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

/// A person's signing key as stored: the public key in the clear, the private key sealed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRecord {
    pub account: String,
    /// Hex, 32 bytes.
    pub public_key: String,
    /// argon2id salt, hex.
    pub salt: String,
    /// ChaCha20-Poly1305 nonce, hex.
    pub nonce: String,
    /// The 32-byte private key sealed under the stretched secret, hex.
    pub sealed: String,
    pub created_at: String,
    /// Keys this person used before (a forgotten secret means a new key): signatures made with
    /// them stay valid.
    #[serde(default)]
    pub retired: Vec<RetiredKey>,
    /// Every change of this person's key, oldest first, with who made it and when: shown to the
    /// owner (home page, plan signatures, verify page), so a key nobody asked for is noticed.
    #[serde(default)]
    pub changes: Vec<KeyChange>,
    /// Set when another BGH member reset the key for a forgotten PIN: it signs no more, and its
    /// owner makes a new one without the old PIN.
    #[serde(default)]
    pub reset: bool,
    /// The stretch the key was sealed with; absent: argon2's defaults (`pki::seal::LEGACY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kdf: Option<crate::pki::seal::Kdf>,
}

/// One change of a signing key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyChange {
    /// "create", "replace" (by its owner, with the current PIN) or "reset" (by another BGH
    /// member).
    pub action: String,
    /// The account that made the change.
    pub by: String,
    pub at: String,
}

impl KeyChange {
    /// "thay khoá ký · 23/11/2026 09:00 · bởi Nguyễn Thị Hoa", for the people who read it.
    pub fn describe(&self, r: &impl crate::store::Read) -> String {
        let by = match self.by.as_str() {
            "district" => "Phòng/Sở GD&ĐT (qua Trạm quận/huyện)".to_string(),
            // The store's own actor (the demo school, migrations): not a person's id to show.
            "system" => "hệ thống".to_string(),
            id => r
                .get(&crate::auth::ACCOUNTS, id)
                .ok()
                .flatten()
                .map(|a| a.full_name)
                .unwrap_or_else(|| id.to_string()),
        };
        format!(
            "{} · {} · bởi {by}",
            self.label(),
            super::export::when(&self.at)
        )
    }

    /// Whether it happened within the window its owner is told of (`auth::SIGNING_NOTICE_DAYS`).
    pub fn recent(&self, now: jiff::Timestamp) -> bool {
        crate::auth::within_signing_notice(&self.at, now)
    }

    pub fn label(&self) -> &'static str {
        match self.action.as_str() {
            "create" => "tạo khoá ký",
            "replace" => "thay khoá ký",
            "reset" => "đặt lại khoá ký (quên mã PIN)",
            _ => "thay đổi khoá ký",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RetiredKey {
    pub public_key: String,
    pub created_at: String,
    pub retired_at: String,
}

impl KeyRecord {
    /// Whether `public_key` (hex) is, or was, this person's key.
    pub fn owns(&self, public_key: &str) -> bool {
        self.public_key == public_key || self.retired.iter().any(|r| r.public_key == public_key)
    }
}

/// Signing keys, by account id. Audited by digest only (the sealed key is not for the log).
pub const KEYS: Collection<KeyRecord> =
    Collection::new("lessons.keys.v1", AuditPolicy::Digest, None);

pub const MIN_SECRET: usize = crate::pki::seal::MIN_PIN;

/// Stores a person's new key; a key they had before is kept as retired (signatures made with it
/// stay valid). Returns whether a key was replaced.
pub fn register(
    tx: &mut crate::store::Tx<'_>,
    mut rec: KeyRecord,
) -> Result<bool, crate::store::StoreError> {
    let old = tx.get(&KEYS, &rec.account)?;
    if let Some(old) = &old {
        rec.changes = old.changes.clone();
        rec.retired = old.retired.clone();
        // A reset key was already retired when it was reset.
        if !old.reset {
            rec.retired.push(RetiredKey {
                public_key: old.public_key.clone(),
                created_at: old.created_at.clone(),
                retired_at: rec.created_at.clone(),
            });
        }
    }
    rec.reset = false;
    rec.changes.push(KeyChange {
        action: if old.is_some() { "replace" } else { "create" }.into(),
        by: tx.actor_id().to_string(),
        at: rec.created_at.clone(),
    });
    let action = if old.is_some() {
        "lessons.key.replace"
    } else {
        "lessons.key.create"
    };
    tx.put(&KEYS, &rec.account.clone(), &rec, action)?;
    Ok(old.is_some())
}

/// How `account`'s signing key changed in the last 30 days, described for people: shown to its
/// owner on the home page at every login until the month has passed (not dismissable, so
/// someone who used the account cannot hide it).
pub fn recent_changes(
    r: &impl crate::store::Read,
    account: &str,
    now: jiff::Timestamp,
) -> Result<Vec<String>, crate::store::StoreError> {
    Ok(r.get(&KEYS, account)?
        .map(|rec| {
            rec.changes
                .iter()
                // Keys the system made (the demo school) are nobody's doing to report.
                .filter(|c| c.by != "system" && c.recent(now))
                .map(|c| c.describe(r))
                .collect()
        })
        .unwrap_or_default())
}

/// How the key `public_key` of `account` came to be ("thay khoá ký · … · bởi …"), for the
/// signature list: a signature made with a key someone else put in place shows it.
pub fn key_origin(r: &impl crate::store::Read, account: &str, public_key: &str) -> Option<String> {
    let rec = r.get(&KEYS, account).ok()??;
    let created = if rec.public_key == public_key {
        rec.created_at.clone()
    } else {
        rec.retired
            .iter()
            .find(|k| k.public_key == public_key)?
            .created_at
            .clone()
    };
    let i = rec
        .changes
        .iter()
        .position(|c| c.at == created && c.action != "reset")?;
    let made = rec.changes[i].describe(r);
    // A key made after a reset says so: the reset is half of how it came to be.
    Some(match i.checked_sub(1).map(|j| &rec.changes[j]) {
        Some(prev) if prev.action == "reset" => format!("{made}; sau khi {}", prev.describe(r)),
        _ => made,
    })
}

/// Every key replacement and reset in the school, newest first: (owner's name, what happened).
pub fn all_changes(
    r: &impl crate::store::Read,
) -> Result<Vec<(String, String)>, crate::store::StoreError> {
    let mut out = Vec::new();
    for (account, rec) in r.scan(&KEYS, "")? {
        let owner = r
            .get(&crate::auth::ACCOUNTS, &account)?
            .map(|a| a.full_name)
            .unwrap_or(account);
        for c in rec.changes.iter().filter(|c| c.action != "create") {
            out.push((c.at.clone(), owner.clone(), c.describe(r)));
        }
    }
    out.sort_by(|a, b| b.0.cmp(&a.0));
    Ok(out.into_iter().map(|(_, o, d)| (o, d)).collect())
}

/// Resets `account`'s key for a forgotten PIN: the key is retired (its signatures stay valid)
/// and signs no more, and the owner may make a new key without the old PIN. The caller checks
/// that the one resetting is another BGH member.
pub fn reset(
    tx: &mut crate::store::Tx<'_>,
    account: &str,
) -> Result<Option<KeyRecord>, crate::store::StoreError> {
    let Some(mut rec) = tx.get(&KEYS, account)? else {
        return Ok(None);
    };
    if rec.reset {
        return Ok(Some(rec));
    }
    let now = tx.now().to_string();
    rec.retired.push(RetiredKey {
        public_key: rec.public_key.clone(),
        created_at: rec.created_at.clone(),
        retired_at: now.clone(),
    });
    rec.reset = true;
    rec.changes.push(KeyChange {
        action: "reset".into(),
        by: tx.actor_id().to_string(),
        at: now,
    });
    tx.put(&KEYS, account, &rec, "lessons.key.reset")?;
    Ok(Some(rec))
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    WeakSecret(crate::pki::seal::WeakPin),
    #[error("Mã PIN ký không đúng.")]
    WrongSecret,
    #[error("Khoá ký đã lưu bị hỏng; hãy tạo khoá mới.")]
    Damaged,
    #[error(
        "Khoá ký của bạn đã được Ban giám hiệu đặt lại (quên mã PIN): hãy tạo khoá mới trước khi ký."
    )]
    WasReset,
}

fn aad(account: &str, public_key: &str) -> Vec<u8> {
    format!("tram lesson-plan key v1\n{account}\n{public_key}").into_bytes()
}

/// A fresh key sealed for `account` with `cipher` (the stretched secret) and its salt.
fn seal(
    cipher: &chacha20poly1305::ChaCha20Poly1305,
    salt: &[u8; 16],
    account: &str,
    now: &str,
) -> (KeyRecord, DeviceKey) {
    let sk = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let public_key = hex::encode(sk.verifying_key().to_bytes());
    let (nonce, sealed) = crate::pki::seal::seal(cipher, sk.as_bytes(), &aad(account, &public_key));
    let rec = KeyRecord {
        account: account.into(),
        public_key,
        salt: hex::encode(salt),
        nonce: hex::encode(nonce),
        sealed: hex::encode(sealed),
        created_at: now.into(),
        retired: vec![],
        changes: vec![],
        reset: false,
        kdf: Some(crate::pki::seal::KDF),
    };
    (rec, DeviceKey(sk))
}

fn cipher_for(secret: &str, salt: &[u8]) -> chacha20poly1305::ChaCha20Poly1305 {
    crate::pki::seal::cipher_for(secret, salt)
}

/// Makes a new key for `account`, sealed under `secret` (argon2id: ~0.35 s of CPU), which must
/// pass the rule of a new PIN (`pki::seal::check_new_pin`).
pub fn new_key(account: &str, secret: &str, now: &str) -> Result<(KeyRecord, DeviceKey), KeyError> {
    crate::pki::seal::check_new_pin(secret).map_err(KeyError::WeakSecret)?;
    let salt: [u8; 16] = rand::random();
    Ok(seal(&cipher_for(secret, &salt), &salt, account, now))
}

/// Keys for several accounts sealed under one secret with one stretch (the demo school, where
/// every signer's PIN is the same; real users each make their own with [`new_key`]).
pub fn new_keys_sharing_secret(
    accounts: &[String],
    secret: &str,
    now: &str,
) -> Vec<(KeyRecord, DeviceKey)> {
    let salt: [u8; 16] = rand::random();
    let cipher = cipher_for(secret, &salt);
    accounts
        .iter()
        .map(|a| seal(&cipher, &salt, a, now))
        .collect()
}

/// Opens a stored key with the person's secret (argon2id with the record's parameters).
pub fn unlock(rec: &KeyRecord, secret: &str) -> Result<DeviceKey, KeyError> {
    if rec.reset {
        return Err(KeyError::WasReset);
    }
    let salt = hex::decode(&rec.salt).map_err(|_| KeyError::Damaged)?;
    let nonce: [u8; 12] = hex::decode(&rec.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or(KeyError::Damaged)?;
    let sealed = hex::decode(&rec.sealed).map_err(|_| KeyError::Damaged)?;
    let plain = crate::pki::seal::open(
        &crate::pki::seal::cipher_with(secret, &salt, crate::pki::seal::kdf_of(rec.kdf)),
        &nonce,
        &sealed,
        &aad(&rec.account, &rec.public_key),
    )
    .ok_or(KeyError::WrongSecret)?;
    let bytes: [u8; 32] = plain.try_into().map_err(|_| KeyError::Damaged)?;
    let sk = SigningKey::from_bytes(&bytes);
    if hex::encode(sk.verifying_key().to_bytes()) != rec.public_key {
        return Err(KeyError::Damaged);
    }
    Ok(DeviceKey(sk))
}

/// The record sealed again under today's stretch (`pki::seal::KDF`), the same key with a new
/// salt and nonce, or `None` when it already is.
pub fn reseal(rec: &KeyRecord, secret: &str) -> Result<Option<KeyRecord>, KeyError> {
    if rec.kdf == Some(crate::pki::seal::KDF) {
        return Ok(None);
    }
    let key = unlock(rec, secret)?;
    let salt: [u8; 16] = rand::random();
    let (nonce, sealed) = crate::pki::seal::seal(
        &cipher_for(secret, &salt),
        key.0.as_bytes(),
        &aad(&rec.account, &rec.public_key),
    );
    Ok(Some(KeyRecord {
        salt: hex::encode(salt),
        nonce: hex::encode(nonce),
        sealed: hex::encode(sealed),
        kdf: Some(crate::pki::seal::KDF),
        ..rec.clone()
    }))
}

/// After a right secret opened `rec`: when it was sealed with an earlier stretch, the stored
/// key (still this one: same public key and sealed bytes) is sealed again with today's. Never
/// fails the signing that opened it; a failure is logged.
pub fn reseal_stored(
    store: &crate::store::Store,
    actor: &crate::store::Actor,
    rec: &KeyRecord,
    secret: &str,
) {
    let new = match reseal(rec, secret) {
        Ok(Some(new)) => new,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(account = %rec.account, error = %e, "signing key not sealed again");
            return;
        }
    };
    let done = store.write(actor, |tx| {
        let now = tx.get(&KEYS, &rec.account)?;
        if now.is_some_and(|n| n.public_key == rec.public_key && n.sealed == rec.sealed) {
            tx.put(&KEYS, &rec.account, &new, "lessons.key.reseal")?;
        }
        Ok::<_, crate::store::StoreError>(())
    });
    if let Err(e) = done {
        tracing::warn!(account = %rec.account, error = %e, "signing key not sealed again");
    }
}

/// What a signature attests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignAction {
    /// The teacher submits this exact version.
    Submit,
    /// The principal (or a vice principal) approves it.
    Approve,
    /// The chair of a department meeting (its head) signs the minutes (`dept`).
    Chair,
}

impl SignAction {
    pub fn as_str(self) -> &'static str {
        match self {
            SignAction::Submit => "submit",
            SignAction::Approve => "approve",
            SignAction::Chair => "chair",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            SignAction::Submit => "Giáo viên ký nộp",
            SignAction::Approve => "Hiệu trưởng ký duyệt",
            SignAction::Chair => "Chủ trì (tổ trưởng) ký biên bản",
        }
    }
}

/// One signature on one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    pub action: SignAction,
    /// Account id and the name at the time.
    pub by: String,
    pub name: String,
    pub at: String,
    /// BLAKE3 of the version's signed content, hex.
    pub digest: String,
    /// Ed25519 public key, hex.
    pub public_key: String,
    /// Ed25519 signature over [`statement`], hex.
    pub signature: String,
}

/// The exact bytes signed: a line each, so anyone can rebuild them by hand.
pub fn statement(
    action: SignAction,
    plan: &str,
    version: u32,
    by: &str,
    at: &str,
    digest: &str,
) -> String {
    format!(
        "tram lesson-plan signature v1\naction: {}\nplan: {plan}\nversion: {version}\nby: {by}\nat: {at}\nblake3: {digest}\n",
        action.as_str()
    )
}

/// Signs a version's digest for `by`.
pub fn sign(
    signer: &dyn Signer,
    action: SignAction,
    plan: &str,
    version: u32,
    (by, name): (&str, &str),
    at: &str,
    digest: &str,
) -> Signature {
    let msg = statement(action, plan, version, by, at, digest);
    Signature {
        action,
        by: by.into(),
        name: name.into(),
        at: at.into(),
        digest: digest.into(),
        public_key: hex::encode(signer.public_key()),
        signature: hex::encode(signer.sign(msg.as_bytes())),
    }
}

/// Checks a signature against the digest of what is stored now: the Ed25519 signature over its
/// statement (strict verification), and that the digest it names is that digest.
pub fn check(sig: &Signature, plan: &str, version: u32, digest_now: &str) -> Result<(), String> {
    let pk: [u8; 32] = hex::decode(&sig.public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("public key unreadable")?;
    let raw: [u8; 64] = hex::decode(&sig.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("signature unreadable")?;
    let vk = VerifyingKey::from_bytes(&pk).map_err(|_| "public key invalid")?;
    let msg = statement(sig.action, plan, version, &sig.by, &sig.at, &sig.digest);
    let s = ed25519_dalek::Signature::from_bytes(&raw);
    vk.verify_strict(msg.as_bytes(), &s)
        .map_err(|_| "signature does not match its statement".to_string())?;
    if sig.digest != digest_now {
        return Err(format!(
            "content changed since it was signed (signed {}, now {})",
            short(&sig.digest),
            short(digest_now)
        ));
    }
    Ok(())
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_key_opens_only_with_its_secret() {
        let (rec, key) = new_key("u-a", "58203947", "t").unwrap();
        assert!(matches!(
            new_key("u-a", "12345", "t"),
            Err(KeyError::WeakSecret(_))
        ));
        assert!(matches!(
            new_key("u-a", "111111", "t"),
            Err(KeyError::WeakSecret(crate::pki::seal::WeakPin::Trivial))
        ));
        assert!(matches!(
            unlock(&rec, "58203948"),
            Err(KeyError::WrongSecret)
        ));
        let again = unlock(&rec, "58203947").unwrap();
        assert_eq!(again.public_key(), key.public_key());
        // The sealed key is bound to its account: moved to another account it does not open.
        let mut moved = rec.clone();
        moved.account = "u-b".into();
        assert!(unlock(&moved, "58203947").is_err());
        assert!(!rec.sealed.contains(&hex::encode(key.0.as_bytes())));
    }

    #[test]
    fn a_key_sealed_with_the_old_stretch_opens_and_is_sealed_again() {
        use crate::pki::seal::{KDF, LEGACY, cipher_with};
        let (rec, key) = new_key("u-a", "58203947", "t").unwrap();
        assert_eq!(rec.kdf, Some(KDF));
        let salt = [5u8; 16];
        let (nonce, sealed) = crate::pki::seal::seal(
            &cipher_with("58203947", &salt, LEGACY),
            key.0.as_bytes(),
            &aad("u-a", &rec.public_key),
        );
        let mut json = serde_json::to_value(KeyRecord {
            salt: hex::encode(salt),
            nonce: hex::encode(nonce),
            sealed: hex::encode(sealed),
            kdf: None,
            ..rec.clone()
        })
        .unwrap();
        assert!(json.get("kdf").is_none(), "an earlier version's format");
        json.as_object_mut().unwrap().remove("kdf");
        let old: KeyRecord = serde_json::from_value(json).unwrap();
        assert_eq!(
            unlock(&old, "58203947").unwrap().public_key(),
            key.public_key()
        );
        assert!(matches!(
            reseal(&old, "58203948"),
            Err(KeyError::WrongSecret)
        ));
        let new = reseal(&old, "58203947").unwrap().unwrap();
        assert_eq!((new.kdf, &new.public_key), (Some(KDF), &old.public_key));
        assert_eq!(
            unlock(&new, "58203947").unwrap().public_key(),
            key.public_key()
        );
        assert!(reseal(&new, "58203947").unwrap().is_none());
    }

    #[test]
    fn signature_covers_statement_and_digest() {
        let (_, key) = new_key("u-a", "58203947", "t").unwrap();
        let d = blake3::hash(b"x").to_hex().to_string();
        let s = sign(&key, SignAction::Submit, "kh-1", 1, ("u-a", "A"), "t", &d);
        check(&s, "kh-1", 1, &d).unwrap();
        assert!(check(&s, "kh-1", 2, &d).is_err(), "another version");
        assert!(check(&s, "kh-2", 1, &d).is_err(), "another plan");
        let other = blake3::hash(b"y").to_hex().to_string();
        assert!(
            check(&s, "kh-1", 1, &other)
                .unwrap_err()
                .contains("changed")
        );
        let mut forged = s.clone();
        forged.action = SignAction::Approve;
        assert!(
            check(&forged, "kh-1", 1, &d).is_err(),
            "a submit is not an approval"
        );
        let mut flipped = s.clone();
        let mut raw = hex::decode(&flipped.signature).unwrap();
        raw[5] ^= 1;
        flipped.signature = hex::encode(raw);
        assert!(check(&flipped, "kh-1", 1, &d).is_err());
    }
}
