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
        rec.retired = old.retired.clone();
        rec.retired.push(RetiredKey {
            public_key: old.public_key.clone(),
            created_at: old.created_at.clone(),
            retired_at: rec.created_at.clone(),
        });
    }
    let action = if old.is_some() {
        "lessons.key.replace"
    } else {
        "lessons.key.create"
    };
    tx.put(&KEYS, &rec.account.clone(), &rec, action)?;
    Ok(old.is_some())
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("Mã PIN ký phải có ít nhất {MIN_SECRET} ký tự.")]
    WeakSecret,
    #[error("Mã PIN ký không đúng.")]
    WrongSecret,
    #[error("Khoá ký đã lưu bị hỏng; hãy tạo khoá mới.")]
    Damaged,
}

fn stretch(secret: &str, salt: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    argon2::Argon2::default()
        .hash_password_into(secret.as_bytes(), salt, &mut out)
        .expect("argon2 parameters are valid");
    out
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
    use chacha20poly1305::aead::{Aead, Payload};
    let sk = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let nonce: [u8; 12] = rand::random();
    let public_key = hex::encode(sk.verifying_key().to_bytes());
    let sealed = cipher
        .encrypt(
            (&nonce).into(),
            Payload {
                msg: sk.as_bytes(),
                aad: &aad(account, &public_key),
            },
        )
        .expect("sealing 32 bytes cannot fail");
    let rec = KeyRecord {
        account: account.into(),
        public_key,
        salt: hex::encode(salt),
        nonce: hex::encode(nonce),
        sealed: hex::encode(sealed),
        created_at: now.into(),
        retired: vec![],
    };
    (rec, DeviceKey(sk))
}

fn cipher_for(secret: &str, salt: &[u8]) -> chacha20poly1305::ChaCha20Poly1305 {
    use chacha20poly1305::aead::KeyInit;
    chacha20poly1305::ChaCha20Poly1305::new((&stretch(secret, salt)).into())
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
    use chacha20poly1305::aead::{Aead, Payload};
    let salt = hex::decode(&rec.salt).map_err(|_| KeyError::Damaged)?;
    let nonce: [u8; 12] = hex::decode(&rec.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or(KeyError::Damaged)?;
    let sealed = hex::decode(&rec.sealed).map_err(|_| KeyError::Damaged)?;
    let plain = cipher_for(secret, &salt)
        .decrypt(
            (&nonce).into(),
            Payload {
                msg: &sealed,
                aad: &aad(&rec.account, &rec.public_key),
            },
        )
        .map_err(|_| KeyError::WrongSecret)?;
    let bytes: [u8; 32] = plain.try_into().map_err(|_| KeyError::Damaged)?;
    let sk = SigningKey::from_bytes(&bytes);
    if hex::encode(sk.verifying_key().to_bytes()) != rec.public_key {
        return Err(KeyError::Damaged);
    }
    Ok(DeviceKey(sk))
}

/// Wrong PINs per account: after [`PinGuard::MAX_FAILURES`] in a row, signing is refused for
/// [`PinGuard::LOCK`] (a stolen session cannot try PINs at argon2 speed for long). In memory:
/// a restart clears it, which costs a guesser minutes, not the school its data.
#[derive(Default)]
pub struct PinGuard {
    failures: std::sync::Mutex<std::collections::HashMap<String, (u32, std::time::Instant)>>,
}

impl PinGuard {
    pub const MAX_FAILURES: u32 = 5;
    pub const LOCK: std::time::Duration = std::time::Duration::from_secs(15 * 60);

    /// Minutes left if `account` is locked out.
    pub fn locked(&self, account: &str) -> Option<u64> {
        let f = self.failures.lock().expect("not poisoned");
        let (n, last) = f.get(account)?;
        let left = Self::LOCK.checked_sub(last.elapsed())?;
        (*n >= Self::MAX_FAILURES).then(|| left.as_secs().div_ceil(60).max(1))
    }
    pub fn failed(&self, account: &str) {
        let mut f = self.failures.lock().expect("not poisoned");
        let e = f
            .entry(account.to_string())
            .or_insert((0, std::time::Instant::now()));
        if e.1.elapsed() > Self::LOCK {
            e.0 = 0;
        }
        e.0 += 1;
        e.1 = std::time::Instant::now();
    }
    pub fn succeeded(&self, account: &str) {
        self.failures.lock().expect("not poisoned").remove(account);
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
}

impl SignAction {
    pub fn as_str(self) -> &'static str {
        match self {
            SignAction::Submit => "submit",
            SignAction::Approve => "approve",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            SignAction::Submit => "Giáo viên ký nộp",
            SignAction::Approve => "Hiệu trưởng ký duyệt",
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
        for _ in 0..PinGuard::MAX_FAILURES - 1 {
            g.failed("u-a");
        }
        assert_eq!(g.locked("u-a"), None);
        g.failed("u-a");
        assert_eq!(g.locked("u-a"), Some(15));
        assert_eq!(g.locked("u-b"), None, "per account");
        g.succeeded("u-a");
        assert_eq!(g.locked("u-a"), None);
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
