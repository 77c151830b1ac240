//! A relay batch: outbox entries in order, zstd-compressed, signed by the school's device key.
//!
//! ```text
//! "TRAMBATCH1\n" ‖ u32 BE length of the envelope ‖ envelope (JSON) ‖ payload (zstd of JSON lines)
//! ```
//!
//! The envelope names the school, the batch number (1, 2, 3… with no gaps), the outbox range it
//! carries, the payload's length and BLAKE3, and an Ed25519 signature over a fixed statement of
//! all of these. A batch file is self-contained: it travels the same over HTTP and on a USB stick.

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::store::OutboxEntry;

pub const MAGIC: &[u8] = b"TRAMBATCH1\n";
/// The largest batch a hub accepts (bytes on the wire).
pub const MAX_BATCH: u64 = 16 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Mã trường.
    pub school: String,
    /// Batch number: 1 for the first, then one more each time.
    pub seq: u64,
    /// Outbox sequence numbers carried (inclusive).
    pub first: u64,
    pub last: u64,
    pub entries: u64,
    /// Outbox entries still waiting at the school after this batch.
    pub backlog: u64,
    pub created_at: String,
    pub payload_len: u64,
    /// The payload's size before compression.
    pub raw_len: u64,
    pub payload_blake3: String,
    /// Ed25519 over [`statement`], hex.
    pub signature: String,
}

/// The most a batch's payload may unpack to (a batch holds at most a few thousand records).
pub const MAX_RAW: u64 = 256 << 20;

pub fn statement(e: &Envelope) -> String {
    format!(
        "tram batch v1\nschool: {}\nseq: {}\noutbox: {}-{}\nentries: {}\nbacklog: {}\ncreated: {}\npayload: {} {} (raw {})\n",
        e.school,
        e.seq,
        e.first,
        e.last,
        e.entries,
        e.backlog,
        e.created_at,
        e.payload_len,
        e.payload_blake3,
        e.raw_len
    )
}

/// Builds the bytes of a batch carrying `entries` (the whole outbox range they span).
pub fn build(
    key: &SigningKey,
    school: &str,
    seq: u64,
    entries: &[OutboxEntry],
    backlog: u64,
    now: &str,
) -> Vec<u8> {
    let range = (
        entries.first().map_or(0, |e| e.seq),
        entries.last().map_or(0, |e| e.seq),
    );
    build_range(key, school, seq, range, entries, backlog, now)
}

/// Builds a batch for the outbox range `first..=last`, of which `entries` may leave the school
/// (the others stay home by the school's privacy settings).
pub fn build_range(
    key: &SigningKey,
    school: &str,
    seq: u64,
    (first, last): (u64, u64),
    entries: &[OutboxEntry],
    backlog: u64,
    now: &str,
) -> Vec<u8> {
    let mut lines = Vec::new();
    for e in entries {
        serde_json::to_writer(&mut lines, e).expect("serialisable");
        lines.push(b'\n');
    }
    let payload = zstd::encode_all(&lines[..], 9).expect("in-memory zstd");
    let env = Envelope {
        school: school.into(),
        seq,
        first,
        last,
        entries: entries.len() as u64,
        backlog,
        created_at: now.into(),
        payload_len: 0,
        raw_len: lines.len() as u64,
        payload_blake3: String::new(),
        signature: String::new(),
    };
    seal(key, env, &payload)
}

/// Frames `payload` under `env` as the school's key signs it: the payload's length and BLAKE3
/// are filled in, everything else is as given (the tests use it to sign a lying `raw_len`).
pub fn seal(key: &SigningKey, mut env: Envelope, payload: &[u8]) -> Vec<u8> {
    env.payload_len = payload.len() as u64;
    env.payload_blake3 = blake3::hash(payload).to_hex().to_string();
    env.signature = hex::encode(key.sign(statement(&env).as_bytes()).to_bytes());
    let head = serde_json::to_vec(&env).expect("serialisable");
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + head.len() + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(head.len() as u32).to_be_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(payload);
    out
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BatchError {
    #[error("not a Trạm batch (bad header)")]
    Garbage,
    #[error("batch is truncated or has trailing bytes")]
    Length,
    #[error("payload does not match its BLAKE3")]
    Payload,
    #[error("signature does not verify with this school's key")]
    Signature,
    #[error("payload is not valid zstd JSON lines: {0}")]
    Content(String),
}

/// The envelope of a batch, without checking anything but its framing.
pub fn envelope(bytes: &[u8]) -> Result<(Envelope, &[u8]), BatchError> {
    let rest = bytes.strip_prefix(MAGIC).ok_or(BatchError::Garbage)?;
    if rest.len() < 4 {
        return Err(BatchError::Garbage);
    }
    let n = u32::from_be_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
    if n > 64 * 1024 || rest.len() < 4 + n {
        return Err(BatchError::Garbage);
    }
    let env: Envelope = serde_json::from_slice(&rest[4..4 + n]).map_err(|_| BatchError::Garbage)?;
    let payload = &rest[4 + n..];
    if payload.len() as u64 != env.payload_len {
        return Err(BatchError::Length);
    }
    Ok((env, payload))
}

/// Checks a batch against the school's public key and decodes its entries.
pub fn open(bytes: &[u8], key: &VerifyingKey) -> Result<(Envelope, Vec<OutboxEntry>), BatchError> {
    let (env, payload) = envelope(bytes)?;
    if blake3::hash(payload).to_hex().as_str() != env.payload_blake3 {
        return Err(BatchError::Payload);
    }
    let sig: [u8; 64] = hex::decode(&env.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(BatchError::Signature)?;
    // One spelling only (lowercase hex): the same signature written another way is refused.
    if hex::encode(sig) != env.signature {
        return Err(BatchError::Signature);
    }
    key.verify_strict(
        statement(&env).as_bytes(),
        &ed25519_dalek::Signature::from_bytes(&sig),
    )
    .map_err(|_| BatchError::Signature)?;
    // Never unpack more than the (signed) size it claims, nor more than a batch may hold: a
    // payload that unpacks past either is a decompression bomb, refused as it is read.
    if env.raw_len > MAX_RAW {
        return Err(BatchError::Content(format!(
            "payload claims {} bytes unpacked, more than a batch may hold",
            env.raw_len
        )));
    }
    let mut lines = Vec::with_capacity(env.raw_len.min(1 << 20) as usize);
    let dec = zstd::stream::read::Decoder::new(payload)
        .map_err(|e| BatchError::Content(e.to_string()))?;
    std::io::Read::read_to_end(&mut std::io::Read::take(dec, env.raw_len + 1), &mut lines)
        .map_err(|e| BatchError::Content(e.to_string()))?;
    if lines.len() as u64 != env.raw_len {
        return Err(BatchError::Content(
            "payload does not unpack to the size it claims".into(),
        ));
    }
    let mut entries = Vec::new();
    for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        entries.push(serde_json::from_slice(line).map_err(|e| BatchError::Content(e.to_string()))?);
    }
    if entries.len() as u64 != env.entries {
        return Err(BatchError::Content("entry count differs".into()));
    }
    Ok((env, entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A validly signed batch whose small payload unpacks to 300 MB while it claims 100 bytes
    /// (or claims more than any batch may hold): refused while reading, without the memory.
    #[test]
    fn a_decompression_bomb_is_refused() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let zeros = vec![0u8; 1 << 20];
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        for _ in 0..300 {
            std::io::Write::write_all(&mut enc, &zeros).unwrap();
        }
        let payload = enc.finish().unwrap();
        assert!(payload.len() < 1 << 20);
        for raw_len in [100, MAX_RAW + 1] {
            let env = Envelope {
                school: "79000701".into(),
                seq: 1,
                first: 1,
                last: 1,
                entries: 1,
                backlog: 0,
                created_at: "t".into(),
                payload_len: 0,
                raw_len,
                payload_blake3: String::new(),
                signature: String::new(),
            };
            let bytes = seal(&key, env, &payload);
            assert!(matches!(
                open(&bytes, &key.verifying_key()),
                Err(BatchError::Content(_))
            ));
        }
    }

    fn entry(seq: u64) -> OutboxEntry {
        OutboxEntry {
            seq,
            kind: "result".into(),
            key: format!("k{seq}"),
            op: "update".into(),
            record: Some(serde_json::json!({"diem": "8.5"})),
            at: "t".into(),
        }
    }

    proptest::proptest! {
        /// Whatever arrives — random bytes, or a real batch cut short or with bytes changed —
        /// is answered with an error, never a panic, and never opens as a different batch.
        #[test]
        fn hostile_bytes_never_panic(junk in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
                                     cut in 0usize..2000, flip in 0usize..2000, bit in 0u8..8) {
            let key = SigningKey::from_bytes(&[9; 32]);
            let _ = open(&junk, &key.verifying_key());
            let mut framed = MAGIC.to_vec();
            framed.extend_from_slice(&(junk.len() as u32).to_be_bytes());
            framed.extend_from_slice(&junk);
            let _ = open(&framed, &key.verifying_key());
            let good = build(&key, "s", 1, &[entry(1), entry(2)], 0, "t");
            let _ = open(&good[..cut.min(good.len())], &key.verifying_key());
            let mut bad = good.clone();
            let i = flip % bad.len();
            bad[i] ^= 1 << bit;
            proptest::prop_assert!(open(&bad, &key.verifying_key()).is_err());
        }
    }

    #[test]
    fn a_batch_opens_only_intact_and_with_its_schools_key() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let other = SigningKey::from_bytes(&[8; 32]);
        let entries: Vec<_> = (5..25).map(entry).collect();
        let b = build(&key, "79000701", 3, &entries, 100, "now");
        let (env, got) = open(&b, &key.verifying_key()).unwrap();
        assert_eq!((env.seq, env.first, env.last, env.backlog), (3, 5, 24, 100));
        assert_eq!(got.len(), 20);
        assert_eq!(got[3].key, "k8");
        assert_eq!(
            open(&b, &other.verifying_key()).unwrap_err(),
            BatchError::Signature
        );
        // Every flipped byte is caught (framing, envelope, signature or payload).
        for i in (0..b.len()).step_by(7) {
            let mut bad = b.clone();
            bad[i] ^= 0x01;
            assert!(open(&bad, &key.verifying_key()).is_err(), "byte {i}");
        }
        assert_eq!(
            open(&b[..b.len() - 1], &key.verifying_key()).unwrap_err(),
            BatchError::Length
        );
        assert_eq!(
            open(b"hello", &key.verifying_key()).unwrap_err(),
            BatchError::Garbage
        );
    }
}
