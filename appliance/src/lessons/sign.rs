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

    /// Whether it happened within `days` before `now`.
    pub fn within(&self, now: jiff::Timestamp, days: i64) -> bool {
        self.at
            .parse::<jiff::Timestamp>()
            .is_ok_and(|t| now.as_second() - t.as_second() <= days * 86_400)
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

pub const MIN_SECRET: usize = 6;

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
                .filter(|c| c.by != "system" && c.within(now, 30))
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
    #[error("Mã PIN ký phải có ít nhất {MIN_SECRET} ký tự.")]
    WeakSecret,
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
    };
    (rec, DeviceKey(sk))
}

fn cipher_for(secret: &str, salt: &[u8]) -> chacha20poly1305::ChaCha20Poly1305 {
    crate::pki::seal::cipher_for(secret, salt)
}

/// Makes a new key for `account`, sealed under `secret` (argon2id: ~0.1 s of CPU).
pub fn new_key(account: &str, secret: &str, now: &str) -> Result<(KeyRecord, DeviceKey), KeyError> {
    if secret.chars().count() < MIN_SECRET {
        return Err(KeyError::WeakSecret);
    }
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

/// Opens a stored key with the person's secret (argon2id: ~0.1 s of CPU).
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
        &cipher_for(secret, &salt),
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

/// PIN checks per account: at most [`PinGuard::MAX_FAILURES`] checks that did not succeed within
/// [`PinGuard::LOCK`] of each other, after which signing is refused until the window passes (a
/// stolen session cannot try PINs at argon2 speed for long). An attempt is counted when it is
/// *reserved*, before the PIN is checked, under one lock: however many requests arrive at once,
/// no more than the allowed number of checks ever run; a right PIN clears the count. In memory:
/// a restart clears it, which costs a guesser minutes, not the school its data.
#[derive(Default)]
pub struct PinGuard {
    attempts: std::sync::Mutex<std::collections::HashMap<String, (u32, std::time::Instant)>>,
}

impl PinGuard {
    pub const MAX_FAILURES: u32 = 5;
    pub const LOCK: std::time::Duration = std::time::Duration::from_secs(15 * 60);

    /// Reserves one PIN check for `account`, or answers the minutes left when the account's
    /// checks are used up. Call [`PinGuard::succeeded`] when the PIN was right; any other outcome
    /// leaves the attempt counted.
    pub fn begin(&self, account: &str) -> Result<(), u64> {
        let mut f = self.attempts.lock().expect("not poisoned");
        let now = std::time::Instant::now();
        let e = f.entry(account.to_string()).or_insert((0, now));
        if now.duration_since(e.1) > Self::LOCK {
            *e = (0, now);
        }
        if e.0 >= Self::MAX_FAILURES {
            let left = Self::LOCK.saturating_sub(now.duration_since(e.1));
            return Err(left.as_secs().div_ceil(60).max(1));
        }
        e.0 += 1;
        e.1 = now;
        Ok(())
    }
    pub fn succeeded(&self, account: &str) {
        self.attempts.lock().expect("not poisoned").remove(account);
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
        let (rec, key) = new_key("u-a", "123456", "t").unwrap();
        assert!(matches!(
            new_key("u-a", "12345", "t"),
            Err(KeyError::WeakSecret)
        ));
        assert!(matches!(unlock(&rec, "654321"), Err(KeyError::WrongSecret)));
        let again = unlock(&rec, "123456").unwrap();
        assert_eq!(again.public_key(), key.public_key());
        // The sealed key is bound to its account: moved to another account it does not open.
        let mut moved = rec.clone();
        moved.account = "u-b".into();
        assert!(unlock(&moved, "123456").is_err());
        assert!(!rec.sealed.contains(&hex::encode(key.0.as_bytes())));
    }

    #[test]
    fn five_wrong_pins_lock_signing_for_a_while() {
        let g = PinGuard::default();
        for _ in 0..PinGuard::MAX_FAILURES {
            assert_eq!(g.begin("u-a"), Ok(()));
        }
        assert_eq!(g.begin("u-a"), Err(15));
        assert_eq!(g.begin("u-b"), Ok(()), "per account");
        g.succeeded("u-a");
        assert_eq!(g.begin("u-a"), Ok(()));
    }

    #[test]
    fn parallel_pin_checks_never_exceed_the_allowed_number() {
        // Each check is reserved before it runs: of 60 arriving at once, only MAX_FAILURES run.
        let g = std::sync::Arc::new(PinGuard::default());
        let ran: u32 = (0..60)
            .map(|_| {
                let g = g.clone();
                std::thread::spawn(move || u32::from(g.begin("u-a").is_ok()))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(ran, PinGuard::MAX_FAILURES);
    }

    #[test]
    fn signature_covers_statement_and_digest() {
        let (_, key) = new_key("u-a", "123456", "t").unwrap();
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
