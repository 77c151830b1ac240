//! The backup key: one age X25519 identity per school, made on the device at the first backup
//! (or set at provisioning) and kept in `DATA_DIR/keys/backup.key` (0600). The file is a
//! standard age identity file, so in an emergency `age -d -i backup.key` opens any object.
//!
//! Two more keys are derived from it with BLAKE3 `derive_key`: one names stored objects (so
//! the target does not reveal which files the school holds), one authenticates manifests.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::ExposeSecret;

use super::BackupError;

pub struct BackupKey {
    identity: age::x25519::Identity,
    recipient: age::x25519::Recipient,
    name_key: [u8; 32],
    mac_key: [u8; 32],
}

/// Where the device keeps its backup key.
pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("backup.key")
}

impl BackupKey {
    pub fn generate() -> BackupKey {
        Self::from_identity(age::x25519::Identity::generate())
    }

    fn from_identity(identity: age::x25519::Identity) -> BackupKey {
        let secret = identity.to_string();
        let s = secret.expose_secret().as_bytes();
        BackupKey {
            recipient: identity.to_public(),
            name_key: blake3::derive_key("tram backup object names v1", s),
            mac_key: blake3::derive_key("tram backup manifest mac v1", s),
            identity,
        }
    }

    /// Parses an identity file (comments allowed) or a bare `AGE-SECRET-KEY-1…` string.
    pub fn parse(text: &str) -> Result<BackupKey, BackupError> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .ok_or_else(|| BackupError::Key("the key file holds no key".into()))?;
        let id = age::x25519::Identity::from_str(line).map_err(|e| {
            BackupError::Key(format!("not an age secret key (AGE-SECRET-KEY-1…): {e}"))
        })?;
        Ok(Self::from_identity(id))
    }

    pub fn load_file(path: &Path) -> Result<BackupKey, BackupError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| BackupError::Key(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text)
    }

    /// The device's key, if it has one.
    pub fn load(data_dir: &Path) -> Result<Option<BackupKey>, BackupError> {
        let p = key_path(data_dir);
        if !p.exists() {
            return Ok(None);
        }
        Self::load_file(&p).map(Some)
    }

    /// The device's key, made now if it has none yet.
    pub fn load_or_create(data_dir: &Path) -> Result<BackupKey, BackupError> {
        if let Some(k) = Self::load(data_dir)? {
            return Ok(k);
        }
        let k = Self::generate();
        crate::config::write_secret(&key_path(data_dir), k.file_text().as_bytes())
            .map_err(|e| BackupError::io("writing the backup key", e))?;
        tracing::info!(recipient = %k.recipient(), "backup key created");
        Ok(k)
    }

    /// The identity file, as saved on the device and printed for safekeeping.
    pub fn file_text(&self) -> String {
        format!(
            "# Trạm backup key — keep a copy away from the box; without it no backup can be restored.\n\
             # public key: {}\n{}\n",
            self.recipient(),
            self.identity.to_string().expose_secret()
        )
    }

    /// The same identity file with its comments in Vietnamese, for the backups page that
    /// BGH prints and keeps: the key line is unchanged, and `parse` (and `age -i`) skip the
    /// comments, so the printed text restores exactly as the file on the box does.
    pub fn file_text_vi(&self) -> String {
        format!(
            "# Khoá sao lưu Trạm — cất một bản ở nơi khác máy; không có khoá này thì không khôi phục được bản sao lưu nào.\n\
             # khoá công khai: {}\n{}\n",
            self.recipient(),
            self.identity.to_string().expose_secret()
        )
    }

    /// The public key (`age1…`) the backups are encrypted to.
    pub fn recipient(&self) -> String {
        self.recipient.to_string()
    }

    /// The stored name of an object whose plaintext has this BLAKE3 digest (domain-separated).
    pub fn object_name(&self, domain: &str, digest: &[u8; 32]) -> String {
        let mut h = blake3::Hasher::new_keyed(&self.name_key);
        h.update(domain.as_bytes());
        h.update(b"\0");
        h.update(digest);
        h.finalize().to_hex().to_string()
    }

    pub fn mac(&self, bytes: &[u8]) -> String {
        blake3::keyed_hash(&self.mac_key, bytes)
            .to_hex()
            .to_string()
    }

    pub(super) fn encrypt<W: std::io::Write>(
        &self,
        out: W,
    ) -> std::io::Result<age::stream::StreamWriter<W>> {
        age::Encryptor::with_recipients(std::iter::once(&self.recipient as &dyn age::Recipient))
            .expect("one X25519 recipient is always valid")
            .wrap_output(out)
    }

    pub(super) fn decrypt<R: Read>(&self, input: R) -> Result<impl Read, BackupError> {
        let d = age::Decryptor::new(input).map_err(|e| BackupError::Corrupt(e.to_string()))?;
        d.decrypt(std::iter::once(&self.identity as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => BackupError::WrongKey,
                e => BackupError::Corrupt(e.to_string()),
            })
    }
}
