//! Private keys sealed under a person's PIN: ChaCha20-Poly1305 under a key stretched by argon2id
//! from the PIN (mã PIN ký). One implementation for every key a person signs with — the Ed25519
//! lesson-plan key (`lessons::sign`) and the P-256 học bạ signing key (`pki::signing`) — so a
//! change to the stretch or the cipher is made once.

use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};

/// The stretched PIN as a cipher (argon2id with its default, memory-hard parameters: ~0.1 s of
/// CPU, ~19 MiB). Callers keep it for several seals when one PIN seals several keys.
pub fn cipher_for(secret: &str, salt: &[u8]) -> ChaCha20Poly1305 {
    let mut key = [0u8; 32];
    argon2::Argon2::default()
        .hash_password_into(secret.as_bytes(), salt, &mut key)
        .expect("argon2 parameters are valid");
    ChaCha20Poly1305::new((&key).into())
}

/// Seals `plain` with a fresh nonce; `aad` binds the sealed key to its owner and public half,
/// so a sealed key copied onto another record does not open.
pub fn seal(cipher: &ChaCha20Poly1305, plain: &[u8], aad: &[u8]) -> ([u8; 12], Vec<u8>) {
    let nonce: [u8; 12] = rand::random();
    let sealed = cipher
        .encrypt((&nonce).into(), Payload { msg: plain, aad })
        .expect("sealing a key cannot fail");
    (nonce, sealed)
}

/// Opens what [`seal`] sealed; `None` for a wrong PIN (or a record changed since).
pub fn open(
    cipher: &ChaCha20Poly1305,
    nonce: &[u8; 12],
    sealed: &[u8],
    aad: &[u8],
) -> Option<Vec<u8>> {
    cipher
        .decrypt(nonce.into(), Payload { msg: sealed, aad })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_with_the_same_pin_and_binding() {
        let salt = [7u8; 16];
        let (nonce, sealed) = seal(&cipher_for("246810", &salt), b"key bytes", b"owner a");
        assert_eq!(
            open(&cipher_for("246810", &salt), &nonce, &sealed, b"owner a").as_deref(),
            Some(&b"key bytes"[..])
        );
        assert!(open(&cipher_for("246811", &salt), &nonce, &sealed, b"owner a").is_none());
        assert!(open(&cipher_for("246810", &salt), &nonce, &sealed, b"owner b").is_none());
    }
}
