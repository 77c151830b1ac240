//! The update bundle: an uncompressed tar holding `manifest.json`, `manifest.sig` (the release
//! key's Ed25519 signature over the manifest, lowercase hex) and `payload.tar.zst`, in that
//! order. The signature is checked before a byte of the payload is read; the payload's BLAKE3
//! and every unpacked file's BLAKE3 must match the signed manifest.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Why a bundle or a release key was refused (the updater reports these as its own
/// `UpdateError`, with the same words).
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{0}")]
    Key(String),
    #[error("refused: {0}")]
    BadSignature(String),
    #[error("refused: {0}")]
    Invalid(String),
    #[error("not enough disk space: {0}")]
    DiskFull(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl BundleError {
    /// An io error, as "not enough disk space" when it is one.
    pub fn from_io_disk(e: io::Error) -> BundleError {
        if e.raw_os_error() == Some(libc::ENOSPC) {
            BundleError::DiskFull(e.to_string())
        } else {
            BundleError::Io(e)
        }
    }
}

impl From<std::io::ErrorKind> for BundleError {
    fn from(k: std::io::ErrorKind) -> Self {
        BundleError::Io(k.into())
    }
}

/// Bytes signed: a domain tag, then the manifest exactly as stored.
const SIGNED_TAG: &[u8] = b"tram-update-manifest-v1\n";
const MANIFEST_MAX: u64 = 256 * 1024;
const SIG_MAX: u64 = 1024;
/// The binary a bundle must carry.
pub const BINARY: &str = "bin/tram";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub product: String,
    pub version: String,
    /// `std::env::consts::ARCH` of the machine it is for: x86_64 or aarch64.
    pub arch: String,
    pub created: String,
    pub payload_blake3: String,
    pub payload_len: u64,
    pub files: Vec<FileEntry>,
    #[serde(default)]
    pub notes: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    pub blake3: String,
    pub len: u64,
    pub mode: u32,
}

impl Manifest {
    pub fn unpacked_len(&self) -> u64 {
        self.files.iter().map(|f| f.len).sum()
    }
}

/// The release public key: a file with the key as 64 hex digits (lines starting with # are
/// comments). On the device: /etc/tram/release-key.pub, put there by the image build.
pub fn load_public_key(path: &Path) -> Result<VerifyingKey, BundleError> {
    let text = fs::read_to_string(path).map_err(|e| {
        BundleError::Key(format!(
            "cannot read the release key {}: {e}",
            path.display()
        ))
    })?;
    parse_key_hex(&text)
        .and_then(|b| VerifyingKey::from_bytes(&b).ok())
        .ok_or_else(|| {
            BundleError::Key(format!(
                "{} is not a release public key (64 hex digits)",
                path.display()
            ))
        })
}

pub fn load_secret_key(path: &Path) -> Result<SigningKey, BundleError> {
    let text = fs::read_to_string(path).map_err(|e| {
        BundleError::Key(format!(
            "cannot read the signing key {}: {e}",
            path.display()
        ))
    })?;
    parse_key_hex(&text)
        .map(|b| SigningKey::from_bytes(&b))
        .ok_or_else(|| BundleError::Key(format!("{} is not a release signing key", path.display())))
}

fn parse_key_hex(text: &str) -> Option<[u8; 32]> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(line, &mut out).ok()?;
    Some(out)
}

pub fn public_key_text(key: &VerifyingKey) -> String {
    format!(
        "# Trạm release public key (Ed25519). Update bundles must be signed by its secret half.\n{}\n",
        hex::encode(key.as_bytes())
    )
}

pub fn secret_key_text(key: &SigningKey) -> String {
    format!(
        "# Trạm release SIGNING key. Keep offline; whoever holds it can update every school.\n{}\n",
        hex::encode(key.to_bytes())
    )
}

/// Builds a signed bundle from `files` (path in the bundle → file on disk). `bin/tram` is
/// required.
pub fn build(
    key: &SigningKey,
    version: &str,
    arch: &str,
    files: &[(String, PathBuf)],
    notes: &str,
    created: jiff::Timestamp,
    out: &Path,
) -> Result<Manifest, BundleError> {
    parse_version(version)?;
    if !files.iter().any(|(p, _)| p == BINARY) {
        return Err(BundleError::Invalid(format!("a bundle needs {BINARY}")));
    }
    let mut entries = Vec::new();
    let mut payload = tar::Builder::new(zstd::Encoder::new(Vec::new(), 19)?);
    payload.mode(tar::HeaderMode::Deterministic);
    for (path, src) in files {
        check_rel_path(path)?;
        let bytes = fs::read(src)?;
        let mode = if path == BINARY || is_executable(src) {
            0o755
        } else {
            0o644
        };
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(mode);
        h.set_entry_type(tar::EntryType::Regular);
        payload.append_data(&mut h, path, bytes.as_slice())?;
        entries.push(FileEntry {
            path: path.clone(),
            blake3: blake3::hash(&bytes).to_hex().to_string(),
            len: bytes.len() as u64,
            mode,
        });
    }
    let payload = payload.into_inner()?.finish()?;
    let manifest = Manifest {
        format: 1,
        product: "tram".into(),
        version: version.into(),
        arch: arch.into(),
        created: created.to_string(),
        payload_blake3: blake3::hash(&payload).to_hex().to_string(),
        payload_len: payload.len() as u64,
        files: entries,
        notes: notes.into(),
    };
    let mjson = serde_json::to_vec_pretty(&manifest).map_err(io::Error::other)?;
    let sig = hex::encode(key.sign(&signed_bytes(&mjson)).to_bytes());
    let tmp = out.with_extension("partial");
    {
        let mut outer = tar::Builder::new(File::create(&tmp)?);
        outer.mode(tar::HeaderMode::Deterministic);
        for (name, bytes) in [
            ("manifest.json", mjson.as_slice()),
            ("manifest.sig", sig.as_bytes()),
            ("payload.tar.zst", payload.as_slice()),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            outer.append_data(&mut h, name, bytes)?;
        }
        outer.into_inner()?.sync_all()?;
    }
    fs::rename(&tmp, out)?;
    Ok(manifest)
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

fn signed_bytes(manifest: &[u8]) -> Vec<u8> {
    let mut v = SIGNED_TAG.to_vec();
    v.extend_from_slice(manifest);
    v
}

/// A bundle whose signature and payload checked out; the payload is a private copy in
/// `staging`, so the file on the USB stick can change afterwards without effect.
pub struct Verified {
    pub manifest: Manifest,
    payload: PathBuf,
}

/// Checks the signature, then copies the payload into `staging` while hashing it. Nothing is
/// unpacked.
pub fn verify(bundle: &Path, key: &VerifyingKey, staging: &Path) -> Result<Verified, BundleError> {
    let f = File::open(bundle)
        .map_err(|e| BundleError::Invalid(format!("cannot open {}: {e}", bundle.display())))?;
    let mut outer = tar::Archive::new(f);
    let mut entries = outer.entries().map_err(not_a_bundle)?;
    let mut next = |want: &str| -> Result<tar::Entry<'_, File>, BundleError> {
        let e = entries
            .next()
            .ok_or_else(|| BundleError::Invalid(format!("truncated bundle: {want} is missing")))?
            .map_err(not_a_bundle)?;
        let name = e
            .path()
            .map_err(not_a_bundle)?
            .to_string_lossy()
            .into_owned();
        if name != want || e.header().entry_type() != tar::EntryType::Regular {
            return Err(BundleError::Invalid(format!(
                "not a Trạm update bundle: expected {want}, found {name}"
            )));
        }
        Ok(e)
    };
    let mjson = read_limited(next("manifest.json")?, MANIFEST_MAX, "manifest.json")?;
    let sig_text = read_limited(next("manifest.sig")?, SIG_MAX, "manifest.sig")?;
    let sig = std::str::from_utf8(&sig_text)
        .ok()
        .map(str::trim)
        .filter(|s| {
            s.len() == 128
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        .and_then(|s| hex::decode(s).ok())
        .and_then(|b| Signature::from_slice(&b).ok())
        .ok_or_else(|| BundleError::BadSignature("manifest.sig is not a signature".into()))?;
    key.verify_strict(&signed_bytes(&mjson), &sig)
        .map_err(|_| {
            BundleError::BadSignature(
                "the manifest is not signed by this device's release key".into(),
            )
        })?;
    let manifest: Manifest = serde_json::from_slice(&mjson)
        .map_err(|e| BundleError::Invalid(format!("manifest.json: {e}")))?;
    if manifest.format != 1 || manifest.product != "tram" {
        return Err(BundleError::Invalid(format!(
            "unsupported bundle (format {}, product {})",
            manifest.format, manifest.product
        )));
    }
    parse_version(&manifest.version)?;
    for f in &manifest.files {
        check_rel_path(&f.path)?;
    }
    if !manifest.files.iter().any(|f| f.path == BINARY) {
        return Err(BundleError::Invalid(format!("the bundle has no {BINARY}")));
    }
    let mut payload = next("payload.tar.zst")?;
    if payload.size() != manifest.payload_len {
        return Err(BundleError::Invalid(format!(
            "truncated or altered bundle: payload is {} bytes, the manifest signs {}",
            payload.size(),
            manifest.payload_len
        )));
    }
    fs::create_dir_all(staging)?;
    let copy = staging.join("payload.tar.zst");
    let mut out = File::create(&copy)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = payload
            .read(&mut buf)
            .map_err(|e| BundleError::Invalid(format!("truncated bundle: {e}")))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(BundleError::from_io_disk)?;
    }
    out.sync_all().map_err(BundleError::from_io_disk)?;
    if total != manifest.payload_len
        || hasher.finalize().to_hex().as_str() != manifest.payload_blake3
    {
        return Err(BundleError::Invalid(
            "truncated or altered bundle: the payload does not match the signed manifest".into(),
        ));
    }
    Ok(Verified {
        manifest,
        payload: copy,
    })
}

/// The manifest of a bundle WITHOUT checking its signature: for the district hub, which
/// forwards bundles and lists their versions but is not what schools trust (each box checks the
/// signature with its own release key before installing).
pub fn read_manifest_unverified(bundle: &Path) -> Result<Manifest, BundleError> {
    let f = File::open(bundle)
        .map_err(|e| BundleError::Invalid(format!("cannot open {}: {e}", bundle.display())))?;
    let mut outer = tar::Archive::new(f);
    let mut entries = outer.entries().map_err(not_a_bundle)?;
    let e = entries
        .next()
        .ok_or_else(|| BundleError::Invalid("empty file: not a bundle".into()))?
        .map_err(not_a_bundle)?;
    if e.path().map_err(not_a_bundle)?.to_string_lossy() != "manifest.json" {
        return Err(BundleError::Invalid("not a Trạm update bundle".into()));
    }
    let m = read_limited(e, MANIFEST_MAX, "manifest.json")?;
    let m: Manifest = serde_json::from_slice(&m)
        .map_err(|e| BundleError::Invalid(format!("manifest.json: {e}")))?;
    parse_version(&m.version)?;
    Ok(m)
}

impl Verified {
    /// Unpacks into `dest` (which must not exist): regular files only, each named by the
    /// manifest with its length and hash; anything else refuses the whole bundle.
    pub fn unpack(&self, dest: &Path) -> Result<(), BundleError> {
        fs::create_dir_all(dest).map_err(BundleError::from_io_disk)?;
        let mut want: std::collections::BTreeMap<&str, &FileEntry> = self
            .manifest
            .files
            .iter()
            .map(|f| (f.path.as_str(), f))
            .collect();
        let dec = zstd::Decoder::new(File::open(&self.payload)?)?;
        let mut ar = tar::Archive::new(dec);
        for e in ar.entries().map_err(not_a_bundle)? {
            let mut e = e.map_err(not_a_bundle)?;
            let name = e
                .path()
                .map_err(not_a_bundle)?
                .to_string_lossy()
                .into_owned();
            let Some(entry) = want.remove(name.as_str()) else {
                return Err(BundleError::Invalid(format!(
                    "the payload holds {name}, which the manifest does not list"
                )));
            };
            if e.header().entry_type() != tar::EntryType::Regular || e.size() != entry.len {
                return Err(BundleError::Invalid(format!(
                    "{name} does not match the manifest"
                )));
            }
            let target = dest.join(&name);
            if let Some(dir) = target.parent() {
                fs::create_dir_all(dir).map_err(BundleError::from_io_disk)?;
            }
            let mut out = {
                use std::os::unix::fs::OpenOptionsExt;
                fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(entry.mode & 0o755)
                    .open(&target)?
            };
            let mut hasher = blake3::Hasher::new();
            let mut limited = (&mut e).take(entry.len);
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = limited.read(&mut buf).map_err(not_a_bundle)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n])
                    .map_err(BundleError::from_io_disk)?;
            }
            out.sync_all().map_err(BundleError::from_io_disk)?;
            if hasher.finalize().to_hex().as_str() != entry.blake3 {
                return Err(BundleError::Invalid(format!(
                    "{name} does not match the manifest"
                )));
            }
        }
        if let Some(missing) = want.keys().next() {
            return Err(BundleError::Invalid(format!("the payload lacks {missing}")));
        }
        Ok(())
    }
}

fn read_limited(e: impl Read, max: u64, what: &str) -> Result<Vec<u8>, BundleError> {
    let mut v = Vec::new();
    e.take(max + 1)
        .read_to_end(&mut v)
        .map_err(|e| BundleError::Invalid(format!("truncated bundle ({what}): {e}")))?;
    if v.len() as u64 > max {
        return Err(BundleError::Invalid(format!("{what} is too large")));
    }
    Ok(v)
}

fn not_a_bundle(e: io::Error) -> BundleError {
    BundleError::Invalid(format!(
        "not a readable Trạm update bundle (truncated?): {e}"
    ))
}

/// Bundle paths are plain relative paths: no `..`, no root, no empty parts.
fn check_rel_path(p: &str) -> Result<(), BundleError> {
    let ok = !p.is_empty()
        && p.len() < 256
        && Path::new(p)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err(BundleError::Invalid(format!(
            "unsafe path in bundle: {p:?}"
        )))
    }
}

/// MAJOR.MINOR.PATCH, compared numerically.
pub fn parse_version(v: &str) -> Result<(u64, u64, u64), BundleError> {
    let parts: Vec<_> = v.trim().split('.').collect();
    let bad = || BundleError::Invalid(format!("version {v:?} is not MAJOR.MINOR.PATCH"));
    if parts.len() != 3 {
        return Err(bad());
    }
    let n = |s: &str| s.parse::<u64>().map_err(|_| bad());
    Ok((n(parts[0])?, n(parts[1])?, n(parts[2])?))
}
